"""The demo region's funding calls: domain 1 closed, domain 2 open for applications.

Called by `seed_demo` after the organisations. Idempotent: a second run changes nothing (the
domain 2 dates move only when its application window is no longer open on the day of the run,
so that the demo always shows a call open for applications).

Figures: the D1 arrêté (18 March 2024, 65 M€), the end of its operational phase (30 June 2025),
its payment window closing (25 October 2025), the regional envelope (8.1 M€), the floor
(15,000 €) and the largest ceiling (623,026.24 €) come from the seeds; the D1 application dates,
the payment window opening, the brackets between floor and cap, the D2 regional envelope and
the D2 rate are illustrative (the official schedules are not public here).
"""

from __future__ import annotations

import datetime
import importlib
from decimal import Decimal

from django.db import transaction

from rempart.core.errors import DomainError
from rempart.core.roles import OrgKind, Role
from rempart.organisations.models import FinessCategory, Membership, Region, Sector

from .ceilings import validate_schedule
from .models import ApplicantRule, Call, Domain
from .windows import check_order, paris_today

# Brackets chosen so that the demo region's potential (about 8.3 M€) is close to its envelope.
D1_SCHEDULE = {
    "basis": "operating_budget_eur",
    "method": "brackets",
    "brackets": [
        {"up_to": 20_000_000, "amount": "15000.00"},
        {"up_to": 60_000_000, "amount": "25000.00"},
        {"up_to": 120_000_000, "amount": "45000.00"},
        {"up_to": 250_000_000, "amount": "90000.00"},
        {"up_to": 400_000_000, "amount": "180000.00"},
        {"up_to": None, "amount": "623026.24"},
    ],
    "floor": "15000.00",
    "cap": "623026.24",
}
D2_SCHEDULE = {
    "basis": "operating_budget_eur",
    "method": "rate",
    "rate": "0.0008",
    "floor": "15000.00",
    "cap": "400000.00",
}


def _d1_values() -> dict:
    return {
        "legal_reference": "Arrêté du 18 mars 2024",
        "national_amount_eur": Decimal("65000000.00"),
        "envelope_eur": Decimal("8100000.00"),
        "applicant_rule": ApplicantRule.GHT_OR_LEGAL_ENTITY,
        "application_opens_on": datetime.date(2024, 4, 2),
        "application_closes_on": datetime.date(2024, 9, 30),
        "declaration_deadline": datetime.date(2025, 6, 30),
        "payment_opens_on": datetime.date(2025, 7, 1),
        "payment_closes_on": datetime.date(2025, 10, 25),
        "ceiling_schedule": D1_SCHEDULE,
    }


def _d2_dates(today: datetime.date) -> dict:
    # Relative to the day of the run, so that applications are open whenever the demo is
    # seeded: opened 30 days ago, closing in 60 days; declarations for eight months after
    # that, then a four-month payment window.
    closes = today + datetime.timedelta(days=60)
    deadline = closes + datetime.timedelta(days=243)
    return {
        "application_opens_on": today - datetime.timedelta(days=30),
        "application_closes_on": closes,
        "declaration_deadline": deadline,
        "payment_opens_on": deadline + datetime.timedelta(days=1),
        "payment_closes_on": deadline + datetime.timedelta(days=120),
    }


def _d2_values(today: datetime.date) -> dict:
    return {
        "legal_reference": "Arrêté du 3 juillet 2025",
        "national_amount_eur": Decimal("45000000.00"),
        "envelope_eur": Decimal("5600000.00"),
        "applicant_rule": ApplicantRule.GHT_OR_LEGAL_ENTITY,
        **_d2_dates(today),
        "ceiling_schedule": D2_SCHEDULE,
    }


def _domains() -> tuple[dict[str, Domain], str | None]:
    """D1 and D2, loading the reference data when they are missing."""
    found = {d.code: d for d in Domain.objects.filter(code__in=["D1", "D2"])}
    if len(found) == 2:
        return found, None
    try:
        reference_data = importlib.import_module("rempart.programme.reference_data")
    except ImportError:
        return found, (
            "Domaines CaRE D1 et D2 absents et module des données de référence indisponible : "
            "appels de démonstration non créés."
        )
    try:
        reference_data.load_domains()
    except DomainError as exc:
        return found, f"Chargement des domaines CaRE impossible ({exc.message}) : appels non créés."
    found = {d.code: d for d in Domain.objects.filter(code__in=["D1", "D2"])}
    if len(found) != 2:
        return found, "Les données de référence ne contiennent pas D1 et D2 : appels non créés."
    return found, None


def _check(values: dict) -> None:
    problems = [m for _f, m in check_order(values)] + validate_schedule(values["ceiling_schedule"])
    if problems:  # pragma: no cover - the values above are fixed
        raise ValueError("Appel de démonstration incohérent : " + " ".join(problems))


def _sync(call: Call, values: dict) -> bool:
    changed = [name for name, value in values.items() if getattr(call, name) != value]
    for name in changed:
        setattr(call, name, values[name])
    if changed:
        call.save(update_fields=[*changed, "updated_at"])
    return bool(changed)


def seed_programme_demo(region: Region, *, today: datetime.date | None = None) -> list[str]:
    """Create or update the demo calls of `region`; return what was done, in French."""
    today = today or paris_today()
    domains, problem = _domains()
    if problem:
        return [problem]
    manager = (
        Membership.objects.active()
        .filter(
            role=Role.ARS_MANAGER,
            organisation__kind=OrgKind.ARS,
            organisation__region=region,
        )
        .select_related("user")
        .order_by("pk")
        .first()
    )
    # CaRE opens to medico-social structures later: both demo calls target health establishments.
    health = list(FinessCategory.objects.filter(sector=Sector.HEALTH, imported=True))
    report = []
    with transaction.atomic():
        for code, values in (("D1", _d1_values()), ("D2", _d2_values(today))):
            domain = domains[code]
            existing = Call.objects.filter(
                region=region, domain=domain, legal_reference=values["legal_reference"]
            ).first()
            if (
                existing is not None
                and code == "D2"
                and existing.application_opens_on <= today <= existing.application_closes_on
            ):
                # Still open for applications: keep its dates.
                values.update({name: getattr(existing, name) for name in _d2_dates(today)})
            _check(values)
            title = f"CaRE {domain.code} — {domain.title}"
            if existing is None:
                call = Call.objects.create(
                    region=region,
                    domain=domain,
                    title=title,
                    created_by=manager.user if manager else None,
                    **values,
                )
                call.eligible_categories.set(health)
                report.append(f"Appel {code} créé : {title}.")
                continue
            changed = _sync(existing, {"title": title, **values})
            current = set(existing.eligible_categories.values_list("pk", flat=True))
            if current != {c.pk for c in health}:
                existing.eligible_categories.set(health)
                changed = True
            report.append(f"Appel {code} {'mis à jour' if changed else 'inchangé'} : {title}.")
    return report
