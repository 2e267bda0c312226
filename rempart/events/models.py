"""Trainings, webinars and awareness workshops of the CRRC: sessions, registrations (with the
waiting list) and satisfaction answers.

A session belongs to the CRRC that organises it (and, through it, to its region); a
registration belongs to the organisation that registered the person (an establishment, or a
liberal professional for themselves). The invariants live in the database: one live
registration per e-mail and session, a waiting position exactly for waiting registrations,
one survey answer per registration, scores from 0 to 10.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SessionKind(models.TextChoices):
    TRAINING = "training", _("Formation")
    WEBINAR = "webinar", _("Webinaire")
    WORKSHOP = "workshop", _("Atelier de sensibilisation")


class SessionStatus(models.TextChoices):
    DRAFT = "draft", _("Brouillon")
    PUBLISHED = "published", _("Publiée")
    CANCELLED = "cancelled", _("Annulée")


class Audience(models.TextChoices):
    IT_TEAMS = "it_teams", _("Équipes informatiques (SI)")
    DIRECTORS = "directors", _("Directions")
    CARE_STAFF = "care_staff", _("Personnels soignants")
    LIBERAL = "liberal", _("Professionnels libéraux")
    MEDICO_SOCIAL = "medico_social", _("Structures médico-sociales")


AUDIENCE_LABELS = dict(Audience.choices)


class RegistrationStatus(models.TextChoices):
    CONFIRMED = "confirmed", _("Inscrit·e")
    WAITING = "waiting", _("Liste d'attente")
    CANCELLED = "cancelled", _("Annulée")


LIVE_STATUSES = (RegistrationStatus.CONFIRMED, RegistrationStatus.WAITING)


class TrainingSession(models.Model):
    """One dated session of a training, webinar or workshop, on a site or online."""

    organiser = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="training_sessions",
        verbose_name=_("organisateur"),
    )
    region = models.ForeignKey(
        "organisations.Region", on_delete=models.PROTECT, related_name="training_sessions"
    )
    kind = models.CharField(_("type"), max_length=20, choices=SessionKind.choices)
    # Sessions of the same programme (e.g. « Sécurisation de l'Active Directory ») are compared
    # and averaged together.
    programme = models.CharField(_("programme"), max_length=200)
    title = models.CharField(_("titre"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    audience = models.JSONField(_("public"), default=list)  # Audience values
    prerequisites = models.TextField(_("prérequis"), blank=True)
    starts_at = models.DateTimeField(_("début"))
    ends_at = models.DateTimeField(_("fin"))
    # The training time a certificate states, in hours. A session over several days is not
    # « ends − starts » (nights are not training): the trainer declares it; the form proposes
    # the daily hours × the days.
    duration_hours = models.DecimalField(
        _("durée de formation (heures)"), max_digits=5, decimal_places=2
    )
    location = models.CharField(_("lieu (adresse du site)"), max_length=300, blank=True)
    online_url = models.URLField(_("lien de connexion"), max_length=500, blank=True)
    capacity = models.PositiveIntegerField(_("places"))
    status = models.CharField(
        _("statut"), max_length=20, choices=SessionStatus.choices, default=SessionStatus.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    published_at = models.DateTimeField(_("publiée le"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("annulée le"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["starts_at", "pk"]
        verbose_name = _("session de formation")
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="training_ends_after_start"
            ),
            models.CheckConstraint(condition=Q(capacity__gt=0), name="training_capacity_positive"),
            models.CheckConstraint(
                condition=Q(duration_hours__gt=0), name="training_duration_positive"
            ),
            models.CheckConstraint(
                condition=~Q(location="") | ~Q(online_url=""), name="training_site_or_online"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=SessionKind.values), name="training_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=SessionStatus.values), name="training_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["region", "starts_at"], name="training_region_start")]

    def __str__(self) -> str:
        return self.title

    def save(self, *args, **kwargs):
        # A session recorded without a declared training time gets the default one.
        if self.duration_hours is None and self.starts_at and self.ends_at:
            self.duration_hours = default_duration_hours(self.starts_at, self.ends_at)
        super().save(*args, **kwargs)

    @property
    def audit_organisation_id(self) -> int | None:
        return self.organiser_id

    @property
    def audience_labels(self) -> list[str]:
        return [str(AUDIENCE_LABELS[a]) for a in self.audience or [] if a in AUDIENCE_LABELS]

    @property
    def is_online(self) -> bool:
        return bool(self.online_url) and not self.location

    @property
    def days(self) -> int:
        """Calendar days the session spans (Paris time): 1 for a one-day session."""
        return span_days(self.starts_at, self.ends_at)

    @property
    def is_several_days(self) -> bool:
        return self.days > 1


def span_days(starts_at: datetime.datetime, ends_at: datetime.datetime) -> int:
    first, last = timezone.localtime(starts_at).date(), timezone.localtime(ends_at).date()
    return (last - first).days + 1


def default_duration_hours(starts_at: datetime.datetime, ends_at: datetime.datetime) -> Decimal:
    """The training time when the trainer declares none: for one day, end − start; over
    several days, the first day's hours (start time to end time) × the days, or the elapsed
    time when the end time is not after the start time (an overnight session)."""
    days = span_days(starts_at, ends_at)
    starts, ends = timezone.localtime(starts_at), timezone.localtime(ends_at)
    daily = datetime.datetime.combine(starts.date(), ends.time()) - datetime.datetime.combine(
        starts.date(), starts.time()
    )
    if days > 1 and daily.total_seconds() > 0:
        seconds = daily.total_seconds() * days
    else:
        seconds = (ends_at - starts_at).total_seconds()
    return (Decimal(seconds) / 3600).quantize(Decimal("0.01"))


class Registration(models.Model):
    """One person registered to a session by an organisation: confirmed, waiting (with a queue
    number: the smaller, the sooner promoted) or cancelled (kept for history)."""

    session = models.ForeignKey(
        TrainingSession, on_delete=models.PROTECT, related_name="registrations"
    )
    organisation = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.PROTECT,
        related_name="training_registrations",
        verbose_name=_("organisation"),
    )
    first_name = models.CharField(_("prénom"), max_length=150)
    last_name = models.CharField(_("nom"), max_length=150)
    email = models.EmailField(_("courriel"))
    function = models.CharField(_("fonction"), max_length=200, blank=True)
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    status = models.CharField(_("statut"), max_length=20, choices=RegistrationStatus.choices)
    # Queue number on the waiting list (never reused within a session); empty otherwise.
    position = models.PositiveIntegerField(_("rang d'attente"), null=True, blank=True)
    attended = models.BooleanField(_("présent·e"), null=True, blank=True)
    # SHA-256 of the survey token (the token itself is only ever in the e-mailed link).
    survey_token_hash = models.CharField(max_length=64, blank=True, editable=False)
    survey_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    reminder_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    promoted_at = models.DateTimeField(_("sortie de liste d'attente"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("annulée le"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["session", "last_name", "first_name", "pk"]
        verbose_name = _("inscription")
        constraints = [
            models.UniqueConstraint(
                fields=["session", "email"],
                condition=Q(status__in=["confirmed", "waiting"]),
                name="registration_one_live_per_email",
            ),
            models.UniqueConstraint(
                fields=["session", "position"],
                condition=Q(position__isnull=False),
                name="registration_unique_waiting_position",
            ),
            models.UniqueConstraint(
                fields=["survey_token_hash"],
                condition=~Q(survey_token_hash=""),
                name="registration_unique_survey_token",
            ),
            models.CheckConstraint(
                condition=Q(status="waiting", position__isnull=False)
                | (~Q(status="waiting") & Q(position__isnull=True)),
                name="registration_position_iff_waiting",
            ),
            models.CheckConstraint(
                condition=Q(status__in=RegistrationStatus.values),
                name="registration_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(email=Lower("email")), name="registration_email_lowercase"
            ),
            models.CheckConstraint(
                condition=Q(attended__isnull=True) | Q(status="confirmed"),
                name="registration_attendance_if_confirmed",
            ),
        ]
        indexes = [models.Index(fields=["organisation", "session"], name="registration_org")]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def audit_organisation_id(self) -> int | None:
        return self.organisation_id

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class SurveyAnswer(models.Model):
    """The satisfaction answer of one participant: the first one is kept, for good."""

    registration = models.OneToOneField(
        Registration, on_delete=models.PROTECT, related_name="survey_answer"
    )
    score = models.PositiveSmallIntegerField(_("note (sur 10)"))
    comment = models.TextField(_("commentaire"), blank=True)
    submitted_at = models.DateTimeField(_("répondu le"))

    class Meta:
        ordering = ["-submitted_at", "-pk"]
        verbose_name = _("réponse au questionnaire de satisfaction")
        constraints = [
            models.CheckConstraint(
                condition=Q(score__gte=0, score__lte=10), name="survey_score_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.score}/10"

    @property
    def audit_organisation_id(self) -> int | None:
        return (
            Registration.objects.filter(pk=self.registration_id)
            .values_list("organisation_id", flat=True)
            .first()
        )
