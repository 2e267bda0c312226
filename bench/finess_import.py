"""Benchmark: import a FINESS extract of 100,000 establishment lines.

Target (issue 3): under 60 s on SQLite and on PostgreSQL on a 2-core machine, peak memory under
500 MB. The script owns its data and its database: it writes a valid synthetic extract in a
temporary folder, creates a fresh database (a temporary SQLite file, or `<name>_bench` next to
the PostgreSQL database of DATABASE_URL, copied from the benchmarks' migrated template —
benchdb.py — and dropped here), migrates it, then times the
same import the command line runs.

Prints `finess_import_seconds: <value> s` and `finess_import_peak_mb: <value> MB` (peak RSS of
this process); details go to stderr. Exits non-zero when it could not measure.
Run with `make bench NAME=finess_import` (DATABASE_URL optional). FINESS_BENCH_LINES overrides
the number of lines.
"""

import os
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchdb import create_postgres_database  # noqa: E402 - bench/ is the script's own folder

LINES = int(os.environ.get("FINESS_BENCH_LINES", "100000"))
ESTABLISHMENTS_PER_LEGAL_ENTITY = 3
CATEGORIES = [
    ("355", "Centre Hospitalier (C.H.)"),
    ("106", "Centre hospitalier, ex Hôpital local"),
    ("365", "Etablissement de Soins Pluridisciplinaire"),
    ("128", "Etablissement de Soins Chirurgicaux"),
    ("129", "Etablissement de Soins Médicaux"),
    ("156", "Centre Médico-Psychologique (C.M.P.)"),
    ("500", "Etablissement d'hébergement pour personnes âgées dépendantes"),
    ("183", "Institut Médico-Educatif (I.M.E.)"),
    ("246", "Etablissement et Service d'Aide par le Travail (E.S.A.T.)"),
    ("255", "Maison d'Accueil Spécialisée (M.A.S.)"),
    ("354", "Service de Soins Infirmiers A Domicile (S.S.I.A.D)"),
]
# Metropolitan départements written with two digits (their FINESS numbers carry a Luhn key).
DEPARTEMENTS = [f"{n:02d}" for n in range(1, 96) if n != 20]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def luhn_key(first_eight: str) -> str:
    for key in "0123456789":
        total = 0
        for position, char in enumerate(reversed(first_eight + key)):
            value = int(char)
            if position % 2 == 1:
                value = value * 2 - 9 if value > 4 else value * 2
            total += value
        if total % 10 == 0:
            return key
    raise ValueError(first_eight)


def finess_number(departement: str, serial: int) -> str:
    body = f"{departement}{serial:06d}"
    return body + luhn_key(body)


def write_extract(path: Path, lines: int, updated_on: str = "2026-04-30") -> None:
    """A valid extract: a header, `lines` establishments, their geolocation lines ignored by the import."""
    rng = random.Random(20260512)
    with path.open("w", encoding="utf-8") as out:
        out.write("finess;etalab;111;2026-05-12\n")
        for i in range(lines):
            departement = DEPARTEMENTS[i % len(DEPARTEMENTS)]
            serial = i // len(DEPARTEMENTS)
            establishment = finess_number(departement, serial)
            ej_index = i // ESTABLISHMENTS_PER_LEGAL_ENTITY
            legal_entity = finess_number(
                DEPARTEMENTS[ej_index % len(DEPARTEMENTS)], 500000 + ej_index
            )
            code, label = CATEGORIES[rng.randrange(len(CATEGORIES))]
            year = 1950 + rng.randrange(75)
            opened = f"{year}-{1 + rng.randrange(12):02d}-{1 + rng.randrange(28):02d}"
            fields = [
                "structureet",
                establishment,
                legal_entity,
                f"ETAB FICTIF {i}",
                f"ETABLISSEMENT FICTIF NUMERO {i}",
                "",
                "",
                str(1 + rng.randrange(200)),
                "RUE",
                f"DES ESSAIS {i % 500}",
                "",
                "",
                f"{rng.randrange(1, 900):03d}",
                departement,
                "DEPARTEMENT FICTIF",
                f"{departement}{rng.randrange(1000):03d} COMMUNE FICTIVE {i % 300}",
                f"04{rng.randrange(10**8):08d}",
                "",
                code,
                label,
                "",
                "",
                f"{rng.randrange(10**14):014d}",
                "8610Z",
                "",
                "",
                "",
                "",
                opened,
                opened,
                updated_on,
                "",
            ]
            out.write(";".join(fields) + "\n")
        for i in range(0, lines, 10):
            out.write(f"geolocalisation;{i};800000.0;6500000.0;1,BENCH;2026-05-01\n")


def postgres_bench_url(url: str) -> tuple[str, str, str]:
    """(bench database URL, maintenance conninfo, bench database name) for a PostgreSQL DATABASE_URL."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "rempart"
    bench = f"{name}_bench"
    bench_url = urlunsplit(parts._replace(path=f"/{bench}"))
    admin_url = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    return bench_url, admin_url, bench


def drop_postgres(admin_url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="rempart-bench-finess-"))
    url = os.environ.get("DATABASE_URL", "")
    postgres = url.startswith(("postgres://", "postgresql://"))
    admin_url = bench_name = None
    try:
        if postgres:
            bench_url, admin_url, bench_name = postgres_bench_url(url)
            create_postgres_database(admin_url, url, bench_name)
            os.environ["DATABASE_URL"] = bench_url
        else:
            os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
        os.environ["REMPART_MEDIA_ROOT"] = str(workdir / "media")
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        from rempart.organisations.importer import load_reference_data, run_command_import

        log(
            f"Base : {connection.vendor} ({connection.settings_dict['NAME']}), {LINES} lignes d'établissement."
        )
        call_command("migrate", verbosity=0, interactive=False)
        load_reference_data()
        extract = workdir / "finess_bench.csv"
        write_extract(extract, LINES)
        log(f"Fichier généré : {extract.stat().st_size / 1024 / 1024:.1f} Mo.")

        started = time.perf_counter()
        _run, report = run_command_import(path=extract)
        seconds = time.perf_counter() - started
        expected_entities = -(-LINES // ESTABLISHMENTS_PER_LEGAL_ENTITY)
        if (
            report.rejected
            or report.created != LINES
            or report.legal_entities_created != expected_entities
        ):
            log(
                f"Import incomplet : {report.created} créés, {report.legal_entities_created} entités juridiques, "
                f"{report.rejected} rejets (premiers : {report.rejections[:3]})."
            )
            return 1
        log(
            f"Import : {report.created} établissements et {report.legal_entities_created} entités juridiques "
            f"créés, {report.ignored} lignes ignorées, en {seconds:.1f} s."
        )
        rerun_started = time.perf_counter()
        _run, rerun = run_command_import(path=extract)
        log(
            f"Second passage (tout inchangé : {rerun.unchanged}) en {time.perf_counter() - rerun_started:.1f} s."
        )
        write_extract(extract, LINES, updated_on="2026-05-31")
        update_started = time.perf_counter()
        _run, update = run_command_import(path=extract)
        log(
            f"Troisième passage (date de mise à jour changée partout : {update.updated} mis à jour) "
            f"en {time.perf_counter() - update_started:.1f} s."
        )
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
        print(f"finess_import_seconds: {seconds:.2f} s")
        print(f"finess_import_peak_mb: {peak_mb:.1f} MB")
        connection.close()
        return 0
    except Exception as exc:
        log(f"Mesure impossible : {exc.__class__.__name__}: {exc}")
        return 1
    finally:
        if postgres and admin_url and bench_name:
            try:
                from django.db import connections

                connections.close_all()
            except Exception:  # noqa: S110 — best effort before dropping the database
                pass
            drop_postgres(admin_url, bench_name)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
