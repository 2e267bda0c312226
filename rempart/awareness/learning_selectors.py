"""Reads for the learner side: the catalogue, one module, my attempts and certificates, and the
public verification of a certificate's code."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404

from . import perms
from .models import Attempt, Certificate, Module


def catalogue(user) -> QuerySet[Module]:
    """Published modules for the user's audience, with what the user did on each."""
    audiences = perms.allowed_audiences(user)
    if not audiences:
        raise PermissionDenied(perms.NO_MEMBERSHIP)
    # Subqueries on the user's own attempts (index user, module): never a join over everybody's.
    mine = Attempt.objects.filter(user_id=user.pk, module_id=OuterRef("pk"))
    count = mine.order_by().values("module_id").annotate(n=Count("pk")).values("n")
    best = mine.order_by("-score").values("score")[:1]
    return (
        Module.objects.filter(is_active=True, audience__in=audiences)
        .annotate(
            my_passed=Exists(mine.filter(passed=True)),
            my_attempts=Coalesce(Subquery(count), 0),
            my_best=Subquery(best),
        )
        .order_by("position", "title")
    )


def get_module(user, code: str) -> Module:
    """A published module the user may follow: 404 if unknown, 403 if not for their audience."""
    audiences = perms.allowed_audiences(user)
    if not audiences:
        raise PermissionDenied(perms.NO_MEMBERSHIP)
    module = Module.objects.filter(code=code, is_active=True).first()
    if module is None:
        raise Http404("Module introuvable.")
    if module.audience not in audiences:
        raise PermissionDenied(perms.NOT_FOR_YOUR_AUDIENCE)
    return module


def my_attempts(user, module: Module | None = None) -> QuerySet[Attempt]:
    qs = Attempt.objects.filter(user_id=user.pk).select_related("certificate", "organisation")
    if module is not None:
        qs = qs.filter(module=module)
    return qs.order_by("-submitted_at", "-pk")


def get_my_attempt(user, pk: int) -> Attempt:
    """One of the user's own attempts (404 for anybody else's: they are personal)."""
    attempt = my_attempts(user).select_related("module").filter(pk=pk).first()
    if attempt is None:
        raise Http404("Tentative introuvable.")
    return attempt


def get_certificate_for_download(user, pk: int) -> Certificate:
    certificate = (
        Certificate.objects.select_related("organisation", "attempt").filter(pk=pk).first()
    )
    if certificate is None:
        raise Http404("Attestation introuvable.")
    if not perms.can_download_certificate(user, certificate):
        # Outside one's organisation the certificate does not exist for the person.
        if not any(
            m.organisation_id == certificate.organisation_id
            for m in perms.org_perms.active_memberships(user)
        ):
            raise Http404("Attestation introuvable.")
        raise PermissionDenied(perms.NOT_CERTIFICATE_HOLDER)
    return certificate


def verify_certificate(code: str) -> Certificate | None:
    """The certificate with this verification code, if any (public: the code is the secret)."""
    code = (code or "").strip()
    if not code or len(code) > 40:
        return None
    return Certificate.objects.filter(code=code).first()
