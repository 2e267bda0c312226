"""Forms of the trainings pages. Every error says what to do, in French; what was typed is kept."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django import forms
from django.utils import timezone

from rempart.core.forms import DayTimesMixin, date_field, day_times_fields

from .models import Audience, SessionKind, default_duration_hours

SCORE_CHOICES = [(str(n), str(n)) for n in range(11)]


class OrganisationChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.name


class SessionForm(DayTimesMixin, forms.Form):
    organiser = OrganisationChoiceField(
        label="Organisateur",
        queryset=None,
        empty_label=None,
        error_messages={
            "required": "Choisissez le CRRC qui organise la session.",
            "invalid_choice": "Choisissez un CRRC de votre région dans la liste.",
        },
    )
    kind = forms.ChoiceField(
        label="Type",
        choices=SessionKind.choices,
        error_messages={
            "required": "Choisissez le type : formation, webinaire ou atelier.",
            "invalid_choice": "Choisissez le type : formation, webinaire ou atelier.",
        },
    )
    programme = forms.CharField(
        label="Programme",
        max_length=200,
        help_text="Intitulé commun aux sessions d'une même formation, par exemple « Sécurisation "
        "de l'Active Directory » : les moyennes de satisfaction se calculent aussi par programme.",
        error_messages={"required": "Indiquez le programme de la session."},
    )
    title = forms.CharField(
        label="Titre de la session",
        max_length=200,
        error_messages={"required": "Indiquez le titre de la session."},
    )
    description = forms.CharField(
        label="Description", required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    audience = forms.MultipleChoiceField(
        label="Public",
        choices=Audience.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": "Cochez au moins un public.",
            "invalid_choice": "Cochez un public de la liste.",
        },
    )
    prerequisites = forms.CharField(
        label="Prérequis", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    day, start_time, end_time = day_times_fields()
    # A session over several days (a 2-day course): the times are those of the first day's
    # start and the last day's end.
    end_day = date_field(
        "Date de fin (facultative)",
        "",
        required=False,
        help_text="Pour une session sur plusieurs jours ; laissez vide si elle tient en un jour.",
    )
    duration_hours = forms.DecimalField(
        label="Durée de formation (heures, facultative)",
        required=False,
        min_value=Decimal("0.25"),
        max_value=Decimal("999"),
        decimal_places=2,
        localize=True,
        help_text="Celle que l'attestation indique. Laissez vide : la durée d'une journée "
        "(de l'heure de début à l'heure de fin) × le nombre de jours.",
        error_messages={
            "invalid": "Indiquez la durée en heures, par exemple 7 ou 3,5.",
            "min_value": "Indiquez une durée d'au moins 0,25 heure (un quart d'heure).",
            "max_value": "Indiquez une durée de 999 heures au plus.",
            "max_decimal_places": "Indiquez la durée à deux décimales au plus (3,25 par exemple).",
            "max_digits": "Indiquez une durée de 999 heures au plus.",
        },
    )
    location = forms.CharField(
        label="Lieu (adresse du site)",
        max_length=300,
        required=False,
        help_text="Laissez vide pour une session uniquement en ligne.",
    )
    online_url = forms.URLField(
        label="Lien de connexion (session en ligne)",
        max_length=500,
        required=False,
        error_messages={"invalid": "Indiquez une adresse complète, commençant par https://."},
    )
    capacity = forms.IntegerField(
        label="Nombre de places",
        min_value=1,
        max_value=10_000,
        error_messages={
            "required": "Indiquez le nombre de places.",
            "invalid": "Indiquez un nombre entier de places.",
            "min_value": "Indiquez un nombre de places d'au moins 1.",
            "max_value": "10 000 places au plus.",
        },
    )

    def __init__(self, *args, organisers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organiser"].queryset = organisers

    def clean(self):
        # DayTimesMixin's check (the end time after the start time, on the same day) holds for
        # a one-day session only: over several days, the end is on a later day.
        data = super(DayTimesMixin, self).clean()
        day, end_day = data.get("day"), data.get("end_day")
        start, end = data.get("start_time"), data.get("end_time")
        if day and end_day and end_day < day:
            self.add_error("end_day", "La date de fin ne peut pas précéder la date de début.")
        elif start and end and (end_day is None or end_day == day) and end <= start:
            self.add_error("end_time", "L'heure de fin doit suivre l'heure de début.")
        if (
            "location" not in self.errors
            and "online_url" not in self.errors
            and not (data.get("location") or "").strip()
            and not (data.get("online_url") or "").strip()
        ):
            self.add_error(
                "location",
                "Indiquez l'adresse du site, ou le lien de connexion pour une session en ligne.",
            )
        return data

    def service_data(self) -> dict:
        data = dict(self.cleaned_data)
        end_day, end_time = data.pop("end_day") or data["day"], data["end_time"]
        data = self.pop_day_times(data)
        data["ends_at"] = datetime.datetime.combine(
            end_day, end_time, tzinfo=timezone.get_current_timezone()
        )
        data.pop("organiser")
        data["location"] = data["location"].strip()
        return data

    @staticmethod
    def initial_from(session) -> dict:
        return {
            "organiser": session.organiser,
            "kind": session.kind,
            "programme": session.programme,
            "title": session.title,
            "description": session.description,
            "audience": list(session.audience),
            "prerequisites": session.prerequisites,
            **DayTimesMixin.day_times_initial(session.starts_at, session.ends_at),
            "end_day": (
                timezone.localtime(session.ends_at).date().isoformat()
                if session.is_several_days
                else ""
            ),
            # Shown only when it differs from what an empty field would give.
            "duration_hours": (
                ""
                if session.duration_hours
                == default_duration_hours(session.starts_at, session.ends_at)
                else f"{session.duration_hours.normalize():f}".replace(".", ",")
            ),
            "location": session.location,
            "online_url": session.online_url,
            "capacity": session.capacity,
        }


class RegistrationForm(forms.Form):
    organisation = OrganisationChoiceField(
        label="Au titre de",
        queryset=None,
        empty_label=None,
        error_messages={
            "required": "Choisissez la structure de la personne.",
            "invalid_choice": "Choisissez l'une de vos structures dans la liste.",
        },
    )
    first_name = forms.CharField(
        label="Prénom",
        max_length=150,
        error_messages={"required": "Indiquez le prénom de la personne."},
    )
    last_name = forms.CharField(
        label="Nom", max_length=150, error_messages={"required": "Indiquez le nom de la personne."}
    )
    email = forms.EmailField(
        label="Courriel",
        max_length=254,
        error_messages={
            "required": "Indiquez l'adresse électronique de la personne.",
            "invalid": "Indiquez une adresse électronique valide, par exemple nom@exemple.fr.",
        },
    )
    function = forms.CharField(label="Fonction", max_length=200, required=False)

    def __init__(self, *args, organisations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organisation"].queryset = organisations


class SurveyForm(forms.Form):
    score = forms.TypedChoiceField(
        label="Votre note, de 0 (pas du tout satisfait·e) à 10 (tout à fait satisfait·e)",
        choices=SCORE_CHOICES,
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choisissez une note de 0 à 10.",
            "invalid_choice": "Choisissez une note de 0 à 10.",
        },
    )
    comment = forms.CharField(
        label="Commentaire (facultatif)",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"max_length": "4 000 caractères au plus."},
    )
