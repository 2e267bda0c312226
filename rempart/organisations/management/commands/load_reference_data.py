"""Load the versioned reference data (regions, départements, FINESS categories). Idempotent."""

from django.core.management.base import BaseCommand, CommandError

from rempart.organisations.importer import ReferenceDataError, load_reference_data

LABELS = {"regions": "Régions", "departements": "Départements", "categories": "Catégories FINESS"}


class Command(BaseCommand):
    help = "Charge les régions, départements et catégories FINESS depuis rempart/organisations/data/ (idempotent)."

    def handle(self, *args, **options):
        try:
            counts = load_reference_data()
        except ReferenceDataError as exc:
            raise CommandError(exc.message) from exc
        for kind, label in LABELS.items():
            c = counts[kind]
            self.stdout.write(
                f"{label} : {c['created']} créé(s), {c['updated']} mis à jour, {c['unchanged']} inchangé(s)."
            )
