"""Serializers of the alert API (/api/v1/alerts/).

The create serializer only refuses what cannot be stored at all — a value of the wrong JSON
type (an object where a text is expected…) or an organisation that is not an id. Everything
else goes to `alert_services.alert_file`, which never refuses a missing or garbled essential
field: it keeps it and lists it in `missing_fields`.

Choice values are documented inline (no shared enum component), so that fields named alike in
other parts of the API (status, channel, source) never collide in the schema. Component names
start with « IncidentAlert » for the same reason.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .alert_services import ESSENTIAL_FIELDS
from .models import (
    Alert,
    AlertSource,
    AlertStatus,
    Impact,
    IncidentType,
    Page,
    PageChannel,
    PageStatus,
    PagingStatus,
)


def _described(choices) -> str:
    return " ; ".join(f"{value} : {label}" for value, label in choices)


def _enum_schema(choices, *, blank: bool = False) -> dict:
    """An inline enum, wrapped in allOf so that drf-spectacular does not hoist it into a shared
    component named after the field (« status » is used by many choice sets of the API)."""
    values = [str(value) for value, _label in choices]
    if blank:
        values.append("")
    return {
        "allOf": [{"type": "string", "enum": values}],
        "description": _described(choices),
    }


def _read_choice(choices, *, blank: bool = False, **kwargs) -> serializers.CharField:
    field_class = extend_schema_field(_enum_schema(choices, blank=blank))(
        type("IncidentAlertEnumField", (serializers.CharField,), {})
    )
    return field_class(read_only=True, **kwargs)


def person_label(user) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.email


# --- Read ------------------------------------------------------------------------------------------


class IncidentAlertOrganisationSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


class IncidentAlertPersonSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.SerializerMethodField()

    def get_name(self, user) -> str:
        return person_label(user)


class IncidentAlertCaseSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    reference = serializers.CharField(read_only=True)


class IncidentAlertPageSerializer(serializers.ModelSerializer):
    """One notification of the on-call chain: who, by which channel, when, with what result."""

    recipient = IncidentAlertPersonSerializer(read_only=True)
    channel = _read_choice(PageChannel.choices)
    webhook = serializers.CharField(
        source="webhook.name", read_only=True, allow_null=True, default=None
    )
    status = _read_choice(PageStatus.choices)
    status_label = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = Page
        fields = [
            "id",
            "step",
            "level",
            "recipient",
            "channel",
            "webhook",
            "status",
            "status_label",
            "created_at",
            "sent_at",
            "attempts",
        ]
        read_only_fields = fields


class IncidentAlertSerializer(serializers.ModelSerializer):
    organisation = IncidentAlertOrganisationSerializer(read_only=True)
    crrc = IncidentAlertOrganisationSerializer(read_only=True, allow_null=True)
    source = _read_choice(AlertSource.choices)
    incident_type = _read_choice(IncidentType.choices, blank=True)
    incident_type_label = serializers.CharField(source="get_incident_type_display", read_only=True)
    affects_care = _read_choice(Impact.choices, blank=True)
    affects_health_data = _read_choice(Impact.choices, blank=True)
    affects_systems = _read_choice(Impact.choices, blank=True)
    checklist = serializers.DictField(
        child=serializers.BooleanField(),
        read_only=True,
        help_text="Gestes réflexes du type d'incident : code → coché (true) ou non (false).",
    )
    missing_fields = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Champs essentiels manquants ou illisibles, parmi : "
        + ", ".join(ESSENTIAL_FIELDS)
        + ".",
    )
    complete = serializers.SerializerMethodField(
        help_text="Vrai quand aucun champ essentiel ne manque."
    )
    status = _read_choice(AlertStatus.choices)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    paging_status = _read_choice(PagingStatus.choices)
    paging_status_label = serializers.CharField(source="get_paging_status_display", read_only=True)
    duplicate_of = serializers.IntegerField(
        source="duplicate_of_id",
        read_only=True,
        allow_null=True,
        help_text="L'alerte dont celle-ci est la répétition (même structure, même type, peu "
        "avant) : elle n'est pas alertée une seconde fois.",
    )
    case = IncidentAlertCaseSerializer(read_only=True, allow_null=True)
    acknowledged_by = IncidentAlertPersonSerializer(read_only=True, allow_null=True)
    qualified_by = IncidentAlertPersonSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "organisation",
            "crrc",
            "source",
            "client_reference",
            "is_test",
            "reporter_name",
            "reporter_function",
            "callback_phone",
            "callback_email",
            "incident_type",
            "incident_type_label",
            "description",
            "observed_at",
            "observed_at_text",
            "affects_care",
            "affects_health_data",
            "affects_systems",
            "actions_taken",
            "checklist",
            "missing_fields",
            "complete",
            "received_at",
            "status",
            "status_label",
            "paging_status",
            "paging_status_label",
            "duplicate_of",
            "case",
            "acknowledged_at",
            "acknowledged_by",
            "qualified_at",
            "qualified_by",
            "qualification_note",
        ]
        read_only_fields = fields

    def get_complete(self, alert: Alert) -> bool:
        return not alert.missing_fields


class IncidentAlertDetailSerializer(IncidentAlertSerializer):
    pages = IncidentAlertPageSerializer(
        many=True,
        read_only=True,
        help_text="Les appels de l'astreinte pour cette alerte, dans l'ordre.",
    )

    class Meta(IncidentAlertSerializer.Meta):
        fields = [*IncidentAlertSerializer.Meta.fields, "pages"]
        read_only_fields = fields


# --- Write -----------------------------------------------------------------------------------------


def _text(help_text: str, **kwargs) -> serializers.CharField:
    return serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        trim_whitespace=True,
        help_text=help_text,
        **kwargs,
    )


@extend_schema_field(
    {
        "oneOf": [
            {"allOf": [{"type": "string", "enum": [*Impact.values, ""]}]},
            {"type": "boolean"},
        ],
        "nullable": True,
        "description": "oui, non ou inconnu (ne sait pas) ; true/false acceptés. Une autre "
        "valeur est conservée dans la description et le champ compte comme manquant.",
    }
)
class IncidentAlertImpactField(serializers.Field):
    """A tri-state answer: a text or a boolean (anything else cannot be an answer)."""

    default_error_messages = {"invalid": "Réponse attendue : « oui », « non » ou « inconnu »."}

    def to_internal_value(self, data):
        if data is None or isinstance(data, bool | str):
            return data
        self.fail("invalid")

    def to_representation(self, value):
        return value


class IncidentAlertCreateSerializer(serializers.Serializer):
    organisation = serializers.IntegerField(
        min_value=1,
        help_text="Identifiant de la structure concernée (obligatoire : une alerte sans "
        "structure ne peut être adressée à aucun CRRC).",
        error_messages={
            "required": "Indiquez la structure concernée (organisation).",
            "null": "Indiquez la structure concernée (organisation).",
            "invalid": "L'identifiant de la structure doit être un nombre entier.",
        },
    )
    client_reference = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="Référence unique de l'alerte chez vous (comme l'en-tête Idempotency-Key, "
        "qui prime) : un nouvel envoi avec la même référence renvoie l'alerte déjà enregistrée.",
    )
    reporter_name = _text("Nom du déclarant (par défaut : le vôtre).")
    reporter_function = _text("Fonction du déclarant.")
    callback_phone = _text("Téléphone de rappel (au moins six chiffres).")
    callback_email = _text("E-mail de rappel (par défaut : le vôtre).")
    incident_type = _text(
        "Type d'incident : " + _described(IncidentType.choices) + ". Un type inconnu est "
        "enregistré comme « autre » et compte comme manquant."
    )
    description = _text("Ce qui a été constaté.")
    observed_at = _text(
        "Depuis quand : date et heure ISO 8601 (heure de Paris si aucun fuseau n'est donné). "
        "Une valeur illisible est gardée en texte (observed_at_text) et compte comme manquante."
    )
    observed_at_text = _text("Depuis quand, en texte libre (« depuis ce matin »).")
    affects_care = IncidentAlertImpactField(required=False, allow_null=True)
    affects_health_data = IncidentAlertImpactField(required=False, allow_null=True)
    affects_systems = IncidentAlertImpactField(required=False, allow_null=True)
    actions_taken = _text("Ce qui a déjà été fait.")
    checklist = serializers.ListField(
        child=serializers.CharField(max_length=40),
        required=False,
        help_text="Codes des gestes réflexes déjà faits (voir le modèle du type d'incident).",
    )


class IncidentAlertQualifySerializer(serializers.Serializer):
    note = serializers.CharField(
        max_length=5000, help_text="Ce qui a été établi au rappel (obligatoire)."
    )


class IncidentAlertDismissSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=5000, help_text="Motif du classement : fausse alerte, test… (obligatoire)."
    )
