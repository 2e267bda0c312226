"""REST API v1 of the alerts (/api/v1/alerts/): file an alert (from a phone app, a SIEM, a
hotline tool), read the alerts of one's scope, and the handlers' actions.

Filing is never refused for a missing or garbled essential field: the alert is stored (201)
with `complete: false` and the `missing_fields`. Only what cannot be stored is a 400: a value of
the wrong JSON type, an organisation missing, not an id or one the caller may not report for
(the structure decides which CRRC is paged: it is never guessed).
Idempotent: with an `Idempotency-Key` header (or `client_reference`), sending the same alert
again answers 200 with the alert already stored, never a second alert. Filing has its own
throttle scope (« alerts », generous): an incident must never be lost to a rate limit.

Reads are scoped like the pages (`selectors`): a foreign alert is a 403 with the reason, an
unknown one a 404. Acknowledging goes through `paging.acknowledge`, qualifying and dismissing
through `alert_services`.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle

from rempart.core.errors import DomainError
from rempart.organisations.api import ApiViewMixin, errors

from . import alert_serializers as s
from . import alert_services, selectors
from .models import Alert, AlertSource, AlertStatus, IncidentType, PagingStatus

IDEMPOTENCY_HEADER = "Idempotency-Key"
ERROR_CODES = (
    "Codes d'erreur : 400 invalid (donnée de mauvais type, structure inconnue), "
    "invalid_state, already_linked, already_acknowledged, linked ; 403 forbidden (action "
    "réservée au CRRC, à l'expert d'astreinte alerté et aux responsables de la structure, ou "
    "alerte hors de votre périmètre) ; 404 not_found."
)


class AlertCreateThrottle(UserRateThrottle):
    """Filing has its own, generous budget (REST_FRAMEWORK's « alerts » rate)."""

    scope = "alerts"


class AlertFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=AlertStatus.choices, label="Statut de l'alerte")
    incident_type = filters.ChoiceFilter(choices=IncidentType.choices, label="Type d'incident")
    paging_status = filters.ChoiceFilter(choices=PagingStatus.choices, label="État de l'astreinte")
    organisation = filters.NumberFilter(
        field_name="organisation_id", label="Identifiant de la structure concernée"
    )
    incomplete = filters.BooleanFilter(
        method="filter_incomplete", label="true : incomplètes seulement ; false : complètes"
    )
    received_after = filters.IsoDateTimeFilter(
        field_name="received_at", lookup_expr="gte", label="Reçues depuis (ISO 8601)"
    )

    class Meta:
        model = Alert
        fields = [
            "status",
            "incident_type",
            "paging_status",
            "organisation",
            "incomplete",
            "received_after",
        ]

    def filter_incomplete(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.exclude(missing_fields=[]) if value else queryset.filter(missing_fields=[])


def _scoped(call, *args, **kwargs):
    """A selector's « no access » (403 with the reason) as the API's structured error."""
    try:
        return call(*args, **kwargs)
    except DjangoPermissionDenied as exc:
        raise DomainError(str(exc), code="forbidden") from exc


@extend_schema_view(
    list=extend_schema(
        summary="Alertes de votre périmètre",
        description="Les alertes que vous voyez : celles que vous avez déposées, celles des "
        "structures dont vous gérez les incidents (et, pour le CRRC, de sa région), celles pour "
        "lesquelles vous avez été alerté d'astreinte. Des plus récentes aux plus anciennes.",
        responses={200: s.IncidentAlertSerializer(many=True), **errors(400, 401, 403)},
    ),
    retrieve=extend_schema(
        summary="Une alerte",
        description="L'alerte complète, avec l'état de l'astreinte et chaque appel envoyé "
        "(personne, canal, heure, résultat). " + ERROR_CODES,
        responses={200: s.IncidentAlertDetailSerializer, **errors(401, 403, 404)},
    ),
    create=extend_schema(
        summary="Déposer une alerte",
        description="Dépose le formulaire de qualification et d'alerte ; l'astreinte du CRRC "
        "est alertée aussitôt. Aucun champ n'est obligatoire : une alerte incomplète est "
        "enregistrée (201, complete: false, missing_fields) et alertée comme les autres ; une "
        "valeur illisible est conservée dans la description. Une alerte répétée (même "
        "structure, même type, dans la fenêtre de dédoublonnage du CRRC) est rattachée à la "
        "première (duplicate_of) sans nouvel appel. Avec l'en-tête Idempotency-Key (ou "
        "client_reference), un nouvel envoi renvoie 200 et l'alerte déjà enregistrée. "
        + ERROR_CODES,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="Référence unique de l'alerte chez l'émetteur (100 caractères au "
                "plus) : un renvoi avec la même clé ne crée pas de seconde alerte.",
            )
        ],
        request=s.IncidentAlertCreateSerializer,
        responses={
            201: s.IncidentAlertDetailSerializer,
            200: s.IncidentAlertDetailSerializer,
            **errors(400, 401, 403),
        },
    ),
)
@extend_schema(tags=["Alertes d'incident"])
class AlertViewSet(
    ApiViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    filterset_class = AlertFilter
    http_method_names = ["get", "post", "head", "options"]

    def get_throttles(self):
        if self.action == "create":
            return [AlertCreateThrottle()]
        return super().get_throttles()

    def get_queryset(self) -> QuerySet[Alert]:
        qs = selectors.alerts_visible_to(self.request.user).select_related("crrc", "qualified_by")
        return qs.order_by("-received_at", "-pk")

    def get_serializer_class(self):
        return {
            "list": s.IncidentAlertSerializer,
            "create": s.IncidentAlertCreateSerializer,
            "qualify": s.IncidentAlertQualifySerializer,
            "dismiss": s.IncidentAlertDismissSerializer,
        }.get(self.action, s.IncidentAlertDetailSerializer)

    def _detail(self, pk, http_status=status.HTTP_200_OK, headers=None) -> Response:
        alert = alert_services.alerts_with_pages(self.request.user).get(pk=pk)
        return Response(
            s.IncidentAlertDetailSerializer(alert).data, status=http_status, headers=headers
        )

    def retrieve(self, request, *args, **kwargs):
        alert = _scoped(selectors.get_visible_alert, request.user, kwargs["pk"])
        return self._detail(alert.pk)

    def _organisation(self, wanted: int):
        organisation = alert_services.get_reportable_organisation(self.request.user, wanted)
        if organisation is None:
            raise DomainError(
                f"Structure {wanted} inconnue, ou pour laquelle vous ne pouvez pas signaler "
                "d'incident.",
                code="invalid",
                field="organisation",
            )
        return organisation

    def create(self, request, *args, **kwargs):
        serializer = s.IncidentAlertCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        key = request.headers.get(IDEMPOTENCY_HEADER)
        reference = (key if key is not None else data.get("client_reference")) or ""
        if len(reference.strip()) > alert_services.CLIENT_REFERENCE_MAX:
            raise DomainError(
                f"L'en-tête {IDEMPOTENCY_HEADER} ne doit pas dépasser "
                f"{alert_services.CLIENT_REFERENCE_MAX} caractères.",
                code="invalid",
                field="client_reference",
            )
        organisation = self._organisation(data.pop("organisation"))
        data.pop("client_reference", None)
        alert, created = alert_services.alert_file(
            actor=request.user,
            organisation=organisation,
            source=AlertSource.API,
            data=data,
            client_reference=reference,
        )
        if created:
            return self._detail(alert.pk, status.HTTP_201_CREATED)
        return self._detail(alert.pk, headers={"Idempotent-Replayed": "true"})

    @extend_schema(
        summary="Prendre en compte une alerte",
        description="Arrête les relances de l'astreinte : vous rappelez le déclarant. Sans "
        "effet si vous l'avez déjà prise en compte ; refusé (already_acknowledged) si "
        "quelqu'un d'autre l'a fait, ou (linked) pour une alerte rattachée à une autre. "
        + ERROR_CODES,
        request=None,
        responses={200: s.IncidentAlertDetailSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def acknowledge(self, request, pk=None):
        from . import paging

        alert = _scoped(selectors.get_handleable_alert, request.user, pk)
        paging.acknowledge(actor=request.user, alert=alert)
        return self._detail(alert.pk)

    @extend_schema(
        summary="Qualifier une alerte",
        description="Enregistre la qualification établie au rappel (note obligatoire) ; "
        "l'alerte est prise en compte si elle ne l'était pas. Qualifier de nouveau met la note "
        "à jour. " + ERROR_CODES,
        request=s.IncidentAlertQualifySerializer,
        responses={200: s.IncidentAlertDetailSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def qualify(self, request, pk=None):
        alert = _scoped(selectors.get_handleable_alert, request.user, pk)
        serializer = s.IncidentAlertQualifySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        alert_services.alert_qualify(
            actor=request.user, alert=alert, note=serializer.validated_data["note"]
        )
        return self._detail(alert.pk)

    @extend_schema(
        summary="Classer une alerte sans suite",
        description="Fausse alerte, test : l'alerte est classée avec son motif (obligatoire) et "
        "les relances s'arrêtent. Refusé (already_linked) pour une alerte rattachée à un "
        "dossier : c'est le dossier qui se clôt. " + ERROR_CODES,
        request=s.IncidentAlertDismissSerializer,
        responses={200: s.IncidentAlertDetailSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def dismiss(self, request, pk=None):
        alert = _scoped(selectors.get_handleable_alert, request.user, pk)
        serializer = s.IncidentAlertDismissSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        alert_services.alert_dismiss(
            actor=request.user, alert=alert, reason=serializer.validated_data["reason"]
        )
        return self._detail(alert.pk)
