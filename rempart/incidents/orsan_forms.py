"""Forms of ORSAN cyber mutual aid. They check the shape of what is typed (French messages);
the rules (rights, availability, states, dates) are the services'."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from rempart.core.forms import DateTimeLocalInput, date_field

from .models import ResourceKind

QUANTITY_ERRORS = {
    "required": "Indiquez une quantité.",
    "invalid": "Indiquez une quantité en nombre entier (par exemple 20).",
    "min_value": "La quantité doit être d'au moins 1.",
    "max_value": "La quantité ne peut pas dépasser 100 000.",
}
KIND_CHOICES = [("", "Choisissez un type"), *ResourceKind.choices]


def _now_local() -> str:
    """The initial value of a datetime-local input (the field component prints it as is)."""
    return timezone.localtime().strftime("%Y-%m-%dT%H:%M")


def _today() -> str:
    return timezone.localdate().isoformat()


def _quantity_field(label: str = "Quantité", required: bool = True, **kwargs) -> forms.Field:
    return forms.IntegerField(
        label=label,
        min_value=1,
        max_value=100_000,
        required=required,
        error_messages=QUANTITY_ERRORS,
        **kwargs,
    )


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        name = obj.get_full_name()
        return f"{name} ({obj.email})" if name else obj.email


class ResourceChoiceField(forms.ModelChoiceField):
    """A resource with its lender and what is left (queryset `with_availability`)."""

    def label_from_instance(self, obj) -> str:
        available = getattr(obj, "available", None)
        left = (
            f" — {available} / {obj.quantity} {obj.unit} disponibles"
            if available is not None
            else ""
        )
        return f"{obj.label} ({obj.organisation.name}, {obj.get_kind_display().lower()}){left}"


# --- Pooled resources ------------------------------------------------------------------------


class CatalogueFilterForm(forms.Form):
    """The catalogue's filters (GET). Unknown values are ignored, never an error page."""

    type = forms.ChoiceField(
        label="Type de ressource",
        required=False,
        choices=[("", "Tous les types"), *ResourceKind.choices],
    )
    structure = forms.ChoiceField(label="Structure qui prête", required=False)
    dispo = forms.ChoiceField(
        label="Disponibilité",
        required=False,
        choices=[("", "Toutes"), ("oui", "Disponibles maintenant")],
    )

    def __init__(self, *args, organisations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["structure"].choices = [("", "Toutes les structures")] + [
            (str(org.pk), org.name) for org in organisations
        ]

    def values(self) -> dict:
        if not self.is_bound or not self.is_valid():
            return {"kind": "", "organisation_id": None, "available_only": False}
        data = self.cleaned_data
        return {
            "kind": data["type"],
            "organisation_id": int(data["structure"]) if data["structure"] else None,
            "available_only": data["dispo"] == "oui",
        }


class ResourceForm(forms.Form):
    organisation = forms.ModelChoiceField(
        label="Structure qui prête",
        queryset=None,
        empty_label=None,
        error_messages={"invalid_choice": "Choisissez une structure pour laquelle vous proposez."},
    )
    kind = forms.ChoiceField(
        label="Type de ressource",
        choices=KIND_CHOICES,
        error_messages={"required": "Choisissez le type de ressource."},
    )
    label = forms.CharField(
        label="Intitulé",
        max_length=255,
        help_text="Par exemple « Postes portables préconfigurés » ou « RSSI mutualisé ».",
        error_messages={"required": "Indiquez un intitulé."},
    )
    quantity = _quantity_field(help_text="Combien la structure peut prêter (20, 10…).")
    unit = forms.CharField(
        label="Unité",
        max_length=50,
        initial="unités",
        help_text="« postes », « commutateurs », « jours »…",
        error_messages={"required": "Indiquez l'unité."},
    )
    description = forms.CharField(
        label="Précisions",
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Configuration, conditions de prêt, délai de mise à disposition…",
    )
    contact = PersonChoiceField(
        label="Personne à contacter",
        queryset=None,
        required=False,
        empty_label="Moi-même",
        error_messages={"invalid_choice": "Choisissez une personne de la liste."},
    )

    def __init__(self, *args, organisations, contacts=None, fixed_organisation=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organisation"].queryset = organisations
        if fixed_organisation is not None:
            # Editing: the lender does not change.
            del self.fields["organisation"]
        if contacts is None:
            # Several possible lenders: the contact is the person offering, editable afterwards.
            del self.fields["contact"]
        else:
            if fixed_organisation is not None:
                # Editing: someone must stay named (« moi-même » would read as a change).
                self.fields["contact"].required = True
                self.fields["contact"].empty_label = None
                self.fields["contact"].error_messages["required"] = (
                    "Choisissez la personne à contacter."
                )
            from rempart.organisations.models import User

            self.fields["contact"].queryset = User.objects.filter(pk__in=[u.pk for u in contacts])


# --- Activations -----------------------------------------------------------------------------


class ActivationForm(forms.Form):
    region = forms.ModelChoiceField(
        label="Région",
        queryset=None,
        empty_label=None,
        error_messages={"invalid_choice": "Choisissez une région où vous activez le plan."},
    )
    title = forms.CharField(
        label="Intitulé",
        max_length=255,
        help_text="Par exemple « Rançongiciel au CH de Rivebelle ».",
        error_messages={"required": "Donnez un intitulé à l'activation."},
    )
    reason = forms.CharField(
        label="Motif",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="La situation, ce qui est à l'arrêt, ce qui est attendu des autres structures.",
        error_messages={"required": "Indiquez le motif de l'activation."},
    )
    affected = forms.ModelMultipleChoiceField(
        label="Structures touchées",
        queryset=None,
        required=False,
        help_text="Une ou plusieurs (Ctrl ou Cmd + clic). La structure victime du dossier lié "
        "est ajoutée d'office.",
        error_messages={
            "invalid_choice": "Choisissez des établissements de la région dans la liste.",
            "invalid_pk_value": "Choisissez des établissements de la région dans la liste.",
        },
    )
    case = forms.ModelChoiceField(
        label="Dossier d'incident lié (facultatif)",
        queryset=None,
        required=False,
        empty_label="Aucun",
        help_text="Chaque étape de l'entraide sera écrite dans sa chronologie.",
        error_messages={"invalid_choice": "Choisissez un dossier de la liste."},
    )

    def __init__(self, *args, regions, organisations, cases, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].queryset = regions
        self.fields["affected"].queryset = organisations
        self.fields["case"].queryset = cases
        self.fields["case"].label_from_instance = lambda case: (
            f"{case.reference} — {case.title} ({case.organisation.name})"
        )

    def clean(self):
        data = super().clean()
        if not data.get("affected") and not data.get("case") and "affected" not in self.errors:
            self.add_error("affected", "Choisissez au moins une structure touchée.")
        return data


class LiftForm(forms.Form):
    note = forms.CharField(
        label="Bilan de l'activation",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Ce qui a été prêté, ce qui a manqué, les suites à donner.",
        error_messages={"required": "Indiquez le bilan de l'activation avant de la lever."},
    )


# --- Aid requests ----------------------------------------------------------------------------


class AidRequestForm(forms.Form):
    requester = forms.ModelChoiceField(
        label="Structure qui demande",
        queryset=None,
        empty_label=None,
        error_messages={
            "invalid_choice": "Choisissez une structure touchée pour laquelle vous demandez."
        },
    )
    kind = forms.ChoiceField(
        label="Type de ressource",
        choices=KIND_CHOICES,
        error_messages={"required": "Choisissez le type de ressource."},
    )
    quantity = _quantity_field(help_text="Dans l'unité de la ressource (postes, jours…).")
    need = forms.CharField(
        label="Besoin",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Ce qu'il faut et pour quoi faire (rouvrir les urgences, reconstruire l'AD…).",
        error_messages={"required": "Décrivez le besoin."},
    )
    resource = ResourceChoiceField(
        label="Ressource souhaitée dans le catalogue (facultatif)",
        queryset=None,
        required=False,
        empty_label="Pas de préférence : l'ARS ou le CRRC choisit",
        error_messages={"invalid_choice": "Choisissez une ressource du catalogue de la région."},
    )

    def __init__(self, *args, requesters, resources, **kwargs):
        super().__init__(*args, **kwargs)
        from rempart.organisations.models import Organisation

        self.fields["requester"].queryset = Organisation.objects.filter(
            pk__in=[org.pk for org in requesters]
        ).order_by("name")
        self.fields["resource"].queryset = resources


class MobiliseForm(forms.Form):
    resource = ResourceChoiceField(
        label="Ressource mobilisée",
        queryset=None,
        empty_label="Choisissez une ressource disponible",
        error_messages={
            "required": "Choisissez la ressource à mobiliser.",
            "invalid_choice": "Cette ressource n'est plus disponible : choisissez-en une autre.",
        },
    )
    quantity = _quantity_field(
        label="Quantité mobilisée",
        required=False,
        help_text="Laissez vide pour mobiliser la quantité demandée.",
    )

    def __init__(self, *args, resources, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["resource"].queryset = resources


class RefuseForm(forms.Form):
    reason = forms.CharField(
        label="Motif du refus",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Il est transmis à la structure qui demande.",
        error_messages={"required": "Indiquez le motif du refus."},
    )


class LendForm(forms.Form):
    lent_at = forms.DateTimeField(
        label="Prêtée le",
        widget=DateTimeLocalInput(),
        initial=_now_local,
        error_messages={
            "required": "Indiquez la date du prêt.",
            "invalid": "Indiquez une date et une heure valides.",
        },
    )
    due_back_on = date_field("Retour prévu le", "Indiquez la date de retour prévue.")


class ReturnForm(forms.Form):
    returned_at = forms.DateTimeField(
        label="Restituée le",
        widget=DateTimeLocalInput(),
        initial=_now_local,
        error_messages={
            "required": "Indiquez la date de restitution.",
            "invalid": "Indiquez une date et une heure valides.",
        },
    )
    condition = forms.CharField(
        label="État au retour",
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Complète, dégâts, pièces manquantes, données effacées…",
        error_messages={"required": "Décrivez l'état de la ressource au retour."},
    )


class CancelForm(forms.Form):
    reason = forms.CharField(
        label="Motif de l'annulation (facultatif)",
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
