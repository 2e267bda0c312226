"""Simulated phishing campaigns: recipients, sending profiles, templates, landing pages,
mandates, campaigns with their per-recipient snapshot, and tracking events.

Two modes: an establishment runs its own campaigns (« autonome »), or the CRRC runs them for
it under a dated mandate (« déléguée »). The operator (`Campaign.operator`) is the
organisation that owns the profile, templates and landing page used; the target
(`Campaign.organisation`) owns the recipient groups and always sees the results.

Privacy by design: a tracking event of a submitted form keeps only the NAMES of the fields
that were filled, never a value; a campaign recipient keeps its department in clear and its
identity only encrypted (erased after sending in anonymous mode, `retention_days` after the
campaign closes in pseudonymous mode).
"""

from __future__ import annotations

import datetime
import secrets

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rempart.core.fields import EncryptedTextField

TOKEN_BYTES = 24  # 192 random bits (the issue asks for at least 128)


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


class TlsMode(models.TextChoices):
    NONE = "none", _("Aucun (déconseillé)")
    STARTTLS = "starttls", _("STARTTLS")
    TLS = "tls", _("TLS implicite (SMTPS)")


class SendingProfile(models.Model):
    """An SMTP server to send a campaign's messages through, owned by its operator."""

    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.CASCADE, related_name="phishing_profiles"
    )
    name = models.CharField(_("nom"), max_length=100)
    host = models.CharField(_("serveur SMTP"), max_length=255)
    port = models.PositiveIntegerField(_("port"), default=587)
    tls_mode = models.CharField(
        _("chiffrement"), max_length=10, choices=TlsMode.choices, default=TlsMode.STARTTLS
    )
    username = models.CharField(_("identifiant"), max_length=255, blank=True)
    password = EncryptedTextField(_("mot de passe"), blank=True)
    from_address = models.EmailField(_("adresse d'envoi (enveloppe)"))
    rate_per_second = models.DecimalField(
        _("débit maximal (messages par seconde)"),
        max_digits=7,
        decimal_places=2,
        default=5,
    )
    active = models.BooleanField(_("actif"), default=True)
    # Sending engine: the database token bucket of the rate limit, used when no Redis is
    # configured (tokens left at `rate_checked_at`; null = a full bucket).
    rate_tokens = models.FloatField(null=True, blank=True, editable=False)
    rate_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("profil d'envoi")
        constraints = [
            models.UniqueConstraint(
                "organisation", Lower("name"), name="phishing_profile_unique_name"
            ),
            models.CheckConstraint(
                condition=Q(port__gte=1, port__lte=65535),
                name="phishing_profile_port_range",
                violation_error_message=_("Le port doit être compris entre 1 et 65535."),
            ),
            models.CheckConstraint(
                condition=Q(rate_per_second__gt=0),
                name="phishing_profile_rate_positive",
                violation_error_message=_("Le débit doit être positif."),
            ),
            models.CheckConstraint(
                condition=Q(tls_mode__in=TlsMode.values), name="phishing_profile_tls_mode"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def audit_organisation_id(self) -> int:
        return self.organisation_id


class RecipientGroup(models.Model):
    """A list of people of one organisation (imported from CSV; later LDAP)."""

    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.CASCADE, related_name="phishing_groups"
    )
    name = models.CharField(_("nom"), max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("groupe de destinataires")
        constraints = [
            models.UniqueConstraint(
                "organisation", Lower("name"), name="phishing_group_unique_name"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def audit_organisation_id(self) -> int:
        return self.organisation_id


class Recipient(models.Model):
    """One person of a group. The e-mail is stored lower-cased (unique per group)."""

    group = models.ForeignKey(RecipientGroup, on_delete=models.CASCADE, related_name="recipients")
    email = models.EmailField(_("e-mail"), max_length=254)
    first_name = models.CharField(_("prénom"), max_length=100, blank=True)
    last_name = models.CharField(_("nom"), max_length=100, blank=True)
    department = models.CharField(_("service"), max_length=150, blank=True)
    position = models.CharField(_("fonction"), max_length=150, blank=True)

    class Meta:
        ordering = ["email", "pk"]
        verbose_name = _("destinataire")
        constraints = [
            models.UniqueConstraint("group", Lower("email"), name="phishing_recipient_unique_email")
        ]

    def __str__(self) -> str:
        return self.email


class ImportStatus(models.TextChoices):
    PENDING = "pending", _("En attente de confirmation")
    IMPORTED = "imported", _("Importé")
    CANCELLED = "cancelled", _("Abandonné")


class RecipientImport(models.Model):
    """An uploaded CSV waiting for confirmation: the good rows (parsed) and the report of the
    broken lines. Nothing reaches the group before `recipient_import_confirm`."""

    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.CASCADE, related_name="phishing_imports"
    )
    group = models.ForeignKey(RecipientGroup, on_delete=models.CASCADE, related_name="imports")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    source_name = models.CharField(_("fichier"), max_length=255)
    encoding = models.CharField(_("encodage détecté"), max_length=20)
    delimiter = models.CharField(_("séparateur"), max_length=1)
    lines_read = models.PositiveIntegerField(default=0)
    rows = models.JSONField(default=list)  # the valid rows, ready to import
    rejections = models.JSONField(default=list)  # [{"line": n, "email": …, "reasons": […]}]
    status = models.CharField(
        max_length=10, choices=ImportStatus.choices, default=ImportStatus.PENDING
    )
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("import de destinataires")
        constraints = [
            models.CheckConstraint(
                condition=Q(status=ImportStatus.PENDING) | Q(finished_at__isnull=False),
                name="phishing_import_finished_at",
            )
        ]

    def __str__(self) -> str:
        return self.source_name

    @property
    def audit_organisation_id(self) -> int:
        return self.organisation_id


class EmailTemplate(models.Model):
    """A message. `library=True` templates belong to a CRRC and form the region's shared,
    read-only library that establishments copy."""

    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.CASCADE, related_name="phishing_templates"
    )
    library = models.BooleanField(_("modèle de la bibliothèque régionale"), default=False)
    name = models.CharField(_("nom"), max_length=150)
    subject = models.CharField(_("objet"), max_length=255)
    sender_name = models.CharField(_("nom de l'expéditeur affiché"), max_length=150)
    sender_address = models.EmailField(_("adresse de l'expéditeur affichée"))
    html_body = models.TextField(_("corps HTML"))
    text_body = models.TextField(_("corps texte"), blank=True)
    copied_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="copies"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("modèle de message")
        constraints = [
            models.UniqueConstraint(
                "organisation", Lower("name"), name="phishing_template_unique_name"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def audit_organisation_id(self) -> int:
        return self.organisation_id


class LandingPage(models.Model):
    """The page a click leads to: a fake form (whose typed values are never kept), then the
    short teaching page, linking to an e-learning module."""

    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.CASCADE, related_name="phishing_landings"
    )
    name = models.CharField(_("nom"), max_length=150)
    form_html = models.TextField(_("HTML de la page piège"), blank=True)
    fields = models.JSONField(
        _("champs affichés"), default=list
    )  # field names, e.g. ["identifiant"]
    teaching_title = models.CharField(_("titre de la page pédagogique"), max_length=200)
    teaching_text = models.TextField(_("texte de la page pédagogique"))
    module_code = models.CharField(
        _("module d'e-learning conseillé (code)"), max_length=64, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("page d'atterrissage")
        constraints = [
            models.UniqueConstraint(
                "organisation", Lower("name"), name="phishing_landing_unique_name"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def audit_organisation_id(self) -> int:
        return self.organisation_id


class MandateVisibility(models.TextChoices):
    AGGREGATES = "aggregates", _("Résultats agrégés seulement")
    PSEUDONYMOUS = "pseudonymous", _("Résultats pseudonymes (par destinataire)")


class MandateQuerySet(models.QuerySet):
    def valid(self, on: datetime.date | None = None):
        on = on or timezone.localdate()
        return self.filter(revoked_at__isnull=True, starts_on__lte=on, ends_on__gte=on)


class Mandate(models.Model):
    """An establishment lets its region's CRRC run campaigns on its behalf, for a period."""

    establishment = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.CASCADE,
        related_name="phishing_mandates_given",
    )
    crrc = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="phishing_mandates"
    )
    starts_on = models.DateField(_("début"))
    ends_on = models.DateField(_("fin"))
    visibility = models.CharField(
        _("ce que le CRRC voit"),
        max_length=15,
        choices=MandateVisibility.choices,
        default=MandateVisibility.AGGREGATES,
    )
    note = models.TextField(_("référence ou commentaire"), blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    signed_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    objects = MandateQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_on", "-pk"]
        verbose_name = _("mandat de campagne déléguée")
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=F("starts_on")), name="phishing_mandate_dates"
            ),
            models.CheckConstraint(
                condition=~Q(crrc=F("establishment")), name="phishing_mandate_two_parties"
            ),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True, revoked_by__isnull=True)
                | Q(revoked_at__isnull=False),
                name="phishing_mandate_revoked_by",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.establishment} → {self.crrc} ({self.starts_on} – {self.ends_on})"

    def is_valid(self, on: datetime.date | None = None) -> bool:
        on = on or timezone.localdate()
        return self.revoked_at is None and self.starts_on <= on <= self.ends_on

    @property
    def audit_organisation_id(self) -> int:
        return self.establishment_id


class CampaignMode(models.TextChoices):
    AUTONOMOUS = "autonomous", _("Autonome (l'établissement l'organise)")
    DELEGATED = "delegated", _("Déléguée au CRRC (sous mandat)")


class PrivacyMode(models.TextChoices):
    ANONYMOUS = "anonymous", _("Anonyme : seul le service est conservé")
    PSEUDONYMOUS = "pseudonymous", _("Pseudonyme : identités chiffrées, effacées après clôture")


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("Brouillon")
    SCHEDULED = "scheduled", _("Programmée")
    SENDING = "sending", _("Envoi en cours")
    PAUSED = "paused", _("En pause")
    DONE = "done", _("Terminée")
    CANCELLED = "cancelled", _("Annulée")


EDITABLE_STATUSES = (CampaignStatus.DRAFT,)


class Campaign(models.Model):
    organisation = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="phishing_campaigns",
        verbose_name=_("structure ciblée"),
    )
    operator = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="phishing_campaigns_run",
        verbose_name=_("structure qui mène la campagne"),
    )
    mode = models.CharField(_("mode"), max_length=12, choices=CampaignMode.choices)
    mandate = models.ForeignKey(
        Mandate, on_delete=models.PROTECT, null=True, blank=True, related_name="campaigns"
    )
    name = models.CharField(_("nom"), max_length=150)
    templates = models.ManyToManyField(EmailTemplate, related_name="campaigns", blank=True)
    landing_page = models.ForeignKey(
        LandingPage,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="campaigns",
        verbose_name=_("page d'atterrissage"),
    )
    sending_profile = models.ForeignKey(
        SendingProfile,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="campaigns",
        verbose_name=_("profil d'envoi"),
    )
    groups = models.ManyToManyField(RecipientGroup, related_name="campaigns", blank=True)
    # Schedule (Europe/Paris): messages spread between starts_at and spread_until, only inside
    # the daily window (and on weekdays when asked).
    starts_at = models.DateTimeField(_("début des envois"), null=True, blank=True)
    spread_until = models.DateTimeField(_("fin de l'étalement"), null=True, blank=True)
    window_start = models.TimeField(_("heure de début"), default=datetime.time(9, 0))
    window_end = models.TimeField(_("heure de fin"), default=datetime.time(17, 0))
    weekdays_only = models.BooleanField(_("jours ouvrés seulement"), default=True)
    privacy_mode = models.CharField(
        _("confidentialité"),
        max_length=12,
        choices=PrivacyMode.choices,
        default=PrivacyMode.ANONYMOUS,
    )
    retention_days = models.PositiveSmallIntegerField(
        _("conservation des identités (jours après clôture)"), default=30
    )
    staff_information = models.TextField(_("information des personnels"), blank=True)
    legal_basis = models.TextField(_("base légale"), blank=True)
    status = models.CharField(
        _("état"), max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    identities_erased_at = models.DateTimeField(null=True, blank=True)
    # Sending engine (sending.py): when the send times were planned; « send now » (spreading
    # and daily window ignored from then on); the last SMTP problem, shown on the campaign.
    planned_at = models.DateTimeField(null=True, blank=True, editable=False)
    send_now_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("campagne d'hameçonnage simulé")
        constraints = [
            models.CheckConstraint(
                condition=Q(mode=CampaignMode.AUTONOMOUS, mandate__isnull=True)
                | Q(mode=CampaignMode.DELEGATED, mandate__isnull=False),
                name="phishing_campaign_mandate_iff_delegated",
            ),
            models.CheckConstraint(
                condition=Q(mode=CampaignMode.DELEGATED) | Q(operator=F("organisation")),
                name="phishing_campaign_autonomous_operator",
            ),
            models.CheckConstraint(
                condition=Q(spread_until__isnull=True)
                | Q(starts_at__isnull=True)
                | Q(spread_until__gt=F("starts_at")),
                name="phishing_campaign_spread_after_start",
                violation_error_message=_("La fin de l'étalement doit suivre le début des envois."),
            ),
            models.CheckConstraint(
                condition=Q(window_end__gt=F("window_start")),
                name="phishing_campaign_window_order",
                violation_error_message=_("L'heure de fin doit suivre l'heure de début."),
            ),
            models.CheckConstraint(
                condition=Q(retention_days__gte=1, retention_days__lte=365),
                name="phishing_campaign_retention_range",
                violation_error_message=_("La conservation des identités va de 1 à 365 jours."),
            ),
            models.CheckConstraint(
                condition=Q(status__in=CampaignStatus.values), name="phishing_campaign_status"
            ),
            models.CheckConstraint(
                condition=Q(privacy_mode__in=PrivacyMode.values),
                name="phishing_campaign_privacy_mode",
            ),
        ]
        indexes = [models.Index(fields=["organisation", "status"], name="phishing_campaign_org")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_editable(self) -> bool:
        return self.status in EDITABLE_STATUSES

    @property
    def audit_organisation_id(self) -> int:
        return self.organisation_id


class SendStatus(models.TextChoices):
    PENDING = "pending", _("À envoyer")
    SENT = "sent", _("Envoyé")
    FAILED = "failed", _("Échec")


class CampaignRecipient(models.Model):
    """A recipient as the campaign saw them when it was scheduled. The department is kept in
    clear (the reports group by it); the identity only encrypted, to send and, in pseudonymous
    mode, to show the results per person until it is erased."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients")
    department = models.CharField(_("service"), max_length=150, blank=True)
    email = EncryptedTextField(_("e-mail"), blank=True)
    first_name = EncryptedTextField(_("prénom"), blank=True)
    last_name = EncryptedTextField(_("nom"), blank=True)
    token = models.CharField(max_length=64, unique=True, default=new_token)
    template = models.ForeignKey(
        EmailTemplate, on_delete=models.PROTECT, related_name="campaign_recipients"
    )
    send_status = models.CharField(
        max_length=10, choices=SendStatus.choices, default=SendStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)  # set by the sending engine
    sent_at = models.DateTimeField(null=True, blank=True)
    # Sending engine (sending.py): the worker holding the row, since when (its lease), and the
    # moment the message's final dot was handed to the SMTP server (outcome unknown until the
    # server's answer is recorded).
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=100, blank=True)
    handed_over_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("destinataire de campagne")
        constraints = [
            models.CheckConstraint(
                condition=Q(send_status=SendStatus.SENT, sent_at__isnull=False)
                | (~Q(send_status=SendStatus.SENT) & Q(sent_at__isnull=True)),
                name="phishing_recipient_sent_at_iff_sent",
            ),
            models.CheckConstraint(
                condition=Q(send_status__in=SendStatus.values),
                name="phishing_recipient_send_status",
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "send_status"], name="phishing_recipient_status"),
            # Results (covering): recipients and messages sent per department.
            models.Index(
                fields=["campaign", "department", "send_status", "sent_at"],
                name="phishing_recipient_dept",
            ),
            models.Index(fields=["send_status", "next_attempt_at"], name="phishing_recipient_due"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.pk}"


class EventKind(models.TextChoices):
    OPENED = "opened", _("Ouvert")
    CLICKED = "clicked", _("Cliqué")
    SUBMITTED = "submitted", _("Formulaire soumis")
    REPORTED = "reported", _("Signalé")


class TrackingEvent(models.Model):
    """One event of one recipient. For a submission, only the names of the filled fields."""

    # Every event is an insert on the hot path of tracking (bench/tracking.py): each index is one
    # more write. The foreign keys are served by the composite indexes below, which start with
    # them, and have none of their own.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    recipient = models.ForeignKey(
        CampaignRecipient, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    kind = models.CharField(max_length=10, choices=EventKind.choices)
    at = models.DateTimeField(default=timezone.now)
    suspected_bot = models.BooleanField(default=False)
    bot_reason = models.CharField(max_length=100, blank=True)
    user_agent_hash = models.CharField(max_length=64, blank=True)
    filled_fields = models.JSONField(default=list, blank=True)  # NAMES only, never values
    # Where the event came from: the public tracking endpoints ("web"), the reporting mailbox
    # ("imap"), an establishment's tool ("webhook"…). Free text, set by tracking.record_event.
    source = models.CharField(max_length=20, default="web")

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("événement de suivi")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=EventKind.values), name="phishing_event_kind"
            ),
            models.CheckConstraint(
                condition=Q(kind=EventKind.SUBMITTED) | Q(filled_fields=[]),
                name="phishing_event_fields_only_on_submit",
            ),
        ]
        indexes = [
            models.Index(fields=["recipient", "kind"], name="phishing_event_recipient"),
            # Results (covering): the funnel per recipient and the timeline read the index only.
            models.Index(
                fields=["campaign", "recipient", "kind", "suspected_bot", "at"],
                name="phishing_event_results",
            ),
            # Results: the timeline counts ranges of `at` per kind and bot flag.
            models.Index(
                fields=["campaign", "kind", "suspected_bot", "at"], name="phishing_event_timeline"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.at:%Y-%m-%d %H:%M}"


# --- Integrations: reported-messages mailbox (IMAP) and webhooks -------------------------------


class ImapTlsMode(models.TextChoices):
    TLS = "tls", _("TLS implicite (IMAPS, port 993)")
    STARTTLS = "starttls", _("STARTTLS (port 143)")
    NONE = "none", _("Aucun (déconseillé)")


class ReportMailbox(models.Model):
    """The mailbox where staff forward suspicious messages (« signaler un hameçonnage »),
    polled over IMAP: a forwarded message carrying a campaign's token is a `reported` event.
    Only the hash of each message's Message-ID is kept (`ReportedMessage`), never a body."""

    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.CASCADE, related_name="phishing_mailboxes"
    )
    name = models.CharField(_("nom"), max_length=100)
    address = models.EmailField(_("adresse de signalement"), blank=True)
    host = models.CharField(_("serveur IMAP"), max_length=255)
    port = models.PositiveIntegerField(_("port"), default=993)
    tls_mode = models.CharField(
        _("chiffrement"), max_length=10, choices=ImapTlsMode.choices, default=ImapTlsMode.TLS
    )
    username = models.CharField(_("identifiant"), max_length=255)
    password = EncryptedTextField(_("mot de passe"), blank=True)
    folder = models.CharField(_("dossier"), max_length=200, default="INBOX")
    active = models.BooleanField(_("actif"), default=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    reports_recorded = models.PositiveIntegerField(default=0)
    poll_lease_until = models.DateTimeField(null=True, blank=True)  # one poller at a time
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("boîte de signalement")
        constraints = [
            models.UniqueConstraint(
                "organisation", Lower("name"), name="phishing_mailbox_unique_name"
            ),
            models.CheckConstraint(
                condition=Q(port__gte=1, port__lte=65535),
                name="phishing_mailbox_port_range",
                violation_error_message=_("Le port doit être compris entre 1 et 65535."),
            ),
            models.CheckConstraint(
                condition=Q(tls_mode__in=ImapTlsMode.values), name="phishing_mailbox_tls_mode"
            ),
            models.CheckConstraint(condition=~Q(folder=""), name="phishing_mailbox_folder"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def audit_organisation_id(self) -> int:
        return self.organisation_id


class ReportedOutcome(models.TextChoices):
    RECORDED = "recorded", _("Signalement enregistré")
    NO_TOKEN = "no_token", _("Aucun jeton de campagne valide")


class ReportedMessage(models.Model):
    """One message of a mailbox already handled: the SHA-256 of its Message-ID (or of the whole
    message when it has none) so that a message is never counted twice. No body, no sender."""

    mailbox = models.ForeignKey(
        ReportMailbox, on_delete=models.CASCADE, related_name="handled_messages"
    )
    message_key = models.CharField(max_length=64)
    outcome = models.CharField(max_length=10, choices=ReportedOutcome.choices)
    reports = models.PositiveSmallIntegerField(default=0)
    handled_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-handled_at", "-pk"]
        verbose_name = _("message signalé traité")
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "message_key"], name="phishing_reported_message_once"
            ),
            models.CheckConstraint(
                condition=Q(outcome__in=ReportedOutcome.values),
                name="phishing_reported_message_outcome",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.mailbox_id}/{self.message_key[:12]}"


class WebhookEvent(models.TextChoices):
    CAMPAIGN_STARTED = "campaign.started", _("Campagne démarrée")
    CAMPAIGN_DONE = "campaign.done", _("Campagne terminée")
    CAMPAIGN_CANCELLED = "campaign.cancelled", _("Campagne annulée")
    OPENED = "event.opened", _("Message ouvert")
    CLICKED = "event.clicked", _("Lien cliqué")
    SUBMITTED = "event.submitted", _("Formulaire soumis")
    REPORTED = "event.reported", _("Message signalé")
    # Not a phishing event: the exposure watch's alerts reach the same endpoints.
    EXPOSURE_FINDINGS = "exposure.findings", _("Veille d'exposition : nouveaux constats")


class WebhookEndpoint(models.Model):
    """An establishment's HTTPS receiver of campaign and tracking events, signed with HMAC-SHA256
    (secret stored encrypted, shown once). Tracking events are read through a cursor over
    `TrackingEvent.id` (`cursor_event_id`), up to a horizon observed some seconds earlier
    (`horizon_event_id`, `horizon_at`) so that events of a transaction still running are not
    skipped."""

    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.CASCADE, related_name="phishing_webhooks"
    )
    name = models.CharField(_("nom"), max_length=100)
    url = models.URLField(_("adresse (URL)"), max_length=500)
    secret = EncryptedTextField(_("clé de signature"))
    events = models.JSONField(_("événements transmis"), default=list)
    active = models.BooleanField(_("actif"), default=True)
    cursor_event_id = models.BigIntegerField(default=0)
    horizon_event_id = models.BigIntegerField(default=0)
    horizon_at = models.DateTimeField(null=True, blank=True)
    last_delivery_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("webhook")
        constraints = [
            models.UniqueConstraint(
                "organisation", Lower("name"), name="phishing_webhook_unique_name"
            ),
            models.CheckConstraint(
                condition=Q(url__startswith="https://") | Q(url__startswith="http://"),
                name="phishing_webhook_url_scheme",
            ),
            models.CheckConstraint(
                condition=Q(cursor_event_id__gte=0) & Q(horizon_event_id__gte=F("cursor_event_id")),
                name="phishing_webhook_cursor",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def audit_organisation_id(self) -> int:
        return self.organisation_id


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("À envoyer")
    DELIVERED = "delivered", _("Remis")
    FAILED = "failed", _("Échec définitif")


class WebhookDelivery(models.Model):
    """One signed POST to an endpoint (a campaign status change, a batch of tracking events, or
    a test). `dedup_key` makes a second sweep create nothing; the receiver de-duplicates on the
    delivery id (header X-Rempart-Delivery)."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_type = models.CharField(max_length=30)
    dedup_key = models.CharField(max_length=100)
    payload = models.JSONField(default=dict)
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("envoi de webhook")
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "dedup_key"], name="phishing_delivery_once"
            ),
            models.CheckConstraint(
                condition=Q(status__in=DeliveryStatus.values), name="phishing_delivery_status"
            ),
            models.CheckConstraint(
                condition=Q(status=DeliveryStatus.DELIVERED, delivered_at__isnull=False)
                | (~Q(status=DeliveryStatus.DELIVERED) & Q(delivered_at__isnull=True)),
                name="phishing_delivery_delivered_at",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="phishing_delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} #{self.pk}"
