import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from rempart.awareness import learning_content
from rempart.awareness.learning_content import AwarenessContentError, load, read_all
from rempart.awareness.models import Module
from rempart.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "modules"
    shutil.copytree(learning_content.MODULES_DIR, target)
    return target


def test_the_shipped_files_are_valid_and_hold_the_seed_quiz():
    files = read_all()
    assert {
        "quiz-cyber",
        "mots-de-passe",
        "hameconnage",
        "mobilite",
        "partage-donnees-sante",
    } <= set(files)
    quiz = files["quiz-cyber"].values
    assert [q["correct"] for q in quiz["questions"]] == [["b"], ["b"], ["d"], ["c"]]
    assert quiz["pass_mark"] == 80
    assert "Centre Prouvé" in str(quiz["questions"][2]["choices"])
    phishing = files["hameconnage"].values
    assert "94 % des incidents commencent par un hameçonnage" in str(phishing["sections"])
    assert "MSSanté" in str(files["partage-donnees-sante"].values)


def test_load_is_idempotent_and_audited():
    report = load()
    assert len(report.created) == 5
    assert Module.objects.filter(is_active=True).count() == 5
    entries = AuditEntry.objects.count()
    again = load()
    assert again.created == []
    assert again.updated == []
    assert sorted(again.unchanged) == sorted(report.created)
    assert AuditEntry.objects.count() == entries


def test_changed_content_gets_a_new_version_and_removed_files_are_unpublished(tmp_path):
    directory = _copy(tmp_path)
    load(directory=directory)
    path = directory / "mobilite.yaml"
    path.write_text(path.read_text().replace("Le Wi-Fi de l'hôtel", "Le Wi-Fi du camping"))
    (directory / "mots-de-passe.yaml").unlink()
    report = load(directory=directory)
    assert report.updated == ["mobilite"]
    assert report.unpublished == ["mots-de-passe"]
    assert Module.objects.get(code="mobilite").version == 2
    assert Module.objects.get(code="mots-de-passe").is_active is False


def test_dry_run_writes_nothing():
    report = load(dry_run=True)
    assert len(report.created) == 5
    assert Module.objects.count() == 0


def test_every_error_is_reported_in_french_with_file_and_item_and_nothing_is_written(tmp_path):
    directory = _copy(tmp_path)
    quiz = directory / "quiz-cyber.yaml"
    quiz.write_text(quiz.read_text().replace("correct: [d]", "correct: [e]"))
    mobility = directory / "mobilite.yaml"
    mobility.write_text(
        mobility.read_text().replace("kind: unique", "kind: unique\n      colour: red", 1)
    )
    broken = directory / "zz-casse.yaml"
    broken.write_text("code: [oops\n")
    pwd = directory / "mots-de-passe.yaml"
    pwd.write_text(pwd.read_text().replace("correct: [b]", "correct: [a, b]", 1))
    with pytest.raises(AwarenessContentError) as caught:
        load(directory=directory)
    errors = caught.value.errors
    text = "\n".join(errors)
    assert "quiz-cyber.yaml, question n°3 (mobilite) : la bonne réponse « e »" in text
    assert "mobilite.yaml, question n°1 (connexion) : champ inconnu : « colour »" in text
    assert "zz-casse.yaml, ligne" in text
    assert "syntaxe YAML invalide" in text
    assert "mots-de-passe.yaml, question n°1 (reutilisation) : une question à choix unique" in text
    assert Module.objects.count() == 0


def test_duplicate_codes_across_files_are_refused(tmp_path):
    directory = _copy(tmp_path)
    shutil.copy(directory / "mobilite.yaml", directory / "mobilite-bis.yaml")
    with pytest.raises(AwarenessContentError, match="le code « mobilite » est déjà celui de"):
        load(directory=directory)


def test_command(tmp_path, capsys):
    call_command("load_awareness_content", "--dry-run")
    assert Module.objects.count() == 0
    call_command("load_awareness_content")
    assert Module.objects.count() == 5
    directory = _copy(tmp_path)
    (directory / "quiz-cyber.yaml").write_text("title: sans code\n")
    with pytest.raises(CommandError, match="champ obligatoire manquant"):
        call_command("load_awareness_content", "--dir", str(directory))
