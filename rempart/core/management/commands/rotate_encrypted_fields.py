"""Re-encrypt every stored secret under the newest key of REMPART_FIELD_ENCRYPTION_KEYS.

Rotation: put the new key first (keep the old ones after it), deploy, run this command,
then remove the old keys. Works on ciphertext (MultiFernet.rotate), so a value is never
decrypted into memory longer than needed and never encrypted twice.
"""

from allauth.mfa.models import Authenticator
from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import F, TextField, Value
from django.db.models.functions import Cast

from rempart.core.fields import EncryptedTextField, fernet

AUTHENTICATOR_SECRET_KEYS = ("secret", "seed")
AUTHENTICATOR_SECRET_LISTS = ("migrated_codes",)


class Command(BaseCommand):
    help = "Rechiffre tous les secrets stockés avec la clé la plus récente."

    def handle(self, *args, **options):
        rotator = fernet()
        total = 0
        with transaction.atomic():
            for model in apps.get_models():
                fields = [
                    f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)
                ]
                for field in fields:
                    raw = model._base_manager.exclude(
                        **{f"{field.attname}__isnull": True}
                    ).annotate(_ciphertext=Cast(F(field.attname), output_field=TextField()))
                    for pk, token in raw.values_list("pk", "_ciphertext").iterator():
                        if not token:
                            continue
                        rotated = rotator.rotate(token.encode()).decode()
                        model._base_manager.filter(pk=pk).update(
                            **{field.attname: Value(rotated, output_field=TextField())}
                        )
                        total += 1
            for authenticator in Authenticator.objects.select_for_update().iterator():
                data = dict(authenticator.data)
                changed = False
                for key in AUTHENTICATOR_SECRET_KEYS:
                    if data.get(key):
                        data[key] = rotator.rotate(data[key].encode()).decode()
                        changed = True
                for key in AUTHENTICATOR_SECRET_LISTS:
                    if data.get(key):
                        data[key] = [rotator.rotate(v.encode()).decode() for v in data[key]]
                        changed = True
                if changed:
                    Authenticator.objects.filter(pk=authenticator.pk).update(data=data)
                    total += 1
        self.stdout.write(
            self.style.SUCCESS(f"{total} secret(s) rechiffré(s) avec la clé la plus récente.")
        )
