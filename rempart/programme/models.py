"""The CaRE programme: domains with their prerequisites and targets (versioned reference data),
and each region's funding calls with their windows, ceiling schedule and envelope.

Applications, target declarations, payments and financial reports build on these.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class Axis(models.TextChoices):
    GOVERNANCE = "gouvernance", _("Gouvernance et résilience")
    RESOURCES = "ressources", _("Ressources et mutualisation")
    AWARENESS = "sensibilisation", _("Sensibilisation")
    OPERATIONAL = "securite_operationnelle", _("Sécurité opérationnelle")


class Domain(models.Model):
    """A CaRE domain (D1, D2…), loaded from `data/domains/*.yaml` and editable with history."""

    code = models.CharField(_("code"), max_length=10, unique=True)
    title = models.CharField(_("intitulé"), max_length=255)
    axis = models.CharField(_("axe"), max_length=30, choices=Axis.choices)
    summary = models.TextField(_("présentation"), blank=True)
    legal_reference = models.CharField(_("texte de référence"), max_length=255, blank=True)
    official_list_complete = models.BooleanField(
        _("liste officielle complète"),
        default=False,
        help_text=_(
            "Décoché tant que la liste des prérequis et cibles n'est que partiellement publique."
        ),
    )
    source_note = models.TextField(_("source et limites"), blank=True)
    data_version = models.CharField(_("version des données"), max_length=40, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("domaine CaRE")
        constraints = [
            models.CheckConstraint(condition=Q(axis__in=Axis.values), name="domain_axis_valid")
        ]

    def __str__(self) -> str:
        return f"{self.code} — {self.title}"

    @property
    def audit_organisation_id(self) -> None:
        return None


class RequirementKind(models.TextChoices):
    PREREQUISITE = "prerequis", _("Prérequis")
    TARGET = "cible", _("Cible")


class Attainment(models.TextChoices):
    DECLARED = "declaration", _("Déclaration sur l'honneur")
    DOCUMENT = "document", _("Pièce justificative")
    MEASUREMENT = "mesure", _("Mesure de la plateforme")


class Measurement(models.TextChoices):
    DIRECTORY_AUDIT_LEVEL = "audit_annuaire", _("Niveau d'audit de l'annuaire (ADS / ORADAD)")
    EXPOSURE_SCAN = "scan_exposition", _("Audit d'exposition sur internet")
    RESTORATION_TEST = "test_restauration", _("Test de restauration")
    CRISIS_EXERCISE = "exercice_crise", _("Exercice de crise cyber")
    CONTINUITY_PLAN = "pcra", _("Plan de continuité et de reprise (PCRA)")


class Requirement(models.Model):
    """A prerequisite or a target of a domain, with the proofs it needs and how attainment is shown."""

    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="requirements")
    kind = models.CharField(_("nature"), max_length=10, choices=RequirementKind.choices)
    identifier = models.CharField(_("identifiant"), max_length=30, unique=True)
    label = models.CharField(_("libellé"), max_length=500)
    domain_target = models.TextField(_("objectif du domaine"), blank=True)
    proofs = models.JSONField(_("preuves à fournir"), default=list, blank=True)
    attainment = models.CharField(_("mode de preuve"), max_length=12, choices=Attainment.choices)
    measurement = models.CharField(
        _("mesure utilisée"), max_length=30, choices=Measurement.choices, blank=True
    )
    confirmed = models.BooleanField(
        _("confirmé"),
        default=True,
        help_text=_("Décoché : élément attendu mais non confirmé par un texte public."),
    )
    position = models.PositiveSmallIntegerField(_("ordre"), default=0)

    class Meta:
        ordering = ["domain__code", "kind", "position", "identifier"]
        verbose_name = _("prérequis ou cible")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=RequirementKind.values), name="requirement_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(attainment__in=Attainment.values), name="requirement_attainment_valid"
            ),
            models.CheckConstraint(
                condition=(
                    Q(attainment=Attainment.MEASUREMENT) & Q(measurement__in=Measurement.values)
                )
                | (~Q(attainment=Attainment.MEASUREMENT) & Q(measurement="")),
                name="requirement_measurement_iff_measured",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.identifier} — {self.label}"

    @property
    def audit_organisation_id(self) -> None:
        return None


class ApplicantRule(models.TextChoices):
    GHT_OR_LEGAL_ENTITY = "ght_ou_ej", _("Le GHT pour ses membres, l'entité juridique hors GHT")
    ESTABLISHMENT = "etablissement", _("Chaque établissement")


class Call(models.Model):
    """A region's funding call for a domain: the national text it applies, its windows (enforced
    on the server), its ceiling schedule (data) and the regional envelope."""

    region = models.ForeignKey(
        "organisations.Region", on_delete=models.PROTECT, related_name="calls"
    )
    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="calls")
    title = models.CharField(_("intitulé"), max_length=255)
    legal_reference = models.CharField(_("arrêté"), max_length=255)
    national_amount_eur = models.DecimalField(
        _("montant national (€)"), max_digits=14, decimal_places=2
    )
    envelope_eur = models.DecimalField(
        _("enveloppe régionale (€)"), max_digits=14, decimal_places=2
    )
    applicant_rule = models.CharField(
        _("qui candidate"), max_length=20, choices=ApplicantRule.choices
    )
    eligible_categories = models.ManyToManyField(
        "organisations.FinessCategory",
        blank=True,
        related_name="+",
        verbose_name=_("catégories éligibles"),
    )
    application_opens_on = models.DateField(_("ouverture des candidatures"))
    application_closes_on = models.DateField(_("clôture des candidatures"))
    declaration_deadline = models.DateField(_("date limite de déclaration d'atteinte des cibles"))
    payment_opens_on = models.DateField(_("ouverture du guichet de paiement"))
    payment_closes_on = models.DateField(_("fermeture du guichet de paiement"))
    ceiling_schedule = models.JSONField(_("barème des plafonds"), default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-application_opens_on", "domain__code"]
        verbose_name = _("appel à financement")
        constraints = [
            models.CheckConstraint(
                condition=Q(applicant_rule__in=ApplicantRule.values),
                name="call_applicant_rule_valid",
            ),
            models.CheckConstraint(
                condition=Q(national_amount_eur__gte=0) & Q(envelope_eur__gte=0),
                name="call_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(application_closes_on__gte=F("application_opens_on")),
                name="call_application_window_ordered",
            ),
            models.CheckConstraint(
                condition=Q(declaration_deadline__gte=F("application_closes_on")),
                name="call_declaration_after_applications",
            ),
            models.CheckConstraint(
                condition=Q(payment_closes_on__gte=F("payment_opens_on")),
                name="call_payment_window_ordered",
            ),
            models.CheckConstraint(
                condition=Q(payment_opens_on__gte=F("application_closes_on")),
                name="call_payment_after_applications",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def audit_organisation_id(self) -> int | None:
        """Changes to a call are read by the region's ARS (its audit trail is scoped by organisation)."""
        from rempart.core.roles import OrgKind
        from rempart.organisations.models import Organisation

        return (
            Organisation.objects.filter(kind=OrgKind.ARS, region_id=self.region_id)
            .values_list("pk", flat=True)
            .first()
        )
