"""Reads, always scoped by the acting user's memberships (deny by default)."""

from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404

from rempart.core.roles import Capability, OrgKind

from . import perms
from .models import Departement, Invitation, Membership, Organisation, Region, User


def visible_organisations(user) -> QuerySet[Organisation]:
    """Every organisation the user may open: their scope, plus the ones they belong to."""
    scope = perms.capability_q(user, Capability.VIEW_DIRECTORY)
    if scope is not None and not scope:  # national scope
        return Organisation.objects.all()
    memberships = perms.active_memberships(user)
    # Own organisations outside the directory scope (e.g. a learner's establishment) are added
    # explicitly; when the scope already covers them, the extra OR would only stop the
    # database from using the (region, name) index.
    extra_ids = [
        m.organisation_id
        for m in memberships
        if not any(
            perms.covers(other, m.organisation, Capability.VIEW_DIRECTORY) for other in memberships
        )
    ]
    if scope is None and not extra_ids:
        return Organisation.objects.none()
    if scope is None:
        return Organisation.objects.filter(pk__in=extra_ids)
    return Organisation.objects.filter(scope | Q(pk__in=extra_ids) if extra_ids else scope)


def get_visible_organisation(user, pk) -> Organisation:
    """The organisation, or 404 whether it does not exist or is outside the user's scope."""
    try:
        return (
            visible_organisations(user)
            .select_related(
                "region", "departement", "category", "ght", "legal_entity", "support_establishment"
            )
            .get(pk=pk)
        )
    except (Organisation.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("Organisation introuvable.") from exc


@dataclass(frozen=True)
class DirectoryFilters:
    q: str = ""
    kind: str = ""
    sector: str = ""
    legal_status: str = ""
    category: str = ""
    ght: int | None = None
    departement: str = ""
    without_members: bool = False


def directory(user, filters: DirectoryFilters) -> QuerySet[Organisation]:
    qs = visible_organisations(user).select_related("category", "ght", "departement")
    if filters.q:
        term = filters.q.strip()
        qs = qs.filter(
            Q(name__icontains=term)
            | Q(finess__startswith=term.upper())
            | Q(commune__icontains=term)
        )
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.sector:
        qs = qs.filter(sector=filters.sector)
    if filters.legal_status:
        qs = qs.filter(legal_status=filters.legal_status)
    if filters.category:
        qs = qs.filter(category__code=filters.category)
    if filters.ght:
        qs = qs.filter(ght_id=filters.ght)
    if filters.departement:
        qs = qs.filter(departement__code=filters.departement)
    if filters.without_members:
        qs = qs.exclude(Exists(Membership.objects.active().filter(organisation=OuterRef("pk"))))
    return qs.order_by("name", "pk")


def directory_ght_choices(user) -> QuerySet[Organisation]:
    return visible_organisations(user).filter(kind=OrgKind.GHT).order_by("name").only("pk", "name")


def directory_departement_choices(user) -> QuerySet[Departement]:
    scope = perms.capability_q(user, Capability.VIEW_DIRECTORY)
    if scope is not None and not scope:
        return Departement.objects.all()
    region_ids = {
        m.organisation.region_id for m in perms.active_memberships(user) if m.organisation.region_id
    }
    return Departement.objects.filter(region_id__in=region_ids)


def people_of(user, organisation: Organisation) -> QuerySet[Membership]:
    if not perms.can_view_people(user, organisation):
        return Membership.objects.none()
    return (
        Membership.objects.active()
        .filter(organisation=organisation)
        .select_related("user")
        .order_by("user__last_name", "user__first_name", "role")
    )


def pending_invitations(user, organisation: Organisation) -> QuerySet[Invitation]:
    if not perms.can_manage_people(user, organisation):
        return Invitation.objects.none()
    return organisation.invitations.filter(
        accepted_at__isnull=True, revoked_at__isnull=True
    ).select_related("invited_by")


def get_manageable_membership(user, pk) -> Membership:
    try:
        membership = Membership.objects.select_related("organisation", "user").get(pk=pk)
    except (Membership.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("Rattachement introuvable.") from exc
    if not perms.can_manage_people(user, membership.organisation):
        raise Http404("Rattachement introuvable.")
    return membership


def get_manageable_invitation(user, pk) -> Invitation:
    try:
        invitation = Invitation.objects.select_related("organisation").get(pk=pk)
    except (Invitation.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("Invitation introuvable.") from exc
    if not perms.can_manage_people(user, invitation.organisation):
        raise Http404("Invitation introuvable.")
    return invitation


def account_exists(email: str) -> bool:
    """Whether someone already has an account with this address (used by the invitation link)."""
    return User.objects.filter(email__iexact=email).exists()


def creatable_regions(user) -> QuerySet[Region]:
    regions = perms.creatable_regions(user)
    return Region.objects.all() if regions is None else Region.objects.filter(pk__in=regions)


def departements_of(regions: QuerySet[Region]) -> QuerySet[Departement]:
    return Departement.objects.filter(region__in=regions).order_by("code")


def get_visible_establishment_by_finess(user, finess: str) -> Organisation:
    from rempart.core.errors import DomainError

    establishment = visible_organisations(user).filter(finess=finess).first()
    if establishment is None:
        raise DomainError(
            f"Aucun établissement de votre périmètre ne porte le numéro FINESS {finess}.",
            code="not_found",
            field="finess",
        )
    return establishment


def organisations_where(user, capability: Capability) -> QuerySet[Organisation] | None:
    """Organisations on which the user holds `capability` (None: nowhere)."""
    scope = perms.capability_q(user, capability)
    if scope is None:
        return None
    return visible_organisations(user).filter(scope)


def memberships_visible_to(user) -> QuerySet[Membership]:
    """Active memberships of every organisation whose people the user may see."""
    organisations = organisations_where(user, Capability.VIEW_PEOPLE)
    if organisations is None:
        return Membership.objects.none()
    return (
        Membership.objects.active()
        .filter(organisation__in=organisations.values("pk"))
        .select_related("user", "organisation")
        .order_by("organisation__name", "user__last_name", "user__first_name", "pk")
    )


def invitations_manageable_by(user) -> QuerySet[Invitation]:
    """Pending invitations of every organisation whose people the user manages."""
    organisations = organisations_where(user, Capability.MANAGE_PEOPLE)
    if organisations is None:
        return Invitation.objects.none()
    return (
        Invitation.objects.filter(
            organisation__in=organisations.values("pk"),
            accepted_at__isnull=True,
            revoked_at__isnull=True,
        )
        .select_related("organisation", "invited_by")
        .order_by("-created_at", "-pk")
    )
