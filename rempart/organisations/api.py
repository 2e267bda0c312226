"""REST API v1: organisations, memberships, invitations and « who am I ».

Thin like the web views: every queryset starts from the acting user's scope (selectors and
`perms.capability_q`), so an object of a foreign organisation is simply not found (404);
writes go through the same services as the pages, which check the rights again and audit.
"""

from django.db.models import Q, QuerySet
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle

from rempart.core.errors import DomainError
from rempart.core.models import ApiToken
from rempart.core.roles import ORG_KIND_CHOICES, ROLE_CHOICES, ROLES, Role

from . import perms, selectors, services
from .models import (
    Departement,
    FinessCategory,
    Invitation,
    LegalStatus,
    Membership,
    Organisation,
    Region,
    Sector,
    User,
)

# --- Shared pieces --------------------------------------------------------------------------


class ApiPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Code stable, pour les programmes (ex. « not_found »).")
    message = serializers.CharField(help_text="Message en français, à afficher tel quel.")
    details = serializers.DictField(
        required=False,
        child=serializers.JSONField(),
        help_text="Erreurs par champ, quand la requête contient des données invalides.",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


_ERROR_DESCRIPTIONS = {
    400: "Données invalides ou action refusée (voir error.code et error.details).",
    401: "Jeton absent, inconnu, expiré ou révoqué.",
    403: "Action interdite à votre rôle, ou jeton en lecture seule.",
    404: "Objet introuvable (ou hors de votre périmètre).",
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """Documented error answers, all with the same structured body."""
    return {
        code: OpenApiResponse(ErrorSerializer, description=_ERROR_DESCRIPTIONS[code])
        for code in codes
    }


class ApiViewMixin:
    pagination_class = ApiPagination
    throttle_classes = [UserRateThrottle]


# --- Serializers ------------------------------------------------------------------------------


class OrganisationRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organisation
        fields = ["id", "name", "kind"]


class CategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = FinessCategory
        fields = ["code", "label", "sector"]


class DepartementSerializer(serializers.ModelSerializer):
    class Meta:
        model = Departement
        fields = ["code", "name"]


class RegionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Region
        fields = ["code", "name"]


class OrganisationSerializer(serializers.ModelSerializer):
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    category = CategorySerializer(read_only=True, allow_null=True)
    region = RegionSerializer(read_only=True, allow_null=True)
    departement = DepartementSerializer(read_only=True, allow_null=True)
    ght = OrganisationRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Organisation
        fields = [
            "id",
            "kind",
            "kind_label",
            "name",
            "finess",
            "siret",
            "category",
            "sector",
            "legal_status",
            "region",
            "departement",
            "ght",
            "address",
            "postal_code",
            "commune",
            "is_active",
            "updated_at",
        ]
        read_only_fields = fields


class OrganisationDetailSerializer(OrganisationSerializer):
    legal_entity = OrganisationRefSerializer(read_only=True, allow_null=True)
    support_establishment = OrganisationRefSerializer(read_only=True, allow_null=True)

    class Meta(OrganisationSerializer.Meta):
        fields = [
            *OrganisationSerializer.Meta.fields,
            "legal_entity",
            "support_establishment",
            "phone",
            "email",
            "beds",
            "places",
            "staff_count",
            "operating_budget_eur",
            "ape_code",
            "mft_code",
            "mft_label",
            "sph_code",
            "sph_label",
            "opened_on",
            "authorised_on",
            "finess_updated_on",
            "created_at",
        ]
        read_only_fields = fields


class OrganisationUpdateSerializer(serializers.ModelSerializer):
    """The fields a person allowed to edit may change; anything else is refused, not ignored."""

    class Meta:
        model = Organisation
        fields = list(services.ORGANISATION_EDITABLE_FIELDS)
        extra_kwargs = {"operating_budget_eur": {"min_value": 0}}

    def validate(self, attrs):
        if isinstance(self.initial_data, dict):
            refused = sorted(set(self.initial_data) - set(self.Meta.fields))
            if refused:
                raise serializers.ValidationError(
                    {field: ["Ce champ n'est pas modifiable par l'API."] for field in refused}
                )
        return attrs


class PersonSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "first_name", "last_name", "job_title"]


class MembershipSerializer(serializers.ModelSerializer):
    user = PersonSerializer(read_only=True)
    organisation = OrganisationRefSerializer(read_only=True)
    role_label = serializers.CharField(source="get_role_display", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "organisation", "role", "role_label", "valid_from", "valid_until"]
        read_only_fields = fields


class InvitationSerializer(serializers.ModelSerializer):
    organisation = OrganisationRefSerializer(read_only=True)
    role_label = serializers.CharField(source="get_role_display", read_only=True)
    invited_by = serializers.EmailField(source="invited_by.email", read_only=True, allow_null=True)
    expired = serializers.SerializerMethodField(help_text="Le lien a expiré sans réponse.")

    class Meta:
        model = Invitation
        fields = [
            "id",
            "email",
            "organisation",
            "role",
            "role_label",
            "invited_by",
            "created_at",
            "expires_at",
            "expired",
        ]
        read_only_fields = fields

    def get_expired(self, invitation: Invitation) -> bool:
        return invitation.expires_at <= timezone.now()


class InvitationCreateSerializer(serializers.Serializer):
    organisation = serializers.IntegerField(help_text="Identifiant de l'organisation.")
    email = serializers.EmailField(max_length=254, help_text="Adresse e-mail professionnelle.")
    role = serializers.ChoiceField(choices=ROLE_CHOICES, help_text="Code du rôle à attribuer.")


class MyMembershipSerializer(serializers.ModelSerializer):
    organisation = OrganisationRefSerializer(read_only=True)
    role_label = serializers.CharField(source="get_role_display", read_only=True)
    capabilities = serializers.SerializerMethodField()

    class Meta:
        model = Membership
        fields = [
            "id",
            "organisation",
            "role",
            "role_label",
            "capabilities",
            "valid_from",
            "valid_until",
        ]
        read_only_fields = fields

    def get_capabilities(self, membership: Membership) -> list[str]:
        return sorted(c.value for c in ROLES[Role(membership.role)].capabilities)


class MeSerializer(serializers.Serializer):
    user = PersonSerializer()
    memberships = MyMembershipSerializer(many=True)
    token = inline_serializer(
        "MeToken",
        fields={
            "name": serializers.CharField(),
            "scope": serializers.CharField(),
            "expires_at": serializers.DateTimeField(allow_null=True),
        },
        allow_null=True,
        help_text="Le jeton utilisé pour cette requête (absent en session navigateur).",
    )


# --- Filters ----------------------------------------------------------------------------------


class OrganisationFilter(filters.FilterSet):
    q = filters.CharFilter(
        method="search",
        max_length=100,
        label="Recherche dans le nom, le numéro FINESS (début) ou la commune",
    )
    kind = filters.ChoiceFilter(choices=ORG_KIND_CHOICES, label="Type d'organisation")
    sector = filters.ChoiceFilter(choices=Sector.choices, label="Secteur")
    legal_status = filters.ChoiceFilter(choices=LegalStatus.choices, label="Statut juridique")
    ght = filters.NumberFilter(field_name="ght_id", label="Identifiant du GHT")
    departement = filters.CharFilter(
        field_name="departement__code", max_length=3, label="Code du département (ex. 69)"
    )
    category = filters.CharFilter(
        field_name="category__code", max_length=4, label="Code de catégorie FINESS (ex. 355)"
    )
    is_active = filters.BooleanFilter(label="Organisation active")

    class Meta:
        model = Organisation
        fields = [
            "q",
            "kind",
            "sector",
            "legal_status",
            "ght",
            "departement",
            "category",
            "is_active",
        ]

    def search(self, queryset, name, value):
        term = value.strip()
        if not term:
            return queryset
        return queryset.filter(
            Q(name__icontains=term)
            | Q(finess__startswith=term.upper())
            | Q(commune__icontains=term)
        )


class MembershipFilter(filters.FilterSet):
    organisation = filters.NumberFilter(
        field_name="organisation_id", label="Identifiant de l'organisation"
    )
    role = filters.ChoiceFilter(choices=ROLE_CHOICES, label="Code du rôle")

    class Meta:
        model = Membership
        fields = ["organisation", "role"]


class InvitationFilter(filters.FilterSet):
    organisation = filters.NumberFilter(
        field_name="organisation_id", label="Identifiant de l'organisation"
    )

    class Meta:
        model = Invitation
        fields = ["organisation"]


# --- Views ------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Organisations de votre périmètre",
        description="Annuaire filtrable et paginé : uniquement les organisations que votre rôle vous permet de voir.",
        responses={200: OrganisationSerializer(many=True), **errors(400, 401, 403, 404)},
    ),
    retrieve=extend_schema(
        summary="Une organisation",
        responses={200: OrganisationDetailSerializer, **errors(401, 403, 404)},
    ),
    partial_update=extend_schema(
        summary="Modifier une organisation",
        description="Champs modifiables : "
        + ", ".join(services.ORGANISATION_EDITABLE_FIELDS)
        + ". Réservé aux rôles autorisés à modifier l'organisation, avec un jeton en lecture et écriture.",
        request=OrganisationUpdateSerializer,
        responses={200: OrganisationDetailSerializer, **errors(400, 401, 403, 404)},
    ),
)
@extend_schema(tags=["Organisations"])
class OrganisationViewSet(
    ApiViewMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    filterset_class = OrganisationFilter
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Organisation]:
        qs = selectors.visible_organisations(self.request.user).select_related(
            "category", "region", "departement", "ght"
        )
        if self.action != "list":
            qs = qs.select_related("legal_entity", "support_establishment")
        return qs.order_by("name", "pk")

    def get_serializer_class(self):
        if self.action == "list":
            return OrganisationSerializer
        if self.action == "partial_update":
            return OrganisationUpdateSerializer
        return OrganisationDetailSerializer

    def partial_update(self, request, *args, **kwargs):
        organisation = self.get_object()
        if not perms.can_edit_organisation(request.user, organisation):
            raise DomainError("Vous ne pouvez pas modifier cette organisation.", code="forbidden")
        serializer = OrganisationUpdateSerializer(organisation, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        organisation = services.organisation_update(
            actor=request.user, organisation=organisation, **serializer.validated_data
        )
        return Response(OrganisationDetailSerializer(organisation).data)


@extend_schema_view(
    list=extend_schema(
        summary="Rattachements en cours",
        description="Personnes rattachées aux organisations dont votre rôle permet de voir les membres.",
        responses={200: MembershipSerializer(many=True), **errors(400, 401, 403, 404)},
    ),
    retrieve=extend_schema(
        summary="Un rattachement", responses={200: MembershipSerializer, **errors(401, 403, 404)}
    ),
)
@extend_schema(tags=["Rattachements"])
class MembershipViewSet(ApiViewMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = MembershipSerializer
    filterset_class = MembershipFilter

    def get_queryset(self) -> QuerySet[Membership]:
        return selectors.memberships_visible_to(self.request.user)


@extend_schema_view(
    list=extend_schema(
        summary="Invitations en attente",
        description="Invitations ni acceptées ni annulées des organisations dont vous gérez les personnes.",
        responses={200: InvitationSerializer(many=True), **errors(400, 401, 403, 404)},
    ),
    retrieve=extend_schema(
        summary="Une invitation", responses={200: InvitationSerializer, **errors(401, 403, 404)}
    ),
    create=extend_schema(
        summary="Inviter une personne",
        description="Envoie par e-mail un lien signé et limité dans le temps. Vous ne pouvez attribuer que "
        "les rôles que le vôtre permet de donner dans cette organisation.",
        request=InvitationCreateSerializer,
        responses={201: InvitationSerializer, **errors(400, 401, 403, 404)},
    ),
)
@extend_schema(tags=["Invitations"])
class InvitationViewSet(
    ApiViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    filterset_class = InvitationFilter

    def get_queryset(self) -> QuerySet[Invitation]:
        return selectors.invitations_manageable_by(self.request.user)

    def get_serializer_class(self):
        return InvitationCreateSerializer if self.action == "create" else InvitationSerializer

    def create(self, request, *args, **kwargs):
        serializer = InvitationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        organisation = selectors.get_visible_organisation(request.user, data["organisation"])
        invitation = services.invitation_create(
            actor=request.user, organisation=organisation, email=data["email"], role=data["role"]
        )
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)


class MeView(ApiViewMixin, GenericAPIView):
    """Who am I: the person behind the token or session, and their current roles."""

    serializer_class = MeSerializer
    pagination_class = None

    @extend_schema(
        summary="Qui suis-je ?",
        description="La personne derrière le jeton (ou la session), ses rôles en cours et le jeton utilisé.",
        tags=["Compte"],
        responses={200: MeSerializer, **errors(401, 403)},
    )
    def get(self, request, *args, **kwargs):
        token = request.auth if isinstance(request.auth, ApiToken) else None
        body = {
            "user": request.user,
            "memberships": perms.active_memberships(request.user),
            "token": {"name": token.name, "scope": token.scope, "expires_at": token.expires_at}
            if token
            else None,
        }
        return Response(MeSerializer(body).data)
