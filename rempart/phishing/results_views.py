"""Results pages of simulated phishing: one campaign's results (with its exports) and the
regional figures of the ARS and the CRRC.

Thin: who sees what and every figure come from `results` (a campaign the user may not see is a
404; an aggregates-only viewer asking for per-recipient rows a 403 with the reason); the
charts are SVG drawn on the server, each followed by a table of the same figures."""

from __future__ import annotations

from django import forms
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from rempart.core.charts import BLUE, BLUE_LIGHT, GREEN, ORANGE, RED, hbar_chart, vbar_chart

from . import results, results_exports
from .models import CampaignStatus

PAGE_SIZE = 50
RECIPIENTS_TARGET = "#results-recipients"


class RecipientFilterForm(forms.Form):
    service = forms.ChoiceField(
        label="Service",
        required=False,
        error_messages={"invalid_choice": "Choisissez un service de la liste."},
    )
    statut = forms.ChoiceField(
        label="Résultat",
        required=False,
        choices=results.STATUS_FILTERS,
        error_messages={"invalid_choice": "Choisissez un résultat de la liste."},
    )

    def __init__(self, *args, figures, **kwargs):
        super().__init__(*args, **kwargs)
        self.figures = figures
        self.fields["service"].choices = [
            ("", "Tous les services"),
            *figures.department_filter_choices(),
        ]

    def departments(self) -> list[str] | None:
        key = self.cleaned_data.get("service") or ""
        return self.figures.departments_for(key) if key else None


def _rate(value) -> str:
    return "—" if value is None else f"{value} %".replace(".", ",")


def _charts(figures: results.CampaignResults) -> dict:
    raw, filtered = figures.raw, figures.filtered
    funnel = [
        ("Envoyés", filtered.sent, str(filtered.sent), BLUE),
        ("Ouverts", filtered.opened, f"{filtered.opened} ({_rate(filtered.opened_rate)})", BLUE),
        (
            "Cliqués",
            filtered.clicked,
            f"{filtered.clicked} ({_rate(filtered.clicked_rate)})",
            ORANGE,
        ),
        (
            "Formulaires soumis",
            filtered.submitted,
            f"{filtered.submitted} ({_rate(filtered.submitted_rate)})",
            RED,
        ),
        (
            "Signalés",
            filtered.reported,
            f"{filtered.reported} ({_rate(filtered.reported_rate)})",
            GREEN,
        ),
    ]
    buckets = figures.timeline.buckets
    charts = {
        "funnel": hbar_chart(
            "chart-funnel",
            "Entonnoir hors robots (personnes distinctes)",
            funnel,
            maximum=max(raw.sent, 1),
        ),
        "timeline": None,
    }
    if buckets:
        charts["timeline"] = vbar_chart(
            "chart-timeline",
            "Événements par heure" if figures.timeline.hourly else "Événements par jour",
            [b.short_label for b in buckets],
            [
                ("Ouvertures", BLUE_LIGHT, [b.raw["opened"] for b in buckets]),
                ("Clics", ORANGE, [b.raw["clicked"] for b in buckets]),
                ("Formulaires soumis", RED, [b.raw["submitted"] for b in buckets]),
                ("Signalements", GREEN, [b.raw["reported"] for b in buckets]),
            ],
            titles=[b.label for b in buckets],
        )
    return charts


def _recipients_context(request, campaign, figures) -> tuple[dict, int]:
    form = RecipientFilterForm(request.GET, figures=figures)
    status = 200
    if form.is_valid():
        rows = results.recipient_rows(
            campaign, departments=form.departments(), status=form.cleaned_data["statut"]
        )
    else:
        status = 400
        rows = results.recipient_rows(campaign)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    querystring = request.GET.copy()
    querystring.pop("page", None)
    return {
        "filter_form": form,
        "page": page,
        "lines": results.with_events(page.object_list),
        "querystring": querystring.urlencode(),
        "target": RECIPIENTS_TARGET,
    }, status


@require_GET
def campaign_results(request, pk: int):
    campaign = results.visible_campaign(request.user, pk)
    access = results.results_access(request.user, campaign)
    if request.htmx:  # the per-recipient table alone (pagination, filters)
        results.require_rows(access)
        groups = results.department_groups(campaign)
        context, status = _recipients_context(request, campaign, groups)
        context["campaign"] = campaign
        return render(request, "phishing/includes/results_recipients.html", context, status=status)
    figures = results.campaign_results(campaign)
    context = {
        "title": f"Résultats — {campaign.name}",
        "campaign": campaign,
        "figures": figures,
        "charts": _charts(figures),
        "rows_allowed": access == results.ROWS,
        "draft": campaign.status == CampaignStatus.DRAFT,
        "steps": results.STEPS,
        "min_group": results.MIN_GROUP,
    }
    status = 200
    if access == results.ROWS:
        recipients, status = _recipients_context(request, campaign, figures)
        context.update(recipients)
    return render(request, "phishing/results.html", context, status=status)


@require_GET
def campaign_results_csv(request, pk: int):
    campaign = results.visible_campaign(request.user, pk)
    results.results_access(request.user, campaign)
    return results_exports.figures_csv(results.campaign_results(campaign))


@require_GET
def campaign_recipients_csv(request, pk: int):
    campaign = results.visible_campaign(request.user, pk)
    results.require_rows(results.results_access(request.user, campaign))
    return results_exports.recipients_csv(campaign)


@require_GET
def campaign_results_xlsx(request, pk: int):
    campaign = results.visible_campaign(request.user, pk)
    access = results.results_access(request.user, campaign)
    return results_exports.results_xlsx(
        results.campaign_results(campaign), with_recipients=access == results.ROWS
    )


class RegionForm(forms.Form):
    region = forms.TypedChoiceField(
        label="Région",
        required=False,
        coerce=int,
        empty_value=None,
        error_messages={"invalid_choice": "Choisissez une région de la liste."},
    )

    def __init__(self, *args, regions, **kwargs):
        super().__init__(*args, **kwargs)
        self.regions = regions
        self.fields["region"].choices = [(r.pk, r.name) for r in regions]

    def chosen_region(self):
        chosen = self.cleaned_data.get("region") if self.is_valid() else None
        for region in self.regions:
            if region.pk == chosen:
                return region
        return self.regions[0] if self.regions else None


def _regional(request):
    regions = results.regional_regions(request.user)
    form = RegionForm(request.GET or None, regions=regions)
    status = 400 if form.is_bound and not form.is_valid() else 200
    region = form.chosen_region()
    return form, region, status


@require_GET
def regional_results(request):
    form, region, status = _regional(request)
    figures = results.regional_figures(region) if region else None
    chart = None
    if figures and figures.available:
        lines = [*figures.categories, *([figures.others] if figures.others else [])]
        chart = hbar_chart(
            "chart-regional",
            "Taux de clic hors robots par catégorie d'établissement",
            [
                (
                    row.label,
                    row.filtered.clicked_rate or 0,
                    _rate(row.filtered.clicked_rate),
                    ORANGE,
                )
                for row in lines
            ],
            maximum=100,
            label_width=260,
        )
    return render(
        request,
        "phishing/results_regional.html",
        {
            "title": "Hameçonnage simulé — chiffres régionaux",
            "form": form,
            "show_region": len(form.regions) > 1,
            "figures": figures,
            "chart": chart,
            "min_group": results.MIN_GROUP,
        },
        status=status,
    )


@require_GET
def regional_results_csv(request):
    _form, region, _status = _regional(request)
    if region is None:
        raise Http404("Aucune région.")
    return results_exports.regional_csv(results.regional_figures(region))
