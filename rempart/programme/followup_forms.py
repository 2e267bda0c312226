"""Forms of the pages that follow an accepted file: target declarations and their review,
payment request and its follow-up, financial report, platform measurements.

Forms only read what was typed (types, required fields); every rule is checked by the
services, whose French messages are put back on the field at fault."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .call_forms import AmountField, DateInput
from .models import ExpenseCategory, Measurement
from .uploads import accepted_extensions, human_size, max_bytes


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class FilesField(forms.Field):
    """Zero, one or several uploaded files, passed as they are to the services (which check
    their type, content and size with uploads.check_upload)."""

    widget = MultipleFileInput

    def clean(self, value):
        if value is None:
            return []
        if not isinstance(value, list | tuple):
            value = [value]
        return [upload for upload in value if upload]


def upload_hint() -> str:
    return f"Types acceptés : {accepted_extensions()}. Taille maximale : {human_size(max_bytes())}."


class SingleFileField(forms.Field):
    widget = forms.FileInput

    def clean(self, value):
        return value or None


# --- Targets --------------------------------------------------------------------------------------


class DeclarationForm(forms.Form):
    requirement = forms.IntegerField(widget=forms.HiddenInput)
    statement = forms.CharField(
        label=_("Déclaration"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Ce qui a été fait pour atteindre la cible (facultatif)."),
    )
    files = FilesField(label=_("Fichiers justificatifs"), required=False)
    link = forms.CharField(
        label=_("Lien vers une preuve"),
        required=False,
        max_length=1000,
        help_text=_("Adresse complète commençant par https://"),
    )
    link_label = forms.CharField(label=_("Libellé du lien"), required=False, max_length=255)
    measurements = forms.MultipleChoiceField(
        label=_("Mesures de la plateforme"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "invalid_choice": _("Choisissez une mesure de la liste."),
        },
    )

    def __init__(self, *args, requirement=None, measurement_options=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.requirement_obj = requirement
        self.fields["files"].help_text = upload_hint()
        self.fields["measurements"].choices = [
            (str(m.pk), measurement_choice_label(m)) for m in measurement_options
        ]
        if requirement is not None:
            self.fields["requirement"].initial = requirement.pk


def measurement_choice_label(measurement) -> str:
    level = f" — niveau {measurement.level}" if measurement.level else ""
    return (
        f"{measurement.organisation.name} : {measurement.result}{level} "
        f"(mesure du {measurement.measured_on:%d/%m/%Y}, {measurement.source})"
    )


class ReviewForm(forms.Form):
    declaration = forms.IntegerField(widget=forms.HiddenInput)
    comment = forms.CharField(
        label=_("Avis de l'ARS"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Obligatoire pour ne pas valider : le candidat le lira."),
    )


# --- Payment --------------------------------------------------------------------------------------


class PaymentRequestForm(forms.Form):
    bank_account_holder = forms.CharField(
        label=_("Titulaire du compte bancaire"),
        max_length=255,
        help_text=_("Tel qu'il figure sur le RIB de la structure qui reçoit le paiement."),
        error_messages={"required": _("Indiquez le titulaire du compte bancaire.")},
    )


class PaymentDecisionForm(forms.Form):
    comment = forms.CharField(
        label=_("Commentaire"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Obligatoire pour refuser : le motif est communiqué au candidat."),
    )


class PaymentPaidForm(forms.Form):
    paid_eur = AmountField(
        label=_("Montant payé (€)"),
        error_messages={"required": _("Indiquez le montant payé.")},
    )
    paid_on = forms.DateField(
        label=_("Date du paiement"),
        widget=DateInput(),
        error_messages={
            "required": _("Indiquez la date du paiement."),
            "invalid": _("La date du paiement n'est pas valide."),
        },
    )
    payment_reference = forms.CharField(
        label=_("Référence du paiement"),
        max_length=100,
        help_text=_("Numéro de mandat ou de virement."),
        error_messages={"required": _("Indiquez la référence du paiement.")},
    )


# --- Financial report -----------------------------------------------------------------------------


class CostLineForm(forms.Form):
    category = forms.ChoiceField(
        label=_("Catégorie de dépense"),
        choices=[("", _("— Choisissez une catégorie —")), *ExpenseCategory.choices],
        error_messages={
            "required": _("Choisissez une catégorie de dépense."),
            "invalid_choice": _("Choisissez une catégorie de dépense éligible."),
        },
    )
    supplier = forms.CharField(
        label=_("Fournisseur"),
        max_length=255,
        error_messages={"required": _("Indiquez le fournisseur.")},
    )
    invoice_reference = forms.CharField(
        label=_("Référence de la facture"),
        max_length=100,
        error_messages={"required": _("Indiquez la référence de la facture.")},
    )
    invoice_date = forms.DateField(
        label=_("Date de la facture"),
        widget=DateInput(),
        error_messages={
            "required": _("Indiquez la date de la facture."),
            "invalid": _("La date de la facture n'est pas valide."),
        },
    )
    amount_eur = AmountField(
        label=_("Montant (€)"),
        error_messages={"required": _("Indiquez le montant de la dépense.")},
    )
    description = forms.CharField(label=_("Objet"), required=False, max_length=500)


class ActionForm(forms.Form):
    """A POST without fields of its own (file the report, remove a line): carries the refusal,
    if any."""

    line = forms.IntegerField(required=False, widget=forms.HiddenInput)


class ReportReviewForm(forms.Form):
    comment = forms.CharField(
        label=_("Avis de l'ARS"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class RecoveryForm(forms.Form):
    recovered_on = forms.DateField(
        label=_("Trop-perçu récupéré le"),
        widget=DateInput(),
        error_messages={
            "required": _("Indiquez la date à laquelle le trop-perçu a été récupéré."),
            "invalid": _("La date du recouvrement n'est pas valide."),
        },
    )


# --- Measurements ---------------------------------------------------------------------------------


class MeasurementForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Mesure"),
        choices=[("", _("— Choisissez une mesure —")), *Measurement.choices],
        error_messages={
            "required": _("Choisissez la nature de la mesure."),
            "invalid_choice": _("Choisissez la nature de la mesure."),
        },
    )
    level = forms.ChoiceField(
        label=_("Niveau (1 à 5)"),
        required=False,
        choices=[("", _("— Sans niveau —"))] + [(str(n), str(n)) for n in range(1, 6)],
        error_messages={"invalid_choice": _("Le niveau va de 1 à 5.")},
    )
    result = forms.CharField(
        label=_("Résultat"),
        max_length=255,
        help_text=_("Par exemple « Niveau 3 atteint » ou « Restauration réussie en 4 h »."),
        error_messages={"required": _("Indiquez le résultat.")},
    )
    measured_on = forms.DateField(
        label=_("Date de la mesure"),
        widget=DateInput(),
        error_messages={
            "required": _("Indiquez la date de la mesure."),
            "invalid": _("La date de la mesure n'est pas valide."),
        },
    )
    source = forms.CharField(
        label=_("Source"),
        max_length=255,
        help_text=_("Par exemple « ANSSI — service ADS (collecteur ORADAD) »."),
        error_messages={"required": _("Indiquez la source de la mesure.")},
    )
    note = forms.CharField(
        label=_("Observations"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    report = SingleFileField(label=_("Rapport"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["report"].help_text = upload_hint()
