"""The report of an exercise run (PDF, reportlab, the shared French font), for the people who
have no account: the director's board, the auditor, the funder. It proves the exercise was
planned, played, evaluated and documented: summary, participants by function with attendance,
the timeline with release times, the journal, the evaluation grid, the RETEX and its actions,
and the validity verdict with its reasons.

A pure builder: the view checks who may download it."""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from rempart.core.pdf import FONT, FONT_BOLD, register_fonts

from . import selectors as sel
from .models import ExerciseRun
from .services import exercise_seconds

BLUE = colors.HexColor("#000091")
GREY = colors.HexColor("#dddddd")
PRESENCE = {True: "présent·e", False: "absent·e", None: "non relevée"}


def filename(run: ExerciseRun) -> str:
    return f"rapport-exercice-{run.pk}.pdf"


def _p(text, style) -> Paragraph:
    return Paragraph(escape(str(text or "")).replace("\n", "<br/>"), style)


def _when(value) -> str:
    return f"{timezone.localtime(value):%d/%m/%Y %H:%M}" if value else "—"


def clock(seconds, *, with_seconds: bool = False) -> str:
    """Exercise time as « T+h:mm » (or « T+h:mm:ss »)."""
    if seconds is None:
        return ""
    hours, rest = divmod(int(seconds), 3600)
    text = f"T+{hours:d}:{rest // 60:02d}"
    return f"{text}:{rest % 60:02d}" if with_seconds else text


def render_pdf(run: ExerciseRun) -> bytes:
    register_fonts()
    base = ParagraphStyle("base", fontName=FONT, fontSize=9.5, leading=12.5)
    small = ParagraphStyle("small", parent=base, fontSize=8, leading=10)
    title = ParagraphStyle(
        "title", parent=base, fontName=FONT_BOLD, fontSize=18, leading=23, textColor=BLUE
    )
    h2 = ParagraphStyle(
        "h2",
        parent=base,
        fontName=FONT_BOLD,
        fontSize=12.5,
        leading=16,
        textColor=BLUE,
        spaceBefore=10,
        spaceAfter=4,
    )
    bold = ParagraphStyle("bold", parent=base, fontName=FONT_BOLD)

    def table(header, rows, widths):
        data = [[_p(h, bold) for h in header]] + [[_p(c, small) for c in row] for row in rows]
        t = Table(data, colWidths=widths, repeatRows=1)
        t.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.4, GREY),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f0f0ff")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        return t

    verdict = sel.verdict(run)
    participants = sel.participants(run)
    injects = sel.timeline(run)
    entries = list(sel.journal(run))
    evaluation = sel.evaluation_of(run)
    debrief = sel.debrief_of(run)
    actions = sel.actions(run)

    story = [
        _p("Rapport d'exercice de crise cyber", title),
        _p(run.title, ParagraphStyle("sub", parent=bold, fontSize=12, leading=16)),
        Spacer(1, 0.3 * cm),
    ]
    facts = [
        ("Organisation", run.organisation.name),
        ("Type", run.get_kind_display()),
        ("Niveau / thème", f"{run.get_level_display()} — {run.get_theme_display()}"),
        ("Statut", run.get_status_display()),
        ("Date prévue", _when(run.planned_start)),
        ("Lieu", run.location or "—"),
        ("Joué", f"du {_when(run.started_at)} au {_when(run.ended_at)}" if run.started_at else "—"),
        (
            "Durée jouée (hors pauses)",
            clock(exercise_seconds(run)) if run.started_at else "—",
        ),
        ("Scénario", str(run.scenario) if run.scenario_id else "—"),
    ]
    story.append(table(["", ""], facts, [5 * cm, 12 * cm]))
    if run.objectives:
        story += [_p("Objectifs", h2), _p(run.objectives, base)]

    story.append(_p("Validité pour la couverture", h2))
    if not verdict.records:
        story.append(_p("Aucune organisation participante pour l'instant.", base))
    for record in verdict.records:
        if record.counts:
            text = (
                f"{record.organisation.name} : compte pour la couverture (valable jusqu'au "
                f"{record.valid_until:%d/%m/%Y})."
            )
        else:
            text = f"{record.organisation.name} : ne compte pas encore — " + " ".join(
                record.reasons
            )
        story.append(_p(text, base))
    story.append(
        _p(f"Règle {verdict.rule.version} : " + " ; ".join(verdict.requirements) + ".", small)
    )

    story.append(_p("Participants par fonction", h2))
    if participants:
        story.append(
            table(
                ["Fonction", "Nom", "Poste", "Rôle", "Organisation", "Présence"],
                [
                    [
                        p.get_function_display(),
                        p.full_name,
                        p.job_title,
                        p.get_role_display(),
                        p.organisation.name,
                        PRESENCE[p.attended],
                    ]
                    for p in participants
                ],
                [3.4 * cm, 3.2 * cm, 2.8 * cm, 2 * cm, 3.4 * cm, 2.2 * cm],
            )
        )
    else:
        story.append(_p("Aucun participant nommé.", base))

    story.append(_p("Déroulé (stimuli)", h2))
    story.append(
        table(
            ["N°", "Décalage", "Stimulus", "Canal", "Destinataires", "Diffusé"],
            [
                [
                    i.order,
                    f"T+{i.offset_minutes} min",
                    i.title,
                    i.get_channel_display(),
                    ", ".join(i.targets),
                    _when(i.released_at) if i.released_at else "non diffusé",
                ]
                for i in injects
            ],
            [1 * cm, 1.8 * cm, 5.4 * cm, 1.8 * cm, 4 * cm, 3 * cm],
        )
        if injects
        else _p("Aucun stimulus.", base)
    )

    story.append(_p("Journal", h2))
    if entries:
        story.append(
            table(
                ["Heure", "Temps", "Type", "Auteur", "Texte"],
                [
                    [
                        _when(e.at),
                        clock(e.exercise_seconds),
                        e.get_kind_display(),
                        author(e),
                        e.text,
                    ]
                    for e in entries
                ],
                [2.6 * cm, 1.4 * cm, 2.6 * cm, 3.2 * cm, 7.2 * cm],
            )
        )
    else:
        story.append(_p("Journal vide.", base))

    story.append(_p("Évaluation", h2))
    if evaluation:
        scores = evaluation.scores or {}
        story.append(
            table(
                ["Critère", "Note (1 à 4)", "Commentaire"],
                [
                    [
                        c.get("label", c.get("code")),
                        scores.get(c.get("code"), {}).get("score", "—"),
                        scores.get(c.get("code"), {}).get("comment", ""),
                    ]
                    for c in run.criteria or []
                ],
                [6 * cm, 2.2 * cm, 8.8 * cm],
            )
        )
        if evaluation.objectives_met:
            story += [_p("Atteinte des objectifs", bold), _p(evaluation.objectives_met, base)]
        story += [_p("Synthèse", bold), _p(evaluation.summary, base)]
    else:
        story.append(_p("L'évaluation n'est pas renseignée.", base))

    story.append(_p("Retour d'expérience (RETEX)", h2))
    if debrief:
        story += [
            _p(f"Tenu le {debrief.held_on:%d/%m/%Y}.", base),
            _p("Points forts", bold),
            _p(debrief.strengths, base),
            _p("Axes d'amélioration", bold),
            _p(debrief.improvements, base),
        ]
        if debrief.notes:
            story += [_p("Compte rendu", bold), _p(debrief.notes, base)]
        story.append(_p("Actions", bold))
        if actions:
            story.append(
                table(
                    ["Action", "Responsable", "Échéance", "Priorité", "Statut"],
                    [
                        [
                            a.title,
                            a.owner,
                            (f"{a.due_on:%d/%m/%Y}" if a.due_on else "—")
                            + (" (dépassée)" if a.overdue else ""),
                            a.get_priority_display(),
                            a.get_status_display(),
                        ]
                        for a in actions
                    ],
                    [6.4 * cm, 3.4 * cm, 2.8 * cm, 2 * cm, 2.4 * cm],
                )
            )
        else:
            story.append(_p("Aucune action.", base))
    else:
        story.append(_p("Le RETEX n'est pas formalisé.", base))

    story += [
        Spacer(1, 0.5 * cm),
        _p(f"Rapport établi par Rempart le {timezone.localtime():%d/%m/%Y à %H:%M}.", small),
    ]

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=2 * cm,
        rightMargin=2 * cm,
        topMargin=1.8 * cm,
        bottomMargin=1.8 * cm,
        title=f"Rapport d'exercice — {run.title}",
        subject=f"{run.organisation.name} — {_when(run.planned_start)}",
        author=run.organisation.name,
        creator="Rempart",
    )
    doc.build(story)
    return buffer.getvalue()


def author(entry) -> str:
    if entry.participant_id:
        return f"{entry.participant.full_name} ({entry.participant.get_function_display()})"
    if entry.author_id:
        return entry.author.get_full_name() or entry.author.email
    return "Rempart"
