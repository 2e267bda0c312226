"""Cyber crisis exercises: the scenario library, exercise runs with their timeline of injects,
participants reached by signed links, the journal, the evaluation, the debrief (RETEX) with its
actions, and the coverage records the ARS indicator is computed from.

Ownership: a library scenario belongs to a library (national content shipped with Rempart, a
region's CRRC library, or one establishment's own scenarios: `library_key`); a run belongs to the
organisation that holds it (an establishment, or the CRRC/ARS for a regional exercise, where
participants come from several establishments). A run copies its scenario's injects when it is
planned, so the record stays what was played even after the library moves on.

Coverage: one `CoverageRecord` per (run, participating organisation), recomputed by the
services from the records whenever the run changes, with the validity rule's verdict and its
reasons. Nobody declares coverage by hand.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Level(models.TextChoices):
    BEGINNER = "beginner", _("Débutant")
    INTERMEDIATE = "intermediate", _("Intermédiaire")
    EXPERT = "expert", _("Expert")


class Theme(models.TextChoices):
    RANSOMWARE = "ransomware", _("Rançongiciel")
    SUPPLIER_OUTAGE = "supplier_outage", _("Défaillance d'un prestataire")
    DATA_LEAK = "data_leak", _("Fuite de données")
    ACCOUNT_COMPROMISE = "account_compromise", _("Compromission de comptes")
    DENIAL_OF_SERVICE = "denial_of_service", _("Déni de service")
    MEDICAL_DEVICE = "medical_device", _("Dispositif médical compromis")
    OTHER = "other", _("Autre")


class Function(models.TextChoices):
    """Functions that take part in a crisis exercise. The validity rule (data/validity.yaml)
    says which ones must be there: management and business directions, not IT alone."""

    GENERAL_MANAGEMENT = "general_management", _("Direction générale")
    MEDICAL = "medical", _("Direction médicale / CME")
    CARE = "care", _("Direction des soins / de l'accompagnement")
    ADMINISTRATION = "administration", _("Direction administrative et financière")
    IT = "it", _("Direction du numérique (SI)")
    COMMUNICATION = "communication", _("Communication")
    QUALITY = "quality", _("Qualité et gestion des risques")
    LOGISTICS = "logistics", _("Logistique et services techniques")


FUNCTION_LABELS = dict(Function.choices)


class Channel(models.TextChoices):
    EMAIL = "email", _("Courriel")
    SCREEN = "screen", _("À l'écran")


class ScenarioStatus(models.TextChoices):
    CURRENT = "current", _("Version en vigueur")
    SUPERSEDED = "superseded", _("Version remplacée")
    RETIRED = "retired", _("Retiré")


class Scenario(models.Model):
    """One version of a scenario. A new version is a new row; runs keep the version they
    played. `library_key` names the library: "national", "region:<id>" (the CRRC's) or
    "org:<id>" (an establishment's own scenarios, seen by it alone)."""

    library_key = models.CharField(max_length=40, editable=False)
    region = models.ForeignKey(
        "organisations.Region",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="exercise_scenarios",
    )
    organisation = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="own_exercise_scenarios",
    )
    slug = models.SlugField(_("identifiant"), max_length=80)
    version = models.PositiveIntegerField(_("version"), default=1)
    status = models.CharField(
        _("statut"), max_length=20, choices=ScenarioStatus.choices, default=ScenarioStatus.CURRENT
    )
    title = models.CharField(_("titre"), max_length=200)
    level = models.CharField(_("niveau"), max_length=20, choices=Level.choices)
    theme = models.CharField(_("thème"), max_length=30, choices=Theme.choices)
    # The programme counts only exercises triggered by a cyber scenario.
    is_cyber = models.BooleanField(_("déclenché par un scénario cyber"), default=True)
    summary = models.TextField(_("résumé"))
    objectives = models.JSONField(_("objectifs"), default=list)
    duration_minutes = models.PositiveIntegerField(_("durée (minutes)"))
    functions = models.JSONField(_("fonctions attendues"), default=list)  # Function values
    # Evaluation grid: [{"code": ..., "label": ...}]; the runs copy it.
    criteria = models.JSONField(_("grille d'évaluation"), default=list)
    changelog = models.TextField(_("évolutions de cette version"), blank=True)
    source_sha256 = models.CharField(max_length=64, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["level", "title", "-version"]
        verbose_name = _("scénario d'exercice")
        constraints = [
            models.UniqueConstraint(
                fields=["library_key", "slug", "version"], name="scenario_unique_version"
            ),
            models.UniqueConstraint(
                fields=["library_key", "slug"],
                condition=Q(status="current"),
                name="scenario_one_current_version",
            ),
            models.CheckConstraint(
                condition=Q(region__isnull=True) | Q(organisation__isnull=True),
                name="scenario_region_or_organisation",
            ),
            models.CheckConstraint(condition=Q(level__in=Level.values), name="scenario_level"),
            models.CheckConstraint(condition=Q(theme__in=Theme.values), name="scenario_theme"),
            models.CheckConstraint(
                condition=Q(status__in=ScenarioStatus.values), name="scenario_status"
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="scenario_version_positive"),
            models.CheckConstraint(
                condition=Q(duration_minutes__gt=0), name="scenario_duration_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} (v{self.version})"

    def save(self, *args, **kwargs):
        self.library_key = self.key_for(
            region_id=self.region_id, organisation_id=self.organisation_id
        )
        super().save(*args, **kwargs)

    @staticmethod
    def key_for(*, region_id: int | None = None, organisation_id: int | None = None) -> str:
        if organisation_id:
            return f"org:{organisation_id}"
        if region_id:
            return f"region:{region_id}"
        return "national"

    @property
    def audit_organisation_id(self) -> int | None:
        return self.organisation_id

    @property
    def function_labels(self) -> list[str]:
        return [str(FUNCTION_LABELS[f]) for f in self.functions or [] if f in FUNCTION_LABELS]


class ScenarioInject(models.Model):
    """A message of the scenario's timeline: released `offset_minutes` after the start to the
    given functions, by e-mail or on screen, with the reactions the facilitator expects."""

    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="injects")
    order = models.PositiveIntegerField(_("ordre"))
    offset_minutes = models.PositiveIntegerField(_("décalage (minutes)"))
    title = models.CharField(_("titre"), max_length=200)
    body = models.TextField(_("message"))
    channel = models.CharField(_("canal"), max_length=10, choices=Channel.choices)
    functions = models.JSONField(_("destinataires"), default=list)  # Function values
    expected_reactions = models.TextField(_("réactions attendues"), blank=True)

    class Meta:
        ordering = ["scenario", "order"]
        verbose_name = _("stimulus du scénario")
        constraints = [
            models.UniqueConstraint(fields=["scenario", "order"], name="scenario_inject_order"),
            models.CheckConstraint(
                condition=Q(channel__in=Channel.values), name="scenario_inject_channel"
            ),
        ]

    def __str__(self) -> str:
        return f"T+{self.offset_minutes} {self.title}"


class RunKind(models.TextChoices):
    ESTABLISHMENT = "establishment", _("Exercice de l'établissement")
    REGIONAL = "regional", _("Exercice régional")


class RunStatus(models.TextChoices):
    PLANNED = "planned", _("Planifié")
    RUNNING = "running", _("En cours")
    PAUSED = "paused", _("En pause")
    FINISHED = "finished", _("Joué")
    CANCELLED = "cancelled", _("Annulé")


class ExerciseRun(models.Model):
    """One exercise, planned then played: its timeline is the run's own copy of the injects.
    Offsets are counted in exercise time: pauses do not advance the timeline."""

    organisation = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="exercise_runs",
        verbose_name=_("organisation"),
    )
    region = models.ForeignKey(
        "organisations.Region", on_delete=models.PROTECT, related_name="exercise_runs"
    )
    kind = models.CharField(
        _("type"), max_length=20, choices=RunKind.choices, default=RunKind.ESTABLISHMENT
    )
    scenario = models.ForeignKey(
        Scenario,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="runs",
        verbose_name=_("scénario"),
    )
    title = models.CharField(_("titre"), max_length=200)
    level = models.CharField(_("niveau"), max_length=20, choices=Level.choices)
    theme = models.CharField(_("thème"), max_length=30, choices=Theme.choices)
    is_cyber = models.BooleanField(_("déclenché par un scénario cyber"), default=True)
    objectives = models.TextField(_("objectifs"), blank=True)
    criteria = models.JSONField(_("grille d'évaluation"), default=list)
    planned_start = models.DateTimeField(_("date et heure prévues"))
    location = models.CharField(_("lieu"), max_length=300, blank=True)
    status = models.CharField(
        _("statut"), max_length=20, choices=RunStatus.choices, default=RunStatus.PLANNED
    )
    started_at = models.DateTimeField(_("commencé le"), null=True, blank=True)
    paused_at = models.DateTimeField(_("en pause depuis"), null=True, blank=True)
    paused_seconds = models.PositiveIntegerField(default=0)  # total of the ended pauses
    ended_at = models.DateTimeField(_("terminé le"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("annulé le"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-planned_start", "-pk"]
        verbose_name = _("exercice de crise")
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=RunKind.values), name="run_kind"),
            models.CheckConstraint(condition=Q(status__in=RunStatus.values), name="run_status"),
            models.CheckConstraint(condition=Q(level__in=Level.values), name="run_level"),
            models.CheckConstraint(condition=Q(theme__in=Theme.values), name="run_theme"),
            models.CheckConstraint(
                condition=Q(status="planned") | Q(status="cancelled") | Q(started_at__isnull=False),
                name="run_started_when_played",
            ),
            models.CheckConstraint(
                condition=Q(paused_at__isnull=True) | Q(status="paused"),
                name="run_paused_at_iff_paused",
            ),
            models.CheckConstraint(
                condition=~Q(status="finished") | Q(ended_at__isnull=False),
                name="run_finished_has_end",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("started_at")),
                name="run_ends_after_start",
            ),
        ]
        indexes = [
            models.Index(fields=["organisation", "-planned_start"], name="run_org_planned"),
            models.Index(fields=["region", "kind", "-planned_start"], name="run_region_kind"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def audit_organisation_id(self) -> int | None:
        return self.organisation_id

    @property
    def is_regional(self) -> bool:
        return self.kind == RunKind.REGIONAL


class ParticipantRole(models.TextChoices):
    PLAYER = "player", _("Joueur")
    OBSERVER = "observer", _("Observateur")
    FACILITATOR = "facilitator", _("Animateur")


class ExerciseParticipant(models.Model):
    """A person who plays (or observes) the exercise for one function of one organisation.
    They need no account: their signed link (only its hash is stored) shows the injects
    released to their function, until it expires."""

    run = models.ForeignKey(ExerciseRun, on_delete=models.CASCADE, related_name="participants")
    organisation = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="exercise_participations",
        verbose_name=_("organisation"),
    )
    function = models.CharField(_("fonction"), max_length=30, choices=Function.choices)
    role = models.CharField(
        _("rôle"), max_length=20, choices=ParticipantRole.choices, default=ParticipantRole.PLAYER
    )
    full_name = models.CharField(_("nom et prénom"), max_length=200)
    job_title = models.CharField(_("intitulé du poste"), max_length=200, blank=True)
    email = models.EmailField(_("courriel"), blank=True)
    attended = models.BooleanField(_("a participé"), null=True, blank=True)
    link_token_hash = models.CharField(max_length=64, blank=True, editable=False)
    link_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    link_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "function", "full_name", "pk"]
        verbose_name = _("participant à l'exercice")
        constraints = [
            models.CheckConstraint(
                condition=Q(function__in=Function.values), name="participant_function"
            ),
            models.CheckConstraint(
                condition=Q(role__in=ParticipantRole.values), name="participant_role"
            ),
            models.UniqueConstraint(
                fields=["link_token_hash"],
                condition=~Q(link_token_hash=""),
                name="participant_unique_link",
            ),
        ]
        indexes = [models.Index(fields=["organisation", "run"], name="participant_org_run")]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.get_function_display()})"

    @property
    def audit_organisation_id(self) -> int | None:
        return self.organisation_id


class PartOfRun:
    """Audited records of a run (inject, evaluation, RETEX): the trail files them under the
    organisation that holds the run."""

    @property
    def audit_organisation_id(self) -> int | None:
        return (
            ExerciseRun.objects.filter(pk=self.run_id)
            .values_list("organisation_id", flat=True)
            .first()
        )


class RunInject(PartOfRun, models.Model):
    """The run's copy of an inject (editable until released). `released_at` is set once, by
    the timeline or by the facilitator's « release now »."""

    run = models.ForeignKey(ExerciseRun, on_delete=models.CASCADE, related_name="injects")
    order = models.PositiveIntegerField(_("ordre"))
    offset_minutes = models.PositiveIntegerField(_("décalage (minutes)"))
    title = models.CharField(_("titre"), max_length=200)
    body = models.TextField(_("message"))
    channel = models.CharField(_("canal"), max_length=10, choices=Channel.choices)
    functions = models.JSONField(_("destinataires"), default=list)
    expected_reactions = models.TextField(_("réactions attendues"), blank=True)
    released_at = models.DateTimeField(_("diffusé le"), null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["run", "order"]
        verbose_name = _("stimulus")
        constraints = [
            models.UniqueConstraint(fields=["run", "order"], name="run_inject_order"),
            models.CheckConstraint(
                condition=Q(channel__in=Channel.values), name="run_inject_channel"
            ),
        ]
        indexes = [models.Index(fields=["run", "released_at"], name="run_inject_released")]

    def __str__(self) -> str:
        return f"T+{self.offset_minutes} {self.title}"


class EntryKind(models.TextChoices):
    EVENT = "event", _("Déroulé")  # start, pause, resume, release, end: written by the services
    REACTION = "reaction", _("Réaction observée")
    DECISION = "decision", _("Décision")
    OBSERVATION = "observation", _("Note d'observateur")
    MESSAGE = "message", _("Message d'un participant")


class JournalEntry(models.Model):
    """The exercise journal, append-only: what happened, when (wall clock and exercise time),
    written by the facilitator, an observer or a participant through their link."""

    run = models.ForeignKey(ExerciseRun, on_delete=models.CASCADE, related_name="journal")
    at = models.DateTimeField(_("heure"))
    exercise_seconds = models.PositiveIntegerField(_("temps d'exercice (s)"), null=True, blank=True)
    kind = models.CharField(_("type"), max_length=20, choices=EntryKind.choices)
    inject = models.ForeignKey(
        RunInject, on_delete=models.SET_NULL, null=True, blank=True, related_name="journal"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    participant = models.ForeignKey(
        ExerciseParticipant,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="journal",
    )
    text = models.TextField(_("texte"))

    class Meta:
        ordering = ["run", "at", "pk"]
        verbose_name = _("entrée du journal")
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=EntryKind.values), name="journal_kind"),
        ]

    def __str__(self) -> str:
        return self.text[:60]


class Evaluation(PartOfRun, models.Model):
    """The evaluation grid filled after the exercise: per criterion a score from 1 (not
    achieved) to 4 (fully achieved) and a comment; `scores` = {code: {"score": n, "comment": s}}."""

    run = models.OneToOneField(ExerciseRun, on_delete=models.CASCADE, related_name="evaluation")
    scores = models.JSONField(_("notes"), default=dict)
    objectives_met = models.TextField(_("atteinte des objectifs"), blank=True)
    summary = models.TextField(_("synthèse"), blank=True)
    evaluated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    evaluated_at = models.DateTimeField(_("évalué le"))

    class Meta:
        verbose_name = _("évaluation")

    def __str__(self) -> str:
        return f"Évaluation de {self.run_id}"


class Debrief(PartOfRun, models.Model):
    """The RETEX: held after the exercise with the players, what went well, what must improve,
    and the actions decided (which may feed the establishment's action plan)."""

    run = models.OneToOneField(ExerciseRun, on_delete=models.CASCADE, related_name="debrief")
    held_on = models.DateField(_("tenu le"))
    strengths = models.TextField(_("points forts"))
    improvements = models.TextField(_("axes d'amélioration"))
    notes = models.TextField(_("compte rendu"), blank=True)
    written_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("retour d'expérience (RETEX)")

    def __str__(self) -> str:
        return f"RETEX de {self.run_id}"


class ActionPriority(models.TextChoices):
    HIGH = "high", _("Haute")
    MEDIUM = "medium", _("Moyenne")
    LOW = "low", _("Basse")


class ActionStatus(models.TextChoices):
    TODO = "todo", _("À faire")
    IN_PROGRESS = "in_progress", _("En cours")
    DONE = "done", _("Faite")


class DebriefAction(models.Model):
    debrief = models.ForeignKey(Debrief, on_delete=models.CASCADE, related_name="actions")
    title = models.CharField(_("action"), max_length=300)
    owner = models.CharField(_("responsable"), max_length=200, blank=True)
    due_on = models.DateField(_("échéance"), null=True, blank=True)
    priority = models.CharField(
        _("priorité"), max_length=10, choices=ActionPriority.choices, default=ActionPriority.MEDIUM
    )
    status = models.CharField(
        _("statut"), max_length=20, choices=ActionStatus.choices, default=ActionStatus.TODO
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["debrief", "due_on", "pk"]
        verbose_name = _("action issue du RETEX")
        constraints = [
            models.CheckConstraint(
                condition=Q(priority__in=ActionPriority.values), name="debrief_action_priority"
            ),
            models.CheckConstraint(
                condition=Q(status__in=ActionStatus.values), name="debrief_action_status"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def audit_organisation_id(self) -> int | None:
        return (
            ExerciseRun.objects.filter(debrief__pk=self.debrief_id)
            .values_list("organisation_id", flat=True)
            .first()
        )


class CoverageRecord(models.Model):
    """The validity rule's verdict for one organisation's part in one run: whether it counts
    toward the yearly exercise coverage and, if not yet, why (French reasons). Written only by
    services.refresh_coverage from the run's records."""

    run = models.ForeignKey(ExerciseRun, on_delete=models.CASCADE, related_name="coverage")
    organisation = models.ForeignKey(
        "organisations.Organisation", on_delete=models.PROTECT, related_name="exercise_coverage"
    )
    held_on = models.DateField(_("joué le"), null=True, blank=True)
    counts = models.BooleanField(_("compte pour la couverture"), default=False)
    reasons = models.JSONField(_("motifs"), default=list)
    rule_version = models.CharField(max_length=40)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["run", "organisation"]
        verbose_name = _("validité de l'exercice")
        constraints = [
            models.UniqueConstraint(fields=["run", "organisation"], name="coverage_one_per_org"),
            models.CheckConstraint(
                condition=Q(counts=False) | Q(held_on__isnull=False),
                name="coverage_counts_has_date",
            ),
        ]
        indexes = [
            # The coverage page asks, per organisation, « a valid exercise since the cut-off? ».
            models.Index(
                fields=["organisation", "held_on"],
                condition=Q(counts=True),
                name="coverage_valid_by_org",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organisation_id}: {'valide' if self.counts else 'pas encore'}"

    @property
    def audit_organisation_id(self) -> int | None:
        return self.organisation_id
