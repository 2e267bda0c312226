"""Evidence files of a case and their chain of custody.

* **Deposit**: any file type (logs, e-mails, network captures, images), up to
  `REMPART_EVIDENCE_MAX_BYTES` (200 Mo by default). The SHA-256 is computed while the upload
  is read chunk by chunk (never the whole file in memory); the file is stored under a random
  private name (the model's `upload_to`) and only served by the authorised views. Two custody
  entries are written with it: « collecte » (who collected it and when, as declared) and
  « dépôt » (the upload, with the reference hash).
* **Download**, **verification** and **hand-over to a third party**: each re-computes the hash
  from storage and writes a custody entry with the hash found and whether it matches the
  reference. A mismatch (the stored file was altered) or a missing file is also written on the
  case's timeline, so that nobody misses it.

Downloads are POSTs (a GET never writes); the custody entry is committed before the file is
sent. A closed case takes no new evidence, but its evidence can still be downloaded, verified
and handed over (legal proceedings often come after the closure).
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.http import Http404
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.inputs import optional_text as _optional_text
from rempart.core.inputs import required_text

from . import perms, timeline
from .models import Case, CaseState, CustodyAction, CustodyEntry, EventKind, Evidence

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
CHUNK = 1024 * 1024
CLOCK_SKEW = datetime.timedelta(minutes=5)
DESCRIPTION_MAX_LENGTH = 5000
NOTE_MAX_LENGTH = 5000
ALTERED_PREFIX = "EMPREINTE-NON-CONFORME_"


def max_bytes() -> int:
    return int(getattr(settings, "REMPART_EVIDENCE_MAX_BYTES", DEFAULT_MAX_BYTES))


def human_size(size: int) -> str:
    if size >= 1024 * 1024 * 1024:
        return f"{size / (1024 * 1024 * 1024):.1f} Go".replace(".", ",")
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} Mo".replace(".", ",")
    if size >= 1024:
        return f"{size / 1024:.0f} Ko"
    return f"{size} octet{'s' if size > 1 else ''}"


def person_name(user) -> str:
    if user is None:
        return ""
    return (user.get_full_name() or user.email or str(user)).strip()[:200]


# --- Reads ----------------------------------------------------------------------------------------


def evidence_of(case: Case) -> QuerySet[Evidence]:
    """The case's evidence with their custody chain, in a fixed number of queries."""
    return case.evidence.select_related("added_by").prefetch_related(
        Prefetch("custody", queryset=CustodyEntry.objects.select_related("actor"))
    )


def get_evidence(case: Case, pk) -> Evidence:
    """A piece of evidence of this case (404 for any other id)."""
    try:
        return evidence_of(case).get(pk=int(pk))
    except (Evidence.DoesNotExist, TypeError, ValueError) as exc:
        raise Http404("Preuve introuvable dans ce dossier.") from exc


@dataclass(frozen=True)
class Integrity:
    """What the custody chain says about the stored file."""

    state: str  # "ok" | "altered" | "unchecked"
    last_check: CustodyEntry | None
    ever_altered: bool

    @property
    def is_altered(self) -> bool:
        return self.state == "altered"


def integrity(evidence: Evidence) -> Integrity:
    """From the custody entries already loaded (prefetched): the last check decides."""
    checks = [entry for entry in evidence.custody.all() if entry.hash_matches is not None]
    last = checks[-1] if checks else None
    ever = any(entry.hash_matches is False for entry in checks)
    if last is None:
        return Integrity("unchecked", None, ever)
    return Integrity("ok" if last.hash_matches else "altered", last, ever)


def stored_sha256(evidence: Evidence) -> str | None:
    """The SHA-256 of the file as it is in storage now (None: the file is missing)."""
    digest = hashlib.sha256()
    try:
        with evidence.file.storage.open(evidence.file.name, "rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                digest.update(chunk)
    except (FileNotFoundError, OSError, ValueError):
        return None
    return digest.hexdigest()


# --- Deposit --------------------------------------------------------------------------------------


# A missing value is « required » here (the API names it so).
_required_text = partial(required_text, code="required")


def _require(actor, case: Case, contribute: bool, what: str) -> None:
    allowed = perms.can_contribute(actor, case) if contribute else perms.can_view_case(actor, case)
    if not allowed:
        raise DomainError(f"Votre accès à ce dossier ne permet pas {what}.", code="forbidden")


def _original_name(upload: UploadedFile) -> str:
    name = str(getattr(upload, "name", "") or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ord(ch) >= 32 and ord(ch) != 127).strip()
    return name[:255] or "preuve"


def _hash_upload(upload: UploadedFile) -> tuple[str, int]:
    """SHA-256 and size, read chunk by chunk (temporary file for large uploads)."""
    digest = hashlib.sha256()
    size = 0
    upload.seek(0)
    for chunk in upload.chunks(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    upload.seek(0)
    return digest.hexdigest(), size


def evidence_add(
    *,
    actor,
    case: Case,
    upload: UploadedFile | None,
    description: str,
    collected_at: datetime.datetime | None,
    collected_by_name: str,
    source: str = "",
) -> Evidence:
    """Deposit a piece of evidence with its reference hash and first two custody entries."""
    _require(actor, case, True, "d'y déposer des preuves")
    if case.state == CaseState.CLOSED:
        raise DomainError(
            "Le dossier est clos : rouvrez-le (changement d'état, avec une note) pour y déposer "
            "une preuve.",
            code="case_closed",
        )
    if upload is None or not getattr(upload, "name", ""):
        raise DomainError("Choisissez le fichier à déposer.", code="file_missing", field="file")
    name = _original_name(upload)
    declared = getattr(upload, "size", None)
    if declared is not None and declared > max_bytes():
        raise DomainError(
            f"Le fichier « {name} » pèse {human_size(declared)} : la taille maximale d'une preuve "
            f"est {human_size(max_bytes())}. Compressez-le ou découpez-le, ou déposez un extrait.",
            code="file_too_large",
            field="file",
        )
    text = _required_text(
        description,
        "description",
        "Décrivez la preuve : ce qu'elle contient et pourquoi elle compte.",
        "La description",
        DESCRIPTION_MAX_LENGTH,
    )
    if not isinstance(collected_at, datetime.datetime):
        raise DomainError(
            "Indiquez quand la preuve a été collectée (jj/mm/aaaa hh:mm).",
            code="required",
            field="collected_at",
        )
    if timezone.is_naive(collected_at):
        collected_at = timezone.make_aware(collected_at)
    now = timezone.now()
    if collected_at > now + CLOCK_SKEW:
        raise DomainError(
            "La date de collecte est dans le futur : indiquez quand la preuve a été recueillie.",
            code="in_future",
            field="collected_at",
        )
    collector = _required_text(
        collected_by_name,
        "collected_by_name",
        "Indiquez qui a collecté la preuve (nom, fonction).",
        "Le nom de la personne qui a collecté la preuve",
        200,
    )
    origin = _optional_text(source, "source", "L'origine", 255)
    sha256, size = _hash_upload(upload)
    if size == 0:
        raise DomainError(f"Le fichier « {name} » est vide.", code="file_empty", field="file")
    if size > max_bytes():
        raise DomainError(
            f"Le fichier « {name} » pèse {human_size(size)} : la taille maximale d'une preuve "
            f"est {human_size(max_bytes())}.",
            code="file_too_large",
            field="file",
        )

    evidence = Evidence(
        case=case,
        original_name=name,
        size=size,
        sha256=sha256,
        description=text,
        collected_at=collected_at,
        collected_by_name=collector,
        source=origin,
        added_by=actor,
        added_at=now,
    )
    # Stored before the row: if the transaction fails, the stored file is removed again.
    evidence.file.save(name, upload, save=False)
    try:
        with transaction.atomic():
            evidence.save()
            CustodyEntry.objects.create(
                evidence=evidence,
                action=CustodyAction.COLLECTED,
                at=collected_at,
                actor=None,
                actor_name=collector,
                note=f"Origine : {origin}." if origin else "",
            )
            CustodyEntry.objects.create(
                evidence=evidence,
                action=CustodyAction.DEPOSITED,
                at=now,
                actor=actor,
                actor_name=person_name(actor),
                sha256=sha256,
                note="Empreinte de référence, calculée à la réception du fichier.",
            )
            timeline.add_event(
                case,
                EventKind.EVIDENCE,
                actor,
                f"Preuve déposée : « {name} » ({human_size(size)}), SHA-256 {sha256}. "
                f"Collectée par {collector}.",
            )
    except Exception:
        evidence.file.storage.delete(evidence.file.name)
        raise
    return evidence


# --- Custody --------------------------------------------------------------------------------------


def _check_entry(
    *, actor, case: Case, evidence: Evidence, action: CustodyAction, note: str
) -> CustodyEntry:
    """Re-compute the hash from storage and write the custody entry (and, when the file is
    altered or missing, a timeline line) in one transaction."""
    if evidence.case_id != case.pk:
        raise Http404("Preuve introuvable dans ce dossier.")
    found = stored_sha256(evidence)
    matches = found == evidence.sha256
    if found is None:
        problem = "Fichier introuvable dans le stockage."
    elif not matches:
        problem = (
            f"EMPREINTE NON CONFORME : {found} constatée, {evidence.sha256} attendue. Le fichier "
            "conservé a été modifié depuis son dépôt."
        )
    else:
        problem = ""
    with transaction.atomic():
        entry = CustodyEntry.objects.create(
            evidence=evidence,
            action=action,
            at=timezone.now(),
            actor=actor,
            actor_name=person_name(actor),
            sha256=found or "",
            hash_matches=matches,
            note=" ".join(part for part in (problem, note) if part),
        )
        if not matches:
            timeline.add_event(
                case,
                EventKind.EVIDENCE,
                actor,
                f"Alerte sur la preuve « {evidence.original_name} » "
                f"({entry.get_action_display().lower()}) : {problem}",
            )
    return entry


def evidence_download(*, actor, case: Case, evidence: Evidence) -> CustodyEntry:
    """Record a download (hash checked again) before the file is sent. The caller sends the file
    only when it is still in storage (`entry.sha256` not empty)."""
    _require(actor, case, False, "d'en télécharger les preuves")
    return _check_entry(
        actor=actor, case=case, evidence=evidence, action=CustodyAction.DOWNLOADED, note=""
    )


def evidence_verify(*, actor, case: Case, evidence: Evidence) -> CustodyEntry:
    """Check the stored file against its reference hash, and keep the result in the chain."""
    _require(actor, case, False, "d'en vérifier les preuves")
    return _check_entry(
        actor=actor, case=case, evidence=evidence, action=CustodyAction.VERIFIED, note=""
    )


def evidence_transfer(
    *, actor, case: Case, evidence: Evidence, recipient: str, note: str = ""
) -> CustodyEntry:
    """Record that the evidence (a copy, or the original medium) was handed to a third party:
    an investigator, a forensic provider, the police; the hash is checked at the hand-over."""
    _require(actor, case, True, "d'en remettre les preuves à un tiers")
    to = _required_text(
        recipient,
        "recipient",
        "Indiquez à qui la preuve est remise (nom, organisme).",
        "Le destinataire",
        200,
    )
    details = _optional_text(note, "note", "Les précisions", NOTE_MAX_LENGTH)
    text = f"Remise à : {to}." + (f" {details}" if details else "")
    with transaction.atomic():
        entry = _check_entry(
            actor=actor,
            case=case,
            evidence=evidence,
            action=CustodyAction.TRANSFERRED,
            note=text,
        )
        timeline.add_event(
            case,
            EventKind.EVIDENCE,
            actor,
            f"Preuve « {evidence.original_name} » remise à {to}.",
        )
    return entry


def download_name(evidence: Evidence, entry: CustodyEntry) -> str:
    """The file's name for the browser: an altered file says so in its very name."""
    if entry.hash_matches:
        return evidence.original_name
    return f"{ALTERED_PREFIX}{evidence.original_name}"
