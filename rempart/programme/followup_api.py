"""REST API v1 that follows an accepted file: target declarations with their proofs and the
ARS's review, the payment request, the financial report.

Routes (registered by config/api_urls.py):

* `declarations/` (GET: the declarations of the files you see; POST: declare a target, in JSON
  or multipart/form-data with files), `declarations/{id}/`, `declarations/{id}/review/`;
* `applications/{id}/targets/`: each target of the file's domain, its status, what you may do,
  and the measurements you may cite;
* `applications/{id}/payment/` (GET, POST: request), `applications/{id}/payment/decision/`;
* `applications/{id}/report/`, `…/report/lines/` (POST), `…/report/lines/{line_id}/`
  (DELETE), `…/report/file/`, `…/report/decision/`.

Thin like the pages (followup_views.py): every object is read through the user's scope
(`selectors.applications_visible_to`), so a file outside it is not found (404); every write
goes through `declaration_services` or `payment_services`, which check the rights, the windows
and the states again, audit and record the file's history. Refusals have the API's structured
body; the service's field at fault is renamed to the API's field where they differ.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from rempart.core.errors import DomainError
from rempart.organisations.api import ApiViewMixin, errors

from . import declaration_services, payment_services, perms, selectors, windows
from . import followup_serializers as fs
from .models import (
    Application,
    ApplicationStatus,
    DeclarationStatus,
    PaymentStatus,
    ReportStatus,
    TargetDeclaration,
)

COMMON_CODES = (
    "403 forbidden : action interdite à votre rôle sur ce dossier (ou jeton en lecture seule). "
    "404 not_found : dossier hors de votre périmètre."
)
DECLARE_CODES = (
    "Codes d'erreur possibles (400) : invalid (details par champ), not_accepted (dossier pas "
    "encore accepté), window_closed (date limite de déclaration passée), invalid_target (cible "
    "hors du domaine de l'appel), proof_required (aucune preuve), measurement_required (cible "
    "attestée par une mesure), invalid_link, invalid_measurement, foreign_measurement, "
    "wrong_measurement, file_type, file_content, file_empty, file_too_large, already_declared, "
    "already_validated, stale. " + COMMON_CODES
)
REVIEW_CODES = (
    "Codes d'erreur possibles (400) : invalid, reason_required (commentaire manquant pour ne "
    "pas valider), invalid_state (déclaration déjà vérifiée). " + COMMON_CODES
)
PAYMENT_CODES = (
    "Codes d'erreur possibles (400) : invalid (details par champ), not_accepted, "
    "window_not_open, window_closed (guichet de paiement), targets_not_validated, "
    "already_exists, no_payment, invalid_state, over_engaged, stale. " + COMMON_CODES
)
REPORT_CODES = (
    "Codes d'erreur possibles (400) : invalid (details par champ), not_accepted, not_editable "
    "(bilan déjà déposé), invoice_too_early, empty_report, no_report, invalid_state. "
    + COMMON_CODES
)
DECLARATIONS_TAG = "Déclarations de cibles"
MONEY_TAG = "Paiements et bilans"


# --- Service errors under the API's field names ---------------------------------------------------

# Service field -> API field, for the declaration (the page's form names them differently).
DECLARATION_FIELDS = {
    "file": "files",
    "link": "links",
    "link_label": "links",
}
# A refusal without a field that concerns one of the request's fields.
DECLARATION_CODE_FIELDS = {"invalid_target": "requirement"}


@contextmanager
def api_fields(aliases: dict[str, str], by_code: dict[str, str] | None = None) -> Iterator[None]:
    """Re-raise the service's DomainError with the field named as in the API request."""
    try:
        yield
    except DomainError as exc:
        field = aliases.get(exc.field, exc.field) if exc.field else (by_code or {}).get(exc.code)
        if field == exc.field:
            raise
        raise DomainError(exc.message, code=exc.code, field=field) from exc


# --- Declarations ---------------------------------------------------------------------------------


class DeclarationFilter(filters.FilterSet):
    call = filters.NumberFilter(field_name="application__call_id", label="Identifiant de l'appel")
    application = filters.NumberFilter(field_name="application_id", label="Identifiant du dossier")
    status = filters.ChoiceFilter(
        choices=DeclarationStatus.choices, label="Statut de la déclaration"
    )
    requirement = filters.CharFilter(
        field_name="requirement__identifier",
        max_length=30,
        label="Identifiant de la cible (ex. D2.01.D)",
    )

    class Meta:
        model = TargetDeclaration
        fields = ["call", "application", "status", "requirement"]


@extend_schema_view(
    list=extend_schema(
        summary="Déclarations de cibles de votre périmètre",
        description="Les déclarations d'atteinte des cibles des dossiers que vous voyez (mêmes "
        "règles que les dossiers : ARS et CRRC de la région, observateurs nationaux, personnes "
        "du candidat et des établissements couverts), avec leurs preuves (description "
        "seulement). Filtres : appel, dossier, statut, identifiant de la cible.",
        responses={200: fs.TargetDeclarationSerializer(many=True), **errors(400, 401, 403)},
    ),
    retrieve=extend_schema(
        summary="Une déclaration de cible",
        description="La déclaration, son avis de l'ARS et ses preuves, y compris celles d'une "
        "déclaration précédente non validée (current = false).",
        responses={200: fs.TargetDeclarationSerializer, **errors(401, 403, 404)},
    ),
    create=extend_schema(
        summary="Déclarer une cible atteinte",
        description="Déclare une cible du domaine de l'appel atteinte, pour un dossier accepté, "
        "jusqu'à la date limite de déclaration (incluse, heure de Paris), avec au moins une "
        "preuve : fichier (multipart/form-data, champ « files » répété), lien (« links ») ou "
        "mesure de la plateforme (« measurements »). Une cible non validée par l'ARS se déclare "
        "à nouveau ainsi, avec de nouvelles preuves ; les anciennes restent. Réservé aux "
        "personnes qui préparent le dossier. La cible est désignée par son identifiant du "
        "référentiel (« requirement » : ex. D2.01.D). En JSON : {application, requirement, "
        'statement, links: ["https://…" ou {url, label}], measurements: [id]} (pas de '
        "fichier). " + DECLARE_CODES,
        request={
            "multipart/form-data": fs.DeclarationCreateSerializer,
            "application/json": fs.DeclarationCreateSerializer,
        },
        responses={201: fs.TargetDeclarationSerializer, **errors(400, 401, 403, 404)},
    ),
)
@extend_schema(tags=[DECLARATIONS_TAG])
class DeclarationViewSet(
    ApiViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    filterset_class = DeclarationFilter
    serializer_class = fs.TargetDeclarationSerializer
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self) -> QuerySet[TargetDeclaration]:
        return fs.declarations_visible_to(self.request.user).order_by(
            "application_id", "requirement__position", "requirement__identifier", "pk"
        )

    def _read(self, pk, http_status=status.HTTP_200_OK) -> Response:
        declaration = self.get_queryset().get(pk=pk)
        return Response(
            fs.TargetDeclarationSerializer(declaration, context=self.get_serializer_context()).data,
            status=http_status,
        )

    def create(self, request, *args, **kwargs):
        serializer = fs.DeclarationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        application = selectors.get_visible_application(request.user, data["application"])
        # Unknown or foreign identifier: None, refused by the service after the rights.
        requirement_id = (
            declaration_services.target_requirements(application.call)
            .filter(identifier=data["requirement"])
            .values_list("pk", flat=True)
            .first()
        )
        with api_fields(DECLARATION_FIELDS, DECLARATION_CODE_FIELDS):
            declaration = declaration_services.target_declare(
                actor=request.user,
                application=application,
                requirement_id=requirement_id,
                statement=data["statement"],
                files=data["files"],
                links=data["links"],
                measurement_ids=data["measurements"],
            )
        return self._read(declaration.pk, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Vérifier une cible déclarée",
        description="Réservé à l'ARS de la région de l'appel. validate : la cible est validée "
        "(définitif) ; refuse : non validée, commentaire obligatoire (le candidat le lit et peut "
        "déclarer à nouveau jusqu'à la date limite). " + REVIEW_CODES,
        request=fs.DeclarationReviewSerializer,
        responses={200: fs.TargetDeclarationSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def review(self, request, pk=None):
        declaration = self.get_object()
        serializer = fs.DeclarationReviewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data["action"] == fs.DeclarationReviewAction.VALIDATE:
            service = declaration_services.target_validate
        else:
            service = declaration_services.target_refuse
        service(actor=request.user, declaration=declaration, comment=data["comment"])
        return self._read(declaration.pk)


# --- A file's targets, payment and financial report -----------------------------------------------


def _no_payment() -> DomainError:
    return DomainError(
        "Aucune demande de paiement n'a été faite pour ce dossier : il n'y a rien à instruire.",
        code="no_payment",
    )


def _no_report() -> DomainError:
    return DomainError(
        "Ce dossier n'a pas encore de bilan financier : il n'y a rien à instruire.",
        code="no_report",
    )


LINE_ID = OpenApiParameter(
    "line_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Identifiant de la dépense."
)


@extend_schema(tags=[MONEY_TAG])
class ApplicationFollowupViewSet(ApiViewMixin, viewsets.GenericViewSet):
    """The follow-up of one file, under /applications/{id}/ (the file itself is api.py's)."""

    filter_backends = []
    pagination_class = None
    serializer_class = fs.PaymentStateSerializer
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Application]:
        return selectors.applications_visible_to(self.request.user).order_by("pk")

    # --- Targets -------------------------------------------------------------------------------

    @extend_schema(
        tags=[DECLARATIONS_TAG],
        summary="Cibles d'un dossier",
        description="Chaque cible du domaine de l'appel : statut (non déclarée, déclarée, "
        "validée, non validée), identifiant de la déclaration, ce que vous pouvez faire "
        "(déclarer, vérifier) et, pour qui prépare le dossier, les mesures de la plateforme "
        "citables comme preuve (du candidat et des établissements couverts, du type exigé).",
        responses={200: fs.TargetsSerializer, **errors(401, 403, 404)},
    )
    @action(detail=True, methods=["get"])
    def targets(self, request, pk=None):
        application = self.get_object()
        user = request.user
        today = windows.paris_today()
        call = application.call
        accepted = application.status == ApplicationStatus.ACCEPTED
        can_edit = accepted and perms.can_edit_application(user, application)
        can_review = accepted and perms.can_decide_application(user, application)
        is_open = declaration_services.declarations_open(call, today)
        options = declaration_services.measurement_options(application) if can_edit else {}
        rows = declaration_services.target_rows(application)
        data = {
            "application": application.pk,
            "declaration_deadline": call.declaration_deadline,
            "declarations_open": is_open,
            "closed_message": ""
            if is_open
            else declaration_services.declaration_closed_message(call, today),
            "validated": declaration_services.validated_count(rows),
            "total": len(rows),
            "targets": [
                {
                    "requirement": row.requirement,
                    "status": row.status,
                    "status_label": row.status_label,
                    "declaration": row.declaration.pk if row.declaration else None,
                    "can_declare": can_edit and is_open and row.can_be_declared,
                    "can_review": can_review and row.awaits_review,
                    "measurement_options": options.get(row.requirement.measurement, [])
                    if row.requirement.measurement
                    else [],
                }
                for row in rows
            ],
        }
        return Response(fs.TargetsSerializer(data).data)

    # --- Payment -------------------------------------------------------------------------------

    def _payment_state(self, application: Application) -> dict:
        user = self.request.user
        today = windows.paris_today()
        accepted = application.status == ApplicationStatus.ACCEPTED
        payment = payment_services.payment_of(application)
        span = windows.span(application.call, windows.Window.PAYMENT)
        missing = declaration_services.targets_not_validated(application) if accepted else []
        can_request = (
            accepted
            and span.is_open_on(today)
            and not missing
            and (payment is None or payment.status == PaymentStatus.REFUSED)
            and perms.can_edit_application(user, application)
        )
        can_decide = (
            accepted
            and payment is not None
            and payment.status in (PaymentStatus.REQUESTED, PaymentStatus.APPROVED)
            and perms.can_decide_application(user, application)
        )
        return fs.PaymentStateSerializer(
            {
                "application": application.pk,
                "engaged_eur": application.engaged_eur,
                "window": {
                    "window": span.window.value,
                    "label": span.label,
                    "opens_on": span.opens_on,
                    "closes_on": span.closes_on,
                    "open": span.is_open_on(today),
                },
                "targets_not_validated": missing,
                "payment": payment,
                "allowed": {"request": can_request, "decide": can_decide},
            }
        ).data

    @extend_schema(
        methods=["GET"],
        summary="Paiement d'un dossier",
        description="La demande de paiement (null s'il n'y en a pas), le guichet de paiement de "
        "l'appel, les cibles pas encore validées et ce que vous pouvez faire.",
        responses={200: fs.PaymentStateSerializer, **errors(401, 403, 404)},
    )
    @extend_schema(
        methods=["POST"],
        summary="Demander le paiement",
        description="Demande le montant engagé, pendant le guichet de paiement de l'appel (dates "
        "incluses, heure de Paris), une fois toutes les cibles validées par l'ARS ; une seule "
        "demande par dossier (une demande refusée se refait). Réservé aux personnes qui "
        "préparent le dossier. " + PAYMENT_CODES,
        request=fs.PaymentRequestCreateSerializer,
        responses={201: fs.PaymentStateSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["get", "post"])
    def payment(self, request, pk=None):
        application = self.get_object()
        if request.method != "POST":
            return Response(self._payment_state(application))
        serializer = fs.PaymentRequestCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        payment_services.payment_request(
            actor=request.user,
            application=application,
            bank_account_holder=serializer.validated_data["bank_account_holder"],
        )
        return Response(self._payment_state(application), status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Instruire la demande de paiement",
        description="Réservé à l'ARS de la région de l'appel. approve : valider la demande (mise "
        "en paiement ; comment facultatif) ; refuse : la refuser (comment : motif, obligatoire, "
        "communiqué au candidat) ; paid : enregistrer le paiement effectué d'une demande "
        "validée (paid_eur, pas au-delà du montant engagé ; paid_on, pas dans le futur ; "
        "payment_reference). Un champ d'une autre action est refusé. " + PAYMENT_CODES,
        request=fs.PaymentDecisionSerializer,
        responses={200: fs.PaymentStateSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"], url_path="payment/decision", url_name="payment-decision")
    def payment_decision(self, request, pk=None):
        application = self.get_object()
        serializer = fs.PaymentDecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        payment = payment_services.payment_of(application)
        if payment is None:
            raise _no_payment()
        if data["action"] == fs.PaymentDecisionAction.APPROVE:
            payment_services.payment_approve(
                actor=request.user, payment=payment, comment=data["comment"]
            )
        elif data["action"] == fs.PaymentDecisionAction.REFUSE:
            payment_services.payment_refuse(
                actor=request.user, payment=payment, comment=data["comment"]
            )
        else:
            payment_services.payment_record_paid(
                actor=request.user,
                payment=payment,
                paid_eur=data["paid_eur"],
                paid_on=data["paid_on"],
                payment_reference=data["payment_reference"],
            )
        return Response(self._payment_state(application))

    # --- Financial report ----------------------------------------------------------------------

    def _report_state(self, application: Application) -> dict:
        user = self.request.user
        accepted = application.status == ApplicationStatus.ACCEPTED
        report = payment_services.report_of(application)
        categories, total = payment_services.lines_by_category(report)
        draft = report is None or report.status == ReportStatus.DRAFT
        engaged = application.engaged_eur
        preview = None
        if accepted and draft and total and engaged is not None:
            preview = payment_services.compute_amounts(
                total, engaged, payment_services.paid_so_far(application)
            )
        can_edit = accepted and draft and perms.can_edit_application(user, application)
        can_decide = (
            accepted
            and report is not None
            and report.status in (ReportStatus.FILED, ReportStatus.RECOVERY)
            and perms.can_decide_application(user, application)
        )
        return fs.ReportStateSerializer(
            {
                "application": application.pk,
                "engaged_eur": engaged,
                "report": report,
                "lines": [line for category in categories for line in category.lines],
                "categories": categories,
                "total_eur": total,
                "preview": preview,
                "allowed": {"edit": can_edit, "decide": can_decide},
            }
        ).data

    @extend_schema(
        summary="Bilan financier d'un dossier",
        description="Le bilan (null tant qu'aucune dépense n'est saisie), ses dépenses par "
        "catégorie et leurs totaux ; en brouillon, les montants qui seraient retenus au dépôt "
        "(dû = min(dépenses, engagé), trop-perçu, solde) ; ce que vous pouvez faire.",
        responses={200: fs.ReportStateSerializer, **errors(401, 403, 404)},
    )
    @action(detail=True, methods=["get"])
    def report(self, request, pk=None):
        return Response(self._report_state(self.get_object()))

    @extend_schema(
        summary="Ajouter une dépense au bilan",
        description="Ajoute une facture au bilan en brouillon (créé à la première dépense) : "
        "catégorie éligible, fournisseur, référence, date entre l'ouverture de l'appel et "
        "aujourd'hui, montant au centime. Réservé aux personnes qui préparent le dossier. "
        + REPORT_CODES,
        request=fs.CostLineInputSerializer,
        responses={201: fs.CostLineSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"], url_path="report/lines", url_name="report-lines")
    def report_lines(self, request, pk=None):
        application = self.get_object()
        serializer = fs.CostLineInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        line = payment_services.cost_line_add(
            actor=request.user, application=application, **serializer.validated_data
        )
        return Response(fs.CostLineSerializer(line).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Retirer une dépense du bilan",
        description="Retire une dépense du bilan tant qu'il est en brouillon. " + REPORT_CODES,
        parameters=[LINE_ID],
        request=None,
        responses={
            204: OpenApiResponse(description="Dépense retirée."),
            **errors(400, 401, 403, 404),
        },
    )
    @action(
        detail=True,
        methods=["delete"],
        url_path=r"report/lines/(?P<line_id>[0-9]+)",
        url_name="report-line",
    )
    def report_line(self, request, pk=None, line_id=None):
        application = self.get_object()
        line = payment_services.get_cost_line(application, line_id)
        payment_services.cost_line_remove(actor=request.user, line=line)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Déposer le bilan financier",
        description="Dépose le bilan en brouillon (au moins une dépense) : les montants sont "
        "calculés et gardés tels quels. Réservé aux personnes qui préparent le dossier. "
        + REPORT_CODES,
        request=None,
        responses={200: fs.ReportStateSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"], url_path="report/file", url_name="report-file")
    def report_file(self, request, pk=None):
        application = self.get_object()
        payment_services.report_file(actor=request.user, application=application)
        return Response(self._report_state(application))

    @extend_schema(
        summary="Instruire le bilan financier",
        description="Réservé à l'ARS de la région de l'appel. accept : accepter le bilan déposé "
        "(comment : avis, facultatif) ; le montant versé est relu, et un trop-perçu passe le "
        "bilan « trop-perçu à récupérer » ; recovered : enregistrer le recouvrement "
        "(recovered_on : date, ni dans le futur ni avant l'instruction). " + REPORT_CODES,
        request=fs.ReportDecisionSerializer,
        responses={200: fs.ReportStateSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"], url_path="report/decision", url_name="report-decision")
    def report_decision(self, request, pk=None):
        application = self.get_object()
        serializer = fs.ReportDecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        report = payment_services.report_of(application)
        if report is None:
            raise _no_report()
        if data["action"] == fs.ReportDecisionAction.ACCEPT:
            payment_services.report_review(
                actor=request.user, report=report, comment=data["comment"]
            )
        else:
            payment_services.report_record_recovery(
                actor=request.user, report=report, recovered_on=data["recovered_on"]
            )
        return Response(self._report_state(application))
