"""The variables of a phishing message: `{{prenom}}`, `{{nom}}`, `{{lien}}`, `{{pixel}}`.

Checked when a template is saved (an unknown variable or a message without `{{lien}}` is an
error the author can fix), replaced when a message is built (by the sending engine) or
previewed (with sample values). Values are HTML-escaped in the HTML body.
"""

from __future__ import annotations

import re
from html import escape

VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
KNOWN = ("prenom", "nom", "lien", "pixel")
LINK = "lien"
PIXEL = "pixel"
SAMPLE_VALUES = {
    "prenom": "Camille",
    "nom": "Martin",
    "lien": "https://exemple.invalid/l/jeton-d-exemple",
    "pixel": "",
}
_KNOWN_LIST = ", ".join("{{" + name + "}}" for name in KNOWN)


def _unknown(text: str) -> list[str]:
    return sorted({name for name in VARIABLE.findall(text or "") if name not in KNOWN})


def _uses(text: str, name: str) -> bool:
    return name in VARIABLE.findall(text or "")


def template_errors(*, subject: str, html_body: str, text_body: str) -> dict[str, list[str]]:
    """French messages per field; empty when the template may be saved."""
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    for field, text in (("subject", subject), ("html_body", html_body), ("text_body", text_body)):
        unknown = _unknown(text)
        if unknown:
            names = ", ".join("{{" + name + "}}" for name in unknown)
            add(field, f"Variable inconnue : {names}. Variables possibles : {_KNOWN_LIST}.")
    for name in (LINK, PIXEL):
        if _uses(subject, name):
            add("subject", f"L'objet ne peut pas contenir {{{{{name}}}}}.")
    if not _uses(html_body, LINK):
        add(
            "html_body",
            "Le corps HTML doit contenir le lien de suivi {{lien}} (par exemple dans "
            '<a href="{{lien}}">), sinon aucun clic ne peut être mesuré.',
        )
    if (text_body or "").strip():
        if not _uses(text_body, LINK):
            add("text_body", "Le corps texte doit contenir le lien de suivi {{lien}}.")
        if _uses(text_body, PIXEL):
            add("text_body", "Le pixel de suivi {{pixel}} n'a de sens que dans le corps HTML.")
    return errors


def render(text: str, values: dict[str, str], *, html: bool = False) -> str:
    """Replace the known variables; unknown ones are left as they are (never saved anyway)."""

    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            return match.group(0)
        value = values[name]
        if html and name != PIXEL:
            return escape(value)
        return value

    return VARIABLE.sub(replace, text or "")


def pixel_html(url: str) -> str:
    return f'<img src="{escape(url)}" width="1" height="1" alt="">'
