"""Serializers of the ORSAN cyber API (pooled resources, activations, aid requests).

Read serializers show what the pages show; write serializers only check the shape of the
request — the rules (rights, availability, states, dates) are `orsan_services`'. Names start
with « Orsan » so that the OpenAPI components never collide with another slice's."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from rempart.core.roles import ORG_KIND_CHOICES
from rempart.organisations.models import Organisation, User

from .models import AidRequest, AidStatus, CrisisActivation, PooledResource, ResourceKind


def _inline_enum(choices, *, nullable: bool = False) -> dict:
    """An enum kept inside the field's schema (wrapped in allOf, which the schema's enum
    post-processing leaves alone): no shared component, so no name collision with the other
    fields of the API named alike (kind, status)."""
    schema = {
        "allOf": [{"type": "string", "enum": [str(value) for value, _label in choices]}],
        "description": " ; ".join(f"{value} : {label}" for value, label in choices),
    }
    if nullable:
        schema["nullable"] = True
    return schema


def _enum_field(choices, **kwargs) -> serializers.ChoiceField:
    """A choice field documented with its inline enum (values and their French labels)."""
    schema = _inline_enum(choices, nullable=bool(kwargs.get("allow_null")))
    field_class = extend_schema_field(schema)(
        type("OrsanEnumField", (serializers.ChoiceField,), {})
    )
    return field_class(choices=choices, **kwargs)


def person_label(user) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.email


class OrsanOrganisationRefSerializer(serializers.ModelSerializer):
    kind = _enum_field(ORG_KIND_CHOICES, read_only=True)

    class Meta:
        model = Organisation
        fields = ["id", "name", "kind"]
        read_only_fields = fields


class OrsanPersonSerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField(help_text="Prénom et nom (ou e-mail).")

    class Meta:
        model = User
        fields = ["id", "name", "email"]
        read_only_fields = fields

    def get_name(self, obj) -> str:
        return person_label(obj)


# --- Pooled resources ------------------------------------------------------------------------


class OrsanResourceSerializer(serializers.ModelSerializer):
    organisation = OrsanOrganisationRefSerializer(read_only=True)
    region = serializers.CharField(source="region.code", read_only=True)
    kind = _enum_field(ResourceKind.choices, read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    contact = OrsanPersonSerializer(read_only=True, allow_null=True)
    engaged = serializers.IntegerField(
        read_only=True, help_text="Quantité mobilisée ou prêtée en ce moment."
    )
    available = serializers.IntegerField(
        read_only=True, help_text="Quantité disponible : quantité − mobilisé ou prêté."
    )

    class Meta:
        model = PooledResource
        fields = [
            "id",
            "organisation",
            "region",
            "kind",
            "kind_label",
            "label",
            "description",
            "quantity",
            "unit",
            "engaged",
            "available",
            "contact",
            "active",
            "created_at",
        ]
        read_only_fields = fields


class OrsanResourceCreateSerializer(serializers.Serializer):
    organisation = serializers.IntegerField(
        help_text="Identifiant de la structure qui prête (une structure pour laquelle vous "
        "proposez des ressources)."
    )
    kind = _enum_field(ResourceKind.choices)
    label = serializers.CharField(max_length=255)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    quantity = serializers.IntegerField(min_value=1, max_value=100_000)
    unit = serializers.CharField(max_length=50, help_text="« postes », « jours »…")
    contact = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Identifiant de la personne à contacter (membre de la structure) ; "
        "vous-même par défaut.",
    )


class OrsanResourceUpdateSerializer(serializers.Serializer):
    kind = _enum_field(ResourceKind.choices, required=False)
    label = serializers.CharField(max_length=255, required=False)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    quantity = serializers.IntegerField(min_value=1, max_value=100_000, required=False)
    unit = serializers.CharField(max_length=50, required=False)
    contact = serializers.IntegerField(required=False, allow_null=True)
    active = serializers.BooleanField(
        required=False, help_text="false : retirer du catalogue ; true : proposer à nouveau."
    )


# --- Activations -----------------------------------------------------------------------------


class OrsanActivationSerializer(serializers.ModelSerializer):
    region = serializers.CharField(source="region.code", read_only=True)
    affected = OrsanOrganisationRefSerializer(many=True, read_only=True)
    case = serializers.SerializerMethodField(
        help_text="Identifiant du dossier d'incident lié, si vous y avez accès."
    )
    activated_by = serializers.SerializerMethodField()
    ended_by = serializers.SerializerMethodField()
    running = serializers.SerializerMethodField(help_text="Activation en cours (pas levée).")
    open_requests = serializers.IntegerField(
        read_only=True, help_text="Demandes en attente ou mobilisées."
    )
    loans_out = serializers.IntegerField(read_only=True, help_text="Prêts pas encore restitués.")

    class Meta:
        model = CrisisActivation
        fields = [
            "id",
            "region",
            "title",
            "reason",
            "affected",
            "case",
            "running",
            "activated_at",
            "activated_by",
            "ended_at",
            "ended_by",
            "end_note",
            "open_requests",
            "loans_out",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.INT)
    def get_case(self, obj) -> int | None:
        visible = self.context.get("visible_case_ids", set())
        return obj.case_id if obj.case_id in visible else None

    def get_activated_by(self, obj) -> str:
        return person_label(obj.activated_by)

    def get_ended_by(self, obj) -> str:
        return person_label(obj.ended_by)

    def get_running(self, obj) -> bool:
        return obj.ended_at is None


# --- Aid requests ----------------------------------------------------------------------------


class OrsanAidResourceSerializer(serializers.ModelSerializer):
    kind = _enum_field(ResourceKind.choices, read_only=True)
    organisation = OrsanOrganisationRefSerializer(read_only=True)
    contact = OrsanPersonSerializer(read_only=True, allow_null=True)

    class Meta:
        model = PooledResource
        fields = ["id", "label", "kind", "unit", "organisation", "contact"]
        read_only_fields = fields


class OrsanAidRequestSerializer(serializers.ModelSerializer):
    activation = serializers.IntegerField(source="activation_id", read_only=True)
    activation_title = serializers.CharField(source="activation.title", read_only=True)
    requester = OrsanOrganisationRefSerializer(read_only=True)
    kind = _enum_field(ResourceKind.choices, read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    status = _enum_field(AidStatus.choices, read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    resource = OrsanAidResourceSerializer(read_only=True, allow_null=True)
    requested_by = serializers.SerializerMethodField()
    mobilised_by = serializers.SerializerMethodField()
    overdue = serializers.SerializerMethodField(
        help_text="Prêt pas restitué dont la date de retour prévue est passée."
    )

    class Meta:
        model = AidRequest
        fields = [
            "id",
            "activation",
            "activation_title",
            "requester",
            "kind",
            "kind_label",
            "need",
            "quantity",
            "resource",
            "status",
            "status_label",
            "requested_at",
            "requested_by",
            "mobilised_at",
            "mobilised_by",
            "lent_at",
            "due_back_on",
            "returned_at",
            "overdue",
            "note",
        ]
        read_only_fields = fields

    def get_requested_by(self, obj) -> str:
        return person_label(obj.requested_by)

    def get_mobilised_by(self, obj) -> str:
        return person_label(obj.mobilised_by)

    def get_overdue(self, obj) -> bool:
        today = self.context.get("today")
        return bool(
            obj.status == AidStatus.LENT
            and obj.due_back_on is not None
            and today is not None
            and obj.due_back_on < today
        )


class OrsanAidRequestCreateSerializer(serializers.Serializer):
    activation = serializers.IntegerField(help_text="Identifiant de l'activation en cours.")
    requester = serializers.IntegerField(
        help_text="Identifiant de la structure qui demande (nommée dans l'activation)."
    )
    kind = _enum_field(ResourceKind.choices)
    need = serializers.CharField(max_length=5000)
    quantity = serializers.IntegerField(min_value=1, max_value=100_000)
    resource = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Ressource souhaitée dans le catalogue de la région (facultatif).",
    )


class OrsanMobiliseSerializer(serializers.Serializer):
    resource = serializers.IntegerField(
        help_text="Identifiant d'une ressource proposée dans la région de l'activation."
    )
    quantity = serializers.IntegerField(
        min_value=1,
        max_value=100_000,
        required=False,
        allow_null=True,
        help_text="Quantité mobilisée (au plus la quantité demandée) ; la demande entière "
        "par défaut.",
    )


class OrsanRefuseSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=5000, help_text="Motif transmis au demandeur.")


class OrsanCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=5000, required=False, allow_blank=True)


class OrsanLendSerializer(serializers.Serializer):
    lent_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Date et heure du prêt ; maintenant par défaut."
    )
    due_back_on = serializers.DateField(help_text="Date de retour prévue.")


class OrsanReturnSerializer(serializers.Serializer):
    returned_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="Date et heure de restitution ; maintenant par défaut.",
    )
    condition = serializers.CharField(max_length=5000, help_text="État de la ressource au retour.")
