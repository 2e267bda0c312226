"""Issue 6, simulated phishing in the browser, against a real SMTP sink (aiosmtpd on 127.0.0.1).

The RSSI of « CH Test » imports the staff of the emergency department from a CSV with a
broken line (reported; the three good lines imported on confirmation), creates a campaign,
fills it in, schedules it and asks to send now; the sending engine (what a worker runs) hands
the three messages to the sink. A nurse opens hers (the tracking image), follows the link,
types an identifier and a password on the fake portal and lands on the teaching page, which
links to the e-learning module. Nothing she typed is anywhere in the database. She then reports
the message. The RSSI sees the funnel: 3 sent, 1 opened, 1 clicked, 1 form filled, 1 reported.

The template, the landing page and the sending profile (towards the sink) are set up beforehand
through the services: their pages are covered by rempart/phishing/tests/test_views.py."""

from __future__ import annotations

import datetime
import email
import email.policy
import re
import time

import pytest
from django.apps import apps
from django.db import models
from django.db.models.functions import Cast
from django.utils import timezone
from playwright.sync_api import expect

from rempart.organisations.tests.factories import TEST_TOTP_SECRET
from rempart.phishing import sending, services
from rempart.phishing.models import CampaignRecipient, SendStatus, TrackingEvent
from rempart.phishing.tests.factories import landing, phishing_world, template
from rempart.phishing.tests.smtp_sink import Sink, running_sink

from .helpers import fresh_totp_code, log_in, pass_totp

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "mot-de-passe-de-test-solide"  # the factories' password
TYPED_PASSWORD = "Secret-Typed-4f9c2e"  # must never be stored anywhere
TYPED_LOGIN = "infirmiere.typed.7d1a"
PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)
CSV = (
    "email;prenom;nom;service;fonction\n"
    "ines.martin@ch-test.fr;Inès;Martin;Urgences;Infirmière\n"
    "pas-une-adresse;Paul;Durand;Urgences;Aide-soignant\n"
    "hugo.petit@ch-test.fr;Hugo;Petit;Urgences;Médecin\n"
    "lea.moreau@ch-test.fr;Léa;Moreau;Urgences;Cadre de santé\n"
)


@pytest.fixture
def sink():
    with running_sink() as handler:
        yield handler


def _paris_input(moment: datetime.datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def _click_label(page, text: str) -> None:
    page.locator("main label", has_text=text).click()


def _import_staff(rssi) -> None:
    rssi.goto("/hameconnage/groupes/")
    rssi.get_by_label("Nom").fill("Urgences")
    rssi.get_by_role("button", name="Créer le groupe").click()
    expect(rssi.locator("h1")).to_contain_text("Importer des destinataires dans « Urgences »")
    rssi.locator("input[type=file]").set_input_files(
        files=[{"name": "urgences.csv", "mimeType": "text/csv", "buffer": CSV.encode()}]
    )
    rssi.get_by_role("button", name="Analyser le fichier").click()
    expect(rssi.locator("main")).to_contain_text("3 lignes valides. 1 ligne rejetée.")
    expect(rssi.locator("main table").first).to_contain_text("pas-une-adresse")
    rssi.get_by_role("button", name="Importer les 3 lignes valides").click()
    expect(rssi.locator("main")).to_contain_text("3 destinataires ajoutés")


def _set_up_campaign(rssi) -> None:
    rssi.goto("/hameconnage/")
    rssi.get_by_role("link", name="Nouvelle campagne").click()
    rssi.get_by_label("Nom").fill("Exercice urgences")
    rssi.get_by_role("button", name="Créer le brouillon").click()
    expect(rssi.locator("h1")).to_contain_text("Modifier « Exercice urgences »")
    _click_label(rssi, "Résultats du laboratoire")
    _click_label(rssi, "Urgences")
    rssi.get_by_label("Page d'atterrissage").select_option(label="Faux portail")
    rssi.get_by_label("Profil d'envoi").select_option(label="Serveur de test")
    now = timezone.now()
    rssi.get_by_label("Début des envois").fill(_paris_input(now - datetime.timedelta(minutes=5)))
    rssi.get_by_label("Fin de l'étalement").fill(_paris_input(now + datetime.timedelta(days=2)))
    rssi.get_by_label("Heure de début").fill("00:00")
    rssi.get_by_label("Heure de fin").fill("23:59")
    expect(rssi.get_by_label("Jours ouvrés seulement")).to_be_checked()
    _click_label(rssi, "Jours ouvrés seulement")  # (DSFR boxes: their label takes the click)
    expect(rssi.get_by_label("Jours ouvrés seulement")).not_to_be_checked()
    rssi.get_by_label("Information des personnels").fill(
        "Information faite en CSE le 12 novembre : des exercices ont lieu toute l'année."
    )
    rssi.get_by_label("Base légale").fill("RGPD art. 32 : sécurité du traitement.")
    rssi.get_by_role("button", name="Enregistrer le brouillon").click()
    expect(rssi.locator("main")).to_contain_text("Campagne enregistrée.")
    rssi.get_by_role("button", name="Programmer la campagne").click()
    expect(rssi.locator("main")).to_contain_text("Campagne programmée pour 3 destinataires.")
    rssi.get_by_role("button", name="Envoyer maintenant").click()
    expect(rssi.locator("main")).to_contain_text("Les messages restants partent dès maintenant")


def _worker_sends(sink: Sink) -> list[email.message.EmailMessage]:
    """What a Celery worker's sweep does, run here (no broker in the tests)."""
    deadline = time.monotonic() + 20
    while len(sink.messages) < 3 and time.monotonic() < deadline:
        sending.run_once(budget_s=5)
        time.sleep(0.2)
    assert len(sink.messages) == 3
    assert not CampaignRecipient.objects.exclude(send_status=SendStatus.SENT).exists()
    return [email.message_from_bytes(raw, policy=email.policy.default) for *_, raw in sink.messages]


def _links(message) -> dict[str, str]:
    html = message.get_body(("html",)).get_content()
    return {
        "pixel": re.search(r'<img src="([^"]+)"', html).group(1),
        "link": re.search(r'<a href="([^"]+)"', html).group(1),
        "report": message["X-Rempart-Report-URL"],
    }


def _stored_anywhere(value: str) -> list[str]:
    """Every text or JSON column of every table that holds `value`."""
    found = []
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, models.CharField | models.TextField | models.JSONField):
                rows = model._base_manager.annotate(_text=Cast(field.attname, models.TextField()))
                if rows.filter(_text__contains=value).exists():
                    found.append(f"{model._meta.label}.{field.name}")
    return found


def test_a_campaign_from_import_to_funnel(browsing, sink, settings):
    # She reads the message seconds after it arrives, which a mail scanner's speed would be
    # taken for: the test accepts any delay (the speed rule is covered in test_tracking).
    settings.PHISHING_BOT_MIN_DELAY_SECONDS = 0
    world = phishing_world()
    template(
        world.rssi,
        world.hospital,
        name="Résultats du laboratoire",
        subject="Résultats disponibles pour {{prenom}}",
    )
    landing(world.rssi, world.hospital)
    services.profile_create(
        actor=world.rssi,
        organisation=world.hospital,
        name="Serveur de test",
        host="127.0.0.1",
        port=sink.port,
        tls_mode="none",
        from_address="exercices@ch-test.fr",
        rate_per_second=50,
    )

    rssi = browsing()
    log_in(rssi, world.rssi.email, PASSWORD)
    pass_totp(rssi, fresh_totp_code(TEST_TOTP_SECRET))
    _import_staff(rssi)
    _set_up_campaign(rssi)
    received = _worker_sends(sink)
    mine = next(m for m in received if m["To"] == "ines.martin@ch-test.fr")
    assert mine["Subject"] == "Résultats disponibles pour Inès"
    links = _links(mine)

    # The nurse, not logged in, reads the message on her phone, clicks and types on the fake
    # portal. (Headless Chromium's own user-agent is a known scanner's: hers is a phone's.)
    nurse = browsing(user_agent=PHONE, viewport={"width": 390, "height": 844})
    nurse.goto(links["pixel"])
    nurse.goto(links["link"])
    nurse.get_by_label("Identifiant").fill(TYPED_LOGIN)
    nurse.get_by_label("Mot de passe").fill(TYPED_PASSWORD)
    nurse.locator("main form button[type=submit]").click()
    expect(nurse.locator("h1")).to_contain_text("C'était un exercice")
    expect(nurse.get_by_role("link", name=re.compile("hameçonnage", re.I)).first).to_be_visible()
    submitted = TrackingEvent.objects.get(kind="submitted")
    assert sorted(submitted.filled_fields) == ["identifiant", "mot_de_passe"]
    assert _stored_anywhere(TYPED_PASSWORD) == []
    assert _stored_anywhere(TYPED_LOGIN) == []

    # She reports the message.
    nurse.goto(links["report"])
    nurse.get_by_role("button", name=re.compile("Signaler")).click()
    expect(nurse.locator("main")).to_contain_text("Merci")

    # The RSSI reads the funnel.
    rssi.goto("/hameconnage/")
    rssi.get_by_role("link", name="Exercice urgences").click()
    rssi.get_by_role("link", name="Résultats").first.click()
    funnel = rssi.locator("main table").first
    for label, count in [
        ("Envoyés", "3"),
        ("Ouverts", "1"),
        ("Cliqués", "1"),
        ("Formulaires soumis", "1"),
        ("Signalés", "1"),
    ]:
        cells = funnel.locator("tr", has_text=label).locator("td")
        expect(cells.nth(0)).to_have_text(count)  # all events
        expect(cells.nth(2)).to_have_text(count)  # without mail scanners: she is a person
