"""Forms of the answering and action-plan pages. Every error says what to do, in French; what
was typed is kept. Answers are not a Django form: each question posts its own value(s), checked
by `services.save_answer` against the question's kind and choices."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from rempart.core.forms import YamlTextField, date_field
from rempart.programme import uploads

from .models import ActionPriority, ActionStatus


class EvidenceForm(forms.Form):
    title = forms.CharField(
        label="Intitulé de la preuve",
        max_length=300,
        error_messages={"required": "Donnez un intitulé à la preuve."},
    )
    node = forms.TypedChoiceField(
        label="Exigence concernée",
        required=False,
        coerce=int,
        empty_value=None,
        error_messages={"invalid_choice": "Choisissez une exigence de ce questionnaire."},
    )
    file = forms.FileField(
        label="Fichier",
        help_text=f"Types acceptés : {uploads.accepted_extensions()} ; "
        f"{uploads.human_size(uploads.max_bytes())} au plus.",
        error_messages={
            "required": "Choisissez un fichier.",
            "empty": "Le fichier est vide.",
            "invalid": "Le fichier n'a pas pu être lu : choisissez-le à nouveau.",
        },
    )
    effective_on = date_field(
        "En vigueur depuis", "Indiquez la date depuis laquelle la preuve vaut."
    )
    expires_on = date_field("Expire le (facultatif)", "", required=False)

    def __init__(self, *args, nodes=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["node"].choices = [("", "L'autoévaluation entière")] + [
            (node.pk, f"{node.ref_id} — {node.name}" if node.ref_id else node.name)
            for node in nodes
        ]

    def clean(self):
        data = super().clean()
        effective, expires = data.get("effective_on"), data.get("expires_on")
        if effective and expires and expires < effective:
            self.add_error(
                "expires_on", "La date d'expiration doit suivre la date d'entrée en vigueur."
            )
        return data


class DomainChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"{obj.code} — {obj.title}"


class ActionForm(forms.Form):
    title = forms.CharField(
        label="Action",
        max_length=300,
        error_messages={"required": "Donnez un intitulé à l'action."},
    )
    description = forms.CharField(
        label="Description", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    owner = forms.CharField(label="Responsable", max_length=200, required=False)
    due_on = date_field(
        "Échéance",
        "",
        required=False,
        help_text="Une échéance passée est acceptée : l'action est signalée en retard.",
    )
    status = forms.ChoiceField(
        label="Statut",
        choices=ActionStatus.choices,
        initial=ActionStatus.TODO,
        error_messages={"invalid_choice": "Choisissez un statut de la liste."},
    )
    priority = forms.ChoiceField(
        label="Priorité",
        choices=ActionPriority.choices,
        initial=ActionPriority.MEDIUM,
        error_messages={"invalid_choice": "Choisissez une priorité de la liste."},
    )
    estimated_cost_eur = forms.DecimalField(
        label="Coût estimé (€)",
        required=False,
        min_value=Decimal(0),
        max_digits=12,
        decimal_places=2,
        localize=True,
        error_messages={
            "invalid": "Indiquez un montant en euros, par exemple 1500 ou 1500,50.",
            "min_value": "Le coût estimé ne peut pas être négatif.",
            "max_digits": "Ce montant est trop grand.",
            "max_decimal_places": "Indiquez au plus deux décimales (centimes).",
            "max_whole_digits": "Ce montant est trop grand.",
        },
    )
    care_domain = DomainChoiceField(
        label="Domaine CaRE",
        queryset=None,
        required=False,
        empty_label="Aucun",
        error_messages={"invalid_choice": "Choisissez un domaine CaRE de la liste."},
    )

    def __init__(self, *args, **kwargs):
        from rempart.programme.models import Domain

        super().__init__(*args, **kwargs)
        self.fields["care_domain"].queryset = Domain.objects.order_by("code")

    @classmethod
    def initial_from(cls, action) -> dict:
        return {
            "title": action.title,
            "description": action.description,
            "owner": action.owner,
            "due_on": action.due_on,
            "status": action.status,
            "priority": action.priority,
            "estimated_cost_eur": action.estimated_cost_eur,
            "care_domain": action.care_domain_id,
        }

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        data["description"] = data.get("description") or ""
        data["owner"] = data.get("owner") or ""
        return data


class QuestionnaireImportForm(forms.Form):
    """A referential the RSSI already uses, in CISO Assistant's library format (or Rempart's)."""

    file = YamlTextField(
        max_bytes=2 * 1024 * 1024,
        too_big="Le fichier dépasse 2 Mo.",
        label="Fichier YAML du référentiel",
        help_text="Format de bibliothèque de CISO Assistant (URN, requirement_nodes, questions) "
        "ou celui des questionnaires de Rempart ; 2 Mo au plus.",
        error_messages={
            "required": "Choisissez le fichier YAML à importer.",
            "empty": "Le fichier est vide : choisissez un fichier YAML de référentiel.",
        },
    )
