"""The validity rule as data, the verdict stored per organisation, and the coverage pages."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from rempart.core.roles import OrgKind, Role
from rempart.exercises import coverage, validity
from rempart.exercises.models import (
    CoverageRecord,
    Debrief,
    Evaluation,
    Function,
    RunKind,
    RunStatus,
)
from rempart.organisations.tests.factories import OrganisationFactory, member

from .factories import ScenarioFactory, add_player, exercises_world, mark_played, run_from

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def document(run, *, evaluation=True, debrief=True):
    if evaluation:
        Evaluation.objects.create(run=run, scores={}, evaluated_at=timezone.now())
    if debrief:
        Debrief.objects.create(
            run=run,
            held_on=timezone.localdate(),
            strengths="Cellule réunie vite.",
            improvements="Annuaire de crise.",
        )
    run.refresh_from_db()
    coverage.refresh_coverage(run)


def valid_exercise(organisation, *, days_ago=10, scenario=None):
    """A played, evaluated and debriefed exercise with management and a business direction."""
    run = run_from(scenario or ScenarioFactory(), organisation)
    add_player(run, Function.GENERAL_MANAGEMENT)
    add_player(run, Function.CARE)
    mark_played(run, started_at=timezone.now() - datetime.timedelta(days=days_ago))
    document(run)
    return run


def record(run, organisation=None):
    return CoverageRecord.objects.get(run=run, organisation=organisation or run.organisation)


# --- The rule ------------------------------------------------------------------------------------


def test_the_shipped_rule_is_valid_and_says_who_must_take_part():
    rule = validity.rule()
    assert rule.window_months == 12
    assert rule.target_percent == 80
    assert rule.all_of == ("general_management",)
    assert "it" not in rule.any_of
    assert any("RETEX" in line for line in rule.requirements())


def test_a_broken_rule_is_refused_with_every_problem():
    with pytest.raises(validity.ValidityRuleError) as caught:
        validity.parse(
            "version: x\ntitle: t\nwindow_months: 0\ntarget_percent: 80\npopulation: [hopital]\n"
            "require_cyber_scenario: true\nrequire_played: true\n"
            "functions: {all_of: [direction], any_of: []}\ndocuments: {evaluation: true}\n"
        )
    text = "\n".join(caught.value.errors)
    assert "window_months" in text
    assert "population/0" in text
    assert "functions/all_of/0" in text
    assert "documents" in text


def test_unreadable_yaml_is_refused():
    with pytest.raises(validity.ValidityRuleError, match="YAML illisible"):
        validity.parse("version: [unclosed")


@pytest.mark.parametrize(
    ("functions", "expected"),
    [
        ({"it"}, "Seule l'équipe informatique participe"),
        ({"it", "general_management"}, "Il manque au moins une direction métier"),
        ({"medical"}, "Fonction absente : Direction générale"),
    ],
)
def test_verdict_names_the_missing_functions(functions, expected):
    result = validity.verdict(
        validity.rule(),
        is_cyber=True,
        played=True,
        functions_present=functions,
        has_evaluation=True,
        has_debrief=True,
    )
    assert not result.counts
    assert any(reason.startswith(expected) for reason in result.reasons)


def test_verdict_counts_a_complete_exercise_and_lists_every_gap_otherwise():
    rule = validity.rule()
    complete = validity.verdict(
        rule,
        is_cyber=True,
        played=True,
        functions_present={"general_management", "medical", "it"},
        has_evaluation=True,
        has_debrief=True,
    )
    assert complete.counts
    assert complete.reasons == []
    empty = validity.verdict(
        rule,
        is_cyber=False,
        played=False,
        functions_present=set(),
        has_evaluation=False,
        has_debrief=False,
    )
    assert not empty.counts
    assert len(empty.reasons) == 6


# --- Records ------------------------------------------------------------------------------------


def test_a_planned_exercise_is_recorded_as_not_counting_yet_with_its_reasons():
    w = exercises_world()
    run = run_from(ScenarioFactory(), w.establishment)
    entry = record(run)
    assert not entry.counts
    assert entry.held_on is None
    assert "L'exercice n'a pas encore été joué." in entry.reasons
    assert entry.rule_version == validity.rule().version


def test_an_it_only_exercise_is_saved_but_does_not_count():
    w = exercises_world()
    run = run_from(ScenarioFactory(), w.establishment)
    add_player(run, Function.IT)
    mark_played(run)
    document(run)
    entry = record(run)
    assert not entry.counts
    assert entry.reasons == [
        "Fonction absente : Direction générale.",
        "Seule l'équipe informatique participe : il faut " + validity.rule().any_of_label + ".",
    ]


def test_the_verdict_follows_the_records_until_it_counts():
    w = exercises_world()
    run = run_from(ScenarioFactory(), w.establishment)
    add_player(run, Function.GENERAL_MANAGEMENT)
    absent = add_player(run, Function.MEDICAL)
    mark_played(run)
    document(run, debrief=False)
    assert record(run).reasons == ["Le retour d'expérience (RETEX) n'est pas formalisé."]
    document(run, evaluation=False)
    assert record(run).counts
    assert record(run).held_on == timezone.localdate(run.started_at)
    absent.attended = False
    absent.save()
    coverage.refresh_coverage(run)
    assert not record(run).counts  # the only business direction was absent


def test_observers_do_not_make_an_exercise_count():
    w = exercises_world()
    run = run_from(ScenarioFactory(), w.establishment)
    add_player(run, Function.GENERAL_MANAGEMENT)
    add_player(run, Function.MEDICAL, role="observer")
    mark_played(run)
    document(run)
    assert not record(run).counts


def test_a_non_cyber_scenario_never_counts():
    w = exercises_world()
    run = valid_exercise(w.establishment, scenario=ScenarioFactory(is_cyber=False))
    assert record(run).reasons == ["Le scénario n'est pas un scénario cyber."]


def test_a_cancelled_exercise_leaves_no_record():
    w = exercises_world()
    run = run_from(ScenarioFactory(), w.establishment)
    run.status = RunStatus.CANCELLED
    run.save()
    coverage.refresh_coverage(run)
    assert not CoverageRecord.objects.filter(run=run).exists()


def test_a_regional_exercise_counts_for_each_complete_participant_not_for_its_holder():
    w = exercises_world()
    run = run_from(ScenarioFactory(), w.crrc, kind=RunKind.REGIONAL)
    add_player(run, Function.GENERAL_MANAGEMENT, w.establishment)
    add_player(run, Function.MEDICAL, w.establishment)
    add_player(run, Function.IT, w.sibling)
    mark_played(run)
    document(run)
    assert record(run, w.establishment).counts
    assert not record(run, w.sibling).counts
    assert not CoverageRecord.objects.filter(run=run, organisation=w.crrc).exists()


# --- The indicator ------------------------------------------------------------------------------


def _scope_of(user):
    from rempart.exercises import perms

    return perms.coverage_q(user)


def test_the_indicator_counts_the_region_and_the_last_twelve_months():
    w = exercises_world()
    valid_exercise(w.establishment, days_ago=30)
    valid_exercise(w.sibling, days_ago=400)  # too old today
    valid_exercise(w.other_establishment, days_ago=30)  # another region
    overview = coverage.coverage_overview(_scope_of(w.ars_manager))
    assert (overview.total.total, overview.total.covered) == (2, 1)
    assert overview.total.rate == 50.0
    assert not overview.meets_target
    assert overview.needed_for_target == 1  # 80 % of 2 establishments: both
    # A year ago, the old exercise counted and the recent one did not exist yet.
    year_ago = timezone.localdate() - datetime.timedelta(days=380)
    past = coverage.coverage_overview(_scope_of(w.ars_manager), today=year_ago)
    assert (past.total.total, past.total.covered) == (2, 1)


def test_the_indicator_groups_by_departement_category_and_ght():
    w = exercises_world()
    ght = OrganisationFactory(kind=OrgKind.GHT, region=w.region, name="GHT Rivebelle")
    member_a = OrganisationFactory(
        region=w.region, ght=ght, departement=w.establishment.departement
    )
    OrganisationFactory(region=w.region, ght=ght, departement=w.establishment.departement)
    valid_exercise(member_a)
    overview = coverage.coverage_overview(_scope_of(w.ars_manager))
    by_ght = {cell.label: (cell.total, cell.covered) for cell in overview.by_ght}
    assert by_ght == {"GHT Rivebelle": (2, 1), "Hors GHT": (2, 0)}
    by_dept = {cell.key: (cell.total, cell.covered) for cell in overview.by_departement}
    assert by_dept[w.establishment.departement_id] == (3, 1)
    assert sum(c.total for c in overview.by_category) == 4


def test_a_ght_coordinator_sees_the_coverage_of_the_members_only():
    w = exercises_world()
    ght = OrganisationFactory(kind=OrgKind.GHT, region=w.region)
    inside = OrganisationFactory(region=w.region, ght=ght)
    valid_exercise(inside)
    coordinator = member(Role.GHT_COORDINATOR, ght)
    overview = coverage.coverage_overview(_scope_of(coordinator))
    assert (overview.total.total, overview.total.covered) == (1, 1)


# --- Pages --------------------------------------------------------------------------------------


def test_the_ars_reads_the_coverage_page_and_the_regional_exercises():
    w = exercises_world()
    valid_exercise(w.establishment)
    regional = run_from(
        ScenarioFactory(title="Exercice régional rançongiciel"), w.crrc, kind=RunKind.REGIONAL
    )
    add_player(regional, Function.GENERAL_MANAGEMENT, w.sibling)
    response = client_for(w.ars_manager).get(reverse("exercises:coverage"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "50,0\u00a0%" in body
    assert "Exercice régional rançongiciel" in body
    assert w.other_establishment.name not in body


@pytest.mark.parametrize("who", ["director", "rssi", "staff", "trainer"])
def test_establishments_and_trainers_do_not_see_the_coverage(who):
    w = exercises_world()
    for name in (
        "exercises:coverage",
        "exercises:coverage_organisations",
        "exercises:coverage_export",
    ):
        response = client_for(getattr(w, who)).get(reverse(name))
        assert response.status_code == 403, name


def test_the_organisations_list_says_why_an_exercise_does_not_count_and_filters():
    w = exercises_world()
    valid_exercise(w.establishment)
    pending = run_from(ScenarioFactory(title="Panne du prestataire DPI"), w.sibling)
    add_player(pending, Function.IT)
    client = client_for(w.crrc_operator)
    url = reverse("exercises:coverage_organisations")
    body = client.get(url, {"statut": "missing"}).content.decode()
    assert w.sibling.name in body
    assert w.establishment.name not in body
    assert "Panne du prestataire DPI" in body
    assert "Seule l&#x27;équipe informatique participe" in body
    body = client.get(url, {"statut": "covered"}).content.decode()
    assert w.establishment.name in body
    assert w.sibling.name not in body
    assert "valable jusqu" in body
    # Bad parameters are ignored, never an error.
    assert client.get(url, {"departement": "abc", "au": "demain", "page": "x"}).status_code == 200


def test_the_export_lists_every_organisation_with_its_verdict():
    w = exercises_world()
    valid_exercise(w.establishment)
    response = client_for(w.ars_manager).get(reverse("exercises:coverage_export"))
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    lines = [line for line in text.splitlines() if line]
    assert len(lines) == 3  # header + the region's two establishments
    covered = next(line for line in lines if w.establishment.name in line)
    assert ";oui;" in covered


def test_the_coverage_page_reads_with_a_fixed_number_of_queries():
    w = exercises_world()
    client = client_for(w.ars_manager)
    url = reverse("exercises:coverage")
    client.get(url)  # warm the session and the caches
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for _ in range(12):
        valid_exercise(OrganisationFactory(region=w.region))
    regional = run_from(ScenarioFactory(), w.crrc, kind=RunKind.REGIONAL)
    add_player(regional, Function.GENERAL_MANAGEMENT, w.sibling)
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    assert len(many) == len(few)
    assert len(many) <= 14


def test_a_new_rule_is_applied_to_every_exercise_kept(monkeypatch):
    from io import StringIO

    from django.core.management import call_command

    w = exercises_world()
    run = valid_exercise(w.establishment)
    assert record(run).counts
    stricter = validity.parse(
        validity.RULE_PATH.read_text(encoding="utf-8")
        .replace('version: "DNS-2025-12.v1"', 'version: "strict"')
        .replace("all_of: [general_management]", "all_of: [general_management, communication]")
    )
    monkeypatch.setattr(coverage, "rule", lambda: stricter)
    monkeypatch.setattr(
        "rempart.exercises.management.commands.exercise_coverage_refresh.rule", lambda: stricter
    )
    out = StringIO()
    call_command("exercise_coverage_refresh", stdout=out)
    assert "1 exercice(s) recalculé(s) avec la règle strict" in out.getvalue()
    entry = record(run)
    assert not entry.counts
    assert entry.rule_version == "strict"
    assert entry.reasons == ["Fonction absente : Communication."]
