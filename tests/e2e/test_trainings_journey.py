"""Issue 7, trainings in the browser.

A CRRC trainer publishes a half-day ransomware training with one seat. The director of the
Centre hospitalier de Rivebelle registers two people: the first gets the seat, the second goes
to the waiting list with a clear message; registering the first again is refused. Once the
session has started the trainer takes attendance; the person present receives the
satisfaction survey by e-mail, answers it without an account (a second answer is refused and
the first kept), and the trainer sees the average."""

import datetime
import re

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from rempart.events.models import Registration, SurveyAnswer, TrainingSession
from rempart.events.tests.factories import events_world
from rempart.organisations.tests.factories import TEST_TOTP_SECRET

from .helpers import fresh_totp_code, log_in, pass_totp

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "mot-de-passe-de-test-solide"  # the factories' password
TITLE = "Détecter et réagir face à un rançongiciel"


def _register(page, first: str, last: str, email: str) -> None:
    form = page.locator("form#registration-form")
    form.locator("[name=first_name]").fill(first)
    form.locator("[name=last_name]").fill(last)
    form.locator("[name=email]").fill(email)
    form.locator("[name=function]").fill("Technicien SI")
    form.get_by_role("button", name="Inscrire").click()


def test_trainer_publishes_establishment_registers_attendance_survey_average(browsing):
    world = events_world()

    # 1. The trainer publishes a session with one seat.
    trainer = browsing()
    log_in(trainer, world.trainer.email, PASSWORD)
    pass_totp(trainer, fresh_totp_code(TEST_TOTP_SECRET))
    trainer.goto("/formations/")
    expect(trainer.locator("h1")).to_contain_text("Formations et webinaires")
    trainer.get_by_role("link", name="Créer une session").click()
    form = trainer.locator("form#session-form")
    form.locator("[name=kind]").select_option("training")
    form.locator("[name=programme]").fill("Détection et réaction face à un rançongiciel")
    form.locator("[name=title]").fill(TITLE)
    form.locator("[name=description]").fill("Demi-journée, fiche de qualification et d'alerte.")
    trainer.locator("label[for=audience-it_teams]").click()
    day = timezone.localdate() + datetime.timedelta(days=30)
    form.locator("[name=day]").fill(day.isoformat())
    form.locator("[name=start_time]").fill("14:00")
    form.locator("[name=end_time]").fill("17:00")
    form.locator("[name=location]").fill("GCS, 10 rue de la Santé, Lyon")
    form.locator("[name=capacity]").fill("1")
    form.get_by_role("button", name="Enregistrer la session").click()
    expect(trainer.locator("h1")).to_contain_text(TITLE)
    expect(trainer.locator("#session-status")).to_contain_text("Brouillon")
    trainer.get_by_role("button", name="Publier la session").click()
    expect(trainer.locator("main")).to_contain_text("La session est publiée")
    expect(trainer.locator("#session-status")).to_contain_text("Publiée")
    session = TrainingSession.objects.get()

    # 2. The establishment registers two people: the second goes to the waiting list.
    director = browsing()
    log_in(director, world.director.email, PASSWORD)
    pass_totp(director, fresh_totp_code(TEST_TOTP_SECRET))
    director.goto("/formations/")
    expect(director.locator("#session-table")).to_contain_text("1 sur 1")
    director.get_by_role("link", name=TITLE).click()
    _register(director, "Inès", "Lefèvre", "ines.lefevre@ch-rivebelle.fr")
    expect(director.locator("main")).to_contain_text("Inès Lefèvre est inscrit·e à la session.")
    _register(director, "Hugo", "Bernard", "hugo.bernard@ch-rivebelle.fr")
    expect(director.locator("main")).to_contain_text(
        "Session complète : Hugo Bernard est inscrit·e en liste d'attente (position 1)."
    )
    expect(director.locator("#waiting-table")).to_contain_text("Hugo")
    # A double registration is refused, with what was typed kept.
    _register(director, "Inès", "Lefèvre", "Ines.Lefevre@ch-rivebelle.fr")
    expect(director.locator("main")).to_contain_text("une seule inscription par personne")
    expect(director.locator("form#registration-form [name=first_name]")).to_have_value("Inès")
    assert Registration.objects.count() == 2

    # 3. The session starts; the trainer takes attendance.
    starts = timezone.now() - datetime.timedelta(minutes=30)
    TrainingSession.objects.filter(pk=session.pk).update(
        starts_at=starts, ends_at=starts + datetime.timedelta(hours=3)
    )
    mail.outbox.clear()
    trainer.reload()
    trainer.get_by_role("link", name="Relever les présences").click()
    expect(trainer.locator("h1")).to_contain_text("Feuille de présence")
    trainer.locator("form#attendance-form label", has_text="Inès Lefèvre").click()
    trainer.get_by_role("button", name="Enregistrer les présences").click()
    expect(trainer.locator("main")).to_contain_text("1 présent·e(s) sur 1")
    present = Registration.objects.get(email="ines.lefevre@ch-rivebelle.fr")
    assert present.attended is True

    # 4. The person present answers the survey from the e-mailed link, without an account.
    survey_mail = next(m for m in mail.outbox if m.to == ["ines.lefevre@ch-rivebelle.fr"])
    link = re.search(r"https?://\S+/formations/questionnaire/\S+/", survey_mail.body).group(0)
    visitor = browsing()
    visitor.goto(link)
    expect(visitor.locator("#survey-session")).to_contain_text(TITLE)
    visitor.locator("label[for=score-9]").click()
    visitor.locator("[name=comment]").fill("Très concret, la fiche d'alerte servira.")
    visitor.get_by_role("button", name="Envoyer mon avis").click()
    expect(visitor.locator("#survey-status")).to_contain_text("votre réponse est enregistrée")
    visitor.goto(link)
    expect(visitor.locator("#survey-status")).to_contain_text("première réponse est conservée")
    assert SurveyAnswer.objects.get().score == 9

    # 5. The trainer sees the average.
    trainer.goto(f"/formations/{session.pk}/")
    trainer.locator("#trainer-actions").get_by_role("link", name="Satisfaction").click()
    expect(trainer.locator("#survey-average")).to_contain_text("Satisfaction moyenne : 9,00/10")
    expect(trainer.locator("main")).to_contain_text("Très concret")
