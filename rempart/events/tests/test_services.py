import datetime
import re

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.test import TestCase
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.models import AuditEntry
from rempart.events import ics, selectors, services
from rempart.events.models import (
    Registration,
    RegistrationStatus,
    SessionStatus,
    SurveyAnswer,
    TrainingSession,
)

from .factories import (
    events_world,
    published_session,
    register,
    run_on_commit_now,
    session_data,
    start,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return events_world()


@pytest.fixture
def emails(monkeypatch):
    run_on_commit_now(monkeypatch)


def _token_from(message) -> str:
    return re.search(r"/formations/questionnaire/([^/\s]+)/", message.body).group(1)


# --- Sessions -----------------------------------------------------------------------------------


def test_trainer_creates_a_draft_then_publishes_it_audited(world):
    session = services.session_create(
        actor=world.trainer, organiser=world.crrc, data=session_data()
    )
    assert session.status == SessionStatus.DRAFT
    assert session.region == world.region
    services.session_publish(actor=world.trainer, session=session)
    session.refresh_from_db()
    assert session.status == SessionStatus.PUBLISHED
    assert session.published_at is not None
    assert AuditEntry.objects.filter(organisation_id=world.crrc.pk).count() >= 2


def test_only_the_regions_trainers_manage_sessions(world):
    for actor in (world.director, world.ars_manager, world.outsider_trainer, world.staff):
        with pytest.raises(DomainError, match="CRRC et ses formateurs"):
            services.session_create(actor=actor, organiser=world.crrc, data=session_data())
    with pytest.raises(DomainError, match="CRRC et ses formateurs"):
        # Not a CRRC: an establishment never organises a session.
        services.session_create(
            actor=world.trainer, organiser=world.establishment, data=session_data()
        )
    assert not TrainingSession.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"title": " "}, "titre"),
        ({"audience": []}, "public"),
        ({"audience": ["astronauts"]}, "public"),
        ({"capacity": 0}, "au moins 1"),
        ({"location": "", "online_url": ""}, "lien de connexion"),
        ({"kind": "party"}, "type"),
    ],
)
def test_session_data_is_checked(world, overrides, message):
    with pytest.raises(DomainError, match=message):
        services.session_create(
            actor=world.trainer, organiser=world.crrc, data=session_data(**overrides)
        )


def test_session_end_must_follow_start(world):
    data = session_data()
    data["ends_at"] = data["starts_at"]
    with pytest.raises(DomainError, match="fin doit suivre"):
        services.session_create(actor=world.trainer, organiser=world.crrc, data=data)


def test_database_refuses_broken_sessions(world):
    base = {**session_data(), "organiser": world.crrc, "region": world.region}
    for broken in ({"capacity": 0}, {"location": "", "online_url": ""}):
        with pytest.raises(IntegrityError), transaction.atomic():
            TrainingSession.objects.create(**{**base, **broken})
    with pytest.raises(IntegrityError), transaction.atomic():
        TrainingSession.objects.create(**{**base, "ends_at": base["starts_at"]})


def test_online_session_needs_no_site(world):
    session = published_session(
        world, kind="webinar", location="", online_url="https://visio.exemple.fr/salle"
    )
    assert session.is_online


# --- Registrations ------------------------------------------------------------------------------


def test_capacity_then_waiting_list_with_clear_message(world, emails):
    session = published_session(world, capacity=1)
    first = register(world, session, 1)
    assert first.registration.status == RegistrationStatus.CONFIRMED
    assert first.message == "Prénom1 Nom1 est inscrit·e à la session."
    second = register(world, session, 2)
    assert second.waiting
    assert second.registration.position is not None
    assert second.message == (
        "Session complète : Prénom2 Nom2 est inscrit·e en liste d'attente (position 1)."
    )
    third = register(world, session, 3)
    assert third.message.endswith("(position 2).")
    # E-mails after commit: the confirmation carries the calendar invitation, not the others.
    subjects = [m.subject for m in mail.outbox]
    assert any("Inscription confirmée" in s for s in subjects)
    assert sum("liste d'attente" in s for s in subjects) == 2
    confirmation = next(m for m in mail.outbox if "confirmée" in m.subject)
    assert confirmation.to == ["personne1@ch-rivebelle.fr"]
    assert confirmation.attachments[0][0].endswith(".ics")
    assert confirmation.attachments[0][2].startswith("text/calendar")
    assert "method=PUBLISH" in confirmation.attachments[0][2]
    waiting_mail = next(m for m in mail.outbox if "personne2" in m.to[0])
    assert "position 1" in waiting_mail.body
    assert not waiting_mail.attachments


def test_double_registration_is_refused_and_loses_nothing(world):
    session = published_session(world)
    register(world, session, 1)
    with pytest.raises(DomainError, match="déjà inscrite pour cette session"):
        services.registration_create(
            actor=world.rssi,
            session=session,
            organisation=world.establishment,
            first_name="Autre",
            last_name="Nom",
            email="  PERSONNE1@ch-rivebelle.fr ",
            function="",
        )
    assert Registration.objects.filter(session=session).count() == 1
    # A cancelled registration does not block registering the person again.
    services.registration_cancel(actor=world.director, registration=Registration.objects.get())
    again = register(world, session, 1)
    assert again.registration.status == RegistrationStatus.CONFIRMED


def test_database_refuses_two_live_registrations_of_one_email(world):
    session = published_session(world)
    values = {
        "session": session,
        "organisation": world.establishment,
        "first_name": "A",
        "last_name": "B",
        "email": "a@b.fr",
        "status": RegistrationStatus.CONFIRMED,
    }
    Registration.objects.create(**values)
    with pytest.raises(IntegrityError), transaction.atomic():
        Registration.objects.create(**values)
    with pytest.raises(IntegrityError), transaction.atomic():
        Registration.objects.create(**{**values, "email": "UPPER@b.fr"})
    with pytest.raises(IntegrityError), transaction.atomic():  # waiting without a position
        Registration.objects.create(**{**values, "email": "c@b.fr", "status": "waiting"})


def test_cancelling_a_seat_promotes_the_first_waiting_and_emails_them(world, emails):
    session = published_session(world, capacity=1)
    first = register(world, session, 1).registration
    second = register(world, session, 2).registration
    third = register(world, session, 3).registration
    mail.outbox.clear()
    promoted = services.registration_cancel(actor=world.director, registration=first)
    assert promoted.pk == second.pk
    second.refresh_from_db()
    third.refresh_from_db()
    first.refresh_from_db()
    assert (first.status, first.position) == (RegistrationStatus.CANCELLED, None)
    assert (second.status, second.position) == (RegistrationStatus.CONFIRMED, None)
    assert third.status == RegistrationStatus.WAITING
    assert services.waiting_rank(third) == 1
    by_to = {m.to[0]: m for m in mail.outbox}
    assert "place s'est libérée" in by_to["personne2@ch-rivebelle.fr"].subject
    assert by_to["personne2@ch-rivebelle.fr"].attachments  # calendar invitation
    assert "METHOD:CANCEL" in by_to["personne1@ch-rivebelle.fr"].attachments[0][1]
    # Cancelling a waiting person promotes nobody.
    assert services.registration_cancel(actor=world.trainer, registration=third) is None


def test_more_places_promote_the_waiting_list_fewer_than_confirmed_is_refused(world):
    session = published_session(world, capacity=2)
    register(world, session, 1)
    register(world, session, 2)
    waiting = register(world, session, 3).registration
    with pytest.raises(DomainError, match=r"moins de 2 place\(s\)"):
        services.session_update(actor=world.trainer, session=session, data=session_data(capacity=1))
    services.session_update(actor=world.trainer, session=session, data=session_data(capacity=3))
    waiting.refresh_from_db()
    assert waiting.status == RegistrationStatus.CONFIRMED


def test_registration_rules(world):
    session = published_session(world)
    with pytest.raises(DomainError, match="direction, le RSSI ou le DSI"):
        register(world, session, 1, actor=world.staff)
    with pytest.raises(DomainError, match="direction, le RSSI ou le DSI"):
        register(world, session, 1, actor=world.director, organisation=world.sibling)
    with pytest.raises(DomainError, match="direction, le RSSI ou le DSI"):
        register(world, session, 1, actor=world.outsider_director)
    with pytest.raises(DomainError, match="de sa région"):
        register(
            world, session, 1, actor=world.outsider_director, organisation=world.other_establishment
        )
    draft = services.session_create(actor=world.trainer, organiser=world.crrc, data=session_data())
    with pytest.raises(DomainError, match="pas ouverte aux inscriptions"):
        register(world, draft, 1)
    with pytest.raises(DomainError, match="a commencé"):
        register(world, start(session), 1)
    assert not Registration.objects.exists()


def test_liberal_professional_registers_themselves_only(world):
    session = published_session(world, audience=["liberal"])
    with pytest.raises(DomainError, match="vous vous inscrivez vous-même"):
        register(world, session, 1, actor=world.liberal_staff, organisation=world.liberal)
    result = services.registration_create(
        actor=world.liberal_staff,
        session=session,
        organisation=world.liberal,
        first_name="X",
        last_name="Y",
        email="Lina.Liberale@exemple.fr",
    )
    assert result.registration.email == "lina.liberale@exemple.fr"
    assert result.registration.last_name == "Libérale"


def test_cancel_rules(world):
    session = published_session(world)
    registration = register(world, session, 1).registration
    for actor in (world.staff, world.sibling_director, world.outsider_director, world.ars_manager):
        with pytest.raises(DomainError):
            services.registration_cancel(actor=actor, registration=registration)
    services.registration_cancel(actor=world.rssi, registration=registration)
    with pytest.raises(DomainError, match="déjà annulée"):
        services.registration_cancel(actor=world.director, registration=registration)
    other = register(world, session, 2).registration
    start(session)
    with pytest.raises(DomainError, match="a commencé"):
        services.registration_cancel(actor=world.director, registration=other)


def test_cancelling_a_session_tells_everyone(world, emails):
    session = published_session(world, capacity=1)
    register(world, session, 1)
    register(world, session, 2)
    mail.outbox.clear()
    services.session_cancel(actor=world.trainer, session=session)
    assert sorted(m.to[0] for m in mail.outbox) == [
        "personne1@ch-rivebelle.fr",
        "personne2@ch-rivebelle.fr",
    ]
    assert all("Session annulée" in m.subject for m in mail.outbox)
    with pytest.raises(DomainError, match="pas ouverte"):
        register(world, session, 3)


# --- Attendance and survey ------------------------------------------------------------------------


def test_attendance_only_after_the_start_then_survey_emailed(world, emails):
    session = published_session(world, capacity=2)
    a = register(world, session, 1).registration
    b = register(world, session, 2).registration
    waiting = register(world, session, 3).registration
    with pytest.raises(DomainError, match="une fois la session commencée"):
        services.attendance_record(actor=world.trainer, session=session, present_ids={a.pk})
    start(session)
    with pytest.raises(DomainError, match="CRRC et ses formateurs"):
        services.attendance_record(actor=world.director, session=session, present_ids={a.pk})
    with pytest.raises(DomainError, match="hors liste d'attente"):
        services.attendance_record(
            actor=world.trainer, session=session, present_ids={a.pk, waiting.pk}
        )
    mail.outbox.clear()
    assert services.attendance_record(actor=world.trainer, session=session, present_ids={a.pk}) == 1
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.attended, b.attended) == (True, False)
    assert [m.to for m in mail.outbox] == [["personne1@ch-rivebelle.fr"]]
    assert a.survey_sent_at is not None
    assert len(a.survey_token_hash) == 64
    token = _token_from(mail.outbox[0])
    assert a.survey_token_hash not in mail.outbox[0].body  # only the hash is stored
    # Recording again sends nothing twice.
    services.attendance_record(actor=world.trainer, session=session, present_ids={a.pk})
    assert len(mail.outbox) == 1
    # The survey: answered once, the second answer is refused and the first kept.
    answer = services.survey_answer(token=token, score=9, comment="Très concret")
    with pytest.raises(DomainError, match="première réponse est conservée"):
        services.survey_answer(token=token, score=2, comment="Changement d'avis")
    answer.refresh_from_db()
    assert (answer.score, answer.comment) == (9, "Très concret")
    assert SurveyAnswer.objects.count() == 1


def test_survey_rejects_bad_links_and_scores(world, emails):
    session = published_session(world)
    registration = register(world, session, 1).registration
    start(session)
    services.attendance_record(actor=world.trainer, session=session, present_ids={registration.pk})
    token = _token_from(mail.outbox[-1])
    with pytest.raises(DomainError, match="pas valide"):
        services.survey_answer(token=token + "x", score=5)
    with pytest.raises(DomainError, match="pas valide"):
        services.survey_answer(token="forged:token:value", score=5)
    with pytest.raises(DomainError, match="de 0 à 10"):
        services.survey_answer(token=token, score=11)
    assert not SurveyAnswer.objects.exists()
    with pytest.raises(IntegrityError), transaction.atomic():
        SurveyAnswer.objects.create(
            registration=registration, score=11, submitted_at=timezone.now()
        )


def test_averages_per_session_and_overall_to_two_decimals(world, emails):
    one = published_session(world, capacity=5)
    two = published_session(world, capacity=5, programme="Sécurisation des sauvegardes")
    scores = {one: [9, 9, 10], two: [8]}
    n = 0
    for session, marks in scores.items():
        people = []
        for _mark in marks:
            n += 1
            people.append(register(world, session, n).registration)
        start(session)
        mail.outbox.clear()
        services.attendance_record(
            actor=world.trainer, session=session, present_ids={p.pk for p in people}
        )
        for message, mark in zip(sorted(mail.outbox, key=lambda m: m.to[0]), marks, strict=True):
            services.survey_answer(token=_token_from(message), score=mark)
    assert selectors.satisfaction(selectors.session_answers(one)).label == "9,33/10"
    figures = selectors.figures(world.ars_manager)
    assert figures.satisfaction.label == "9,00/10"
    assert figures.people_trained == 4
    assert figures.structures_enrolled == 1
    programmes = {p.programme: p.satisfaction.label for p in figures.by_programme}
    assert programmes == {
        "Détection et réaction face à un rançongiciel": "9,33/10",
        "Sécurisation des sauvegardes": "8,00/10",
    }
    assert selectors.format_score(9.015) == "9,02/10"  # half up, like the seeds' 9,02/10


def test_reminders_the_day_before_once(world, emails):
    session = published_session(world)
    register(world, session, 1)
    tomorrow = timezone.now() + datetime.timedelta(days=1)
    TrainingSession.objects.filter(pk=session.pk).update(
        starts_at=tomorrow, ends_at=tomorrow + datetime.timedelta(hours=3)
    )
    later = published_session(world)
    register(world, later, 2)
    mail.outbox.clear()
    assert services.send_due_reminders() == 1
    assert mail.outbox[0].to == ["personne1@ch-rivebelle.fr"]
    assert "Rappel" in mail.outbox[0].subject
    assert mail.outbox[0].attachments[0][0].endswith(".ics")
    assert services.send_due_reminders() == 0


def test_ics_is_rfc5545(world):
    session = published_session(
        world,
        title="Sécuriser l'AD ; niveau 2, avec ORADAD — une session au titre très long "
        "qui dépasse soixante-quinze octets",
    )
    registration = register(world, session, 1).registration
    text = ics.invitation(registration)
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    assert text.endswith("END:VCALENDAR\r\n")
    assert "\n" not in text.replace("\r\n", "")
    for line in text.split("\r\n"):
        assert len(line.encode()) <= 75
    unfolded = text.replace("\r\n ", "")
    assert f"UID:formation-{session.pk}-inscription-{registration.pk}@" in unfolded
    assert f"DTSTART:{session.starts_at.astimezone(datetime.UTC):%Y%m%dT%H%M%SZ}" in unfolded
    assert "SUMMARY:Sécuriser l'AD \\; niveau 2\\, avec ORADAD" in unfolded
    assert "METHOD:PUBLISH" in unfolded
    assert "METHOD:CANCEL" in ics.invitation(registration, cancel=True)


def test_emails_leave_only_after_commit(world, django_capture_on_commit_callbacks):
    session = published_session(world)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        register(world, session, 1)
        assert not mail.outbox  # not before the registration is committed
    assert len(callbacks) == 1
    assert [m.to for m in mail.outbox] == [["personne1@ch-rivebelle.fr"]]


def test_a_mail_server_down_loses_no_registration(world, monkeypatch):
    session = published_session(world)

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("SMTP down")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", refuse)
    with TestCase.captureOnCommitCallbacks(execute=True):
        result = register(world, session, 1)
    assert Registration.objects.get().pk == result.registration.pk
