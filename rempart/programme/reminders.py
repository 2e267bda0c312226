"""Reminders before a call's windows close: run every morning (Celery beat, 07:00 Paris).

For each call and each window closing in exactly N days (N in `REMPART_REMINDER_DAYS`, by
default 14, 7 and 2), the applicants that have not finished are e-mailed what is missing and
the closing date:

* candidature: every eligible applicant of the call without a file, or whose file is still a
  draft or awaits the complement the ARS asked for;
* déclaration d'atteinte des cibles: accepted files with a target of the domain not declared,
  or whose declaration the ARS did not validate;
* guichet de paiement: accepted files without a payment request.

The people e-mailed are those who prepare files: active members holding APPLY_FUNDING in the
applicant organisation, in the establishments its file covers or in their legal entities
(`notify.apply_people_emails`; without a file, the eligible establishments it would cover).

Never twice: a `ReminderSent` row (unique per call, applicant, window and N) is written in the
same transaction as the e-mail is sent; a second run, even a concurrent one, hits the unique
constraint and skips. When the e-mail cannot be sent, the row is rolled back so that a retried
task sends it. A reminder about a file is also written in the file's history.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import send_mass_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse

from . import application_services
from .ceilings import applicants_of, format_eur
from .models import (
    Application,
    ApplicationStatus,
    Call,
    DeclarationStatus,
    EventKind,
    ReminderSent,
    Requirement,
    RequirementKind,
)
from .notify import applicant_people_emails, apply_people_emails, record
from .windows import WINDOW_NAMES, Window, format_date_fr, paris_today

logger = logging.getLogger(__name__)

DEFAULT_DAYS = (14, 7, 2)
UNFINISHED = (ApplicationStatus.DRAFT, ApplicationStatus.COMPLEMENT_REQUESTED)
CLOSING_FIELDS = {
    Window.APPLICATION: "application_closes_on",
    Window.DECLARATION: "declaration_deadline",
    Window.PAYMENT: "payment_closes_on",
}
TEMPLATES = {
    Window.APPLICATION: "programme/email/reminder_application.txt",
    Window.DECLARATION: "programme/email/reminder_declaration.txt",
    Window.PAYMENT: "programme/email/reminder_payment.txt",
}


def reminder_days() -> tuple[int, ...]:
    """The configured N (days before a window closes), largest first, without duplicates."""
    days = getattr(settings, "REMPART_REMINDER_DAYS", DEFAULT_DAYS)
    return tuple(sorted({int(n) for n in days if int(n) >= 0}, reverse=True))


@dataclass
class Reminder:
    """One e-mail to send: an applicant, a window of a call, N days before it closes."""

    call: Call
    window: Window
    days_before: int
    closes_on: datetime.date
    applicant_id: int
    applicant_name: str
    application: Application | None
    missing: list[str]
    recipients: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[int, int, str, int]:
        return (self.call.pk, self.applicant_id, self.window.value, self.days_before)

    @property
    def window_name(self) -> str:
        """« la fenêtre de candidature », « le guichet de paiement »…"""
        return WINDOW_NAMES[self.window][1]

    @property
    def closes_label(self) -> str:
        return format_date_fr(self.closes_on)

    @property
    def link(self) -> str:
        base = settings.SITE_URL.rstrip("/")
        if self.application is not None:
            return base + reverse("programme:application_detail", args=[self.application.pk])
        return base + reverse("programme:call_detail", args=[self.call.pk])

    @property
    def subject(self) -> str:
        days = "demain" if self.days_before == 1 else f"dans {self.days_before} jours"
        if self.days_before == 0:
            days = "ce soir"
        return (
            f"[Rempart] {self.call.title} — relance : {self.window_name} ferme {days} "
            f"({self.closes_label})"
        )

    def history_message(self) -> str:
        """What the file's history says (what is missing and the closing date)."""
        return (
            f"Relance J-{self.days_before} : {self.window_name} ferme le {self.closes_label} "
            "au soir. Reste à faire : " + " ".join(self.missing)
        )

    def describe(self) -> str:
        """One line for the management command."""
        return (
            f"{self.call.title} — {WINDOW_NAMES[self.window][0]} (clôture le "
            f"{self.closes_label}, J-{self.days_before}) — {self.applicant_name}"
        )

    def body(self) -> str:
        return render_to_string(
            TEMPLATES[self.window],
            {
                "reminder": self,
                "call": self.call,
                "application": self.application,
                "applicant_name": self.applicant_name,
                "missing": self.missing,
                "link": self.link,
            },
        )


@dataclass
class Outcome:
    reminder: Reminder
    status: str  # "sent", "would_send", "already_sent", "no_recipient", "failed"
    emails: int = 0

    STATUS_LABELS = {
        "sent": "Envoyée",
        "would_send": "À envoyer (simulation)",
        "already_sent": "Déjà envoyée",
        "no_recipient": "Sans destinataire",
        "failed": "Échec de l'envoi",
    }

    @property
    def label(self) -> str:
        return self.STATUS_LABELS[self.status]


# --- Who is still missing something -------------------------------------------------------------


def applicant_emails(organisation_id: int, establishment_ids: list[int]) -> set[str]:
    """People who would prepare a file not opened yet (the rule of
    `notify.apply_people_emails`, with the eligible establishments its file would cover)."""
    return apply_people_emails(organisation_id, establishment_ids)


def _complement_request(application: Application) -> str:
    event = (
        application.events.filter(kind=EventKind.COMPLEMENT_REQUESTED)
        .order_by("-at", "-pk")
        .first()
    )
    return event.message if event else ""


def _file_gaps(application: Application) -> list[str]:
    ceiling = application_services.effective_ceiling(application.call, application.applicant)
    gaps = [
        gap.message for gap in application_services.submission_gaps(application, ceiling.amount)
    ]
    if application.status == ApplicationStatus.COMPLEMENT_REQUESTED:
        asked = _complement_request(application)
        intro = "L'ARS attend un complément" + (f" : {asked}" if asked else ".")
        return [intro, *gaps, "Redéposez ensuite le dossier."]
    return [*gaps, "Déposez ensuite le dossier."] if gaps else ["Déposez le dossier."]


def _application_window(call: Call, days: int, closes_on) -> list[Reminder]:
    files = {
        a.applicant_id: a
        for a in Application.objects.filter(call=call).select_related("call", "applicant")
    }
    reminders = []
    seen = set()
    for applicant in applicants_of(call):
        seen.add(applicant.organisation_id)
        application = files.get(applicant.organisation_id)
        if application is not None:
            continue  # handled with every file below
        reminders.append(
            Reminder(
                call=call,
                window=Window.APPLICATION,
                days_before=days,
                closes_on=closes_on,
                applicant_id=applicant.organisation_id,
                applicant_name=applicant.name,
                application=None,
                missing=[f"Aucun dossier n'est ouvert pour {applicant.name} sur cet appel."],
                recipients=sorted(
                    applicant_emails(
                        applicant.organisation_id, [row.pk for row in applicant.establishments]
                    )
                ),
            )
        )
    for application in files.values():
        if application.status not in UNFINISHED:
            continue
        reminders.append(
            Reminder(
                call=call,
                window=Window.APPLICATION,
                days_before=days,
                closes_on=closes_on,
                applicant_id=application.applicant_id,
                applicant_name=application.applicant.name,
                application=application,
                missing=_file_gaps(application),
                recipients=sorted(applicant_people_emails(application)),
            )
        )
    return reminders


def _declaration_window(call: Call, days: int, closes_on) -> list[Reminder]:
    targets = list(
        Requirement.objects.filter(domain_id=call.domain_id, kind=RequirementKind.TARGET).order_by(
            "position", "identifier"
        )
    )
    if not targets:
        return []
    accepted = (
        Application.objects.filter(call=call, status=ApplicationStatus.ACCEPTED)
        .select_related("call", "applicant")
        .prefetch_related("declarations")
    )
    reminders = []
    for application in accepted:
        declared = {d.requirement_id: d for d in application.declarations.all()}
        missing = []
        for target in targets:
            declaration = declared.get(target.pk)
            if declaration is None:
                missing.append(f"Cible {target.identifier} ({target.label}) : non déclarée.")
            elif declaration.status == DeclarationStatus.REFUSED:
                missing.append(
                    f"Cible {target.identifier} ({target.label}) : déclaration non validée par "
                    "l'ARS, à compléter."
                )
        if not missing:
            continue
        reminders.append(
            Reminder(
                call=call,
                window=Window.DECLARATION,
                days_before=days,
                closes_on=closes_on,
                applicant_id=application.applicant_id,
                applicant_name=application.applicant.name,
                application=application,
                missing=missing,
                recipients=sorted(applicant_people_emails(application)),
            )
        )
    return reminders


def _payment_window(call: Call, days: int, closes_on) -> list[Reminder]:
    unpaid = Application.objects.filter(
        call=call, status=ApplicationStatus.ACCEPTED, payment__isnull=True
    ).select_related("call", "applicant")
    return [
        Reminder(
            call=call,
            window=Window.PAYMENT,
            days_before=days,
            closes_on=closes_on,
            applicant_id=application.applicant_id,
            applicant_name=application.applicant.name,
            application=application,
            missing=[
                "Aucune demande de paiement n'a été faite (montant engagé : "
                f"{format_eur(application.engaged_eur or 0)})."
            ],
            recipients=sorted(applicant_people_emails(application)),
        )
        for application in unpaid
    ]


BUILDERS = {
    Window.APPLICATION: _application_window,
    Window.DECLARATION: _declaration_window,
    Window.PAYMENT: _payment_window,
}


def due_reminders(today: datetime.date) -> list[Reminder]:
    """Every reminder due on `today` (whether already sent or not), call by call."""
    days = reminder_days()
    by_date = {today + datetime.timedelta(days=n): n for n in days}
    closing = Q()
    for field_name in CLOSING_FIELDS.values():
        closing |= Q(**{f"{field_name}__in": list(by_date)})
    calls = Call.objects.filter(closing).select_related("region", "domain").order_by("pk")
    reminders: list[Reminder] = []
    for call in calls:
        for window, field_name in CLOSING_FIELDS.items():
            closes_on = getattr(call, field_name)
            if closes_on in by_date:
                reminders += BUILDERS[window](call, by_date[closes_on], closes_on)
    return reminders


# --- Sending ------------------------------------------------------------------------------------


def _send(reminder: Reminder) -> Outcome:
    """Claim the reminder (unique row), e-mail it and record it, in one transaction."""
    try:
        with transaction.atomic():
            ReminderSent.objects.create(
                call=reminder.call,
                applicant_id=reminder.applicant_id,
                application=reminder.application,
                window=reminder.window.value,
                days_before=reminder.days_before,
                recipients=len(reminder.recipients),
            )
            subject, body = reminder.subject, reminder.body()
            sent = send_mass_mail(
                [
                    (subject, body, settings.DEFAULT_FROM_EMAIL, [email])
                    for email in reminder.recipients
                ],
                fail_silently=False,
            )
            if reminder.application is not None:
                record(
                    reminder.application,
                    EventKind.REMINDER_SENT,
                    None,
                    reminder.history_message(),
                )
    except IntegrityError:
        # Sent meanwhile by another run: the unique row says so.
        return Outcome(reminder, "already_sent")
    except Exception:
        logger.exception("programme.reminder_failed", extra={"reminder": reminder.key})
        return Outcome(reminder, "failed")
    return Outcome(reminder, "sent", sent)


def run_reminders(today: datetime.date | None = None, *, dry_run: bool = False) -> list[Outcome]:
    """Send (or, with dry_run, only list) the reminders due on `today` (Paris)."""
    today = today or paris_today()
    reminders = due_reminders(today)
    sent_keys = set()
    if reminders:
        sent_keys = set(
            ReminderSent.objects.filter(call__in={r.call.pk for r in reminders}).values_list(
                "call_id", "applicant_id", "window", "days_before"
            )
        )
    outcomes = []
    for reminder in reminders:
        if reminder.key in sent_keys:
            outcomes.append(Outcome(reminder, "already_sent"))
        elif not reminder.recipients:
            outcomes.append(Outcome(reminder, "no_recipient"))
        elif dry_run:
            outcomes.append(Outcome(reminder, "would_send", len(reminder.recipients)))
        else:
            outcomes.append(_send(reminder))
    return outcomes


def send_due_reminders(today: datetime.date | None = None) -> int:
    """The daily task: send the reminders due today; returns how many e-mails were sent."""
    return sum(o.emails for o in run_reminders(today) if o.status == "sent")
