"""Evidence: deposit (any file type, size limit, SHA-256, private random name, custody
« collecte » and « dépôt »), download by POST only (custody « téléchargement » with the hash
re-computed), verification, hand-over to a third party, and an altered or missing file
detected and flagged. People: the victim's RSSI (pilotage), an on-call expert given
contribution, the ARS invited read-only, an outsider of another region."""

import datetime
import hashlib

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.incidents import evidence_services as es
from rempart.incidents.models import (
    AccessLevel,
    CaseAccess,
    CaseEvent,
    CaseState,
    CustodyAction,
    CustodyEntry,
    EventKind,
    Evidence,
)

from .factories import incident_world, make_case

pytestmark = pytest.mark.django_db

PCAP = b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + bytes(range(256)) * 40
EML = "From: rh@evil.example\nSubject: Facture impayée – 1 250 €\n\nCliquez ici.\n".encode()


@pytest.fixture
def world():
    return incident_world()


@pytest.fixture
def case(world):
    case = make_case(world)
    CaseAccess.objects.create(
        case=case, person=world.oncall, level=AccessLevel.CONTRIBUTE, granted_at=case.opened_at
    )
    CaseAccess.objects.create(
        case=case, organisation=world.ars, level=AccessLevel.READ, granted_at=case.opened_at
    )
    return case


def collected():
    return timezone.now() - datetime.timedelta(hours=3)


def deposit(world, case, content=PCAP, name="capture urgences.pcap", actor=None, **extra):
    values = {
        "actor": actor or world.oncall,
        "case": case,
        "upload": SimpleUploadedFile(name, content),
        "description": "Capture réseau du VLAN des urgences",
        "collected_at": collected(),
        "collected_by_name": "Rémi Ressi (RSSI)",
        "source": "Sonde réseau du cœur de réseau",
    }
    values.update(extra)
    return es.evidence_add(**values)


def overwrite(evidence, content: bytes) -> None:
    """Alter the stored file behind the platform's back."""
    with open(default_storage.path(evidence.file.name), "wb") as handle:
        handle.write(content)


# --- Deposit --------------------------------------------------------------------------------------


def test_deposit_hashes_stores_privately_and_opens_the_chain(world, case):
    evidence = deposit(world, case)
    assert evidence.sha256 == hashlib.sha256(PCAP).hexdigest()
    assert evidence.size == len(PCAP)
    assert evidence.original_name == "capture urgences.pcap"
    # A random private name: neither the original name nor its extension.
    assert evidence.file.name.startswith("prive/incidents/evidence/")
    assert "capture" not in evidence.file.name
    assert not evidence.file.name.endswith(".pcap")
    with default_storage.open(evidence.file.name, "rb") as handle:
        assert handle.read() == PCAP
    chain = list(evidence.custody.all())
    assert [entry.action for entry in chain] == [CustodyAction.COLLECTED, CustodyAction.DEPOSITED]
    assert chain[0].actor_name == "Rémi Ressi (RSSI)"
    assert chain[0].actor is None
    assert "Sonde réseau" in chain[0].note
    assert chain[1].actor == world.oncall
    assert chain[1].sha256 == evidence.sha256
    event = CaseEvent.objects.get(case=case, kind=EventKind.EVIDENCE)
    assert evidence.sha256 in event.text
    assert "capture urgences.pcap" in event.text


def test_deposit_refusals(world, case, settings):
    settings.REMPART_EVIDENCE_MAX_BYTES = 1024
    cases = [
        ({"upload": None}, "file", "Choisissez le fichier"),
        ({"content": b""}, "file", "est vide"),
        ({"content": b"x" * 2048}, "file", "la taille maximale d'une preuve est 1 Ko"),
        ({"content": EML, "description": "  "}, "description", "Décrivez la preuve"),
        ({"content": EML, "collected_at": None}, "collected_at", "quand la preuve"),
        (
            {"content": EML, "collected_at": timezone.now() + datetime.timedelta(days=1)},
            "collected_at",
            "dans le futur",
        ),
        ({"content": EML, "collected_by_name": ""}, "collected_by_name", "qui a collecté"),
    ]
    for extra, field, message in cases:
        with pytest.raises(DomainError) as caught:
            deposit(world, case, **extra)
        assert caught.value.field == field
        assert message in caught.value.message
    for person in (world.ars_manager, world.outsider_rssi):
        with pytest.raises(DomainError) as caught:
            deposit(world, case, content=EML, actor=person)
        assert caught.value.code == "forbidden"
    assert not Evidence.objects.exists()
    assert not CustodyEntry.objects.exists()


def test_closed_case_takes_no_new_evidence_but_keeps_its_chain(world, case):
    evidence = deposit(world, case, content=EML, name="hameconnage.eml")
    case.state = CaseState.CLOSED
    case.closed_at = timezone.now()
    case.save()
    with pytest.raises(DomainError) as caught:
        deposit(world, case, content=EML)
    assert caught.value.code == "case_closed"
    entry = es.evidence_transfer(
        actor=world.rssi, case=case, evidence=evidence, recipient="Gendarmerie, C3N"
    )
    assert entry.hash_matches is True


def stored_files() -> set[str]:
    folder = "prive/incidents/evidence"
    return set(default_storage.listdir(folder)[1]) if default_storage.exists(folder) else set()


def test_a_failed_transaction_leaves_no_file(world, case, monkeypatch):
    deposit(world, case, content=EML)  # (the folder exists, with one file)
    before = stored_files()

    def boom(*args, **kwargs):
        raise RuntimeError("base indisponible")

    monkeypatch.setattr(es.timeline, "add_event", boom)
    with pytest.raises(RuntimeError):
        deposit(world, case)
    assert stored_files() == before
    assert Evidence.objects.count() == 1


# --- Custody --------------------------------------------------------------------------------------


def test_verify_and_transfer_record_the_hash(world, case):
    evidence = deposit(world, case, content=EML, name="hameconnage.eml")
    entry = es.evidence_verify(actor=world.ars_manager, case=case, evidence=evidence)
    assert entry.action == CustodyAction.VERIFIED
    assert entry.hash_matches is True
    assert entry.sha256 == evidence.sha256
    assert entry.actor_name == world.ars_manager.get_full_name()
    with pytest.raises(DomainError) as caught:
        es.evidence_transfer(actor=world.oncall, case=case, evidence=evidence, recipient=" ")
    assert caught.value.field == "recipient"
    with pytest.raises(DomainError) as caught:
        es.evidence_transfer(
            actor=world.ars_manager, case=case, evidence=evidence, recipient="Gendarmerie"
        )
    assert caught.value.code == "forbidden"
    entry = es.evidence_transfer(
        actor=world.oncall,
        case=case,
        evidence=evidence,
        recipient="Prestataire forensique PRIS",
        note="Copie sur clé chiffrée, PV n° 42",
    )
    assert entry.action == CustodyAction.TRANSFERRED
    assert entry.note == "Remise à : Prestataire forensique PRIS. Copie sur clé chiffrée, PV n° 42"
    assert entry.hash_matches is True
    assert CaseEvent.objects.filter(case=case, text__contains="remise à Prestataire").exists()


def test_altered_file_is_detected_and_flagged(world, case):
    evidence = deposit(world, case, content=EML, name="hameconnage.eml")
    overwrite(evidence, EML.replace(b"Cliquez", b"Ne cliquez pas"))
    entry = es.evidence_verify(actor=world.rssi, case=case, evidence=evidence)
    assert entry.hash_matches is False
    assert entry.sha256 == hashlib.sha256(EML.replace(b"Cliquez", b"Ne cliquez pas")).hexdigest()
    assert "EMPREINTE NON CONFORME" in entry.note
    alert = CaseEvent.objects.filter(case=case, kind=EventKind.EVIDENCE).latest("pk")
    assert "EMPREINTE NON CONFORME" in alert.text
    state = es.integrity(es.get_evidence(case, evidence.pk))
    assert state.is_altered
    assert state.ever_altered
    # Put back as deposited: conforming again, the past alteration stays known.
    overwrite(evidence, EML)
    assert es.evidence_verify(actor=world.rssi, case=case, evidence=evidence).hash_matches
    state = es.integrity(es.get_evidence(case, evidence.pk))
    assert state.state == "ok"
    assert state.ever_altered


def test_missing_file_is_recorded(world, case):
    evidence = deposit(world, case, content=EML)
    default_storage.delete(evidence.file.name)
    entry = es.evidence_download(actor=world.rssi, case=case, evidence=evidence)
    assert entry.hash_matches is False
    assert entry.sha256 == ""
    assert "introuvable" in entry.note


def test_evidence_of_another_case_is_not_found(world, case):
    from django.http import Http404

    evidence = deposit(world, case, content=EML)
    other = make_case(world, number=2)
    with pytest.raises(Http404):
        es.get_evidence(other, evidence.pk)
    with pytest.raises(Http404):
        es.evidence_verify(actor=world.rssi, case=other, evidence=evidence)


# --- Pages ----------------------------------------------------------------------------------------


def url(name, case, evidence=None):
    args = [case.pk] if evidence is None else [case.pk, evidence.pk]
    return reverse(f"incidents:{name}", args=args)


def text_of(response) -> str:
    return response.content.decode().replace("&#x27;", "'").replace("&quot;", '"')


def test_page_deposit_walk(client, world, case):
    client.force_login(world.oncall)
    page = client.get(url("case_evidence", case))
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.content.decode()
    response = client.post(
        url("case_evidence", case),
        {
            "file": SimpleUploadedFile("journal-ad.evtx", b"ElfFile\x00" + b"\x01" * 500),
            "description": "Journal de sécurité du contrôleur de domaine",
            "collected_at": "2025-03-02T03:15",
            "collected_by_name": "Omar Astreinte",
            "source": "DC01",
        },
    )
    evidence = Evidence.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("case_evidence_detail", case, evidence)
    assert (
        timezone.localtime(evidence.collected_at).strftime("%d/%m/%Y %H:%M") == "02/03/2025 03:15"
    )
    detail = text_of(client.get(response["Location"]))
    assert evidence.sha256 in detail
    assert "Chaîne de conservation" in detail
    assert "Collecte" in detail
    assert "Dépôt sur la plateforme" in detail
    listing = text_of(client.get(url("case_evidence", case)))
    assert "journal-ad.evtx" in listing
    assert "pas encore vérifiée" in listing


def test_page_deposit_refused_keeps_what_was_typed(client, world, case, settings):
    settings.REMPART_EVIDENCE_MAX_BYTES = 100
    client.force_login(world.oncall)
    response = client.post(
        url("case_evidence", case),
        {
            "file": SimpleUploadedFile("gros.pcap", PCAP),
            "description": "Capture complète",
            "collected_at": "2025-03-02T03:15",
            "collected_by_name": "Omar Astreinte",
        },
    )
    assert response.status_code == 400
    text = text_of(response)
    assert "la taille maximale d'une preuve est 100 octets" in text
    assert "Capture complète" in text
    assert "Choisissez à nouveau le fichier" in text
    response = client.post(url("case_evidence", case), {"description": "x"})
    assert response.status_code == 400
    assert "Choisissez le fichier à déposer." in text_of(response)
    assert not Evidence.objects.exists()


def test_download_is_a_post_and_writes_the_chain(client, world, case):
    evidence = deposit(world, case, content=EML, name="hameconnage.eml")
    client.force_login(world.ars_manager)  # read-only access may download
    assert client.get(url("case_evidence_download", case, evidence)).status_code == 405
    assert evidence.custody.count() == 2
    response = client.post(url("case_evidence_download", case, evidence))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == EML
    assert response["Content-Disposition"].startswith("attachment")
    assert "hameconnage.eml" in response["Content-Disposition"]
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Rempart-Empreinte-Conforme"] == "oui"
    entry = evidence.custody.latest("pk")
    assert entry.action == CustodyAction.DOWNLOADED
    assert entry.actor == world.ars_manager
    assert entry.hash_matches is True
    assert entry.sha256 == evidence.sha256
    # The read-only guest cannot hand it over, nor deposit.
    response = client.post(url("case_evidence_transfer", case, evidence), {"recipient": "X"})
    assert response.status_code == 403
    assert "Remettre à un tiers" not in text_of(
        client.get(url("case_evidence_detail", case, evidence))
    )


def test_download_of_an_altered_file_is_flagged_loudly(client, world, case):
    evidence = deposit(world, case, content=EML, name="hameconnage.eml")
    overwrite(evidence, b"tout autre chose")
    client.force_login(world.rssi)
    response = client.post(url("case_evidence_download", case, evidence))
    assert response.status_code == 200
    assert response["X-Rempart-Empreinte-Conforme"] == "non"
    assert "EMPREINTE-NON-CONFORME_hameconnage.eml" in response["Content-Disposition"]
    entry = evidence.custody.latest("pk")
    assert entry.action == CustodyAction.DOWNLOADED
    assert entry.hash_matches is False
    assert entry.sha256 == hashlib.sha256(b"tout autre chose").hexdigest()
    detail = text_of(client.get(url("case_evidence_detail", case, evidence)))
    assert "Empreinte NON conforme" in detail
    assert "NON conforme" in detail
    listing = text_of(client.get(url("case_evidence", case)))
    assert "1 preuve dont l'empreinte n'est plus conforme" in listing
    timeline = CaseEvent.objects.filter(case=case, kind=EventKind.EVIDENCE).latest("pk")
    assert "EMPREINTE NON CONFORME" in timeline.text


def test_download_of_a_missing_file(client, world, case):
    evidence = deposit(world, case, content=EML)
    default_storage.delete(evidence.file.name)
    client.force_login(world.rssi)
    response = client.post(url("case_evidence_download", case, evidence), follow=True)
    assert response.status_code == 200
    assert "introuvable dans le stockage" in text_of(response)
    assert evidence.custody.latest("pk").hash_matches is False


def test_verify_and_transfer_pages(client, world, case):
    evidence = deposit(world, case, content=EML)
    client.force_login(world.oncall)
    response = client.post(url("case_evidence_verify", case, evidence), follow=True)
    assert "Empreinte conforme" in text_of(response)
    response = client.post(url("case_evidence_transfer", case, evidence), {"recipient": ""})
    assert response.status_code == 400
    assert "Indiquez à qui la preuve est remise." in text_of(response)
    response = client.post(
        url("case_evidence_transfer", case, evidence),
        {"recipient": "Gendarmerie, C3N", "note": "Réquisition du 3 mars"},
    )
    assert response.status_code == 302
    assert [e.action for e in evidence.custody.all()] == [
        CustodyAction.COLLECTED,
        CustodyAction.DEPOSITED,
        CustodyAction.VERIFIED,
        CustodyAction.TRANSFERRED,
    ]


def test_pages_outside_access(client, world, case):
    evidence = deposit(world, case, content=EML)
    client.force_login(world.outsider_rssi)
    for name in ("case_evidence_detail", "case_evidence_download", "case_evidence_verify"):
        method = client.get if name == "case_evidence_detail" else client.post
        response = method(url(name, case, evidence))
        assert response.status_code == 403
        assert "Vous n'avez pas accès à ce dossier" in text_of(response)
    assert client.get(url("case_evidence", case)).status_code == 403
    assert evidence.custody.count() == 2  # nothing written
    client.force_login(world.rssi)
    other = make_case(world, number=2)
    assert client.get(url("case_evidence_detail", other, evidence)).status_code == 404
    assert client.post(url("case_evidence_download", other, evidence)).status_code == 404
