"""`make demo`, after `seed_demo`: the demo region's rota, a year of incidents and ORSAN cyber."""

from django.core.management.base import BaseCommand, CommandError

from rempart.incidents.demo import seed_incidents_demo
from rempart.organisations import demo as organisations_demo
from rempart.organisations.models import Region


class Command(BaseCommand):
    help = "Crée l'astreinte, l'historique d'incidents et l'entraide ORSAN de la région de démonstration."

    def handle(self, *args, **options):
        region = Region.objects.filter(code=organisations_demo.REGION_CODE).first()
        if region is None:
            raise CommandError(
                "La région de démonstration n'existe pas : lancez d'abord « manage.py seed_demo »."
            )
        for line in seed_incidents_demo(region):
            self.stdout.write(f"  {line}")
