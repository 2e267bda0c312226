"""REST API of crisis exercises: the runs of one's organisations with their verdicts (never the
journal), 404 for another organisation's run; the coverage indicator and its organisations
list with the page's numbers and filters, 404 for a region outside one's scope; read-only
tokens, structured errors, fixed query counts on lists."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rempart.core import services as core_services
from rempart.core.models import ApiTokenScope
from rempart.core.roles import OrgKind, Role
from rempart.exercises.models import Function, JournalEntry
from rempart.organisations.tests.factories import OrganisationFactory, member

from .factories import ScenarioFactory, add_player, exercises_world, mark_played, run_from
from .test_coverage import valid_exercise

pytestmark = pytest.mark.django_db

RUNS = "/api/v1/exercises/runs/"
COVERAGE = "/api/v1/exercises/coverage/"
ORGANISATIONS = "/api/v1/exercises/coverage/organisations/"


@pytest.fixture
def world():
    return exercises_world()


def headers(user, scope=ApiTokenScope.READ_WRITE) -> dict[str, str]:
    _token, raw = core_services.api_token_create(actor=user, name="Pilotage", scope=scope)
    return {"HTTP_AUTHORIZATION": f"Token {raw}"}


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    return error


def test_anonymous_is_refused(client, world):
    for url in (RUNS, COVERAGE, ORGANISATIONS):
        assert client.get(url).status_code in (401, 403)
        _error(client.get(url, HTTP_AUTHORIZATION="Token rmp_faux"), 401, "authentication_failed")


def test_runs_of_ones_organisations_with_verdicts_and_no_journal(client, world):
    valid = valid_exercise(world.establishment)
    pending = run_from(ScenarioFactory(), world.establishment)
    add_player(pending, Function.IT)
    JournalEntry.objects.create(
        run=valid, at=timezone.now(), kind="observation", text="Secret : le PRA est introuvable."
    )
    sibling = run_from(ScenarioFactory(), world.sibling)
    faraway = run_from(ScenarioFactory(), world.other_establishment)
    auth = headers(world.director)

    response = client.get(RUNS, **auth)
    assert response.status_code == 200
    assert b"PRA est introuvable" not in response.content
    body = response.json()
    assert {r["id"] for r in body["results"]} == {valid.pk, pending.pk}
    line = next(r for r in body["results"] if r["id"] == valid.pk)
    assert line["status"] == "finished"
    assert line["counts"] is True
    (verdict,) = line["verdicts"]
    assert verdict["organisation"]["id"] == world.establishment.pk
    assert verdict["valid_until"] is not None
    assert verdict["reasons"] == []
    other = next(r for r in body["results"] if r["id"] == pending.pk)
    assert other["counts"] is False
    assert other["verdicts"][0]["reasons"]  # why it does not count yet

    assert client.get(f"{RUNS}{valid.pk}/", **auth).json()["participant_count"] == 2
    found = client.get(RUNS, {"status": "planned"}, **auth).json()["results"]
    assert [r["id"] for r in found] == [pending.pk]
    _error(client.get(RUNS, {"status": "rêvé"}, **auth), 400, "invalid")
    # Another establishment's run, in the region or not: not found.
    _error(client.get(f"{RUNS}{sibling.pk}/", **auth), 404, "not_found")
    _error(client.get(f"{RUNS}{faraway.pk}/", **auth), 404, "not_found")
    # Nor the ARS (it runs its own regional exercises only): coverage shows verdicts, never an
    # establishment's runs.
    ars = headers(world.ars_manager)
    assert client.get(RUNS, **ars).json()["count"] == 0
    _error(client.get(f"{RUNS}{valid.pk}/", **ars), 404, "not_found")


def test_runs_are_read_only(client, world):
    run = run_from(ScenarioFactory(), world.establishment)
    for method in (client.post, client.delete):
        response = method(f"{RUNS}{run.pk}/", **headers(world.director))
        assert response.status_code == 405
    _error(
        client.post(RUNS, {}, **headers(world.director, ApiTokenScope.READ)),
        403,
        "permission_denied",
    )


def test_runs_list_query_count_does_not_grow(client, world, django_assert_max_num_queries):
    auth = headers(world.director)
    valid_exercise(world.establishment)
    with CaptureQueriesContext(connection) as few:
        client.get(RUNS, **auth)
    for _ in range(6):
        valid_exercise(world.establishment)
    with django_assert_max_num_queries(len(few)):
        assert client.get(RUNS, **auth).json()["count"] == 7


def test_coverage_is_the_pages_numbers(client, world):
    valid_exercise(world.establishment)
    pending = run_from(ScenarioFactory(), world.sibling)
    add_player(pending, Function.IT)
    mark_played(pending)
    valid_exercise(world.other_establishment)
    auth = headers(world.ars_manager)

    body = client.get(COVERAGE, **auth).json()
    assert body["national"] is False
    assert (body["total"]["total"], body["total"]["covered"]) == (2, 1)
    assert body["total"]["rate"] == 50.0
    assert body["target_percent"] == 80
    assert body["needed_for_target"] == 1
    assert sum(c["total"] for c in body["by_category"]) == 2
    assert body["by_departement"]
    assert body["by_ght"]
    assert body["by_region"] == []
    assert body["requirements"]
    # Looking back before the exercise: nobody covered then.
    before = (timezone.localdate() - datetime.timedelta(days=30)).isoformat()
    assert client.get(COVERAGE, {"au": before}, **auth).json()["total"]["covered"] == 0
    error = _error(client.get(COVERAGE, {"au": "hier"}, **auth), 400, "invalid")
    assert "au" in error["details"]
    future = (timezone.localdate() + datetime.timedelta(days=3)).isoformat()
    _error(client.get(COVERAGE, {"au": future}, **auth), 400, "invalid")
    # Own region explicitly: the same; another region: not found.
    assert client.get(COVERAGE, {"region": world.region.pk}, **auth).json()["total"]["total"] == 2
    _error(client.get(COVERAGE, {"region": world.other_region.pk}, **auth), 404, "not_found")
    # The other region's ARS sees its own establishment only.
    theirs = client.get(COVERAGE, **headers(world.outsider_ars)).json()
    assert (theirs["total"]["total"], theirs["total"]["covered"]) == (1, 1)
    # An establishment does not see the coverage.
    error = _error(client.get(COVERAGE, **headers(world.director)), 403, "forbidden")
    assert "réservée" in error["message"]
    _error(client.get(ORGANISATIONS, **headers(world.director)), 403, "forbidden")


def test_coverage_organisations_list_filters_and_pagination(client, world):
    valid_exercise(world.establishment)
    pending = run_from(ScenarioFactory(), world.sibling)
    add_player(pending, Function.IT)
    valid_exercise(world.other_establishment)
    auth = headers(world.ars_manager)

    body = client.get(ORGANISATIONS, **auth).json()
    assert body["count"] == 2
    rows = {row["id"]: row for row in body["results"]}
    assert rows[world.establishment.pk]["is_covered"] is True
    assert rows[world.establishment.pk]["valid_until"] is not None
    assert rows[world.sibling.pk]["is_covered"] is False
    assert rows[world.sibling.pk]["pending_reasons"]
    assert world.other_establishment.pk not in rows
    missing = client.get(ORGANISATIONS, {"statut": "missing"}, **auth).json()["results"]
    assert [row["id"] for row in missing] == [world.sibling.pk]
    found = client.get(ORGANISATIONS, {"q": "tilleuls"}, **auth).json()["results"]
    assert [row["id"] for row in found] == [world.sibling.pk]
    page = client.get(ORGANISATIONS, {"page_size": 1, "page": 2}, **auth).json()
    assert (page["count"], len(page["results"])) == (2, 1)
    _error(client.get(ORGANISATIONS, {"statut": "peut-être"}, **auth), 400, "invalid")
    _error(client.get(ORGANISATIONS, {"departement": "Rhône"}, **auth), 400, "invalid")


def test_coverage_organisations_query_count_does_not_grow(
    client, world, django_assert_max_num_queries
):
    auth = headers(world.ars_manager)
    valid_exercise(world.establishment)
    with CaptureQueriesContext(connection) as few:
        client.get(ORGANISATIONS, **auth)
    for n in range(8):
        valid_exercise(OrganisationFactory(region=world.region, name=f"EHPAD {n}"))
    with django_assert_max_num_queries(len(few)):
        assert client.get(ORGANISATIONS, **auth).json()["count"] == 10


def test_national_observer_reads_by_region_and_runs_nothing(client, world):
    valid_exercise(world.establishment)
    valid_exercise(world.other_establishment)
    national = OrganisationFactory(kind=OrgKind.NATIONAL, name="ANS")
    auth = headers(member(Role.NATIONAL_OBSERVER, national))
    body = client.get(COVERAGE, **auth).json()
    assert body["national"] is True
    assert {c["key"] for c in body["by_region"]} >= {world.region.pk, world.other_region.pk}
    assert body["by_departement"] == []
    regional = client.get(COVERAGE, {"region": world.other_region.pk}, **auth).json()
    assert regional["national"] is False
    assert regional["total"]["covered"] == 1
    error = _error(client.get(RUNS, **auth), 403, "forbidden")
    assert "organisent" in error["message"]
