"""Paging pages: the end-to-end test of the on-call chain (CRRC operators), the signed
acknowledgement link of a page (public: the signed token is the credential), and the API route
through which an SMS or voice gateway acknowledges on the on-call person's reply.

Thin: reads and writes go through `paging`, which scopes by the acting user (MANAGE_ONCALL on
the CRRC for the chain test: 403 with the reason outside it, 404 for an unknown test)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from rempart.core.errors import DomainError
from rempart.organisations.api import errors

from . import paging
from .paging_forms import ChainTestForm

RECENT_TESTS = 10


# --- The chain test ---------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def chain_test(request):
    """Start a test page through the real chain; the latest tests and who is on call now."""
    crrcs = paging.manageable_crrcs(request.user)
    if not crrcs.exists():
        raise PermissionDenied(
            "Le test de la chaîne d'astreinte est réservé aux opérateurs d'un CRRC."
        )
    form = ChainTestForm(request.POST if request.method == "POST" else None, crrcs=crrcs)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                alert = paging.chain_test_start(actor=request.user, crrc=form.cleaned_data["crrc"])
            except DomainError as exc:
                form.add_error("crrc" if exc.field == "crrc" else None, exc.message)
                status = 403 if exc.code == "forbidden" else 400
            else:
                messages.success(
                    request,
                    f"Test lancé : l'alerte de test n° {alert.pk} parcourt la chaîne d'astreinte.",
                )
                return redirect("incidents:paging_test_detail", pk=alert.pk)
        else:
            status = 400
    now = timezone.now()
    rotas = [(crrc, paging.escalation_chain(crrc, now)) for crrc in crrcs]
    tests = [paging.chain_report(alert, now) for alert in paging.chain_tests(request.user, crrcs)]
    return render(
        request,
        "incidents/paging_test.html",
        {
            "title": "Test de la chaîne d'astreinte",
            "form": form,
            "rotas": rotas,
            "reports": tests[:RECENT_TESTS],
        },
        status=status,
    )


@require_GET
def chain_test_detail(request, pk: int):
    """One test, step by step; HTMX polls the status part while the chain runs."""
    alert = paging.get_chain_test(request.user, pk)
    context = {
        "title": f"Test de la chaîne d'astreinte n° {alert.pk}",
        "report": paging.chain_report(alert),
    }
    if request.htmx:
        return render(request, "incidents/includes/paging_test_status.html", context)
    return render(request, "incidents/paging_test_detail.html", context)


# --- The signed acknowledgement link ------------------------------------------------------------


def _alert_path(alert) -> str:
    try:
        return reverse("incidents:alert_detail", args=[alert.pk])
    except NoReverseMatch:  # (the alerts pages belong to another slice)
        return reverse("core:home")


@login_not_required
@require_http_methods(["GET", "POST"])
def acknowledge_link(request, token: str):
    """GET shows the alert's number, organisation and type with a button; only the POST
    acknowledges (as the paged person). Nothing else of the alert is shown without a login."""
    try:
        page = paging.page_from_token(token)
    except DomainError as exc:
        return render(
            request,
            "incidents/paging_ack_invalid.html",
            {"title": "Prise en compte d'une alerte", "message": exc.message},
            status=400 if exc.code != "forbidden" else 403,
        )
    error, status = None, 200
    if request.method == "POST":
        try:
            _alert, already = paging.acknowledge_by_token(token=token)
        except DomainError as exc:
            error, status = exc.message, 403 if exc.code == "forbidden" else 409
        else:
            if not already:
                messages.success(
                    request, "Prise en compte enregistrée : les relances sont arrêtées."
                )
            return redirect("incidents:paging_ack", token=token)
        page = paging.page_from_token(token)  # the alert as it is now
    alert = page.alert
    next_path = _alert_path(alert)
    return render(
        request,
        "incidents/paging_ack.html",
        {
            "title": f"Prise en compte de l'alerte n° {alert.pk}",
            "alert": alert,
            "page": page,
            "acknowledged_by_me": alert.acknowledged_by_id == page.recipient_id,
            "error": error,
            "login_url": f"{reverse('account_login')}?next={next_path}",
            "alert_path": next_path,
        },
        status=status,
    )


# --- API: acknowledgement by a gateway -----------------------------------------------------------


class PagingAckThrottle(SimpleRateThrottle):
    """Per client address: a gateway acknowledges a few pages a minute, not thousands."""

    scope = "paging_ack"
    rate = "30/minute"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class PagingAckSerializer(serializers.Serializer):
    token = serializers.CharField(
        max_length=1000,
        help_text="Le jeton signé reçu avec l'appel (champ ack_token du webhook).",
    )


class PagingAckApiView(APIView):
    """POST /api/v1/paging/ack/ {"token": "…"}: an SMS or voice gateway acknowledges a page when
    the on-call person replies. No account and no API token: the signed, expiring token of the
    page is the only credential (it names the page and its recipient, who is recorded as having
    acknowledged). Throttled per address."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [PagingAckThrottle]

    @extend_schema(
        operation_id="paging_ack",
        summary="Prise en compte d'un appel d'astreinte par une passerelle (jeton signé)",
        description=(
            "Authentifié par le seul jeton signé de l'appel (valable 24 h). Codes d'erreur "
            "(400) : ack_link_invalid, ack_link_expired, already_acknowledged (quelqu'un d'autre "
            "a déjà pris l'alerte en compte : le message dit qui et quand), linked, invalid. "
            "403 forbidden : la personne appelée ne peut plus traiter l'alerte."
        ),
        request=PagingAckSerializer,
        responses={
            200: inline_serializer(
                "PagingAck",
                {
                    "alert_id": serializers.IntegerField(),
                    "acknowledged_at": serializers.DateTimeField(),
                    "acknowledged_by": serializers.CharField(),
                    "already_acknowledged": serializers.BooleanField(
                        help_text="Vrai si cette personne l'avait déjà prise en compte."
                    ),
                },
            ),
            429: OpenApiResponse(description="Trop de demandes depuis cette adresse."),
            **errors(400, 403),
        },
        auth=[],
    )
    def post(self, request):
        serializer = PagingAckSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        alert, already = paging.acknowledge_by_token(token=serializer.validated_data["token"])
        person = alert.acknowledged_by
        return Response(
            {
                "alert_id": alert.pk,
                "acknowledged_at": alert.acknowledged_at,
                "acknowledged_by": person.get_full_name() or person.email,
                "already_acknowledged": already,
            }
        )
