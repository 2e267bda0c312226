"""Organisations of the region, the people in them and the roles they hold.

One `Organisation` table holds every kind (ARS, CRRC, GHT, legal entity, establishment,
provider, liberal professional) so that tenancy and memberships work the same everywhere;
check constraints say which fields each kind may carry.
"""

import datetime

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rempart.core.roles import ORG_KIND_CHOICES, ROLE_CHOICES, OrgKind

from .finess import FINESS_PATTERN
from .validators import validate_finess


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        if not email:
            raise ValueError("L'adresse e-mail est obligatoire.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self._create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Logs in with their e-mail address; what they may see comes from memberships."""

    email = models.EmailField(_("adresse e-mail"), unique=True)
    first_name = models.CharField(_("prénom"), max_length=150, blank=True)
    last_name = models.CharField(_("nom"), max_length=150, blank=True)
    phone = models.CharField(_("téléphone"), max_length=30, blank=True)
    job_title = models.CharField(_("fonction"), max_length=150, blank=True)
    is_active = models.BooleanField(_("actif"), default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("personne")
        verbose_name_plural = _("personnes")
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.get_full_name() or self.email

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def get_short_name(self) -> str:
        return self.first_name or self.email


class Region(models.Model):
    code = models.CharField(_("code INSEE"), max_length=3, unique=True)
    name = models.CharField(_("nom"), max_length=100)

    class Meta:
        ordering = ["name"]
        verbose_name = _("région")

    def __str__(self) -> str:
        return self.name


class Departement(models.Model):
    code = models.CharField(_("code"), max_length=3, unique=True)
    name = models.CharField(_("nom"), max_length=100)
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="departements")

    class Meta:
        ordering = ["code"]
        verbose_name = _("département")

    def __str__(self) -> str:
        return f"{self.code} – {self.name}"


class Sector(models.TextChoices):
    HEALTH = "sanitaire", _("Sanitaire")
    MEDICO_SOCIAL = "medico_social", _("Médico-social")
    OTHER = "autre", _("Autre")


class LegalStatus(models.TextChoices):
    PUBLIC = "public", _("Public")
    PRIVATE_NON_PROFIT = "prive_non_lucratif", _("Privé non lucratif")
    PRIVATE_FOR_PROFIT = "prive_lucratif", _("Privé lucratif")


class FinessCategory(models.Model):
    """A FINESS establishment category (categetab), with the sector it belongs to."""

    code = models.CharField(_("code"), max_length=4, unique=True)
    label = models.CharField(_("libellé"), max_length=255)
    sector = models.CharField(_("secteur"), max_length=20, choices=Sector.choices)
    aggregate_code = models.CharField(_("code agrégat"), max_length=4, blank=True)
    aggregate_label = models.CharField(_("libellé agrégat"), max_length=255, blank=True)
    # Status given to an establishment of this category when its legal entity's status is unknown
    # (e.g. a "Centre Hospitalier" is always public). Blank: the category does not imply one.
    default_legal_status = models.CharField(
        _("statut par défaut"), max_length=20, choices=LegalStatus.choices, blank=True
    )
    # False: establishments of this category are outside Rempart's scope (pharmacies, laboratories,
    # social services…); the FINESS import counts their lines as "hors champ" instead of importing them.
    imported = models.BooleanField(_("importée dans l'annuaire"), default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("catégorie FINESS")
        constraints = [
            models.CheckConstraint(
                condition=Q(sector__in=Sector.values), name="category_sector_valid"
            ),
            models.CheckConstraint(
                condition=Q(default_legal_status="")
                | Q(default_legal_status__in=LegalStatus.values),
                name="category_default_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} – {self.label}"


class Organisation(models.Model):
    kind = models.CharField(_("type"), max_length=20, choices=ORG_KIND_CHOICES)
    name = models.CharField(_("raison sociale"), max_length=255)
    finess = models.CharField(
        _("numéro FINESS"),
        max_length=9,
        unique=True,
        null=True,
        blank=True,
        validators=[validate_finess],
    )
    siret = models.CharField(_("SIRET"), max_length=14, blank=True)
    region = models.ForeignKey(
        Region, on_delete=models.PROTECT, null=True, blank=True, related_name="organisations"
    )
    departement = models.ForeignKey(
        Departement, on_delete=models.PROTECT, null=True, blank=True, related_name="organisations"
    )
    address = models.CharField(_("adresse"), max_length=255, blank=True)
    postal_code = models.CharField(_("code postal"), max_length=10, blank=True)
    commune = models.CharField(_("commune"), max_length=100, blank=True)
    phone = models.CharField(_("téléphone"), max_length=30, blank=True)
    email = models.EmailField(_("e-mail de contact"), blank=True)

    category = models.ForeignKey(
        FinessCategory,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="organisations",
    )
    sector = models.CharField(_("secteur"), max_length=20, choices=Sector.choices, blank=True)
    legal_status = models.CharField(
        _("statut"), max_length=20, choices=LegalStatus.choices, blank=True
    )
    legal_entity = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="establishments",
        verbose_name=_("entité juridique"),
    )
    ght = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="members",
        verbose_name=_("GHT"),
    )
    support_establishment = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="supported_ght",
        verbose_name=_("établissement support"),
    )

    # Activity figures, used by the funding ceilings of the CaRE calls.
    beds = models.PositiveIntegerField(_("lits"), null=True, blank=True)
    places = models.PositiveIntegerField(_("places"), null=True, blank=True)
    staff_count = models.PositiveIntegerField(_("effectif (ETP)"), null=True, blank=True)
    operating_budget_eur = models.DecimalField(
        _("budget d'exploitation (€)"), max_digits=14, decimal_places=2, null=True, blank=True
    )

    # FINESS registry metadata.
    ape_code = models.CharField(_("code APE"), max_length=6, blank=True)
    mft_code = models.CharField(_("code MFT"), max_length=3, blank=True)
    mft_label = models.CharField(_("mode de fixation des tarifs"), max_length=255, blank=True)
    sph_code = models.CharField(_("code SPH"), max_length=3, blank=True)
    sph_label = models.CharField(_("service public hospitalier"), max_length=255, blank=True)
    opened_on = models.DateField(_("date d'ouverture"), null=True, blank=True)
    authorised_on = models.DateField(_("date d'autorisation"), null=True, blank=True)
    finess_updated_on = models.DateField(_("mise à jour FINESS"), null=True, blank=True)

    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("organisation")
        indexes = [
            models.Index(fields=["region", "kind", "name"], name="org_region_kind_name"),
            models.Index(fields=["region", "name", "id"], name="org_region_name_id"),
            models.Index(fields=["name", "id"], name="org_name_id"),
            models.Index(fields=["kind", "name"], name="org_kind_name"),
            models.Index(fields=["ght", "name"], name="org_ght_name"),
            models.Index(fields=["departement", "name"], name="org_dept_name"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=[k.value for k in OrgKind]), name="org_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(finess__isnull=True) | Q(finess__regex=FINESS_PATTERN),
                name="org_finess_format",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=[OrgKind.ESTABLISHMENT, OrgKind.LEGAL_ENTITY])
                | Q(finess__isnull=False),
                name="org_finess_required_for_et_ej",
            ),
            models.CheckConstraint(
                condition=Q(kind=OrgKind.NATIONAL) | Q(region__isnull=False),
                name="org_region_required",
            ),
            models.CheckConstraint(
                condition=Q(ght__isnull=True)
                | Q(kind__in=[OrgKind.ESTABLISHMENT, OrgKind.LEGAL_ENTITY]),
                name="org_only_et_ej_join_a_ght",
            ),
            models.CheckConstraint(
                condition=Q(legal_entity__isnull=True) | Q(kind=OrgKind.ESTABLISHMENT),
                name="org_only_et_has_legal_entity",
            ),
            models.CheckConstraint(
                condition=Q(support_establishment__isnull=True) | Q(kind=OrgKind.GHT),
                name="org_only_ght_has_support",
            ),
            models.CheckConstraint(
                condition=Q(sector="") | Q(sector__in=Sector.values), name="org_sector_valid"
            ),
            models.CheckConstraint(
                condition=Q(legal_status="") | Q(legal_status__in=LegalStatus.values),
                name="org_legal_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(operating_budget_eur__isnull=True) | Q(operating_budget_eur__gte=0),
                name="org_budget_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def audit_organisation_id(self) -> int | None:
        return self.pk

    @property
    def kind_enum(self) -> OrgKind:
        return OrgKind(self.kind)


class MembershipQuerySet(models.QuerySet):
    def active(self, on: datetime.date | None = None):
        """Valid on `on`: started, and not yet ended (`valid_until` is the first day without the role)."""
        on = on or timezone.localdate()
        return self.filter(
            Q(valid_from__lte=on), Q(valid_until__isnull=True) | Q(valid_until__gt=on)
        )


class Membership(models.Model):
    """A person holds a role in an organisation, for a period."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="memberships"
    )
    role = models.CharField(_("rôle"), max_length=30, choices=ROLE_CHOICES)
    valid_from = models.DateField(_("début"), default=timezone.localdate)
    valid_until = models.DateField(_("fin (premier jour sans le rôle)"), null=True, blank=True)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        verbose_name = _("rattachement")
        ordering = ["organisation__name", "user__last_name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(role__in=[c for c, _l in ROLE_CHOICES]), name="membership_role_valid"
            ),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=models.F("valid_from")),
                name="membership_period_ordered",
            ),
            models.UniqueConstraint(
                fields=["user", "organisation", "role"],
                condition=Q(valid_until__isnull=True),
                name="membership_one_open_per_role",
            ),
        ]
        indexes = [models.Index(fields=["user", "valid_until"], name="membership_user_validity")]

    def __str__(self) -> str:
        return f"{self.user} – {self.get_role_display()} – {self.organisation}"

    @property
    def audit_organisation_id(self) -> int | None:
        return self.organisation_id


class Invitation(models.Model):
    """An e-mailed, signed and expiring invitation to join an organisation with a role."""

    email = models.EmailField(_("adresse e-mail"))
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="invitations"
    )
    role = models.CharField(_("rôle"), max_length=30, choices=ROLE_CHOICES)
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("invitation")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(role__in=[c for c, _l in ROLE_CHOICES]), name="invitation_role_valid"
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("created_at")),
                name="invitation_expiry_after_creation",
            ),
            models.CheckConstraint(
                condition=Q(accepted_at__isnull=True) | Q(revoked_at__isnull=True),
                name="invitation_not_accepted_and_revoked",
            ),
            models.UniqueConstraint(
                Lower("email"),
                "organisation",
                "role",
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} → {self.organisation} ({self.get_role_display()})"

    @property
    def audit_organisation_id(self) -> int | None:
        return self.organisation_id

    @property
    def is_pending(self) -> bool:
        return (
            self.accepted_at is None
            and self.revoked_at is None
            and self.expires_at > timezone.now()
        )


class FinessImport(models.Model):
    """One run of the FINESS import: the file (through Django's storage API) and its report."""

    class Status(models.TextChoices):
        PENDING = "pending", _("En attente")
        RUNNING = "running", _("En cours")
        DONE = "done", _("Terminé")
        FAILED = "failed", _("Échoué")

    source_name = models.CharField(_("fichier"), max_length=255)
    file = models.FileField(upload_to="finess/%Y/%m/", blank=True)
    uploaded_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    lines_read = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    rejections = models.JSONField(
        default=list, blank=True
    )  # [{"line": n, "finess": "...", "reason": "..."}]
    error_message = models.TextField(blank=True)
    # Scope of the run: lines of other regions are skipped. Empty: every region (command line).
    regions = models.ManyToManyField(
        Region, blank=True, related_name="+", verbose_name=_("régions")
    )
    out_of_region_count = models.PositiveIntegerField(_("lignes hors région"), default=0)
    out_of_scope_count = models.PositiveIntegerField(_("lignes hors champ"), default=0)
    ignored_count = models.PositiveIntegerField(_("lignes d'un autre type"), default=0)
    legal_entities_created_count = models.PositiveIntegerField(
        _("entités juridiques créées"), default=0
    )
    file_size = models.PositiveBigIntegerField(
        _("taille du fichier (octets)"), null=True, blank=True
    )
    encoding = models.CharField(_("encodage détecté"), max_length=20, blank=True)
    source_header = models.CharField(_("ligne d'en-tête du fichier"), max_length=255, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("import FINESS")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "running", "done", "failed"]),
                name="finess_import_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_name} ({self.get_status_display()})"

    @property
    def audit_organisation_id(self) -> None:
        return None
