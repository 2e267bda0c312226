"""Forms of the phishing pages. Choices always come from the scoped selectors (passed in by
the views); every error says what to do, in French."""

from __future__ import annotations

import re

from django import forms
from django.utils import timezone

from . import templating
from .models import (
    Campaign,
    EmailTemplate,
    LandingPage,
    MandateVisibility,
    PrivacyMode,
    SendingProfile,
    TlsMode,
)

FIELD_NAME = re.compile(r"^[a-z0-9_]{1,40}$")


class OrganisationChoiceMixin:
    """An « organisation » select when the person acts for several, hidden when only one."""

    def add_organisation(self, organisations, label="Structure"):
        """`organisations`: a queryset from the selectors (the user's own)."""
        self.fields["organisation"] = forms.ModelChoiceField(
            label=label,
            queryset=organisations,
            empty_label=None,
            error_messages={"invalid_choice": "Choisissez une de vos structures."},
        )
        rows = list(organisations[:2])
        if len(rows) == 1:
            self.fields["organisation"].widget = forms.HiddenInput()
            self.initial.setdefault("organisation", rows[0].pk)


class DateInput(forms.DateInput):
    input_type = "date"


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"


class TimeInput(forms.TimeInput):
    input_type = "time"


class ProfileForm(OrganisationChoiceMixin, forms.ModelForm):
    password = forms.CharField(
        label="Mot de passe SMTP",
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Conservé chiffré, jamais réaffiché.",
    )

    rate_per_second = forms.DecimalField(
        label="Débit maximal (messages par seconde)",
        localize=True,
        max_digits=7,
        decimal_places=2,
        initial=5,
        help_text="Par exemple 0,5 pour un message toutes les deux secondes.",
    )

    class Meta:
        model = SendingProfile
        fields = [
            "name",
            "host",
            "port",
            "tls_mode",
            "username",
            "from_address",
            "rate_per_second",
            "active",
        ]
        help_texts = {
            "tls_mode": "STARTTLS sur le port 587, TLS implicite sur le port 465.",
        }

    def __init__(self, *args, organisations=None, editing=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tls_mode"].choices = TlsMode.choices
        if editing:
            self.fields[
                "password"
            ].help_text = (
                "Laisser vide pour garder le mot de passe enregistré (il n'est jamais réaffiché)."
            )
        elif organisations is not None:
            self.add_organisation(organisations)

    def clean_rate_per_second(self):
        rate = self.cleaned_data["rate_per_second"]
        if rate is not None and rate <= 0:
            raise forms.ValidationError("Le débit doit être positif (par exemple 2).")
        return rate


class TemplateForm(OrganisationChoiceMixin, forms.ModelForm):
    class Meta:
        model = EmailTemplate
        fields = ["name", "subject", "sender_name", "sender_address", "html_body", "text_body"]
        widgets = {
            "html_body": forms.Textarea(attrs={"rows": 12}),
            "text_body": forms.Textarea(attrs={"rows": 6}),
        }
        help_texts = {
            "html_body": "Variables : {{prenom}}, {{nom}}, {{lien}} (obligatoire), {{pixel}}.",
            "text_body": "Facultatif ; s'il est rempli, il doit contenir {{lien}}.",
        }

    def __init__(self, *args, organisations=None, can_share=False, **kwargs):
        super().__init__(*args, **kwargs)
        if organisations is not None:
            self.add_organisation(organisations)
        if can_share:
            self.fields["library"] = forms.BooleanField(
                label="Partager dans la bibliothèque régionale (lecture seule pour les "
                "établissements, qui peuvent le copier)",
                required=False,
            )

    def clean(self):
        data = super().clean()
        errors = templating.template_errors(
            subject=data.get("subject", ""),
            html_body=data.get("html_body", ""),
            text_body=data.get("text_body", ""),
        )
        for field, messages in errors.items():
            for message in messages:
                if field in self.fields and field not in self.errors:
                    self.add_error(field, message)
        return data


class LandingForm(OrganisationChoiceMixin, forms.ModelForm):
    fields_text = forms.CharField(
        label="Champs du formulaire piège",
        required=False,
        help_text="Noms séparés par des virgules (par exemple : identifiant, mot_de_passe). "
        "Seul le fait qu'un champ a été rempli est enregistré, jamais ce qui a été tapé.",
    )

    class Meta:
        model = LandingPage
        fields = ["name", "form_html", "teaching_title", "teaching_text", "module_code"]
        widgets = {
            "form_html": forms.Textarea(attrs={"rows": 10}),
            "teaching_text": forms.Textarea(attrs={"rows": 6}),
        }

    def __init__(self, *args, organisations=None, **kwargs):
        super().__init__(*args, **kwargs)
        if organisations is not None:
            self.add_organisation(organisations)
        if self.instance.pk and not self.is_bound:
            self.initial["fields_text"] = ", ".join(self.instance.fields or [])

    def clean_fields_text(self):
        names = [n.strip() for n in self.cleaned_data["fields_text"].split(",") if n.strip()]
        bad = [n for n in names if not FIELD_NAME.match(n)]
        if bad:
            raise forms.ValidationError(
                f"Nom de champ invalide : {', '.join(bad)}. Utilisez des minuscules, chiffres "
                "et « _ » (40 caractères au plus)."
            )
        return list(dict.fromkeys(names))


class GroupForm(OrganisationChoiceMixin, forms.Form):
    name = forms.CharField(label="Nom du groupe", max_length=150)

    def __init__(self, *args, organisations=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_organisation(organisations or [])


class GroupRenameForm(forms.Form):
    name = forms.CharField(label="Nom du groupe", max_length=150)


class ConfirmForm(forms.Form):
    """A confirmation page: nothing to fill, the POST is the decision."""


class ImportForm(forms.Form):
    file = forms.FileField(
        label="Fichier CSV",
        help_text="Colonnes email;prenom;nom;service;fonction (séparateur « ; » ou « , », "
        "UTF-8 ou Windows-1252). 5 Mo au plus.",
        error_messages={"required": "Choisissez un fichier CSV.", "empty": "Le fichier est vide."},
    )


class MandateForm(OrganisationChoiceMixin, forms.Form):
    crrc = forms.ModelChoiceField(
        label="CRRC mandaté",
        queryset=None,
        empty_label=None,
        error_messages={"invalid_choice": "Choisissez le CRRC de votre région."},
    )
    starts_on = forms.DateField(label="Début", widget=DateInput)
    ends_on = forms.DateField(label="Fin", widget=DateInput)
    visibility = forms.ChoiceField(label="Ce que le CRRC voit", choices=MandateVisibility.choices)
    note = forms.CharField(label="Référence ou commentaire", required=False, max_length=2000)

    def __init__(self, *args, organisations=None, crrcs=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_organisation(organisations or [], label="Établissement mandant")
        self.fields["crrc"].queryset = crrcs
        if not self.is_bound:
            self.initial.setdefault("starts_on", timezone.localdate())


class CampaignStartForm(forms.Form):
    """First step: which organisation (autonomous) or which mandate (delegated)."""

    name = forms.CharField(label="Nom de la campagne", max_length=150)
    target = forms.ChoiceField(label="Pour")

    def __init__(self, *args, organisations=(), mandates=(), **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(f"org-{o.pk}", f"{o.name} (campagne autonome)") for o in organisations]
        choices += [
            (
                f"mandat-{m.pk}",
                f"{m.establishment.name} (déléguée, mandat jusqu'au {m.ends_on:%d/%m/%Y})",
            )
            for m in mandates
        ]
        self.fields["target"].choices = choices
        self.organisations = {f"org-{o.pk}": o for o in organisations}
        self.mandates = {f"mandat-{m.pk}": m for m in mandates}


class CampaignForm(forms.ModelForm):
    templates = forms.ModelMultipleChoiceField(
        label="Modèles de message (tirés au hasard pour chaque destinataire)",
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    groups = forms.ModelMultipleChoiceField(
        label="Groupes de destinataires",
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = Campaign
        fields = [
            "name",
            "landing_page",
            "sending_profile",
            "starts_at",
            "spread_until",
            "window_start",
            "window_end",
            "weekdays_only",
            "privacy_mode",
            "retention_days",
            "staff_information",
            "legal_basis",
        ]
        widgets = {
            "starts_at": DateTimeInput,
            "spread_until": DateTimeInput,
            "window_start": TimeInput,
            "window_end": TimeInput,
            "staff_information": forms.Textarea(attrs={"rows": 4}),
            "legal_basis": forms.Textarea(attrs={"rows": 2}),
        }
        help_texts = {
            "starts_at": "Heure de Paris.",
            "window_start": "Les envois n'ont lieu que dans cette plage horaire (heure de Paris).",
            "staff_information": "Obligatoire avant la programmation : comment les personnels "
            "sont informés de l'existence des campagnes.",
            "legal_basis": "Obligatoire avant la programmation.",
        }

    def __init__(self, *args, templates=None, landings=None, profiles=None, groups=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["templates"].queryset = templates
        self.fields["groups"].queryset = groups
        self.fields["landing_page"].queryset = landings
        self.fields["sending_profile"].queryset = profiles
        self.fields["privacy_mode"].choices = PrivacyMode.choices
        if self.instance.pk and not self.is_bound:
            self.initial["templates"] = list(self.instance.templates.values_list("pk", flat=True))
            self.initial["groups"] = list(self.instance.groups.values_list("pk", flat=True))
            for name in ("starts_at", "spread_until"):
                moment = getattr(self.instance, name)
                if moment:
                    self.initial[name] = timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")
            for name in ("window_start", "window_end"):
                self.initial[name] = getattr(self.instance, name).strftime("%H:%M")

    def clean_retention_days(self):
        days = self.cleaned_data["retention_days"]
        if days is not None and not 1 <= days <= 365:
            raise forms.ValidationError("Entre 1 et 365 jours.")
        return days
