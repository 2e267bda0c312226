"""REST API v1 of the exposure watch (routes in `api_routes`, plugged in config/api_urls.py):

* `exposure/organisations/` — the organisations whose exposure the user sees, each with its
  active findings by severity, whether an authorisation is in force and its last scan;
* `exposure/assets/` — declared assets: list, declare (POST), detail, retire (DELETE), and
  `services/` to declare a service an asset exposes on purpose;
* `exposure/authorisations/` — the signed scan authorisations: list, detail, sign (POST) and
  `revoke/`;
* `exposure/scans/` — the scans (progress, what was left out and why, who launched them):
  list, detail, queue (POST, the CRRC's operators) and `cancel/`;
* `exposure/findings/` — what the scans found: list, detail and `acknowledge/`;
* `exposure/lab-ranges/` and `exposure/emergency-stop/` — the CRRC's safety controls: the
  non-public networks it allows (list, allow, `revoke/`), and the stop of every scan (state,
  engage with POST, release with DELETE).

Thin like the pages: every object is read through `selectors` (403 with `perms.NO_ACCESS` for
who has no part in the watch, 404 for an object outside one's scope), lists and figures through
`api_selectors` (scoped by `selectors.organisations`), and every write goes
through `services`, which check the rights again (403 « forbidden » with their French reason)
and refuse bad data (400 with the field). An id that is not an integer is a 400, never a 500.
Observations (banners, TLS details as seen on the wire) are never exposed here: only the
findings of the organisations the user sees.
"""

from __future__ import annotations

import re

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from rempart.core.api_errors import ReasonedRefusal
from rempart.core.errors import DomainError
from rempart.organisations.api import ApiViewMixin, OrganisationRefSerializer, errors
from rempart.organisations.models import Organisation

from . import api_selectors, perms, selectors, services
from .models import (
    ACTIVE_FINDING,
    Asset,
    AssetKind,
    Authorisation,
    DeclaredService,
    Finding,
    FindingStatus,
    Scan,
    ScanStatus,
    ScanTrigger,
    Severity,
)

TAG = "Veille d'exposition"
MAX_ID = 10**11  # ids are positive integers of at most 11 digits
_ID_RE = re.compile(r"[0-9]{1,11}")
ERROR_CODES = (
    "Codes d'erreur : 400 invalid (donnée invalide, voir error.details) ou refused (action "
    "refusée, avec son motif) ; 403 forbidden (rôle sans accès à la veille d'exposition, ou "
    "action réservée à un autre rôle) ; 404 not_found (objet hors de votre périmètre)."
)


def _pk(raw) -> int:
    """The id of the URL: an integer, or a 400 (never a database error)."""
    text = str(raw)
    if not _ID_RE.fullmatch(text):
        raise DomainError("L'identifiant est un entier positif.", code="invalid", field="id")
    return int(text)


def _organisation(pk: int) -> Organisation:
    """The organisation named in a request body. Unknown: a 400 on the field; known but outside
    the user's rights: the service refuses it (403 with its reason)."""
    organisation = api_selectors.organisation_named(pk)
    if organisation is None:
        raise DomainError(f"Organisation {pk} inconnue.", code="invalid", field="organisation")
    return organisation


# --- Shared fields ------------------------------------------------------------------------------


def _inline_enum(choices) -> dict:
    """An inline enum, wrapped in allOf so that drf-spectacular does not hoist it into a shared
    component named after the field (« status », « kind » are used by many choice sets)."""
    return {
        "allOf": [{"type": "string", "enum": [str(value) for value, _label in choices]}],
        "description": " ; ".join(f"{value} : {label}" for value, label in choices),
    }


def _choice(choices, **kwargs) -> serializers.CharField:
    field_class = extend_schema_field(_inline_enum(choices))(
        type("ExposureEnumField", (serializers.CharField,), {})
    )
    return field_class(read_only=True, **kwargs)


class ExposurePersonSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        return user.get_full_name() or user.email


def _person(**kwargs) -> ExposurePersonSerializer:
    return ExposurePersonSerializer(read_only=True, allow_null=True, **kwargs)


class IdFilter(filters.Filter):
    """An id in the query string: an integer, or a 400."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class _ExposureApi(ReasonedRefusal, ApiViewMixin):
    """403 with the watch's reason for who has no part in it; selectors' refusals keep their
    French reason (ReasonedRefusal)."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not perms.can_use(request.user):
            raise PermissionDenied(perms.NO_ACCESS)
        if "pk" in kwargs:
            _pk(kwargs["pk"])  # a 400 for an id that is not one, before any handler

    def _fake(self) -> bool:
        return getattr(self, "swagger_fake_view", False)


# --- Organisations --------------------------------------------------------------------------------


class ExposureCountsSerializer(serializers.Serializer):
    critical = serializers.IntegerField()
    high = serializers.IntegerField()
    medium = serializers.IntegerField()
    low = serializers.IntegerField()
    info = serializers.IntegerField()


class ExposureOrganisationSerializer(serializers.Serializer):
    organisation = OrganisationRefSerializer()
    region = serializers.CharField(allow_null=True, help_text="Nom de sa région.")
    findings = ExposureCountsSerializer(
        help_text="Constats actifs (ouverts, pris en compte ou rouverts) par gravité."
    )
    active_findings = serializers.IntegerField(help_text="Total des constats actifs.")
    assets = serializers.IntegerField(help_text="Actifs déclarés en service.")
    authorised = serializers.BooleanField(
        help_text="Vrai quand une autorisation d'analyse est en vigueur aujourd'hui."
    )
    authorisation = serializers.IntegerField(
        allow_null=True, help_text="L'autorisation en vigueur (son identifiant), s'il y en a une."
    )
    authorisation_valid_until = serializers.DateField(
        allow_null=True, help_text="Fin de validité de l'autorisation en vigueur."
    )
    last_scan_at = serializers.DateTimeField(
        allow_null=True, help_text="Fin de la dernière analyse terminée (null : jamais analysée)."
    )
    scan_running = serializers.BooleanField(help_text="Une analyse est en attente ou en cours.")


@extend_schema_view(
    list=extend_schema(
        summary="Organisations suivies",
        description="Les organisations dont vous voyez l'exposition (la vôtre pour la "
        "direction, le RSSI et le DSI d'un établissement ; celles de la région pour les "
        "opérateurs du CRRC), par nom, avec leurs constats actifs par gravité, l'autorisation "
        "d'analyse en vigueur et la dernière analyse. " + ERROR_CODES,
        responses={200: ExposureOrganisationSerializer(many=True), **errors(400, 401, 403)},
    ),
    retrieve=extend_schema(
        summary="Une organisation suivie",
        description="Ses chiffres d'exposition. " + ERROR_CODES,
        responses={200: ExposureOrganisationSerializer, **errors(400, 401, 403, 404)},
    ),
)
@extend_schema(tags=[TAG])
class OrganisationViewSet(
    _ExposureApi, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = ExposureOrganisationSerializer
    filter_backends: list = []

    def get_queryset(self):
        if self._fake():
            return api_selectors.no_organisations()
        return selectors.organisations(self.request.user)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        rows = api_selectors.summaries(list(page))
        return self.get_paginated_response(ExposureOrganisationSerializer(rows, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        organisation = selectors.get_organisation(request.user, _pk(kwargs["pk"]))
        (row,) = api_selectors.summaries([organisation])
        return Response(ExposureOrganisationSerializer(row).data)


# --- Assets ---------------------------------------------------------------------------------------


class ExposureServiceSerializer(serializers.ModelSerializer):
    asset = serializers.IntegerField(source="asset_id", read_only=True)

    class Meta:
        model = DeclaredService
        fields = ["id", "asset", "port", "purpose"]
        read_only_fields = fields


class ExposureAssetSerializer(serializers.ModelSerializer):
    organisation = OrganisationRefSerializer(read_only=True)
    kind = _choice(AssetKind.choices)
    services = ExposureServiceSerializer(
        many=True, read_only=True, help_text="Services exposés sciemment, avec leur raison."
    )
    lab_range = serializers.SerializerMethodField(
        help_text="La plage de laboratoire du CRRC qui couvre cette adresse non publique (null : "
        "adresse publique ou nom de domaine)."
    )
    created_by = _person()
    in_service = serializers.SerializerMethodField(help_text="Faux une fois l'actif retiré.")

    class Meta:
        model = Asset
        fields = [
            "id",
            "organisation",
            "kind",
            "value",
            "description",
            "address_count",
            "lab_range",
            "services",
            "created_by",
            "created_at",
            "retired_at",
            "in_service",
        ]
        read_only_fields = fields

    def get_lab_range(self, asset) -> str | None:
        return asset.lab_range.network if asset.lab_range_id else None

    def get_in_service(self, asset) -> bool:
        return asset.retired_at is None


class ExposureAssetCreateSerializer(serializers.Serializer):
    organisation = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, help_text="L'établissement (son identifiant)."
    )
    value = serializers.CharField(
        max_length=300,
        help_text="Adresse IP publique, plage CIDR (au plus un /16 par établissement) ou nom de "
        "domaine.",
    )
    description = serializers.CharField(
        max_length=300, required=False, allow_blank=True, default="", help_text="Usage."
    )


class ExposureServiceCreateSerializer(serializers.Serializer):
    port = serializers.IntegerField(help_text="Port TCP, de 1 à 65535.")
    purpose = serializers.CharField(
        max_length=200,
        allow_blank=True,
        help_text="Pourquoi ce service est exposé (passerelle VPN, portail web…).",
    )


class AssetFilter(filters.FilterSet):
    organisation = IdFilter(field_name="organisation_id", label="L'organisation (son identifiant)")
    retired = filters.BooleanFilter(
        method="filter_retired",
        label="true : les actifs retirés ; false ou absent : les actifs en service",
    )

    class Meta:
        model = Asset
        fields = ["organisation", "retired"]

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if self.form.cleaned_data.get("retired") is None:
            queryset = queryset.filter(retired_at__isnull=True)
        return queryset

    def filter_retired(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(retired_at__isnull=not value)


@extend_schema_view(
    list=extend_schema(
        summary="Actifs exposés déclarés",
        description="Les adresses publiques, plages et noms de domaine déclarés par les "
        "organisations dont vous voyez l'exposition, avec leurs services déclarés. En service "
        "par défaut ; `retired=true` pour les actifs retirés. " + ERROR_CODES,
        responses={200: ExposureAssetSerializer(many=True), **errors(400, 401, 403)},
    ),
    retrieve=extend_schema(
        summary="Un actif exposé",
        description=ERROR_CODES,
        responses={200: ExposureAssetSerializer, **errors(400, 401, 403, 404)},
    ),
    create=extend_schema(
        summary="Déclarer un actif exposé",
        description="Une adresse IP publique, une plage CIDR ou un nom de domaine de "
        "l'établissement. Une adresse non publique (privée, bouclage…) est refusée sauf dans "
        "une plage de laboratoire ouverte par le CRRC de la région ; au plus un /16 "
        "(65 536 adresses) par établissement. Réservé à la direction, au RSSI et au DSI de "
        "l'établissement. " + ERROR_CODES,
        request=ExposureAssetCreateSerializer,
        responses={201: ExposureAssetSerializer, **errors(400, 401, 403)},
    ),
    destroy=extend_schema(
        summary="Retirer un actif",
        description="L'actif n'est plus analysé (il reste dans l'historique, avec sa date de "
        "retrait). Réservé à la direction, au RSSI et au DSI de l'établissement. " + ERROR_CODES,
        responses={204: None, **errors(400, 401, 403, 404)},
    ),
)
@extend_schema(tags=[TAG])
class AssetViewSet(
    _ExposureApi,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    filterset_class = AssetFilter
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self):
        if self._fake():
            return api_selectors.no_assets()
        return api_selectors.assets(self.request.user)

    def get_serializer_class(self):
        return {
            "create": ExposureAssetCreateSerializer,
            "declare_service": ExposureServiceCreateSerializer,
        }.get(self.action, ExposureAssetSerializer)

    def retrieve(self, request, *args, **kwargs):
        return Response(
            ExposureAssetSerializer(api_selectors.asset(request.user, _pk(kwargs["pk"]))).data
        )

    def create(self, request, *args, **kwargs):
        serializer = ExposureAssetCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        asset = services.asset_create(
            actor=request.user,
            organisation=_organisation(data["organisation"]),
            value=data["value"],
            description=data["description"],
        )
        return Response(
            ExposureAssetSerializer(api_selectors.asset(request.user, asset.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    def destroy(self, request, *args, **kwargs):
        asset = selectors.get_asset(request.user, _pk(kwargs["pk"]))
        services.asset_retire(actor=request.user, asset=asset)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Déclarer un service exposé",
        description="Un port que l'établissement expose sciemment sur cet actif, avec sa "
        "raison : il est analysé à chaque passage, et un service de gravité moyenne ou faible "
        "déclaré n'est plus un constat. Réservé à la direction, au RSSI et au DSI de "
        "l'établissement. " + ERROR_CODES,
        request=ExposureServiceCreateSerializer,
        responses={201: ExposureServiceSerializer, **errors(400, 401, 403, 404)},
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="services",
        url_name="services",
        filter_backends=[],
    )
    def declare_service(self, request, pk=None):
        asset = selectors.get_asset(request.user, _pk(pk))
        serializer = ExposureServiceCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        service = services.service_declare(
            actor=request.user,
            asset=asset,
            port=serializer.validated_data["port"],
            purpose=serializer.validated_data["purpose"],
        )
        return Response(ExposureServiceSerializer(service).data, status=status.HTTP_201_CREATED)


# --- Authorisations -------------------------------------------------------------------------------


class ExposureAssetRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    value = serializers.CharField(read_only=True)
    in_service = serializers.SerializerMethodField()

    def get_in_service(self, asset) -> bool:
        return asset.retired_at is None


class ExposureAuthorisationSerializer(serializers.ModelSerializer):
    organisation = OrganisationRefSerializer(read_only=True)
    assets = ExposureAssetRefSerializer(
        many=True, read_only=True, help_text="Les actifs qu'elle permet d'analyser."
    )
    signed_by = _person()
    weekdays = serializers.CharField(
        read_only=True, help_text="Jours autorisés, chiffres ISO (1 : lundi … 7 : dimanche)."
    )
    window_start = serializers.TimeField(read_only=True, help_text="Heure de Paris.")
    window_end = serializers.TimeField(read_only=True, help_text="Heure de Paris.")
    max_rate = serializers.IntegerField(
        read_only=True, help_text="Débit maximal, en sondes par seconde et par /24."
    )
    revoked_by = _person()
    in_force = serializers.SerializerMethodField(
        help_text="Vraie aujourd'hui : ni révoquée, ni expirée, ni à venir."
    )

    class Meta:
        model = Authorisation
        fields = [
            "id",
            "organisation",
            "assets",
            "signed_by",
            "signer_name",
            "signer_title",
            "signed_at",
            "valid_from",
            "valid_until",
            "weekdays",
            "window_start",
            "window_end",
            "max_rate",
            "version_detection",
            "revoked_at",
            "revoked_by",
            "in_force",
        ]
        read_only_fields = fields

    def get_in_force(self, authorisation) -> bool:
        today = timezone.localdate()
        return (
            authorisation.revoked_at is None
            and authorisation.valid_from <= today <= authorisation.valid_until
        )


class ExposureAuthorisationCreateSerializer(serializers.Serializer):
    organisation = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, help_text="L'établissement (son identifiant)."
    )
    assets = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        max_length=500,
        help_text="Les actifs en service de l'établissement à faire analyser (identifiants).",
    )
    valid_from = serializers.DateField(help_text="Premier jour de validité.")
    valid_until = serializers.DateField(help_text="Dernier jour de validité (un an au plus).")
    weekdays = serializers.CharField(
        max_length=7,
        allow_blank=True,
        help_text="Jours autorisés, chiffres ISO (1 : lundi … 7 : dimanche), ex. « 12345 ».",
    )
    window_start = serializers.TimeField(help_text="Début de la plage horaire (heure de Paris).")
    window_end = serializers.TimeField(help_text="Fin de la plage horaire (heure de Paris).")
    max_rate = serializers.IntegerField(
        help_text="Débit maximal, de 1 à 1 000 sondes par seconde et par /24."
    )
    version_detection = serializers.BooleanField(
        default=False,
        help_text="Identifier aussi produits et versions sur les ports ouverts (nmap -sV et "
        "scripts sûrs).",
    )


class AuthorisationFilter(filters.FilterSet):
    organisation = IdFilter(field_name="organisation_id", label="L'organisation (son identifiant)")

    class Meta:
        model = Authorisation
        fields = ["organisation"]


@extend_schema_view(
    list=extend_schema(
        summary="Autorisations d'analyse",
        description="Les autorisations signées par les organisations dont vous voyez "
        "l'exposition, des plus récentes aux plus anciennes. " + ERROR_CODES,
        responses={200: ExposureAuthorisationSerializer(many=True), **errors(400, 401, 403)},
    ),
    retrieve=extend_schema(
        summary="Une autorisation d'analyse",
        description=ERROR_CODES,
        responses={200: ExposureAuthorisationSerializer, **errors(400, 401, 403, 404)},
    ),
    create=extend_schema(
        summary="Signer une autorisation d'analyse",
        description="Autorise le CRRC de la région à analyser les actifs choisis, aux jours et "
        "heures dits (heure de Paris), au débit dit, pendant un an au plus. Réservé à la "
        "direction et au RSSI de l'établissement. " + ERROR_CODES,
        request=ExposureAuthorisationCreateSerializer,
        responses={201: ExposureAuthorisationSerializer, **errors(400, 401, 403)},
    ),
)
@extend_schema(tags=[TAG])
class AuthorisationViewSet(
    _ExposureApi,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    filterset_class = AuthorisationFilter
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self):
        if self._fake():
            return api_selectors.no_authorisations()
        return api_selectors.authorisations(self.request.user)

    def get_serializer_class(self):
        if self.action == "create":
            return ExposureAuthorisationCreateSerializer
        return ExposureAuthorisationSerializer

    def retrieve(self, request, *args, **kwargs):
        authorisation = api_selectors.authorisation(request.user, _pk(kwargs["pk"]))
        return Response(ExposureAuthorisationSerializer(authorisation).data)

    def create(self, request, *args, **kwargs):
        serializer = ExposureAuthorisationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        organisation = _organisation(data.pop("organisation"))
        if not perms.can_authorise(request.user, organisation):
            # Before reading the assets: who may not sign learns nothing about them.
            raise DomainError(perms.NOT_SIGNER, code="forbidden")
        assets = []
        for asset_id in dict.fromkeys(data.pop("assets")):
            try:
                assets.append(selectors.get_asset(request.user, asset_id))
            except Http404:
                raise DomainError(
                    f"Actif {asset_id} inconnu.", code="invalid", field="assets"
                ) from None
        authorisation = services.authorisation_sign(
            actor=request.user, organisation=organisation, assets=assets, **data
        )
        return Response(
            ExposureAuthorisationSerializer(
                api_selectors.authorisation(request.user, authorisation.pk)
            ).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="Révoquer une autorisation d'analyse",
        description="Elle n'autorise plus rien : les analyses en attente sont annulées, celles "
        "en cours s'arrêtent. Sans effet sur une autorisation déjà révoquée. Réservé à la "
        "direction et au RSSI de l'établissement. " + ERROR_CODES,
        request=None,
        responses={200: ExposureAuthorisationSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def revoke(self, request, pk=None):
        authorisation = selectors.get_authorisation(request.user, _pk(pk))
        services.authorisation_revoke(actor=request.user, authorisation=authorisation)
        return Response(
            ExposureAuthorisationSerializer(
                api_selectors.authorisation(request.user, authorisation.pk)
            ).data
        )


# --- Scans ----------------------------------------------------------------------------------------


class ExposureSkippedSerializer(serializers.Serializer):
    what = serializers.CharField(help_text="L'actif (ou le nom et l'adresse) laissé de côté.")
    why = serializers.CharField(help_text="Pourquoi il n'a pas été analysé.")


class ExposureScanSerializer(serializers.ModelSerializer):
    organisation = OrganisationRefSerializer(read_only=True)
    authorisation = serializers.IntegerField(
        source="authorisation_id", read_only=True, help_text="L'autorisation appliquée."
    )
    trigger = _choice(ScanTrigger.choices)
    status = _choice(ScanStatus.choices)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    percent = serializers.IntegerField(read_only=True, help_text="Avancement, en %.")
    probes_done = serializers.IntegerField(read_only=True, help_text="Sondes envoyées.")
    probes_total = serializers.IntegerField(read_only=True, help_text="Sondes prévues.")
    open_found = serializers.IntegerField(read_only=True, help_text="Ports ouverts trouvés.")
    target_count = serializers.SerializerMethodField(help_text="Adresses à analyser.")
    port_count = serializers.SerializerMethodField(help_text="Ports sondés sur chaque adresse.")
    skipped = serializers.SerializerMethodField(
        help_text="Ce qui a été laissé hors de l'analyse à sa mise en file, et pourquoi."
    )
    launched_by = _person(help_text="Qui l'a lancée (null : analyse planifiée).")
    rate = serializers.IntegerField(
        read_only=True, help_text="Débit appliqué, en sondes par seconde et par /24."
    )
    reason = serializers.CharField(
        read_only=True, help_text="Pourquoi elle n'a pas été lancée, a échoué ou a été annulée."
    )

    class Meta:
        model = Scan
        fields = [
            "id",
            "organisation",
            "authorisation",
            "trigger",
            "status",
            "status_label",
            "percent",
            "probes_done",
            "probes_total",
            "hosts_done",
            "open_found",
            "target_count",
            "port_count",
            "skipped",
            "launched_by",
            "rate",
            "version_detection",
            "reason",
            "cancel_requested",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_port_count(self, scan) -> int:
        return len(scan.ports)

    def get_target_count(self, scan) -> int:
        # From the totals, so that lists need not load the targets (up to a /16 per scan).
        ports = len(scan.ports)
        return scan.probes_total // ports if ports else 0

    @extend_schema_field(ExposureSkippedSerializer(many=True))
    def get_skipped(self, scan) -> list:
        return [{"what": str(item[0]), "why": str(item[1])} for item in scan.skipped or []]


class ExposureScanCreateSerializer(serializers.Serializer):
    organisation = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, help_text="L'établissement à analyser (son identifiant)."
    )


class ScanFilter(filters.FilterSet):
    organisation = IdFilter(field_name="organisation_id", label="L'organisation (son identifiant)")
    status = filters.ChoiceFilter(choices=ScanStatus.choices, label="État de l'analyse")

    class Meta:
        model = Scan
        fields = ["organisation", "status"]


@extend_schema_view(
    list=extend_schema(
        summary="Analyses d'exposition",
        description="Les analyses des organisations dont vous voyez l'exposition, des plus "
        "récentes aux plus anciennes : état, avancement, ce qui a été laissé de côté et "
        "pourquoi, qui l'a lancée et à quel débit. " + ERROR_CODES,
        responses={200: ExposureScanSerializer(many=True), **errors(400, 401, 403)},
    ),
    retrieve=extend_schema(
        summary="Une analyse d'exposition",
        description=ERROR_CODES,
        responses={200: ExposureScanSerializer, **errors(400, 401, 403, 404)},
    ),
    create=extend_schema(
        summary="Lancer une analyse",
        description="Met en file une analyse des actifs de l'autorisation en vigueur de "
        "l'établissement, à son débit. Refusée (400, avec le motif) sans autorisation en "
        "vigueur, hors de ses jours et heures, pendant l'arrêt d'urgence ou quand une analyse "
        "est déjà en attente ou en cours. Réservé aux opérateurs du CRRC de la région. "
        + ERROR_CODES,
        request=ExposureScanCreateSerializer,
        responses={201: ExposureScanSerializer, **errors(400, 401, 403)},
    ),
)
@extend_schema(tags=[TAG])
class ScanViewSet(
    _ExposureApi,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    filterset_class = ScanFilter
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self):
        if self._fake():
            return api_selectors.no_scans()
        return api_selectors.scans(self.request.user)

    def get_serializer_class(self):
        if self.action == "create":
            return ExposureScanCreateSerializer
        return ExposureScanSerializer

    def retrieve(self, request, *args, **kwargs):
        return Response(
            ExposureScanSerializer(selectors.get_scan(request.user, _pk(kwargs["pk"]))).data
        )

    def create(self, request, *args, **kwargs):
        serializer = ExposureScanCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        organisation = _organisation(serializer.validated_data["organisation"])
        scan = services.scan_queue(actor=request.user, organisation=organisation)
        return Response(
            ExposureScanSerializer(selectors.get_scan(request.user, scan.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="Annuler une analyse",
        description="Une analyse en attente est annulée aussitôt ; une analyse en cours "
        "s'arrête à sa prochaine vérification (en une seconde environ). Refusé pour une "
        "analyse terminée. Réservé aux opérateurs du CRRC de la région. " + ERROR_CODES,
        request=None,
        responses={200: ExposureScanSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def cancel(self, request, pk=None):
        scan = selectors.get_scan(request.user, _pk(pk))
        services.scan_cancel(actor=request.user, scan=scan)
        return Response(ExposureScanSerializer(selectors.get_scan(request.user, scan.pk)).data)


# --- Findings -------------------------------------------------------------------------------------


class ExposureFindingSerializer(serializers.ModelSerializer):
    organisation = OrganisationRefSerializer(read_only=True)
    severity = _choice(Severity.choices)
    severity_label = serializers.CharField(source="get_severity_display", read_only=True)
    status = _choice(FindingStatus.choices)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    code = serializers.CharField(read_only=True, help_text="Code stable du type de constat.")
    explanation = serializers.CharField(read_only=True, help_text="Pourquoi c'est un risque.")
    remediation = serializers.CharField(read_only=True, help_text="Que faire.")
    detail = serializers.CharField(read_only=True, help_text="Ce que l'analyse a vu.")
    first_scan = serializers.IntegerField(source="first_scan_id", read_only=True)
    last_scan = serializers.IntegerField(source="last_scan_id", read_only=True)
    ack_by = _person(help_text="Qui l'a pris en compte.")

    class Meta:
        model = Finding
        fields = [
            "id",
            "organisation",
            "address",
            "port",
            "code",
            "severity",
            "severity_label",
            "status",
            "status_label",
            "title",
            "explanation",
            "remediation",
            "detail",
            "first_seen_at",
            "last_seen_at",
            "first_scan",
            "last_scan",
            "fixed_at",
            "times_reopened",
            "ack_reason",
            "ack_by",
            "ack_at",
        ]
        read_only_fields = fields


class ExposureAcknowledgeSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=500,
        allow_blank=True,
        help_text="Pourquoi le constat est pris en compte (correctif prévu, risque accepté…).",
    )


class FindingFilter(filters.FilterSet):
    organisation = IdFilter(field_name="organisation_id", label="L'organisation (son identifiant)")
    status = filters.ChoiceFilter(choices=FindingStatus.choices, label="État du constat")
    severity = filters.ChoiceFilter(choices=Severity.choices, label="Gravité")
    active = filters.BooleanFilter(
        method="filter_active",
        label="true : ouverts, pris en compte ou rouverts ; false : corrigés",
    )

    class Meta:
        model = Finding
        fields = ["organisation", "status", "severity", "active"]

    def filter_active(self, queryset, name, value):
        if value is None:
            return queryset
        if value:
            return queryset.filter(status__in=ACTIVE_FINDING)
        return queryset.exclude(status__in=ACTIVE_FINDING)


@extend_schema_view(
    list=extend_schema(
        summary="Constats d'exposition",
        description="Ce que les analyses ont trouvé sur les organisations dont vous voyez "
        "l'exposition, les plus graves d'abord, avec l'explication et la remédiation. "
        + ERROR_CODES,
        responses={200: ExposureFindingSerializer(many=True), **errors(400, 401, 403)},
    ),
    retrieve=extend_schema(
        summary="Un constat d'exposition",
        description=ERROR_CODES,
        responses={200: ExposureFindingSerializer, **errors(400, 401, 403, 404)},
    ),
)
@extend_schema(tags=[TAG])
class FindingViewSet(
    _ExposureApi, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = ExposureFindingSerializer
    filterset_class = FindingFilter

    def get_queryset(self):
        if self._fake():
            return api_selectors.no_findings()
        return api_selectors.findings(self.request.user)

    def retrieve(self, request, *args, **kwargs):
        finding = selectors.get_finding(request.user, _pk(kwargs["pk"]))
        return Response(ExposureFindingSerializer(finding).data)

    @extend_schema(
        summary="Prendre en compte un constat",
        description="Le constat reste actif, avec votre motif (correctif prévu, risque "
        "accepté…) ; la prochaine analyse le ferme s'il a disparu. Refusé pour un constat "
        "corrigé. Réservé à la direction, au RSSI et au DSI de l'établissement. " + ERROR_CODES,
        request=ExposureAcknowledgeSerializer,
        responses={200: ExposureFindingSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def acknowledge(self, request, pk=None):
        finding = selectors.get_finding(request.user, _pk(pk))
        serializer = ExposureAcknowledgeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.finding_acknowledge(
            actor=request.user, finding=finding, reason=serializer.validated_data["reason"]
        )
        return Response(
            ExposureFindingSerializer(selectors.get_finding(request.user, finding.pk)).data
        )


# --- The CRRC's safety controls: lab ranges and the emergency stop --------------------------------


class _WatcherOnly(_ExposureApi):
    """Routes of the CRRC's operators only (403 with the reason for anyone else)."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not perms.is_watcher(request.user):
            raise PermissionDenied(perms.NOT_WATCHER)


class ExposureLabRangeSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    region = serializers.IntegerField(source="region_id", read_only=True)
    network = serializers.CharField(read_only=True, help_text="Réseau non public (CIDR).")
    reason = serializers.CharField(read_only=True)
    allowed_by = _person()
    allowed_at = serializers.DateTimeField(read_only=True)
    revoked_at = serializers.DateTimeField(read_only=True, allow_null=True)


class ExposureLabRangeCreateSerializer(serializers.Serializer):
    region = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, help_text="La région (son identifiant) de votre CRRC."
    )
    network = serializers.CharField(max_length=50, help_text="Ex. 127.0.0.0/8, 10.99.0.0/24.")
    reason = serializers.CharField(max_length=300, help_text="Pourquoi cette plage est ouverte.")


@extend_schema_view(
    list=extend_schema(
        summary="Plages de laboratoire",
        description="Les réseaux non publics que le CRRC de vos régions permet d'analyser "
        "(laboratoire, démonstration), révoqués compris. Réservé aux opérateurs du CRRC. "
        + ERROR_CODES,
        responses={200: ExposureLabRangeSerializer(many=True), **errors(400, 401, 403)},
    ),
    create=extend_schema(
        summary="Autoriser une plage de laboratoire",
        description="Un réseau public est refusé (il n'en a pas besoin). " + ERROR_CODES,
        request=ExposureLabRangeCreateSerializer,
        responses={201: ExposureLabRangeSerializer, **errors(400, 401, 403)},
    ),
)
@extend_schema(tags=[TAG])
class LabRangeViewSet(
    _WatcherOnly, mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    serializer_class = ExposureLabRangeSerializer
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self):
        if self._fake():
            return api_selectors.no_lab_ranges()
        return selectors.lab_ranges(self.request.user)

    def get_serializer_class(self):
        if self.action == "create":
            return ExposureLabRangeCreateSerializer
        return ExposureLabRangeSerializer

    def create(self, request, *args, **kwargs):
        serializer = ExposureLabRangeCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        region = selectors.watch_regions(request.user).filter(pk=data.pop("region")).first()
        if region is None:
            raise DomainError(perms.NOT_WATCHER, code="forbidden")
        lab = services.lab_range_allow(actor=request.user, region=region, **data)
        return Response(ExposureLabRangeSerializer(lab).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Révoquer une plage de laboratoire",
        description="Les actifs qui s'y trouvent ne sont plus analysés. " + ERROR_CODES,
        request=None,
        responses={200: ExposureLabRangeSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def revoke(self, request, pk=None):
        lab = selectors.lab_ranges(request.user).filter(pk=_pk(pk)).first()
        if lab is None:
            raise Http404
        return Response(
            ExposureLabRangeSerializer(services.lab_range_revoke(actor=request.user, lab=lab)).data
        )


class ExposureStopSerializer(serializers.Serializer):
    engaged = serializers.BooleanField(help_text="Vrai : aucune analyse ne tourne ni ne part.")
    reason = serializers.CharField(allow_blank=True)
    engaged_by = _person()
    engaged_at = serializers.DateTimeField(allow_null=True)


class ExposureStopRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, help_text="Le motif de l'arrêt d'urgence.")


def _stop_state() -> dict:
    stop = selectors.stop_state()
    return {
        "engaged": stop is not None,
        "reason": stop.reason if stop else "",
        "engaged_by": stop.engaged_by if stop else None,
        "engaged_at": stop.engaged_at if stop else None,
    }


@extend_schema(tags=[TAG])
class EmergencyStopView(_WatcherOnly, GenericAPIView):
    """The platform's emergency stop of every scan (CRRC operators)."""

    serializer_class = ExposureStopSerializer

    @extend_schema(
        summary="État de l'arrêt d'urgence",
        description=ERROR_CODES,
        responses={200: ExposureStopSerializer, **errors(401, 403)},
    )
    def get(self, request):
        return Response(ExposureStopSerializer(_stop_state()).data)

    @extend_schema(
        summary="Engager l'arrêt d'urgence",
        description="Annule les analyses en attente, arrête celles en cours dans la seconde et "
        "empêche tout départ jusqu'à la levée. Sans effet s'il est déjà engagé. " + ERROR_CODES,
        request=ExposureStopRequestSerializer,
        responses={200: ExposureStopSerializer, **errors(400, 401, 403)},
    )
    def post(self, request):
        serializer = ExposureStopRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.emergency_stop(actor=request.user, reason=serializer.validated_data["reason"])
        return Response(ExposureStopSerializer(_stop_state()).data)

    @extend_schema(
        summary="Lever l'arrêt d'urgence",
        description="Les analyses peuvent de nouveau partir. " + ERROR_CODES,
        request=None,
        responses={200: ExposureStopSerializer, **errors(401, 403)},
    )
    def delete(self, request):
        services.emergency_release(actor=request.user)
        return Response(ExposureStopSerializer(_stop_state()).data)
