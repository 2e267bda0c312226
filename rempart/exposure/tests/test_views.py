"""Exposure pages: who sees what, bad input answered on the form with nothing lost, the board's
query budget, the progress fragment, the CSV report."""

import datetime

import pytest
from django.urls import reverse

from rempart.core.roles import OrgKind, Role
from rempart.exposure import services
from rempart.exposure.models import Asset, Authorisation, Finding, FindingStatus, ScanStatus
from rempart.exposure.scanner import TimeoutPlan
from rempart.exposure.tests.factories import exposure_world
from rempart.exposure.tests.servers import Listener
from rempart.organisations.tests.factories import OrganisationFactory, RegionFactory, member

pytestmark = pytest.mark.django_db

PLAN = TimeoutPlan(initial=0.3, minimum=0.1, maximum=0.3)


def _scanned(world):
    rdp = Listener(host=world.address, port=3389)
    try:
        scan = services.scan_queue(
            actor=world.operator, organisation=world.establishment, hand_to_worker=False
        )
        return services.scan_run(scan.pk, timeout_plan=PLAN)
    finally:
        rdp.close()


def test_rssi_home_leads_to_their_establishment(client):
    world = exposure_world()
    client.force_login(world.rssi)
    response = client.get(reverse("exposure:home"))
    assert response.status_code == 302
    assert response["Location"] == reverse("exposure:organisation", args=[world.establishment.pk])


def test_people_without_exposure_rights_are_refused_with_the_reason(client):
    world = exposure_world()
    staff = member(Role.STAFF, world.establishment)
    client.force_login(staff)
    response = client.get(reverse("exposure:home"))
    assert response.status_code == 403
    response = client.get(reverse("exposure:organisation", args=[world.establishment.pk]))
    assert response.status_code == 403


def test_another_region_sees_nothing_of_it(client):
    world = exposure_world()
    scan = _scanned(world)
    finding = Finding.objects.filter(organisation=world.establishment).first()
    other_region = RegionFactory(code="93", name="Provence-Alpes-Côte d'Azur")
    other_crrc = OrganisationFactory(kind=OrgKind.CRRC, region=other_region, finess=None)
    client.force_login(member(Role.CRRC_OPERATOR, other_crrc))
    for url in (
        reverse("exposure:organisation", args=[world.establishment.pk]),
        reverse("exposure:scan_detail", args=[scan.pk]),
        reverse("exposure:scan_export", args=[scan.pk]),
        reverse("exposure:finding_detail", args=[finding.pk]),
    ):
        assert client.get(url).status_code == 404, url
    response = client.post(reverse("exposure:scan_create", args=[world.establishment.pk]))
    assert response.status_code == 404
    assert world.establishment.exposure_scans.count() == 1
    board = client.get(reverse("exposure:home"))
    assert world.establishment.name not in board.text


def test_a_private_range_is_refused_on_the_form_and_what_was_typed_is_kept(client):
    world = exposure_world(authorised=False)
    client.force_login(world.rssi)
    response = client.post(
        reverse("exposure:asset_create", args=[world.establishment.pk]),
        {"value": "192.168.10.0/24", "description": "Réseau des urgences"},
    )
    assert response.status_code == 400
    assert "adresse privée" in response.text
    assert 'value="192.168.10.0/24"' in response.text
    assert "Réseau des urgences" in response.text
    assert not Asset.objects.filter(organisation=world.establishment).exists()
    response = client.post(
        reverse("exposure:asset_create", args=[world.establishment.pk]),
        {"value": "300.1.2.3"},
    )
    assert response.status_code == 400
    assert "pas une adresse IP ou une plage CIDR valide" in response.text


def test_a_range_larger_than_a_16_is_refused(client):
    world = exposure_world(authorised=False)
    client.force_login(world.rssi)
    response = client.post(
        reverse("exposure:asset_create", args=[world.establishment.pk]),
        {"value": "203.0.0.0/15"},
    )
    assert response.status_code == 400
    assert "/16" in response.text
    assert not Asset.objects.exists()


def test_the_dsi_declares_but_does_not_sign(client):
    world = exposure_world(authorised=False)
    client.force_login(world.dsi)
    response = client.post(
        reverse("exposure:asset_create", args=[world.establishment.pk]),
        {"value": world.address, "description": "Labo"},
    )
    assert response.status_code == 302
    url = reverse("exposure:authorisation_create", args=[world.establishment.pk])
    assert client.get(url).status_code == 403


def test_signing_without_the_box_or_with_a_bad_window_keeps_the_input(client):
    world = exposure_world(authorised=False)
    asset = services.asset_create(
        actor=world.rssi, organisation=world.establishment, value=world.address
    )
    client.force_login(world.director)
    url = reverse("exposure:authorisation_create", args=[world.establishment.pk])
    today = datetime.date.today()
    data = {
        "assets": [asset.pk],
        "valid_from": today.isoformat(),
        "valid_until": (today + datetime.timedelta(days=200)).isoformat(),
        "weekdays": ["1", "2"],
        "window_start": "18:00",
        "window_end": "08:00",
        "max_rate": "50",
    }
    response = client.post(url, data)
    assert response.status_code == 400
    assert "Cochez la case" in response.text
    response = client.post(url, {**data, "confirm": "on"})
    assert response.status_code == 400
    assert "finir après son début" in response.text
    assert 'value="50"' in response.text
    assert not Authorisation.objects.exists()
    response = client.post(
        url, {**data, "confirm": "on", "window_start": "08:00", "window_end": "18:00"}
    )
    assert response.status_code == 302
    authorisation = Authorisation.objects.get()
    assert authorisation.signer_name == world.director.get_full_name()
    assert authorisation.weekdays == "12"


def test_scan_outside_the_window_is_refused_with_the_reason(client):
    world = exposure_world(authorised=False)
    asset = services.asset_create(
        actor=world.rssi, organisation=world.establishment, value=world.address
    )
    today = datetime.date.today()
    weekday = str(today.isoweekday() % 7 + 1)  # tomorrow's weekday only
    services.authorisation_sign(
        actor=world.rssi,
        organisation=world.establishment,
        assets=[asset],
        valid_from=today,
        valid_until=today + datetime.timedelta(days=30),
        weekdays=weekday,
        window_start=datetime.time(0, 0),
        window_end=datetime.time(23, 59),
        max_rate=10,
    )
    client.force_login(world.operator)
    response = client.post(
        reverse("exposure:scan_create", args=[world.establishment.pk]), follow=True
    )
    assert "hors des jours autorisés" in response.text
    assert not world.establishment.exposure_scans.exists()


def test_scan_page_progress_fragment_and_csv_report(client):
    world = exposure_world()
    scan = _scanned(world)
    assert scan.status == ScanStatus.DONE
    client.force_login(world.rssi)
    fragment = client.get(
        reverse("exposure:scan_detail", args=[scan.pk]), headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200
    assert "Terminée" in fragment.text
    assert "hx-trigger" not in fragment.text
    page = client.get(reverse("exposure:scan_detail", args=[scan.pk]))
    assert "3389" in page.text
    assert "Annuler l&#x27;analyse" not in page.text  # finished, and the RSSI is no watcher
    report = client.get(reverse("exposure:scan_export", args=[scan.pk]))
    body = b"".join(report.streaming_content).decode("utf-8-sig")
    assert "3389" in body
    assert "Bureau à distance" in body


def test_acknowledging_needs_a_reason_and_the_declarer_role(client):
    world = exposure_world()
    _scanned(world)
    finding = Finding.objects.get(organisation=world.establishment, code="exposed_rdp")
    url = reverse("exposure:finding_detail", args=[finding.pk])
    client.force_login(world.operator)  # the CRRC reads it but does not acknowledge for them
    assert client.get(url).status_code == 200
    assert client.post(url, {"reason": "Pour eux"}).status_code == 403
    client.force_login(world.rssi)
    response = client.post(url, {"reason": "  "})
    assert response.status_code == 400
    finding.refresh_from_db()
    assert finding.status == FindingStatus.OPEN
    response = client.post(url, {"reason": "Fermeture planifiée mardi"})
    assert response.status_code == 302
    finding.refresh_from_db()
    assert finding.status == FindingStatus.ACKNOWLEDGED
    assert finding.ack_by == world.rssi


def test_board_query_count_does_not_grow_with_establishments(client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    world = exposure_world()
    _scanned(world)
    client.force_login(world.operator)
    client.get(reverse("exposure:home"))  # warm the session and memberships

    def board_queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(reverse("exposure:home"))
        assert response.status_code == 200
        return len(captured.captured_queries)

    with_one = board_queries()
    for index in range(6):
        hospital = OrganisationFactory(
            kind=OrgKind.ESTABLISHMENT, region=world.region, name=f"Hôpital {index}"
        )
        Asset.objects.create(organisation=hospital, kind="domain", value=f"h{index}.exemple.fr")
    assert board_queries() == with_one <= 20
    page = client.get(reverse("exposure:home")).text
    assert "Hôpital 5" in page
    assert "Sur 7 établissements de la région, 7 ont déclaré" in page


def test_emergency_stop_from_the_board(client):
    world = exposure_world()
    client.force_login(world.operator)
    response = client.post(reverse("exposure:emergency_stop"), {"reason": ""}, follow=True)
    assert "motif" in response.text
    response = client.post(
        reverse("exposure:emergency_stop"), {"reason": "Plainte d'un hébergeur"}, follow=True
    )
    assert "Arrêt d&#x27;urgence engagé" in response.text
    response = client.post(
        reverse("exposure:scan_create", args=[world.establishment.pk]), follow=True
    )
    assert "arrêt d&#x27;urgence" in response.text
    client.post(reverse("exposure:emergency_release"))
    client.force_login(world.rssi)
    assert client.post(reverse("exposure:emergency_stop"), {"reason": "x"}).status_code == 403


def test_lab_ranges_page_is_the_crrc_s(client):
    world = exposure_world()
    client.force_login(world.rssi)
    assert client.get(reverse("exposure:lab_ranges")).status_code == 403
    client.force_login(world.operator)
    response = client.post(
        reverse("exposure:lab_ranges"),
        {"region": world.region.pk, "network": "193.51.24.0/24", "reason": "Labo"},
    )
    assert response.status_code == 400
    assert "public" in response.text
    response = client.post(
        reverse("exposure:lab_ranges"),
        {"region": world.region.pk, "network": "10.99.0.0/24", "reason": "Labo du CRRC"},
    )
    assert response.status_code == 302


def test_the_trend_is_drawn_once_there_are_two_scans(client):
    world = exposure_world()
    _scanned(world)
    client.force_login(world.rssi)
    url = reverse("exposure:organisation", args=[world.establishment.pk])
    assert "chart-trend" not in client.get(url).text
    scan = services.scan_queue(
        actor=world.operator, organisation=world.establishment, hand_to_worker=False
    )
    services.scan_run(scan.pk, timeout_plan=PLAN)
    page = client.get(url).text
    assert "chart-trend" in page
    assert "Critique : 1" in page  # after the first scan (the RDP listener was there)


@pytest.mark.parametrize(
    ("weekdays", "label"),
    [
        ("1234567", "tous les jours"),
        ("12345", "du lundi au vendredi"),
        ("67", "samedi, dimanche"),
        ("135", "lundi, mercredi, vendredi"),
    ],
)
def test_authorised_days_are_said_in_words(weekdays, label):
    assert Authorisation(weekdays=weekdays).weekdays_label == label
