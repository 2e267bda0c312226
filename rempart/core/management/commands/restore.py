"""`manage.py restore ARCHIVE`: restore an archive made by `manage.py backup` into an empty database."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from rempart.core.backup import BackupError, restore_backup


class Command(BaseCommand):
    help = (
        "Restaure une archive produite par « manage.py backup » (nom dans le stockage des sauvegardes "
        "ou chemin d'un fichier) dans une base vide ; --force efface d'abord la base."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "archive", help="Nom de l'archive dans le stockage des sauvegardes, ou chemin."
        )
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Ne pas demander de confirmation.",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Effacer toutes les données de la base avant de restaurer.",
        )
        parser.add_argument("--database", default="default", help="Alias de la base où restaurer.")

    def handle(self, *args, **options):
        archive, using = options["archive"], options["database"]
        if options["interactive"]:
            database = connections[using].settings_dict["NAME"]
            warning = " TOUTES SES DONNÉES ACTUELLES SERONT EFFACÉES." if options["force"] else ""
            self.stdout.write(f"Restaurer « {archive} » dans la base « {database} » ?{warning}")
            try:
                answer = input("Tapez « oui » pour continuer : ")
            except EOFError:
                answer = ""
            if answer.strip().lower() != "oui":
                raise CommandError("Restauration annulée.")
        try:
            report = restore_backup(archive, force=options["force"], using=using)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        if report.flushed:
            self.stdout.write("Base effacée avant restauration (--force).")
        self.stdout.write(self.style.SUCCESS(f"Sauvegarde « {report.name} » restaurée."))
        for label, count in sorted(report.counts.items()):
            if count:
                self.stdout.write(f"  {label} : {count}")
        self.stdout.write(f"  fichiers : {report.media_files}")
