"""Send the reminders due today (what Celery beat runs every morning), or list them."""

import datetime

from django.core.management.base import BaseCommand, CommandError

from rempart.programme.reminders import reminder_days, run_reminders


def _date(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(
            f"Date invalide : « {value} ». Indiquez-la au format AAAA-MM-JJ (ex. 2025-10-17)."
        ) from exc


class Command(BaseCommand):
    help = (
        "Relance par e-mail les candidats qui n'ont pas terminé, N jours avant la clôture "
        "d'une fenêtre d'appel (N dans REMPART_REMINDER_DAYS). Une relance n'est jamais "
        "envoyée deux fois."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--date",
            default=None,
            help="Jour de référence (AAAA-MM-JJ, heure de Paris) à la place d'aujourd'hui.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Affiche les relances qui seraient envoyées, sans rien envoyer ni enregistrer.",
        )

    def handle(self, *args, date: str | None = None, dry_run: bool = False, **options):
        today = _date(date) if date else None
        outcomes = run_reminders(today, dry_run=dry_run)
        days = ", ".join(f"J-{n}" for n in reminder_days())
        if not outcomes:
            self.stdout.write(f"Aucune relance due ({days}).")
            return
        for outcome in outcomes:
            reminder = outcome.reminder
            line = f"{outcome.label} : {reminder.describe()}"
            if outcome.status in ("sent", "would_send"):
                line += f" → {', '.join(reminder.recipients)}"
            self.stdout.write(line)
            for missing in reminder.missing:
                self.stdout.write(f"    - {missing}")
        sent = [o for o in outcomes if o.status == "sent"]
        if dry_run:
            planned = [o for o in outcomes if o.status == "would_send"]
            self.stdout.write(
                f"Simulation : {len(planned)} relance(s) à envoyer, "
                f"{sum(o.emails for o in planned)} e-mail(s) ; rien n'a été envoyé."
            )
        else:
            self.stdout.write(
                f"{len(sent)} relance(s) envoyée(s), {sum(o.emails for o in sent)} e-mail(s)."
            )
        failed = [o for o in outcomes if o.status == "failed"]
        if failed:
            raise CommandError(
                f"{len(failed)} relance(s) n'ont pas pu être envoyées (voir le journal) ; "
                "relancez la commande pour les renvoyer."
            )
