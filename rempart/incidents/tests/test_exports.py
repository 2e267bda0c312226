"""Exports of a case: the STIX 2.1 bundle (parses back with stix2, patterns valid, stable
ids, official TLP 2.0 markings, filtered by TLP), the CSV timeline (« ; », BOM, French
dates, no formulas) and the PDF report (TLP on every page, accents and €, indicators up to
its TLP, evidence with hashes and custody). Exports are GETs: they write nothing."""

import csv
import datetime
import io
import json

import pytest
import stix2
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, Table
from stix2patterns.validator import run_validator

from rempart.core.errors import DomainError
from rempart.core.models import ApiTokenScope
from rempart.incidents import evidence_services, exports, timeline
from rempart.incidents import indicator_services as ioc
from rempart.incidents.models import (
    AccessLevel,
    AffectedAsset,
    AssetKind,
    AssetState,
    CaseAccess,
    CaseEvent,
    CaseTask,
    CertSanteDeclaration,
    CustodyEntry,
    DeclarationStatus,
    EventKind,
    Indicator,
    IndicatorKind,
    Tlp,
)
from rempart.programme.tests.test_api import assert_error, token_for

from .factories import incident_world, make_alert, make_case

pytestmark = pytest.mark.django_db
K = IndicatorKind
TLP2_IDS = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
ONE_OF_EACH = [
    (K.IPV4, "203.0.113.5", Tlp.CLEAR),
    (K.IPV6, "2001:db8::dead:beef", Tlp.GREEN),
    (K.DOMAIN, "evil.example.fr", Tlp.GREEN),
    (K.URL, "https://evil.example.fr/o'brien?x=1", Tlp.AMBER),
    (K.EMAIL, "rh@evil.example.fr", Tlp.AMBER),
    (K.MD5, "d41d8cd98f00b204e9800998ecf8427e", Tlp.AMBER),
    (K.SHA1, "da39a3ee5e6b4b0d3255bfef95601890afd80709", Tlp.AMBER),
    (
        K.SHA256,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        Tlp.AMBER_STRICT,
    ),
    (K.FILENAME, "facture d'Olivier.pdf.exe", Tlp.RED),
]


@pytest.fixture
def world():
    return incident_world()


@pytest.fixture
def case(world):
    case = make_case(
        world,
        title="Rançongiciel aux urgences — rançon de 50 000 €",
        summary="Chiffrement des postes des urgences ; l'œil du SOC a vu « LockBit ».",
        tlp=Tlp.AMBER,
    )
    CaseAccess.objects.create(
        case=case, organisation=world.ars, level=AccessLevel.READ, granted_at=case.opened_at
    )
    return case


@pytest.fixture
def indicators(world, case):
    seen = timezone.now() - datetime.timedelta(days=2)
    return [
        ioc.indicator_add(
            actor=world.rssi,
            case=case,
            kind=kind,
            value=value,
            tlp=tlp,
            description=f"Vu sur le pare-feu ({kind})",
            first_seen=seen if kind == K.IPV4 else None,
        )
        for kind, value, tlp in ONE_OF_EACH
    ]


def objects_of(bundle_json: str) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for obj in json.loads(bundle_json)["objects"]:
        found.setdefault(obj["type"], []).append(obj)
    return found


# --- STIX 2.1 -------------------------------------------------------------------------------------


def test_bundle_parses_back_and_patterns_are_valid(case, indicators):
    export = exports.stix_export(case, level=Tlp.RED)
    text = export.serialize()
    parsed = stix2.parse(text, allow_custom=False)
    assert parsed.type == "bundle"
    objects = objects_of(text)
    assert len(objects["indicator"]) == len(ONE_OF_EACH)
    for obj in objects["indicator"]:
        assert run_validator(obj["pattern"], stix_version="2.1") == []
        assert obj["pattern_type"] == "stix"
    patterns = {obj["id"]: obj["pattern"] for obj in objects["indicator"]}
    expected = {
        K.IPV4: "[ipv4-addr:value = '203.0.113.5']",
        K.IPV6: "[ipv6-addr:value = '2001:db8::dead:beef']",
        K.DOMAIN: "[domain-name:value = 'evil.example.fr']",
        K.URL: "[url:value = 'https://evil.example.fr/o\\'brien?x=1']",
        K.EMAIL: "[email-addr:value = 'rh@evil.example.fr']",
        K.MD5: "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']",
        K.SHA1: "[file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']",
        K.SHA256: "[file:hashes.'SHA-256' = "
        "'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']",
        K.FILENAME: "[file:name = 'facture d\\'Olivier.pdf.exe']",
    }
    for indicator in indicators:
        assert patterns[f"indicator--{indicator.stix_id}"] == expected[indicator.kind]


def test_pattern_values_are_escaped():
    indicator = Indicator(kind=K.FILENAME, value="a\\b'c.exe")
    pattern = exports.stix_pattern(indicator)
    assert pattern == "[file:name = 'a\\\\b\\'c.exe']"
    assert run_validator(pattern, stix_version="2.1") == []


def test_ids_markings_identity_and_grouping(world, case, indicators):
    first = objects_of(exports.stix_export(case, level=Tlp.RED).serialize())
    second = objects_of(exports.stix_export(case, level=Tlp.RED).serialize())
    assert {o["id"] for o in first["indicator"]} == {o["id"] for o in second["indicator"]}
    assert first["identity"][0]["id"] == second["identity"][0]["id"]
    assert first["grouping"][0]["id"] == second["grouping"][0]["id"]
    identity = first["identity"][0]
    assert identity["name"] == world.crrc.name  # no alert yet: the region's CRRC
    # The official TLP 2.0 definitions, included and applied.
    markings = {m["id"]: m for m in first["marking-definition"]}
    assert set(markings) == set(TLP2_IDS.values())
    for level, marking_id in TLP2_IDS.items():
        extension = markings[marking_id]["extensions"][exports.TLP2_EXTENSION]
        assert extension == {"extension_type": "property-extension", "tlp_2_0": level}
        assert markings[marking_id]["name"] == f"TLP:{level.upper()}"
        assert markings[marking_id]["created"] == "2022-10-01T00:00:00.000Z"
    by_id = {f"indicator--{i.stix_id}": i for i in indicators}
    for obj in first["indicator"]:
        level = exports.TLP2_VALUES[by_id[obj["id"]].tlp]
        assert obj["object_marking_refs"] == [TLP2_IDS[level]]
        assert obj["created_by_ref"] == identity["id"]
    ipv4 = next(o for o in first["indicator"] if "ipv4" in o["pattern"])
    assert ipv4["valid_from"].startswith(
        indicators[0].first_seen.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M")
    )
    grouping = first["grouping"][0]
    assert sorted(grouping["object_refs"]) == sorted(o["id"] for o in first["indicator"])
    assert grouping["name"] == f"{case.reference} — {case.title}"
    assert grouping["object_marking_refs"] == [TLP2_IDS["red"]]


def test_identity_is_the_crrc_that_handled_the_alerts(world, case, indicators):
    make_alert(world, case=case)
    identity = objects_of(exports.stix_export(case).serialize())["identity"][0]
    assert identity["name"] == world.crrc.name
    assert identity["identity_class"] == "organization"
    # The victim is never named as the producer.
    assert world.hospital.name not in json.dumps(identity)


@pytest.mark.parametrize(
    ("level", "kinds"),
    [
        (Tlp.CLEAR, {K.IPV4}),
        (Tlp.GREEN, {K.IPV4, K.IPV6, K.DOMAIN}),
        (Tlp.AMBER, {K.IPV4, K.IPV6, K.DOMAIN, K.URL, K.EMAIL, K.MD5, K.SHA1}),
        (Tlp.AMBER_STRICT, {K.IPV4, K.IPV6, K.DOMAIN, K.URL, K.EMAIL, K.MD5, K.SHA1, K.SHA256}),
        (Tlp.RED, {kind for kind, _value, _tlp in ONE_OF_EACH}),
    ],
)
def test_only_indicators_shareable_at_the_level_leave(case, indicators, level, kinds):
    export = exports.stix_export(case, level=level)
    objects = objects_of(export.serialize())
    exported = {f"indicator--{i.stix_id}" for i in indicators if i.kind in kinds}
    assert {o["id"] for o in objects["indicator"]} == exported
    assert export.included == len(kinds)
    assert export.excluded == len(ONE_OF_EACH) - len(kinds)
    used = {
        ref for o in objects["indicator"] + objects["grouping"] for ref in o["object_marking_refs"]
    }
    assert {m["id"] for m in objects["marking-definition"]} == used
    grouping = objects["grouping"][0]
    if exports.allows(level, case.tlp):
        assert case.title in grouping["name"]
        assert grouping["description"] == case.summary
    else:  # the case is AMBER: its title and synthesis do not go to a GREEN audience
        assert grouping["name"] == f"{case.reference} — indicateurs de compromission"
        assert "description" not in grouping
        assert case.title not in export.serialize()


def test_empty_export_is_a_valid_bundle(case):
    text = exports.stix_export(case).serialize()
    stix2.parse(text, allow_custom=False)
    assert set(objects_of(text)) == {"identity"}


def test_parse_tlp():
    assert exports.parse_tlp("TLP:AMBER+STRICT", default=Tlp.AMBER) == Tlp.AMBER_STRICT
    assert exports.parse_tlp("", default=Tlp.GREEN) == Tlp.GREEN
    assert exports.parse_tlp("Red", default=Tlp.GREEN) == Tlp.RED
    with pytest.raises(DomainError) as caught:
        exports.parse_tlp("white", default=Tlp.GREEN)
    assert caught.value.code == "invalid_tlp"


def test_stix_page_and_api(client, world, case, indicators):
    before = (CaseEvent.objects.count(), CustodyEntry.objects.count())
    client.force_login(world.ars_manager)  # read-only access may export
    response = client.get(reverse("incidents:case_stix", args=[case.pk]), {"tlp": "green"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/stix+json;version=2.1")
    assert response["Content-Disposition"] == (
        f'attachment; filename="indicateurs-{case.reference}-TLP-GREEN.stix.json"'
    )
    assert response["X-Rempart-Indicateurs-Exportes"] == "3"
    assert response["X-Rempart-Indicateurs-Retenus"] == "6"
    stix2.parse(response.content.decode(), allow_custom=False)
    default = client.get(reverse("incidents:case_stix", args=[case.pk]))
    assert default["X-Rempart-Indicateurs-Exportes"] == "7"  # AMBER by default: no RED, no STRICT
    refused = client.get(reverse("incidents:case_stix", args=[case.pk]), {"tlp": "white"})
    assert refused.status_code == 400
    assert "Niveau TLP inconnu" in refused.content.decode()

    auth = token_for(world.ars_manager, ApiTokenScope.READ)
    api = client.get(reverse("api-v1:case-stix", args=[case.pk]), {"tlp": "red"}, headers=auth)
    assert api.status_code == 200
    assert len(objects_of(api.content.decode())["indicator"]) == len(ONE_OF_EACH)
    assert_error(
        client.get(reverse("api-v1:case-stix", args=[case.pk]), {"tlp": "x"}, headers=auth),
        400,
        "invalid_tlp",
    )
    outsider = token_for(world.outsider_crrc)
    assert_error(
        client.get(reverse("api-v1:case-stix", args=[case.pk]), headers=outsider), 403, "forbidden"
    )
    assert (CaseEvent.objects.count(), CustodyEntry.objects.count()) == before


# --- CSV timeline ---------------------------------------------------------------------------------


def test_timeline_csv(client, world, case):
    occurred = timezone.make_aware(datetime.datetime(2025, 3, 2, 3, 15))
    timeline.add_event(
        case,
        EventKind.OBSERVATION,
        world.rssi,
        "Écran de rançon ; « LockBit »",
        occurred_at=occurred,
    )
    timeline.add_event(case, EventKind.NOTE, None, '=HYPERLINK("http://evil")')
    client.force_login(world.crrc_operator)
    response = client.get(reverse("incidents:case_timeline_csv", args=[case.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="chronologie-{case.reference}-TLP-AMBER.csv"'
    )
    raw = b"".join(response.streaming_content).decode("utf-8")
    assert raw.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(raw.lstrip("\ufeff")), delimiter=";"))
    assert rows[0] == ["date de l'événement", "enregistré le", "type", "auteur", "description"]
    assert rows[1][0] == "02/03/2025 03:15"
    assert rows[1][2] == "Constat"
    assert rows[1][3] == world.rssi.get_full_name()
    assert rows[1][4] == "Écran de rançon ; « LockBit »"
    assert rows[2][3] == "—"
    assert rows[2][4].startswith("'=")  # never evaluated by a spreadsheet
    client.force_login(world.outsider_rssi)
    assert client.get(reverse("incidents:case_timeline_csv", args=[case.pk])).status_code == 403


# --- PDF report -----------------------------------------------------------------------------------


def story_text(story) -> str:
    """Every piece of text of the report's flowables (paragraphs, also inside tables)."""
    parts = []

    def walk(item):
        if isinstance(item, Paragraph):
            parts.append(item.text)
        elif isinstance(item, Table):
            for row in item._cellvalues:
                for cell in row:
                    walk(cell)
        elif isinstance(item, list | tuple):
            for sub in item:
                walk(sub)
        elif hasattr(item, "_content"):  # KeepTogether
            walk(item._content)

    walk(story)
    return "\n".join(parts)


@pytest.fixture
def full_case(world, case, indicators):
    now = timezone.now()
    alert = make_alert(world, case=case, reporter_name="Rémi Ressi")
    alert.acknowledged_at = case.reported_at + datetime.timedelta(minutes=7)
    alert.save()
    case.qualified_at = case.reported_at + datetime.timedelta(hours=2, minutes=5)
    case.save()
    for number in range(80):  # a long timeline: several pages
        timeline.add_event(
            case, EventKind.ACTION, world.rssi, f"Action n° {number} : isolement du poste"
        )
    CaseTask.objects.create(
        case=case, title="Isoler le réseau des urgences", created_at=now, assignee=world.oncall
    )
    AffectedAsset.objects.create(
        case=case,
        name="SRV-DPI-01",
        kind=AssetKind.SERVER,
        state=AssetState.ISOLATED,
        critical_for_care=True,
        created_at=now,
    )
    evidence = evidence_services.evidence_add(
        actor=world.rssi,
        case=case,
        upload=SimpleUploadedFile("note-rançon.txt", "Payez 50 000 €".encode()),
        description="Note de rançon",
        collected_at=now - datetime.timedelta(hours=1),
        collected_by_name="Rémi Ressi",
    )
    CertSanteDeclaration.objects.create(
        case=case,
        structure_name=world.hospital.name,
        prepared_at=now,
        status=DeclarationStatus.FILED,
        filed_at=case.reported_at + datetime.timedelta(hours=20),
        filed_reference="CERT-2025-0042",
    )
    return evidence


def test_report_content(world, case, full_case):
    text = story_text(exports.report_story(case, Tlp.AMBER))
    for expected in (
        f"Rapport d'incident {case.reference}",
        "Rançongiciel aux urgences — rançon de 50 000 €",
        "l'œil du SOC a vu « LockBit »",
        world.hospital.name,
        "TLP:AMBER — Diffusion limitée à l'organisation du destinataire",
        "Délai de prise en compte",
        "7 min",
        "2 h 05 min",
        "20 h 00 min",
        "non connu",  # not resolved yet
        "Déposée sur le portail",
        "CERT-2025-0042",
        "Action n° 79 : isolement du poste",
        "Isoler le réseau des urgences",
        "SRV-DPI-01",
        "note-rançon.txt",
        full_case.sha256,
        "Dépôt sur la plateforme",
        "203.0.113.5",
    ):
        assert expected in text.replace("&#x27;", "'").replace("&amp;", "&"), expected
    # Up to AMBER: the AMBER+STRICT and RED indicators stay out, and the report says so.
    assert "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" not in text
    assert "facture d" not in text
    assert "2 indicateurs plus restreints que TLP:AMBER n'y figurent pas." in text
    red = story_text(exports.report_story(case, Tlp.RED))
    assert "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" in red
    # Every character of the report has a glyph in the embedded font (accents, « », œ, €).
    exports.register_fonts()
    glyphs = pdfmetrics.getFont(exports.FONT).face.charToGlyph
    missing = {ch for ch in text if ord(ch) >= 32 and ord(ch) not in glyphs}
    assert not missing, missing


def test_report_level_is_never_below_the_case(case):
    assert exports.report_level(case, Tlp.GREEN) == Tlp.AMBER
    assert exports.report_level(case, Tlp.RED) == Tlp.RED
    assert exports.report_level(case) == Tlp.AMBER


def test_report_altered_evidence_is_flagged(world, case, full_case):
    from django.core.files.storage import default_storage

    with open(default_storage.path(full_case.file.name), "wb") as handle:
        handle.write(b"autre")
    evidence_services.evidence_verify(actor=world.rssi, case=case, evidence=full_case)
    text = story_text(exports.report_story(case, Tlp.AMBER))
    assert "EMPREINTE NON CONFORME à la dernière vérification" in text
    assert "(NON CONFORME)" in text


def test_report_pdf_marks_every_page(client, world, case, full_case, monkeypatch):
    drawn: list[tuple[int, str]] = []
    original = Canvas.drawString

    def record(self, x, y, text, *args, **kwargs):
        drawn.append((self.getPageNumber(), text))
        return original(self, x, y, text, *args, **kwargs)

    monkeypatch.setattr(Canvas, "drawString", record)
    before = (CaseEvent.objects.count(), CustodyEntry.objects.count())
    client.force_login(world.ars_manager)
    response = client.get(reverse("incidents:case_report_pdf", args=[case.pk]), {"tlp": "red"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        f'attachment; filename="rapport-{case.reference}-TLP-RED.pdf"'
    )
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response.content.startswith(b"%PDF-")
    assert b"/FontFile2" in response.content  # the TrueType font is embedded
    pages = {page for page, _text in drawn}
    assert len(pages) >= 3
    for page in pages:
        labels = [text for number, text in drawn if number == page and text == "TLP:RED"]
        assert len(labels) == 2, page  # header and footer
    assert (CaseEvent.objects.count(), CustodyEntry.objects.count()) == before
    refused = client.get(reverse("incidents:case_report_pdf", args=[case.pk]), {"tlp": "noir"})
    assert refused.status_code == 400
    client.force_login(world.outsider_rssi)
    assert client.get(reverse("incidents:case_report_pdf", args=[case.pk])).status_code == 403
