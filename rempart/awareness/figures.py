"""Awareness figures for managers: per organisation within scope and per module, how many
learners started and passed, the pass rate and the average score; and escape-game
participation. A group under 5 people is never shown alone: its counts read « moins de 5 »
and its rate and average are not given.

A few aggregate queries whatever the number of rows (see the query budget test)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.db.models import Avg, Count, Q, Sum

from rempart.organisations.models import Organisation

from . import perms
from .models import Attempt, EscapeGameParticipation

MIN_GROUP = 5
SMALL_GROUP = "moins de 5"


@dataclass(frozen=True)
class LearningRow:
    organisation: str
    module: str
    started: int
    passed: int
    average: float | None

    @property
    def hidden(self) -> bool:
        return self.started < MIN_GROUP

    @property
    def started_label(self) -> str:
        return SMALL_GROUP if self.hidden else str(self.started)

    @property
    def passed_label(self) -> str:
        return "—" if self.hidden else str(self.passed)

    @property
    def rate_label(self) -> str:
        if self.hidden or not self.started:
            return "—"
        return f"{100 * self.passed / self.started:.0f} %".replace(".", ",")

    @property
    def average_label(self) -> str:
        if self.hidden or self.average is None:
            return "—"
        return f"{self.average:.1f} %".replace(".", ",")


@dataclass(frozen=True)
class EscapeRow:
    organisation: str
    sessions: int
    participants: int


@dataclass
class Figures:
    modules: list[LearningRow] = field(default_factory=list)  # all organisations in scope
    organisations: list[LearningRow] = field(default_factory=list)
    escape: list[EscapeRow] = field(default_factory=list)
    escape_total: int = 0


def _scope(user) -> Q:
    q = perms.figures_q(user)
    if q is None:
        raise PermissionDenied(perms.NO_FIGURES)
    return q


def organisations_in_scope(user):
    return Organisation.objects.filter(_scope(user)).order_by("name", "pk")


def _org_filter(user, organisation: Organisation | None) -> Q:
    scope = _scope(user)
    q = Q(organisation__in=Organisation.objects.filter(scope).values("pk")) if scope else Q()
    if organisation is not None:
        q &= Q(organisation=organisation)
    return q


def _learning(qs, *keys: str) -> list[dict]:
    return list(
        qs.values(*keys)
        .annotate(
            started=Count("user", distinct=True),
            passed_users=Count("user", filter=Q(passed=True), distinct=True),
            average=Avg("score"),
        )
        .order_by(*keys)
    )


def awareness_figures(user, *, organisation: Organisation | None = None) -> Figures:
    where = _org_filter(user, organisation)
    attempts = Attempt.objects.filter(where)
    figures = Figures()
    for row in _learning(attempts, "module_title"):
        figures.modules.append(
            LearningRow(
                "Ensemble du périmètre",
                row["module_title"],
                row["started"],
                row["passed_users"],
                row["average"],
            )
        )
    for row in _learning(attempts, "organisation__name", "module_title"):
        figures.organisations.append(
            LearningRow(
                row["organisation__name"],
                row["module_title"],
                row["started"],
                row["passed_users"],
                row["average"],
            )
        )
    escape = (
        EscapeGameParticipation.objects.filter(where)
        .values("organisation__name")
        .annotate(sessions=Count("session", distinct=True), participants=Sum("count"))
        .order_by("organisation__name")
    )
    figures.escape = [
        EscapeRow(r["organisation__name"], r["sessions"], r["participants"] or 0) for r in escape
    ]
    figures.escape_total = sum(r.participants for r in figures.escape)
    return figures


CSV_HEADER = [
    "Organisation",
    "Module",
    "Apprenants ayant commencé",
    "Apprenants ayant réussi",
    "Taux de réussite",
    "Score moyen",
]


def csv_rows(figures: Figures):
    for row in [*figures.modules, *figures.organisations]:
        yield [
            row.organisation,
            row.module,
            row.started_label,
            row.passed_label,
            row.rate_label,
            row.average_label,
        ]
