import io

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from rempart.core.fields import EncryptedTextField, decrypt_text, encrypt_text


def test_value_is_stored_encrypted_and_read_back():
    field = EncryptedTextField()
    stored = field.get_prep_value("mot-de-passe-smtp")
    assert "mot-de-passe-smtp" not in stored
    assert field.from_db_value(stored, None, None) == "mot-de-passe-smtp"
    assert field.get_prep_value("") == ""
    assert field.get_prep_value(None) is None


def test_key_rotation_reads_old_values_and_writes_with_new_key(settings):
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    token = encrypt_text("secret")
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    assert decrypt_text(token) == "secret"
    fresh = encrypt_text("secret")
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert decrypt_text(fresh) == "secret"
    with pytest.raises(ImproperlyConfigured):
        decrypt_text(token)


def test_encrypted_values_cannot_be_searched():
    assert EncryptedTextField().get_lookup("icontains") is None


@pytest.mark.django_db
def test_totp_secrets_are_encrypted_and_survive_key_rotation(settings):
    import pyotp
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP
    from django.core.management import call_command

    from rempart.core.roles import Role
    from rempart.organisations.tests.factories import TEST_TOTP_SECRET, OrganisationFactory, member

    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    rssi = member(Role.RSSI, OrganisationFactory())
    stored = Authenticator.objects.get(user=rssi, type=Authenticator.Type.TOTP).data["secret"]
    assert stored != TEST_TOTP_SECRET
    assert TEST_TOTP_SECRET not in stored

    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("rotate_encrypted_fields", stdout=io.StringIO())
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key can now be removed
    totp = TOTP(Authenticator.objects.get(user=rssi, type=Authenticator.Type.TOTP))
    assert totp.validate_code(pyotp.TOTP(TEST_TOTP_SECRET).now())
