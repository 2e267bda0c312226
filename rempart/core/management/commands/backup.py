"""`manage.py backup`: write one archive of the platform's data and media, print its name."""

from django.core.management.base import BaseCommand, CommandError

from rempart.core.backup import BackupError, create_backup


class Command(BaseCommand):
    help = (
        "Sauvegarde la base de données et les fichiers (stockage Django) dans une archive .tar.gz "
        "écrite dans le stockage des sauvegardes (REMPART_BACKUP_DIR ou STORAGES['backups'])."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--output", metavar="NOM", help="Nom de l'archive dans le stockage des sauvegardes."
        )
        parser.add_argument("--database", default="default", help="Alias de la base à sauvegarder.")

    def handle(self, *args, **options):
        try:
            name = create_backup(name=options["output"], using=options["database"])
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(name)
