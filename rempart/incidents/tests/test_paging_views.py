"""Paging pages: the signed acknowledgement link (public, GET never writes), the gateway's API
acknowledgement, and the end-to-end chain test page (CRRC operators only)."""

from __future__ import annotations

import html
import re
import time

import pytest
from django.core import mail, signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from rempart.incidents import paging
from rempart.incidents.models import (
    AlertSource,
    IncidentType,
    OnCallShift,
    PageChannel,
    PageStatus,
    PagingStatus,
)

from .factories import incident_world, make_alert

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return incident_world()


def paged_alert(world, capture, **fields):
    with capture(execute=True):
        alert = make_alert(world, **fields)
        paging.start_paging(alert)
    return alert


def link_of(message) -> str:
    return re.search(r"https?://\S+/prise-en-compte/\S+/", message.body).group(0)


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


# --- The signed link ----------------------------------------------------------------------------


def test_the_link_shows_little_and_get_never_writes(world, django_capture_on_commit_callbacks):
    alert = paged_alert(world, django_capture_on_commit_callbacks)
    url = path_of(link_of(mail.outbox[0]))
    client = Client()  # nobody logged in: the signed token is the credential
    response = client.get(url)
    assert response.status_code == 200
    body = response.content.decode()
    assert f"Alerte n° {alert.pk}" in body
    assert "Centre hospitalier de Rivebelle" in body
    assert "Rançongiciel" in body
    assert alert.description not in body  # nothing else of the alert without a login
    assert "Je prends en compte cette alerte" in body
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_posting_the_link_acknowledges_as_the_paged_person(
    world, django_capture_on_commit_callbacks
):
    alert = paged_alert(world, django_capture_on_commit_callbacks)
    url = path_of(link_of(mail.outbox[0]))
    client = Client()
    response = client.post(url)
    assert response.status_code == 302
    assert response["Location"] == url
    alert.refresh_from_db()
    assert alert.paging_status == PagingStatus.ACKNOWLEDGED
    assert alert.acknowledged_by == world.oncall
    page = html.unescape(client.get(url).content.decode())
    assert "Prise en compte enregistrée" in page
    assert "Vous avez pris en compte cette alerte" in page
    assert "Se connecter pour voir l'alerte" in page
    assert f"{reverse('account_login')}?next=" in page
    # A second click of the same person: harmless.
    assert client.post(url).status_code == 302
    # The audit trail names the person of the link.
    from rempart.core.models import AuditEntry

    entry = AuditEntry.objects.filter(object_pk=str(alert.pk), object_repr__contains="Alerte")
    assert entry.filter(actor=world.oncall).exists()


def test_the_link_of_someone_paged_later_says_it_is_taken(
    world, clock_free_escalation, django_capture_on_commit_callbacks
):
    alert = paged_alert(world, django_capture_on_commit_callbacks)
    backup_page = clock_free_escalation(alert)  # level 2 paged too
    paging.acknowledge(actor=world.oncall, alert=alert)
    url = reverse("incidents:paging_ack", args=[paging.ack_token(backup_page)])
    client = Client()
    assert "a déjà été prise en compte le" in client.get(url).content.decode()
    response = client.post(url)
    assert response.status_code == 409
    assert "par Omar Astreinte" in response.content.decode()


@pytest.fixture
def clock_free_escalation(django_capture_on_commit_callbacks):
    """Run the alert's next step now (as if its delay had passed); return the new page."""

    def escalate(alert):
        alert.refresh_from_db()
        alert.next_page_at = alert.received_at
        alert.save(update_fields=["next_page_at"])
        with django_capture_on_commit_callbacks(execute=True):
            result = paging.run_step(alert.pk)
        return alert.pages.get(pk=result.page_ids[0])

    return escalate


def test_tampered_forged_and_expired_links_are_refused(
    world, monkeypatch, django_capture_on_commit_callbacks
):
    alert = paged_alert(world, django_capture_on_commit_callbacks)
    page = alert.pages.get()
    token = paging.ack_token(page)
    client = Client()
    tampered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    forged = signing.dumps({"p": page.pk, "r": world.backup.pk}, salt=paging.ACK_SALT)
    other_salt = signing.dumps({"p": page.pk, "r": page.recipient_id}, salt="autre")
    for bad in (tampered, forged, other_salt, "n-importe-quoi"):
        for method in ("get", "post"):
            response = getattr(client, method)(reverse("incidents:paging_ack", args=[bad]))
            assert response.status_code == 400, bad
            assert "ne peut pas être utilisé" in response.content.decode()
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 25 * 3600)
    response = client.post(reverse("incidents:paging_ack", args=[token]))
    assert response.status_code == 400
    assert "a expiré" in response.content.decode()
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


# --- The gateway's acknowledgement (API) ----------------------------------------------------------


def test_a_gateway_acknowledges_with_the_token_only(world, django_capture_on_commit_callbacks):
    alert = paged_alert(world, django_capture_on_commit_callbacks)
    token = paging.ack_token(alert.pages.get())
    client = Client()  # no account, no API token
    url = "/api/v1/paging/ack/"
    response = client.post(url, {"token": token}, content_type="application/json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["alert_id"] == alert.pk
    assert body["acknowledged_by"] == "Omar Astreinte"
    assert body["already_acknowledged"] is False
    again = client.post(url, {"token": token}, content_type="application/json").json()
    assert again["already_acknowledged"] is True
    assert again["acknowledged_at"] == body["acknowledged_at"]

    refused = client.post(url, {"token": token + "x"}, content_type="application/json")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "ack_link_invalid"
    missing = client.post(url, {}, content_type="application/json")
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "invalid"
    assert client.get(url).status_code == 405


def test_the_gateway_is_told_who_acknowledged_first(
    world, clock_free_escalation, django_capture_on_commit_callbacks
):
    alert = paged_alert(world, django_capture_on_commit_callbacks)
    backup_page = clock_free_escalation(alert)
    paging.acknowledge(actor=world.oncall, alert=alert)
    response = Client().post(
        "/api/v1/paging/ack/",
        {"token": paging.ack_token(backup_page)},
        content_type="application/json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "already_acknowledged"
    assert "Omar Astreinte" in error["message"]


def test_the_gateway_route_is_throttled(world, django_capture_on_commit_callbacks):
    client = Client()
    codes = [
        client.post("/api/v1/paging/ack/", {"token": "x"}, content_type="application/json")
        for _ in range(31)
    ]
    assert {r.status_code for r in codes[:30]} == {400}
    assert codes[30].status_code == 429


# --- The chain test page --------------------------------------------------------------------------


def logged(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_operator_runs_the_chain_test_end_to_end(
    world, monkeypatch, django_capture_on_commit_callbacks
):
    client = logged(world.crrc_operator)
    page = client.get(reverse("incidents:paging_test"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "Niveau 1 : Omar Astreinte" in body
    assert "Niveau 2 : Bea Renfort" in body
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("incidents:paging_test"), {"crrc": world.crrc.pk})
    assert response.status_code == 302
    alert = world.crrc.incident_alerts.get()
    assert response["Location"] == reverse("incidents:paging_test_detail", args=[alert.pk])
    assert alert.is_test
    assert alert.source == AlertSource.TEST
    assert alert.organisation == world.crrc
    assert alert.region == world.region
    assert alert.incident_type == IncidentType.OTHER
    assert alert.description == "Test de la chaîne d'astreinte"
    # The real chain: the on-call person got the page, marked as a test.
    assert mail.outbox[0].to == [world.oncall.email]
    assert mail.outbox[0].subject.startswith("[Rempart][TEST] ")

    # (The page says how long it has been waiting: the clock stops while it is compared.)
    frozen = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: frozen)
    detail = client.get(response["Location"])
    assert detail.status_code == 200
    text = detail.content.decode()
    assert "En cours : alertée (premier envoi après" in text
    assert 'hx-trigger="every 3s"' in text
    # The HTMX swap is the same part as a reload shows.
    partial = client.get(response["Location"], headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert "<html" not in partial.content.decode()
    assert partial.content.decode().strip() in text
    monkeypatch.undo()

    # The on-call person acknowledges with the link: the verdict says so, with the time.
    assert Client().post(path_of(link_of(mail.outbox[0]))).status_code == 302
    done = client.get(response["Location"]).content.decode()
    assert "Chaîne complète : alertée, acquittée en" in done
    assert "par Omar Astreinte" in done
    assert 'hx-trigger="every 3s"' not in done  # finished: no more polling
    listing = client.get(reverse("incidents:paging_test")).content.decode()
    assert f"Test n° {alert.pk}" in listing
    assert "réussi" in listing


def test_the_chain_test_says_what_failed(world, django_capture_on_commit_callbacks):
    OnCallShift.objects.filter(crrc=world.crrc).delete()
    world.crrc_operator.email = ""  # (an operator without address: the e-mail cannot go)
    world.crrc_operator.save()
    alert = paging.chain_test_start(actor=world.crrc_operator, crrc=world.crrc)
    with django_capture_on_commit_callbacks(execute=True):
        paging.run_step(alert.pk)
    page = alert.pages.get()
    assert page.level == paging.OPERATORS_LEVEL
    assert page.channel == PageChannel.EMAIL
    for _ in range(paging.MAX_ATTEMPTS - 1):
        paging.deliver_page(page.pk)
    page.refresh_from_db()
    assert page.status == PageStatus.FAILED
    response = logged(world.crrc_operator).get(
        reverse("incidents:paging_test_detail", args=[alert.pk])
    )
    text = html.unescape(response.content.decode())
    assert "Personne n'est d'astreinte en ce moment" in text
    assert "Échec : aucun appel n'a pu être envoyé" in text
    assert "pas d'adresse e-mail" in text


def test_chain_test_is_for_the_crrc_operators_only(world, django_capture_on_commit_callbacks):
    alert = paging.chain_test_start(actor=world.crrc_operator, crrc=world.crrc)
    detail = reverse("incidents:paging_test_detail", args=[alert.pk])
    for person in (world.oncall, world.rssi, world.ars_manager):
        client = logged(person)
        assert client.get(reverse("incidents:paging_test")).status_code == 403, person
        assert (
            client.post(reverse("incidents:paging_test"), {"crrc": world.crrc.pk}).status_code
            == 403
        )
        assert client.get(detail).status_code == 403
    outsider = logged(world.outsider_crrc)
    response = outsider.get(detail)
    assert response.status_code == 403
    assert "un autre CRRC" in response.content.decode()
    # Their own CRRC only: another CRRC's id is not a choice.
    refused = outsider.post(reverse("incidents:paging_test"), {"crrc": world.crrc.pk})
    assert refused.status_code == 400
    assert "Choisissez l&#x27;un de vos CRRC" in refused.content.decode()
    assert (
        logged(world.crrc_operator).get(detail.replace(str(alert.pk), "999999")).status_code == 404
    )
    real_alert = make_alert(world)
    not_a_test = reverse("incidents:paging_test_detail", args=[real_alert.pk])
    assert logged(world.crrc_operator).get(not_a_test).status_code == 404
    assert world.crrc.incident_alerts.count() == 1  # nothing was started by the refusals


def test_chain_test_without_a_choice_says_what_to_do(world):
    response = logged(world.crrc_operator).post(reverse("incidents:paging_test"), {})
    assert response.status_code == 400
    assert "Choisissez le CRRC dont vous voulez tester" in response.content.decode()
    assert not world.crrc.incident_alerts.exists()
