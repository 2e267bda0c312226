"""Load (or check, with --dry-run) the e-learning modules of `rempart/awareness/data/modules/`."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from rempart.awareness import learning_content


class Command(BaseCommand):
    help = (
        "Valide puis charge les modules de sensibilisation (fichiers YAML) : tout ou rien, "
        "une nouvelle version par module modifié."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Valider et dire ce qui changerait, sans écrire."
        )
        parser.add_argument(
            "--dir", default=None, help="Dossier des fichiers (par défaut : data/modules/)."
        )

    def handle(self, *args, **options):
        directory = Path(options["dir"]) if options["dir"] else learning_content.MODULES_DIR
        try:
            report = learning_content.load(directory=directory, dry_run=options["dry_run"])
        except learning_content.AwarenessContentError as exc:
            raise CommandError(exc.message) from exc
        prefix = "(simulation) " if report.dry_run else ""
        for label, codes in (
            ("créés", report.created),
            ("nouvelle version", report.updated),
            ("inchangés", report.unchanged),
            ("dépubliés", report.unpublished),
        ):
            if codes:
                self.stdout.write(f"{prefix}Modules {label} : {', '.join(codes)}")
        self.stdout.write(
            self.style.SUCCESS(
                f"{prefix}{len(report.created) + len(report.updated)} module(s) écrit(s), "
                f"{len(report.unchanged)} inchangé(s)."
            )
        )
