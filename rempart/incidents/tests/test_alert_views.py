"""Alert pages: the form (never blocking), the confirmation and detail, completing, the
handlers' actions, the list; an outsider is told they have no access."""

import re

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import strip_tags

from rempart.incidents.models import (
    Alert,
    AlertStatus,
    IncidentType,
    Page,
    PageChannel,
    PagingStatus,
)

from .factories import incident_world, make_alert, make_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return incident_world()


def url(name, *args):
    return reverse(f"incidents:{name}", args=args)


def words(html: str) -> str:
    text = strip_tags(html).replace("&#x27;", "'").replace("&#39;", "'").replace("&quot;", '"')
    return " ".join(text.replace("\u00a0", " ").split())


def guidance_block(html: str) -> str:
    match = re.search(r'<div id="alert-guidance".*?</fieldset>\s*</div>', html, re.S)
    assert match, "no guidance block"
    return match.group(0)


# --- The form -------------------------------------------------------------------------------------


def test_form_for_a_person_of_one_establishment(client, world):
    world.staff.phone = "06 00 00 00 99"
    world.staff.save()
    client.force_login(world.staff)
    page = client.get(url("alert_new"))
    assert page.status_code == 200
    html = page.text
    # One structure: preselected, no list to choose from.
    assert f'<input type="hidden" name="organisation" value="{world.hospital.pk}">' in html
    assert "Centre hospitalier de Rivebelle" in html
    # The six types as tiles, each swapping the guidance with HTMX.
    for code in IncidentType.values:
        assert f'value="{code}"' in html
    assert html.count('hx-get="/incidents/alertes/consignes/"') == len(IncidentType.values)
    # The person's own details are prefilled, editable; a token makes a double submit harmless.
    assert 'value="06 00 00 00 99"' in html
    assert world.staff.email in html
    assert re.search(r'name="client_reference" value="[0-9a-f]{32}"', html)
    # Impacts as Oui / Non / Ne sait pas; no field is required; no inline script or style.
    assert html.count('value="inconnu"') == 3
    assert " required" not in html.split('id="content"')[1]
    assert "<script>" not in html
    assert " style=" not in html


def test_the_crrc_chooses_the_structure(client, world):
    client.force_login(world.crrc_operator)
    html = client.get(url("alert_new")).text
    assert 'name="organisation"' in html
    assert f'<option value="{world.hospital.pk}">' in html
    assert f'<option value="{world.neighbour.pk}">' in html
    assert "Hôpital d&#x27;ailleurs" not in html  # another region


def test_the_guidance_partial_is_what_the_page_shows(client, world):
    client.force_login(world.staff)
    partial = client.get(
        url("alert_guidance"), {"incident_type": "rancongiciel"}, HTTP_HX_REQUEST="true"
    )
    assert partial.status_code == 200
    assert "Ne payez pas la rançon" in partial.text
    assert 'value="note_rancon"' in partial.text
    page = client.get(url("alert_new"), {"type": "rancongiciel"})
    assert guidance_block(partial.text) == guidance_block(page.text)
    phishing = client.get(url("alert_guidance"), {"incident_type": "hameconnage"}).text
    assert "Ne transférez pas le message" in phishing
    assert "Ne payez pas" not in phishing
    # No type (or a strange one): the general reflexes.
    general = client.get(url("alert_guidance"), {"incident_type": "<script>"}).text
    assert "Premiers réflexes" in general


def test_without_javascript_the_guidance_button_keeps_what_was_typed(client, world):
    client.force_login(world.staff)
    page = client.post(
        url("alert_new"),
        {
            "organisation": world.hospital.pk,
            "incident_type": "fuite_donnees",
            "description": "Fichier patients envoyé par erreur",
            "action": "consignes",
        },
    )
    assert page.status_code == 200
    assert "72 heures" in page.text
    assert "Fichier patients envoyé par erreur" in page.text
    assert not Alert.objects.exists()


def test_an_incomplete_alert_is_saved_and_the_page_says_what_is_missing(
    client, world, django_capture_on_commit_callbacks
):
    client.force_login(world.staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url("alert_new"),
            {
                "organisation": world.hospital.pk,
                "client_reference": "a" * 32,
                "incident_type": "rancongiciel",
                "description": "Écran rouge avec une demande de rançon",
                "checklist": ["isoler_reseau"],
                "observed_at": "n'importe quoi",
            },
        )
    alert = Alert.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("alert_detail", alert.pk)
    assert alert.missing_fields == [
        "callback_phone",
        "observed_at",
        "affects_care",
        "affects_health_data",
        "affects_systems",
    ]
    assert alert.observed_at_text == "n'importe quoi"
    assert alert.checklist["isoler_reseau"] is True
    # The on-call expert was paged for real.
    assert any(m.to == [world.oncall.email] for m in mail.outbox)
    page = client.get(response["Location"])
    text = words(page.text)
    assert f"Votre alerte n° {alert.pk} est enregistrée." in text
    assert "l'astreinte du CRRC est alertée" in text
    assert "Des informations manquent" in text
    assert "Le téléphone de rappel" in text
    assert "L'impact sur les soins" in text
    assert url("alert_complete", alert.pk) in page.text
    assert "Omar Astreinte" in text  # the page sent, shown
    # The same form sent again (double tap, reload): still one alert.
    again = client.post(
        url("alert_new"), {"organisation": world.hospital.pk, "client_reference": "a" * 32}
    )
    assert again["Location"] == url("alert_detail", alert.pk)
    assert Alert.objects.count() == 1


def test_a_repeat_says_it_is_linked(client, world):
    first = make_alert(world, paging_status=PagingStatus.PAGING)
    client.force_login(world.rssi)
    response = client.post(
        url("alert_new"), {"organisation": world.hospital.pk, "incident_type": "rancongiciel"}
    )
    repeat = Alert.objects.exclude(pk=first.pk).get()
    assert repeat.duplicate_of == first
    text = words(client.get(response["Location"]).text)
    assert "rattachée à une alerte déjà en cours" in text
    assert f"alerte n° {first.pk}" in text
    first_page = words(client.get(url("alert_detail", first.pk)).text)
    assert f"Alerte n° {repeat.pk}" in first_page  # listed among the repeats


def test_complete_flow(client, world):
    alert = make_alert(
        world, reporter=world.staff, missing_fields=["callback_phone", "observed_at"]
    )
    client.force_login(world.staff)
    form = client.get(url("alert_complete", alert.pk))
    assert form.status_code == 200
    assert "Message de rançon sur les postes des urgences." in form.text
    response = client.post(
        url("alert_complete", alert.pk),
        {
            "incident_type": "rancongiciel",
            "description": alert.description,
            "callback_phone": "06 11 22 33 44",
            "observed_at": "2026-01-05T03:10",
            "affects_care": "oui",
            "affects_health_data": "non",
            "affects_systems": "oui",
            "reporter_name": "Sam Soignant",
        },
    )
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.missing_fields == []
    assert alert.callback_phone == "06 11 22 33 44"
    text = words(client.get(url("alert_detail", alert.pk)).text)
    assert "Alerte complétée : plus rien ne manque." in text
    assert "Des informations manquent" not in text


# --- Handling -----------------------------------------------------------------------------------


def test_handlers_acknowledge_qualify_and_dismiss(client, world):
    alert = make_alert(world, paging_status=PagingStatus.PAGING)
    Page.objects.create(
        alert=alert,
        step=0,
        level=1,
        recipient=world.oncall,
        channel=PageChannel.EMAIL,
        created_at=alert.received_at,
    )
    client.force_login(world.oncall)
    detail = client.get(url("alert_detail", alert.pk))
    assert "Prendre en compte" in detail.text
    assert url("alert_qualify", alert.pk) in detail.text
    assert "Ouvrir un dossier d'incident" in words(detail.text)  # the cases include
    client.post(url("alert_acknowledge", alert.pk))
    alert.refresh_from_db()
    assert alert.acknowledged_by == world.oncall
    assert alert.paging_status == PagingStatus.ACKNOWLEDGED
    text = words(client.get(url("alert_detail", alert.pk)).text)
    assert "Omar Astreinte a pris en compte l'alerte" in text
    # An empty qualification is refused with the reason, the page stays.
    refused = client.post(url("alert_qualify", alert.pk), {"note": ""})
    assert refused.status_code == 400
    assert "Écrivez la qualification" in refused.text
    client.post(url("alert_qualify", alert.pk), {"note": "Chiffrement confirmé sur 3 serveurs."})
    alert.refresh_from_db()
    assert alert.status == AlertStatus.QUALIFIED
    assert "Chiffrement confirmé" in client.get(url("alert_detail", alert.pk)).text
    other = make_alert(
        world, incident_type=IncidentType.PHISHING, paging_status=PagingStatus.PAGING
    )
    client.force_login(world.crrc_operator)
    client.post(url("alert_dismiss", other.pk), {"reason": "Exercice de l'établissement"})
    other.refresh_from_db()
    assert other.status == AlertStatus.DISMISSED
    text = words(client.get(url("alert_detail", other.pk)).text)
    assert "Alerte classée sans suite" in text
    assert "Exercice de l'établissement" in text
    # A dismissed alert can no longer be completed.
    assert client.get(url("alert_complete", other.pk)).status_code == 403


def test_the_reporter_sees_but_does_not_handle(client, world):
    alert = make_alert(world, reporter=world.staff)
    client.force_login(world.staff)
    page = client.get(url("alert_detail", alert.pk))
    assert page.status_code == 200
    assert "Prendre en compte" not in page.text
    assert url("alert_qualify", alert.pk) not in page.text
    for name, data in (
        ("alert_acknowledge", {}),
        ("alert_qualify", {"note": "x"}),
        ("alert_dismiss", {"reason": "x"}),
    ):
        refused = client.post(url(name, alert.pk), data)
        assert refused.status_code == 403
        assert "Seuls le CRRC" in words(refused.text)
    alert.refresh_from_db()
    assert alert.status == AlertStatus.NEW


def test_an_outsider_is_told_they_have_no_access(client, world):
    alert = make_alert(world)
    for outsider in (world.outsider_rssi, world.outsider_crrc, world.neighbour_rssi):
        client.force_login(outsider)
        for name in ("alert_detail", "alert_complete"):
            page = client.get(url(name, alert.pk))
            assert page.status_code == 403
            assert "Vous n'avez pas accès à cette alerte" in words(page.text)
            assert "Message de rançon" not in page.text
        assert client.post(url("alert_qualify", alert.pk), {"note": "x"}).status_code == 403
    assert client.get(url("alert_detail", alert.pk + 1000)).status_code == 404
    # Someone who may report for nobody gets the reason, not an empty form.
    client.force_login(world.ars_manager)
    page = client.get(url("alert_new"))
    assert page.status_code == 403
    assert "Vous ne pouvez signaler d'incident pour aucune structure" in words(page.text)
    # A structure outside one's scope, forced into the form: refused, nothing stored.
    client.force_login(world.staff)
    refused = client.post(url("alert_new"), {"organisation": world.neighbour.pk})
    assert refused.status_code == 400
    assert "Choisissez une structure de la liste" in words(refused.text)
    assert not Alert.objects.exclude(pk=alert.pk).exists()


# --- List -----------------------------------------------------------------------------------------


def test_list_filters_and_scope(client, world):
    ransom = make_alert(world, missing_fields=["callback_phone"])
    phishing = make_alert(world, incident_type=IncidentType.PHISHING, status=AlertStatus.QUALIFIED)
    neighbour = make_alert(
        world, organisation=world.neighbour, reporter=world.neighbour_rssi, description="Voisin"
    )
    link = lambda alert: f'href="{url("alert_detail", alert.pk)}"'  # noqa: E731
    client.force_login(world.crrc_operator)
    html = client.get(url("alert_list")).text
    assert all(link(a) in html for a in (ransom, phishing, neighbour))
    html = client.get(url("alert_list"), {"completude": "oui"}).text
    assert link(ransom) in html
    assert link(phishing) not in html
    html = client.get(url("alert_list"), {"type": "hameconnage", "statut": "qualifiee"}).text
    assert link(phishing) in html
    assert link(ransom) not in html
    html = client.get(url("alert_list"), {"structure": world.neighbour.pk}).text
    assert link(neighbour) in html
    assert link(ransom) not in html
    # A bad filter value is reported, never a server error.
    bad = client.get(url("alert_list"), {"structure": "abc", "statut": "zzz"})
    assert bad.status_code == 200
    # The hospital's RSSI sees the hospital's alerts only; an outsider none.
    client.force_login(world.rssi)
    html = client.get(url("alert_list")).text
    assert link(ransom) in html
    assert link(neighbour) not in html
    client.force_login(world.outsider_crrc)
    html = client.get(url("alert_list")).text
    assert "Aucune alerte ne vous est accessible" in words(html)


def test_list_queries_do_not_grow_with_rows(client, world):
    client.force_login(world.crrc_operator)
    case = make_case(world)
    make_alert(world, case=case)
    client.get(url("alert_list"))
    with CaptureQueriesContext(connection) as few:
        assert client.get(url("alert_list")).status_code == 200
    first = Alert.objects.first()
    for index in range(20):
        make_alert(
            world,
            organisation=world.neighbour if index % 2 else world.hospital,
            case=case if index % 3 else None,
            duplicate_of=first if index % 4 == 0 else None,
            acknowledged_by=world.oncall,
        )
    with CaptureQueriesContext(connection) as many:
        page = client.get(url("alert_list"))
    assert page.status_code == 200
    assert len(many) == len(few), [q["sql"] for q in many]
