"""Forms of the CERT Santé declaration page: the four blocks, and the filing record.

Forms only read what was typed (types, lengths); the rules (formats, dates, completeness,
the frozen declaration) are the services', whose French messages go back on the field."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .declaration_services import BLOCKS, PARIS, field_label
from .models import CertSanteDeclaration, Impact

DATETIME_INPUT_FORMAT = "%Y-%m-%dT%H:%M"
IMPACT_CHOICES = [("", _("Non renseigné")), *Impact.choices]
HELP = {
    "structure_finess": _("9 caractères : le numéro FINESS géographique de la structure."),
    "declarant_function": _("Par exemple : directeur, RSSI, DSI."),
    "observed_at": _("Date et heure auxquelles l'incident a été constaté (heure de Paris)."),
    "scope": _("Ce qui a été constaté et le périmètre touché (services, sites)."),
    "systems_concerned": _("Serveurs, postes, applications, équipements touchés."),
    "data_concerned": _("Nature des données (de santé, administratives…) et volume estimé."),
    "handling_state": _("Mesures prises, état de la prise en charge à ce jour."),
    "impact_care": _("L'incident a-t-il des conséquences sur la sécurité des soins ?"),
    "may_affect_others": _("Partenaires, GHT, fournisseurs ou patients d'autres structures."),
    "causes": _("Si elles sont connues : vecteur d'attaque, vulnérabilité, erreur, panne."),
}
TEXTAREA_ROWS = {
    "scope": 4,
    "systems_concerned": 4,
    "data_concerned": 3,
    "handling_state": 5,
    "impact_data": 3,
    "impact_people": 3,
    "impact_systems": 3,
    "impact_organisation": 3,
    "causes": 4,
}


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format=DATETIME_INPUT_FORMAT)


def datetime_local(value) -> str:
    """A stored datetime as the value of a datetime-local input (Paris time)."""
    if value is None:
        return ""
    return timezone.localtime(value, PARIS).strftime(DATETIME_INPUT_FORMAT)


def _form_field(name: str) -> forms.Field:
    model_field = CertSanteDeclaration._meta.get_field(name)
    label = field_label(name)
    help_text = HELP.get(name, "")
    if name == "observed_at":
        return forms.DateTimeField(
            label=label,
            required=False,
            widget=DateTimeLocalInput(),
            help_text=help_text,
            input_formats=[DATETIME_INPUT_FORMAT, "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M"],
            error_messages={"invalid": _("Indiquez une date et une heure (jj/mm/aaaa hh:mm).")},
        )
    if name in ("impact_care", "may_affect_others"):
        return forms.ChoiceField(
            label=label,
            required=False,
            choices=IMPACT_CHOICES,
            help_text=help_text,
            error_messages={"invalid_choice": _("Choisissez Oui, Non ou Ne sait pas.")},
        )
    if name == "declarant_email":
        return forms.EmailField(
            label=label,
            required=False,
            max_length=254,
            help_text=help_text,
            error_messages={
                "invalid": _("Indiquez une adresse e-mail valide (exemple : nom@structure.fr).")
            },
        )
    if model_field.max_length:
        return forms.CharField(
            label=label,
            required=False,
            max_length=model_field.max_length,
            help_text=help_text,
            error_messages={
                "max_length": _(
                    "%(limit_value)s caractères au plus (le texte en compte %(show_value)s)."
                )
            },
        )
    return forms.CharField(
        label=label,
        required=False,
        max_length=10_000,
        widget=forms.Textarea(attrs={"rows": TEXTAREA_ROWS.get(name, 3)}),
        help_text=help_text,
        strip=True,
        error_messages={
            "max_length": _(
                "%(limit_value)s caractères au plus (le texte en compte %(show_value)s)."
            )
        },
    )


class DeclarationForm(forms.Form):
    """The four blocks of the official form, every field optional (a draft may be
    incomplete; the page lists what the portal will require)."""

    def __init__(self, *args, declaration: CertSanteDeclaration | None = None, **kwargs):
        if declaration is not None and "initial" not in kwargs and not args:
            kwargs["initial"] = initial_of(declaration)
        super().__init__(*args, **kwargs)
        for _number, _title, names in BLOCKS:
            for name in names:
                self.fields[name] = _form_field(name)

    def block_fields(self) -> list[dict]:
        """The bound fields grouped by block, for the template."""
        return [
            {"number": number, "title": title, "fields": [self[name] for name in names]}
            for number, title, names in BLOCKS
        ]


def initial_of(declaration: CertSanteDeclaration) -> dict:
    initial = {}
    for _number, _title, names in BLOCKS:
        for name in names:
            value = getattr(declaration, name)
            initial[name] = datetime_local(value) if name == "observed_at" else value
    return initial


class FilingForm(forms.Form):
    filed_at = forms.DateTimeField(
        label=_("Date et heure du dépôt sur le portail"),
        widget=DateTimeLocalInput(),
        input_formats=[DATETIME_INPUT_FORMAT, "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M"],
        help_text=_("Heure de Paris, telle qu'indiquée dans l'accusé de réception du portail."),
        error_messages={
            "required": _("Indiquez la date et l'heure du dépôt sur le portail."),
            "invalid": _("Indiquez une date et une heure (jj/mm/aaaa hh:mm)."),
        },
    )
    reference = forms.CharField(
        label=_("Référence donnée par le portail"),
        max_length=100,
        help_text=_("Le numéro de signalement de l'accusé de réception (100 caractères au plus)."),
        error_messages={
            "required": _(
                "Indiquez la référence donnée par le portail de signalement (elle figure dans "
                "l'accusé de réception)."
            ),
            "max_length": _(
                "La référence du portail compte %(limit_value)s caractères au plus (celle-ci en "
                "compte %(show_value)s)."
            ),
        },
    )
