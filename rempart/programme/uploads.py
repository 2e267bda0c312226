"""Checks on uploaded files (application parts, proofs, measurement reports) and the authorised
way to serve them back.

A file is accepted when its extension is on the list, its content really is of that type
(magic bytes, read with `filetype`; text formats must decode as UTF-8) and it is not larger
than `REMPART_UPLOAD_MAX_BYTES`. It is stored under a random name by the storage (never in the
web root) and served only by views that first check who is asking.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import filetype
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.http import FileResponse, Http404

from rempart.core.errors import DomainError

# extension -> (MIME type stored and served, how the content is recognised)
ALLOWED: dict[str, tuple[str, str]] = {
    "pdf": ("application/pdf", "application/pdf"),
    "png": ("image/png", "image/png"),
    "jpg": ("image/jpeg", "image/jpeg"),
    "jpeg": ("image/jpeg", "image/jpeg"),
    "docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "zip",
    ),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "zip"),
    "pptx": (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "zip",
    ),
    "odt": ("application/vnd.oasis.opendocument.text", "zip"),
    "ods": ("application/vnd.oasis.opendocument.spreadsheet", "zip"),
    "csv": ("text/csv", "text"),
    "txt": ("text/plain", "text"),
}
ZIP_FAMILY = {
    "application/zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
}
DEFAULT_MAX_BYTES = 20 * 1024 * 1024


def max_bytes() -> int:
    return int(getattr(settings, "REMPART_UPLOAD_MAX_BYTES", DEFAULT_MAX_BYTES))


def accepted_extensions() -> str:
    """« PDF, PNG, JPG… » for the forms' hints."""
    return ", ".join(ext.upper() for ext in ALLOWED if ext != "jpeg")


def human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} Mo".replace(".", ",")
    if size >= 1024:
        return f"{size / 1024:.0f} Ko"
    return f"{size} octets"


@dataclass(frozen=True)
class CheckedFile:
    upload: UploadedFile
    original_name: str
    content_type: str
    size: int
    sha256: str


def _sniff(upload: UploadedFile) -> tuple[str | None, bytes]:
    upload.seek(0)
    head = upload.read(8192)
    upload.seek(0)
    kind = filetype.guess(head)
    return (kind.mime if kind else None), head


def check_upload(upload: UploadedFile | None, *, field: str = "file") -> CheckedFile:
    """The upload, checked (type, content, size), or a DomainError saying what is wrong."""
    if upload is None or not getattr(upload, "name", ""):
        raise DomainError("Choisissez un fichier.", code="file_missing", field=field)
    name = upload.name.replace("\\", "/").rsplit("/", 1)[-1].strip()[:255] or "fichier"
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in ALLOWED:
        raise DomainError(
            f"Le fichier « {name} » n'est pas d'un type accepté. Types acceptés : "
            f"{accepted_extensions()}.",
            code="file_type",
            field=field,
        )
    size = upload.size or 0
    if size == 0:
        raise DomainError(f"Le fichier « {name} » est vide.", code="file_empty", field=field)
    if size > max_bytes():
        raise DomainError(
            f"Le fichier « {name} » pèse {human_size(size)} : la taille maximale est "
            f"{human_size(max_bytes())}.",
            code="file_too_large",
            field=field,
        )
    mime, expected = ALLOWED[extension]
    sniffed, head = _sniff(upload)
    if expected == "text":
        ok = sniffed is None and b"\x00" not in head
        if ok:
            try:
                head.decode("utf-8")
            except UnicodeDecodeError as exc:
                # a multi-byte character cut at the end of the sample is still text
                ok = exc.start >= len(head) - 3
    elif expected == "zip":
        ok = sniffed in ZIP_FAMILY
    else:
        ok = sniffed == expected
    if not ok:
        raise DomainError(
            f"Le contenu du fichier « {name} » ne correspond pas à son extension .{extension}.",
            code="file_content",
            field=field,
        )
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return CheckedFile(upload, name, mime, size, digest.hexdigest())


def serve(field_file, original_name: str, content_type: str) -> FileResponse:
    """Send a stored file as an attachment (never rendered inline, never guessed by the browser).
    Call only after checking the user may see it."""
    if not field_file:
        raise Http404("Fichier introuvable.")
    try:
        handle = field_file.open("rb")
    except FileNotFoundError as exc:
        raise Http404("Fichier introuvable.") from exc
    response = FileResponse(
        handle, as_attachment=True, filename=original_name, content_type=content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
