"""The CSV reader: separators, encodings, BOM, header or not, and each kind of broken line."""

import pytest

from rempart.core.errors import DomainError
from rempart.phishing.csv_import import parse_recipients


def test_semicolon_utf8_with_header():
    content = "email;prenom;nom;service;fonction\nA@Exemple.fr;Anne;Durand;Urgences;IDE\n"
    result = parse_recipients(content.encode())
    assert (result.delimiter, result.encoding, result.lines_read) == (";", "UTF-8", 1)
    assert result.rows == [
        {
            "email": "a@exemple.fr",
            "first_name": "Anne",
            "last_name": "Durand",
            "department": "Urgences",
            "position": "IDE",
        }
    ]
    assert result.rejections == []


def test_comma_bom_and_header_in_another_order():
    content = "\ufeffPrénom,Nom,E-mail,Service\nÉlise,Émond,e@exemple.fr,Pédiatrie\n"
    result = parse_recipients(content.encode("utf-8"))
    assert result.delimiter == ","
    assert result.encoding == "UTF-8 (BOM)"
    assert result.rows[0]["first_name"] == "Élise"
    assert result.rows[0]["email"] == "e@exemple.fr"
    assert result.rows[0]["department"] == "Pédiatrie"
    assert result.rows[0]["position"] == ""


def test_windows_1252_without_header():
    content = "b@exemple.fr;Hélène;Lefèvre;Maternité;Sage-femme\r\n"
    result = parse_recipients(content.encode("cp1252"))
    assert result.encoding == "Windows-1252"
    assert result.rows[0]["first_name"] == "Hélène"
    assert result.rows[0]["department"] == "Maternité"


def test_broken_lines_are_reported_with_their_number():
    content = (
        "email;prenom;nom;service;fonction\n"
        "ok@exemple.fr;A;B;C;D\n"
        ";Sans;Adresse;X;Y\n"
        "pas-une-adresse;A;B;C;D\n"
        "OK@exemple.fr;Doublon;B;C;D\n"
        f"long@exemple.fr;{'x' * 101};B;C;D\n"
        "\n"
        "fin@exemple.fr;A;B;C;D\n"
    )
    result = parse_recipients(content.encode())
    assert [r["email"] for r in result.rows] == ["ok@exemple.fr", "fin@exemple.fr"]
    report = {r["line"]: r["reasons"] for r in result.rejections}
    assert report == {
        3: ["e-mail manquant"],
        4: ["e-mail invalide"],
        5: ["en double dans le fichier (déjà ligne 2)"],
        6: ["prénom trop long (100 caractères au plus)"],
    }
    assert result.lines_read == 6


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_file_is_a_french_error(content):
    with pytest.raises(DomainError, match="vide"):
        parse_recipients(content)


def test_garbage_is_reported_line_by_line_never_a_crash():
    result = parse_recipients(b'\x89PNG\r\n\x1a\n\x00\x00"\xff;\xfe\n')
    assert result.rows == []
    assert result.rejections


def test_too_big_file_is_a_french_error(monkeypatch):
    from rempart.phishing import csv_import

    monkeypatch.setattr(csv_import, "MAX_BYTES", 10)
    with pytest.raises(DomainError, match="dépasse") as excinfo:
        parse_recipients(b"a@exemple.fr;b;c;d;e\n")
    assert excinfo.value.field == "file"
