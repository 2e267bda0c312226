"""Exposure watch: what an establishment declares it exposes, what it authorises the CRRC to
scan, the scans, what they saw, and the findings the establishment acts on.

Ownership: every row belongs to one organisation (an establishment, a legal entity or a GHT),
except the lab ranges (a CRRC's allowance for its region) and the emergency stop (one row for
the platform). A scan copies its targets, ports and rate when it is queued: the record says what
was scanned under which authorisation, even after the authorisation changes.

Findings: one row per (organisation, address, port, code), whose status follows the scans
(services.apply_scan): open → acknowledged (with a reason) → fixed (the next scan no longer
sees it) → reopened (seen again).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

MAX_ADDRESSES_PER_ORGANISATION = 65_536  # a /16


class Severity(models.TextChoices):
    CRITICAL = "critical", _("Critique")
    HIGH = "high", _("Élevée")
    MEDIUM = "medium", _("Moyenne")
    LOW = "low", _("Faible")
    INFO = "info", _("Information")


SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


class AssetKind(models.TextChoices):
    ADDRESS = "address", _("Adresse IP ou plage (CIDR)")
    DOMAIN = "domain", _("Nom de domaine")


class LabRange(models.Model):
    """A non-public network the CRRC allows as a scan target in its region (a test lab, the
    loopback of a demonstration). Nothing outside public addresses is scanned without one."""

    region = models.ForeignKey(
        "organisations.Region", on_delete=models.PROTECT, related_name="exposure_lab_ranges"
    )
    network = models.CharField(_("réseau (CIDR)"), max_length=50)
    reason = models.CharField(_("motif"), max_length=300)
    allowed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    allowed_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["network", "pk"]
        verbose_name = _("plage de laboratoire")
        constraints = [
            models.UniqueConstraint(
                fields=["region", "network"],
                condition=Q(revoked_at__isnull=True),
                name="exposure_lab_range_once",
            ),
        ]

    def __str__(self) -> str:
        return self.network

    @property
    def audit_organisation_id(self) -> None:
        return None


class Asset(models.Model):
    """A public address, range or domain name the organisation declares as its own."""

    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.CASCADE, related_name="exposure_assets"
    )
    kind = models.CharField(_("type"), max_length=10, choices=AssetKind.choices)
    value = models.CharField(_("adresse, plage ou domaine"), max_length=253)
    description = models.CharField(_("usage"), max_length=300, blank=True)
    address_count = models.PositiveIntegerField(default=0)  # 0 for a domain
    lab_range = models.ForeignKey(
        LabRange, on_delete=models.PROTECT, null=True, blank=True, related_name="assets"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["kind", "value", "pk"]
        verbose_name = _("actif exposé")
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "value"],
                condition=Q(retired_at__isnull=True),
                name="exposure_asset_once",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=AssetKind.values), name="exposure_asset_kind"
            ),
            models.CheckConstraint(
                condition=Q(address_count__lte=MAX_ADDRESSES_PER_ORGANISATION),
                name="exposure_asset_at_most_a_16",
            ),
        ]

    def __str__(self) -> str:
        return self.value

    @property
    def audit_organisation_id(self) -> int:
        return self.organisation_id


class DeclaredService(models.Model):
    """A service the organisation knows it exposes on an asset, and why (VPN, web portal…)."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="services")
    port = models.PositiveIntegerField(_("port"))
    purpose = models.CharField(_("raison"), max_length=200)

    class Meta:
        ordering = ["port"]
        verbose_name = _("service déclaré")
        constraints = [
            models.UniqueConstraint(fields=["asset", "port"], name="exposure_service_once"),
            models.CheckConstraint(
                condition=Q(port__gte=1, port__lte=65535), name="exposure_service_port"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.port} ({self.purpose})"

    @property
    def audit_organisation_id(self) -> int:
        return self.asset.organisation_id


class Authorisation(models.Model):
    """The signed permission to scan: who, when, which assets, in which weekly windows
    (Europe/Paris), at what rate. Revoked or past its end date, it allows nothing."""

    organisation = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.CASCADE,
        related_name="exposure_authorisations",
    )
    assets = models.ManyToManyField(Asset, related_name="authorisations")
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    signer_name = models.CharField(_("signataire"), max_length=300)
    signer_title = models.CharField(_("fonction du signataire"), max_length=150)
    signed_at = models.DateTimeField(auto_now_add=True)
    valid_from = models.DateField(_("valable à partir du"))
    valid_until = models.DateField(_("valable jusqu'au"))
    weekdays = models.CharField(_("jours autorisés"), max_length=7)  # ISO digits, "12345"
    window_start = models.TimeField(_("début de la plage horaire"))
    window_end = models.TimeField(_("fin de la plage horaire"))
    max_rate = models.PositiveIntegerField(_("débit maximal (sondes par seconde et par /24)"))
    version_detection = models.BooleanField(
        _("identification des versions (nmap -sV, scripts sûrs)"), default=False
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-signed_at", "-pk"]
        verbose_name = _("autorisation d'analyse")
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__gte=models.F("valid_from")),
                name="exposure_authorisation_dates",
            ),
            models.CheckConstraint(
                condition=Q(window_end__gt=models.F("window_start")),
                name="exposure_authorisation_window",
            ),
            models.CheckConstraint(
                condition=Q(max_rate__gte=1, max_rate__lte=1000),
                name="exposure_authorisation_rate",
            ),
        ]

    def __str__(self) -> str:
        return f"Autorisation du {self.signed_at:%d/%m/%Y}" if self.signed_at else "Autorisation"

    @property
    def weekdays_label(self) -> str:
        """« tous les jours », « du lundi au vendredi » or the days named."""
        names = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]
        days = sorted(int(d) for d in self.weekdays if d.isdigit())
        if days == list(range(1, 8)):
            return "tous les jours"
        if len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
            return f"du {names[days[0] - 1]} au {names[days[-1] - 1]}"
        return ", ".join(names[d - 1] for d in days)

    @property
    def audit_organisation_id(self) -> int:
        return self.organisation_id


class ScanStatus(models.TextChoices):
    QUEUED = "queued", _("En attente")
    RUNNING = "running", _("En cours")
    DONE = "done", _("Terminée")
    CANCELLED = "cancelled", _("Annulée")
    SKIPPED = "skipped", _("Non lancée")
    FAILED = "failed", _("En échec")


FINISHED = (ScanStatus.DONE, ScanStatus.CANCELLED, ScanStatus.SKIPPED, ScanStatus.FAILED)


class ScanTrigger(models.TextChoices):
    ON_DEMAND = "on_demand", _("À la demande")
    SCHEDULED = "scheduled", _("Planifiée")


class Scan(models.Model):
    """One scan of one organisation's authorised scope. `targets` ([address, published name])
    and `hosts_done` make it resumable: a worker that dies leaves the hosts it finished saved,
    and the next one goes on from there."""

    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.CASCADE, related_name="exposure_scans"
    )
    authorisation = models.ForeignKey(Authorisation, on_delete=models.PROTECT, related_name="scans")
    trigger = models.CharField(max_length=10, choices=ScanTrigger.choices)
    launched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    status = models.CharField(max_length=10, choices=ScanStatus.choices, default=ScanStatus.QUEUED)
    targets = models.JSONField(default=list)
    ports = models.JSONField(default=list)
    rate = models.PositiveIntegerField()
    version_detection = models.BooleanField(default=False)  # nmap -sV on the open ports
    skipped = models.JSONField(default=list)  # [[what, why]] left out of the scope at queueing
    hosts_done = models.PositiveIntegerField(default=0)
    probes_done = models.PositiveIntegerField(default=0)
    probes_total = models.PositiveIntegerField(default=0)
    open_found = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    reason = models.CharField(max_length=500, blank=True)  # why skipped, failed or cancelled
    worker_heartbeat = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("analyse d'exposition")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ScanStatus.values), name="exposure_scan_status"
            ),
            models.CheckConstraint(
                condition=Q(probes_done__lte=models.F("probes_total")),
                name="exposure_scan_progress",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="exposure_scan_status")]

    def __str__(self) -> str:
        return f"Analyse n° {self.pk}"

    @property
    def audit_organisation_id(self) -> int:
        return self.organisation_id

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def percent(self) -> int:
        if self.is_finished and self.status == ScanStatus.DONE:
            return 100
        return int(100 * self.probes_done / self.probes_total) if self.probes_total else 0


class Observation(models.Model):
    """An open port a scan saw, with its banner and TLS summary (what the findings cite)."""

    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="observations")
    address = models.GenericIPAddressField()
    port = models.PositiveIntegerField()
    service = models.CharField(max_length=60, blank=True)
    banner = models.CharField(max_length=300, blank=True)
    product = models.CharField(max_length=200, blank=True)  # nmap -sV: product and version
    tls = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["address", "port"]
        constraints = [
            models.UniqueConstraint(
                fields=["scan", "address", "port"], name="exposure_observation_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.address}:{self.port}"


class FindingStatus(models.TextChoices):
    OPEN = "open", _("Ouvert")
    ACKNOWLEDGED = "acknowledged", _("Pris en compte")
    FIXED = "fixed", _("Corrigé")
    REOPENED = "reopened", _("Rouvert")


ACTIVE_FINDING = (FindingStatus.OPEN, FindingStatus.ACKNOWLEDGED, FindingStatus.REOPENED)


class Finding(models.Model):
    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.CASCADE, related_name="exposure_findings"
    )
    address = models.GenericIPAddressField()
    port = models.PositiveIntegerField()
    code = models.CharField(max_length=60)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    title = models.CharField(max_length=200)
    explanation = models.TextField()
    remediation = models.TextField()
    detail = models.CharField(max_length=500, blank=True)
    status = models.CharField(
        max_length=12, choices=FindingStatus.choices, default=FindingStatus.OPEN
    )
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    first_scan = models.ForeignKey(Scan, on_delete=models.PROTECT, related_name="+")
    last_scan = models.ForeignKey(Scan, on_delete=models.PROTECT, related_name="+")
    fixed_at = models.DateTimeField(null=True, blank=True)
    fixed_scan = models.ForeignKey(
        Scan, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    ack_reason = models.CharField(_("motif"), max_length=500, blank=True)
    ack_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ack_at = models.DateTimeField(null=True, blank=True)
    times_reopened = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["address", "port", "code"]  # (selectors sort by severity rank)
        verbose_name = _("constat d'exposition")
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "address", "port", "code"], name="exposure_finding_once"
            ),
            models.CheckConstraint(
                condition=Q(status__in=FindingStatus.values), name="exposure_finding_status"
            ),
            models.CheckConstraint(
                condition=Q(severity__in=Severity.values), name="exposure_finding_severity"
            ),
            models.CheckConstraint(
                condition=~Q(status=FindingStatus.ACKNOWLEDGED) | ~Q(ack_reason=""),
                name="exposure_finding_ack_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status=FindingStatus.FIXED) | Q(fixed_at__isnull=False),
                name="exposure_finding_fixed_at",
            ),
        ]
        indexes = [
            models.Index(fields=["organisation", "status"], name="exposure_finding_org_status"),
        ]

    def __str__(self) -> str:
        return f"{self.title} — {self.address}:{self.port}"

    @property
    def audit_organisation_id(self) -> int:
        return self.organisation_id

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_FINDING


class EmergencyStop(models.Model):
    """The platform's stop button: while a row is active, no scan starts and running scans stop
    at their next check (within a second)."""

    active = models.BooleanField(default=True)
    engaged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    engaged_at = models.DateTimeField(auto_now_add=True)
    reason = models.CharField(_("motif"), max_length=300)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-engaged_at", "-pk"]
        verbose_name = _("arrêt d'urgence des analyses")
        constraints = [
            models.UniqueConstraint(
                fields=["active"], condition=Q(active=True), name="exposure_one_engaged_stop"
            ),
            models.CheckConstraint(
                condition=Q(active=True, released_at__isnull=True)
                | Q(active=False, released_at__isnull=False),
                name="exposure_stop_released_at",
            ),
        ]

    def __str__(self) -> str:
        return f"Arrêt d'urgence du {self.engaged_at:%d/%m/%Y %H:%M}" if self.engaged_at else ""

    @property
    def audit_organisation_id(self) -> None:
        return None
