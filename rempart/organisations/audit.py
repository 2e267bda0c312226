"""Which models the audit trail records, and which fields it must never copy."""

from allauth.mfa.models import Authenticator
from auditlog.registry import auditlog

from rempart.core.models import ApiToken

from .models import Departement, FinessCategory, Invitation, Membership, Organisation, Region, User

auditlog.register(Organisation)
auditlog.register(Membership)
auditlog.register(Invitation)
auditlog.register(Region)
auditlog.register(Departement)
auditlog.register(FinessCategory)
auditlog.register(User, exclude_fields=["password", "last_login"])
auditlog.register(ApiToken, exclude_fields=["key_hash", "last_used_at"])
auditlog.register(Authenticator, exclude_fields=["data", "last_used_at"])
