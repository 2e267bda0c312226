"""`make demo`, after `seed_awareness_demo`: the CRRC's trainings and webinars."""

from django.core.management.base import BaseCommand, CommandError

from rempart.events.demo import seed_events_demo
from rempart.organisations import demo as organisations_demo
from rempart.organisations.models import Region


class Command(BaseCommand):
    help = "Crée les sessions de formation et webinaires de démonstration (idempotent)."

    def handle(self, *args, **options):
        region = Region.objects.filter(code=organisations_demo.REGION_CODE).first()
        if region is None:
            raise CommandError(
                "La région de démonstration n'existe pas : lancez d'abord « manage.py seed_demo »."
            )
        for line in seed_events_demo(region):
            self.stdout.write(f"  {line}")
