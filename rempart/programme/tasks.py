"""Background e-mails of the programme: a notice for each step of a file (to the applicant's
people, or to the region's ARS when the applicant acts)."""

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mass_mail
from django.template.loader import render_to_string
from django.urls import reverse


@shared_task(name="programme.send_application_notice")
def send_application_notice(event_id: int) -> int:
    """E-mail one event of a file to the people it concerns. Returns how many were sent.
    Idempotent enough for a retried task: an event is only ever e-mailed from its own row."""
    from .models import ApplicationEvent
    from .notify import recipients_for

    event = (
        ApplicationEvent.objects.select_related(
            "application", "application__call", "application__applicant", "actor"
        )
        .filter(pk=event_id)
        .first()
    )
    if event is None:
        return 0
    emails = recipients_for(event)
    if not emails:
        return 0
    application = event.application
    link = settings.SITE_URL.rstrip("/") + reverse(
        "programme:application_detail", args=[application.pk]
    )
    context = {"event": event, "application": application, "link": link}
    subject = f"[Rempart] {application.call.title} — {event.get_kind_display()}"
    body = render_to_string("programme/email/application_event.txt", context)
    messages = [(subject, body, settings.DEFAULT_FROM_EMAIL, [email]) for email in emails]
    return send_mass_mail(messages, fail_silently=False)


@shared_task(name="programme.send_window_reminders")
def send_window_reminders() -> int:
    """Daily: remind applicants who have not finished before a window closes."""
    from .reminders import send_due_reminders

    return send_due_reminders()


@shared_task(name="programme.send_comment_notice")
def send_comment_notice(comment_id: int) -> int:
    """E-mail a new comment to both sides of the file (never to its author)."""
    from .models import ApplicationComment
    from .notify import comment_recipients

    comment = (
        ApplicationComment.objects.select_related(
            "application", "application__call", "application__applicant", "author"
        )
        .filter(pk=comment_id)
        .first()
    )
    if comment is None:
        return 0
    emails = comment_recipients(comment)
    if not emails:
        return 0
    application = comment.application
    link = settings.SITE_URL.rstrip("/") + reverse(
        "programme:application_detail", args=[application.pk]
    )
    context = {"comment": comment, "application": application, "link": link}
    subject = f"[Rempart] {application.call.title} — nouveau commentaire"
    body = render_to_string("programme/email/application_comment.txt", context)
    messages = [(subject, body, settings.DEFAULT_FROM_EMAIL, [email]) for email in emails]
    return send_mass_mail(messages, fail_silently=False)
