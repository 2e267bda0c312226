"""Alerts: filing the qualification-and-alert form (web or API), completing it, and the
handlers' qualification or dismissal. Acknowledgement is the paging's (`paging.acknowledge`).

An incident must never be lost because a field is empty or garbled:

* The essential fields (ESSENTIAL_FIELDS) may all be missing: the alert is saved, flagged
  incomplete (`missing_fields`, in the order of the form) and paged like any other.
* A value that cannot be read is never thrown away. An unreadable « since when » is kept as
  text (`observed_at_text`) and `observed_at` counts as missing; a date in the future too. An
  unknown incident type is stored as « autre » and `incident_type` counts as missing (someone
  must confirm it); an unknown impact answer is left empty (missing). A phone number without
  at least six digits is kept as typed but counts as missing (nobody can call it back). Each
  of these raw values — and any value longer than its column — is written, in full, in a
  paragraph appended to the description (UNREADABLE_MARKER), which the detail page shows.
* Only what cannot identify the alert is refused: an organisation the actor may not report
  for (`forbidden`) or one without a region (`invalid`).

Repeated alerts: under a lock on the organisation's row (so that concurrent alerts of one
establishment are decided one after the other), an alert of the same organisation and type
received within the CRRC's `dedup_window_minutes` (60 without a policy), itself neither a
repeat nor dismissed nor a test, makes the new one its repeat: `duplicate_of`, paging
« rattachée », the first one's case if any (with a timeline line). It is not paged again; the
people handling the first one are told by e-mail (at most once per DUPLICATE_NOTICE_INTERVAL
for one first alert, so that a burst does not flood them; the page lists every repeat).

The CRRC of an alert is the region's CRRC (the one with an escalation policy when there are
several, else the first created). A region without a CRRC: the alert is stored all the same,
nobody can be paged (paging stays « en attente »), the structure's incident managers are told
by e-mail and the reporter's page says to call CERT Santé.

Idempotency: a non-empty `client_reference` (the API's Idempotency-Key) is unique per
reporter; filing again with it returns the alert already stored, `created=False`.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Prefetch, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.roles import ROLES, Capability, OrgKind
from rempart.organisations import perms as org_perms
from rempart.organisations.models import Membership, Organisation, User

from . import perms, selectors, timeline
from .incident_types import template_for
from .models import (
    Alert,
    AlertSource,
    AlertStatus,
    EscalationPolicy,
    EventKind,
    Impact,
    IncidentType,
    Page,
    PagingStatus,
)

logger = logging.getLogger(__name__)
C = Capability

ESSENTIAL_FIELDS: tuple[str, ...] = (
    "reporter_name",
    "callback_phone",
    "incident_type",
    "description",
    "observed_at",
    "affects_care",
    "affects_health_data",
    "affects_systems",
)
FIELD_LABELS = {
    "reporter_name": "le nom du déclarant",
    "reporter_function": "la fonction du déclarant",
    "callback_phone": "le téléphone de rappel",
    "callback_email": "l'e-mail de rappel",
    "incident_type": "le type d'incident",
    "description": "ce qui a été constaté",
    "observed_at": "depuis quand (date et heure)",
    "observed_at_text": "depuis quand (texte libre)",
    "affects_care": "l'impact sur les soins",
    "affects_health_data": "l'impact sur les données de santé",
    "affects_systems": "l'impact sur le système d'information",
    "actions_taken": "les mesures déjà prises",
}
IMPACT_FIELDS = ("affects_care", "affects_health_data", "affects_systems")
TEXT_FIELDS = {  # field: column length (None: unlimited)
    "reporter_name": 200,
    "reporter_function": 200,
    "callback_phone": 30,
    "description": None,
    "actions_taken": None,
}
FORM_FIELDS = (
    *TEXT_FIELDS,
    "callback_email",
    "incident_type",
    "observed_at",
    "observed_at_text",
    *IMPACT_FIELDS,
    "checklist",
)
OBSERVED_TEXT_MAX = 100
EMAIL_MAX = 254
CLIENT_REFERENCE_MAX = 100
NOTE_MAX = 5000
MIN_PHONE_DIGITS = 6
DEFAULT_DEDUP_WINDOW_MINUTES = 60
DUPLICATE_NOTICE_INTERVAL = datetime.timedelta(minutes=5)
# A clock a little ahead on the reporter's phone must not turn « now » into garbage.
FUTURE_TOLERANCE = datetime.timedelta(minutes=5)
EARLIEST = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
UNREADABLE_MARKER = "[Valeurs reçues non reconnues]"

_IMPACT_WORDS = {
    Impact.YES: {"oui", "yes", "true", "1", "o", "y", "vrai"},
    Impact.NO: {"non", "no", "false", "0", "n", "faux"},
    Impact.UNKNOWN: {
        "inconnu",
        "ne sait pas",
        "je ne sais pas",
        "nsp",
        "unknown",
        "?",
        "ne_sait_pas",
        "sais pas",
    },
}
# What programs of other platforms (SIEM, gateways) commonly send.
_TYPE_ALIASES = {
    "ransomware": IncidentType.RANSOMWARE,
    "rançongiciel": IncidentType.RANSOMWARE,
    "account_compromise": IncidentType.ACCOUNT_COMPROMISE,
    "compromission": IncidentType.ACCOUNT_COMPROMISE,
    "data_leak": IncidentType.DATA_LEAK,
    "data_breach": IncidentType.DATA_LEAK,
    "phishing": IncidentType.PHISHING,
    "supplier_outage": IncidentType.SUPPLIER_OUTAGE,
    "other": IncidentType.OTHER,
}
_DATE_FORMATS = (
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %Hh%M",
    "%d/%m/%Y à %H:%M",
    "%d/%m/%Y à %Hh%M",
    "%d/%m/%Y %Hh",
    "%d/%m/%Y",
)


# --- Reading what was sent -------------------------------------------------------------------------


class _Reading:
    """The values of one form as stored, what counts as missing and what could not be read."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.missing: set[str] = set()
        self.unreadable: list[str] = []

    def keep_raw(self, field: str, raw: Any) -> None:
        self.unreadable.append(f"{FIELD_LABELS.get(field, field)} : « {raw} »")


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    return str(value).strip()


def _clipped(reading: _Reading, field: str, text: str, max_length: int | None) -> str:
    if max_length is not None and len(text) > max_length:
        reading.keep_raw(field, text)
        return text[:max_length]
    return text


def _read_impact(reading: _Reading, field: str, value: Any) -> None:
    if isinstance(value, bool):
        reading.values[field] = Impact.YES if value else Impact.NO
        return
    text = _as_text(value)
    if not text:
        reading.values[field] = ""
        return
    word = text.lower().replace("’", "'")
    for impact, words in _IMPACT_WORDS.items():
        if word == impact.value or word in words:
            reading.values[field] = impact.value
            return
    reading.values[field] = ""
    reading.keep_raw(field, text)


def _read_type(reading: _Reading, value: Any) -> None:
    text = _as_text(value)
    if not text:
        reading.values["incident_type"] = ""
        return
    lowered = text.lower()
    for code, label in IncidentType.choices:
        if lowered in (code, str(label).lower()):
            reading.values["incident_type"] = code
            return
    if lowered in _TYPE_ALIASES:
        reading.values["incident_type"] = _TYPE_ALIASES[lowered]
        return
    reading.values["incident_type"] = IncidentType.OTHER
    reading.missing.add("incident_type")
    reading.keep_raw("incident_type", text)


def parse_observed_at(value: Any) -> datetime.datetime | None:
    """A moment as people and programs write it (ISO 8601, the browser's datetime-local,
    « 03/02/2026 14:30 », « 03/02/2026 14h30 »), in Paris time when no offset is given;
    None when it cannot be read or is not plausible (in the future, before 2000)."""
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, datetime.date):
        moment = datetime.datetime.combine(value, datetime.time())
    else:
        text = _as_text(value)
        if not text:
            return None
        moment = None
        try:
            moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            for fmt in _DATE_FORMATS:
                try:
                    moment = datetime.datetime.strptime(text, fmt)  # noqa: DTZ007 — Paris time
                    break
                except ValueError:
                    continue
        if moment is None:
            return None
    if timezone.is_naive(moment):
        try:
            moment = timezone.make_aware(moment)
        except (ValueError, OverflowError):
            return None
    if moment > timezone.now() + FUTURE_TOLERANCE or moment < EARLIEST:
        return None
    return moment


def _read_observed(reading: _Reading, value: Any, text_value: Any) -> None:
    free_text = _as_text(text_value)
    moment = parse_observed_at(value)
    if moment is None and value not in (None, ""):
        # Garbled (or implausible): kept as text, before what the person wrote as free text.
        raw = value.isoformat() if isinstance(value, datetime.date) else _as_text(value)
        if raw and raw not in free_text:
            free_text = f"{raw} — {free_text}" if free_text else raw
    reading.values["observed_at"] = moment
    reading.values["observed_at_text"] = _clipped(
        reading, "observed_at_text", free_text, OBSERVED_TEXT_MAX
    )


def _read_email(reading: _Reading, value: Any) -> None:
    text = _as_text(value)
    if not text:
        reading.values["callback_email"] = ""
        return
    try:
        validate_email(text)
    except ValidationError:
        reading.values["callback_email"] = ""
        reading.keep_raw("callback_email", text)
        return
    reading.values["callback_email"] = _clipped(reading, "callback_email", text, EMAIL_MAX)


def _read_checklist(value: Any, incident_type: str) -> dict[str, bool]:
    """{code: ticked} for every reflex action of the type's template; unknown codes dropped."""
    if isinstance(value, Mapping):
        ticked = {str(code) for code, done in value.items() if done}
    elif isinstance(value, str):
        ticked = {value}
    elif isinstance(value, Iterable):
        ticked = {str(code) for code in value}
    else:
        ticked = set()
    return {code: code in ticked for code in template_for(incident_type).checklist_codes()}


def _read(data: Mapping[str, Any], current: Mapping[str, Any]) -> _Reading:
    """Read the form fields of `data`; a field absent from `data` keeps its `current` value."""
    merged = {**current, **{k: v for k, v in data.items() if k in FORM_FIELDS}}
    reading = _Reading()
    for field, max_length in TEXT_FIELDS.items():
        reading.values[field] = _clipped(reading, field, _as_text(merged.get(field)), max_length)
    _read_email(reading, merged.get("callback_email"))
    _read_type(reading, merged.get("incident_type"))
    _read_observed(reading, merged.get("observed_at"), merged.get("observed_at_text"))
    for field in IMPACT_FIELDS:
        _read_impact(reading, field, merged.get(field))
    reading.values["checklist"] = _read_checklist(
        merged.get("checklist"), reading.values["incident_type"]
    )
    return reading


def own_description(description: str) -> str:
    """The description without the paragraph of unreadable values the platform appended."""
    return description.split(UNREADABLE_MARKER, 1)[0].strip()


def _missing(reading: _Reading) -> list[str]:
    values = reading.values
    missing = set(reading.missing)
    for field in ("reporter_name", "incident_type", *IMPACT_FIELDS):
        if not values[field]:
            missing.add(field)
    if not own_description(values["description"]):
        missing.add("description")
    if values["observed_at"] is None:
        missing.add("observed_at")
    if sum(ch.isdigit() for ch in values["callback_phone"]) < MIN_PHONE_DIGITS:
        missing.add("callback_phone")
    return [field for field in ESSENTIAL_FIELDS if field in missing]


def _with_unreadable(reading: _Reading) -> None:
    if not reading.unreadable:
        return
    lines = "\n".join(f"- {line}" for line in reading.unreadable)
    stamp = timezone.localtime().strftime("%d/%m/%Y %H:%M")
    description = reading.values["description"]
    paragraph = f"{UNREADABLE_MARKER} ({stamp})\n{lines}"
    reading.values["description"] = f"{description}\n\n{paragraph}" if description else paragraph


def missing_labels(alert: Alert) -> list[str]:
    """What is missing, in words (for pages and e-mails)."""
    return [FIELD_LABELS.get(field, field) for field in alert.missing_fields or []]


# --- Who handles the alert -------------------------------------------------------------------------


def crrc_for(organisation: Organisation) -> Organisation | None:
    """The CRRC of the organisation's region: the one with an escalation policy first, then the
    first created; None when the region has none."""
    if organisation.region_id is None:
        return None
    crrcs = list(
        Organisation.objects.filter(
            kind=OrgKind.CRRC, region_id=organisation.region_id, is_active=True
        ).order_by("pk")
    )
    if not crrcs:
        return None
    with_policy = set(
        EscalationPolicy.objects.filter(crrc__in=crrcs).values_list("crrc_id", flat=True)
    )
    return next((crrc for crrc in crrcs if crrc.pk in with_policy), crrcs[0])


def dedup_window(crrc: Organisation | None) -> datetime.timedelta:
    minutes = DEFAULT_DEDUP_WINDOW_MINUTES
    if crrc is not None:
        policy = EscalationPolicy.objects.filter(crrc=crrc).first()
        if policy is not None:
            minutes = policy.dedup_window_minutes
    return datetime.timedelta(minutes=minutes)


def _first_of_repeat(
    organisation: Organisation, incident_type: str, crrc: Organisation | None, now
) -> Alert | None:
    window = dedup_window(crrc)
    if not window:
        return None
    return (
        Alert.objects.filter(
            organisation=organisation,
            incident_type=incident_type,
            received_at__gte=now - window,
            duplicate_of__isnull=True,
            is_test=False,
        )
        .exclude(status=AlertStatus.DISMISSED)
        .select_related("case")
        .order_by("received_at", "pk")
        .first()
    )


def _roles_with(capability: Capability) -> list[str]:
    return [code.value for code, spec in ROLES.items() if capability in spec.capabilities]


def _emails_of(organisation_ids: Iterable[int], capability: Capability) -> set[str]:
    return set(
        Membership.objects.active()
        .filter(
            organisation_id__in=list(organisation_ids),
            role__in=_roles_with(capability),
            user__is_active=True,
        )
        .values_list("user__email", flat=True)
    )


def handler_emails(alert: Alert) -> set[str]:
    """Who is handling an alert: whoever acknowledged it, the people paged for it and its case's
    lead; when nobody yet, the CRRC's incident managers (its hotline)."""
    emails = set(
        Page.objects.filter(alert=alert)
        .exclude(recipient__email="")
        .values_list("recipient__email", flat=True)
    )
    for person in (alert.acknowledged_by, alert.case.lead if alert.case_id else None):
        if person is not None and person.email:
            emails.add(person.email)
    if not emails and alert.crrc_id:
        emails = _emails_of([alert.crrc_id], C.VIEW_INCIDENTS)
    return emails


def _alert_link(alert: Alert) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("incidents:alert_detail", args=[alert.pk])


def _send(template: str, subject: str, emails: Iterable[str], context: dict) -> None:
    """After commit; a mail server down must not break the filing, which is saved."""
    recipients = sorted({email for email in emails if email})
    if not recipients:
        return
    body = render_to_string(template, context)
    for email in recipients:
        try:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [email])
        except Exception:  # logged; the alert itself is stored
            logger.exception("Alert e-mail to %s failed", email)


def _mail_on_commit(template: str, subject: str, emails: Iterable[str], context: dict) -> None:
    emails = list(emails)
    transaction.on_commit(lambda: _send(template, subject, emails, context))


def _notify_repeat(actor: User, alert: Alert, first: Alert) -> None:
    earlier = (
        Alert.objects.filter(
            duplicate_of=first, received_at__gte=alert.received_at - DUPLICATE_NOTICE_INTERVAL
        )
        .exclude(pk=alert.pk)
        .exists()
    )
    if earlier:
        return
    emails = handler_emails(first)
    if actor.email:
        emails.discard(actor.email)
    context = {
        "alert": alert,
        "first": first,
        "link": _alert_link(alert),
        "first_link": _alert_link(first),
        "missing": missing_labels(alert),
        "repeats": Alert.objects.filter(duplicate_of=first).count(),
    }
    _mail_on_commit(
        "incidents/email/alert_repeated.txt",
        f"[Rempart] Nouvelle alerte rattachée à l'alerte n° {first.pk} — {alert.organisation.name}",
        emails,
        context,
    )


def _notify_no_crrc(actor: User, alert: Alert) -> None:
    emails = _emails_of([alert.organisation_id], C.VIEW_INCIDENTS)
    if actor.email:
        emails.discard(actor.email)
    _mail_on_commit(
        "incidents/email/alert_no_crrc.txt",
        f"[Rempart] Alerte n° {alert.pk} — aucun CRRC d'astreinte pour votre région",
        emails,
        {"alert": alert, "link": _alert_link(alert), "missing": missing_labels(alert)},
    )


# --- Filing --------------------------------------------------------------------------------------


def _existing(actor: User, client_reference: str) -> Alert | None:
    return (
        Alert.objects.filter(reporter=actor, client_reference=client_reference)
        .select_related("organisation", "case", "crrc")
        .first()
    )


def _check_source(source: str) -> str:
    if source not in AlertSource.values:
        raise DomainError(
            f"Canal d'alerte inconnu (valeurs possibles : {', '.join(AlertSource.values)}).",
            code="invalid",
            field="source",
        )
    return source


def _check_reporter(actor: User, organisation: Organisation | None) -> Organisation:
    if organisation is None:
        raise DomainError(
            "Indiquez la structure concernée par l'incident.", code="invalid", field="organisation"
        )
    if not perms.can_report_for(actor, organisation):
        raise DomainError(
            f"Vous ne pouvez pas signaler d'incident pour « {organisation.name} » : seules les "
            "personnes de la structure (ou de son GHT) et le CRRC de sa région le peuvent. "
            "En urgence, appelez la hotline du CRRC.",
            code="forbidden",
            field="organisation",
        )
    if organisation.region_id is None:
        raise DomainError(
            f"« {organisation.name} » n'est rattachée à aucune région : aucun CRRC ne peut "
            "recevoir son alerte. Appelez directement CERT Santé.",
            code="invalid",
            field="organisation",
        )
    return organisation


def alert_file(
    *,
    actor: User,
    organisation: Organisation | None,
    source: str,
    data: Mapping[str, Any],
    client_reference: str = "",
) -> tuple[Alert, bool]:
    """File an alert (never refused for a missing or garbled field); (alert, created)."""
    source = _check_source(source)
    organisation = _check_reporter(actor, organisation)
    client_reference = _as_text(client_reference)
    if len(client_reference) > CLIENT_REFERENCE_MAX:
        raise DomainError(
            f"La référence client (Idempotency-Key) ne doit pas dépasser {CLIENT_REFERENCE_MAX} "
            "caractères.",
            code="invalid",
            field="client_reference",
        )
    if client_reference:
        existing = _existing(actor, client_reference)
        if existing is not None:
            return existing, False
    prefill = {
        "reporter_name": actor.get_full_name(),
        "reporter_function": getattr(actor, "job_title", ""),
        "callback_email": actor.email,
    }
    given = {
        key: value for key, value in data.items() if _as_text(value) != "" or key == "checklist"
    }
    reading = _read({**prefill, **given}, {})
    _with_unreadable(reading)
    missing = _missing(reading)
    crrc = crrc_for(organisation)
    try:
        with transaction.atomic():
            # One establishment's alerts are decided one after the other (deduplication).
            Organisation.objects.select_for_update().filter(pk=organisation.pk).first()
            if client_reference:
                existing = _existing(actor, client_reference)
                if existing is not None:
                    return existing, False
            now = timezone.now()
            is_test = source == AlertSource.TEST
            first = (
                None
                if is_test
                else _first_of_repeat(organisation, reading.values["incident_type"], crrc, now)
            )
            alert = Alert.objects.create(
                region_id=organisation.region_id,
                organisation=organisation,
                crrc=crrc,
                reporter=actor,
                source=source,
                client_reference=client_reference,
                missing_fields=missing,
                received_at=now,
                is_test=is_test,
                duplicate_of=first,
                case=first.case if first is not None else None,
                paging_status=PagingStatus.LINKED if first is not None else PagingStatus.PENDING,
                **reading.values,
            )
            if first is not None:
                if first.case_id:
                    timeline.add_event(
                        first.case,
                        EventKind.ALERT,
                        actor,
                        f"Alerte n° {alert.pk} reçue, rattachée à l'alerte n° {first.pk} "
                        f"(même structure, même type) : {_excerpt(alert.description)}",
                        occurred_at=now,
                    )
                _notify_repeat(actor, alert, first)
            elif crrc is None:
                _notify_no_crrc(actor, alert)
            else:
                from . import paging

                paging.start_paging(alert)
    except IntegrityError:
        # Two submissions of the same reference at once: the other one won, return it.
        if client_reference:
            existing = _existing(actor, client_reference)
            if existing is not None:
                return existing, False
        raise
    return alert, True


def _excerpt(text: str, size: int = 300) -> str:
    text = own_description(text) or "description non renseignée"
    return text if len(text) <= size else text[: size - 1] + "…"


# --- Completing, qualifying, dismissing -------------------------------------------------------------


def can_complete(user: User, alert: Alert) -> bool:
    """The reporter and the people who handle the alert, while it is not dismissed."""
    if alert.status == AlertStatus.DISMISSED:
        return False
    return alert.reporter_id == user.pk or perms.can_handle_alert(user, alert)


def _locked(alert: Alert) -> Alert:
    return (
        Alert.objects.select_for_update(of=("self",))
        .select_related("organisation", "case", "crrc", "reporter")
        .get(pk=alert.pk)
    )


def _current_values(alert: Alert) -> dict[str, Any]:
    return {field: getattr(alert, field) for field in FORM_FIELDS}


def alert_complete(*, actor: User, alert: Alert, data: Mapping[str, Any]) -> Alert:
    """Complete or correct an alert's fields (those absent from `data` keep their value);
    recomputes what is missing."""
    if not can_complete(actor, alert):
        if alert.status == AlertStatus.DISMISSED:
            raise DomainError(
                "Cette alerte est classée sans suite : elle ne se complète plus.",
                code="invalid_state",
            )
        raise DomainError(
            "Seuls le déclarant, le CRRC, l'expert d'astreinte alerté et les responsables de la "
            "structure complètent cette alerte.",
            code="forbidden",
        )
    with transaction.atomic():
        alert = _locked(alert)
        if alert.status == AlertStatus.DISMISSED:
            raise DomainError(
                "Cette alerte vient d'être classée sans suite : elle ne se complète plus.",
                code="invalid_state",
            )
        before = set(alert.missing_fields or [])
        reading = _read(data, _current_values(alert))
        if "incident_type" not in data and "incident_type" in before:
            reading.missing.add("incident_type")  # « autre » by default: still to confirm
        _with_unreadable(reading)
        changed = [f for f, v in reading.values.items() if getattr(alert, f) != v]
        for field, value in reading.values.items():
            setattr(alert, field, value)
        alert.missing_fields = _missing(reading)
        if not changed and set(alert.missing_fields) == before:
            return alert
        alert.save(update_fields=[*reading.values, "missing_fields"])
        if alert.case_id:
            filled = [
                FIELD_LABELS[f] for f in ESSENTIAL_FIELDS if f in before - set(alert.missing_fields)
            ]
            text = f"Alerte n° {alert.pk} complétée par {_person(actor)}"
            text += f" : {', '.join(filled)} renseigné(s)." if filled else "."
            timeline.add_event(alert.case, EventKind.ALERT, actor, text)
    return alert


def _person(user: User | None) -> str:
    if user is None:
        return "personne"
    return user.get_full_name() or user.email


def _require_handler(actor: User, alert: Alert, what: str) -> None:
    if not perms.can_handle_alert(actor, alert):
        raise DomainError(
            f"Vous ne pouvez pas {what} : c'est le rôle du CRRC, de l'expert d'astreinte alerté "
            "et des responsables de la structure.",
            code="forbidden",
        )


def _note(value: Any, field: str, missing: str) -> str:
    text = _as_text(value)
    if not text:
        raise DomainError(missing, code="invalid", field=field)
    if len(text) > NOTE_MAX:
        raise DomainError(
            f"Le texte ne doit pas dépasser {NOTE_MAX} caractères.", code="invalid", field=field
        )
    return text


def _stop_paging(actor: User, alert: Alert) -> None:
    """Someone who qualifies or dismisses is on it: the chain stops ringing."""
    if alert.acknowledged_at is None and alert.paging_status in (
        PagingStatus.PENDING,
        PagingStatus.PAGING,
    ):
        from . import paging

        paging.acknowledge(actor=actor, alert=alert)


def alert_qualify(*, actor: User, alert: Alert, note: str) -> Alert:
    """The handler's qualification after calling back (a note is required); qualifying again
    updates the note and keeps the first time."""
    _require_handler(actor, alert, "qualifier cette alerte")
    note = _note(note, "note", "Écrivez la qualification : ce qui a été établi au rappel.")
    with transaction.atomic():
        alert = _locked(alert)
        if alert.status == AlertStatus.DISMISSED:
            raise DomainError(
                "Cette alerte est classée sans suite : elle ne se qualifie plus.",
                code="invalid_state",
            )
        _stop_paging(actor, alert)
        alert.refresh_from_db()
        now = timezone.now()
        alert.status = AlertStatus.QUALIFIED
        alert.qualified_at = alert.qualified_at or now
        if alert.qualified_by_id is None:
            alert.qualified_by = actor
        alert.qualification_note = note
        alert.save(update_fields=["status", "qualified_at", "qualified_by", "qualification_note"])
        if alert.case_id:
            timeline.add_event(
                alert.case,
                EventKind.ALERT,
                actor,
                f"Alerte n° {alert.pk} qualifiée par {_person(actor)} : {note}",
            )
    return alert


def alert_dismiss(*, actor: User, alert: Alert, reason: str) -> Alert:
    """Close a false alarm or a test without a case (the reason is required and kept as the
    alert's qualification)."""
    _require_handler(actor, alert, "classer cette alerte")
    reason = _note(
        reason, "reason", "Indiquez pourquoi l'alerte est classée (fausse alerte, test…)."
    )
    with transaction.atomic():
        alert = _locked(alert)
        if alert.status == AlertStatus.DISMISSED:
            raise DomainError("Cette alerte est déjà classée sans suite.", code="invalid_state")
        if alert.case_id:
            raise DomainError(
                f"Cette alerte est rattachée au dossier {alert.case.reference} : c'est le dossier "
                "qui se clôt (qualification finale « faux positif »).",
                code="already_linked",
            )
        _stop_paging(actor, alert)
        alert.refresh_from_db()
        now = timezone.now()
        alert.status = AlertStatus.DISMISSED
        alert.qualified_at = alert.qualified_at or now
        if alert.qualified_by_id is None:
            alert.qualified_by = actor
        alert.qualification_note = reason
        alert.save(update_fields=["status", "qualified_at", "qualified_by", "qualification_note"])
    return alert


# --- Reads of the alert pages ------------------------------------------------------------------------


def reportable_organisations(user: User) -> QuerySet[Organisation]:
    """The active organisations the user may file an alert for, by name."""
    scope = org_perms.capability_q(user, C.REPORT_INCIDENT)
    if scope is None:
        return Organisation.objects.none()
    return Organisation.objects.filter(scope, is_active=True).order_by("name", "pk")


def get_reportable_organisation(user: User, pk) -> Organisation | None:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        return None
    return reportable_organisations(user).filter(pk=pk).first()


def alert_list(
    user: User,
    *,
    status: str = "",
    incident_type: str = "",
    incomplete: bool | None = None,
    organisation_id: int | None = None,
) -> QuerySet[Alert]:
    alerts = selectors.alerts_visible_to(user)
    if status:
        alerts = alerts.filter(status=status)
    if incident_type:
        alerts = alerts.filter(incident_type=incident_type)
    if incomplete is True:
        alerts = alerts.exclude(missing_fields=[])
    elif incomplete is False:
        alerts = alerts.filter(missing_fields=[])
    if organisation_id:
        alerts = alerts.filter(organisation_id=organisation_id)
    return alerts.order_by("-received_at", "-pk")


def alert_organisations(user: User) -> QuerySet[Organisation]:
    """The organisations of the alerts the user sees (the list's filter)."""
    return Organisation.objects.filter(
        pk__in=selectors.alerts_visible_to(user).values("organisation_id")
    ).order_by("name", "pk")


def alerts_with_pages(user: User) -> QuerySet[Alert]:
    """The alerts the user sees, with everything the API's detail shows (fixed queries)."""
    return (
        selectors.alerts_visible_to(user)
        .select_related("crrc", "qualified_by")
        .prefetch_related(
            Prefetch(
                "pages",
                queryset=Page.objects.select_related("recipient", "webhook").order_by(
                    "created_at", "pk"
                ),
            )
        )
    )


def alert_pages(alert: Alert) -> QuerySet[Page]:
    return alert.pages.select_related("recipient", "webhook").order_by("created_at", "pk")


def alert_repeats(user: User, alert: Alert) -> QuerySet[Alert]:
    """The repeats of an alert that the user sees."""
    return (
        selectors.alerts_visible_to(user).filter(duplicate_of=alert).order_by("received_at", "pk")
    )


def visible_first(user: User, alert: Alert) -> Alert | None:
    """The alert this one repeats, when the user may see it."""
    if not alert.duplicate_of_id:
        return None
    return selectors.alerts_visible_to(user).filter(pk=alert.duplicate_of_id).first()
