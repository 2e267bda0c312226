"""The demo region's files: the D1 call closed with its whole cycle, the D2 call open.

* D1 (closed): 137 of the region's 161 possible applicants filed (every GHT and most legal
  entities outside a GHT; the 24 smallest single-establishment entities did not), 133 accepted
  and 4 rejected; each accepted file declared its three targets with proofs (ADS and SILENE
  levels recorded as platform measurements, the convergence plan as a document), most
  validated, a few refused; payments requested and paid for the files whose targets are all
  validated; financial reports filed, some with an over-compensation to recover.
* D2 (open): about twenty files in progress (drafts, submitted, under review, one sent back
  for a complement), never for the organisations of the demo accounts, which can walk the
  cycle themselves.

Everything is written directly (bulk inserts, dates in the past) rather than through the
services, whose windows would refuse a past cycle. Amounts, levels, dates and names are
illustrative, generated from a fixed seed: a second run changes nothing.
"""

from __future__ import annotations

import datetime
import hashlib
import random
from decimal import ROUND_HALF_UP, Decimal

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from rempart.core.roles import OrgKind, Role
from rempart.organisations.models import Membership, Region

from .ceilings import ZERO, applicants_of, apply_overrides
from .models import (
    Application,
    ApplicationEvent,
    ApplicationStatus,
    BudgetLine,
    Call,
    CostLine,
    DeclarationProof,
    DeclarationStatus,
    EventKind,
    FinancialReport,
    Measurement,
    PaymentRequest,
    PaymentStatus,
    PlatformMeasurement,
    PrerequisiteAnswer,
    ProofKind,
    ReportStatus,
    Requirement,
    RequirementKind,
    TargetDeclaration,
)

SEED = 2024
D1_FILES = 137
D1_REJECTED = 4
D1_ENGAGED_TARGET = Decimal("7700000.00")
D2_FILES = 20
CENT = Decimal("0.01")
TZ = datetime.timezone(datetime.timedelta(hours=2))
ADS_SOURCE = "ANSSI — service ADS (collecteur ORADAD), rapport reçu par l'établissement"
SILENE_SOURCE = "ANSSI — service SILENE, deux audits successifs"
PDF_TEMPLATE = (
    "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    "2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    "% {title}\ntrailer << /Root 1 0 R >>\n%%EOF\n"
)


def _moment(day: datetime.date, rng: random.Random) -> datetime.datetime:
    return datetime.datetime.combine(
        day, datetime.time(rng.randint(8, 18), rng.randint(0, 59)), tzinfo=TZ
    )


def _between(rng: random.Random, first: datetime.date, last: datetime.date) -> datetime.date:
    return first + datetime.timedelta(days=rng.randint(0, (last - first).days))


def _pdf(title: str) -> ContentFile:
    return ContentFile(PDF_TEMPLATE.format(title=title).encode())


def _people(region: Region) -> dict[str, object]:
    """The region's ARS manager and, per organisation, one person who applies."""
    memberships = (
        Membership.objects.active()
        .filter(organisation__region=region)
        .select_related("user", "organisation")
        .order_by("pk")
    )
    manager, appliers = None, {}
    for membership in memberships:
        if membership.role == Role.ARS_MANAGER and manager is None:
            manager = membership.user
        if membership.role in (Role.DIRECTOR, Role.RSSI, Role.DSI, Role.GHT_COORDINATOR):
            appliers.setdefault(membership.organisation_id, membership.user)
    return {"manager": manager, "appliers": appliers}


def _demo_account_organisations(region: Region) -> set[int]:
    return set(
        Membership.objects.filter(
            organisation__region=region, user__email__endswith="@demo.rempart.fr"
        ).values_list("organisation_id", flat=True)
    )


def _save_events(events: list[ApplicationEvent]) -> None:
    """Insert the history; `at` is stamped on insert (auto_now_add), so put back the dates."""
    dates = [event.at for event in events]
    created = ApplicationEvent.objects.bulk_create(events)
    for event, at in zip(created, dates, strict=True):
        event.at = at
    ApplicationEvent.objects.bulk_update(created, ["at"], batch_size=500)


def _split_budget(rng: random.Random, total: Decimal) -> list[tuple[str, Decimal, str]]:
    """A forecast budget over two to four eligible categories, summing to `total`."""
    labels = {
        "conseil": "Accompagnement par un prestataire",
        "audits": "Audits techniques",
        "outils": "Outils logiciels",
        "formation": "Formation des équipes",
        "pca_pra": "Rédaction et test des plans",
        "exercices": "Exercice de crise",
    }
    categories = rng.sample(list(labels), rng.randint(2, 4))
    weights = [rng.randint(1, 5) for _ in categories]
    lines, left = [], total
    for index, category in enumerate(categories):
        if index == len(categories) - 1:
            amount = left
        else:
            amount = (total * weights[index] / sum(weights)).quantize(CENT, ROUND_HALF_UP)
            left -= amount
        lines.append((category, amount, labels[category]))
    return lines


def _applicant_pool(call: Call) -> list:
    return sorted(
        apply_overrides(call, applicants_of(call)),
        key=lambda a: (a.kind != OrgKind.GHT, -len(a.establishments), a.organisation_id),
    )


def _create_file(call, applicant, status, submitted_at, rng, author) -> Application:
    own = Decimal(rng.choice([0, 0, 5, 10, 20])) / 100
    ceiling = applicant.ceiling.amount
    file = Application.objects.create(
        call=call,
        applicant_id=applicant.organisation_id,
        status=status,
        maturity_level=rng.randint(1, 4),
        maturity_summary=(
            "Diagnostic réalisé avec le CRRC : cartographie du SI partielle, annuaire "
            "hétérogène entre établissements, exposition sur internet non suivie."
        ),
        project_objectives=(
            "Atteindre les cibles du domaine pour tous les établissements couverts, avec un "
            "pilotage commun."
        ),
        project_schedule="Comité de pilotage mensuel, revue trimestrielle avec le CRRC.",
        project_lead=f"Chef de projet — {applicant.name}"[:255],
        requested_eur=ceiling,
        own_funding_eur=(ceiling * own).quantize(CENT, ROUND_HALF_UP),
        commitment_signatory=f"Directeur — {applicant.name}"[:255],
        commitment_signed_on=(submitted_at - datetime.timedelta(days=rng.randint(3, 20))).date()
        if submitted_at
        else None,
        ceiling_eur=ceiling if submitted_at else None,
        ceiling_steps=applicant.ceiling.steps if submitted_at else [],
        submitted_at=submitted_at,
        created_by=author,
    )
    file.covered_establishments.set([row.pk for row in applicant.establishments])
    return file


def _seed_d1(call: Call, people: dict, rng: random.Random) -> str:
    pool = _applicant_pool(call)
    # The smallest entities (one establishment, lowest ceiling) did not apply.
    non_applicants = sorted(
        (a for a in pool if a.kind != OrgKind.GHT and len(a.establishments) == 1),
        key=lambda a: (a.ceiling.amount, a.organisation_id),
    )[: max(0, len(pool) - D1_FILES)]
    skipped = {a.organisation_id for a in non_applicants}
    filers = [a for a in pool if a.organisation_id not in skipped]
    rejected = {a.organisation_id for a in rng.sample(filers[13:], D1_REJECTED)}
    accepted = [a for a in filers if a.organisation_id not in rejected]
    total = sum((a.ceiling.amount for a in accepted), ZERO)
    factor = min(Decimal(1), D1_ENGAGED_TARGET / total) if total else Decimal(1)
    manager, appliers = people["manager"], people["appliers"]
    targets = list(
        Requirement.objects.filter(domain_id=call.domain_id, kind=RequirementKind.TARGET)
    )
    prerequisites = list(
        Requirement.objects.filter(domain_id=call.domain_id, kind=RequirementKind.PREREQUISITE)
    )
    events, counts = [], {"accepted": 0, "rejected": 0, "paid": 0, "reports": 0}
    for applicant in filers:
        author = appliers.get(applicant.organisation_id)
        submitted = _moment(
            _between(rng, datetime.date(2024, 4, 15), call.application_closes_on), rng
        )
        is_rejected = applicant.organisation_id in rejected
        file = _create_file(
            call,
            applicant,
            ApplicationStatus.REJECTED if is_rejected else ApplicationStatus.SUBMITTED,
            submitted,
            rng,
            author,
        )
        requested = (applicant.ceiling.amount * factor).quantize(CENT, ROUND_HALF_UP)
        requested = max(min(requested, applicant.ceiling.amount), Decimal("15000.00"))
        requested = min(requested, applicant.ceiling.amount)
        file.requested_eur = requested
        BudgetLine.objects.bulk_create(
            BudgetLine(application=file, category=c, amount_eur=a, description=d)
            for c, a, d in _split_budget(rng, requested + file.own_funding_eur)
        )
        PrerequisiteAnswer.objects.bulk_create(
            PrerequisiteAnswer(
                application=file, requirement=r, met=True, comment="Voir le diagnostic joint."
            )
            for r in prerequisites
        )
        decided = _moment(
            _between(rng, datetime.date(2024, 10, 7), datetime.date(2024, 11, 29)), rng
        )
        events += [
            ApplicationEvent(
                application=file,
                kind=EventKind.CREATED,
                actor=author,
                at=submitted - datetime.timedelta(days=rng.randint(10, 60)),
            ),
            ApplicationEvent(
                application=file, kind=EventKind.SUBMITTED, actor=author, at=submitted
            ),
            ApplicationEvent(
                application=file,
                kind=EventKind.REVIEW_STARTED,
                actor=manager,
                at=decided - datetime.timedelta(days=rng.randint(3, 15)),
            ),
        ]
        file.decided_at, file.decided_by = decided, manager
        if is_rejected:
            file.decision_reason = (
                "Prérequis non démontrés : l'état des lieux de sécurité joint date de plus de "
                "trois ans et aucun référent SSI n'est désigné."
            )
            file.save()
            events.append(
                ApplicationEvent(
                    application=file,
                    kind=EventKind.REJECTED,
                    actor=manager,
                    at=decided,
                    message=file.decision_reason,
                )
            )
            counts["rejected"] += 1
            continue
        file.status, file.engaged_eur = ApplicationStatus.ACCEPTED, requested
        file.save()
        events.append(
            ApplicationEvent(
                application=file,
                kind=EventKind.ACCEPTED,
                actor=manager,
                at=decided,
                message=f"Montant engagé : {requested} €.",
            )
        )
        counts["accepted"] += 1
        all_validated = _declare_d1(file, applicant, targets, manager, author, rng, events)
        if all_validated:
            _pay_and_report(file, manager, author, rng, events, counts)
    _save_events(events)
    return (
        f"Appel D1 : {len(filers)} dossiers déposés couvrant "
        f"{sum(len(a.establishments) for a in filers)} établissements, {counts['accepted']} "
        f"acceptés, {counts['rejected']} rejetés, {counts['paid']} payés, {counts['reports']} "
        "bilans financiers."
    )


def _declare_d1(file, applicant, targets, manager, author, rng, events) -> bool:
    declared_day = _between(rng, datetime.date(2025, 3, 1), datetime.date(2025, 6, 27))
    reviewed_day = _between(rng, datetime.date(2025, 7, 1), datetime.date(2025, 7, 25))
    outcome = rng.random()
    all_validated = True
    for index, target in enumerate(targets):
        if outcome < 0.04 and index == len(targets) - 1:
            all_validated = False  # never declared: partial attainment
            continue
        refused = outcome > 0.96 and index == 0
        declaration = TargetDeclaration.objects.create(
            application=file,
            requirement=target,
            status=DeclarationStatus.REFUSED if refused else DeclarationStatus.VALIDATED,
            statement="Cible atteinte pour l'ensemble des établissements couverts.",
            declared_by=author,
            declared_at=_moment(declared_day, rng),
            reviewed_by=manager,
            reviewed_at=_moment(reviewed_day, rng),
            review_comment=(
                "Niveau ADS insuffisant au regard du niveau attendu." if refused else ""
            ),
        )
        all_validated &= not refused
        events.append(
            ApplicationEvent(
                application=file,
                kind=EventKind.TARGET_DECLARED,
                actor=author,
                at=declaration.declared_at,
                message=target.identifier,
            )
        )
        events.append(
            ApplicationEvent(
                application=file,
                kind=EventKind.TARGET_REFUSED if refused else EventKind.TARGET_VALIDATED,
                actor=manager,
                at=declaration.reviewed_at,
                message=target.identifier,
            )
        )
        if target.measurement:
            level = rng.randint(1, 2) if refused else rng.randint(3, 5)
            is_ads = target.measurement == Measurement.DIRECTORY_AUDIT_LEVEL
            measurement = PlatformMeasurement.objects.create(
                organisation_id=applicant.organisation_id,
                kind=target.measurement,
                level=level,
                result=f"Niveau {level}" if is_ads else f"Niveau {level} au second audit",
                measured_on=declared_day - datetime.timedelta(days=rng.randint(5, 50)),
                source=ADS_SOURCE if is_ads else SILENE_SOURCE,
                recorded_by=author,
            )
            DeclarationProof.objects.create(
                declaration=declaration,
                kind=ProofKind.MEASUREMENT,
                measurement=measurement,
                measurement_snapshot={
                    "kind": measurement.kind,
                    "level": measurement.level,
                    "result": measurement.result,
                    "measured_on": measurement.measured_on.isoformat(),
                    "source": measurement.source,
                    "details": {},
                    "organisation_id": applicant.organisation_id,
                    "organisation": applicant.name,
                    "recorded_at": declaration.declared_at.isoformat(),
                },
                added_by=author,
            )
        else:
            content = _pdf(f"{target.identifier} — {applicant.name}")
            proof = DeclarationProof(
                declaration=declaration,
                kind=ProofKind.FILE,
                label="Plan de convergence des annuaires",
                original_name=f"plan-convergence-{applicant.organisation_id}.pdf",
                content_type="application/pdf",
                size=content.size,
                sha256=hashlib.sha256(content.read()).hexdigest(),
                added_by=author,
            )
            content.seek(0)
            proof.file.save(proof.original_name, content, save=False)
            proof.save()
    return all_validated


def _pay_and_report(file, manager, author, rng, events, counts) -> None:
    requested = _moment(_between(rng, datetime.date(2025, 7, 2), datetime.date(2025, 9, 30)), rng)
    paid_on = _between(
        rng, requested.date() + datetime.timedelta(days=10), datetime.date(2025, 10, 24)
    )
    PaymentRequest.objects.create(
        application=file,
        amount_eur=file.engaged_eur,
        status=PaymentStatus.PAID,
        bank_account_holder=file.applicant.name,
        requested_by=author,
        requested_at=requested,
        decided_by=manager,
        decided_at=_moment(paid_on - datetime.timedelta(days=7), rng),
        paid_eur=file.engaged_eur,
        paid_on=paid_on,
        payment_reference=f"CARE-D1-{file.pk:05d}",
    )
    counts["paid"] += 1
    events.append(
        ApplicationEvent(
            application=file, kind=EventKind.PAYMENT_REQUESTED, actor=author, at=requested
        )
    )
    events.append(
        ApplicationEvent(
            application=file,
            kind=EventKind.PAYMENT_STATUS,
            actor=manager,
            at=_moment(paid_on, rng),
            message="Payé",
        )
    )
    if rng.random() < 0.3:
        return  # report not filed yet
    # Costs: most spent at least what they received, some less (over-compensation).
    ratio = Decimal(rng.choice([100, 100, 104, 112, 87, 71])) / 100
    costs = (file.engaged_eur * ratio).quantize(CENT, ROUND_HALF_UP)
    report = FinancialReport.objects.create(application=file, filed_by=author)
    lines = _split_budget(rng, costs)
    CostLine.objects.bulk_create(
        CostLine(
            report=report,
            category=category,
            supplier=f"Prestataire {index + 1}",
            invoice_reference=f"F-{file.pk}-{index + 1}",
            invoice_date=_between(rng, datetime.date(2024, 5, 1), datetime.date(2025, 6, 30)),
            amount_eur=amount,
            description=description,
        )
        for index, (category, amount, description) in enumerate(lines)
    )
    due = min(costs, file.engaged_eur)
    paid = file.engaged_eur
    filed = _moment(_between(rng, datetime.date(2025, 11, 3), datetime.date(2026, 2, 27)), rng)
    report.filed_at = filed
    report.eligible_costs_eur = costs
    report.amount_due_eur = due
    report.paid_eur = paid
    report.to_recover_eur = max(ZERO, paid - due)
    report.balance_due_eur = max(ZERO, due - paid)
    report.reviewed_by = manager
    report.reviewed_at = filed + datetime.timedelta(days=rng.randint(10, 40))
    if report.to_recover_eur:
        recovered = rng.random() < 0.5
        report.status = ReportStatus.RECOVERED if recovered else ReportStatus.RECOVERY
        report.recovered_on = (
            (report.reviewed_at + datetime.timedelta(days=45)).date() if recovered else None
        )
        report.review_comment = f"Trop-perçu de {report.to_recover_eur} € à reverser."
    else:
        report.status = ReportStatus.ACCEPTED
    report.save()
    counts["reports"] += 1
    events.append(
        ApplicationEvent(application=file, kind=EventKind.REPORT_FILED, actor=author, at=filed)
    )
    events.append(
        ApplicationEvent(
            application=file, kind=EventKind.REPORT_REVIEWED, actor=manager, at=report.reviewed_at
        )
    )


def _seed_d2(call: Call, people: dict, rng: random.Random, region: Region, today) -> str:
    demo_orgs = _demo_account_organisations(region)
    pool = [
        a
        for a in _applicant_pool(call)
        if a.organisation_id not in demo_orgs
        and not any(
            row.pk in demo_orgs or row.legal_entity_id in demo_orgs for row in a.establishments
        )
    ]
    chosen = rng.sample(pool, min(D2_FILES, len(pool)))
    statuses = (
        [ApplicationStatus.DRAFT] * 10
        + [ApplicationStatus.SUBMITTED] * 6
        + [ApplicationStatus.UNDER_REVIEW] * 3
        + [ApplicationStatus.COMPLEMENT_REQUESTED]
    )
    manager, appliers = people["manager"], people["appliers"]
    prerequisites = list(
        Requirement.objects.filter(domain_id=call.domain_id, kind=RequirementKind.PREREQUISITE)
    )
    events = []
    for applicant, status in zip(chosen, statuses, strict=False):
        author = appliers.get(applicant.organisation_id)
        started = _between(rng, call.application_opens_on, today)
        submitted = (
            None
            if status == ApplicationStatus.DRAFT
            else _moment(_between(rng, started, today), rng)
        )
        file = _create_file(call, applicant, status, submitted, rng, author)
        if status == ApplicationStatus.DRAFT and rng.random() < 0.5:
            file.requested_eur = None
            file.save(update_fields=["requested_eur"])
        else:
            BudgetLine.objects.bulk_create(
                BudgetLine(application=file, category=c, amount_eur=a, description=d)
                for c, a, d in _split_budget(rng, file.requested_eur + file.own_funding_eur)
            )
        PrerequisiteAnswer.objects.bulk_create(
            PrerequisiteAnswer(
                application=file,
                requirement=r,
                met=status != ApplicationStatus.DRAFT or rng.random() < 0.5,
            )
            for r in prerequisites
        )
        events.append(
            ApplicationEvent(
                application=file, kind=EventKind.CREATED, actor=author, at=_moment(started, rng)
            )
        )
        if submitted:
            events.append(
                ApplicationEvent(
                    application=file, kind=EventKind.SUBMITTED, actor=author, at=submitted
                )
            )
        if status in (ApplicationStatus.UNDER_REVIEW, ApplicationStatus.COMPLEMENT_REQUESTED):
            events.append(
                ApplicationEvent(
                    application=file,
                    kind=EventKind.REVIEW_STARTED,
                    actor=manager,
                    at=submitted + datetime.timedelta(days=1),
                )
            )
        if status == ApplicationStatus.COMPLEMENT_REQUESTED:
            events.append(
                ApplicationEvent(
                    application=file,
                    kind=EventKind.COMPLEMENT_REQUESTED,
                    actor=manager,
                    at=submitted + datetime.timedelta(days=2),
                    message="Joindre la lettre d'engagement signée du directeur (la version déposée n'est pas signée).",
                )
            )
    _save_events(events)
    return f"Appel D2 : {len(chosen)} dossiers en cours (brouillons, déposés, en instruction)."


def seed_programme_files(region: Region, *, today: datetime.date | None = None) -> list[str]:
    """Files of the demo calls; a call that already has files is left alone."""
    today = today or timezone.localdate()
    report = []
    people = _people(region)
    calls = {c.domain.code: c for c in Call.objects.filter(region=region).select_related("domain")}
    for code, seed in (("D1", _seed_d1), ("D2", _seed_d2)):
        call = calls.get(code)
        if call is None:
            continue
        if Application.objects.filter(call=call).exists():
            report.append(f"Dossiers de l'appel {code} : inchangés.")
            continue
        rng = random.Random(f"{SEED}-{code}")  # noqa: S311 - reproducible demo data, not secrets
        with transaction.atomic():
            if code == "D1":
                report.append(seed(call, people, rng))
            else:
                report.append(seed(call, people, rng, region, today))
    return report
