"""Forms of the alert pages: the qualification-and-alert form (and its completion), the
handlers' qualification and dismissal, and the list filters.

The alert form never blocks on a field: every field is optional and passed as typed to
`alert_services.alert_file`, which keeps what it cannot read and flags what is missing. The
only refusal is a structure the person may not report for. Lengths are announced to the
browser (maxlength) without being enforced here: an over-long value is kept by the service."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .alert_services import FORM_FIELDS, IMPACT_FIELDS
from .incident_types import all_templates, template_for
from .models import Alert, AlertStatus, Impact, IncidentType

IMPACT_CHOICES = [(Impact.YES, _("Oui")), (Impact.NO, _("Non")), (Impact.UNKNOWN, _("Ne sait pas"))]
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class LenientCharField(forms.CharField):
    """A text field that tells the browser its length but never refuses a value."""

    def __init__(self, *, announced_length: int | None = None, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.max_length = announced_length  # rendered as maxlength; no validator added


class TelInput(forms.TextInput):
    input_type = "tel"


class DateTimeLocalInput(forms.TextInput):
    input_type = "datetime-local"


class AnyChoicesField(forms.MultipleChoiceField):
    """The ticked reflex actions: the service keeps those of the chosen type."""

    widget = forms.CheckboxSelectMultiple

    def valid_value(self, value) -> bool:
        return True


class AlertForm(forms.Form):
    """The qualification-and-alert form (`organisations` given: filing; None: completing)."""

    organisation = forms.ChoiceField(
        label=_("Structure concernée"),
        choices=(),
        error_messages={
            "required": _("Choisissez la structure concernée par l'incident."),
            "invalid_choice": _(
                "Choisissez une structure de la liste : celles pour lesquelles vous pouvez "
                "signaler un incident."
            ),
        },
    )
    # Drawn when the form is shown: submitting twice (double tap, reload) files one alert.
    client_reference = LenientCharField(widget=forms.HiddenInput, announced_length=100)
    incident_type = LenientCharField(label=_("Type d'incident"))
    checklist = AnyChoicesField(label=_("Gestes réflexes déjà faits"), required=False)
    reporter_name = LenientCharField(
        label=_("Votre nom"),
        announced_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    reporter_function = LenientCharField(
        label=_("Votre fonction"),
        announced_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "organization-title"}),
    )
    callback_phone = LenientCharField(
        label=_("Téléphone pour vous rappeler"),
        help_text=_("Le numéro où l'expert d'astreinte vous joint tout de suite (portable)."),
        announced_length=30,
        widget=TelInput(attrs={"autocomplete": "tel"}),
    )
    callback_email = LenientCharField(
        label=_("E-mail"),
        announced_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    description = LenientCharField(
        label=_("Ce que vous avez constaté"),
        help_text=_(
            "Messages à l'écran, machines ou applications touchées, services concernés, "
            "nombre de postes…"
        ),
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    observed_at = LenientCharField(
        label=_("Depuis quand (date et heure)"),
        help_text=_("Approximatif si besoin."),
        widget=DateTimeLocalInput(),
    )
    observed_at_text = LenientCharField(
        label=_("Ou, si vous n'êtes pas sûr : en quelques mots"),
        help_text=_("Par exemple : « depuis ce matin, vers 7 h »."),
        announced_length=100,
    )
    affects_care = LenientCharField(label=_("Les soins aux patients sont-ils touchés ?"))
    affects_health_data = LenientCharField(
        label=_("Des données de santé sont-elles touchées (fuite, chiffrement, perte) ?")
    )
    affects_systems = LenientCharField(
        label=_("Le système d'information est-il touché (postes, serveurs, applications) ?")
    )
    actions_taken = LenientCharField(
        label=_("Ce qui a déjà été fait"),
        help_text=_("Machines débranchées, comptes bloqués, personnes prévenues…"),
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, data=None, *, organisations=None, initial=None):
        super().__init__(data, initial=initial)
        if organisations is None:
            del self.fields["organisation"]
            del self.fields["client_reference"]
        else:
            self.organisations = list(organisations)
            self.fields["organisation"].choices = [
                ("", _("— Choisissez la structure —")),
                *((str(org.pk), org.name) for org in self.organisations),
            ]
            if len(self.organisations) == 1 and not self.data.get("organisation"):
                self.initial["organisation"] = str(self.organisations[0].pk)

    # What the template shows.

    def chosen_type(self) -> str:
        value = self["incident_type"].value() or ""
        return value if value in IncidentType.values else ""

    def template(self):
        return template_for(self.chosen_type())

    def type_tiles(self) -> list[dict]:
        chosen = self.chosen_type()
        return [
            {"template": template, "checked": template.code == chosen}
            for template in all_templates()
        ]

    def impact_rows(self) -> list[dict]:
        return [
            {
                "field": self[name],
                "choices": [
                    {"value": value, "label": label, "checked": self[name].value() == value}
                    for value, label in IMPACT_CHOICES
                ],
            }
            for name in IMPACT_FIELDS
        ]

    def ticked(self) -> set[str]:
        value = self["checklist"].value() or []
        if isinstance(value, dict):
            return {code for code, done in value.items() if done}
        return {str(code) for code in value}

    def checklist_rows(self) -> list[dict]:
        ticked = self.ticked()
        return [
            {"item": item, "checked": item.code in ticked} for item in self.template().checklist
        ]

    def single_organisation(self):
        organisations = getattr(self, "organisations", [])
        return organisations[0] if len(organisations) == 1 else None

    def alert_data(self) -> dict:
        """What the service reads (only after is_valid())."""
        data = {name: self.cleaned_data.get(name, "") for name in FORM_FIELDS}
        data["checklist"] = list(self.cleaned_data.get("checklist") or [])
        return data


def initial_from_user(user) -> dict:
    """The reporter's own details, shown and editable (the phone may be an old one)."""
    return {
        "reporter_name": user.get_full_name(),
        "reporter_function": user.job_title,
        "callback_phone": user.phone,
        "callback_email": user.email,
    }


def initial_from_alert(alert: Alert) -> dict:
    initial = {name: getattr(alert, name) for name in FORM_FIELDS}
    if alert.observed_at:
        initial["observed_at"] = timezone.localtime(alert.observed_at).strftime(DATETIME_LOCAL)
    else:
        initial["observed_at"] = ""
    if "incident_type" in (alert.missing_fields or []):
        initial["incident_type"] = ""  # stored as « autre » by default: to be chosen
    initial["checklist"] = [code for code, done in (alert.checklist or {}).items() if done]
    return initial


class QualifyForm(forms.Form):
    note = forms.CharField(
        label=_("Qualification"),
        help_text=_("Ce qui a été établi au rappel : nature, périmètre, gravité, suite donnée."),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=5000,
        error_messages={"required": _("Écrivez la qualification : ce qui a été établi au rappel.")},
    )


class DismissForm(forms.Form):
    reason = forms.CharField(
        label=_("Motif du classement"),
        help_text=_("Fausse alerte, test, doublon d'un signalement par un autre canal…"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=5000,
        error_messages={
            "required": _("Indiquez pourquoi l'alerte est classée (fausse alerte, test…).")
        },
    )


INCOMPLETE_CHOICES = [("", _("Toutes")), ("oui", _("Incomplètes")), ("non", _("Complètes"))]


class AlertFilterForm(forms.Form):
    statut = forms.ChoiceField(
        label=_("Statut"), required=False, choices=[("", _("Tous")), *AlertStatus.choices]
    )
    type = forms.ChoiceField(
        label=_("Type"), required=False, choices=[("", _("Tous")), *IncidentType.choices]
    )
    completude = forms.ChoiceField(
        label=_("Complétude"), required=False, choices=INCOMPLETE_CHOICES
    )
    structure = forms.TypedChoiceField(
        label=_("Structure"), required=False, coerce=int, empty_value=None, choices=()
    )

    def __init__(self, data=None, *, organisations):
        super().__init__(data)
        self.fields["structure"].choices = [("", _("Toutes"))] + [
            (org.pk, org.name) for org in organisations
        ]

    def values(self) -> dict:
        """The valid filters (an invalid one is ignored, and reported on its field)."""
        if not self.is_bound:
            cleaned = {}
        elif not self.is_valid():
            cleaned = {k: v for k, v in self.cleaned_data.items() if k not in self.errors}
        else:
            cleaned = self.cleaned_data
        incomplete = {"oui": True, "non": False}.get(cleaned.get("completude") or "")
        return {
            "status": cleaned.get("statut") or "",
            "incident_type": cleaned.get("type") or "",
            "incomplete": incomplete,
            "organisation_id": cleaned.get("structure"),
        }
