"""A throwaway database for a benchmark: never the project's own (var/rempart.sqlite3)."""

import os
import tempfile
from urllib.parse import urlsplit, urlunsplit


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
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{db_name}"')
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
