from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter

from .fields import decrypt_text, encrypt_text


class AccountAdapter(DefaultAccountAdapter):
    """No open sign-up: people join through an invitation from someone entitled to invite."""

    def is_open_for_signup(self, request) -> bool:
        return False


class MfaAdapter(DefaultMFAAdapter):
    """TOTP secrets and recovery-code seeds are encrypted with the platform's field keys
    (allauth stores them in clear otherwise)."""

    def encrypt(self, text: str) -> str:
        return encrypt_text(text)

    def decrypt(self, encrypted_text: str) -> str:
        return decrypt_text(encrypted_text)
