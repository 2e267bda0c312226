"""Writes on funding calls: one transaction each, audited through the model's save (the audit
trail records before/after values, and the reason of a sensitive change).

Once a call's application window has opened, its rules cannot change silently: its domain, dates
that are already in the past (before or after the change), the ceiling schedule, who applies and
the eligible categories may only be changed with a `reason`, which the audit entry keeps in its
additional data (`{"motif": …}`). Without a reason the change is refused, saying why.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from rempart.core.errors import DomainError
from rempart.organisations.models import FinessCategory, Region, User

from . import perms
from .ceilings import MAX_AMOUNT, Schedule, format_eur, validate_schedule
from .models import ApplicantRule, Call, Domain
from .windows import DATE_FIELDS, check_order, format_date_fr, paris_today

EDITABLE_FIELDS = (
    "domain",
    "title",
    "legal_reference",
    "national_amount_eur",
    "envelope_eur",
    "applicant_rule",
    "application_opens_on",
    "application_closes_on",
    "declaration_deadline",
    "payment_opens_on",
    "payment_closes_on",
    "ceiling_schedule",
    "eligible_categories",
)
# Rules of the game: changing them once applications have opened needs a reason.
FIELD_LABELS = {
    "domain": "le domaine",
    "application_opens_on": "la date d'ouverture des candidatures",
    "application_closes_on": "la date de clôture des candidatures",
    "declaration_deadline": "la date limite de déclaration",
    "payment_opens_on": "la date d'ouverture du guichet de paiement",
    "payment_closes_on": "la date de fermeture du guichet de paiement",
    "ceiling_schedule": "le barème des plafonds",
    "applicant_rule": "la règle de candidature",
    "eligible_categories": "les catégories éligibles",
}
REASON_MAX_LENGTH = 1000


@contextmanager
def _audit_reason(call: Call, reason: str):
    """Attach the reason to the audit entries written by the save and the m2m change
    (django-auditlog reads `get_additional_data` from the instance)."""
    if not reason:
        yield
        return
    call.get_additional_data = lambda: {"motif": reason}
    try:
        yield
    finally:
        del call.get_additional_data


def _check_text(value: str, field: str, label: str, max_length: int) -> str:
    value = (value or "").strip()
    if not value:
        raise DomainError(f"Indiquez {label}.", code="invalid", field=field)
    if len(value) > max_length:
        raise DomainError(
            f"{label[0].upper()}{label[1:]} ne doit pas dépasser {max_length} caractères.",
            code="invalid",
            field=field,
        )
    return value


def _check_amount(value: Any, field: str, label: str) -> Decimal:
    if value is None or value == "":
        raise DomainError(f"Indiquez {label}.", code="invalid", field=field)
    try:
        amount = Decimal(value)
    except (ArithmeticError, TypeError, ValueError) as exc:
        raise DomainError(
            f"{label[0].upper()}{label[1:]} n'est pas un montant.", code="invalid", field=field
        ) from exc
    if not amount.is_finite() or amount < 0:
        raise DomainError(
            f"{label[0].upper()}{label[1:]} doit être un montant positif.",
            code="invalid",
            field=field,
        )
    if amount != amount.quantize(Decimal("0.01")):
        raise DomainError(
            f"{label[0].upper()}{label[1:]} s'exprime au centime près (deux décimales au plus).",
            code="invalid",
            field=field,
        )
    if amount > MAX_AMOUNT:
        raise DomainError(
            f"{label[0].upper()}{label[1:]} dépasse le montant maximal accepté.",
            code="invalid",
            field=field,
        )
    return amount


def _validate(values: dict[str, Any]) -> None:
    """Every rule of a call, checked before anything is written (first problem raised)."""
    title = _check_text(values["title"], "title", "l'intitulé de l'appel", 255)
    reference = _check_text(
        values["legal_reference"], "legal_reference", "l'arrêté de référence", 255
    )
    values["title"], values["legal_reference"] = title, reference
    if not isinstance(values["domain"], Domain):
        raise DomainError("Choisissez le domaine de l'appel.", code="invalid", field="domain")
    national = _check_amount(
        values["national_amount_eur"], "national_amount_eur", "le montant national"
    )
    envelope = _check_amount(values["envelope_eur"], "envelope_eur", "l'enveloppe régionale")
    if envelope > national:
        raise DomainError(
            f"L'enveloppe régionale ({format_eur(envelope)}) ne peut pas dépasser le montant "
            f"national ({format_eur(national)}).",
            code="invalid",
            field="envelope_eur",
        )
    values["national_amount_eur"], values["envelope_eur"] = national, envelope
    if values["applicant_rule"] not in ApplicantRule.values:
        raise DomainError(
            "Choisissez qui candidate : le GHT pour ses membres (l'entité juridique hors GHT), "
            "ou chaque établissement.",
            code="invalid",
            field="applicant_rule",
        )
    for name in DATE_FIELDS:
        if values.get(name) is not None and not isinstance(values[name], datetime.date):
            raise DomainError("Cette date n'est pas valide.", code="invalid", field=name)
    order = check_order({name: values.get(name) for name in DATE_FIELDS})
    if order:
        field, message = order[0]
        raise DomainError(message, code="invalid_windows", field=field)
    errors = validate_schedule(values["ceiling_schedule"])
    if errors:
        raise DomainError(
            "Le barème des plafonds n'est pas valide : " + " ".join(errors),
            code="invalid_schedule",
            field="ceiling_schedule",
        )


def _categories(values: Iterable) -> list[FinessCategory]:
    items = list(values or ())
    ids = {item.pk if isinstance(item, FinessCategory) else item for item in items}
    try:
        found = list(FinessCategory.objects.filter(pk__in=ids))
    except (TypeError, ValueError) as exc:
        raise DomainError(
            "Une catégorie éligible n'existe pas.", code="invalid", field="eligible_categories"
        ) from exc
    if len(found) != len(ids):
        raise DomainError(
            "Une catégorie éligible n'existe pas dans le répertoire FINESS.",
            code="invalid",
            field="eligible_categories",
        )
    return found


def _forbid(actor: User, region_id: int) -> None:
    if not perms.can_manage_calls_in(actor, region_id):
        raise DomainError(
            "Vous ne pouvez pas gérer les appels à financement de cette région.", code="forbidden"
        )


def call_create(
    *,
    actor: User,
    region: Region,
    domain: Domain,
    title: str,
    legal_reference: str,
    national_amount_eur: Decimal,
    envelope_eur: Decimal,
    applicant_rule: str,
    application_opens_on: datetime.date,
    application_closes_on: datetime.date,
    declaration_deadline: datetime.date,
    payment_opens_on: datetime.date,
    payment_closes_on: datetime.date,
    ceiling_schedule: dict,
    eligible_categories: Iterable = (),
) -> Call:
    """Open a funding call in a region the actor manages."""
    _forbid(actor, region.pk)
    values = {
        "domain": domain,
        "title": title,
        "legal_reference": legal_reference,
        "national_amount_eur": national_amount_eur,
        "envelope_eur": envelope_eur,
        "applicant_rule": applicant_rule,
        "application_opens_on": application_opens_on,
        "application_closes_on": application_closes_on,
        "declaration_deadline": declaration_deadline,
        "payment_opens_on": payment_opens_on,
        "payment_closes_on": payment_closes_on,
        "ceiling_schedule": ceiling_schedule,
    }
    _validate(values)
    categories = _categories(eligible_categories)
    try:
        with transaction.atomic():
            call = Call(region=region, created_by=actor, **values)
            call.save()
            if categories:
                call.eligible_categories.set(categories)
    except IntegrityError as exc:  # the database's own check constraints (should not happen)
        raise DomainError(
            "L'appel n'a pas pu être enregistré : ses dates ou ses montants sont incohérents.",
            code="integrity",
        ) from exc
    return call


def same_schedule(old: Any, new: Any) -> bool:
    """Whether two schedules say the same thing, however their numbers are written."""
    if old == new:
        return True
    if validate_schedule(old) or validate_schedule(new):
        return False
    return Schedule.from_data(old) == Schedule.from_data(new)


def locked_changes(
    call: Call, changes: dict[str, Any], *, today: datetime.date | None = None
) -> list[str]:
    """The fields of `changes` that need a reason: rules of a call whose applications have
    opened (past dates, schedule, applicant rule, eligible categories)."""
    today = today or paris_today()
    if call.application_opens_on > today:
        return []
    locked = []
    for name, new in changes.items():
        if name not in FIELD_LABELS:
            continue
        if name == "eligible_categories":
            old_ids = set(call.eligible_categories.values_list("pk", flat=True))
            new_ids = {c.pk if isinstance(c, FinessCategory) else c for c in new or ()}
            if old_ids != new_ids:
                locked.append(name)
            continue
        old = getattr(call, name)
        if old == new:
            continue
        if name in DATE_FIELDS and old > today and (new is None or new > today):
            continue  # a future date moved to another future date: nothing has happened yet
        locked.append(name)
    return locked


def _check_envelope_covers_engaged(call: Call, envelope: Decimal) -> None:
    """An envelope is never lowered below what accepted files already engage (the call row is
    locked, as when a file is accepted)."""
    from .application_services import engaged_on

    Call.objects.select_for_update().filter(pk=call.pk).first()
    engaged = engaged_on(call)
    if envelope < engaged:
        raise DomainError(
            f"L'enveloppe régionale ne peut pas descendre à {format_eur(envelope)} : les dossiers "
            f"acceptés engagent déjà {format_eur(engaged)}.",
            code="envelope_below_engaged",
            field="envelope_eur",
        )


def call_update(*, actor: User, call: Call, reason: str = "", **changes: Any) -> Call:
    """Change a call. After the application window has opened, changing its rules needs a
    reason, kept in the audit entry."""
    _forbid(actor, call.region_id)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise DomainError(
            "Ces informations ne se modifient pas : " + ", ".join(sorted(unknown)) + ".",
            code="not_editable",
        )
    reason = (reason or "").strip()
    if len(reason) > REASON_MAX_LENGTH:
        raise DomainError(
            f"Le motif ne doit pas dépasser {REASON_MAX_LENGTH} caractères.",
            code="invalid",
            field="reason",
        )
    if "ceiling_schedule" in changes and same_schedule(
        call.ceiling_schedule, changes["ceiling_schedule"]
    ):
        changes.pop(
            "ceiling_schedule"
        )  # written differently (e.g. "15000" for "15000.00"), same rules
    locked = locked_changes(call, changes)
    if locked and not reason:
        raise DomainError(
            f"Les candidatures de cet appel sont ouvertes depuis le "
            f"{format_date_fr(call.application_opens_on)} : pour modifier "
            + ", ".join(FIELD_LABELS[name] for name in locked)
            + ", indiquez un motif. Il sera conservé dans le journal d'audit.",
            code="reason_required",
            field="reason",
        )
    values = {
        name: getattr(call, name) for name in EDITABLE_FIELDS if name != "eligible_categories"
    }
    values.update({k: v for k, v in changes.items() if k != "eligible_categories"})
    _validate(values)
    categories = (
        _categories(changes["eligible_categories"]) if "eligible_categories" in changes else None
    )
    try:
        with transaction.atomic(), _audit_reason(call, reason):
            if values["envelope_eur"] != call.envelope_eur:
                _check_envelope_covers_engaged(call, values["envelope_eur"])
            fields = [name for name in values if getattr(call, name) != values[name]]
            for name in fields:
                setattr(call, name, values[name])
            if fields:
                call.save(update_fields=[*fields, "updated_at"])
            if categories is not None:
                current = set(call.eligible_categories.values_list("pk", flat=True))
                if current != {c.pk for c in categories}:
                    call.eligible_categories.set(categories)
                call.__dict__.pop("_eligible_ids", None)
    except IntegrityError as exc:
        call.refresh_from_db()
        raise DomainError(
            "L'appel n'a pas pu être enregistré : ses dates ou ses montants sont incohérents.",
            code="integrity",
        ) from exc
    return call
