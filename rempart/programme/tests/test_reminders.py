"""Reminders before a window closes: who is reminded (only those who have not finished, only
the people who prepare files), exactly N days before, never twice (even two runs at once on
PostgreSQL), the dry run, the management command, the task and its schedule."""

import datetime
import threading
import time
from decimal import Decimal
from io import StringIO

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.utils import timezone

from rempart.core.roles import OrgKind, Role
from rempart.organisations.models import Membership
from rempart.organisations.tests.factories import (
    MembershipFactory,
    OrganisationFactory,
    RegionFactory,
    UserFactory,
    member,
)
from rempart.programme import reminders, tasks
from rempart.programme.models import (
    ApplicationEvent,
    ApplicationStatus,
    Attainment,
    DeclarationStatus,
    EventKind,
    PaymentRequest,
    ReminderSent,
    Requirement,
    RequirementKind,
    TargetDeclaration,
)

from .factories import CALENDAR, CallFactory, DomainFactory, application, establishment, ght
from .factories import legal_entity as make_legal_entity

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)
APPLICATION_CLOSES = CALENDAR["application_closes_on"]  # 31 October 2025
DECLARATION_DEADLINE = CALENDAR["declaration_deadline"]  # 30 June 2026
PAYMENT_CLOSES = CALENDAR["payment_closes_on"]  # 25 October 2026


class World:
    """A call of region A (calendar of the factories) with three applicants: the GHT (two
    hospitals), the association Les Tilleuls (one clinic) and the Mutualité (one centre, no
    file yet); people who prepare files, and people who must never be reminded."""

    def __init__(self):
        self.region = RegionFactory(code="84", name="Auvergne-Rhône-Alpes")
        self.domain = DomainFactory(code="D2", title="Continuité et reprise d'activité")
        self.target_1 = Requirement.objects.create(
            domain=self.domain,
            kind=RequirementKind.TARGET,
            identifier="D2.C1",
            label="Test de restauration",
            attainment=Attainment.DECLARED,
            position=1,
        )
        self.target_2 = Requirement.objects.create(
            domain=self.domain,
            kind=RequirementKind.TARGET,
            identifier="D2.C2",
            label="Exercice de crise",
            attainment=Attainment.DECLARED,
            position=2,
        )
        self.ars = OrganisationFactory(
            kind=OrgKind.ARS, name="ARS ARA", region=self.region, finess=None, sector=""
        )
        self.ght = ght(self.region, "GHT Alpes Dauphiné")
        self.voiron = establishment(self.region, "CH Voiron", "42000000", ght=self.ght)
        self.grenoble = establishment(self.region, "CH Grenoble", "3000000", ght=self.ght)
        self.tilleuls = make_legal_entity(self.region, "Association Les Tilleuls")
        self.clinique = establishment(
            self.region, "Clinique des Tilleuls", "3000000", legal_entity=self.tilleuls
        )
        self.mutualite = make_legal_entity(self.region, "Mutualité de l'Isère")
        self.centre = establishment(
            self.region, "Centre Mutualiste", "3000000", legal_entity=self.mutualite
        )
        self.call = CallFactory(region=self.region, domain=self.domain, title="CaRE D2 ARA")
        # Another region's call closing the same day: its applicants are its own.
        region_b = RegionFactory(code="93", name="PACA")
        self.hospital_b = establishment(region_b, "CH Marseille", "3000000")
        self.call_b = CallFactory(region=region_b, domain=self.domain, title="CaRE D2 PACA")
        # People who prepare files.
        member(Role.GHT_COORDINATOR, self.ght, email="coord@ght.fr")
        member(Role.RSSI, self.voiron, email="rssi@voiron.fr")
        member(Role.DIRECTOR, self.grenoble, email="dir@grenoble.fr")
        member(Role.DIRECTOR, self.clinique, email="dir@clinique.fr")
        member(Role.DIRECTOR, self.centre, email="dir@centre.fr")
        member(Role.DSI, self.mutualite, email="dsi@mutualite.fr")
        member(Role.RSSI, self.hospital_b, email="rssi@marseille.fr")
        # People never reminded: the ARS, a learner, a former director, a disabled account.
        member(Role.ARS_MANAGER, self.ars, email="ars@ars.fr")
        member(Role.STAFF, self.voiron, email="agent@voiron.fr")
        former = UserFactory(email="ancien@centre.fr")
        MembershipFactory(
            user=former,
            organisation=self.centre,
            role=Role.DIRECTOR,
            valid_from=timezone.localdate() - 60 * DAY,
            valid_until=timezone.localdate() - DAY,
        )
        disabled = member(Role.RSSI, self.centre, email="inactif@centre.fr")
        disabled.is_active = False
        disabled.save()


@pytest.fixture
def world():
    return World()


def sent_to() -> dict[str, set[str]]:
    """Recipients by subject of the e-mails sent so far."""
    result: dict[str, set[str]] = {}
    for message in mail.outbox:
        result.setdefault(message.subject, set()).update(message.to)
    return result


def mails_for(email: str) -> list:
    return [m for m in mail.outbox if email in m.to]


# --- Application window ---------------------------------------------------------------------------


def test_application_window_reminds_only_who_has_not_finished(world):
    draft = application(
        world.call,
        world.ght,
        status=ApplicationStatus.DRAFT,
        project_lead="",
        covered=[world.voiron, world.grenoble],
    )
    application(world.call, world.tilleuls, covered=[world.clinique])  # submitted: done
    today = APPLICATION_CLOSES - 7 * DAY
    sent = reminders.send_due_reminders(today)
    recipients = {email for message in mail.outbox for email in message.to}
    assert recipients == {
        # The GHT's draft: its coordinator and the covered hospitals' people.
        "coord@ght.fr",
        "rssi@voiron.fr",
        "dir@grenoble.fr",
        # The Mutualité has no file: its people and its centre's (active ones only).
        "dsi@mutualite.fr",
        "dir@centre.fr",
        # Region B's call closes the same day: its own applicant.
        "rssi@marseille.fr",
    }
    assert sent == 6
    assert all(len(m.to) == 1 for m in mail.outbox)  # one e-mail per person
    ght_mail = mails_for("coord@ght.fr")[0]
    assert "CaRE D2 ARA" in ght_mail.subject
    assert "dans 7 jours" in ght_mail.subject
    assert "31 octobre 2025" in ght_mail.body
    assert "Indiquez le chef de projet." in ght_mail.body
    assert f"/programme/dossiers/{draft.pk}/" in ght_mail.body
    centre_mail = mails_for("dir@centre.fr")[0]
    assert "aucun dossier n'est encore ouvert" in centre_mail.body
    assert "Mutualité de l'Isère" in centre_mail.body
    assert f"/programme/appels/{world.call.pk}/" in centre_mail.body
    # One row per applicant reminded; the file's history says what is missing and when.
    assert set(
        ReminderSent.objects.filter(call=world.call).values_list("applicant_id", "days_before")
    ) == {(world.ght.pk, 7), (world.mutualite.pk, 7)}
    row = ReminderSent.objects.get(applicant=world.ght)
    assert row.application == draft
    assert row.window == "candidature"
    assert row.recipients == 3
    event = ApplicationEvent.objects.get(application=draft, kind=EventKind.REMINDER_SENT)
    assert "31 octobre 2025" in event.message
    assert "chef de projet" in event.message
    assert event.actor is None


def test_complement_requested_is_reminded_with_the_ars_request(world):
    file = application(
        world.call,
        world.tilleuls,
        status=ApplicationStatus.COMPLEMENT_REQUESTED,
        covered=[world.clinique],
    )
    ApplicationEvent.objects.create(
        application=file,
        kind=EventKind.COMPLEMENT_REQUESTED,
        message="Joignez le diagnostic de maturité.",
    )
    reminders.send_due_reminders(APPLICATION_CLOSES - 2 * DAY)
    body = mails_for("dir@clinique.fr")[0].body
    assert "Joignez le diagnostic de maturité." in body
    assert "Redéposez" in body


@pytest.mark.parametrize("days_before", [0, 1, 3, 6, 8, 13, 15, 30])
def test_nothing_unless_exactly_n_days_before(world, days_before):
    application(world.call, world.ght, status=ApplicationStatus.DRAFT, covered=[world.voiron])
    assert reminders.send_due_reminders(APPLICATION_CLOSES - days_before * DAY) == 0
    assert mail.outbox == []
    assert not ReminderSent.objects.exists()


def test_each_configured_day_sends_its_own_reminder(world, settings):
    application(world.call, world.ght, status=ApplicationStatus.DRAFT, covered=[world.voiron])
    for days in (14, 7, 2):
        mail.outbox.clear()
        reminders.send_due_reminders(APPLICATION_CLOSES - days * DAY)
        assert mails_for("coord@ght.fr"), days
    assert sorted(
        ReminderSent.objects.filter(applicant=world.ght).values_list("days_before", flat=True)
    ) == [2, 7, 14]
    settings.REMPART_REMINDER_DAYS = (3,)
    mail.outbox.clear()
    assert reminders.send_due_reminders(APPLICATION_CLOSES - 7 * DAY) == 0
    reminders.send_due_reminders(APPLICATION_CLOSES - 3 * DAY)
    assert mails_for("coord@ght.fr")


def test_never_twice(world):
    application(world.call, world.ght, status=ApplicationStatus.DRAFT, covered=[world.voiron])
    today = APPLICATION_CLOSES - 7 * DAY
    first = reminders.send_due_reminders(today)
    assert first > 0
    count = len(mail.outbox)
    assert reminders.send_due_reminders(today) == 0
    assert len(mail.outbox) == count
    assert ReminderSent.objects.count() == 4  # GHT, Tilleuls, Mutualité, region B's hospital
    assert (
        ApplicationEvent.objects.filter(kind=EventKind.REMINDER_SENT).count() == 1
    )  # the GHT's file only: the others have none
    outcomes = reminders.run_reminders(today)
    assert {o.status for o in outcomes} == {"already_sent"}


def test_a_claim_that_exists_is_never_sent_again(world):
    """Another run that claimed the reminder meanwhile (the unique row) wins."""
    application(world.call, world.ght, status=ApplicationStatus.DRAFT, covered=[world.voiron])
    today = APPLICATION_CLOSES - 7 * DAY
    planned = [r for r in reminders.due_reminders(today) if r.applicant_id == world.ght.pk]
    ReminderSent.objects.create(
        call=world.call, applicant=world.ght, window="candidature", days_before=7
    )
    outcome = reminders._send(planned[0])
    assert outcome.status == "already_sent"
    assert mails_for("coord@ght.fr") == []


def test_failed_send_is_rolled_back_for_a_retry(world, monkeypatch):
    application(world.call, world.ght, status=ApplicationStatus.DRAFT, covered=[world.voiron])
    today = APPLICATION_CLOSES - 7 * DAY

    def broken(*args, **kwargs):
        raise ConnectionRefusedError("SMTP indisponible")

    monkeypatch.setattr(reminders, "send_mass_mail", broken)
    outcomes = reminders.run_reminders(today)
    assert {o.status for o in outcomes} == {"failed"}
    assert not ReminderSent.objects.exists()
    assert not ApplicationEvent.objects.filter(kind=EventKind.REMINDER_SENT).exists()
    monkeypatch.undo()
    assert reminders.send_due_reminders(today) > 0
    assert mails_for("coord@ght.fr")


def test_no_recipient_is_not_claimed(world):
    """An applicant without anyone to e-mail is reported, not marked as reminded."""
    Membership.objects.filter(organisation__in=[world.mutualite, world.centre]).delete()
    outcomes = reminders.run_reminders(APPLICATION_CLOSES - 7 * DAY)
    by_name = {o.reminder.applicant_name: o.status for o in outcomes}
    assert by_name["Mutualité de l'Isère"] == "no_recipient"
    assert not ReminderSent.objects.filter(applicant=world.mutualite).exists()


# --- Declaration and payment windows --------------------------------------------------------------


def _accepted(world, applicant, covered):
    return application(world.call, applicant, status=ApplicationStatus.ACCEPTED, covered=covered)


def _declare(file, target, status=DeclarationStatus.DECLARED):
    now = timezone.now()
    return TargetDeclaration.objects.create(
        application=file,
        requirement=target,
        status=status,
        declared_at=now,
        reviewed_at=None if status == DeclarationStatus.DECLARED else now,
    )


def test_declaration_deadline_reminds_accepted_files_with_targets_missing(world):
    ght_file = _accepted(world, world.ght, [world.voiron, world.grenoble])
    _declare(ght_file, world.target_1)  # declared, awaiting review: counts as done
    _declare(ght_file, world.target_2, DeclarationStatus.REFUSED)
    tilleuls = _accepted(world, world.tilleuls, [world.clinique])
    _declare(tilleuls, world.target_1, DeclarationStatus.VALIDATED)
    _declare(tilleuls, world.target_2)
    application(world.call, world.mutualite, status=ApplicationStatus.REJECTED)
    reminders.send_due_reminders(DECLARATION_DEADLINE - 14 * DAY)
    assert {email for m in mail.outbox for email in m.to} == {
        "coord@ght.fr",
        "rssi@voiron.fr",
        "dir@grenoble.fr",
    }
    body = mails_for("coord@ght.fr")[0].body
    assert "30 juin 2026" in body
    assert "D2.C2" in body
    assert "non validée" in body
    assert "D2.C1" not in body
    assert f"/programme/dossiers/{ght_file.pk}/" in body
    row = ReminderSent.objects.get()
    assert (row.window, row.days_before, row.application) == ("declaration", 14, ght_file)


def test_payment_window_reminds_accepted_files_without_a_request(world):
    ght_file = _accepted(world, world.ght, [world.voiron])
    tilleuls = _accepted(world, world.tilleuls, [world.clinique])
    PaymentRequest.objects.create(
        application=tilleuls,
        amount_eur=Decimal("15000.00"),
        bank_account_holder="Association Les Tilleuls",
        requested_at=timezone.now(),
    )
    application(world.call, world.mutualite, status=ApplicationStatus.DRAFT)
    reminders.send_due_reminders(PAYMENT_CLOSES - 2 * DAY)
    assert {email for m in mail.outbox for email in m.to} == {"coord@ght.fr", "rssi@voiron.fr"}
    message = mails_for("coord@ght.fr")[0]
    assert "guichet de paiement" in message.subject
    assert "25 octobre 2026" in message.body
    assert "15 000,00" in message.body.replace("\u00a0", " ")
    event = ApplicationEvent.objects.get(application=ght_file, kind=EventKind.REMINDER_SENT)
    assert "25 octobre 2026" in event.message
    assert "paiement" in event.message


# --- Dry run, command, task -----------------------------------------------------------------------


def test_dry_run_sends_and_records_nothing(world):
    application(world.call, world.ght, status=ApplicationStatus.DRAFT, covered=[world.voiron])
    outcomes = reminders.run_reminders(APPLICATION_CLOSES - 7 * DAY, dry_run=True)
    assert {o.status for o in outcomes} == {"would_send"}
    assert mail.outbox == []
    assert not ReminderSent.objects.exists()
    assert not ApplicationEvent.objects.filter(kind=EventKind.REMINDER_SENT).exists()


def test_command(world):
    application(world.call, world.ght, status=ApplicationStatus.DRAFT, covered=[world.voiron])
    out = StringIO()
    call_command("send_programme_reminders", "--date", "2025-10-24", "--dry-run", stdout=out)
    text = out.getvalue()
    assert "À envoyer (simulation) : CaRE D2 ARA — fenêtre de candidature" in text
    assert "J-7" in text
    assert "GHT Alpes Dauphiné" in text
    assert "coord@ght.fr" in text
    assert "rien n'a été envoyé" in text
    assert mail.outbox == []
    out = StringIO()
    call_command("send_programme_reminders", "--date", "2025-10-24", stdout=out)
    text = out.getvalue()
    assert "Envoyée : CaRE D2 ARA" in text
    assert "4 relance(s) envoyée(s), 6 e-mail(s)" in text
    assert len(mail.outbox) == 6
    out = StringIO()
    call_command("send_programme_reminders", "--date", "2025-10-24", stdout=out)
    assert "Déjà envoyée" in out.getvalue()
    assert "0 relance(s) envoyée(s)" in out.getvalue()
    assert len(mail.outbox) == 6
    out = StringIO()
    call_command("send_programme_reminders", "--date", "2025-10-25", stdout=out)
    assert "Aucune relance due (J-14, J-7, J-2)." in out.getvalue()
    with pytest.raises(CommandError, match="AAAA-MM-JJ"):
        call_command("send_programme_reminders", "--date", "24/10/2025")


def test_today_is_the_day_in_paris(world, monkeypatch):
    application(world.call, world.ght, status=ApplicationStatus.DRAFT, covered=[world.voiron])
    monkeypatch.setattr(reminders, "paris_today", lambda: APPLICATION_CLOSES - 7 * DAY)
    assert tasks.send_window_reminders() > 0
    assert mails_for("coord@ght.fr")


def test_beat_runs_the_task_every_morning_in_paris():
    from config.celery import app

    entry = next(
        e
        for e in settings.CELERY_BEAT_SCHEDULE.values()
        if e["task"] == "programme.send_window_reminders"
    )
    assert entry["schedule"] == crontab(hour=7, minute=0)
    assert settings.CELERY_TIMEZONE == "Europe/Paris"
    assert "programme.send_window_reminders" in app.tasks
    assert tuple(settings.REMPART_REMINDER_DAYS) == (14, 7, 2)


# --- Two runs at once (PostgreSQL) ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent transactions: PostgreSQL only"
)
def test_two_runs_at_once_send_each_reminder_once(world, monkeypatch):
    application(world.call, world.ght, status=ApplicationStatus.DRAFT, covered=[world.voiron])
    send = reminders.send_mass_mail

    def slow_send(messages, **kwargs):
        time.sleep(0.3)  # keeps the claim's transaction open while the other run arrives
        return send(messages, **kwargs)

    monkeypatch.setattr(reminders, "send_mass_mail", slow_send)
    today = APPLICATION_CLOSES - 7 * DAY
    barrier = threading.Barrier(2)
    totals: list[int] = []

    def run():
        try:
            barrier.wait()
            totals.append(reminders.send_due_reminders(today))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(totals) == 2
    assert sum(totals) == 6
    assert sorted(email for m in mail.outbox for email in m.to) == sorted(
        [
            "coord@ght.fr",
            "rssi@voiron.fr",
            "dir@clinique.fr",
            "dsi@mutualite.fr",
            "dir@centre.fr",
            "rssi@marseille.fr",
        ]
    )
    assert ReminderSent.objects.count() == 4
