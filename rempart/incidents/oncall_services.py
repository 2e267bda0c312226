"""Writes of the CRRC's on-call rota, handover notes, escalation policy and paging gateways.

Each write is checked first (DomainError with a French message and the field at fault), then
done in one transaction that locks the CRRC row, so two operators editing the rota at the same
moment cannot both slip a shift into the same slot. The models are registered with the audit
trail: saving is auditing. The gateways' keys are excluded from it, so a key change is recorded
by hand, with its date and never its value.

The paging engine (`paging`) only reads what is written here: the shifts covering an instant,
by level; the policy; the active gateways and their keys.
"""

from __future__ import annotations

import datetime
import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.models import AuditEntry
from rempart.organisations.models import Organisation, User

from . import perms
from .models import EscalationPolicy, OnCallShift, PagingWebhook
from .oncall_selectors import (
    MANAGE_ONLY,
    NO_MANAGE_ACCESS,
    PARIS,
    format_moment_fr,
    is_rota_candidate,
    midnight,
)

SHIFT_MAX_DAYS = 31
REPEAT_MAX_WEEKS = 12
NOTE_MAX_LENGTH = 10_000
PHONE_RE = re.compile(r"^\+?[0-9][0-9 .\-()]{5,28}$")
TIMEOUT_RANGE = (1, 120)
ROUNDS_RANGE = (1, 10)
DEDUP_RANGE = (1, 1440)
SECRET_MIN_LENGTH = 16
SECRET_MAX_LENGTH = 500
URL_MAX_LENGTH = 500
NOT_HTTPS_WARNING = (
    "Cette adresse n'est pas en https : les appels d'astreinte (structure touchée, numéro de "
    "rappel) y circuleront en clair. Préférez une adresse https://."
)


def _require_manager(actor: User, crrc: Organisation) -> None:
    if not perms.can_manage_oncall(actor, crrc):
        raise DomainError(MANAGE_ONLY, code="forbidden")


def _lock(crrc: Organisation) -> None:
    """Serialise the writes of one CRRC's rota (SELECT … FOR UPDATE on PostgreSQL; SQLite
    transactions take the write lock at BEGIN)."""
    Organisation.objects.select_for_update().filter(pk=crrc.pk).first()


def _aware(value: datetime.datetime) -> datetime.datetime:
    if timezone.is_naive(value):
        return timezone.make_aware(value, PARIS)
    return value


# --- Shifts ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShiftData:
    person: User
    level: int
    starts_at: datetime.datetime
    ends_at: datetime.datetime
    phone: str


def _check_shift(
    crrc: Organisation,
    *,
    person: User | None,
    level,
    starts_at,
    ends_at,
    phone: str,
    keep_person: User | None = None,
) -> ShiftData:
    if person is None:
        raise DomainError("Choisissez la personne d'astreinte.", code="invalid", field="person")
    if (keep_person is None or person.pk != keep_person.pk) and not is_rota_candidate(crrc, person):
        raise DomainError(
            f"{person} ne peut pas être mis d'astreinte pour ce CRRC : le planning accueille ses "
            "opérateurs et experts d'astreinte, et les experts des prestataires de la région.",
            code="not_eligible",
            field="person",
        )
    try:
        level = int(level)
    except (TypeError, ValueError):
        level = 0
    if not 1 <= level <= 9:
        raise DomainError(
            "Le niveau d'escalade va de 1 (appelé en premier) à 9.", code="invalid", field="level"
        )
    if not isinstance(starts_at, datetime.datetime):
        raise DomainError(
            "Indiquez la date et l'heure de début du tour.", code="invalid", field="starts_at"
        )
    if not isinstance(ends_at, datetime.datetime):
        raise DomainError(
            "Indiquez la date et l'heure de fin du tour.", code="invalid", field="ends_at"
        )
    starts_at, ends_at = _aware(starts_at), _aware(ends_at)
    if ends_at <= starts_at:
        raise DomainError(
            "La fin du tour doit être après son début.", code="invalid", field="ends_at"
        )
    if ends_at - starts_at > datetime.timedelta(days=SHIFT_MAX_DAYS):
        raise DomainError(
            f"Un tour d'astreinte dure au plus {SHIFT_MAX_DAYS} jours : découpez-le en "
            "plusieurs tours (ou utilisez « recopier la semaine »).",
            code="invalid",
            field="ends_at",
        )
    phone = (phone or "").strip()
    if phone and not PHONE_RE.match(phone):
        raise DomainError(
            "Le numéro d'astreinte ne doit contenir que des chiffres, des espaces et le signe + "
            "(ex. +33 6 12 34 56 78).",
            code="invalid",
            field="phone",
        )
    return ShiftData(person, level, starts_at, ends_at, phone or person.phone)


def _overlapping(
    crrc: Organisation, person: User, starts_at, ends_at, exclude_pk: int | None = None
) -> OnCallShift | None:
    qs = OnCallShift.objects.filter(
        crrc=crrc, person=person, starts_at__lt=ends_at, ends_at__gt=starts_at
    )
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.order_by("starts_at", "pk").first()


def _refuse_overlap(crrc: Organisation, data: ShiftData, exclude_pk: int | None = None) -> None:
    other = _overlapping(crrc, data.person, data.starts_at, data.ends_at, exclude_pk)
    if other is not None:
        raise DomainError(
            f"{data.person} est déjà d'astreinte (niveau {other.level}) du "
            f"{format_moment_fr(other.starts_at)} au {format_moment_fr(other.ends_at)} : une même "
            "personne ne peut pas avoir deux tours qui se chevauchent. Modifiez ce tour-là ou "
            "choisissez d'autres horaires.",
            code="overlap",
            field="starts_at",
        )


def _check_note(note: str | None) -> str:
    note = (note or "").strip()
    if len(note) > NOTE_MAX_LENGTH:
        raise DomainError(
            f"Les consignes de relève tiennent en {NOTE_MAX_LENGTH} caractères au plus.",
            code="invalid",
            field="handover_note",
        )
    return note


def shift_create(
    *,
    actor: User,
    crrc: Organisation,
    person: User | None,
    level,
    starts_at,
    ends_at,
    phone: str = "",
    handover_note: str = "",
) -> OnCallShift:
    """Put someone on call. The phone defaults to the person's own number."""
    _require_manager(actor, crrc)
    data = _check_shift(
        crrc, person=person, level=level, starts_at=starts_at, ends_at=ends_at, phone=phone
    )
    note = _check_note(handover_note)
    with transaction.atomic():
        _lock(crrc)
        _refuse_overlap(crrc, data)
        return OnCallShift.objects.create(
            crrc=crrc,
            person=data.person,
            level=data.level,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            phone=data.phone,
            handover_note=note,
            created_by=actor,
        )


def shift_update(
    *,
    actor: User,
    shift: OnCallShift,
    person: User | None,
    level,
    starts_at,
    ends_at,
    phone: str = "",
    handover_note: str | None = None,
) -> OnCallShift:
    """Change a shift. Its person may stay on it even if their role has ended since (the past
    must stay as it was); a new person must be one the rota accepts today."""
    crrc = shift.crrc
    _require_manager(actor, crrc)
    data = _check_shift(
        crrc,
        person=person,
        level=level,
        starts_at=starts_at,
        ends_at=ends_at,
        phone=phone,
        keep_person=shift.person,
    )
    with transaction.atomic():
        _lock(crrc)
        locked = OnCallShift.objects.select_for_update().get(pk=shift.pk)
        _refuse_overlap(crrc, data, exclude_pk=locked.pk)
        locked.person = data.person
        locked.level = data.level
        locked.starts_at = data.starts_at
        locked.ends_at = data.ends_at
        locked.phone = data.phone
        if handover_note is not None:
            locked.handover_note = _check_note(handover_note)
        locked.save()
    return locked


def shift_delete(*, actor: User, shift: OnCallShift) -> None:
    _require_manager(actor, shift.crrc)
    with transaction.atomic():
        _lock(shift.crrc)
        locked = OnCallShift.objects.select_for_update().filter(pk=shift.pk).first()
        if locked is not None:
            locked.delete()


def can_write_handover(user: User, shift: OnCallShift) -> bool:
    """The person on call writes their own relève; an operator may write it for them."""
    return shift.person_id == user.pk or perms.can_manage_oncall(user, shift.crrc)


def handover_write(*, actor: User, shift: OnCallShift, note: str) -> OnCallShift:
    """The consignes de relève of a shift, read by the next person on call."""
    if not can_write_handover(actor, shift):
        raise DomainError(
            "Seule la personne d'astreinte sur ce tour (ou un opérateur du CRRC) écrit ses "
            "consignes de relève.",
            code="forbidden",
        )
    note = _check_note(note)
    with transaction.atomic():
        locked = OnCallShift.objects.select_for_update().get(pk=shift.pk)
        locked.handover_note = note
        locked.save(update_fields=["handover_note"])
    return locked


@dataclass
class RepeatResult:
    created: int = 0
    skipped: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        created = (
            "Aucun tour créé"
            if not self.created
            else f"{self.created} tour créé"
            if self.created == 1
            else f"{self.created} tours créés"
        )
        if not self.skipped:
            return f"{created}."
        count = len(self.skipped)
        skipped = "1 tour ignoré" if count == 1 else f"{count} tours ignorés"
        return f"{created}, {skipped} (chevauchement avec un tour existant ou heure inexistante)."


def _shift_wall_clock(moment: datetime.datetime, days: int) -> datetime.datetime | None:
    """The same Paris wall-clock time `days` later (a 08:00 shift stays at 08:00 after a change
    of time); None when that time does not exist that day (the spring-forward hour)."""
    naive = timezone.localtime(moment, PARIS).replace(tzinfo=None) + datetime.timedelta(days=days)
    aware = naive.replace(tzinfo=PARIS)
    if aware.astimezone(datetime.UTC).astimezone(PARIS).replace(tzinfo=None) != naive:
        return None
    return aware.astimezone(datetime.UTC)


def week_repeat(*, actor: User, crrc: Organisation, monday: datetime.date, weeks) -> RepeatResult:
    """Copy the shifts that start in the week of `monday` to the `weeks` following weeks, at the
    same Paris times, skipping any copy that would overlap a shift of the same person."""
    _require_manager(actor, crrc)
    try:
        weeks = int(weeks)
    except (TypeError, ValueError):
        weeks = 0
    if not 1 <= weeks <= REPEAT_MAX_WEEKS:
        raise DomainError(
            f"Indiquez un nombre de semaines entre 1 et {REPEAT_MAX_WEEKS}.",
            code="invalid",
            field="weeks",
        )
    monday = monday - datetime.timedelta(days=monday.weekday())
    start, end = midnight(monday), midnight(monday + datetime.timedelta(days=7))
    result = RepeatResult()
    with transaction.atomic():
        _lock(crrc)
        models = list(
            OnCallShift.objects.filter(crrc=crrc, starts_at__gte=start, starts_at__lt=end)
            .select_related("person")
            .order_by("starts_at", "level", "pk")
        )
        if not models:
            raise DomainError(
                "Aucun tour ne commence cette semaine : il n'y a rien à recopier.",
                code="empty_week",
                field="weeks",
            )
        for week in range(1, weeks + 1):
            for model in models:
                starts_at = _shift_wall_clock(model.starts_at, 7 * week)
                ends_at = _shift_wall_clock(model.ends_at, 7 * week)
                if starts_at is None or ends_at is None or ends_at <= starts_at:
                    result.skipped.append(f"{model.person} : heure inexistante ce jour-là")
                    continue
                if _overlapping(crrc, model.person, starts_at, ends_at) is not None:
                    result.skipped.append(
                        f"{model.person}, {format_moment_fr(starts_at)} : déjà d'astreinte"
                    )
                    continue
                OnCallShift.objects.create(
                    crrc=crrc,
                    person=model.person,
                    level=model.level,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    phone=model.phone,
                    created_by=actor,
                )
                result.created += 1
    return result


# --- Escalation policy ----------------------------------------------------------------------------


def _in_range(value, bounds: tuple[int, int], field_name: str, message: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = bounds[0] - 1
    if not bounds[0] <= number <= bounds[1]:
        raise DomainError(message, code="invalid", field=field_name)
    return number


def policy_save(
    *,
    actor: User,
    crrc: Organisation,
    ack_timeout_minutes,
    rounds,
    dedup_window_minutes,
) -> EscalationPolicy:
    """Create the CRRC's policy on its first save, or change it."""
    if not perms.can_manage_oncall(actor, crrc):
        raise DomainError(NO_MANAGE_ACCESS, code="forbidden")
    values = {
        "ack_timeout_minutes": _in_range(
            ack_timeout_minutes,
            TIMEOUT_RANGE,
            "ack_timeout_minutes",
            "Le délai avant escalade va de 1 à 120 minutes.",
        ),
        "rounds": _in_range(
            rounds, ROUNDS_RANGE, "rounds", "Le nombre de tours d'escalade va de 1 à 10."
        ),
        "dedup_window_minutes": _in_range(
            dedup_window_minutes,
            DEDUP_RANGE,
            "dedup_window_minutes",
            "La fenêtre de dédoublonnage va de 1 à 1 440 minutes (24 heures).",
        ),
    }
    with transaction.atomic():
        _lock(crrc)
        policy = EscalationPolicy.objects.select_for_update().filter(crrc=crrc).first()
        if policy is None:
            return EscalationPolicy.objects.create(crrc=crrc, **values)
        for name, value in values.items():
            setattr(policy, name, value)
        policy.save()
    return policy


# --- Paging gateways ------------------------------------------------------------------------------


@dataclass
class WebhookResult:
    webhook: PagingWebhook
    generated_secret: str | None = None  # shown once, never stored in clear
    warnings: list[str] = field(default_factory=list)


def generate_secret() -> str:
    return secrets.token_urlsafe(32)


def _check_name(crrc: Organisation, name: str, exclude_pk: int | None = None) -> str:
    name = (name or "").strip()
    if not name:
        raise DomainError(
            "Donnez un nom à la passerelle (ex. « SMS astreinte »).", code="invalid", field="name"
        )
    if len(name) > 100:
        raise DomainError("Le nom tient en 100 caractères au plus.", code="invalid", field="name")
    same = PagingWebhook.objects.filter(crrc=crrc, name__iexact=name)
    if exclude_pk is not None:
        same = same.exclude(pk=exclude_pk)
    if same.exists():
        raise DomainError(
            "Une passerelle de ce CRRC porte déjà ce nom : choisissez-en un autre.",
            code="already_exists",
            field="name",
        )
    return name


def check_url(url: str) -> tuple[str, list[str]]:
    """A complete http(s) address without credentials, and the warnings to show."""
    url = (url or "").strip()
    refused = DomainError(
        "Indiquez une adresse complète commençant par https:// (ou http://), par exemple "
        "https://sms.exemple.fr/envoi.",
        code="invalid",
        field="url",
    )
    if not url or len(url) > URL_MAX_LENGTH:
        if len(url) > URL_MAX_LENGTH:
            raise DomainError(
                f"L'adresse tient en {URL_MAX_LENGTH} caractères au plus.",
                code="invalid",
                field="url",
            )
        raise refused
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise refused from None
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise DomainError(
            "N'écrivez pas d'identifiant ni de mot de passe dans l'adresse : les envois sont "
            "authentifiés par la clé de signature.",
            code="invalid",
            field="url",
        )
    warnings = [] if parts.scheme.lower() == "https" else [NOT_HTTPS_WARNING]
    return url, warnings


def _check_secret(secret: str | None) -> tuple[str, str | None]:
    """The key to store and, when the platform generated it, the same key to show once."""
    secret = (secret or "").strip()
    if not secret:
        generated = generate_secret()
        return generated, generated
    if len(secret) < SECRET_MIN_LENGTH:
        raise DomainError(
            f"La clé de signature doit faire au moins {SECRET_MIN_LENGTH} caractères : laissez "
            "le champ vide pour que la plateforme en génère une forte.",
            code="weak_secret",
            field="secret",
        )
    if len(secret) > SECRET_MAX_LENGTH:
        raise DomainError(
            f"La clé de signature tient en {SECRET_MAX_LENGTH} caractères au plus.",
            code="invalid",
            field="secret",
        )
    return secret, None


def _audit_secret_change(actor: User, webhook: PagingWebhook) -> None:
    """The trail excludes the key: record that it changed, and when, never its value."""
    AuditEntry.objects.log_create(
        webhook,
        force_log=True,
        action=AuditEntry.Action.UPDATE,
        changes={"secret": ["••••", "•••• (nouvelle clé)"]},
        actor=actor,
        actor_email=actor.email,
    )


def webhook_create(
    *, actor: User, crrc: Organisation, name: str, url: str, secret: str = ""
) -> WebhookResult:
    """Add a gateway. An empty key means « generate a strong one »: it is returned once, to be
    copied into the gateway's configuration, and never shown again."""
    if not perms.can_manage_oncall(actor, crrc):
        raise DomainError(NO_MANAGE_ACCESS, code="forbidden")
    url, warnings = check_url(url)
    stored, generated = _check_secret(secret)
    with transaction.atomic():
        _lock(crrc)
        name = _check_name(crrc, name)
        webhook = PagingWebhook.objects.create(crrc=crrc, name=name, url=url, secret=stored)
    return WebhookResult(webhook, generated, warnings)


def webhook_update(*, actor: User, webhook: PagingWebhook, name: str, url: str) -> WebhookResult:
    if not perms.can_manage_oncall(actor, webhook.crrc):
        raise DomainError(NO_MANAGE_ACCESS, code="forbidden")
    url, warnings = check_url(url)
    with transaction.atomic():
        _lock(webhook.crrc)
        name = _check_name(webhook.crrc, name, exclude_pk=webhook.pk)
        locked = PagingWebhook.objects.select_for_update().get(pk=webhook.pk)
        locked.name, locked.url = name, url
        locked.save(update_fields=["name", "url"])
    return WebhookResult(locked, None, warnings)


def webhook_rotate_secret(
    *, actor: User, webhook: PagingWebhook, secret: str = ""
) -> WebhookResult:
    """Replace the key (generated when none is given). The gateway must be given the new key:
    pages signed with it are refused by a gateway that still checks the old one."""
    if not perms.can_manage_oncall(actor, webhook.crrc):
        raise DomainError(NO_MANAGE_ACCESS, code="forbidden")
    stored, generated = _check_secret(secret)
    with transaction.atomic():
        locked = PagingWebhook.objects.select_for_update().get(pk=webhook.pk)
        locked.secret = stored
        locked.save(update_fields=["secret"])
        _audit_secret_change(actor, locked)
    return WebhookResult(locked, generated, [])


def webhook_set_active(*, actor: User, webhook: PagingWebhook, active: bool) -> PagingWebhook:
    if not perms.can_manage_oncall(actor, webhook.crrc):
        raise DomainError(NO_MANAGE_ACCESS, code="forbidden")
    with transaction.atomic():
        locked = PagingWebhook.objects.select_for_update().get(pk=webhook.pk)
        if locked.active != active:
            locked.active = active
            locked.save(update_fields=["active"])
    return locked


def webhook_delete(*, actor: User, webhook: PagingWebhook) -> None:
    """Only a gateway that never carried a page: the others keep the pages' trace and are
    deactivated instead."""
    if not perms.can_manage_oncall(actor, webhook.crrc):
        raise DomainError(NO_MANAGE_ACCESS, code="forbidden")
    in_use = DomainError(
        "Cette passerelle a déjà servi à des appels d'astreinte : elle ne peut pas être "
        "supprimée (leur trace en dépend). Désactivez-la : elle ne sera plus utilisée.",
        code="in_use",
    )
    with transaction.atomic():
        locked = PagingWebhook.objects.select_for_update().filter(pk=webhook.pk).first()
        if locked is None:
            return
        if locked.pages.exists():
            raise in_use
        try:
            with transaction.atomic():
                locked.delete()
        except ProtectedError:
            raise in_use from None
