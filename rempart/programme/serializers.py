"""Serializers of the programme's REST API: funding calls and files (applications).

Read serializers expose what the pages show — never a stored file's path (documents and proofs
are described by their name, type, size and fingerprint only). Write serializers only check
the shape of the request; the rules (rights, windows, amounts, states) are the services'.
"""

from __future__ import annotations

from collections.abc import Mapping

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from rempart.organisations.models import Organisation
from rempart.organisations.selectors import visible_organisations

from . import application_services, ceilings, perms, windows
from .models import (
    Application,
    ApplicationComment,
    ApplicationDocument,
    ApplicationEvent,
    ApplicationStatus,
    BudgetLine,
    Call,
    DeclarationProof,
    DeclarationStatus,
    EventKind,
    ExpenseCategory,
    FinancialReport,
    PaymentRequest,
    PaymentStatus,
    PrerequisiteAnswer,
    ProofKind,
    ReportStatus,
    Requirement,
    RequirementKind,
    TargetDeclaration,
)

# --- Look-ups the API needs beyond the shared selectors -------------------------------------------


def get_applicant_organisation(user, pk) -> Organisation:
    """The organisation a file is opened for: one the user sees in the directory, or one in
    whose name they may apply (an establishment's people apply through their legal entity or
    GHT, which their role does not always list). Anything else is « not found » (404), so the
    API never confirms that an organisation exists outside the user's reach."""
    from django.http import Http404

    try:
        organisation = Organisation.objects.get(pk=pk)
    except (Organisation.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("Organisation introuvable.") from exc
    if perms.can_apply_for(user, organisation):
        return organisation
    if visible_organisations(user).filter(pk=organisation.pk).exists():
        return organisation
    raise Http404("Organisation introuvable.")


def person_label(user) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.email


# Keys of a frozen measurement that could name a stored file: never exposed.
_PRIVATE_SNAPSHOT_KEYS = {"report", "file", "path", "report_path", "file_path", "storage_name"}


def public_snapshot(snapshot) -> dict:
    if not isinstance(snapshot, dict):
        return {}
    return {
        key: value
        for key, value in snapshot.items()
        if key not in _PRIVATE_SNAPSHOT_KEYS
        and not (isinstance(value, str) and value.startswith("prive/"))
    }


# --- Enumerations that share a field name with another one -------------------------------------
#
# drf-spectacular hoists every enum into a component named after its field (« status »,
# « kind »); several choice sets under one name would collide. The file's status and the
# organisation's kind keep the shared names; the others stay inline (same values, documented).


def _inline_enum(name: str, choices) -> type[serializers.ChoiceField]:
    values = [value for value, _label in choices]
    field_class = type(name, (serializers.ChoiceField,), {"__module__": __name__})
    return extend_schema_field({"allOf": [{"type": "string", "enum": values}]})(field_class)


DeclarationStatusField = _inline_enum("DeclarationStatusField", DeclarationStatus.choices)
PaymentStatusField = _inline_enum("PaymentStatusField", PaymentStatus.choices)
ReportStatusField = _inline_enum("ReportStatusField", ReportStatus.choices)
RequirementKindField = _inline_enum("RequirementKindField", RequirementKind.choices)
ProofKindField = _inline_enum("ProofKindField", ProofKind.choices)
EventKindField = _inline_enum("EventKindField", EventKind.choices)


# --- Small references -----------------------------------------------------------------------------


class ProgrammeOrganisationRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organisation
        fields = ["id", "name", "kind", "finess"]
        read_only_fields = fields


class CallRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Call
        fields = ["id", "title"]
        read_only_fields = fields


class LabelledCodeSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()


class DomainRefSerializer(serializers.Serializer):
    code = serializers.CharField()
    title = serializers.CharField()


class RegionRefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class RequirementRefSerializer(serializers.ModelSerializer):
    kind = RequirementKindField(choices=RequirementKind.choices, read_only=True)

    class Meta:
        model = Requirement
        fields = ["id", "identifier", "label", "kind", "attainment"]
        read_only_fields = fields


# --- Calls ----------------------------------------------------------------------------------------


class WindowSerializer(serializers.Serializer):
    window = serializers.ChoiceField(
        choices=[w.value for w in windows.Window],
        help_text="candidature, declaration (atteinte des cibles) ou paiement.",
    )
    label = serializers.CharField()
    opens_on = serializers.DateField(help_text="Premier jour (heure de Paris), inclus.")
    closes_on = serializers.DateField(help_text="Dernier jour (heure de Paris), inclus.")
    open = serializers.BooleanField(help_text="Ouverte aujourd'hui.")


class PhaseSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=[p.value for p in windows.Phase])
    label = serializers.CharField()


def _today(serializer) -> object:
    return serializer.context.get("today") or windows.paris_today()


class CallSerializer(serializers.ModelSerializer):
    domain = DomainRefSerializer(read_only=True)
    region = RegionRefSerializer(read_only=True)
    applicant_rule_label = serializers.CharField(
        source="get_applicant_rule_display", read_only=True
    )
    phase = serializers.SerializerMethodField(help_text="Où en est l'appel aujourd'hui.")
    windows = serializers.SerializerMethodField(help_text="Les trois fenêtres de l'appel.")

    class Meta:
        model = Call
        fields = [
            "id",
            "title",
            "domain",
            "region",
            "legal_reference",
            "national_amount_eur",
            "envelope_eur",
            "applicant_rule",
            "applicant_rule_label",
            "application_opens_on",
            "application_closes_on",
            "declaration_deadline",
            "payment_opens_on",
            "payment_closes_on",
            "phase",
            "windows",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(PhaseSerializer)
    def get_phase(self, call: Call) -> dict:
        phase = windows.phase_on(call, _today(self))
        return {"code": phase.value, "label": phase.label}

    @extend_schema_field(WindowSerializer(many=True))
    def get_windows(self, call: Call) -> list[dict]:
        today = _today(self)
        return [
            {
                "window": span.window.value,
                "label": span.label,
                "opens_on": span.opens_on,
                "closes_on": span.closes_on,
                "open": span.is_open_on(today),
            }
            for span in windows.spans(call)
        ]


class EnvelopeSummarySerializer(serializers.Serializer):
    envelope_eur = serializers.DecimalField(max_digits=14, decimal_places=2)
    engaged_eur = serializers.DecimalField(
        max_digits=14, decimal_places=2, help_text="Somme des montants des dossiers acceptés."
    )
    remaining_eur = serializers.DecimalField(
        max_digits=15, decimal_places=2, help_text="Reste à engager sur l'enveloppe."
    )
    potential_eur = serializers.DecimalField(
        max_digits=15,
        decimal_places=2,
        help_text="Somme des plafonds de tous les candidats possibles.",
    )
    accepted = serializers.IntegerField(help_text="Nombre de dossiers acceptés.")
    applicants = serializers.IntegerField(help_text="Nombre de candidats possibles.")
    establishments = serializers.IntegerField(help_text="Établissements couverts.")
    incomplete = serializers.IntegerField(
        help_text="Candidats dont le plafond manque d'un chiffre de l'annuaire."
    )


class CallDetailSerializer(CallSerializer):
    eligible_categories = serializers.SerializerMethodField(
        help_text="Catégories FINESS éligibles (vide : toutes)."
    )
    ceiling_schedule = serializers.SerializerMethodField(
        help_text="Le barème des plafonds, en phrases (vide s'il est absent ou invalide)."
    )
    envelope = serializers.SerializerMethodField(
        help_text="Enveloppe, engagé et reste à engager : pour l'ARS, le CRRC et les "
        "observateurs nationaux (null pour les établissements et les GHT)."
    )

    class Meta(CallSerializer.Meta):
        fields = [
            *CallSerializer.Meta.fields,
            "eligible_categories",
            "ceiling_schedule",
            "envelope",
        ]
        read_only_fields = fields

    @extend_schema_field(LabelledCodeSerializer(many=True))
    def get_eligible_categories(self, call: Call) -> list[dict]:
        return [
            {"code": category.code, "label": category.label}
            for category in call.eligible_categories.order_by("code")
        ]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_ceiling_schedule(self, call: Call) -> list[str]:
        schedule = ceilings.schedule_of(call)
        return schedule.describe() if schedule else []

    @extend_schema_field(EnvelopeSummarySerializer(allow_null=True))
    def get_envelope(self, call: Call) -> dict | None:
        request = self.context.get("request")
        if request is None or not perms.sees_all_applicants(request.user, call):
            return None
        summary = ceilings.envelope_summary(call)
        return EnvelopeSummarySerializer(
            {
                "envelope_eur": summary.envelope,
                "engaged_eur": summary.engaged,
                "remaining_eur": summary.remaining,
                "potential_eur": summary.potential,
                "accepted": summary.accepted,
                "applicants": summary.applicants,
                "establishments": summary.establishments,
                "incomplete": summary.incomplete,
            }
        ).data


# --- Files: read ----------------------------------------------------------------------------------


class ApplicationSerializer(serializers.ModelSerializer):
    call = CallRefSerializer(read_only=True)
    applicant = ProgrammeOrganisationRefSerializer(read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = Application
        fields = [
            "id",
            "call",
            "applicant",
            "status",
            "status_label",
            "requested_eur",
            "ceiling_eur",
            "engaged_eur",
            "submitted_at",
            "decided_at",
            "updated_at",
        ]
        read_only_fields = fields


class BudgetLineSerializer(serializers.ModelSerializer):
    category_label = serializers.CharField(source="get_category_display", read_only=True)

    class Meta:
        model = BudgetLine
        fields = ["category", "category_label", "amount_eur", "description"]
        read_only_fields = fields


class PrerequisiteAnswerSerializer(serializers.ModelSerializer):
    requirement = RequirementRefSerializer(read_only=True)

    class Meta:
        model = PrerequisiteAnswer
        fields = ["requirement", "met", "comment", "updated_at"]
        read_only_fields = fields


class DocumentSerializer(serializers.ModelSerializer):
    """A document's description; its content is only served by the file's pages."""

    part_label = serializers.CharField(source="get_part_display", read_only=True)

    class Meta:
        model = ApplicationDocument
        fields = [
            "id",
            "part",
            "part_label",
            "original_name",
            "content_type",
            "size",
            "sha256",
            "uploaded_at",
        ]
        read_only_fields = fields


class EventSerializer(serializers.ModelSerializer):
    kind = EventKindField(choices=EventKind.choices, read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    actor = serializers.SerializerMethodField(
        help_text="Nom de la personne (vide : la plateforme)."
    )

    class Meta:
        model = ApplicationEvent
        fields = ["kind", "kind_label", "actor", "message", "at"]
        read_only_fields = fields

    def get_actor(self, event: ApplicationEvent) -> str:
        return person_label(event.actor)


class ProofSerializer(serializers.ModelSerializer):
    kind = ProofKindField(choices=ProofKind.choices, read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    measurement = serializers.SerializerMethodField(
        help_text="La mesure citée, figée au moment de la preuve (preuve de type « mesure »)."
    )

    class Meta:
        model = DeclarationProof
        fields = [
            "id",
            "kind",
            "kind_label",
            "label",
            "original_name",
            "content_type",
            "size",
            "sha256",
            "url",
            "measurement",
            "added_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_measurement(self, proof: DeclarationProof) -> dict:
        return public_snapshot(proof.measurement_snapshot)


class DeclarationSerializer(serializers.ModelSerializer):
    requirement = RequirementRefSerializer(read_only=True)
    status = DeclarationStatusField(choices=DeclarationStatus.choices, read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    proofs = ProofSerializer(many=True, read_only=True)

    class Meta:
        model = TargetDeclaration
        fields = [
            "id",
            "requirement",
            "status",
            "status_label",
            "statement",
            "declared_at",
            "reviewed_at",
            "review_comment",
            "proofs",
        ]
        read_only_fields = fields


class PaymentSerializer(serializers.ModelSerializer):
    status = PaymentStatusField(choices=PaymentStatus.choices, read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = PaymentRequest
        fields = [
            "amount_eur",
            "status",
            "status_label",
            "requested_at",
            "decided_at",
            "decision_comment",
            "paid_eur",
            "paid_on",
            "payment_reference",
        ]
        read_only_fields = fields


class ReportSerializer(serializers.ModelSerializer):
    status = ReportStatusField(choices=ReportStatus.choices, read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = FinancialReport
        fields = [
            "status",
            "status_label",
            "filed_at",
            "eligible_costs_eur",
            "amount_due_eur",
            "paid_eur",
            "to_recover_eur",
            "balance_due_eur",
            "reviewed_at",
            "review_comment",
        ]
        read_only_fields = fields


class CeilingSerializer(serializers.Serializer):
    amount_eur = serializers.DecimalField(max_digits=14, decimal_places=2)
    steps = serializers.ListField(child=serializers.CharField(), help_text="Détail du calcul.")
    missing = serializers.ListField(
        child=serializers.CharField(), help_text="Chiffres manquants pour un calcul complet."
    )
    frozen = serializers.BooleanField(
        help_text="Figé au dépôt (sinon : calculé aujourd'hui, il peut encore changer)."
    )


class GapSerializer(serializers.Serializer):
    field = serializers.CharField()
    message = serializers.CharField()


class AllowedSerializer(serializers.Serializer):
    edit = serializers.BooleanField(help_text="Modifier et déposer le dossier.")
    decide = serializers.BooleanField(help_text="Instruire et décider (ARS de la région).")
    comment = serializers.BooleanField(help_text="Commenter le dossier.")


def _related(application, name: str):
    try:
        return getattr(application, name)
    except (PaymentRequest.DoesNotExist, FinancialReport.DoesNotExist):
        return None


class ApplicationDetailSerializer(ApplicationSerializer):
    covered_establishments = ProgrammeOrganisationRefSerializer(many=True, read_only=True)
    decided_by = serializers.SerializerMethodField()
    ceiling = serializers.SerializerMethodField(help_text="Plafond du dossier et son calcul.")
    budget = BudgetLineSerializer(source="budget_lines", many=True, read_only=True)
    prerequisites = PrerequisiteAnswerSerializer(
        source="prerequisite_answers", many=True, read_only=True
    )
    documents = DocumentSerializer(many=True, read_only=True)
    events = EventSerializer(many=True, read_only=True)
    declarations = DeclarationSerializer(many=True, read_only=True)
    payment = serializers.SerializerMethodField(help_text="Demande de paiement (lecture seule).")
    report = serializers.SerializerMethodField(help_text="Bilan financier (lecture seule).")
    gaps = serializers.SerializerMethodField(
        help_text="Ce qui manque encore pour déposer (dossier en brouillon ou complément demandé)."
    )
    allowed = serializers.SerializerMethodField(
        help_text="Ce que vous pouvez faire sur ce dossier."
    )

    class Meta(ApplicationSerializer.Meta):
        fields = [
            *ApplicationSerializer.Meta.fields,
            "covered_establishments",
            "maturity_level",
            "maturity_summary",
            "project_objectives",
            "project_schedule",
            "project_lead",
            "own_funding_eur",
            "other_funding_eur",
            "commitment_signatory",
            "commitment_signed_on",
            "ceiling",
            "decided_by",
            "decision_reason",
            "created_at",
            "budget",
            "prerequisites",
            "documents",
            "events",
            "declarations",
            "payment",
            "report",
            "gaps",
            "allowed",
        ]
        read_only_fields = fields

    def get_decided_by(self, application: Application) -> str:
        return person_label(application.decided_by)

    @extend_schema_field(CeilingSerializer)
    def get_ceiling(self, application: Application) -> dict:
        if application.status != ApplicationStatus.DRAFT and application.ceiling_eur is not None:
            return CeilingSerializer(
                {
                    "amount_eur": application.ceiling_eur,
                    "steps": list(application.ceiling_steps or []),
                    "missing": [],
                    "frozen": True,
                }
            ).data
        ceiling = application_services.effective_ceiling(application.call, application.applicant)
        return CeilingSerializer(
            {
                "amount_eur": ceiling.amount,
                "steps": ceiling.steps,
                "missing": ceiling.missing,
                "frozen": False,
            }
        ).data

    @extend_schema_field(PaymentSerializer(allow_null=True))
    def get_payment(self, application: Application) -> dict | None:
        payment = _related(application, "payment")
        return PaymentSerializer(payment).data if payment else None

    @extend_schema_field(ReportSerializer(allow_null=True))
    def get_report(self, application: Application) -> dict | None:
        report = _related(application, "financial_report")
        return ReportSerializer(report).data if report else None

    @extend_schema_field(GapSerializer(many=True))
    def get_gaps(self, application: Application) -> list[dict]:
        if application.status not in application_services.EDITABLE_STATUSES:
            return []
        ceiling = application_services.effective_ceiling(application.call, application.applicant)
        return [
            {"field": gap.field, "message": gap.message}
            for gap in application_services.submission_gaps(application, ceiling.amount)
        ]

    @extend_schema_field(AllowedSerializer)
    def get_allowed(self, application: Application) -> dict:
        request = self.context.get("request")
        user = request.user if request else None
        if user is None:
            return {"edit": False, "decide": False, "comment": False}
        return {
            "edit": application.status in application_services.EDITABLE_STATUSES
            and perms.can_edit_application(user, application),
            "decide": application.status in application_services.REVIEWABLE_STATUSES
            and perms.can_decide_application(user, application),
            "comment": perms.can_comment_application(user, application),
        }


class CommentSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField(help_text="Nom de l'auteur.")
    author_organisation = ProgrammeOrganisationRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = ApplicationComment
        fields = ["id", "author", "author_organisation", "body", "created_at"]
        read_only_fields = fields

    def get_author(self, comment: ApplicationComment) -> str:
        return person_label(comment.author)


# --- Files: write ---------------------------------------------------------------------------------


class RefuseUnknownFieldsMixin:
    """A field the endpoint does not take is refused, not silently ignored."""

    refused_message = "Ce champ n'est pas accepté par l'API."

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            refused = sorted(set(data) - set(self.fields))
            if refused:
                raise serializers.ValidationError(
                    {field: [self.refused_message] for field in refused}
                )
        return super().to_internal_value(data)


class ApplicationCreateSerializer(RefuseUnknownFieldsMixin, serializers.Serializer):
    call = serializers.IntegerField(help_text="Identifiant de l'appel.")
    applicant = serializers.IntegerField(
        help_text="Identifiant de l'organisation candidate (GHT, entité juridique ou "
        "établissement, selon la règle de l'appel)."
    )


class BudgetLineInputSerializer(RefuseUnknownFieldsMixin, serializers.Serializer):
    category = serializers.ChoiceField(
        choices=ExpenseCategory.choices, help_text="Catégorie de dépense éligible."
    )
    amount_eur = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        allow_null=True,
        help_text="Montant prévisionnel ; 0 ou null retire la ligne.",
    )
    description = serializers.CharField(
        required=False, allow_blank=True, max_length=500, default=""
    )


class PrerequisiteInputSerializer(RefuseUnknownFieldsMixin, serializers.Serializer):
    requirement = serializers.IntegerField(help_text="Identifiant du prérequis.")
    met = serializers.BooleanField(help_text="Prérequis rempli.")
    comment = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")


class ApplicationUpdateSerializer(RefuseUnknownFieldsMixin, serializers.Serializer):
    """The parts of a file its applicant prepares. `budget` replaces the whole forecast
    budget; `prerequisites` answers only the prerequisites it lists."""

    maturity_level = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=5
    )
    maturity_summary = serializers.CharField(required=False, allow_blank=True)
    project_objectives = serializers.CharField(required=False, allow_blank=True)
    project_schedule = serializers.CharField(required=False, allow_blank=True)
    project_lead = serializers.CharField(required=False, allow_blank=True)
    requested_eur = serializers.DecimalField(
        max_digits=14, decimal_places=2, required=False, allow_null=True
    )
    own_funding_eur = serializers.DecimalField(
        max_digits=14, decimal_places=2, required=False, allow_null=True
    )
    other_funding_eur = serializers.DecimalField(
        max_digits=14, decimal_places=2, required=False, allow_null=True
    )
    commitment_signatory = serializers.CharField(required=False, allow_blank=True)
    commitment_signed_on = serializers.DateField(required=False, allow_null=True)
    budget = BudgetLineInputSerializer(many=True, required=False)
    prerequisites = PrerequisiteInputSerializer(many=True, required=False)

    def validate_budget(self, lines):
        categories = [line["category"] for line in lines]
        duplicates = sorted({c for c in categories if categories.count(c) > 1})
        if duplicates:
            raise serializers.ValidationError(
                "Une seule ligne par catégorie de dépense : "
                + ", ".join(str(ExpenseCategory(c).label) for c in duplicates)
                + "."
            )
        return lines

    def validate_prerequisites(self, answers):
        ids = [answer["requirement"] for answer in answers]
        if len(ids) != len(set(ids)):
            raise serializers.ValidationError("Chaque prérequis n'est donné qu'une fois.")
        return answers

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Aucune modification demandée.")
        return attrs


class ReviewAction:
    START = "start"
    COMPLEMENT = "complement"
    ACCEPT = "accept"
    REJECT = "reject"
    CHOICES = [
        (START, "Commencer l'instruction"),
        (COMPLEMENT, "Demander un complément (message obligatoire)"),
        (ACCEPT, "Accepter et engager le montant demandé"),
        (REJECT, "Rejeter (motif obligatoire)"),
    ]


class ReviewSerializer(RefuseUnknownFieldsMixin, serializers.Serializer):
    action = serializers.ChoiceField(choices=ReviewAction.CHOICES)
    message = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Pièces attendues (complément), motif (rejet), commentaire (acceptation).",
    )


class CommentCreateSerializer(RefuseUnknownFieldsMixin, serializers.Serializer):
    body = serializers.CharField(allow_blank=True, help_text="Le commentaire (5000 caractères).")
