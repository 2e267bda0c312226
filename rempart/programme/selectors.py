"""Reads of the programme, scoped by the acting user's memberships."""

from django.db.models import QuerySet
from django.http import Http404

from rempart.organisations.models import Region

from . import perms
from .models import Call, Domain


def domains() -> QuerySet[Domain]:
    """Reference data, the same for everyone allowed to see the programme."""
    return Domain.objects.prefetch_related("requirements").order_by("code")


def get_domain(code: str) -> Domain:
    try:
        return domains().get(code=code)
    except Domain.DoesNotExist as exc:
        raise Http404("Domaine introuvable.") from exc


def calls_visible_to(user) -> QuerySet[Call]:
    if not perms.can_view_programme(user):
        return Call.objects.none()
    regions = perms.programme_regions(user)
    qs = Call.objects.select_related("domain", "region")
    return qs if regions is None else qs.filter(region_id__in=regions)


def get_visible_call(user, pk) -> Call:
    try:
        return calls_visible_to(user).get(pk=pk)
    except (Call.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("Appel introuvable.") from exc


def regions_where_user_manages_calls(user) -> QuerySet[Region]:
    from rempart.core.roles import Capability

    regions = perms.programme_regions(user, Capability.MANAGE_CALLS)
    return Region.objects.all() if regions is None else Region.objects.filter(pk__in=regions)


# --- Funding calls: list, detail, applicants -----------------------------------------------------
# (appended for the calls slice: windows, ceilings and the regional envelope)


def get_manageable_call(user, pk) -> Call:
    """A call the user may edit, or 404 (also when it exists but is outside their regions)."""
    call = get_visible_call(user, pk)
    if not perms.can_manage_call(user, call):
        raise Http404("Appel introuvable.")
    return call


def _home_organisations(user) -> list:
    """Organisations (establishment, legal entity, GHT) where the user sees the programme."""
    from rempart.core.roles import ROLES, Capability, OrgKind, Role, Scope
    from rempart.organisations.perms import active_memberships

    kinds = {OrgKind.ESTABLISHMENT, OrgKind.LEGAL_ENTITY, OrgKind.GHT}
    homes = {}
    for membership in active_memberships(user):
        spec = ROLES[Role(membership.role)]
        if Capability.VIEW_PROGRAMME not in spec.capabilities:
            continue
        if spec.scope in (Scope.REGION, Scope.NATIONAL):
            continue
        if membership.organisation.kind in kinds:
            homes[membership.organisation_id] = membership.organisation
    return list(homes.values())


def own_applicants(user, applicants: list) -> list:
    """The applicants whose file covers the user's establishment, legal entity or GHT."""
    from rempart.core.roles import OrgKind

    homes = _home_organisations(user)
    et_ids = {h.pk for h in homes if h.kind == OrgKind.ESTABLISHMENT}
    ej_ids = {h.pk for h in homes if h.kind == OrgKind.LEGAL_ENTITY}
    ght_ids = {h.pk for h in homes if h.kind == OrgKind.GHT}
    if not homes:
        return []

    def mine(applicant) -> bool:
        if applicant.organisation_id in et_ids | ej_ids | ght_ids:
            return True
        return any(
            row.pk in et_ids or row.legal_entity_id in ej_ids or row.effective_ght_id in ght_ids
            for row in applicant.establishments
        )

    return [applicant for applicant in applicants if mine(applicant)]


def call_applicants(user, call: Call) -> tuple[list, bool]:
    """(applicants the user may see, whether that is all of them). Computed for the whole
    region in a fixed number of queries, then narrowed for establishment people."""
    from .ceilings import applicants_of, apply_overrides

    applicants = apply_overrides(call, applicants_of(call))
    if perms.sees_all_applicants(user, call):
        return applicants, True
    return own_applicants(user, applicants), False


def calls_for_list(user) -> QuerySet[Call]:
    return calls_visible_to(user).prefetch_related("eligible_categories")


def applicant_hints(user, calls) -> dict[int, str]:
    """For establishment, legal entity and GHT people: one sentence per call saying through
    whom they apply (« via le GHT … », « via votre entité juridique … »), when it can be
    computed from the registry. A fixed number of queries for the whole list."""
    from rempart.core.roles import OrgKind
    from rempart.organisations.models import Organisation

    from .ceilings import applicant_key, eligible_category_ids, rows_by_ids
    from .models import ApplicantRule

    homes = _home_organisations(user)
    if not homes:
        return {}
    rows = {
        row.pk: row for row in rows_by_ids([h.pk for h in homes if h.kind == OrgKind.ESTABLISHMENT])
    }
    legal_entities = {
        o["pk"]: o
        for o in Organisation.objects.filter(
            pk__in=[h.pk for h in homes if h.kind == OrgKind.LEGAL_ENTITY]
        ).values("pk", "ght_id")
    }
    related = (
        {row.effective_ght_id for row in rows.values() if row.effective_ght_id}
        | {row.legal_entity_id for row in rows.values() if row.legal_entity_id}
        | {o["ght_id"] for o in legal_entities.values() if o["ght_id"]}
    )
    names = dict(Organisation.objects.filter(pk__in=related).values_list("pk", "name"))
    hints: dict[int, str] = {}
    for call in calls:
        eligible = eligible_category_ids(call)
        sentences = []
        for home in homes:
            if home.region_id != call.region_id:
                continue
            if home.kind == OrgKind.ESTABLISHMENT and home.pk in rows:
                row = rows[home.pk]
                subject = f"Votre établissement « {home.name} »"
                if eligible and row.category_id not in eligible:
                    sentences.append(
                        f"{subject} n'est pas dans une catégorie éligible à cet appel "
                        f"(« {row.category_label or 'catégorie non renseignée'} »)."
                    )
                    continue
                kind, pk = applicant_key(call, row)
                if kind == OrgKind.GHT:
                    sentences.append(f"{subject} candidate via le GHT « {names.get(pk, '')} ».")
                elif kind == OrgKind.LEGAL_ENTITY:
                    sentences.append(
                        f"{subject} candidate via votre entité juridique « {names.get(pk, '')} »."
                    )
                else:
                    sentences.append(f"{subject} candidate en son nom propre.")
            elif home.kind == OrgKind.LEGAL_ENTITY:
                subject = f"Votre entité juridique « {home.name} »"
                if call.applicant_rule == ApplicantRule.ESTABLISHMENT:
                    sentences.append(
                        f"Chaque établissement de votre entité juridique « {home.name} » "
                        "candidate en son nom propre."
                    )
                elif ght := legal_entities.get(home.pk, {}).get("ght_id"):
                    sentences.append(f"{subject} candidate via le GHT « {names.get(ght, '')} ».")
                else:
                    sentences.append(
                        f"{subject} candidate pour ses établissements qui ne sont membres "
                        "d'aucun GHT."
                    )
            elif home.kind == OrgKind.GHT:
                if call.applicant_rule == ApplicantRule.ESTABLISHMENT:
                    sentences.append(
                        f"Chaque établissement membre de votre GHT « {home.name} » candidate "
                        "en son nom propre."
                    )
                else:
                    sentences.append(
                        f"Votre GHT « {home.name} » dépose un dossier unique pour tous ses "
                        "établissements membres."
                    )
        if sentences:
            hints[call.pk] = " ".join(sentences)
    return hints


def eligible_category_choices():
    """FINESS categories a call may restrict itself to (those the registry imports)."""
    from rempart.organisations.models import FinessCategory

    return FinessCategory.objects.filter(imported=True).order_by("sector", "code")


# --- Applications ---------------------------------------------------------------------------------


def applications_visible_to(user, capability=None) -> QuerySet:
    """Files the user may see (or hold `capability` on), scoped in the database."""
    from rempart.core.roles import Capability

    from .models import Application

    q = perms.application_q(user, capability or Capability.VIEW_PROGRAMME)
    qs = Application.objects.select_related("call", "call__domain", "call__region", "applicant")
    return qs if q is None else qs.filter(q)


def get_visible_application(user, pk) -> "Application":  # noqa: F821
    from .models import Application

    try:
        return applications_visible_to(user).get(pk=pk)
    except (Application.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("Dossier introuvable.") from exc
