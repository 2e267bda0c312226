"""Serializers of the REST API that follows an accepted file: target declarations and their
proofs, the payment request, the financial report (followup_api.py).

Like serializers.py: read serializers never expose a stored file's path; write serializers only
check the shape of the request, and every rule (rights, windows, states, amounts, proofs) is the
services'. Component names are distinct from serializers.py's: the OpenAPI schema is generated
with --fail-on-warn.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.utils import html

from . import declaration_services, selectors
from .declaration_services import LinkProof
from .models import (
    CostLine,
    DeclarationProof,
    DeclarationStatus,
    ExpenseCategory,
    FinancialReport,
    Measurement,
    PaymentRequest,
    PlatformMeasurement,
    TargetDeclaration,
)
from .serializers import (
    CallRefSerializer,
    DeclarationSerializer,
    PaymentSerializer,
    ProgrammeOrganisationRefSerializer,
    ProofSerializer,
    RefuseUnknownFieldsMixin,
    ReportSerializer,
    RequirementRefSerializer,
    WindowSerializer,
    _inline_enum,
    person_label,
)

# --- Look-ups the API needs beyond the shared selectors -------------------------------------------


def declarations_visible_to(user) -> QuerySet[TargetDeclaration]:
    """Declarations of the files the user may see (the same scope as the files themselves),
    with what the list shows, in a fixed number of queries."""
    visible = selectors.applications_visible_to(user).values("pk")
    return (
        TargetDeclaration.objects.filter(application__in=visible)
        .select_related(
            "requirement",
            "application__call",
            "application__applicant",
            "declared_by",
            "reviewed_by",
        )
        .prefetch_related(
            Prefetch(
                "proofs",
                queryset=DeclarationProof.objects.order_by("added_at", "pk"),
            )
        )
    )


# --- Enumerations ---------------------------------------------------------------------------------
#
# Inline, like serializers.py's: « status », « kind » and « action » already name other enums.
# An input field keeps its enum inline only with a sibling key (its help_text): alone, the
# generator would unwrap it and rename the shared « ActionEnum ».

TARGET_STATUS_CHOICES = [
    (declaration_services.NOT_DECLARED, "Non déclarée"),
    *DeclarationStatus.choices,
]
TargetStatusField = _inline_enum("TargetStatusField", TARGET_STATUS_CHOICES)
MeasurementKindField = _inline_enum("MeasurementKindField", Measurement.choices)


class DeclarationReviewAction:
    VALIDATE = "validate"
    REFUSE = "refuse"
    CHOICES = [
        (VALIDATE, "Valider la cible"),
        (REFUSE, "Ne pas valider (commentaire obligatoire)"),
    ]


class PaymentDecisionAction:
    APPROVE = "approve"
    REFUSE = "refuse"
    PAID = "paid"
    CHOICES = [
        (APPROVE, "Valider la demande (mise en paiement)"),
        (REFUSE, "Refuser la demande (motif obligatoire)"),
        (PAID, "Enregistrer le paiement effectué"),
    ]


class ReportDecisionAction:
    ACCEPT = "accept"
    RECOVERED = "recovered"
    CHOICES = [
        (ACCEPT, "Accepter le bilan déposé"),
        (RECOVERED, "Enregistrer le recouvrement du trop-perçu"),
    ]


DeclarationReviewActionField = _inline_enum(
    "DeclarationReviewActionField", DeclarationReviewAction.CHOICES
)
PaymentDecisionActionField = _inline_enum(
    "PaymentDecisionActionField", PaymentDecisionAction.CHOICES
)
ReportDecisionActionField = _inline_enum("ReportDecisionActionField", ReportDecisionAction.CHOICES)


# --- Declarations: read ---------------------------------------------------------------------------


class DeclarationProofSerializer(ProofSerializer):
    current = serializers.SerializerMethodField(
        help_text="Preuve de la déclaration en cours (false : preuve d'une déclaration "
        "précédente, non validée par l'ARS, gardée dans l'historique)."
    )

    class Meta(ProofSerializer.Meta):
        fields = [*ProofSerializer.Meta.fields, "current"]
        read_only_fields = fields

    def get_current(self, proof: DeclarationProof) -> bool:
        return proof.added_at >= proof.declaration.declared_at


class TargetDeclarationSerializer(DeclarationSerializer):
    """A declaration with its file: what the list of declarations shows."""

    application = serializers.IntegerField(source="application_id", read_only=True)
    call = CallRefSerializer(source="application.call", read_only=True)
    applicant = ProgrammeOrganisationRefSerializer(source="application.applicant", read_only=True)
    declared_by = serializers.SerializerMethodField(help_text="Nom de la personne qui a déclaré.")
    reviewed_by = serializers.SerializerMethodField(help_text="Nom de la personne de l'ARS.")
    proofs = DeclarationProofSerializer(many=True, read_only=True)

    class Meta(DeclarationSerializer.Meta):
        fields = [
            "id",
            "application",
            "call",
            "applicant",
            "requirement",
            "status",
            "status_label",
            "statement",
            "declared_at",
            "declared_by",
            "reviewed_at",
            "reviewed_by",
            "review_comment",
            "proofs",
        ]
        read_only_fields = fields

    def get_declared_by(self, declaration: TargetDeclaration) -> str:
        return person_label(declaration.declared_by)

    def get_reviewed_by(self, declaration: TargetDeclaration) -> str:
        return person_label(declaration.reviewed_by)


class MeasurementOptionSerializer(serializers.ModelSerializer):
    """A platform measurement that may be cited as a proof (its report is never exposed)."""

    kind = MeasurementKindField(choices=Measurement.choices, read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    organisation = ProgrammeOrganisationRefSerializer(read_only=True)

    class Meta:
        model = PlatformMeasurement
        fields = [
            "id",
            "kind",
            "kind_label",
            "organisation",
            "result",
            "level",
            "measured_on",
            "source",
        ]
        read_only_fields = fields


class TargetRowSerializer(serializers.Serializer):
    requirement = RequirementRefSerializer()
    measurement = serializers.CharField(
        source="requirement.measurement",
        help_text="Mesure de la plateforme exigée comme preuve (vide : fichiers ou liens).",
    )
    status = TargetStatusField(
        choices=TARGET_STATUS_CHOICES,
        read_only=True,
        help_text="non_declaree, declaree (à vérifier par l'ARS), validee ou refusee.",
    )
    status_label = serializers.CharField()
    declaration = serializers.IntegerField(
        allow_null=True, help_text="Identifiant de la déclaration (null : pas encore déclarée)."
    )
    can_declare = serializers.BooleanField(
        help_text="Vous pouvez déclarer cette cible aujourd'hui (ou la déclarer à nouveau)."
    )
    can_review = serializers.BooleanField(help_text="Vous pouvez la valider ou non (ARS).")
    measurement_options = MeasurementOptionSerializer(
        many=True,
        help_text="Mesures que vous pouvez citer comme preuve de cette cible (personnes qui "
        "préparent le dossier ; vide pour les autres).",
    )


class TargetsSerializer(serializers.Serializer):
    application = serializers.IntegerField()
    declaration_deadline = serializers.DateField(
        help_text="Dernier jour (inclus, heure de Paris) pour déclarer."
    )
    declarations_open = serializers.BooleanField()
    closed_message = serializers.CharField(
        help_text="Pourquoi on ne déclare plus, et la suite (vide tant que c'est ouvert)."
    )
    validated = serializers.IntegerField(help_text="Cibles validées par l'ARS.")
    total = serializers.IntegerField(help_text="Cibles du domaine.")
    targets = TargetRowSerializer(many=True)


# --- Declarations: write --------------------------------------------------------------------------

LINK_SCHEMA = {
    "oneOf": [
        {"type": "string", "format": "uri", "description": "L'adresse seule."},
        {
            "type": "object",
            "properties": {
                "url": {"type": "string", "format": "uri"},
                "label": {"type": "string", "maxLength": 255},
            },
            "required": ["url"],
        },
    ]
}


@extend_schema_field(LINK_SCHEMA)
class LinkProofField(serializers.Field):
    """A link given as proof: its address, or {"url", "label"}. (In multipart/form-data: one
    `links` per address, or `links[0]url` and `links[0]label`.) The address itself is checked
    by the service."""

    default_error_messages = {
        "invalid": "Un lien est une adresse, ou un objet avec « url » et « label ».",
        "unknown": "Un lien n'a que les clés « url » et « label ».",
    }

    def to_internal_value(self, data) -> LinkProof | str:
        if isinstance(data, str):
            return data  # (blank: no link, as in the page's form)
        if not isinstance(data, Mapping):
            self.fail("invalid")
        if set(data) - {"url", "label"}:
            self.fail("unknown")
        url, label = data.get("url", ""), data.get("label", "")
        if not isinstance(url, str) or not isinstance(label, str):
            self.fail("invalid")
        return LinkProof(url, label)

    def to_representation(self, value):
        if isinstance(value, str):
            return value
        return {"url": value.url, "label": value.label}


_INDEXED_KEY = re.compile(r"\[[0-9]+\].*$")


class DeclarationCreateSerializer(RefuseUnknownFieldsMixin, serializers.Serializer):
    application = serializers.IntegerField(help_text="Identifiant du dossier (accepté).")
    requirement = serializers.CharField(
        max_length=30,
        help_text="Identifiant de la cible dans le référentiel CaRE (ex. « D2.01.D »), voir "
        "GET /api/v1/applications/{id}/targets/.",
    )
    statement = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Ce qui a été fait pour atteindre la cible (facultatif, 5000 caractères).",
    )
    links = serializers.ListField(
        child=LinkProofField(),
        required=False,
        default=list,
        help_text="Liens vers des preuves (http ou https).",
    )
    measurements = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        default=list,
        help_text="Identifiants de mesures de la plateforme (voir les « measurement_options » "
        "de GET /api/v1/applications/{id}/targets/).",
    )
    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True, use_url=False),
        required=False,
        default=list,
        help_text="Fichiers justificatifs, en multipart/form-data seulement (un champ « files » "
        "par fichier). Types acceptés : PDF, PNG, JPG, DOCX, XLSX, PPTX, ODT, ODS, CSV, TXT ; "
        "le contenu doit correspondre à l'extension.",
    )

    def to_internal_value(self, data):
        if html.is_html_input(data):
            # In multipart/form-data, `links[0]url` is a part of `links`: checked by name.
            names = {_INDEXED_KEY.sub("", key) for key in data}
            refused = sorted(names - set(self.fields))
            if refused:
                raise serializers.ValidationError(
                    {field: [self.refused_message] for field in refused}
                )
            return serializers.Serializer.to_internal_value(self, data)
        return super().to_internal_value(data)


class DeclarationReviewSerializer(RefuseUnknownFieldsMixin, serializers.Serializer):
    action = DeclarationReviewActionField(
        choices=DeclarationReviewAction.CHOICES, help_text="validate ou refuse."
    )
    comment = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Avis de l'ARS ; obligatoire pour ne pas valider (le candidat le lira).",
    )


# --- Payment --------------------------------------------------------------------------------------


class PaymentRequestDetailSerializer(PaymentSerializer):
    requested_by = serializers.SerializerMethodField()
    decided_by = serializers.SerializerMethodField()

    class Meta(PaymentSerializer.Meta):
        fields = [
            "id",
            *PaymentSerializer.Meta.fields[:4],
            "bank_account_holder",
            "requested_by",
            *PaymentSerializer.Meta.fields[4:],
            "decided_by",
        ]
        read_only_fields = fields

    def get_requested_by(self, payment: PaymentRequest) -> str:
        return person_label(payment.requested_by)

    def get_decided_by(self, payment: PaymentRequest) -> str:
        return person_label(payment.decided_by)


class PendingTargetSerializer(serializers.Serializer):
    identifier = serializers.CharField(source="requirement.identifier")
    label = serializers.CharField(source="requirement.label")
    status = TargetStatusField(
        choices=TARGET_STATUS_CHOICES,
        read_only=True,
        help_text="non_declaree, declaree (à vérifier par l'ARS), validee ou refusee.",
    )
    status_label = serializers.CharField()


class PaymentAllowedSerializer(serializers.Serializer):
    request = serializers.BooleanField(
        help_text="Demander le paiement (ou le demander à nouveau après un refus)."
    )
    decide = serializers.BooleanField(help_text="Instruire la demande (ARS de la région).")


class PaymentStateSerializer(serializers.Serializer):
    application = serializers.IntegerField()
    engaged_eur = serializers.DecimalField(
        max_digits=14, decimal_places=2, allow_null=True, help_text="Montant engagé, demandé."
    )
    window = WindowSerializer(help_text="Le guichet de paiement de l'appel.")
    targets_not_validated = PendingTargetSerializer(
        many=True,
        help_text="Cibles pas encore validées (le paiement attend qu'il n'y en ait plus).",
    )
    payment = PaymentRequestDetailSerializer(allow_null=True)
    allowed = PaymentAllowedSerializer()


class PaymentRequestCreateSerializer(RefuseUnknownFieldsMixin, serializers.Serializer):
    bank_account_holder = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Titulaire du compte bancaire, tel qu'il figure sur le RIB (255 caractères).",
    )


class _DecisionSerializer(RefuseUnknownFieldsMixin, serializers.Serializer):
    """A decision whose fields depend on the action: a field another action takes is refused
    rather than silently ignored."""

    fields_by_action: dict[str, set[str]] = {}

    def validate(self, attrs):
        data = self.initial_data if isinstance(self.initial_data, Mapping) else {}
        action = attrs["action"]
        used = self.fields_by_action.get(action, set()) | {"action"}
        # (An empty value is no answer: a client may send every field of a form.)
        misplaced = sorted(field for field in set(data) - used if data.get(field) not in ("", None))
        if misplaced:
            raise serializers.ValidationError(
                {
                    field: [f"Ce champ ne s'utilise pas avec l'action « {action} »."]
                    for field in misplaced
                }
            )
        return attrs


class PaymentDecisionSerializer(_DecisionSerializer):
    action = PaymentDecisionActionField(
        choices=PaymentDecisionAction.CHOICES, help_text="approve, refuse ou paid."
    )
    comment = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="approve : commentaire (facultatif) ; refuse : motif (obligatoire).",
    )
    paid_eur = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        required=False,
        allow_null=True,
        default=None,
        help_text="paid : montant payé (pas au-delà du montant engagé).",
    )
    paid_on = serializers.DateField(
        required=False,
        allow_null=True,
        default=None,
        help_text="paid : date du paiement (AAAA-MM-JJ, pas dans le futur).",
    )
    payment_reference = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="paid : numéro de mandat ou de virement (100 caractères).",
    )

    fields_by_action = {
        PaymentDecisionAction.APPROVE: {"comment"},
        PaymentDecisionAction.REFUSE: {"comment"},
        PaymentDecisionAction.PAID: {"paid_eur", "paid_on", "payment_reference"},
    }


# --- Financial report -----------------------------------------------------------------------------


class CostLineSerializer(serializers.ModelSerializer):
    category_label = serializers.CharField(source="get_category_display", read_only=True)

    class Meta:
        model = CostLine
        fields = [
            "id",
            "category",
            "category_label",
            "supplier",
            "invoice_reference",
            "invoice_date",
            "amount_eur",
            "description",
        ]
        read_only_fields = fields


class FinancialReportSerializer(ReportSerializer):
    filed_by = serializers.SerializerMethodField()
    reviewed_by = serializers.SerializerMethodField()

    class Meta(ReportSerializer.Meta):
        fields = [
            "id",
            *ReportSerializer.Meta.fields,
            "filed_by",
            "reviewed_by",
            "recovered_on",
        ]
        read_only_fields = fields

    def get_filed_by(self, report: FinancialReport) -> str:
        return person_label(report.filed_by)

    def get_reviewed_by(self, report: FinancialReport) -> str:
        return person_label(report.reviewed_by)


class CategoryTotalSerializer(serializers.Serializer):
    category = serializers.ChoiceField(choices=ExpenseCategory.choices)
    label = serializers.CharField()
    total_eur = serializers.DecimalField(max_digits=15, decimal_places=2, source="total")


class ReportAmountsSerializer(serializers.Serializer):
    eligible_costs_eur = serializers.DecimalField(
        max_digits=15, decimal_places=2, source="eligible_costs"
    )
    amount_due_eur = serializers.DecimalField(
        max_digits=15, decimal_places=2, source="amount_due", help_text="min(dépenses, engagé)."
    )
    paid_eur = serializers.DecimalField(max_digits=15, decimal_places=2, source="paid")
    to_recover_eur = serializers.DecimalField(
        max_digits=15, decimal_places=2, source="to_recover", help_text="max(0, versé − dû)."
    )
    balance_due_eur = serializers.DecimalField(
        max_digits=15, decimal_places=2, source="balance_due", help_text="max(0, dû − versé)."
    )


class ReportAllowedSerializer(serializers.Serializer):
    edit = serializers.BooleanField(help_text="Ajouter ou retirer des dépenses, déposer le bilan.")
    decide = serializers.BooleanField(help_text="Instruire le bilan (ARS de la région).")


class ReportStateSerializer(serializers.Serializer):
    application = serializers.IntegerField()
    engaged_eur = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    report = FinancialReportSerializer(
        allow_null=True, help_text="Le bilan (null tant qu'aucune dépense n'a été saisie)."
    )
    lines = CostLineSerializer(many=True, help_text="Les dépenses, une par facture.")
    categories = CategoryTotalSerializer(many=True, help_text="Total par catégorie.")
    total_eur = serializers.DecimalField(max_digits=15, decimal_places=2)
    preview = ReportAmountsSerializer(
        allow_null=True,
        help_text="Bilan en brouillon : les montants qui seraient retenus s'il était déposé "
        "aujourd'hui.",
    )
    allowed = ReportAllowedSerializer()


class CostLineInputSerializer(RefuseUnknownFieldsMixin, serializers.Serializer):
    category = serializers.ChoiceField(
        choices=ExpenseCategory.choices,
        help_text="Catégorie de dépense éligible.",
        error_messages={
            "required": "Choisissez une catégorie de dépense.",
            "null": "Choisissez une catégorie de dépense.",
            "invalid_choice": "Choisissez une catégorie de dépense éligible.",
        },
    )
    supplier = serializers.CharField(
        max_length=255,
        error_messages={
            "required": "Indiquez le fournisseur.",
            "blank": "Indiquez le fournisseur.",
            "null": "Indiquez le fournisseur.",
        },
    )
    invoice_reference = serializers.CharField(
        max_length=100,
        error_messages={
            "required": "Indiquez la référence de la facture.",
            "blank": "Indiquez la référence de la facture.",
            "null": "Indiquez la référence de la facture.",
        },
    )
    invoice_date = serializers.DateField(
        help_text="Date de la facture (AAAA-MM-JJ) : entre l'ouverture de l'appel et aujourd'hui.",
        error_messages={
            "required": "Indiquez la date de la facture.",
            "null": "Indiquez la date de la facture.",
        },
    )
    amount_eur = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        help_text="Montant de la facture, au centime.",
        error_messages={
            "required": "Indiquez le montant de la dépense.",
            "null": "Indiquez le montant de la dépense.",
        },
    )
    description = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=500, help_text="Objet."
    )


class ReportDecisionSerializer(_DecisionSerializer):
    action = ReportDecisionActionField(
        choices=ReportDecisionAction.CHOICES, help_text="accept ou recovered."
    )
    comment = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="accept : avis de l'ARS."
    )
    recovered_on = serializers.DateField(
        required=False,
        allow_null=True,
        default=None,
        help_text="recovered : date à laquelle le trop-perçu a été récupéré (AAAA-MM-JJ).",
    )

    fields_by_action = {
        ReportDecisionAction.ACCEPT: {"comment"},
        ReportDecisionAction.RECOVERED: {"recovered_on"},
    }
