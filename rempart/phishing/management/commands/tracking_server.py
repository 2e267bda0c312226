"""Run the public tracking server of simulated phishing: the pixel, the link, the landing page
and « report this message » (/p/), on a server of their own (decision 0005).

These routes take every recipient's and every mail scanner's hits, with no login: they are
served by Granian (Rust HTTP, WSGI) in front of the same Django application, behind the reverse
proxy's `location /p/` (deploy/nginx/rempart.conf), while the pages of the platform stay on
gunicorn. `bench/tracking.py` measures this command as deployed.
"""

import os
import shutil
import sys

from django.core.management.base import BaseCommand, CommandError

# Python threads per worker process (one process per core): the views are short and hold the
# GIL most of their time. One thread measured best (bench/tracking.py on 2 cores, PostgreSQL:
# the link ~1,950–2,070 req/s with one, ~1,850–1,900 with two, ~1,840 with four): a second
# thread mostly waits for the GIL the first one holds.
DEFAULT_BLOCKING_THREADS = 1
DEFAULT_BACKLOG = 2048


def granian_argv(*, host: str, port: int, workers: int, blocking_threads: int) -> list[str]:
    return [
        "granian",
        "--interface",
        "wsgi",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--blocking-threads",
        str(blocking_threads),
        "--backlog",
        str(DEFAULT_BACKLOG),
        "--http",
        "1",
        "--no-ws",
        "--log-level",
        "warning",
        "config.tracking_wsgi:application",
    ]


class Command(BaseCommand):
    help = "Lance le serveur de suivi public de l'hameçonnage simulé (/p/) avec Granian."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.environ.get("TRACKING_BIND", "127.0.0.1:8001"))
        parser.add_argument(
            "--workers", type=int, default=int(os.environ.get("TRACKING_WORKERS", os.cpu_count()))
        )
        parser.add_argument(
            "--blocking-threads",
            type=int,
            default=int(os.environ.get("TRACKING_BLOCKING_THREADS", DEFAULT_BLOCKING_THREADS)),
        )

    def handle(self, *args, bind, workers, blocking_threads, **options):
        host, _, port = bind.rpartition(":")
        if not host or not port.isdigit():
            raise CommandError(f"Adresse d'écoute invalide : {bind!r} (attendu : hôte:port).")
        executable = shutil.which("granian", path=os.path.dirname(sys.executable)) or shutil.which(
            "granian"
        )
        if executable is None:
            raise CommandError("Granian est introuvable (dépendance du projet : make install).")
        argv = granian_argv(
            host=host.strip("[]"),
            port=int(port),
            workers=workers,
            blocking_threads=blocking_threads,
        )
        sys.stdout.flush()
        os.execv(executable, argv)  # noqa: S606 - our own argument list, no shell
