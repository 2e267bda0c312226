"""Issue 8, self-assessment in the browser.

The RSSI of the Centre hospitalier de Rivebelle answers the questionnaire of instruction
DNS/2025/12: « un exercice a-t-il eu lieu ? » answered « Oui » makes its follow-up questions
appear. Once completed, the results show the radar and the priority measures; two gaps become
two actions of the action plan. Five other establishments of the region have completed the same
questionnaire: the ARS sees the regional completion and the anonymised distribution, but the
answers of the Centre hospitalier stay out of its reach. Finally the RSSI imports a referential
in CISO Assistant's format and answers it."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from rempart.assessments import questionnaires, services
from rempart.assessments.models import Action, Assessment, AssessmentStatus, Questionnaire
from rempart.assessments.tests.factories import assessments_world
from rempart.core.roles import Role
from rempart.organisations.tests.factories import TEST_TOTP_SECRET, OrganisationFactory, member

from .helpers import fresh_totp_code, log_in, pass_totp

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "mot-de-passe-de-test-solide"  # the factories' password
DNS_URN_PART = "dns-2025-12"
EXERCISE_QUESTION = "Un exercice de crise d'origine cyber a-t-il eu lieu"
FOLLOW_UP = "Qui a participé à la cellule de crise"
CISO_SAMPLE = (
    Path(__file__).resolve().parents[2]
    / "rempart"
    / "assessments"
    / "tests"
    / "data"
    / "ciso_assistant_sample.yaml"
)


def _logged_in(browsing, user):
    page = browsing()
    log_in(page, user.email, PASSWORD)
    pass_totp(page, fresh_totp_code(TEST_TOTP_SECRET))
    return page


def _complete_by_service(organisation, questionnaire, answer_index: int) -> None:
    """Another establishment answers every visible question with the same rank of choice."""
    rssi = member(Role.RSSI, organisation)
    assessment = services.start_assessment(
        actor=rssi, organisation=organisation, questionnaire=questionnaire
    ).assessment
    for _round in range(3):  # conditional questions appear as their parents are answered
        for question in questionnaire.questions.order_by("order"):
            choices = list(question.choices.order_by("order"))
            value = [str(choices[min(answer_index, len(choices) - 1)].pk)] if choices else ["1"]
            services.save_answer(actor=rssi, assessment=assessment, question=question, values=value)
    services.complete_assessment(actor=rssi, assessment=assessment)


def _answer_visible_questions(page) -> None:
    """Answer, on the current theme, every question not answered yet with its first choice (or
    a value), the way a person clicks through; HTMX swaps the theme after each answer."""
    for _ in range(30):
        pending = page.locator("form.rempart-question:not(:has(.fr-badge--success))")
        if pending.count() == 0:
            return
        form = pending.first
        question_id = form.get_attribute("id")
        radios = form.locator("input[type=radio], input[type=checkbox]")
        if radios.count():
            form.locator(".fr-radio-group label, .fr-checkbox-group label").first.click()
        else:
            form.locator("[name=value]").fill("12")
            form.get_by_role("button", name="Enregistrer").click()
        expect(page.locator(f"#{question_id} .fr-badge--success")).to_be_visible()
    raise AssertionError("questions still unanswered after 30 answers")


def test_rssi_answers_dns_sees_results_plans_actions_and_ars_sees_only_figures(browsing):
    world = assessments_world()
    questionnaires.load_files()
    dns = Questionnaire.objects.get(urn__contains=DNS_URN_PART, status="current")
    for index in range(5):
        _complete_by_service(
            OrganisationFactory(region=world.region, name=f"Clinique n°{index}"), dns, index % 3
        )

    # 1. The RSSI starts the DNS questionnaire; the conditional question appears with « Oui ».
    rssi = _logged_in(browsing, world.rssi)
    rssi.goto("/autoevaluation/")
    expect(rssi.locator("h1")).to_contain_text("Mes autoévaluations")
    rssi.locator("tr", has_text=dns.name).get_by_role("button", name="Commencer").click()
    expect(rssi.locator("#answer-theme")).to_contain_text(EXERCISE_QUESTION)
    expect(rssi.locator("#answer-theme")).not_to_contain_text(FOLLOW_UP)
    question = rssi.locator("form.rempart-question", has_text=EXERCISE_QUESTION)
    question.locator(".fr-radio-group label", has_text="Oui").click()
    expect(rssi.locator("#answer-theme")).to_contain_text(FOLLOW_UP)

    # 2. Every theme, every visible question.
    themes = rssi.locator(".fr-sidemenu__link")
    for index in range(themes.count()):
        rssi.locator(".fr-sidemenu__link").nth(index).click()
        _answer_visible_questions(rssi)
    rssi.get_by_role("button", name="Terminer l'autoévaluation").click()
    assessment = Assessment.objects.get(organisation=world.establishment, questionnaire=dns)
    assert assessment.status == AssessmentStatus.COMPLETED
    assert assessment.answers.filter(question__text__startswith=FOLLOW_UP).exists()

    # 3. Results: score, radar, priority measures; two gaps become two actions.
    rssi.goto(f"/autoevaluation/{assessment.pk}/resultats/")
    expect(rssi.locator("#overall-score")).to_contain_text("/ 100")
    expect(rssi.locator("figure svg polygon").first).to_be_attached()
    expect(rssi.locator("#priority-measures li").first).to_be_visible()
    gaps = rssi.locator("input[name=gaps]")
    assert gaps.count() >= 2
    for index in range(gaps.count()):  # keep exactly the first two
        box = gaps.nth(index)
        if box.is_checked() != (index < 2):
            rssi.locator(f"label[for={box.get_attribute('id')}]").click()
    rssi.get_by_role("button", name="Créer les actions").click()
    expect(rssi.locator("main")).to_contain_text("action")
    assert Action.objects.filter(source_assessment=assessment).count() == 2
    rssi.goto("/autoevaluation/plan/")
    for action in Action.objects.filter(source_assessment=assessment):
        expect(rssi.locator("main")).to_contain_text(action.title)

    # 4. The ARS: completion and anonymised distribution, never the answers.
    ars = _logged_in(browsing, world.ars_manager)
    ars.goto(f"/autoevaluation/region/questionnaires/{dns.pk}/avancement/")
    expect(ars.locator("#count-completed")).to_contain_text("6")
    expect(ars.locator("#completion-rows")).to_contain_text(world.establishment.name)
    ars.goto(f"/autoevaluation/region/questionnaires/{dns.pk}/repartition/")
    expect(ars.locator("#overall")).to_contain_text("6")
    response = ars.goto(f"/autoevaluation/{assessment.pk}/")
    assert response.status == 403
    expect(ars.locator("main")).to_contain_text("réponses")

    # 5. A referential in CISO Assistant's format imports and can be answered.
    rssi.goto("/autoevaluation/")
    rssi.get_by_role("link", name="Importer un référentiel (CISO Assistant)").click()
    rssi.locator("form#import-form input[type=file]").set_input_files(str(CISO_SAMPLE))
    rssi.get_by_role("button", name="Importer").click()
    expect(rssi.locator("main")).to_contain_text("Référentiel importé")
    imported = Questionnaire.objects.get(organisation=world.establishment)
    rssi.locator("tr", has_text=imported.name).get_by_role("button", name="Commencer").click()
    _answer_visible_questions(rssi)
    own = Assessment.objects.get(organisation=world.establishment, questionnaire=imported)
    assert own.answers.exists()
