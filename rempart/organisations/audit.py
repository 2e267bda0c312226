"""Which models the audit trail records, and which fields it must never copy."""

from allauth.mfa.models import Authenticator
from auditlog.registry import auditlog

from rempart.core.models import ApiToken

from .models import (
    Departement,
    FinessCategory,
    FinessImport,
    Invitation,
    Membership,
    Organisation,
    Region,
    User,
)

BOOKKEEPING_FIELDS = {"created_at", "updated_at", "date_joined"}


def _register(model, *, secret_fields: tuple[str, ...] = ()) -> None:
    """Track concrete fields only: reverse relations and timestamps are noise in a diff."""
    noise = [f.name for f in model._meta.get_fields() if f.auto_created and not f.concrete]
    noise += [f.name for f in model._meta.concrete_fields if f.name in BOOKKEEPING_FIELDS]
    auditlog.register(model, exclude_fields=[*noise, *secret_fields])


_register(Organisation)
_register(Membership)
_register(Invitation)
_register(Region)
_register(Departement)
_register(FinessCategory)
_register(FinessImport, secret_fields=("rejections",))
_register(User, secret_fields=("password", "last_login"))
_register(ApiToken, secret_fields=("key_hash", "last_used_at"))
_register(Authenticator, secret_fields=("data", "last_used_at"))
