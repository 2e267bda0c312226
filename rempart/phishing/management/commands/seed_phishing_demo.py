"""`make demo`, after `seed_awareness_demo`: the simulated-phishing set-up and history."""

from django.core.management.base import BaseCommand, CommandError

from rempart.organisations import demo as organisations_demo
from rempart.organisations.models import Region
from rempart.phishing.demo import seed_phishing_demo


class Command(BaseCommand):
    help = "Crée la bibliothèque régionale, les campagnes et l'historique d'hameçonnage simulé."

    def handle(self, *args, **options):
        region = Region.objects.filter(code=organisations_demo.REGION_CODE).first()
        if region is None:
            raise CommandError(
                "La région de démonstration n'existe pas : lancez d'abord « manage.py seed_demo »."
            )
        for line in seed_phishing_demo(region):
            self.stdout.write(f"  {line}")
