"""The case pages: list (scoped, filters, query budget), opening from an alert, the case page
by access level, every action POST-only and level-checked, HTMX parts, the alert-page include
and the shared header and navigation."""

import datetime
import re
from html import unescape

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from rempart.incidents import case_services as cs
from rempart.incidents.incident_types import template_for
from rempart.incidents.models import (
    AccessLevel,
    AlertStatus,
    Case,
    CaseAccess,
    CaseOutcome,
    CaseState,
    CaseTask,
    EventKind,
    IncidentType,
    Severity,
    TaskStatus,
    Tlp,
)

from .factories import incident_world, make_alert, make_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return incident_world()


@pytest.fixture
def case(world):
    return cs.case_open(
        actor=world.rssi,
        organisation=world.hospital,
        title="Postes chiffrés aux urgences",
        incident_type=IncidentType.RANSOMWARE,
        severity=Severity.HIGH,
        tlp=Tlp.AMBER,
    )


def plain(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def url(name, *args):
    return reverse(f"incidents:{name}", args=args)


# --- List ----------------------------------------------------------------------------------------


def test_list_is_scoped_and_filtered(client, world, case):
    other = make_case(
        world,
        number=99,
        organisation=world.neighbour,
        title="Hameçonnage voisin",
        incident_type=IncidentType.PHISHING,
    )
    client.force_login(world.rssi)
    page = client.get(url("case_list"))
    assert page.status_code == 200
    assert case.reference in page.text
    assert "Hameçonnage voisin" not in page.text
    client.force_login(world.crrc_operator)  # the whole region
    page = client.get(url("case_list"))
    assert case.reference in page.text
    assert other.reference in page.text
    filtered = client.get(url("case_list"), {"incident_type": IncidentType.PHISHING})
    assert other.reference in filtered.text
    assert case.reference not in filtered.text
    by_org = client.get(url("case_list"), {"organisation": world.hospital.pk})
    assert case.reference in by_org.text
    assert other.reference not in by_org.text
    closed = client.get(url("case_list"), {"state": "clos"})
    assert "Aucun dossier ne correspond" in closed.text
    garbage = client.get(url("case_list"), {"state": "n'importe", "organisation": "x"})
    assert garbage.status_code == 200
    for outsider in (world.outsider_crrc, world.ars_manager, world.staff):
        client.force_login(outsider)
        page = client.get(url("case_list"))
        assert page.status_code == 200
        assert case.reference not in page.text


def test_mine_filter(client, world, case):
    mine = cs.case_open(
        actor=world.oncall,
        organisation=world.hospital,
        title="Piloté",
        incident_type=IncidentType.OTHER,
        severity="faible",
        tlp="green",
    )
    client.force_login(world.oncall)
    page = client.get(url("case_list"), {"mine": "on"})
    assert mine.reference in page.text
    assert case.reference not in page.text


def test_list_query_budget_does_not_grow_with_cases(client, world):
    client.force_login(world.crrc_operator)
    for number in range(1, 4):
        make_case(world, number=number, lead=world.oncall)
    client.get(url("case_list"))
    with CaptureQueriesContext(connection) as few:
        assert client.get(url("case_list")).status_code == 200
    for number in range(4, 20):
        make_case(world, number=number, lead=world.backup, organisation=world.neighbour)
    with CaptureQueriesContext(connection) as many:
        assert client.get(url("case_list")).status_code == 200
    assert len(many) == len(few)
    assert len(many) <= 15


# --- Opening ---------------------------------------------------------------------------------------


def test_open_form_is_prefilled_from_the_alert(client, world):
    alert = make_alert(world, affects_care="oui", actions_taken="Postes débranchés.")
    client.force_login(world.crrc_operator)
    page = client.get(url("case_open"), {"alerte": alert.pk})
    assert page.status_code == 200
    text = page.text
    assert f"alerte n° {alert.pk}" in text.lower()
    assert "Rançongiciel — Centre hospitalier de Rivebelle" in text
    assert "Postes débranchés." in text
    assert 'value="critique" selected' in text
    assert 'name="organisation"' not in text  # the alert's organisation


def test_open_form_prefill_says_since_when_in_words_and_in_paris_time(client, world):
    observed = datetime.datetime(2026, 1, 15, 1, 30, tzinfo=datetime.UTC)  # 02:30 in Paris
    words = make_alert(world, observed_at_text="vers 2 h 30 cette nuit")
    both = make_alert(world, observed_at=observed, observed_at_text="en pleine nuit")
    client.force_login(world.crrc_operator)
    text = client.get(url("case_open"), {"alerte": words.pk}).text
    assert "Depuis : « vers 2 h 30 cette nuit »" in text
    text = client.get(url("case_open"), {"alerte": both.pk}).text
    assert "Depuis : 15/01/2026 02:30 — « en pleine nuit »" in text


def test_open_from_alert_creates_the_case_and_redirects(client, world):
    alert = make_alert(world)
    client.force_login(world.oncall)
    alert.pages.create(
        step=0, level=1, recipient=world.oncall, channel="email", created_at=timezone.now()
    )
    response = client.post(
        url("case_open") + f"?alerte={alert.pk}",
        {
            "title": "Rançongiciel urgences",
            "incident_type": "rancongiciel",
            "summary": "",
            "severity": "critique",
            "tlp": "amber",
        },
    )
    case = Case.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("case_detail", case.pk)
    alert.refresh_from_db()
    assert alert.case == case
    assert alert.status == AlertStatus.QUALIFIED
    assert case.lead == world.oncall
    # Again: the alert is already in a case, the form leads to it.
    again = client.get(url("case_open"), {"alerte": alert.pk})
    assert again.status_code == 302
    assert again["Location"] == url("case_detail", case.pk)


def test_open_refusals(client, world):
    alert = make_alert(world)
    client.force_login(world.staff)  # reporter, not a handler
    assert client.get(url("case_open"), {"alerte": alert.pk}).status_code == 403
    assert client.get(url("case_open")).status_code == 403  # no organisation to open for
    client.force_login(world.outsider_crrc)
    assert client.get(url("case_open"), {"alerte": alert.pk}).status_code == 403
    assert client.get(url("case_open"), {"alerte": 999999}).status_code == 404
    client.force_login(world.rssi)
    page = client.post(
        url("case_open"),
        {
            "organisation": world.hospital.pk,
            "title": "",
            "incident_type": "",
            "severity": "moyenne",
            "tlp": "amber",
        },
    )
    assert page.status_code == 400
    assert not Case.objects.exists()
    # An organisation outside the user's reach is not in the list.
    page = client.post(
        url("case_open"),
        {
            "organisation": world.neighbour.pk,
            "title": "X",
            "incident_type": "autre",
            "severity": "moyenne",
            "tlp": "amber",
        },
    )
    assert page.status_code == 400
    assert not Case.objects.exists()


# --- The case page --------------------------------------------------------------------------------


def test_case_page_for_management(client, world, case):
    client.force_login(world.rssi)
    page = client.get(url("case_detail", case.pk))
    assert page.status_code == 200
    text = plain(page.text)
    assert case.reference in text
    assert "TLP:AMBER" in text
    assert "Élevée" in text
    assert "Nouveau" in text
    assert template_for(IncidentType.RANSOMWARE).tasks[0].title in text
    assert template_for(IncidentType.RANSOMWARE).checklist[0].title in text
    for action in (
        "case_event_add",
        "case_task_add",
        "case_asset_add",
        "case_state",
        "case_outcome",
        "case_lead",
        "case_share",
    ):
        assert url(action, case.pk) in page.text, action
    assert "Ouverture du dossier" in text


def test_read_only_viewer_sees_no_form(client, world, case):
    cs.case_share(actor=world.rssi, case=case, organisation=world.ars, level=AccessLevel.READ)
    client.force_login(world.ars_manager)
    page = client.get(url("case_detail", case.pk))
    assert page.status_code == 200
    assert "lecture seule" in page.text
    assert 'method="post" action="/incidents/dossiers/' not in page.text
    for action in ("case_event_add", "case_task_add", "case_state", "case_share"):
        assert url(action, case.pk) not in page.text
    # And its POSTs are refused.
    response = client.post(url("case_event_add", case.pk), {"kind": "note", "text": "x"})
    assert response.status_code == 403
    assert not case.events.filter(text="x").exists()


def test_contributor_sees_work_forms_not_management(client, world, case):
    cs.case_share(actor=world.rssi, case=case, person=world.provider_expert, level="contribution")
    client.force_login(world.provider_expert)
    page = client.get(url("case_detail", case.pk))
    assert url("case_event_add", case.pk) in page.text
    assert url("case_state", case.pk) not in page.text
    assert url("case_share", case.pk) not in page.text
    assert client.post(url("case_state", case.pk), {"state": "qualifie"}).status_code == 403


def test_outsiders_get_a_clear_no_access(client, world, case):
    for person in (world.outsider_crrc, world.neighbour_rssi, world.staff, world.ars_manager):
        client.force_login(person)
        page = client.get(url("case_detail", case.pk))
        assert page.status_code == 403
        assert case.title not in page.text
    client.force_login(world.rssi)
    assert client.get(url("case_detail", 999999)).status_code == 404


def test_actions_are_post_only(client, world, case):
    client.force_login(world.rssi)
    task = case.tasks.first()
    for name, args in (
        ("case_state", [case.pk]),
        ("case_event_add", [case.pk]),
        ("case_task_status", [case.pk, task.pk]),
        ("case_share", [case.pk]),
        ("case_link_alert", [make_alert(world).pk]),
    ):
        assert client.get(url(name, *args)).status_code == 405, name


def test_timeline_entry_htmx_and_plain(client, world, case):
    client.force_login(world.rssi)
    when = (timezone.localtime() - datetime.timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        url("case_event_add", case.pk),
        {"kind": "constat", "text": "Note de rançon sur 40 postes", "occurred_at": when},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert 'id="case-timeline"' in response.text
    assert "Note de rançon sur 40 postes" in response.text
    assert "<html" not in response.text
    event = case.events.get(kind=EventKind.OBSERVATION)
    assert timezone.localtime(event.occurred_at).strftime("%Y-%m-%dT%H:%M") == when
    # A future date: the section comes back with the error, nothing saved.
    future = (timezone.localtime() + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        url("case_event_add", case.pk),
        {"kind": "note", "text": "Plus tard", "occurred_at": future},
        headers={"HX-Request": "true"},
    )
    assert "ne peut pas être dans le futur" in plain(response.text)
    assert not case.events.filter(text="Plus tard").exists()
    # Without HTMX: PRG, and a refused entry re-renders the page with the typed text.
    response = client.post(url("case_event_add", case.pk), {"kind": "note", "text": "Appel ARS"})
    assert response.status_code == 302
    response = client.post(url("case_event_add", case.pk), {"kind": "note", "text": ""})
    assert response.status_code == 400


def test_task_status_toggle_htmx(client, world, case):
    task = case.tasks.filter(kind="tache").first()
    client.force_login(world.rssi)
    response = client.post(
        url("case_task_status", case.pk, task.pk),
        {"status": "faite"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert f'id="tache-{task.pk}"' in response.text
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE
    assert task.done_at
    response = client.post(
        url("case_task_status", case.pk, task.pk), {"status": "zzz"}, headers={"HX-Request": "true"}
    )
    assert "Choisissez un statut" in plain(response.text)
    # A task of another case is not reachable through this one.
    other = make_case(world, number=50)
    foreign = CaseTask.objects.create(case=other, title="Ailleurs", created_at=timezone.now())
    response = client.post(url("case_task_status", case.pk, foreign.pk), {"status": "faite"})
    foreign.refresh_from_db()
    assert foreign.status == TaskStatus.TODO
    assert response.status_code == 302


def test_task_add_and_assign(client, world, case, django_capture_on_commit_callbacks):
    from django.core import mail

    client.force_login(world.rssi)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url("case_task_add", case.pk),
            {"title": "Prévenir la CNIL", "assignee": world.director.pk},
        )
    assert response.status_code == 302
    task = case.tasks.get(title="Prévenir la CNIL")
    assert task.assignee == world.director
    assert [m.to for m in mail.outbox] == [[world.director.email]]
    response = client.post(
        url("case_task_assign", case.pk, task.pk), {"assignee": world.outsider_rssi.pk}
    )
    task.refresh_from_db()
    assert task.assignee == world.director  # not someone who cannot see the case


def test_state_outcome_lead_share_from_the_page(client, world, case):
    client.force_login(world.rssi)
    response = client.post(url("case_state", case.pk), {"state": "clos"})
    assert response.status_code == 400
    assert "Qualifiez l'issue" in plain(response.text)
    assert client.post(url("case_outcome", case.pk), {"outcome": "faux_positif"}).status_code == 302
    assert client.post(url("case_state", case.pk), {"state": "clos"}).status_code == 302
    case.refresh_from_db()
    assert case.state == CaseState.CLOSED
    assert case.outcome == CaseOutcome.FALSE_POSITIVE
    page = client.get(url("case_detail", case.pk))
    assert "Le dossier est clos" in plain(page.text)
    assert url("case_event_add", case.pk) not in page.text
    response = client.post(url("case_state", case.pk), {"state": "remediation"})
    assert "demande une note" in plain(response.text)
    response = client.post(url("case_state", case.pk), {"state": "remediation", "note": "Rechute"})
    assert response.status_code == 302
    assert client.post(url("case_lead", case.pk), {"lead": world.oncall.pk}).status_code == 302
    case.refresh_from_db()
    assert case.lead == world.oncall
    assert (
        client.post(url("case_lead", case.pk), {"lead": world.outsider_crrc.pk}).status_code == 400
    )
    response = client.post(
        url("case_share", case.pk), {"organisation": world.ars.pk, "level": "lecture"}
    )
    assert response.status_code == 302
    access = CaseAccess.objects.get(case=case)
    response = client.post(url("case_share", case.pk), {"level": "lecture"})
    assert response.status_code == 400
    assert client.post(url("case_unshare", case.pk, access.pk)).status_code == 302
    assert not CaseAccess.objects.exists()


def test_edit_page(client, world, case):
    client.force_login(world.rssi)
    assert client.get(url("case_edit", case.pk)).status_code == 200
    response = client.post(
        url("case_edit", case.pk),
        {"title": "Nouveau titre", "summary": "S", "severity": "critique", "tlp": "red"},
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert (case.title, case.tlp) == ("Nouveau titre", "red")
    assert (
        client.post(
            url("case_edit", case.pk), {"title": "", "severity": "critique", "tlp": "red"}
        ).status_code
        == 400
    )
    client.force_login(world.staff)
    assert client.get(url("case_edit", case.pk)).status_code == 403


def test_assets_from_the_page(client, world, case):
    client.force_login(world.rssi)
    response = client.post(
        url("case_asset_add", case.pk),
        {"name": "SRV-DPI", "kind": "serveur", "state": "compromis", "critical_for_care": "on"},
    )
    assert response.status_code == 302
    asset = case.assets.get()
    assert asset.critical_for_care
    response = client.post(url("case_asset_state", case.pk, asset.pk), {"state": "isole"})
    asset.refresh_from_db()
    assert asset.state == "isole"
    assert (
        client.post(
            url("case_asset_add", case.pk), {"name": "", "kind": "serveur", "state": "x"}
        ).status_code
        == 400
    )


def test_case_page_query_budget(client, world, case):
    client.force_login(world.rssi)
    for index in range(3):
        cs.case_add_event(actor=world.rssi, case=case, kind="note", text=f"Note {index}")
    client.get(url("case_detail", case.pk))
    with CaptureQueriesContext(connection) as few:
        client.get(url("case_detail", case.pk))
    for index in range(10):
        cs.task_add(actor=world.rssi, case=case, title=f"Tâche {index}", assignee=world.director)
        cs.asset_add(
            actor=world.rssi, case=case, name=f"Poste {index}", kind="poste", state="suspect"
        )
        cs.case_add_event(actor=world.crrc_operator, case=case, kind="action", text=f"A {index}")
    with CaptureQueriesContext(connection) as many:
        client.get(url("case_detail", case.pk))
    assert len(many) == len(few)
    assert len(many) <= 40


# --- Link from the alert page, shared header and navigation ---------------------------------------


def test_alert_include_offers_open_and_link(rf, world, case):
    alert = make_alert(world)
    html = render_to_string(
        "incidents/includes/alert_case_actions.html",
        {"alert": alert, "user": world.rssi, "can_handle_alert": True},
    )
    assert f"{url('case_open')}?alerte={alert.pk}" in html
    assert url("case_link_alert", alert.pk) in html
    assert case.reference in html
    html = render_to_string(
        "incidents/includes/alert_case_actions.html",
        {"alert": alert, "user": world.staff, "can_handle_alert": False},
    )
    assert "case_open" not in html
    assert url("case_link_alert", alert.pk) not in html
    alert.case = case
    alert.save()
    html = render_to_string(
        "incidents/includes/alert_case_actions.html",
        {"alert": alert, "user": world.rssi, "can_handle_alert": True},
    )
    assert url("case_detail", case.pk) in html
    assert url("case_link_alert", alert.pk) not in html


def test_link_alert_post(client, world, case):
    alert = make_alert(world)
    client.force_login(world.rssi)
    response = client.post(url("case_link_alert", alert.pk), {"case": case.pk})
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.case == case
    # Another region's operator cannot reach the alert; a staff member cannot handle it.
    other = make_alert(world)
    client.force_login(world.outsider_crrc)
    assert client.post(url("case_link_alert", other.pk), {"case": case.pk}).status_code == 403
    client.force_login(world.rssi)
    response = client.post(url("case_link_alert", other.pk), {"case": "abc"})
    assert response.status_code == 302
    other.refresh_from_db()
    assert other.case is None


def test_header_and_nav_render_for_other_pages(world, case):
    case.access_level = AccessLevel.CONTRIBUTE
    header = render_to_string("incidents/includes/case_header.html", {"case": case})
    assert case.reference in header
    assert "TLP:AMBER" in header
    assert "contribution" in header
    nav = render_to_string("incidents/includes/case_nav.html", {"case": case, "active": "detail"})
    assert url("case_detail", case.pk) in nav
    assert 'aria-current="page"' in nav
