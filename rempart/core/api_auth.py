"""API authentication by personal tokens; read-only tokens never write."""

import datetime

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS, BasePermission

from rempart.organisations import perms

from .models import ApiToken, ApiTokenScope, hash_token
from .roles import Capability

LAST_USED_PRECISION = datetime.timedelta(minutes=1)


class ApiTokenAuthentication(BaseAuthentication):
    keyword = "token"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() not in (b"token", b"bearer"):
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("En-tête Authorization invalide : « Token <jeton> » attendu.")
        raw = parts[1].decode("ascii", errors="replace")
        token = ApiToken.objects.select_related("user").filter(key_hash=hash_token(raw)).first()
        if token is None or not token.is_usable or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Jeton d'API invalide, expiré ou révoqué.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request):
        return "Token"


class HasApiAccess(BasePermission):
    """Authenticated; a read-only token never writes; tokens stop working when the person
    no longer holds any role allowed to use the API."""

    message = "Authentification requise."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if token is not None:
            if not perms.has_capability(request.user, Capability.USE_API):
                self.message = "Votre rôle ne permet plus d'utiliser l'API."
                return False
            if token.scope == ApiTokenScope.READ and request.method not in SAFE_METHODS:
                self.message = "Ce jeton est en lecture seule."
                return False
        return True
