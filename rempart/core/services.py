"""Writes shared by every capability: personal API tokens.

Only the SHA-256 of a token is stored; its clear value exists once, in the return value of
`api_token_create`, so the page can show it a single time. Both writes are audited through
django-auditlog (ApiToken is registered, without its hash).
"""

import datetime

from django.db import transaction
from django.utils import timezone

from rempart.organisations import perms

from .errors import DomainError
from .models import ApiToken, ApiTokenScope, hash_token
from .roles import Capability

API_TOKEN_NAME_MAX_LENGTH = ApiToken._meta.get_field("name").max_length


def api_token_create(
    *,
    actor,
    name: str,
    scope: str,
    expires_at: datetime.datetime | None = None,
) -> tuple[ApiToken, str]:
    """Create a personal token for `actor`; return it with its clear value (shown once)."""
    if not perms.has_capability(actor, Capability.USE_API):
        raise DomainError("Votre rôle ne permet pas d'utiliser l'API.", code="forbidden")
    name = (name or "").strip()
    if not name:
        raise DomainError(
            "Donnez un nom au jeton, par exemple l'outil qui l'utilisera.",
            code="invalid",
            field="name",
        )
    if len(name) > API_TOKEN_NAME_MAX_LENGTH:
        raise DomainError(
            f"Le nom du jeton ne doit pas dépasser {API_TOKEN_NAME_MAX_LENGTH} caractères.",
            code="invalid",
            field="name",
        )
    if scope not in ApiTokenScope.values:
        raise DomainError(
            "Choisissez la portée du jeton : lecture seule, ou lecture et écriture.",
            code="invalid",
            field="scope",
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise DomainError(
            "La date d'expiration doit être dans le futur.", code="invalid", field="expires_at"
        )
    raw = ApiToken.generate_key()
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=actor,
            name=name,
            scope=scope,
            expires_at=expires_at,
            key_prefix=raw[: ApiToken._meta.get_field("key_prefix").max_length],
            key_hash=hash_token(raw),
        )
    return token, raw


def api_token_revoke(*, actor, token: ApiToken) -> ApiToken:
    """Revoke one of the actor's own tokens. Allowed even after losing the API role:
    switching a credential off must always be possible."""
    if token.user_id != actor.pk:
        raise DomainError("Ce jeton ne vous appartient pas.", code="forbidden")
    if token.revoked_at is not None:
        raise DomainError("Ce jeton est déjà révoqué.", code="already_revoked")
    with transaction.atomic():
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
