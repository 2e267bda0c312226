"""Case handling: opening a case (from an alert or directly), its state and outcome, lead and
sharing, timeline entries, tasks and checklist, affected assets.

Rules kept here (the pages and the API only call these functions):

* Opening needs `perms.can_open_case_for`, narrowed to the organisations the actor serves: the
  organisation's incident managers (VIEW_INCIDENTS on it), or a HANDLE_INCIDENTS holder whose
  scope covers it (a CRRC on-call expert of its region) or who may handle the alert the case
  is opened from (the expert paged for it). From an alert, the alert and its duplicates are
  linked to the case and qualified. The reference CYB-YYYY-NNNN is numbered per region and
  year (Paris time), max + 1, retried when two openings race for the same number.
* The opener becomes the lead when they hold HANDLE_INCIDENTS (an on-call expert): the lead
  holds the « pilotage » level by being lead, no access row is written for them.
* States go new → qualified → containment → eradication → recovery → post-incident → closed.
  Moving forward (skipping steps too) is free; moving back needs a note. Closing needs an
  outcome other than « non déterminée » and stamps `closed_at`. Entering post-incident (or
  closed, when post-incident is skipped) stamps `resolved_at`; entering qualified or beyond
  stamps `qualified_at`. Reopening a closed case is a move back: it needs a note, clears
  `closed_at`, and clears `resolved_at` when the case goes back before post-incident (so the
  time to resolve is measured to the final resolution).
* A closed case is read-only: entries, tasks and assets are refused until it is reopened.
* Sharing (« pilotage » level needed) is with a person holding HANDLE_INCIDENTS in the case's
  region (an on-call or provider expert: an assignment) or with an organisation of the case's
  region (the ARS, a helping establishment, the CRRC), at a chosen level; sharing again
  changes the level.
* Every change is one transaction, with its line in the timeline (`timeline.add_event`) and
  its audit entry (models registered with auditlog). E-mails (access given, new lead, task
  assigned) leave once the transaction commits.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Max, Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.inputs import optional_text as _optional_text
from rempart.core.inputs import required_text as _text
from rempart.core.roles import ROLES, Capability
from rempart.organisations import perms as org_perms
from rempart.organisations.models import Membership, Organisation, User

from . import perms, timeline
from .models import (
    AccessLevel,
    AffectedAsset,
    Alert,
    AlertStatus,
    AssetKind,
    AssetState,
    Case,
    CaseAccess,
    CaseEvent,
    CaseOutcome,
    CaseState,
    CaseTask,
    EventKind,
    IncidentType,
    PagingStatus,
    Severity,
    TaskKind,
    TaskStatus,
    Tlp,
)

logger = logging.getLogger(__name__)
C = Capability

STATE_ORDER: list[str] = [
    CaseState.NEW,
    CaseState.QUALIFIED,
    CaseState.CONTAINMENT,
    CaseState.ERADICATION,
    CaseState.RECOVERY,
    CaseState.POST_INCIDENT,
    CaseState.CLOSED,
]
STATE_RANK = {state: index for index, state in enumerate(STATE_ORDER)}
ENTRY_KINDS = (EventKind.NOTE, EventKind.OBSERVATION, EventKind.ACTION)
TITLE_MAX = 255
TEXT_MAX = 20000
NOTE_MAX = 5000
NUMBER_ATTEMPTS = 8
# A clock a little ahead on the user's device must not refuse « now ».
FUTURE_TOLERANCE = datetime.timedelta(minutes=5)
EARLIEST = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)


# --- Small checks ---------------------------------------------------------------------------------


def _choice(value: Any, choices, field: str, message: str) -> str:
    if value not in choices.values:
        raise DomainError(message, code="invalid", field=field)
    return value


def _past_datetime(value: Any, field: str, label: str) -> datetime.datetime | None:
    """A date entered by a person: may be in the past, never in the future."""
    if value is None or value == "":
        return None
    if not isinstance(value, datetime.datetime):
        raise DomainError(f"{label} : date et heure invalides.", code="invalid", field=field)
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    if value > timezone.now() + FUTURE_TOLERANCE:
        raise DomainError(f"{label} ne peut pas être dans le futur.", code="in_future", field=field)
    if value < EARLIEST:
        raise DomainError(f"{label} : date trop ancienne.", code="invalid", field=field)
    return value


def _person(user: User | None) -> str:
    if user is None:
        return "personne"
    return user.get_full_name() or user.email


def _require_level(actor: User, case: Case, level: AccessLevel, what: str) -> None:
    if not perms.has_level(actor, case, level):
        if level == AccessLevel.MANAGE:
            message = (
                f"Vous ne pouvez pas {what} : c'est le rôle du pilotage du dossier "
                "(structure touchée, CRRC, pilote)."
            )
        else:
            message = f"Vous ne pouvez pas {what} : votre accès à ce dossier est en lecture seule."
        raise DomainError(message, code="forbidden")


def _require_open(case: Case) -> None:
    if case.state == CaseState.CLOSED:
        raise DomainError(
            "Le dossier est clos : rouvrez-le (changement d'état, avec une note) pour le "
            "compléter.",
            code="case_closed",
        )


def _locked(case: Case) -> Case:
    """The case row, locked for the transaction, keeping what the page computed on it."""
    fresh = (
        Case.objects.select_for_update(of=("self",)).select_related("organisation").get(pk=case.pk)
    )
    if hasattr(case, "access_level"):
        fresh.access_level = case.access_level
    return fresh


def _roles_with(*capabilities: Capability) -> list[str]:
    return [
        code.value
        for code, spec in ROLES.items()
        if any(capability in spec.capabilities for capability in capabilities)
    ]


# --- E-mails --------------------------------------------------------------------------------------


def _case_link(case: Case) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("incidents:case_detail", args=[case.pk])


def _send(template: str, subject: str, emails: Iterable[str], context: dict) -> None:
    """Send after commit; a mail server down must not undo or break the action done."""
    recipients = sorted({email for email in emails if email})
    if not recipients:
        return
    body = render_to_string(template, context)
    for email in recipients:
        try:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [email])
        except Exception:
            logger.exception("Case e-mail to %s failed", email)


def _mail_on_commit(template: str, subject: str, emails: Iterable[str], context: dict) -> None:
    emails = list(emails)
    transaction.on_commit(lambda: _send(template, subject, emails, context))


def _organisation_contacts(organisation: Organisation) -> set[str]:
    """Who acts for an organisation a case is shared with (its incident, figures or handling
    roles, as `perms.shared_with_org_ids` counts them)."""
    roles = _roles_with(C.VIEW_INCIDENTS, C.VIEW_INCIDENT_STATS, C.HANDLE_INCIDENTS)
    return set(
        Membership.objects.active()
        .filter(organisation=organisation, role__in=roles, user__is_active=True)
        .values_list("user__email", flat=True)
    )


# --- Reads ----------------------------------------------------------------------------------------


def case_alerts(case: Case) -> QuerySet[Alert]:
    return case.alerts.select_related("organisation", "reporter").order_by("received_at", "pk")


def case_events(case: Case) -> QuerySet[CaseEvent]:
    return case.events.select_related("author").order_by("occurred_at", "pk")


def case_tasks(case: Case) -> QuerySet[CaseTask]:
    return case.tasks.select_related("assignee").order_by("kind", "position", "pk")


def case_assets(case: Case) -> QuerySet[AffectedAsset]:
    return case.assets.order_by("name", "pk")


def case_accesses(case: Case) -> QuerySet[CaseAccess]:
    return case.accesses.select_related("person", "organisation", "granted_by").order_by(
        "granted_at", "pk"
    )


def get_case_task(case: Case, pk) -> CaseTask:
    """A task of this case (the case's scope was checked by the selector)."""
    task = case.tasks.select_related("assignee").filter(pk=_int(pk)).first()
    if task is None:
        raise DomainError("Cette tâche n'existe pas dans ce dossier.", code="not_found")
    task.case = case
    return task


def get_case_asset(case: Case, pk) -> AffectedAsset:
    asset = case.assets.filter(pk=_int(pk)).first()
    if asset is None:
        raise DomainError("Cet actif n'existe pas dans ce dossier.", code="not_found")
    asset.case = case
    return asset


def get_case_access(case: Case, pk) -> CaseAccess:
    access = case.accesses.select_related("person", "organisation").filter(pk=_int(pk)).first()
    if access is None:
        raise DomainError("Ce partage n'existe pas (ou plus) sur ce dossier.", code="not_found")
    access.case = case
    return access


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def cases_linkable_for(user: User, alert: Alert) -> list[Case]:
    """Open cases of the alert's organisation the user may add an alert to (contribution)."""
    if alert.case_id is not None or alert.is_test or not may_handle(user, alert):
        return []
    from .selectors import cases_visible_to

    candidates = (
        cases_visible_to(user)
        .filter(organisation_id=alert.organisation_id)
        .exclude(state=CaseState.CLOSED)
        .order_by("-opened_at", "-pk")[:50]
    )
    return [case for case in candidates if perms.can_contribute(user, case)]


def expert_candidates(case: Case) -> QuerySet[User]:
    """People a case may be assigned to: HANDLE_INCIDENTS holders of the case's region (CRRC
    operators and on-call experts, provider experts)."""
    memberships = Membership.objects.active().filter(
        role__in=_roles_with(C.HANDLE_INCIDENTS),
        organisation__region_id=case.region_id,
        user__is_active=True,
    )
    return User.objects.filter(pk__in=memberships.values("user_id")).order_by(
        "last_name", "first_name", "email"
    )


def _manager_memberships(case: Case) -> list[Membership]:
    """Active memberships granting VIEW_INCIDENTS on the case's organisation."""
    organisation = case.organisation
    near = Q(organisation_id=organisation.pk)
    if organisation.ght_id:
        near |= Q(organisation_id=organisation.ght_id)
    if organisation.legal_entity_id:
        near |= Q(organisation_id=organisation.legal_entity_id)
    near |= Q(organisation__region_id=organisation.region_id)
    rows = (
        Membership.objects.active()
        .filter(near, role__in=_roles_with(C.VIEW_INCIDENTS), user__is_active=True)
        .select_related("organisation", "user")
    )
    return [m for m in rows if org_perms.covers(m, organisation, C.VIEW_INCIDENTS)]


def lead_candidates(case: Case) -> list[User]:
    """The case's possible leads: the region's HANDLE_INCIDENTS holders and the people who
    manage the organisation's incidents."""
    people = {user.pk: user for user in expert_candidates(case)}
    for membership in _manager_memberships(case):
        people.setdefault(membership.user_id, membership.user)
    return sorted(people.values(), key=lambda u: (u.last_name, u.first_name, u.email))


def case_people(case: Case) -> list[User]:
    """Everyone who can see the case (task assignees are chosen among them)."""
    people: dict[int, User] = {}
    if case.lead_id and case.lead is not None:
        people[case.lead_id] = case.lead
    for membership in _manager_memberships(case):
        people.setdefault(membership.user_id, membership.user)
    shared_orgs = []
    for access in case.accesses.select_related("person"):
        if access.person_id:
            if access.person.is_active:
                people.setdefault(access.person_id, access.person)
        else:
            shared_orgs.append(access.organisation_id)
    if shared_orgs:
        roles = _roles_with(C.VIEW_INCIDENTS, C.VIEW_INCIDENT_STATS, C.HANDLE_INCIDENTS)
        rows = (
            Membership.objects.active()
            .filter(organisation_id__in=shared_orgs, role__in=roles, user__is_active=True)
            .select_related("user")
        )
        for membership in rows:
            people.setdefault(membership.user_id, membership.user)
    return sorted(people.values(), key=lambda u: (u.last_name, u.first_name, u.email))


def share_organisations(case: Case) -> QuerySet[Organisation]:
    """Organisations of the case's region it may be shared with (not the victim itself)."""
    return (
        Organisation.objects.filter(region_id=case.region_id)
        .exclude(pk=case.organisation_id)
        .order_by("kind", "name")
    )


def openable_organisations(user: User) -> QuerySet[Organisation]:
    """Organisations the user may open a case for, without an alert."""
    clauses = Q(pk__in=[])
    for capability in (C.VIEW_INCIDENTS, C.HANDLE_INCIDENTS):
        scope = org_perms.capability_q(user, capability)
        if scope is not None:
            clauses |= scope
    return Organisation.objects.filter(clauses).filter(region__isnull=False).order_by("name")


def may_handle(user: User, alert: Alert) -> bool:
    """Handling a repeat is handling the alert it repeats (the one that was paged)."""
    if perms.can_handle_alert(user, alert):
        return True
    return alert.duplicate_of is not None and perms.can_handle_alert(user, alert.duplicate_of)


def may_open_for(user: User, organisation: Organisation, alert: Alert | None = None) -> bool:
    """From an alert: whoever may handle it. Directly: the organisation's incident managers
    and the HANDLE_INCIDENTS holders whose scope covers it (`perms.can_open_case_for` alone
    would let an expert open a case for any organisation of any region)."""
    if not perms.can_open_case_for(user, organisation):
        return False
    if alert is not None:
        return may_handle(user, alert)
    return org_perms.can(user, C.VIEW_INCIDENTS, organisation) or org_perms.can(
        user, C.HANDLE_INCIDENTS, organisation
    )


def allowed_states(case: Case) -> list[tuple[str, str]]:
    return [(value, label) for value, label in CaseState.choices if value != case.state]


# --- Opening ----------------------------------------------------------------------------------------


def _refuse_test_alert(alert: Alert) -> None:
    if alert.is_test:
        raise DomainError(
            "C'est une alerte de test de la chaîne d'astreinte : elle n'ouvre pas de dossier.",
            code="test_alert",
        )


def _next_number(region_id: int, year: int) -> int:
    top = Case.objects.filter(region_id=region_id, year=year).aggregate(top=Max("number"))["top"]
    return (top or 0) + 1


def _linked_group(alert: Alert) -> list[Alert]:
    """The alert, the alert it repeats and every repeat of it, locked."""
    root_id = alert.duplicate_of_id or alert.pk
    return list(
        Alert.objects.select_for_update()
        .filter(Q(pk=root_id) | Q(duplicate_of_id=root_id) | Q(pk=alert.pk))
        .order_by("received_at", "pk")
    )


def _attach_alerts(actor: User, case: Case, group: list[Alert], now) -> None:
    for linked in group:
        linked.case = case
        fields = ["case"]
        if linked.status != AlertStatus.QUALIFIED:
            linked.status = AlertStatus.QUALIFIED
            linked.qualified_at = linked.qualified_at or now
            linked.qualified_by = linked.qualified_by or actor
            fields += ["status", "qualified_at", "qualified_by"]
        linked.save(update_fields=fields)
        if (
            linked.duplicate_of_id is None
            and linked.acknowledged_at is None
            and linked.paging_status in (PagingStatus.PENDING, PagingStatus.PAGING)
        ):
            # Someone is on it: the on-call chain stops ringing (the line is in the timeline).
            from . import paging

            paging.acknowledge(actor=actor, alert=linked)
        what = linked.description.strip() or "description non renseignée"
        if len(what) > 300:
            what = what[:297] + "…"
        repeat = " (doublon)" if linked.duplicate_of_id else ""
        timeline.add_event(
            case,
            EventKind.ALERT,
            actor,
            f"Alerte n° {linked.pk}{repeat} reçue ({linked.get_source_display().lower()}) : {what}",
            occurred_at=linked.received_at,
        )


def _prefill(case: Case, incident_type: str, checked: set[str], now, checked_at) -> None:
    from .incident_types import template_for

    template = template_for(incident_type)
    rows = []
    for kind, items in ((TaskKind.TASK, template.tasks), (TaskKind.CHECK, template.checklist)):
        for position, item in enumerate(items, start=1):
            done = kind == TaskKind.CHECK and item.code in checked
            rows.append(
                CaseTask(
                    case=case,
                    kind=kind,
                    title=item.title[:TITLE_MAX],
                    details=item.details or "",
                    status=TaskStatus.DONE if done else TaskStatus.TODO,
                    done_at=checked_at if done else None,
                    from_template=True,
                    position=position,
                    created_at=now,
                )
            )
    for row in rows:  # one by one: the audit log records each task
        row.save()


def case_open(
    *,
    actor: User,
    organisation: Organisation | None,
    title: str,
    incident_type: str,
    summary: str = "",
    severity: str = Severity.MEDIUM,
    tlp: str = Tlp.AMBER,
    alert: Alert | None = None,
) -> Case:
    """Open a case, from an alert (its duplicates come along) or directly for an organisation."""
    if alert is not None:
        if organisation is not None and organisation.pk != alert.organisation_id:
            raise DomainError(
                "Le dossier s'ouvre pour la structure de l'alerte.",
                code="invalid",
                field="organisation",
            )
        organisation = alert.organisation
    if alert is not None:
        _refuse_test_alert(alert)
    if organisation is None:
        raise DomainError(
            "Indiquez la structure victime de l'incident.", code="invalid", field="organisation"
        )
    if not may_open_for(actor, organisation, alert):
        raise DomainError(
            "Vous ne pouvez pas ouvrir de dossier d'incident pour cette structure : c'est le "
            "rôle de ses responsables, du CRRC et de l'expert d'astreinte alerté.",
            code="forbidden",
        )
    if organisation.region_id is None:
        raise DomainError(
            "Cette structure n'est rattachée à aucune région : aucun CRRC ne peut suivre son "
            "dossier.",
            code="invalid",
            field="organisation",
        )
    title = _text(title, "title", "Donnez un intitulé au dossier.", "L'intitulé", TITLE_MAX)
    incident_type = _choice(
        incident_type or "", IncidentType, "incident_type", "Choisissez le type d'incident."
    )
    summary = _optional_text(summary, "summary", "La synthèse", TEXT_MAX)
    severity = _choice(severity, Severity, "severity", "Choisissez une gravité de la liste.")
    tlp = _choice(tlp, Tlp, "tlp", "Choisissez un marquage TLP de la liste.")
    lead = actor if org_perms.has_capability(actor, C.HANDLE_INCIDENTS) else None

    with transaction.atomic():
        now = timezone.now()
        group: list[Alert] = []
        if alert is not None:
            group = _linked_group(alert)
            taken = next((a for a in group if a.case_id is not None), None)
            if taken is not None:
                raise DomainError(
                    f"L'alerte n° {taken.pk} est déjà rattachée à un dossier : complétez-le "
                    "plutôt que d'en ouvrir un autre.",
                    code="already_linked",
                )
        reported_at = min((a.received_at for a in group), default=now)
        year = timezone.localtime(now).year
        case = None
        for _attempt in range(NUMBER_ATTEMPTS):
            try:
                with transaction.atomic():
                    case = Case.objects.create(
                        region_id=organisation.region_id,
                        organisation=organisation,
                        year=year,
                        number=_next_number(organisation.region_id, year),
                        title=title,
                        incident_type=incident_type,
                        summary=summary,
                        severity=severity,
                        tlp=tlp,
                        lead=lead,
                        opened_by=actor,
                        reported_at=reported_at,
                        opened_at=now,
                    )
                break
            except IntegrityError:
                continue  # another opening took this number: count again
        if case is None:
            raise DomainError(
                "Le numéro du dossier n'a pas pu être attribué (ouvertures simultanées) : "
                "réessayez.",
                code="conflict",
            )
        timeline.add_event(
            case,
            EventKind.STATE,
            actor,
            f"Ouverture du dossier {case.reference} par {_person(actor)}"
            + (f" (pilote : {_person(lead)})" if lead else "")
            + ".",
            occurred_at=now,
        )
        _attach_alerts(actor, case, group, now)
        checked = {
            code for linked in group for code, ticked in (linked.checklist or {}).items() if ticked
        }
        _prefill(case, incident_type, checked, now, reported_at)
    return case


def case_link_alert(*, actor: User, case: Case, alert: Alert) -> Case:
    """Add an alert (and its repeats) to an open case of the same organisation."""
    _require_level(actor, case, AccessLevel.CONTRIBUTE, "rattacher une alerte à ce dossier")
    if not may_handle(actor, alert):
        raise DomainError(
            "Seuls le CRRC, l'expert d'astreinte alerté et les responsables de la structure "
            "rattachent cette alerte.",
            code="forbidden",
        )
    _refuse_test_alert(alert)
    if alert.organisation_id != case.organisation_id:
        raise DomainError(
            "L'alerte concerne une autre structure que ce dossier.", code="invalid", field="case"
        )
    with transaction.atomic():
        case = _locked(case)
        _require_open(case)
        group = _linked_group(alert)
        taken = next((a for a in group if a.case_id is not None), None)
        if taken is not None:
            where = "à ce dossier" if taken.case_id == case.pk else "à un autre dossier"
            raise DomainError(
                f"L'alerte n° {taken.pk} est déjà rattachée {where}.", code="already_linked"
            )
        now = timezone.now()
        _attach_alerts(actor, case, group, now)
        earliest = min(a.received_at for a in group)
        if earliest < case.reported_at:
            case.reported_at = earliest
            case.save(update_fields=["reported_at", "updated_at"])
    return case


# --- State, outcome, details, lead --------------------------------------------------------------------


def case_change_state(
    *,
    actor: User,
    case: Case,
    state: str,
    note: str = "",
    occurred_at: datetime.datetime | None = None,
) -> Case:
    """Move the case along its states (rules in the module's docstring)."""
    _require_level(actor, case, AccessLevel.MANAGE, "changer l'état du dossier")
    state = _choice(state, CaseState, "state", "Choisissez un état de la liste.")
    note = _optional_text(note, "note", "La note", NOTE_MAX)
    occurred_at = _past_datetime(occurred_at, "occurred_at", "La date du changement")
    with transaction.atomic():
        case = _locked(case)
        previous = case.state
        if state == previous:
            raise DomainError(
                f"Le dossier est déjà à l'état « {case.get_state_display().lower()} ».",
                code="invalid_state",
                field="state",
            )
        backwards = STATE_RANK[state] < STATE_RANK[previous]
        if backwards and not note:
            what = (
                "Rouvrir un dossier clos" if previous == CaseState.CLOSED else "Revenir en arrière"
            )
            raise DomainError(
                f"{what} demande une note qui explique pourquoi.",
                code="reason_required",
                field="note",
            )
        if state == CaseState.CLOSED and case.outcome == CaseOutcome.UNDETERMINED:
            raise DomainError(
                "Qualifiez l'issue du dossier (faux positif, incident avéré avec ou sans impact) "
                "avant de le clore.",
                code="outcome_required",
                field="state",
            )
        now = timezone.now()
        when = occurred_at or now
        case.state = state
        rank = STATE_RANK[state]
        if rank >= STATE_RANK[CaseState.QUALIFIED] and case.qualified_at is None:
            case.qualified_at = when
        if rank >= STATE_RANK[CaseState.POST_INCIDENT]:
            if case.resolved_at is None:
                case.resolved_at = when
        else:
            case.resolved_at = None
        case.closed_at = when if state == CaseState.CLOSED else None
        case.save(
            update_fields=[
                "state",
                "qualified_at",
                "resolved_at",
                "closed_at",
                "updated_at",
            ]
        )
        labels = dict(CaseState.choices)
        verb = "Réouverture" if previous == CaseState.CLOSED else "Changement d'état"
        text = f"{verb} : {str(labels[previous]).lower()} → {str(labels[state]).lower()}."
        if note:
            text += f" {note}"
        timeline.add_event(case, EventKind.STATE, actor, text, occurred_at=when)
    return case


def case_set_outcome(*, actor: User, case: Case, outcome: str, note: str = "") -> Case:
    """The outcome (false positive, true positive with or without impact), apart from the state."""
    _require_level(actor, case, AccessLevel.MANAGE, "qualifier l'issue du dossier")
    outcome = _choice(outcome, CaseOutcome, "outcome", "Choisissez une issue de la liste.")
    note = _optional_text(note, "note", "La note", NOTE_MAX)
    with transaction.atomic():
        case = _locked(case)
        if outcome == case.outcome:
            raise DomainError(
                f"L'issue du dossier est déjà « {case.get_outcome_display().lower()} ».",
                code="invalid",
                field="outcome",
            )
        if case.state == CaseState.CLOSED and outcome == CaseOutcome.UNDETERMINED:
            raise DomainError(
                "Un dossier clos a une issue déterminée : rouvrez-le d'abord.",
                code="invalid_state",
                field="outcome",
            )
        previous = case.get_outcome_display().lower()
        case.outcome = outcome
        case.save(update_fields=["outcome", "updated_at"])
        text = f"Issue du dossier : {previous} → {case.get_outcome_display().lower()}."
        if note:
            text += f" {note}"
        timeline.add_event(case, EventKind.STATE, actor, text)
    return case


_UNCHANGED = object()


def case_update(
    *,
    actor: User,
    case: Case,
    title: Any = _UNCHANGED,
    summary: Any = _UNCHANGED,
    severity: Any = _UNCHANGED,
    tlp: Any = _UNCHANGED,
) -> Case:
    """Title, summary, severity, TLP marking (an argument left out is unchanged)."""
    _require_level(actor, case, AccessLevel.MANAGE, "modifier le dossier")
    changes: dict[str, Any] = {}
    if title is not _UNCHANGED:
        changes["title"] = _text(
            title, "title", "Donnez un intitulé au dossier.", "L'intitulé", TITLE_MAX
        )
    if summary is not _UNCHANGED:
        changes["summary"] = _optional_text(summary, "summary", "La synthèse", TEXT_MAX)
    if severity is not _UNCHANGED:
        changes["severity"] = _choice(
            severity, Severity, "severity", "Choisissez une gravité de la liste."
        )
    if tlp is not _UNCHANGED:
        changes["tlp"] = _choice(tlp, Tlp, "tlp", "Choisissez un marquage TLP de la liste.")
    with transaction.atomic():
        case = _locked(case)
        _require_open(case)
        done = []
        for field, value in changes.items():
            if getattr(case, field) == value:
                continue
            if field == "severity":
                old = case.get_severity_display().lower()
                setattr(case, field, value)
                done.append(f"gravité {old} → {case.get_severity_display().lower()}")
            elif field == "tlp":
                old = case.get_tlp_display()
                setattr(case, field, value)
                done.append(f"marquage {old} → {case.get_tlp_display()}")
            else:
                setattr(case, field, value)
                done.append("intitulé modifié" if field == "title" else "synthèse modifiée")
        if done:
            case.save(update_fields=[*changes, "updated_at"])
            timeline.add_event(
                case, EventKind.NOTE, actor, "Dossier mis à jour : " + ", ".join(done) + "."
            )
    return case


def case_set_lead(*, actor: User, case: Case, lead: User | None) -> Case:
    """Name the lead (holds « pilotage » by being lead); None leaves the case without one."""
    _require_level(actor, case, AccessLevel.MANAGE, "désigner le pilote du dossier")
    if lead is not None and lead.pk not in {u.pk for u in lead_candidates(case)}:
        raise DomainError(
            "Le pilote se choisit parmi les experts du CRRC de la région (astreinte, "
            "prestataires) et les responsables des incidents de la structure.",
            code="invalid",
            field="lead",
        )
    with transaction.atomic():
        case = _locked(case)
        if (lead.pk if lead else None) == case.lead_id:
            raise DomainError(
                "Cette personne pilote déjà le dossier."
                if lead
                else "Le dossier n'a pas de pilote.",
                code="invalid",
                field="lead",
            )
        case.lead = lead
        case.save(update_fields=["lead", "updated_at"])
        timeline.add_event(
            case,
            EventKind.ACCESS,
            actor,
            f"Pilote du dossier : {_person(lead)}." if lead else "Le dossier n'a plus de pilote.",
        )
        if lead is not None and lead.pk != actor.pk:
            _mail_on_commit(
                "incidents/email/case_lead.txt",
                f"[Rempart] Vous pilotez le dossier {case.reference}",
                [lead.email],
                {"case": case, "actor": actor, "link": _case_link(case)},
            )
    return case


# --- Sharing ----------------------------------------------------------------------------------------


def case_share(
    *,
    actor: User,
    case: Case,
    person: User | None = None,
    organisation: Organisation | None = None,
    level: str,
) -> CaseAccess:
    """Give (or change) access to a person or an organisation at a chosen level."""
    _require_level(actor, case, AccessLevel.MANAGE, "partager le dossier")
    if (person is None) == (organisation is None):
        raise DomainError(
            "Partagez le dossier avec une personne ou avec une structure (l'une ou l'autre).",
            code="invalid",
            field="person",
        )
    level = _choice(level, AccessLevel, "level", "Choisissez un niveau d'accès de la liste.")
    if person is not None and not expert_candidates(case).filter(pk=person.pk).exists():
        raise DomainError(
            "Un dossier se confie à un expert du CRRC de la région (astreinte, prestataire) : "
            "pour une autre personne, partagez-le avec sa structure.",
            code="invalid",
            field="person",
        )
    if organisation is not None:
        if organisation.pk == case.organisation_id:
            raise DomainError(
                "La structure victime a déjà accès à son dossier.",
                code="invalid",
                field="organisation",
            )
        if organisation.region_id != case.region_id:
            raise DomainError(
                "Un dossier se partage avec les structures de sa région.",
                code="invalid",
                field="organisation",
            )
    with transaction.atomic():
        case = _locked(case)
        grantee = Q(person=person) if person is not None else Q(organisation=organisation)
        access = CaseAccess.objects.select_for_update().filter(grantee, case=case).first()
        now = timezone.now()
        name = _person(person) if person is not None else organisation.name
        if access is not None:
            if access.level == level:
                raise DomainError(
                    f"{name} a déjà cet accès au dossier.", code="invalid", field="level"
                )
            old = access.get_level_display().split(" (")[0].lower()
            access.level = level
            access.granted_by = actor
            access.granted_at = now
            access.save(update_fields=["level", "granted_by", "granted_at"])
            text = f"Accès de {name} : {old} → {access.get_level_display().split(' (')[0].lower()}."
        else:
            access = CaseAccess.objects.create(
                case=case,
                person=person,
                organisation=organisation,
                level=level,
                granted_by=actor,
                granted_at=now,
            )
            text = (
                f"Dossier partagé avec {name} "
                f"({access.get_level_display().split(' (')[0].lower()})."
            )
        timeline.add_event(case, EventKind.ACCESS, actor, text)
        emails = [person.email] if person is not None else _organisation_contacts(organisation)
        emails = [e for e in emails if e and e != actor.email]
        _mail_on_commit(
            "incidents/email/case_access.txt",
            f"[Rempart] Accès au dossier d'incident {case.reference}",
            emails,
            {"case": case, "actor": actor, "access": access, "link": _case_link(case)},
        )
    return access


def case_unshare(*, actor: User, case: Case, access: CaseAccess) -> None:
    """Withdraw an access; the tasks of a person who no longer sees the case are unassigned."""
    _require_level(actor, case, AccessLevel.MANAGE, "retirer un partage du dossier")
    if access.case_id != case.pk:
        raise DomainError("Ce partage ne concerne pas ce dossier.", code="not_found")
    with transaction.atomic():
        case = _locked(case)
        name = _person(access.person) if access.person_id else access.organisation.name
        person = access.person
        CaseAccess.objects.filter(pk=access.pk).delete()
        text = f"Accès de {name} retiré."
        if person is not None and not perms.can_view_case(person, case):
            open_tasks = list(
                case.tasks.filter(assignee=person).exclude(
                    status__in=[TaskStatus.DONE, TaskStatus.NOT_APPLICABLE]
                )
            )
            for task in open_tasks:
                task.assignee = None
                task.save(update_fields=["assignee"])
            if open_tasks:
                text += f" Ses tâches en cours ({len(open_tasks)}) ne sont plus attribuées."
        timeline.add_event(case, EventKind.ACCESS, actor, text)


# --- Timeline entries ----------------------------------------------------------------------------


def case_add_event(
    *,
    actor: User,
    case: Case,
    kind: str,
    text: str,
    occurred_at: datetime.datetime | None = None,
) -> CaseEvent:
    """A note, an observation or an action, dated when it happened (never in the future)."""
    _require_level(actor, case, AccessLevel.CONTRIBUTE, "compléter la chronologie")
    if kind not in ENTRY_KINDS:
        raise DomainError(
            "Choisissez le type d'entrée : note, constat ou action menée.",
            code="invalid",
            field="kind",
        )
    text = _text(text, "text", "Décrivez ce qui s'est passé.", "Le texte", TEXT_MAX)
    occurred_at = _past_datetime(occurred_at, "occurred_at", "La date de l'événement")
    with transaction.atomic():
        case = _locked(case)
        _require_open(case)
        return timeline.add_event(case, EventKind(kind), actor, text, occurred_at=occurred_at)


# --- Tasks and checklist ------------------------------------------------------------------------


def _check_assignee(case: Case, assignee: User | None) -> None:
    if assignee is not None and (not assignee.is_active or not perms.can_view_case(assignee, case)):
        raise DomainError(
            "Une tâche s'attribue à une personne qui a accès au dossier : partagez-le d'abord "
            "avec elle.",
            code="invalid",
            field="assignee",
        )


def _mail_assignee(actor: User, task: CaseTask, case: Case) -> None:
    if task.assignee is None or task.assignee_id == actor.pk:
        return
    _mail_on_commit(
        "incidents/email/case_task.txt",
        f"[Rempart] Tâche à faire sur le dossier {case.reference}",
        [task.assignee.email],
        {"case": case, "task": task, "actor": actor, "link": _case_link(case)},
    )


def task_add(
    *,
    actor: User,
    case: Case,
    title: str,
    details: str = "",
    assignee: User | None = None,
    due_at: datetime.datetime | None = None,
    kind: str = TaskKind.TASK,
) -> CaseTask:
    _require_level(actor, case, AccessLevel.CONTRIBUTE, "ajouter une tâche")
    kind = _choice(kind, TaskKind, "kind", "Choisissez tâche ou point de contrôle.")
    title = _text(title, "title", "Donnez un intitulé à la tâche.", "L'intitulé", TITLE_MAX)
    details = _optional_text(details, "details", "Les précisions", TEXT_MAX)
    if due_at is not None and not isinstance(due_at, datetime.datetime):
        raise DomainError("Échéance : date et heure invalides.", code="invalid", field="due_at")
    _check_assignee(case, assignee)
    with transaction.atomic():
        case = _locked(case)
        _require_open(case)
        top = case.tasks.filter(kind=kind).aggregate(top=Max("position"))["top"] or 0
        task = CaseTask.objects.create(
            case=case,
            kind=kind,
            title=title,
            details=details,
            assignee=assignee,
            due_at=due_at,
            position=top + 1,
            created_at=timezone.now(),
        )
        label = "Tâche" if kind == TaskKind.TASK else "Point de contrôle"
        text = f"{label} ajouté{'e' if kind == TaskKind.TASK else ''} : {title}"
        if assignee is not None:
            text += f" (attribuée à {_person(assignee)})"
        timeline.add_event(case, EventKind.TASK, actor, text + ".")
        _mail_assignee(actor, task, case)
    return task


def task_update(
    *,
    actor: User,
    task: CaseTask,
    title: Any = _UNCHANGED,
    details: Any = _UNCHANGED,
    due_at: Any = _UNCHANGED,
) -> CaseTask:
    case = task.case
    _require_level(actor, case, AccessLevel.CONTRIBUTE, "modifier une tâche")
    fields = []
    if title is not _UNCHANGED:
        task.title = _text(
            title, "title", "Donnez un intitulé à la tâche.", "L'intitulé", TITLE_MAX
        )
        fields.append("title")
    if details is not _UNCHANGED:
        task.details = _optional_text(details, "details", "Les précisions", TEXT_MAX)
        fields.append("details")
    if due_at is not _UNCHANGED:
        if due_at is not None and not isinstance(due_at, datetime.datetime):
            raise DomainError("Échéance : date et heure invalides.", code="invalid", field="due_at")
        task.due_at = due_at
        fields.append("due_at")
    with transaction.atomic():
        _require_open(_locked(case))
        if fields:
            task.save(update_fields=fields)
            timeline.add_event(case, EventKind.TASK, actor, f"Tâche modifiée : {task.title}.")
    return task


def task_set_status(*, actor: User, task: CaseTask, status: str) -> CaseTask:
    case = task.case
    _require_level(actor, case, AccessLevel.CONTRIBUTE, "changer le statut d'une tâche")
    status = _choice(status, TaskStatus, "status", "Choisissez un statut de la liste.")
    with transaction.atomic():
        _require_open(_locked(case))
        task = (
            CaseTask.objects.select_for_update(of=("self",))
            .select_related("assignee")
            .get(pk=task.pk)
        )
        task.case = case
        if task.status == status:
            return task
        task.status = status
        task.done_at = timezone.now() if status == TaskStatus.DONE else None
        task.save(update_fields=["status", "done_at"])
        timeline.add_event(
            case,
            EventKind.TASK,
            actor,
            f"{task.get_kind_display()} « {task.title} » : {task.get_status_display().lower()}.",
        )
    return task


def task_assign(*, actor: User, task: CaseTask, assignee: User | None) -> CaseTask:
    case = task.case
    _require_level(actor, case, AccessLevel.CONTRIBUTE, "attribuer une tâche")
    _check_assignee(case, assignee)
    with transaction.atomic():
        _require_open(_locked(case))
        if task.assignee_id == (assignee.pk if assignee else None):
            return task
        task.assignee = assignee
        task.save(update_fields=["assignee"])
        text = (
            f"Tâche « {task.title} » attribuée à {_person(assignee)}."
            if assignee
            else f"Tâche « {task.title} » : plus attribuée."
        )
        timeline.add_event(case, EventKind.TASK, actor, text)
        _mail_assignee(actor, task, case)
    return task


# --- Affected assets ------------------------------------------------------------------------------


def asset_add(
    *,
    actor: User,
    case: Case,
    name: str,
    kind: str,
    state: str,
    critical_for_care: bool = False,
    notes: str = "",
) -> AffectedAsset:
    _require_level(actor, case, AccessLevel.CONTRIBUTE, "ajouter un actif touché")
    name = _text(name, "name", "Nommez l'actif (serveur, poste, application…).", "Le nom", 255)
    kind = _choice(kind, AssetKind, "kind", "Choisissez un type d'actif de la liste.")
    state = _choice(state, AssetState, "state", "Choisissez un état de la liste.")
    notes = _optional_text(notes, "notes", "Les notes", TEXT_MAX)
    with transaction.atomic():
        case = _locked(case)
        _require_open(case)
        asset = AffectedAsset.objects.create(
            case=case,
            name=name,
            kind=kind,
            state=state,
            critical_for_care=bool(critical_for_care),
            notes=notes,
            created_at=timezone.now(),
        )
        care = ", critique pour les soins" if asset.critical_for_care else ""
        timeline.add_event(
            case,
            EventKind.ASSET,
            actor,
            f"Actif touché : {name} ({asset.get_kind_display().lower()}, "
            f"{asset.get_state_display().lower()}{care}).",
        )
    return asset


def asset_update(
    *,
    actor: User,
    asset: AffectedAsset,
    name: Any = _UNCHANGED,
    kind: Any = _UNCHANGED,
    state: Any = _UNCHANGED,
    critical_for_care: Any = _UNCHANGED,
    notes: Any = _UNCHANGED,
) -> AffectedAsset:
    case = asset.case
    _require_level(actor, case, AccessLevel.CONTRIBUTE, "modifier un actif touché")
    old_state = asset.get_state_display().lower()
    fields = []
    if name is not _UNCHANGED:
        asset.name = _text(name, "name", "Nommez l'actif.", "Le nom", 255)
        fields.append("name")
    if kind is not _UNCHANGED:
        asset.kind = _choice(kind, AssetKind, "kind", "Choisissez un type d'actif de la liste.")
        fields.append("kind")
    if state is not _UNCHANGED:
        asset.state = _choice(state, AssetState, "state", "Choisissez un état de la liste.")
        fields.append("state")
    if critical_for_care is not _UNCHANGED:
        asset.critical_for_care = bool(critical_for_care)
        fields.append("critical_for_care")
    if notes is not _UNCHANGED:
        asset.notes = _optional_text(notes, "notes", "Les notes", TEXT_MAX)
        fields.append("notes")
    with transaction.atomic():
        _require_open(_locked(case))
        if fields:
            asset.save(update_fields=[*fields, "updated_at"])
            new_state = asset.get_state_display().lower()
            what = f"{old_state} → {new_state}" if new_state != old_state else "mis à jour"
            timeline.add_event(case, EventKind.ASSET, actor, f"Actif « {asset.name} » : {what}.")
    return asset


# --- The list ---------------------------------------------------------------------------------------


def cases_for_list(
    user: User,
    *,
    state: str = "",
    incident_type: str = "",
    organisation_id: int | None = None,
    mine: bool = False,
) -> QuerySet[Case]:
    """The cases the user sees, filtered (« ouverts »: every state but closed)."""
    from django.db.models import Exists, OuterRef

    from .selectors import cases_visible_to

    cases = cases_visible_to(user)
    if state == "ouverts":
        cases = cases.exclude(state=CaseState.CLOSED)
    elif state in CaseState.values:
        cases = cases.filter(state=state)
    if incident_type in IncidentType.values:
        cases = cases.filter(incident_type=incident_type)
    if organisation_id:
        cases = cases.filter(organisation_id=organisation_id)
    if mine:
        assigned = CaseTask.objects.filter(case_id=OuterRef("pk"), assignee_id=user.pk)
        cases = cases.filter(Q(lead_id=user.pk) | Q(Exists(assigned)))
    return cases.order_by("-opened_at", "-pk")


def list_organisations(user: User) -> QuerySet[Organisation]:
    """The organisations of the cases the user sees (the list's filter)."""
    from .selectors import cases_visible_to

    return Organisation.objects.filter(
        pk__in=cases_visible_to(user).values("organisation_id")
    ).order_by("name")
