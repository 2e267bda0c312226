"""`make demo`, after `seed_incidents_demo`: the modules, quiz attempts and escape games."""

from django.core.management.base import BaseCommand, CommandError

from rempart.awareness.demo import seed_awareness_demo
from rempart.organisations import demo as organisations_demo
from rempart.organisations.models import Region


class Command(BaseCommand):
    help = "Charge les modules de sensibilisation et crée l'historique de démonstration."

    def handle(self, *args, **options):
        region = Region.objects.filter(code=organisations_demo.REGION_CODE).first()
        if region is None:
            raise CommandError(
                "La région de démonstration n'existe pas : lancez d'abord « manage.py seed_demo »."
            )
        for line in seed_awareness_demo(region):
            self.stdout.write(f"  {line}")
