from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from .models import Invitation


@shared_task(name="organisations.send_invitation_email")
def send_invitation_email(invitation_id: int) -> bool:
    """E-mail the signed link. Idempotent: a closed invitation is not sent again."""
    from .services import invitation_token

    invitation = (
        Invitation.objects.select_related("organisation", "invited_by")
        .filter(pk=invitation_id)
        .first()
    )
    if invitation is None or not invitation.is_pending:
        return False
    link = settings.SITE_URL.rstrip("/") + reverse(
        "organisations:invitation_accept", args=[invitation_token(invitation)]
    )
    context = {
        "invitation": invitation,
        "link": link,
        "max_age_days": settings.INVITATION_MAX_AGE_DAYS,
    }
    send_mail(
        subject=f"[Rempart] Invitation à rejoindre {invitation.organisation.name}",
        message=render_to_string("organisations/email/invitation.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[invitation.email],
    )
    return True


@shared_task(name="organisations.run_finess_import")
def run_finess_import(import_id: int) -> str | None:
    """Run one uploaded FINESS import. Idempotent: a run already started or finished is left alone."""
    from .importer import run_import

    finess_import = run_import(import_id)
    return finess_import.status if finess_import else None
