"""The CaRE domains as versioned data: schema, shipped files, all-or-nothing idempotent
loading with its report, audit trail, and the service that edits a requirement."""

import io
import shutil
from pathlib import Path

import pytest
import yaml
from auditlog.context import set_actor
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from jsonschema import Draft202012Validator

from rempart.core.errors import DomainError
from rempart.core.models import AuditEntry
from rempart.core.roles import OrgKind, Role
from rempart.organisations.tests.factories import OrganisationFactory, RegionFactory, member
from rempart.programme import reference_data
from rempart.programme.models import (
    Attainment,
    Axis,
    Domain,
    Measurement,
    Requirement,
    RequirementKind,
)
from rempart.programme.reference_data import (
    DOMAINS_DIR,
    ProgrammeDataError,
    domain_schema,
    load_domains,
    requirement_update,
    validate_file,
)

SHIPPED = sorted(DOMAINS_DIR.glob("*.yaml"))


def _copy_shipped(tmp_path: Path) -> Path:
    folder = tmp_path / "domains"
    folder.mkdir()
    for path in SHIPPED:
        shutil.copy(path, folder / path.name)
    return folder


def _edit(path: Path, change) -> None:
    """Rewrite a YAML file after `change(data)` mutated its content."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _item(data: dict, identifier: str) -> dict:
    return next(r for r in data["requirements"] if r["identifier"] == identifier)


# --- Schema and shipped files ------------------------------------------------------------------


def test_schema_is_a_valid_json_schema_matching_the_models():
    schema = domain_schema()
    Draft202012Validator.check_schema(schema)
    requirement = schema["$defs"]["requirement"]["properties"]
    assert schema["properties"]["axis"]["enum"] == Axis.values
    assert requirement["kind"]["enum"] == RequirementKind.values
    assert requirement["attainment"]["enum"] == Attainment.values
    assert requirement["measurement"]["enum"] == Measurement.values
    # Lengths follow the database columns, so a valid file never fails on save.
    assert (
        requirement["identifier"]["maxLength"]
        == Requirement._meta.get_field("identifier").max_length
    )
    assert requirement["label"]["maxLength"] == Requirement._meta.get_field("label").max_length
    assert schema["properties"]["title"]["maxLength"] == Domain._meta.get_field("title").max_length


def test_three_domains_are_shipped():
    assert [p.name for p in SHIPPED] == ["d1.yaml", "d2.yaml", "d3.yaml"]


@pytest.mark.django_db  # (the model's check constraints are evaluated by the database)
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_file_validates(path):
    domain_file, errors = validate_file(path)
    assert errors == []
    assert domain_file.domain["code"] == path.stem.upper()
    # The official lists are not public here: every file says so, and explains its sources.
    assert domain_file.domain["official_list_complete"] is False
    assert "incomplète" in domain_file.domain["source_note"]
    for item in domain_file.requirements:
        if ".PROV." in item["identifier"]:
            assert item["confirmed"] is False, f"{item['identifier']}: provisional but confirmed"


@pytest.mark.django_db
def test_shipped_content_follows_the_known_facts():
    files = {f.domain["code"]: f for f in reference_data.validate_domains()}
    assert "18 mars 2024" in files["D1"].domain["legal_reference"]
    assert "65 M€" in files["D1"].domain["legal_reference"]
    assert "3 juillet 2025" in files["D2"].domain["legal_reference"]
    assert "45 M€" in files["D2"].domain["legal_reference"]
    assert "non encore publié" in files["D3"].domain["legal_reference"]
    d1 = {r["identifier"]: r for r in files["D1"].requirements}
    d2 = {r["identifier"]: r for r in files["D2"].requirements}
    assert d1["D1.O6.B"]["kind"] == "cible"
    assert "GHT" in d1["D1.O6.B"]["label"]
    assert d1["D1.PROV.01"]["measurement"] == "audit_annuaire"
    assert d1["D1.PROV.02"]["measurement"] == "scan_exposition"
    assert d2["D2.01.D"]["kind"] == "cible"
    assert "PCA" in d2["D2.01.D"]["label"]
    assert any(
        r["kind"] == "prerequis" and r["label"] == "Organisation projet" for r in d2.values()
    )
    for code in ("D1", "D2", "D3"):  # the four generic prerequisites of seed 003
        labels = {r["label"] for r in files[code].requirements if r["kind"] == "prerequis"}
        assert "Référent SSI identifié" in labels


# --- Loading ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_loading_twice_is_idempotent():
    first = load_domains()
    assert sorted(first.domains["created"]) == ["D1", "D2", "D3"]
    assert len(first.requirements["created"]) == Requirement.objects.count() == 23
    entries = AuditEntry.objects.count()
    assert entries == 3 + 23  # one creation record per object, through save()

    second = load_domains()
    assert not second.has_changes
    assert sorted(second.domains["unchanged"]) == ["D1", "D2", "D3"]
    assert len(second.requirements["unchanged"]) == 23
    assert second.requirements["created"] == second.requirements["updated"] == []
    assert second.requirements["removed"] == []
    assert AuditEntry.objects.count() == entries  # unchanged objects are not saved

    d2 = Domain.objects.get(code="D2")
    assert d2.legal_reference.startswith("Arrêté du 3 juillet 2025")
    target = Requirement.objects.get(identifier="D2.01.D")
    assert (target.domain, target.kind, target.attainment) == (d2, "cible", "mesure")
    assert target.position > Requirement.objects.get(identifier="D2.PROV.P1").position


@pytest.mark.django_db
def test_dry_run_reports_without_writing():
    report = load_domains(dry_run=True)
    assert len(report.requirements["created"]) == 23
    assert report.lines()[0].startswith("Simulation")
    assert Domain.objects.count() == Requirement.objects.count() == AuditEntry.objects.count() == 0


def _missing_label(data):
    del data["requirements"][0]["label"]


def _bad_attainment(data):
    _item(data, "D2.PROV.P3")["attainment"] = "honneur"


def _measurement_missing(data):
    del _item(data, "D2.01.D")["measurement"]


def _measurement_not_allowed(data):
    _item(data, "D2.PROV.02")["measurement"] = "pcra"


def _duplicate_identifier(data):
    _item(data, "D2.PROV.05")["identifier"] = "D2.PROV.03"


def _foreign_prefix(data):
    _item(data, "D2.PROV.05")["identifier"] = "D1.PROV.99"


def _missing_domain_field(data):
    del data["legal_reference"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            _missing_label,
            "d2.yaml, exigence n°1 (D2.PROV.P1) : champ obligatoire manquant : « label »",
        ),
        (
            _bad_attainment,
            "d2.yaml, exigence n°3 (D2.PROV.P3), champ « attainment » : valeur « honneur » non autorisée",
        ),
        (
            _measurement_missing,
            "d2.yaml, exigence n°10 (D2.01.D) : le champ « measurement » est obligatoire quand le mode de preuve est « mesure »",
        ),
        (
            _measurement_not_allowed,
            "d2.yaml, exigence n°7 (D2.PROV.02) : le champ « measurement » ne se renseigne que si le mode de preuve est « mesure »",
        ),
        (
            _duplicate_identifier,
            "d2.yaml, exigence n°11 (D2.PROV.03) : l'identifiant « D2.PROV.03 » figure déjà à l'exigence n°8",
        ),
        (
            _foreign_prefix,
            "d2.yaml, exigence n°11 (D1.PROV.99) : l'identifiant doit commencer par le code du domaine « D2. »",
        ),
        (_missing_domain_field, "d2.yaml : champ obligatoire manquant : « legal_reference »"),
    ],
    ids=lambda v: getattr(v, "__name__", "")[1:],
)
def test_a_broken_file_is_refused_and_nothing_is_written(tmp_path, change, expected):
    folder = _copy_shipped(tmp_path)
    _edit(folder / "d2.yaml", change)
    with pytest.raises(ProgrammeDataError) as caught:
        load_domains(folder)
    assert any(error.startswith(expected) for error in caught.value.errors), caught.value.errors
    assert "rien n'a été enregistré" in caught.value.message
    # d1.yaml and d3.yaml are valid, yet nothing at all was written.
    assert Domain.objects.count() == Requirement.objects.count() == AuditEntry.objects.count() == 0


@pytest.mark.django_db
def test_every_error_of_every_file_is_reported(tmp_path):
    folder = _copy_shipped(tmp_path)
    _edit(folder / "d1.yaml", lambda d: d.update(data_version="23/11/2026"))
    _edit(folder / "d2.yaml", _measurement_missing)
    (folder / "d3.yaml").write_text("code: D3\ntitle: [non refermé\n", encoding="utf-8")
    with pytest.raises(ProgrammeDataError) as caught:
        load_domains(folder)
    errors = caught.value.errors
    assert len(errors) == 3
    assert errors[0].startswith(
        "d1.yaml, champ « data_version » : « 23/11/2026 » n'a pas le format attendu"
    )
    assert errors[1].startswith("d2.yaml, exigence n°10 (D2.01.D)")
    assert errors[2].startswith("d3.yaml, ligne 3 : syntaxe YAML invalide")


@pytest.mark.django_db
def test_two_files_for_the_same_domain_are_refused(tmp_path):
    folder = _copy_shipped(tmp_path)
    shutil.copy(folder / "d1.yaml", folder / "d1-bis.yaml")
    with pytest.raises(ProgrammeDataError) as caught:
        load_domains(folder)
    assert caught.value.errors == ["d1.yaml : le domaine D1 est déjà décrit par d1-bis.yaml."]
    assert Domain.objects.count() == 0


@pytest.mark.django_db
def test_a_changed_label_is_reported_updated_and_audited(tmp_path):
    load_domains()
    folder = _copy_shipped(tmp_path)
    old = Requirement.objects.get(identifier="D1.O6.B").label
    new = "Converger les annuaires Active Directory de tous les établissements du GHT"
    _edit(folder / "d1.yaml", lambda d: _item(d, "D1.O6.B").update(label=new))

    report = load_domains(folder)

    assert report.requirements["updated"] == ["D1.O6.B"]
    assert report.changed_fields["D1.O6.B"] == ["label"]
    assert len(report.requirements["unchanged"]) == 22
    assert "Exigence D1.O6.B : mise à jour (label)." in report.lines()
    requirement = Requirement.objects.get(identifier="D1.O6.B")
    assert requirement.label == new
    entry = AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Requirement),
        object_id=requirement.pk,
        action=AuditEntry.Action.UPDATE,
    ).get()
    assert entry.changes_dict == {"label": [old, new]}
    assert entry.actor is None  # a load from the command line: "système"


@pytest.mark.django_db
def test_a_domain_change_is_reported_and_audited(tmp_path):
    load_domains()
    folder = _copy_shipped(tmp_path)
    _edit(folder / "d3.yaml", lambda d: d.update(data_version="2026-12-01.1"))
    report = load_domains(folder)
    assert report.domains["updated"] == ["D3"]
    assert "Domaine D3 : mis à jour (data_version)." in report.lines()
    domain = Domain.objects.get(code="D3")
    entry = AuditEntry.objects.get(
        content_type=ContentType.objects.get_for_model(Domain),
        object_id=domain.pk,
        action=AuditEntry.Action.UPDATE,
    )
    assert entry.changes_dict == {"data_version": ["2026-11-23.1", "2026-12-01.1"]}


@pytest.mark.django_db
def test_a_requirement_removed_from_its_file_is_reported_and_kept(tmp_path):
    load_domains()
    folder = _copy_shipped(tmp_path)
    _edit(
        folder / "d2.yaml",
        lambda d: d.update(
            requirements=[r for r in d["requirements"] if r["identifier"] != "D2.PROV.05"]
        ),
    )
    entries = AuditEntry.objects.count()
    report = load_domains(folder)
    assert report.requirements["removed"] == ["D2.PROV.05"]
    assert "Exigence D2.PROV.05 : retirée du fichier, conservée en base." in report.lines()
    assert Requirement.objects.filter(identifier="D2.PROV.05").exists()
    assert AuditEntry.objects.count() == entries  # neither deleted nor touched
    # Loading it again is still quiet about everything else.
    again = load_domains(folder)
    assert again.requirements["removed"] == ["D2.PROV.05"]
    assert not again.has_changes


@pytest.mark.django_db
def test_one_file_can_be_loaded_alone():
    report = load_domains(DOMAINS_DIR / "d2.yaml")
    assert report.domains["created"] == ["D2"]
    assert report.domains["removed"] == []
    assert set(Domain.objects.values_list("code", flat=True)) == {"D2"}
    # Loading every file afterwards creates the others and leaves D2 unchanged.
    report = load_domains()
    assert report.domains["created"] == ["D1", "D3"]
    assert report.domains["unchanged"] == ["D2"]


@pytest.mark.django_db
def test_a_domain_no_longer_in_the_files_is_reported_and_kept(tmp_path):
    load_domains()
    folder = _copy_shipped(tmp_path)
    (folder / "d3.yaml").unlink()
    report = load_domains(folder)
    assert report.domains["removed"] == ["D3"]
    assert Domain.objects.filter(code="D3").exists()


@pytest.mark.django_db
def test_command_prints_the_report_and_refuses_a_broken_file(tmp_path):
    out = io.StringIO()
    call_command("load_programme_data", "--dry-run", stdout=out)
    assert "Simulation (--dry-run)" in out.getvalue()
    assert Domain.objects.count() == 0

    out = io.StringIO()
    call_command("load_programme_data", stdout=out)
    assert "Domaines : 3 créé(s), 0 mis à jour, 0 inchangé(s)" in out.getvalue()
    out = io.StringIO()
    call_command("load_programme_data", stdout=out)
    assert "Prérequis et cibles : 0 créé(s), 0 mis à jour, 23 inchangé(s)" in out.getvalue()

    folder = _copy_shipped(tmp_path)
    _edit(folder / "d1.yaml", _missing_label)
    with pytest.raises(CommandError) as caught:
        call_command("load_programme_data", "--path", str(folder))
    assert "d1.yaml, exigence n°1 (D1.PROV.P1) : champ obligatoire manquant" in str(caught.value)


@pytest.mark.django_db
def test_command_refuses_a_missing_folder(tmp_path):
    with pytest.raises(CommandError, match="ni fichier ni dossier"):
        call_command("load_programme_data", "--path", str(tmp_path / "absent"))


# --- Editing through the service ----------------------------------------------------------------


@pytest.fixture
def people(db):
    region = RegionFactory(code="84", name="Auvergne-Rhône-Alpes")
    ars = OrganisationFactory(
        kind=OrgKind.ARS, name="ARS Auvergne-Rhône-Alpes", region=region, finess=None, sector=""
    )
    hospital = OrganisationFactory(name="CH Nord-Ouest", region=region)
    return {"ars_manager": member(Role.ARS_MANAGER, ars), "rssi": member(Role.RSSI, hospital)}


def test_requirement_update_saves_and_audits_with_the_actor(people):
    load_domains()
    requirement = Requirement.objects.get(identifier="D2.PROV.02")
    manager = people["ars_manager"]
    with set_actor(manager):
        requirement_update(
            actor=manager,
            requirement=requirement,
            label="  Politique et plans de sauvegarde et de restauration  ",
            proofs="Politique de sauvegarde\n\n  Plan de restauration  \n",
            attainment=Attainment.MEASUREMENT,
            measurement=Measurement.RESTORATION_TEST,
            confirmed=True,
        )
    requirement.refresh_from_db()
    assert requirement.label == "Politique et plans de sauvegarde et de restauration"
    assert requirement.proofs == ["Politique de sauvegarde", "Plan de restauration"]
    assert (requirement.attainment, requirement.measurement) == ("mesure", "test_restauration")
    entry = AuditEntry.objects.filter(
        object_id=requirement.pk, action=AuditEntry.Action.UPDATE
    ).get()
    assert entry.actor == manager
    assert set(entry.changes_dict) == {"label", "proofs", "attainment", "measurement", "confirmed"}


def test_requirement_update_without_change_writes_nothing(people):
    load_domains()
    requirement = Requirement.objects.get(identifier="D1.O6.B")
    entries = AuditEntry.objects.count()
    requirement_update(
        actor=people["ars_manager"], requirement=requirement, label=requirement.label
    )
    assert AuditEntry.objects.count() == entries


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"attainment": "mesure"}, "measurement_required", "measurement"),
        ({"measurement": "pcra"}, "measurement_not_allowed", "measurement"),
        ({"attainment": "honneur"}, "invalid", "attainment"),
        ({"label": "   "}, "required", "label"),
        ({"proofs": ["Plan", "Plan"]}, "proof_duplicated", "proofs"),
        ({"proofs": ["x" * 501]}, "proof_too_long", "proofs"),
        ({"identifier": "D2.O9.Z"}, "not_editable", None),
        ({"measurement": "inconnue", "attainment": "mesure"}, "invalid", None),
    ],
)
def test_requirement_update_refuses_bad_values(people, changes, code, field):
    load_domains()
    requirement = Requirement.objects.get(identifier="D2.PROV.02")  # attainment: document
    before = Requirement.objects.values().get(pk=requirement.pk)
    with pytest.raises(DomainError) as caught:
        requirement_update(actor=people["ars_manager"], requirement=requirement, **changes)
    assert (caught.value.code, caught.value.field) == (code, field)
    assert caught.value.message
    assert Requirement.objects.values().get(pk=requirement.pk) == before


def test_requirement_update_is_refused_to_an_rssi(people):
    load_domains()
    requirement = Requirement.objects.get(identifier="D1.O6.B")
    with pytest.raises(DomainError) as caught:
        requirement_update(actor=people["rssi"], requirement=requirement, label="Autre")
    assert caught.value.code == "forbidden"
    requirement.refresh_from_db()
    assert requirement.label != "Autre"
