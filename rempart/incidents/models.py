"""Incident assistance 24/7: alerts, on-call rota and paging, cases, the CERT Santé declaration
and ORSAN cyber mutual aid.

* An **alert** is what a person of an establishment files (qualification-and-alert form, web or
  API). It is never refused for a missing field: it is saved and flagged incomplete. A repeated
  alert (same establishment, same kind, shortly after) is linked to the first, not paged again.
* The region's CRRC pages its **on-call rota** (shifts by escalation level) through its
  **escalation policy**: notify, wait, escalate to the next person, repeat, until someone
  acknowledges. Each notification is a **page** row, written before it is sent, so a worker
  killed mid-way leaves a trace that the sweep picks up again (and never sends a step twice).
* A **case** gathers one or more alerts and is worked as a team: state apart from outcome,
  dated timeline, tasks and checklist, indicators (TLP 2.0), affected assets, evidence with
  hash and chain of custody. Access beyond the victim and the CRRC is given case by case.
* The **CERT Santé declaration** holds the four official blocks, prepared from the case.
* **ORSAN cyber**: the ARS activates the regional plan; organisations offer pooled resources,
  the victim asks, the ARS or CRRC mobilises, the loan is tracked until returned.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from rempart.core.fields import EncryptedTextField


def private_incident_path(instance, filename: str) -> str:
    """Random names under a private prefix: the original name stays in the row, files are only
    served by authorised views."""
    return f"prive/incidents/{instance.__class__.__name__.lower()}/{uuid.uuid4().hex}"


class IncidentType(models.TextChoices):
    RANSOMWARE = "rancongiciel", _("Rançongiciel")
    ACCOUNT_COMPROMISE = "compromission_compte", _("Compromission de compte")
    DATA_LEAK = "fuite_donnees", _("Fuite de données")
    PHISHING = "hameconnage", _("Hameçonnage")
    SUPPLIER_OUTAGE = "panne_fournisseur", _("Panne ou incident chez un fournisseur")
    OTHER = "autre", _("Autre")


class Tlp(models.TextChoices):
    """Traffic Light Protocol 2.0 (FIRST)."""

    CLEAR = "clear", "TLP:CLEAR"
    GREEN = "green", "TLP:GREEN"
    AMBER = "amber", "TLP:AMBER"
    AMBER_STRICT = "amber_strict", "TLP:AMBER+STRICT"
    RED = "red", "TLP:RED"


class Impact(models.TextChoices):
    """Tri-state answer: at 3 a.m. « je ne sais pas » is a valid answer."""

    YES = "oui", _("Oui")
    NO = "non", _("Non")
    UNKNOWN = "inconnu", _("Ne sait pas")


class AlertSource(models.TextChoices):
    WEB = "web", _("Formulaire web")
    API = "api", _("API")
    PHONE = "telephone", _("Appel à la hotline")
    TEST = "test", _("Test de la chaîne d'astreinte")


class PagingStatus(models.TextChoices):
    PENDING = "en_attente", _("En attente d'envoi")
    PAGING = "en_cours", _("Astreinte alertée")
    ACKNOWLEDGED = "acquittee", _("Prise en compte")
    EXHAUSTED = "sans_reponse", _("Sans réponse après toutes les relances")
    LINKED = "rattachee", _("Rattachée à une alerte précédente")


class AlertStatus(models.TextChoices):
    NEW = "nouvelle", _("Nouvelle")
    ACKNOWLEDGED = "prise_en_compte", _("Prise en compte")
    QUALIFIED = "qualifiee", _("Qualifiée")
    DISMISSED = "classee", _("Classée sans suite")


class Alert(models.Model):
    """One qualification-and-alert form as filed. Essential fields may be empty (the alert is
    kept and flagged incomplete): the database only insists on where it comes from."""

    region = models.ForeignKey(
        "organisations.Region", on_delete=models.PROTECT, related_name="incident_alerts"
    )
    organisation = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="incident_alerts",
        verbose_name=_("structure concernée"),
    )
    crrc = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="handled_alerts",
        verbose_name=_("CRRC d'astreinte"),
    )
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="incident_alerts",
    )
    source = models.CharField(_("canal"), max_length=20, choices=AlertSource.choices)
    # Idempotency: a client resubmitting the same alert (network retry) gets the same row.
    client_reference = models.CharField(_("référence client"), max_length=100, blank=True)

    # Who, and how to call them back.
    reporter_name = models.CharField(_("nom du déclarant"), max_length=200, blank=True)
    reporter_function = models.CharField(_("fonction"), max_length=200, blank=True)
    callback_phone = models.CharField(_("téléphone de rappel"), max_length=30, blank=True)
    callback_email = models.EmailField(_("e-mail de rappel"), blank=True)

    # What was seen, since when, what is affected, what was done.
    incident_type = models.CharField(
        _("type d'incident"), max_length=30, choices=IncidentType.choices, blank=True
    )
    description = models.TextField(_("ce qui a été constaté"), blank=True)
    observed_at = models.DateTimeField(_("constaté depuis"), null=True, blank=True)
    observed_at_text = models.CharField(
        _("constaté depuis (texte libre)"), max_length=100, blank=True
    )
    affects_care = models.CharField(
        _("impact sur les soins"), max_length=10, choices=Impact.choices, blank=True
    )
    affects_health_data = models.CharField(
        _("impact sur les données de santé"), max_length=10, choices=Impact.choices, blank=True
    )
    affects_systems = models.CharField(
        _("impact sur le système d'information"), max_length=10, choices=Impact.choices, blank=True
    )
    actions_taken = models.TextField(_("mesures déjà prises"), blank=True)
    checklist = models.JSONField(_("gestes réflexes cochés"), default=dict, blank=True)
    missing_fields = models.JSONField(_("champs essentiels manquants"), default=list, blank=True)

    received_at = models.DateTimeField(_("reçue le"), db_index=True)
    status = models.CharField(
        _("statut"), max_length=20, choices=AlertStatus.choices, default=AlertStatus.NEW
    )
    duplicate_of = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="duplicates",
        verbose_name=_("doublon de"),
    )
    case = models.ForeignKey(
        "incidents.Case", on_delete=models.PROTECT, null=True, blank=True, related_name="alerts"
    )
    is_test = models.BooleanField(_("alerte de test"), default=False)

    # Paging state: the sweep picks alerts whose next step is due.
    paging_status = models.CharField(
        _("astreinte"), max_length=20, choices=PagingStatus.choices, default=PagingStatus.PENDING
    )
    paging_step = models.PositiveIntegerField(_("étape d'escalade"), default=0)
    next_page_at = models.DateTimeField(_("prochaine relance"), null=True, blank=True)
    acknowledged_at = models.DateTimeField(_("prise en compte le"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="acknowledged_alerts",
    )
    qualified_at = models.DateTimeField(_("qualifiée le"), null=True, blank=True)
    qualified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="qualified_alerts",
    )
    qualification_note = models.TextField(_("qualification"), blank=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        verbose_name = _("alerte")
        indexes = [
            models.Index(fields=["paging_status", "next_page_at"], name="alert_paging_due"),
            models.Index(
                fields=["organisation", "incident_type", "received_at"], name="alert_dedup"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["reporter", "client_reference"],
                condition=~Q(client_reference=""),
                name="alert_client_reference_unique",
            ),
            models.CheckConstraint(
                condition=Q(source__in=AlertSource.values), name="alert_source_valid"
            ),
            models.CheckConstraint(
                condition=Q(incident_type="") | Q(incident_type__in=IncidentType.values),
                name="alert_type_valid",
            ),
            models.CheckConstraint(
                condition=~Q(duplicate_of=F("pk")), name="alert_not_duplicate_of_itself"
            ),
        ]

    def __str__(self) -> str:
        return f"Alerte n° {self.pk} — {self.organisation}"

    @property
    def is_complete(self) -> bool:
        return not self.missing_fields

    @property
    def audit_organisation_id(self) -> int:
        return self.organisation_id


# --- On-call rota and paging ------------------------------------------------------------------------


class EscalationPolicy(models.Model):
    """How a CRRC escalates: each step pages one level of the rota, waits, then the next
    level; after the last level it starts again, for a number of rounds."""

    crrc = models.OneToOneField(
        "organisations.Organisation", on_delete=models.CASCADE, related_name="escalation_policy"
    )
    ack_timeout_minutes = models.PositiveSmallIntegerField(
        _("délai avant escalade (minutes)"), default=5
    )
    rounds = models.PositiveSmallIntegerField(_("nombre de tours"), default=3)
    dedup_window_minutes = models.PositiveSmallIntegerField(
        _("fenêtre de dédoublonnage (minutes)"), default=60
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("politique d'escalade")
        constraints = [
            models.CheckConstraint(
                condition=Q(ack_timeout_minutes__gte=1) & Q(ack_timeout_minutes__lte=120),
                name="escalation_timeout_range",
            ),
            models.CheckConstraint(
                condition=Q(rounds__gte=1) & Q(rounds__lte=10), name="escalation_rounds_range"
            ),
        ]

    def __str__(self) -> str:
        return f"Escalade de {self.crrc}"

    @property
    def audit_organisation_id(self) -> int:
        return self.crrc_id


class PagingWebhook(models.Model):
    """An SMS or voice gateway: each page is POSTed to it as JSON, signed with HMAC-SHA256."""

    crrc = models.ForeignKey(
        "organisations.Organisation", on_delete=models.CASCADE, related_name="paging_webhooks"
    )
    name = models.CharField(_("nom"), max_length=100)
    url = models.URLField(_("adresse"), max_length=500)
    secret = EncryptedTextField(_("clé de signature"))
    active = models.BooleanField(_("actif"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("passerelle d'alerte")

    def __str__(self) -> str:
        return self.name

    @property
    def audit_organisation_id(self) -> int:
        return self.crrc_id


class OnCallShift(models.Model):
    """One person on call for a CRRC over a period, at an escalation level (1 = first called)."""

    crrc = models.ForeignKey(
        "organisations.Organisation", on_delete=models.CASCADE, related_name="oncall_shifts"
    )
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="oncall_shifts"
    )
    level = models.PositiveSmallIntegerField(_("niveau d'escalade"), default=1)
    starts_at = models.DateTimeField(_("début"))
    ends_at = models.DateTimeField(_("fin"))
    phone = models.CharField(_("téléphone d'astreinte"), max_length=30, blank=True)
    handover_note = models.TextField(_("consignes de relève"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering = ["starts_at", "level", "pk"]
        verbose_name = _("tour d'astreinte")
        indexes = [models.Index(fields=["crrc", "starts_at", "ends_at"], name="shift_window")]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="shift_ends_after"
            ),
            models.CheckConstraint(
                condition=Q(level__gte=1) & Q(level__lte=9), name="shift_level_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person} — niveau {self.level}"

    @property
    def audit_organisation_id(self) -> int:
        return self.crrc_id


class PageChannel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    WEBHOOK = "webhook", _("Passerelle (SMS, appel)")


class PageStatus(models.TextChoices):
    PENDING = "a_envoyer", _("À envoyer")
    SENT = "envoyee", _("Envoyée")
    FAILED = "echec", _("Échec")
    CANCELLED = "annulee", _("Annulée (alerte déjà prise en compte)")


class Page(models.Model):
    """One notification of one person on one channel at one escalation step. Written before it
    is sent: (alert, step, recipient, channel, webhook) is unique, so a step is never sent
    twice, and a page left « à envoyer » by a killed worker is sent by the sweep."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="pages")
    step = models.PositiveIntegerField(_("étape"))
    level = models.PositiveSmallIntegerField(_("niveau"))
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="pages"
    )
    channel = models.CharField(_("canal"), max_length=10, choices=PageChannel.choices)
    # Gateways are deactivated, never deleted once used: the pages keep their trace.
    webhook = models.ForeignKey(
        PagingWebhook, on_delete=models.PROTECT, null=True, blank=True, related_name="pages"
    )
    status = models.CharField(
        _("statut"), max_length=12, choices=PageStatus.choices, default=PageStatus.PENDING
    )
    created_at = models.DateTimeField(_("créée le"))
    sent_at = models.DateTimeField(_("envoyée le"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("tentatives"), default=0)
    last_error = models.CharField(_("dernière erreur"), max_length=500, blank=True)
    response_status = models.PositiveSmallIntegerField(_("réponse HTTP"), null=True, blank=True)

    class Meta:
        ordering = ["alert_id", "step", "pk"]
        verbose_name = _("appel d'astreinte")
        indexes = [models.Index(fields=["status", "created_at"], name="page_pending")]
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "step", "recipient", "channel"],
                condition=Q(webhook__isnull=True),
                name="page_once_per_step",
            ),
            models.UniqueConstraint(
                fields=["alert", "step", "recipient", "webhook"],
                condition=Q(webhook__isnull=False),
                name="page_once_per_step_webhook",
            ),
            models.CheckConstraint(
                condition=(Q(channel=PageChannel.WEBHOOK) & Q(webhook__isnull=False))
                | (Q(channel=PageChannel.EMAIL) & Q(webhook__isnull=True)),
                name="page_channel_matches_webhook",
            ),
        ]

    def __str__(self) -> str:
        return f"Appel de {self.recipient} ({self.get_channel_display()}), étape {self.step}"

    @property
    def audit_organisation_id(self) -> int:
        return self.alert.organisation_id


# --- Cases -----------------------------------------------------------------------------------------


class CaseState(models.TextChoices):
    NEW = "nouveau", _("Nouveau")
    QUALIFIED = "qualifie", _("Qualifié")
    CONTAINMENT = "confinement", _("Confinement")
    ERADICATION = "eradication", _("Éradication")
    RECOVERY = "remediation", _("Remédiation")
    POST_INCIDENT = "post_incident", _("Post-incident")
    CLOSED = "clos", _("Clos")


class CaseOutcome(models.TextChoices):
    UNDETERMINED = "indetermine", _("Non déterminée")
    FALSE_POSITIVE = "faux_positif", _("Faux positif")
    TRUE_POSITIVE_NO_IMPACT = "vrai_positif_sans_impact", _("Incident avéré sans impact")
    TRUE_POSITIVE_IMPACT = "vrai_positif_avec_impact", _("Incident avéré avec impact")


class Severity(models.TextChoices):
    LOW = "faible", _("Faible")
    MEDIUM = "moyenne", _("Moyenne")
    HIGH = "elevee", _("Élevée")
    CRITICAL = "critique", _("Critique")


class Case(models.Model):
    """An incident being handled. The reference is per region and year (CYB-2026-0042)."""

    region = models.ForeignKey(
        "organisations.Region", on_delete=models.PROTECT, related_name="incident_cases"
    )
    organisation = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="incident_cases",
        verbose_name=_("structure victime"),
    )
    year = models.PositiveSmallIntegerField(_("année"))
    number = models.PositiveIntegerField(_("numéro"))
    title = models.CharField(_("intitulé"), max_length=255)
    incident_type = models.CharField(
        _("type d'incident"), max_length=30, choices=IncidentType.choices
    )
    summary = models.TextField(_("synthèse"), blank=True)
    state = models.CharField(
        _("état"), max_length=20, choices=CaseState.choices, default=CaseState.NEW
    )
    outcome = models.CharField(
        _("qualification finale"),
        max_length=30,
        choices=CaseOutcome.choices,
        default=CaseOutcome.UNDETERMINED,
    )
    severity = models.CharField(
        _("gravité"), max_length=10, choices=Severity.choices, default=Severity.MEDIUM
    )
    tlp = models.CharField(
        _("diffusion (TLP)"), max_length=15, choices=Tlp.choices, default=Tlp.AMBER
    )
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="led_cases",
        verbose_name=_("pilote"),
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # The clock of the metrics: from the first alert to each milestone.
    reported_at = models.DateTimeField(_("signalé le"))
    opened_at = models.DateTimeField(_("ouvert le"))
    qualified_at = models.DateTimeField(_("qualifié le"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("résolu le"), null=True, blank=True)
    closed_at = models.DateTimeField(_("clos le"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-opened_at", "-pk"]
        verbose_name = _("dossier d'incident")
        constraints = [
            models.UniqueConstraint(
                fields=["region", "year", "number"], name="case_reference_unique"
            ),
            models.CheckConstraint(
                condition=Q(state__in=CaseState.values), name="case_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(outcome__in=CaseOutcome.values), name="case_outcome_valid"
            ),
            models.CheckConstraint(condition=Q(tlp__in=Tlp.values), name="case_tlp_valid"),
            models.CheckConstraint(
                condition=Q(incident_type__in=IncidentType.values), name="case_type_valid"
            ),
            models.CheckConstraint(
                condition=~Q(state=CaseState.CLOSED) | Q(closed_at__isnull=False),
                name="case_closed_has_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} — {self.title}"

    @property
    def reference(self) -> str:
        return f"CYB-{self.year}-{self.number:04d}"

    @property
    def audit_organisation_id(self) -> int:
        return self.organisation_id


class AccessLevel(models.TextChoices):
    READ = "lecture", _("Lecture")
    CONTRIBUTE = "contribution", _("Contribution (notes, tâches, indicateurs, preuves)")
    MANAGE = "pilotage", _("Pilotage (état, partage, clôture)")


class CaseAccess(models.Model):
    """Access given on one case beyond its natural readers: an on-call expert assigned to it, the
    ARS invited, a helping establishment. Exactly one of person or organisation."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="accesses")
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="case_accesses",
    )
    organisation = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="case_accesses",
    )
    level = models.CharField(_("niveau d'accès"), max_length=20, choices=AccessLevel.choices)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    granted_at = models.DateTimeField(_("accordé le"))

    class Meta:
        verbose_name = _("accès à un dossier d'incident")
        constraints = [
            models.CheckConstraint(
                condition=(Q(person__isnull=False) & Q(organisation__isnull=True))
                | (Q(person__isnull=True) & Q(organisation__isnull=False)),
                name="case_access_one_grantee",
            ),
            models.UniqueConstraint(
                fields=["case", "person"],
                condition=Q(person__isnull=False),
                name="case_access_person_once",
            ),
            models.UniqueConstraint(
                fields=["case", "organisation"],
                condition=Q(organisation__isnull=False),
                name="case_access_organisation_once",
            ),
            models.CheckConstraint(
                condition=Q(level__in=AccessLevel.values), name="case_access_level_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Accès {self.get_level_display().lower()} à {self.case}"

    @property
    def audit_organisation_id(self) -> int:
        return self.case.organisation_id


class EventKind(models.TextChoices):
    NOTE = "note", _("Note")
    OBSERVATION = "constat", _("Constat")
    ACTION = "action", _("Action menée")
    ALERT = "alerte", _("Alerte")
    STATE = "etat", _("Changement d'état")
    TASK = "tache", _("Tâche")
    INDICATOR = "indicateur", _("Indicateur")
    ASSET = "actif", _("Actif touché")
    EVIDENCE = "preuve", _("Preuve")
    ACCESS = "acces", _("Accès")
    DECLARATION = "declaration", _("Déclaration CERT Santé")
    MUTUAL_AID = "entraide", _("Entraide ORSAN")


class CaseEvent(models.Model):
    """A dated line of the timeline. `occurred_at` is when it happened (entered by people, may
    be earlier than the recording); `recorded_at` when it was written. Never edited."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("type"), max_length=20, choices=EventKind.choices)
    occurred_at = models.DateTimeField(_("date de l'événement"))
    recorded_at = models.DateTimeField(_("enregistré le"))
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    text = models.TextField(_("description"))

    class Meta:
        ordering = ["occurred_at", "pk"]
        verbose_name = _("événement d'un dossier d'incident")
        indexes = [models.Index(fields=["case", "occurred_at"], name="case_event_timeline")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} : {self.text[:80]}"

    @property
    def audit_organisation_id(self) -> int:
        return self.case.organisation_id


class TaskKind(models.TextChoices):
    TASK = "tache", _("Tâche")
    CHECK = "verification", _("Point de la liste de contrôle")


class TaskStatus(models.TextChoices):
    TODO = "a_faire", _("À faire")
    IN_PROGRESS = "en_cours", _("En cours")
    DONE = "faite", _("Faite")
    NOT_APPLICABLE = "sans_objet", _("Sans objet")


class CaseTask(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="tasks")
    kind = models.CharField(
        _("type"), max_length=15, choices=TaskKind.choices, default=TaskKind.TASK
    )
    title = models.CharField(_("intitulé"), max_length=255)
    details = models.TextField(_("précisions"), blank=True)
    status = models.CharField(
        _("statut"), max_length=15, choices=TaskStatus.choices, default=TaskStatus.TODO
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="incident_tasks",
    )
    due_at = models.DateTimeField(_("échéance"), null=True, blank=True)
    done_at = models.DateTimeField(_("faite le"), null=True, blank=True)
    from_template = models.BooleanField(_("issue du modèle"), default=False)
    position = models.PositiveIntegerField(_("ordre"), default=0)
    created_at = models.DateTimeField(_("créée le"))

    class Meta:
        ordering = ["kind", "position", "pk"]
        verbose_name = _("tâche d'un dossier d'incident")
        constraints = [
            models.CheckConstraint(
                condition=~Q(status=TaskStatus.DONE) | Q(done_at__isnull=False),
                name="case_task_done_has_date",
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def audit_organisation_id(self) -> int:
        return self.case.organisation_id


class IndicatorKind(models.TextChoices):
    IPV4 = "ipv4", _("Adresse IPv4")
    IPV6 = "ipv6", _("Adresse IPv6")
    DOMAIN = "domaine", _("Nom de domaine")
    URL = "url", _("URL")
    EMAIL = "email", _("Adresse e-mail")
    MD5 = "md5", "MD5"
    SHA1 = "sha1", "SHA-1"
    SHA256 = "sha256", "SHA-256"
    FILENAME = "fichier", _("Nom de fichier")


class Indicator(models.Model):
    """An indicator of compromise, stored normalised (lower-case hashes and domains, compressed
    IPv6), so that the same indicator is recorded once per case."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="indicators")
    kind = models.CharField(_("type"), max_length=10, choices=IndicatorKind.choices)
    value = models.CharField(_("valeur"), max_length=2000)
    tlp = models.CharField(
        _("diffusion (TLP)"), max_length=15, choices=Tlp.choices, default=Tlp.AMBER
    )
    description = models.TextField(_("contexte"), blank=True)
    first_seen = models.DateTimeField(_("vu pour la première fois"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(_("ajouté le"))
    # A stable STIX id, so that two exports of the same case describe the same indicator.
    stix_id = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)

    class Meta:
        ordering = ["kind", "value", "pk"]
        verbose_name = _("indicateur de compromission")
        constraints = [
            models.UniqueConstraint(
                fields=["case", "kind", "value"], name="indicator_once_per_case"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=IndicatorKind.values), name="indicator_kind_valid"
            ),
            models.CheckConstraint(condition=Q(tlp__in=Tlp.values), name="indicator_tlp_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.value}"

    @property
    def audit_organisation_id(self) -> int:
        return self.case.organisation_id


class AssetKind(models.TextChoices):
    SERVER = "serveur", _("Serveur")
    WORKSTATION = "poste", _("Poste de travail")
    APPLICATION = "application", _("Application métier")
    ACCOUNT = "compte", _("Compte")
    NETWORK = "reseau", _("Équipement réseau")
    MEDICAL_DEVICE = "dispositif_medical", _("Dispositif médical")
    OTHER = "autre", _("Autre")


class AssetState(models.TextChoices):
    SUSPECTED = "suspect", _("Suspect")
    COMPROMISED = "compromis", _("Compromis")
    ISOLATED = "isole", _("Isolé")
    RESTORED = "restaure", _("Restauré")
    CLEAN = "sain", _("Sain après analyse")


class AffectedAsset(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="assets")
    name = models.CharField(_("nom"), max_length=255)
    kind = models.CharField(_("type"), max_length=20, choices=AssetKind.choices)
    state = models.CharField(_("état"), max_length=15, choices=AssetState.choices)
    critical_for_care = models.BooleanField(_("critique pour les soins"), default=False)
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(_("ajouté le"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = _("actif touché")

    def __str__(self) -> str:
        return self.name

    @property
    def audit_organisation_id(self) -> int:
        return self.case.organisation_id


class Evidence(models.Model):
    """A piece of evidence: the file is kept as received, its SHA-256 computed on arrival and
    checked again at every hand-over; every access is a custody entry."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="evidence")
    file = models.FileField(_("fichier"), upload_to=private_incident_path, max_length=255)
    original_name = models.CharField(_("nom du fichier"), max_length=255)
    size = models.PositiveBigIntegerField(_("taille (octets)"))
    sha256 = models.CharField(_("empreinte SHA-256"), max_length=64)
    description = models.TextField(_("description"))
    collected_at = models.DateTimeField(_("collectée le"))
    collected_by_name = models.CharField(_("collectée par"), max_length=200)
    source = models.CharField(_("origine (machine, outil)"), max_length=255, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    added_at = models.DateTimeField(_("déposée le"))

    class Meta:
        ordering = ["added_at", "pk"]
        verbose_name = _("preuve")
        constraints = [
            models.CheckConstraint(
                condition=Q(sha256__regex=r"^[0-9a-f]{64}$"), name="evidence_sha256_format"
            )
        ]

    def __str__(self) -> str:
        return self.original_name

    @property
    def audit_organisation_id(self) -> int:
        return self.case.organisation_id


class CustodyAction(models.TextChoices):
    COLLECTED = "collecte", _("Collecte")
    DEPOSITED = "depot", _("Dépôt sur la plateforme")
    DOWNLOADED = "telechargement", _("Téléchargement")
    VERIFIED = "verification", _("Vérification de l'empreinte")
    TRANSFERRED = "remise", _("Remise à un tiers")


class CustodyEntry(models.Model):
    """The chain of custody: who held or touched the evidence, when, and the hash then."""

    evidence = models.ForeignKey(Evidence, on_delete=models.CASCADE, related_name="custody")
    action = models.CharField(_("action"), max_length=20, choices=CustodyAction.choices)
    at = models.DateTimeField(_("date"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(_("personne"), max_length=200)
    sha256 = models.CharField(_("empreinte constatée"), max_length=64, blank=True)
    hash_matches = models.BooleanField(_("empreinte conforme"), null=True)
    note = models.TextField(_("précisions"), blank=True)

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("maillon de la chaîne de conservation")

    def __str__(self) -> str:
        return f"{self.get_action_display()} par {self.actor_name}"

    @property
    def audit_organisation_id(self) -> int:
        return self.evidence.case.organisation_id


# --- CERT Santé declaration -------------------------------------------------------------------------


class DeclarationStatus(models.TextChoices):
    DRAFT = "brouillon", _("En préparation")
    FILED = "deposee", _("Déposée sur le portail")


class CertSanteDeclaration(models.Model):
    """The mandatory declaration, in the four blocks of the official form, prepared from the
    case and completed by the establishment; the filing on the national portal is recorded
    (date and reference), the portal itself being outside the platform."""

    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="declaration")
    # Block 1: the structure and the declarant.
    structure_name = models.CharField(_("structure"), max_length=255)
    structure_finess = models.CharField(_("FINESS"), max_length=9, blank=True)
    structure_address = models.CharField(_("adresse"), max_length=500, blank=True)
    declarant_name = models.CharField(_("déclarant"), max_length=200, blank=True)
    declarant_function = models.CharField(_("fonction du déclarant"), max_length=200, blank=True)
    declarant_phone = models.CharField(_("téléphone du déclarant"), max_length=30, blank=True)
    declarant_email = models.EmailField(_("e-mail du déclarant"), blank=True)
    # Block 2: description.
    observed_at = models.DateTimeField(_("date de constatation"), null=True, blank=True)
    scope = models.TextField(_("périmètre touché"), blank=True)
    systems_concerned = models.TextField(_("systèmes concernés"), blank=True)
    data_concerned = models.TextField(_("données concernées"), blank=True)
    handling_state = models.TextField(_("état de la prise en charge"), blank=True)
    # Block 3: impacts.
    impact_care = models.CharField(
        _("impact sur la sécurité des soins"), max_length=10, choices=Impact.choices, blank=True
    )
    impact_data = models.TextField(_("impacts sur les données"), blank=True)
    impact_people = models.TextField(_("impacts sur les personnes"), blank=True)
    impact_systems = models.TextField(_("impacts sur les systèmes"), blank=True)
    impact_organisation = models.TextField(_("impacts sur la structure"), blank=True)
    may_affect_others = models.CharField(
        _("peut toucher d'autres structures"), max_length=10, choices=Impact.choices, blank=True
    )
    # Block 4: causes.
    causes = models.TextField(_("causes (si connues)"), blank=True)

    status = models.CharField(
        _("statut"),
        max_length=15,
        choices=DeclarationStatus.choices,
        default=DeclarationStatus.DRAFT,
    )
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    prepared_at = models.DateTimeField(_("préparée le"))
    updated_at = models.DateTimeField(auto_now=True)
    filed_at = models.DateTimeField(_("déposée le"), null=True, blank=True)
    filed_reference = models.CharField(_("référence du portail"), max_length=100, blank=True)
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("déclaration CERT Santé")
        constraints = [
            models.CheckConstraint(
                condition=Q(status=DeclarationStatus.DRAFT)
                | (Q(filed_at__isnull=False) & ~Q(filed_reference="")),
                name="declaration_filed_has_reference",
            )
        ]

    def __str__(self) -> str:
        return f"Déclaration CERT Santé de {self.case}"

    @property
    def audit_organisation_id(self) -> int:
        return self.case.organisation_id


# --- ORSAN cyber mutual aid -------------------------------------------------------------------------


class CrisisActivation(models.Model):
    """The ARS activates the regional plan for one or more establishments down."""

    region = models.ForeignKey(
        "organisations.Region", on_delete=models.PROTECT, related_name="crisis_activations"
    )
    title = models.CharField(_("intitulé"), max_length=255)
    reason = models.TextField(_("motif"))
    affected = models.ManyToManyField(
        "organisations.Organisation",
        related_name="crisis_activations",
        verbose_name=_("structures touchées"),
    )
    case = models.ForeignKey(
        Case, on_delete=models.SET_NULL, null=True, blank=True, related_name="crisis_activations"
    )
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    activated_at = models.DateTimeField(_("activé le"))
    ended_at = models.DateTimeField(_("levé le"), null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    end_note = models.TextField(_("bilan de levée"), blank=True)

    class Meta:
        ordering = ["-activated_at", "-pk"]
        verbose_name = _("activation ORSAN cyber")

    def __str__(self) -> str:
        return self.title

    @property
    def audit_organisation_id(self) -> None:
        return None


class ResourceKind(models.TextChoices):
    LAPTOPS = "postes", _("Ordinateurs portables")
    NETWORK = "reseau", _("Matériel réseau")
    RSSI_TIME = "temps_rssi", _("Temps de RSSI")
    TECHNICIAN_TIME = "temps_technicien", _("Temps de technicien")
    EXPERTISE = "expertise", _("Expertise (forensique, reconstruction…)")
    OTHER = "autre", _("Autre")


class PooledResource(models.Model):
    """What an organisation can lend in a crisis (a quantity in a unit: 20 laptops, 10 days)."""

    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="pooled_resources"
    )
    region = models.ForeignKey(
        "organisations.Region", on_delete=models.PROTECT, related_name="pooled_resources"
    )
    kind = models.CharField(_("type"), max_length=20, choices=ResourceKind.choices)
    label = models.CharField(_("intitulé"), max_length=255)
    description = models.TextField(_("précisions"), blank=True)
    quantity = models.PositiveIntegerField(_("quantité"))
    unit = models.CharField(_("unité"), max_length=50, default="unités")
    contact = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    active = models.BooleanField(_("proposée"), default=True)
    created_at = models.DateTimeField(_("proposée le"))

    class Meta:
        ordering = ["kind", "label", "pk"]
        verbose_name = _("ressource mutualisée")
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="resource_quantity_positive"),
            models.CheckConstraint(
                condition=Q(kind__in=ResourceKind.values), name="resource_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.organisation})"

    @property
    def audit_organisation_id(self) -> int:
        return self.organisation_id


class AidStatus(models.TextChoices):
    REQUESTED = "demandee", _("Demandée")
    MOBILISED = "mobilisee", _("Mobilisée")
    LENT = "pretee", _("Prêtée")
    RETURNED = "restituee", _("Restituée")
    REFUSED = "refusee", _("Refusée")
    CANCELLED = "annulee", _("Annulée")


class AidRequest(models.Model):
    """A victim's request during an activation, mobilised on one pooled resource, lent, then
    returned. Quantities mobilised and lent never exceed what the resource offers."""

    activation = models.ForeignKey(
        CrisisActivation, on_delete=models.PROTECT, related_name="aid_requests"
    )
    requester = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="aid_requests"
    )
    kind = models.CharField(_("type de ressource"), max_length=20, choices=ResourceKind.choices)
    need = models.TextField(_("besoin"))
    quantity = models.PositiveIntegerField(_("quantité"))
    resource = models.ForeignKey(
        PooledResource,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="aid_requests",
    )
    status = models.CharField(
        _("statut"), max_length=15, choices=AidStatus.choices, default=AidStatus.REQUESTED
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    requested_at = models.DateTimeField(_("demandée le"))
    mobilised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    mobilised_at = models.DateTimeField(_("mobilisée le"), null=True, blank=True)
    lent_at = models.DateTimeField(_("prêtée le"), null=True, blank=True)
    due_back_on = models.DateField(_("retour prévu le"), null=True, blank=True)
    returned_at = models.DateTimeField(_("restituée le"), null=True, blank=True)
    note = models.TextField(_("suivi"), blank=True)

    class Meta:
        ordering = ["-requested_at", "-pk"]
        verbose_name = _("demande d'entraide")
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="aid_quantity_positive"),
            models.CheckConstraint(
                condition=Q(
                    status__in=[AidStatus.REQUESTED, AidStatus.REFUSED, AidStatus.CANCELLED]
                )
                | Q(resource__isnull=False),
                name="aid_mobilised_has_resource",
            ),
            models.CheckConstraint(
                condition=~Q(status=AidStatus.RETURNED) | Q(returned_at__isnull=False),
                name="aid_returned_has_date",
            ),
        ]

    def __str__(self) -> str:
        return f"Demande de {self.requester} : {self.get_kind_display().lower()}"

    @property
    def audit_organisation_id(self) -> int:
        return self.requester_id
