"""FINESS import: the service (create, update, unchanged, rejections, one transaction, encodings,
audit, region scope), the command, and the pages (CRRC operator, RSSI, anonymous, report)."""

import datetime
import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from rempart.core.models import AuditEntry
from rempart.core.roles import OrgKind, Role
from rempart.organisations import importer
from rempart.organisations.finess import luhn_key
from rempart.organisations.importer import FinessFileError, import_finess_file, load_reference_data
from rempart.organisations.models import (
    Departement,
    FinessCategory,
    FinessImport,
    LegalStatus,
    Organisation,
    Region,
    Sector,
)

from .factories import OrganisationFactory, member

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"
SAMPLE = Path(importer.DATA_DIR) / "sample_finess.csv"


def number(dept: str, n: int) -> str:
    body = f"{dept}{n:06d}"
    return body + luhn_key(body)


def et_line(
    nofinesset,
    nofinessej,
    rs="CH IMAGINAIRE",
    *,
    cat="355",
    dept="69",
    routing="69003 LYON 3E",
    **extra,
):
    fields = dict.fromkeys(importer.ET_FIELDS, "")
    fields.update(
        structureet="structureet",
        nofinesset=nofinesset,
        nofinessej=nofinessej,
        rs=rs,
        numvoie="1",
        typvoie="RUE",
        voie="DE LA PAIX",
        departement=dept,
        ligneacheminement=routing,
        categetab=cat,
        dateouv="2000-01-01",
    )
    fields.update(extra)
    return ";".join(fields[name] for name in importer.ET_FIELDS)


def ej_line(nofinessej, rslongue, *, statut="14", dept="69", routing="69003 LYON 3E"):
    fields = dict.fromkeys(importer.EJ_FIELDS, "")
    fields.update(
        structureej="structureej",
        nofinessej=nofinessej,
        rs=rslongue[:20],
        rslongue=rslongue,
        departement=dept,
        ligneacheminement=routing,
        statutjuridique=statut,
    )
    return ";".join(fields[name] for name in importer.EJ_FIELDS)


def opener(content: bytes | str | Path):
    if isinstance(content, Path):
        return lambda: content.open("rb")
    data = content.encode() if isinstance(content, str) else content
    return lambda: io.BytesIO(data)


def run(content, **kwargs) -> importer.ImportReport:
    return import_finess_file(open_file=opener(content), **kwargs)


def reasons(report) -> dict[int, str]:
    return {r["line"]: r["reason"] for r in report.rejections}


@pytest.fixture
def refdata():
    load_reference_data()


@pytest.fixture
def ara(refdata):
    return Region.objects.get(code="84")


# --------------------------------------------------------------------------------------------
# Reference data
# --------------------------------------------------------------------------------------------


def test_reference_data_loads_idempotently():
    first = load_reference_data()
    assert first["regions"]["created"] == 18
    assert first["departements"]["created"] == 101
    assert Departement.objects.get(code="2A").region.name == "Corse"
    assert Departement.objects.get(code="976").region.code == "06"
    assert Departement.objects.get(code="69").region.name == "Auvergne-Rhône-Alpes"
    ch = FinessCategory.objects.get(code="355")
    assert ch.sector == Sector.HEALTH
    assert ch.default_legal_status == LegalStatus.PUBLIC
    assert ch.imported
    assert FinessCategory.objects.get(code="500").sector == Sector.MEDICO_SOCIAL
    assert not FinessCategory.objects.get(code="620").imported  # pharmacies are out of scope
    second = load_reference_data()
    assert all(c["created"] == 0 and c["updated"] == 0 for c in second.values())


def test_legal_status_table():
    assert importer.legal_status_from_code("14") == LegalStatus.PUBLIC
    assert importer.legal_status_from_code("3") == LegalStatus.PUBLIC
    assert importer.legal_status_from_code("61") == LegalStatus.PRIVATE_NON_PROFIT
    assert importer.legal_status_from_code("73") == LegalStatus.PRIVATE_FOR_PROFIT
    assert importer.legal_status_from_code("99") == ""
    assert importer.legal_status_from_code("") == ""


# --------------------------------------------------------------------------------------------
# Create, update, unchanged
# --------------------------------------------------------------------------------------------


def test_sample_file_creates_establishments_and_legal_entities(refdata):
    report = run(SAMPLE)
    assert report.rejections == []
    # 15 establishments and 5 legal entities
    assert (report.created, report.updated, report.unchanged) == (20, 0, 0)
    assert report.legal_entities_created == 2
    assert report.out_of_scope == 1
    assert report.ignored == 3
    assert report.header == "finess;etalab;111;2026-05-12"
    assert report.encoding == "UTF-8"

    site = Organisation.objects.get(finess="699000105")
    assert site.kind == OrgKind.ESTABLISHMENT
    assert site.name == "CENTRE HOSPITALIER DES TROIS RIVIERES - SITE NORD"
    assert site.address == "12 RUE DES MARRONNIERS"
    assert (site.postal_code, site.commune) == ("69003", "LYON 3E")
    assert site.phone == "0410010910"
    assert site.siret == "99900000100118"
    assert site.ape_code == "8610Z"
    assert (site.mft_code, site.sph_code, site.sph_label) == (
        "03",
        "1",
        "Etablissement public de santé",
    )
    assert site.opened_on == datetime.date(1975, 3, 1)
    assert site.finess_updated_on == datetime.date(2026, 4, 30)
    assert site.category.code == "355"
    assert site.sector == Sector.HEALTH
    assert site.region.code == "84"
    assert site.departement.code == "69"
    assert site.legal_entity.finess == "699000014"
    assert site.legal_entity.name == "CENTRE HOSPITALIER DES TROIS RIVIERES"
    assert site.legal_status == LegalStatus.PUBLIC  # from its legal entity (statut 14)

    clinic = Organisation.objects.get(finess="389000209")
    assert clinic.address == "4 B AV DES GLACIERS"
    assert clinic.legal_status == LegalStatus.PRIVATE_FOR_PROFIT
    mas = Organisation.objects.get(finess="739000412")
    assert mas.commune == "ALBERTVILLE"
    assert mas.sector == Sector.MEDICO_SOCIAL
    assert mas.legal_status == LegalStatus.PRIVATE_NON_PROFIT
    had = Organisation.objects.get(finess="019000504")
    placeholder = had.legal_entity
    assert placeholder.kind == OrgKind.LEGAL_ENTITY
    assert placeholder.name == "Entité juridique 019000066"
    assert had.legal_status == ""  # unknown legal entity, and HAD does not imply a status
    assert not Organisation.objects.filter(name__startswith="PHARMACIE").exists()


def test_second_run_reports_everything_unchanged(refdata):
    run(SAMPLE)
    audit_count = AuditEntry.objects.count()
    report = run(SAMPLE)
    assert (report.created, report.updated, report.unchanged, report.rejected) == (0, 0, 20, 0)
    assert report.legal_entities_created == 0
    assert AuditEntry.objects.count() == audit_count


def test_changed_line_updates_only_what_changed_with_audit(refdata, ara):
    ej = number("69", 1)
    site = number("69", 2)
    run(f"finess;etalab;1;2026-01-01\n{et_line(site, ej, 'CH AVANT')}\n")
    org = Organisation.objects.get(finess=site)
    operator = member(
        Role.CRRC_OPERATOR, OrganisationFactory(kind=OrgKind.CRRC, region=ara, departement=None)
    )
    report = run(
        f"{et_line(site, ej, 'CH APRES', cat='365', telephone='0472000000')}\n", actor=operator
    )
    assert (report.created, report.updated, report.unchanged) == (0, 1, 0)
    org.refresh_from_db()
    assert org.name == "CH APRES"
    assert org.category.code == "365"
    assert org.phone == "0472000000"
    entry = AuditEntry.objects.filter(object_id=org.pk, action=AuditEntry.Action.UPDATE).get()
    assert entry.actor == operator
    assert entry.actor_email == operator.email
    assert entry.organisation_id == org.pk
    new_category = FinessCategory.objects.get(code="365").pk
    old_category = FinessCategory.objects.get(code="355").pk
    assert entry.changes["name"] == ["CH AVANT", "CH APRES"]
    assert entry.changes["category"] == [str(old_category), str(new_category)]
    assert entry.changes["phone"] == ["", "0472000000"]
    assert entry.changes["legal_status"] == ["public", ""]  # status came from the category (C.H.)
    assert set(entry.changes) == {"name", "category", "phone", "legal_status"}


def test_create_writes_audit_entries_like_the_signals(refdata):
    report = run(f"{et_line(number('69', 2), number('69', 1), 'CH NEUF')}\n")
    assert report.created == 1
    assert report.legal_entities_created == 1
    org = Organisation.objects.get(finess=number("69", 2))
    entry = AuditEntry.objects.get(object_id=org.pk, content_type__model="organisation")
    assert entry.action == AuditEntry.Action.CREATE
    assert entry.actor is None
    assert entry.organisation_id == org.pk
    assert entry.object_pk == str(org.pk)
    assert entry.object_repr == "CH NEUF"
    assert entry.changes["name"] == ["None", "CH NEUF"]
    assert entry.changes["finess"] == [
        "None",
        org.finess,
    ]
    assert entry.additional_data == {"source": "import FINESS", "ligne": 1}
    placeholder = AuditEntry.objects.get(
        object_id=org.legal_entity_id, content_type__model="organisation"
    )
    assert placeholder.action == AuditEntry.Action.CREATE


def test_legal_entity_line_names_the_placeholder_and_sets_statuses(refdata):
    ej, site = number("42", 1), number("42", 2)
    run(f"{et_line(site, ej, 'CLINIQUE', cat='365', dept='42', routing='42000 SAINT-ETIENNE')}\n")
    assert Organisation.objects.get(finess=ej).name == "Entité juridique " + ej
    assert Organisation.objects.get(finess=site).legal_status == ""
    # The legal-entity line comes after the establishment: it is applied first all the same.
    content = (
        f"{et_line(site, ej, 'CLINIQUE', cat='365', dept='42', routing='42000 SAINT-ETIENNE')}\n"
        f"{ej_line(ej, 'SA CLINIQUE DU PARC', statut='73', dept='42', routing='42000 SAINT-ETIENNE')}\n"
    )
    report = run(content)
    assert report.rejections == []
    assert report.updated == 2
    assert Organisation.objects.get(finess=ej).name == "SA CLINIQUE DU PARC"
    assert Organisation.objects.get(finess=ej).legal_status == LegalStatus.PRIVATE_FOR_PROFIT
    assert Organisation.objects.get(finess=site).legal_status == LegalStatus.PRIVATE_FOR_PROFIT


# --------------------------------------------------------------------------------------------
# Rejections
# --------------------------------------------------------------------------------------------


def test_every_rejection_reason_is_reported_and_other_lines_imported(refdata):
    ght_number = number("69", 800111)
    OrganisationFactory(
        kind=OrgKind.GHT,
        name="GHT Imaginaire",
        finess=ght_number,
        region=Region.objects.get(code="84"),
        departement=None,
        sector="",
    )
    report = run(DATA / "finess_rejections.csv")
    got = reasons(report)
    assert sorted(got) == [3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15]
    assert "compte 4 champs au lieu des 32 attendus" in got[3]
    assert "Numéro FINESS de l'établissement invalide" in got[4]
    assert "la clé de contrôle" in got[4]
    assert "entité juridique (nofinessej) invalide" in got[5]
    assert "Catégorie d'établissement « 999 » (Catégorie imaginaire) inconnue" in got[6]
    assert "Département « 99 » inconnu" in got[7]
    assert "Date d'ouverture (dateouv) « 2020-13-45 » invalide" in got[8]
    assert "Date de mise à jour (datemaj) « 30/04/2026 » invalide" in got[9]
    assert "AAAA-MM-JJ" in got[9]
    assert "figure déjà à la ligne 2 du fichier" in got[10]
    assert "est celui d'un établissement (ligne 2 du fichier)" in got[11]
    assert "« structureej » compte 3 champs au lieu des 23 attendus" in got[14]
    assert (
        "déjà celui d'une organisation d'un autre type (Groupement hospitalier de territoire"
        in got[15]
    )
    by_line = {r["line"]: r["finess"] for r in report.rejections}
    assert by_line[4].startswith("69800103")
    assert by_line[15] == ght_number
    assert report.created == 2
    assert report.ignored == 1
    assert set(
        Organisation.objects.filter(kind=OrgKind.ESTABLISHMENT).values_list("name", flat=True)
    ) == {
        "CH VALIDE UN",
        "CH VALIDE DEUX",
    }


def test_legal_entity_number_of_an_establishment_is_rejected(refdata):
    existing = number("69", 5)
    run(f"{et_line(existing, number('69', 6))}\n")
    report = run(f"{et_line(number('69', 7), existing, 'AUTRE')}\n")
    assert report.created == 0
    assert (
        "d'entité juridique " + existing + " est déjà celui d'une organisation d'un autre type"
        in reasons(report)[1]
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "vide"),
        (b"   \n\n", "vide"),
        ((DATA / "not_finess.csv").read_bytes(), "aucune ligne « structureet »"),
        (b"finess;etalab;111;2026-05-12\n", "aucune ligne « structureet »"),
        (b"PK\x03\x04\x14\x00\x00\x00binary zip", "archive ZIP"),
        (b"%PDF-1.7\n%\xe2\xe3", "document PDF"),
        (b"structureet;\x00\x01\x02;binary", "données binaires"),
        (b"nom,prenom\nDupont,Camille\n", "points-virgules"),
    ],
)
def test_malformed_file_is_refused_and_nothing_changes(refdata, content, message):
    run(f"{et_line(number('69', 2), number('69', 1), 'CH EXISTANT')}\n")
    before = (Organisation.objects.count(), AuditEntry.objects.count())
    with pytest.raises(FinessFileError) as excinfo:
        run(content)
    assert message in excinfo.value.message
    assert (Organisation.objects.count(), AuditEntry.objects.count()) == before


def test_nul_byte_after_valid_lines_rolls_everything_back(refdata, monkeypatch):
    monkeypatch.setattr(importer, "BATCH_SIZE", 100)
    lines = [
        et_line(number("69", 100 + i), number("69", 1)) for i in range(1000)
    ]  # beyond the 64 KB sniffed
    content = ("\n".join(lines) + "\n").encode() + b"structureet;\x00\n"
    with pytest.raises(FinessFileError, match="ligne 1001 contient des données binaires"):
        run(content)
    assert not Organisation.objects.exists()


def test_failure_mid_file_rolls_back_and_marks_the_run_failed(refdata, monkeypatch, tmp_path):
    lines = [et_line(number("69", 100 + i), number("69", 1)) for i in range(6)]
    path = tmp_path / "extraction.csv"
    path.write_text("finess;etalab;1;2026-01-01\n" + "\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(importer, "BATCH_SIZE", 2)
    calls = {"n": 0}
    original = importer._Importer._flush_establishments

    def failing_flush(self):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disque plein")
        return original(self)

    monkeypatch.setattr(importer._Importer, "_flush_establishments", failing_flush)
    with pytest.raises(FinessFileError) as excinfo:
        importer.run_command_import(path=path)
    assert "erreur inattendue" in excinfo.value.message
    assert "disque plein" in excinfo.value.message
    assert calls["n"] == 2  # the first batch had been written, then rolled back
    assert not Organisation.objects.exists()
    assert not AuditEntry.objects.filter(content_type__model="organisation").exists()
    run_record = FinessImport.objects.get()
    assert run_record.status == FinessImport.Status.FAILED
    assert run_record.created_count == 0
    assert "aucune modification n'a été enregistrée" in run_record.error_message


def test_latin1_file_is_decoded(refdata):
    report = run(DATA / "finess_latin1.csv")
    assert report.rejections == []
    assert report.encoding == "ISO-8859-1"
    site = Organisation.objects.get(finess=number("42", 800010))
    assert site.name == "CENTRE HOSPITALIER DE SAINT-ÉTIENNE-DES-PRÉS"
    assert site.commune == "SAINT-ÉTIENNE"
    assert site.legal_entity.address == "1 RUE DE LA FORÊT"
    assert site.legal_status == LegalStatus.PUBLIC


def test_dry_run_writes_nothing():
    report = run(SAMPLE, dry_run=True)
    assert report.created == 20
    assert not Organisation.objects.exists()
    assert not Region.objects.exists()  # even the reference data was rolled back


# --------------------------------------------------------------------------------------------
# Region scope
# --------------------------------------------------------------------------------------------


def test_region_restriction_skips_other_regions(ara):
    report = run(SAMPLE, region_ids={ara.pk})
    assert report.out_of_region == 3  # Paris and Marseille establishments, the Paris legal entity
    assert report.rejections == []
    assert not Organisation.objects.exclude(region=ara).exists()
    assert Organisation.objects.filter(region=ara, kind=OrgKind.ESTABLISHMENT).count() == 13


def test_region_restriction_does_not_touch_another_regions_establishment(ara):
    paris = Region.objects.get(code="11")
    site = number("75", 3)
    run(f"{et_line(site, number('75', 4), 'CH PARISIEN', dept='75', routing='75012 PARIS')}\n")
    # The same number now claims to be in Lyon: an ARA operator may not move it into their region.
    report = run(f"{et_line(site, number('75', 4), 'CH DETOURNE')}\n", region_ids={ara.pk})
    assert report.out_of_region == 1
    assert report.updated == 0
    org = Organisation.objects.get(finess=site)
    assert org.name == "CH PARISIEN"
    assert org.region == paris


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def test_command_prints_the_report_and_records_the_run(refdata):
    out = io.StringIO()
    call_command("import_finess", str(DATA / "finess_rejections.csv"), stdout=out)
    text = out.getvalue()
    assert "terminé" in text
    assert "Organisations créées : 3" in text
    assert "Lignes rejetées : 10" in text
    assert "ligne 6 : FINESS 698001054 : Catégorie d'établissement « 999 »" in text
    run_record = FinessImport.objects.get()
    assert run_record.status == FinessImport.Status.DONE
    assert run_record.rejected_count == 10
    assert run_record.uploaded_by is None
    assert not run_record.regions.exists()


def test_command_dry_run_and_region_option():
    out = io.StringIO()
    call_command("import_finess", str(SAMPLE), "--dry-run", "--region", "84", stdout=out)
    text = out.getvalue()
    assert "Simulation" in text
    assert "Lignes hors région (ignorées) : 3" in text
    assert not Organisation.objects.exists()
    assert not FinessImport.objects.exists()
    with pytest.raises(CommandError, match="Région « 42 » inconnue"):
        call_command("import_finess", str(SAMPLE), "--region", "42")
    with pytest.raises(CommandError, match="Fichier introuvable"):
        call_command("import_finess", "/nonexistent/finess.csv")
    with pytest.raises(CommandError, match="aucune ligne « structureet »"):
        call_command("import_finess", str(DATA / "not_finess.csv"))


def test_load_reference_data_command():
    out = io.StringIO()
    call_command("load_reference_data", stdout=out)
    assert "Départements : 101 créé(s)" in out.getvalue()


# --------------------------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------------------------


class _Undefined(str):
    def __mod__(self, other):
        raise AssertionError(f"Variable de gabarit indéfinie : {other}")


@pytest.fixture
def strict_templates(settings, tmp_path):
    settings.TEMPLATES = [
        {
            **settings.TEMPLATES[0],
            "OPTIONS": {**settings.TEMPLATES[0]["OPTIONS"], "string_if_invalid": _Undefined("%s")},
        }
    ]
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def operator(ara):
    crrc = OrganisationFactory(
        kind=OrgKind.CRRC, name="CRRC ARA", region=ara, departement=None, sector=""
    )
    return member(Role.CRRC_OPERATOR, crrc)


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


def test_operator_uploads_a_file_and_reads_the_report(
    client, operator, ara, strict_templates, django_capture_on_commit_callbacks
):
    client.force_login(operator)
    page = client.get(reverse("organisations:finess_import"))
    assert page.status_code == 200
    assert "Auvergne-Rhône-Alpes" in page.text
    content = (
        SAMPLE.read_bytes()
        + et_line(number("69", 999), number("69", 998), cat="999").encode()
        + b"\n"
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("organisations:finess_import"), {"fichier": upload("extraction.csv", content)}
        )
    run_record = FinessImport.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("organisations:finess_import_detail", args=[run_record.pk])
    assert run_record.status == FinessImport.Status.DONE
    assert run_record.uploaded_by == operator
    assert list(run_record.regions.all()) == [ara]
    assert run_record.file.name.startswith("finess/")
    assert run_record.created_count == 17
    assert run_record.out_of_region_count == 3
    assert run_record.rejected_count == 1
    assert not Organisation.objects.filter(kind=OrgKind.ESTABLISHMENT).exclude(region=ara).exists()
    entry = AuditEntry.objects.filter(content_type__model="organisation", actor=operator).first()
    assert entry is not None
    assert entry.organisation_id is not None

    detail = client.get(response.url)
    assert detail.status_code == 200
    assert "Fichier reçu" in detail.text  # the task ran after the request, as with a real worker
    assert "fr-badge--success" in detail.text
    assert "Lignes hors région (ignorées)" in detail.text
    assert "Catégorie d&#x27;établissement « 999 »" in detail.text
    assert "every 2s" not in detail.text
    csv_response = client.get(
        reverse("organisations:finess_import_rejections_csv", args=[run_record.pk])
    )
    body = b"".join(csv_response.streaming_content).decode("utf-8-sig")
    assert csv_response["Content-Type"].startswith("text/csv")
    assert body.splitlines()[0] == "ligne;finess;motif"
    assert f";{number('69', 999)};" in body
    listing = client.get(reverse("organisations:finess_import"))
    assert "extraction.csv" in listing.text
    assert "Terminé" in listing.text


def test_upload_of_a_wrong_file_is_refused_with_a_message(client, operator, strict_templates):
    client.force_login(operator)
    url = reverse("organisations:finess_import")
    response = client.post(url, {"fichier": upload("extraction.xlsx", b"PK\x03\x04....")})
    assert response.status_code == 400
    assert "Format non accepté" in response.text
    response = client.post(url, {"fichier": upload("extraction.csv", b"PK\x03\x04....")})
    assert response.status_code == 400
    assert "archive ZIP" in response.text
    response = client.post(url, {})
    assert response.status_code == 400
    assert "Choisissez le fichier CSV" in response.text
    assert not FinessImport.objects.exists()


def test_upload_too_large_is_refused(client, operator, strict_templates, monkeypatch):
    monkeypatch.setattr(importer, "MAX_UPLOAD_BYTES", 1024 * 1024)
    client.force_login(operator)
    big = b"finess;etalab;1;2026-01-01\n" + b"x" * (1024 * 1024 + 10)
    response = client.post(
        reverse("organisations:finess_import"), {"fichier": upload("extraction.csv", big)}
    )
    assert response.status_code == 400
    assert "la taille maximale est de 1 Mo" in response.text


def test_failed_run_shows_its_reason(
    client, operator, strict_templates, django_capture_on_commit_callbacks
):
    client.force_login(operator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("organisations:finess_import"),
            {"fichier": upload("vide.csv", (DATA / "not_finess.csv").read_bytes())},
        )
    run_record = FinessImport.objects.get()
    assert run_record.status == FinessImport.Status.FAILED
    detail = client.get(response.url)
    assert "L'import a échoué" in detail.text
    assert "aucune ligne « structureet »" in detail.text


def test_pending_run_is_polled_with_htmx(client, operator, ara, strict_templates):
    run_record = FinessImport.objects.create(source_name="en-attente.csv", uploaded_by=operator)
    run_record.regions.set([ara])
    client.force_login(operator)
    url = reverse("organisations:finess_import_detail", args=[run_record.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert 'hx-trigger="every 2s"' in page.text
    assert "En attente" in page.text
    partial = client.get(url, headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert "<html" not in partial.text
    assert "every 2s" in partial.text


def test_task_runs_an_import_once(operator, ara, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    run_record = importer.create_import(
        actor=operator, uploaded_file=upload("extraction.csv", SAMPLE.read_bytes())
    )
    from rempart.organisations.tasks import run_finess_import

    assert run_finess_import(run_record.pk) == FinessImport.Status.DONE
    assert run_finess_import(run_record.pk) is None  # already done: left alone
    assert Organisation.objects.filter(region=ara, kind=OrgKind.ESTABLISHMENT).count() == 13


def test_rssi_gets_404_and_anonymous_is_sent_to_login(client, ara, strict_templates):
    hospital = OrganisationFactory(region=ara, departement=None)
    run_record = FinessImport.objects.create(source_name="x.csv")
    urls = [
        reverse("organisations:finess_import"),
        reverse("organisations:finess_import_detail", args=[run_record.pk]),
        reverse("organisations:finess_import_rejections_csv", args=[run_record.pk]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302
        assert reverse("account_login") in response.url
    client.force_login(member(Role.RSSI, hospital))
    for url in urls:
        assert client.get(url).status_code == 404
    response = client.post(urls[0], {"fichier": upload("extraction.csv", SAMPLE.read_bytes())})
    assert response.status_code == 404
    assert not Organisation.objects.filter(finess="699000105").exists()


def test_runs_of_another_region_are_not_visible(client, operator, ara, strict_templates):
    paris = Region.objects.get(code="11")
    ars_paris = OrganisationFactory(
        kind=OrgKind.ARS, name="ARS IDF", region=paris, departement=None, sector=""
    )
    manager = member(Role.ARS_MANAGER, ars_paris)
    ara_run = FinessImport.objects.create(source_name="ara.csv", uploaded_by=operator)
    ara_run.regions.set([ara])
    national_run = FinessImport.objects.create(source_name="national.csv")
    client.force_login(manager)
    listing = client.get(reverse("organisations:finess_import"))
    assert listing.status_code == 200
    assert "national.csv" in listing.text
    assert "ara.csv" not in listing.text
    assert (
        client.get(reverse("organisations:finess_import_detail", args=[ara_run.pk])).status_code
        == 404
    )
    assert (
        client.get(
            reverse("organisations:finess_import_detail", args=[national_run.pk])
        ).status_code
        == 200
    )
    csv_url = reverse("organisations:finess_import_rejections_csv", args=[ara_run.pk])
    assert client.get(csv_url).status_code == 404
