"""Forms of the exercise run pages. Every error says what to do, in French; what was typed is
kept. The services check everything again (the forms only shape the input)."""

from __future__ import annotations

import datetime

from django import forms
from django.utils import timezone

from rempart.core.forms import date_field, time_field

from .models import (
    ActionPriority,
    ActionStatus,
    Channel,
    EntryKind,
    Function,
    ParticipantRole,
)
from .services import ActionData, InjectData

SCORE_CHOICES = [
    ("", "—"),
    ("1", "1 — non atteint"),
    ("2", "2 — partiellement atteint"),
    ("3", "3 — largement atteint"),
    ("4", "4 — pleinement atteint"),
]
NOTE_CHOICES = [
    (EntryKind.REACTION.value, EntryKind.REACTION.label),
    (EntryKind.DECISION.value, EntryKind.DECISION.label),
    (EntryKind.OBSERVATION.value, EntryKind.OBSERVATION.label),
]


class OrganisationChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.name


class ScenarioChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"{obj.title} — {obj.get_level_display()} (v{obj.version})"


def _text_field(label: str, *, required=True, rows=3, max_length=4000, message=""):
    return forms.CharField(
        label=label,
        required=required,
        max_length=max_length,
        widget=forms.Textarea(attrs={"rows": rows}),
        error_messages={
            "required": message or f"Indiquez : {label.lower()}.",
            "max_length": f"{max_length} caractères au plus.",
        },
    )


class PlanFields(forms.Form):
    day = date_field("Date", "Indiquez la date de l'exercice (jj/mm/aaaa).")
    start_time = time_field("Heure de début (heure de Paris)", "Indiquez l'heure de début (hh:mm).")
    location = forms.CharField(
        label="Lieu",
        max_length=300,
        required=False,
        help_text="Salle de la cellule de crise, site…",
        error_messages={"max_length": "300 caractères au plus."},
    )
    objectives = _text_field(
        "Objectifs de l'exercice",
        required=False,
        rows=4,
    )

    def planned_start(self) -> datetime.datetime:
        zone = timezone.get_current_timezone()
        return datetime.datetime.combine(
            self.cleaned_data["day"], self.cleaned_data["start_time"], tzinfo=zone
        )

    @staticmethod
    def initial_from(run) -> dict:
        starts = timezone.localtime(run.planned_start)
        return {
            "day": starts.date().isoformat(),
            "start_time": f"{starts:%H:%M}",
            "location": run.location,
            "objectives": run.objectives,
        }


class RunForm(PlanFields):
    organisation = OrganisationChoiceField(
        label="Organisation qui tient l'exercice",
        queryset=None,
        empty_label=None,
        error_messages={
            "required": "Choisissez l'organisation qui tient l'exercice.",
            "invalid_choice": "Choisissez l'une de vos organisations dans la liste.",
        },
    )
    scenario = ScenarioChoiceField(
        label="Scénario de la bibliothèque",
        queryset=None,
        empty_label="— Choisissez un scénario —",
        help_text="L'exercice copie le scénario (stimuli, grille d'évaluation) : vous pourrez "
        "adapter son déroulé ensuite.",
        error_messages={
            "required": "Choisissez un scénario de la bibliothèque.",
            "invalid_choice": "Choisissez un scénario de la liste (version en vigueur).",
        },
    )
    field_order = ["organisation", "scenario", "day", "start_time", "location", "objectives"]

    def __init__(self, *args, organisations, scenarios, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organisation"].queryset = organisations
        self.fields["scenario"].queryset = scenarios
        self.fields[
            "objectives"
        ].help_text = "Laissez vide pour reprendre les objectifs du scénario."


class InjectForm(forms.Form):
    order = forms.IntegerField(
        label="Ordre",
        min_value=1,
        max_value=999,
        error_messages={
            "required": "Indiquez le numéro d'ordre du stimulus.",
            "invalid": "Indiquez un nombre entier.",
            "min_value": "Indiquez un numéro d'au moins 1.",
            "max_value": "999 au plus.",
        },
    )
    offset_minutes = forms.IntegerField(
        label="Décalage (minutes après le début)",
        min_value=0,
        max_value=7 * 24 * 60,
        error_messages={
            "required": "Indiquez le décalage en minutes (0 pour le début).",
            "invalid": "Indiquez un nombre entier de minutes.",
            "min_value": "Le décalage ne peut pas être négatif.",
            "max_value": "Une semaine (10 080 minutes) au plus.",
        },
    )
    title = forms.CharField(
        label="Titre",
        max_length=200,
        error_messages={
            "required": "Indiquez le titre du stimulus.",
            "max_length": "200 caractères au plus.",
        },
    )
    body = _text_field("Message diffusé", rows=5, message="Indiquez le message diffusé.")
    channel = forms.ChoiceField(
        label="Canal",
        choices=Channel.choices,
        error_messages={
            "required": "Choisissez le canal : courriel ou à l'écran.",
            "invalid_choice": "Choisissez le canal : courriel ou à l'écran.",
        },
    )
    functions = forms.MultipleChoiceField(
        label="Destinataires (aucune case : tous les participants)",
        choices=Function.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"invalid_choice": "Cochez des fonctions de la liste."},
    )
    expected_reactions = _text_field("Réactions attendues", required=False, rows=3)

    def data_object(self) -> InjectData:
        return InjectData(**self.cleaned_data)

    @staticmethod
    def initial_from(inject) -> dict:
        return {
            "order": inject.order,
            "offset_minutes": inject.offset_minutes,
            "title": inject.title,
            "body": inject.body,
            "channel": inject.channel,
            "functions": list(inject.functions),
            "expected_reactions": inject.expected_reactions,
        }


class ParticipantForm(forms.Form):
    organisation = OrganisationChoiceField(
        label="Établissement",
        queryset=None,
        empty_label="— Choisissez l'établissement —",
        error_messages={
            "required": "Choisissez l'établissement de la personne.",
            "invalid_choice": "Choisissez un établissement de la région dans la liste.",
        },
    )
    function = forms.ChoiceField(
        label="Fonction",
        choices=Function.choices,
        error_messages={
            "required": "Choisissez la fonction de la personne.",
            "invalid_choice": "Choisissez la fonction dans la liste.",
        },
    )
    role = forms.ChoiceField(
        label="Rôle",
        choices=ParticipantRole.choices,
        initial=ParticipantRole.PLAYER,
        error_messages={
            "required": "Choisissez le rôle de la personne.",
            "invalid_choice": "Choisissez le rôle : joueur, observateur ou animateur.",
        },
    )
    full_name = forms.CharField(
        label="Nom et prénom",
        max_length=200,
        error_messages={
            "required": "Indiquez le nom et le prénom de la personne.",
            "max_length": "200 caractères au plus.",
        },
    )
    job_title = forms.CharField(
        label="Intitulé du poste",
        max_length=200,
        required=False,
        error_messages={"max_length": "200 caractères au plus."},
    )
    email = forms.EmailField(
        label="Courriel",
        max_length=254,
        required=False,
        help_text="Pour lui envoyer son lien personnel et les stimuli par courriel.",
        error_messages={
            "invalid": "Indiquez une adresse électronique valide, par exemple nom@exemple.fr."
        },
    )

    def __init__(self, *args, organisations=None, **kwargs):
        super().__init__(*args, **kwargs)
        if organisations is None:
            del self.fields["organisation"]
        else:
            self.fields["organisation"].queryset = organisations


class NoteForm(forms.Form):
    kind = forms.ChoiceField(
        label="Type de note",
        choices=NOTE_CHOICES,
        error_messages={
            "required": "Choisissez le type de note.",
            "invalid_choice": "Choisissez : réaction, décision ou observation.",
        },
    )
    inject = forms.ModelChoiceField(
        label="En réaction au stimulus",
        queryset=None,
        required=False,
        empty_label="— Aucun —",
        error_messages={"invalid_choice": "Choisissez un stimulus de cet exercice."},
    )
    text = _text_field("Note", rows=3, message="Écrivez la note avant de l'enregistrer.")

    def __init__(self, *args, injects, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["inject"].queryset = injects
        self.fields["inject"].label_from_instance = lambda i: f"n° {i.order} — {i.title}"


class MessageForm(forms.Form):
    text = forms.CharField(
        label="Votre message à l'animateur",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={
            "required": "Écrivez votre message avant de l'envoyer.",
            "max_length": "2 000 caractères au plus.",
        },
    )


class EvaluationForm(forms.Form):
    objectives_met = _text_field("Atteinte des objectifs", required=False, rows=4)
    summary = _text_field("Synthèse", rows=5, message="Rédigez la synthèse de l'évaluation.")

    def __init__(self, *args, criteria, **kwargs):
        super().__init__(*args, **kwargs)
        self.criteria = list(criteria or [])
        fields = {}
        for criterion in self.criteria:
            code, label = criterion.get("code"), criterion.get("label", criterion.get("code"))
            fields[f"score_{code}"] = forms.TypedChoiceField(
                label=f"{label} — note",
                choices=SCORE_CHOICES,
                coerce=int,
                empty_value=None,
                error_messages={
                    "required": f"Notez le critère « {label} » de 1 à 4.",
                    "invalid_choice": f"Notez le critère « {label} » de 1 à 4.",
                },
            )
            fields[f"comment_{code}"] = forms.CharField(
                label=f"{label} — commentaire",
                required=False,
                max_length=4000,
                widget=forms.Textarea(attrs={"rows": 2}),
                error_messages={"max_length": "4000 caractères au plus."},
            )
        self.fields = {**fields, **self.fields}

    def rows(self):
        """(criterion, score field, comment field) for the grid."""
        return [
            (c, self[f"score_{c.get('code')}"], self[f"comment_{c.get('code')}"])
            for c in self.criteria
        ]

    def scores(self) -> dict:
        return {
            c["code"]: {
                "score": self.cleaned_data[f"score_{c['code']}"],
                "comment": self.cleaned_data[f"comment_{c['code']}"],
            }
            for c in self.criteria
        }

    @staticmethod
    def initial_from(evaluation) -> dict:
        initial = {"objectives_met": evaluation.objectives_met, "summary": evaluation.summary}
        for code, entry in (evaluation.scores or {}).items():
            initial[f"score_{code}"] = str(entry.get("score", ""))
            initial[f"comment_{code}"] = entry.get("comment", "")
        return initial


class DebriefForm(forms.Form):
    held_on = date_field("Date du RETEX", "Indiquez la date du RETEX (jj/mm/aaaa).")
    strengths = _text_field("Points forts", rows=4, message="Indiquez les points forts.")
    improvements = _text_field(
        "Axes d'amélioration", rows=4, message="Indiquez les axes d'amélioration."
    )
    notes = _text_field("Compte rendu", required=False, rows=6)

    @staticmethod
    def initial_from(debrief) -> dict:
        return {
            "held_on": debrief.held_on.isoformat(),
            "strengths": debrief.strengths,
            "improvements": debrief.improvements,
            "notes": debrief.notes,
        }


class ActionForm(forms.Form):
    title = forms.CharField(
        label="Action",
        max_length=300,
        error_messages={
            "required": "Indiquez l'action décidée.",
            "max_length": "300 caractères au plus.",
        },
    )
    owner = forms.CharField(
        label="Responsable",
        max_length=200,
        required=False,
        error_messages={"max_length": "200 caractères au plus."},
    )
    due_on = date_field("Échéance", "", required=False)
    priority = forms.ChoiceField(
        label="Priorité",
        choices=ActionPriority.choices,
        initial=ActionPriority.MEDIUM,
        error_messages={
            "required": "Choisissez la priorité.",
            "invalid_choice": "Choisissez la priorité : haute, moyenne ou basse.",
        },
    )
    status = forms.ChoiceField(
        label="Statut",
        choices=ActionStatus.choices,
        initial=ActionStatus.TODO,
        error_messages={
            "required": "Choisissez le statut.",
            "invalid_choice": "Choisissez le statut : à faire, en cours ou faite.",
        },
    )

    def data_object(self) -> ActionData:
        return ActionData(**self.cleaned_data)

    @staticmethod
    def initial_from(action) -> dict:
        return {
            "title": action.title,
            "owner": action.owner,
            "due_on": action.due_on.isoformat() if action.due_on else "",
            "priority": action.priority,
            "status": action.status,
        }
