"""Forms of the on-call pages: shifts, « recopier la semaine », handover note, escalation policy,
gateways. They only read what was typed (types, required fields, French messages); every rule
is checked again by `oncall_services`, whose messages are put back on the field at fault."""

from __future__ import annotations

import datetime

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .oncall_selectors import PARIS
from .oncall_services import NOTE_MAX_LENGTH, REPEAT_MAX_WEEKS, SECRET_MAX_LENGTH


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M")


class LocalDateTimeField(forms.DateTimeField):
    """A date and time typed in Paris time (« 2025-03-03T08:00 » from the browser's picker,
    or « 03/03/2025 08:00 »). An hour that does not exist, or exists twice, on the night of a
    change of time is refused with a message that says so."""

    widget = DateTimeLocalInput
    input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y %Hh%M"]

    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "error_messages",
            {
                "required": _("Indiquez la date et l'heure."),
                "invalid": _("Écrivez la date et l'heure sous la forme 03/03/2025 08:00."),
            },
        )
        super().__init__(*args, **kwargs)

    def prepare_value(self, value):
        if isinstance(value, datetime.datetime):
            if timezone.is_aware(value):
                value = timezone.localtime(value, PARIS)
            return value.strftime("%Y-%m-%dT%H:%M")
        return value

    def to_python(self, value):
        try:
            return super().to_python(value)
        except forms.ValidationError as exc:
            if getattr(exc, "code", None) == "ambiguous_timezone":
                raise forms.ValidationError(
                    _(
                        "Cette heure n'existe pas ou existe deux fois la nuit du changement "
                        "d'heure : choisissez une heure voisine (par exemple 04:00)."
                    ),
                    code="ambiguous_timezone",
                ) from None
            raise


class NoteInput(forms.Textarea):
    """A textarea that says it is not an <input> (the shared field template asks)."""

    input_type = ""


def person_label(user) -> str:
    name = user.get_full_name()
    return f"{name} ({user.email})" if name else user.email


class ShiftForm(forms.Form):
    person = forms.ChoiceField(
        label=_("Personne d'astreinte"),
        help_text=_(
            "Opérateurs et experts d'astreinte du CRRC, experts des prestataires de la région."
        ),
        error_messages={
            "required": _("Choisissez la personne d'astreinte."),
            "invalid_choice": _("Choisissez une personne de la liste."),
        },
    )
    level = forms.IntegerField(
        label=_("Niveau d'escalade"),
        min_value=1,
        max_value=9,
        initial=1,
        help_text=_("1 : appelé en premier ; 2 : si le niveau 1 ne répond pas ; etc."),
        error_messages={
            "required": _("Indiquez le niveau d'escalade (1 à 9)."),
            "invalid": _("Le niveau d'escalade est un nombre de 1 à 9."),
            "min_value": _("Le niveau d'escalade va de 1 à 9."),
            "max_value": _("Le niveau d'escalade va de 1 à 9."),
        },
    )
    starts_at = LocalDateTimeField(
        label=_("Début (heure de Paris)"),
        error_messages={
            "required": _("Indiquez la date et l'heure de début du tour."),
            "invalid": _("Écrivez le début sous la forme 03/03/2025 08:00."),
        },
    )
    ends_at = LocalDateTimeField(
        label=_("Fin (heure de Paris)"),
        error_messages={
            "required": _("Indiquez la date et l'heure de fin du tour."),
            "invalid": _("Écrivez la fin sous la forme 03/03/2025 20:00."),
        },
    )
    phone = forms.CharField(
        label=_("Téléphone d'astreinte"),
        required=False,
        max_length=30,
        help_text=_("Laissez vide pour utiliser le téléphone de la personne."),
        error_messages={"max_length": _("Le numéro tient en 30 caractères au plus.")},
    )

    def __init__(self, *args, candidates=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.people = {str(user.pk): user for user in candidates}
        self.fields["person"].choices = [
            ("", _("— Choisissez une personne —")),
            *((pk, person_label(user)) for pk, user in self.people.items()),
        ]

    def clean_person(self):
        return self.people.get(self.cleaned_data["person"])


class ShiftEditForm(ShiftForm):
    handover_note = forms.CharField(
        label=_("Consignes de relève"),
        required=False,
        max_length=NOTE_MAX_LENGTH,
        widget=NoteInput(attrs={"rows": 4}),
        help_text=_("Ce que la personne suivante doit savoir en prenant l'astreinte."),
        error_messages={
            "max_length": _("Les consignes tiennent en 10 000 caractères au plus."),
        },
    )


class RepeatForm(forms.Form):
    weeks = forms.IntegerField(
        label=_("Nombre de semaines suivantes"),
        min_value=1,
        max_value=REPEAT_MAX_WEEKS,
        initial=4,
        help_text=_(
            "Les tours qui commencent cette semaine sont recopiés aux mêmes heures ; ceux qui "
            "chevaucheraient un tour existant de la même personne sont ignorés."
        ),
        error_messages={
            "required": _("Indiquez le nombre de semaines (1 à 12)."),
            "invalid": _("Le nombre de semaines est un nombre entier de 1 à 12."),
            "min_value": _("Recopiez sur 1 à 12 semaines."),
            "max_value": _("Recopiez sur 1 à 12 semaines."),
        },
    )


class HandoverForm(forms.Form):
    handover_note = forms.CharField(
        label=_("Consignes de relève"),
        required=False,
        max_length=NOTE_MAX_LENGTH,
        widget=NoteInput(attrs={"rows": 8}),
        help_text=_(
            "Alertes en cours, dossiers à surveiller, rappels promis, difficultés d'accès : ce "
            "que la personne qui prend la relève doit savoir."
        ),
        error_messages={
            "max_length": _("Les consignes tiennent en 10 000 caractères au plus."),
        },
    )


def _minutes(label, low, high, required_message):
    return forms.IntegerField(
        label=label,
        min_value=low,
        max_value=high,
        error_messages={
            "required": required_message,
            "invalid": _("Écrivez un nombre entier."),
            "min_value": _("La valeur minimale est %(limit_value)s."),
            "max_value": _("La valeur maximale est %(limit_value)s."),
        },
    )


class PolicyForm(forms.Form):
    ack_timeout_minutes = _minutes(
        _("Délai avant escalade (minutes)"),
        1,
        120,
        _("Indiquez le délai avant escalade, de 1 à 120 minutes."),
    )
    rounds = _minutes(_("Nombre de tours"), 1, 10, _("Indiquez le nombre de tours, de 1 à 10."))
    dedup_window_minutes = _minutes(
        _("Fenêtre de dédoublonnage (minutes)"),
        1,
        1440,
        _("Indiquez la fenêtre de dédoublonnage, de 1 à 1 440 minutes."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ack_timeout_minutes"].help_text = _(
            "Temps laissé à la personne alertée pour prendre l'alerte en compte avant d'alerter "
            "le niveau suivant (1 à 120)."
        )
        self.fields["rounds"].help_text = _(
            "Après le dernier niveau, l'escalade recommence au niveau 1, pour ce nombre de tours "
            "en tout (1 à 10)."
        )
        self.fields["dedup_window_minutes"].help_text = _(
            "Une nouvelle alerte de la même structure et du même type pendant ce délai est "
            "rattachée à la précédente au lieu de réveiller à nouveau l'astreinte (1 à 1 440)."
        )


class SecretInput(forms.PasswordInput):
    """Never rendered back (render_value=False): a key typed in stays out of the page."""

    def __init__(self):
        super().__init__(attrs={"autocomplete": "new-password"}, render_value=False)


def _secret_field():
    return forms.CharField(
        label=_("Clé de signature (HMAC-SHA256)"),
        required=False,
        max_length=SECRET_MAX_LENGTH,
        strip=True,
        widget=SecretInput(),
        help_text=_(
            "Laissez vide pour que la plateforme génère une clé forte, affichée une seule fois. "
            "Sinon, au moins 16 caractères."
        ),
        error_messages={"max_length": _("La clé tient en 500 caractères au plus.")},
    )


class WebhookForm(forms.Form):
    name = forms.CharField(
        label=_("Nom"),
        max_length=100,
        help_text=_("Par exemple « SMS astreinte » ou « Appel vocal »."),
        error_messages={
            "required": _("Donnez un nom à la passerelle."),
            "max_length": _("Le nom tient en 100 caractères au plus."),
        },
    )
    url = forms.CharField(
        label=_("Adresse d'envoi"),
        max_length=500,
        help_text=_(
            "Adresse complète, de préférence https:// ; chaque appel y est envoyé en JSON."
        ),
        error_messages={
            "required": _("Indiquez l'adresse d'envoi de la passerelle."),
            "max_length": _("L'adresse tient en 500 caractères au plus."),
        },
    )


class WebhookCreateForm(WebhookForm):
    secret = _secret_field()


class RotateForm(forms.Form):
    secret = _secret_field()
