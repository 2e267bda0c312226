"""Benchmark: the statistics page of a national-scale CaRE call.

Run with `make bench NAME=programme_stats` (SQLite), or with DATABASE_URL pointing to a
PostgreSQL server. The benchmark never touches the database named there: it makes its own
(a temporary SQLite file, or a PostgreSQL database `rempart_bench_programme_stats` dropped at
the end), migrates it, then bulk-creates one call with 3,000 applicants (GHT and legal
entities), 30,000 covered establishments, 100,000 target declarations, payment requests and
financial reports, and an ARS manager (TOTP set up). It times the statistics page as that
manager sees it (server time through Django's test client: middleware, view, queries and
templates, no network).

Prints, for the database engine in use:
    programme_stats_median_ms: <value> ms
    programme_stats_queries: <n> queries
and exits non-zero when it could not measure. Details go to stderr. Target: median < 200 ms.
BENCH_APPLICANTS, BENCH_ESTABLISHMENTS_PER_FILE and BENCH_DECLARATIONS change the sizes.
"""

import datetime
import os
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchdb import prepare_database  # noqa: E402 - bench/ is the script's own folder

APPLICANTS = int(os.environ.get("BENCH_APPLICANTS", "3000"))
ESTABLISHMENTS_PER_FILE = int(os.environ.get("BENCH_ESTABLISHMENTS_PER_FILE", "10"))
DECLARATIONS = int(os.environ.get("BENCH_DECLARATIONS", "100000"))
TARGETS = 40
WARMUP = 5
MEASURED = 30
TARGET_MS = 200
BENCH_DB_NAME = "rempart_bench_programme_stats"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- Data ---------------------------------------------------------------------------------------

STATUSES = (  # share of the files in each status (sums to 1)
    ("acceptee", 0.90),
    ("rejetee", 0.04),
    ("en_instruction", 0.02),
    ("deposee", 0.02),
    ("complement_demande", 0.01),
    ("brouillon", 0.01),
)


def _finess(serial: int) -> str:
    from rempart.organisations.finess import luhn_key

    body = f"{1 + serial % 95:02d}{serial:06d}"[:8]
    return body + luhn_key(body)


def _moment(rng, start: datetime.datetime, days: int) -> datetime.datetime:
    return start + datetime.timedelta(seconds=rng.randrange(days * 86400))


def build_data():
    """Bulk inserts (COPY on PostgreSQL, multi-row INSERT on SQLite, as the FINESS import);
    the ORM only for the handful of rows the page starts from."""
    from allauth.mfa.totp.internal.auth import TOTP
    from django.db import transaction
    from django.utils import timezone

    from rempart.core.roles import OrgKind, Role
    from rempart.organisations.importer import _bulk_insert
    from rempart.organisations.models import Membership, Organisation, Region, User
    from rempart.programme.models import (
        Application,
        Call,
        DeclarationStatus,
        Domain,
        FinancialReport,
        PaymentRequest,
        Requirement,
        TargetDeclaration,
    )

    rng = random.Random(20250318)  # the same data on every run
    started = time.perf_counter()
    now = timezone.now()
    stamps = {"created_at": now, "updated_at": now}
    utc = datetime.UTC
    with transaction.atomic():
        region, _ = Region.objects.get_or_create(
            code="84", defaults={"name": "Auvergne-Rhône-Alpes"}
        )
        ars = Organisation.objects.create(
            kind=OrgKind.ARS, name="ARS Auvergne-Rhône-Alpes", region=region
        )
        domain, _ = Domain.objects.get_or_create(
            code="D1",
            defaults={"title": "Annuaires et exposition", "axis": "securite_operationnelle"},
        )
        Requirement.objects.bulk_create(
            Requirement(
                domain=domain,
                kind="cible",
                identifier=f"D1.B{n:02d}",
                label=f"Cible de test n°{n}",
                attainment="declaration",
                position=n,
            )
            for n in range(TARGETS)
        )
        targets = list(
            Requirement.objects.filter(domain=domain, kind="cible")
            .order_by("position")
            .values_list("pk", flat=True)
        )
        call = Call.objects.create(
            region=region,
            domain=domain,
            title="CaRE D1 — appel national (benchmark)",
            legal_reference="Arrêté du 18 mars 2024",
            national_amount_eur=Decimal("65000000.00"),
            envelope_eur=Decimal("900000000.00"),
            applicant_rule="ght_ou_ej",
            application_opens_on=datetime.date(2025, 9, 2),
            application_closes_on=datetime.date(2025, 10, 31),
            declaration_deadline=datetime.date(2026, 6, 30),
            payment_opens_on=datetime.date(2026, 7, 1),
            payment_closes_on=datetime.date(2026, 10, 25),
        )

        # Applicants: one GHT in five, the others legal entities; then their establishments.
        serial = 0
        applicant_rows = []
        for index in range(APPLICANTS):
            is_ght = index % 5 == 0
            row = {
                "kind": OrgKind.GHT if is_ght else OrgKind.LEGAL_ENTITY,
                "name": f"{'GHT' if is_ght else 'Entité juridique'} bench {index:05d}",
                "region_id": region.pk,
                **stamps,
            }
            if not is_ght:
                serial += 1
                row["finess"] = _finess(serial)
            applicant_rows.append(row)
        _bulk_insert(Organisation, applicant_rows)
        applicants = list(
            Organisation.objects.filter(region=region, kind__in=[OrgKind.GHT, OrgKind.LEGAL_ENTITY])
            .order_by("name")
            .values_list("pk", "kind")
        )
        establishment_rows = []
        for applicant_pk, kind in applicants:
            for _ in range(ESTABLISHMENTS_PER_FILE):
                serial += 1
                establishment_rows.append(
                    {
                        "kind": OrgKind.ESTABLISHMENT,
                        "name": f"Établissement bench {serial:06d}",
                        "finess": _finess(serial),
                        "region_id": region.pk,
                        "sector": "sanitaire",
                        "ght_id": applicant_pk if kind == OrgKind.GHT else None,
                        "legal_entity_id": applicant_pk if kind == OrgKind.LEGAL_ENTITY else None,
                        "operating_budget_eur": Decimal(rng.randrange(1_000_000, 400_000_000)),
                        **stamps,
                    }
                )
        _bulk_insert(Organisation, establishment_rows)
        members = {}
        for pk, ght_id, entity_id in Organisation.objects.filter(
            region=region, kind=OrgKind.ESTABLISHMENT
        ).values_list("pk", "ght_id", "legal_entity_id"):
            members.setdefault(ght_id or entity_id, []).append(pk)

        # Files: statuses by share, ceilings between the floor and the largest ceiling.
        weights = [share for _s, share in STATUSES]
        names = [status for status, _share in STATUSES]
        file_rows = []
        opens = datetime.datetime(2025, 9, 2, 8, tzinfo=utc)
        decided_from = datetime.datetime(2025, 11, 3, 8, tzinfo=utc)
        for applicant_pk, _kind in applicants:
            status = rng.choices(names, weights)[0]
            ceiling = (Decimal(rng.randrange(1_500_000, 62_302_624)) / 100).quantize(
                Decimal("0.01")
            )
            row = {
                "call_id": call.pk,
                "applicant_id": applicant_pk,
                "status": status,
                "requested_eur": ceiling,
                **stamps,
            }
            if status != "brouillon":
                row["submitted_at"] = _moment(rng, opens, 59)
                row["ceiling_eur"] = ceiling
            if status in ("acceptee", "rejetee"):
                row["decided_at"] = _moment(rng, decided_from, 60)
            if status == "acceptee":
                row["engaged_eur"] = ceiling
            file_rows.append(row)
        _bulk_insert(Application, file_rows)
        files = list(
            Application.objects.filter(call=call).values_list("pk", "applicant_id", "status")
        )
        through = Application.covered_establishments.through
        _bulk_insert(
            through,
            [
                {"application_id": pk, "organisation_id": et}
                for pk, applicant_pk, _status in files
                for et in members.get(applicant_pk, [])
            ],
        )

        # Declarations: spread over the accepted files, up to one per target.
        accepted = [pk for pk, _a, status in files if status == "acceptee"]
        declared_from = datetime.datetime(2026, 1, 5, 8, tzinfo=utc)
        declaration_rows = []
        per_file, extra = divmod(DECLARATIONS, len(accepted))
        for position, pk in enumerate(accepted):
            count = min(TARGETS, per_file + (1 if position < extra else 0))
            for requirement_pk in targets[:count]:
                draw = rng.random()
                status = (
                    DeclarationStatus.VALIDATED
                    if draw < 0.7
                    else DeclarationStatus.DECLARED
                    if draw < 0.9
                    else DeclarationStatus.REFUSED
                )
                declared_at = _moment(rng, declared_from, 170)
                declaration_rows.append(
                    {
                        "application_id": pk,
                        "requirement_id": requirement_pk,
                        "status": status,
                        "declared_at": declared_at,
                        "reviewed_at": None
                        if status == DeclarationStatus.DECLARED
                        else declared_at + datetime.timedelta(days=10),
                    }
                )
        _bulk_insert(TargetDeclaration, declaration_rows)

        payment_rows, report_rows = [], []
        requested_from = datetime.datetime(2026, 7, 2, 8, tzinfo=utc)
        for position, pk in enumerate(accepted):
            if position % 3 == 2:
                continue
            paid = position % 3 == 0
            payment_rows.append(
                {
                    "application_id": pk,
                    "amount_eur": Decimal("15000.00"),
                    "status": "paye" if paid else "demande",
                    "bank_account_holder": "Titulaire bench",
                    "requested_at": _moment(rng, requested_from, 60),
                    "decided_at": requested_from + datetime.timedelta(days=70) if paid else None,
                    "paid_eur": Decimal("15000.00") if paid else None,
                    "paid_on": datetime.date(2026, 9, 30) if paid else None,
                }
            )
            if paid:
                report_rows.append(
                    {
                        "application_id": pk,
                        "status": "depose",
                        "filed_at": requested_from + datetime.timedelta(days=90),
                        "eligible_costs_eur": Decimal("14000.00"),
                        "amount_due_eur": Decimal("14000.00"),
                        "paid_eur": Decimal("15000.00"),
                        "to_recover_eur": Decimal("1000.00"),
                        "balance_due_eur": Decimal("0.00"),
                    }
                )
        _bulk_insert(PaymentRequest, payment_rows)
        _bulk_insert(FinancialReport, report_rows)

        manager = User.objects.create_user(
            "charge.programme@ars-bench.fr", None, first_name="Camille", last_name="Bench"
        )
        Membership.objects.create(user=manager, organisation=ars, role=Role.ARS_MANAGER)
        TOTP.activate(manager, "JBSWY3DPEHPK3PXP")  # the MFA middleware lets them through
    log(
        f"données : {len(applicants)} candidats, {len(establishment_rows)} établissements couverts, "
        f"{len(declaration_rows)} déclarations, {len(payment_rows)} paiements, "
        f"{len(report_rows)} bilans créés en {time.perf_counter() - started:.1f} s"
    )
    return manager, call


# --- Measure -----------------------------------------------------------------------------------


def measure(manager, call) -> tuple[float, int]:
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from rempart.programme import stats

    url = reverse("programme:call_statistics", args=[call.pk])
    client = Client()
    client.force_login(manager)
    expected = stats.call_statistics(call)
    if expected.filed == 0 or not expected.targets:
        raise SystemExit("Les données du benchmark n'ont pas été créées.")
    log(
        f"  chiffres : {expected.filed} dossiers déposés, {expected.establishments_covered} "
        f"établissements couverts, médiane des plafonds {expected.ceilings.median} €, "
        f"{expected.envelope.headline}"
    )

    def timed() -> float:
        started = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"La page des statistiques répond {response.status_code}")
        if b"chart-statuses-title" not in response.content:
            raise SystemExit("La page des statistiques ne montre pas ses graphiques.")
        return elapsed

    for _ in range(WARMUP):
        timed()
    times = [timed() for _ in range(MEASURED)]
    log(f"  page : médiane {statistics.median(times):7.1f} ms  max {max(times):7.1f} ms")

    figures_times = []
    for _ in range(10):
        started = time.perf_counter()
        stats.call_statistics(call)
        figures_times.append((time.perf_counter() - started) * 1000)
    log(f"  calcul des chiffres seul : médiane {statistics.median(figures_times):7.1f} ms")

    reset_queries()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    if response.status_code != 200:
        raise SystemExit("La page des statistiques ne répond pas pour le comptage des requêtes.")
    for query in captured.captured_queries:
        log(f"  [{float(query['time']) * 1000:6.1f} ms] {query['sql'][:150]}")
    return statistics.median(times), len(captured.captured_queries)


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("REMPART_LOG_LEVEL", "WARNING")  # one log line per request would distort
    engine, cleanup = prepare_database(BENCH_DB_NAME)
    try:
        import django

        django.setup()
        from django.core.management import call_command

        log(
            f"base : {engine} (base dédiée au benchmark), {APPLICANTS} candidats, "
            f"{APPLICANTS * ESTABLISHMENTS_PER_FILE} établissements, {DECLARATIONS} déclarations"
        )
        call_command("migrate", verbosity=0, interactive=False)
        manager, call = build_data()
        if engine == "postgresql":
            # A live database has planner statistics (autovacuum); a freshly bulk-loaded one
            # does not yet.
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        median_ms, queries = measure(manager, call)
    finally:
        cleanup()
    print(f"programme_stats_median_ms: {median_ms:.1f} ms")
    print(f"programme_stats_queries: {queries} queries")
    if median_ms > TARGET_MS:
        log(f"objectif manqué : médiane {median_ms:.1f} ms > {TARGET_MS} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
