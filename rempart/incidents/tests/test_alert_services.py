"""Filing an alert: never lost for a missing or garbled field, deduplicated, idempotent, paged
through the real paging engine; qualifying and dismissing."""

import datetime

import pytest
from django.core import mail
from django.db import IntegrityError
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.roles import OrgKind, Role
from rempart.incidents import alert_services
from rempart.incidents.alert_services import ESSENTIAL_FIELDS, UNREADABLE_MARKER
from rempart.incidents.models import (
    Alert,
    AlertSource,
    AlertStatus,
    CaseEvent,
    EscalationPolicy,
    Impact,
    IncidentType,
    Page,
    PageChannel,
    PagingStatus,
)
from rempart.organisations.tests.factories import OrganisationFactory, RegionFactory, member
from rempart.programme.tests.factories import establishment

from .factories import incident_world, make_alert, make_case

pytestmark = pytest.mark.django_db

COMPLETE = {
    "reporter_name": "Sam Soignant",
    "callback_phone": "06 12 34 56 78",
    "incident_type": IncidentType.RANSOMWARE,
    "description": "Message de rançon sur les postes des urgences.",
    "observed_at": "2026-01-05T03:10",
    "affects_care": "oui",
    "affects_health_data": "inconnu",
    "affects_systems": "oui",
    "actions_taken": "Postes débranchés.",
    "checklist": ["isoler_reseau", "note_rancon", "pas_un_code"],
}


@pytest.fixture
def world():
    return incident_world()


def file(world, data=None, *, actor=None, organisation=None, source=AlertSource.WEB, **kw):
    return alert_services.alert_file(
        actor=actor or world.staff,
        organisation=organisation or world.hospital,
        source=source,
        data=data if data is not None else {},
        **kw,
    )


# --- Completeness ---------------------------------------------------------------------------------


def test_a_complete_alert_is_stored_complete_and_paged(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        alert, created = file(world, COMPLETE)
    assert created
    alert.refresh_from_db()
    assert alert.missing_fields == []
    assert alert.is_complete
    assert alert.region == world.region
    assert alert.crrc == world.crrc
    assert alert.reporter == world.staff
    assert alert.observed_at == timezone.make_aware(datetime.datetime(2026, 1, 5, 3, 10))
    assert alert.affects_health_data == Impact.UNKNOWN
    # Every reflex action of the type, ticked or not; unknown codes dropped.
    assert alert.checklist["isoler_reseau"] is True
    assert alert.checklist["note_rancon"] is True
    assert alert.checklist["machines_allumees"] is False
    assert "pas_un_code" not in alert.checklist
    # The real paging engine ran: the level-1 on-call expert is paged by e-mail.
    assert alert.paging_status == PagingStatus.PAGING
    page = Page.objects.get(alert=alert, channel=PageChannel.EMAIL)
    assert page.recipient == world.oncall
    assert world.oncall.email in {m.to[0] for m in mail.outbox}


def test_an_empty_alert_is_stored_flagged_and_paged(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        alert, created = file(world, {"reporter_name": "", "callback_email": ""})
    assert created
    alert.refresh_from_db()
    # The name and e-mail come from the account; everything else essential is missing.
    assert alert.reporter_name == world.staff.get_full_name()
    assert alert.callback_email == world.staff.email
    assert alert.missing_fields == [f for f in ESSENTIAL_FIELDS if f != "reporter_name"]
    assert not alert.is_complete
    assert alert.paging_status == PagingStatus.PAGING  # incomplete, still paged
    assert Page.objects.filter(alert=alert, recipient=world.oncall).exists()


def test_garbled_values_are_kept_and_counted_missing(world):
    alert, _ = file(
        world,
        {
            **COMPLETE,
            "observed_at": "hier soir vers 22h",
            "observed_at_text": "peut-être avant",
            "incident_type": "cryptolocker",
            "affects_care": "peut-être",
            "affects_systems": True,
            "affects_health_data": False,
            "callback_phone": "pas de tel",
            "callback_email": "jean@",
            "reporter_function": "x" * 250,
        },
    )
    assert alert.observed_at is None
    assert alert.observed_at_text == "hier soir vers 22h — peut-être avant"
    assert alert.incident_type == IncidentType.OTHER
    assert alert.affects_care == ""
    assert alert.affects_systems == Impact.YES
    assert alert.affects_health_data == Impact.NO
    assert alert.callback_phone == "pas de tel"  # kept as typed
    assert alert.callback_email == ""
    assert len(alert.reporter_function) == 200
    assert alert.missing_fields == [
        "callback_phone",
        "incident_type",
        "observed_at",
        "affects_care",
    ]
    # Nothing thrown away: the raw values are appended to the description, which still counts
    # as given (the reporter wrote one).
    assert alert.description.startswith(COMPLETE["description"])
    appendix = alert.description.split(UNREADABLE_MARKER, 1)[1]
    for raw in ("cryptolocker", "peut-être", "jean@", "x" * 250):
        assert raw in appendix
    assert alert_services.own_description(alert.description) == COMPLETE["description"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-05T03:10", datetime.datetime(2026, 1, 5, 3, 10)),
        ("2026-01-05 03:10:00", datetime.datetime(2026, 1, 5, 3, 10)),
        ("05/01/2026 03h10", datetime.datetime(2026, 1, 5, 3, 10)),
        ("05/01/2026 03:10", datetime.datetime(2026, 1, 5, 3, 10)),
        ("05/01/2026", datetime.datetime(2026, 1, 5, 0, 0)),
        ("2026-01-05T02:10:00Z", datetime.datetime(2026, 1, 5, 3, 10)),  # UTC → Paris
        ("31/02/2026 10:00", None),
        ("demain", None),
        ("1999-12-31T10:00", None),
        ("", None),
    ],
)
def test_observed_at_is_read_as_people_write_it(value, expected):
    parsed = alert_services.parse_observed_at(value)
    if expected is None:
        assert parsed is None
    else:
        assert timezone.localtime(parsed).replace(tzinfo=None) == expected


def test_a_date_in_the_future_is_kept_as_text(world):
    future = (timezone.localtime() + datetime.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    alert, _ = file(world, {**COMPLETE, "observed_at": future})
    assert alert.observed_at is None
    assert alert.observed_at_text == future
    assert "observed_at" in alert.missing_fields


def test_type_labels_and_common_aliases_are_understood(world):
    alert, _ = file(world, {**COMPLETE, "incident_type": "Hameçonnage"})
    assert alert.incident_type == IncidentType.PHISHING
    alert, _ = file(world, {**COMPLETE, "incident_type": "ransomware"}, actor=world.rssi)
    assert alert.incident_type == IncidentType.RANSOMWARE
    assert "incident_type" not in alert.missing_fields


# --- Who may file, which CRRC ------------------------------------------------------------------------


def test_only_people_who_may_report_for_the_organisation_file(world):
    for outsider in (world.outsider_rssi, world.neighbour_rssi, world.ars_manager):
        with pytest.raises(DomainError) as refused:
            file(world, COMPLETE, actor=outsider)
        assert refused.value.code == "forbidden"
        assert "hotline" in refused.value.message
    assert not Alert.objects.exists()
    # The region's CRRC operator files for any establishment of the region (a hotline call).
    alert, _ = file(world, COMPLETE, actor=world.crrc_operator, source=AlertSource.PHONE)
    assert alert.reporter == world.crrc_operator
    with pytest.raises(DomainError) as refused:
        file(world, COMPLETE, source="pigeon")
    assert refused.value.code == "invalid"


def test_the_crrc_with_a_policy_is_chosen_when_a_region_has_several(world):
    second = OrganisationFactory(kind=OrgKind.CRRC, name="CRRC bis", region=world.region)
    assert alert_services.crrc_for(world.hospital) == world.crrc  # it has the policy
    EscalationPolicy.objects.filter(crrc=world.crrc).delete()
    assert alert_services.crrc_for(world.hospital) == world.crrc  # the first one
    EscalationPolicy.objects.create(crrc=second)
    assert alert_services.crrc_for(world.hospital) == second


def test_a_region_without_crrc_stores_the_alert_and_tells_the_managers(
    django_capture_on_commit_callbacks,
):
    region = RegionFactory(code="93", name="Région sans CRRC")
    site = establishment(region, "Clinique isolée")
    staff = member(Role.STAFF, site)
    rssi = member(Role.RSSI, site)
    with django_capture_on_commit_callbacks(execute=True):
        alert, created = alert_services.alert_file(
            actor=staff, organisation=site, source=AlertSource.WEB, data=COMPLETE
        )
    assert created
    alert.refresh_from_db()
    assert alert.crrc is None
    assert alert.paging_status == PagingStatus.PENDING  # nobody can be paged
    assert not alert.pages.exists()
    assert [m.to for m in mail.outbox] == [[rssi.email]]
    assert "aucun CRRC" in mail.outbox[0].subject
    assert "CERT Santé" in mail.outbox[0].body


# --- Idempotency -------------------------------------------------------------------------------------


def test_the_same_client_reference_returns_the_stored_alert(world):
    first, created = file(world, COMPLETE, client_reference="tel-42")
    again, created_again = file(world, {"description": "autre"}, client_reference="tel-42")
    assert created
    assert not created_again
    assert again.pk == first.pk
    assert Alert.objects.count() == 1
    # Per reporter: another person's same reference is another alert.
    other, created_other = file(world, COMPLETE, actor=world.rssi, client_reference="tel-42")
    assert created_other
    assert other.pk != first.pk
    with pytest.raises(DomainError) as refused:
        file(world, COMPLETE, client_reference="x" * 101)
    assert refused.value.field == "client_reference"


def test_a_race_on_the_same_reference_returns_the_winner(world, monkeypatch):
    """The unique constraint wins the race: the loser reads the winner's row."""
    winner, _ = file(world, COMPLETE, client_reference="tel-43")
    real_existing = alert_services._existing
    calls = {"n": 0}

    def blind_then_real(actor, reference):
        calls["n"] += 1
        return None if calls["n"] <= 2 else real_existing(actor, reference)

    monkeypatch.setattr(alert_services, "_existing", blind_then_real)
    again, created = file(world, COMPLETE, client_reference="tel-43")
    assert not created
    assert again.pk == winner.pk
    assert Alert.objects.filter(client_reference="tel-43").count() == 1
    # Without a reference, an integrity error is not swallowed.
    monkeypatch.setattr(
        alert_services.Alert.objects,
        "create",
        lambda **kw: (_ for _ in ()).throw(IntegrityError("boom")),
    )
    with pytest.raises(IntegrityError):
        file(world, COMPLETE)


# --- Deduplication -----------------------------------------------------------------------------------


def test_a_repeat_within_the_window_is_linked_not_paged(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first, _ = file(world, COMPLETE)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        repeat, created = file(world, {**COMPLETE, "description": "Encore"}, actor=world.rssi)
    assert created
    repeat.refresh_from_db()
    assert repeat.duplicate_of == first
    assert repeat.paging_status == PagingStatus.LINKED
    assert not repeat.pages.exists()
    # The people handling the first one (the paged expert) are told, nobody is paged again.
    assert {m.to[0] for m in mail.outbox} == {world.oncall.email}
    notice = mail.outbox[0]
    assert f"alerte n° {first.pk}" in notice.subject
    assert f"/incidents/alertes/{repeat.pk}/" in notice.body
    # A burst does not flood them: the next repeat within minutes is linked silently.
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        third, _ = file(world, COMPLETE, actor=world.director)
    assert third.duplicate_of == first
    assert mail.outbox == []


def test_what_is_not_a_repeat(world):
    first, _ = file(world, COMPLETE)
    other_type, _ = file(world, {**COMPLETE, "incident_type": IncidentType.PHISHING})
    other_site, _ = file(world, COMPLETE, actor=world.neighbour_rssi, organisation=world.neighbour)
    assert other_type.duplicate_of is None
    assert other_site.duplicate_of is None
    # Outside the CRRC's window.
    Alert.objects.filter(pk=first.pk).update(
        received_at=timezone.now() - datetime.timedelta(minutes=61)
    )
    late, _ = file(world, COMPLETE, actor=world.rssi)
    assert late.duplicate_of is None
    # A dismissed first alert does not swallow the next one; nor does a repeat.
    late.status = AlertStatus.DISMISSED
    late.save()
    after_dismissed, _ = file(world, COMPLETE, actor=world.director)
    assert after_dismissed.duplicate_of is None
    repeat, _ = file(world, COMPLETE, actor=world.ght_coordinator)
    assert repeat.duplicate_of == after_dismissed
    # The window is the CRRC's: a zero window turns deduplication off.
    EscalationPolicy.objects.filter(crrc=world.crrc).update(dedup_window_minutes=0)
    alone, _ = file(world, COMPLETE, actor=world.crrc_operator)
    assert alone.duplicate_of is None


def test_a_repeat_joins_the_first_alerts_case_with_a_timeline_line(world):
    case = make_case(world)
    first = make_alert(world, case=case, paging_status=PagingStatus.ACKNOWLEDGED)
    repeat, _ = file(world, COMPLETE)
    assert repeat.duplicate_of == first
    assert repeat.case == case
    line = CaseEvent.objects.get(case=case)
    assert f"Alerte n° {repeat.pk}" in line.text
    assert f"alerte n° {first.pk}" in line.text


# --- Completing, qualifying, dismissing ------------------------------------------------------------


def test_completing_recomputes_what_is_missing(world):
    alert, _ = file(world, {"incident_type": "cryptolocker"})
    assert "incident_type" in alert.missing_fields
    # A partial completion keeps the other fields and the flag on the type to confirm.
    alert = alert_services.alert_complete(
        actor=world.staff, alert=alert, data={"callback_phone": "0612345678"}
    )
    assert "callback_phone" not in alert.missing_fields
    assert "incident_type" in alert.missing_fields
    alert = alert_services.alert_complete(actor=world.crrc_operator, alert=alert, data=COMPLETE)
    assert alert.missing_fields == []
    alert.refresh_from_db()
    assert alert.incident_type == IncidentType.RANSOMWARE
    assert alert.checklist["isoler_reseau"] is True
    # Outsiders and colleagues without incident rights may not; nor anyone once dismissed.
    for person in (world.outsider_rssi, world.neighbour_rssi):
        with pytest.raises(DomainError) as refused:
            alert_services.alert_complete(actor=person, alert=alert, data={"description": "x"})
        assert refused.value.code == "forbidden"
    alert_services.alert_dismiss(actor=world.crrc_operator, alert=alert, reason="Exercice")
    with pytest.raises(DomainError) as refused:
        alert_services.alert_complete(actor=world.staff, alert=alert, data={"description": "x"})
    assert refused.value.code == "invalid_state"


def test_completing_an_alert_of_a_case_writes_the_timeline(world):
    case = make_case(world)
    alert = make_alert(world, case=case, missing_fields=["callback_phone"])
    alert_services.alert_complete(
        actor=world.rssi, alert=alert, data={**COMPLETE, "callback_phone": "0612345678"}
    )
    line = CaseEvent.objects.get(case=case)
    assert "le téléphone de rappel" in line.text


def test_qualifying_stops_the_paging_and_keeps_the_first_time(
    world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        alert, _ = file(world, COMPLETE)
    with pytest.raises(DomainError) as refused:
        alert_services.alert_qualify(actor=world.staff, alert=alert, note="x")
    assert refused.value.code == "forbidden"
    with pytest.raises(DomainError) as refused:
        alert_services.alert_qualify(actor=world.oncall, alert=alert, note="  ")
    assert refused.value.field == "note"
    alert = alert_services.alert_qualify(
        actor=world.oncall, alert=alert, note="Rançongiciel avéré, 12 postes."
    )
    assert alert.status == AlertStatus.QUALIFIED
    assert alert.paging_status == PagingStatus.ACKNOWLEDGED
    assert alert.acknowledged_by == world.oncall
    first_time = alert.qualified_at
    alert = alert_services.alert_qualify(actor=world.crrc_operator, alert=alert, note="Mise à jour")
    assert alert.qualified_at == first_time
    assert alert.qualified_by == world.oncall
    assert alert.qualification_note == "Mise à jour"


def test_dismissing_needs_a_reason_and_no_case(world):
    alert = make_alert(world, paging_status=PagingStatus.PAGING)
    with pytest.raises(DomainError) as refused:
        alert_services.alert_dismiss(actor=world.rssi, alert=alert, reason="")
    assert refused.value.field == "reason"
    alert = alert_services.alert_dismiss(actor=world.rssi, alert=alert, reason="Test du service")
    assert alert.status == AlertStatus.DISMISSED
    assert alert.paging_status == PagingStatus.ACKNOWLEDGED  # the chain stops ringing
    assert alert.qualification_note == "Test du service"
    with pytest.raises(DomainError) as refused:
        alert_services.alert_dismiss(actor=world.rssi, alert=alert, reason="encore")
    assert refused.value.code == "invalid_state"
    with pytest.raises(DomainError) as refused:
        alert_services.alert_qualify(actor=world.rssi, alert=alert, note="x")
    assert refused.value.code == "invalid_state"
    linked = make_alert(world, case=make_case(world))
    with pytest.raises(DomainError) as refused:
        alert_services.alert_dismiss(actor=world.rssi, alert=linked, reason="Faux positif")
    assert refused.value.code == "already_linked"
