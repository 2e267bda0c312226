"""The alert API: filing (idempotent, never refused for a missing field, 400 for what cannot be
stored), scoped reads, the handlers' actions, its own throttle."""

import pytest
from django.core import mail
from django.urls import reverse
from rest_framework.throttling import SimpleRateThrottle

from rempart.core import services as core_services
from rempart.core.models import ApiTokenScope
from rempart.incidents import alert_api
from rempart.incidents.models import Alert, AlertSource, AlertStatus, IncidentType, PagingStatus

from .factories import incident_world, make_alert

pytestmark = pytest.mark.django_db

ALERTS = reverse("api-v1:alert-list")


def detail(pk, action=None) -> str:
    if action:
        return reverse(f"api-v1:alert-{action}", args=[pk])
    return reverse("api-v1:alert-detail", args=[pk])


def token_for(user, scope=ApiTokenScope.READ_WRITE) -> dict[str, str]:
    _token, raw = core_services.api_token_create(actor=user, name="Tests", scope=scope)
    return {"Authorization": f"Token {raw}"}


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert {"code", "message"} <= set(body["error"])
    if code:
        assert body["error"]["code"] == code, body
    return body


@pytest.fixture
def world():
    return incident_world()


@pytest.fixture
def rssi(world):
    return token_for(world.rssi)


def post(client, headers, data, **extra):
    return client.post(ALERTS, data, content_type="application/json", headers={**headers, **extra})


def test_filing_a_complete_alert(client, world, rssi, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(
            client,
            rssi,
            {
                "organisation": world.hospital.pk,
                "reporter_name": "Rémi Ressi",
                "callback_phone": "+33 6 12 34 56 78",
                "incident_type": "rancongiciel",
                "description": "Chiffrement des serveurs de fichiers",
                "observed_at": "2026-01-05T03:10:00+01:00",
                "affects_care": "oui",
                "affects_health_data": False,
                "affects_systems": "inconnu",
                "checklist": ["isoler_reseau"],
            },
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["complete"] is True
    assert body["missing_fields"] == []
    assert body["source"] == AlertSource.API
    assert body["organisation"] == {"id": world.hospital.pk, "name": world.hospital.name}
    assert body["crrc"]["id"] == world.crrc.pk
    assert body["affects_health_data"] == "non"
    assert body["checklist"]["isoler_reseau"] is True
    # Paged through the real chain once committed: the page shows in the alert.
    body = client.get(detail(body["id"]), headers=rssi).json()
    assert body["paging_status"] == PagingStatus.PAGING
    assert [p["recipient"]["id"] for p in body["pages"] if p["channel"] == "email"] == [
        world.oncall.pk
    ]
    assert any(m.to == [world.oncall.email] for m in mail.outbox)


def test_missing_fields_never_refuse_an_alert(client, world, rssi):
    response = post(client, rssi, {"organisation": world.hospital.pk})
    assert response.status_code == 201
    body = response.json()
    assert body["complete"] is False
    assert "description" in body["missing_fields"]
    assert "reporter_name" not in body["missing_fields"]  # the account's name
    # Garbled values are kept.
    response = post(
        client,
        token_for(world.director),
        {
            "organisation": world.hospital.pk,
            "observed_at": "hier",
            "incident_type": "virus",
            "affects_care": "bof",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["organisation"]["id"] == world.hospital.pk
    assert body["observed_at_text"] == "hier"
    assert body["incident_type"] == IncidentType.OTHER
    assert {"observed_at", "incident_type", "affects_care"} <= set(body["missing_fields"])
    assert "virus" in body["description"]
    assert "bof" in body["description"]


def test_what_cannot_be_stored_is_a_400(client, world, rssi):
    before = Alert.objects.count()
    for data, field in (
        ({"organisation": "CH Rivebelle"}, "organisation"),
        ({"organisation": world.hospital.pk, "description": {"a": 1}}, "description"),
        ({"organisation": world.hospital.pk, "affects_care": 3}, "affects_care"),
        ({"organisation": world.hospital.pk, "checklist": "isoler"}, "checklist"),
        ({"organisation": world.hospital.pk, "client_reference": "x" * 101}, "client_reference"),
    ):
        body = assert_error(post(client, rssi, data), 400, "invalid")
        assert field in body["error"]["details"], body
    # A structure outside one's scope looks like an unknown one (nothing about it leaks).
    for wanted in (world.neighbour.pk, 999_999):
        body = assert_error(post(client, rssi, {"organisation": wanted}), 400, "invalid")
        assert "inconnue" in body["error"]["message"]
    # The structure is the one thing an alert cannot do without (which CRRC to page?).
    for data in ({}, {"organisation": None, "description": "Rançon"}):
        body = assert_error(post(client, rssi, data), 400, "invalid")
        assert body["error"]["details"]["organisation"] == [
            "Indiquez la structure concernée (organisation)."
        ]
    # Not JSON at all.
    response = client.post(ALERTS, "{pas du json", content_type="application/json", headers=rssi)
    assert_error(response, 400)
    assert Alert.objects.count() == before


def test_the_same_key_answers_the_same_alert(client, world, rssi):
    data = {"organisation": world.hospital.pk, "description": "Rançon"}
    first = post(client, rssi, data, **{"Idempotency-Key": "siem-123"})
    again = post(client, rssi, {**data, "description": "changé"}, **{"Idempotency-Key": "siem-123"})
    assert first.status_code == 201
    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() | {"pages": again.json()["pages"]}
    assert Alert.objects.filter(client_reference="siem-123").count() == 1
    # The body's client_reference works too.
    by_field = post(client, rssi, {**data, "client_reference": "siem-124"})
    replay = post(client, rssi, {**data, "client_reference": "siem-124"})
    assert (by_field.status_code, replay.status_code) == (201, 200)
    assert by_field.json()["id"] == replay.json()["id"]


def test_reads_are_scoped(client, world):
    mine = make_alert(world, missing_fields=["callback_phone"])
    theirs = make_alert(
        world, organisation=world.neighbour, reporter=world.neighbour_rssi, description="Voisin"
    )
    ids = lambda response: {row["id"] for row in response.json()["results"]}  # noqa: E731
    assert ids(client.get(ALERTS, headers=token_for(world.rssi))) == {mine.pk}
    assert ids(client.get(ALERTS, headers=token_for(world.crrc_operator))) == {mine.pk, theirs.pk}
    assert ids(client.get(ALERTS, headers=token_for(world.outsider_crrc))) == set()
    operator = token_for(world.crrc_operator)
    filtered = client.get(ALERTS, {"organisation": world.neighbour.pk}, headers=operator)
    assert ids(filtered) == {theirs.pk}
    assert ids(client.get(ALERTS, {"incomplete": "true"}, headers=operator)) == {mine.pk}
    assert ids(client.get(ALERTS, {"incomplete": "false"}, headers=operator)) == {theirs.pk}
    assert_error(client.get(ALERTS, {"status": "zzz"}, headers=operator), 400)
    body = assert_error(client.get(detail(mine.pk), headers=token_for(world.outsider_rssi)), 403)
    assert "pas accès à cette alerte" in body["error"]["message"]
    assert "rançon" not in str(body)
    assert_error(client.get(detail(mine.pk + 999), headers=operator), 404, "not_found")
    assert client.get(detail(mine.pk), headers=operator).json()["pages"] == []


def test_handler_actions(client, world):
    alert = make_alert(world, paging_status=PagingStatus.PAGING)
    reporter_side = token_for(world.outsider_crrc)
    assert_error(client.post(detail(alert.pk, "acknowledge"), headers=reporter_side), 403)
    operator = token_for(world.crrc_operator)
    response = client.post(detail(alert.pk, "acknowledge"), headers=operator)
    assert response.status_code == 200
    assert response.json()["paging_status"] == PagingStatus.ACKNOWLEDGED
    assert response.json()["acknowledged_by"]["id"] == world.crrc_operator.pk
    other = token_for(world.rssi)
    assert_error(
        client.post(detail(alert.pk, "acknowledge"), headers=other), 400, "already_acknowledged"
    )
    body = assert_error(
        client.post(
            detail(alert.pk, "qualify"), {}, content_type="application/json", headers=operator
        ),
        400,
        "invalid",
    )
    assert "note" in body["error"]["details"]
    response = client.post(
        detail(alert.pk, "qualify"),
        {"note": "Avéré"},
        content_type="application/json",
        headers=operator,
    )
    assert response.json()["status"] == AlertStatus.QUALIFIED
    response = client.post(
        detail(alert.pk, "dismiss"),
        {"reason": "Exercice"},
        content_type="application/json",
        headers=operator,
    )
    assert response.status_code == 200
    assert response.json()["status"] == AlertStatus.DISMISSED
    # A read-only token never writes.
    fresh = make_alert(world, incident_type=IncidentType.PHISHING)
    read_only = token_for(world.crrc_operator, ApiTokenScope.READ)
    assert_error(client.post(detail(fresh.pk, "acknowledge"), headers=read_only), 403)
    assert_error(post(client, read_only, {"organisation": world.hospital.pk}), 403)


def test_filing_has_its_own_generous_throttle(client, world, rssi, monkeypatch):
    """A busy gateway is never cut off by the per-person budget of the rest of the API."""
    assert alert_api.AlertCreateThrottle.scope == "alerts"
    rates = dict(alert_api.AlertCreateThrottle.THROTTLE_RATES)
    assert alert_api.AlertCreateThrottle().parse_rate(rates["alerts"])[0] >= 10_000
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {**rates, "user": "2/hour"})
    for _ in range(4):
        assert post(client, rssi, {"organisation": world.hospital.pk}).status_code in (200, 201)
    statuses = [client.get(ALERTS, headers=rssi).status_code for _ in range(3)]
    assert statuses[-1] == 429


def test_schema_documents_the_alert_routes_without_warnings():
    """Generated with the other viewsets that have « status » and « kind » fields: the alert
    components never collide with them (the project's schema is built with --fail-on-warn)."""
    from django.urls import include, path
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema
    from rest_framework.routers import SimpleRouter

    from rempart.incidents import case_api
    from rempart.programme import api as programme_api

    router = SimpleRouter()
    router.register("alerts", alert_api.AlertViewSet, basename="alert")
    router.register("cases", case_api.CaseViewSet, basename="case")
    router.register("applications", programme_api.ApplicationViewSet, basename="application")
    GENERATOR_STATS.reset()
    schema = SchemaGenerator(patterns=[path("api/v1/", include(router.urls))]).get_schema(
        request=None, public=True
    )
    assert not GENERATOR_STATS, dict(GENERATOR_STATS._warn_cache)
    validate_schema(schema)
    paths = schema["paths"]
    assert set(paths["/api/v1/alerts/"]) == {"get", "post"}
    assert set(paths["/api/v1/alerts/{id}/"]) == {"get"}
    for action in ("acknowledge", "qualify", "dismiss"):
        assert set(paths[f"/api/v1/alerts/{{id}}/{action}/"]) == {"post"}
    create = paths["/api/v1/alerts/"]["post"]
    assert create["summary"] == "Déposer une alerte"
    assert {"201", "200", "400", "403"} <= set(create["responses"])
    assert "Idempotency-Key" in {p["name"] for p in create["parameters"]}
    params = {p["name"] for p in paths["/api/v1/alerts/"]["get"]["parameters"]}
    assert {"status", "incident_type", "organisation", "incomplete", "page"} <= params
