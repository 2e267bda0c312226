"""ORSAN cyber REST API: the whole path by tokens, structured refusals (over-lending, rights,
read-only token, another region's objects not found), query budgets, the OpenAPI schema."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.validation import validate_schema

from rempart.core import services as core_services
from rempart.core.models import ApiTokenScope
from rempart.incidents import orsan_services as services
from rempart.incidents.models import AidRequest, AidStatus, PooledResource, ResourceKind

from .test_orsan_services import *  # noqa: F403  (the fixtures: world, laptops, case, activation)
from .test_orsan_services import ask, availability

pytestmark = pytest.mark.django_db

RESOURCES = "api-v1:orsan-resource-list"
ACTIVATIONS = "api-v1:orsan-activation-list"
REQUESTS = "api-v1:orsan-request-list"


def token_for(user, scope=ApiTokenScope.READ_WRITE) -> dict[str, str]:
    _token, raw = core_services.api_token_create(actor=user, name="Tests", scope=scope)
    return {"Authorization": f"Token {raw}"}


def post(client, url, data, auth):
    return client.post(url, data, content_type="application/json", headers=auth)


def step(pk, name) -> str:
    return reverse(f"api-v1:orsan-request-{name}", args=[pk])


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    if code:
        assert body["error"]["code"] == code, body
    return body


def test_the_whole_path_by_api(client, world, activation):
    neighbour = token_for(world.neighbour_rssi)
    response = post(
        client,
        reverse(RESOURCES),
        {
            "organisation": world.neighbour.pk,
            "kind": "postes",
            "label": "Postes portables",
            "quantity": 20,
            "unit": "postes",
            "contact": world.neighbour_rssi.pk,
        },
        neighbour,
    )
    assert response.status_code == 201, response.content
    resource = response.json()
    assert resource["available"] == 20
    assert resource["contact"]["email"] == world.neighbour_rssi.email
    assert resource["organisation"]["name"] == "Hôpital du Val"

    rssi = token_for(world.rssi)
    listed = client.get(reverse(ACTIVATIONS), headers=rssi).json()
    assert [a["id"] for a in listed["results"]] == [activation.pk]
    assert listed["results"][0]["case"] == activation.case_id  # the victim sees its case
    assert listed["results"][0]["running"] is True
    neighbour_view = client.get(reverse(ACTIVATIONS), headers=neighbour).json()["results"][0]
    assert neighbour_view["case"] is None  # not shared with the neighbour
    response = post(
        client,
        reverse(REQUESTS),
        {
            "activation": activation.pk,
            "requester": world.hospital.pk,
            "kind": "postes",
            "need": "Rouvrir les urgences.",
            "quantity": 12,
            "resource": resource["id"],
        },
        rssi,
    )
    assert response.status_code == 201, response.content
    aid = response.json()
    assert (aid["status"], aid["resource"]["id"]) == ("demandee", resource["id"])

    crrc = token_for(world.crrc_operator)
    response = post(client, step(aid["id"], "mobilise"), {"resource": resource["id"]}, crrc)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "mobilisee"
    detail = client.get(
        reverse("api-v1:orsan-resource-detail", args=[resource["id"]]), headers=rssi
    )
    assert (detail.json()["engaged"], detail.json()["available"]) == (12, 8)

    due = (timezone.localdate() + datetime.timedelta(days=7)).isoformat()
    response = post(client, step(aid["id"], "lend"), {"due_back_on": due}, neighbour)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["due_back_on"], body["overdue"]) == ("pretee", due, False)
    loans = client.get(reverse(REQUESTS), {"status": "pretee"}, headers=crrc).json()
    assert [row["id"] for row in loans["results"]] == [aid["id"]]

    response = post(client, step(aid["id"], "return"), {"condition": "Complet."}, neighbour)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "restituee"
    assert availability(PooledResource.objects.get(pk=resource["id"])) == 20


def test_refusals_are_structured(client, world, laptops, activation):
    crrc = token_for(world.crrc_operator)
    first, second = ask(world, activation, quantity=15), ask(world, activation, quantity=10)
    services.aid_mobilise(actor=world.crrc_operator, aid=first, resource=laptops)
    body = assert_error(
        post(client, step(second.pk, "mobilise"), {"resource": laptops.pk}, crrc),
        400,
        "over_lending",
    )
    assert "Il ne reste que 5 postes" in body["error"]["message"]
    assert "quantity" in body["error"]["details"]
    assert_error(post(client, step(second.pk, "mobilise"), {"resource": "x"}, crrc), 400, "invalid")
    assert_error(
        post(client, step(first.pk, "mobilise"), {"resource": laptops.pk}, crrc),
        400,
        "invalid_state",
    )
    # The victim does not mobilise; a neighbour does not ask for the victim.
    assert_error(
        post(client, step(second.pk, "mobilise"), {"resource": laptops.pk}, token_for(world.rssi)),
        403,
        "forbidden",
    )
    body = assert_error(
        post(
            client,
            reverse(REQUESTS),
            {
                "activation": activation.pk,
                "requester": world.neighbour.pk,
                "kind": "postes",
                "need": "x",
                "quantity": 1,
            },
            token_for(world.neighbour_rssi),
        ),
        400,
        "invalid",
    )
    assert "requester" in body["error"]["details"]
    # Lowering a resource below what is out.
    body = assert_error(
        client.patch(
            reverse("api-v1:orsan-resource-detail", args=[laptops.pk]),
            {"quantity": 3},
            content_type="application/json",
            headers=token_for(world.neighbour_rssi),
        ),
        400,
        "below_engaged",
    )
    # Offering for an organisation one only sees is forbidden; one out of reach is not found.
    payload = {"kind": "postes", "label": "P", "quantity": 1, "unit": "postes"}
    assert_error(
        post(
            client,
            reverse(RESOURCES),
            {**payload, "organisation": world.hospital.pk},
            token_for(world.neighbour_rssi),
        ),
        404,
    )
    assert_error(
        post(
            client,
            reverse(RESOURCES),
            {**payload, "organisation": world.hospital.pk},
            token_for(world.ars_manager),
        ),
        403,
        "forbidden",
    )


def test_read_only_tokens_never_write(client, world, laptops, activation):
    aid = ask(world, activation, quantity=1)
    read_only = token_for(world.crrc_operator, ApiTokenScope.READ)
    assert client.get(reverse(REQUESTS), headers=read_only).status_code == 200
    assert_error(post(client, step(aid.pk, "mobilise"), {"resource": laptops.pk}, read_only), 403)
    aid.refresh_from_db()
    assert aid.status == AidStatus.REQUESTED


def test_another_region_sees_nothing(client, world, laptops, activation):
    aid = ask(world, activation, quantity=1)
    outsider = token_for(world.outsider_crrc)
    for name in (RESOURCES, ACTIVATIONS, REQUESTS):
        assert client.get(reverse(name), headers=outsider).json()["count"] == 0
    assert_error(
        client.get(
            reverse("api-v1:orsan-activation-detail", args=[activation.pk]), headers=outsider
        ),
        404,
    )
    assert_error(
        client.get(reverse("api-v1:orsan-request-detail", args=[aid.pk]), headers=outsider), 404
    )
    assert_error(post(client, step(aid.pk, "mobilise"), {"resource": laptops.pk}, outsider), 404)
    assert_error(
        post(
            client,
            reverse(REQUESTS),
            {
                "activation": activation.pk,
                "requester": world.hospital.pk,
                "kind": "postes",
                "need": "x",
                "quantity": 1,
            },
            outsider,
        ),
        403,
    )
    assert AidRequest.objects.count() == 1
    # The neighbour sees the catalogue but not the victim's requests on other resources.
    neighbour = token_for(world.neighbour_rssi)
    assert client.get(reverse(RESOURCES), headers=neighbour).json()["count"] == 1
    assert client.get(reverse(REQUESTS), headers=neighbour).json()["count"] == 0


def test_lists_keep_their_number_of_queries(client, world, activation):
    auth = token_for(world.ars_manager)
    counts = {}

    def add(n):
        for i in range(n):
            resource = services.resource_create(
                actor=world.crrc_operator,
                organisation=world.neighbour,
                kind=ResourceKind.NETWORK,
                label=f"Lot {i}",
                quantity=5,
                unit="commutateurs",
            )
            aid = ask(world, activation, quantity=1, kind=ResourceKind.NETWORK)
            services.aid_mobilise(actor=world.crrc_operator, aid=aid, resource=resource)
            services.activation_create(
                actor=world.ars_manager,
                region=world.region,
                title=f"Activation {i}",
                reason="Motif.",
                affected=[world.hospital, world.neighbour],
            )

    def measure():
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        found = {}
        for name in (RESOURCES, ACTIVATIONS, REQUESTS):
            with CaptureQueriesContext(connection) as queries:
                assert client.get(reverse(name), headers=auth).status_code == 200
            found[name] = len(queries)
        return found

    add(1)
    client.get(reverse(RESOURCES), headers=auth)  # (the token's first use is recorded once)
    counts["before"] = measure()
    add(5)
    counts["after"] = measure()
    assert counts["before"] == counts["after"], counts


def test_schema_documents_orsan_in_french(client, world):
    client.force_login(world.ars_manager)
    schema = client.get(reverse("api-schema")).json()
    validate_schema(schema)
    paths = schema["paths"]
    assert set(paths["/api/v1/orsan/resources/"]) == {"get", "post"}
    assert set(paths["/api/v1/orsan/resources/{id}/"]) == {"get", "patch"}
    assert set(paths["/api/v1/orsan/activations/"]) == {"get"}
    assert set(paths["/api/v1/orsan/requests/"]) == {"get", "post"}
    for action in ("mobilise", "refuse", "lend", "return", "cancel"):
        operation = paths[f"/api/v1/orsan/requests/{{id}}/{action}/"]["post"]
        assert operation["summary"], action
        assert {"400", "403", "404"} <= set(operation["responses"]), action
    assert paths["/api/v1/orsan/requests/{id}/mobilise/"]["post"]["summary"] == (
        "Mobiliser une demande"
    )
    assert "over_lending" in paths["/api/v1/orsan/requests/{id}/mobilise/"]["post"]["description"]
    names = set(schema["components"]["schemas"])
    assert {"OrsanResource", "OrsanActivation", "OrsanAidRequest"} <= names
