"""`make demo`: the fictional demo region and one account per role, then how to log in."""

from django.core.management.base import BaseCommand, CommandError

from rempart.core.roles import ROLES
from rempart.organisations import demo


class Command(BaseCommand):
    help = (
        "Crée (ou remet à jour) la région de démonstration Auvergne-Rhône-Alpes : ARS, CRRC, 13 GHT, "
        "environ 230 établissements sanitaires et 100 médico-sociaux importés d'une extraction FINESS "
        "fictive, et un compte par rôle. Idempotent : une seconde exécution ne change rien."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Supprime d'abord les organisations et comptes de démonstration, puis les recrée.",
        )
        parser.add_argument(
            "--url",
            default=demo.DEMO_URL,
            help="Adresse à afficher pour se connecter (celle du serveur lancé).",
        )

    def handle(self, *args, reset=False, url=demo.DEMO_URL, **options):
        self.url = url
        try:
            result = demo.seed(reset_first=reset)
        except demo.DemoError as exc:
            raise CommandError(str(exc)) from exc
        self._summary(result)

    def _summary(self, result: demo.SeedResult) -> None:
        w = self.stdout.write
        c = result.counts
        w(
            self.style.SUCCESS(
                f"Région de démonstration prête : {demo.REGION_NAME} ({demo.REGION_CODE})."
            )
        )
        w(
            f"  {c['ght']} GHT, {c['sanitaire']} établissements sanitaires, {c['medico_social']} structures "
            f"médico-sociales, {c['legal_entities']} entités juridiques ; {c['ght_members']} établissements "
            "membres d'un GHT."
        )
        w("  Import FINESS de démonstration :")
        for line in result.import_output.strip().splitlines():
            w(f"    {line}")
        if result.organisations_updated:
            w(
                f"  GHT et chiffres d'activité mis à jour sur {result.organisations_updated} organisation(s)."
            )
        w("")
        w(self.style.MIGRATE_HEADING(f"Adresse : {self.url}"))
        w(f"Mot de passe de tous les comptes de démonstration : {demo.DEMO_PASSWORD}")
        w("")
        rows = [("Rôle", "Courriel", "Organisation", "Double authentification")]
        for account, user, organisation in result.accounts:
            mfa = (
                "secret TOTP ci-dessous"
                if ROLES[account.role].requires_mfa
                else "aucune (apprenant)"
            )
            rows.append((str(ROLES[account.role].label), user.email, organisation.name, mfa))
        widths = [min(max(len(row[i]) for row in rows), 58) for i in range(4)]
        for index, row in enumerate(rows):
            w(
                "  "
                + "  ".join(
                    value[: widths[i]].ljust(widths[i]) for i, value in enumerate(row)
                ).rstrip()
            )
            if index == 0:
                w("  " + "  ".join("-" * width for width in widths))
        w("")
        w(
            self.style.MIGRATE_HEADING(
                "Double authentification (tous les rôles sauf « Personnel (apprenant) »)"
            )
        )
        w(
            "  Après le mot de passe, Rempart demande un code à 6 chiffres. Deux façons de l'obtenir :"
        )
        w("  1. afficher le code du moment :  make totp EMAIL=rssi@demo.rempart.fr")
        w("     (ou : .venv/bin/python manage.py demo_totp rssi@demo.rempart.fr) ;")
        w("  2. ajouter le compte à une application d'authentification (FreeOTP, Aegis, Google")
        w("     Authenticator…) avec son secret, ou en ouvrant son URI otpauth :")
        for _account, user, _organisation in result.accounts:
            secret = demo.totp_secret_of(user)
            if secret:
                w(f"     {user.email:<32} {secret}")
                w(f"       {demo.otpauth_uri(user, secret)}")
        w(
            "  Un code ne sert qu'une fois : pour vous reconnecter dans la même demi-minute, attendez le suivant."
        )
        w("")
        if result.invitation is not None:
            w(
                f"Une invitation est en attente pour {result.invitation.email} "
                f"({result.invitation.organisation.name}) : elle apparaît sur la page « Personnes »."
            )
        w("Pour repartir de zéro : .venv/bin/python manage.py seed_demo --reset")
