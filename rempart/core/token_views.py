"""Personal API tokens: list, create (clear value shown once), revoke. Thin: the service
does the checks and the audit; the page is 404 for roles that may not use the API."""

import datetime

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from rempart.organisations import perms

from . import services
from .errors import DomainError
from .models import ApiToken, ApiTokenScope
from .roles import Capability

PANEL_TEMPLATE = "core/includes/api_tokens_panel.html"


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label=_("Nom du jeton"),
        widget=forms.TextInput(attrs={"class": "fr-input", "autocomplete": "off"}),
        max_length=services.API_TOKEN_NAME_MAX_LENGTH,
        help_text=_("Pour le reconnaître plus tard, par exemple « Tableau de bord régional »."),
    )
    scope = forms.ChoiceField(
        label=_("Portée"),
        choices=ApiTokenScope.choices,
        initial=ApiTokenScope.READ,
        widget=forms.RadioSelect,  # rendered with DSFR markup by the template
        help_text=_("Un jeton en lecture seule ne peut rien modifier."),
    )
    expires_on = forms.DateField(
        label=_("Date d'expiration (facultative)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date", "class": "fr-input"}, format="%Y-%m-%d"),
        help_text=_(
            "Le jeton cesse de fonctionner ce jour-là, à 0 h. Laissez vide pour un jeton sans expiration."
        ),
        error_messages={"invalid": _("Saisissez une date valide, au format jj/mm/aaaa.")},
    )

    def clean_expires_on(self):
        value = self.cleaned_data.get("expires_on")
        if value is not None and value <= timezone.localdate():
            raise forms.ValidationError(
                _("La date d'expiration doit être dans le futur (au plus tôt demain).")
            )
        return value

    def expires_at(self) -> datetime.datetime | None:
        """Midnight, local time, at the start of the chosen day."""
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _require_api_user(request) -> None:
    if not perms.has_capability(request.user, Capability.USE_API):
        raise Http404("Page introuvable.")


def _render(request, *, form=None, created=None, clear_value="", notice=None, status=200):
    """The full page, or only the panel for HTMX (which swaps 2xx answers only)."""
    context = {
        "title": _("Jetons d'API"),
        "tokens": request.user.api_tokens.all(),
        "form": form or ApiTokenForm(),
        "created": created,
        "clear_value": clear_value,
        "notice": notice,
    }
    if request.htmx:
        return render(request, PANEL_TEMPLATE, context)
    return render(request, "core/api_tokens.html", context, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def token_list(request):
    """GET: the person's tokens and the creation form. POST: create a token and show its
    clear value once (rendered, never redirected: the value is not kept anywhere)."""
    _require_api_user(request)
    if request.method == "GET":
        return _render(request)
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        return _render(request, form=form, status=400)
    try:
        token, raw = services.api_token_create(
            actor=request.user,
            name=form.cleaned_data["name"],
            scope=form.cleaned_data["scope"],
            expires_at=form.expires_at(),
        )
    except DomainError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return _render(request, form=form, status=400)
    return _render(request, created=token, clear_value=raw)


@never_cache
@require_POST
def token_revoke(request, pk: int):
    """Revoke one of the person's own tokens; another person's token id answers 404."""
    _require_api_user(request)
    try:
        token = request.user.api_tokens.get(pk=pk)
    except ApiToken.DoesNotExist as exc:
        raise Http404("Jeton introuvable.") from exc
    try:
        services.api_token_revoke(actor=request.user, token=token)
    except DomainError as exc:
        notice = ("error", exc.message)
    else:
        notice = (
            "success",
            _("Le jeton « %(name)s » est révoqué : il ne fonctionne plus.") % {"name": token.name},
        )
    if request.htmx:
        return _render(request, notice=notice)
    getattr(messages, notice[0])(request, notice[1])
    return redirect("core:api_tokens")
