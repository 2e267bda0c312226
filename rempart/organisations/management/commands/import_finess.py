"""Import a FINESS extract (establishments, and legal entities when the file has them)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from rempart.organisations.importer import (
    FinessFileError,
    ReferenceDataError,
    ensure_reference_data,
    format_report,
    run_command_import,
)
from rempart.organisations.models import Region


class Command(BaseCommand):
    help = (
        "Importe une extraction FINESS (lignes « structureet », et « structureej » si présentes) : "
        "crée ou met à jour les établissements et entités juridiques, en une seule transaction."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "file", help="Chemin du fichier CSV de l'extraction FINESS (UTF-8 ou ISO-8859-1)."
        )
        parser.add_argument(
            "--region",
            metavar="CODE",
            help="Code INSEE de la région à importer (par exemple 84) ; par défaut : toutes les régions.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Simule l'import et affiche le rapport sans rien enregistrer.",
        )

    def handle(self, *args, **options):
        path = Path(options["file"]).expanduser()
        try:
            ensure_reference_data()
        except ReferenceDataError as exc:
            raise CommandError(exc.message) from exc
        region = None
        if options["region"]:
            region = Region.objects.filter(code=options["region"].strip()).first()
            if region is None:
                known = ", ".join(Region.objects.order_by("code").values_list("code", flat=True))
                raise CommandError(
                    f"Région « {options['region']} » inconnue. Codes disponibles : {known}."
                )
        try:
            finess_import, report = run_command_import(
                path=path, region=region, dry_run=options["dry_run"]
            )
        except FinessFileError as exc:
            raise CommandError(exc.message) from exc
        scope = f"région {region.code} – {region.name}" if region else "toutes les régions"
        if options["dry_run"]:
            self.stdout.write(
                f"Simulation de l'import de « {path.name} » ({scope}) : aucune modification enregistrée."
            )
        else:
            self.stdout.write(
                f"Import FINESS n°{finess_import.pk} de « {path.name} » ({scope}) : terminé."
            )
        for line in format_report(report):
            self.stdout.write(line)
