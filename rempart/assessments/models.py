"""Self-assessment and action plans: questionnaires as versioned data, an organisation's
assessments with their answers, evidence and scores, its action plan, and the region's
assessment campaigns.

A questionnaire is loaded from a YAML file in the library format of CISO Assistant (URN-based
requirement nodes carrying questions with choices and `depends_on`), checked against a schema;
a new version is a new row, with a mapping from the previous one so that answers carry over.
An assessment answers one version. Scores are computed by the services when answers change and
stored on the assessment (overall and per theme), so that regional distributions read one row
per assessment, never the answers.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class QuestionnaireKind(models.TextChoices):
    PRIORITY_ACTIONS = "priority_actions", _("Actions prioritaires")
    PREREQUISITES = "prerequisites", _("Prérequis")
    MATURITY = "maturity", _("Diagnostic de maturité")
    REFERENTIAL = "referential", _("Référentiel")


class QuestionnaireStatus(models.TextChoices):
    CURRENT = "current", _("Version en vigueur")
    SUPERSEDED = "superseded", _("Version remplacée")
    RETIRED = "retired", _("Retiré")


class Questionnaire(models.Model):
    """One version of a questionnaire (a « framework » in CISO Assistant's words). The shared
    library (`organisation` empty: shipped with Rempart or loaded by the platform's operators)
    is read by every organisation; a file an RSSI imports belongs to their organisation alone
    (`library_key` "org:<id>")."""

    library_key = models.CharField(max_length=40, editable=False, default="shared")
    organisation = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="own_questionnaires",
    )
    urn = models.CharField(_("URN"), max_length=200)
    ref_id = models.CharField(_("référence"), max_length=100)
    name = models.CharField(_("nom"), max_length=300)
    description = models.TextField(_("description"), blank=True)
    provider = models.CharField(_("auteur"), max_length=200, blank=True)
    kind = models.CharField(_("type"), max_length=20, choices=QuestionnaireKind.choices)
    version = models.PositiveIntegerField(_("version"), default=1)
    status = models.CharField(
        _("statut"),
        max_length=20,
        choices=QuestionnaireStatus.choices,
        default=QuestionnaireStatus.CURRENT,
    )
    # The score is shown only once this share of the applicable scored questions is answered.
    min_answered_percent = models.PositiveSmallIntegerField(
        _("seuil d'affichage du score (%)"), default=80
    )
    previous = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="next_versions"
    )
    # From the previous version: {"questions": {old_urn: new_urn}, "choices": {old: new}}.
    mapping = models.JSONField(_("correspondance avec la version précédente"), default=dict)
    source_format = models.CharField(max_length=30, default="rempart")  # or "ciso_assistant"
    source_sha256 = models.CharField(max_length=64, editable=False)
    loaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    loaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-version"]
        verbose_name = _("questionnaire")
        constraints = [
            models.UniqueConstraint(
                fields=["library_key", "urn", "version"], name="questionnaire_unique_version"
            ),
            models.UniqueConstraint(
                fields=["library_key", "urn"],
                condition=Q(status="current"),
                name="questionnaire_one_current",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=QuestionnaireKind.values), name="questionnaire_kind"
            ),
            models.CheckConstraint(
                condition=Q(status__in=QuestionnaireStatus.values), name="questionnaire_status"
            ),
            models.CheckConstraint(
                condition=Q(min_answered_percent__lte=100), name="questionnaire_threshold"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (v{self.version})"

    def save(self, *args, **kwargs):
        self.library_key = f"org:{self.organisation_id}" if self.organisation_id else "shared"
        super().save(*args, **kwargs)

    @property
    def audit_organisation_id(self) -> int | None:
        return self.organisation_id


class Importance(models.TextChoices):
    MANDATORY = "mandatory", _("Obligatoire")
    RECOMMENDED = "recommended", _("Recommandé")
    NICE_TO_HAVE = "nice_to_have", _("Souhaitable")


class RequirementNode(models.Model):
    """A node of the questionnaire's tree: a theme (depth 1) or a requirement under it.
    `theme` is the depth-1 ancestor (itself for a theme), kept to score by theme in one pass."""

    questionnaire = models.ForeignKey(Questionnaire, on_delete=models.CASCADE, related_name="nodes")
    urn = models.CharField(_("URN"), max_length=300)
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="children"
    )
    theme = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    order = models.PositiveIntegerField(_("ordre"))
    depth = models.PositiveSmallIntegerField(_("profondeur"), default=1)
    assessable = models.BooleanField(_("évaluable"), default=False)
    ref_id = models.CharField(_("référence"), max_length=100, blank=True)
    name = models.CharField(_("intitulé"), max_length=500, blank=True)
    description = models.TextField(_("description"), blank=True)
    typical_evidence = models.TextField(_("preuves attendues"), blank=True)
    importance = models.CharField(
        _("importance"), max_length=20, choices=Importance.choices, blank=True
    )
    weight = models.PositiveSmallIntegerField(_("poids"), default=1)

    class Meta:
        ordering = ["questionnaire", "order"]
        verbose_name = _("exigence")
        constraints = [
            models.UniqueConstraint(fields=["questionnaire", "urn"], name="node_unique_urn"),
            models.UniqueConstraint(fields=["questionnaire", "order"], name="node_unique_order"),
        ]

    def __str__(self) -> str:
        return self.name or self.ref_id or self.urn


class QuestionKind(models.TextChoices):
    SINGLE_CHOICE = "unique_choice", _("Choix unique")
    MULTIPLE_CHOICE = "multiple_choice", _("Choix multiple")
    YES_NO = "yes_no", _("Oui / non")
    NUMBER = "number", _("Nombre")
    TEXT = "text", _("Texte")
    DATE = "date", _("Date")


class DependsOnCondition(models.TextChoices):
    ANY = "any", _("l'une des réponses")
    ALL = "all", _("toutes les réponses")


class Question(models.Model):
    """A question of a requirement node. Shown only when `depends_on` is met (an answer to a
    hidden question is ignored and never scored)."""

    questionnaire = models.ForeignKey(
        Questionnaire, on_delete=models.CASCADE, related_name="questions"
    )
    node = models.ForeignKey(RequirementNode, on_delete=models.CASCADE, related_name="questions")
    urn = models.CharField(_("URN"), max_length=300)
    order = models.PositiveIntegerField(_("ordre"))
    kind = models.CharField(_("type"), max_length=20, choices=QuestionKind.choices)
    text = models.TextField(_("question"))
    help_text = models.TextField(_("aide"), blank=True)
    weight = models.PositiveSmallIntegerField(_("poids"), default=1)
    depends_on = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="dependents"
    )
    depends_on_choices = models.JSONField(default=list, blank=True)  # choice URNs
    depends_on_condition = models.CharField(
        max_length=5, choices=DependsOnCondition.choices, default=DependsOnCondition.ANY
    )

    class Meta:
        ordering = ["questionnaire", "order"]
        verbose_name = _("question")
        constraints = [
            models.UniqueConstraint(fields=["questionnaire", "urn"], name="question_unique_urn"),
            models.UniqueConstraint(
                fields=["questionnaire", "order"], name="question_unique_order"
            ),
            models.CheckConstraint(condition=Q(kind__in=QuestionKind.values), name="question_kind"),
        ]

    def __str__(self) -> str:
        return self.text[:80]

    @property
    def is_scored(self) -> bool:
        return self.kind in (
            QuestionKind.SINGLE_CHOICE,
            QuestionKind.MULTIPLE_CHOICE,
            QuestionKind.YES_NO,
        )


class Choice(models.Model):
    """A possible answer. `score` is None for an answer that is not scored (« je ne sais pas »,
    « non applicable »): such an answer counts as answered but is left out of the score."""

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="choices")
    urn = models.CharField(_("URN"), max_length=300)
    order = models.PositiveSmallIntegerField(_("ordre"))
    label = models.CharField(_("réponse"), max_length=500)
    description = models.TextField(_("précision"), blank=True)
    score = models.DecimalField(_("valeur"), max_digits=6, decimal_places=2, null=True, blank=True)

    class Meta:
        ordering = ["question", "order"]
        verbose_name = _("réponse possible")
        constraints = [
            models.UniqueConstraint(fields=["question", "urn"], name="choice_unique_urn"),
            models.UniqueConstraint(fields=["question", "order"], name="choice_unique_order"),
        ]

    def __str__(self) -> str:
        return self.label


class Measure(models.Model):
    """A measure recommended when one of its `choices` is the answer, with a priority
    (1: to do first). It may name the CaRE domain that funds it."""

    questionnaire = models.ForeignKey(
        Questionnaire, on_delete=models.CASCADE, related_name="measures"
    )
    urn = models.CharField(_("URN"), max_length=300)
    title = models.CharField(_("mesure"), max_length=300)
    description = models.TextField(_("description"), blank=True)
    priority = models.PositiveSmallIntegerField(_("priorité"), default=2)
    care_domain_code = models.CharField(_("domaine CaRE"), max_length=10, blank=True)
    choices = models.ManyToManyField(Choice, related_name="measures", blank=True)

    class Meta:
        ordering = ["questionnaire", "priority", "title"]
        verbose_name = _("mesure")
        constraints = [
            models.UniqueConstraint(fields=["questionnaire", "urn"], name="measure_unique_urn"),
            models.CheckConstraint(
                condition=Q(priority__gte=1, priority__lte=4), name="measure_priority_range"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class CampaignStatus(models.TextChoices):
    OPEN = "open", _("En cours")
    CLOSED = "closed", _("Close")


class AssessmentCampaign(models.Model):
    """A regional campaign: one assessment per organisation of the population, by a
    deadline, with reminders."""

    region = models.ForeignKey(
        "organisations.Region", on_delete=models.PROTECT, related_name="assessment_campaigns"
    )
    organiser = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="assessment_campaigns",
        verbose_name=_("organisateur"),
    )
    questionnaire = models.ForeignKey(
        Questionnaire, on_delete=models.PROTECT, related_name="campaigns"
    )
    title = models.CharField(_("titre"), max_length=200)
    message = models.TextField(_("message aux établissements"), blank=True)
    opens_on = models.DateField(_("ouverture"))
    deadline = models.DateField(_("échéance"))
    population = models.JSONField(_("population"), default=list)  # OrgKind values
    reminder_days = models.JSONField(_("relances (jours avant l'échéance)"), default=list)
    status = models.CharField(
        _("statut"), max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.OPEN
    )
    # Brief H (campaigns): optional narrowing of the population ({"sector": "sanitaire",
    # "categories": [ids], "departements": [ids]}), and when the assessments were created.
    filters = models.JSONField(_("filtres de la population"), default=dict, blank=True)
    launched_at = models.DateTimeField(_("lancée le"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-opens_on", "-pk"]
        verbose_name = _("campagne d'autoévaluation")
        constraints = [
            models.CheckConstraint(
                condition=Q(deadline__gte=models.F("opens_on")), name="campaign_deadline_after_open"
            ),
            models.CheckConstraint(
                condition=Q(status__in=CampaignStatus.values), name="assessment_campaign_status"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def audit_organisation_id(self) -> int | None:
        return self.organiser_id


class CampaignNoticeKind(models.TextChoices):
    INVITATION = "invitation", _("Invitation")
    REMINDER = "reminder", _("Relance")


class CampaignNotice(models.Model):
    """Brief H (campaigns): an e-mail of a campaign to one organisation's assessors, recorded
    with the e-mail so that the daily task never sends it twice (`days_before`: the reminder
    day, 0 for the invitation)."""

    campaign = models.ForeignKey(
        AssessmentCampaign, on_delete=models.CASCADE, related_name="notices"
    )
    # The organisation's assessment requested by the campaign (the notice is about it).
    assessment = models.ForeignKey(
        "Assessment", on_delete=models.CASCADE, related_name="campaign_notices"
    )
    kind = models.CharField(max_length=20, choices=CampaignNoticeKind.choices)
    days_before = models.PositiveSmallIntegerField(default=0)
    recipients = models.PositiveSmallIntegerField(default=0)
    sent_at = models.DateTimeField()

    class Meta:
        ordering = ["campaign", "assessment", "sent_at"]
        verbose_name = _("courriel de campagne")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "assessment", "kind", "days_before"],
                name="campaign_notice_once",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=CampaignNoticeKind.values), name="campaign_notice_kind"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.assessment_id} {self.kind} J-{self.days_before}"


class AssessmentStatus(models.TextChoices):
    DRAFT = "draft", _("En cours")
    COMPLETED = "completed", _("Terminée")


class Assessment(models.Model):
    """An organisation's answers to one questionnaire version. Scores are stored by the
    services: `score` (0–100) and `theme_scores` ({theme node URN: 0–100}) are None / missing
    until `min_answered_percent` of the applicable scored questions are answered."""

    organisation = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="assessments",
        verbose_name=_("organisation"),
    )
    questionnaire = models.ForeignKey(
        Questionnaire, on_delete=models.PROTECT, related_name="assessments"
    )
    campaign = models.ForeignKey(
        AssessmentCampaign,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assessments",
    )
    status = models.CharField(
        _("statut"), max_length=20, choices=AssessmentStatus.choices, default=AssessmentStatus.DRAFT
    )
    score = models.DecimalField(_("score"), max_digits=5, decimal_places=1, null=True, blank=True)
    theme_scores = models.JSONField(_("scores par thème"), default=dict)
    answered_count = models.PositiveIntegerField(default=0)
    applicable_count = models.PositiveIntegerField(default=0)  # visible scored questions
    # The organisation lets its region's ARS and CRRC read its answers (they always see the
    # completion and the scores, never the answers otherwise).
    shared_with_region = models.BooleanField(
        _("réponses partagées avec l'ARS et le CRRC"), default=False
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(_("terminée le"), null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-started_at", "-pk"]
        verbose_name = _("autoévaluation")
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "questionnaire"],
                condition=Q(status="draft"),
                name="assessment_one_draft_per_version",
            ),
            models.UniqueConstraint(
                fields=["campaign", "organisation"],
                condition=Q(campaign__isnull=False),
                name="assessment_one_per_campaign",
            ),
            models.CheckConstraint(
                condition=Q(status__in=AssessmentStatus.values), name="assessment_status"
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(completed_at__isnull=False),
                name="assessment_completed_has_date",
            ),
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__gte=0, score__lte=100),
                name="assessment_score_range",
            ),
        ]
        indexes = [
            models.Index(
                fields=["questionnaire", "status", "organisation"], name="assessment_distribution"
            ),
            models.Index(fields=["organisation", "-completed_at"], name="assessment_org_history"),
        ]

    def __str__(self) -> str:
        return f"{self.questionnaire} — {self.organisation_id}"

    @property
    def audit_organisation_id(self) -> int | None:
        return self.organisation_id


class Answer(models.Model):
    """The answer to one question: a choice (single, yes/no), choices (multiple), a number, a
    text or a date. `score` is its normalised value (0–100), None when not scored."""

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="answers")
    choice = models.ForeignKey(
        Choice, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    choices = models.ManyToManyField(Choice, blank=True, related_name="+")
    number_value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    text_value = models.TextField(blank=True)
    date_value = models.DateField(null=True, blank=True)
    score = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    comment = models.TextField(_("commentaire"), blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    answered_at = models.DateTimeField()

    class Meta:
        ordering = ["assessment", "question__order"]
        verbose_name = _("réponse")
        constraints = [
            models.UniqueConstraint(
                fields=["assessment", "question"], name="answer_one_per_question"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.question_id}: {self.choice_id or self.text_value or self.number_value}"

    @property
    def audit_organisation_id(self) -> int | None:
        return (
            Assessment.objects.filter(pk=self.assessment_id)
            .values_list("organisation_id", flat=True)
            .first()
        )


def private_evidence_path(instance, filename: str) -> str:
    """Stored under a random name: the original name is kept in the row, never in the path."""
    import secrets

    return f"private/assessments/{instance.assessment.organisation_id}/{secrets.token_hex(16)}"


class Evidence(models.Model):
    """A proof attached to an assessment (or one requirement of it): the file with its SHA-256,
    the date it is true from and, when it has one, its expiry (then flagged)."""

    assessment = models.ForeignKey(Assessment, on_delete=models.CASCADE, related_name="evidence")
    node = models.ForeignKey(
        RequirementNode, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    title = models.CharField(_("intitulé"), max_length=300)
    file = models.FileField(_("fichier"), upload_to=private_evidence_path, max_length=255)
    original_name = models.CharField(_("nom du fichier"), max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(_("empreinte SHA-256"), max_length=64)
    effective_on = models.DateField(_("en vigueur depuis"))
    expires_on = models.DateField(_("expire le"), null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["assessment", "-uploaded_at"]
        verbose_name = _("preuve")
        constraints = [
            models.CheckConstraint(
                condition=Q(sha256__regex=r"^[0-9a-f]{64}$"), name="assessment_evidence_sha256"
            ),
            models.CheckConstraint(
                condition=Q(expires_on__isnull=True) | Q(expires_on__gte=models.F("effective_on")),
                name="assessment_evidence_expiry_after_effect",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def audit_organisation_id(self) -> int | None:
        return (
            Assessment.objects.filter(pk=self.assessment_id)
            .values_list("organisation_id", flat=True)
            .first()
        )


class ActionStatus(models.TextChoices):
    TODO = "todo", _("À faire")
    IN_PROGRESS = "in_progress", _("En cours")
    DONE = "done", _("Faite")
    ABANDONED = "abandoned", _("Abandonnée")


class ActionPriority(models.TextChoices):
    HIGH = "high", _("Haute")
    MEDIUM = "medium", _("Moyenne")
    LOW = "low", _("Basse")


class Action(models.Model):
    """A measure of the organisation's action plan: from a gap of an assessment, a debrief of
    a crisis exercise, or written by hand. A due date in the past is allowed (flagged)."""

    organisation = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="plan_actions",
        verbose_name=_("organisation"),
    )
    title = models.CharField(_("mesure"), max_length=300)
    description = models.TextField(_("description"), blank=True)
    owner = models.CharField(_("responsable"), max_length=200, blank=True)
    due_on = models.DateField(_("échéance"), null=True, blank=True)
    status = models.CharField(
        _("statut"), max_length=20, choices=ActionStatus.choices, default=ActionStatus.TODO
    )
    priority = models.CharField(
        _("priorité"), max_length=10, choices=ActionPriority.choices, default=ActionPriority.MEDIUM
    )
    estimated_cost_eur = models.DecimalField(
        _("coût estimé (€)"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    care_domain = models.ForeignKey(
        "programme.Domain",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="plan_actions",
        verbose_name=_("domaine CaRE"),
    )
    source_assessment = models.ForeignKey(
        Assessment, on_delete=models.SET_NULL, null=True, blank=True, related_name="actions"
    )
    source_question = models.ForeignKey(
        Question, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source_measure = models.ForeignKey(
        Measure, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # An action decided at the RETEX of one of the organisation's crisis exercises.
    source_debrief_action = models.ForeignKey(
        "exercises.DebriefAction",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="plan_actions",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    done_on = models.DateField(_("faite le"), null=True, blank=True)

    class Meta:
        ordering = ["organisation", "due_on", "pk"]
        verbose_name = _("action du plan")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ActionStatus.values), name="plan_action_status"
            ),
            models.CheckConstraint(
                condition=Q(priority__in=ActionPriority.values), name="plan_action_priority"
            ),
            models.CheckConstraint(
                condition=Q(estimated_cost_eur__isnull=True) | Q(estimated_cost_eur__gte=0),
                name="plan_action_cost_positive",
            ),
            models.CheckConstraint(
                condition=~Q(status="done") | Q(done_on__isnull=False),
                name="plan_action_done_has_date",
            ),
            models.UniqueConstraint(
                fields=["organisation", "source_debrief_action"],
                condition=Q(source_debrief_action__isnull=False),
                name="plan_action_one_per_retex_action",
            ),
        ]
        indexes = [
            models.Index(fields=["organisation", "status", "due_on"], name="plan_action_org")
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def audit_organisation_id(self) -> int | None:
        return self.organisation_id
