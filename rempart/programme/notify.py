"""Who hears about what happens to a file.

* Steps the ARS takes (complement requested, accepted, rejected, target reviewed, payment and
  report decisions) go to the applicant's people: every active member holding APPLY_FUNDING in
  the applicant organisation, in an establishment the file covers or in its legal entity.
* Steps the applicant takes (submitted, complement provided, target declared, payment
  requested, report filed) go to the region's ARS programme managers (DECIDE_FUNDING).
* Comments go to both sides, never to their author.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q

from rempart.core.roles import ROLES, Capability, OrgKind

from .models import ApplicationEvent, EventKind

TO_APPLICANT = {
    EventKind.COMPLEMENT_REQUESTED,
    EventKind.ACCEPTED,
    EventKind.REJECTED,
    EventKind.TARGET_VALIDATED,
    EventKind.TARGET_REFUSED,
    EventKind.PAYMENT_STATUS,
    EventKind.REPORT_REVIEWED,
    EventKind.CEILING_OVERRIDDEN,
}
TO_ARS = {
    EventKind.SUBMITTED,
    EventKind.COMPLEMENT_PROVIDED,
    EventKind.TARGET_DECLARED,
    EventKind.PAYMENT_REQUESTED,
    EventKind.REPORT_FILED,
}


def _roles_with(capability: Capability) -> list[str]:
    return [code.value for code, spec in ROLES.items() if capability in spec.capabilities]


def apply_people_emails(organisation_id: int, establishment_ids) -> set[str]:
    """The people who prepare an applicant's file: active members holding APPLY_FUNDING in the
    applicant organisation, in the establishments the file covers (`establishment_ids`: ids or
    a subquery) or in their legal entities."""
    from rempart.organisations.models import Membership, Organisation

    entities = Organisation.objects.filter(pk__in=establishment_ids).values("legal_entity_id")
    memberships = Membership.objects.active().filter(
        Q(organisation_id=organisation_id)
        | Q(organisation_id__in=establishment_ids)
        | Q(organisation_id__in=entities),
        role__in=_roles_with(Capability.APPLY_FUNDING),
        user__is_active=True,
    )
    return set(memberships.values_list("user__email", flat=True))


def applicant_people_emails(application) -> set[str]:
    return apply_people_emails(
        application.applicant_id, application.covered_establishments.values("pk")
    )


def ars_emails(application) -> set[str]:
    from rempart.organisations.models import Membership

    memberships = Membership.objects.active().filter(
        organisation__kind=OrgKind.ARS,
        organisation__region_id=application.call.region_id,
        role__in=_roles_with(Capability.DECIDE_FUNDING),
        user__is_active=True,
    )
    return set(memberships.values_list("user__email", flat=True))


def recipients_for(event: ApplicationEvent) -> list[str]:
    application = event.application
    if event.kind in TO_APPLICANT:
        emails = applicant_people_emails(application)
    elif event.kind in TO_ARS:
        emails = ars_emails(application)
    else:
        return []
    if event.actor_id and event.actor and event.actor.email:
        emails.discard(event.actor.email)
    return sorted(emails)


def record(application, kind: EventKind, actor=None, message: str = "") -> ApplicationEvent:
    """Add a step to the file's history and, once the transaction commits, e-mail it."""
    event = ApplicationEvent.objects.create(
        application=application, kind=kind, actor=actor, message=message
    )
    if kind in TO_APPLICANT or kind in TO_ARS:
        from .tasks import send_application_notice

        transaction.on_commit(lambda: send_application_notice.delay(event.pk))
    return event


def author_organisation(actor, application):
    """The organisation a comment speaks for: the ARS or CRRC of the call's region, else the
    author's own organisation among those the file concerns."""
    from rempart.organisations.perms import active_memberships

    fallback = None
    for membership in active_memberships(actor):
        if Capability.COMMENT_APPLICATIONS not in ROLES[membership.role].capabilities:
            continue
        org = membership.organisation
        if org.kind in (OrgKind.ARS, OrgKind.CRRC) and org.region_id == application.call.region_id:
            return org
        if org.pk == application.applicant_id or fallback is None:
            fallback = org
    return fallback


def comment_recipients(comment) -> list[str]:
    application = comment.application
    emails = applicant_people_emails(application) | ars_emails(application)
    if comment.author and comment.author.email:
        emails.discard(comment.author.email)
    return sorted(emails)


def notify_comment(comment) -> None:
    from .tasks import send_comment_notice

    transaction.on_commit(lambda: send_comment_notice.delay(comment.pk))
