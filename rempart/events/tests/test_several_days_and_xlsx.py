"""Sessions over several days (form, pages, certificate, calendar, e-mail) and the XLSX export of
the figures."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from rempart.core.errors import DomainError
from rempart.events import certificate, ics, services
from rempart.events.models import TrainingSession, default_duration_hours
from rempart.incidents.tests.test_declaration import pdf_text

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
def world(monkeypatch):
    run_on_commit_now(monkeypatch)
    return events_world()


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _form(**overrides) -> dict:
    data = {
        "kind": "training",
        "programme": "Sécurisation de l'Active Directory",
        "title": "Sécuriser l'AD en deux jours",
        "audience": ["it_teams"],
        "day": "2031-05-12",
        "start_time": "09:00",
        "end_time": "17:00",
        "end_day": "2031-05-13",
        "duration_hours": "",
        "location": "CRRC, 3 quai des Serveurs, Lyon",
        "online_url": "",
        "capacity": "12",
    }
    data.update(overrides)
    return data


def _local(day: str, time: str) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.fromisoformat(f"{day}T{time}"))


def test_default_duration_rule():
    one_day = (_local("2031-05-12", "09:00"), _local("2031-05-12", "12:30"))
    assert default_duration_hours(*one_day) == Decimal("3.50")
    two_days = (_local("2031-05-12", "09:00"), _local("2031-05-13", "17:00"))
    assert default_duration_hours(*two_days) == Decimal("16.00")  # 8 h × 2 days
    overnight = (_local("2031-05-12", "22:00"), _local("2031-05-13", "02:00"))
    assert default_duration_hours(*overnight) == Decimal("4.00")  # the elapsed time


def test_trainer_creates_a_two_day_session(world):
    client = client_for(world.trainer)
    response = client.post(reverse("events:session_create"), _form(organiser=world.crrc.pk))
    assert response.status_code == 302, response.content.decode()[:3000]
    session = TrainingSession.objects.get()
    assert timezone.localtime(session.starts_at) == _local("2031-05-12", "09:00")
    assert timezone.localtime(session.ends_at) == _local("2031-05-13", "17:00")
    assert session.days == 2
    assert session.duration_hours == Decimal("16.00")
    page = client.get(reverse("events:session_detail", args=[session.pk])).text
    assert "du lundi 12 mai 2031, 09:00 au mardi 13 mai 2031, 17:00" in page
    assert "16 h de formation" in page
    # The edit form shows the end day; the duration stays empty (the default).
    edit = client.get(reverse("events:session_edit", args=[session.pk])).text
    assert 'value="2031-05-13"' in edit
    # A declared training time (lunch breaks): kept, with a decimal comma.
    response = client.post(
        reverse("events:session_edit", args=[session.pk]),
        _form(organiser=world.crrc.pk, duration_hours="14,5"),
    )
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.duration_hours == Decimal("14.50")
    assert "14,5" in client.get(reverse("events:session_edit", args=[session.pk])).text


def test_one_day_session_stays_as_before(world):
    client = client_for(world.trainer)
    data = _form(organiser=world.crrc.pk, end_day="", end_time="12:00")
    assert client.post(reverse("events:session_create"), data).status_code == 302
    session = TrainingSession.objects.get()
    assert session.days == 1
    assert session.duration_hours == Decimal("3.00")
    page = client.get(reverse("events:session_detail", args=[session.pk])).text
    assert "lundi 12 mai 2031, 09:00 – 12:00" in page


def test_form_refusals_keep_the_input(world):
    client = client_for(world.trainer)
    cases = [
        (_form(end_day="2031-05-11"), "La date de fin ne peut pas précéder"),
        (_form(end_day="", end_time="08:00"), "L&#x27;heure de fin doit suivre"),
        (_form(duration_hours="deux"), "Indiquez la durée en heures"),
        (_form(duration_hours="40"), "ne pas dépasser le temps entre le début et la fin"),
        (_form(end_day="2031-07-12"), "au plus 31 jours"),
    ]
    for data, message in cases:
        response = client.post(
            reverse("events:session_create"), {**data, "organiser": world.crrc.pk}
        )
        assert response.status_code == 400, message
        assert message in response.text, message
        assert 'value="Sécuriser l&#x27;AD en deux jours"' in response.text
    # Overnight over two days: the end time may precede the start time.
    ok = _form(organiser=world.crrc.pk, start_time="20:00", end_time="04:00")
    assert client.post(reverse("events:session_create"), ok).status_code == 302
    assert not TrainingSession.objects.filter(duration_hours__lte=0).exists()


def test_service_checks_the_declared_duration(world):
    starts = timezone.now() + datetime.timedelta(days=5)
    with pytest.raises(DomainError) as refused:
        services.session_create(
            actor=world.trainer,
            organiser=world.crrc,
            data=session_data(
                starts_at=starts, ends_at=starts + datetime.timedelta(hours=3), duration_hours=0
            ),
        )
    assert refused.value.field == "duration_hours"


def _two_day_session(world, **overrides):
    starts = (timezone.localtime() + datetime.timedelta(days=20)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    return published_session(
        world,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(days=1, hours=8),
        **overrides,
    )


def test_certificate_calendar_and_email_over_several_days(world):
    session = _two_day_session(world, duration_hours=Decimal("14"))
    mail.outbox.clear()
    registration = register(world, session, 1).registration
    (message,) = mail.outbox
    starts, ends = timezone.localtime(session.starts_at), timezone.localtime(session.ends_at)
    assert f"Du {starts:%d/%m/%Y} à 09:00 au {ends:%d/%m/%Y} à 17:00" in message.body
    calendar = ics.invitation(registration)
    assert f"DTSTART:{ics.utc(session.starts_at)}" in calendar
    assert f"DTEND:{ics.utc(session.ends_at)}" in calendar
    assert ends.date() - starts.date() == datetime.timedelta(days=1)
    assert "Session sur 2 jours" in calendar.replace("\r\n ", "")

    start(session)  # (moves it into the past as a 3-hour session: put the two days back)
    TrainingSession.objects.filter(pk=session.pk).update(
        ends_at=session.starts_at + datetime.timedelta(days=1, hours=8)
    )
    session.refresh_from_db()
    services.attendance_record(
        actor=world.trainer, session=session, present_ids={registration.pk}, send_survey=False
    )
    registration.refresh_from_db()
    text = pdf_text(certificate.render_pdf(registration))
    day1, day2 = timezone.localtime(session.starts_at), timezone.localtime(session.ends_at)
    assert f"du {day1:%d/%m/%Y} au {day2:%d/%m/%Y} (2 jours" in text
    assert "durée de formation : 14 h" in text


def test_one_day_certificate_unchanged(world):
    session = published_session(world)  # 3 hours
    registration = register(world, session, 1).registration
    start(session)
    services.attendance_record(
        actor=world.trainer, session=session, present_ids={registration.pk}, send_survey=False
    )
    registration.refresh_from_db()
    text = pdf_text(certificate.render_pdf(registration))
    starts = timezone.localtime(session.starts_at)
    assert f"le {starts:%d/%m/%Y}, de {starts:%H:%M}" in text
    assert "(durée : 3 h)" in text


def test_lists_show_the_date_range(world):
    session = _two_day_session(world)
    starts, ends = timezone.localtime(session.starts_at), timezone.localtime(session.ends_at)
    page = client_for(world.director).get(reverse("events:session_list")).text
    assert f"du {starts:%d/%m/%Y} 09:00 au {ends:%d/%m/%Y} 17:00" in page


# --- XLSX export of the figures ----------------------------------------------------------------


def test_figures_xlsx(world):
    session = published_session(world, capacity=3, title='=HYPERLINK("http://x")')
    present = register(world, session, 1).registration
    register(world, session, 2)
    start(session)
    services.attendance_record(
        actor=world.trainer, session=session, present_ids={present.pk}, send_survey=False
    )
    present.refresh_from_db()
    services.survey_answer_record(registration=present, score=9)

    client = client_for(world.ars_manager)
    page = client.get(reverse("events:figures")).text
    assert reverse("events:figures_xlsx") in page
    response = client.get(reverse("events:figures_xlsx"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Synthèse", "Par type", "Par programme", "Sessions"]
    totals = {row[0]: row[1] for row in book["Synthèse"].iter_rows(min_row=2, values_only=True)}
    assert totals["Structures inscrites"] == 1
    assert totals["Personnes formées (présentes)"] == 1
    assert totals["Satisfaction moyenne (/10)"] == 9
    header, row = list(book["Sessions"].iter_rows(values_only=True))
    line = dict(zip(header, row, strict=True))
    assert line["Session"] == '\'=HYPERLINK("http://x")'  # never a formula
    assert (line["Inscrits"], line["Présents"], line["Durée (heures)"]) == (2, 1, 3)
    # Year filter, and refusals as for the page.
    year = timezone.localtime(session.starts_at).year
    empty = client.get(reverse("events:figures_xlsx"), {"annee": year - 1})
    assert len(list(load_workbook(io.BytesIO(empty.content))["Sessions"].iter_rows())) == 1
    assert client_for(world.director).get(reverse("events:figures_xlsx")).status_code == 403
    assert (
        client_for(world.outsider_director).get(reverse("events:figures_xlsx")).status_code == 403
    )
