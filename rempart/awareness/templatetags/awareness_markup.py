"""`{{ text|awareness_markup }}`: the module texts' small, safe markup.

Everything is escaped first; then `**bold**` becomes <strong>, and a paragraph whose lines all
start with « - » becomes a bulleted list. No links, no HTML: the content files cannot inject
anything into the page."""

import re

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

register = template.Library()

BOLD = re.compile(r"\*\*(.+?)\*\*")


def _inline(text: str) -> str:
    return BOLD.sub(r"<strong>\1</strong>", escape(text))


@register.filter
def awareness_markup(text: str) -> str:
    lines = [line.strip() for line in str(text or "").strip().splitlines() if line.strip()]
    if lines and all(line.startswith("- ") for line in lines):
        items = "".join(f"<li>{_inline(line[2:])}</li>" for line in lines)
        return mark_safe(f"<ul>{items}</ul>")  # noqa: S308 - every piece escaped above
    return mark_safe(f"<p>{_inline(' '.join(lines))}</p>")  # noqa: S308 - escaped above
