"""API authentication by personal tokens; read-only tokens never write."""

import datetime

from auditlog.context import auditlog_value
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS, BasePermission

from rempart.organisations import perms

from .middleware import has_second_factor
from .models import ApiToken, ApiTokenScope, hash_token
from .roles import Capability

LAST_USED_PRECISION = datetime.timedelta(minutes=1)


def _bind_audit_actor(user) -> None:
    """AuditlogMiddleware reads `request.user` before DRF authenticates the token, so writes
    made through the API would be recorded without an actor: give the request's audit
    context the token's owner."""
    try:
        context = auditlog_value.get()
    except LookupError:
        return
    if context.get("actor") is None:
        context["actor"] = user


class ApiTokenAuthentication(BaseAuthentication):
    keyword = "token"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in (b"token", b"bearer"):
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "En-tête Authorization invalide : « Token <jeton> » attendu."
            )
        raw = parts[1].decode("ascii", errors="replace")
        token = ApiToken.objects.select_related("user").filter(key_hash=hash_token(raw)).first()
        if token is None or not token.is_usable or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Jeton d'API invalide, expiré ou révoqué.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        _bind_audit_actor(token.user)
        return token.user, token

    def authenticate_header(self, request):
        return "Token"


class HasApiAccess(BasePermission):
    """Authenticated and holding a role allowed to use the API (so a token stops working
    when the person loses that role); a read-only token never writes; a browser session
    must have passed the second factor that the person's roles require (the MFA middleware
    leaves /api/ alone)."""

    message = "Authentification requise."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if not perms.has_capability(request.user, Capability.USE_API):
            self.message = "Votre rôle ne permet pas d'utiliser l'API."
            return False
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if token is None:
            if perms.requires_mfa(request.user) and not has_second_factor(request.user):
                self.message = (
                    "Configurez la double authentification de votre compte avant d'utiliser l'API."
                )
                return False
        elif token.scope == ApiTokenScope.READ and request.method not in SAFE_METHODS:
            self.message = "Ce jeton est en lecture seule : créez un jeton en lecture et écriture pour modifier des données."
            return False
        return True


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Describes the personal token in the OpenAPI schema (Swagger UI's « Authorize »)."""

    target_class = ApiTokenAuthentication
    name = "jetonPersonnel"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Jeton personnel créé sur la page « API » de votre compte, "
            "précédé du mot Token : « Token rmp_… ».",
        }
