"""Issue 7, a cyber crisis exercise in the browser, from the library to the ARS coverage.

The region has two establishments and no valid exercise: the ARS reads 0 %. The RSSI of the
Centre hospitalier de Rivebelle plans an exercise from a national library scenario, names an IT
player first (the page says it would not count: IT alone), then the general management and the
medical direction, and sends the director her personal link. From the facilitator's console the
exercise starts, an inject is released now, the director reads it without an account through
her link and answers the facilitator; the facilitator notes a reaction and ends the exercise.
Attendance, evaluation and RETEX with an action follow; the exercise now counts, and the ARS
coverage rises to 50 %. The PDF report is downloadable for people without an account."""

import re

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from rempart.exercises import library
from rempart.exercises.models import (
    CoverageRecord,
    Debrief,
    ExerciseRun,
    JournalEntry,
    RunStatus,
    Scenario,
    ScenarioStatus,
)
from rempart.exercises.tests.factories import exercises_world
from rempart.organisations.tests.factories import TEST_TOTP_SECRET

from .helpers import fresh_totp_code, log_in, pass_totp

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "mot-de-passe-de-test-solide"  # the factories' password
SLUG = "rancongiciel-nuit-centre-hospitalier"


def _logged_in(browsing, user):
    page = browsing()
    log_in(page, user.email, PASSWORD)
    pass_totp(page, fresh_totp_code(TEST_TOTP_SECRET))
    return page


def _add_participant(page, function: str, name: str, job: str, email: str) -> None:
    form = page.locator("form#participant-form")
    form.locator("[name=function]").select_option(function)
    form.locator("[name=full_name]").fill(name)
    form.locator("[name=job_title]").fill(job)
    form.locator("[name=email]").fill(email)
    form.get_by_role("button", name="Ajouter").click()
    expect(page.locator("#participants")).to_contain_text(name)


def test_exercise_from_library_through_injects_to_debrief_raises_ars_coverage(browsing):
    world = exercises_world()
    library.load_national_library()
    scenario = Scenario.objects.get(
        slug=SLUG, library_key="national", status=ScenarioStatus.CURRENT
    )
    injects = list(scenario.injects.order_by("order"))
    first_inject = injects[0]  # at T+0: released when the exercise starts
    assert "general_management" not in first_inject.functions
    for_management = next(i for i in injects[1:] if "general_management" in i.functions)

    # 0. The ARS reads the coverage: nobody has a valid exercise yet.
    ars = _logged_in(browsing, world.ars_manager)
    ars.goto("/exercices/couverture/")
    expect(ars.locator("h1")).to_contain_text("Couverture des exercices de crise")
    expect(ars.locator("#coverage-rate")).to_contain_text("0,0")
    expect(ars.locator("#coverage-covered")).to_contain_text("0 / 2")

    # 1. The RSSI plans an exercise from the national library.
    rssi = _logged_in(browsing, world.rssi)
    rssi.goto("/exercices/")
    rssi.get_by_role("link", name="Planifier un exercice").click()
    form = rssi.locator("form#run-form")
    form.locator("[name=scenario]").select_option(str(scenario.pk))
    form.locator("[name=day]").fill(timezone.localdate().isoformat())
    form.locator("[name=start_time]").fill("09:00")
    form.locator("[name=location]").fill("Salle du conseil, bâtiment A")
    form.get_by_role("button", name="Planifier l'exercice").click()
    expect(rssi.locator("h1")).to_contain_text(scenario.title)
    run = ExerciseRun.objects.get()
    assert run.injects.count() == scenario.injects.count()
    expect(rssi.locator("#timeline")).to_contain_text(first_inject.title)

    # 2. Participants: IT alone would not count, the page says why; then management and care.
    _add_participant(rssi, "it", "Marc Petit", "DSI", "marc.petit@ch-rivebelle.fr")
    expect(rssi.locator("main")).to_contain_text("Seule l'équipe informatique participe")
    _add_participant(
        rssi, "general_management", "Claire Dubois", "Directrice", "claire.dubois@ch-rivebelle.fr"
    )
    _add_participant(
        rssi, "medical", "Dr Paul Martin", "Président de CME", "paul.martin@ch-rivebelle.fr"
    )
    mail.outbox.clear()
    rssi.locator("tr", has_text="Claire Dubois").get_by_role(
        "button", name="Envoyer le lien"
    ).click()
    expect(rssi.locator("tr", has_text="Claire Dubois")).to_contain_text("envoyé le")
    invitation = next(m for m in mail.outbox if m.to == ["claire.dubois@ch-rivebelle.fr"])
    link = re.search(r"https?://\S+/exercices/participer/\S+/", invitation.body).group(0)

    # 3. The console: start (the T+0 inject goes out), release the management's inject now.
    rssi.get_by_role("link", name="Console d'animation").click()
    expect(rssi.locator("h1")).to_contain_text("Console d'animation")
    rssi.locator("#console-transitions").get_by_role("button", name="Démarrer").click()
    expect(rssi.locator("#run-console")).to_contain_text("En cours")
    timeline = rssi.locator("#console-timeline")
    expect(timeline.locator("tr", has_text=first_inject.title)).to_contain_text("diffusé")
    row = timeline.locator("tr", has_text=for_management.title)
    row.get_by_role("button", name="Diffuser maintenant").click()
    expect(timeline.locator("tr", has_text=for_management.title)).to_contain_text("diffusé")

    # 4. The director reads it through her link, without an account, and answers; the inject
    # meant for care and IT only is not shown to her.
    director = browsing()
    director.goto(link)
    expect(director.locator("#participant-who")).to_contain_text("Claire Dubois")
    expect(director.locator("#participant-feed")).to_contain_text(for_management.title)
    expect(director.locator("#participant-feed")).not_to_contain_text(first_inject.title)
    director.locator("form#message-form [name=text]").fill(
        "Cellule de crise convoquée à 9 h 10, plan blanc envisagé."
    )
    director.locator("form#message-form").get_by_role("button", name="Envoyer").click()
    expect(director.locator("#message-sent")).to_be_visible()
    assert JournalEntry.objects.filter(run=run, participant__full_name="Claire Dubois").exists()

    # 5. The facilitator notes a reaction, then ends the exercise.
    rssi.reload()
    expect(rssi.locator("#console-journal")).to_contain_text("Cellule de crise convoquée")
    note = rssi.locator("form#note-form")
    note.locator("[name=kind]").select_option("reaction")
    note.locator("[name=text]").fill("Isolement du réseau décidé en 12 minutes.")
    note.get_by_role("button", name="Ajouter au journal").click()
    expect(rssi.locator("#console-journal")).to_contain_text("Isolement du réseau")
    rssi.once("dialog", lambda dialog: dialog.accept())
    rssi.locator("#console-transitions").get_by_role("button", name="Terminer l'exercice").click()
    expect(rssi.locator("#run-console")).to_contain_text("Joué")
    run.refresh_from_db()
    assert run.status == RunStatus.FINISHED

    # 6. Attendance, evaluation, RETEX with one action.
    rssi.goto(f"/exercices/{run.pk}/")
    for person in ("Marc Petit", "Claire Dubois", "Dr Paul Martin"):
        rssi.locator("tr", has_text=person).locator(".fr-checkbox-group label").click()
    rssi.get_by_role("button", name="Enregistrer les présences").first.click()
    expect(rssi.locator("#participants")).to_contain_text("présent·e")
    rssi.get_by_role("link", name="Renseigner l'évaluation").click()
    evaluation = rssi.locator("form#evaluation-form")
    scores = evaluation.locator("select[name^=score_]")
    # all() does not wait: the grid must be on screen before it is listed.
    expect(scores.first).to_be_visible()
    assert scores.count() == len(scenario.criteria)
    for select in scores.all():
        select.select_option("3")
    evaluation.locator("[name=summary]").fill("Cellule de crise efficace, communication tardive.")
    evaluation.get_by_role("button", name="Enregistrer l'évaluation").click()
    expect(rssi.locator("main")).to_contain_text(
        "Le retour d'expérience (RETEX) n'est pas formalisé"
    )
    rssi.get_by_role("link", name="Formaliser le RETEX").click()
    debrief = rssi.locator("form#debrief-form")
    debrief.locator("[name=held_on]").fill(timezone.localdate().isoformat())
    debrief.locator("[name=strengths]").fill("Mobilisation rapide de la direction.")
    debrief.locator("[name=improvements]").fill("Annuaire de crise à jour, fiches réflexes papier.")
    debrief.get_by_role("button", name="Enregistrer le RETEX").click()
    action = rssi.locator("form#action-form")
    action.locator("[name=title]").fill("Imprimer les fiches réflexes du mode dégradé")
    action.locator("[name=owner]").fill("Direction des soins")
    action.get_by_role("button", name="Ajouter l'action").click()
    expect(rssi.locator("#actions")).to_contain_text("Imprimer les fiches réflexes")
    assert Debrief.objects.get(run=run).actions.count() == 1
    rssi.goto(f"/exercices/{run.pk}/")
    expect(rssi.locator("main")).to_contain_text("Compte pour la couverture")
    assert CoverageRecord.objects.get(run=run, organisation=world.establishment).counts

    # The report is there for people without an account.
    report = rssi.request.get(f"/exercices/{run.pk}/rapport.pdf")
    assert report.status == 200
    assert report.body().startswith(b"%PDF")

    # 7. The ARS coverage rises.
    ars.reload()
    expect(ars.locator("#coverage-rate")).to_contain_text("50,0")
    expect(ars.locator("#coverage-covered")).to_contain_text("1 / 2")
    ars.get_by_role("link", name="Établissements sans exercice valide").click()
    expect(ars.locator("#coverage-organisations")).to_contain_text(world.sibling.name)
    expect(ars.locator("#coverage-organisations")).not_to_contain_text(world.establishment.name)
