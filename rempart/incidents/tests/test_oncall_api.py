"""The read API of the rota: shifts of the CRRCs the caller may see (404 beyond), who is on call
now with the last handover note, a clear 403 for a CRRC of another region; no gateway data."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from rempart.core import services as core_services
from rempart.core.models import ApiTokenScope
from rempart.incidents import oncall_services as services
from rempart.incidents.models import OnCallShift

from .factories import incident_world

pytestmark = pytest.mark.django_db

SHIFTS = reverse("api-v1:oncall-shift-list")
NOW = reverse("api-v1:oncall-shift-now")


def token_for(user, scope=ApiTokenScope.READ) -> dict[str, str]:
    _token, raw = core_services.api_token_create(actor=user, name="Tests", scope=scope)
    return {"Authorization": f"Token {raw}"}


@pytest.fixture
def world():
    return incident_world()


def test_operator_and_on_call_expert_list_the_shifts(client, world):
    services.webhook_create(
        actor=world.crrc_operator, crrc=world.crrc, name="SMS", url="https://sms.exemple.fr"
    )
    for user in (world.crrc_operator, world.oncall, world.backup):
        response = client.get(SHIFTS, headers=token_for(user))
        assert response.status_code == 200, user
        body = response.json()
        assert body["count"] == 2
        first = body["results"][0]
        assert first["crrc"] == {"id": world.crrc.pk, "name": world.crrc.name}
        assert {r["person"]["name"] for r in body["results"]} == {"Omar Astreinte", "Bea Renfort"}
        assert "secret" not in response.text
    # filters
    response = client.get(
        SHIFTS, {"level": 2, "crrc": world.crrc.pk}, headers=token_for(world.crrc_operator)
    )
    assert [r["person"]["name"] for r in response.json()["results"]] == ["Bea Renfort"]
    later = (timezone.now() + datetime.timedelta(days=1)).isoformat()
    response = client.get(SHIFTS, {"after": later}, headers=token_for(world.crrc_operator))
    assert response.json()["count"] == 0
    bad = client.get(SHIFTS, {"after": "hier"}, headers=token_for(world.crrc_operator))
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid"


def test_shifts_of_another_region_are_not_found(client, world):
    shift = OnCallShift.objects.filter(crrc=world.crrc).first()
    headers = token_for(world.outsider_crrc)
    assert client.get(SHIFTS, headers=headers).json()["count"] == 0
    response = client.get(reverse("api-v1:oncall-shift-detail", args=[shift.pk]), headers=headers)
    assert response.status_code == 404
    assert "Omar" not in response.text
    refused = client.get(NOW, {"crrc": world.crrc.pk}, headers=headers)
    assert refused.status_code == 403
    assert "planning d'astreinte de ce CRRC" in refused.json()["error"]["message"]
    assert client.get(NOW, {"crrc": 987654}, headers=headers).status_code == 404
    # an establishment's RSSI has API access but no rota
    response = client.get(NOW, headers=token_for(world.rssi))
    assert response.status_code == 403
    assert "réservé aux opérateurs du CRRC" in response.json()["error"]["message"]
    assert client.get(SHIFTS, headers=token_for(world.rssi)).json()["count"] == 0


def test_who_is_on_call_now(client, world):
    now = timezone.now()
    OnCallShift.objects.create(
        crrc=world.crrc,
        person=world.provider_expert,
        level=1,
        starts_at=now - datetime.timedelta(hours=14),
        ends_at=now - datetime.timedelta(hours=2),
        handover_note="Rappeler le CH à 9 h.",
    )
    response = client.get(NOW, headers=token_for(world.oncall))
    assert response.status_code == 200
    body = response.json()
    assert body["level1_missing"] is False
    assert [(s["level"], s["person"]["name"], s["phone"]) for s in body["chain"]] == [
        (1, "Omar Astreinte", "+33600000001"),
        (2, "Bea Renfort", "+33600000002"),
    ]
    assert body["previous_level1"]["handover_note"] == "Rappeler le CH à 9 h."
    OnCallShift.objects.filter(level=1, ends_at__gt=now).delete()
    body = client.get(NOW, headers=token_for(world.oncall)).json()
    assert body["level1_missing"] is True


def test_the_rota_is_read_only_through_the_api(client, world):
    headers = token_for(world.crrc_operator, ApiTokenScope.READ_WRITE)
    response = client.post(SHIFTS, {"level": 1}, headers=headers, content_type="application/json")
    assert response.status_code == 405
    assert OnCallShift.objects.count() == 2
