"""XLSX of an assessment (scores, answers, measures, evidence: one sheet each) and of an action
plan, through the shared writer (safe against formula injection)."""

from __future__ import annotations

from django.utils import timezone

from rempart.core.xlsx_export import xlsx_response

from .report import answer_text


def assessment_xlsx(assessment, *, themes, blocks, measures, evidence):
    scores = [("Score global", assessment.score)] + [
        (f"Thème : {row.theme.name}", row.score) for row in themes
    ]
    answers = []
    for block in blocks:
        for node, rows in block.requirements:
            for row in rows:
                if not row.visible:
                    continue
                answers.append(
                    [
                        block.theme.name,
                        node.ref_id,
                        row.question.text,
                        answer_text(row.answer),
                        row.answer.score if row.answer else None,
                        row.answer.comment if row.answer else "",
                    ]
                )
    return xlsx_response(
        f"autoevaluation-{assessment.pk}.xlsx",
        [
            (
                "Scores",
                ["Indicateur", "Score (sur 100)", "Précédent"],
                [[label, value, None] for label, value in scores[:1]]
                + [[f"Thème : {row.theme.name}", row.score, row.previous] for row in themes],
            ),
            (
                "Réponses",
                ["Thème", "Référence", "Question", "Réponse", "Score", "Commentaire"],
                answers,
            ),
            (
                "Mesures",
                ["Priorité", "Mesure", "Description", "Domaine CaRE"],
                [[m.priority, m.title, m.description, m.care_domain_code] for m in measures],
            ),
            (
                "Preuves",
                [
                    "Preuve",
                    "Fichier",
                    "Exigence",
                    "En vigueur depuis",
                    "Expire le",
                    "Expirée",
                    "SHA-256",
                ],
                [
                    [
                        e.title,
                        e.original_name,
                        e.node.name if e.node_id else "Autoévaluation entière",
                        e.effective_on,
                        e.expires_on,
                        bool(getattr(e, "expired", False)),
                        e.sha256,
                    ]
                    for e in evidence
                ],
            ),
        ],
    )


def plan_xlsx(organisation, actions):
    return xlsx_response(
        f"plan-action-{organisation.pk}-{timezone.localdate():%Y%m%d}.xlsx",
        [
            (
                "Plan d'action",
                [
                    "Action",
                    "Description",
                    "Responsable",
                    "Échéance",
                    "En retard",
                    "Statut",
                    "Priorité",
                    "Coût estimé (€)",
                    "Domaine CaRE",
                    "Faite le",
                ],
                [
                    [
                        a.title,
                        a.description,
                        a.owner,
                        a.due_on,
                        bool(getattr(a, "overdue", False)),
                        a.get_status_display(),
                        a.get_priority_display(),
                        a.estimated_cost_eur,
                        a.care_domain.code if a.care_domain_id else "",
                        a.done_on,
                    ]
                    for a in actions
                ],
            )
        ],
    )
