"""REST API v1 of ORSAN cyber mutual aid (registered by `api_routes`):

* `orsan/resources/` — the catalogue of pooled resources of your region(s), with availability
  (GET); offer a resource for one of your organisations (POST); `orsan/resources/{id}/`
  (GET, PATCH: change it, withdraw it with `active: false`);
* `orsan/activations/` — activations of the plan in your region(s) (GET, read only);
* `orsan/requests/` — the aid requests you see (GET), ask for help (POST), and the steps
  `{id}/mobilise/`, `{id}/refuse/`, `{id}/lend/`, `{id}/return/`, `{id}/cancel/` (POST).

Thin like the pages (orsan_views.py): every queryset starts from the user's scope
(`orsan_selectors`), so an object of another region is not found (404); every write goes
through `orsan_services`, which checks the rights, the states and the availability again (under
a lock), audits, writes the linked case's timeline and e-mails the other parties.
"""

from __future__ import annotations

from django.http import Http404
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from rempart.core.errors import DomainError
from rempart.organisations.api import ApiViewMixin, errors
from rempart.organisations.selectors import visible_organisations

from . import orsan_selectors as sel
from . import orsan_serializers as s
from . import orsan_services as services
from .models import AidRequest, AidStatus, CrisisActivation, PooledResource, ResourceKind

TAG_RESOURCES = "ORSAN cyber — ressources"
TAG_ACTIVATIONS = "ORSAN cyber — activations"
TAG_REQUESTS = "ORSAN cyber — demandes d'entraide"
COMMON = (
    "403 forbidden : action réservée à d'autres rôles (ou jeton en lecture seule). 404 "
    "not_found : objet hors de votre périmètre."
)
AID_CODES = (
    "Codes d'erreur possibles (400) : invalid (details par champ), invalid_state (la demande "
    "n'est plus dans l'état voulu), activation_ended (activation levée), over_lending "
    "(quantité supérieure à la disponibilité de la ressource). " + COMMON
)
RESOURCE_CODES = (
    "Codes d'erreur possibles (400) : invalid (details par champ), below_engaged (quantité "
    "inférieure à ce qui est mobilisé ou prêté). " + COMMON
)


# --- Look-ups through the user's scope --------------------------------------------------------


def _offering_organisation(user, pk: int):
    """An organisation the user offers for; one they only see is a 403, else a 404."""
    organisation = sel.offering_organisations(user).filter(pk=pk).first()
    if organisation is not None:
        return organisation
    if visible_organisations(user).filter(pk=pk).exists():
        raise DomainError(
            "Vous ne pouvez pas proposer de ressources au nom de cette structure.",
            code="forbidden",
        )
    raise Http404("Organisation introuvable.")


def _contact(organisation, actor, pk):
    if pk is None:
        return None
    for person in sel.contact_choices(organisation, actor):
        if person.pk == pk:
            return person
    raise DomainError(
        "La personne à contacter doit être membre de la structure (ou vous-même).",
        code="invalid",
        field="contact",
    )


def _region_resource(activation, pk, field: str = "resource"):
    resource = sel.requestable_resources(activation).filter(pk=pk).first()
    if resource is None:
        raise DomainError(
            "Cette ressource n'est pas proposée dans le catalogue de la région de l'activation.",
            code="invalid",
            field=field,
        )
    return resource


# --- Resources ------------------------------------------------------------------------------


class ResourceFilter(filters.FilterSet):
    kind = filters.ChoiceFilter(choices=ResourceKind.choices, label="Type de ressource")
    organisation = filters.NumberFilter(
        field_name="organisation_id", label="Identifiant de la structure qui prête"
    )
    active = filters.BooleanFilter(label="Proposée (true) ou retirée (false)")
    available = filters.BooleanFilter(
        method="filter_available", label="Disponible maintenant (quantité restante > 0)"
    )

    class Meta:
        model = PooledResource
        fields = ["kind", "organisation", "active", "available"]

    def filter_available(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(available__gt=0) if value else queryset.filter(available__lte=0)


@extend_schema_view(
    list=extend_schema(
        summary="Catalogue des ressources mutualisées",
        description="Les ressources proposées (et retirées) dans vos régions, avec la quantité "
        "mobilisée ou prêtée en ce moment et la disponibilité.",
        responses={200: s.OrsanResourceSerializer(many=True), **errors(400, 401, 403)},
    ),
    retrieve=extend_schema(
        summary="Une ressource mutualisée",
        responses={200: s.OrsanResourceSerializer, **errors(401, 403, 404)},
    ),
    create=extend_schema(
        summary="Proposer une ressource",
        description="Ajoute au catalogue de sa région une ressource d'une structure pour "
        "laquelle vous proposez (direction, RSSI, DSI, coordination GHT, CRRC). " + RESOURCE_CODES,
        request=s.OrsanResourceCreateSerializer,
        responses={201: s.OrsanResourceSerializer, **errors(400, 401, 403, 404)},
    ),
    partial_update=extend_schema(
        summary="Modifier une ressource",
        description="Change une ressource ; « active » à false la retire du catalogue (les "
        "prêts en cours restent suivis), à true la propose à nouveau. La quantité ne descend "
        "jamais sous ce qui est mobilisé ou prêté. " + RESOURCE_CODES,
        request=s.OrsanResourceUpdateSerializer,
        responses={200: s.OrsanResourceSerializer, **errors(400, 401, 403, 404)},
    ),
)
@extend_schema(tags=[TAG_RESOURCES])
class OrsanResourceViewSet(
    ApiViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = s.OrsanResourceSerializer
    filterset_class = ResourceFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return sel.resources_visible_to(self.request.user).order_by(
            "kind", "organisation__name", "label", "pk"
        )

    def _detail(self, pk, http_status=status.HTTP_200_OK) -> Response:
        resource = sel.resources_visible_to(self.request.user).get(pk=pk)
        return Response(s.OrsanResourceSerializer(resource).data, status=http_status)

    def create(self, request, *args, **kwargs):
        serializer = s.OrsanResourceCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        organisation = _offering_organisation(request.user, data["organisation"])
        resource = services.resource_create(
            actor=request.user,
            organisation=organisation,
            kind=data["kind"],
            label=data["label"],
            quantity=data["quantity"],
            unit=data["unit"],
            description=data.get("description", ""),
            contact=_contact(organisation, request.user, data.get("contact")),
        )
        return self._detail(resource.pk, status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        resource = self.get_object()
        serializer = s.OrsanResourceUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        changes = {key: value for key, value in data.items() if key != "active"}
        if changes:
            contact = (
                _contact(resource.organisation, request.user, data["contact"])
                if data.get("contact") is not None
                else None
            )
            services.resource_update(
                actor=request.user,
                resource=resource,
                kind=data.get("kind", resource.kind),
                label=data.get("label", resource.label),
                quantity=data.get("quantity", resource.quantity),
                unit=data.get("unit", resource.unit),
                description=data.get("description", resource.description),
                contact=contact,
            )
        if "active" in data:
            services.resource_set_active(
                actor=request.user, resource=resource, active=data["active"]
            )
        return self._detail(resource.pk)


# --- Activations ----------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Activations ORSAN cyber de vos régions",
        description="Les activations du plan (en cours d'abord), avec les structures touchées, "
        "le nombre de demandes en attente ou mobilisées et de prêts pas encore restitués.",
        responses={200: s.OrsanActivationSerializer(many=True), **errors(400, 401, 403)},
    ),
    retrieve=extend_schema(
        summary="Une activation ORSAN cyber",
        responses={200: s.OrsanActivationSerializer, **errors(401, 403, 404)},
    ),
)
@extend_schema(tags=[TAG_ACTIVATIONS])
class OrsanActivationViewSet(ApiViewMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = s.OrsanActivationSerializer

    def get_queryset(self):
        return sel.activations_visible_to(self.request.user)

    def get_serializer_context(self):
        from .selectors import cases_visible_to

        context = super().get_serializer_context()
        if getattr(self.request, "user", None) is not None and self.request.user.is_authenticated:
            context["visible_case_ids"] = set(
                cases_visible_to(self.request.user)
                .filter(crisis_activations__isnull=False)
                .values_list("pk", flat=True)
            )
        return context


# --- Aid requests ---------------------------------------------------------------------------


class AidRequestFilter(filters.FilterSet):
    activation = filters.NumberFilter(
        field_name="activation_id", label="Identifiant de l'activation"
    )
    status = filters.ChoiceFilter(choices=AidStatus.choices, label="Statut de la demande")
    requester = filters.NumberFilter(
        field_name="requester_id", label="Identifiant de la structure qui demande"
    )

    class Meta:
        model = AidRequest
        fields = ["activation", "status", "requester"]


def _step_schema(summary: str, description: str, request):
    return extend_schema(
        summary=summary,
        description=description + " " + AID_CODES,
        request=request,
        responses={200: s.OrsanAidRequestSerializer, **errors(400, 401, 403, 404)},
    )


@extend_schema_view(
    list=extend_schema(
        summary="Demandes d'entraide que vous voyez",
        description="ARS et CRRC : les demandes de leur région ; une structure : ses demandes et "
        "celles qui portent sur ses ressources.",
        responses={200: s.OrsanAidRequestSerializer(many=True), **errors(400, 401, 403)},
    ),
    retrieve=extend_schema(
        summary="Une demande d'entraide",
        responses={200: s.OrsanAidRequestSerializer, **errors(401, 403, 404)},
    ),
    create=extend_schema(
        summary="Demander de l'entraide",
        description="Une structure nommée dans une activation en cours demande, par ses "
        "responsables (direction, RSSI, DSI), un type de ressource et une quantité, "
        "éventuellement une ressource précise du catalogue. " + AID_CODES,
        request=s.OrsanAidRequestCreateSerializer,
        responses={201: s.OrsanAidRequestSerializer, **errors(400, 401, 403, 404)},
    ),
)
@extend_schema(tags=[TAG_REQUESTS])
class OrsanAidRequestViewSet(
    ApiViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = s.OrsanAidRequestSerializer
    filterset_class = AidRequestFilter

    def get_queryset(self):
        return sel.aid_requests_visible_to(self.request.user).order_by("-requested_at", "-pk")

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "today": sel.paris_today()}

    def _detail(self, pk, http_status=status.HTTP_200_OK) -> Response:
        aid = sel.aid_requests_visible_to(self.request.user).get(pk=pk)
        return Response(
            s.OrsanAidRequestSerializer(aid, context=self.get_serializer_context()).data,
            status=http_status,
        )

    def create(self, request, *args, **kwargs):
        serializer = s.OrsanAidRequestCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        activation: CrisisActivation = sel.get_visible_activation(request.user, data["activation"])
        requester = next(
            (org for org in activation.affected.all() if org.pk == data["requester"]), None
        )
        if requester is None:
            raise DomainError(
                "Cette structure n'est pas nommée parmi les structures touchées de l'activation.",
                code="invalid",
                field="requester",
            )
        resource = (
            _region_resource(activation, data["resource"])
            if data.get("resource") is not None
            else None
        )
        aid = services.aid_request_create(
            actor=request.user,
            activation=activation,
            requester=requester,
            kind=data["kind"],
            need=data["need"],
            quantity=data["quantity"],
            resource=resource,
        )
        return self._detail(aid.pk, status.HTTP_201_CREATED)

    @_step_schema(
        "Mobiliser une demande",
        "ARS et CRRC de la région : affecte la demande à une ressource d'une structure qui "
        "prête, pour la quantité demandée (ou moins), dans la limite de sa disponibilité.",
        s.OrsanMobiliseSerializer,
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def mobilise(self, request, pk=None):
        aid = self.get_object()
        serializer = s.OrsanMobiliseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        services.aid_mobilise(
            actor=request.user,
            aid=aid,
            resource=_region_resource(aid.activation, data["resource"]),
            quantity=data.get("quantity"),
        )
        return self._detail(aid.pk)

    @_step_schema(
        "Refuser une demande",
        "ARS et CRRC de la région : refuse une demande en attente, ou une mobilisation qui "
        "n'aura pas lieu ; le motif est transmis à la structure qui demande.",
        s.OrsanRefuseSerializer,
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def refuse(self, request, pk=None):
        aid = self.get_object()
        serializer = s.OrsanRefuseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.aid_refuse(actor=request.user, aid=aid, reason=serializer.validated_data["reason"])
        return self._detail(aid.pk)

    @_step_schema(
        "Enregistrer un prêt",
        "La structure qui prête, l'ARS ou le CRRC : la ressource mobilisée est remise, avec sa "
        "date de retour prévue.",
        s.OrsanLendSerializer,
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def lend(self, request, pk=None):
        aid = self.get_object()
        serializer = s.OrsanLendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        services.aid_lend(
            actor=request.user,
            aid=aid,
            lent_at=data.get("lent_at"),
            due_back_on=data["due_back_on"],
        )
        return self._detail(aid.pk)

    @_step_schema(
        "Enregistrer une restitution",
        "La structure qui prête, l'ARS ou le CRRC : la ressource prêtée est rendue, avec son "
        "état au retour ; elle est de nouveau disponible.",
        s.OrsanReturnSerializer,
    )
    @action(detail=True, methods=["post"], url_path="return", url_name="return", filter_backends=[])
    def return_(self, request, pk=None):
        aid = self.get_object()
        serializer = s.OrsanReturnSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        services.aid_return(
            actor=request.user,
            aid=aid,
            returned_at=data.get("returned_at"),
            condition=data["condition"],
        )
        return self._detail(aid.pk)

    @_step_schema(
        "Annuler une demande",
        "Les responsables de la structure qui demande, tant que rien n'est prêté.",
        s.OrsanCancelSerializer,
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def cancel(self, request, pk=None):
        aid = self.get_object()
        serializer = s.OrsanCancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.aid_cancel(
            actor=request.user, aid=aid, reason=serializer.validated_data.get("reason", "")
        )
        return self._detail(aid.pk)


def register(router) -> None:
    router.register("orsan/resources", OrsanResourceViewSet, basename="orsan-resource")
    router.register("orsan/activations", OrsanActivationViewSet, basename="orsan-activation")
    router.register("orsan/requests", OrsanAidRequestViewSet, basename="orsan-request")
