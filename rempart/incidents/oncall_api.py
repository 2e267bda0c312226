"""REST API v1, read side of the on-call rota: the shifts of the CRRCs the caller may see, and
who is on call now (the escalation chain, with phones and the last handover note).

Scoped like the pages: a shift of a CRRC outside the caller's reach is not found (404); asking
for such a CRRC's chain is refused (403) with the reason. Gateways are not exposed: their keys
never leave the platform. The rota is edited on the web pages.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import QuerySet
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from rempart.organisations.api import ApiViewMixin, errors

from . import oncall_selectors as sel
from .models import OnCallShift


class PersonRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.SerializerMethodField()
    email = serializers.EmailField()

    def get_name(self, user) -> str:
        return user.get_full_name() or user.email


class CrrcRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class OnCallShiftSerializer(serializers.ModelSerializer):
    crrc = CrrcRefSerializer(read_only=True)
    person = PersonRefSerializer(read_only=True)

    class Meta:
        model = OnCallShift
        fields = [
            "id",
            "crrc",
            "person",
            "level",
            "starts_at",
            "ends_at",
            "phone",
            "handover_note",
        ]
        read_only_fields = fields


class OnCallNowSerializer(serializers.Serializer):
    crrc = CrrcRefSerializer()
    at = serializers.DateTimeField()
    level1_missing = serializers.BooleanField(
        help_text="Vrai quand personne n'est d'astreinte au niveau 1 à cet instant."
    )
    chain = OnCallShiftSerializer(many=True, help_text="Tours en cours, par niveau.")
    previous_level1 = OnCallShiftSerializer(
        allow_null=True, help_text="Le tour de niveau 1 précédent, avec ses consignes de relève."
    )


class OnCallShiftFilter(filters.FilterSet):
    crrc = filters.NumberFilter(field_name="crrc_id", label="Identifiant du CRRC")
    level = filters.NumberFilter(field_name="level", label="Niveau d'escalade (1 à 9)")
    after = filters.IsoDateTimeFilter(
        field_name="ends_at", lookup_expr="gt", label="Tours qui finissent après (ISO 8601)"
    )
    before = filters.IsoDateTimeFilter(
        field_name="starts_at", lookup_expr="lt", label="Tours qui commencent avant (ISO 8601)"
    )

    class Meta:
        model = OnCallShift
        fields = ["crrc", "level", "after", "before"]


@extend_schema_view(
    list=extend_schema(
        summary="Tours d'astreinte",
        description="Les tours des CRRC dont vous voyez le planning (opérateurs, experts "
        "d'astreinte de la région), filtrables par CRRC, niveau et période.",
        responses={200: OnCallShiftSerializer(many=True), **errors(400, 401, 403)},
    ),
    retrieve=extend_schema(
        summary="Un tour d'astreinte",
        responses={200: OnCallShiftSerializer, **errors(401, 403, 404)},
    ),
)
@extend_schema(tags=["Astreinte"])
class OnCallShiftViewSet(ApiViewMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = OnCallShiftSerializer
    filterset_class = OnCallShiftFilter

    def get_queryset(self) -> QuerySet[OnCallShift]:
        return sel.shifts_visible_to(self.request.user)

    @extend_schema(
        summary="Qui est d'astreinte maintenant",
        description="La chaîne d'escalade en cours d'un CRRC (par niveau, avec les téléphones) "
        "et les consignes du tour de niveau 1 précédent. Paramètre `crrc` facultatif quand "
        "vous ne voyez qu'un CRRC.",
        parameters=[OpenApiParameter("crrc", int, description="Identifiant du CRRC")],
        responses={200: OnCallNowSerializer, **errors(401, 403, 404)},
    )
    @action(detail=False, methods=["get"], url_path="now", filterset_class=None)
    def now(self, request):
        try:
            crrc = sel.get_rota_crrc(request.user, request.query_params.get("crrc"))
        except DjangoPermissionDenied as exc:
            raise exceptions.PermissionDenied(str(exc)) from None
        panel = sel.now_panel(crrc, timezone.now())
        for shift in panel.chain:
            shift.crrc = crrc
        if panel.handed_over_by is not None:
            panel.handed_over_by.crrc = crrc
        body = {
            "crrc": crrc,
            "at": panel.at,
            "level1_missing": panel.nobody_level1,
            "chain": panel.chain,
            "previous_level1": panel.handed_over_by,
        }
        return Response(OnCallNowSerializer(body).data)
