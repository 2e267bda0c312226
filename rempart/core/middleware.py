from allauth.mfa.models import Authenticator
from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse

from rempart.organisations import perms

MFA_TYPES = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)


def has_second_factor(user) -> bool:
    """Cached on the user object: the middleware and the menu both ask, once per request."""
    cached = getattr(user, "_rempart_has_second_factor", None)
    if cached is None:
        cached = Authenticator.objects.filter(user=user, type__in=MFA_TYPES).exists()
        user._rempart_has_second_factor = cached
    return cached


class MfaRequiredMiddleware:
    """Every role but learner must use a second factor: until one is set up, the person can
    only reach the pages that set it up (and log out)."""

    ALLOWED_PREFIXES = (
        "/accounts/2fa/",
        "/accounts/reauthenticate/",
        "/accounts/logout/",
        "/static/",
        "/healthz",
    )

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(self.ALLOWED_PREFIXES)
            and not request.path.startswith("/api/")
            and perms.requires_mfa(user)
            and not has_second_factor(user)
        ):
            messages.warning(
                request,
                "Votre rôle exige une double authentification. Configurez une application "
                "d'authentification (TOTP) pour continuer.",
            )
            return redirect(reverse("mfa_activate_totp"))
        return self.get_response(request)
