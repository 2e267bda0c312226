"""`make demo`, after `seed_exercises_demo`: the shipped questionnaires and the demo region's
self-assessments, campaign and action plan."""

from django.core.management.base import BaseCommand, CommandError

from rempart.assessments.demo import seed_assessments_demo
from rempart.organisations import demo as organisations_demo
from rempart.organisations.models import Region


class Command(BaseCommand):
    help = "Crée les autoévaluations de démonstration (idempotent)."

    def handle(self, *args, **options):
        region = Region.objects.filter(code=organisations_demo.REGION_CODE).first()
        if region is None:
            raise CommandError(
                "La région de démonstration n'existe pas : lancez d'abord « manage.py seed_demo »."
            )
        for line in seed_assessments_demo(region):
            self.stdout.write(f"  {line}")
