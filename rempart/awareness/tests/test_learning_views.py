import pytest
from django.test import Client
from django.urls import reverse

from rempart.awareness.learning_services import attempt_submit
from rempart.awareness.models import Attempt, Audience

from .factories import QUIZ_CODE, SEED_QUIZ_RIGHT, awareness_world, load_content, make_module

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return awareness_world()


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _quiz_post(answers: dict[str, list[str]]) -> dict:
    return {f"q-{code}": values for code, values in answers.items()}


def test_staff_without_mfa_sees_the_catalogue_and_the_seed_module(world):
    load_content()
    client = Client()
    assert client.login(email=world.staff.email, password="mot-de-passe-de-test-solide")
    page = client.get(reverse("awareness:modules"))
    assert page.status_code == 200
    assert "Place au quiz cyber" in page.text
    module = client.get(reverse("awareness:module_detail", args=[QUIZ_CODE]))
    assert module.status_code == 200
    assert "<strong>80 %</strong>" in module.text
    phishing = client.get(reverse("awareness:module_detail", args=["hameconnage"]))
    assert "<strong>94 % des incidents commencent par un hameçonnage.</strong>" in phishing.text
    assert "Saynète" in phishing.text


def test_liberal_professional_sees_only_open_modules(world):
    make_module("interne", audience=Audience.STAFF)
    make_module("ouvert")
    client = client_for(world.liberal_staff)
    page = client.get(reverse("awareness:modules"))
    assert "Module ouvert" in page.text
    assert "Module interne" not in page.text
    refused = client.get(reverse("awareness:module_detail", args=["interne"]))
    assert refused.status_code == 403
    assert "professionnels libéraux" in refused.text
    assert client.get(reverse("awareness:module_detail", args=["inconnu"])).status_code == 404


def test_quiz_with_a_missing_answer_keeps_what_was_ticked(world):
    module = load_content()[QUIZ_CODE]
    client = client_for(world.staff)
    url = reverse("awareness:module_quiz", args=[QUIZ_CODE])
    answers = dict(SEED_QUIZ_RIGHT)
    del answers["mobilite"]
    response = client.post(url, _quiz_post(answers))
    assert response.status_code == 400
    assert "Répondez à cette question." in response.text
    assert 'id="q-hameconnage-b" name="q-hameconnage" value="b" checked' in response.text
    assert 'value="c" checked' in response.text  # partage-donnees kept
    assert not Attempt.objects.exists()
    # A choice that does not exist, an unknown question.
    bad = client.post(
        url, {**_quiz_post(SEED_QUIZ_RIGHT), "q-hameconnage": "z", "q-inexistante": "a"}
    )
    assert bad.status_code == 400
    assert "Choisissez parmi les réponses proposées." in bad.text
    assert "ne correspond à aucune question" in bad.text
    assert module.attempts.count() == 0


def test_fail_then_pass_then_download_and_verify(world):
    load_content()
    client = client_for(world.staff)
    url = reverse("awareness:module_quiz", args=[QUIZ_CODE])
    failed = client.post(url, _quiz_post({**SEED_QUIZ_RIGHT, "mobilite": ["a"]}))
    assert failed.status_code == 302
    result = client.get(failed["Location"])
    assert "Quiz non réussi : 75 %" in result.text
    assert "Les réseaux Wi-Fi publics" in result.text  # the explanation
    assert "Recommencer le quiz" in result.text
    passed = client.post(url, _quiz_post(SEED_QUIZ_RIGHT))
    result = client.get(passed["Location"])
    assert "Quiz réussi : 100 %" in result.text
    attempt = Attempt.objects.get(passed=True)
    certificate = attempt.certificate
    pdf = client.get(reverse("awareness:certificate_pdf", args=[certificate.pk]))
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert b"Alice Garnier" in pdf.content
    anonymous = Client().get(reverse("awareness:certificate_verify", args=[certificate.code]))
    assert anonymous.status_code == 200
    assert "Attestation valide" in anonymous.text
    assert "A. G." in anonymous.text
    assert "Garnier" not in anonymous.text
    assert "CH Rivebelle" not in anonymous.text
    assert Client().get(reverse("awareness:certificate_verify", args=["x" * 22])).status_code == 404
    history = client.get(reverse("awareness:attempt_list"))
    assert history.text.count("Place au quiz cyber") == 2


def test_certificate_download_holder_managers_only(world):
    module = make_module()
    attempt = attempt_submit(
        actor=world.staff, module=module, answers={"q1": ["a"], "q2": ["a", "c"]}
    )
    url = reverse("awareness:certificate_pdf", args=[attempt.certificate.pk])
    assert client_for(world.director).get(url).status_code == 200
    assert client_for(world.rssi).get(url).status_code == 200
    colleague = client_for(world.colleague).get(url)
    assert colleague.status_code == 403
    assert "autre personne" in colleague.text
    assert client_for(world.outsider_staff).get(url).status_code == 404
    assert client_for(world.sibling_director).get(url).status_code == 404
    assert client_for(world.crrc_operator).get(url).status_code == 404


def test_attempts_are_personal(world):
    module = make_module()
    attempt = attempt_submit(actor=world.staff, module=module, answers={"q1": ["b"], "q2": ["a"]})
    url = reverse("awareness:attempt_detail", args=[attempt.pk])
    assert client_for(world.staff).get(url).status_code == 200
    assert client_for(world.colleague).get(url).status_code == 404
    assert client_for(world.director).get(url).status_code == 404


def test_list_pages_have_a_query_budget(world, django_assert_max_num_queries):
    modules = load_content()
    client = client_for(world.staff)
    for _ in range(3):
        attempt_submit(actor=world.staff, module=modules[QUIZ_CODE], answers=SEED_QUIZ_RIGHT)
    client.get(reverse("awareness:modules"))  # warm the session
    with django_assert_max_num_queries(8):
        catalogue = client.get(reverse("awareness:modules"))
    assert catalogue.status_code == 200
    assert "Vous avez réussi 1 module." in catalogue.text
    with django_assert_max_num_queries(8):
        assert client.get(reverse("awareness:attempt_list")).status_code == 200
