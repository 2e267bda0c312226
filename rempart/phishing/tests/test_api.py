"""REST API of simulated phishing: campaigns in the user's scope (and a clear refusal outside
it), the results with the same figures and the same small-group protection as the page, the
sending controls with the same rights as the buttons, structured errors, a fixed query count."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rempart.core import services as core_services
from rempart.core.models import ApiTokenScope
from rempart.phishing.models import Campaign, CampaignStatus, MandateVisibility

from .factories import event, mandate, phishing_world, sent_campaign

pytestmark = pytest.mark.django_db

LIST = "/api/v1/phishing/campaigns/"


@pytest.fixture
def world():
    return phishing_world()


def headers(user, scope=ApiTokenScope.READ_WRITE) -> dict[str, str]:
    _token, raw = core_services.api_token_create(actor=user, name="Supervision", scope=scope)
    return {"HTTP_AUTHORIZATION": f"Token {raw}"}


def detail(campaign, action: str = "") -> str:
    return f"{LIST}{campaign.pk}/{action + '/' if action else ''}"


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    return error


def test_list_shows_own_and_delegated_campaigns_only(client, world):
    own, _people = sent_campaign(world, {"Urgences": 6}, name="Colis")
    under = mandate(world)
    delegated, _people = sent_campaign(world, {"Pharmacie": 6}, delegated_under=under, name="CRRC")
    faraway, _people = sent_campaign(
        world, {"Tous": 6}, organisation=world.other_hospital, name="Loin"
    )

    body = client.get(LIST, **headers(world.rssi)).json()
    assert body["count"] == 2
    assert {c["id"] for c in body["results"]} == {own.pk, delegated.pk}
    line = next(c for c in body["results"] if c["id"] == own.pk)
    assert line["organisation"]["id"] == world.hospital.pk
    assert (line["status"], line["mode"], line["recipient_count"]) == ("done", "autonomous", 6)

    # The CRRC sees the campaign it runs under the mandate, not the establishment's own.
    crrc = client.get(LIST, **headers(world.crrc_operator)).json()
    assert [c["id"] for c in crrc["results"]] == [delegated.pk]
    # Someone of another region sees neither.
    outsider = client.get(LIST, **headers(world.outsider_rssi)).json()
    assert [c["id"] for c in outsider["results"]] == [faraway.pk]


def test_list_filters_and_bad_filter(client, world):
    done, _people = sent_campaign(world, {"Urgences": 6}, name="Finie")
    sending, _people = sent_campaign(world, {"Urgences": 6}, status="sending", name="En cours")
    auth = headers(world.rssi)
    found = client.get(LIST, {"status": "sending"}, **auth).json()["results"]
    assert [c["id"] for c in found] == [sending.pk]
    assert client.get(LIST, {"status": "done"}, **auth).json()["results"][0]["id"] == done.pk
    error = _error(client.get(LIST, {"status": "lancée"}, **auth), 400, "invalid")
    assert "status" in error["details"]


def test_people_without_phishing_access_get_a_clear_refusal(client, world):
    sent_campaign(world, {"Urgences": 6})
    _error(client.get(LIST, **headers(world.ars_manager)), 403, "forbidden")
    assert client.get(LIST).status_code in (401, 403)  # no token, no session


def test_detail_progress_and_other_organisations_campaigns(client, world):
    campaign, people = sent_campaign(world, {"Urgences": 6}, status="sending")
    people[0].__class__.objects.filter(pk__in=[p.pk for p in people[:2]]).update(
        send_status="pending", sent_at=None
    )
    people[0].__class__.objects.filter(pk=people[2].pk).update(send_status="failed", sent_at=None)
    body = client.get(detail(campaign), **headers(world.rssi)).json()
    assert body["progress"] == {"recipients": 6, "pending": 2, "sent": 3, "failed": 1}
    assert body["status"] == "sending"

    # Another organisation's campaign exists but is not theirs: a clear 403, no figures.
    response = client.get(detail(campaign), **headers(world.outsider_rssi))
    _error(response, 403, "forbidden")
    assert "Urgences" not in response.content.decode()
    _error(client.get(f"{LIST}999999/", **headers(world.rssi)), 404, "not_found")
    _error(client.get(f"{LIST}999999/results/", **headers(world.rssi)), 404, "not_found")


def test_results_match_the_page_and_never_show_a_small_department(client, world):
    campaign, people = sent_campaign(world, {"Urgences": 8, "Pharmacie": 3})
    urgences = [p for p in people if p.department == "Urgences"]
    event(urgences[0], "clicked")
    event(urgences[1], "clicked", bot=True, after=datetime.timedelta(seconds=2))
    event(urgences[2], "reported", after=datetime.timedelta(minutes=45))
    response = client.get(detail(campaign, "results"), **headers(world.rssi))
    assert response.status_code == 200
    body = response.json()
    assert body["raw"]["sent"] == 11
    assert (body["raw"]["clicked"], body["filtered"]["clicked"]) == (2, 1)
    assert body["raw"]["clicked_rate"] == 18.2
    assert body["filtered"]["reported_without_click"] == 1
    assert body["time_to_first_report_s"] == 45 * 60
    # Pharmacie (3 people) is never alone: merged with Urgences into one line of 11.
    assert body["departments"] == []
    assert body["others"]["raw"]["recipients"] == 11
    assert "Pharmacie" not in response.content.decode()
    assert body["region"]["available"] is False
    assert body["timeline"]["buckets"]


def test_results_of_a_crrc_under_mandate_are_aggregates(client, world):
    under = mandate(world, visibility=MandateVisibility.AGGREGATES)
    campaign, people = sent_campaign(world, {"Urgences": 6}, delegated_under=under)
    event(people[0], "opened")
    body = client.get(detail(campaign, "results"), **headers(world.crrc_operator)).json()
    assert body["raw"]["opened"] == 1
    assert "email" not in str(body)
    _error(
        client.get(detail(campaign, "results"), **headers(world.outsider_crrc)), 403, "forbidden"
    )


def test_pause_resume_send_now_with_the_rights_of_the_buttons(client, world):
    campaign, _people = sent_campaign(world, {"Urgences": 6}, status="sending")
    write = headers(world.rssi)
    body = client.post(detail(campaign, "pause"), **write).json()
    assert body["status"] == "paused"
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.PAUSED
    # Refused in the wrong state, with the reason; nothing changes.
    error = _error(client.post(detail(campaign, "pause"), **write), 400, "refused")
    assert "pause" in error["message"]
    assert client.post(detail(campaign, "resume"), **write).json()["status"] == "sending"
    assert client.post(detail(campaign, "send-now"), **write).status_code == 200
    assert Campaign.objects.get(pk=campaign.pk).send_now_at is not None

    # A read-only token reads but never writes.
    read_only = headers(world.rssi, ApiTokenScope.READ)
    assert client.get(detail(campaign), **read_only).status_code == 200
    _error(client.post(detail(campaign, "pause"), **read_only), 403, "permission_denied")
    # The establishment sees a delegated campaign but does not run it: only the CRRC does.
    delegated, _people = sent_campaign(
        world, {"Urgences": 6}, delegated_under=mandate(world), status="sending", name="CRRC"
    )
    _error(client.post(detail(delegated, "pause"), **write), 403, "forbidden")
    crrc = client.post(detail(delegated, "pause"), **headers(world.crrc_operator))
    assert crrc.json()["status"] == "paused"
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENDING


def test_list_query_count_does_not_grow_with_campaigns(client, world):
    auth = headers(world.rssi)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(LIST, **auth).status_code == 200
        return len(queries)

    sent_campaign(world, {"Urgences": 6}, name="Une")
    count()  # (the token's first use is recorded once)
    few = count()
    for n in range(6):
        sent_campaign(
            world, {"Urgences": 6}, name=f"Autre {n}",
            sent_at=timezone.now() - datetime.timedelta(days=n + 3),
        )  # fmt: skip
    assert count() == few


def test_schema_documents_the_phishing_routes_in_french(client, world):
    from django.urls import reverse
    from drf_spectacular.validation import validate_schema

    client.force_login(world.rssi)
    response = client.get(reverse("api-schema"))
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    paths = schema["paths"]
    assert set(paths["/api/v1/phishing/campaigns/"]) == {"get"}
    assert set(paths["/api/v1/phishing/campaigns/{id}/"]) == {"get"}
    results = paths["/api/v1/phishing/campaigns/{id}/results/"]["get"]
    assert results["summary"] == "Résultats d'une campagne"
    for action in ("pause", "resume", "send-now"):
        operation = paths[f"/api/v1/phishing/campaigns/{{id}}/{action}/"]["post"]
        assert operation["summary"], action
        assert "400" in operation["responses"], action
    funnel = schema["components"]["schemas"]["Funnel"]["properties"]
    assert funnel["clicked_rate"]["type"] == "number"
