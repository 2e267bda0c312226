"""The on-call pages: the operator edits (rota, policy, gateways), the on-call experts read the
rota and write their handover, everybody else is told clearly they have no access; a gateway's
key is shown once and never again; the rota page costs a fixed number of queries."""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from rempart.incidents import oncall_selectors as sel
from rempart.incidents import oncall_services as services
from rempart.incidents.models import EscalationPolicy, OnCallShift, Page, PageChannel, PagingWebhook

from .factories import incident_world, make_alert

pytestmark = pytest.mark.django_db

ROTA = reverse("incidents:oncall_rota")
HANDOVER = reverse("incidents:oncall_handover")
POLICY = reverse("incidents:oncall_policy")
WEBHOOKS = reverse("incidents:oncall_webhooks")


class _Undefined(str):
    def __mod__(self, other):
        raise AssertionError(f"Variable de gabarit indéfinie : {other}")


@pytest.fixture(autouse=True)
def strict_templates(settings):
    settings.TEMPLATES = [
        {
            **settings.TEMPLATES[0],
            "OPTIONS": {**settings.TEMPLATES[0]["OPTIONS"], "string_if_invalid": _Undefined("%s")},
        }
    ]


@pytest.fixture
def world():
    return incident_world()


def plain(html: str) -> str:
    return re.sub(r"\s+", " ", html.replace("&#x27;", "'").replace("&amp;", "&"))


def local_input(moment: datetime.datetime) -> str:
    return sel.local(moment).strftime("%Y-%m-%dT%H:%M")


def login(client, user):
    client.force_login(user)
    return client


# --- Rota -----------------------------------------------------------------------------------------


def test_operator_sees_who_is_on_call_now_and_the_week(client, world):
    login(client, world.crrc_operator)
    page = client.get(ROTA)
    assert page.status_code == 200
    text = plain(page.text)
    assert "D'astreinte en ce moment" in text
    assert "Omar Astreinte" in text
    assert "+33600000001" in text  # level 1's phone, callable
    assert 'href="tel:+33600000002"' in text  # level 2
    assert "Ajouter un tour d'astreinte" in text
    assert "Recopier les tours de cette semaine" in text
    assert "Modifier" in text
    # the rota only covers 12 hours of this week: the gaps are listed
    assert "sans astreinte de niveau 1 cette semaine" in text


@pytest.mark.parametrize("who", ["oncall", "backup", "provider_expert"])
def test_on_call_people_read_the_rota_only(client, world, who):
    login(client, getattr(world, who))
    page = client.get(ROTA)
    assert page.status_code == 200
    text = plain(page.text)
    assert "Omar Astreinte" in text
    assert "Lecture seule" in text
    assert "Ajouter un tour" not in text
    assert "Recopier" not in text
    assert "/planning/tours/" not in text
    assert "Politique d'escalade" not in text  # operators' pages are not offered
    refused = client.post(
        ROTA,
        {
            "action": "add",
            "crrc": world.crrc.pk,
            "person": world.oncall.pk,
            "level": 1,
            "starts_at": "2030-01-01T08:00",
            "ends_at": "2030-01-01T20:00",
        },
    )
    assert refused.status_code == 403
    assert "Seuls les opérateurs du CRRC" in plain(refused.text)
    shift = OnCallShift.objects.filter(person=world.oncall).first()
    assert client.get(reverse("incidents:oncall_shift_edit", args=[shift.pk])).status_code == 403
    assert client.get(POLICY).status_code == 403
    assert client.get(WEBHOOKS).status_code == 403


@pytest.mark.parametrize("who", ["rssi", "director", "staff", "ars_manager", "neighbour_rssi"])
def test_establishment_and_ars_people_are_told_they_have_no_access(client, world, who):
    login(client, getattr(world, who))
    page = client.get(ROTA)
    assert page.status_code == 403
    assert "réservé aux opérateurs du CRRC et aux experts d'astreinte" in plain(page.text)
    assert "Omar" not in page.text
    assert client.get(HANDOVER).status_code == 403
    assert client.get(POLICY).status_code == 403
    assert client.get(WEBHOOKS).status_code == 403


def test_operator_of_another_region_gets_a_clear_403(client, world):
    login(client, world.outsider_crrc)
    for url in (ROTA, HANDOVER, POLICY, WEBHOOKS):
        page = client.get(f"{url}?crrc={world.crrc.pk}")
        assert page.status_code == 403, url
        assert "Omar" not in page.text
    assert "Vous n'avez pas accès au planning d'astreinte de ce CRRC" in plain(
        client.get(f"{ROTA}?crrc={world.crrc.pk}").text
    )
    shift = OnCallShift.objects.filter(crrc=world.crrc).first()
    for name in ("oncall_shift_edit", "oncall_shift_delete"):
        page = client.get(reverse(f"incidents:{name}", args=[shift.pk]))
        assert page.status_code == 403
        assert "Omar" not in page.text
    assert client.post(reverse("incidents:oncall_shift_delete", args=[shift.pk])).status_code == 403
    assert OnCallShift.objects.filter(pk=shift.pk).exists()
    # their own rota opens (empty), and unknown ids are 404
    assert client.get(ROTA).status_code == 200
    assert client.get(f"{ROTA}?crrc=999999").status_code == 404
    assert client.get(f"{ROTA}?crrc=abc").status_code == 404
    assert client.get(reverse("incidents:oncall_shift_edit", args=[999999])).status_code == 404


def test_add_a_shift_then_see_it_in_its_week(client, world):
    login(client, world.crrc_operator)
    start = sel.midnight(datetime.date(2030, 3, 4)) + datetime.timedelta(hours=8)
    response = client.post(
        ROTA,
        {
            "action": "add",
            "crrc": world.crrc.pk,
            "semaine": "2030-03-04",
            "person": world.backup.pk,
            "level": 1,
            "starts_at": local_input(start),
            "ends_at": "05/03/2030 08:00",
            "phone": "",
        },
    )
    assert response.status_code == 302
    assert response.url == f"{ROTA}?crrc={world.crrc.pk}&semaine=2030-03-04"
    shift = OnCallShift.objects.get(starts_at=start)
    assert shift.ends_at == start + datetime.timedelta(days=1)
    page = client.get(response.url)
    text = plain(page.text)
    assert (
        "Tour ajouté : Bea Renfort, niveau 1, du lundi 4 mars à 08:00 au mardi 5 mars à 08:00."
        in text
    )
    assert "Semaine du lundi 4 mars au dimanche 10 mars 2030" in text
    assert "Du lundi 4 mars à 00:00 au lundi 4 mars à 08:00 (8 h)" in text  # the gap before


def test_refused_shift_keeps_what_was_typed(client, world):
    login(client, world.crrc_operator)
    now = timezone.now()
    data = {
        "action": "add",
        "crrc": world.crrc.pk,
        "person": world.oncall.pk,
        "level": 1,
        "starts_at": local_input(now),
        "ends_at": local_input(now + datetime.timedelta(hours=3)),
        "phone": "+33 6 99 99 99 99",
    }
    page = client.post(ROTA, data)
    assert page.status_code == 400
    text = plain(page.text)
    assert "Omar Astreinte est déjà d'astreinte (niveau 1)" in text
    assert 'value="+33 6 99 99 99 99"' in text
    page = client.post(ROTA, {**data, "starts_at": "demain", "ends_at": "", "level": "12"})
    text = plain(page.text)
    assert page.status_code == 400
    assert "Écrivez le début sous la forme 03/03/2025 08:00." in text
    assert "Indiquez la date et l'heure de fin du tour." in text
    assert "Le niveau d'escalade va de 1 à 9." in text
    page = client.post(ROTA, {**data, "person": world.rssi.pk})
    assert "Choisissez une personne de la liste." in plain(page.text)
    # 02:30 on 29 March 2026 does not exist in Paris
    page = client.post(
        ROTA, {**data, "starts_at": "2026-03-29T02:30", "ends_at": "2026-03-29T08:00"}
    )
    assert page.status_code == 400
    assert "la nuit du changement d'heure" in plain(page.text)
    assert OnCallShift.objects.count() == 2
    page = client.post(ROTA, {"action": "nimporte", "crrc": world.crrc.pk})
    assert page.status_code == 302


def test_edit_and_delete_a_shift(client, world):
    login(client, world.crrc_operator)
    shift = OnCallShift.objects.get(person=world.backup)
    url = reverse("incidents:oncall_shift_edit", args=[shift.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert f'value="{local_input(shift.starts_at)}"' in page.text
    response = client.post(
        url,
        {
            "person": world.provider_expert.pk,
            "level": 2,
            "starts_at": local_input(shift.starts_at),
            "ends_at": local_input(shift.ends_at),
            "phone": "+33 6 12 12 12 12",
            "handover_note": "Surveiller le CH de Rivebelle.",
        },
    )
    assert response.status_code == 302
    shift.refresh_from_db()
    assert shift.person == world.provider_expert
    assert shift.handover_note == "Surveiller le CH de Rivebelle."
    bad = client.post(url, {"person": world.provider_expert.pk, "level": 2, "starts_at": "x"})
    assert bad.status_code == 400
    delete_url = reverse("incidents:oncall_shift_delete", args=[shift.pk])
    confirm = client.get(delete_url)
    assert "Ce tour est en cours" in plain(confirm.text)
    assert OnCallShift.objects.filter(pk=shift.pk).exists()  # GET never writes
    assert client.post(delete_url).status_code == 302
    assert not OnCallShift.objects.filter(pk=shift.pk).exists()


def test_repeat_the_week_through_the_page(client, world):
    login(client, world.crrc_operator)
    monday = sel.week_monday(sel.paris_today())
    response = client.post(
        ROTA,
        {"action": "repeat", "crrc": world.crrc.pk, "semaine": monday.isoformat(), "weeks": "2"},
    )
    assert response.status_code == 302
    text = plain(client.get(response.url).text)
    assert "Semaine recopiée : " in text
    assert OnCallShift.objects.count() in (4, 6)  # 2 copies each, unless a shift began last week
    bad = client.post(
        ROTA,
        {"action": "repeat", "crrc": world.crrc.pk, "semaine": monday.isoformat(), "weeks": "40"},
    )
    assert bad.status_code == 400
    assert "Recopiez sur 1 à 12 semaines." in plain(bad.text)


def test_week_navigation_swaps_the_same_partial_as_a_reload(client, world):
    login(client, world.crrc_operator)
    url = f"{ROTA}?crrc={world.crrc.pk}&semaine=2030-03-06"
    full = client.get(url).text
    partial = client.get(url, headers={"HX-Request": "true", "HX-Target": "oncall-week"}).text
    assert partial.strip().startswith('<section id="oncall-week"')
    assert "<html" not in partial
    section = re.search(r'<section id="oncall-week".*?</section>', full, re.S).group(0)
    assert plain(section).strip() == plain(partial).strip()
    assert "Semaine du lundi 4 mars au dimanche 10 mars 2030" in plain(partial)
    garbled = client.get(f"{ROTA}?semaine=2030-13-45")
    assert garbled.status_code == 200
    assert "Cette semaine n'a pas été comprise" in plain(garbled.text)


def test_rota_page_query_budget(client, world, django_assert_max_num_queries):
    login(client, world.crrc_operator)
    client.get(ROTA)  # warm the session and content types

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(ROTA).status_code == 200
        return len(queries)

    few = count()
    monday = sel.week_monday(sel.paris_today())
    for day in range(7):
        start = sel.midnight(monday + datetime.timedelta(days=day))
        for level, person in ((3, world.provider_expert), (4, world.crrc_operator)):
            OnCallShift.objects.create(
                crrc=world.crrc,
                person=person,
                level=level,
                starts_at=start + datetime.timedelta(hours=1),
                ends_at=start + datetime.timedelta(hours=5),
                handover_note="RAS",
            )
    assert count() == few
    with django_assert_max_num_queries(16):
        client.get(ROTA)


# --- Handover -------------------------------------------------------------------------------------


def test_incoming_person_reads_the_previous_note_and_writes_theirs(client, world):
    now = timezone.now()
    OnCallShift.objects.create(
        crrc=world.crrc,
        person=world.provider_expert,
        level=1,
        starts_at=now - datetime.timedelta(hours=14),
        ends_at=now - datetime.timedelta(hours=2),
        handover_note="Alerte du CH de Rivebelle : rappeler le RSSI à 9 h.",
    )
    login(client, world.oncall)
    rota = plain(client.get(ROTA).text)
    assert "Consignes de relève de Paul Expert" in rota
    assert "rappeler le RSSI à 9 h." in rota
    page = client.get(HANDOVER)
    assert page.status_code == 200
    text = plain(page.text)
    assert "Vous êtes d'astreinte au niveau 1" in text
    assert "Consignes reçues de Paul Expert" in text
    shift = OnCallShift.objects.get(person=world.oncall)
    response = client.post(
        HANDOVER, {"crrc": world.crrc.pk, "tour": shift.pk, "handover_note": "Rien à signaler."}
    )
    assert response.status_code == 302
    shift.refresh_from_db()
    assert shift.handover_note == "Rien à signaler."
    # somebody else's shift: refused, with the reason
    other = OnCallShift.objects.get(person=world.backup)
    refused = client.post(
        HANDOVER, {"crrc": world.crrc.pk, "tour": other.pk, "handover_note": "Pirate"}
    )
    assert refused.status_code == 403
    assert "Seule la personne d'astreinte sur ce tour" in plain(refused.text)
    other.refresh_from_db()
    assert other.handover_note == ""


def test_handover_page_without_a_shift(client, world):
    login(client, world.crrc_operator)
    page = client.get(HANDOVER)
    assert page.status_code == 200
    assert "Vous n'êtes pas d'astreinte en ce moment" in plain(page.text)


# --- Policy ---------------------------------------------------------------------------------------


def test_policy_defaults_are_shown_and_created_on_post_only(client):
    world = incident_world(rota=False)
    login(client, world.crrc_operator)
    page = client.get(POLICY)
    assert page.status_code == 200
    assert "Aucune politique n'est encore enregistrée" in plain(page.text)
    assert not EscalationPolicy.objects.exists()  # GET never writes
    response = client.post(
        POLICY,
        {
            "crrc": world.crrc.pk,
            "ack_timeout_minutes": "7",
            "rounds": "2",
            "dedup_window_minutes": "30",
        },
    )
    assert response.status_code == 302
    assert EscalationPolicy.objects.get(crrc=world.crrc).ack_timeout_minutes == 7
    text = plain(client.get(response.url).text)
    assert "Politique d'escalade enregistrée : relance après 7 min" in text
    bad = client.post(
        POLICY, {"ack_timeout_minutes": "500", "rounds": "", "dedup_window_minutes": "x"}
    )
    assert bad.status_code == 400
    text = plain(bad.text)
    assert "La valeur maximale est 120." in text
    assert "Indiquez le nombre de tours, de 1 à 10." in text
    assert "Écrivez un nombre entier." in text
    assert EscalationPolicy.objects.get().ack_timeout_minutes == 7


# --- Gateways -------------------------------------------------------------------------------------


def test_generated_key_is_shown_once_and_never_again(client, world):
    login(client, world.crrc_operator)
    page = client.post(
        WEBHOOKS,
        {"crrc": world.crrc.pk, "name": "SMS astreinte", "url": "https://sms.exemple.fr/envoi"},
    )
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    webhook = PagingWebhook.objects.get()
    assert webhook.secret in page.text
    assert "ne sera plus jamais affichée" in plain(page.text)
    for url in (
        WEBHOOKS,
        reverse("incidents:oncall_webhook_edit", args=[webhook.pk]),
        reverse("incidents:oncall_webhook_delete", args=[webhook.pk]),
        ROTA,
    ):
        again = client.get(url)
        assert again.status_code == 200
        assert webhook.secret not in again.text, url
    listing = plain(client.get(WEBHOOKS).text)
    assert "•••• définie le" in listing
    # rotating shows the new key once
    rotated = client.post(
        reverse("incidents:oncall_webhook_edit", args=[webhook.pk]), {"action": "rotate"}
    )
    webhook.refresh_from_db()
    assert webhook.secret in rotated.text
    assert webhook.secret not in client.get(WEBHOOKS).text


def test_typed_key_is_never_echoed_even_on_error(client, world):
    login(client, world.crrc_operator)
    typed = "ma-cle-tapee-tres-longue-0001"
    page = client.post(
        WEBHOOKS, {"crrc": world.crrc.pk, "name": "", "url": "ftp://x", "secret": typed}
    )
    assert page.status_code == 400
    assert typed not in page.text
    assert "Donnez un nom à la passerelle." in plain(page.text)
    page = client.post(
        WEBHOOKS, {"crrc": world.crrc.pk, "name": "Voix", "url": "ftp://x", "secret": typed}
    )
    assert "Indiquez une adresse complète commençant par https://" in plain(page.text)
    assert typed not in page.text
    response = client.post(
        WEBHOOKS,
        {"crrc": world.crrc.pk, "name": "Voix", "url": "http://127.0.0.1:9/voix", "secret": typed},
    )
    assert response.status_code == 302
    text = plain(client.get(response.url).text)
    assert "n'est pas en https" in text
    assert typed not in text
    assert PagingWebhook.objects.get().secret == typed


def test_edit_deactivate_and_delete_gateways(client, world):
    login(client, world.crrc_operator)
    used = services.webhook_create(
        actor=world.crrc_operator, crrc=world.crrc, name="SMS", url="https://sms.exemple.fr"
    ).webhook
    Page.objects.create(
        alert=make_alert(world),
        step=0,
        level=1,
        recipient=world.oncall,
        channel=PageChannel.WEBHOOK,
        webhook=used,
        created_at=timezone.now(),
    )
    edit = reverse("incidents:oncall_webhook_edit", args=[used.pk])
    response = client.post(edit, {"action": "save", "name": "SMS nuit", "url": "https://b.fr/x"})
    assert response.status_code == 302
    used.refresh_from_db()
    assert used.name == "SMS nuit"
    bad = client.post(edit, {"action": "save", "name": "SMS nuit", "url": "pas une adresse"})
    assert bad.status_code == 400
    assert "Indiquez une adresse complète" in plain(bad.text)
    # a used gateway: deletion refused, deactivation offered
    delete = reverse("incidents:oncall_webhook_delete", args=[used.pk])
    assert "Désactivez-la" in plain(client.get(delete).text)
    assert client.post(delete).status_code == 302
    assert PagingWebhook.objects.filter(pk=used.pk).exists()
    client.post(edit, {"action": "deactivate"})
    used.refresh_from_db()
    assert not used.active
    client.post(edit, {"action": "activate"})
    used.refresh_from_db()
    assert used.active
    unused = services.webhook_create(
        actor=world.crrc_operator, crrc=world.crrc, name="Test", url="https://t.fr"
    ).webhook
    assert (
        client.post(reverse("incidents:oncall_webhook_delete", args=[unused.pk])).status_code == 302
    )
    assert not PagingWebhook.objects.filter(pk=unused.pk).exists()


def test_gateways_of_another_region_are_refused(client, world):
    webhook = services.webhook_create(
        actor=world.crrc_operator, crrc=world.crrc, name="SMS", url="https://sms.exemple.fr"
    ).webhook
    for who in (world.outsider_crrc, world.oncall, world.rssi):
        login(client, who)
        for name in ("oncall_webhook_edit", "oncall_webhook_delete"):
            url = reverse(f"incidents:{name}", args=[webhook.pk])
            assert client.get(url).status_code == 403
            assert client.post(url, {"action": "rotate"}).status_code == 403
        assert client.post(f"{WEBHOOKS}?crrc={world.crrc.pk}", {"name": "x"}).status_code == 403
    assert PagingWebhook.objects.get().secret == webhook.secret
    assert PagingWebhook.objects.count() == 1


def test_the_chain_test_is_reached_from_the_oncall_pages_by_those_who_may_run_it(client, world):
    chain_test = reverse("incidents:paging_test")
    login(client, world.crrc_operator)
    assert chain_test in client.get(ROTA).text
    assert client.get(chain_test).status_code == 200
    login(client, world.oncall)  # on the rota, not its manager
    assert chain_test not in client.get(ROTA).text
    assert client.get(chain_test).status_code == 403
