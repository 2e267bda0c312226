"""Load the shipped questionnaires (rempart/assessments/data/questionnaires/) into the shared
library, or, with --organisation, into one organisation's own library. Idempotent: an unchanged
file stays as it is, a changed one becomes a new version; nothing is written if a file is
invalid."""

from django.core.management.base import BaseCommand, CommandError

from rempart.assessments.questionnaires import QuestionnaireDataError, load_files
from rempart.organisations.models import Organisation


class Command(BaseCommand):
    help = (
        "Charge les questionnaires d'autoévaluation livrés (rempart/assessments/data/"
        "questionnaires/) dans la bibliothèque commune (idempotent ; rien n'est écrit si un "
        "fichier est invalide ; un questionnaire modifié devient une nouvelle version)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--path",
            default=None,
            help="Dossier (ou fichier) YAML à charger à la place du dossier livré.",
        )
        parser.add_argument(
            "--organisation",
            default=None,
            metavar="FINESS",
            help="Numéro FINESS : charge dans la bibliothèque propre à cette organisation.",
        )

    def handle(self, *args, path=None, organisation=None, **options):
        target = None
        if organisation:
            target = Organisation.objects.filter(finess=organisation).first()
            if target is None:
                raise CommandError(f"Aucune organisation n'a le numéro FINESS « {organisation} ».")
        try:
            results = load_files(path, organisation=target)
        except QuestionnaireDataError as exc:
            raise CommandError(exc.message) from exc
        library = f"bibliothèque de {target.name}" if target else "bibliothèque commune"
        self.stdout.write(f"Questionnaires ({library}) : {len(results)} fichier(s) lu(s).")
        for result in results:
            self.stdout.write(f"  {result}")
