"""Reads for the file pages (preparation and review), scoped by the acting user: what the
generic `selectors` module does not cover (applicants one may apply for, the files of a call's
applicants, the organisation behind an applicant of a call, the parts of one file)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from rempart.core.roles import Capability, OrgKind
from rempart.organisations import perms as org_perms
from rempart.organisations.models import Organisation

from . import perms, selectors
from .ceilings import applicants_of
from .models import Application, ApplicationDocument, Call

APPLICANT_KINDS = (OrgKind.GHT, OrgKind.LEGAL_ENTITY, OrgKind.ESTABLISHMENT)


def may_apply_somewhere(user) -> bool:
    """Whether the user holds APPLY_FUNDING in at least one organisation (no query)."""
    return org_perms.has_capability(user, Capability.APPLY_FUNDING)


def annotate_applicants(user, call: Call, applicants: list) -> list:
    """Add to each applicant of the call page `file` (the visible file of that applicant for
    the call, or None) and `can_apply` (the user may open its file). Two queries at most,
    whatever the number of applicants: the files, and the organisations when the user may
    apply for anyone."""
    ids = [a.organisation_id for a in applicants]
    files = {}
    if ids:
        files = {
            application.applicant_id: application
            for application in selectors.applications_visible_to(user).filter(
                call=call, applicant_id__in=ids
            )
        }
    organisations = {}
    if ids and may_apply_somewhere(user):
        organisations = Organisation.objects.in_bulk(ids)
    for applicant in applicants:
        applicant.file = files.get(applicant.organisation_id)
        applicant.organisation = organisations.get(applicant.organisation_id)
        applicant.can_apply = applicant.organisation is not None and perms.can_apply_for(
            user, applicant.organisation
        )
    return applicants


def applicable_organisations(user, call: Call) -> list[tuple]:
    """(applicant of the call page, its Organisation, its visible file or None) for every
    applicant the user may open a file for, sorted like the call page."""
    applicants, _ = selectors.call_applicants(user, call)
    annotate_applicants(user, call, applicants)
    return [(a, a.organisation, a.file) for a in applicants if a.can_apply]


def get_call_applicant(call: Call, org_pk) -> tuple[Organisation, object]:
    """The organisation that applies to the call with that id, with its line of the call
    (ceiling before any ARS figure), or 404 (not an applicant of the call's region)."""
    try:
        org_pk = int(org_pk)
    except (TypeError, ValueError) as exc:
        raise Http404("Candidat introuvable.") from exc
    applicant = next((a for a in applicants_of(call) if a.organisation_id == org_pk), None)
    organisation = Organisation.objects.filter(
        pk=org_pk, region_id=call.region_id, kind__in=APPLICANT_KINDS
    ).first()
    if applicant is None or organisation is None:
        raise Http404("Candidat introuvable.")
    return organisation, applicant


def file_of(call: Call, organisation: Organisation) -> Application | None:
    return Application.objects.filter(call=call, applicant=organisation).first()


def get_application_document(application: Application, document_pk) -> ApplicationDocument:
    """A document of a file the caller already checked the user may see, or 404."""
    try:
        return application.documents.get(pk=document_pk)
    except (ApplicationDocument.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("Pièce introuvable.") from exc


def application_list(user, *, call_id=None, status: str = "", search: str = "") -> QuerySet:
    qs = selectors.applications_visible_to(user)
    if call_id:
        qs = qs.filter(call_id=call_id)
    if status:
        qs = qs.filter(status=status)
    if search:
        qs = qs.filter(applicant__name__icontains=search)
    return qs.order_by("-call__application_opens_on", "call__title", "applicant__name", "pk")


def calls_open_for_applications(user, today) -> QuerySet[Call]:
    """Calls whose application window is open, for people who prepare files."""
    if not may_apply_somewhere(user):
        return Call.objects.none()
    return selectors.calls_visible_to(user).filter(
        application_opens_on__lte=today, application_closes_on__gte=today
    )


def file_parts(application: Application) -> dict:
    """What the file pages show, read once each."""
    return {
        "covered": list(application.covered_establishments.order_by("name")),
        "lines": {line.category: line for line in application.budget_lines.all()},
        "answers": list(application.prerequisite_answers.select_related("requirement")),
        "documents": documents(application),
    }


def documents(application: Application) -> list:
    return list(application.documents.select_related("uploaded_by"))


def history(application: Application) -> list:
    return list(application.events.select_related("actor").order_by("at", "pk"))


def comments(application: Application) -> list:
    return list(
        application.comments.select_related("author", "author_organisation").order_by(
            "created_at", "pk"
        )
    )
