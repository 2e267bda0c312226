"""Issue 6, awareness in the browser.

A nurse of the Centre hospitalier de Rivebelle (role « personnel », no second factor) opens the
seed 004 quiz « Place au quiz cyber ! ». She first sends it with a question left unanswered:
a French error, and what she had ticked is still ticked. She then fails once (three right
answers out of four: 75 % < 80 %) and reads the explanations, retries and passes, downloads
her certificate (a PDF with her name) and the public verification page, opened by somebody
who is not logged in, says it is valid.

A CRRC trainer records an escape-game session: a negative number of participants and a
missing date are refused first (French errors, nothing lost), then the session is saved and
the regional participation total counts it."""

import pytest
from playwright.sync_api import expect

from rempart.awareness.models import Attempt, Certificate, EscapeGameSession
from rempart.awareness.tests.factories import awareness_world, load_content
from rempart.organisations.tests.factories import TEST_TOTP_SECRET

from .helpers import fresh_totp_code, log_in, pass_totp

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "mot-de-passe-de-test-solide"  # the factories' password


def _tick(page, question: str, choice: str) -> None:
    page.locator(f"label[for=q-{question}-{choice}]").click()


def test_staff_passes_the_seed_quiz_and_gets_a_verifiable_certificate(browsing):
    world = awareness_world()
    load_content()
    nurse = browsing()
    log_in(nurse, world.staff.email, PASSWORD)
    nurse.goto("/sensibilisation/")
    expect(nurse.locator("h1")).to_contain_text("Modules de sensibilisation")
    nurse.get_by_role("link", name="Place au quiz cyber !").click()
    expect(nurse.locator("h1")).to_contain_text("Place au quiz cyber !")
    nurse.get_by_role("link", name="Passer le quiz").click()

    # 1. The mobility question is left unanswered.
    _tick(nurse, "bon-mot-de-passe", "b")
    _tick(nurse, "hameconnage", "b")
    _tick(nurse, "partage-donnees", "c")
    nurse.get_by_role("button", name="Envoyer mes réponses").click()
    expect(nurse.locator("#quiz-errors")).to_contain_text("1 réponse est à corriger")
    expect(nurse.locator("#question-mobilite")).to_contain_text("Répondez à cette question.")
    expect(nurse.locator("#q-bon-mot-de-passe-b")).to_be_checked()
    expect(nurse.locator("#q-hameconnage-b")).to_be_checked()
    expect(nurse.locator("#q-partage-donnees-c")).to_be_checked()
    assert not Attempt.objects.exists()

    # 2. Public Wi-Fi of the train: 3 out of 4, failed, with the explanations.
    _tick(nurse, "mobilite", "a")
    nurse.get_by_role("button", name="Envoyer mes réponses").click()
    expect(nurse.locator("#quiz-outcome")).to_contain_text("Quiz non réussi : 75 %")
    expect(nurse.locator("#answer-mobilite")).to_contain_text("Réponse incorrecte")
    expect(nurse.locator("#answer-mobilite")).to_contain_text(
        "Le partage de connexion à partir du téléphone professionnel"
    )
    expect(nurse.locator("#answer-hameconnage")).to_contain_text("hameçonnage en français")

    # 3. Retry and pass.
    nurse.get_by_role("link", name="Recommencer le quiz").click()
    for question, choice in [
        ("bon-mot-de-passe", "b"),
        ("hameconnage", "b"),
        ("mobilite", "d"),
        ("partage-donnees", "c"),
    ]:
        _tick(nurse, question, choice)
    nurse.get_by_role("button", name="Envoyer mes réponses").click()
    expect(nurse.locator("#quiz-outcome")).to_contain_text("Quiz réussi : 100 %")

    # 4. The certificate.
    with nurse.expect_download() as download_info:
        nurse.get_by_role("link", name="Télécharger mon attestation (PDF)").click()
    with open(download_info.value.path(), "rb") as fh:
        pdf = fh.read()
    assert pdf.startswith(b"%PDF")
    assert b"Alice Garnier" in pdf
    certificate = Certificate.objects.get()
    assert certificate.attempt.score == 100
    assert Attempt.objects.filter(user=world.staff).count() == 2

    # 5. Anybody can check it, and sees only initials, module, date.
    visitor = browsing()
    visitor.goto(f"/sensibilisation/attestations/verifier/{certificate.code}/")
    expect(visitor.locator("#certificate-status")).to_contain_text("Attestation valide")
    expect(visitor.locator("main")).to_contain_text("A. G.")
    expect(visitor.locator("main")).to_contain_text("Place au quiz cyber !")
    expect(visitor.locator("main")).not_to_contain_text("Garnier")


def test_trainer_records_an_escape_game_session(browsing):
    world = awareness_world()
    trainer = browsing()
    log_in(trainer, world.trainer.email, PASSWORD)
    pass_totp(trainer, fresh_totp_code(TEST_TOTP_SECRET))
    trainer.goto("/sensibilisation/escape-games/")
    expect(trainer.locator("h1")).to_contain_text("Escape games")
    trainer.get_by_role("link", name="Enregistrer une session").click()
    form = trainer.locator("main form#escape-form")
    form.locator("[name=host]").select_option(label="CH Rivebelle")
    form.locator("[name=site]").fill("Salle de formation, bâtiment B")
    form.locator("[name=team_count]").fill("2")
    form.locator("[name=part-0-organisation]").select_option(label="CH Rivebelle")
    form.locator("[name=part-0-count]").fill("-4")
    form.locator("[name=debrief]").fill("Mots de passe sous les claviers trouvés en 3 minutes.")
    form.get_by_role("button", name="Enregistrer la session").click()
    expect(trainer.locator("main")).to_contain_text("Indiquez la date de la session")
    expect(trainer.locator("main")).to_contain_text("ne peut pas être négatif")
    expect(form.locator("[name=site]")).to_have_value("Salle de formation, bâtiment B")
    expect(form.locator("[name=debrief]")).to_have_value(
        "Mots de passe sous les claviers trouvés en 3 minutes."
    )
    assert not EscapeGameSession.objects.exists()

    form.locator("[name=held_on]").fill("2025-03-12")
    form.locator("[name=part-0-count]").fill("5")
    form.locator("[name=part-1-organisation]").select_option(label="CH Voisin")
    form.locator("[name=part-1-count]").fill("4")
    form.locator("[name=escaped]").select_option("oui")
    form.locator("[name=escape_minutes]").fill("41")
    form.locator("[name=satisfaction]").fill("9")
    form.get_by_role("button", name="Enregistrer la session").click()
    expect(trainer.locator("h1")).to_contain_text("Sant'escape sécurité numérique")
    expect(trainer.locator("main")).to_contain_text("9 participants")
    session = EscapeGameSession.objects.get()
    assert session.participant_count == 9
    assert session.duration_minutes == 45
    trainer.locator(".fr-breadcrumb").get_by_role("link", name="Escape games").click()
    expect(trainer.locator("#escape-totals")).to_contain_text("9 participants")
