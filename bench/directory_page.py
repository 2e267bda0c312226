"""Benchmark: the organisation directory page with 100,000 establishments.

Run with `make bench NAME=directory_page` (SQLite), or with DATABASE_URL pointing to a
PostgreSQL server. The benchmark never touches the database named there: it makes its own
(a temporary SQLite file, or a PostgreSQL database `rempart_bench_directory` dropped at the
end), migrates it, bulk-creates a region with an ARS manager and 100,000 establishments,
then times the directory page as that manager sees it (server time through Django's test
client: middleware, views, queries and templates, no network).

Prints, for the database engine in use:
    directory_page_median_ms: <value> ms
    directory_page_queries: <n> queries
and exits non-zero when it could not measure. Details go to stderr.
"""

import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchdb import prepare_database  # noqa: E402 - bench/ is the script's own folder

ESTABLISHMENTS = int(os.environ.get("BENCH_ESTABLISHMENTS", "100000"))
WARMUP = 5
MEASURED = 30
TARGET_MS = 150
BENCH_DB_NAME = "rempart_bench_directory"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- Data ---------------------------------------------------------------------------------------

DEPARTEMENTS = [
    ("01", "Ain"),
    ("03", "Allier"),
    ("07", "Ardèche"),
    ("15", "Cantal"),
    ("26", "Drôme"),
    ("38", "Isère"),
    ("42", "Loire"),
    ("43", "Haute-Loire"),
    ("63", "Puy-de-Dôme"),
    ("69", "Rhône"),
    ("73", "Savoie"),
    ("74", "Haute-Savoie"),
]
CATEGORIES = [  # code, label, sector, name prefix
    ("355", "Centre Hospitalier (C.H.)", "sanitaire", "Centre hospitalier"),
    ("365", "Établissement de soins pluridisciplinaire", "sanitaire", "Clinique"),
    ("362", "Centre de lutte contre le cancer", "sanitaire", "Centre de lutte contre le cancer"),
    ("124", "Centre de santé", "sanitaire", "Centre de santé"),
    ("500", "EHPAD", "medico_social", "EHPAD"),
    ("183", "Institut médico-éducatif (I.M.E.)", "medico_social", "IME"),
    ("246", "Établissement et service d'aide par le travail (E.S.A.T.)", "medico_social", "ESAT"),
    (
        "255",
        "Maison d'accueil spécialisée (M.A.S.)",
        "medico_social",
        "Maison d'accueil spécialisée",
    ),
    ("437", "Foyer d'accueil médicalisé (F.A.M.)", "medico_social", "Foyer d'accueil médicalisé"),
    ("354", "Service de soins infirmiers à domicile (S.S.I.A.D.)", "medico_social", "SSIAD"),
]
COMMUNES = [
    "Lyon",
    "Villeurbanne",
    "Grenoble",
    "Saint-Étienne",
    "Clermont-Ferrand",
    "Annecy",
    "Chambéry",
    "Valence",
    "Bourg-en-Bresse",
    "Roanne",
    "Vienne",
    "Montélimar",
    "Aurillac",
    "Le Puy-en-Velay",
    "Moulins",
    "Vichy",
    "Montluçon",
    "Privas",
    "Aubenas",
    "Romans-sur-Isère",
    "Bourgoin-Jallieu",
    "Voiron",
    "Thonon-les-Bains",
    "Annemasse",
    "Albertville",
    "Oyonnax",
    "Riom",
    "Issoire",
    "Thiers",
    "Saint-Flour",
    "Yssingeaux",
    "Villefranche-sur-Saône",
    "Givors",
    "Vénissieux",
]
NAME_WORDS = [
    "Les Tilleuls",
    "Les Cèdres",
    "Le Parc",
    "La Roseraie",
    "Saint-Joseph",
    "Sainte-Marie",
    "Les Glycines",
    "Le Val Fleuri",
    "Les Jardins",
    "Bellevue",
    "La Chênaie",
    "Les Lilas",
    "Pierre Wertheimer",
    "Edouard Herriot",
    "Les Mûriers",
    "La Source",
    "Le Vivarais",
    "Les Alpes",
]
STATUSES = ["public", "prive_non_lucratif", "prive_lucratif"]


def build_data():
    from allauth.mfa.totp.internal.auth import TOTP
    from django.db import transaction

    from rempart.core.roles import OrgKind, Role
    from rempart.organisations.finess import luhn_key
    from rempart.organisations.models import (
        Departement,
        FinessCategory,
        Membership,
        Organisation,
        Region,
        User,
    )

    rng = random.Random(20240101)  # the same data on every run
    started = time.perf_counter()
    with transaction.atomic():
        region, _ = Region.objects.get_or_create(
            code="84", defaults={"name": "Auvergne-Rhône-Alpes"}
        )
        other, _ = Region.objects.get_or_create(
            code="93", defaults={"name": "Provence-Alpes-Côte d'Azur"}
        )
        departements = [
            Departement.objects.get_or_create(code=code, defaults={"name": name, "region": region})[
                0
            ]
            for code, name in DEPARTEMENTS
        ]
        categories = []
        for code, label, sector, prefix in CATEGORIES:
            category, _ = FinessCategory.objects.get_or_create(
                code=code, defaults={"label": label, "sector": sector}
            )
            categories.append((category, sector, prefix))
        ars = Organisation.objects.create(
            kind=OrgKind.ARS, name="ARS Auvergne-Rhône-Alpes", region=region
        )
        ghts = Organisation.objects.bulk_create(
            Organisation(
                kind=OrgKind.GHT,
                name=f"GHT {COMMUNES[i % len(COMMUNES)]} {i + 1}",
                region=region,
                departement=departements[i % len(departements)],
            )
            for i in range(15)
        )
        batch = []
        for i in range(ESTABLISHMENTS):
            category, sector, prefix = categories[rng.randrange(len(categories))]
            dept = departements[rng.randrange(len(departements))]
            commune = COMMUNES[rng.randrange(len(COMMUNES))]
            body = f"{dept.code}{i:06d}"
            in_other_region = i % 20 == 0  # 5 %: another region, which the manager never sees
            batch.append(
                Organisation(
                    kind=OrgKind.ESTABLISHMENT,
                    name=f"{prefix} {NAME_WORDS[rng.randrange(len(NAME_WORDS))]} {commune} {i}",
                    finess=body + luhn_key(body),
                    region=other if in_other_region else region,
                    departement=None if in_other_region else dept,
                    category=category,
                    sector=sector,
                    legal_status=STATUSES[rng.randrange(3)],
                    commune=commune,
                    postal_code=f"{dept.code}{rng.randrange(1000):03d}",
                    ght=ghts[rng.randrange(len(ghts))]
                    if sector == "sanitaire" and not in_other_region and rng.random() < 0.6
                    else None,
                )
            )
            if len(batch) == 5000:
                Organisation.objects.bulk_create(batch)
                batch = []
        Organisation.objects.bulk_create(batch)
        manager = User.objects.create_user(
            "charge.programme@ars-bench.fr", None, first_name="Camille", last_name="Bench"
        )
        Membership.objects.create(user=manager, organisation=ars, role=Role.ARS_MANAGER)
        TOTP.activate(manager, "JBSWY3DPEHPK3PXP")  # the MFA middleware lets them through
    log(
        f"données : {Organisation.objects.count()} organisations créées en {time.perf_counter() - started:.1f} s"
    )
    return manager


# --- Measure -----------------------------------------------------------------------------------

REQUESTS = [
    ("première page", {}),
    ("page 1000", {"page": "1000"}),
    ("recherche par nom", {"q": "Tilleuls"}),
    ("secteur + département", {"sector": "medico_social", "departement": "26"}),
]


def measure(manager) -> tuple[float, int]:
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    url = reverse("organisations:directory")
    client = Client()
    client.force_login(manager)

    def timed(params) -> float:
        started = time.perf_counter()
        response = client.get(url, params)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"La page de l'annuaire répond {response.status_code} pour {params}")
        if not re.search(rb'href="/organisations/\d+/"', response.content):
            raise SystemExit(f"La page de l'annuaire ne montre aucune organisation pour {params}")
        return elapsed

    for i in range(WARMUP):
        timed(REQUESTS[i % len(REQUESTS)][1])
    by_kind: dict[str, list[float]] = {label: [] for label, _ in REQUESTS}
    for i in range(MEASURED):
        label, params = REQUESTS[i % len(REQUESTS)]
        by_kind[label].append(timed(params))
    for label, times in by_kind.items():
        log(f"  {label:<24} médiane {statistics.median(times):7.1f} ms  max {max(times):7.1f} ms")

    reset_queries()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    if response.status_code != 200:
        raise SystemExit("La page de l'annuaire ne répond pas pour le comptage des requêtes.")
    for query in captured.captured_queries:
        log(f"  [{float(query['time']) * 1000:6.1f} ms] {query['sql'][:160]}")
    all_times = [t for times in by_kind.values() for t in times]
    return statistics.median(all_times), len(captured.captured_queries)


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("REMPART_LOG_LEVEL", "WARNING")  # one log line per request would distort
    engine, cleanup = prepare_database(BENCH_DB_NAME)
    try:
        import django

        django.setup()
        from django.core.management import call_command

        log(f"base : {engine} (base dédiée au benchmark), {ESTABLISHMENTS} établissements")
        call_command("migrate", verbosity=0, interactive=False)
        manager = build_data()
        if engine == "postgresql":
            # A live database has planner statistics (autovacuum); a freshly bulk-loaded one
            # does not yet. The FINESS import refreshes them itself after a large import.
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        median_ms, queries = measure(manager)
    finally:
        cleanup()
    print(f"directory_page_median_ms: {median_ms:.1f} ms")
    print(f"directory_page_queries: {queries} queries")
    if median_ms > TARGET_MS:
        log(f"objectif manqué : médiane {median_ms:.1f} ms > {TARGET_MS} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
