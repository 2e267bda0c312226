"""REST API v1: a case's indicators of compromise and their STIX 2.1 export.

Routes (added by api_routes.py):

* `cases/{case_id}/indicators/` — GET: the indicators of the case; POST: add one
  (`{"kind", "value", "tlp", "description", "first_seen"}`, the kind guessed when omitted) or a
  list (`{"values": [...], "kind"?, "tlp", "description"}`: each valid value is added, each
  refused one is reported with its reason);
* `cases/{case_id}/indicators/{id}/` — GET, DELETE (remove an indicator entered by mistake);
* `cases/{case_id}/stix/?tlp=amber` — GET: the STIX 2.1 bundle of the indicators shareable at
  that TLP level (default AMBER; AMBER+STRICT and RED indicators only leave when that level is
  asked for explicitly).

Thin like the pages: the case is read through `selectors.get_visible_case` (READ to read,
CONTRIBUTE to write: 403 `forbidden` with the reason outside the user's access, 404
`not_found` if missing); writes go through `indicator_services`, which validates and
normalises every value (400 with a stable code: `invalid_value`, `wrong_kind`,
`wrong_length`, `duplicate`, `invalid_kind`, `invalid_tlp`, `in_future`, `case_closed`…).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from rempart.core.errors import DomainError
from rempart.organisations.api import ApiViewMixin, errors

from . import exports, indicator_services, selectors
from .models import AccessLevel, Indicator, IndicatorKind

TAG = "Dossiers d'incident : indicateurs"
CODES = (
    "Codes d'erreur possibles (400) : invalid (details par champ), invalid_value (valeur mal "
    "formée, avec la raison), wrong_kind (valeur d'un autre type : le message dit lequel), "
    "wrong_length (empreinte de mauvaise longueur), duplicate (déjà dans le dossier), "
    "invalid_kind, unknown_kind (type non reconnu), invalid_tlp, in_future, case_closed. "
    "403 forbidden : pas d'accès au dossier, ou accès en lecture seule (ou jeton en lecture "
    "seule). 404 not_found : dossier ou indicateur introuvable."
)


def _case(user, case_pk, level: AccessLevel):
    """The case at `level`, the refusal's reason kept in the API's structured error."""
    try:
        return selectors.get_visible_case(user, case_pk, level)
    except PermissionDenied as exc:
        raise DomainError(str(exc) or "Accès refusé.", code="forbidden") from exc


# --- Serializers ----------------------------------------------------------------------------------


@extend_schema_field(
    {
        "type": "string",
        # (a pattern, not an enum: the schema's enums named « kind » would collide)
        "pattern": "^(" + "|".join(IndicatorKind.values) + ")$",
        "description": "Type d'indicateur : "
        + ", ".join(f"{value} ({label})" for value, label in IndicatorKind.choices),
    }
)
class IndicatorKindField(serializers.ChoiceField):
    """The kind, described inline in the schema (another « kind » enum already exists)."""

    def __init__(self, **kwargs):
        super().__init__(choices=IndicatorKind.choices, **kwargs)


class IndicatorSerializer(serializers.ModelSerializer):
    kind = IndicatorKindField(read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    tlp_label = serializers.CharField(source="get_tlp_display", read_only=True)
    created_by = serializers.SerializerMethodField(help_text="Nom de la personne qui l'a ajouté.")
    stix_id = serializers.SerializerMethodField(
        help_text="Identifiant STIX 2.1 stable de l'indicateur (indicator--…)."
    )

    class Meta:
        model = Indicator
        fields = [
            "id",
            "kind",
            "kind_label",
            "value",
            "tlp",
            "tlp_label",
            "description",
            "first_seen",
            "created_at",
            "created_by",
            "stix_id",
        ]
        read_only_fields = fields

    def get_created_by(self, indicator) -> str:
        user = indicator.created_by
        return (user.get_full_name() or user.email) if user else ""

    def get_stix_id(self, indicator) -> str:
        return f"indicator--{indicator.stix_id}"


class IndicatorCreateSerializer(serializers.Serializer):
    kind = IndicatorKindField(
        required=False,
        allow_blank=True,
        help_text="Type ; deviné d'après la valeur (ou chaque valeur de la liste) s'il manque.",
    )
    value = serializers.CharField(
        required=False,
        max_length=indicator_services.VALUE_MAX_LENGTH,
        trim_whitespace=True,
        help_text="Une valeur (les valeurs « désamorcées » hxxp://, exemple[.]fr sont admises).",
    )
    values = serializers.ListField(
        child=serializers.CharField(max_length=indicator_services.VALUE_MAX_LENGTH),
        required=False,
        max_length=indicator_services.BULK_MAX_LINES,
        help_text="Ou une liste de valeurs, ajoutées chacune si elle est valide.",
    )
    tlp = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=20,
        help_text="clear, green, amber, amber_strict ou red (ou TLP:AMBER+STRICT…) ; par "
        "défaut le TLP du dossier.",
    )
    description = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=indicator_services.DESCRIPTION_MAX_LENGTH,
        help_text="Contexte : où et comment il a été vu.",
    )
    first_seen = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Première observation (ISO 8601)."
    )

    def validate(self, attrs):
        has_value, has_values = "value" in attrs, "values" in attrs
        if has_value == has_values:
            raise serializers.ValidationError(
                {"value": ["Donnez soit « value » (un indicateur), soit « values » (une liste)."]}
            )
        if has_values:
            if not attrs["values"]:
                raise serializers.ValidationError({"values": ["La liste est vide."]})
            for position, item in enumerate(attrs["values"], start=1):
                if "\n" in item or "\r" in item:
                    raise serializers.ValidationError(
                        {"values": [f"L'élément {position} contient un retour à la ligne."]}
                    )
        return attrs


class RefusedLineSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="Position dans la liste (à partir de 1).")
    value = serializers.CharField(help_text="La valeur telle qu'envoyée.")
    code = serializers.CharField()
    reason = serializers.CharField(help_text="La raison du refus, en français.")


class BulkReportSerializer(serializers.Serializer):
    added_count = serializers.IntegerField()
    refused_count = serializers.IntegerField()
    added = IndicatorSerializer(many=True)
    refused = RefusedLineSerializer(many=True)


# --- Views ----------------------------------------------------------------------------------------


class CaseIndicatorListView(ApiViewMixin, generics.GenericAPIView):
    serializer_class = IndicatorSerializer
    filter_backends: list = []

    def get_queryset(self):
        case = _case(self.request.user, self.kwargs["case_pk"], AccessLevel.READ)
        return indicator_services.indicators_of(case)

    @extend_schema(
        tags=[TAG],
        summary="Indicateurs d'un dossier",
        description="Les indicateurs de compromission du dossier, normalisés, avec leur TLP.",
        responses={200: IndicatorSerializer(many=True), **errors(401, 403, 404)},
    )
    def get(self, request, case_pk: int):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(IndicatorSerializer(page, many=True).data)

    @extend_schema(
        tags=[TAG],
        summary="Ajouter un ou plusieurs indicateurs",
        description="Un indicateur (« value ») : 201 avec l'indicateur, ou 400 avec la raison "
        "du refus. Une liste (« values ») : chaque valeur valide est ajoutée, chaque valeur "
        "refusée est rapportée avec sa raison ; 201 si au moins une a été ajoutée, 200 sinon, "
        "avec le rapport. " + CODES,
        request=IndicatorCreateSerializer,
        responses={
            201: OpenApiResponse(
                IndicatorSerializer,
                description="L'indicateur ajouté (ou, pour une liste, le rapport ligne à ligne).",
            ),
            200: OpenApiResponse(
                BulkReportSerializer, description="Liste : aucune valeur ajoutée, le rapport."
            ),
            **errors(400, 401, 403, 404),
        },
    )
    def post(self, request, case_pk: int):
        case = _case(request.user, case_pk, AccessLevel.CONTRIBUTE)
        serializer = IndicatorCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        tlp = data.get("tlp") or case.tlp
        kind = data.get("kind") or ""
        if "values" in data:
            result = indicator_services.indicators_bulk_add(
                actor=request.user,
                case=case,
                text="\n".join(data["values"]),
                kind=kind,
                tlp=tlp,
                description=data.get("description", ""),
                first_seen=data.get("first_seen"),
            )
            body = {
                "added_count": len(result.added),
                "refused_count": len(result.refused),
                "added": IndicatorSerializer([ln.indicator for ln in result.added], many=True).data,
                "refused": [
                    {"line": ln.number, "value": ln.raw, "code": ln.code, "reason": ln.reason}
                    for ln in result.refused
                ],
            }
            return Response(
                body, status=status.HTTP_201_CREATED if result.added else status.HTTP_200_OK
            )
        if not kind:
            kind = indicator_services.detect_kind(data["value"]) or ""
            if not kind:
                raise DomainError(
                    "Type non reconnu : précisez « kind » (ipv4, ipv6, domaine, url, email, md5, "
                    "sha1, sha256, fichier).",
                    code="unknown_kind",
                    field="kind",
                )
        indicator = indicator_services.indicator_add(
            actor=request.user,
            case=case,
            kind=kind,
            value=data["value"],
            tlp=tlp,
            description=data.get("description", ""),
            first_seen=data.get("first_seen"),
        )
        return Response(IndicatorSerializer(indicator).data, status=status.HTTP_201_CREATED)


class CaseIndicatorDetailView(ApiViewMixin, generics.GenericAPIView):
    serializer_class = IndicatorSerializer
    filter_backends: list = []

    @extend_schema(
        tags=[TAG],
        summary="Un indicateur d'un dossier",
        responses={200: IndicatorSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, case_pk: int, pk: int):
        case = _case(request.user, case_pk, AccessLevel.READ)
        return Response(IndicatorSerializer(indicator_services.get_indicator(case, pk)).data)

    @extend_schema(
        tags=[TAG],
        summary="Retirer un indicateur",
        description="Retire un indicateur saisi par erreur ; la chronologie du dossier en garde "
        "la trace. " + CODES,
        responses={204: None, **errors(400, 401, 403, 404)},
    )
    def delete(self, request, case_pk: int, pk: int):
        case = _case(request.user, case_pk, AccessLevel.CONTRIBUTE)
        indicator = indicator_services.get_indicator(case, pk)
        indicator_services.indicator_remove(actor=request.user, case=case, indicator=indicator)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CaseStixView(ApiViewMixin, generics.GenericAPIView):
    filter_backends: list = []
    pagination_class = None

    @extend_schema(
        tags=[TAG],
        summary="Paquet STIX 2.1 des indicateurs d'un dossier",
        description="Un « bundle » STIX 2.1 : un objet indicator par indicateur partageable au "
        "niveau demandé (motif STIX, identifiant stable, marquage TLP 2.0 officiel OASIS), "
        "l'identité du CRRC producteur et un objet grouping pour le dossier. Seuls les "
        "indicateurs dont le TLP est au plus le niveau demandé sont exportés (défaut : amber ; "
        "les indicateurs RED ne sortent qu'avec tlp=red). Les en-têtes "
        "X-Rempart-Indicateurs-Exportes et X-Rempart-Indicateurs-Retenus donnent les nombres.",
        parameters=[
            OpenApiParameter(
                "tlp",
                OpenApiTypes.STR,
                enum=["clear", "green", "amber", "amber_strict", "red"],
                description="Niveau du public destinataire (défaut : amber).",
            )
        ],
        responses={200: OpenApiTypes.OBJECT, **errors(400, 401, 403, 404)},
    )
    def get(self, request, case_pk: int):
        case = _case(request.user, case_pk, AccessLevel.READ)
        level = exports.parse_tlp(
            request.query_params.get("tlp"), default=exports.DEFAULT_STIX_LEVEL
        )
        export = exports.stix_export(case, level=level)
        response = HttpResponse(
            export.serialize(), content_type="application/stix+json;version=2.1; charset=utf-8"
        )
        response["X-Rempart-Indicateurs-Exportes"] = str(export.included)
        response["X-Rempart-Indicateurs-Retenus"] = str(export.excluded)
        response["X-Content-Type-Options"] = "nosniff"
        return response
