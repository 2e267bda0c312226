"""Reads of ORSAN cyber mutual aid, scoped by the acting user (rules in `perms`).

* Activations and the catalogue of pooled resources are seen by the people of the region who
  take part in ORSAN (`perms.orsan_regions`): the ARS, the CRRC, the establishments' incident
  managers and offerers. A region's crisis is nobody else's business.
* Aid requests say how badly a structure is hit: they are seen by the region's mobilisers
  (ARS, CRRC), by the requester's incident managers and by the lender's offerers (the
  requests that name or use one of their resources) — not by every establishment of the region.
* Availability of a resource = its quantity − the quantities currently mobilised or lent on it
  (every activation), computed in the same query as the resource (`with_availability`).
"""

from __future__ import annotations

import datetime

from django.core.exceptions import PermissionDenied
from django.db.models import (
    BooleanField,
    Count,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from rempart.core.roles import ROLES, Capability, OrgKind, Role
from rempart.organisations import perms as org_perms
from rempart.organisations.models import Membership, Organisation, Region, User

from . import perms
from .models import AidRequest, AidStatus, Case, CrisisActivation, PooledResource

C = Capability
# Quantities that are out of the lender's hands: reserved by a mobilisation, or lent.
ENGAGED_STATUSES = (AidStatus.MOBILISED, AidStatus.LENT)
OPEN_STATUSES = (AidStatus.REQUESTED, AidStatus.MOBILISED, AidStatus.LENT)
# Who can be named among the structures hit by a crisis.
AFFECTABLE_KINDS = (OrgKind.ESTABLISHMENT, OrgKind.LEGAL_ENTITY)

NO_ACTIVATION_ACCESS = (
    "Vous n'avez pas accès à cette activation ORSAN cyber : elle concerne une région où vous "
    "ne prenez pas part au plan (ARS, CRRC, établissements de la région)."
)
NO_RESOURCE_ACCESS = (
    "Vous n'avez pas accès à cette ressource : le catalogue ORSAN cyber d'une région est "
    "réservé à ses établissements, à son CRRC et à son ARS."
)
RESOURCE_NOT_YOURS = (
    "Seules les personnes qui proposent les ressources de cette structure (direction, RSSI, "
    "DSI, coordination du GHT, CRRC de la région) peuvent la modifier."
)
NO_AID_ACCESS = (
    "Vous n'avez pas accès à cette demande d'entraide : elle est réservée à la structure qui "
    "la fait, à la structure qui prête et à l'ARS et au CRRC de la région."
)


def _pk(pk) -> int:
    try:
        return int(pk)
    except (TypeError, ValueError) as exc:
        raise Http404("Objet introuvable.") from exc


def paris_today() -> datetime.date:
    return timezone.localdate()


def region_ids(user) -> set[int] | None:
    """Regions whose ORSAN activations and catalogue the user sees (None: all)."""
    return perms.orsan_regions(user)


def takes_part(user) -> bool:
    regions = region_ids(user)
    return regions is None or bool(regions)


def _in_regions(qs: QuerySet, user, field: str = "region_id") -> QuerySet:
    regions = region_ids(user)
    if regions is None:
        return qs
    return qs.filter(**{f"{field}__in": regions})


def _organisations(user, capability: Capability) -> QuerySet[Organisation] | None:
    """Organisations on which the user holds `capability` (None: nowhere)."""
    scope = org_perms.capability_q(user, capability)
    if scope is None:
        return None
    return Organisation.objects.filter(scope)


def mobilise_region_ids(user) -> set[int] | None:
    return org_perms.capability_regions(user, C.MOBILISE_RESOURCES, whole_region_only=True)


def activate_region_ids(user) -> set[int] | None:
    return org_perms.capability_regions(user, C.ACTIVATE_CRISIS, whole_region_only=True)


# --- Availability ---------------------------------------------------------------------------


def engaged_subquery(resource_ref: str = "pk") -> Subquery:
    """Quantity of a resource currently mobilised or lent (a correlated sum: one query)."""
    return Subquery(
        AidRequest.objects.filter(resource_id=OuterRef(resource_ref), status__in=ENGAGED_STATUSES)
        .order_by()
        .values("resource_id")
        .annotate(total=Sum("quantity"))
        .values("total")[:1],
        output_field=IntegerField(),
    )


def with_availability(qs: QuerySet[PooledResource]) -> QuerySet[PooledResource]:
    """Each resource with `engaged` and `available` (quantity − engaged)."""
    return qs.annotate(
        engaged=Coalesce(engaged_subquery(), Value(0), output_field=IntegerField())
    ).annotate(
        available=ExpressionWrapper(F("quantity") - F("engaged"), output_field=IntegerField())
    )


def engaged_quantity(resource_id: int, *, excluding: int | None = None) -> int:
    """The quantity of one resource mobilised or lent now (read inside the service's lock)."""
    qs = AidRequest.objects.filter(resource_id=resource_id, status__in=ENGAGED_STATUSES)
    if excluding is not None:
        qs = qs.exclude(pk=excluding)
    return qs.aggregate(total=Coalesce(Sum("quantity"), 0))["total"]


# --- Pooled resources -----------------------------------------------------------------------


def resources_visible_to(user) -> QuerySet[PooledResource]:
    """The catalogue of the user's regions (offered and withdrawn), with availability."""
    qs = _in_regions(PooledResource.objects.all(), user)
    return with_availability(qs.select_related("organisation", "contact", "region"))


def catalogue(
    user,
    *,
    kind: str = "",
    organisation_id: int | None = None,
    available_only: bool = False,
) -> QuerySet[PooledResource]:
    """What the region can lend now: resources still offered, filtered."""
    qs = resources_visible_to(user).filter(active=True)
    if kind:
        qs = qs.filter(kind=kind)
    if organisation_id:
        qs = qs.filter(organisation_id=organisation_id)
    if available_only:
        qs = qs.filter(available__gt=0)
    return qs.order_by("kind", "organisation__name", "label", "pk")


def catalogue_organisations(user) -> QuerySet[Organisation]:
    """Organisations that offer something in the user's regions (for the filter)."""
    offered = _in_regions(PooledResource.objects.filter(active=True), user).values(
        "organisation_id"
    )
    return Organisation.objects.filter(pk__in=offered).order_by("name", "pk")


def offering_organisations(user) -> QuerySet[Organisation]:
    """Organisations for which the user offers resources (active, in a region)."""
    organisations = _organisations(user, C.OFFER_RESOURCES)
    if organisations is None:
        return Organisation.objects.none()
    return organisations.filter(is_active=True, region__isnull=False).order_by("name", "pk")


def may_offer(user) -> bool:
    return org_perms.has_capability(user, C.OFFER_RESOURCES)


def my_resources(user) -> QuerySet[PooledResource]:
    """Every resource (offered or withdrawn) of the organisations the user offers for."""
    return (
        resources_visible_to(user)
        .filter(organisation__in=offering_organisations(user).values("pk"))
        .order_by("organisation__name", "-active", "kind", "label", "pk")
    )


def get_visible_resource(user, pk) -> PooledResource:
    pk = _pk(pk)
    resource = resources_visible_to(user).filter(pk=pk).first()
    if resource is not None:
        return resource
    if PooledResource.objects.filter(pk=pk).exists():
        raise PermissionDenied(NO_RESOURCE_ACCESS)
    raise Http404("Ressource introuvable.")


def get_editable_resource(user, pk) -> PooledResource:
    resource = get_visible_resource(user, pk)
    if not perms.can_edit_resource(user, resource):
        raise PermissionDenied(RESOURCE_NOT_YOURS)
    return resource


def contact_choices(organisation: Organisation, actor) -> list[User]:
    """Who may be named as a resource's contact: the organisation's active members, and the
    person offering it (a CRRC operator offering for an establishment, say)."""
    people = {
        m.user.pk: m.user
        for m in Membership.objects.active()
        .filter(organisation=organisation, user__is_active=True)
        .select_related("user")
    }
    if getattr(actor, "pk", None):
        people.setdefault(actor.pk, actor)
    return sorted(
        people.values(), key=lambda u: ((u.last_name or "").lower(), (u.first_name or ""), u.pk)
    )


def is_valid_contact(organisation: Organisation, person, actor) -> bool:
    if person.pk == getattr(actor, "pk", None):
        return True
    return (
        Membership.objects.active()
        .filter(organisation=organisation, user=person, user__is_active=True)
        .exists()
    )


def mobilisable_resources(activation: CrisisActivation) -> QuerySet[PooledResource]:
    """Resources of the activation's region that can still be lent (offered, quantity left)."""
    qs = PooledResource.objects.filter(region_id=activation.region_id, active=True)
    return (
        with_availability(qs.select_related("organisation"))
        .filter(available__gt=0)
        .order_by("kind", "organisation__name", "label", "pk")
    )


def requestable_resources(activation: CrisisActivation) -> QuerySet[PooledResource]:
    """Resources a victim may name in a request (offered in the activation's region)."""
    qs = PooledResource.objects.filter(region_id=activation.region_id, active=True)
    return with_availability(qs.select_related("organisation")).order_by(
        "kind", "organisation__name", "label", "pk"
    )


# --- Activations ----------------------------------------------------------------------------


def activations_visible_to(user) -> QuerySet[CrisisActivation]:
    """Activations of the user's regions, each with its open requests and loans counted."""
    qs = _in_regions(CrisisActivation.objects.all(), user)
    return (
        qs.select_related("region", "activated_by", "ended_by", "case")
        .prefetch_related(
            Prefetch("affected", queryset=Organisation.objects.order_by("name", "pk"))
        )
        .annotate(
            open_requests=Count(
                "aid_requests",
                filter=Q(aid_requests__status__in=(AidStatus.REQUESTED, AidStatus.MOBILISED)),
            ),
            loans_out=Count("aid_requests", filter=Q(aid_requests__status=AidStatus.LENT)),
        )
        .order_by(F("ended_at").desc(nulls_first=True), "-activated_at", "-pk")
    )


def get_visible_activation(user, pk) -> CrisisActivation:
    pk = _pk(pk)
    activation = activations_visible_to(user).filter(pk=pk).first()
    if activation is not None:
        return activation
    if CrisisActivation.objects.filter(pk=pk).exists():
        raise PermissionDenied(NO_ACTIVATION_ACCESS)
    raise Http404("Activation introuvable.")


def get_liftable_activation(user, pk) -> CrisisActivation:
    activation = get_visible_activation(user, pk)
    if not perms.can_activate_in(user, activation.region_id):
        raise PermissionDenied("Seule l'ARS de la région lève une activation ORSAN cyber.")
    return activation


def activation_regions(user) -> QuerySet[Region]:
    """Regions where the user may activate the plan."""
    regions = activate_region_ids(user)
    qs = Region.objects.all() if regions is None else Region.objects.filter(pk__in=regions)
    return qs.order_by("name", "pk")


def affectable_organisations(region_ids) -> QuerySet[Organisation]:
    """Structures that can be named as hit (establishments and legal entities, active)."""
    return Organisation.objects.filter(
        region_id__in=region_ids, kind__in=AFFECTABLE_KINDS, is_active=True
    ).order_by("name", "pk")


def linkable_cases(user, region_ids) -> QuerySet[Case]:
    """Incident cases the activating person sees, in the given regions."""
    from .selectors import cases_visible_to

    return cases_visible_to(user).filter(region_id__in=region_ids).order_by("-opened_at", "-pk")


def requester_choices(user, activation: CrisisActivation) -> list[Organisation]:
    """Structures named in the activation for which the user may ask for help."""
    if activation.ended_at is not None:
        return []
    return [
        organisation
        for organisation in activation.affected.all()
        if perms.can_request_aid(user, activation, organisation)
    ]


# --- Aid requests and loans -----------------------------------------------------------------


def aid_q(user) -> Q:
    """A filter on AidRequest: mobilisers of the region, the requester's incident managers,
    the lender's offerers (resource named or used). No join: never duplicates rows."""
    mobilise = mobilise_region_ids(user)
    if mobilise is None:
        return Q()
    clauses = Q(pk__in=[])
    if mobilise:
        clauses |= Q(activation__region_id__in=mobilise)
    managed = _organisations(user, C.VIEW_INCIDENTS)
    if managed is not None:
        clauses |= Q(requester_id__in=managed.values("pk"))
    offered = _organisations(user, C.OFFER_RESOURCES)
    if offered is not None:
        clauses |= Q(resource__organisation_id__in=offered.values("pk"))
    return clauses


def aid_requests_visible_to(user) -> QuerySet[AidRequest]:
    return AidRequest.objects.filter(aid_q(user)).select_related(
        "activation",
        "activation__region",
        "requester",
        "resource",
        "resource__organisation",
        "resource__contact",
        "requested_by",
        "mobilised_by",
    )


def requests_of(user, activation: CrisisActivation) -> QuerySet[AidRequest]:
    return (
        aid_requests_visible_to(user).filter(activation=activation).order_by("-requested_at", "-pk")
    )


def get_visible_aid(user, pk) -> AidRequest:
    pk = _pk(pk)
    aid = aid_requests_visible_to(user).filter(pk=pk).first()
    if aid is not None:
        return aid
    if AidRequest.objects.filter(pk=pk).exists():
        raise PermissionDenied(NO_AID_ACCESS)
    raise Http404("Demande d'entraide introuvable.")


def outstanding_loans(user, *, activation: CrisisActivation | None = None) -> QuerySet[AidRequest]:
    """Loans lent and not returned that the user sees, overdue ones flagged (due date past)."""
    qs = aid_requests_visible_to(user).filter(status=AidStatus.LENT)
    if activation is not None:
        qs = qs.filter(activation=activation)
    return qs.annotate(
        overdue=ExpressionWrapper(Q(due_back_on__lt=paris_today()), output_field=BooleanField())
    ).order_by(F("due_back_on").asc(nulls_last=True), "lent_at", "pk")


def engaged_resources(activation: CrisisActivation) -> QuerySet[PooledResource]:
    """Resources with quantities mobilised or lent in this activation (the detail page)."""
    in_activation = AidRequest.objects.filter(
        activation=activation, resource_id=OuterRef("pk"), status__in=ENGAGED_STATUSES
    )
    engaged_here = Subquery(
        in_activation.order_by()
        .values("resource_id")
        .annotate(total=Sum("quantity"))
        .values("total")[:1],
        output_field=IntegerField(),
    )
    qs = PooledResource.objects.filter(
        pk__in=AidRequest.objects.filter(activation=activation, status__in=ENGAGED_STATUSES).values(
            "resource_id"
        )
    )
    return (
        with_availability(qs.select_related("organisation", "contact"))
        .annotate(engaged_here=Coalesce(engaged_here, Value(0), output_field=IntegerField()))
        .order_by("organisation__name", "label", "pk")
    )


# --- Who hears about what (read by the notices) ---------------------------------------------


def _roles_with(capability: Capability) -> list[str]:
    return [code.value for code, spec in ROLES.items() if capability in spec.capabilities]


def _emails(memberships) -> set[str]:
    return {e for e in memberships.values_list("user__email", flat=True) if e}


def mobiliser_emails(region_id: int) -> set[str]:
    """The region's ARS managers and CRRC operators (they mobilise)."""
    return _emails(
        Membership.objects.active().filter(
            organisation__region_id=region_id,
            organisation__kind__in=(OrgKind.ARS, OrgKind.CRRC),
            role__in=_roles_with(C.MOBILISE_RESOURCES),
            user__is_active=True,
        )
    )


def crrc_operator_emails(region_id: int) -> set[str]:
    return _emails(
        Membership.objects.active().filter(
            organisation__region_id=region_id,
            organisation__kind=OrgKind.CRRC,
            role=Role.CRRC_OPERATOR,
            user__is_active=True,
        )
    )


def manager_emails(organisation_ids) -> set[str]:
    """The incident managers of organisations (members holding VIEW_INCIDENTS there)."""
    return _emails(
        Membership.objects.active().filter(
            organisation_id__in=organisation_ids,
            role__in=_roles_with(C.VIEW_INCIDENTS),
            user__is_active=True,
        )
    )


def offerer_emails(organisation_ids) -> set[str]:
    return _emails(
        Membership.objects.active().filter(
            organisation_id__in=organisation_ids,
            role__in=_roles_with(C.OFFER_RESOURCES),
            user__is_active=True,
        )
    )


def lender_emails(resource: PooledResource | None) -> set[str]:
    """The resource's contact, else the people who offer for its organisation."""
    if resource is None:
        return set()
    if resource.contact_id and resource.contact.is_active and resource.contact.email:
        return {resource.contact.email}
    return offerer_emails([resource.organisation_id])


def offering_contact_emails(region_id: int) -> set[str]:
    """Contacts of every resource offered in the region (their organisation's offerers when
    the resource names nobody)."""
    resources = PooledResource.objects.filter(region_id=region_id, active=True).select_related(
        "contact"
    )
    emails: set[str] = set()
    without_contact: set[int] = set()
    for resource in resources:
        if resource.contact_id and resource.contact.is_active and resource.contact.email:
            emails.add(resource.contact.email)
        else:
            without_contact.add(resource.organisation_id)
    if without_contact:
        emails |= offerer_emails(without_contact)
    return emails
