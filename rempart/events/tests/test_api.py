"""REST API of trainings: the sessions and registrations of the pages' scope (404 outside it,
403 with the reason for a lacking right), registrations through the page's service (waiting
list with its position, duplicates refused), cancel with promotion, the figures page's numbers,
read-only tokens refused on writes, structured errors, fixed query counts on lists."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rempart.core import services as core_services
from rempart.core.models import ApiTokenScope
from rempart.core.roles import Role
from rempart.events import services
from rempart.events.models import Registration, RegistrationStatus, SessionKind
from rempart.organisations.tests.factories import member

from .factories import (
    events_world,
    published_session,
    register,
    run_on_commit_now,
    session_data,
    start,
)

pytestmark = pytest.mark.django_db

SESSIONS = "/api/v1/trainings/sessions/"
REGISTRATIONS = "/api/v1/trainings/registrations/"
FIGURES = "/api/v1/trainings/figures/"


@pytest.fixture
def world(monkeypatch):
    run_on_commit_now(monkeypatch)
    return events_world()


def headers(user, scope=ApiTokenScope.READ_WRITE) -> dict[str, str]:
    _token, raw = core_services.api_token_create(actor=user, name="Intégration", scope=scope)
    return {"HTTP_AUTHORIZATION": f"Token {raw}"}


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    return error


def _person(n: int, session, organisation) -> dict:
    return {
        "session": session.pk,
        "organisation": organisation.pk,
        "first_name": f"Prénom{n}",
        "last_name": f"Nom{n}",
        "email": f"api{n}@ch-rivebelle.fr",
        "function": "Technicien SI",
    }


# --- Authentication and scopes ----------------------------------------------------------------


def test_anonymous_and_unknown_tokens_are_refused(client, world):
    published_session(world)
    for url in (SESSIONS, REGISTRATIONS, FIGURES):
        assert client.get(url).status_code in (401, 403)
        _error(client.get(url, HTTP_AUTHORIZATION="Token rmp_faux"), 401, "authentication_failed")


def test_sessions_of_the_region_only_and_other_region_404(client, world):
    mine = published_session(world, title="AD")
    faraway = published_session(
        world, organiser=world.other_crrc, actor=world.outsider_trainer, title="Ailleurs"
    )
    draft = services.session_create(
        actor=world.trainer,
        organiser=world.crrc,
        data=session_data(title="Brouillon"),
    )
    auth = headers(world.director)
    body = client.get(SESSIONS, **auth).json()
    assert [s["id"] for s in body["results"]] == [mine.pk]
    line = body["results"][0]
    assert (line["seats_left"], line["days"], line["duration_hours"]) == (2, 1, 3.0)
    _error(client.get(f"{SESSIONS}{faraway.pk}/", **auth), 404, "not_found")
    _error(client.get(f"{SESSIONS}{draft.pk}/", **auth), 404, "not_found")
    # The CRRC's operator (a trainer) sees their CRRC's draft too, like on the page.
    trainer = client.get(SESSIONS, **headers(world.crrc_operator)).json()
    assert {s["id"] for s in trainer["results"]} == {mine.pk, draft.pk}
    # The outsider sees their own region's session only.
    outsider = client.get(SESSIONS, **headers(world.outsider_director)).json()
    assert [s["id"] for s in outsider["results"]] == [faraway.pk]


def test_session_filters_and_detail(client, world):
    training = published_session(world, title="AD", programme="Sécurisation de l'AD")
    webinar = published_session(world, kind=SessionKind.WEBINAR, title="Webinaire")
    past = published_session(world, title="Passée")
    start(past, hours_ago=30)
    auth = headers(world.director)
    assert [
        s["id"] for s in client.get(SESSIONS, {"kind": "webinar"}, **auth).json()["results"]
    ] == [webinar.pk]
    found = client.get(SESSIONS, {"programme": "sécurisation de l'ad"}, **auth).json()
    assert [s["id"] for s in found["results"]] == [training.pk]
    upcoming = client.get(SESSIONS, {"upcoming": "true"}, **auth).json()["results"]
    assert past.pk not in {s["id"] for s in upcoming}
    assert [
        s["id"] for s in client.get(SESSIONS, {"upcoming": "false"}, **auth).json()["results"]
    ] == [past.pk]
    error = _error(client.get(SESSIONS, {"upcoming": "bientôt"}, **auth), 400, "invalid")
    assert "upcoming" in error["details"]
    _error(client.get(SESSIONS, {"kind": "conférence"}, **auth), 400, "invalid")

    register(world, training, 1)
    detail = client.get(f"{SESSIONS}{training.pk}/", **auth).json()
    assert (detail["seats_left"], detail["confirmed_count"], detail["is_open"]) == (1, 1, True)
    assert detail["can_manage"] is False


def test_people_without_trainings_get_a_clear_refusal(client, world):
    published_session(world)
    oncall = member(Role.CRRC_ONCALL, world.crrc)
    error = _error(client.get(SESSIONS, **headers(oncall)), 403, "forbidden")
    assert "réservés" in error["message"]
    _error(client.get(REGISTRATIONS, **headers(oncall)), 403, "forbidden")
    # A role without the API at all: refused by the API itself, even with a browser session.
    client.force_login(world.staff)
    error = _error(client.get(SESSIONS), 403, "permission_denied")
    assert "API" in error["message"]


# --- Registrations ----------------------------------------------------------------------------


def test_register_then_waiting_list_with_position_then_duplicate(client, world):
    session = published_session(world, capacity=1)
    auth = headers(world.director)
    first = client.post(
        REGISTRATIONS,
        _person(1, session, world.establishment),
        content_type="application/json",
        **auth,
    )
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["registration"]["status"] == "confirmed"
    assert body["waiting_position"] is None
    second = client.post(
        REGISTRATIONS,
        _person(2, session, world.establishment),
        content_type="application/json",
        **auth,
    )
    assert second.status_code == 201
    body = second.json()
    assert body["registration"]["status"] == "waiting"
    assert body["waiting_position"] == 1
    assert "liste d'attente" in body["message"]
    error = _error(
        client.post(
            REGISTRATIONS,
            _person(1, session, world.establishment),
            content_type="application/json",
            **auth,
        ),
        400,
        "duplicate",
    )
    assert "email" in error["details"]
    assert Registration.objects.filter(session=session).count() == 2


def test_register_refusals(client, world):
    session = published_session(world)
    faraway = published_session(world, organiser=world.other_crrc, actor=world.outsider_trainer)
    auth = headers(world.director)
    # A session of another region: not found, as on the page.
    _error(
        client.post(
            REGISTRATIONS,
            _person(1, faraway, world.establishment),
            content_type="application/json",
            **auth,
        ),
        404,
        "not_found",
    )
    # An organisation the director does not register for.
    error = _error(
        client.post(
            REGISTRATIONS,
            _person(1, session, world.sibling),
            content_type="application/json",
            **auth,
        ),
        400,
        "invalid",
    )
    assert "organisation" in error["details"]
    # Bad data: the fields say what is wrong.
    error = _error(
        client.post(
            REGISTRATIONS, {"session": session.pk}, content_type="application/json", **auth
        ),
        400,
        "invalid",
    )
    assert {"organisation", "first_name", "last_name", "email"} <= set(error["details"])
    # A trainer registers nobody.
    _error(
        client.post(
            REGISTRATIONS,
            _person(1, session, world.establishment),
            content_type="application/json",
            **headers(world.crrc_operator),
        ),
        403,
        "forbidden",
    )
    # A read-only token never writes.
    error = _error(
        client.post(
            REGISTRATIONS,
            _person(1, session, world.establishment),
            content_type="application/json",
            **headers(world.director, ApiTokenScope.READ),
        ),
        403,
        "permission_denied",
    )
    assert "lecture seule" in error["message"]
    assert not Registration.objects.exists()


def test_list_and_cancel_with_promotion(client, world):
    session = published_session(world, capacity=1)
    confirmed = register(world, session, 1).registration
    waiting = register(world, session, 2).registration
    other = published_session(world, organiser=world.other_crrc, actor=world.outsider_trainer)
    theirs = services.registration_create(
        actor=world.outsider_director,
        session=other,
        organisation=world.other_establishment,
        first_name="A",
        last_name="B",
        email="ab@ailleurs.fr",
    ).registration
    auth = headers(world.director)
    body = client.get(REGISTRATIONS, **auth).json()
    assert {r["id"] for r in body["results"]} == {confirmed.pk, waiting.pk}
    only_waiting = client.get(REGISTRATIONS, {"status": "waiting"}, **auth).json()["results"]
    assert [r["id"] for r in only_waiting] == [waiting.pk]
    _error(client.get(f"{REGISTRATIONS}{theirs.pk}/", **auth), 404, "not_found")

    # Someone of another region cannot cancel it (404), a read-only token neither (403).
    _error(
        client.post(f"{REGISTRATIONS}{confirmed.pk}/cancel/", **headers(world.outsider_director)),
        404,
        "not_found",
    )
    _error(
        client.post(
            f"{REGISTRATIONS}{confirmed.pk}/cancel/",
            **headers(world.director, ApiTokenScope.READ),
        ),
        403,
        "permission_denied",
    )
    response = client.post(f"{REGISTRATIONS}{confirmed.pk}/cancel/", **auth)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["registration"]["status"] == "cancelled"
    assert body["promoted"]["id"] == waiting.pk
    assert body["promoted"]["status"] == "confirmed"
    waiting.refresh_from_db()
    assert waiting.status == RegistrationStatus.CONFIRMED
    # Twice: the service's refusal, structured.
    error = _error(client.post(f"{REGISTRATIONS}{confirmed.pk}/cancel/", **auth), 400, "refused")
    assert "déjà annulée" in error["message"]


def test_registration_list_query_count_does_not_grow(client, world):
    session = published_session(world, capacity=50)
    auth = headers(world.director)
    register(world, session, 1)
    with CaptureQueriesContext(connection) as few:
        assert client.get(REGISTRATIONS, **auth).status_code == 200
    for n in range(2, 12):
        register(world, session, n)
    with CaptureQueriesContext(connection) as many:
        assert client.get(REGISTRATIONS, **auth).json()["count"] == 11
    # (The first call also records the token's last use: the later one may only be cheaper.)
    assert len(many) <= len(few)


def test_session_list_query_count_does_not_grow(client, world, django_assert_max_num_queries):
    auth = headers(world.director)
    published_session(world)
    with CaptureQueriesContext(connection) as few:
        client.get(SESSIONS, **auth)
    for n in range(8):
        published_session(world, title=f"Session {n}")
    with django_assert_max_num_queries(len(few)):
        assert client.get(SESSIONS, **auth).json()["count"] == 9


# --- Figures ----------------------------------------------------------------------------------


def test_figures_are_the_pages_numbers_for_ars_and_crrc_only(client, world):
    session = published_session(world, capacity=3)
    present = register(world, session, 1).registration
    register(world, session, 2)
    start(session)
    services.attendance_record(
        actor=world.trainer, session=session, present_ids={present.pk}, send_survey=False
    )
    present.refresh_from_db()
    services.survey_answer_record(registration=present, score=9)
    for user in (world.ars_manager, world.crrc_operator):
        body = client.get(FIGURES, **headers(user)).json()
        assert body["structures_enrolled"] == 1
        assert body["people_registered"] == 2
        assert body["people_trained"] == 1
        assert body["sessions_held"] == 1
        assert body["satisfaction"] == {"average": 9.0, "answers": 1}
        assert body["by_kind"][0]["kind"] == "training"
        assert body["sessions"][0]["id"] == session.pk
        assert body["sessions"][0]["attendances"] == 1
    year = timezone.localtime(session.starts_at).year
    assert (
        client.get(FIGURES, {"annee": year - 1}, **headers(world.ars_manager)).json()[
            "sessions_held"
        ]
        == 0
    )
    _error(client.get(FIGURES, {"annee": "demain"}, **headers(world.ars_manager)), 400, "invalid")
    # An establishment sees its own staff's page, not the region's figures.
    _error(client.get(FIGURES, **headers(world.director)), 403, "forbidden")
    # Another region's CRRC sees none of this region's sessions.
    outsider = member(Role.CRRC_OPERATOR, world.other_crrc)
    assert client.get(FIGURES, **headers(outsider)).json()["sessions_held"] == 0


def test_session_over_several_days_in_the_api(client, world):
    starts = (timezone.now() + datetime.timedelta(days=20)).replace(
        hour=8, minute=0, second=0, microsecond=0
    )
    session = published_session(
        world, starts_at=starts, ends_at=starts + datetime.timedelta(days=1, hours=8)
    )
    body = client.get(f"{SESSIONS}{session.pk}/", **headers(world.director)).json()
    assert body["days"] == 2
    assert body["duration_hours"] == 16.0
