"""Form of a regional campaign. Every error says what to do, in French; what was typed is kept."""

from __future__ import annotations

from django import forms

from rempart.core.forms import date_field
from rempart.core.roles import OrgKind
from rempart.organisations.models import Departement, FinessCategory, Sector

from .campaigns import MAX_REMINDER_DAYS, CampaignData, shared_questionnaires

POPULATION_CHOICES = [
    (OrgKind.ESTABLISHMENT.value, "Établissements (FINESS géographique)"),
    (OrgKind.LEGAL_ENTITY.value, "Entités juridiques"),
]


class _NamedChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.name


class _QuestionnaireChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"{obj.name} (version {obj.version})"


class CampaignForm(forms.Form):
    organiser = _NamedChoice(
        label="Organisateur",
        queryset=None,
        empty_label=None,
        error_messages={
            "required": "Choisissez l'ARS ou le CRRC qui lance la campagne.",
            "invalid_choice": "Choisissez un organisateur de la liste.",
        },
    )
    questionnaire = _QuestionnaireChoice(
        label="Questionnaire",
        queryset=None,
        error_messages={
            "required": "Choisissez le questionnaire de la campagne.",
            "invalid_choice": "Choisissez un questionnaire de la bibliothèque partagée.",
        },
    )
    title = forms.CharField(
        label="Titre",
        max_length=200,
        error_messages={"required": "Indiquez le titre de la campagne."},
    )
    message = forms.CharField(
        label="Message aux établissements",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Repris dans le courriel d'invitation.",
    )
    opens_on = date_field("Ouverture", "Indiquez la date d'ouverture de la campagne.")
    deadline = date_field("Échéance", "Indiquez l'échéance de la campagne.")
    population = forms.MultipleChoiceField(
        label="Population",
        choices=POPULATION_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": "Choisissez la population : établissements, entités juridiques ou les deux.",
            "invalid_choice": "Choisissez la population dans la liste.",
        },
    )
    sector = forms.ChoiceField(
        label="Secteur (facultatif)",
        required=False,
        choices=[("", "Tous les secteurs"), *Sector.choices],
        error_messages={"invalid_choice": "Choisissez un secteur de la liste."},
    )
    categories = forms.ModelMultipleChoiceField(
        label="Catégories FINESS (facultatif)",
        required=False,
        queryset=FinessCategory.objects.order_by("label"),
        widget=forms.SelectMultiple,
        help_text="Aucune catégorie choisie : toutes les catégories.",
        error_messages={"invalid_choice": "Choisissez des catégories de la liste."},
    )
    departements = forms.ModelMultipleChoiceField(
        label="Départements (facultatif)",
        required=False,
        queryset=None,
        help_text="Aucun département choisi : toute la région.",
        error_messages={"invalid_choice": "Choisissez des départements de la région."},
    )
    reminder_days = forms.CharField(
        label="Relances (jours avant l'échéance)",
        required=False,
        max_length=60,
        initial="14, 7, 2",
        help_text="Nombres séparés par des virgules, par exemple « 14, 7, 2 » ; vide : aucune "
        "relance. Seules les organisations qui n'ont pas terminé sont relancées.",
    )

    def __init__(self, *args, organisers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organiser"].queryset = organisers
        self.fields["questionnaire"].queryset = shared_questionnaires()
        regions = organisers.values_list("region_id", flat=True)
        self.fields["departements"].queryset = Departement.objects.filter(
            region_id__in=regions
        ).order_by("code")

    def _options(self, name: str) -> list[tuple[str, str, bool]]:
        """(value, label, selected) of a multiple choice, for the template."""
        chosen = {str(v) for v in (self[name].value() or [])}
        return [
            (str(value), str(label), str(value) in chosen)
            for value, label in self.fields[name].choices
        ]

    @property
    def category_options(self):
        return self._options("categories")

    @property
    def departement_options(self):
        return self._options("departements")

    def clean_reminder_days(self) -> list[int]:
        raw = self.cleaned_data.get("reminder_days", "")
        days = []
        for part in raw.replace(";", ",").split(","):
            part = part.strip()
            if not part:
                continue
            if not part.isdigit() or not 1 <= int(part) <= MAX_REMINDER_DAYS:
                raise forms.ValidationError(
                    f"Indiquez des nombres de jours entre 1 et {MAX_REMINDER_DAYS}, séparés par "
                    "des virgules (par exemple « 14, 7, 2 »)."
                )
            days.append(int(part))
        return sorted(set(days), reverse=True)

    def clean(self):
        data = super().clean()
        opens_on, deadline = data.get("opens_on"), data.get("deadline")
        if opens_on and deadline and deadline < opens_on:
            self.add_error("deadline", "L'échéance doit suivre la date d'ouverture.")
        return data

    def campaign_data(self) -> CampaignData:
        data = self.cleaned_data
        return CampaignData(
            organiser=data["organiser"],
            questionnaire=data["questionnaire"],
            title=data["title"],
            message=data["message"],
            opens_on=data["opens_on"],
            deadline=data["deadline"],
            population=list(data["population"]),
            reminder_days=data["reminder_days"],
            sector=data["sector"],
            categories=tuple(c.pk for c in data["categories"]),
            departements=tuple(d.pk for d in data["departements"]),
        )
