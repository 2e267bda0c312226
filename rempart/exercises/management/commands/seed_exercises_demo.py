"""`make demo`, after `seed_events_demo`: the national scenario library and the demo region's
crisis exercises, from which the coverage is computed."""

from django.core.management.base import BaseCommand, CommandError

from rempart.exercises.demo import seed_exercises_demo
from rempart.exercises.library import ScenarioDataError
from rempart.organisations import demo as organisations_demo
from rempart.organisations.models import Region


class Command(BaseCommand):
    help = (
        "Charge la bibliothèque nationale de scénarios et crée les exercices de crise de "
        "démonstration (idempotent)."
    )

    def handle(self, *args, **options):
        region = Region.objects.filter(code=organisations_demo.REGION_CODE).first()
        if region is None:
            raise CommandError(
                "La région de démonstration n'existe pas : lancez d'abord « manage.py seed_demo »."
            )
        try:
            lines = seed_exercises_demo(region)
        except ScenarioDataError as exc:
            raise CommandError(exc.message) from exc
        for line in lines:
            self.stdout.write(f"  {line}")
