"""Funding ceilings (plafonds) as data: each call carries its schedule, and every ceiling is
shown with the computation that produced it.

Schedule format (`Call.ceiling_schedule`, JSON)::

    {
      "basis": "operating_budget_eur" | "beds" | "places" | "staff_count",
      "method": "brackets" | "rate",
      "brackets": [{"up_to": 5000000, "amount": "15000.00"},
                   {"up_to": 20000000, "amount": "25000.00"},
                   {"up_to": null, "amount": "623026.24"}],
      "rate": "0.0015",
      "floor": "15000.00",
      "cap": "623026.24"
    }

* `basis`: the establishment's activity figure the ceiling depends on (budget d'exploitation
  in euros, lits, places, effectif in ETP), read from the organisations registry.
* `method` "brackets": the establishment gets the flat `amount` of the first bracket whose
  `up_to` is at least its figure (a bracket covers ]previous up_to, up_to]); `up_to` values are
  numbers in strictly ascending order and the last one is null (no upper bound).
  `method` "rate": the figure times `rate` (for the budget, a fraction: "0.0015" is 0.15 %;
  for counts, euros per bed, place or ETP). `brackets` is only for the first method, `rate`
  only for the second.
* `floor` and `cap` (optional): the establishment's amount is raised to the floor and lowered
  to the cap.
* Amounts, rate, floor and cap are decimal strings (never floats); money is rounded to the
  cent with ROUND_HALF_UP after the rate is applied.

Who applies, and what a ceiling covers:

* an establishment's ceiling comes from its own figure (floor and cap apply per establishment);
* a GHT's ceiling is the sum of its member establishments' ceilings; a legal entity's is the
  sum of its establishments' ceilings (only those of the call's region);
* `applicant_rule` "ght_ou_ej": the region's GHTs that have members, plus the legal entities of
  the region's establishments that belong to no GHT (an establishment belongs to a GHT directly,
  or through its legal entity's membership); an establishment without a recorded legal entity
  and outside any GHT applies on its own. `applicant_rule` "etablissement": each establishment;
* when the call lists eligible FINESS categories, an applicant is eligible if at least one of
  the establishments it covers is in one of them, and only those establishments count.

A figure missing from the registry is never guessed: the establishment counts for 0, and the
result lists what is missing so that the page says the ceiling is incomplete.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db.models import Q

from rempart.core.roles import OrgKind

from .models import ApplicantRule

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_AMOUNT = Decimal("999999999999.99")  # the model's DecimalField(max_digits=14, decimal_places=2)
NBSP = "\u00a0"

# basis -> (label, unit for a figure, unit for one item in a rate: "par lit")
BASES: dict[str, tuple[str, str, str]] = {
    "operating_budget_eur": ("Budget d'exploitation", "€", ""),
    "beds": ("Lits", "lits", "par lit"),
    "places": ("Places", "places", "par place"),
    "staff_count": ("Effectif", "ETP", "par ETP"),
}
METHODS = {"brackets": "Barème par tranches", "rate": "Taux appliqué au chiffre d'activité"}
SCHEDULE_KEYS = {"basis", "method", "brackets", "rate", "floor", "cap"}


def to_cent(value) -> Decimal:
    """A database sum as money: SQLite adds decimals as floats (7717372.06999999), PostgreSQL
    exactly; both become the exact amount to the cent. None (no row) is 0.00."""
    if value is None:
        return ZERO
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


# --- French formatting --------------------------------------------------------------------------


def format_number(value: Decimal | int, decimals: int | None = None) -> str:
    """« 42 000 000 », « 0,15 », « 623 026,24 » (no-break space between thousands)."""
    value = Decimal(value)
    if decimals is None:
        decimals = 0 if value == value.to_integral_value() else max(0, -value.as_tuple().exponent)
    text = f"{value:,.{decimals}f}"
    return text.replace(",", NBSP).replace(".", ",")


def format_eur(amount: Decimal) -> str:
    """Money to the cent: « 623 026,24 € »."""
    return f"{format_number(amount, 2)}{NBSP}€"


def _format_figure(value: Decimal, basis: str) -> str:
    unit = BASES[basis][1]
    return f"{format_number(value)}{NBSP}{unit}"


def _figure_phrase(value: Decimal, basis: str) -> str:
    """« Budget d'exploitation 42 000 000 € », « 320 lits », « Effectif 120 ETP »."""
    if basis in ("beds", "places"):
        return _format_figure(value, basis)
    return f"{BASES[basis][0]} {_format_figure(value, basis)}"


def _format_bound(value: Decimal, basis: str) -> str:
    """Compact bracket bounds: « 20 M€ » for round millions of euros."""
    if basis == "operating_budget_eur" and value >= 1_000_000 and value % 100_000 == 0:
        return f"{format_number(value / 1_000_000)}{NBSP}M€"
    return _format_figure(value, basis)


def _bracket_label(lower: Decimal | None, upper: Decimal | None, basis: str) -> str:
    if lower is None and upper is None:
        return "tranche unique"
    if lower is None:
        return f"tranche jusqu'à {_format_bound(upper, basis)}"
    if upper is None:
        return f"tranche au-delà de {_format_bound(lower, basis)}"
    low, high = _format_bound(lower, basis), _format_bound(upper, basis)
    unit = high.rsplit(NBSP, 1)[-1]
    if low.endswith(NBSP + unit):
        low = low[: -len(NBSP + unit)]
    return f"tranche {low}–{high}"


def _sentence(text: str) -> str:
    """Upper-case the first letter only (str.capitalize would lower « M€ »)."""
    return text[:1].upper() + text[1:]


def _format_rate(rate: Decimal, basis: str) -> str:
    if basis == "operating_budget_eur":
        return f"{format_number((rate * 100).normalize())}{NBSP}%"
    return f"{format_eur(rate)} {BASES[basis][2]}"


# --- Parsing and validation ---------------------------------------------------------------------


def parse_decimal(text: Any) -> Decimal | None:
    """A decimal from a string written the French or the English way (« 15 000,50 €»,
    « 15000.50 »); None when it is not a number."""
    if isinstance(text, bool) or text is None:
        return None
    if isinstance(text, int | Decimal):
        return Decimal(text)
    if isinstance(text, float):
        return Decimal(str(text))
    cleaned = (
        str(text)
        .strip()
        .replace("€", "")
        .replace(NBSP, "")
        .replace("\u202f", "")
        .replace(" ", "")
        .replace(",", ".")
    )
    if not cleaned:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _check_amount(value: Any, label: str, errors: list[str], *, positive: bool = False) -> None:
    if not isinstance(value, str):
        errors.append(
            f"{label} doit être écrit comme un montant décimal entre guillemets, par exemple « 15000.00 »."
        )
        return
    amount = parse_decimal(value)
    if amount is None:
        errors.append(f"{label} (« {value} ») n'est pas un montant.")
    elif amount < 0 or (positive and amount == 0):
        errors.append(
            f"{label} doit être {'strictement positif' if positive else 'positif ou nul'}."
        )
    elif amount != amount.quantize(CENT, rounding=ROUND_HALF_UP):
        errors.append(f"{label} (« {value} ») a plus de deux décimales : arrondissez au centime.")
    elif amount > MAX_AMOUNT:
        errors.append(f"{label} dépasse le montant maximal accepté ({format_eur(MAX_AMOUNT)}).")


def validate_schedule(schedule: Any) -> list[str]:
    """Every problem of a ceiling schedule, in French (an empty list: the schedule is valid)."""
    if not isinstance(schedule, dict) or not schedule:
        return [
            "Le barème des plafonds est vide : indiquez au moins la base et la méthode de calcul."
        ]
    errors: list[str] = []
    unknown = sorted(set(schedule) - SCHEDULE_KEYS)
    if unknown:
        errors.append(
            f"Élément(s) inconnu(s) dans le barème : {', '.join(unknown)}. "
            f"Éléments possibles : {', '.join(sorted(SCHEDULE_KEYS))}."
        )
    basis = schedule.get("basis")
    if basis not in BASES:
        errors.append(
            "Choisissez la base de calcul du plafond : "
            + ", ".join(f"« {label.lower()} »" for label, _u, _r in BASES.values())
            + "."
        )
    method = schedule.get("method")
    if method not in METHODS:
        errors.append("Choisissez la méthode de calcul : barème par tranches ou taux.")
    brackets = schedule.get("brackets")
    rate = schedule.get("rate")
    if method == "brackets":
        if rate not in (None, ""):
            errors.append(
                "Le taux ne s'utilise qu'avec la méthode « taux » : retirez-le ou changez de méthode."
            )
        _validate_brackets(brackets, errors)
    elif method == "rate":
        if brackets:
            errors.append(
                "Les tranches ne s'utilisent qu'avec la méthode « barème par tranches » : retirez-les."
            )
        if rate in (None, ""):
            errors.append(
                "Indiquez le taux, par exemple « 0.0015 » pour 0,15 % du budget d'exploitation."
            )
        elif not isinstance(rate, str) or parse_decimal(rate) is None:
            errors.append(
                f"Le taux (« {rate} ») doit être un nombre décimal, par exemple « 0.0015 »."
            )
        elif parse_decimal(rate) <= 0:
            errors.append("Le taux doit être strictement positif.")
    floor, cap = schedule.get("floor"), schedule.get("cap")
    if floor not in (None, ""):
        _check_amount(floor, "Le plancher", errors)
    if cap not in (None, ""):
        _check_amount(cap, "Le plafond maximal", errors, positive=True)
    if (
        not errors
        and floor not in (None, "")
        and cap not in (None, "")
        and parse_decimal(floor) > parse_decimal(cap)
    ):
        errors.append(
            f"Le plancher ({format_eur(parse_decimal(floor))}) dépasse le plafond maximal "
            f"({format_eur(parse_decimal(cap))})."
        )
    return errors


def _validate_brackets(brackets: Any, errors: list[str]) -> None:
    if not isinstance(brackets, list) or not brackets:
        errors.append("Indiquez au moins une tranche (la dernière sans limite haute).")
        return
    previous: Decimal | None = None
    for index, bracket in enumerate(brackets, start=1):
        label = f"Tranche {index}"
        if not isinstance(bracket, dict) or set(bracket) - {"up_to", "amount"}:
            errors.append(
                f"{label} : une tranche a une limite haute (« up_to ») et un montant (« amount »)."
            )
            continue
        _check_amount(bracket.get("amount"), f"{label} : le montant", errors)
        up_to = bracket.get("up_to")
        last = index == len(brackets)
        if up_to is None:
            if not last:
                errors.append(f"{label} : seule la dernière tranche peut être sans limite haute.")
            continue
        bound = None if isinstance(up_to, bool) else parse_decimal(up_to)
        if bound is None:
            errors.append(f"{label} : la limite haute (« {up_to} ») n'est pas un nombre.")
            continue
        if bound <= 0:
            errors.append(f"{label} : la limite haute doit être strictement positive.")
        if previous is not None and bound <= previous:
            errors.append(
                f"{label} : la limite haute ({format_number(bound)}) doit être supérieure à celle "
                f"de la tranche précédente ({format_number(previous)})."
            )
        previous = bound
        if last:
            errors.append(
                f"{label} : la dernière tranche ne doit pas avoir de limite haute, pour que tout "
                "établissement trouve sa tranche."
            )


@dataclass(frozen=True)
class Schedule:
    """A validated schedule, with decimals."""

    basis: str
    method: str
    brackets: tuple[tuple[Decimal | None, Decimal], ...] = ()
    rate: Decimal | None = None
    floor: Decimal | None = None
    cap: Decimal | None = None

    @classmethod
    def from_data(cls, data: dict) -> Schedule:
        def amount(key):
            value = data.get(key)
            return None if value in (None, "") else parse_decimal(value)

        return cls(
            basis=data["basis"],
            method=data["method"],
            brackets=tuple(
                (
                    None if b.get("up_to") is None else parse_decimal(b["up_to"]),
                    parse_decimal(b["amount"]),
                )
                for b in data.get("brackets") or ()
            )
            if data["method"] == "brackets"
            else (),
            rate=amount("rate") if data["method"] == "rate" else None,
            floor=amount("floor"),
            cap=amount("cap"),
        )

    @property
    def basis_label(self) -> str:
        return BASES[self.basis][0]

    def describe(self) -> list[str]:
        """The schedule in words, one sentence per rule, for the call page."""
        label = self.basis_label.lower()
        lines = [f"Base de calcul : {label} de chaque établissement."]
        if self.method == "brackets":
            lower = None
            for upper, amount in self.brackets:
                lines.append(
                    f"{_sentence(_bracket_label(lower, upper, self.basis))} : {format_eur(amount)}"
                )
                lower = upper
        else:
            lines.append(
                f"Montant : {label} × {_format_rate(self.rate, self.basis)}, arrondi au centime."
            )
        if self.floor is not None:
            lines.append(f"Plancher par établissement : {format_eur(self.floor)}")
        if self.cap is not None:
            lines.append(f"Plafond maximal par établissement : {format_eur(self.cap)}")
        return lines


def schedule_of(call) -> Schedule | None:
    """The call's schedule, or None when it is missing or invalid (never a guessed one)."""
    if validate_schedule(call.ceiling_schedule):
        return None
    return Schedule.from_data(call.ceiling_schedule)


# --- Computation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CeilingResult:
    amount: Decimal
    steps: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.missing


@dataclass(frozen=True)
class EstablishmentRow:
    """What the computation needs of an establishment (read in one query for a whole region)."""

    pk: int
    name: str
    finess: str
    category_id: int | None
    category_code: str
    category_label: str
    ght_id: int | None
    legal_entity_id: int | None
    legal_entity_ght_id: int | None
    figures: dict[str, Decimal | None]

    @property
    def effective_ght_id(self) -> int | None:
        """Its GHT: its own membership, else its legal entity's."""
        return self.ght_id or self.legal_entity_ght_id

    @property
    def label(self) -> str:
        return f"{self.name} (FINESS {self.finess})" if self.finess else self.name


NO_SCHEDULE = "Le barème des plafonds de l'appel est absent ou invalide : corrigez-le pour calculer les plafonds."


def establishment_ceiling(schedule: Schedule, row: EstablishmentRow) -> CeilingResult:
    """One establishment's ceiling from its own figure, floor and cap applied."""
    label = schedule.basis_label
    figure = row.figures.get(schedule.basis)
    if figure is None:
        return CeilingResult(
            ZERO,
            [f"{label} non renseigné : plafond non calculable, compté 0,00{NBSP}€"],
            [f"{row.label} : {label.lower()} non renseigné dans l'annuaire"],
        )
    figure = Decimal(figure)
    steps = []
    if schedule.method == "brackets":
        lower = None
        amount = ZERO
        for upper, bracket_amount in schedule.brackets:
            if upper is None or figure <= upper:
                amount = bracket_amount.quantize(CENT, rounding=ROUND_HALF_UP)
                steps.append(
                    f"{_figure_phrase(figure, schedule.basis)} → "
                    f"{_bracket_label(lower, upper, schedule.basis)} : {format_eur(amount)}"
                )
                break
            lower = upper
    else:
        amount = (figure * schedule.rate).quantize(CENT, rounding=ROUND_HALF_UP)
        steps.append(
            f"{_figure_phrase(figure, schedule.basis)} × "
            f"{_format_rate(schedule.rate, schedule.basis)} = {format_eur(amount)}"
        )
    if schedule.floor is not None and amount < schedule.floor:
        amount = schedule.floor
        steps.append(f"plancher {format_eur(schedule.floor)} appliqué")
    if schedule.cap is not None and amount > schedule.cap:
        amount = schedule.cap
        steps.append(f"plafond {format_eur(schedule.cap)} appliqué")
    return CeilingResult(amount, steps, [])


def combined_ceiling(schedule: Schedule | None, rows: Iterable[EstablishmentRow]) -> CeilingResult:
    """The sum of the establishments' ceilings, with each one's computation."""
    rows = list(rows)
    if schedule is None:
        return CeilingResult(ZERO, [], [NO_SCHEDULE])
    if not rows:
        return CeilingResult(ZERO, ["Aucun établissement éligible couvert : plafond nul."], [])
    if len(rows) == 1:
        single = establishment_ceiling(schedule, rows[0])
        return CeilingResult(
            single.amount, [f"{rows[0].label} : {', '.join(single.steps)}"], single.missing
        )
    total = ZERO
    steps: list[str] = []
    missing: list[str] = []
    for row in rows:
        result = establishment_ceiling(schedule, row)
        total += result.amount
        steps.append(f"{row.label} : {', '.join(result.steps)}")
        missing += result.missing
    steps.append(f"Somme sur {len(rows)} établissements : {format_eur(total)}")
    return CeilingResult(total, steps, missing)


# --- Reading the region -------------------------------------------------------------------------


def _figure_fields() -> list[str]:
    return list(BASES)


def _rows(qs) -> list[EstablishmentRow]:
    figures = _figure_fields()
    values = qs.order_by("name", "pk").values(
        "pk",
        "name",
        "finess",
        "category_id",
        "category__code",
        "category__label",
        "ght_id",
        "legal_entity_id",
        "legal_entity__ght_id",
        *figures,
    )
    return [
        EstablishmentRow(
            pk=v["pk"],
            name=v["name"],
            finess=v["finess"] or "",
            category_id=v["category_id"],
            category_code=v["category__code"] or "",
            category_label=v["category__label"] or "",
            ght_id=v["ght_id"],
            legal_entity_id=v["legal_entity_id"],
            legal_entity_ght_id=v["legal_entity__ght_id"],
            figures={name: v[name] for name in figures},
        )
        for v in values
    ]


def load_rows(
    call, extra: Q | None = None, *, eligible_only: bool = True
) -> list[EstablishmentRow]:
    """The call region's active establishments (eligible ones only, unless told otherwise), in
    one query. `extra` narrows them (e.g. to one GHT's members)."""
    from rempart.organisations.models import Organisation

    qs = Organisation.objects.filter(
        kind=OrgKind.ESTABLISHMENT, region_id=call.region_id, is_active=True
    )
    if extra is not None:
        qs = qs.filter(extra)
    eligible = eligible_category_ids(call)
    if eligible_only and eligible:
        qs = qs.filter(category_id__in=eligible)
    return _rows(qs)


def rows_by_ids(ids: Iterable[int]) -> list[EstablishmentRow]:
    """Given establishments, in one query (for the hints of the calls list)."""
    from rempart.organisations.models import Organisation

    ids = list(ids)
    if not ids:
        return []
    return _rows(Organisation.objects.filter(kind=OrgKind.ESTABLISHMENT, pk__in=ids))


def eligible_category_ids(call) -> set[int]:
    """The call's eligible categories (empty: every category). Uses the prefetch when there is one."""
    cache = getattr(call, "_prefetched_objects_cache", {})
    if "eligible_categories" in cache:
        return {c.pk for c in cache["eligible_categories"]}
    if not hasattr(call, "_eligible_ids"):
        call._eligible_ids = set(call.eligible_categories.values_list("pk", flat=True))
    return call._eligible_ids


def applicant_key(call, row: EstablishmentRow) -> tuple[str, int]:
    """Who applies for this establishment: ("ght" | "legal_entity" | "establishment", id)."""
    if call.applicant_rule == ApplicantRule.ESTABLISHMENT:
        return (OrgKind.ESTABLISHMENT, row.pk)
    if row.effective_ght_id:
        return (OrgKind.GHT, row.effective_ght_id)
    if row.legal_entity_id:
        return (OrgKind.LEGAL_ENTITY, row.legal_entity_id)
    return (OrgKind.ESTABLISHMENT, row.pk)


@dataclass
class Applicant:
    """An applicant of a call, the establishments its file covers and its ceiling."""

    organisation_id: int
    kind: str
    name: str
    finess: str
    establishments: list[EstablishmentRow]
    ceiling: CeilingResult
    overridden: bool = False

    @property
    def kind_label(self) -> str:
        return {
            OrgKind.GHT: "GHT",
            OrgKind.LEGAL_ENTITY: "Entité juridique",
            OrgKind.ESTABLISHMENT: "Établissement",
        }[OrgKind(self.kind)]


def applicants_of(call) -> list[Applicant]:
    """Every applicant of the call with its ceiling, sorted by name: a fixed number of queries
    (eligible categories, the region's establishments, the applicants' names), whatever the
    size of the region."""
    from rempart.organisations.models import Organisation

    schedule = schedule_of(call)
    groups: dict[tuple[str, int], list[EstablishmentRow]] = {}
    for row in load_rows(call):
        groups.setdefault(applicant_key(call, row), []).append(row)
    names = {
        o["pk"]: o
        for o in Organisation.objects.filter(
            pk__in={pk for kind, pk in groups if kind != OrgKind.ESTABLISHMENT}
        ).values("pk", "name", "finess", "kind")
    }
    applicants = []
    for (kind, pk), rows in groups.items():
        if kind == OrgKind.ESTABLISHMENT:
            name, finess = rows[0].name, rows[0].finess
        else:
            org = names.get(pk)
            if org is None:  # pragma: no cover - a foreign key always points to a row
                continue
            name, finess = org["name"], org["finess"] or ""
        applicants.append(Applicant(pk, kind, name, finess, rows, combined_ceiling(schedule, rows)))
    applicants.sort(key=lambda a: (a.name.casefold(), a.organisation_id))
    return applicants


def _covered_filter(call, organisation) -> Q | None:
    """The establishments of the region an organisation's file covers (None: it applies for none)."""
    kind = organisation.kind
    if kind == OrgKind.ESTABLISHMENT:
        return Q(pk=organisation.pk)
    if call.applicant_rule == ApplicantRule.ESTABLISHMENT:
        # Each establishment applies; a group's ceiling is given for information, summed.
        if kind == OrgKind.GHT:
            return Q(ght_id=organisation.pk) | Q(
                ght__isnull=True, legal_entity__ght_id=organisation.pk
            )
        if kind == OrgKind.LEGAL_ENTITY:
            return Q(legal_entity_id=organisation.pk)
        return None
    if kind == OrgKind.GHT:
        return Q(ght_id=organisation.pk) | Q(ght__isnull=True, legal_entity__ght_id=organisation.pk)
    if kind == OrgKind.LEGAL_ENTITY:
        return Q(legal_entity_id=organisation.pk, ght__isnull=True, legal_entity__ght__isnull=True)
    return None


def covered_rows(call, organisation) -> tuple[list[EstablishmentRow], list[EstablishmentRow]]:
    """(eligible establishments an organisation's file covers, those excluded by category)."""
    covered = _covered_filter(call, organisation)
    if covered is None:
        return [], []
    rows = load_rows(call, covered, eligible_only=False)
    eligible = eligible_category_ids(call)
    kept = [row for row in rows if not eligible or row.category_id in eligible]
    excluded = [row for row in rows if eligible and row.category_id not in eligible]
    return kept, excluded


def ceiling_for(call, organisation) -> CeilingResult:
    """The ceiling of one organisation for the call, with its computation (two queries)."""
    if _covered_filter(call, organisation) is None:
        return CeilingResult(
            ZERO,
            [],
            [
                f"{organisation.name} ne candidate pas aux appels à financement (type d'organisation)."
            ],
        )
    kept, excluded_rows = covered_rows(call, organisation)
    if organisation.kind == OrgKind.ESTABLISHMENT and not (kept or excluded_rows):
        return CeilingResult(
            ZERO,
            [],
            [f"{organisation.name} n'est pas un établissement actif de la région de l'appel."],
        )
    excluded = [
        f"{row.label} : catégorie « {row.category_label or 'non renseignée'} » non éligible à cet appel"
        for row in excluded_rows
    ]
    result = combined_ceiling(schedule_of(call), kept)
    return CeilingResult(result.amount, excluded + result.steps, result.missing)


# --- The regional envelope ----------------------------------------------------------------------


@dataclass(frozen=True)
class EnvelopeSummary:
    envelope: Decimal
    potential: Decimal
    applicants: int
    establishments: int
    incomplete: int  # applicants whose ceiling lacks a figure
    engaged: Decimal = ZERO
    accepted: int = 0  # files accepted (their amounts make up `engaged`)
    schedule_valid: bool = True

    @property
    def potential_percent(self) -> Decimal | None:
        """The potential as a share of the envelope (None for an empty envelope)."""
        if not self.envelope:
            return None
        return (self.potential * 100 / self.envelope).quantize(
            Decimal("0.1"), rounding=ROUND_HALF_UP
        )

    @property
    def engaged_percent(self) -> Decimal | None:
        if not self.envelope:
            return None
        return (self.engaged * 100 / self.envelope).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    @property
    def remaining(self) -> Decimal:
        return self.envelope - self.engaged

    @property
    def potential_exceeds_envelope(self) -> bool:
        return self.potential > self.envelope

    @property
    def bar_max(self) -> Decimal:
        """The scale of the bars: the larger of the envelope and the potential."""
        return max(self.envelope, self.potential)


def apply_overrides(call, applicants: list[Applicant]) -> list[Applicant]:
    """Replace computed ceilings by the ARS's own figures where it set one (one query)."""
    from .models import CeilingOverride

    overrides = dict(
        CeilingOverride.objects.filter(call=call).values_list("applicant_id", "amount_eur")
    )
    for applicant in applicants:
        amount = overrides.get(applicant.organisation_id)
        if amount is not None:
            applicant.ceiling = CeilingResult(
                amount,
                [
                    *applicant.ceiling.steps,
                    f"Plafond calculé : {format_eur(applicant.ceiling.amount)} ; "
                    f"plafond retenu par l'ARS : {format_eur(amount)}.",
                ],
                [],
            )
            applicant.overridden = True
    return applicants


def envelope_summary(call, applicants: list[Applicant] | None = None) -> EnvelopeSummary:
    """Envelope vs potential (the sum of every applicant's ceiling, the ARS's figure where it
    set one) vs engaged (the amounts of the accepted files)."""
    from django.db.models import Count, Sum

    from .models import Application, ApplicationStatus

    if applicants is None:
        applicants = apply_overrides(call, applicants_of(call))
    accepted = Application.objects.filter(call=call, status=ApplicationStatus.ACCEPTED).aggregate(
        total=Sum("engaged_eur"), count=Count("pk")
    )
    return EnvelopeSummary(
        envelope=call.envelope_eur,
        potential=sum((a.ceiling.amount for a in applicants), ZERO),
        applicants=len(applicants),
        establishments=sum(len(a.establishments) for a in applicants),
        incomplete=sum(1 for a in applicants if a.ceiling.missing),
        schedule_valid=schedule_of(call) is not None,
        engaged=to_cent(accepted["total"]),
        accepted=accepted["count"],
    )
