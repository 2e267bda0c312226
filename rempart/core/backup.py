"""Backup and restore of the platform's own data, portable across SQLite and PostgreSQL.

One archive (.tar.gz) holds:
- `data.jsonl`: every row of every model, in Django's JSON Lines serialisation. Primary keys
  are kept (audit entries point at objects by id); content types and permissions, which
  `migrate` recreates with ids of its own, are written and referenced by natural key.
  Encrypted fields stay encrypted: their Fernet token is written, never the clear text.
- `media/…`: every file of the default storage (read through Django's storage API).
- `manifest.json`: format version, applied migrations, row counts per model and the size and
  SHA-256 of every media file, checked on restore.

The archive itself is written through a storage: `STORAGES["backups"]` when configured
(an S3 bucket in production), otherwise a local folder at `settings.BACKUP_DIR`.
Why not django-dbbackup or pg_dump: see docs/decisions/0002-backup-format.md.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import io
import json
import os
import posixpath
import tarfile
import tempfile
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core import serializers
from django.core.exceptions import ImproperlyConfigured, SuspiciousFileOperation
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, default_storage, storages
from django.core.management import call_command
from django.core.management.color import no_style
from django.core.serializers.json import DjangoJSONEncoder
from django.core.serializers.jsonl import Serializer as JSONLSerializer
from django.db import DEFAULT_DB_ALIAS, connections, router, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import Model

from .fields import EncryptedTextField, decrypt_text, encrypt_text

FORMAT = "rempart-backup"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
DATA_NAME = "data.jsonl"
MEDIA_PREFIX = "media/"
CHUNK = 1024 * 1024

# Rows that `migrate` recreates, with ids of its own: written with and matched by natural key.
DERIVED_MODELS = frozenset({"contenttypes.contenttype", "auth.permission"})
# Transient rows, never backed up; sessions are wiped on restore (an old session id could
# otherwise log a visitor in as whoever holds that user id in the restored data).
SKIPPED_MODELS = frozenset({"sessions.session"})


class BackupError(Exception):
    """A refused or failed backup / restore, with a French message for the operator."""


@dataclass
class RestoreReport:
    name: str
    counts: dict[str, int] = field(default_factory=dict)
    media_files: int = 0
    flushed: bool = False


# --- Storages ----------------------------------------------------------------------------------


def backup_storage() -> Storage:
    """Where archives go: `STORAGES["backups"]` if configured, else a folder at BACKUP_DIR."""
    if "backups" in settings.STORAGES:
        return storages["backups"]
    return FileSystemStorage(location=settings.BACKUP_DIR)


def media_storage() -> Storage:
    return default_storage


# --- What is backed up -------------------------------------------------------------------------


def _label(model: type[Model]) -> str:
    return model._meta.label_lower


def backed_up_models(using: str = DEFAULT_DB_ALIAS) -> list[type[Model]]:
    """Every concrete, managed model stored in this database, natural-key dependencies first."""
    app_list = [
        (config, None) for config in apps.get_app_configs() if config.models_module is not None
    ]
    return [
        model
        for model in serializers.sort_dependencies(app_list, allow_cycles=True)
        if not model._meta.proxy
        and model._meta.managed
        and _label(model) not in SKIPPED_MODELS
        and router.allow_migrate_model(using, model)
    ]


def _migrated_apps(using: str) -> set[str]:
    """Apps that have migrations in this code: their applied migrations identify the schema."""
    return MigrationLoader(connections[using], ignore_no_migrations=True).migrated_apps


def _applied_migrations(using: str) -> list[list[str]]:
    migrated_apps = _migrated_apps(using)
    recorder = MigrationRecorder(connections[using])
    return sorted(
        [app, name] for app, name in recorder.applied_migrations() if app in migrated_apps
    )


def populated_models(using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Models holding platform data (content types and permissions do not count)."""
    return [
        _label(model)
        for model in backed_up_models(using)
        if _label(model) not in DERIVED_MODELS and model._base_manager.using(using).exists()
    ]


class _ArchiveSerializer(JSONLSerializer):
    """Django's JSON Lines serialiser, with two rules of our own.

    - Natural keys are used only for content types and permissions (ids differ between
      databases); every other reference keeps its primary key.
    - Encrypted fields are written as a Fernet token: the clear value never reaches the archive.
    """

    def handle_field(self, obj, field):
        if isinstance(field, EncryptedTextField):
            value = field.value_from_object(obj)
            self._current[field.name] = encrypt_text(value) if value else value
            return
        super().handle_field(obj, field)

    def _with_natural_keys_for(self, model, handler, obj, field):
        saved = self.use_natural_foreign_keys
        self.use_natural_foreign_keys = _label(model) in DERIVED_MODELS
        try:
            handler(obj, field)
        finally:
            self.use_natural_foreign_keys = saved

    def handle_fk_field(self, obj, field):
        self._with_natural_keys_for(field.remote_field.model, super().handle_fk_field, obj, field)

    def handle_m2m_field(self, obj, field):
        self._with_natural_keys_for(field.remote_field.model, super().handle_m2m_field, obj, field)


class _ExactJSONEncoder(DjangoJSONEncoder):
    """DjangoJSONEncoder cuts times to milliseconds; a backup keeps every microsecond."""

    def default(self, o):
        if isinstance(o, datetime.datetime | datetime.time):
            return o.isoformat()
        return super().default(o)


class _CountingIterator:
    def __init__(self, iterable):
        self._iterable = iterable
        self.count = 0

    def __iter__(self):
        for item in self._iterable:
            self.count += 1
            yield item


def _walk(storage: Storage, path: str = "", skip: str | None = None) -> Iterator[str]:
    """Every file name under `path` in a storage, in a stable order."""
    if skip is not None and path == skip:
        return
    try:
        directories, files = storage.listdir(path)
    except FileNotFoundError:
        return
    for name in sorted(files):
        yield posixpath.join(path, name) if path else name
    for name in sorted(directories):
        yield from _walk(storage, posixpath.join(path, name) if path else name, skip)


def _backup_dir_inside_media(media: Storage, target: Storage) -> str | None:
    """If archives are kept in a folder inside the media folder, never archive that folder."""
    media_root = getattr(media, "location", None)
    backup_root = getattr(target, "location", None)
    if not isinstance(media, FileSystemStorage) or not isinstance(target, FileSystemStorage):
        return None
    try:
        relative = Path(backup_root).resolve().relative_to(Path(media_root).resolve())
    except ValueError:
        return None
    if not relative.parts:
        raise BackupError(
            "REMPART_BACKUP_DIR ne peut pas être le dossier des fichiers (REMPART_MEDIA_ROOT)."
        )
    return relative.as_posix()


def _add_bytes(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    info.mtime = int(datetime.datetime.now(tz=datetime.UTC).timestamp())
    tar.addfile(info, io.BytesIO(payload))


def _copy_hashing(source, target) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK):
        digest.update(chunk)
        target.write(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def default_backup_name() -> str:
    stamp = datetime.datetime.now(tz=datetime.UTC).strftime("%Y%m%d-%H%M%S")
    return f"rempart-backup-{stamp}.tar.gz"


def create_backup(*, name: str | None = None, using: str = DEFAULT_DB_ALIAS) -> str:
    """Write one archive of the database and the media files; return its name in the storage."""
    connection = connections[using]
    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        raise BackupError(
            "La base n'est pas au niveau du code (migrations non appliquées) : sauvegardez avec la "
            "version qui l'a migrée, ou lancez d'abord « manage.py migrate »."
        )
    target = backup_storage()
    media = media_storage()
    counts: dict[str, int] = {}
    media_files: dict[str, dict[str, object]] = {}

    with tempfile.TemporaryFile() as data_file, tempfile.TemporaryFile() as archive:
        # One transaction, so the rows written form a consistent snapshot.
        outer = connection.in_atomic_block
        with transaction.atomic(using=using):
            if connection.vendor == "postgresql" and not outer:
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            migrations = _applied_migrations(using)
            text = io.TextIOWrapper(data_file, encoding="utf-8", newline="\n", write_through=True)
            serializer = _ArchiveSerializer()
            for model in backed_up_models(using):
                label = _label(model)
                rows = _CountingIterator(
                    model._base_manager.using(using)
                    .order_by(model._meta.pk.name)
                    .iterator(chunk_size=2000)
                )
                serializer.serialize(
                    rows,
                    stream=text,
                    use_natural_foreign_keys=True,
                    use_natural_primary_keys=label in DERIVED_MODELS,
                    cls=_ExactJSONEncoder,
                )
                counts[label] = rows.count
            text.flush()
            text.detach()
            data_size = data_file.tell()

        with tarfile.open(fileobj=archive, mode="w:gz") as tar:
            info = tarfile.TarInfo(DATA_NAME)
            info.size = data_size
            info.mode = 0o600
            info.mtime = int(datetime.datetime.now(tz=datetime.UTC).timestamp())
            data_file.seek(0)
            tar.addfile(info, data_file)

            skip = _backup_dir_inside_media(media, target)
            for file_name in _walk(media, "", skip):
                with tempfile.SpooledTemporaryFile(max_size=8 * CHUNK) as copy:
                    with media.open(file_name, "rb") as source:
                        size, sha256 = _copy_hashing(source, copy)
                    copy.seek(0)
                    member = tarfile.TarInfo(MEDIA_PREFIX + file_name)
                    member.size = size
                    member.mode = 0o600
                    member.mtime = int(datetime.datetime.now(tz=datetime.UTC).timestamp())
                    tar.addfile(member, copy)
                media_files[file_name] = {"size": size, "sha256": sha256}

            manifest = {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "created_at": datetime.datetime.now(tz=datetime.UTC).isoformat(),
                "database_vendor": connection.vendor,
                "migrations": migrations,
                "counts": counts,
                "media": media_files,
                "encrypted_fields": "fernet-token",
            }
            _add_bytes(
                tar, MANIFEST_NAME, json.dumps(manifest, indent=2, ensure_ascii=False).encode()
            )

        archive.seek(0)
        return target.save(name or default_backup_name(), File(archive))


# --- Restore -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _open_archive(name: str) -> Iterator[tarfile.TarFile]:
    """The archive, from a seekable local copy: a name in the backup storage, or a file path."""
    storage = backup_storage()
    try:
        in_storage = storage.exists(name)
    except (SuspiciousFileOperation, ValueError):
        in_storage = False  # an absolute path or a path outside the storage: a local file
    if not in_storage and not os.path.isfile(name):
        raise BackupError(f"Sauvegarde introuvable : « {name} ».")
    with tempfile.TemporaryFile() as copy:
        with storage.open(name, "rb") if in_storage else open(name, "rb") as source:
            _copy_hashing(source, copy)
        copy.seek(0)
        with contextlib.ExitStack() as stack:
            try:
                tar = stack.enter_context(tarfile.open(fileobj=copy, mode="r:gz"))
                tar.getmembers()  # reads the whole index: a truncated archive fails here
            except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
                raise BackupError(
                    f"« {name} » n'est pas une archive de sauvegarde lisible."
                ) from exc
            yield tar


def read_manifest(tar: tarfile.TarFile) -> dict:
    try:
        member = tar.getmember(MANIFEST_NAME)
        manifest = json.load(tar.extractfile(member))
    except (KeyError, ValueError, TypeError) as exc:
        raise BackupError("Archive invalide : manifeste absent ou illisible.") from exc
    if manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
        raise BackupError(
            "Archive invalide : format inconnu "
            f"({manifest.get('format')!r}, version {manifest.get('version')!r})."
        )
    return manifest


def check_migrations(manifest: dict, using: str = DEFAULT_DB_ALIAS) -> None:
    migrated_apps = _migrated_apps(using)
    archived = {tuple(item) for item in manifest["migrations"] if item[0] in migrated_apps}
    current = {tuple(item) for item in _applied_migrations(using)}
    if archived == current:
        return
    missing = sorted(archived - current)
    extra = sorted(current - archived)
    details = []
    if missing:
        details.append("absentes de cette base : " + ", ".join(f"{a}.{n}" for a, n in missing[:10]))
    if extra:
        details.append(
            "absentes de la sauvegarde : " + ", ".join(f"{a}.{n}" for a, n in extra[:10])
        )
    raise BackupError(
        "Les migrations de cette base ne correspondent pas à celles de la sauvegarde ("
        + " ; ".join(details)
        + "). Restaurez avec la version de Rempart qui a produit la sauvegarde, "
        "puis migrez (manage.py migrate)."
    )


def _decrypt_archived_secrets(obj: Model) -> None:
    """Archived encrypted fields hold a token: decrypt in memory, `save()` re-encrypts."""
    for model_field in obj._meta.concrete_fields:
        if isinstance(model_field, EncryptedTextField):
            token = getattr(obj, model_field.attname)
            if token:
                try:
                    setattr(obj, model_field.attname, decrypt_text(token))
                except ImproperlyConfigured as exc:
                    raise BackupError(
                        f"Un secret de la sauvegarde ({obj._meta.label}.{model_field.name}) ne peut "
                        "pas être déchiffré : ajoutez la clé qui l'a chiffré à "
                        "REMPART_FIELD_ENCRYPTION_KEYS."
                    ) from exc


def _load_data(tar: tarfile.TarFile, using: str) -> Counter:
    connection = connections[using]
    try:
        member = tar.getmember(DATA_NAME)
    except KeyError as exc:
        raise BackupError("Archive invalide : données absentes.") from exc
    loaded: Counter = Counter()
    models: set[type[Model]] = set()
    deferred = []
    stream = io.TextIOWrapper(tar.extractfile(member), encoding="utf-8")
    with connection.constraint_checks_disabled():
        objects = serializers.deserialize(
            "jsonl", stream, using=using, handle_forward_references=True
        )
        for item in objects:
            model = type(item.object)
            label = _label(model)
            models.add(model)
            loaded[label] += 1
            if label in DERIVED_MODELS:
                if item.object.pk is not None:
                    continue  # already recreated by migrate: matched by natural key
                item.save(using=using)
            else:
                _decrypt_archived_secrets(item.object)
                item.save(using=using, force_insert=True)
            if item.deferred_fields:
                deferred.append(item)
        for item in deferred:
            item.save_deferred_fields(using=using)
    connection.check_constraints(table_names=[model._meta.db_table for model in models])
    sequence_sql = connection.ops.sequence_reset_sql(no_style(), list(models))
    if sequence_sql:
        with connection.cursor() as cursor:
            for statement in sequence_sql:
                cursor.execute(statement)
    return loaded


def _verify_counts(manifest: dict, using: str) -> dict[str, int]:
    found: dict[str, int] = {}
    problems = []
    for label, expected in manifest["counts"].items():
        try:
            model = apps.get_model(label)
        except LookupError:
            problems.append(f"{label} : modèle inconnu")
            continue
        actual = model._base_manager.using(using).count()
        found[label] = actual
        ok = actual >= expected if label in DERIVED_MODELS else actual == expected
        if not ok:
            problems.append(f"{label} : {actual} au lieu de {expected}")
    if problems:
        raise BackupError(
            "Restauration incomplète, rien n'a été enregistré : " + " ; ".join(problems) + "."
        )
    return found


def _restore_media(tar: tarfile.TarFile, manifest: dict) -> int:
    storage = media_storage()
    expected = manifest.get("media", {})
    restored = 0
    for member in tar.getmembers():
        if not member.name.startswith(MEDIA_PREFIX):
            continue
        name = member.name[len(MEDIA_PREFIX) :]
        parts = name.split("/")
        if not member.isfile() or name.startswith("/") or ".." in parts or name not in expected:
            raise BackupError(f"Archive invalide : fichier inattendu « {member.name} ».")
        with tempfile.SpooledTemporaryFile(max_size=8 * CHUNK) as copy:
            size, sha256 = _copy_hashing(tar.extractfile(member), copy)
            if size != expected[name]["size"] or sha256 != expected[name]["sha256"]:
                raise BackupError(
                    f"Archive altérée : le fichier « {name} » ne correspond pas au manifeste."
                )
            copy.seek(0)
            if storage.exists(name):
                storage.delete(name)
            saved = storage.save(name, File(copy, name=posixpath.basename(name)))
        if saved != name:
            raise BackupError(
                f"Le fichier « {name} » n'a pas pu être restauré sous son nom d'origine."
            )
        restored += 1
    missing = set(expected) - {m.name[len(MEDIA_PREFIX) :] for m in tar.getmembers()}
    if missing:
        raise BackupError(
            "Archive incomplète : fichiers absents : " + ", ".join(sorted(missing)[:10]) + "."
        )
    return restored


def restore_backup(
    name: str, *, force: bool = False, using: str = DEFAULT_DB_ALIAS
) -> RestoreReport:
    """Restore an archive into an empty database (or, with `force`, after emptying it).

    Everything happens in one transaction: if a check fails (migrations, counts, media
    checksums), the database is left as it was.
    """
    from auditlog.context import disable_auditlog

    report = RestoreReport(name=name)
    with _open_archive(name) as tar:
        manifest = read_manifest(tar)
        check_migrations(manifest, using)
        populated = populated_models(using)
        if populated and not force:
            raise BackupError(
                "La base de données n'est pas vide ("
                + ", ".join(populated[:8])
                + ") : la restauration "
                "est refusée. Utilisez une base neuve (manage.py migrate), ou --force pour l'effacer d'abord."
            )
        with transaction.atomic(using=using), disable_auditlog():
            if populated:
                call_command(
                    "flush", interactive=False, verbosity=0, database=using, allow_cascade=True
                )
                report.flushed = True
            if apps.is_installed("django.contrib.sessions"):
                apps.get_model("sessions", "Session")._base_manager.using(using).all().delete()
            _load_data(tar, using)
            report.counts = _verify_counts(manifest, using)
            report.media_files = _restore_media(tar, manifest)
    return report
