from django import forms
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from rempart.organisations import perms

from .audit import audit_entries, describe_changes
from .csv_export import csv_response
from .models import AuditEntry
from .roles import Capability


class AuditFilterForm(forms.Form):
    action = forms.TypedChoiceField(
        label="Action",
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "Toutes"), *AuditEntry.ACTION_LABELS.items()],
    )
    model = forms.ChoiceField(
        label="Objet",
        required=False,
        choices=[
            ("", "Tous"),
            ("organisation", "Organisation"),
            ("membership", "Rattachement"),
            ("invitation", "Invitation"),
            ("user", "Personne"),
        ],
    )
    since = forms.DateField(
        label="Depuis le", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="Jusqu'au", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("since") and cleaned.get("until") and cleaned["since"] > cleaned["until"]:
            self.add_error("until", "La date de fin doit être postérieure à la date de début.")
        return cleaned


def _filtered(request):
    if perms.capability_q(request.user, Capability.VIEW_AUDIT) is None:
        raise Http404("Journal d'audit indisponible pour votre rôle.")
    form = AuditFilterForm(request.GET or None)
    kwargs = {}
    if form.is_bound and form.is_valid():
        kwargs = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
    organisation = None
    if request.GET.get("organisation"):
        from rempart.organisations.selectors import get_visible_organisation

        organisation = get_visible_organisation(request.user, request.GET["organisation"])
    return form, organisation, audit_entries(request.user, organisation=organisation, **kwargs)


def audit_list(request):
    form, organisation, entries = _filtered(request)
    page = Paginator(entries.select_related("organisation"), 50).get_page(request.GET.get("page"))
    rows = [(entry, describe_changes(entry)) for entry in page]
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "core/audit_list.html",
        {
            "form": form,
            "page": page,
            "rows": rows,
            "organisation": organisation,
            "querystring": query.urlencode(),
            "title": "Journal d'audit",
        },
    )


def audit_export(request):
    _form, _organisation, entries = _filtered(request)
    header = [
        "date",
        "acteur",
        "adresse IP",
        "action",
        "type d'objet",
        "identifiant",
        "objet",
        "organisation",
        "champ",
        "avant",
        "après",
    ]

    def rows():
        for entry in entries.select_related("organisation").iterator(chunk_size=2000):
            base = [
                timezone.localtime(entry.timestamp).isoformat(timespec="seconds"),
                entry.actor.email if entry.actor else (entry.actor_email or "système"),
                entry.remote_addr or "",
                entry.action_label,
                entry.content_type.model,
                entry.object_pk,
                entry.object_repr,
                entry.organisation.name if entry.organisation_id and entry.organisation else "",
            ]
            for field, before, after in describe_changes(entry) or [("", "", "")]:
                yield [*base, field, before, after]

    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return csv_response(f"journal-audit-{stamp}.csv", header, rows())
