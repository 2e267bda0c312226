"""Awareness: e-learning modules with their quiz, learners' attempts and certificates, and the
escape-game sessions the CRRC runs.

A module's content (sections and quiz) is versioned data loaded from `data/modules/*.yaml`
(see `learning_content`); each change of content bumps `version`. An attempt keeps a snapshot
of the questions as they were asked, the answers given and the score, so that editing a
question later never rewrites anybody's past result or certificate.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

DEFAULT_SCENARIO = "Sant'escape sécurité numérique"
DEFAULT_ESCAPE_MINUTES = 45


class Audience(models.TextChoices):
    STAFF = "personnels", _("Personnels des structures")
    EVERYONE = "tous", _("Personnels des structures et professionnels libéraux")


class Theme(models.TextChoices):
    PASSWORDS = "mots_de_passe", _("Mots de passe")
    PHISHING = "hameconnage", _("Hameçonnage")
    MOBILITY = "mobilite", _("Mobilité")
    HEALTH_DATA = "donnees_sante", _("Partage des données de santé")
    GENERAL = "general", _("Bonnes pratiques (quiz général)")


class QuestionKind(models.TextChoices):
    SINGLE = "unique", _("Choix unique")
    MULTIPLE = "multiple", _("Choix multiple")


class Module(models.Model):
    """An e-learning module and its quiz (national reference content, not tenant-owned)."""

    code = models.SlugField(_("code"), max_length=60, unique=True)
    title = models.CharField(_("titre"), max_length=200)
    summary = models.TextField(_("résumé"), blank=True)
    theme = models.CharField(_("thème"), max_length=20, choices=Theme.choices)
    audience = models.CharField(_("public"), max_length=20, choices=Audience.choices)
    duration_minutes = models.PositiveSmallIntegerField(_("durée (minutes)"))
    pass_mark = models.PositiveSmallIntegerField(_("seuil de réussite (%)"), default=80)
    position = models.PositiveSmallIntegerField(_("ordre"), default=0)
    # [{"title", "paragraphs": [...], "video_url"?, "scene"?: {...}}] — see module.schema.json.
    sections = models.JSONField(_("sections"), default=list)
    # [{"code", "text", "kind", "choices": [{"code", "text"}], "correct": [...], "explanation"}]
    questions = models.JSONField(_("questions"), default=list)
    version = models.PositiveIntegerField(_("version"), default=1)
    content_hash = models.CharField(max_length=64, editable=False)
    source_file = models.CharField(_("fichier source"), max_length=120, blank=True)
    is_active = models.BooleanField(_("publié"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "title"]
        verbose_name = _("module de sensibilisation")
        constraints = [
            models.CheckConstraint(
                condition=Q(pass_mark__gte=1, pass_mark__lte=100), name="module_pass_mark_range"
            ),
            models.CheckConstraint(
                condition=Q(audience__in=Audience.values), name="module_audience_valid"
            ),
            models.CheckConstraint(condition=Q(theme__in=Theme.values), name="module_theme_valid"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def question_count(self) -> int:
        return len(self.questions or [])


class Attempt(models.Model):
    """One submission of a module's quiz by a learner, frozen as it was scored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="awareness_attempts"
    )
    # The organisation the learner followed the module for (figures are per organisation).
    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="awareness_attempts"
    )
    module = models.ForeignKey(Module, on_delete=models.PROTECT, related_name="attempts")
    module_version = models.PositiveIntegerField(_("version du module"))
    module_title = models.CharField(_("titre du module"), max_length=200)
    pass_mark = models.PositiveSmallIntegerField(_("seuil de réussite (%)"))
    # [{"code", "text", "kind", "choices", "correct", "selected", "is_correct", "explanation"}]
    answers = models.JSONField(_("réponses"))
    correct_count = models.PositiveSmallIntegerField(_("bonnes réponses"))
    question_count = models.PositiveSmallIntegerField(_("questions"))
    score = models.PositiveSmallIntegerField(_("score (%)"))
    passed = models.BooleanField(_("réussi"))
    submitted_at = models.DateTimeField(_("envoyé le"))

    class Meta:
        ordering = ["-submitted_at", "-pk"]
        verbose_name = _("tentative de quiz")
        constraints = [
            models.CheckConstraint(condition=Q(score__lte=100), name="attempt_score_range"),
            models.CheckConstraint(
                condition=Q(correct_count__lte=models.F("question_count")),
                name="attempt_correct_le_questions",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "-submitted_at"], name="attempt_user_time"),
            models.Index(fields=["organisation", "module"], name="attempt_org_module"),
        ]

    def __str__(self) -> str:
        return f"{self.module_title} – {self.score} %"

    @property
    def audit_organisation_id(self) -> int | None:
        return self.organisation_id


class Certificate(models.Model):
    """The certificate of a passed attempt. What it states is copied at issue time; `code` is
    the unguessable verification code printed on it (public verification page)."""

    attempt = models.OneToOneField(Attempt, on_delete=models.CASCADE, related_name="certificate")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="awareness_certificates"
    )
    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    code = models.CharField(_("code de vérification"), max_length=40, unique=True)
    holder_name = models.CharField(_("titulaire"), max_length=310)
    organisation_name = models.CharField(_("organisation"), max_length=255)
    module_title = models.CharField(_("module"), max_length=200)
    module_version = models.PositiveIntegerField(_("version du module"))
    score = models.PositiveSmallIntegerField(_("score (%)"))
    issued_at = models.DateTimeField(_("délivrée le"))
    revoked_at = models.DateTimeField(_("révoquée le"), null=True, blank=True)

    class Meta:
        ordering = ["-issued_at"]
        verbose_name = _("attestation")

    def __str__(self) -> str:
        return f"{self.holder_name} – {self.module_title}"

    @property
    def audit_organisation_id(self) -> int | None:
        return self.organisation_id

    @property
    def holder_initials(self) -> str:
        """« A. G. »: all the public verification page says about the holder."""
        parts = [p for p in self.holder_name.replace("-", " ").split() if p]
        return " ".join(f"{p[0].upper()}." for p in parts) or "—"

    @property
    def is_valid(self) -> bool:
        return self.revoked_at is None


class EscapeGameSession(models.Model):
    """One escape-game session run by (or for) the CRRC at a host organisation."""

    region = models.ForeignKey(
        "organisations.Region", on_delete=models.PROTECT, related_name="escape_game_sessions"
    )
    host = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="hosted_escape_games",
        verbose_name=_("structure d'accueil"),
    )
    site = models.CharField(_("lieu"), max_length=200, blank=True)
    held_on = models.DateField(_("date"))
    facilitator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("animateur (compte)"),
    )
    facilitator_name = models.CharField(_("animateur"), max_length=200)
    scenario = models.CharField(_("scénario"), max_length=200, default=DEFAULT_SCENARIO)
    duration_minutes = models.PositiveSmallIntegerField(
        _("durée de jeu (minutes)"), default=DEFAULT_ESCAPE_MINUTES
    )
    team_count = models.PositiveSmallIntegerField(_("nombre d'équipes"), default=1)
    escaped = models.BooleanField(_("évadés"), null=True, blank=True)
    escape_minutes = models.PositiveSmallIntegerField(
        _("temps de sortie (minutes)"), null=True, blank=True
    )
    debrief = models.TextField(_("notes de débriefing"), blank=True)
    satisfaction = models.DecimalField(
        _("satisfaction (sur 10)"), max_digits=3, decimal_places=1, null=True, blank=True
    )
    participant_count = models.PositiveIntegerField(_("participants"), default=0)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-held_on", "-pk"]
        verbose_name = _("session d'escape game")
        constraints = [
            models.CheckConstraint(
                condition=Q(satisfaction__isnull=True)
                | Q(satisfaction__gte=0, satisfaction__lte=10),
                name="escape_satisfaction_range",
            ),
            models.CheckConstraint(condition=Q(team_count__gte=1), name="escape_team_count_min"),
            models.CheckConstraint(
                condition=Q(escape_minutes__isnull=True) | Q(escaped=True),
                name="escape_time_only_if_escaped",
            ),
        ]
        indexes = [models.Index(fields=["region", "-held_on"], name="escape_region_date")]

    def __str__(self) -> str:
        return f"{self.scenario} – {self.held_on:%d/%m/%Y}"

    @property
    def audit_organisation_id(self) -> int | None:
        return self.host_id


class EscapeGameParticipation(models.Model):
    """How many people of one organisation took part in a session (names optional)."""

    session = models.ForeignKey(
        EscapeGameSession, on_delete=models.CASCADE, related_name="participations"
    )
    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    count = models.PositiveIntegerField(_("participants"))
    names = models.TextField(_("noms (un par ligne)"), blank=True)

    class Meta:
        ordering = ["organisation__name"]
        verbose_name = _("participation à un escape game")
        constraints = [
            models.UniqueConstraint(
                fields=["session", "organisation"], name="escape_one_row_per_organisation"
            ),
            models.CheckConstraint(condition=Q(count__gte=1), name="escape_participation_min"),
        ]

    def __str__(self) -> str:
        return f"{self.organisation_id}: {self.count}"

    @property
    def audit_organisation_id(self) -> int | None:
        return self.organisation_id
