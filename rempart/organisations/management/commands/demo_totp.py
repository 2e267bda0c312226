"""`make totp EMAIL=…`: the current TOTP code of a demo account, to log in without an app.

Refuses any address outside the demo domain: it must never give a code for a real account.
"""

from django.core.management.base import BaseCommand, CommandError

from rempart.organisations import demo
from rempart.organisations.models import User


class Command(BaseCommand):
    help = (
        "Affiche le code TOTP du moment d'un compte de démonstration (@demo.rempart.fr), "
        "pour se connecter sans application d'authentification."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "email", help="Adresse d'un compte de démonstration, par exemple rssi@demo.rempart.fr"
        )

    def handle(self, *args, email: str, **options):
        email = email.strip()
        if not demo.is_demo_email(email):
            raise CommandError(
                f"« {email} » n'est pas un compte de démonstration : cette commande ne donne de code que pour "
                f"les adresses @{demo.DEMO_DOMAIN}."
            )
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(
                f"Aucun compte « {email} ». Créez la région de démonstration avec « make demo » "
                "(ou .venv/bin/python manage.py seed_demo)."
            )
        secret = demo.totp_secret_of(user)
        if secret is None:
            raise CommandError(
                f"Le compte {email} n'a pas d'application d'authentification : son rôle n'en demande pas, "
                "connectez-vous avec le mot de passe seul."
            )
        code, seconds = demo.current_totp_code(secret)
        self.stdout.write(code)
        self.stderr.write(f"Code TOTP de {email}, valable encore {seconds} s (usage unique).")
