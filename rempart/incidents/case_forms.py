"""Forms of the case pages. They read what was typed (types, required fields, lists); every
rule is checked by `case_services`, whose French messages are put back on the field at fault."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import (
    AccessLevel,
    AssetKind,
    AssetState,
    CaseOutcome,
    CaseState,
    EventKind,
    IncidentType,
    Severity,
    TaskStatus,
    Tlp,
)

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M"]
ENTRY_CHOICES = [
    (EventKind.NOTE.value, EventKind.NOTE.label),
    (EventKind.OBSERVATION.value, EventKind.OBSERVATION.label),
    (EventKind.ACTION.value, EventKind.ACTION.label),
]


class DateTimeLocal(forms.DateTimeInput):
    input_type = "datetime-local"


def _when_field(label, help_text=""):
    return forms.DateTimeField(
        label=label,
        required=False,
        input_formats=DATETIME_FORMATS,
        widget=DateTimeLocal,
        help_text=help_text,
        error_messages={"invalid": _("Date et heure invalides (jj/mm/aaaa hh:mm).")},
    )


def _person_label(user) -> str:
    return user.get_full_name() or user.email


class CaseOpenForm(forms.Form):
    organisation = forms.TypedChoiceField(
        label=_("Structure victime"), coerce=int, choices=(), empty_value=None
    )
    title = forms.CharField(label=_("Intitulé"), max_length=255)
    incident_type = forms.ChoiceField(
        label=_("Type d'incident"),
        choices=[("", "—"), *IncidentType.choices],
        help_text=_("Il détermine les tâches et la liste de contrôle proposées."),
    )
    summary = forms.CharField(
        label=_("Synthèse"), required=False, widget=forms.Textarea(attrs={"rows": 5})
    )
    severity = forms.ChoiceField(label=_("Gravité"), choices=Severity.choices)
    tlp = forms.ChoiceField(
        label=_("Diffusion (TLP 2.0)"),
        choices=Tlp.choices,
        help_text=_("TLP:AMBER : la structure, le CRRC et les personnes qui en ont besoin."),
    )

    def __init__(self, *args, organisations=None, alert=None, **kwargs):
        super().__init__(*args, **kwargs)
        if alert is not None:
            del self.fields["organisation"]
        else:
            self.fields["organisation"].choices = [("", "—")] + [
                (org.pk, org.name) for org in organisations or ()
            ]


class CaseEditForm(forms.Form):
    title = forms.CharField(label=_("Intitulé"), max_length=255)
    summary = forms.CharField(
        label=_("Synthèse"), required=False, widget=forms.Textarea(attrs={"rows": 6})
    )
    severity = forms.ChoiceField(label=_("Gravité"), choices=Severity.choices)
    tlp = forms.ChoiceField(label=_("Diffusion (TLP 2.0)"), choices=Tlp.choices)


class CaseStateForm(forms.Form):
    state = forms.ChoiceField(label=_("Nouvel état"), choices=CaseState.choices)
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Obligatoire pour revenir en arrière ou rouvrir un dossier clos."),
    )
    occurred_at = _when_field(
        _("Date du changement"), _("Laisser vide pour maintenant ; jamais dans le futur.")
    )


class CaseOutcomeForm(forms.Form):
    outcome = forms.ChoiceField(label=_("Issue du dossier"), choices=CaseOutcome.choices)
    note = forms.CharField(
        label=_("Note"), required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )


class CaseLeadForm(forms.Form):
    lead = forms.TypedChoiceField(
        label=_("Pilote"), coerce=int, choices=(), required=False, empty_value=None
    )

    def __init__(self, *args, candidates=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lead"].choices = [("", _("Aucun pilote"))] + [
            (user.pk, _person_label(user)) for user in candidates
        ]


class CaseShareForm(forms.Form):
    person = forms.TypedChoiceField(
        label=_("Expert (astreinte, prestataire)"),
        coerce=int,
        choices=(),
        required=False,
        empty_value=None,
    )
    organisation = forms.TypedChoiceField(
        label=_("ou structure (ARS, établissement qui aide…)"),
        coerce=int,
        choices=(),
        required=False,
        empty_value=None,
    )
    level = forms.ChoiceField(label=_("Niveau d'accès"), choices=AccessLevel.choices)

    def __init__(self, *args, experts=(), organisations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["person"].choices = [("", "—")] + [
            (user.pk, _person_label(user)) for user in experts
        ]
        self.fields["organisation"].choices = [("", "—")] + [
            (org.pk, org.name) for org in organisations
        ]

    def clean(self):
        data = super().clean()
        if not self.errors and (data.get("person") is None) == (data.get("organisation") is None):
            raise forms.ValidationError(
                _("Choisissez une personne ou une structure (l'une ou l'autre).")
            )
        return data


class CaseEventForm(forms.Form):
    kind = forms.ChoiceField(label=_("Type d'entrée"), choices=ENTRY_CHOICES)
    text = forms.CharField(
        label=_("Description"), max_length=20000, widget=forms.Textarea(attrs={"rows": 3})
    )
    occurred_at = _when_field(
        _("Survenu le"), _("Laisser vide pour maintenant ; une date passée est possible.")
    )


class TaskForm(forms.Form):
    title = forms.CharField(label=_("Tâche"), max_length=255)
    details = forms.CharField(
        label=_("Précisions"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    assignee = forms.TypedChoiceField(
        label=_("Attribuée à"), coerce=int, choices=(), required=False, empty_value=None
    )
    due_at = forms.DateTimeField(
        label=_("Échéance"),
        required=False,
        input_formats=DATETIME_FORMATS,
        widget=DateTimeLocal,
        error_messages={"invalid": _("Date et heure invalides (jj/mm/aaaa hh:mm).")},
    )

    def __init__(self, *args, people=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = [("", _("Personne"))] + [
            (user.pk, _person_label(user)) for user in people
        ]


class TaskStatusForm(forms.Form):
    status = forms.ChoiceField(label=_("Statut"), choices=TaskStatus.choices)


class TaskAssignForm(forms.Form):
    assignee = forms.TypedChoiceField(
        label=_("Attribuée à"), coerce=int, choices=(), required=False, empty_value=None
    )

    def __init__(self, *args, people=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = [("", _("Personne"))] + [
            (user.pk, _person_label(user)) for user in people
        ]


class AssetForm(forms.Form):
    name = forms.CharField(label=_("Actif (serveur, poste, application…)"), max_length=255)
    kind = forms.ChoiceField(label=_("Type"), choices=AssetKind.choices)
    state = forms.ChoiceField(label=_("État"), choices=AssetState.choices)
    critical_for_care = forms.BooleanField(label=_("Critique pour les soins"), required=False)
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class AssetStateForm(forms.Form):
    state = forms.ChoiceField(label=_("État"), choices=AssetState.choices)


class LinkAlertForm(forms.Form):
    case = forms.IntegerField(
        label=_("Dossier"), error_messages={"required": _("Choisissez un dossier.")}
    )


class CaseFilterForm(forms.Form):
    """The list's filters (GET): invalid values are ignored, never an error page."""

    state = forms.ChoiceField(
        label=_("État"),
        required=False,
        choices=[("", _("Tous")), ("ouverts", _("En cours")), *CaseState.choices],
    )
    incident_type = forms.ChoiceField(
        label=_("Type"), required=False, choices=[("", _("Tous")), *IncidentType.choices]
    )
    organisation = forms.TypedChoiceField(
        label=_("Structure"), required=False, coerce=int, choices=(), empty_value=None
    )
    mine = forms.BooleanField(label=_("Mes dossiers (pilote ou tâches)"), required=False)

    def __init__(self, *args, organisations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organisation"].choices = [("", _("Toutes"))] + [
            (org.pk, org.name) for org in organisations
        ]
