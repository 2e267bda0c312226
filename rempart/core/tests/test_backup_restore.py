"""Backup and restore: an archive restored into an empty database gives everything back.

These tests empty the database, so they run outside the per-test transaction
(`transaction=True`); they run on SQLite and on PostgreSQL (DATABASE_URL).
"""

import datetime
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP
from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, models
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from rempart.core import backup
from rempart.core.fields import EncryptedTextField, decrypt_text
from rempart.core.models import ApiToken, ApiTokenScope, AuditEntry, hash_token
from rempart.core.roles import OrgKind, Role
from rempart.organisations.models import FinessImport, Invitation, Membership, Organisation, User
from rempart.organisations.tests.factories import (
    TEST_TOTP_SECRET,
    OrganisationFactory,
    RegionFactory,
    member,
)

BASE_DIR = Path(__file__).resolve().parents[3]
PASSWORD = "un-mot-de-passe-restaure-42"
SECRET = "mot-de-passe-smtp-tres-secret"
MEDIA_NAME = "finess/2026/01/extrait-finess.csv"
MEDIA_BYTES = "numéro;raison sociale\n690000017;CH de Test\n".encode() + bytes(range(256))


@pytest.fixture
def backup_dirs(settings, tmp_path):
    """Archives in a folder of their own (the default FileSystemStorage), media in another."""
    settings.BACKUP_DIR = str(tmp_path / "backups")
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STORAGES = {key: value for key, value in settings.STORAGES.items() if key != "backups"}
    return tmp_path


@pytest.fixture
def secret_model(transactional_db):
    """A model with an encrypted field, for this test only (no shipped model has one yet)."""
    meta = type("Meta", (), {"app_label": "core", "db_table": "core_backup_secret_probe"})
    model = type(
        "BackupSecretProbe",
        (models.Model,),
        {
            "__module__": __name__,
            "Meta": meta,
            "label": models.CharField(max_length=50),
            "secret": EncryptedTextField(blank=True),
        },
    )
    with connection.schema_editor() as editor:
        editor.create_model(model)
    yield model
    with connection.schema_editor() as editor:
        editor.delete_model(model)
    del apps.all_models["core"]["backupsecretprobe"]
    apps.clear_cache()


def _counts() -> dict[str, int]:
    return {
        backup._label(model): model._base_manager.count() for model in backup.backed_up_models()
    }


def _empty_database(*, reset_sequences: bool = True) -> None:
    call_command("flush", interactive=False, verbosity=0, reset_sequences=reset_sequences)
    ContentType.objects.clear_cache()
    assert backup.populated_models() == []


def _renumber_content_type(model) -> int:
    """Give a model's content type a new id, so ids differ from a freshly migrated database."""
    ContentType.objects.get_for_model(model).delete()
    ContentType.objects.clear_cache()
    create_permissions(apps.get_app_config(model._meta.app_label), verbosity=0)
    return ContentType.objects.get_for_model(model).pk


def _build_platform(secret_model) -> dict:
    region = RegionFactory(code="84", name="Auvergne-Rhône-Alpes")
    ars = OrganisationFactory(kind=OrgKind.ARS, name="ARS de test", region=region)
    establishment = OrganisationFactory(name="Centre hospitalier de Test", region=region)
    rssi = member(Role.RSSI, establishment, email="rssi@ch-test.fr")
    rssi.set_password(PASSWORD)
    rssi.save()
    manager = member(Role.ARS_MANAGER, ars, email="pilote@ars.fr")
    manager.user_permissions.add(Permission.objects.get(codename="view_organisation"))
    manager.groups.add(Group.objects.create(name="Lecteurs du registre"))
    invitation = Invitation.objects.create(
        email="nouvelle.dsi@ch-test.fr",
        organisation=establishment,
        role=Role.DSI,
        invited_by=rssi,
        expires_at=timezone.now() + datetime.timedelta(days=7),
    )
    raw_token = ApiToken.generate_key()
    ApiToken.objects.create(
        user=rssi,
        name="Supervision",
        key_prefix=raw_token[:12],
        key_hash=hash_token(raw_token),
        scope=ApiTokenScope.READ,
    )
    media_name = default_storage.save(MEDIA_NAME, ContentFile(MEDIA_BYTES))
    FinessImport.objects.create(
        source_name="extrait-finess.csv", file=media_name, uploaded_by=manager
    )
    probe = secret_model.objects.create(label="smtp", secret=SECRET)
    audit = AuditEntry.objects.get(
        content_type=ContentType.objects.get_for_model(Organisation),
        object_pk=str(establishment.pk),
    )
    return {
        "establishment": establishment,
        "rssi": rssi,
        "manager": manager,
        "invitation": invitation,
        "raw_token": raw_token,
        "media_name": media_name,
        "probe": probe,
        "audit": audit,
        "totp_data": Authenticator.objects.get(user=rssi, type=Authenticator.Type.TOTP).data,
    }


def _backup(name: str | None = None) -> str:
    out = io.StringIO()
    call_command("backup", *(["--output", name] if name else []), stdout=out)
    return out.getvalue().strip()


def _restore(name: str, *args: str) -> str:
    out = io.StringIO()
    call_command("restore", name, "--noinput", *args, stdout=out)
    return out.getvalue()


def _rewrite_archive(source: Path, target: Path, *, manifest=None, replace=None, add=None) -> None:
    """Copy an archive, changing its manifest, replacing or adding members (to test the checks)."""
    with tarfile.open(source) as tar_in, tarfile.open(target, "w:gz") as tar_out:
        for member_info in tar_in.getmembers():
            payload = tar_in.extractfile(member_info).read()
            if member_info.name == backup.MANIFEST_NAME and manifest:
                payload = json.dumps(manifest(json.loads(payload))).encode()
            if replace and member_info.name in replace:
                payload = replace[member_info.name]
            info = tarfile.TarInfo(member_info.name)
            info.size = len(payload)
            tar_out.addfile(info, io.BytesIO(payload))
        for name, payload in (add or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar_out.addfile(info, io.BytesIO(payload))


@pytest.mark.django_db(transaction=True)
def test_restore_into_an_empty_database_finds_everything(backup_dirs, settings, secret_model):
    source_ct = _renumber_content_type(Organisation)
    data = _build_platform(secret_model)
    before = _counts()
    assert before["organisations.organisation"] == 2
    assert before["core.auditentry"] > 0

    name = _backup("sauvegarde-test.tar.gz")
    assert name == "sauvegarde-test.tar.gz"
    archive = backup_dirs / "backups" / name

    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile(backup.MANIFEST_NAME))
        raw_members = [tar.extractfile(m).read() for m in tar.getmembers()]
        lines = tar.extractfile(backup.DATA_NAME).read().decode().splitlines()
    assert set(names) == {backup.MANIFEST_NAME, backup.DATA_NAME, "media/" + MEDIA_NAME}
    assert manifest["counts"] == before
    assert manifest["media"][MEDIA_NAME]["size"] == len(MEDIA_BYTES)
    assert ["organisations", "0001_initial"] in manifest["migrations"]
    # The secret never appears in clear: the archive holds a Fernet token that decrypts to it.
    assert not any(SECRET.encode() in payload for payload in raw_members)
    probe_line = next(json.loads(line) for line in lines if '"core.backupsecretprobe"' in line)
    assert probe_line["fields"]["secret"] != SECRET
    assert decrypt_text(probe_line["fields"]["secret"]) == SECRET
    # Content types travel by natural key, everything else by primary key.
    audit_line = next(
        json.loads(line)
        for line in lines
        if '"core.auditentry"' in line and f'"pk": {data["audit"].pk},' in line
    )
    assert audit_line["fields"]["content_type"] == ["organisations", "organisation"]

    # Empty everything: database (content types come back with other ids) and media.
    _empty_database(reset_sequences=True)
    settings.MEDIA_ROOT = str(backup_dirs / "media-restored")
    assert ContentType.objects.get_for_model(Organisation).pk != source_ct
    assert not default_storage.exists(data["media_name"])

    output = _restore(name)
    ContentType.objects.clear_cache()
    assert f"Sauvegarde « {name} » restaurée." in output
    assert "organisations.organisation : 2" in output
    assert "fichiers : 1" in output

    after = _counts()
    assert {k: v for k, v in after.items() if k not in backup.DERIVED_MODELS} == {
        k: v for k, v in before.items() if k not in backup.DERIVED_MODELS
    }
    establishment = Organisation.objects.get(pk=data["establishment"].pk)
    assert establishment.name == "Centre hospitalier de Test"
    assert establishment.finess == data["establishment"].finess
    assert establishment.region.name == "Auvergne-Rhône-Alpes"

    rssi = User.objects.get(pk=data["rssi"].pk)
    assert rssi.email == "rssi@ch-test.fr"
    assert rssi.check_password(PASSWORD)
    assert Membership.objects.get(user=rssi).organisation == establishment
    authenticator = Authenticator.objects.get(user=rssi, type=Authenticator.Type.TOTP)
    assert authenticator.data == data["totp_data"]
    cache.clear()  # allauth remembers used codes per user id: another test may have used this one
    assert TOTP(authenticator).validate_code(pyotp.TOTP(TEST_TOTP_SECRET).now())

    manager = User.objects.get(pk=data["manager"].pk)
    assert manager.has_perm("organisations.view_organisation")
    assert list(manager.groups.values_list("name", flat=True)) == ["Lecteurs du registre"]

    invitation = Invitation.objects.get(pk=data["invitation"].pk)
    assert invitation.is_pending
    assert invitation.expires_at == data["invitation"].expires_at
    assert invitation.invited_by == rssi

    token = ApiToken.objects.get(key_hash=hash_token(data["raw_token"]))
    assert token.user == rssi
    assert token.is_usable

    audit = AuditEntry.objects.get(pk=data["audit"].pk)
    assert audit.content_type.model_class() is Organisation
    assert audit.organisation_id == establishment.pk
    assert audit.changes == data["audit"].changes

    finess_import = FinessImport.objects.get()
    assert finess_import.file.name == data["media_name"]
    with default_storage.open(data["media_name"], "rb") as restored:
        assert restored.read() == MEDIA_BYTES

    probe = secret_model.objects.get(pk=data["probe"].pk)
    assert probe.secret == SECRET
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM core_backup_secret_probe")
        (stored,) = cursor.fetchone()
    assert stored != SECRET
    assert decrypt_text(stored) == SECRET

    # Sequences follow the restored ids (sqlsequencereset on PostgreSQL): new rows just work.
    new_organisation = OrganisationFactory(region=establishment.region)
    assert new_organisation.pk > max(data["establishment"].pk, 2)
    assert AuditEntry.objects.filter(object_pk=str(new_organisation.pk)).exists()


@pytest.mark.django_db(transaction=True)
def test_restore_refuses_a_non_empty_database_and_force_replaces_it(backup_dirs):
    establishment = OrganisationFactory(name="Avant la sauvegarde")
    name = _backup()
    assert name.startswith("rempart-backup-")
    assert name.endswith(".tar.gz")
    OrganisationFactory(name="Après la sauvegarde")
    Organisation.objects.filter(pk=establishment.pk).update(name="Renommé après la sauvegarde")

    with pytest.raises(CommandError, match="n'est pas vide"):
        _restore(name)
    assert Organisation.objects.count() == 2  # nothing changed

    output = _restore(name, "--force")
    assert "Base effacée avant restauration (--force)." in output
    assert list(Organisation.objects.values_list("name", flat=True)) == ["Avant la sauvegarde"]


@pytest.mark.django_db(transaction=True)
def test_restore_checks_the_archive_and_changes_nothing_when_a_check_fails(backup_dirs):
    OrganisationFactory()
    default_storage.save(MEDIA_NAME, ContentFile(MEDIA_BYTES))
    name = _backup("bonne.tar.gz")
    good = backup_dirs / "backups" / name
    _empty_database()
    broken = backup_dirs / "abimee.tar.gz"

    def expect_refusal(message: str) -> None:
        with pytest.raises(CommandError, match=message):
            _restore(str(broken))
        assert backup.populated_models() == []

    def with_count(manifest):
        manifest["counts"]["organisations.organisation"] = 5
        return manifest

    _rewrite_archive(good, broken, manifest=with_count)
    expect_refusal("Restauration incomplète.*organisations.organisation : 1 au lieu de 5")

    _rewrite_archive(good, broken, replace={"media/" + MEDIA_NAME: b"contenu modifie"})
    expect_refusal("Archive altérée")

    def with_other_migrations(manifest):
        manifest["migrations"].append(["organisations", "9999_from_the_future"])
        return manifest

    _rewrite_archive(good, broken, manifest=with_other_migrations)
    expect_refusal("migrations de cette base ne correspondent pas.*9999_from_the_future")

    _rewrite_archive(good, broken, add={"media/../../evasion.txt": b"x"})
    expect_refusal("fichier inattendu « media/../../evasion.txt »")

    broken.write_bytes(b"ceci n'est pas une archive")
    expect_refusal("n'est pas une archive de sauvegarde lisible")

    with pytest.raises(CommandError, match="Sauvegarde introuvable"):
        _restore("inexistante.tar.gz")

    # The good archive still restores.
    _restore(name)
    assert Organisation.objects.count() == 1


@pytest.mark.django_db
def test_restore_asks_for_confirmation(backup_dirs, monkeypatch):
    monkeypatch.setattr("builtins.input", lambda prompt="": "non")
    with pytest.raises(CommandError, match="Restauration annulée"):
        call_command("restore", "peu-importe.tar.gz", stdout=io.StringIO())


@pytest.mark.django_db(transaction=True)
def test_restore_an_archive_made_by_another_process_on_sqlite(backup_dirs, settings):
    """Moving the demo to production: a SQLite archive restores into this database (PostgreSQL in CI)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "REMPART_ENV", "S3_BUCKET"}
    }
    env.update(
        DATABASE_URL=f"sqlite:///{backup_dirs / 'source.sqlite3'}",
        REMPART_BACKUP_DIR=str(backup_dirs / "backups"),
        REMPART_MEDIA_ROOT=str(backup_dirs / "source-media"),
    )
    script = (
        "from django.core.files.base import ContentFile\n"
        "from django.core.files.storage import default_storage\n"
        "from rempart.core.roles import Role\n"
        "from rempart.organisations.tests.factories import OrganisationFactory, member\n"
        "org = OrganisationFactory(name='CH de la démo')\n"
        "user = member(Role.RSSI, org, email='demo@ch.fr')\n"
        "user.set_password('mot-de-passe-de-la-demo')\n"
        "user.save()\n"
        f"default_storage.save({MEDIA_NAME!r}, ContentFile(b'demo'))\n"
    )
    for args in (["migrate", "--noinput", "-v0"], ["shell", "--no-imports", "-c", script]):
        result = subprocess.run(  # noqa: S603 - fixed command line, our own interpreter
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
    result = subprocess.run(
        [sys.executable, "manage.py", "backup", "--output", "demo.tar.gz"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "demo.tar.gz"

    settings.MEDIA_ROOT = str(backup_dirs / "target-media")
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.ScryptPasswordHasher"
    ]  # as in the source
    _restore("demo.tar.gz")

    user = User.objects.get(email="demo@ch.fr")
    assert user.check_password("mot-de-passe-de-la-demo")
    assert user.memberships.get().organisation.name == "CH de la démo"
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    with default_storage.open(MEDIA_NAME, "rb") as restored:
        assert restored.read() == b"demo"


@pytest.mark.django_db
def test_backup_refuses_a_database_behind_the_code(backup_dirs):
    recorder = MigrationRecorder(connection)
    recorder.migration_qs.filter(app="core").order_by("-id").first().delete()
    with pytest.raises(CommandError, match="migrations non appliquées"):
        _backup()
    assert not (backup_dirs / "backups").exists()


@pytest.mark.django_db
def test_archives_kept_inside_the_media_folder_are_not_archived_again(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.BACKUP_DIR = str(tmp_path / "media" / "sauvegardes")
    settings.STORAGES = {key: value for key, value in settings.STORAGES.items() if key != "backups"}
    default_storage.save(MEDIA_NAME, ContentFile(MEDIA_BYTES))
    _backup("premiere.tar.gz")
    _backup("seconde.tar.gz")
    with tarfile.open(tmp_path / "media" / "sauvegardes" / "seconde.tar.gz") as tar:
        assert sorted(tar.getnames()) == sorted(
            [backup.MANIFEST_NAME, backup.DATA_NAME, "media/" + MEDIA_NAME]
        )
    settings.BACKUP_DIR = settings.MEDIA_ROOT
    with pytest.raises(CommandError, match="REMPART_BACKUP_DIR ne peut pas être le dossier"):
        _backup()
