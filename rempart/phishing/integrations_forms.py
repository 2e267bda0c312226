"""Forms of the integration pages: the reporting mailbox (IMAP) and the webhooks. Choices come
from the scoped reads (passed in by the views); errors say what to do, in French."""

from __future__ import annotations

from django import forms

from rempart.core.errors import DomainError

from .forms import OrganisationChoiceMixin
from .models import ImapTlsMode, ReportMailbox, WebhookEvent
from .webhooks import check_url


class MailboxForm(OrganisationChoiceMixin, forms.ModelForm):
    password = forms.CharField(
        label="Mot de passe IMAP",
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Conservé chiffré, jamais réaffiché.",
    )

    class Meta:
        model = ReportMailbox
        fields = ["name", "address", "host", "port", "tls_mode", "username", "folder", "active"]
        help_texts = {
            "address": "L'adresse à laquelle les personnels transfèrent les messages suspects.",
            "tls_mode": "TLS implicite sur le port 993, STARTTLS sur le port 143.",
            "folder": "INBOX en général. Les messages traités y sont marqués comme lus.",
        }

    def __init__(self, *args, organisations=None, editing=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tls_mode"].choices = ImapTlsMode.choices
        self.fields["port"].error_messages["invalid"] = "Indiquez un port (par exemple 993)."
        if editing:
            self.fields[
                "password"
            ].help_text = (
                "Laisser vide pour garder le mot de passe enregistré (il n'est jamais réaffiché)."
            )
        elif organisations is not None:
            self.add_organisation(organisations)

    def clean_port(self):
        port = self.cleaned_data["port"]
        if port is not None and not 1 <= port <= 65535:
            raise forms.ValidationError("Le port doit être compris entre 1 et 65535.")
        return port


class WebhookForm(OrganisationChoiceMixin, forms.Form):
    name = forms.CharField(label="Nom", max_length=100)
    url = forms.CharField(
        label="Adresse (URL)",
        max_length=500,
        help_text="https:// obligatoire ; adresse publique uniquement.",
        widget=forms.URLInput,
    )
    events = forms.MultipleChoiceField(
        label="Événements transmis",
        choices=WebhookEvent.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choisissez au moins un événement à transmettre."},
    )
    active = forms.BooleanField(label="Actif", required=False, initial=True)

    def __init__(self, *args, organisations=None, **kwargs):
        super().__init__(*args, **kwargs)
        if organisations is not None:
            self.add_organisation(organisations, label="Établissement")

    def clean_url(self):
        url = self.cleaned_data["url"].strip()
        try:
            check_url(url)  # the service checks again (and so does every delivery)
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from exc
        return url
