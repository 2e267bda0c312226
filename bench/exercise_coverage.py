"""Benchmark: the crisis-exercise coverage page at national scale.

Run with `make bench NAME=exercise_coverage` (SQLite), or with DATABASE_URL pointing to a
PostgreSQL server. The benchmark makes its own database (a temporary SQLite file, or a
PostgreSQL database `rempart_bench_exercises` dropped at the end), migrates it and bulk-creates
40,000 establishments in 13 regions (départements, FINESS categories, 135 GHTs) and 100,000
exercise records over three years (runs with their coverage verdicts: valid, not counting yet
for a reason, planned; regional exercises with several establishments). Then it times the
coverage page as a national observer sees it (every organisation: by region, département,
category and GHT) and as one region's ARS sees it, through Django's test client (middleware,
view, queries, templates; no network), and counts the page's queries (that the count does not
grow with the data is checked by rempart/exercises/tests/test_coverage.py). The printed median
is the national view's, the heavier one; both are logged.

Prints:
    exercise_coverage_median_ms: <value> ms
    exercise_coverage_queries: <n> queries
and exits non-zero when it could not measure. Details go to stderr.
"""

import datetime
import os
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchdb import prepare_database  # noqa: E402 - bench/ is the script's own folder
from benchkit import finess, log  # noqa: E402
from benchpages import bulk_registry, time_page  # noqa: E402

ORGANISATIONS = int(os.environ.get("BENCH_ORGANISATIONS", "40000"))
RECORDS = int(os.environ.get("BENCH_EXERCISE_RECORDS", "100000"))
REGIONS = 13
DEPARTEMENTS_PER_REGION = 8
GHTS = 135
WARMUP = 4
MEASURED = 30
TARGET_MS = 200
BENCH_DB_NAME = "rempart_bench_exercises"
CATEGORIES = [
    ("355", "Centre hospitalier (C.H.)", "sanitaire"),
    ("101", "Centre hospitalier régional (C.H.R.)", "sanitaire"),
    ("365", "Établissement de soins pluridisciplinaire", "sanitaire"),
    ("362", "Centre de lutte contre le cancer", "sanitaire"),
    ("292", "Centre hospitalier spécialisé lutte maladies mentales", "sanitaire"),
    ("500", "EHPAD", "medico_social"),
    ("183", "Institut médico-éducatif (I.M.E.)", "medico_social"),
    ("255", "Maison d'accueil spécialisée (M.A.S.)", "medico_social"),
    ("354", "Service de soins infirmiers à domicile (S.S.I.A.D.)", "medico_social"),
]
REASONS = [
    ["Fonction absente : Direction générale.", "Seule l'équipe informatique participe."],
    ["Le retour d'expérience (RETEX) n'est pas formalisé."],
    ["L'évaluation n'est pas renseignée."],
    ["L'exercice n'a pas encore été joué."],
]


def build_data():
    from allauth.mfa.totp.internal.auth import TOTP
    from django.db import transaction
    from django.utils import timezone

    from rempart.core.roles import OrgKind, Role
    from rempart.exercises.models import (
        CoverageRecord,
        ExerciseRun,
        Level,
        RunKind,
        RunStatus,
        Scenario,
        Theme,
    )
    from rempart.exercises.validity import rule
    from rempart.organisations.models import Membership, Organisation, User

    rng = random.Random(20261206)
    started = time.perf_counter()
    version = rule().version
    now = timezone.now()
    today = timezone.localdate()
    with transaction.atomic():
        regions, departements, categories = bulk_registry(
            REGIONS, DEPARTEMENTS_PER_REGION, CATEGORIES
        )
        ghts = Organisation.objects.bulk_create(
            Organisation(
                kind=OrgKind.GHT,
                name=f"GHT n°{i + 1}",
                region=regions[i % REGIONS],
                departement=departements[(i % REGIONS) * DEPARTEMENTS_PER_REGION],
            )
            for i in range(GHTS)
        )
        ghts_by_region = {}
        for ght in ghts:
            ghts_by_region.setdefault(ght.region_id, []).append(ght)
        holders = Organisation.objects.bulk_create(
            Organisation(kind=OrgKind.CRRC, name=f"CRRC {region.name}", region=region)
            for region in regions
        )
        ars = Organisation.objects.bulk_create(
            Organisation(kind=OrgKind.ARS, name=f"ARS {region.name}", region=region)
            for region in regions
        )
        batch = []
        for i in range(ORGANISATIONS):
            region_index = rng.randrange(REGIONS)
            region = regions[region_index]
            category = categories[rng.randrange(len(categories))]
            health = category.sector == "sanitaire"
            batch.append(
                Organisation(
                    kind=OrgKind.ESTABLISHMENT,
                    name=f"Établissement {i:05d}",
                    finess=finess(i),
                    region=region,
                    departement=departements[
                        region_index * DEPARTEMENTS_PER_REGION
                        + rng.randrange(DEPARTEMENTS_PER_REGION)
                    ],
                    category=category,
                    sector=category.sector,
                    ght=rng.choice(ghts_by_region[region.pk])
                    if health and rng.random() < 0.8
                    else None,
                )
            )
        establishments = []
        for start in range(0, len(batch), 5000):
            establishments += Organisation.objects.bulk_create(batch[start : start + 5000])
        scenarios = []
        for _index, level in enumerate(Level.values):
            scenario = Scenario(
                slug=f"bench-{level}",
                title=f"Rançongiciel ({level})",
                level=level,
                theme=Theme.RANSOMWARE,
                summary="Scénario du benchmark.",
                duration_minutes=180,
                library_key="national",
            )
            scenarios.append(scenario)
        Scenario.objects.bulk_create(scenarios)

        # Runs: most establishments hold one to four exercises over three years; a few dozen
        # regional exercises gather up to 40 establishments each.
        runs, owners = [], []
        regional_count = 60
        for i in range(RECORDS - regional_count * 20):
            organisation = establishments[i % len(establishments)]
            days_ago = rng.randrange(-60, 3 * 365)
            start = now - datetime.timedelta(days=days_ago)
            scenario = scenarios[rng.randrange(len(scenarios))]
            planned = days_ago < 0
            runs.append(
                ExerciseRun(
                    organisation=organisation,
                    region_id=organisation.region_id,
                    kind=RunKind.ESTABLISHMENT,
                    scenario=scenario,
                    title=scenario.title,
                    level=scenario.level,
                    theme=scenario.theme,
                    planned_start=start,
                    status=RunStatus.PLANNED if planned else RunStatus.FINISHED,
                    started_at=None if planned else start,
                    ended_at=None if planned else start + datetime.timedelta(hours=3),
                )
            )
            owners.append([organisation])
        by_region = {}
        for organisation in establishments:
            by_region.setdefault(organisation.region_id, []).append(organisation)
        for i in range(regional_count):
            holder = holders[i % REGIONS]
            start = now - datetime.timedelta(days=rng.randrange(0, 3 * 365))
            runs.append(
                ExerciseRun(
                    organisation=holder,
                    region_id=holder.region_id,
                    kind=RunKind.REGIONAL,
                    scenario=scenarios[1],
                    title=f"Exercice régional {i + 1}",
                    level=scenarios[1].level,
                    theme=scenarios[1].theme,
                    planned_start=start,
                    status=RunStatus.FINISHED,
                    started_at=start,
                    ended_at=start + datetime.timedelta(hours=4),
                )
            )
            owners.append(rng.sample(by_region[holder.region_id], 20))
        saved = []
        for start in range(0, len(runs), 5000):
            saved += ExerciseRun.objects.bulk_create(runs[start : start + 5000])
        records = []
        for run, organisations in zip(saved, owners, strict=True):
            for organisation in organisations:
                played = run.status == RunStatus.FINISHED
                counts = played and rng.random() < 0.75
                records.append(
                    CoverageRecord(
                        run=run,
                        organisation=organisation,
                        held_on=timezone.localdate(run.started_at) if played else None,
                        counts=counts,
                        reasons=[] if counts else REASONS[3 if not played else rng.randrange(3)],
                        rule_version=version,
                        computed_at=now,
                    )
                )
        for start in range(0, len(records), 5000):
            CoverageRecord.objects.bulk_create(records[start : start + 5000])

        observer = User.objects.create_user("observateur@bench.fr", None, first_name="Nadia")
        national = Organisation.objects.create(kind=OrgKind.NATIONAL, name="Opérateur national")
        Membership.objects.create(user=observer, organisation=national, role=Role.NATIONAL_OBSERVER)
        TOTP.activate(observer, "JBSWY3DPEHPK3PXP")
        manager = User.objects.create_user("ars@bench.fr", None, first_name="Camille")
        Membership.objects.create(user=manager, organisation=ars[0], role=Role.ARS_MANAGER)
        TOTP.activate(manager, "JBSWY3DPEHPK3PXP")
    log(
        f"données : {Organisation.objects.count()} organisations, {ExerciseRun.objects.count()} "
        f"exercices, {CoverageRecord.objects.count()} verdicts (au {today:%d/%m/%Y}) en "
        f"{time.perf_counter() - started:.1f} s"
    )
    return observer, manager


def measure(observer, manager) -> tuple[float, int]:
    from django.urls import reverse

    def check(response, label) -> None:
        if response.status_code != 200:
            raise SystemExit(f"La page de couverture répond {response.status_code} ({label})")
        if not re.search(rb'id="coverage-rate">\d', response.content):
            raise SystemExit(f"La page de couverture ne montre pas le taux ({label})")

    url = reverse("exercises:coverage")
    clients, median_ms, queries = time_page(
        url,
        {"national": observer, "ARS d'une région": manager},
        check,
        warmup=WARMUP,
        measured=MEASURED,
    )
    national = clients["national"].get(url).content.decode()
    rate = re.search(r'id="coverage-rate">([\d,\.]+)', national)
    log(f"  couverture nationale affichée : {rate.group(1) if rate else '?'} %")
    # The figure is the national view's (every organisation), the heavier of the two.
    return median_ms, queries


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("REMPART_LOG_LEVEL", "WARNING")
    engine, cleanup = prepare_database(BENCH_DB_NAME)
    try:
        import django

        django.setup()
        from django.core.management import call_command

        log(f"base : {engine} (base dédiée), {ORGANISATIONS} établissements, {RECORDS} verdicts")
        call_command("migrate", verbosity=0, interactive=False)
        observer, manager = build_data()
        from django.db import connection

        with connection.cursor() as cursor:  # planner statistics, as a live database has
            cursor.execute("ANALYZE")
        median_ms, queries = measure(observer, manager)
    finally:
        cleanup()
    print(f"exercise_coverage_median_ms: {median_ms:.1f} ms")
    print(f"exercise_coverage_queries: {queries} queries")
    if median_ms > TARGET_MS:
        log(f"objectif manqué : médiane {median_ms:.1f} ms > {TARGET_MS} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
