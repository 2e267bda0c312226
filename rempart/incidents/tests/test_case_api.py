"""The case API: scoping (list and a structured 403 outside), opening from an alert or for an
organisation, editing, state/outcome/events/tasks/share actions, read-only tokens, schema."""

import datetime
import json

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from rempart.core import services as core_services
from rempart.core.models import ApiTokenScope
from rempart.incidents import case_services as cs
from rempart.incidents.models import (
    AlertStatus,
    Case,
    CaseAccess,
    CaseState,
    EventKind,
    IncidentType,
    TaskStatus,
)

from .factories import incident_world, make_alert, make_case

pytestmark = pytest.mark.django_db

CASES = "api-v1:case-list"


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    cache.clear()


@pytest.fixture
def world():
    return incident_world()


@pytest.fixture
def case(world):
    return cs.case_open(
        actor=world.rssi,
        organisation=world.hospital,
        title="Postes chiffrés",
        incident_type=IncidentType.RANSOMWARE,
        severity="elevee",
        tlp="amber",
    )


def token_for(user, scope=ApiTokenScope.READ_WRITE) -> dict[str, str]:
    _token, raw = core_services.api_token_create(actor=user, name="Tests", scope=scope)
    return {"Authorization": f"Token {raw}"}


def case_url(pk, action: str | None = None) -> str:
    if action is None:
        return reverse("api-v1:case-detail", args=[pk])
    return reverse(f"api-v1:case-{action}", args=[pk])


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()["error"]
    assert body["message"]
    if code:
        assert body["code"] == code, body
    return body


def test_list_is_scoped(client, world, case):
    other = make_case(world, number=7, organisation=world.neighbour)

    def ids(user):
        return {
            row["id"]
            for row in client.get(reverse(CASES), headers=token_for(user)).json()["results"]
        }

    assert ids(world.rssi) == {case.pk}
    assert ids(world.crrc_operator) == {case.pk, other.pk}
    assert ids(world.outsider_crrc) == set()
    assert ids(world.ars_manager) == set()
    body = client.get(reverse(CASES), headers=token_for(world.rssi)).json()["results"][0]
    assert body["reference"] == case.reference
    assert body["organisation"] == {"id": world.hospital.pk, "name": world.hospital.name}
    assert body["tlp"] == "amber"


def test_list_filters_and_query_budget(client, world, case):
    auth = token_for(world.crrc_operator)
    make_case(
        world,
        number=8,
        incident_type=IncidentType.PHISHING,
        state=CaseState.CLOSED,
        closed_at=timezone.now(),
    )

    def rows(**q):
        return [r["id"] for r in client.get(reverse(CASES), q, headers=auth).json()["results"]]

    assert rows(state="ouverts") == [case.pk]
    assert len(rows(incident_type="hameconnage")) == 1
    assert rows(organisation=world.neighbour.pk) == []
    response = client.get(reverse(CASES), {"state": "nimporte"}, headers=auth)
    assert_error(response, 400, "invalid")
    with CaptureQueriesContext(connection) as few:
        client.get(reverse(CASES), headers=auth)
    for number in range(10, 25):
        make_case(world, number=number, lead=world.oncall)
    with CaptureQueriesContext(connection) as many:
        client.get(reverse(CASES), headers=auth)
    assert len(many) == len(few)


def test_out_of_scope_case_is_a_structured_403(client, world, case):
    response = client.get(case_url(case.pk), headers=token_for(world.outsider_crrc))
    body = assert_error(response, 403, "forbidden")
    assert "pas accès à ce dossier" in body["message"]
    assert case.title not in response.text
    assert_error(client.get(case_url(999999), headers=token_for(world.rssi)), 404, "not_found")


def test_retrieve_shows_level_alerts_assets(client, world, case):
    cs.asset_add(actor=world.rssi, case=case, name="SRV-DPI", kind="serveur", state="compromis")
    body = client.get(case_url(case.pk), headers=token_for(world.rssi)).json()
    assert body["access_level"] == "pilotage"
    assert body["assets"][0]["name"] == "SRV-DPI"
    assert body["alerts"] == []


def test_create_from_alert_and_for_an_organisation(client, world):
    alert = make_alert(world)
    repeat = make_alert(world, duplicate_of=alert)
    auth = token_for(world.crrc_operator)
    response = client.post(
        reverse(CASES),
        {
            "alert": alert.pk,
            "title": "Rançongiciel",
            "incident_type": "rancongiciel",
            "severity": "critique",
        },
        content_type="application/json",
        headers=auth,
    )
    assert response.status_code == 201, response.content
    body = response.json()
    case = Case.objects.get(pk=body["id"])
    assert {a["id"] for a in body["alerts"]} == {alert.pk, repeat.pk}
    assert body["lead"]["id"] == world.crrc_operator.pk
    alert.refresh_from_db()
    assert alert.status == AlertStatus.QUALIFIED
    assert case.tasks.exists()
    # Again from the same alert: refused with its reason.
    again = client.post(
        reverse(CASES),
        {"alert": repeat.pk, "title": "X", "incident_type": "autre"},
        content_type="application/json",
        headers=auth,
    )
    assert_error(again, 400, "already_linked")
    # For an organisation.
    response = client.post(
        reverse(CASES),
        {"organisation": world.hospital.pk, "title": "Fuite", "incident_type": "fuite_donnees"},
        content_type="application/json",
        headers=token_for(world.rssi),
    )
    assert response.status_code == 201
    assert response.json()["tlp"] == "amber"


def test_create_refusals(client, world):
    alert = make_alert(world)
    bad = client.post(
        reverse(CASES),
        {"title": "X", "incident_type": "autre"},
        content_type="application/json",
        headers=token_for(world.rssi),
    )
    assert_error(bad, 400, "invalid")
    bad = client.post(
        reverse(CASES),
        {"organisation": world.hospital.pk, "title": "", "incident_type": "virus"},
        content_type="application/json",
        headers=token_for(world.rssi),
    )
    details = assert_error(bad, 400, "invalid")["details"]
    assert {"title", "incident_type"} <= set(details)
    foreign = client.post(
        reverse(CASES),
        {"alert": alert.pk, "title": "X", "incident_type": "autre"},
        content_type="application/json",
        headers=token_for(world.outsider_crrc),
    )
    assert_error(foreign, 403, "forbidden")
    other_org = client.post(
        reverse(CASES),
        {"organisation": world.neighbour.pk, "title": "X", "incident_type": "autre"},
        content_type="application/json",
        headers=token_for(world.rssi),
    )
    assert_error(other_org, 400, "invalid")
    read_only = client.post(
        reverse(CASES),
        {"organisation": world.hospital.pk, "title": "X", "incident_type": "autre"},
        content_type="application/json",
        headers=token_for(world.rssi, ApiTokenScope.READ),
    )
    assert_error(read_only, 403)
    assert not Case.objects.exists()


def test_patch_state_outcome(client, world, case):
    auth = token_for(world.rssi)
    response = client.patch(
        case_url(case.pk),
        {"tlp": "red", "summary": "Synthèse"},
        content_type="application/json",
        headers=auth,
    )
    assert response.status_code == 200
    assert response.json()["tlp"] == "red"
    response = client.post(
        case_url(case.pk, "state"), {"state": "clos"}, content_type="application/json", headers=auth
    )
    assert_error(response, 400, "outcome_required")
    response = client.post(
        case_url(case.pk, "outcome"),
        {"outcome": "vrai_positif_avec_impact"},
        content_type="application/json",
        headers=auth,
    )
    assert response.status_code == 200
    response = client.post(
        case_url(case.pk, "state"), {"state": "clos"}, content_type="application/json", headers=auth
    )
    assert response.status_code == 200
    assert response.json()["closed_at"]
    response = client.post(
        case_url(case.pk, "state"),
        {"state": "qualifie"},
        content_type="application/json",
        headers=auth,
    )
    assert_error(response, 400, "reason_required")
    # The CRRC on-call expert who is not lead nor shared: no access.
    response = client.post(
        case_url(case.pk, "state"),
        {"state": "qualifie", "note": "x"},
        content_type="application/json",
        headers=token_for(world.oncall),
    )
    assert_error(response, 403, "forbidden")


def test_events_get_and_post(client, world, case):
    auth = token_for(world.rssi)
    past = (timezone.now() - datetime.timedelta(hours=3)).isoformat()
    response = client.post(
        case_url(case.pk, "events"),
        {"kind": "action", "text": "Isolement du VLAN", "occurred_at": past},
        content_type="application/json",
        headers=auth,
    )
    assert response.status_code == 201
    assert response.json()["kind"] == "action"
    events = client.get(case_url(case.pk, "events"), headers=auth).json()
    assert events[0]["text"] == "Isolement du VLAN"  # the oldest first
    assert any(e["kind"] == EventKind.STATE for e in events)
    future = (timezone.now() + datetime.timedelta(days=1)).isoformat()
    response = client.post(
        case_url(case.pk, "events"),
        {"kind": "note", "text": "x", "occurred_at": future},
        content_type="application/json",
        headers=auth,
    )
    assert_error(response, 400, "in_future")
    response = client.post(
        case_url(case.pk, "events"),
        {"kind": "etat", "text": "x"},
        content_type="application/json",
        headers=auth,
    )
    assert_error(response, 400, "invalid")


def test_tasks_get_post_patch(client, world, case):
    auth = token_for(world.rssi)
    tasks = client.get(case_url(case.pk, "tasks"), headers=auth).json()
    assert {t["kind"] for t in tasks} == {"tache", "verification"}
    response = client.post(
        case_url(case.pk, "tasks"),
        {"title": "Prévenir la CNIL", "assignee": world.director.pk},
        content_type="application/json",
        headers=auth,
    )
    assert response.status_code == 201
    task_id = response.json()["id"]
    assert response.json()["assignee"]["id"] == world.director.pk
    response = client.post(
        case_url(case.pk, "tasks"),
        {"title": "X", "assignee": world.outsider_rssi.pk},
        content_type="application/json",
        headers=auth,
    )
    assert_error(response, 400, "invalid")
    task_url = reverse("api-v1:case-task", args=[case.pk, task_id])
    response = client.patch(
        task_url,
        {"status": "faite", "assignee": None},
        content_type="application/json",
        headers=auth,
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == TaskStatus.DONE
    assert response.json()["assignee"] is None
    other = make_case(world, number=30, organisation=world.neighbour)
    foreign = other.tasks.create(title="Ailleurs", created_at=timezone.now())
    response = client.patch(
        reverse("api-v1:case-task", args=[case.pk, foreign.pk]),
        {"status": "faite"},
        content_type="application/json",
        headers=auth,
    )
    assert_error(response, 404)


def test_share_and_unshare(client, world, case):
    auth = token_for(world.rssi)
    response = client.post(
        case_url(case.pk, "share"),
        {"organisation": world.ars.pk, "level": "lecture"},
        content_type="application/json",
        headers=auth,
    )
    assert response.status_code == 201
    access_id = response.json()["id"]
    ars = token_for(world.ars_manager)
    assert client.get(case_url(case.pk), headers=ars).json()["access_level"] == "lecture"
    response = client.post(
        case_url(case.pk, "events"),
        {"kind": "note", "text": "x"},
        content_type="application/json",
        headers=ars,
    )
    assert_error(response, 403, "forbidden")
    assert_error(client.get(case_url(case.pk, "share"), headers=ars), 403, "forbidden")
    listed = client.get(case_url(case.pk, "share"), headers=auth).json()
    assert [a["id"] for a in listed] == [access_id]
    response = client.post(
        case_url(case.pk, "share"),
        {"person": world.outsider_crrc.pk, "level": "lecture"},
        content_type="application/json",
        headers=auth,
    )
    assert_error(response, 400, "invalid")
    response = client.delete(case_url(case.pk, "share") + f"?access={access_id}", headers=auth)
    assert response.status_code == 204
    assert not CaseAccess.objects.exists()
    assert_error(client.get(case_url(case.pk), headers=ars), 403, "forbidden")


def test_schema_documents_the_case_routes_without_shared_enums(client, world):
    """The case components keep their enums inline: no name collision with the fields named
    alike elsewhere in the API (state, status, kind, level, tlp)."""
    from drf_spectacular.validation import validate_schema

    client.force_login(world.rssi)
    schema = client.get(reverse("api-schema")).json()
    validate_schema(schema)
    paths = schema["paths"]
    assert set(paths["/api/v1/cases/"]) == {"get", "post"}
    assert set(paths["/api/v1/cases/{id}/"]) == {"get", "patch"}
    assert set(paths["/api/v1/cases/{id}/share/"]) == {"get", "post", "delete"}
    for path in ("state", "outcome"):
        assert set(paths[f"/api/v1/cases/{{id}}/{path}/"]) == {"post"}
    for path in ("events", "tasks"):
        assert set(paths[f"/api/v1/cases/{{id}}/{path}/"]) == {"get", "post"}
    assert paths["/api/v1/cases/"]["post"]["summary"] == "Ouvrir un dossier d'incident"
    assert "403" in paths["/api/v1/cases/{id}/"]["get"]["responses"]
    mine = {name: c for name, c in schema["components"]["schemas"].items() if "Case" in name}
    assert {"Case", "CaseDetail", "CaseTask", "CaseEvent", "CaseAccess"} <= set(mine)
    assert "Enum" not in json.dumps(mine)
    state = mine["CaseDetail"]["properties"]["state"]
    assert state["allOf"][0]["enum"] == list(CaseState.values)
