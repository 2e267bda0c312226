"""Load the CaRE domains, prerequisites and targets from rempart/programme/data/domains/."""

from django.core.management.base import BaseCommand, CommandError

from rempart.programme.reference_data import ProgrammeDataError, load_domains


class Command(BaseCommand):
    help = (
        "Charge les domaines CaRE, leurs prérequis et leurs cibles depuis "
        "rempart/programme/data/domains/ (idempotent ; rien n'est écrit si un fichier est invalide)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Vérifie les fichiers et affiche ce qui changerait, sans rien enregistrer.",
        )
        parser.add_argument(
            "--path",
            default=None,
            help="Dossier (ou fichier) YAML à charger à la place du dossier livré.",
        )

    def handle(self, *args, dry_run: bool = False, path: str | None = None, **options):
        try:
            report = load_domains(path, dry_run=dry_run)
        except ProgrammeDataError as exc:
            raise CommandError(exc.message) from exc
        for line in report.lines():
            self.stdout.write(line)
