"""The scenario library as data: parsing with lines and fields, all-or-nothing loading,
versions (unchanged / new version / superseded), and the shipped files."""

import json

import pytest
import yaml

from rempart.exercises import library
from rempart.exercises.library import ScenarioDataError, load_scenarios, parse_scenarios
from rempart.exercises.models import (
    Channel,
    Function,
    Level,
    Scenario,
    ScenarioInject,
    ScenarioStatus,
    Theme,
)

from .factories import exercises_world, run_from

pytestmark = pytest.mark.django_db

GOOD = """\
slug: essai-rancongiciel
version: 1
title: "Essai : rançongiciel aux urgences"
level: beginner
theme: ransomware
is_cyber: true
summary: "Les postes des urgences sont chiffrés."
objectives:
  - "Alerter la direction"
duration_minutes: 60
functions: [general_management, care, it]
criteria:
  - {code: alerte, label: "Alerte"}
  - {code: cellule, label: "Cellule de crise"}
changelog: "Version initiale."
injects:
  - order: 1
    offset_minutes: 0
    title: "Écrans noirs"
    body: "Message de rançon aux urgences."
    channel: screen
    functions: [care, it]
    expected_reactions: "Débrancher, alerter."
  - order: 2
    offset_minutes: 20
    title: "Cellule de crise"
    body: "La direction doit réunir la cellule."
    channel: email
    functions: [general_management]
"""


def problems_of(text: str) -> list:
    with pytest.raises(ScenarioDataError) as caught:
        parse_scenarios(text, source="essai.yaml")
    return caught.value.problems


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    count = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            count += 1
            if count == occurrence:
                return number
    raise AssertionError(needle)


# --- Parsing and validation -------------------------------------------------------------------


def test_good_text_parses():
    [spec] = parse_scenarios(GOOD)
    assert spec.slug == "essai-rancongiciel"
    assert [i["order"] for i in spec.content["injects"]] == [1, 2]
    assert spec.content["injects"][1]["expected_reactions"] == ""
    assert len(spec.sha256) == 64


def test_bad_yaml_reports_its_line():
    text = GOOD.replace('title: "Écrans noirs"', 'title: "Écrans noirs')
    [problem] = problems_of(text)
    assert "syntaxe YAML invalide" in problem.message
    assert problem.line is not None
    assert problem.line >= line_of(text, 'title: "Écrans noirs')
    assert str(problem).startswith("essai.yaml, ligne ")


def test_unknown_function_reported_with_line_and_field():
    text = GOOD.replace("functions: [care, it]", "functions: [care, pharmacie]")
    [problem] = problems_of(text)
    assert problem.line == line_of(text, "functions: [care, pharmacie]")
    assert "stimulus n°1" in problem.where
    assert "functions" in problem.where
    assert "pharmacie" in problem.message
    assert "general_management" in problem.message


def test_duplicate_order_and_decreasing_offsets():
    text = GOOD.replace(
        "  - order: 2\n    offset_minutes: 20", "  - order: 1\n    offset_minutes: 20"
    )
    [problem] = problems_of(text)
    assert problem.line == line_of(text, "- order: 1", 2)
    assert "l'ordre 1 est déjà celui du stimulus n°1" in problem.message

    text = GOOD.replace("offset_minutes: 0", "offset_minutes: 30")
    [problem] = problems_of(text)
    assert problem.line == line_of(text, "offset_minutes: 20")
    assert "avant le précédent" in problem.message


def test_every_problem_listed_at_once():
    text = (
        GOOD.replace("level: beginner", "level: facile")
        .replace("summary:", "resume: oubli\nsummary:")
        .replace("functions: [general_management]\n", "functions: [communication]\n")
        .replace("offset_minutes: 20", "offset_minutes: 90")
    )
    problems = problems_of(text)
    by_line = {p.line: p for p in problems}
    assert len(problems) == 4, [str(p) for p in problems]
    assert "facile" in by_line[line_of(text, "level: facile")].message
    assert "resume" in by_line[line_of(text, "resume: oubli")].message
    assert "après la fin de l'exercice" in by_line[line_of(text, "offset_minutes: 90")].message
    # A recipient the scenario does not name.
    assert "communication" in by_line[line_of(text, "functions: [communication]")].message


def test_missing_field_and_duplicate_key():
    text = GOOD.replace("duration_minutes: 60\n", "").replace(
        "theme: ransomware\n", "theme: ransomware\ntheme: data_leak\n"
    )
    messages = [str(p) for p in problems_of(text)]
    assert any("« duration_minutes »" in m and "obligatoire" in m for m in messages)
    assert any("clé « theme » est écrite deux fois" in m for m in messages)


def test_list_under_scenarios_and_duplicate_slug():
    indented = "\n".join("    " + line if line else line for line in GOOD.splitlines())
    text = "scenarios:\n  -\n" + indented + "\n  -\n" + indented + "\n"
    problems = problems_of(text)
    assert len(problems) == 1
    assert "figure déjà plus haut" in problems[0].message
    other = indented.replace("essai-rancongiciel", "essai-deux")
    specs = parse_scenarios("scenarios:\n  -\n" + indented + "\n  -\n" + other + "\n")
    assert [s.slug for s in specs] == ["essai-rancongiciel", "essai-deux"]


def test_empty_and_wrong_shape():
    assert "vide" in problems_of("  \n")[0].message
    assert "dictionnaire" in problems_of("- a\n- b\n")[0].message


def test_schema_enums_match_the_models():
    schema = library.scenario_schema()
    assert schema["properties"]["level"]["enum"] == Level.values
    assert schema["properties"]["theme"]["enum"] == Theme.values
    assert schema["$defs"]["functions"]["items"]["enum"] == Function.values
    inject = schema["properties"]["injects"]["items"]["properties"]
    assert inject["channel"]["enum"] == Channel.values


# --- Loading and versions ---------------------------------------------------------------------


def test_versions_unchanged_new_superseded():
    report = load_scenarios(GOOD)
    assert report.created == ["essai-rancongiciel"]
    v1 = Scenario.objects.get(slug="essai-rancongiciel")
    assert (v1.version, v1.status, v1.library_key) == (1, ScenarioStatus.CURRENT, "national")
    assert v1.injects.count() == 2
    assert v1.source_sha256 == parse_scenarios(GOOD)[0].sha256

    # Same content (even with another declared version number): unchanged.
    report = load_scenarios(GOOD.replace("version: 1", "version: 3"))
    assert report.unchanged == ["essai-rancongiciel"]
    assert not report.has_changes
    assert Scenario.objects.count() == 1

    # A run plays v1; then the content changes: v2, v1 superseded and kept for the run.
    world = exercises_world()
    run = run_from(v1, world.establishment)
    changed = GOOD.replace("version: 1", "version: 2").replace("Alerter la direction", "Alerter")
    report = load_scenarios(changed)
    assert report.new_versions == ["essai-rancongiciel v2"]
    v1.refresh_from_db()
    v2 = Scenario.objects.get(slug="essai-rancongiciel", version=2)
    assert v1.status == ScenarioStatus.SUPERSEDED
    assert v1.objectives == ["Alerter la direction"]
    assert v2.status == ScenarioStatus.CURRENT
    assert v2.objectives == ["Alerter"]
    assert v2.injects.count() == 2
    assert v1.injects.count() == 2
    run.refresh_from_db()
    assert run.scenario_id == v1.pk
    assert Scenario.objects.filter(slug="essai-rancongiciel", status="current").count() == 1


def test_stale_file_refused_and_nothing_half_loaded():
    load_scenarios(GOOD)
    load_scenarios(GOOD.replace("version: 1", "version: 2").replace('Alerte"', 'Alerte !"'))
    assert Scenario.objects.filter(slug="essai-rancongiciel").count() == 2
    indented = "\n".join("    " + line if line else line for line in GOOD.splitlines())
    fresh = indented.replace("essai-rancongiciel", "essai-nouveau")
    stale = indented.replace("Alerter la direction", "Autre chose")  # declares v1, library at v2
    text = "scenarios:\n  -\n" + fresh + "\n  -\n" + stale + "\n"
    with pytest.raises(ScenarioDataError) as caught:
        load_scenarios(text)
    [problem] = caught.value.problems
    assert "version 1" in problem.message
    assert "version 2" in problem.message
    assert problem.line == line_of(text, "version: 1", 2)
    # The valid new scenario of the same text was not written either.
    assert not Scenario.objects.filter(slug="essai-nouveau").exists()
    assert Scenario.objects.filter(slug="essai-rancongiciel").count() == 2


def test_invalid_second_scenario_loads_nothing():
    indented = "\n".join("    " + line if line else line for line in GOOD.splitlines())
    broken = indented.replace("essai-rancongiciel", "essai-casse").replace(
        "channel: email", "channel: fax"
    )
    with pytest.raises(ScenarioDataError):
        load_scenarios("scenarios:\n  -\n" + indented + "\n  -\n" + broken + "\n")
    assert not Scenario.objects.exists()
    assert not ScenarioInject.objects.exists()


def test_libraries_are_separate():
    world = exercises_world()
    load_scenarios(GOOD)
    report = load_scenarios(GOOD, region=world.region)
    assert report.created == ["essai-rancongiciel"]
    keys = set(Scenario.objects.values_list("library_key", flat=True))
    assert keys == {"national", f"region:{world.region.pk}"}


def test_every_shipped_file_loads():
    specs = library.parse_files()
    assert len(specs) >= 7
    assert {s.content["level"] for s in specs} == set(Level.values)
    assert len({s.content["theme"] for s in specs}) >= 5
    for spec in specs:
        assert 6 <= len(spec.content["criteria"]) <= 8, spec.slug
        assert 6 <= len(spec.content["injects"]) <= 12, spec.slug
        assert spec.content["is_cyber"]
    report = library.load_national_library()
    assert len(report.created) == len(specs)
    again = library.load_national_library()
    assert sorted(again.unchanged) == sorted(s.slug for s in specs)
    assert not again.has_changes
    assert Scenario.objects.filter(library_key="national", status="current").count() == len(specs)


def test_export_round_trip():
    load_scenarios(GOOD)
    scenario = Scenario.objects.get()
    text = library.to_yaml(scenario)
    data = yaml.safe_load(text)
    assert data["version"] == 2
    assert data["slug"] == scenario.slug
    [spec] = parse_scenarios(text)
    # Same content as the stored version except the (emptied) changelog.
    assert spec.content["injects"] == library.content_of(scenario)["injects"]
    assert json.dumps(spec.content["criteria"]) == json.dumps(scenario.criteria)


def test_command_loads_idempotently(capsys):
    from django.core.management import call_command

    call_command("exercise_library_load")
    first = capsys.readouterr().out
    assert "scénario(s) créé(s)" in first
    call_command("exercise_library_load")
    assert "0 scénario(s) créé(s), 0 nouvelle(s) version(s)" in capsys.readouterr().out
