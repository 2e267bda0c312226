"""Regional assessment campaigns: the ARS or the CRRC asks every organisation of a population of
its region to answer one questionnaire version by a deadline.

* `campaign_create` records the campaign (questionnaire of the shared library, dates, population
  and its optional filters, reminder days); nothing is sent yet, so the organiser can check the
  population count first.
* `campaign_launch` creates one draft assessment per organisation of the population (DB
  constraint `assessment_one_per_campaign`); an organisation that already has a draft of that
  version keeps it, attached to the campaign (`assessment_one_draft_per_version` forbids a second
  one). The invitations leave after commit, and from the opening day when it is in the future.
* `send_due_notices` (daily, Celery beat) sends the invitations still due and the reminders: on
  each of the campaign's `reminder_days` before the deadline, to the organisations that have not
  completed. Each e-mail is recorded (`CampaignNotice`, unique per campaign assessment, kind and
  day) in the same transaction as its sending, so a run repeated or retried never sends it twice.

The campaign writes the campaign's assessments itself (bulk, thousands at once); answering them
remains the business of `services.py`.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.roles import ROLES, Capability, OrgKind, Role
from rempart.organisations import perms as org_perms
from rempart.organisations.models import (
    Departement,
    FinessCategory,
    Membership,
    Organisation,
    Region,
    Sector,
)

from . import perms
from .models import (
    Assessment,
    AssessmentCampaign,
    AssessmentStatus,
    CampaignNotice,
    CampaignNoticeKind,
    CampaignStatus,
    Questionnaire,
    QuestionnaireStatus,
)

logger = logging.getLogger(__name__)

POPULATION_KINDS = (OrgKind.ESTABLISHMENT, OrgKind.LEGAL_ENTITY)
MAX_REMINDER_DAYS = 90
BATCH = 2000
# Roles that answer an organisation's assessments: they receive the campaign's e-mails.
ASSESSOR_ROLES = tuple(role.value for role in Role if Capability.ASSESS in ROLES[role].capabilities)


# --- Who organises -------------------------------------------------------------------------------


def organiser_choices(user) -> list[Organisation]:
    """The ARS and CRRC the user runs campaigns for (one per membership granting the right over
    its whole region)."""
    regions = perms.campaign_regions(user)
    if regions is not None and not regions:
        return []
    organisations = []
    for membership in org_perms.active_memberships(user):
        spec = ROLES[Role(membership.role)]
        home = membership.organisation
        if Capability.RUN_ASSESSMENT_CAMPAIGNS not in spec.capabilities or not home.region_id:
            continue
        if (regions is None or home.region_id in regions) and home not in organisations:
            organisations.append(home)
    return organisations


def can_run(user, campaign: AssessmentCampaign) -> bool:
    regions = perms.campaign_regions(user)
    return regions is None or campaign.region_id in regions


def shared_questionnaires():
    """Questionnaires a campaign may use: the current versions of the shared library."""
    return Questionnaire.objects.filter(
        organisation__isnull=True, status=QuestionnaireStatus.CURRENT
    ).order_by("name")


# --- Create ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignData:
    organiser: Organisation
    questionnaire: Questionnaire
    title: str
    message: str
    opens_on: datetime.date
    deadline: datetime.date
    population: list[str]
    reminder_days: list[int]
    sector: str = ""
    categories: tuple[int, ...] = ()
    departements: tuple[int, ...] = ()


def _check(data: CampaignData, *, today: datetime.date) -> None:
    if not data.title.strip():
        raise DomainError("Indiquez le titre de la campagne.", field="title")
    if data.questionnaire.organisation_id is not None:
        raise DomainError(
            "Une campagne utilise un questionnaire de la bibliothèque partagée.",
            field="questionnaire",
        )
    if data.questionnaire.status != QuestionnaireStatus.CURRENT:
        raise DomainError(
            "Cette version du questionnaire est remplacée : choisissez la version en vigueur.",
            field="questionnaire",
        )
    if data.deadline < data.opens_on:
        raise DomainError(
            "L'échéance doit suivre la date d'ouverture de la campagne.", field="deadline"
        )
    if data.deadline < today:
        raise DomainError("L'échéance est passée : choisissez une date à venir.", field="deadline")
    kinds = set(data.population)
    if not kinds or not kinds <= set(POPULATION_KINDS):
        raise DomainError(
            "Choisissez la population : établissements, entités juridiques ou les deux.",
            field="population",
        )
    for days in data.reminder_days:
        if not 1 <= days <= MAX_REMINDER_DAYS:
            raise DomainError(
                f"Les relances se font entre 1 et {MAX_REMINDER_DAYS} jours avant l'échéance.",
                field="reminder_days",
            )
    if data.sector and data.sector not in Sector.values:
        raise DomainError("Choisissez un secteur de la liste.", field="sector")
    region_id = data.organiser.region_id
    if (
        data.departements
        and Departement.objects.filter(pk__in=data.departements)
        .exclude(region_id=region_id)
        .exists()
    ):
        raise DomainError(
            "Choisissez des départements de la région de la campagne.", field="departements"
        )
    if data.categories and FinessCategory.objects.filter(pk__in=data.categories).count() != len(
        set(data.categories)
    ):
        raise DomainError("Choisissez des catégories de la liste.", field="categories")


@transaction.atomic
def campaign_create(*, actor, data: CampaignData) -> AssessmentCampaign:
    """Record a campaign (not launched: no assessment, no e-mail yet)."""
    if data.organiser not in organiser_choices(actor):
        raise DomainError(perms.NOT_CAMPAIGNER, code="forbidden", field="organiser")
    _check(data, today=timezone.localdate())
    region = Region.objects.get(pk=data.organiser.region_id)
    running = (
        AssessmentCampaign.objects.select_for_update()
        .filter(region=region, questionnaire=data.questionnaire, status=CampaignStatus.OPEN)
        .first()
    )
    if running is not None:
        raise DomainError(
            f"La campagne « {running.title} » porte déjà sur ce questionnaire dans la région : "
            "clôturez-la avant d'en ouvrir une autre.",
            field="questionnaire",
        )
    filters = {}
    if data.sector:
        filters["sector"] = data.sector
    if data.categories:
        filters["categories"] = sorted(set(data.categories))
    if data.departements:
        filters["departements"] = sorted(set(data.departements))
    return AssessmentCampaign.objects.create(
        region=region,
        organiser=data.organiser,
        questionnaire=data.questionnaire,
        title=data.title.strip(),
        message=data.message.strip(),
        opens_on=data.opens_on,
        deadline=data.deadline,
        population=[kind for kind in POPULATION_KINDS if kind in set(data.population)],
        filters=filters,
        reminder_days=sorted(set(data.reminder_days), reverse=True),
        created_by=actor,
    )


def population(campaign: AssessmentCampaign):
    """The organisations a campaign addresses: active ones of its region, of the chosen kinds,
    narrowed by the filters (sector, FINESS categories, départements)."""
    queryset = Organisation.objects.filter(
        region_id=campaign.region_id, kind__in=campaign.population, is_active=True
    )
    filters = campaign.filters or {}
    if filters.get("sector"):
        queryset = queryset.filter(sector=filters["sector"])
    if filters.get("categories"):
        queryset = queryset.filter(category_id__in=filters["categories"])
    if filters.get("departements"):
        queryset = queryset.filter(departement_id__in=filters["departements"])
    return queryset


# --- Launch and close ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LaunchResult:
    created: int
    attached: int
    skipped: int  # a draft already requested by another open campaign

    @property
    def total(self) -> int:
        return self.created + self.attached


def campaign_launch(*, actor, campaign: AssessmentCampaign) -> LaunchResult:
    """Create the population's assessments; the invitations leave after commit (or on the
    opening day)."""
    if not can_run(actor, campaign):
        raise DomainError(perms.NOT_CAMPAIGNER, code="forbidden")
    with transaction.atomic():
        campaign = AssessmentCampaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status != CampaignStatus.OPEN:
            raise DomainError("Cette campagne est close : elle ne peut plus être lancée.")
        if campaign.launched_at is not None:
            raise DomainError("Cette campagne est déjà lancée.")
        if campaign.deadline < timezone.localdate():
            raise DomainError(
                "L'échéance de cette campagne est passée : créez une nouvelle campagne."
            )
        organisation_ids = list(population(campaign).values_list("pk", flat=True))
        if not organisation_ids:
            raise DomainError(
                "Aucune organisation ne correspond à la population choisie : rien n'est lancé."
            )
        wanted = set(organisation_ids)
        drafts = (
            Assessment.objects.select_for_update(of=("self",))
            .filter(
                questionnaire_id=campaign.questionnaire_id,
                status=AssessmentStatus.DRAFT,
                organisation_id__in=organisation_ids,
            )
            .values_list("pk", "organisation_id", "campaign_id", "campaign__status")
        )
        attach, skipped = [], 0
        for pk, organisation_id, campaign_id, campaign_status in drafts:
            wanted.discard(organisation_id)
            if campaign_id == campaign.pk:
                continue
            if campaign_id is None or campaign_status == CampaignStatus.CLOSED:
                attach.append(pk)
            else:
                skipped += 1
        for start in range(0, len(attach), BATCH):
            Assessment.objects.filter(pk__in=attach[start : start + BATCH]).update(
                campaign=campaign, updated_at=timezone.now()
            )
        new = [
            Assessment(
                organisation_id=organisation_id,
                questionnaire_id=campaign.questionnaire_id,
                campaign=campaign,
                status=AssessmentStatus.DRAFT,
            )
            for organisation_id in sorted(wanted)
        ]
        Assessment.objects.bulk_create(new, batch_size=BATCH)
        campaign.launched_at = timezone.now()
        campaign.save(update_fields=["launched_at"])
        if campaign.opens_on <= timezone.localdate():
            pk = campaign.pk
            transaction.on_commit(lambda: _queue_invitations(pk), robust=True)
    return LaunchResult(created=len(new), attached=len(attach), skipped=skipped)


def _queue_invitations(campaign_id: int) -> None:
    from . import tasks

    tasks.send_campaign_invitations.delay(campaign_id)


@transaction.atomic
def campaign_close(*, actor, campaign: AssessmentCampaign) -> AssessmentCampaign:
    """Stop the reminders. The assessments stay (a late organisation may still complete)."""
    if not can_run(actor, campaign):
        raise DomainError(perms.NOT_CAMPAIGNER, code="forbidden")
    campaign = AssessmentCampaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status == CampaignStatus.CLOSED:
        raise DomainError("Cette campagne est déjà close.")
    campaign.status = CampaignStatus.CLOSED
    campaign.save(update_fields=["status"])
    return campaign


# --- E-mails ---------------------------------------------------------------------------------


def assessor_emails(organisation_ids) -> dict[int, list[str]]:
    """E-mail addresses of the people who answer each organisation's assessments: the assessor
    roles held in the organisation itself or in its legal entity."""
    organisations = dict(
        Organisation.objects.filter(pk__in=organisation_ids).values_list("pk", "legal_entity_id")
    )
    homes = set(organisations) | {e for e in organisations.values() if e}
    by_home: dict[int, set[str]] = {}
    for home, email in (
        Membership.objects.active()
        .filter(organisation_id__in=homes, role__in=ASSESSOR_ROLES, user__is_active=True)
        .values_list("organisation_id", "user__email")
    ):
        by_home.setdefault(home, set()).add(email)
    return {
        pk: sorted(by_home.get(pk, set()) | by_home.get(entity, set()))
        for pk, entity in organisations.items()
    }


def assessment_url(assessment_id: int) -> str:
    """The assessment's page (brief G's views); the self-assessment home when not available."""
    for name in ("assessments:answer", "assessments:assessment_detail"):
        try:
            return reverse(name, args=[assessment_id])
        except NoReverseMatch:
            continue
    for name in ("assessments:home",):
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return "/autoevaluation/"


def _message(campaign, organisation, assessment_id, emails, *, kind, days_before):
    link = settings.SITE_URL.rstrip("/") + assessment_url(assessment_id)
    subject = (
        f"[Rempart] Autoévaluation demandée — {campaign.title}"
        if kind == CampaignNoticeKind.INVITATION
        else f"[Rempart] Rappel : autoévaluation attendue le {campaign.deadline:%d/%m/%Y}"
    )
    body = render_to_string(
        "assessments/campaign_email.txt",
        {
            "campaign": campaign,
            "organisation": organisation,
            "link": link,
            "reminder": kind == CampaignNoticeKind.REMINDER,
            "days_before": days_before,
        },
    )
    return EmailMessage(
        subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=emails
    )


def _send(campaign, *, kind: str, days_before: int, statuses) -> int:
    """E-mail the campaign's organisations whose assessment is in `statuses`, once each for
    (kind, days_before). Returns how many organisations were e-mailed."""
    already = set(
        CampaignNotice.objects.filter(
            campaign=campaign, kind=kind, days_before=days_before
        ).values_list("assessment_id", flat=True)
    )
    targets = [
        (pk, organisation)
        for pk, organisation in Assessment.objects.filter(
            campaign=campaign, status__in=statuses
        ).values_list("pk", "organisation_id")
        if pk not in already
    ]
    if not targets:
        return 0
    emails = assessor_emails([organisation for _pk, organisation in targets])
    names = dict(
        Organisation.objects.filter(pk__in=[o for _p, o in targets]).values_list("pk", "name")
    )
    sent = 0
    for assessment_id, organisation_id in targets:
        recipients = emails.get(organisation_id, [])
        try:
            with transaction.atomic():
                CampaignNotice.objects.create(
                    campaign=campaign,
                    assessment_id=assessment_id,
                    kind=kind,
                    days_before=days_before,
                    recipients=len(recipients),
                    sent_at=timezone.now(),
                )
                if recipients:
                    organisation = Organisation(pk=organisation_id, name=names[organisation_id])
                    _message(
                        campaign,
                        organisation,
                        assessment_id,
                        recipients,
                        kind=kind,
                        days_before=days_before,
                    ).send()
                    sent += 1
        except IntegrityError:
            continue  # sent by a concurrent run
        except OSError:
            # The mail server refused: nothing recorded, the next run tries again.
            logger.exception(
                "campaign %s: e-mail to organisation %s failed", campaign.pk, organisation_id
            )
    return sent


def send_invitations(campaign_id: int, *, today: datetime.date | None = None) -> int:
    today = today or timezone.localdate()
    campaign = (
        AssessmentCampaign.objects.select_related("questionnaire", "organiser")
        .filter(pk=campaign_id, status=CampaignStatus.OPEN, launched_at__isnull=False)
        .first()
    )
    if campaign is None or campaign.opens_on > today or campaign.deadline < today:
        return 0
    return _send(
        campaign,
        kind=CampaignNoticeKind.INVITATION,
        days_before=0,
        statuses=[AssessmentStatus.DRAFT],
    )


def due_reminder_day(campaign: AssessmentCampaign, today: datetime.date) -> int | None:
    """The reminder day that applies today: the latest one reached (a missed day is not sent
    late on top of the next one), None before the first one or after the deadline."""
    if today > campaign.deadline or today < campaign.opens_on:
        return None
    left = (campaign.deadline - today).days
    reached = [days for days in campaign.reminder_days if days >= left]
    return min(reached) if reached else None


def send_due_notices(*, today: datetime.date | None = None) -> int:
    """Daily: the invitations still due (opening day reached) and today's reminders to the
    organisations that have not completed. Idempotent. Returns how many e-mails left."""
    today = today or timezone.localdate()
    sent = 0
    campaigns = AssessmentCampaign.objects.select_related("questionnaire", "organiser").filter(
        status=CampaignStatus.OPEN,
        launched_at__isnull=False,
        opens_on__lte=today,
        deadline__gte=today,
    )
    for campaign in campaigns:
        sent += send_invitations(campaign.pk, today=today)
        days = due_reminder_day(campaign, today)
        if days is not None:
            sent += _send(
                campaign,
                kind=CampaignNoticeKind.REMINDER,
                days_before=days,
                statuses=[AssessmentStatus.DRAFT],
            )
    return sent


def notice_counts(campaign: AssessmentCampaign) -> dict:
    """What left for the campaign page: invitations, reminders, organisations nobody can answer
    for (no director, RSSI or DSI)."""
    rows = list(CampaignNotice.objects.filter(campaign=campaign).values_list("kind", "recipients"))
    return {
        "invitations": sum(1 for kind, n in rows if kind == CampaignNoticeKind.INVITATION and n),
        "reminders": sum(1 for kind, n in rows if kind == CampaignNoticeKind.REMINDER and n),
        "without_recipient": sum(
            1 for kind, n in rows if kind == CampaignNoticeKind.INVITATION and not n
        ),
    }


def population_count(campaign: AssessmentCampaign) -> int:
    return population(campaign).count()


def filter_labels(campaign: AssessmentCampaign) -> list[str]:
    """The population's filters in words, for the campaign page."""
    filters = campaign.filters or {}
    labels = []
    if filters.get("sector"):
        labels.append(f"secteur {Sector(filters['sector']).label.lower()}")
    if filters.get("categories"):
        names = FinessCategory.objects.filter(pk__in=filters["categories"]).values_list(
            "label", flat=True
        )
        labels.append("catégories : " + ", ".join(sorted(names)))
    if filters.get("departements"):
        codes = Departement.objects.filter(pk__in=filters["departements"]).values_list(
            "code", flat=True
        )
        labels.append("départements : " + ", ".join(sorted(codes)))
    return labels
