"""The CaRE programme: domains with their prerequisites and targets (versioned reference data),
and each region's funding calls with their windows, ceiling schedule and envelope.

Applications, target declarations, payments and financial reports build on these.
"""

import uuid

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


# --- Applications, review and the regional envelope ----------------------------------------------


class ApplicationStatus(models.TextChoices):
    DRAFT = "brouillon", _("Brouillon")
    SUBMITTED = "deposee", _("Déposée")
    UNDER_REVIEW = "en_instruction", _("En instruction")
    COMPLEMENT_REQUESTED = "complement_demande", _("Complément demandé")
    ACCEPTED = "acceptee", _("Acceptée")
    REJECTED = "rejetee", _("Rejetée")


class ExpenseCategory(models.TextChoices):
    """Eligible expenses of the programme (seed 003)."""

    CONSULTING = "conseil", _("Conseil et accompagnement")
    AUDITS = "audits", _("Audits")
    SOFTWARE = "outils", _("Outils logiciels")
    TRAINING = "formation", _("Formation")
    CONTINUITY = "pca_pra", _("PCA / PRA")
    EXERCISES = "exercices", _("Exercices de simulation")


class Application(models.Model):
    """One applicant's file for a call (a GHT for all its members, a legal entity outside a GHT,
    or an establishment): its dossier parts, its ceiling and, once accepted, the amount engaged
    on the regional envelope."""

    call = models.ForeignKey(Call, on_delete=models.PROTECT, related_name="applications")
    applicant = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="care_applications"
    )
    status = models.CharField(
        _("statut"),
        max_length=20,
        choices=ApplicationStatus.choices,
        default=ApplicationStatus.DRAFT,
    )
    covered_establishments = models.ManyToManyField(
        "organisations.Organisation",
        blank=True,
        related_name="care_files_covering",
        verbose_name=_("établissements couverts"),
    )
    # Dossier parts (seed 003), as structured fields; files complete them.
    maturity_level = models.PositiveSmallIntegerField(
        _("niveau de maturité estimé (1 à 5)"), null=True, blank=True
    )
    maturity_summary = models.TextField(_("diagnostic de maturité"), blank=True)
    # The completed maturity self-assessment the file relies on (rempart/assessments), instead
    # of a document typed by hand; its scores fill the summary and the level.
    maturity_assessment = models.ForeignKey(
        "assessments.Assessment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="care_applications",
        verbose_name=_("autoévaluation de maturité jointe"),
    )
    project_objectives = models.TextField(_("fiche projet : objectifs"), blank=True)
    project_schedule = models.TextField(_("fiche projet : calendrier et pilotage"), blank=True)
    project_lead = models.CharField(_("chef de projet"), max_length=255, blank=True)
    requested_eur = models.DecimalField(
        _("financement CaRE demandé (€)"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    own_funding_eur = models.DecimalField(
        _("autofinancement (€)"), max_digits=14, decimal_places=2, default=0
    )
    other_funding_eur = models.DecimalField(
        _("autres financements (€)"), max_digits=14, decimal_places=2, default=0
    )
    commitment_signatory = models.CharField(
        _("signataire de la lettre d'engagement"), max_length=255, blank=True
    )
    commitment_signed_on = models.DateField(
        _("date de signature de la lettre d'engagement"), null=True, blank=True
    )
    # Frozen at submission: the ceiling and its computation as they were then.
    ceiling_eur = models.DecimalField(
        _("plafond (€)"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    ceiling_steps = models.JSONField(_("calcul du plafond"), default=list, blank=True)
    engaged_eur = models.DecimalField(
        _("montant engagé (€)"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    submitted_at = models.DateTimeField(_("déposée le"), null=True, blank=True)
    decided_at = models.DateTimeField(_("décidée le"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decision_reason = models.TextField(_("motif de la décision"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["call", "applicant__name"]
        verbose_name = _("candidature")
        constraints = [
            models.UniqueConstraint(fields=["call", "applicant"], name="application_one_per_call"),
            models.CheckConstraint(
                condition=Q(status__in=ApplicationStatus.values), name="application_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(
                    engaged_eur__isnull=True,
                    status__in=[
                        s for s in ApplicationStatus.values if s != ApplicationStatus.ACCEPTED
                    ],
                )
                | Q(engaged_eur__gte=0, status=ApplicationStatus.ACCEPTED),
                name="application_engaged_iff_accepted",
            ),
            models.CheckConstraint(
                condition=Q(maturity_level__isnull=True) | Q(maturity_level__range=(1, 5)),
                name="application_maturity_level_1_5",
            ),
            models.CheckConstraint(
                condition=(Q(requested_eur__isnull=True) | Q(requested_eur__gte=0))
                & Q(own_funding_eur__gte=0)
                & Q(other_funding_eur__gte=0),
                name="application_funding_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(submitted_at__isnull=False) | Q(status=ApplicationStatus.DRAFT),
                name="application_submitted_has_date",
            ),
        ]
        indexes = [models.Index(fields=["call", "status"], name="application_call_status")]

    def __str__(self) -> str:
        return f"{self.applicant} — {self.call}"

    @property
    def audit_organisation_id(self) -> int:
        return self.applicant_id


class BudgetLine(models.Model):
    """Forecast budget of an application, by eligible expense category."""

    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="budget_lines"
    )
    category = models.CharField(
        _("catégorie de dépense"), max_length=20, choices=ExpenseCategory.choices
    )
    amount_eur = models.DecimalField(_("montant prévisionnel (€)"), max_digits=14, decimal_places=2)
    description = models.CharField(_("description"), max_length=500, blank=True)

    class Meta:
        ordering = ["application", "category"]
        verbose_name = _("ligne de budget prévisionnel")
        constraints = [
            models.UniqueConstraint(
                fields=["application", "category"], name="budget_line_one_per_category"
            ),
            models.CheckConstraint(
                condition=Q(category__in=ExpenseCategory.values), name="budget_line_category_valid"
            ),
            models.CheckConstraint(condition=Q(amount_eur__gte=0), name="budget_line_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.get_category_display()} : {self.amount_eur} €"

    @property
    def audit_organisation_id(self) -> int:
        return self.application.applicant_id


class PrerequisiteAnswer(models.Model):
    """The applicant's statement on one prerequisite of the call's domain."""

    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="prerequisite_answers"
    )
    requirement = models.ForeignKey(Requirement, on_delete=models.PROTECT, related_name="+")
    met = models.BooleanField(_("prérequis rempli"), default=False)
    comment = models.TextField(_("commentaire ou justification"), blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["application", "requirement__position", "requirement__identifier"]
        verbose_name = _("réponse à un prérequis")
        constraints = [
            models.UniqueConstraint(
                fields=["application", "requirement"], name="prerequisite_answer_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.requirement_id} : {'oui' if self.met else 'non'}"

    @property
    def audit_organisation_id(self) -> int:
        return self.application.applicant_id


class DocumentPart(models.TextChoices):
    MATURITY = "diagnostic", _("Diagnostic de maturité")
    PROJECT = "fiche_projet", _("Fiche projet")
    BUDGET = "budget", _("Budget prévisionnel")
    COMMITMENT = "lettre_engagement", _("Lettre d'engagement signée du directeur")
    PREREQUISITE = "prerequis", _("Justificatif de prérequis")
    COMPLEMENT = "complement", _("Complément demandé")
    OTHER = "autre", _("Autre pièce")


def private_upload_path(instance, filename: str) -> str:
    """Random names under a private prefix: the original name is kept in the row, never trusted
    as a path, and files are only ever served by authorised views."""
    return f"prive/programme/{instance.__class__.__name__.lower()}/{uuid.uuid4().hex}"


class ApplicationDocument(models.Model):
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="documents")
    part = models.CharField(_("pièce"), max_length=20, choices=DocumentPart.choices)
    file = models.FileField(_("fichier"), upload_to=private_upload_path, max_length=255)
    original_name = models.CharField(_("nom du fichier"), max_length=255)
    content_type = models.CharField(_("type"), max_length=100)
    size = models.PositiveBigIntegerField(_("taille (octets)"))
    sha256 = models.CharField(_("empreinte SHA-256"), max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["application", "part", "uploaded_at"]
        verbose_name = _("pièce du dossier")
        constraints = [
            models.CheckConstraint(
                condition=Q(part__in=DocumentPart.values), name="application_document_part_valid"
            )
        ]

    def __str__(self) -> str:
        return self.original_name

    @property
    def audit_organisation_id(self) -> int:
        return self.application.applicant_id


class ApplicationComment(models.Model):
    """The comments thread of a file: applicant, CRRC and ARS."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    author_organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    body = models.TextField(_("commentaire"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["application", "created_at", "pk"]
        verbose_name = _("commentaire")

    def __str__(self) -> str:
        return self.body[:60]

    @property
    def audit_organisation_id(self) -> int:
        return self.application.applicant_id


class EventKind(models.TextChoices):
    CREATED = "creation", _("Dossier créé")
    SUBMITTED = "depot", _("Dossier déposé")
    REVIEW_STARTED = "instruction", _("Instruction commencée")
    COMPLEMENT_REQUESTED = "complement_demande", _("Complément demandé")
    COMPLEMENT_PROVIDED = "complement_fourni", _("Complément fourni, dossier redéposé")
    ACCEPTED = "acceptation", _("Dossier accepté")
    REJECTED = "rejet", _("Dossier rejeté")
    DOCUMENT_ADDED = "piece_ajoutee", _("Pièce ajoutée")
    DOCUMENT_REMOVED = "piece_retiree", _("Pièce retirée")
    CEILING_OVERRIDDEN = "plafond_modifie", _("Plafond modifié par l'ARS")
    TARGET_DECLARED = "cible_declaree", _("Cible déclarée atteinte")
    TARGET_VALIDATED = "cible_validee", _("Cible validée")
    TARGET_REFUSED = "cible_refusee", _("Cible non validée")
    PAYMENT_REQUESTED = "paiement_demande", _("Paiement demandé")
    PAYMENT_STATUS = "paiement_statut", _("Paiement : changement de statut")
    REPORT_FILED = "bilan_depose", _("Bilan financier déposé")
    REPORT_REVIEWED = "bilan_instruit", _("Bilan financier instruit")
    REMINDER_SENT = "relance", _("Relance envoyée")


class ApplicationEvent(models.Model):
    """The readable history of a file (the audit trail keeps every field change besides)."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("événement"), max_length=30, choices=EventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    message = models.TextField(_("détail"), blank=True)
    at = models.DateTimeField(_("date"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["application", "at", "pk"]
        verbose_name = _("événement du dossier")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=EventKind.values), name="application_event_kind_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.at:%d/%m/%Y})"

    @property
    def audit_organisation_id(self) -> int:
        return self.application.applicant_id


class CeilingOverride(models.Model):
    """The ARS's own ceiling for one applicant of a call, replacing the computed one (with the
    reason, audited)."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="ceiling_overrides")
    applicant = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    amount_eur = models.DecimalField(_("plafond retenu (€)"), max_digits=14, decimal_places=2)
    reason = models.TextField(_("motif"))
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    set_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("plafond modifié par l'ARS")
        constraints = [
            models.UniqueConstraint(
                fields=["call", "applicant"], name="ceiling_override_one_per_applicant"
            ),
            models.CheckConstraint(
                condition=Q(amount_eur__gte=0), name="ceiling_override_not_negative"
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="ceiling_override_has_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.amount_eur} € ({self.reason[:40]})"

    @property
    def audit_organisation_id(self) -> int:
        return self.applicant_id


# --- Platform measurements and target declarations ------------------------------------------------


class PlatformMeasurement(models.Model):
    """A dated result measured for an organisation (directory-audit level, exposure scan,
    restoration test, crisis exercise, continuity plan). Later modules record theirs; until
    they exist, results of the ANSSI services (ADS, SILENE) or of tests are recorded with their
    report. A declaration's proof freezes a copy of the measurement it cites."""

    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="measurements"
    )
    kind = models.CharField(_("mesure"), max_length=30, choices=Measurement.choices)
    level = models.PositiveSmallIntegerField(_("niveau (1 à 5)"), null=True, blank=True)
    result = models.CharField(_("résultat"), max_length=255)
    measured_on = models.DateField(_("date de la mesure"))
    source = models.CharField(_("source"), max_length=255)
    details = models.JSONField(_("détails"), default=dict, blank=True)
    report = models.FileField(
        _("rapport"), upload_to=private_upload_path, max_length=255, blank=True
    )
    report_name = models.CharField(_("nom du rapport"), max_length=255, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organisation", "kind", "-measured_on", "-pk"]
        verbose_name = _("mesure de la plateforme")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=Measurement.values), name="measurement_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(level__isnull=True) | Q(level__range=(1, 5)),
                name="measurement_level_1_5",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} — {self.result} ({self.measured_on:%d/%m/%Y})"

    @property
    def audit_organisation_id(self) -> int:
        return self.organisation_id


class DeclarationStatus(models.TextChoices):
    DECLARED = "declaree", _("Déclarée, à vérifier")
    VALIDATED = "validee", _("Validée par l'ARS")
    REFUSED = "refusee", _("Non validée")


class TargetDeclaration(models.Model):
    """The applicant's declaration that one target of the domain is reached, with its proofs."""

    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="declarations"
    )
    requirement = models.ForeignKey(Requirement, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        _("statut"),
        max_length=10,
        choices=DeclarationStatus.choices,
        default=DeclarationStatus.DECLARED,
    )
    statement = models.TextField(_("déclaration"), blank=True)
    declared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    declared_at = models.DateTimeField(_("déclarée le"))
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(_("vérifiée le"), null=True, blank=True)
    review_comment = models.TextField(_("avis de l'ARS"), blank=True)

    class Meta:
        ordering = ["application", "requirement__position", "requirement__identifier"]
        verbose_name = _("déclaration d'atteinte de cible")
        constraints = [
            models.UniqueConstraint(
                fields=["application", "requirement"], name="declaration_one_per_target"
            ),
            models.CheckConstraint(
                condition=Q(status__in=DeclarationStatus.values), name="declaration_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status=DeclarationStatus.DECLARED) | Q(reviewed_at__isnull=False),
                name="declaration_reviewed_has_date",
            ),
        ]
        indexes = [models.Index(fields=["requirement", "status"], name="declaration_target_status")]

    def __str__(self) -> str:
        return f"{self.requirement_id} — {self.get_status_display()}"

    @property
    def audit_organisation_id(self) -> int:
        return self.application.applicant_id


class ProofKind(models.TextChoices):
    FILE = "fichier", _("Fichier")
    LINK = "lien", _("Lien")
    MEASUREMENT = "mesure", _("Mesure de la plateforme")


class DeclarationProof(models.Model):
    declaration = models.ForeignKey(
        TargetDeclaration, on_delete=models.CASCADE, related_name="proofs"
    )
    kind = models.CharField(_("nature"), max_length=10, choices=ProofKind.choices)
    label = models.CharField(_("libellé"), max_length=255, blank=True)
    file = models.FileField(_("fichier"), upload_to=private_upload_path, max_length=255, blank=True)
    original_name = models.CharField(_("nom du fichier"), max_length=255, blank=True)
    content_type = models.CharField(_("type"), max_length=100, blank=True)
    size = models.PositiveBigIntegerField(_("taille (octets)"), null=True, blank=True)
    sha256 = models.CharField(_("empreinte SHA-256"), max_length=64, blank=True)
    url = models.URLField(_("lien"), max_length=1000, blank=True)
    measurement = models.ForeignKey(
        PlatformMeasurement, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    measurement_snapshot = models.JSONField(_("mesure figée"), default=dict, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["declaration", "added_at", "pk"]
        verbose_name = _("preuve")
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind=ProofKind.FILE) & ~Q(file="") & Q(url="") & Q(measurement__isnull=True)
                )
                | (Q(kind=ProofKind.LINK) & ~Q(url="") & Q(file="") & Q(measurement__isnull=True))
                | (
                    Q(kind=ProofKind.MEASUREMENT)
                    & Q(measurement__isnull=False)
                    & Q(file="")
                    & Q(url="")
                ),
                name="proof_exactly_one_kind",
            )
        ]

    def __str__(self) -> str:
        return self.label or self.original_name or self.url or self.get_kind_display()

    @property
    def audit_organisation_id(self) -> int:
        return self.declaration.application.applicant_id


# --- Payments and financial reports ---------------------------------------------------------------


class PaymentStatus(models.TextChoices):
    REQUESTED = "demande", _("Demandé")
    APPROVED = "valide", _("Validé par l'ARS, mise en paiement")
    PAID = "paye", _("Payé")
    REFUSED = "refuse", _("Refusé")


class PaymentRequest(models.Model):
    """The applicant's payment request, made in the call's payment window, followed to paid."""

    application = models.OneToOneField(
        Application, on_delete=models.PROTECT, related_name="payment"
    )
    amount_eur = models.DecimalField(_("montant demandé (€)"), max_digits=14, decimal_places=2)
    status = models.CharField(
        _("statut"), max_length=10, choices=PaymentStatus.choices, default=PaymentStatus.REQUESTED
    )
    bank_account_holder = models.CharField(_("titulaire du compte"), max_length=255)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    requested_at = models.DateTimeField(_("demandé le"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("instruit le"), null=True, blank=True)
    decision_comment = models.TextField(_("commentaire de l'ARS"), blank=True)
    paid_eur = models.DecimalField(
        _("montant payé (€)"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    paid_on = models.DateField(_("payé le"), null=True, blank=True)
    payment_reference = models.CharField(_("référence du paiement"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("demande de paiement")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=PaymentStatus.values), name="payment_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(amount_eur__gte=0), name="payment_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=(
                    Q(status=PaymentStatus.PAID) & Q(paid_eur__gte=0) & Q(paid_on__isnull=False)
                )
                | (~Q(status=PaymentStatus.PAID) & Q(paid_eur__isnull=True)),
                name="payment_paid_has_amount_and_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount_eur} € — {self.get_status_display()}"

    @property
    def audit_organisation_id(self) -> int:
        return self.application.applicant_id


class ReportStatus(models.TextChoices):
    DRAFT = "brouillon", _("Brouillon")
    FILED = "depose", _("Déposé")
    ACCEPTED = "accepte", _("Accepté, solde")
    RECOVERY = "recouvrement", _("Accepté, trop-perçu à récupérer")
    RECOVERED = "recouvre", _("Trop-perçu récupéré")


class FinancialReport(models.Model):
    """The bilan financier: costs actually incurred since the call's publication, by eligible
    category. Amount due = min(eligible costs, the file's ceiling as engaged — engaged_eur, never
    above the ceiling); what was paid beyond it is recovered."""

    application = models.OneToOneField(
        Application, on_delete=models.PROTECT, related_name="financial_report"
    )
    status = models.CharField(
        _("statut"), max_length=15, choices=ReportStatus.choices, default=ReportStatus.DRAFT
    )
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    filed_at = models.DateTimeField(_("déposé le"), null=True, blank=True)
    # Computed when filed, kept as filed.
    eligible_costs_eur = models.DecimalField(
        _("dépenses éligibles (€)"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    amount_due_eur = models.DecimalField(
        _("montant dû (€)"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    paid_eur = models.DecimalField(
        _("montant déjà versé (€)"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    to_recover_eur = models.DecimalField(
        _("trop-perçu à récupérer (€)"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    balance_due_eur = models.DecimalField(
        _("solde restant à verser (€)"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(_("instruit le"), null=True, blank=True)
    review_comment = models.TextField(_("avis de l'ARS"), blank=True)
    recovered_on = models.DateField(_("trop-perçu récupéré le"), null=True, blank=True)

    class Meta:
        verbose_name = _("bilan financier")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ReportStatus.values), name="report_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status=ReportStatus.DRAFT)
                | (
                    Q(filed_at__isnull=False)
                    & Q(eligible_costs_eur__gte=0)
                    & Q(amount_due_eur__gte=0)
                    & Q(to_recover_eur__gte=0)
                    & Q(balance_due_eur__gte=0)
                ),
                name="report_filed_has_amounts",
            ),
        ]

    def __str__(self) -> str:
        return f"Bilan — {self.get_status_display()}"

    @property
    def audit_organisation_id(self) -> int:
        return self.application.applicant_id


class CostLine(models.Model):
    """One cost actually incurred (an invoice), by eligible category."""

    report = models.ForeignKey(FinancialReport, on_delete=models.CASCADE, related_name="lines")
    category = models.CharField(
        _("catégorie de dépense"), max_length=20, choices=ExpenseCategory.choices
    )
    supplier = models.CharField(_("fournisseur"), max_length=255)
    invoice_reference = models.CharField(_("référence de la facture"), max_length=100)
    invoice_date = models.DateField(_("date de la facture"))
    amount_eur = models.DecimalField(_("montant (€)"), max_digits=14, decimal_places=2)
    description = models.CharField(_("objet"), max_length=500, blank=True)

    class Meta:
        ordering = ["report", "invoice_date", "pk"]
        verbose_name = _("dépense engagée")
        constraints = [
            models.CheckConstraint(
                condition=Q(category__in=ExpenseCategory.values), name="cost_line_category_valid"
            ),
            models.CheckConstraint(condition=Q(amount_eur__gt=0), name="cost_line_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.supplier} {self.invoice_reference} : {self.amount_eur} €"

    @property
    def audit_organisation_id(self) -> int:
        return self.report.application.applicant_id


class ReminderSent(models.Model):
    """One reminder e-mail sent for a window closing (never sent twice)."""

    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="+")
    applicant = models.ForeignKey(
        "organisations.Organisation", on_delete=models.CASCADE, related_name="+"
    )
    window = models.CharField(_("guichet"), max_length=20)
    days_before = models.PositiveSmallIntegerField(_("jours avant la clôture"))
    recipients = models.PositiveIntegerField(_("destinataires"), default=0)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("relance envoyée")
        constraints = [
            models.UniqueConstraint(
                fields=["call", "applicant", "window", "days_before"], name="reminder_sent_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.window} J-{self.days_before}"
