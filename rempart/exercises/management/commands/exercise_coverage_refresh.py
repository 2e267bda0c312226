"""Apply the validity rule (data/validity.yaml) to every exercise kept: after the rule changes,
the coverage verdicts are recomputed from the records, never edited by hand."""

from django.core.management.base import BaseCommand

from rempart.exercises.coverage import refresh_all
from rempart.exercises.validity import rule


class Command(BaseCommand):
    help = "Recalcule la validité de chaque exercice avec la règle en vigueur."

    def handle(self, *args, **options):
        the_rule = rule()
        count = refresh_all(the_rule=the_rule)
        self.stdout.write(f"{count} exercice(s) recalculé(s) avec la règle {the_rule.version}.")
