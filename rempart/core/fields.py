"""Encrypted model field for secrets (SMTP and LDAP passwords, webhook keys…).

Values are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under the keys listed in
REMPART_FIELD_ENCRYPTION_KEYS; the first key encrypts, all keys decrypt, so keys rotate
without downtime (`manage.py rotate_encrypted_fields` re-encrypts under the newest key).
"""

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "REMPART_FIELD_ENCRYPTION_KEYS contient une clé Fernet invalide."
        ) from exc


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt_text(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt_text(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "Impossible de déchiffrer un secret : clé de chiffrement inconnue."
        ) from exc


class EncryptedTextField(models.TextField):
    """A text field stored encrypted; it cannot be filtered or ordered on, by design."""

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt_text(value)

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt_text(value)

    def get_lookup(self, lookup_name):
        if lookup_name not in {"isnull", "exact"}:
            return None
        return super().get_lookup(lookup_name)
