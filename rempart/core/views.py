from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import charts, selectors


def home(request):
    """What this person must do next, according to their roles."""
    return render(request, "core/home.html", selectors.home_for(request.user))


@login_not_required
@never_cache
@require_GET
def healthz(request):
    """Liveness and readiness: the database answers, and the broker when one is configured."""
    from django.conf import settings

    checks: dict[str, str] = {}
    healthy = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        checks["database"] = "ok"
    except Exception as exc:  # any failure means unhealthy
        checks["database"] = f"error: {exc.__class__.__name__}"
        healthy = False
    if settings.CELERY_BROKER_URL:
        try:
            from config.celery import app

            # The URL is read from settings at each call (not the app's cached configuration),
            # and a refused connection is retried once without the default 2 s back-off.
            with app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
                conn.ensure_connection(max_retries=1, interval_start=0, timeout=2)
            checks["broker"] = "ok"
        except Exception as exc:
            checks["broker"] = f"error: {exc.__class__.__name__}"
            healthy = False
    else:
        checks["broker"] = "not configured (tasks run inline)"
    return JsonResponse(
        {"status": "ok" if healthy else "error", "checks": checks}, status=200 if healthy else 503
    )


def gallery(request):
    """The shared components with sample data: a reference for developers, smoke-tested."""
    from django import forms
    from django.core.paginator import Paginator

    class SampleForm(forms.Form):
        name = forms.CharField(label="Nom de l'établissement", help_text="Tel qu'inscrit au FINESS")
        sector = forms.ChoiceField(
            label="Secteur",
            choices=[("sanitaire", "Sanitaire"), ("medico_social", "Médico-social")],
        )
        consent = forms.BooleanField(label="J'ai lu la charte d'utilisation")

    form = SampleForm(data={"name": "", "sector": "sanitaire"})
    form.is_valid()
    page = Paginator(list(range(1, 121)), 20).get_page(3)
    bars = charts.hbar_chart(
        "gallery-hbar",
        "Établissements par secteur",
        [("Sanitaire", 12, "12", charts.BLUE), ("Médico-social", 5, "5", charts.GREEN)],
    )
    columns = charts.vbar_chart(
        "gallery-vbar",
        "Alertes par mois",
        ["janv.", "févr.", "mars"],
        [("Complètes", charts.BLUE, [3, 0, 7]), ("Incomplètes", charts.ORANGE, [1, 2, 0])],
        titles=["janvier", "février", "mars"],
    )
    context = {
        "form": form,
        "page": page,
        "querystring": "q=exemple",
        "bars": bars,
        "columns": columns,
    }
    return render(request, "core/gallery.html", context)
