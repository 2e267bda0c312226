"""Case handling rules: opening (numbering, from an alert, template prefill), states and
outcome, lead and sharing, timeline entries, tasks and assets — person by person."""

import datetime
import threading

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.incidents import case_services as cs
from rempart.incidents import perms
from rempart.incidents.incident_types import template_for
from rempart.incidents.models import (
    AccessLevel,
    AlertStatus,
    AssetKind,
    AssetState,
    Case,
    CaseAccess,
    CaseEvent,
    CaseOutcome,
    CaseState,
    EventKind,
    IncidentType,
    PagingStatus,
    Severity,
    TaskKind,
    TaskStatus,
    Tlp,
)

from .factories import incident_world, make_alert, make_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return incident_world()


def open_case(world, actor=None, **extra):
    values = {
        "actor": actor or world.rssi,
        "organisation": world.hospital,
        "title": "Postes chiffrés aux urgences",
        "incident_type": IncidentType.RANSOMWARE,
        "severity": Severity.HIGH,
        "tlp": Tlp.AMBER,
    }
    values.update(extra)
    return cs.case_open(**values)


def refused(code, call, *args, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as info:
        call(*args, **kwargs)
    assert info.value.code == code, info.value.message
    return info.value


def kinds(case) -> list[str]:
    return list(case.events.order_by("pk").values_list("kind", flat=True))


# --- Opening ------------------------------------------------------------------------------------


def test_reference_is_numbered_per_region_and_year(world):
    first = open_case(world)
    second = open_case(world, title="Deuxième")
    year = timezone.localtime().year
    assert (first.year, first.number) == (year, 1)
    assert second.number == 2
    assert second.reference == f"CYB-{year}-0002"
    # Another region counts on its own; an older year does not count.
    other = incident_world("11", rota=False)
    make_case(world, number=40, year=year - 1)
    assert open_case(other, actor=other.rssi, organisation=other.hospital).number == 1
    assert open_case(world, title="Troisième").number == 3


def test_number_taken_meanwhile_is_retried(world, monkeypatch):
    """Two openings racing: the loser's insert hits the unique constraint and counts again."""
    make_case(world, number=1, year=timezone.localtime().year)
    real = cs._next_number
    calls = []

    def stale(region_id, year):
        calls.append(1)
        return 1 if len(calls) == 1 else real(region_id, year)  # first answer is stale

    monkeypatch.setattr(cs, "_next_number", stale)
    case = open_case(world)
    assert case.number == 2
    assert len(calls) == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs real concurrent sessions")
@pytest.mark.django_db(transaction=True)
def test_concurrent_openings_get_distinct_numbers():
    world = incident_world()
    numbers, errors = [], []
    barrier = threading.Barrier(4)

    def worker(index):
        from django.db import connection as conn

        try:
            barrier.wait()
            numbers.append(open_case(world, title=f"Ouverture {index}").number)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(numbers) == [1, 2, 3, 4]


def test_open_from_alert_links_duplicates_qualifies_and_prefills(world):
    received = timezone.now() - datetime.timedelta(hours=3)
    alert = make_alert(world, received_at=received, checklist={"isoler": True})
    repeat = make_alert(
        world, duplicate_of=alert, received_at=received + datetime.timedelta(minutes=10)
    )
    template = template_for(IncidentType.RANSOMWARE)
    ticked = template.checklist[0].code
    alert.checklist = {ticked: True, "inconnu": True}
    alert.paging_status = PagingStatus.PAGING
    alert.save()
    alert.pages.create(
        step=0, level=1, recipient=world.oncall, channel="email", created_at=received
    )

    case = open_case(world, actor=world.oncall, organisation=None, alert=repeat)

    assert case.organisation == world.hospital
    assert case.reported_at == received
    assert case.lead == world.oncall  # an on-call expert leads what they open
    assert not CaseAccess.objects.filter(case=case).exists()
    for linked in (alert, repeat):
        linked.refresh_from_db()
        assert linked.case == case
    # Someone is on it: the on-call chain stops ringing for the first alert.
    assert alert.paging_status == PagingStatus.ACKNOWLEDGED
    assert alert.acknowledged_by == world.oncall
    assert repeat.acknowledged_at is None  # a repeat was never paged
    for linked in (alert, repeat):
        assert linked.status == AlertStatus.QUALIFIED
        assert linked.qualified_by == world.oncall
    tasks = list(case.tasks.filter(kind=TaskKind.TASK).order_by("position"))
    checks = list(case.tasks.filter(kind=TaskKind.CHECK).order_by("position"))
    assert [t.title for t in tasks] == [item.title for item in template.tasks]
    assert [c.title for c in checks] == [item.title for item in template.checklist]
    assert all(t.from_template for t in tasks + checks)
    done = [c for c in checks if c.status == TaskStatus.DONE]
    assert [c.title for c in done] == [template.checklist[0].title]
    assert done[0].done_at == received
    assert all(t.status == TaskStatus.TODO for t in tasks)
    # Timeline: the opening, then each alert dated when it was received.
    alert_lines = case.events.filter(kind=EventKind.ALERT, text__contains="reçue")
    assert [e.occurred_at for e in alert_lines.order_by("occurred_at")] == [
        alert.received_at,
        repeat.received_at,
    ]
    assert case.events.filter(kind=EventKind.ALERT, text__contains="prise en compte").exists()
    assert case.events.filter(kind=EventKind.STATE, text__startswith="Ouverture").exists()


def test_alert_already_in_a_case_cannot_open_another(world):
    alert = make_alert(world)
    open_case(world, alert=alert, organisation=None)
    error = refused(
        "already_linked", open_case, world, alert=alert, organisation=None, title="Encore"
    )
    assert "déjà rattachée" in error.message
    assert Case.objects.count() == 1


def test_a_chain_test_alert_opens_no_case(world):
    alert = make_alert(world, is_test=True)
    refused("test_alert", open_case, world, alert=alert, organisation=None)
    case = open_case(world)
    refused("test_alert", cs.case_link_alert, actor=world.rssi, case=case, alert=alert)
    assert cs.cases_linkable_for(world.rssi, alert) == []


def test_alert_opens_for_its_own_organisation_only(world):
    alert = make_alert(world)
    refused("invalid", open_case, world, alert=alert, organisation=world.neighbour)


def test_who_may_open_a_case(world):
    # Incident managers of the organisation and the region's CRRC; on-call experts of the region.
    for person in (world.rssi, world.director, world.ght_coordinator, world.crrc_operator):
        assert open_case(world, actor=person).pk
    assert open_case(world, actor=world.oncall).lead == world.oncall
    # Staff, the ARS, a neighbour, another region: refused.
    for person in (world.staff, world.ars_manager, world.neighbour_rssi, world.outsider_crrc):
        refused("forbidden", open_case, world, actor=person)
    # A provider expert opens only from an alert they were paged for.
    refused("forbidden", open_case, world, actor=world.provider_expert)
    alert = make_alert(world)
    alert.pages.create(
        step=0, level=1, recipient=world.provider_expert, channel="email", created_at=timezone.now()
    )
    case = open_case(world, actor=world.provider_expert, alert=alert, organisation=None)
    assert case.lead == world.provider_expert
    assert perms.can_manage_case(world.provider_expert, case)


def test_bad_input_is_refused_with_a_reason(world):
    assert refused("invalid", open_case, world, title="  ").field == "title"
    assert refused("invalid", open_case, world, incident_type="virus").field == "incident_type"
    assert refused("invalid", open_case, world, severity="enorme").field == "severity"
    assert refused("invalid", open_case, world, tlp="white").field == "tlp"
    assert refused("invalid", open_case, world, organisation=None).field == "organisation"
    assert not Case.objects.exists()


def test_link_alert_to_open_case(world):
    case = open_case(world, actor=world.crrc_operator)
    earlier = timezone.now() - datetime.timedelta(days=1)
    alert = make_alert(world, received_at=earlier)
    cs.case_link_alert(actor=world.crrc_operator, case=case, alert=alert)
    alert.refresh_from_db()
    case.refresh_from_db()
    assert alert.case == case
    assert alert.status == AlertStatus.QUALIFIED
    assert case.reported_at == earlier
    refused("already_linked", cs.case_link_alert, actor=world.rssi, case=case, alert=alert)
    elsewhere = make_alert(world, organisation=world.neighbour)
    refused("invalid", cs.case_link_alert, actor=world.crrc_operator, case=case, alert=elsewhere)
    # A reader of the case may not add alerts.
    cs.case_share(actor=world.rssi, case=case, organisation=world.ars, level=AccessLevel.READ)
    other = make_alert(world)
    refused("forbidden", cs.case_link_alert, actor=world.ars_manager, case=case, alert=other)


def test_cases_linkable_are_open_same_organisation_and_writable(world):
    case = open_case(world)
    closed = open_case(world, title="Clos")
    closed.outcome = CaseOutcome.FALSE_POSITIVE
    closed.save()
    cs.case_change_state(actor=world.rssi, case=closed, state=CaseState.CLOSED)
    open_case(world, organisation=world.neighbour, actor=world.crrc_operator)
    alert = make_alert(world)
    assert cs.cases_linkable_for(world.rssi, alert) == [case]
    assert cs.cases_linkable_for(world.staff, alert) == []


# --- States and outcome ---------------------------------------------------------------------------


def test_states_move_forward_freely_and_back_with_a_note(world):
    case = open_case(world)
    case = cs.case_change_state(actor=world.rssi, case=case, state=CaseState.CONTAINMENT)
    assert case.qualified_at is not None  # qualified was skipped, its clock still starts
    refused("invalid_state", cs.case_change_state, actor=world.rssi, case=case, state="confinement")
    refused("reason_required", cs.case_change_state, actor=world.rssi, case=case, state="qualifie")
    case = cs.case_change_state(
        actor=world.rssi, case=case, state=CaseState.QUALIFIED, note="Périmètre à revoir."
    )
    assert case.state == CaseState.QUALIFIED
    line = case.events.filter(kind=EventKind.STATE).order_by("-pk").first()
    assert "confinement → qualifié" in line.text
    assert "Périmètre à revoir." in line.text


def test_closing_needs_an_outcome_and_stamps_the_dates(world):
    case = open_case(world)
    refused("outcome_required", cs.case_change_state, actor=world.rssi, case=case, state="clos")
    case = cs.case_set_outcome(
        actor=world.rssi, case=case, outcome=CaseOutcome.TRUE_POSITIVE_IMPACT
    )
    case = cs.case_change_state(actor=world.rssi, case=case, state=CaseState.CLOSED)
    assert case.closed_at is not None
    assert case.resolved_at == case.closed_at  # post-incident skipped
    refused(
        "invalid_state",
        cs.case_set_outcome,
        actor=world.rssi,
        case=case,
        outcome=CaseOutcome.UNDETERMINED,
    )
    # A closed case is read-only until reopened.
    refused("case_closed", cs.case_add_event, actor=world.rssi, case=case, kind="note", text="x")
    refused(
        "reason_required", cs.case_change_state, actor=world.rssi, case=case, state="remediation"
    )
    case = cs.case_change_state(
        actor=world.rssi, case=case, state=CaseState.RECOVERY, note="Nouvelle activité suspecte."
    )
    assert case.closed_at is None
    assert case.resolved_at is None
    assert "Réouverture" in case.events.order_by("-pk").first().text


def test_resolution_is_stamped_on_post_incident_and_kept_on_closing(world):
    case = open_case(world)
    past = timezone.now() - datetime.timedelta(hours=2)
    case = cs.case_change_state(
        actor=world.rssi, case=case, state=CaseState.POST_INCIDENT, occurred_at=past
    )
    assert case.resolved_at == past
    cs.case_set_outcome(actor=world.rssi, case=case, outcome=CaseOutcome.FALSE_POSITIVE)
    case = cs.case_change_state(actor=world.rssi, case=case, state=CaseState.CLOSED)
    assert case.resolved_at == past
    future = timezone.now() + datetime.timedelta(days=1)
    case2 = open_case(world, title="Autre")
    refused(
        "in_future",
        cs.case_change_state,
        actor=world.rssi,
        case=case2,
        state="qualifie",
        occurred_at=future,
    )


def test_only_management_changes_state(world):
    case = open_case(world)
    cs.case_share(
        actor=world.rssi, case=case, person=world.provider_expert, level=AccessLevel.CONTRIBUTE
    )
    for person in (world.provider_expert, world.staff, world.outsider_crrc):
        refused("forbidden", cs.case_change_state, actor=person, case=case, state="qualifie")
    assert cs.case_change_state(actor=world.crrc_operator, case=case, state="qualifie")


def test_update_details_and_lead(world):
    case = open_case(world)
    case = cs.case_update(actor=world.rssi, case=case, tlp=Tlp.RED, severity=Severity.CRITICAL)
    assert (case.tlp, case.severity, case.title) == (
        Tlp.RED,
        Severity.CRITICAL,
        "Postes chiffrés aux urgences",
    )
    assert "TLP:AMBER → TLP:RED" in case.events.order_by("-pk").first().text
    refused("invalid", cs.case_update, actor=world.rssi, case=case, title="")
    mail.outbox.clear()
    with_commit = cs.case_set_lead
    with_commit(actor=world.rssi, case=case, lead=world.oncall)
    case.refresh_from_db()
    assert case.lead == world.oncall
    # Candidates: the region's experts and the organisation's incident managers only.
    refused("invalid", cs.case_set_lead, actor=world.rssi, case=case, lead=world.outsider_crrc)
    refused("invalid", cs.case_set_lead, actor=world.rssi, case=case, lead=world.staff)
    assert world.director in cs.lead_candidates(case)


def test_new_lead_and_assignee_are_emailed(world, django_capture_on_commit_callbacks):
    case = open_case(world)
    with django_capture_on_commit_callbacks(execute=True):
        cs.case_set_lead(actor=world.rssi, case=case, lead=world.oncall)
    assert [m.to for m in mail.outbox] == [[world.oncall.email]]
    assert case.reference in mail.outbox[0].subject
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        cs.task_add(actor=world.rssi, case=case, title="Isoler le VLAN", assignee=world.director)
    assert [m.to for m in mail.outbox] == [[world.director.email]]
    assert "Isoler le VLAN" in mail.outbox[0].body


# --- Sharing -------------------------------------------------------------------------------------------


def test_sharing_levels_give_what_they_say(world):
    case = open_case(world)
    assert not perms.can_view_case(world.provider_expert, case)
    cs.case_share(actor=world.rssi, case=case, person=world.provider_expert, level="lecture")
    assert perms.case_access_level(world.provider_expert, case) == AccessLevel.READ
    refused("forbidden", cs.task_add, actor=world.provider_expert, case=case, title="x")
    cs.case_share(actor=world.rssi, case=case, person=world.provider_expert, level="contribution")
    assert CaseAccess.objects.filter(case=case).count() == 1  # the level changed, same row
    assert cs.task_add(actor=world.provider_expert, case=case, title="Analyse des journaux")
    refused(
        "forbidden",
        cs.case_share,
        actor=world.provider_expert,
        case=case,
        organisation=world.ars,
        level="lecture",
    )
    # The ARS, invited: its manager reads.
    cs.case_share(actor=world.rssi, case=case, organisation=world.ars, level="lecture")
    assert perms.case_access_level(world.ars_manager, case) == AccessLevel.READ
    # A helping establishment at contribution level.
    cs.case_share(actor=world.rssi, case=case, organisation=world.neighbour, level="contribution")
    assert perms.can_contribute(world.neighbour_rssi, case)
    assert {e.kind for e in case.events.all()} >= {EventKind.ACCESS}


def test_share_targets_are_limited(world):
    case = open_case(world)
    refused("invalid", cs.case_share, actor=world.rssi, case=case, level="lecture")
    refused(
        "invalid", cs.case_share, actor=world.rssi, case=case, person=world.staff, level="lecture"
    )
    refused(
        "invalid",
        cs.case_share,
        actor=world.rssi,
        case=case,
        person=world.outsider_crrc,
        level="lecture",
    )
    refused(
        "invalid",
        cs.case_share,
        actor=world.rssi,
        case=case,
        organisation=world.hospital,
        level="lecture",
    )
    outsider_org = world.outsider_rssi.memberships.first().organisation
    refused(
        "invalid",
        cs.case_share,
        actor=world.rssi,
        case=case,
        organisation=outsider_org,
        level="lecture",
    )
    refused(
        "invalid", cs.case_share, actor=world.rssi, case=case, person=world.oncall, level="tout"
    )


def test_share_emails_and_unshare_unassigns(world, django_capture_on_commit_callbacks):
    case = open_case(world)
    with django_capture_on_commit_callbacks(execute=True):
        access = cs.case_share(
            actor=world.rssi, case=case, person=world.provider_expert, level="contribution"
        )
    assert [m.to for m in mail.outbox] == [[world.provider_expert.email]]
    task = cs.task_add(actor=world.rssi, case=case, title="Analyse", assignee=world.provider_expert)
    cs.case_unshare(actor=world.rssi, case=case, access=access)
    task.refresh_from_db()
    assert task.assignee is None
    assert not perms.can_view_case(world.provider_expert, case)
    assert "ne sont plus attribuées" in case.events.order_by("-pk").first().text


# --- Timeline, tasks, assets ----------------------------------------------------------------------


def test_timeline_entries_are_dated_in_the_past_never_the_future(world):
    case = open_case(world)
    past = timezone.now() - datetime.timedelta(days=2)
    event = cs.case_add_event(
        actor=world.rssi, case=case, kind="constat", text="Note de rançon", occurred_at=past
    )
    assert event.occurred_at == past
    assert event.recorded_at > past
    assert event.author == world.rssi
    refused(
        "in_future",
        cs.case_add_event,
        actor=world.rssi,
        case=case,
        kind="note",
        text="x",
        occurred_at=timezone.now() + datetime.timedelta(hours=1),
    )
    refused("invalid", cs.case_add_event, actor=world.rssi, case=case, kind="etat", text="x")
    refused("invalid", cs.case_add_event, actor=world.rssi, case=case, kind="note", text=" ")
    refused("forbidden", cs.case_add_event, actor=world.staff, case=case, kind="note", text="x")
    timeline = list(cs.case_events(case))
    assert timeline[0] == event  # ordered by when it happened


def test_tasks_status_and_assignment(world):
    case = open_case(world)
    task = cs.task_add(actor=world.rssi, case=case, title="Couper les accès VPN")
    assert task.position == len(template_for(IncidentType.RANSOMWARE).tasks) + 1
    task = cs.task_set_status(actor=world.rssi, task=task, status=TaskStatus.DONE)
    assert task.done_at is not None
    task = cs.task_set_status(actor=world.rssi, task=task, status=TaskStatus.IN_PROGRESS)
    assert task.done_at is None
    refused("invalid", cs.task_set_status, actor=world.rssi, task=task, status="fini")
    refused("invalid", cs.task_assign, actor=world.rssi, task=task, assignee=world.staff)
    refused("invalid", cs.task_assign, actor=world.rssi, task=task, assignee=world.outsider_rssi)
    task = cs.task_assign(actor=world.rssi, task=task, assignee=world.crrc_operator)
    assert task.assignee == world.crrc_operator
    task = cs.task_update(actor=world.rssi, task=task, title="Couper le VPN", details="Tous")
    task.refresh_from_db()
    assert (task.title, task.details) == ("Couper le VPN", "Tous")
    assert kinds(case).count(EventKind.TASK) == 5


def test_case_people_are_those_who_see_the_case(world):
    case = open_case(world, actor=world.oncall)
    people = set(cs.case_people(case))
    assert {
        world.oncall,
        world.rssi,
        world.director,
        world.ght_coordinator,
        world.crrc_operator,
    } <= people
    assert not {world.staff, world.ars_manager, world.outsider_crrc} & people
    for person in people:
        assert perms.can_view_case(person, case), person


def test_assets(world):
    case = open_case(world)
    asset = cs.asset_add(
        actor=world.rssi,
        case=case,
        name="SRV-DPI",
        kind=AssetKind.SERVER,
        state=AssetState.COMPROMISED,
        critical_for_care=True,
    )
    asset = cs.asset_update(actor=world.rssi, asset=asset, state=AssetState.ISOLATED)
    assert asset.state == AssetState.ISOLATED
    line = case.events.order_by("-pk").first()
    assert line.kind == EventKind.ASSET
    assert "compromis → isolé" in line.text
    refused(
        "invalid",
        cs.asset_add,
        actor=world.rssi,
        case=case,
        name="",
        kind="serveur",
        state="suspect",
    )
    refused(
        "invalid",
        cs.asset_add,
        actor=world.rssi,
        case=case,
        name="X",
        kind="grille-pain",
        state="suspect",
    )


def test_every_change_is_audited(world):
    from rempart.core.models import AuditEntry as LogEntry

    case = open_case(world)
    cs.case_change_state(actor=world.rssi, case=case, state=CaseState.QUALIFIED)
    assert LogEntry.objects.get_for_object(case).count() >= 2
    assert LogEntry.objects.get_for_objects(CaseEvent.objects.filter(case=case)).exists()
