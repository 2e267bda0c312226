"""PDF of an assessment (scores by theme, answers, priority measures, evidence with expiry) and of
an organisation's action plan. Pure builders: the views check who may download them first.
What people typed is escaped before it goes into reportlab's markup."""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from rempart.core.pdf import BLUE, FONT, FONT_BOLD, register_fonts

RED = colors.HexColor("#c9191e")


class _Styles:
    def __init__(self) -> None:
        register_fonts()
        self.base = ParagraphStyle("base", fontName=FONT, fontSize=9, leading=12)
        self.small = ParagraphStyle("small", parent=self.base, fontSize=8, leading=10)
        self.h1 = ParagraphStyle(
            "h1", parent=self.base, fontName=FONT_BOLD, fontSize=16, leading=20, textColor=BLUE
        )
        self.h2 = ParagraphStyle(
            "h2", parent=self.base, fontName=FONT_BOLD, fontSize=12, leading=16, spaceBefore=8
        )
        self.cell_bold = ParagraphStyle("cb", parent=self.base, fontName=FONT_BOLD)
        self.expired = ParagraphStyle("exp", parent=self.base, textColor=RED)


def _p(text, style) -> Paragraph:
    return Paragraph(escape(str(text if text is not None else "")), style)


def _table(rows, widths, styles: _Styles) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e3e3fd")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _score(value) -> str:
    if value is None:
        return "—"
    return f"{float(value):.1f}".replace(".", ",") + " / 100"


def _doc(buffer, *, title: str, subject: str, author: str, wide: bool = False):
    return SimpleDocTemplate(
        buffer,
        pagesize=landscape(A4) if wide else A4,
        leftMargin=1.8 * cm,
        rightMargin=1.8 * cm,
        topMargin=1.8 * cm,
        bottomMargin=1.5 * cm,
        title=title,
        subject=subject,
        author=author,
        creator="Rempart",
    )


def assessment_filename(assessment) -> str:
    return f"autoevaluation-{assessment.pk}.pdf"


def assessment_pdf(assessment, *, themes, blocks, measures, evidence) -> bytes:
    """`themes`: ThemeResult rows; `blocks`: ThemeBlock rows of the answering page (visible
    questions and their answers); `measures`: priority measures; `evidence`: with `expired`."""
    s = _Styles()
    story = [
        _p(assessment.questionnaire.name, s.h1),
        _p(
            f"{assessment.organisation.name} — version {assessment.questionnaire.version} — "
            f"{assessment.get_status_display()}"
            + (
                f" le {timezone.localtime(assessment.completed_at):%d/%m/%Y}"
                if assessment.completed_at
                else ""
            ),
            s.base,
        ),
        _p(
            f"Score global : {_score(assessment.score)} — {assessment.answered_count} réponse(s) "
            f"sur {assessment.applicable_count} question(s) applicable(s). Édité le "
            f"{timezone.localdate():%d/%m/%Y}.",
            s.base,
        ),
        Spacer(1, 0.3 * cm),
        _p("Scores par thème", s.h2),
    ]
    rows = [[_p("Thème", s.cell_bold), _p("Score", s.cell_bold), _p("Précédent", s.cell_bold)]]
    for row in themes:
        rows.append(
            [
                _p(row.theme.name, s.base),
                _p(_score(row.score), s.base),
                _p(_score(row.previous), s.base),
            ]
        )
    story.append(_table(rows, [10 * cm, 3.5 * cm, 3.5 * cm], s))
    story.append(_p("Mesures prioritaires", s.h2))
    if measures:
        rows = [
            [
                _p("Priorité", s.cell_bold),
                _p("Mesure", s.cell_bold),
                _p("Domaine CaRE", s.cell_bold),
            ]
        ]
        for measure in measures:
            rows.append(
                [
                    _p(measure.priority, s.base),
                    _p(measure.title, s.base),
                    _p(measure.care_domain_code or "—", s.base),
                ]
            )
        story.append(_table(rows, [2 * cm, 12 * cm, 3 * cm], s))
    else:
        story.append(_p("Aucune mesure déclenchée par les réponses.", s.base))
    story.append(_p("Réponses", s.h2))
    for block in blocks:
        story.append(_p(block.theme.name, s.cell_bold))
        rows = [
            [
                _p("Question", s.cell_bold),
                _p("Réponse", s.cell_bold),
                _p("Commentaire", s.cell_bold),
            ]
        ]
        for _node, questions in block.requirements:
            for row in questions:
                if not row.visible:
                    continue
                rows.append(
                    [
                        _p(row.question.text, s.base),
                        _p(answer_text(row.answer) or "Sans réponse", s.base),
                        _p(row.answer.comment if row.answer else "", s.small),
                    ]
                )
        story.append(_table(rows, [8 * cm, 5 * cm, 4 * cm], s))
        story.append(Spacer(1, 0.2 * cm))
    story.append(_p("Preuves", s.h2))
    if evidence:
        rows = [
            [
                _p("Preuve", s.cell_bold),
                _p("Exigence", s.cell_bold),
                _p("En vigueur", s.cell_bold),
                _p("Expire", s.cell_bold),
                _p("SHA-256", s.cell_bold),
            ]
        ]
        for item in evidence:
            style = s.expired if getattr(item, "expired", False) else s.base
            expiry = f"{item.expires_on:%d/%m/%Y}" if item.expires_on else "—"
            if getattr(item, "expired", False):
                expiry += " (expirée)"
            rows.append(
                [
                    _p(f"{item.title} ({item.original_name})", style),
                    _p(item.node.name if item.node_id else "Autoévaluation entière", s.base),
                    _p(f"{item.effective_on:%d/%m/%Y}", s.base),
                    _p(expiry, style),
                    _p(item.sha256, s.small),
                ]
            )
        story.append(_table(rows, [4.5 * cm, 3.5 * cm, 2.2 * cm, 2.8 * cm, 4.4 * cm], s))
    else:
        story.append(_p("Aucune preuve jointe.", s.base))
    buffer = io.BytesIO()
    _doc(
        buffer,
        title=f"Autoévaluation — {assessment.questionnaire.name}",
        subject=assessment.organisation.name,
        author=assessment.organisation.name,
    ).build(story)
    return buffer.getvalue()


def answer_text(answer) -> str:
    """An answer as a reader sees it (choices by label, numbers and dates in French)."""
    if answer is None:
        return ""
    if answer.choice_id:
        return answer.choice.label
    labels = [c.label for c in answer.choices.all()]
    if labels:
        return ", ".join(labels)
    if answer.number_value is not None:
        return format(answer.number_value.normalize(), "f").replace(".", ",")
    if answer.date_value is not None:
        return f"{answer.date_value:%d/%m/%Y}"
    return answer.text_value


def plan_filename(organisation) -> str:
    return f"plan-action-{organisation.pk}.pdf"


def plan_pdf(organisation, actions) -> bytes:
    s = _Styles()
    story = [
        _p(f"Plan d'action — {organisation.name}", s.h1),
        _p(f"Édité le {timezone.localdate():%d/%m/%Y} — {len(actions)} action(s).", s.base),
        Spacer(1, 0.3 * cm),
    ]
    rows = [
        [
            _p(h, s.cell_bold)
            for h in (
                "Action",
                "Responsable",
                "Échéance",
                "Statut",
                "Priorité",
                "Coût estimé",
                "Domaine CaRE",
            )
        ]
    ]
    for action in actions:
        overdue = getattr(action, "overdue", False)
        due = f"{action.due_on:%d/%m/%Y}" if action.due_on else "—"
        if overdue:
            due += " (en retard)"
        cost = (
            f"{action.estimated_cost_eur:,.2f} €".replace(",", " ").replace(".", ",")
            if action.estimated_cost_eur is not None
            else "—"
        )
        rows.append(
            [
                _p(action.title, s.base),
                _p(action.owner or "—", s.base),
                _p(due, s.expired if overdue else s.base),
                _p(action.get_status_display(), s.base),
                _p(action.get_priority_display(), s.base),
                _p(cost, s.base),
                _p(action.care_domain.code if action.care_domain_id else "—", s.base),
            ]
        )
    story.append(_table(rows, [8.5 * cm, 3.5 * cm, 3 * cm, 2.5 * cm, 2 * cm, 3 * cm, 2.5 * cm], s))
    buffer = io.BytesIO()
    _doc(
        buffer,
        title=f"Plan d'action — {organisation.name}",
        subject="Plan d'action",
        author=organisation.name,
        wide=True,
    ).build(story)
    return buffer.getvalue()
