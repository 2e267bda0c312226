"""Forms of the exposure pages. They shape the input; the services check everything again and
their refusals (DomainError) come back on the form, what was typed kept."""

from __future__ import annotations

import datetime

from django import forms
from django.utils import timezone

from rempart.core.forms import date_field, time_field

from .services import WEEKDAY_LABELS


class AssetForm(forms.Form):
    value = forms.CharField(
        label="Adresse IP, plage CIDR ou nom de domaine",
        help_text="Par exemple 203.0.113.7, 203.0.113.0/28 ou portail.chu-exemple.fr. Au plus "
        "un /16 par établissement ; adresses publiques seulement.",
        max_length=253,
        error_messages={"required": "Indiquez l'adresse, la plage ou le nom à déclarer."},
    )
    description = forms.CharField(
        label="Usage",
        help_text="Ce que c'est : passerelle VPN, portail patients, messagerie…",
        max_length=300,
        required=False,
    )


class ServiceForm(forms.Form):
    port = forms.IntegerField(
        label="Port TCP",
        min_value=1,
        max_value=65535,
        error_messages={
            "required": "Indiquez le port.",
            "invalid": "Le port est un nombre entre 1 et 65535.",
            "min_value": "Le port est un nombre entre 1 et 65535.",
            "max_value": "Le port est un nombre entre 1 et 65535.",
        },
    )
    purpose = forms.CharField(
        label="Pourquoi ce service est exposé",
        max_length=200,
        error_messages={"required": "Dites pourquoi ce service est exposé."},
    )


class AuthorisationForm(forms.Form):
    assets = forms.ModelMultipleChoiceField(
        label="Actifs couverts",
        queryset=None,
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": "Choisissez au moins un actif à faire analyser.",
            "invalid_choice": "Un actif choisi n'existe plus.",
            "invalid_pk_value": "Un actif choisi n'existe plus.",
        },
    )
    valid_from = date_field("Valable à partir du", "Indiquez la date de début.")
    valid_until = date_field("Valable jusqu'au", "Indiquez la date de fin (un an au plus).")
    weekdays = forms.MultipleChoiceField(
        label="Jours autorisés",
        choices=list(WEEKDAY_LABELS.items()),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choisissez au moins un jour de la semaine."},
    )
    window_start = time_field("Début de la plage horaire (heure de Paris)", "Indiquez l'heure.")
    window_end = time_field("Fin de la plage horaire (heure de Paris)", "Indiquez l'heure.")
    max_rate = forms.IntegerField(
        label="Débit maximal (sondes par seconde et par /24)",
        min_value=1,
        max_value=1000,
        help_text="Ce que votre réseau accepte sans gêne ; 100 convient à la plupart des "
        "pare-feux.",
        error_messages={
            "required": "Indiquez le débit maximal.",
            "invalid": "Le débit est un nombre entre 1 et 1 000.",
            "min_value": "Le débit est un nombre entre 1 et 1 000.",
            "max_value": "Le débit est un nombre entre 1 et 1 000.",
        },
    )
    version_detection = forms.BooleanField(
        label="Identifier aussi les produits et leurs versions sur les ports ouverts (nmap -sV et "
        "scripts sûrs : quelques requêtes de plus, jamais d'essai de mot de passe ni d'exploitation)",
        required=False,
    )
    confirm = forms.BooleanField(
        label="Je suis habilité(e) à autoriser ces analyses au nom de l'établissement, et "
        "j'autorise le CRRC à analyser les actifs cochés dans ces limites.",
        error_messages={"required": "Cochez la case pour signer l'autorisation."},
    )

    def __init__(self, *args, assets, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assets"].queryset = assets
        self.fields["assets"].label_from_instance = lambda a: (
            f"{a.value} — {a.description}" if a.description else a.value
        )

    @staticmethod
    def defaults() -> dict:
        today = timezone.localdate()
        return {
            "valid_from": today,
            "valid_until": today + datetime.timedelta(days=365),
            "weekdays": ["1", "2", "3", "4", "5"],
            "window_start": datetime.time(9, 0),
            "window_end": datetime.time(17, 0),
            "max_rate": 100,
        }


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label="Motif",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Indiquez le motif."},
    )


class LabRangeForm(forms.Form):
    region = forms.ModelChoiceField(
        label="Région",
        queryset=None,
        error_messages={"required": "Choisissez la région.", "invalid_choice": "Région inconnue."},
    )
    network = forms.CharField(
        label="Réseau (CIDR)",
        max_length=50,
        help_text="Un réseau non public de laboratoire, par exemple 127.0.0.0/8 ou 10.99.0.0/24.",
        error_messages={"required": "Indiquez le réseau."},
    )
    reason = forms.CharField(
        label="Motif",
        max_length=300,
        error_messages={"required": "Donnez le motif de cette plage de laboratoire."},
    )

    def __init__(self, *args, regions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["region"].queryset = regions
        if regions.count() == 1:
            self.fields["region"].initial = regions.first().pk
