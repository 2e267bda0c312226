"""Load the national scenario library from rempart/exercises/data/scenarios/ (or, with
--region, a folder of scenarios into a region's CRRC library). Idempotent: unchanged
scenarios stay as they are, changed ones get a new version."""

from django.core.management.base import BaseCommand, CommandError

from rempart.exercises.library import ScenarioDataError, load_specs, parse_files
from rempart.organisations.models import Region


class Command(BaseCommand):
    help = (
        "Charge les scénarios d'exercice de crise livrés (rempart/exercises/data/scenarios/) "
        "dans la bibliothèque nationale (idempotent ; rien n'est écrit si un fichier est "
        "invalide ; un scénario modifié devient une nouvelle version)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--path",
            default=None,
            help="Dossier (ou fichier) YAML à charger à la place du dossier livré.",
        )
        parser.add_argument(
            "--region",
            default=None,
            help="Code INSEE de la région : charge dans la bibliothèque régionale du CRRC.",
        )

    def handle(self, *args, path: str | None = None, region: str | None = None, **options):
        target = None
        if region:
            target = Region.objects.filter(code=region).first()
            if target is None:
                raise CommandError(f"Aucune région n'a le code « {region} ».")
        try:
            report = load_specs(parse_files(path), region=target)
        except ScenarioDataError as exc:
            raise CommandError(exc.message) from exc
        library = f"bibliothèque de la région {target.name}" if target else "bibliothèque nationale"
        self.stdout.write(f"Scénarios ({library}) : {report.summary()}")
        for line in report.lines():
            self.stdout.write(f"  {line}")
