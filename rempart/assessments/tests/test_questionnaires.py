"""The questionnaire loader: shipped files, refusals with line and field, versions with a
mapping and carried-over answers, and CISO Assistant files."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from rempart.assessments import questionnaires as qs
from rempart.assessments import scoring
from rempart.assessments.models import (
    Answer,
    Assessment,
    AssessmentStatus,
    Choice,
    Measure,
    Question,
    QuestionKind,
    Questionnaire,
    QuestionnaireKind,
    QuestionnaireStatus,
    RequirementNode,
)
from rempart.assessments.tests.factories import assessments_world
from rempart.core.errors import DomainError

pytestmark = pytest.mark.django_db

DATA = Path(__file__).resolve().parent / "data"
CISO = (DATA / "ciso_assistant_sample.yaml").read_text(encoding="utf-8")
BROKEN = (DATA / "broken.yaml").read_text(encoding="utf-8")

V1 = """
urn: urn:rempart:library:essai
ref_id: ESSAI
name: Essai
version: 1
objects:
  framework:
    urn: urn:rempart:framework:essai
    ref_id: ESSAI
    name: Essai
    x-rempart-kind: maturity
    x-rempart-min-answered-percent: 50
    requirement_nodes:
    - urn: urn:rempart:req_node:essai:t
      depth: 1
      name: Thème
    - urn: urn:rempart:req_node:essai:t:r
      parent_urn: urn:rempart:req_node:essai:t
      depth: 2
      assessable: true
      name: Exigence
      questions:
        urn:rempart:essai:q1:
          type: unique_choice
          text: Une sauvegarde hors ligne existe-t-elle ?
          choices:
          - {urn: "urn:rempart:essai:q1:non", value: Non, add_score: 0}
          - {urn: "urn:rempart:essai:q1:partiel", value: En partie, add_score: 50}
          - {urn: "urn:rempart:essai:q1:oui", value: Oui, add_score: 100}
        urn:rempart:essai:q2:
          type: multiple_choice
          text: Quels systèmes sont sauvegardés ?
          choices:
          - {urn: "urn:rempart:essai:q2:dpi", value: DPI, add_score: 60}
          - {urn: "urn:rempart:essai:q2:rh", value: Paie, add_score: 40}
        urn:rempart:essai:q3:
          type: text
          text: Quel outil ?
        urn:rempart:essai:q4:
          type: number
          text: Combien de serveurs ?
"""

# v2: q1 renamed (with its choices, « partiel » dropped), q3 unchanged, q4 removed.
V2 = (
    V1.replace("urn:rempart:essai:q1:", "urn:rempart:essai:q1b:")
    .replace("urn:rempart:essai:q1b:partiel", "urn:rempart:essai:q1b:moitie")
    .replace("value: En partie", "value: A moitie")
    .replace(
        """        urn:rempart:essai:q4:
          type: number
          text: Combien de serveurs ?
""",
        "",
    )
    .replace(
        "    x-rempart-min-answered-percent: 50\n",
        """    x-rempart-min-answered-percent: 50
    x-rempart-mapping:
      questions:
        urn:rempart:essai:q1: urn:rempart:essai:q1b
      choices:
        urn:rempart:essai:q1:non: urn:rempart:essai:q1b:non
        urn:rempart:essai:q1:oui: urn:rempart:essai:q1b:oui
""",
    )
)


def problems_of(text, **kwargs) -> list[qs.Problem]:
    with pytest.raises(qs.QuestionnaireDataError) as caught:
        qs.load_questionnaire(text, **kwargs)
    return caught.value.problems


# --- shipped files --------------------------------------------------------------------------


def test_every_shipped_file_loads_and_reloading_changes_nothing():
    results = qs.load_files()
    assert sorted(r.status for r in results) == ["created"] * 3
    by_urn = {r.questionnaire.urn: r.questionnaire for r in results}
    dns = by_urn["urn:rempart:framework:dns-2025-12"]
    care = by_urn["urn:rempart:framework:care-prerequis"]
    diag = by_urn["urn:rempart:framework:diagnostic-maturite"]
    assert dns.kind == QuestionnaireKind.PRIORITY_ACTIONS
    assert care.kind == QuestionnaireKind.PREREQUISITES
    assert diag.kind == QuestionnaireKind.MATURITY
    assert dns.nodes.filter(depth=1).count() == 7
    assert care.nodes.filter(depth=1).count() == 4
    assert diag.nodes.filter(depth=1).count() == 6
    assert 38 <= diag.questions.count() <= 45
    # Every node has its theme; every theme is its own.
    for questionnaire in (dns, care, diag):
        assert not questionnaire.nodes.filter(theme__isnull=True).exists()
        for node in questionnaire.nodes.select_related("theme"):
            assert node.theme.depth == 1
    # The conditional RETEX question of the DNS questionnaire.
    retex = dns.questions.get(urn__endswith=":question:a1q3")
    assert retex.depends_on.urn.endswith(":question:a1q1")
    assert retex.depends_on_choices == [retex.depends_on.choices.get(label="Oui").urn]
    assert dns.questions.get(urn__endswith=":question:a1q1").kind == QuestionKind.YES_NO
    # Measures with a priority and CaRE domains.
    assert diag.measures.filter(care_domain_code__in=["D1", "D2", "D3"]).count() >= 8
    assert not Measure.objects.filter(choices__isnull=True).exists()
    # « Je ne sais pas » is never scored.
    assert not Choice.objects.filter(label="Je ne sais pas", score__isnull=False).exists()

    again = qs.load_files()
    assert [r.status for r in again] == ["unchanged"] * 3
    assert Questionnaire.objects.count() == 3


def test_command_loads_idempotently():
    out = StringIO()
    call_command("questionnaire_load", stdout=out)
    assert "créé : Instruction DNS/2025/12" in out.getvalue()
    out = StringIO()
    call_command("questionnaire_load", stdout=out)
    assert out.getvalue().count("inchangé") == 3
    assert Questionnaire.objects.count() == 3


def test_command_refuses_an_unknown_finess_and_a_broken_file(tmp_path):
    with pytest.raises(CommandError, match="FINESS"):
        call_command("questionnaire_load", organisation="000000000", stdout=StringIO())
    (tmp_path / "a.yaml").write_text(V1, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(BROKEN, encoding="utf-8")
    with pytest.raises(CommandError, match="rien n'a été enregistré"):
        call_command("questionnaire_load", path=str(tmp_path), stdout=StringIO())
    assert not Questionnaire.objects.exists()  # the valid file is not written either


def test_command_loads_into_an_organisation_library(tmp_path):
    world = assessments_world()
    (tmp_path / "a.yaml").write_text(V1, encoding="utf-8")
    call_command(
        "questionnaire_load",
        path=str(tmp_path),
        organisation=world.establishment.finess,
        stdout=StringIO(),
    )
    questionnaire = Questionnaire.objects.get()
    assert questionnaire.organisation == world.establishment
    assert questionnaire.library_key == f"org:{world.establishment.pk}"


# --- refusals -------------------------------------------------------------------------------


def test_broken_file_lists_every_problem_with_line_and_field_and_loads_nothing():
    problems = problems_of(BROKEN, source="broken.yaml")
    found = {(p.line, p.where) for p in problems}
    assert (11, "champ « x-rempart-min-answered-percent »") in found
    assert (17, "exigence n°2, champ « parent_urn »") in found
    assert (19, "exigence n°2") in found  # the misspelt « typical_evidnce »
    assert any(p.line == 37 and "champ « answers »" in p.where for p in problems)
    assert any(p.line == 39 and "déjà utilisée" in p.message for p in problems)
    assert (46, "mesure n°1, champ « priority »") in found
    assert any(p.line == 48 and "question:9" in p.message for p in problems)
    assert all(str(p).startswith("broken.yaml, ligne ") for p in problems)
    assert not Questionnaire.objects.exists()
    assert not RequirementNode.objects.exists()


def test_yaml_syntax_error_and_empty_text():
    problems = problems_of("urn: x\nobjects: [\n")
    assert "syntaxe YAML invalide" in problems[0].message
    assert problems[0].line is not None
    assert "vide" in problems_of("  \n")[0].message


def test_depends_on_must_name_an_earlier_question():
    text = V1.replace(
        """        urn:rempart:essai:q3:
          type: text
""",
        """        urn:rempart:essai:q3:
          type: text
          depends_on:
            question: urn:rempart:essai:q4
            answers: [urn:rempart:essai:q1:oui]
""",
    )
    (problem,) = problems_of(text)
    assert "plus haut" in problem.message
    assert problem.where.endswith("champ « depends_on », champ « question »")


def test_depth_must_follow_the_parent_and_a_question_is_required():
    text = V1.replace("      depth: 2\n", "      depth: 3\n")
    (problem,) = problems_of(text)
    assert "profondeur" in problem.message
    assert problem.line == 19
    bare = V1.split("      questions:")[0]
    assert "aucune question" in problems_of(bare)[0].message


def test_rempart_file_is_strict_ciso_file_ignores_fields_rempart_does_not_use():
    strict = V1.replace("      name: Exigence\n", "      name: Exigence\n      couleur: rouge\n")
    (problem,) = problems_of(strict)
    assert "couleur" in problem.message
    assert problem.line == 22
    relaxed = CISO.replace("      ref_id: TECH.1\n", "      ref_id: TECH.1\n      couleur: rouge\n")
    assert qs.load_questionnaire(relaxed).status == qs.CREATED
    # A misspelt Rempart extension is refused even in a CISO Assistant file.
    typo = CISO.replace("    min_score: 0\n", "    min_score: 0\n    x-rempart-knd: maturity\n")
    (problem,) = problems_of(typo)
    assert "x-rempart-knd" in problem.message


# --- versions, mapping, carry-over ----------------------------------------------------------


def test_same_content_is_unchanged_a_change_makes_a_new_version_with_mapping():
    first = qs.load_questionnaire(V1)
    assert (first.status, first.questionnaire.version) == (qs.CREATED, 1)
    # Only the declared version and the comments differ: same content.
    same = qs.load_questionnaire("# commentaire\n" + V1.replace("version: 1", "version: 4"))
    assert same.status == qs.UNCHANGED
    assert same.questionnaire.pk == first.questionnaire.pk
    second = qs.load_questionnaire(V2)
    assert (second.status, second.questionnaire.version) == (qs.NEW_VERSION, 2)
    v1, v2 = first.questionnaire, second.questionnaire
    v1.refresh_from_db()
    assert v1.status == QuestionnaireStatus.SUPERSEDED
    assert v2.status == QuestionnaireStatus.CURRENT
    assert v2.previous == v1
    assert v2.mapping["questions"] == {"urn:rempart:essai:q1": "urn:rempart:essai:q1b"}
    assert qs.load_questionnaire(V2).status == qs.UNCHANGED


def test_mapping_from_urns_the_previous_version_does_not_have_is_refused():
    qs.load_questionnaire(V1)
    text = V2.replace(
        "        urn:rempart:essai:q1: urn:rempart:essai:q1b",
        "        urn:rempart:essai:q9: urn:rempart:essai:q1b",
    )
    (problem,) = problems_of(text)
    assert "version 1" in problem.message
    assert "urn:rempart:essai:q9" in problem.message
    assert problem.line is not None
    assert Questionnaire.objects.count() == 1
    # A mapping towards a question that does not exist in the file: refused by the parser.
    (problem,) = problems_of(
        V2.replace(
            "urn:rempart:essai:q1: urn:rempart:essai:q1b",
            "urn:rempart:essai:q1: urn:rempart:essai:zz",
        )
    )
    assert "urn:rempart:essai:zz" in problem.message


def _answer(assessment, question_urn, *choice_urns, **values):
    question = Question.objects.get(questionnaire=assessment.questionnaire, urn=question_urn)
    answer = Answer.objects.create(
        assessment=assessment,
        question=question,
        answered_at=timezone.now(),
        choice=(
            Choice.objects.get(urn=choice_urns[0], question=question)
            if choice_urns and question.kind != QuestionKind.MULTIPLE_CHOICE
            else None
        ),
        **values,
    )
    if question.kind == QuestionKind.MULTIPLE_CHOICE:
        answer.choices.set(Choice.objects.filter(urn__in=choice_urns, question=question))
    return answer


def test_carry_over_follows_the_mapping_and_skips_what_does_not_map():
    world = assessments_world()
    v1 = qs.load_questionnaire(V1).questionnaire
    old = Assessment.objects.create(
        organisation=world.establishment,
        questionnaire=v1,
        status=AssessmentStatus.COMPLETED,
        completed_at=timezone.now(),
    )
    _answer(old, "urn:rempart:essai:q1", "urn:rempart:essai:q1:oui", comment="vu en audit")
    _answer(old, "urn:rempart:essai:q2", "urn:rempart:essai:q2:dpi", "urn:rempart:essai:q2:rh")
    _answer(old, "urn:rempart:essai:q3", text_value="Veeam")
    _answer(old, "urn:rempart:essai:q4", number_value=Decimal("12"))  # removed in v2
    v2 = qs.load_questionnaire(V2).questionnaire
    new = Assessment.objects.create(organisation=world.establishment, questionnaire=v2)

    assert qs.carry_over(new, old) == 3
    answers = {a.question.urn: a for a in new.answers.select_related("question", "choice")}
    assert set(answers) == {"urn:rempart:essai:q1b", "urn:rempart:essai:q2", "urn:rempart:essai:q3"}
    assert answers["urn:rempart:essai:q1b"].choice.urn == "urn:rempart:essai:q1b:oui"
    assert answers["urn:rempart:essai:q1b"].comment == "vu en audit"
    assert answers["urn:rempart:essai:q1b"].score == Decimal("100.0")
    assert {c.urn for c in answers["urn:rempart:essai:q2"].choices.all()} == {
        "urn:rempart:essai:q2:dpi",
        "urn:rempart:essai:q2:rh",
    }
    assert answers["urn:rempart:essai:q3"].text_value == "Veeam"
    assert scoring.compute(new).overall == Decimal("100.0")
    # A second carry-over keeps what is already answered.
    assert qs.carry_over(new, old) == 0


def test_carry_over_skips_a_choice_that_does_not_map_and_refuses_another_lineage():
    world = assessments_world()
    v1 = qs.load_questionnaire(V1).questionnaire
    old = Assessment.objects.create(organisation=world.establishment, questionnaire=v1)
    _answer(old, "urn:rempart:essai:q1", "urn:rempart:essai:q1:partiel")  # dropped in v2
    v2 = qs.load_questionnaire(V2).questionnaire
    new = Assessment.objects.create(organisation=world.establishment, questionnaire=v2)
    assert qs.carry_over(new, old) == 0
    other = qs.load_questionnaire(CISO).questionnaire
    foreign = Assessment.objects.create(organisation=world.establishment, questionnaire=other)
    with pytest.raises(DomainError, match="même questionnaire"):
        qs.carry_over(foreign, old)
    elsewhere = Assessment.objects.create(organisation=world.sibling, questionnaire=v2)
    with pytest.raises(DomainError) as caught:
        qs.carry_over(elsewhere, old)
    assert caught.value.code == "forbidden"


# --- CISO Assistant files -------------------------------------------------------------------


def test_ciso_assistant_file_loads_and_can_be_answered():
    result = qs.load_questionnaire(CISO)
    questionnaire = result.questionnaire
    assert questionnaire.source_format == qs.FORMAT_CISO
    assert questionnaire.kind == QuestionnaireKind.REFERENTIAL
    assert questionnaire.urn == "urn:test:risk:framework:mini-referentiel"
    assert questionnaire.min_answered_percent == qs.DEFAULT_MIN_ANSWERED_PERCENT
    policy = questionnaire.questions.get(urn__endswith="gouv-1:question:1")
    # No add_score: file order, worst first, « Je ne sais pas » left out.
    assert [(c.label, c.score) for c in policy.choices.all()] == [
        ("Je ne sais pas", None),
        ("Non", Decimal("0.00")),
        ("Un brouillon existe", Decimal("50.00")),
        ("Elle est validée et appliquée", Decimal("100.00")),
    ]
    assert policy.node.description.startswith("Une annotation")
    tests = questionnaire.questions.get(urn__endswith="tech-1:question:1")
    assert [c.score for c in tests.choices.all()] == [Decimal("0"), Decimal("1"), Decimal("4")]
    offline = questionnaire.questions.get(urn__endswith="tech-1:question:2")
    assert offline.kind == QuestionKind.YES_NO
    assert [c.label for c in offline.choices.all()] == ["Oui", "Non"]
    revision = questionnaire.questions.get(urn__endswith="gouv-1:question:2")
    assert revision.depends_on == policy

    world = assessments_world()
    assessment = Assessment.objects.create(
        organisation=world.establishment, questionnaire=questionnaire
    )
    _answer(assessment, policy.urn, policy.choices.get(label="Un brouillon existe").urn)
    _answer(assessment, revision.urn, text_value="mars 2025")
    _answer(assessment, tests.urn, tests.choices.get(label="Parfois").urn)
    _answer(assessment, offline.urn, offline.choices.get(label="Oui").urn)
    assert revision.pk in scoring.visible_questions(
        questionnaire, {policy.pk: policy.choices.get(label="Un brouillon existe").pk}
    )
    scores = scoring.compute(assessment)
    assert (scores.answered, scores.applicable, scores.shown) == (3, 3, True)
    assert scores.by_theme == {
        "urn:test:risk:req_node:mini:gouv": 50.0,
        "urn:test:risk:req_node:mini:tech": 62.5,  # (25 + 100) / 2
    }
    assert scores.overall == Decimal("58.3")


def test_an_rssi_imports_a_referential_for_their_establishment_only():
    world = assessments_world()
    result = qs.import_questionnaire(actor=world.rssi, organisation=world.establishment, text=CISO)
    assert result.questionnaire.library_key == f"org:{world.establishment.pk}"
    assert result.questionnaire.loaded_by == world.rssi
    # The same file in the shared library is another questionnaire.
    assert qs.load_questionnaire(CISO).questionnaire.pk != result.questionnaire.pk
    for outsider in (world.outsider_rssi, world.sibling_rssi, world.staff):
        with pytest.raises(DomainError) as caught:
            qs.import_questionnaire(actor=outsider, organisation=world.establishment, text=CISO)
        assert caught.value.code == "forbidden"
    assert Questionnaire.objects.count() == 2
