"""ORSAN cyber mutual aid: pooled resources, activations of the regional plan, aid requests
and the loans that follow them until returned.

* **Resources**: an organisation's offerers (its director, RSSI, DSI; its GHT's coordinator;
  the region's CRRC) offer what it can lend — a quantity in a unit (« 20 postes », « 10 jours
  de RSSI ») — change it, withdraw it (no longer offered; loans out stay tracked) or offer it
  again. Availability = quantity − what is mobilised or lent now (every activation); the
  quantity can never go below what is out.
* **Activation**: the region's ARS activates the plan for the structures hit, optionally linked
  to an incident case it sees. It lifts it with a bilan once nothing is mobilised or lent any
  more (the outstanding loans are listed in the refusal); requests still waiting at that
  moment are closed as refused with the reason « activation levée ».
* **Requests**: requested → mobilised (ARS/CRRC, on a resource of the region, quantity ≤
  availability) → lent (lender or ARS/CRRC: date, due-back date) → returned (date, condition);
  refused (ARS/CRRC, with a reason, while not lent); cancelled by the requester before it is
  lent.

Concurrency: every step locks the activation row first (so lifting and mobilising cannot
cross), then the request, then the resource; availability is recomputed inside the resource's
lock, so two mobilisations at the same moment cannot lend more than there is.

Every step is audited (the models are registered), written on the linked case's timeline
(kind « entraide ») and e-mailed to the other parties once the transaction commits.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mass_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.inputs import optional_text as _optional_text
from rempart.core.inputs import required_text as _text
from rempart.organisations.models import Organisation, Region, User

from . import orsan_selectors as sel
from . import perms, timeline
from .models import (
    AidRequest,
    AidStatus,
    Case,
    CrisisActivation,
    EventKind,
    PooledResource,
    ResourceKind,
)

MAX_QUANTITY = 100_000
TEXT_MAX_LENGTH = 5000
# A date typed a little ahead of the server's clock is not « in the future ».
CLOCK_TOLERANCE = datetime.timedelta(minutes=5)
LIFT_REASON = "Activation levée avant mobilisation : demande close sans suite."


# --- Input checks ----------------------------------------------------------------------------


def _quantity(value: Any, field: str = "quantity") -> int:
    if isinstance(value, bool):
        value = None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or str(value).strip() != str(number):
        raise DomainError(
            "Indiquez une quantité en nombre entier (par exemple 20).", code="invalid", field=field
        )
    if number < 1:
        raise DomainError("La quantité doit être d'au moins 1.", code="invalid", field=field)
    if number > MAX_QUANTITY:
        raise DomainError(
            f"La quantité ne peut pas dépasser {MAX_QUANTITY:,}.".replace(",", " "),
            code="invalid",
            field=field,
        )
    return number


def _kind(value: Any, field: str = "kind") -> str:
    if value not in ResourceKind.values:
        raise DomainError(
            "Choisissez le type de ressource dans la liste.", code="invalid", field=field
        )
    return str(value)


def _aware(value: Any, field: str, missing: str) -> datetime.datetime:
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        value = datetime.datetime.combine(value, datetime.time(12, 0))
    if not isinstance(value, datetime.datetime):
        raise DomainError(missing, code="invalid", field=field)
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def _not_future(value: datetime.datetime, field: str, what: str) -> None:
    if value > timezone.now() + CLOCK_TOLERANCE:
        raise DomainError(
            f"La date {what} ne peut pas être dans le futur.", code="invalid", field=field
        )


def _fr_date(value: datetime.date | datetime.datetime) -> str:
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).strftime("%d/%m/%Y à %H:%M")
    return value.strftime("%d/%m/%Y")


def _person(user) -> str:
    if user is None:
        return "—"
    return user.get_full_name() or user.email


def _amount(quantity: int, unit: str) -> str:
    return f"{quantity} {unit}".strip()


def _append_note(aid: AidRequest, actor, text: str) -> None:
    stamp = timezone.localtime(timezone.now()).strftime("%d/%m/%Y %H:%M")
    line = f"[{stamp}] {_person(actor)} — {text}"
    aid.note = f"{aid.note}\n{line}" if aid.note else line


# --- Notices (e-mails on commit) and the case's timeline --------------------------------------


STEP_LABELS = {
    "activated": "activation du plan",
    "lifted": "levée de l'activation",
    "requested": "nouvelle demande d'entraide",
    "mobilised": "demande mobilisée",
    "refused": "demande refusée",
    "lent": "prêt effectué",
    "returned": "ressource restituée",
    "cancelled": "demande annulée",
}


def _notify(step: str, object_id: int, actor) -> None:
    actor_id = getattr(actor, "pk", None)
    transaction.on_commit(lambda: orsan_notice.delay(step, object_id, actor_id))


def _on_case(activation: CrisisActivation, actor, text: str) -> None:
    if activation.case_id:
        timeline.add_event(activation.case, EventKind.MUTUAL_AID, actor, text)


def _aid_recipients(step: str, aid: AidRequest) -> set[str]:
    region_id = aid.activation.region_id
    requester = sel.manager_emails([aid.requester_id])
    mobilisers = sel.mobiliser_emails(region_id)
    lender = sel.lender_emails(aid.resource)
    if step == "requested":
        return mobilisers | lender
    if step in ("mobilised", "lent"):
        return requester | mobilisers | lender
    if step == "refused":
        return requester | mobilisers
    if step in ("returned", "cancelled"):
        return requester | mobilisers | lender
    return set()


def _activation_recipients(activation: CrisisActivation) -> set[str]:
    affected = list(activation.affected.values_list("pk", flat=True))
    return (
        sel.crrc_operator_emails(activation.region_id)
        | sel.mobiliser_emails(activation.region_id)
        | sel.manager_emails(affected)
        | sel.offering_contact_emails(activation.region_id)
    )


@shared_task(name="incidents.orsan_notice")
def orsan_notice(step: str, object_id: int, actor_id: int | None = None) -> int:
    """E-mail one step of ORSAN cyber to the other parties (never to its author). Returns how
    many were sent. Reads the rows again: a retried task sends the same facts."""
    site = settings.SITE_URL.rstrip("/")
    if step in ("activated", "lifted"):
        activation = (
            CrisisActivation.objects.select_related("region", "activated_by", "ended_by")
            .filter(pk=object_id)
            .first()
        )
        if activation is None:
            return 0
        emails = _activation_recipients(activation)
        link = site + reverse("incidents:orsan_detail", args=[activation.pk])
        context = {
            "step": step,
            "activation": activation,
            "affected": list(activation.affected.order_by("name")),
            "link": link,
            "catalogue_link": site + reverse("incidents:orsan_resources"),
        }
        body = render_to_string("incidents/email/orsan_activation.txt", context)
        title = activation.title
    elif step in STEP_LABELS:
        aid = (
            AidRequest.objects.select_related(
                "activation",
                "requester",
                "resource",
                "resource__organisation",
                "resource__contact",
                "requested_by",
                "mobilised_by",
            )
            .filter(pk=object_id)
            .first()
        )
        if aid is None:
            return 0
        emails = _aid_recipients(step, aid)
        context = {
            "step": step,
            "step_label": STEP_LABELS[step],
            "aid": aid,
            "activation": aid.activation,
            "link": site + reverse("incidents:orsan_aid", args=[aid.pk]),
        }
        body = render_to_string("incidents/email/orsan_aid.txt", context)
        title = aid.activation.title
    else:
        return 0
    if actor_id:
        actor = User.objects.filter(pk=actor_id).only("email").first()
        if actor is not None:
            emails.discard(actor.email)
    if not emails:
        return 0
    subject = f"[Rempart] ORSAN cyber — {title} — {STEP_LABELS[step]}"
    messages = [(subject, body, settings.DEFAULT_FROM_EMAIL, [email]) for email in sorted(emails)]
    return send_mass_mail(messages, fail_silently=False)


# --- Pooled resources ------------------------------------------------------------------------


def _check_contact(organisation: Organisation, contact, actor) -> None:
    if contact is not None and not sel.is_valid_contact(organisation, contact, actor):
        raise DomainError(
            f"La personne à contacter doit être membre de {organisation.name} (ou vous-même).",
            code="invalid",
            field="contact",
        )


def resource_create(
    *,
    actor: User,
    organisation: Organisation,
    kind: str,
    label: str,
    quantity: Any,
    unit: str,
    description: str = "",
    contact: User | None = None,
) -> PooledResource:
    """Offer a resource for the pool of the organisation's region."""
    if not perms.can_offer_for(actor, organisation):
        raise DomainError(
            f"Vous ne pouvez pas proposer de ressources au nom de {organisation.name}.",
            code="forbidden",
        )
    if organisation.region_id is None or not organisation.is_active:
        raise DomainError(
            "Seule une structure active rattachée à une région peut proposer des ressources.",
            code="invalid",
            field="organisation",
        )
    values = {
        "kind": _kind(kind),
        "label": _text(
            label,
            "label",
            "Indiquez un intitulé (par exemple « Postes portables »).",
            "l'intitulé",
            255,
        ),
        "quantity": _quantity(quantity),
        "unit": _text(
            unit, "unit", "Indiquez l'unité (par exemple « postes » ou « jours »).", "l'unité", 50
        ),
        "description": _optional_text(
            description, "description", "la description", TEXT_MAX_LENGTH
        ),
    }
    _check_contact(organisation, contact, actor)
    with transaction.atomic():
        resource = PooledResource.objects.create(
            organisation=organisation,
            region_id=organisation.region_id,
            contact=contact or actor,
            created_at=timezone.now(),
            **values,
        )
    return resource


def resource_update(
    *,
    actor: User,
    resource: PooledResource,
    kind: str,
    label: str,
    quantity: Any,
    unit: str,
    description: str = "",
    contact: User | None = None,
) -> PooledResource:
    """Change a resource. Its quantity never goes below what is mobilised or lent now."""
    if not perms.can_edit_resource(actor, resource):
        raise DomainError(sel.RESOURCE_NOT_YOURS, code="forbidden")
    values = {
        "kind": _kind(kind),
        "label": _text(label, "label", "Indiquez un intitulé.", "l'intitulé", 255),
        "quantity": _quantity(quantity),
        "unit": _text(
            unit, "unit", "Indiquez l'unité (par exemple « postes » ou « jours »).", "l'unité", 50
        ),
        "description": _optional_text(
            description, "description", "la description", TEXT_MAX_LENGTH
        ),
    }
    _check_contact(resource.organisation, contact, actor)
    with transaction.atomic():
        locked = PooledResource.objects.select_for_update().get(pk=resource.pk)
        engaged = sel.engaged_quantity(locked.pk)
        if values["quantity"] < engaged:
            raise DomainError(
                f"{_amount(engaged, locked.unit)} de cette ressource sont mobilisés ou prêtés en "
                f"ce moment : la quantité ne peut pas descendre sous {engaged}. Attendez leur "
                "restitution pour la réduire davantage.",
                code="below_engaged",
                field="quantity",
            )
        for name, value in values.items():
            setattr(locked, name, value)
        if contact is not None:
            locked.contact = contact
        locked.save()
    return locked


def resource_set_active(*, actor: User, resource: PooledResource, active: bool) -> PooledResource:
    """Withdraw a resource from the pool (nothing new is mobilised on it; loans out stay
    tracked until returned) or offer it again."""
    if not perms.can_edit_resource(actor, resource):
        raise DomainError(sel.RESOURCE_NOT_YOURS, code="forbidden")
    with transaction.atomic():
        locked = PooledResource.objects.select_for_update().get(pk=resource.pk)
        if locked.active != active:
            locked.active = active
            locked.save(update_fields=["active"])
    return locked


# --- Activations -----------------------------------------------------------------------------


def activation_create(
    *,
    actor: User,
    region: Region,
    title: str,
    reason: str,
    affected: Iterable[Organisation] = (),
    case: Case | None = None,
) -> CrisisActivation:
    """The ARS activates ORSAN cyber for structures of its region (the linked case's victim is
    always among them)."""
    if not perms.can_activate_in(actor, region.pk):
        raise DomainError("Seule l'ARS de la région active le plan ORSAN cyber.", code="forbidden")
    title = _text(title, "title", "Donnez un intitulé à l'activation.", "l'intitulé", 255)
    reason = _text(
        reason, "reason", "Indiquez le motif de l'activation.", "le motif", TEXT_MAX_LENGTH
    )
    organisations = {org.pk: org for org in affected}
    if case is not None:
        if (
            case.region_id != region.pk
            or not sel.linkable_cases(actor, [region.pk]).filter(pk=case.pk).exists()
        ):
            raise DomainError(
                "Ce dossier d'incident n'est pas un dossier de la région que vous voyez.",
                code="invalid",
                field="case",
            )
        organisations.setdefault(case.organisation_id, case.organisation)
    if not organisations:
        raise DomainError(
            "Choisissez au moins une structure touchée.", code="invalid", field="affected"
        )
    allowed = set(
        sel.affectable_organisations([region.pk])
        .filter(pk__in=organisations)
        .values_list("pk", flat=True)
    )
    if case is not None:
        allowed.add(case.organisation_id)
    if set(organisations) - allowed:
        # (No names: an id typed into the API must not reveal a structure out of reach.)
        raise DomainError(
            "Les structures touchées doivent être des établissements actifs de la région de "
            "l'activation.",
            code="invalid",
            field="affected",
        )
    with transaction.atomic():
        activation = CrisisActivation.objects.create(
            region=region,
            title=title,
            reason=reason,
            case=case,
            activated_by=actor,
            activated_at=timezone.now(),
        )
        activation.affected.set(organisations.values())
        names = ", ".join(sorted(org.name for org in organisations.values()))
        _on_case(
            activation,
            actor,
            f"Activation du plan ORSAN cyber « {title} » par l'ARS. Structures touchées : "
            f"{names}. Motif : {reason}",
        )
        _notify("activated", activation.pk, actor)
    return activation


def outstanding_of(activation: CrisisActivation) -> list[AidRequest]:
    """Requests of the activation still mobilised or lent (they keep it from being lifted)."""
    return list(
        AidRequest.objects.filter(activation=activation, status__in=sel.ENGAGED_STATUSES)
        .select_related("requester", "resource", "resource__organisation")
        .order_by("status", "pk")
    )


def activation_lift(*, actor: User, activation: CrisisActivation, note: str) -> CrisisActivation:
    """Lift the plan with a bilan. Refused while anything is mobilised or lent (listed);
    requests still waiting are closed as refused (reason: the activation was lifted)."""
    if not perms.can_activate_in(actor, activation.region_id):
        raise DomainError(
            "Seule l'ARS de la région lève une activation ORSAN cyber.", code="forbidden"
        )
    note = _text(
        note,
        "note",
        "Indiquez le bilan de l'activation avant de la lever.",
        "le bilan",
        TEXT_MAX_LENGTH,
    )
    with transaction.atomic():
        locked = CrisisActivation.objects.select_for_update().get(pk=activation.pk)
        if locked.ended_at is not None:
            raise DomainError(
                f"Cette activation a déjà été levée le {_fr_date(locked.ended_at)}.",
                code="invalid_state",
            )
        outstanding = outstanding_of(locked)
        if outstanding:
            listed = "; ".join(
                f"n° {aid.pk} — {aid.requester.name} : {_amount(aid.quantity, aid.resource.unit)} "
                f"de {aid.resource.organisation.name} ({aid.get_status_display().lower()})"
                for aid in outstanding
            )
            raise DomainError(
                "L'activation ne peut pas être levée tant que des ressources sont mobilisées ou "
                "prêtées : enregistrez leur restitution, ou refusez les mobilisations qui n'ont "
                f"pas eu lieu. En cours : {listed}.",
                code="loans_outstanding",
            )
        now = timezone.now()
        waiting = list(
            AidRequest.objects.select_for_update().filter(
                activation=locked, status=AidStatus.REQUESTED
            )
        )
        for aid in waiting:
            aid.status = AidStatus.REFUSED
            _append_note(aid, actor, LIFT_REASON)
            aid.save(update_fields=["status", "note"])
            _notify("refused", aid.pk, actor)
        locked.ended_at = now
        locked.ended_by = actor
        locked.end_note = note
        locked.save(update_fields=["ended_at", "ended_by", "end_note"])
        closed = f" {len(waiting)} demande(s) en attente close(s) sans suite." if waiting else ""
        _on_case(
            locked, actor, f"Levée du plan ORSAN cyber « {locked.title} ».{closed} Bilan : {note}"
        )
        _notify("lifted", locked.pk, actor)
    return locked


# --- Aid requests ----------------------------------------------------------------------------


def _lock(aid: AidRequest) -> tuple[CrisisActivation, AidRequest]:
    """Lock the activation, then the request (the order every step follows)."""
    activation = CrisisActivation.objects.select_for_update().get(pk=aid.activation_id)
    locked = (
        AidRequest.objects.select_for_update(of=("self",))
        .select_related("requester", "resource", "resource__organisation")
        .get(pk=aid.pk)
    )
    locked.activation = activation
    return activation, locked


def _require_status(aid: AidRequest, allowed: Iterable[str], verb: str) -> None:
    if aid.status not in allowed:
        raise DomainError(
            f"Cette demande est « {aid.get_status_display().lower()} » : on ne peut plus {verb}.",
            code="invalid_state",
        )


def _require_running(activation: CrisisActivation) -> None:
    if activation.ended_at is not None:
        raise DomainError(
            f"L'activation « {activation.title} » a été levée le {_fr_date(activation.ended_at)}.",
            code="activation_ended",
        )


def _label(aid: AidRequest) -> str:
    return f"Demande n° {aid.pk} de {aid.requester.name}"


def _check_lendable(resource: PooledResource, activation: CrisisActivation, requester) -> None:
    if resource.region_id != activation.region_id:
        raise DomainError(
            "Cette ressource n'est pas proposée dans la région de l'activation.",
            code="invalid",
            field="resource",
        )
    if not resource.active:
        raise DomainError(
            f"« {resource.label} » n'est plus proposée par {resource.organisation.name}.",
            code="invalid",
            field="resource",
        )
    if resource.organisation_id == requester.pk:
        raise DomainError(
            "Cette ressource appartient à la structure qui demande : une structure ne se prête "
            "pas à elle-même.",
            code="invalid",
            field="resource",
        )


def aid_request_create(
    *,
    actor: User,
    activation: CrisisActivation,
    requester: Organisation,
    kind: str,
    need: str,
    quantity: Any,
    resource: PooledResource | None = None,
) -> AidRequest:
    """A structure named in a running activation asks for help (optionally a resource of the
    catalogue; mobilisation decides what is lent)."""
    if not perms.can_request_aid(actor, activation, requester):
        if activation.ended_at is not None:
            _require_running(activation)
        raise DomainError(
            f"Vous ne pouvez pas demander d'entraide au nom de {requester.name} dans cette "
            "activation : seules les structures touchées qu'elle nomme demandent, par leurs "
            "responsables (direction, RSSI, DSI).",
            code="forbidden",
        )
    if resource is not None and not kind:
        kind = resource.kind
    values = {
        "kind": _kind(kind),
        "need": _text(
            need,
            "need",
            "Décrivez le besoin (ce qu'il faut, pour quoi faire).",
            "le besoin",
            TEXT_MAX_LENGTH,
        ),
        "quantity": _quantity(quantity),
    }
    with transaction.atomic():
        locked = CrisisActivation.objects.select_for_update().get(pk=activation.pk)
        _require_running(locked)
        if resource is not None:
            _check_lendable(resource, locked, requester)
        aid = AidRequest.objects.create(
            activation=locked,
            requester=requester,
            resource=resource,
            requested_by=actor,
            requested_at=timezone.now(),
            **values,
        )
        wanted = (
            f" (ressource souhaitée : « {resource.label} » de {resource.organisation.name})"
            if resource is not None
            else ""
        )
        _on_case(
            locked,
            actor,
            f"Demande d'entraide n° {aid.pk} de {requester.name} : {aid.quantity} — "
            f"{aid.get_kind_display().lower()}{wanted}. Besoin : {aid.need}",
        )
        _notify("requested", aid.pk, actor)
    return aid


def aid_mobilise(
    *,
    actor: User,
    aid: AidRequest,
    resource: PooledResource,
    quantity: Any = None,
) -> AidRequest:
    """The ARS or CRRC allots a request to a resource of a lending organisation. The quantity
    (the request's by default, never more) must be available: checked under the resource's
    lock."""
    with transaction.atomic():
        activation, locked = _lock(aid)
        if not perms.can_mobilise_in(actor, activation.region_id):
            raise DomainError(
                "Seuls l'ARS et le CRRC de la région mobilisent les ressources.", code="forbidden"
            )
        _require_running(activation)
        _require_status(locked, [AidStatus.REQUESTED], "la mobiliser")
        wanted = locked.quantity if quantity in (None, "") else _quantity(quantity)
        if wanted > locked.quantity:
            raise DomainError(
                f"La demande porte sur {locked.quantity} : on ne mobilise pas davantage.",
                code="invalid",
                field="quantity",
            )
        target = (
            PooledResource.objects.select_for_update(of=("self",))
            .select_related("organisation")
            .filter(pk=resource.pk)
            .first()
        )
        if target is None:
            raise DomainError("Cette ressource n'existe plus.", code="invalid", field="resource")
        _check_lendable(target, activation, locked.requester)
        engaged = sel.engaged_quantity(target.pk)
        available = target.quantity - engaged
        if wanted > available:
            raise DomainError(
                f"Il ne reste que {_amount(max(available, 0), target.unit)} disponibles sur "
                f"« {target.label} » de {target.organisation.name} ({target.quantity} proposés, "
                f"{engaged} déjà mobilisés ou prêtés) : mobilisez au plus {max(available, 0)}, "
                "ou une autre ressource.",
                code="over_lending",
                field="quantity",
            )
        asked = locked.quantity
        locked.resource = target
        locked.quantity = wanted
        locked.status = AidStatus.MOBILISED
        locked.mobilised_by = actor
        locked.mobilised_at = timezone.now()
        partly = f" (demandé : {asked})" if wanted != asked else ""
        _append_note(
            locked,
            actor,
            f"Mobilisation : {_amount(wanted, target.unit)} de « {target.label} » "
            f"({target.organisation.name}){partly}.",
        )
        locked.save()
        _on_case(
            activation,
            actor,
            f"{_label(locked)} mobilisée : {_amount(wanted, target.unit)} de « {target.label} » "
            f"prêtés par {target.organisation.name}{partly}.",
        )
        _notify("mobilised", locked.pk, actor)
    return locked


def aid_refuse(*, actor: User, aid: AidRequest, reason: str) -> AidRequest:
    """The ARS or CRRC refuses a request (or a mobilisation that falls through), with the reason
    given to the requester; what was reserved is free again."""
    _require_mobiliser(actor, aid)
    reason = _text(
        reason,
        "reason",
        "Indiquez le motif du refus : il est transmis à la structure qui demande.",
        "le motif",
        TEXT_MAX_LENGTH,
    )
    with transaction.atomic():
        activation, locked = _lock(aid)
        _require_mobiliser(actor, locked)
        _require_status(locked, [AidStatus.REQUESTED, AidStatus.MOBILISED], "la refuser")
        locked.status = AidStatus.REFUSED
        _append_note(locked, actor, f"Refus : {reason}")
        locked.save(update_fields=["status", "note"])
        _on_case(activation, actor, f"{_label(locked)} refusée. Motif : {reason}")
        _notify("refused", locked.pk, actor)
    return locked


def _require_mobiliser(actor, aid: AidRequest) -> None:
    if not perms.can_mobilise_in(actor, aid.activation.region_id):
        raise DomainError(
            "Seuls l'ARS et le CRRC de la région refusent une demande d'entraide.",
            code="forbidden",
        )


def can_record_loan(user, aid: AidRequest) -> bool:
    """Lent and returned are recorded by the lender or by the region's ARS/CRRC."""
    if perms.can_mobilise_in(user, aid.activation.region_id):
        return True
    return aid.resource is not None and perms.can_offer_for(user, aid.resource.organisation)


LEND_RIGHTS = "Le prêt est enregistré par la structure qui prête, l'ARS ou le CRRC."
RETURN_RIGHTS = "La restitution est enregistrée par la structure qui prête, l'ARS ou le CRRC."


def _may_record_loan_now(actor, aid: AidRequest) -> bool:
    """Checked before the input (a clear « forbidden » first) on the row as it is now; checked
    again under the lock."""
    current = AidRequest.objects.select_related("resource__organisation", "activation").get(
        pk=aid.pk
    )
    return can_record_loan(actor, current)


def aid_lend(
    *,
    actor: User,
    aid: AidRequest,
    lent_at: Any,
    due_back_on: Any,
) -> AidRequest:
    """Record that the mobilised resource was handed over, and when it is due back."""
    if not _may_record_loan_now(actor, aid):
        raise DomainError(LEND_RIGHTS, code="forbidden")
    lent_at = _aware(
        lent_at if lent_at not in (None, "") else timezone.now(),
        "lent_at",
        "Indiquez la date du prêt.",
    )
    _not_future(lent_at, "lent_at", "du prêt")
    if not isinstance(due_back_on, datetime.date) or isinstance(due_back_on, datetime.datetime):
        raise DomainError(
            "Indiquez la date de retour prévue (jj/mm/aaaa).", code="invalid", field="due_back_on"
        )
    if due_back_on < timezone.localtime(lent_at).date():
        raise DomainError(
            "La date de retour prévue ne peut pas précéder la date du prêt.",
            code="invalid",
            field="due_back_on",
        )
    with transaction.atomic():
        activation, locked = _lock(aid)
        if not can_record_loan(actor, locked):
            raise DomainError(LEND_RIGHTS, code="forbidden")
        _require_status(locked, [AidStatus.MOBILISED], "enregistrer le prêt")
        if lent_at < activation.activated_at - datetime.timedelta(days=1):
            raise DomainError(
                "La date du prêt précède l'activation du plan "
                f"({_fr_date(activation.activated_at)}) : vérifiez-la.",
                code="invalid",
                field="lent_at",
            )
        locked.status = AidStatus.LENT
        locked.lent_at = lent_at
        locked.due_back_on = due_back_on
        _append_note(
            locked,
            actor,
            f"Prêt effectué le {_fr_date(lent_at)}, retour prévu le {_fr_date(due_back_on)}.",
        )
        locked.save(update_fields=["status", "lent_at", "due_back_on", "note"])
        _on_case(
            activation,
            actor,
            f"{_label(locked)} : {_amount(locked.quantity, locked.resource.unit)} de "
            f"« {locked.resource.label} » prêtés par {locked.resource.organisation.name}, retour "
            f"prévu le {_fr_date(due_back_on)}.",
        )
        _notify("lent", locked.pk, actor)
    return locked


def aid_return(*, actor: User, aid: AidRequest, returned_at: Any, condition: str) -> AidRequest:
    """Record the return of a loan with the condition it came back in."""
    if not _may_record_loan_now(actor, aid):
        raise DomainError(RETURN_RIGHTS, code="forbidden")
    returned_at = _aware(
        returned_at if returned_at not in (None, "") else timezone.now(),
        "returned_at",
        "Indiquez la date de restitution.",
    )
    _not_future(returned_at, "returned_at", "de restitution")
    condition = _text(
        condition,
        "condition",
        "Décrivez l'état de la ressource au retour (complète, dégâts, pièces manquantes…).",
        "l'état au retour",
        TEXT_MAX_LENGTH,
    )
    with transaction.atomic():
        activation, locked = _lock(aid)
        if not can_record_loan(actor, locked):
            raise DomainError(RETURN_RIGHTS, code="forbidden")
        _require_status(locked, [AidStatus.LENT], "enregistrer la restitution")
        if locked.lent_at and returned_at < locked.lent_at:
            raise DomainError(
                f"La restitution ne peut pas précéder le prêt ({_fr_date(locked.lent_at)}).",
                code="invalid",
                field="returned_at",
            )
        locked.status = AidStatus.RETURNED
        locked.returned_at = returned_at
        _append_note(
            locked, actor, f"Restitution le {_fr_date(returned_at)}. État au retour : {condition}"
        )
        locked.save(update_fields=["status", "returned_at", "note"])
        _on_case(
            activation,
            actor,
            f"{_label(locked)} : « {locked.resource.label} » restitué à "
            f"{locked.resource.organisation.name}. État au retour : {condition}",
        )
        _notify("returned", locked.pk, actor)
    return locked


def aid_cancel(*, actor: User, aid: AidRequest, reason: str = "") -> AidRequest:
    """The requester withdraws its request before anything is lent."""
    if not perms.can_request_aid(actor, aid.activation, aid.requester):
        raise DomainError(
            "Seuls les responsables de la structure qui a fait la demande peuvent l'annuler.",
            code="forbidden",
        )
    reason = _optional_text(reason, "reason", "le motif", TEXT_MAX_LENGTH)
    with transaction.atomic():
        activation, locked = _lock(aid)
        _require_status(locked, [AidStatus.REQUESTED, AidStatus.MOBILISED], "l'annuler")
        locked.status = AidStatus.CANCELLED
        _append_note(locked, actor, f"Annulation{f' : {reason}' if reason else '.'}")
        locked.save(update_fields=["status", "note"])
        _on_case(
            activation,
            actor,
            f"{_label(locked)} annulée par la structure.{f' Motif : {reason}' if reason else ''}",
        )
        _notify("cancelled", locked.pk, actor)
    return locked
