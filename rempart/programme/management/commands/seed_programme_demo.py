"""`make demo`, after `seed_demo`: the demo region's CaRE calls (D1 closed, D2 open today)."""

from django.core.management.base import BaseCommand, CommandError

from rempart.organisations import demo as organisations_demo
from rempart.organisations.models import Region
from rempart.programme.demo import seed_programme_demo
from rempart.programme.demo_files import seed_programme_files


class Command(BaseCommand):
    help = (
        "Crée (ou met à jour) les appels CaRE de la région de démonstration : D1 clos, D2 ouvert."
    )

    def handle(self, *args, **options):
        region = Region.objects.filter(code=organisations_demo.REGION_CODE).first()
        if region is None:
            raise CommandError(
                "La région de démonstration n'existe pas : lancez d'abord « manage.py seed_demo »."
            )
        for line in seed_programme_demo(region) + seed_programme_files(region):
            self.stdout.write(f"  {line}")
