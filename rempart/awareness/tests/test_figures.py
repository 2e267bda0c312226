import pytest
from django.test import Client
from django.urls import reverse

from rempart.awareness import figures
from rempart.awareness.learning_services import attempt_submit
from rempart.core.roles import Role
from rempart.organisations.tests.factories import member

from .factories import awareness_world, make_module

pytestmark = pytest.mark.django_db
RIGHT = {"q1": ["a"], "q2": ["a", "c"]}
WRONG = {"q1": ["b"], "q2": ["a"]}


@pytest.fixture
def world():
    return awareness_world()


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _learners(world, organisation, count, module, passed):
    for _ in range(count):
        person = member(Role.STAFF, organisation)
        attempt_submit(actor=person, module=module, answers=WRONG)
        if passed:
            passed -= 1
            attempt_submit(actor=person, module=module, answers=RIGHT)


def test_small_groups_are_never_shown_alone(world):
    module = make_module()
    _learners(world, world.establishment, 6, module, passed=3)
    _learners(world, world.sibling, 2, module, passed=2)
    data = figures.awareness_figures(world.crrc_operator)
    rows = {row.organisation: row for row in data.organisations}
    big, small = rows["CH Rivebelle"], rows["CH Voisin"]
    assert (big.started_label, big.passed_label, big.rate_label) == ("6", "3", "50 %")
    assert big.average_label == "33,3 %"  # (6 × 0 + 3 × 100) / 9 attempts
    assert (small.started_label, small.passed_label, small.rate_label) == ("moins de 5", "—", "—")
    assert small.average_label == "—"
    assert data.modules[0].started == 8


def test_scope_per_role(world):
    module = make_module()
    _learners(world, world.establishment, 5, module, passed=5)
    _learners(world, world.sibling, 5, module, passed=1)
    orgs = lambda user: {r.organisation for r in figures.awareness_figures(user).organisations}  # noqa: E731
    assert orgs(world.director) == {"CH Rivebelle"}
    assert orgs(world.sibling_director) == {"CH Voisin"}
    assert orgs(world.ght_coordinator) == {"CH Rivebelle", "CH Voisin"}
    assert orgs(world.ars_manager) == {"CH Rivebelle", "CH Voisin"}
    assert orgs(world.trainer) == {"CH Rivebelle", "CH Voisin"}
    assert orgs(world.outsider_trainer) == set()


def test_page_and_export(world, django_assert_max_num_queries):
    module = make_module()
    _learners(world, world.establishment, 5, module, passed=4)
    client = client_for(world.director)
    url = reverse("awareness:figures")
    client.get(url)
    with django_assert_max_num_queries(12):
        page = client.get(url)
    assert page.status_code == 200
    assert "80 %" in page.text
    assert client_for(world.staff).get(url).status_code == 403
    outside = client.get(url, {"organisation": world.other_establishment.pk})
    assert outside.status_code == 200
    assert "Choisissez une organisation de votre périmètre" in outside.text
    export = client.get(reverse("awareness:figures_export"))
    body = b"".join(export.streaming_content).decode()
    assert "CH Rivebelle;Module test-module;5;4;80 %" in body
