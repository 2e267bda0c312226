"""Forms of the file pages: the file itself (structured parts, budget by expense category,
prerequisite checklist), a document, the ARS's review, a comment, the ARS's own ceiling, the
list filters; and the budget totals shown next to them (always recomputed on the server).

Forms read and clean what the person typed (French amounts, dates); the services decide.
`ApplicationForm.save` writes the whole form in one transaction, so a refusal leaves what was
saved before untouched, and the page shows the typed values again with the message."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django import forms
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from rempart.core.errors import DomainError

from . import application_services
from .call_forms import AmountField, DateInput
from .ceilings import ZERO, parse_decimal
from .models import ApplicationStatus, DocumentPart, ExpenseCategory
from .uploads import accepted_extensions, human_size, max_bytes

MATURITY_LEVELS = [
    (1, _("1 — Initial : pas de démarche structurée")),
    (2, _("2 — Reproductible : pratiques partielles")),
    (3, _("3 — Défini : démarche formalisée")),
    (4, _("4 — Maîtrisé : démarche pilotée et mesurée")),
    (5, _("5 — Optimisé : amélioration continue")),
]
UPDATE_FIELDS = (
    "maturity_level",
    "maturity_summary",
    "project_objectives",
    "project_schedule",
    "project_lead",
    "requested_eur",
    "own_funding_eur",
    "other_funding_eur",
    "commitment_signatory",
    "commitment_signed_on",
)
FUNDING_FIELDS = ("requested_eur", "own_funding_eur", "other_funding_eur")


def _textarea(rows: int = 5) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows})


class ApplicationForm(forms.Form):
    """The whole file: structured parts, budget (`budget_<category>` and
    `budget_<category>_description`) and prerequisites (`prerequisite_<id>`,
    `prerequisite_<id>_comment`)."""

    maturity_level = forms.TypedChoiceField(
        label=_("Niveau de maturité estimé"),
        choices=[("", _("— Non renseigné —")), *MATURITY_LEVELS],
        coerce=int,
        empty_value=None,
        required=False,
        error_messages={"invalid_choice": _("Le niveau de maturité va de 1 à 5.")},
    )
    maturity_summary = forms.CharField(
        label=_("Diagnostic de maturité"),
        help_text=_("État de la sécurité du système d'information, points forts et faiblesses."),
        widget=_textarea(6),
        required=False,
        max_length=20000,
    )
    project_objectives = forms.CharField(
        label=_("Fiche projet : objectifs"),
        help_text=_("Cibles du domaine visées et résultats attendus."),
        widget=_textarea(6),
        required=False,
        max_length=20000,
    )
    project_schedule = forms.CharField(
        label=_("Fiche projet : calendrier et pilotage"),
        widget=_textarea(4),
        required=False,
        max_length=20000,
    )
    project_lead = forms.CharField(label=_("Chef de projet"), required=False, max_length=255)
    requested_eur = AmountField(
        label=_("Financement CaRE demandé (€)"),
        required=False,
        help_text=_("Au plus le plafond du dossier. Par exemple 60 000 ou 15 000,50."),
    )
    own_funding_eur = AmountField(label=_("Autofinancement (€)"), required=False)
    other_funding_eur = AmountField(label=_("Autres financements (€)"), required=False)
    commitment_signatory = forms.CharField(
        label=_("Signataire de la lettre d'engagement"),
        help_text=_(
            "Le directeur de l'établissement ou de l'entité juridique, ou son délégataire."
        ),
        required=False,
        max_length=255,
    )
    commitment_signed_on = forms.DateField(
        label=_("Date de signature de la lettre d'engagement"),
        required=False,
        widget=DateInput(),
        input_formats=["%Y-%m-%d", "%d/%m/%Y"],
        error_messages={
            "invalid": _("La date de signature n'est pas valide : écrivez-la JJ/MM/AAAA.")
        },
    )

    def __init__(self, data=None, *, application, answers, lines):
        self.application = application
        self.answers = list(answers)
        initial = {name: getattr(application, name) for name in UPDATE_FIELDS}
        for category in ExpenseCategory.values:
            line = lines.get(category)
            initial[f"budget_{category}"] = line.amount_eur if line else None
            initial[f"budget_{category}_description"] = line.description if line else ""
        for answer in self.answers:
            initial[f"prerequisite_{answer.requirement_id}"] = answer.met
            initial[f"prerequisite_{answer.requirement_id}_comment"] = answer.comment
        super().__init__(data, initial=initial)
        for value, label in ExpenseCategory.choices:
            self.fields[f"budget_{value}"] = AmountField(label=label, required=False)
            self.fields[f"budget_{value}_description"] = forms.CharField(
                label=_("Description : %(category)s") % {"category": label},
                required=False,
                max_length=500,
            )
        for answer in self.answers:
            requirement = answer.requirement
            self.fields[f"prerequisite_{requirement.pk}"] = forms.BooleanField(
                label=_("Prérequis rempli"), required=False
            )
            self.fields[f"prerequisite_{requirement.pk}_comment"] = forms.CharField(
                label=_("Commentaire ou justification"),
                widget=_textarea(2),
                required=False,
                max_length=5000,
            )

    # --- Layout helpers for the template ---------------------------------------------------------

    def part_fields(self):
        return [self[name] for name in ("maturity_level", "maturity_summary")]

    def project_fields(self):
        return [self[name] for name in ("project_objectives", "project_schedule", "project_lead")]

    def funding_fields(self):
        return [self[name] for name in FUNDING_FIELDS]

    def commitment_fields(self):
        return [self[name] for name in ("commitment_signatory", "commitment_signed_on")]

    def budget_rows(self):
        return [
            {
                "label": label,
                "amount": self[f"budget_{value}"],
                "description": self[f"budget_{value}_description"],
            }
            for value, label in ExpenseCategory.choices
        ]

    def prerequisite_rows(self):
        return [
            {
                "requirement": answer.requirement,
                "met": self[f"prerequisite_{answer.requirement_id}"],
                "comment": self[f"prerequisite_{answer.requirement_id}_comment"],
            }
            for answer in self.answers
        ]

    # --- Totals from what was typed (even before it is saved) ----------------------------------

    def typed_amount(self, name: str) -> Decimal | None:
        """The amount in a field as typed, or None when empty or not a number."""
        if self.is_bound:
            raw = self.data.get(self.add_prefix(name), "")
            value = parse_decimal(raw)
            return value if value is not None and value >= 0 else None
        return self.initial.get(name)

    def typed_totals(self, ceiling: Decimal | None) -> BudgetTotals:
        return budget_totals(
            {c: self.typed_amount(f"budget_{c}") for c in ExpenseCategory.values},
            self.typed_amount("requested_eur"),
            self.typed_amount("own_funding_eur"),
            self.typed_amount("other_funding_eur"),
            ceiling,
        )

    # --- Saving ------------------------------------------------------------------------------------

    def save(self, actor) -> None:
        """Write the parts, the budget and the answers that changed, all or nothing.
        A DomainError names the form field at fault (or None)."""
        data = self.cleaned_data
        application = self.application
        try:
            with transaction.atomic():
                application_services.application_update(
                    actor=actor,
                    application=application,
                    **{name: data[name] for name in UPDATE_FIELDS},
                )
                application_services.budget_set(
                    actor=actor,
                    application=application,
                    lines={
                        category: (
                            data[f"budget_{category}"],
                            data[f"budget_{category}_description"],
                        )
                        for category in ExpenseCategory.values
                    },
                )
                for answer in self.answers:
                    key = f"prerequisite_{answer.requirement_id}"
                    met, comment = data[key], (data[f"{key}_comment"] or "").strip()
                    if met == answer.met and comment == answer.comment:
                        continue
                    try:
                        application_services.prerequisite_answer(
                            actor=actor,
                            application=application,
                            requirement_id=answer.requirement_id,
                            met=met,
                            comment=comment,
                        )
                    except DomainError as exc:
                        if exc.field == "comment":
                            exc.field = f"{key}_comment"
                        raise
        except DomainError:
            application.refresh_from_db()
            raise

    def add_domain_error(self, exc: DomainError) -> None:
        self.add_error(exc.field if exc.field in self.fields else None, exc.message)


# --- Budget totals --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetTotals:
    expenses: Decimal
    requested: Decimal | None
    own: Decimal
    other: Decimal
    ceiling: Decimal | None

    @property
    def resources(self) -> Decimal:
        return (self.requested or ZERO) + self.own + self.other

    @property
    def balance(self) -> Decimal:
        """Resources minus expenses: 0 when the budget is balanced."""
        return self.resources - self.expenses

    @property
    def balanced(self) -> bool:
        return bool(self.expenses) and self.balance == 0

    @property
    def missing_resources(self) -> Decimal:
        return -self.balance if self.balance < 0 else ZERO

    @property
    def excess_resources(self) -> Decimal:
        return self.balance if self.balance > 0 else ZERO

    @property
    def over_ceiling(self) -> bool:
        return (
            self.ceiling is not None
            and self.requested is not None
            and self.requested > self.ceiling
        )

    @property
    def ceiling_left(self) -> Decimal | None:
        """What can still be requested under the ceiling."""
        if self.ceiling is None:
            return None
        return self.ceiling - (self.requested or ZERO)


def budget_totals(
    expenses: dict[str, Decimal | None],
    requested: Decimal | None,
    own: Decimal | None,
    other: Decimal | None,
    ceiling: Decimal | None,
) -> BudgetTotals:
    return BudgetTotals(
        expenses=sum((v for v in expenses.values() if v), ZERO),
        requested=requested,
        own=own or ZERO,
        other=other or ZERO,
        ceiling=ceiling,
    )


def saved_totals(application, lines: dict, ceiling: Decimal | None) -> BudgetTotals:
    return budget_totals(
        {category: line.amount_eur for category, line in lines.items()},
        application.requested_eur,
        application.own_funding_eur,
        application.other_funding_eur,
        ceiling,
    )


# --- Documents, review, comments, ceiling, list ------------------------------------------------


class DocumentForm(forms.Form):
    part = forms.ChoiceField(
        label=_("Pièce du dossier"),
        choices=[("", _("— Choisissez la pièce —")), *DocumentPart.choices],
        required=False,
    )
    file = forms.FileField(label=_("Fichier"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = _(
            "Types acceptés : %(types)s. Taille maximale : %(size)s."
        ) % {"types": accepted_extensions(), "size": human_size(max_bytes())}


REVIEW_ACTIONS = ("start", "complement", "accept", "reject")


class ReviewForm(forms.Form):
    """The ARS's step on a file; the service checks the state and the required texts."""

    action = forms.ChoiceField(
        choices=[(a, a) for a in REVIEW_ACTIONS],
        error_messages={
            "required": _("Choisissez une action d'instruction."),
            "invalid_choice": _("Cette action d'instruction n'existe pas."),
        },
    )
    message = forms.CharField(
        label=_("Pièces ou informations attendues"), widget=_textarea(3), required=False
    )
    reason = forms.CharField(
        label=_("Motif du rejet (communiqué au candidat)"), widget=_textarea(3), required=False
    )
    comment = forms.CharField(
        label=_("Commentaire de la décision (facultatif)"), widget=_textarea(2), required=False
    )


class CommentForm(forms.Form):
    body = forms.CharField(
        label=_("Votre commentaire"),
        widget=_textarea(3),
        required=False,
        max_length=application_services.COMMENT_MAX_LENGTH,
    )


class CeilingOverrideForm(forms.Form):
    action = forms.ChoiceField(
        choices=[("set", "set"), ("clear", "clear")],
        required=False,
        error_messages={"invalid_choice": _("Cette action n'existe pas.")},
    )
    amount_eur = AmountField(
        label=_("Plafond retenu par l'ARS (€)"),
        required=False,
        help_text=_("Par exemple 45 000 ou 45 000,50."),
    )
    reason = forms.CharField(
        label=_("Motif"),
        help_text=_("Conservé dans le journal d'audit et communiqué au candidat."),
        widget=_textarea(3),
        required=False,
    )


class ApplicationFilterForm(forms.Form):
    appel = forms.TypedChoiceField(
        label=_("Appel"), required=False, coerce=int, empty_value=None, choices=()
    )
    statut = forms.ChoiceField(
        label=_("Statut"),
        required=False,
        choices=[("", _("Tous les statuts")), *ApplicationStatus.choices],
    )
    q = forms.CharField(label=_("Candidat"), required=False, max_length=100)

    def __init__(self, data=None, *, calls):
        super().__init__(data)
        self.fields["appel"].choices = [("", _("Tous les appels"))] + [
            (call.pk, f"{call.title} ({call.region.name})") for call in calls
        ]

    def values(self) -> dict:
        """The valid filters (an invalid one is ignored, and reported on its field)."""
        if not self.is_valid():
            cleaned = {k: v for k, v in self.cleaned_data.items() if k not in self.errors}
        else:
            cleaned = self.cleaned_data
        return {
            "call_id": cleaned.get("appel"),
            "status": cleaned.get("statut") or "",
            "search": (cleaned.get("q") or "").strip(),
        }
