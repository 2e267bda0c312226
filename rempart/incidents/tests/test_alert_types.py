"""The incident type templates: the data file is valid and covers every type; a broken file is
refused with the reasons."""

import pytest
import yaml

from rempart.incidents import incident_types
from rempart.incidents.incident_types import IncidentTypesError, parse, template_for
from rempart.incidents.models import IncidentType


def _document() -> dict:
    return yaml.safe_load(incident_types.TYPES_PATH.read_text(encoding="utf-8"))


def test_the_file_is_valid_against_its_schema():
    assert incident_types.validate(_document()) == []


def test_every_incident_type_has_a_full_template():
    templates = incident_types.all_templates()
    assert [t.code for t in templates] == IncidentType.values
    for template in templates:
        assert template.label
        assert template.guidance
        assert template.checklist
        assert template.tasks
        codes = template.checklist_codes()
        assert len(codes) == len(set(codes))


def test_ransomware_guidance_follows_the_reflex_sheet():
    ransomware = template_for(IncidentType.RANSOMWARE)
    text = " ".join(ransomware.guidance)
    assert "Ne les éteignez pas" in text
    assert "Ne payez pas la rançon" in text
    assert "note de rançon" in text
    assert "CERTFR-2024-RFX-001" in ransomware.reference
    assert "isoler_reseau" in ransomware.checklist_codes()
    assert any(task.code == "declaration_cert_sante" for task in ransomware.tasks)


def test_empty_or_unknown_types_get_the_other_template():
    other = template_for(IncidentType.OTHER)
    assert template_for("") is other
    assert template_for(None) is other
    assert template_for("cryptolocker") is other


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d["types"].pop(), "le type « autre » n'a pas de modèle"),
        (lambda d: d["types"].append(dict(d["types"][0])), "décrit plusieurs fois"),
        (lambda d: d["types"][0].update(code="zombie"), "le type « zombie » n'existe pas"),
        (lambda d: d["types"][0].update(guidance=[]), "types/0/guidance"),
        (lambda d: d["types"][1]["tasks"][0].pop("title"), "'title' is a required property"),
        (
            lambda d: d["types"][2]["checklist"].append(dict(d["types"][2]["checklist"][0])),
            "en double",
        ),
    ],
)
def test_a_broken_file_is_refused_with_the_reason(change, reason):
    document = _document()
    change(document)
    with pytest.raises(IncidentTypesError) as refused:
        parse(yaml.safe_dump(document, allow_unicode=True))
    assert any(reason in error for error in refused.value.errors), refused.value.errors


def test_unreadable_yaml_is_refused():
    with pytest.raises(IncidentTypesError, match="YAML illisible"):
        parse("types: [\n")
