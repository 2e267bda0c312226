"""Forms of the escape-game pages: the session, its participation rows (a small formset), the
list's filters. Every error says what to do, in French."""

from __future__ import annotations

from django import forms
from django.forms import formset_factory

from rempart.core.forms import date_field

from .models import DEFAULT_ESCAPE_MINUTES, DEFAULT_SCENARIO

PARTICIPATION_ROWS = 5


class OrganisationChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.name


ESCAPED_CHOICES = [("", "Non renseigné"), ("oui", "Oui"), ("non", "Non")]


class SessionForm(forms.Form):
    held_on = date_field("Date de la session", "Indiquez la date de la session (jj/mm/aaaa).")
    host = OrganisationChoiceField(
        label="Structure d'accueil",
        queryset=None,
        empty_label="Choisissez la structure qui accueille la session",
        error_messages={
            "required": "Choisissez la structure qui accueille la session.",
            "invalid_choice": "Choisissez une structure de votre région dans la liste.",
        },
    )
    site = forms.CharField(label="Lieu (salle, site)", max_length=200, required=False)
    facilitator_name = forms.CharField(
        label="Animateur",
        max_length=200,
        error_messages={"required": "Indiquez qui a animé la session."},
    )
    scenario = forms.CharField(
        label="Scénario",
        max_length=200,
        initial=DEFAULT_SCENARIO,
        error_messages={"required": "Indiquez le scénario joué."},
    )
    duration_minutes = forms.IntegerField(
        label="Durée de jeu (minutes)",
        min_value=5,
        max_value=240,
        initial=DEFAULT_ESCAPE_MINUTES,
        error_messages={
            "required": "Indiquez la durée de jeu en minutes (45 pour Sant'escape).",
            "invalid": "Indiquez un nombre entier de minutes.",
            "min_value": "La durée de jeu est d'au moins 5 minutes.",
            "max_value": "La durée de jeu est de 240 minutes au plus.",
        },
    )
    team_count = forms.IntegerField(
        label="Nombre d'équipes",
        min_value=1,
        max_value=100,
        initial=1,
        error_messages={
            "required": "Indiquez le nombre d'équipes (1 au moins).",
            "invalid": "Indiquez un nombre entier d'équipes.",
            "min_value": "Il y a au moins une équipe.",
            "max_value": "100 équipes au plus.",
        },
    )
    escaped = forms.ChoiceField(
        label="Les joueurs se sont-ils évadés ?", choices=ESCAPED_CHOICES, required=False
    )
    escape_minutes = forms.IntegerField(
        label="Temps de sortie (minutes)",
        required=False,
        min_value=1,
        max_value=240,
        error_messages={
            "invalid": "Indiquez un nombre entier de minutes.",
            "min_value": "Le temps de sortie est d'au moins une minute.",
            "max_value": "Le temps de sortie est de 240 minutes au plus.",
        },
    )
    satisfaction = forms.DecimalField(
        label="Satisfaction (sur 10)",
        required=False,
        min_value=0,
        max_value=10,
        decimal_places=1,
        error_messages={
            "invalid": "Indiquez une note entre 0 et 10, par exemple 8,5.",
            "min_value": "La note est comprise entre 0 et 10.",
            "max_value": "La note est comprise entre 0 et 10.",
            "max_decimal_places": "Une décimale au plus, par exemple 8,5.",
        },
    )
    debrief = forms.CharField(
        label="Notes de débriefing", widget=forms.Textarea(attrs={"rows": 4}), required=False
    )

    def __init__(self, *args, hosts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["host"].queryset = hosts
        self.fields["satisfaction"].localize = True
        self.fields["satisfaction"].widget.is_localized = True

    def clean(self):
        data = super().clean()
        escaped, minutes = data.get("escaped"), data.get("escape_minutes")
        if minutes is not None and escaped != "oui":
            self.add_error(
                "escape_minutes",
                "Le temps de sortie ne se renseigne que si les joueurs se sont évadés.",
            )
        duration = data.get("duration_minutes")
        if minutes is not None and duration and minutes > duration:
            self.add_error("escape_minutes", "Le temps de sortie dépasse la durée de jeu.")
        return data

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("host")
        data["escaped"] = {"oui": True, "non": False}.get(data["escaped"])
        return data


class ParticipationForm(forms.Form):
    organisation = OrganisationChoiceField(
        label="Organisation",
        queryset=None,
        required=False,
        empty_label="—",
        error_messages={
            "invalid_choice": "Choisissez une organisation de la région dans la liste."
        },
    )
    count = forms.IntegerField(
        label="Participants",
        required=False,
        error_messages={"invalid": "Indiquez un nombre entier de participants."},
    )
    names = forms.CharField(
        label="Noms (facultatif, un par ligne)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 1}),
    )

    def __init__(self, *args, organisations=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organisation"].queryset = organisations

    def clean(self):
        data = super().clean()
        organisation, count = data.get("organisation"), data.get("count")
        if count is not None and count < 0:
            self.add_error("count", "Le nombre de participants ne peut pas être négatif.")
        elif count == 0:
            self.add_error("count", "Indiquez au moins un participant, ou videz la ligne.")
        elif organisation is not None and count is None and "count" not in self.errors:
            self.add_error("count", "Indiquez le nombre de participants de cette organisation.")
        elif organisation is None and count and "organisation" not in self.errors:
            self.add_error("organisation", "Choisissez l'organisation de ces participants.")
        return data


class BaseParticipationFormSet(forms.BaseFormSet):
    def clean(self):
        if any(self.errors):
            return
        rows = [f.cleaned_data for f in self.forms if f.cleaned_data.get("organisation")]
        if not rows:
            raise forms.ValidationError(
                "Indiquez au moins une organisation participante et son nombre de participants."
            )
        names = [row["organisation"].pk for row in rows]
        if len(names) != len(set(names)):
            raise forms.ValidationError(
                "Une organisation figure deux fois : regroupez ses participants sur une ligne."
            )


ParticipationFormSet = formset_factory(
    ParticipationForm,
    formset=BaseParticipationFormSet,
    extra=PARTICIPATION_ROWS,
    max_num=50,
    validate_max=True,
)


class SessionFilterForm(forms.Form):
    annee = forms.IntegerField(
        label="Année",
        required=False,
        min_value=2000,
        max_value=2100,
        error_messages={
            "invalid": "Indiquez une année sur quatre chiffres, par exemple 2025.",
            "min_value": "Indiquez une année à partir de 2000.",
            "max_value": "Indiquez une année avant 2100.",
        },
    )
    organisation = OrganisationChoiceField(
        label="Organisation",
        queryset=None,
        required=False,
        empty_label="Toutes les organisations",
        error_messages={"invalid_choice": "Choisissez une organisation de la liste."},
    )

    def __init__(self, *args, organisations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organisation"].queryset = organisations
