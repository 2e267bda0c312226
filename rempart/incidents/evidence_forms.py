"""Forms of the indicator and evidence pages. They read what was typed (types, required
fields, lists); every rule is checked by `indicator_services` and `evidence_services`, whose
French messages are put back on the field at fault."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from . import evidence_services, indicator_services
from .exports import DEFAULT_STIX_LEVEL
from .models import IndicatorKind, Tlp

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M"]
DATETIME_INVALID = _("Date et heure illisibles : jj/mm/aaaa hh:mm.")
TLP_HELP = _(
    "CLEAR : diffusion libre ; GREEN : communauté ; AMBER : organisation du destinataire et ses "
    "clients ; AMBER+STRICT : organisation du destinataire seule ; RED : destinataires nommés "
    "seulement."
)


class DateTimeLocal(forms.DateTimeInput):
    input_type = "datetime-local"


def _tlp_field(initial: str = Tlp.AMBER) -> forms.ChoiceField:
    return forms.ChoiceField(
        label=_("Diffusion (TLP)"),
        choices=Tlp.choices,
        initial=initial,
        help_text=TLP_HELP,
        error_messages={"invalid_choice": _("Choisissez un niveau TLP de la liste.")},
    )


class IndicatorForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Type"),
        choices=[("", "—"), *IndicatorKind.choices],
        error_messages={
            "required": _("Choisissez le type de l'indicateur."),
            "invalid_choice": _("Choisissez le type de l'indicateur dans la liste."),
        },
    )
    value = forms.CharField(
        label=_("Valeur"),
        max_length=indicator_services.VALUE_MAX_LENGTH,
        help_text=_(
            "Les valeurs « désamorcées » sont acceptées : hxxp://, exemple[.]fr, a[@]b.fr."
        ),
        error_messages={"required": _("Indiquez la valeur de l'indicateur.")},
    )
    tlp = _tlp_field()
    description = forms.CharField(
        label=_("Contexte"),
        required=False,
        max_length=indicator_services.DESCRIPTION_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Où et comment il a été vu (facultatif)."),
    )
    first_seen = forms.DateTimeField(
        label=_("Vu pour la première fois le"),
        required=False,
        input_formats=DATETIME_FORMATS,
        widget=DateTimeLocal,
        error_messages={"invalid": DATETIME_INVALID},
    )

    def __init__(self, *args, case_tlp: str = Tlp.AMBER, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tlp"].initial = case_tlp


class IndicatorBulkForm(forms.Form):
    text = forms.CharField(
        label=_("Indicateurs, un par ligne"),
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_(
            "Collez une liste : chaque ligne valide est ajoutée, chaque ligne refusée est "
            "signalée avec sa raison. Les lignes vides et celles commençant par # sont ignorées."
        ),
        error_messages={"required": _("Collez au moins un indicateur (un par ligne).")},
    )
    kind = forms.ChoiceField(
        label=_("Type"),
        required=False,
        choices=[("", _("Détecter pour chaque ligne")), *IndicatorKind.choices],
        error_messages={"invalid_choice": _("Choisissez le type dans la liste.")},
    )
    tlp = _tlp_field()
    description = forms.CharField(
        label=_("Contexte commun"),
        required=False,
        max_length=indicator_services.DESCRIPTION_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, case_tlp: str = Tlp.AMBER, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tlp"].initial = case_tlp


class StixExportForm(forms.Form):
    tlp = forms.ChoiceField(
        label=_("Exporter pour un public de niveau"),
        choices=Tlp.choices,
        initial=DEFAULT_STIX_LEVEL,
        help_text=_(
            "Seuls les indicateurs dont le TLP permet ce public sont exportés : AMBER exclut "
            "les indicateurs AMBER+STRICT et RED. Un indicateur RED ne sort que si vous "
            "choisissez RED."
        ),
    )


class PdfReportForm(forms.Form):
    tlp = forms.ChoiceField(
        label=_("Niveau de diffusion du rapport"),
        choices=Tlp.choices,
        error_messages={"invalid_choice": _("Choisissez un niveau TLP de la liste.")},
    )


class EvidenceForm(forms.Form):
    file = forms.FileField(
        label=_("Fichier"),
        error_messages={
            "required": _("Choisissez le fichier à déposer."),
            "empty": _("Le fichier choisi est vide."),
            "invalid": _("Aucun fichier reçu : choisissez-le à nouveau."),
        },
    )
    description = forms.CharField(
        label=_("Description"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=evidence_services.DESCRIPTION_MAX_LENGTH,
        help_text=_("Ce que contient la preuve et pourquoi elle compte."),
        error_messages={"required": _("Décrivez la preuve.")},
    )
    collected_at = forms.DateTimeField(
        label=_("Collectée le"),
        input_formats=DATETIME_FORMATS,
        widget=DateTimeLocal,
        error_messages={
            "required": _("Indiquez quand la preuve a été collectée."),
            "invalid": DATETIME_INVALID,
        },
    )
    collected_by_name = forms.CharField(
        label=_("Collectée par"),
        max_length=200,
        help_text=_("Nom et fonction de la personne qui l'a recueillie."),
        error_messages={"required": _("Indiquez qui a collecté la preuve.")},
    )
    source = forms.CharField(
        label=_("Origine"),
        required=False,
        max_length=255,
        help_text=_("Machine, outil ou boîte aux lettres d'où elle vient (facultatif)."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = _(
            "Tout type de fichier (journaux, e-mails .eml, captures réseau, images…). "
            "Taille maximale : %(size)s. Son empreinte SHA-256 est calculée au dépôt."
        ) % {"size": evidence_services.human_size(evidence_services.max_bytes())}


class TransferForm(forms.Form):
    recipient = forms.CharField(
        label=_("Remise à"),
        max_length=200,
        help_text=_("Nom et organisme (enquêteur, prestataire d'analyse, gendarmerie…)."),
        error_messages={"required": _("Indiquez à qui la preuve est remise.")},
    )
    note = forms.CharField(
        label=_("Précisions"),
        required=False,
        max_length=evidence_services.NOTE_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Support remis, référence du procès-verbal… (facultatif)."),
    )
