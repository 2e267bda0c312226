"""`manage.py send_phishing [--once]`: the phishing sending loop without a broker (embedded
SQLite, CELERY_TASK_ALWAYS_EAGER): the same sweep and senders the Celery workers run."""

import time

from django.core.management.base import BaseCommand

from rempart.phishing import sending


class Command(BaseCommand):
    help = "Envoie les messages dus des campagnes d'hameçonnage simulé (sans broker)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Une seule passe, puis s'arrête.")
        parser.add_argument(
            "--every", type=float, default=30.0, help="Secondes entre deux passes (défaut 30)."
        )

    def handle(self, *args, once: bool = False, every: float = 30.0, **options):
        while True:
            report = sending.run_once()
            self.stdout.write(
                f"envoyés : {report['sent']}, en échec : {report['failed']}, à réessayer : "
                f"{report['retried']}, planifiés : {report['planned']}, campagnes terminées : "
                f"{report['finished']}"
            )
            for error in report["errors"]:
                self.stderr.write(error)
            if once:
                return
            time.sleep(max(1.0, every))
