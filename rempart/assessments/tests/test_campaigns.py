"""Regional campaigns: creation checks, launch (one assessment per organisation, an existing
draft attached, never a duplicate), invitations and reminders (once each), close, and who may
do it (another region's campaign: 404; an establishment: 403)."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from rempart.assessments import campaigns
from rempart.assessments.models import (
    Assessment,
    AssessmentCampaign,
    AssessmentStatus,
    CampaignNotice,
    CampaignStatus,
)
from rempart.assessments.tests.factories import assessments_world, small_questionnaire
from rempart.core.errors import DomainError
from rempart.core.roles import OrgKind, Role
from rempart.organisations.tests.factories import DepartementFactory, OrganisationFactory, member

pytestmark = pytest.mark.django_db


class _Undefined(str):
    def __mod__(self, other):
        if str(other).endswith("widget.input_type"):
            return ""
        raise AssertionError(f"Variable de gabarit indéfinie : {other}")


@pytest.fixture(autouse=True)
def strict_templates(settings):
    settings.TEMPLATES = [
        {
            **settings.TEMPLATES[0],
            "OPTIONS": {**settings.TEMPLATES[0]["OPTIONS"], "string_if_invalid": _Undefined("%s")},
        }
    ]


@pytest.fixture
def world():
    return assessments_world()


@pytest.fixture
def questionnaire():
    return small_questionnaire()


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def data(world, questionnaire, **overrides) -> campaigns.CampaignData:
    today = timezone.localdate()
    values = {
        "organiser": world.ars,
        "questionnaire": questionnaire,
        "title": "Campagne maturité 2026",
        "message": "Merci de répondre avant l'été.",
        "opens_on": today,
        "deadline": today + datetime.timedelta(days=30),
        "population": [OrgKind.ESTABLISHMENT],
        "reminder_days": [14, 7],
    }
    values.update(overrides)
    return campaigns.CampaignData(**values)


def create(world, questionnaire, **overrides) -> AssessmentCampaign:
    return campaigns.campaign_create(
        actor=world.ars_manager, data=data(world, questionnaire, **overrides)
    )


def test_create_checks_dates_population_and_running_campaign(world, questionnaire):
    today = timezone.localdate()
    with pytest.raises(DomainError) as exc:
        create(world, questionnaire, deadline=today - datetime.timedelta(days=1))
    assert exc.value.field == "deadline"
    with pytest.raises(DomainError) as exc:
        create(world, questionnaire, population=[])
    assert exc.value.field == "population"
    with pytest.raises(DomainError) as exc:
        create(world, questionnaire, reminder_days=[200])
    assert exc.value.field == "reminder_days"
    create(world, questionnaire)
    with pytest.raises(DomainError) as exc:
        create(world, questionnaire, title="Une autre")
    assert "déjà" in exc.value.message
    assert AssessmentCampaign.objects.count() == 1


def test_create_refused_to_an_establishment_and_outside_the_region(world, questionnaire):
    with pytest.raises(DomainError) as exc:
        campaigns.campaign_create(actor=world.director, data=data(world, questionnaire))
    assert exc.value.code == "forbidden"
    with pytest.raises(DomainError):
        campaigns.campaign_create(actor=world.outsider_ars, data=data(world, questionnaire))
    assert not AssessmentCampaign.objects.exists()


def test_launch_one_per_organisation_existing_draft_attached_no_duplicate(
    world, questionnaire, django_capture_on_commit_callbacks
):
    existing = Assessment.objects.create(organisation=world.sibling, questionnaire=questionnaire)
    entity = OrganisationFactory(kind=OrgKind.LEGAL_ENTITY, region=world.region)
    campaign = create(world, questionnaire)
    result = campaigns.campaign_launch(actor=world.crrc_operator, campaign=campaign)
    # The region's two establishments: the sibling's draft attached, one created; no entity.
    assert (result.created, result.attached) == (1, 1)
    rows = Assessment.objects.filter(campaign=campaign)
    assert sorted(rows.values_list("organisation_id", flat=True)) == sorted(
        [world.establishment.pk, world.sibling.pk]
    )
    existing.refresh_from_db()
    assert existing.campaign_id == campaign.pk
    assert Assessment.objects.filter(organisation=world.sibling).count() == 1
    assert not Assessment.objects.filter(organisation__in=[entity, world.other_establishment])
    with pytest.raises(DomainError):
        campaigns.campaign_launch(actor=world.ars_manager, campaign=campaign)
    assert Assessment.objects.filter(campaign=campaign).count() == 2


def test_population_filters(world, questionnaire):
    departement = DepartementFactory(region=world.region)
    chosen = OrganisationFactory(region=world.region, departement=departement)
    campaign = create(world, questionnaire, departements=(departement.pk,))
    assert list(campaigns.population(campaign)) == [chosen]
    medico = create(
        world,
        small_questionnaire(urn="urn:rempart:test:other"),
        population=[OrgKind.ESTABLISHMENT, OrgKind.LEGAL_ENTITY],
        sector="medico_social",
    )
    assert not campaigns.population(medico).exists()


def test_departement_of_another_region_refused(world, questionnaire):
    elsewhere = DepartementFactory(region=world.other_region)
    with pytest.raises(DomainError) as exc:
        create(world, questionnaire, departements=(elsewhere.pk,))
    assert exc.value.field == "departements"


def test_invitations_after_launch_to_assessors_only(
    world, questionnaire, mailoutbox, django_capture_on_commit_callbacks
):
    campaign = create(world, questionnaire)
    with django_capture_on_commit_callbacks(execute=True):
        campaigns.campaign_launch(actor=world.ars_manager, campaign=campaign)
    recipients = sorted(address for message in mailoutbox for address in message.to)
    assert recipients == sorted([world.director.email, world.rssi.email, world.sibling_rssi.email])
    assert world.staff.email not in recipients
    body = mailoutbox[0].body
    assert "Campagne maturité 2026" in body
    assert "Merci de répondre" in body
    # The daily task does not send them again.
    assert campaigns.send_due_notices() == 0
    assert len(mailoutbox) == 2


def test_future_opening_sends_on_the_opening_day(
    world, questionnaire, mailoutbox, django_capture_on_commit_callbacks
):
    today = timezone.localdate()
    campaign = create(world, questionnaire, opens_on=today + datetime.timedelta(days=3))
    with django_capture_on_commit_callbacks(execute=True):
        campaigns.campaign_launch(actor=world.ars_manager, campaign=campaign)
    assert mailoutbox == []
    assert campaigns.send_due_notices(today=today + datetime.timedelta(days=1)) == 0
    assert campaigns.send_due_notices(today=today + datetime.timedelta(days=3)) == 2


def test_reminders_once_per_day_and_only_to_unfinished(world, questionnaire, mailoutbox):
    campaign = create(world, questionnaire)
    campaigns.campaign_launch(actor=world.ars_manager, campaign=campaign)
    campaigns.send_due_notices()  # invitations
    mailoutbox.clear()
    Assessment.objects.filter(campaign=campaign, organisation=world.sibling).update(
        status=AssessmentStatus.COMPLETED, completed_at=timezone.now(), score=70
    )
    day = campaign.deadline - datetime.timedelta(days=14)
    assert campaigns.send_due_notices(today=day) == 1
    assert campaigns.send_due_notices(today=day) == 0
    assert campaigns.send_due_notices(today=day + datetime.timedelta(days=1)) == 0
    assert [m.to for m in mailoutbox] == [sorted([world.director.email, world.rssi.email])]
    assert "Rappel" in mailoutbox[0].subject
    # The next reminder day; a missed day is not sent late on top of it.
    assert campaigns.send_due_notices(today=campaign.deadline - datetime.timedelta(days=5)) == 1
    assert campaigns.send_due_notices(today=campaign.deadline - datetime.timedelta(days=4)) == 0
    reminders = CampaignNotice.objects.filter(campaign=campaign, kind="reminder")
    assert sorted(reminders.values_list("days_before", flat=True)) == [7, 14]
    # Closed: nothing more.
    campaigns.campaign_close(actor=world.ars_manager, campaign=campaign)
    assert campaigns.send_due_notices(today=campaign.deadline) == 0


def test_campaign_pages_and_permissions(world, questionnaire):
    ars = client_for(world.ars_manager)
    url = reverse("assessments:campaign_create")
    today = timezone.localdate()
    post = {
        "organiser": world.ars.pk,
        "questionnaire": questionnaire.pk,
        "title": "Campagne régionale",
        "opens_on": today.isoformat(),
        "deadline": (today - datetime.timedelta(days=2)).isoformat(),
        "population": ["establishment"],
        "reminder_days": "7, 2",
    }
    response = ars.post(url, post)
    assert response.status_code == 400
    assert "chéance doit suivre la date d" in response.content.decode()
    response = ars.post(url, {**post, "reminder_days": "sept"})
    assert response.status_code == 400
    assert "nombres de jours" in response.content.decode()
    post["deadline"] = (today + datetime.timedelta(days=20)).isoformat()
    response = ars.post(url, post)
    campaign = AssessmentCampaign.objects.get()
    assert response.status_code == 302
    assert campaign.reminder_days == [7, 2]
    detail = reverse("assessments:campaign_detail", args=[campaign.pk])
    assert "2 organisations correspondent" in ars.get(detail).content.decode()

    # Establishments: 403; another region's ARS: 404; the GHT coordinator cannot launch.
    assert client_for(world.director).get(url).status_code == 403
    assert client_for(world.director).get(detail).status_code == 403
    assert client_for(world.outsider_ars).get(detail).status_code == 404
    launch = reverse("assessments:campaign_launch", args=[campaign.pk])
    assert client_for(world.outsider_ars).post(launch).status_code == 404
    assert client_for(world.ght_coordinator).post(launch).status_code == 403
    assert not Assessment.objects.exists()

    response = ars.post(launch)
    assert response.status_code == 302
    assert Assessment.objects.filter(campaign=campaign).count() == 2
    page = ars.get(detail).content.decode()
    assert world.sibling.name in page
    assert world.establishment.name in page
    # The GHT coordinator sees its member only.
    page = client_for(world.ght_coordinator).get(detail).content.decode()
    assert world.establishment.name in page
    assert world.sibling.name not in page

    close = reverse("assessments:campaign_close", args=[campaign.pk])
    assert ars.post(close).status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CLOSED


def test_a_closed_campaigns_draft_moves_to_the_next_campaign(world, questionnaire):
    first = create(world, questionnaire)
    campaigns.campaign_launch(actor=world.ars_manager, campaign=first)
    campaigns.campaign_close(actor=world.ars_manager, campaign=first)
    second = create(world, questionnaire, title="Seconde campagne")
    result = campaigns.campaign_launch(actor=world.ars_manager, campaign=second)
    assert (result.created, result.attached) == (0, 2)
    assert Assessment.objects.count() == 2


def test_crrc_operator_may_organise(world, questionnaire):
    other_crrc_person = member(Role.CRRC_OPERATOR, world.crrc)
    assert campaigns.organiser_choices(other_crrc_person) == [world.crrc]
    assert campaigns.organiser_choices(world.director) == []
    assert campaigns.organiser_choices(world.ght_coordinator) == []
