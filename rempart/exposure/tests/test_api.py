"""REST API of the exposure watch: the RSSI declares an asset and its services and signs the
authorisation; the CRRC operator queues a scan (run here by hand: no background thread in
tests), reads its progress and the findings; the RSSI acknowledges one. Refusals: a private
address without a lab range (400 naming the field), other roles and other establishments (403
with the French reason, 404 on objects outside the scope), an operator of another region (404
on objects, 403 on queueing a scan), bad ids and parameters (400, never 500). The schema still
generates without warnings. Loopback only (the world's lab range is 127.0.0.0/8)."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rempart.core import services as core_services
from rempart.core.models import ApiTokenScope
from rempart.core.roles import OrgKind, Role
from rempart.exposure import perms, services
from rempart.exposure.models import (
    Asset,
    Authorisation,
    Finding,
    Observation,
    Scan,
    ScanStatus,
)
from rempart.exposure.scanner import TimeoutPlan
from rempart.organisations.tests.factories import OrganisationFactory, member

from .factories import exposure_world
from .servers import Listener

pytestmark = pytest.mark.django_db

BASE = "/api/v1/exposure/"
ORGANISATIONS = BASE + "organisations/"
ASSETS = BASE + "assets/"
AUTHORISATIONS = BASE + "authorisations/"
SCANS = BASE + "scans/"
FINDINGS = BASE + "findings/"
LISTS = (ORGANISATIONS, ASSETS, AUTHORISATIONS, SCANS, FINDINGS)
FAST = TimeoutPlan(initial=0.3, minimum=0.1, maximum=0.3)
SECRET_BANNER = "Microsoft Terminal Services srv-paie-07 build 1234"


def headers(user, scope=ApiTokenScope.READ_WRITE) -> dict[str, str]:
    _token, raw = core_services.api_token_create(actor=user, name="Veille", scope=scope)
    return {"HTTP_AUTHORIZATION": f"Token {raw}"}


def _error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    if code is not None:
        assert error["code"] == code
    assert error["message"]
    return error


def post(client, url, auth, data=None):
    return client.post(url, data or {}, content_type="application/json", **auth)


def _sign_body(world, assets) -> dict:
    today = timezone.localdate()
    return {
        "organisation": world.establishment.pk,
        "assets": [a.pk for a in assets],
        "valid_from": today.isoformat(),
        "valid_until": (today + datetime.timedelta(days=300)).isoformat(),
        "weekdays": "1234567",
        "window_start": "00:00",
        "window_end": "23:59:59",
        "max_rate": 200,
    }


def _scanned(world) -> Scan:
    """A finished scan of the world's loopback address, with an RDP port open."""
    rdp = Listener(host=world.address, port=3389)
    try:
        scan = services.scan_queue(actor=world.operator, organisation=world.establishment)
        scan = services.scan_run(scan.pk, timeout_plan=FAST)
    finally:
        rdp.close()
    assert scan.status == ScanStatus.DONE, scan.reason
    return scan


@pytest.fixture
def world():
    return exposure_world()


@pytest.fixture
def far():
    """Another region, with its own CRRC operator and establishment."""
    return exposure_world(code="93")


# --- Access ---------------------------------------------------------------------------------------


def test_anonymous_and_people_without_a_part_in_the_watch_are_refused(client, world):
    for url in LISTS:
        assert client.get(url).status_code in (401, 403)
        _error(client.get(url, HTTP_AUTHORIZATION="Token rmp_faux"), 401, "authentication_failed")
    # An ARS manager uses the API but has no part in the exposure watch: the watch's reason.
    ars = OrganisationFactory(kind=OrgKind.ARS, region=world.region, finess=None)
    auth = headers(member(Role.ARS_MANAGER, ars))
    for url in (*LISTS, f"{ASSETS}{world.asset.pk}/", f"{FINDINGS}1/"):
        error = _error(client.get(url, **auth), 403, "forbidden")
        assert error["message"] == perms.NO_ACCESS
    _error(post(client, SCANS, auth, {"organisation": world.establishment.pk}), 403, "forbidden")
    # The establishment's staff have no API role at all.
    staff = member(Role.STAFF, world.establishment)
    client.force_login(staff)
    _error(client.get(ASSETS), 403)
    _error(client.get(f"{ASSETS}{world.asset.pk}/"), 403)


def test_a_read_only_token_never_writes(client, world):
    auth = headers(world.rssi, ApiTokenScope.READ)
    assert client.get(ASSETS, **auth).status_code == 200
    body = {"organisation": world.establishment.pk, "value": "127.0.0.9"}
    _error(post(client, ASSETS, auth, body), 403)
    assert not Asset.objects.filter(value="127.0.0.9").exists()


# --- Assets and authorisations --------------------------------------------------------------------


def test_the_rssi_declares_an_asset_and_its_service_and_signs(client):
    world = exposure_world(authorised=False)
    auth = headers(world.rssi)

    response = post(
        client,
        ASSETS,
        auth,
        {"organisation": world.establishment.pk, "value": world.address, "description": "VPN"},
    )
    assert response.status_code == 201, response.content
    asset = response.json()
    assert asset["organisation"]["id"] == world.establishment.pk
    assert (asset["kind"], asset["value"], asset["description"]) == (
        "address",
        f"{world.address}/32",
        "VPN",
    )
    assert asset["lab_range"] == "127.0.0.0/8"
    assert asset["address_count"] == 1
    assert asset["in_service"] is True
    assert asset["created_by"]["name"] == "Rémi Sécu"

    response = post(
        client,
        f"{ASSETS}{asset['id']}/services/",
        auth,
        {"port": 443, "purpose": "Passerelle VPN"},
    )
    assert response.status_code == 201, response.content
    assert response.json() == {
        "id": response.json()["id"],
        "asset": asset["id"],
        "port": 443,
        "purpose": "Passerelle VPN",
    }
    detail = client.get(f"{ASSETS}{asset['id']}/", **auth).json()
    assert [(s["port"], s["purpose"]) for s in detail["services"]] == [(443, "Passerelle VPN")]

    listed = client.get(ASSETS, {"organisation": world.establishment.pk}, **auth).json()
    assert [a["id"] for a in listed["results"]] == [asset["id"]]

    response = post(client, AUTHORISATIONS, auth, _sign_body(world, [Asset(pk=asset["id"])]))
    assert response.status_code == 201, response.content
    signed = response.json()
    assert [a["id"] for a in signed["assets"]] == [asset["id"]]
    assert signed["weekdays"] == "1234567"
    assert signed["max_rate"] == 200
    assert signed["in_force"] is True
    assert signed["signed_by"]["name"] == "Rémi Sécu"
    assert signed["signer_name"] == "Rémi Sécu"

    listed = client.get(AUTHORISATIONS, **auth).json()
    assert [a["id"] for a in listed["results"]] == [signed["id"]]
    assert client.get(f"{AUTHORISATIONS}{signed['id']}/", **auth).json()["id"] == signed["id"]

    summary = client.get(f"{ORGANISATIONS}{world.establishment.pk}/", **auth).json()
    assert summary["organisation"]["id"] == world.establishment.pk
    assert summary["authorised"] is True
    assert summary["authorisation"] == signed["id"]
    assert summary["assets"] == 1
    assert summary["last_scan_at"] is None
    assert summary["active_findings"] == 0


def test_a_private_address_without_a_lab_range_is_refused_naming_the_field(client, world):
    auth = headers(world.rssi)
    response = post(
        client, ASSETS, auth, {"organisation": world.establishment.pk, "value": "10.20.30.40"}
    )
    error = _error(response, 400)
    assert "value" in error["details"]
    assert "adresse privée" in error["details"]["value"][0]
    assert "10.20.30.40" in error["message"]
    # Not an address, not a name; more than a /16; a field missing.
    for value in ("pas une adresse !", "203.0.0.0/8"):
        body = {"organisation": world.establishment.pk, "value": value}
        assert "value" in _error(post(client, ASSETS, auth, body), 400)["details"]
    assert (
        "value"
        in _error(post(client, ASSETS, auth, {"organisation": 1}), 400, "invalid")["details"]
    )
    assert Asset.objects.count() == 1


def test_only_the_establishments_declarers_and_signers_write(client, world, far):
    body = {"organisation": world.establishment.pk, "value": "127.1.1.1"}
    # The RSSI of another establishment (of the same region, or elsewhere): 403 with the
    # reason on writes, 404 on the world's objects.
    neighbour = OrganisationFactory(kind=OrgKind.ESTABLISHMENT, region=world.region)
    for other in (member(Role.RSSI, neighbour), far.rssi):
        auth = headers(other)
        error = _error(post(client, ASSETS, auth, body), 403, "forbidden")
        assert error["message"] == perms.NOT_DECLARER
        _error(client.get(f"{ASSETS}{world.asset.pk}/", **auth), 404, "not_found")
        _error(client.delete(f"{ASSETS}{world.asset.pk}/", **auth), 404, "not_found")
        _error(
            post(client, f"{ASSETS}{world.asset.pk}/services/", auth, {"port": 1, "purpose": "x"}),
            404,
        )
        _error(client.get(f"{AUTHORISATIONS}{world.authorisation.pk}/", **auth), 404)
        _error(post(client, f"{AUTHORISATIONS}{world.authorisation.pk}/revoke/", auth), 404)
        error = _error(post(client, AUTHORISATIONS, auth, _sign_body(world, [world.asset])), 403)
        assert error["message"] == perms.NOT_SIGNER
        assets = client.get(ASSETS, **auth).json()["results"]
        assert world.asset.pk not in {a["id"] for a in assets}
        orgs = client.get(ORGANISATIONS, **auth).json()["results"]
        assert world.establishment.pk not in {o["organisation"]["id"] for o in orgs}
        _error(client.get(f"{ORGANISATIONS}{world.establishment.pk}/", **auth), 404)
    # The CRRC operator sees the assets but declares nothing; the DSI declares but does not sign.
    auth = headers(world.operator)
    assert client.get(f"{ASSETS}{world.asset.pk}/", **auth).status_code == 200
    assert _error(post(client, ASSETS, auth, body), 403)["message"] == perms.NOT_DECLARER
    assert _error(client.delete(f"{ASSETS}{world.asset.pk}/", **auth), 403)["message"] == (
        perms.NOT_DECLARER
    )
    dsi = headers(world.dsi)
    assert post(client, ASSETS, dsi, body).status_code == 201
    error = _error(post(client, AUTHORISATIONS, dsi, _sign_body(world, [world.asset])), 403)
    assert error["message"] == perms.NOT_SIGNER
    assert Authorisation.objects.filter(organisation=world.establishment).count() == 1


def test_signing_refuses_bad_and_foreign_assets(client, world, far):
    auth = headers(world.rssi)
    body = _sign_body(world, [far.asset])
    assert _error(post(client, AUTHORISATIONS, auth, body), 400, "invalid")["details"] == {
        "assets": [f"Actif {far.asset.pk} inconnu."]
    }
    body = _sign_body(world, [])
    assert "assets" in _error(post(client, AUTHORISATIONS, auth, body), 400)["details"]
    body = {**_sign_body(world, [world.asset]), "assets": ["un"]}
    assert "assets" in _error(post(client, AUTHORISATIONS, auth, body), 400, "invalid")["details"]
    body = {**_sign_body(world, [world.asset]), "window_end": "pas une heure"}
    _error(post(client, AUTHORISATIONS, auth, body), 400, "invalid")
    body = {**_sign_body(world, [world.asset]), "weekdays": "89"}
    assert "weekdays" in _error(post(client, AUTHORISATIONS, auth, body), 400)["details"]
    body = {**_sign_body(world, [world.asset]), "max_rate": 5000}
    assert "max_rate" in _error(post(client, AUTHORISATIONS, auth, body), 400)["details"]
    body = {**_sign_body(world, [world.asset]), "organisation": 10**10}
    error = _error(post(client, AUTHORISATIONS, auth, body), 400, "invalid")
    assert "organisation" in error["details"]
    assert Authorisation.objects.filter(organisation=world.establishment).count() == 1


def test_retiring_an_asset(client, world):
    auth = headers(world.rssi)
    response = client.delete(f"{ASSETS}{world.asset.pk}/", **auth)
    assert response.status_code == 204, response.content
    world.asset.refresh_from_db()
    assert world.asset.retired_at is not None
    assert client.get(ASSETS, **auth).json()["results"] == []
    retired = client.get(ASSETS, {"retired": "true"}, **auth).json()["results"]
    assert [(a["id"], a["in_service"]) for a in retired] == [(world.asset.pk, False)]
    assert client.get(f"{ASSETS}{world.asset.pk}/", **auth).json()["retired_at"]
    # A retired asset takes no more services.
    body = {"port": 443, "purpose": "Portail"}
    _error(post(client, f"{ASSETS}{world.asset.pk}/services/", auth, body), 400, "refused")


def test_revoking_the_authorisation_stops_the_scans(client, world):
    operator = headers(world.operator)
    queued = post(client, SCANS, operator, {"organisation": world.establishment.pk}).json()
    assert queued["status"] == "queued"
    # The operator does not revoke; the RSSI does.
    url = f"{AUTHORISATIONS}{world.authorisation.pk}/revoke/"
    assert _error(post(client, url, operator), 403)["message"] == perms.NOT_SIGNER
    response = post(client, url, headers(world.rssi))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["revoked_at"]
    assert body["in_force"] is False
    assert body["revoked_by"]["name"] == "Rémi Sécu"
    scan = client.get(f"{SCANS}{queued['id']}/", **operator).json()
    assert (scan["status"], scan["reason"]) == ("cancelled", "Autorisation révoquée")
    error = _error(post(client, SCANS, operator, {"organisation": world.establishment.pk}), 400)
    assert "pas d'autorisation d'analyse en vigueur" in error["message"]


# --- Scans and findings ---------------------------------------------------------------------------


def test_the_operator_queues_a_scan_and_the_rssi_acknowledges_a_finding(client, world):
    operator = headers(world.operator)
    response = post(client, SCANS, operator, {"organisation": world.establishment.pk})
    assert response.status_code == 201, response.content
    queued = response.json()
    assert queued["status"] == "queued"
    assert queued["percent"] == 0
    assert queued["target_count"] == 1
    assert queued["probes_total"] == queued["port_count"] * 1
    assert queued["launched_by"]["name"] == "Inès Analyste"
    assert queued["rate"] == 500
    assert queued["trigger"] == "on_demand"
    assert queued["authorisation"] == world.authorisation.pk
    assert queued["skipped"] == []
    # A second one while the first waits: refused with the reason.
    error = _error(post(client, SCANS, operator, {"organisation": world.establishment.pk}), 400)
    assert "déjà en attente ou en cours" in error["message"]

    rdp = Listener(host=world.address, port=3389)
    try:
        services.scan_run(queued["id"], timeout_plan=FAST)
    finally:
        rdp.close()

    scan = client.get(f"{SCANS}{queued['id']}/", **operator).json()
    assert scan["status"] == "done", scan["reason"]
    assert scan["status_label"] == "Terminée"
    assert scan["percent"] == 100
    assert scan["probes_done"] == scan["probes_total"]
    assert scan["open_found"] >= 1
    assert scan["finished_at"]
    listed = client.get(SCANS, {"organisation": world.establishment.pk}, **operator).json()
    assert [s["id"] for s in listed["results"]] == [queued["id"]]
    assert listed["results"][0]["target_count"] == 1
    assert client.get(SCANS, {"status": "queued"}, **operator).json()["results"] == []

    findings = client.get(FINDINGS, **operator).json()
    assert findings["count"] >= 2
    first = findings["results"][0]
    assert (first["code"], first["severity"], first["status"]) == (
        "exposed_rdp",
        "critical",
        "open",
    )
    assert (first["address"], first["port"]) == (world.address, 3389)
    assert all(first[key] for key in ("title", "explanation", "remediation"))
    assert first["first_scan"] == first["last_scan"] == queued["id"]
    critical = client.get(FINDINGS, {"severity": "critical"}, **operator).json()["results"]
    assert [f["code"] for f in critical] == ["exposed_rdp"]
    assert client.get(FINDINGS, {"status": "fixed"}, **operator).json()["results"] == []

    summary = client.get(ORGANISATIONS, **operator).json()["results"]
    line = next(o for o in summary if o["organisation"]["id"] == world.establishment.pk)
    assert line["findings"]["critical"] == 1
    assert line["findings"]["medium"] >= 1  # the undeclared service
    assert line["active_findings"] == findings["count"]
    assert line["last_scan_at"]
    assert (line["scan_running"], line["authorised"]) == (False, True)

    # The operator does not acknowledge; the RSSI does, with a reason.
    url = f"{FINDINGS}{first['id']}/acknowledge/"
    reason = {"reason": "Fermeture du port prévue vendredi"}
    assert _error(post(client, url, operator, reason), 403)["message"] == perms.NOT_DECLARER
    rssi = headers(world.rssi)
    error = _error(post(client, url, rssi, {"reason": "  "}), 400)
    assert "reason" in error["details"]
    response = post(client, url, rssi, reason)
    assert response.status_code == 200, response.content
    acknowledged = response.json()
    assert acknowledged["status"] == "acknowledged"
    assert acknowledged["ack_reason"] == "Fermeture du port prévue vendredi"
    assert acknowledged["ack_by"]["name"] == "Rémi Sécu"
    assert acknowledged["ack_at"]
    detail = client.get(f"{FINDINGS}{first['id']}/", **rssi).json()
    assert detail["status"] == "acknowledged"
    still_active = client.get(FINDINGS, {"active": "true", "status": "acknowledged"}, **rssi)
    assert [f["id"] for f in still_active.json()["results"]] == [first["id"]]


def test_cancelling_a_scan(client, world):
    operator = headers(world.operator)
    queued = post(client, SCANS, operator, {"organisation": world.establishment.pk}).json()
    url = f"{SCANS}{queued['id']}/cancel/"
    # The establishment sees its scans but does not stop them.
    rssi = headers(world.rssi)
    assert client.get(f"{SCANS}{queued['id']}/", **rssi).status_code == 200
    assert _error(post(client, url, rssi), 403, "forbidden")["message"] == perms.NOT_WATCHER
    _error(post(client, SCANS, rssi, {"organisation": world.establishment.pk}), 403, "forbidden")
    response = post(client, url, operator)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    assert response.json()["reason"] == "Annulée par Inès Analyste"
    assert "déjà terminée" in _error(post(client, url, operator), 400, "refused")["message"]


def test_an_operator_of_another_region_sees_nothing_and_queues_nothing(client, world, far):
    scan = _scanned(world)
    Observation.objects.filter(scan=scan).update(banner=SECRET_BANNER)
    finding = Finding.objects.filter(organisation=world.establishment).first()
    auth = headers(far.operator)
    for url in (
        f"{ORGANISATIONS}{world.establishment.pk}/",
        f"{ASSETS}{world.asset.pk}/",
        f"{AUTHORISATIONS}{world.authorisation.pk}/",
        f"{SCANS}{scan.pk}/",
        f"{FINDINGS}{finding.pk}/",
    ):
        _error(client.get(url, **auth), 404, "not_found")
    _error(post(client, f"{SCANS}{scan.pk}/cancel/", auth), 404)
    _error(post(client, f"{FINDINGS}{finding.pk}/acknowledge/", auth, {"reason": "x"}), 404)
    error = _error(post(client, SCANS, auth, {"organisation": world.establishment.pk}), 403)
    assert (error["code"], error["message"]) == ("forbidden", perms.NOT_WATCHER)
    for url in LISTS:
        response = client.get(url, {"organisation": world.establishment.pk}, **auth)
        assert response.status_code == 200
        assert response.json()["results"] == [] or url == ORGANISATIONS
        assert world.address.encode() not in client.get(url, **auth).content
    # Nothing of what the scans saw on the wire is ever returned, even to the organisation's
    # own operator: the findings say what matters.
    own = headers(world.operator)
    for url in (f"{SCANS}{scan.pk}/", SCANS, FINDINGS, f"{FINDINGS}{finding.pk}/"):
        assert SECRET_BANNER.encode() not in client.get(url, **own).content
    assert Scan.objects.filter(organisation=world.establishment).count() == 1


def test_bad_ids_and_parameters_are_400_never_500(client, world):
    auth = headers(world.operator)
    for url in (
        f"{ASSETS}abc/",
        f"{SCANS}１２/",
        f"{FINDINGS}99999999999999999999/",
        f"{ORGANISATIONS}-1/",
        f"{AUTHORISATIONS}1e3/",
    ):
        error = _error(client.get(url, **auth), 400, "invalid")
        assert "id" in error["details"]
    _error(post(client, f"{SCANS}x/cancel/", auth), 400, "invalid")
    for url, params in (
        (FINDINGS, {"organisation": "abc"}),
        (FINDINGS, {"organisation": "99999999999999999999"}),
        (FINDINGS, {"severity": "apocalyptique"}),
        (FINDINGS, {"status": "perdu"}),
        (SCANS, {"status": "peut-être"}),
        (ASSETS, {"organisation": "1.5"}),
        (AUTHORISATIONS, {"organisation": "-3"}),
    ):
        assert set(_error(client.get(url, params, **auth), 400, "invalid")["details"]) == set(
            params
        )
    for body in ({}, {"organisation": "x"}, {"organisation": 10**15}, {"organisation": None}):
        assert "organisation" in _error(post(client, SCANS, auth, body), 400, "invalid")["details"]
    error = _error(post(client, SCANS, auth, {"organisation": 10**10}), 400, "invalid")
    assert error["details"] == {"organisation": [f"Organisation {10**10} inconnue."]}
    _error(client.get(f"{FINDINGS}123456/", **auth), 404, "not_found")
    # Not JSON at all.
    response = client.post(SCANS, "{", content_type="application/json", **auth)
    _error(response, 400)


def test_lists_are_paginated_with_a_fixed_number_of_queries(client, world):
    _scanned(world)
    finding = Finding.objects.filter(organisation=world.establishment).first()
    services.finding_acknowledge(actor=world.rssi, finding=finding, reason="Correctif prévu")
    auth = headers(world.operator)

    def count_queries(url):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url, **auth)
        assert response.status_code == 200
        return len(ctx.captured_queries), response.json()

    count_queries(ORGANISATIONS)  # the token's first use is recorded once
    before = {url: count_queries(url)[0] for url in LISTS}
    for n in range(3):
        establishment = OrganisationFactory(kind=OrgKind.ESTABLISHMENT, region=world.region)
        rssi = member(Role.RSSI, establishment)
        asset = services.asset_create(
            actor=rssi, organisation=establishment, value=f"127.9.9.{n + 2}"
        )
        services.service_declare(actor=rssi, asset=asset, port=443, purpose="Portail")
        services.authorisation_sign(
            actor=rssi,
            organisation=establishment,
            assets=[asset],
            valid_from=timezone.localdate(),
            valid_until=timezone.localdate() + datetime.timedelta(days=30),
            weekdays="1234567",
            window_start=datetime.time(0, 0),
            window_end=datetime.time(23, 59),
            max_rate=10,
        )
        services.scan_queue(actor=world.operator, organisation=establishment)
    for url in LISTS:
        queries, body = count_queries(url)
        assert queries == before[url], url
        assert {"count", "next", "previous", "results"} <= set(body)
    _queries, body = count_queries(f"{SCANS}?page_size=2")
    assert (body["count"], len(body["results"]), bool(body["next"])) == (4, 2, True)


# --- Schema ---------------------------------------------------------------------------------------


def test_the_schema_documents_the_routes_without_warnings(client, world):
    from django.urls import include, path
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema
    from rest_framework.routers import SimpleRouter

    from rempart.exposure import api_routes
    from rempart.incidents import alert_api
    from rempart.programme import api as programme_api

    # With other viewsets whose « status » and « kind » fields have other choices: no collision.
    router = SimpleRouter()
    api_routes.register(router)
    router.register("alerts", alert_api.AlertViewSet, basename="alert")
    router.register("applications", programme_api.ApplicationViewSet, basename="application")
    GENERATOR_STATS.reset()
    schema = SchemaGenerator(patterns=[path("api/v1/", include(router.urls))]).get_schema(
        request=None, public=True
    )
    assert not GENERATOR_STATS, dict(GENERATOR_STATS._warn_cache)
    validate_schema(schema)

    # The project's schema, as served.
    client.force_login(world.rssi)
    response = client.get("/api/schema/")
    assert response.status_code == 200
    paths = response.json()["paths"]
    expected = {
        "/api/v1/exposure/organisations/": {"get"},
        "/api/v1/exposure/organisations/{id}/": {"get"},
        "/api/v1/exposure/assets/": {"get", "post"},
        "/api/v1/exposure/assets/{id}/": {"get", "delete"},
        "/api/v1/exposure/assets/{id}/services/": {"post"},
        "/api/v1/exposure/authorisations/": {"get", "post"},
        "/api/v1/exposure/authorisations/{id}/": {"get"},
        "/api/v1/exposure/authorisations/{id}/revoke/": {"post"},
        "/api/v1/exposure/scans/": {"get", "post"},
        "/api/v1/exposure/scans/{id}/": {"get"},
        "/api/v1/exposure/scans/{id}/cancel/": {"post"},
        "/api/v1/exposure/findings/": {"get"},
        "/api/v1/exposure/findings/{id}/": {"get"},
        "/api/v1/exposure/findings/{id}/acknowledge/": {"post"},
    }
    for route, methods in expected.items():
        assert set(paths[route]) == methods, route
        for operation in paths[route].values():
            assert operation["tags"] == ["Veille d'exposition"]
            assert operation["summary"]
    params = {p["name"] for p in paths["/api/v1/exposure/findings/"]["get"]["parameters"]}
    assert {"organisation", "status", "severity", "page", "page_size"} <= params
    create = paths["/api/v1/exposure/scans/"]["post"]
    assert {"201", "400", "403"} <= set(create["responses"])
    assert "404" in paths["/api/v1/exposure/findings/{id}/acknowledge/"]["post"]["responses"]


LAB_RANGES = BASE + "lab-ranges/"
STOP = BASE + "emergency-stop/"


def test_the_crrc_allows_and_revokes_lab_ranges_through_the_api(client):
    world = exposure_world()
    auth = headers(world.operator)
    listed = client.get(LAB_RANGES, **auth)
    assert listed.status_code == 200
    assert [row["network"] for row in listed.json()["results"]] == ["127.0.0.0/8"]
    error = _error(
        post(
            client,
            LAB_RANGES,
            auth,
            {"region": world.region.pk, "network": "193.51.24.0/24", "reason": "x"},
        ),
        400,
    )
    assert "public" in error["message"]
    created = post(
        client,
        LAB_RANGES,
        auth,
        {"region": world.region.pk, "network": "10.99.0.0/24", "reason": "Labo"},
    )
    assert created.status_code == 201, created.content
    revoked = post(client, f"{LAB_RANGES}{created.json()['id']}/revoke/", auth)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"]
    # An RSSI has no part in it; a region the operator does not watch is refused.
    _error(client.get(LAB_RANGES, **headers(world.rssi)), 403, "forbidden")
    other = OrganisationFactory(kind=OrgKind.CRRC, finess=None)
    outsider = headers(member(Role.CRRC_OPERATOR, other))
    assert client.get(LAB_RANGES, **outsider).json()["results"] == []
    _error(post(client, f"{LAB_RANGES}{world.lab.pk}/revoke/", outsider), 404)
    _error(
        post(
            client,
            LAB_RANGES,
            outsider,
            {"region": world.region.pk, "network": "10.1.0.0/24", "reason": "x"},
        ),
        403,
        "forbidden",
    )


def test_the_emergency_stop_through_the_api(client):
    world = exposure_world()
    auth = headers(world.operator)
    assert client.get(STOP, **auth).json()["engaged"] is False
    _error(post(client, STOP, auth, {}), 400)
    engaged = post(client, STOP, auth, {"reason": "Plainte d'un hébergeur"})
    assert engaged.status_code == 200
    assert engaged.json()["engaged"] is True
    assert engaged.json()["reason"] == "Plainte d'un hébergeur"
    _error(post(client, SCANS, auth, {"organisation": world.establishment.pk}), 400)
    _error(client.delete(STOP, **headers(world.rssi)), 403, "forbidden")
    released = client.delete(STOP, **auth)
    assert released.status_code == 200
    assert released.json()["engaged"] is False
