"""A throwaway database for a benchmark: never the project's own (var/rempart.sqlite3).

On PostgreSQL each benchmark's database is a copy of a migrated template (CREATE DATABASE …
TEMPLATE): applying every migration costs 30–40 s of CPU on this machine, once per benchmark
otherwise. The template's name carries a digest of the migrations and of uv.lock (the
libraries' own migrations), so a change makes a new one and the old ones are dropped; the
benchmarks still run `migrate`, which then has nothing to apply.
"""

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PREFIX = "rempart_bench_template_"


def prepare_database(db_name: str) -> tuple[str, object]:
    """Point DATABASE_URL at a fresh database of our own named `db_name` (PostgreSQL) or in a
    temporary folder (SQLite); return (engine, cleanup)."""
    url = os.environ.get("DATABASE_URL", "sqlite://")
    scheme = urlsplit(url).scheme
    if scheme.startswith("postgres"):
        import psycopg

        parts = urlsplit(url)
        # The maintenance database: the one DATABASE_URL names may not exist yet.
        admin_url = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
        create_postgres_database(admin_url, url, db_name)
        os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{db_name}"))

        def cleanup():
            from django.db import connections

            connections.close_all()
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')

        return "postgresql", cleanup
    if scheme != "sqlite":
        raise SystemExit(f"Base non prise en charge par le benchmark : {scheme}")
    workdir = tempfile.TemporaryDirectory(prefix=f"{db_name}-")
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir.name}/bench.sqlite3"

    def cleanup():
        from django.db import connections

        connections.close_all()
        workdir.cleanup()

    return "sqlite", cleanup


def migrations_digest() -> str:
    digest = hashlib.sha256((ROOT / "uv.lock").read_bytes())
    for path in sorted(ROOT.glob("rempart/*/migrations/*.py")):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def create_postgres_database(admin_url: str, url: str, db_name: str) -> None:
    """(Re)create `db_name` as a copy of the migrated template, made first if needed."""
    import psycopg

    template = TEMPLATE_PREFIX + migrations_digest()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        # One benchmark at a time builds the template (a lock held until this connection ends).
        conn.execute("SELECT pg_advisory_lock(hashtext('rempart_bench_template'))")
        names = [row[0] for row in conn.execute("SELECT datname FROM pg_database")]
        for stale in (n for n in names if n.startswith(TEMPLATE_PREFIX) and n != template):
            conn.execute(f'DROP DATABASE IF EXISTS "{stale}" WITH (FORCE)')
        if template not in names:
            conn.execute(f'CREATE DATABASE "{template}"')
            migrated = subprocess.run(
                [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
                cwd=ROOT,
                env={
                    **os.environ,
                    "DATABASE_URL": urlunsplit(urlsplit(url)._replace(path=f"/{template}")),
                },
                check=False,
            )
            if migrated.returncode != 0:
                conn.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
                raise SystemExit("Migration de la base modèle des benchmarks impossible.")
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db_name}" TEMPLATE "{template}"')
