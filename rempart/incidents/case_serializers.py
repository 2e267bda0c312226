"""Serializers of the case API (/api/v1/cases/). Read serializers say what the case page shows;
write serializers only check the shape of the request, the rules are `case_services`'.

Choice fields carry their values inline in the schema (no shared enum component), so that
fields named alike in other parts of the API (state, status, kind, level) never collide.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import (
    AccessLevel,
    AffectedAsset,
    Alert,
    AssetKind,
    AssetState,
    Case,
    CaseAccess,
    CaseEvent,
    CaseOutcome,
    CaseState,
    CaseTask,
    EventKind,
    IncidentType,
    Severity,
    TaskKind,
    TaskStatus,
    Tlp,
)

ENTRY_KINDS = [EventKind.NOTE, EventKind.OBSERVATION, EventKind.ACTION]


def _inline_enum(choices, *, nullable: bool = False) -> dict:
    """An enum kept inside the field's schema (wrapped in allOf, which the schema's enum
    post-processing leaves alone): no shared component, so no name collision with the
    fields of other parts of the API named alike (state, status, kind, level, tlp)."""
    values = [str(value) for value, _label in choices]
    schema = {
        "allOf": [{"type": "string", "enum": values}],
        "description": " ; ".join(f"{value} : {label}" for value, label in choices),
    }
    if nullable:
        schema["nullable"] = True
    return schema


def _enum_field(choices, **kwargs) -> serializers.ChoiceField:
    """A choice field documented with its inline enum (values and their French labels)."""
    schema = _inline_enum(choices, nullable=bool(kwargs.get("allow_null")))
    field_class = extend_schema_field(schema)(type("CaseEnumField", (serializers.ChoiceField,), {}))
    return field_class(choices=choices, **kwargs)


def person_label(user) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.email


class CasePersonSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        return person_label(user)


class CaseOrganisationSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


class CaseSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True, help_text="CYB-AAAA-NNNN")
    organisation = CaseOrganisationSerializer(read_only=True)
    incident_type = _enum_field(IncidentType.choices, read_only=True)
    state = _enum_field(CaseState.choices, read_only=True)
    outcome = _enum_field(CaseOutcome.choices, read_only=True)
    severity = _enum_field(Severity.choices, read_only=True)
    tlp = _enum_field(Tlp.choices, read_only=True)
    lead = CasePersonSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Case
        fields = [
            "id",
            "reference",
            "title",
            "organisation",
            "incident_type",
            "state",
            "outcome",
            "severity",
            "tlp",
            "lead",
            "reported_at",
            "opened_at",
            "qualified_at",
            "resolved_at",
            "closed_at",
        ]
        read_only_fields = fields


class CaseAlertRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Alert
        fields = ["id", "received_at", "duplicate_of"]
        read_only_fields = fields


class CaseAssetSerializer(serializers.ModelSerializer):
    kind = _enum_field(AssetKind.choices, read_only=True)
    state = _enum_field(AssetState.choices, read_only=True)

    class Meta:
        model = AffectedAsset
        fields = ["id", "name", "kind", "state", "critical_for_care", "notes", "created_at"]
        read_only_fields = fields


class CaseDetailSerializer(CaseSerializer):
    access_level = serializers.SerializerMethodField(
        help_text="Votre niveau d'accès : lecture, contribution ou pilotage."
    )
    alerts = CaseAlertRefSerializer(many=True, read_only=True)
    assets = CaseAssetSerializer(many=True, read_only=True)

    class Meta(CaseSerializer.Meta):
        fields = [*CaseSerializer.Meta.fields, "summary", "access_level", "alerts", "assets"]
        read_only_fields = fields

    @extend_schema_field(_inline_enum(AccessLevel.choices))
    def get_access_level(self, case) -> str:
        return str(getattr(case, "access_level", "") or "")


class CaseCreateSerializer(serializers.Serializer):
    alert = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Alerte d'origine : la structure est la sienne ; ses doublons sont rattachés.",
    )
    organisation = serializers.IntegerField(
        required=False, allow_null=True, help_text="Structure victime, sans alerte d'origine."
    )
    title = serializers.CharField(max_length=255)
    incident_type = _enum_field(IncidentType.choices)
    summary = serializers.CharField(required=False, allow_blank=True, default="")
    severity = _enum_field(Severity.choices, required=False, default=Severity.MEDIUM)
    tlp = _enum_field(Tlp.choices, required=False, default=Tlp.AMBER)

    def validate(self, data):
        if (data.get("alert") is None) == (data.get("organisation") is None):
            raise serializers.ValidationError(
                {
                    "alert": [
                        "Indiquez l'alerte d'origine ou la structure victime (l'une ou l'autre)."
                    ]
                }
            )
        return data


class CaseUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=255, required=False)
    summary = serializers.CharField(required=False, allow_blank=True)
    severity = _enum_field(Severity.choices, required=False)
    tlp = _enum_field(Tlp.choices, required=False)


class CaseStateSerializer(serializers.Serializer):
    state = _enum_field(CaseState.choices)
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=5000,
        help_text="Obligatoire pour revenir en arrière ou rouvrir un dossier clos.",
    )
    occurred_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="Par défaut : maintenant."
    )


class CaseOutcomeSerializer(serializers.Serializer):
    outcome = _enum_field(CaseOutcome.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class CaseEventSerializer(serializers.ModelSerializer):
    kind = _enum_field(EventKind.choices, read_only=True)
    author = CasePersonSerializer(read_only=True, allow_null=True)

    class Meta:
        model = CaseEvent
        fields = ["id", "kind", "occurred_at", "recorded_at", "author", "text"]
        read_only_fields = fields


class CaseEventCreateSerializer(serializers.Serializer):
    kind = _enum_field([(k.value, k.label) for k in ENTRY_KINDS])
    text = serializers.CharField(max_length=20000)
    occurred_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Quand c'est arrivé (passé possible, jamais futur) ; par défaut maintenant.",
    )


class CaseTaskSerializer(serializers.ModelSerializer):
    kind = _enum_field(TaskKind.choices, read_only=True)
    status = _enum_field(TaskStatus.choices, read_only=True)
    assignee = CasePersonSerializer(read_only=True, allow_null=True)

    class Meta:
        model = CaseTask
        fields = [
            "id",
            "kind",
            "title",
            "details",
            "status",
            "assignee",
            "due_at",
            "done_at",
            "from_template",
            "position",
        ]
        read_only_fields = fields


class CaseTaskCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=255)
    details = serializers.CharField(required=False, allow_blank=True, default="")
    kind = _enum_field(TaskKind.choices, required=False, default=TaskKind.TASK)
    assignee = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="Une personne qui voit le dossier."
    )
    due_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class CaseTaskUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=255, required=False)
    details = serializers.CharField(required=False, allow_blank=True)
    status = _enum_field(TaskStatus.choices, required=False)
    assignee = serializers.IntegerField(required=False, allow_null=True)
    due_at = serializers.DateTimeField(required=False, allow_null=True)


class CaseAccessSerializer(serializers.ModelSerializer):
    person = CasePersonSerializer(read_only=True, allow_null=True)
    organisation = CaseOrganisationSerializer(read_only=True, allow_null=True)
    level = _enum_field(AccessLevel.choices, read_only=True)
    granted_by = CasePersonSerializer(read_only=True, allow_null=True)

    class Meta:
        model = CaseAccess
        fields = ["id", "person", "organisation", "level", "granted_by", "granted_at"]
        read_only_fields = fields


class CaseShareSerializer(serializers.Serializer):
    person = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="Un expert du CRRC de la région."
    )
    organisation = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Une structure de la région (ARS, établissement qui aide…).",
    )
    level = _enum_field(AccessLevel.choices)

    def validate(self, data):
        if (data.get("person") is None) == (data.get("organisation") is None):
            raise serializers.ValidationError(
                {"person": ["Indiquez une personne ou une structure (l'une ou l'autre)."]}
            )
        return data
