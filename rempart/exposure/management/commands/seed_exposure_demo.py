"""`make demo`, after `seed_assessments_demo`: the exposure watch of the demo region, with two
real scans of loopback lab services (rempart/exposure/demo.py)."""

from django.core.management.base import BaseCommand, CommandError

from rempart.exposure.demo import seed_exposure_demo
from rempart.organisations import demo as organisations_demo
from rempart.organisations.models import Region


class Command(BaseCommand):
    help = "Crée la veille d'exposition de démonstration, avec deux analyses réelles (idempotent)."

    def handle(self, *args, **options):
        region = Region.objects.filter(code=organisations_demo.REGION_CODE).first()
        if region is None:
            raise CommandError(
                "La région de démonstration n'existe pas : lancez d'abord « manage.py seed_demo »."
            )
        for line in seed_exposure_demo(region):
            self.stdout.write(f"  {line}")
