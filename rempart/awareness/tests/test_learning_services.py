import pytest

from rempart.awareness import learning_services as services
from rempart.awareness.learning_services import QuizAnswerError, attempt_submit
from rempart.awareness.models import Attempt, Audience, Certificate
from rempart.core.errors import DomainError
from rempart.core.models import AuditEntry

from .factories import QUIZ_CODE, SEED_QUIZ_RIGHT, awareness_world, load_content, make_module

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return awareness_world()


def test_seed_quiz_passes_with_b_b_d_c_and_issues_an_unguessable_certificate(world):
    module = load_content()[QUIZ_CODE]
    attempt = attempt_submit(actor=world.staff, module=module, answers=SEED_QUIZ_RIGHT)
    assert (attempt.score, attempt.passed, attempt.correct_count) == (100, True, 4)
    assert attempt.organisation == world.establishment
    certificate = attempt.certificate
    assert certificate.holder_name == "Alice Garnier"
    assert certificate.organisation_name == "CH Rivebelle"
    assert len(certificate.code) >= 22  # 16 random bytes, URL-safe
    assert certificate.holder_initials == "A. G."
    assert AuditEntry.objects.filter(
        content_type__model="certificate", organisation_id=world.establishment.pk
    ).exists()


def test_three_right_out_of_four_fails_at_80_percent(world):
    module = load_content()[QUIZ_CODE]
    answers = {**SEED_QUIZ_RIGHT, "bon-mot-de-passe": ["a"]}
    attempt = attempt_submit(actor=world.staff, module=module, answers=answers)
    assert (attempt.score, attempt.passed) == (75, False)
    assert not Certificate.objects.exists()
    first = attempt.answers[0]
    assert first["selected"] == ["a"]
    assert first["is_correct"] is False
    assert "ANSSI" in first["explanation"]


def test_multiple_choice_needs_exactly_the_right_set(world):
    module = make_module()
    wrong = attempt_submit(actor=world.staff, module=module, answers={"q1": "a", "q2": ["a"]})
    assert wrong.score == 50
    right = attempt_submit(
        actor=world.staff, module=module, answers={"q1": ["a"], "q2": ["c", "a"]}
    )
    assert right.score == 100
    assert right.passed


def test_bad_answers_are_all_reported_and_nothing_is_written(world):
    module = make_module()
    with pytest.raises(QuizAnswerError) as caught:
        attempt_submit(
            actor=world.staff,
            module=module,
            answers={"q2": ["a", "z"], "q9": ["a"]},
        )
    errors = caught.value.errors
    assert errors["q1"] == services.MISSING_ANSWER
    assert errors["q2"] == services.UNKNOWN_CHOICE
    assert "aucune question" in errors[services.ANSWERS_KEY]
    assert "q9" in errors["__all__"]
    with pytest.raises(QuizAnswerError) as caught:
        attempt_submit(actor=world.staff, module=module, answers={"q1": ["a", "b"], "q2": ["a"]})
    assert caught.value.errors == {"q1": services.ONE_CHOICE_ONLY}
    assert not Attempt.objects.exists()


def test_changing_the_content_never_rewrites_past_results(world):
    module = make_module()
    attempt = attempt_submit(
        actor=world.staff, module=module, answers={"q1": ["a"], "q2": ["a", "c"]}
    )
    module.questions[0]["correct"] = ["b"]
    module.questions[0]["text"] = "Question modifiée ?"
    module.version += 1
    module.save()
    attempt.refresh_from_db()
    assert attempt.score == 100
    assert attempt.module_version == 1
    assert attempt.answers[0]["text"] == "Question unique ?"
    assert attempt.certificate.module_version == 1


def test_liberal_professionals_only_follow_modules_open_to_them(world):
    staff_only = make_module("interne", audience=Audience.STAFF)
    with pytest.raises(DomainError, match="professionnels libéraux"):
        attempt_submit(
            actor=world.liberal_staff, module=staff_only, answers={"q1": ["a"], "q2": ["a", "c"]}
        )
    open_module = make_module("ouvert")
    attempt = attempt_submit(
        actor=world.liberal_staff, module=open_module, answers={"q1": ["a"], "q2": ["a", "c"]}
    )
    assert attempt.organisation == world.liberal
    assert attempt.passed


def test_an_attempt_is_for_one_of_the_learners_own_organisations(world):
    module = make_module()
    with pytest.raises(DomainError, match="organisation dont vous êtes membre"):
        attempt_submit(
            actor=world.staff,
            module=module,
            answers={"q1": ["a"], "q2": ["a", "c"]},
            organisation=world.other_establishment,
        )


def test_inactive_module_is_refused(world):
    module = make_module(is_active=False)
    with pytest.raises(DomainError, match="plus proposé"):
        attempt_submit(actor=world.staff, module=module, answers={"q1": ["a"], "q2": ["a", "c"]})
