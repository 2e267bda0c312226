"""Regional pages: quartiles on known data, small groups never shown alone, completion (scores
shown, answers only when shared), organisations to support, a GHT's members side by side, who may
open what (an establishment: 403 except the anonymised distribution; another region: nothing),
and query budgets that do not grow with the organisations."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from rempart.assessments import campaigns
from rempart.assessments import regional as sel
from rempart.assessments.models import Assessment, AssessmentStatus
from rempart.assessments.tests.factories import URN, assessments_world, small_questionnaire
from rempart.core.roles import OrgKind, Role
from rempart.organisations.tests.factories import CategoryFactory, OrganisationFactory, member

pytestmark = pytest.mark.django_db
GOV, BACKUP = f"{URN}:gouv", f"{URN}:sauv"


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


def completed(organisation, questionnaire, score, *, gov=None, backup=None, shared=False):
    return Assessment.objects.create(
        organisation=organisation,
        questionnaire=questionnaire,
        status=AssessmentStatus.COMPLETED,
        completed_at=timezone.now(),
        score=score,
        theme_scores={
            GOV: score if gov is None else gov,
            BACKUP: score if backup is None else backup,
        },
        answered_count=5,
        applicable_count=5,
        shared_with_region=shared,
    )


def establishments(world, count, **fields):
    return [OrganisationFactory(region=world.region, **fields) for _ in range(count)]


def test_quartiles_on_known_data():
    stats = sel.stats([50.0, 10.0, 40.0, 20.0, 30.0])
    assert (stats.count, stats.minimum, stats.q1, stats.median, stats.q3, stats.maximum) == (
        5,
        10.0,
        20.0,
        30.0,
        40.0,
        50.0,
    )
    assert stats.mean == 30.0
    assert [stats.quartile_of(v) for v in (10, 25, 35, 45)] == [1, 2, 3, 4]
    even = sel.stats([0.0, 10.0, 20.0, 30.0, 40.0, 100.0])
    assert (even.q1, even.median, even.q3) == (12.5, 25.0, 37.5)
    assert sel.stats([1.0, 2.0, 3.0, 4.0]) is None


def test_small_groups_never_shown_alone():
    result = sel.breakdown({"A": [10.0] * 6, "B": [20.0] * 3, "C": [30.0]})
    assert [g.label for g in result.groups] == ["A"]
    assert result.hidden == 4
    merged = sel.breakdown({"A": [10.0] * 6, "B": [20.0] * 3, "C": [30.0, 40.0]})
    assert [g.label for g in merged.groups] == ["A", sel.OTHERS]
    assert merged.groups[1].stats.count == 5
    assert merged.hidden == 0


def test_size_classes():
    assert sel.size_class("sanitaire", 99, None) == "Moins de 100 lits"
    assert sel.size_class("sanitaire", 100, None) == "100 à 299 lits"
    assert sel.size_class("sanitaire", 1000, None) == "1 000 lits et plus"
    assert sel.size_class("medico_social", None, 80) == "50 à 99 places"
    assert sel.size_class("medico_social", 500, None) == sel.UNKNOWN_SIZE


def test_distribution_page_anonymised(world, questionnaire):
    hospital = CategoryFactory(code="355", label="Centre hospitalier")
    ehpad = CategoryFactory(code="500", label="EHPAD rare")
    for index, organisation in enumerate(establishments(world, 6, category=hospital, beds=150)):
        completed(organisation, questionnaire, 10 * (index + 1))
    for organisation in establishments(world, 2, category=ehpad, beds=40):
        completed(organisation, questionnaire, 90)
    completed(world.other_establishment, questionnaire, 5)  # another region: not counted
    url = reverse("assessments:regional_distribution", args=[questionnaire.pk])
    ars = client_for(world.ars_manager)
    response = ars.get(url)
    page = response.content.decode()
    assert response.status_code == 200
    assert "Centre hospitalier" in page
    assert "EHPAD rare" not in page  # 2 organisations: never alone
    assert "2 organisations appartiennent" in page
    data = sel.distribution(sel.figures_scope(world.ars_manager), questionnaire)
    assert data.count == 8
    assert data.overall.minimum == 10.0
    # An establishment reads its region's anonymised distribution, placed in its quartile.
    completed(world.establishment, questionnaire, 15)
    page = client_for(world.rssi).get(url).content.decode()
    assert 'id="own-position"' in page
    assert "1e quartile" in page
    # The GHT coordinator's scope has one completed member: too few to show anything.
    page = client_for(world.ght_coordinator).get(url).content.decode()
    assert 'id="too-few"' in page
    assert 'id="overall"' not in page


def test_establishment_refused_regional_pages(world, questionnaire):
    director = client_for(world.director)
    for name in ("regional_completion", "regional_support", "regional_ght"):
        url = reverse(f"assessments:{name}", args=[questionnaire.pk])
        assert director.get(url).status_code == 403, name
    assert director.get(reverse("assessments:regional_home")).status_code == 403
    staff = client_for(world.staff)
    url = reverse("assessments:regional_distribution", args=[questionnaire.pk])
    assert staff.get(url).status_code == 403
    # The national observer sees figures but not the list to support (ARS and CRRC's work).
    observer = member(Role.NATIONAL_OBSERVER, OrganisationFactory(kind=OrgKind.NATIONAL))
    support = reverse("assessments:regional_support", args=[questionnaire.pk])
    assert client_for(observer).get(support).status_code == 403
    assert client_for(observer).get(url).status_code == 200


def test_completion_scores_shown_answers_only_when_shared(world, questionnaire, monkeypatch):
    completed(world.establishment, questionnaire, 72.5, shared=True)
    Assessment.objects.create(organisation=world.sibling, questionnaire=questionnaire)
    monkeypatch.setattr(campaigns, "assessment_url", lambda pk: f"/reponses/{pk}/")
    url = reverse("assessments:regional_completion", args=[questionnaire.pk])
    page = client_for(world.ars_manager).get(url).content.decode()
    assert "72,5" in page
    assert page.count("/reponses/") == 1
    assert world.other_establishment.name not in page
    rows = sel.questionnaire_completion(sel.figures_scope(world.ars_manager), questionnaire)
    assert (rows.total.completed, rows.total.in_progress + rows.total.not_started) == (1, 1)
    # GHT coordinator: its member only.
    page = client_for(world.ght_coordinator).get(url).content.decode()
    assert world.establishment.name in page
    assert world.sibling.name not in page
    # CSV export.
    export = client_for(world.ars_manager).get(
        reverse("assessments:regional_completion_export", args=[questionnaire.pk])
    )
    content = b"".join(export.streaming_content).decode()
    assert "72,5" in content
    assert world.sibling.name in content


def test_completion_query_budget_does_not_grow(world, questionnaire, django_assert_max_num_queries):
    client = client_for(world.ars_manager)
    url = reverse("assessments:regional_completion", args=[questionnaire.pk])
    client.get(url)
    for organisation in establishments(world, 3):
        completed(organisation, questionnaire, 50)
    with django_assert_max_num_queries(12) as few:
        assert client.get(url).status_code == 200
    for organisation in establishments(world, 20):
        completed(organisation, questionnaire, 60)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200
    distribution = reverse("assessments:regional_distribution", args=[questionnaire.pk])
    with django_assert_max_num_queries(12) as first:
        client.get(distribution)
    for organisation in establishments(world, 20):
        completed(organisation, questionnaire, 70)
    with django_assert_max_num_queries(len(first.captured_queries)):
        client.get(distribution)


def test_campaign_completion_late_highlighted_and_support(world, questionnaire):
    today = timezone.localdate()
    campaign = campaigns.campaign_create(
        actor=world.ars_manager,
        data=campaigns.CampaignData(
            organiser=world.ars,
            questionnaire=questionnaire,
            title="Campagne",
            message="",
            opens_on=today,
            deadline=today + datetime.timedelta(days=5),
            population=[OrgKind.ESTABLISHMENT],
            reminder_days=[],
        ),
    )
    campaigns.campaign_launch(actor=world.ars_manager, campaign=campaign)
    later = today + datetime.timedelta(days=6)
    data = sel.campaign_completion(sel.figures_scope(world.ars_manager), campaign, today=later)
    assert data.late == 2
    assert all(row.late for row in data.rows)
    # Weak scores: bottom quartile or a theme under the threshold.
    others = establishments(world, 5)
    for index, organisation in enumerate(others):
        completed(organisation, questionnaire, 60 + 5 * index)
    weak = completed(world.sibling, questionnaire, 20)
    low_theme = others[-1]
    Assessment.objects.filter(organisation=low_theme).update(theme_scores={GOV: 90, BACKUP: 30})
    support = sel.to_support(
        support_scope := sel.support_scope(world.crrc_operator), questionnaire, today=later
    )
    names = {row.organisation_id for row in support.weak}
    assert weak.organisation_id in names
    assert low_theme.pk in names
    assert {row.organisation_id for row in support.late} == {world.establishment.pk}
    assert support_scope is not None
    page = client_for(world.crrc_operator).get(
        reverse("assessments:regional_support", args=[questionnaire.pk]) + "?seuil=abc"
    )
    assert page.status_code == 200
    assert "Indiquez un nombre entre 0 et 100" in page.content.decode()


def test_ght_side_by_side(world, questionnaire):
    other_member = OrganisationFactory(region=world.region, ght=world.ght, name="CH Voisin")
    completed(world.establishment, questionnaire, 80, gov=70, backup=90)
    completed(world.sibling, questionnaire, 10)  # not a member
    url = reverse("assessments:regional_ght", args=[questionnaire.pk])
    response = client_for(world.ght_coordinator).get(url)
    page = response.content.decode()
    assert response.status_code == 200
    assert world.establishment.name in page
    assert other_member.name in page
    assert world.sibling.name not in page
    assert "70,0" in page
    assert "90,0" in page
    assert "1 membre(s) sur 2" in page
    # Another region's ARS sees no GHT of this region: asking for it is a 404.
    outsider = client_for(world.outsider_ars)
    OrganisationFactory(kind=OrgKind.GHT, region=world.other_region)
    assert outsider.get(url + f"?ght={world.ght.pk}").status_code == 404


def test_regional_home_breadcrumb_is_the_page_alone(world, questionnaire):
    page = client_for(world.ars_manager).get(reverse("assessments:regional_home"))
    assert page.status_code == 200
    assert page.content.decode().count("fr-breadcrumb__link") == 1
