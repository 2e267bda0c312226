"""Forms of the scenario library pages. Every error says what to do, in French; what was typed
is kept."""

from __future__ import annotations

from django import forms

from rempart.core.forms import YamlTextField

from .models import Channel, Function, Level, Theme

MAX_UPLOAD_BYTES = 512 * 1024


class NamedChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.name


class LibraryFilterForm(forms.Form):
    level = forms.ChoiceField(
        label="Niveau", required=False, choices=[("", "Tous les niveaux"), *Level.choices]
    )
    theme = forms.ChoiceField(
        label="Thème", required=False, choices=[("", "Tous les thèmes"), *Theme.choices]
    )
    library = forms.ChoiceField(
        label="Bibliothèque",
        required=False,
        choices=[
            ("", "Toutes"),
            ("national", "Nationale"),
            ("region", "Régionale (CRRC)"),
            ("own", "Scénarios de mon établissement"),
        ],
    )


class UploadForm(forms.Form):
    region = NamedChoiceField(
        label="Bibliothèque régionale",
        queryset=None,
        empty_label=None,
        error_messages={
            "required": "Choisissez la région dont vous publiez les scénarios.",
            "invalid_choice": "Choisissez une région dont vous tenez la bibliothèque.",
        },
    )
    file = YamlTextField(
        max_bytes=MAX_UPLOAD_BYTES,
        too_big="Le fichier dépasse 512 Ko : publiez les scénarios en plusieurs fichiers.",
        label="Fichier YAML",
        help_text="Un scénario par fichier, ou une liste sous « scenarios: » ; 512 Ko au plus. "
        "Partez du YAML d'un scénario existant (bouton « Télécharger le YAML »).",
        error_messages={
            "required": "Choisissez le fichier YAML à publier.",
            "empty": "Le fichier est vide : choisissez un fichier YAML de scénario.",
        },
    )

    def __init__(self, *args, regions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].queryset = regions


def _function_field(label: str, required_message: str) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        label=label,
        choices=Function.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": required_message,
            "invalid_choice": "Cochez des fonctions de la liste.",
        },
    )


class OwnScenarioForm(forms.Form):
    """« Créer mon propre scénario » (and editing it): the description; injects come next."""

    organisation = NamedChoiceField(
        label="Établissement",
        queryset=None,
        empty_label=None,
        error_messages={
            "required": "Choisissez l'établissement pour lequel vous écrivez ce scénario.",
            "invalid_choice": "Choisissez un établissement dont vous organisez les exercices.",
        },
    )
    title = forms.CharField(
        label="Titre",
        max_length=200,
        error_messages={"required": "Donnez un titre au scénario."},
    )
    level = forms.ChoiceField(
        label="Niveau",
        choices=Level.choices,
        error_messages={
            "required": "Choisissez un niveau.",
            "invalid_choice": "Choisissez un niveau dans la liste.",
        },
    )
    theme = forms.ChoiceField(
        label="Thème",
        choices=Theme.choices,
        error_messages={
            "required": "Choisissez un thème.",
            "invalid_choice": "Choisissez un thème dans la liste.",
        },
    )
    is_cyber = forms.BooleanField(
        label="Scénario déclenché par une attaque ou un incident cyber",
        required=False,
        initial=True,
        help_text="Seuls les exercices déclenchés par un scénario cyber comptent pour la "
        "couverture annuelle.",
    )
    summary = forms.CharField(
        label="Résumé",
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": "Résumez la situation de départ du scénario."},
    )
    objectives = forms.CharField(
        label="Objectifs",
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Un objectif par ligne.",
        error_messages={"required": "Indiquez au moins un objectif (un par ligne)."},
    )
    duration_minutes = forms.IntegerField(
        label="Durée (minutes)",
        min_value=15,
        max_value=1440,
        error_messages={
            "required": "Indiquez la durée de l'exercice en minutes.",
            "invalid": "Indiquez la durée en minutes, par un nombre entier.",
            "min_value": "Un exercice dure au moins 15 minutes.",
            "max_value": "Un exercice dure au plus 24 heures (1 440 minutes).",
        },
    )
    functions = _function_field(
        "Fonctions attendues", "Cochez au moins une fonction attendue (direction, métiers, SI…)."
    )
    changelog = forms.CharField(
        label="Ce qui change dans cette version",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Si des exercices utilisent déjà ce scénario, la modification crée une "
        "nouvelle version ; ils gardent la leur.",
    )

    def __init__(self, *args, organisations, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organisation"].queryset = organisations
        if editing:
            del self.fields["organisation"]
        else:
            del self.fields["changelog"]

    def clean_objectives(self):
        lines = [line.strip() for line in self.cleaned_data["objectives"].splitlines()]
        lines = [line for line in lines if line]
        if not lines:
            raise forms.ValidationError("Indiquez au moins un objectif (un par ligne).")
        return lines

    def service_data(self) -> dict:
        data = self.cleaned_data
        return {
            key: data[key]
            for key in (
                "title",
                "level",
                "theme",
                "is_cyber",
                "summary",
                "objectives",
                "duration_minutes",
                "functions",
                "changelog",
            )
            if key in data
        }

    @staticmethod
    def initial_from(scenario) -> dict:
        return {
            "title": scenario.title,
            "level": scenario.level,
            "theme": scenario.theme,
            "is_cyber": scenario.is_cyber,
            "summary": scenario.summary,
            "objectives": "\n".join(scenario.objectives),
            "duration_minutes": scenario.duration_minutes,
            "functions": scenario.functions,
        }


class InjectForm(forms.Form):
    """One inject added to an own scenario; recipients among the scenario's functions."""

    offset_minutes = forms.IntegerField(
        label="Décalage (minutes après le début)",
        min_value=0,
        error_messages={
            "required": "Indiquez à quelle minute de l'exercice le stimulus arrive.",
            "invalid": "Indiquez le décalage en minutes, par un nombre entier.",
            "min_value": "Le décalage ne peut pas être négatif.",
        },
    )
    title = forms.CharField(
        label="Titre du stimulus",
        max_length=200,
        error_messages={"required": "Donnez un titre au stimulus."},
    )
    body = forms.CharField(
        label="Message",
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": "Écrivez le message que recevront les joueurs."},
    )
    channel = forms.ChoiceField(
        label="Canal",
        choices=Channel.choices,
        error_messages={
            "required": "Choisissez le canal.",
            "invalid_choice": "Choisissez le canal : courriel ou à l'écran.",
        },
    )
    functions = _function_field("Destinataires", "Cochez au moins un destinataire.")
    expected_reactions = forms.CharField(
        label="Réactions attendues",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, scenario, **kwargs):
        super().__init__(*args, **kwargs)
        labels = dict(Function.choices)
        self.fields["functions"].choices = [
            (f, labels[f]) for f in scenario.functions if f in labels
        ]

    def service_data(self) -> dict:
        return dict(self.cleaned_data)


class DuplicateForm(forms.Form):
    organisation = NamedChoiceField(
        label="Dupliquer pour",
        queryset=None,
        empty_label=None,
        error_messages={
            "required": "Choisissez l'établissement qui adaptera ce scénario.",
            "invalid_choice": "Choisissez un établissement dont vous organisez les exercices.",
        },
    )

    def __init__(self, *args, organisations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organisation"].queryset = organisations
