"""The CERT Santé declaration: prepared from the case, completed, checked, exported, filed."""

import base64
import datetime
import json
import re
import zlib

import pytest
from django.urls import reverse
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.incidents import declaration_exports, declaration_services
from rempart.incidents.models import (
    AccessLevel,
    AffectedAsset,
    AssetKind,
    AssetState,
    CaseAccess,
    CaseEvent,
    CaseOutcome,
    CaseState,
    CaseTask,
    CertSanteDeclaration,
    DeclarationStatus,
    EventKind,
    Impact,
    TaskStatus,
    Tlp,
)

from .factories import incident_world, make_alert, make_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    world = incident_world()
    hospital = world.hospital
    hospital.address = "12 rue des Tilleuls"
    hospital.postal_code = "69003"
    hospital.commune = "Lyon"
    hospital.save()
    world.rssi.phone = "04 72 00 00 01"
    world.rssi.save()
    return world


def _case(world, **fields):
    now = timezone.now()
    case = make_case(
        world,
        reported_at=now - datetime.timedelta(hours=6),
        opened_at=now - datetime.timedelta(hours=5),
        state=CaseState.CONTAINMENT,
        outcome=CaseOutcome.TRUE_POSITIVE_IMPACT,
        **fields,
    )
    make_alert(
        world,
        case=case,
        reporter=world.staff,
        reporter_name="Sam Soignant",
        reporter_function="Infirmier aux urgences",
        callback_phone="06 11 22 33 44",
        callback_email="sam@rivebelle.fr",
        observed_at=now - datetime.timedelta(hours=7),
        description="Message de rançon sur les postes des urgences.",
        affects_care=Impact.YES,
        affects_health_data=Impact.UNKNOWN,
        affects_systems=Impact.YES,
        actions_taken="Postes débranchés du réseau.",
        received_at=now - datetime.timedelta(hours=6),
    )
    # A later alert of the same case: only its impact answers count.
    make_alert(
        world,
        case=case,
        affects_care=Impact.NO,
        affects_health_data=Impact.NO,
        description="Second signalement.",
        received_at=now - datetime.timedelta(hours=5),
    )
    AffectedAsset.objects.create(
        case=case,
        name="Serveur du DPI",
        kind=AssetKind.SERVER,
        state=AssetState.COMPROMISED,
        critical_for_care=True,
        created_at=now,
    )
    AffectedAsset.objects.create(
        case=case,
        name="Poste URG-03",
        kind=AssetKind.WORKSTATION,
        state=AssetState.ISOLATED,
        created_at=now,
    )
    for title, status in (
        ("Isoler", TaskStatus.DONE),
        ("Prévenir", TaskStatus.DONE),
        ("Sauvegardes", TaskStatus.IN_PROGRESS),
        ("Plainte", TaskStatus.TODO),
        ("Sans objet", TaskStatus.NOT_APPLICABLE),
    ):
        CaseTask.objects.create(
            case=case,
            title=title,
            status=status,
            done_at=now if status == TaskStatus.DONE else None,
            created_at=now,
        )
    return case


def _complete(world, case):
    declaration_services.declaration_prepare(actor=world.rssi, case=case)
    return declaration_services.declaration_update(
        actor=world.rssi,
        case=case,
        values={"data_concerned": "Dossiers patients des urgences.", "causes": "Hameçonnage."},
    )


# --- Preparing ------------------------------------------------------------------------------------


def test_prepare_fills_the_four_blocks_from_the_case(world):
    case = _case(world)
    declaration = declaration_services.declaration_prepare(actor=world.rssi, case=case)
    d = CertSanteDeclaration.objects.get(pk=declaration.pk)
    # Block 1: the structure and the declarant (the RSSI preparing it).
    assert d.structure_name == "Centre hospitalier de Rivebelle"
    assert d.structure_finess == world.hospital.finess
    assert d.structure_address == "12 rue des Tilleuls, 69003 Lyon"
    assert d.declarant_name == "Rémi Ressi"
    assert d.declarant_function == "RSSI / référent SSI"
    assert d.declarant_phone == "04 72 00 00 01"
    assert d.declarant_email == world.rssi.email
    # Block 2: the first alert, the assets, the state of handling.
    first_alert = case.alerts.order_by("received_at").first()
    assert d.observed_at == first_alert.observed_at
    assert d.scope == "Message de rançon sur les postes des urgences."
    assert "- Serveur du DPI (Serveur, état : compromis, critique pour les soins)" in (
        d.systems_concerned
    )
    assert "- Poste URG-03 (Poste de travail, état : isolé)" in d.systems_concerned
    assert "état « Confinement »" in d.handling_state
    assert "2 tâches réalisées, 2 en cours ou à faire." in d.handling_state
    assert "Postes débranchés du réseau." in d.handling_state
    assert "en cours d'analyse" in d.data_concerned  # « ne sait pas » at the first alert
    # Block 3: yes wins over no across the alerts, unknown over no.
    assert d.impact_care == Impact.YES
    assert "prise en charge des patients perturbée" in d.impact_people
    assert "dont 1 critique pour les soins" in d.impact_systems
    assert d.impact_organisation.startswith("Incident avéré avec impact")
    # Block 4: only people know the causes.
    assert d.causes == ""
    assert d.status == DeclarationStatus.DRAFT
    assert d.prepared_by == world.rssi
    event = CaseEvent.objects.get(case=case, kind=EventKind.DECLARATION)
    assert "préparée à partir du dossier" in event.text
    assert declaration_services.missing_fields(d) == []


def test_crrc_preparing_names_the_alert_reporter_as_declarant(world):
    case = _case(world)
    d = declaration_services.declaration_prepare(actor=world.crrc_operator, case=case)
    assert d.declarant_name == "Sam Soignant"
    assert d.declarant_function == "Infirmier aux urgences"
    assert d.declarant_phone == "06 11 22 33 44"
    assert d.declarant_email == "sam@rivebelle.fr"


def test_a_case_without_alert_prepares_an_incomplete_draft(world):
    case = make_case(world)
    d = declaration_services.declaration_prepare(actor=world.crrc_operator, case=case)
    missing = declaration_services.missing_fields(d)
    assert "Déclarant" in missing
    assert "Date de constatation" in missing
    assert "Au moins une réponse sur les impacts (bloc 3)" in missing
    assert "Aucune tâche enregistrée" in d.handling_state


def test_preparing_again_fills_only_empty_fields(world):
    case = _case(world)
    declaration_services.declaration_prepare(actor=world.rssi, case=case)
    declaration_services.declaration_update(
        actor=world.rssi,
        case=case,
        values={"scope": "Périmètre saisi par la structure.", "impact_people": ""},
    )
    case.state = CaseState.RECOVERY
    case.save()
    d = declaration_services.declaration_prepare(actor=world.rssi, case=case)
    d.refresh_from_db()
    assert d.scope == "Périmètre saisi par la structure."  # typed: kept
    assert "état « Confinement »" in d.handling_state  # filled before: kept
    assert "prise en charge des patients perturbée" in d.impact_people  # emptied: filled again
    events = CaseEvent.objects.filter(case=case, kind=EventKind.DECLARATION)
    assert events.count() == 2
    assert "impacts sur les personnes" in events.order_by("pk").last().text


def test_only_case_managers_prepare(world):
    case = _case(world)
    CaseAccess.objects.create(
        case=case,
        organisation=world.neighbour,
        level=AccessLevel.CONTRIBUTE,
        granted_at=case.opened_at,
    )
    with pytest.raises(DomainError, match="pilotage"):
        declaration_services.declaration_prepare(actor=world.neighbour_rssi, case=case)
    assert not CertSanteDeclaration.objects.exists()


# --- Editing --------------------------------------------------------------------------------------


def test_update_refuses_bad_values_with_reasons(world):
    case = _case(world)
    declaration_services.declaration_prepare(actor=world.rssi, case=case)
    with pytest.raises(declaration_services.DeclarationInvalid) as caught:
        declaration_services.declaration_update(
            actor=world.rssi,
            case=case,
            values={
                "structure_finess": "12345",
                "declarant_email": "pas-une-adresse",
                "declarant_phone": "appelez-moi",
                "observed_at": timezone.now() + datetime.timedelta(days=2),
                "impact_care": "peut-etre",
                "scope": "x" * 10_001,
                "declarant_name": "y" * 201,
            },
        )
    errors = caught.value.errors
    assert set(errors) == {
        "structure_finess",
        "declarant_email",
        "declarant_phone",
        "observed_at",
        "impact_care",
        "scope",
        "declarant_name",
    }
    assert "9 caractères" in errors["structure_finess"]
    assert "futur" in errors["observed_at"]
    assert "10000 caractères au plus" in errors["scope"]
    d = CertSanteDeclaration.objects.get(case=case)
    assert d.structure_finess == world.hospital.finess  # nothing saved


def test_update_before_preparing_is_refused(world):
    case = _case(world)
    with pytest.raises(DomainError, match="pas encore préparée"):
        declaration_services.declaration_update(actor=world.rssi, case=case, values={"causes": "x"})


# --- Filing ---------------------------------------------------------------------------------------


def test_filing_an_incomplete_declaration_lists_what_is_missing(world):
    case = _case(world)
    declaration_services.declaration_prepare(actor=world.rssi, case=case)
    declaration_services.declaration_update(
        actor=world.rssi, case=case, values={"declarant_phone": "", "observed_at": None}
    )
    with pytest.raises(DomainError) as caught:
        declaration_services.declaration_record_filing(
            actor=world.rssi, case=case, filed_at=timezone.now(), reference="SIG-1"
        )
    assert caught.value.code == "declaration_incomplete"
    assert "Téléphone du déclarant" in caught.value.message
    assert "Date de constatation" in caught.value.message
    assert CertSanteDeclaration.objects.get(case=case).status == DeclarationStatus.DRAFT


@pytest.mark.parametrize(
    ("offset", "reference", "field", "message"),
    [
        (datetime.timedelta(days=1), "SIG-1", "filed_at", "futur"),
        (-datetime.timedelta(days=2), "SIG-1", "filed_at", "précéder le signalement"),
        (-datetime.timedelta(hours=1), "   ", "reference", "Indiquez la référence"),
        (-datetime.timedelta(hours=1), "R" * 101, "reference", "100 caractères au plus"),
    ],
)
def test_filing_checks_date_and_reference(world, offset, reference, field, message):
    case = _case(world)
    _complete(world, case)
    with pytest.raises(declaration_services.DeclarationInvalid) as caught:
        declaration_services.declaration_record_filing(
            actor=world.rssi, case=case, filed_at=timezone.now() + offset, reference=reference
        )
    assert message in caught.value.errors[field]


def test_filing_freezes_the_declaration_and_is_in_the_timeline(world):
    case = _case(world)
    _complete(world, case)
    filed_at = timezone.now() - datetime.timedelta(hours=1)
    d = declaration_services.declaration_record_filing(
        actor=world.crrc_operator, case=case, filed_at=filed_at, reference="  SIG-2026-00042 "
    )
    d.refresh_from_db()
    assert d.status == DeclarationStatus.FILED
    assert d.filed_reference == "SIG-2026-00042"
    assert d.filed_at == filed_at
    assert d.filed_by == world.crrc_operator
    event = CaseEvent.objects.filter(case=case, kind=EventKind.DECLARATION).order_by("pk").last()
    assert "SIG-2026-00042" in event.text
    assert event.occurred_at == filed_at

    with pytest.raises(DomainError, match="figée") as caught:
        declaration_services.declaration_update(actor=world.rssi, case=case, values={"causes": "x"})
    assert caught.value.code == "declaration_filed"
    with pytest.raises(DomainError, match="figée"):
        declaration_services.declaration_prepare(actor=world.rssi, case=case)
    with pytest.raises(DomainError, match="Corriger le dépôt"):
        declaration_services.declaration_record_filing(
            actor=world.rssi, case=case, filed_at=filed_at, reference="AUTRE"
        )

    later = filed_at + datetime.timedelta(minutes=10)
    declaration_services.declaration_correct_filing(
        actor=world.rssi, case=case, filed_at=later, reference="SIG-2026-00043"
    )
    d.refresh_from_db()
    assert (d.filed_reference, d.filed_at) == ("SIG-2026-00043", later)
    correction = (
        CaseEvent.objects.filter(case=case, kind=EventKind.DECLARATION).order_by("pk").last()
    )
    assert "corrigé" in correction.text
    assert "SIG-2026-00042" in correction.text  # the former value stays in the timeline
    with pytest.raises(DomainError, match="rien n'a changé"):
        declaration_services.declaration_correct_filing(
            actor=world.rssi, case=case, filed_at=later, reference="SIG-2026-00043"
        )


def test_correcting_a_draft_is_refused(world):
    case = _case(world)
    _complete(world, case)
    with pytest.raises(DomainError, match="rien à corriger"):
        declaration_services.declaration_correct_filing(
            actor=world.rssi, case=case, filed_at=timezone.now(), reference="X"
        )


# --- Exports --------------------------------------------------------------------------------------


def pdf_text(data: bytes) -> str:
    """The text drawn in a reportlab PDF: inflate the streams, decode each string through the
    ToUnicode map of its font (subset fonts number their glyphs from 0)."""
    objects = {}
    for number, body in re.findall(rb"(\d+) 0 obj\s*(.*?)endobj", data, re.S):
        stream = re.search(rb"stream\r?\n", body)
        content = b""
        if stream:
            length = int(re.search(rb"/Length (\d+)", body).group(1))
            content = body[stream.end() : stream.end() + length]
            if b"ASCII85Decode" in body:
                content = base64.a85decode(content.strip().removesuffix(b"~>") + b"~>", adobe=True)
            if b"FlateDecode" in body:
                content = zlib.decompress(content)
        objects[int(number)] = (body, content)

    def cmap_of(number: int) -> dict[int, str]:
        mapping = {}
        for code, uni in re.findall(rb"<([0-9A-F]{2})> <([0-9A-F]{4})>", objects[number][1]):
            mapping[int(code, 16)] = chr(int(uni, 16))
        return mapping

    fonts = {}  # resource name -> cmap
    for body, _content in objects.values():
        for name, ref in re.findall(rb"/(F\d+\+\d+) (\d+) 0 R", body):
            font_body = objects[int(ref)][0]
            to_unicode = re.search(rb"/ToUnicode (\d+) 0 R", font_body)
            if to_unicode:
                fonts[name.decode()] = cmap_of(int(to_unicode.group(1)))
    text = []
    for _body, content in objects.values():
        font = None
        for token in re.finditer(rb"/(F\d+(?:\+\d+)?) [\d.]+ Tf|\(((?:\\.|[^\\)])*)\) Tj", content):
            if token.group(1):
                font = token.group(1).decode()
                continue
            raw = re.sub(
                rb"\\([0-7]{1,3}|.)",
                lambda m: bytes([int(m.group(1), 8)]) if m.group(1)[:1].isdigit() else m.group(1),
                token.group(2),
            )
            cmap = fonts.get(font, {})
            text.append("".join(cmap.get(b, chr(b)) for b in raw))
        text.append("\n")
    return " ".join(text)


def test_pdf_has_the_four_blocks_the_tlp_marking_and_french_accents(world):
    case = _case(world, tlp=Tlp.RED)
    declaration = _complete(world, case)
    data = declaration_exports.pdf_bytes(case, declaration)
    assert data.startswith(b"%PDF")
    text = pdf_text(data).replace("\u00a0", " ")
    for title in (
        "1. Identification de la structure et du déclarant",
        "2. Description de l'incident",
        "3. Impacts sur les données, les personnes, les systèmes et le fonctionnement",
        "4. Causes (si connues)",
    ):
        assert title in text, title
    assert text.count("TLP:RED") >= 2  # header and footer
    assert case.reference in text
    assert "Message de rançon sur les postes des urgences." in text
    assert "Hameçonnage." in text
    assert "Généré par Rempart le" in text


def test_pdf_of_a_very_long_text_spans_several_pages(world):
    case = _case(world)
    declaration_services.declaration_prepare(actor=world.rssi, case=case)
    long_text = "\n".join(f"Ligne {n} : journal d'événements à analyser." for n in range(200))
    declaration = declaration_services.declaration_update(
        actor=world.rssi, case=case, values={"causes": long_text}
    )
    data = declaration_exports.pdf_bytes(case, declaration)
    assert len(re.findall(rb"/Type /Page\b(?!s)", data)) >= 3
    assert "Ligne 199 :" in pdf_text(data)  # nothing cut off


def test_json_export_groups_fields_by_block(world):
    case = _case(world)
    declaration = _complete(world, case)
    document = declaration_exports.declaration_document(case, declaration)
    assert document["format"] == "rempart.declaration_cert_sante"
    assert document["version"] == 1
    assert document["case"]["reference"] == case.reference
    assert document["case"]["tlp"] == "TLP:AMBER"
    assert document["status"] == "brouillon"
    assert document["complete"] is True
    assert document["bloc_1_identification"]["structure"]["finess"] == world.hospital.finess
    assert document["bloc_1_identification"]["declarant"]["email"] == world.rssi.email
    observed = datetime.datetime.fromisoformat(document["bloc_2_description"]["observed_at"])
    assert observed == declaration.observed_at
    assert document["bloc_3_impacts"]["impact_care"] == "oui"
    assert document["bloc_4_causes"]["causes"] == "Hameçonnage."
    assert document["labels"]["impact_care"] == "Impact sur la sécurité des soins"
    assert document["filing"] == {"filed_at": None, "reference": ""}


# --- Pages ----------------------------------------------------------------------------------------


def url(name, case):
    return reverse(f"incidents:{name}", args=[case.pk])


def plain(response) -> str:
    return response.content.decode().replace("\u00a0", " ").replace("&#x27;", "'")


def test_page_walks_prepare_edit_file(client, world):
    case = _case(world)
    client.force_login(world.rssi)
    page = client.get(url("case_declaration", case))
    assert page.status_code == 200
    text = plain(page)
    for reference in ("L.1111-8-2", "2016-1214", "2022-715"):
        assert reference in text
    assert "https://signalement.social-sante.gouv.fr" in text
    assert "Préparer la déclaration" in text

    response = client.post(url("case_declaration", case), {"action": "prepare"})
    assert response.status_code == 302
    text = plain(client.get(url("case_declaration", case)))
    for title in (
        "1. Identification de la structure et du déclarant",
        "2. Description de l'incident",
        "3. Impacts sur les données, les personnes, les systèmes et le fonctionnement de la structure",
        "4. Causes (si connues)",
    ):
        assert title in text
    assert "Déclaration préparée à partir du dossier" in text

    prepared = CertSanteDeclaration.objects.get(case=case)
    form = {
        "action": "save",
        **{
            name: (
                declaration_services.display_value(prepared, name)
                if name not in ("observed_at", "impact_care", "may_affect_others")
                else ""
            )
            for name in declaration_services.EDITABLE_FIELDS
        },
    }
    form.update(
        {
            "observed_at": "2020-01-15T08:30",
            "impact_care": "oui",
            "structure_finess": "12345",
            "causes": "Pièce jointe piégée.",
        }
    )
    refused = client.post(url("case_declaration", case), form)
    assert refused.status_code == 400
    assert "9 caractères" in plain(refused)
    assert CertSanteDeclaration.objects.get(case=case).causes == ""  # nothing saved

    form["structure_finess"] = world.hospital.finess
    assert client.post(url("case_declaration", case), form).status_code == 302
    d = CertSanteDeclaration.objects.get(case=case)
    assert d.causes == "Pièce jointe piégée."
    assert timezone.localtime(d.observed_at).strftime("%d/%m/%Y %H:%M") == "15/01/2020 08:30"

    future = (timezone.localtime() + datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    refused = client.post(
        url("case_declaration", case), {"action": "file", "filed_at": future, "reference": "S-1"}
    )
    assert refused.status_code == 400
    assert "futur" in plain(refused)
    now = timezone.localtime().strftime("%Y-%m-%dT%H:%M")
    filed = client.post(
        url("case_declaration", case), {"action": "file", "filed_at": now, "reference": "S-1"}
    )
    assert filed.status_code == 302
    text = plain(client.get(url("case_declaration", case)))
    assert "sous la référence S-1" in text
    assert "Corriger le dépôt" in text
    assert 'name="action" value="save"' not in text  # frozen: no edit form
    frozen = client.post(url("case_declaration", case), form)
    assert frozen.status_code == 302
    assert "figée" in plain(client.get(url("case_declaration", case)))


def test_readers_read_and_download_but_do_not_write(client, world):
    case = _case(world)
    _complete(world, case)
    CaseAccess.objects.create(
        case=case, organisation=world.ars, level=AccessLevel.READ, granted_at=case.opened_at
    )
    client.force_login(world.ars_manager)
    page = client.get(url("case_declaration", case))
    assert page.status_code == 200
    assert "Enregistrer la déclaration" not in plain(page)
    pdf = client.get(url("case_declaration_pdf", case))
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert f"declaration-cert-sante-{case.reference}.pdf" in pdf["Content-Disposition"]
    exported = client.get(url("case_declaration_json", case))
    assert exported.status_code == 200
    assert json.loads(exported.content)["case"]["reference"] == case.reference
    refused = client.post(url("case_declaration", case), {"action": "prepare"})
    assert refused.status_code == 403
    assert "pilotage" in plain(refused)


def test_outsiders_get_a_clear_refusal(client, world):
    case = _case(world)
    _complete(world, case)
    for person in (world.staff, world.outsider_crrc, world.ars_manager):
        client.force_login(person)
        for name in ("case_declaration", "case_declaration_pdf", "case_declaration_json"):
            response = client.get(url(name, case))
            assert response.status_code == 403, (person, name)
            assert "pas accès à ce dossier" in plain(response)
        assert client.post(url("case_declaration", case), {"action": "prepare"}).status_code == 403
    client.force_login(world.rssi)
    missing = reverse("incidents:case_declaration", args=[case.pk + 1000])
    assert client.get(missing).status_code == 404


def test_downloads_before_preparing_are_not_found(client, world):
    case = _case(world)
    client.force_login(world.rssi)
    assert client.get(url("case_declaration_pdf", case)).status_code == 404
    assert client.get(url("case_declaration_json", case)).status_code == 404
    assert not CertSanteDeclaration.objects.exists()  # GET never writes


def test_unknown_action_is_answered(client, world):
    case = _case(world)
    client.force_login(world.rssi)
    response = client.post(url("case_declaration", case), {"action": "n'importe quoi"}, follow=True)
    assert "Action inconnue" in plain(response)
