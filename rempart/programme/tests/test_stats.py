"""The figures of a call (stats.call_statistics) and the region overview, checked against
examples computed by hand, to the cent."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rempart.core.roles import OrgKind, Role
from rempart.organisations.tests.factories import OrganisationFactory, RegionFactory, member
from rempart.programme import stats
from rempart.programme.models import (
    Attainment,
    DeclarationStatus,
    FinancialReport,
    PaymentRequest,
    PaymentStatus,
    ReportStatus,
    Requirement,
    RequirementKind,
    TargetDeclaration,
)

from .factories import CallFactory, DomainFactory, application, establishment, ght, legal_entity

pytestmark = pytest.mark.django_db

D = Decimal
UTC = datetime.UTC


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=UTC)


@pytest.fixture
def region():
    return RegionFactory(code="84", name="Auvergne-Rhône-Alpes")


@pytest.fixture
def domain():
    domain = DomainFactory(code="D1", title="Annuaires et exposition")
    Requirement.objects.create(
        domain=domain,
        kind=RequirementKind.PREREQUISITE,
        identifier="D1.P1",
        label="Référent SSI nommé",
        attainment=Attainment.DECLARED,
    )
    for position, identifier in enumerate(["D1.O1.A", "D1.O2.B", "D1.O6.B"]):
        Requirement.objects.create(
            domain=domain,
            kind=RequirementKind.TARGET,
            identifier=identifier,
            label=f"Cible {identifier}",
            attainment=Attainment.DECLARED,
            position=position,
        )
    return domain


@pytest.fixture
def call(region, domain):
    return CallFactory(region=region, domain=domain, envelope_eur=D("8100000.00"))


def targets(domain):
    return list(Requirement.objects.filter(domain=domain, kind=RequirementKind.TARGET))


def declare(app, requirement, status=DeclarationStatus.DECLARED, when=None):
    when = when or at(2026, 1, 10, 9)
    return TargetDeclaration.objects.create(
        application=app,
        requirement=requirement,
        status=status,
        declared_at=when,
        reviewed_at=None if status == DeclarationStatus.DECLARED else when,
    )


def applicants(region, count):
    return [legal_entity(region, f"Entité {i}") for i in range(count)]


# --- Pure arithmetic --------------------------------------------------------------------------


def test_amount_stats_of_five_ceilings_computed_by_hand():
    series = stats.AmountStats.of(
        [D("15000.00"), D("623026.24"), D("16100.11"), D("15000.00"), D("20000.50")]
    )
    assert series == stats.AmountStats(
        count=5,
        total=D("689126.85"),
        mean=D("137825.37"),
        median=D("16100.11"),
        minimum=D("15000.00"),
        maximum=D("623026.24"),
    )


def test_even_count_median_and_mean_round_half_up():
    series = stats.AmountStats.of([D("15000.00"), D("16100.11"), D("15000.00"), D("20000.50")])
    assert series.median == D("15550.06")  # (15 000,00 + 16 100,11) / 2 = 15 550,055
    assert series.mean == D("16525.15")  # 66 100,61 / 4 = 16 525,1525
    # 0,025 rounds up (banker's rounding would give 0,02).
    tiny = stats.AmountStats.of([D("0.02"), D("0.03")])
    assert (tiny.mean, tiny.median) == (D("0.03"), D("0.03"))


def test_empty_series_has_no_mean_nor_median():
    assert stats.AmountStats.of([]) == stats.AmountStats(0, D("0.00"), None, None, None, None)


def test_percent_and_short_amounts():
    assert stats.percent(D("7700000"), D("8100000")) == D("95.1")
    assert stats.percent(1, 0) is None
    assert stats.format_short_eur(D("7712345.00")) == "7,7\u00a0M€"
    assert stats.format_short_eur(D("15000.00")) == "15\u00a0000,00\u00a0€"


# --- One call ---------------------------------------------------------------------------------


def test_amounts_of_filed_and_accepted_files_to_the_cent(region, call):
    orgs = applicants(region, 7)
    ceilings = ["15000.00", "15000.00", "16100.11", "20000.50", "623026.24"]
    statuses = ["deposee", "en_instruction", "acceptee", "complement_demande", "acceptee"]
    for org, ceiling, status in zip(orgs[:5], ceilings, statuses, strict=True):
        engaged = {"acceptee": {"16100.11": "16000.00", "623026.24": "600000.01"}}
        requested = engaged.get(status, {}).get(ceiling, ceiling)
        application(call, org, status=status, ceiling=ceiling, requested=requested)
    # A draft (even with an amount) is not filed; another call's file does not count.
    application(call, orgs[5], status="brouillon", ceiling_eur=D("999999.99"))
    application(CallFactory(region=region), orgs[6], status="acceptee", requested="50000.00")

    figures = stats.call_statistics(call)

    assert figures.ceilings == stats.AmountStats(
        count=5,
        total=D("689126.85"),
        mean=D("137825.37"),
        median=D("16100.11"),
        minimum=D("15000.00"),
        maximum=D("623026.24"),
    )
    # Engaged: 16 000,00 and 600 000,01 — even count, median = mean = 308 000,005 → ,01.
    assert figures.engaged == stats.AmountStats(
        count=2,
        total=D("616000.01"),
        mean=D("308000.01"),
        median=D("308000.01"),
        minimum=D("16000.00"),
        maximum=D("600000.01"),
    )
    envelope = figures.envelope
    assert envelope.envelope == D("8100000.00")
    assert envelope.potential == D("689126.85")
    assert envelope.engaged == D("616000.01")
    assert envelope.remaining == D("7483999.99")
    assert envelope.engaged_percent == D("7.6")
    assert envelope.potential_percent == D("8.5")
    assert envelope.engaged_of_potential_percent == D("89.4")
    assert (
        envelope.headline
        == "616\u00a0000,01\u00a0€ engagés sur un potentiel de 689\u00a0126,85\u00a0€"
    )


def test_even_number_of_filed_ceilings_uses_the_two_middle_values(region, call):
    for org, ceiling in zip(
        applicants(region, 4), ["20000.50", "15000.00", "16100.11", "15000.00"], strict=True
    ):
        application(call, org, status="deposee", ceiling=ceiling)
    figures = stats.call_statistics(call)
    assert figures.ceilings.median == D("15550.06")
    assert figures.ceilings.mean == D("16525.15")
    assert figures.engaged == stats.AmountStats(0, D("0.00"), None, None, None, None)


def test_status_counts_and_filed_files(region, call):
    orgs = applicants(region, 9)
    plan = ["brouillon", "brouillon", "deposee", "en_instruction", "complement_demande"]
    plan += ["acceptee", "acceptee", "acceptee", "rejetee"]
    for org, status in zip(orgs, plan, strict=True):
        application(call, org, status=status)
    figures = stats.call_statistics(call)
    assert [(s.status, s.count) for s in figures.statuses] == [
        ("brouillon", 2),
        ("deposee", 1),
        ("en_instruction", 1),
        ("complement_demande", 1),
        ("acceptee", 3),
        ("rejetee", 1),
    ]
    assert figures.statuses[0].label == "Brouillon"
    assert (figures.total_files, figures.filed, figures.accepted, figures.rejected) == (9, 7, 3, 1)


def test_an_establishment_covered_by_two_files_of_the_call_counts_once(region, call):
    group = ght(region, "GHT Alpes")
    entity = legal_entity(region, "Association Les Tilleuls")
    other_entity = legal_entity(region, "Fondation du Parc")
    e1, e2, e3, e4 = (establishment(region, f"CH {i}", "1000000") for i in range(4))
    application(call, group, status="acceptee", covered=[e1, e2])
    application(call, entity, status="deposee", covered=[e2, e3])
    application(call, other_entity, status="brouillon", covered=[e4])  # a draft is not filed
    application(CallFactory(region=region), entity, status="acceptee", covered=[e4])

    figures = stats.call_statistics(call)

    assert figures.establishments_covered == 3  # e1, e2, e3: e2 once
    assert figures.establishments_covered_accepted == 2  # e1, e2


def test_target_attainment_among_accepted_files(region, call, domain):
    t1, t2, t3 = targets(domain)
    a1, a2, a3, a4, pending = (
        application(call, org, status=status)
        for org, status in zip(
            applicants(region, 5),
            ["acceptee", "acceptee", "acceptee", "acceptee", "deposee"],
            strict=True,
        )
    )
    for target in (t1, t2, t3):
        declare(a1, target, DeclarationStatus.VALIDATED)
    declare(a2, t1, DeclarationStatus.VALIDATED)
    declare(a2, t2, DeclarationStatus.REFUSED)
    declare(a2, t3, DeclarationStatus.DECLARED)
    declare(a4, t2, DeclarationStatus.DECLARED)
    declare(pending, t1, DeclarationStatus.VALIDATED)  # not accepted: not counted

    figures = stats.call_statistics(call)

    rows = {
        t.identifier: (t.accepted, t.declared, t.validated, t.refused, t.not_declared, t.rate)
        for t in figures.targets
    }
    assert rows == {
        "D1.O1.A": (4, 0, 2, 0, 2, D("50.0")),
        "D1.O2.B": (4, 1, 1, 1, 1, D("25.0")),
        "D1.O6.B": (4, 1, 1, 0, 2, D("25.0")),
    }
    assert [t.identifier for t in figures.targets] == ["D1.O1.A", "D1.O2.B", "D1.O6.B"]
    assert figures.attainment == stats.AttainmentSummary(
        accepted=4, targets=3, full=1, partial=1, none=2, full_percent=D("25.0")
    )
    del a3  # accepted without any declaration: counted as « none »


def test_no_accepted_file_gives_no_rate(call):
    figures = stats.call_statistics(call)
    assert [t.rate for t in figures.targets] == [None, None, None]
    assert figures.attainment.full_percent is None
    assert figures.ceilings.count == 0
    assert figures.envelope.engaged_of_potential_percent is None


def test_payments_and_reports(region, call):
    a1, a2, a3 = (
        application(call, org, status="acceptee", requested="50000.00")
        for org in applicants(region, 3)
    )
    PaymentRequest.objects.create(
        application=a1,
        amount_eur=D("50000.00"),
        status=PaymentStatus.PAID,
        bank_account_holder="CH 1",
        requested_at=at(2026, 7, 2, 8),
        decided_at=at(2026, 7, 10, 8),
        paid_eur=D("49999.99"),
        paid_on=datetime.date(2026, 7, 20),
    )
    PaymentRequest.objects.create(
        application=a2,
        amount_eur=D("1000.10"),
        bank_account_holder="CH 2",
        requested_at=at(2026, 7, 3, 8),
    )
    PaymentRequest.objects.create(
        application=a3,
        amount_eur=D("200.00"),
        status=PaymentStatus.REFUSED,
        bank_account_holder="CH 3",
        requested_at=at(2026, 7, 3, 8),
        decided_at=at(2026, 7, 4, 8),
    )
    FinancialReport.objects.create(
        application=a1,
        status=ReportStatus.RECOVERY,
        filed_at=at(2026, 9, 1, 8),
        eligible_costs_eur=D("40000.00"),
        amount_due_eur=D("40000.00"),
        paid_eur=D("49999.99"),
        to_recover_eur=D("9999.99"),
        balance_due_eur=D("0.00"),
    )
    FinancialReport.objects.create(
        application=a2,
        status=ReportStatus.FILED,
        filed_at=at(2026, 9, 2, 8),
        eligible_costs_eur=D("60000.01"),
        amount_due_eur=D("50000.00"),
        paid_eur=D("0.00"),
        to_recover_eur=D("0.00"),
        balance_due_eur=D("50000.00"),
    )
    FinancialReport.objects.create(application=a3)  # a draft: not filed, not summed

    figures = stats.call_statistics(call)

    payments = figures.payments
    assert {p.status: (p.count, p.requested, p.paid) for p in payments.by_status} == {
        "demande": (1, D("1000.10"), D("0.00")),
        "valide": (0, D("0.00"), D("0.00")),
        "paye": (1, D("50000.00"), D("49999.99")),
        "refuse": (1, D("200.00"), D("0.00")),
    }
    assert (payments.count, payments.requested_total, payments.paid_total) == (
        3,
        D("51200.10"),
        D("49999.99"),
    )
    reports = figures.reports
    assert reports.filed == 2
    assert {r.status: r.count for r in reports.by_status}["brouillon"] == 1
    assert reports.eligible_costs_total == D("100000.01")
    assert reports.amount_due_total == D("90000.00")
    assert reports.to_recover_total == D("9999.99")
    assert reports.balance_due_total == D("50000.00")


def test_monthly_timelines_in_paris_time(region, call, domain):
    t1 = targets(domain)[0]
    orgs = applicants(region, 4)
    a1 = application(call, orgs[0], status="acceptee", submitted_at=at(2025, 9, 15, 10))
    # 30 September 23:30 UTC is 1 October 01:30 in Paris: an October submission.
    a2 = application(call, orgs[1], status="rejetee", submitted_at=at(2025, 9, 30, 23, 30))
    application(call, orgs[2], status="deposee", submitted_at=at(2025, 12, 1, 10))
    application(call, orgs[3], status="brouillon")
    a1.decided_at = at(2025, 11, 5, 10)
    a1.save(update_fields=["decided_at"])
    a2.decided_at = at(2025, 11, 20, 10)
    a2.save(update_fields=["decided_at"])
    declare(a1, t1, when=at(2026, 2, 3, 10))

    months = stats.call_statistics(call).months

    assert [(m.month, m.count) for m in months.submitted] == [
        (datetime.date(2025, 9, 1), 1),
        (datetime.date(2025, 10, 1), 1),
        (datetime.date(2025, 11, 1), 0),
        (datetime.date(2025, 12, 1), 1),
    ]
    assert months.submitted[0].label == "septembre 2025"
    assert months.submitted[0].short_label == "sept. 25"
    assert [(m.month, m.count, m.accepted, m.rejected) for m in months.decisions] == [
        (datetime.date(2025, 11, 1), 2, 1, 1)
    ]
    assert [(m.month, m.count) for m in months.declarations] == [(datetime.date(2026, 2, 1), 1)]


def test_as_dict_is_json_ready(region, call):
    application(call, applicants(region, 1)[0], status="acceptee", requested="16100.11")
    body = stats.call_statistics(call).as_dict()
    assert body["call"] == {"id": call.pk, "title": call.title, "region": "84", "domain": "D1"}
    assert body["ceilings"]["mean"] == "16100.11"
    assert body["engaged"]["median"] == "16100.11"
    assert body["envelope"]["headline"].startswith("16\u00a0100,11\u00a0€ engagés")
    assert body["statuses"][4] == {"status": "acceptee", "label": "Acceptée", "count": 1}
    assert body["months"]["submitted"][0]["month"].endswith("-01")
    import json

    json.dumps(body)  # nothing left that JSON cannot write


def _populate(call, region, domain, size: int) -> None:
    requirements = targets(domain)
    for index in range(size):
        org = legal_entity(region, f"Entité {call.pk}-{index}")
        covered = [establishment(region, f"ET {call.pk}-{index}-{k}", "1000000") for k in range(2)]
        status = ["acceptee", "deposee", "rejetee", "brouillon"][index % 4]
        app = application(call, org, status=status, covered=covered)
        if status == "acceptee":
            for requirement in requirements[: 1 + index % 3]:
                declare(app, requirement, DeclarationStatus.VALIDATED)
            PaymentRequest.objects.create(
                application=app,
                amount_eur=D("1000.00"),
                bank_account_holder="X",
                requested_at=at(2026, 7, 2, 8),
            )


def test_a_fixed_number_of_queries_whatever_the_size(region, domain):
    small, large = (CallFactory(region=region, domain=domain) for _ in range(2))
    _populate(small, region, domain, 2)
    _populate(large, region, domain, 24)
    counts = []
    for call in (small, large):
        with CaptureQueriesContext(connection) as captured:
            stats.call_statistics(call)
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1] == 10
    empty = CallFactory(region=region, domain=domain)
    with CaptureQueriesContext(connection) as captured:
        stats.call_statistics(empty)
    assert len(captured.captured_queries) == 10


# --- Who sees the figures, region overview -------------------------------------------------------


def test_statistics_regions_by_role(region):
    other = RegionFactory(code="11", name="Île-de-France")
    ars = OrganisationFactory(kind=OrgKind.ARS, region=region, finess=None, sector="")
    crrc = OrganisationFactory(kind=OrgKind.CRRC, region=other, finess=None, sector="")
    national = OrganisationFactory(
        kind=OrgKind.NATIONAL, region=None, departement=None, finess=None, sector=""
    )
    hospital = establishment(region, "CH Voiron", "1000000")
    assert stats.statistics_regions(member(Role.ARS_MANAGER, ars)) == {region.pk}
    assert stats.statistics_regions(member(Role.CRRC_OPERATOR, crrc)) == {other.pk}
    assert stats.statistics_regions(member(Role.NATIONAL_OBSERVER, national)) is None
    assert stats.statistics_regions(member(Role.RSSI, hospital)) == set()
    assert stats.statistics_regions(member(Role.TRAINER, crrc)) == set()  # no VIEW_PROGRAMME


def test_overview_key_figures_per_call_grouped_by_region(region, domain):
    other = RegionFactory(code="11", name="Île-de-France")
    national = OrganisationFactory(
        kind=OrgKind.NATIONAL, region=None, departement=None, finess=None, sector=""
    )
    ars = OrganisationFactory(kind=OrgKind.ARS, region=region, finess=None, sector="")
    here = CallFactory(region=region, domain=domain, envelope_eur=D("1000000.00"))
    there = CallFactory(region=other, domain=domain)
    e1, e2 = (establishment(region, f"CH {i}", "1000000") for i in range(2))
    orgs = applicants(region, 4)
    a1 = application(here, orgs[0], status="acceptee", requested="100000.00", covered=[e1, e2])
    application(here, orgs[1], status="deposee", ceiling="20000.00", covered=[e2])
    application(here, orgs[2], status="brouillon", covered=[e1])
    application(there, orgs[3], status="rejetee", ceiling="15000.00")
    PaymentRequest.objects.create(
        application=a1,
        amount_eur=D("100000.00"),
        status=PaymentStatus.PAID,
        bank_account_holder="X",
        requested_at=at(2026, 7, 2, 8),
        paid_eur=D("99000.00"),
        paid_on=datetime.date(2026, 7, 20),
    )

    observer = member(Role.NATIONAL_OBSERVER, national)
    with CaptureQueriesContext(connection) as captured:
        regions = stats.calls_overview(observer)
    assert len(captured.captured_queries) == 5  # memberships, calls, files, covered, payments
    assert [group.region.name for group in regions] == ["Auvergne-Rhône-Alpes", "Île-de-France"]
    summary = regions[0].calls[0]
    assert summary.call == here
    assert (summary.filed, summary.accepted, summary.rejected) == (2, 1, 0)
    assert summary.establishments_covered == 2
    assert (summary.potential, summary.engaged, summary.paid) == (
        D("120000.00"),
        D("100000.00"),
        D("99000.00"),
    )
    assert summary.engaged_percent == D("10.0")
    assert regions[1].calls[0].rejected == 1

    manager = member(Role.ARS_MANAGER, ars)
    assert [g.region for g in stats.calls_overview(manager)] == [region]
    hospital_person = member(Role.DIRECTOR, e1)
    assert stats.calls_overview(hospital_person) is None
