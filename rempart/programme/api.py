"""REST API v1 of the CaRE programme: funding calls (read) and files (applications).

Thin like the pages: every queryset starts from the acting user's scope (`selectors`), so a
call or a file outside it is simply not found (404, without a byte of its data); every write
goes through `application_services`, which checks the rights, the windows and the states
again, audits and records the file's history.

Refusals have the API's structured body {"error": {"code", "message", "details"?}}:

* 401 no or bad token; 403 role without API access, read-only token, or an action the role
  may not take on a file it sees (`forbidden`: e.g. a CRRC operator deciding, a national
  observer writing);
* 404 `not_found`: the call, file or organisation does not exist or is outside your scope;
* 400 invalid data (`invalid`, with `details` per field) or an action the file's state or the
  call's calendar refuses — the same mapping as the rest of the API, with a stable code:
  `not_editable`, `invalid_state`, `stale`, `incomplete`, `window_closed`, `window_not_open`,
  `envelope_exceeded`, `over_ceiling`, `already_exists`, `not_applicant`, `reason_required`.
"""

from django.db import transaction
from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from rempart.core.errors import DomainError
from rempart.organisations.api import ApiViewMixin, errors

from . import application_services, selectors, windows
from . import serializers as s
from .models import ApplicantRule, Application, ApplicationStatus, Call

STATE_CODES = (
    "Codes d'erreur possibles (400) : not_editable, invalid_state, stale, incomplete, "
    "window_closed, window_not_open, envelope_exceeded, over_ceiling, already_exists, "
    "not_applicant, reason_required, invalid. 403 forbidden : action interdite à votre rôle "
    "sur ce dossier. 404 not_found : dossier hors de votre périmètre."
)


# --- Filters ----------------------------------------------------------------------------------


class CallFilter(filters.FilterSet):
    domain = filters.CharFilter(
        field_name="domain__code", max_length=10, label="Code du domaine (ex. D2)"
    )
    region = filters.CharFilter(
        field_name="region__code", max_length=3, label="Code de la région (ex. 84)"
    )
    applicant_rule = filters.ChoiceFilter(choices=ApplicantRule.choices, label="Qui candidate")

    class Meta:
        model = Call
        fields = ["domain", "region", "applicant_rule"]


class ApplicationFilter(filters.FilterSet):
    call = filters.NumberFilter(field_name="call_id", label="Identifiant de l'appel")
    status = filters.ChoiceFilter(choices=ApplicationStatus.choices, label="Statut du dossier")
    applicant = filters.NumberFilter(
        field_name="applicant_id", label="Identifiant de l'organisation candidate"
    )

    class Meta:
        model = Application
        fields = ["call", "status", "applicant"]


# --- Calls ------------------------------------------------------------------------------------


class TodayContextMixin:
    def get_serializer_context(self):
        return {**super().get_serializer_context(), "today": windows.paris_today()}


@extend_schema_view(
    list=extend_schema(
        summary="Appels à financement de votre périmètre",
        description="Les appels des régions que votre rôle permet de voir, avec leurs fenêtres "
        "(dates incluses, heure de Paris) et la phase du jour.",
        responses={200: s.CallSerializer(many=True), **errors(400, 401, 403, 404)},
    ),
    retrieve=extend_schema(
        summary="Un appel à financement",
        description="L'appel, ses fenêtres, son barème et, pour l'ARS, le CRRC et les observateurs "
        "nationaux, l'enveloppe régionale : engagé (dossiers acceptés) et reste à engager.",
        responses={200: s.CallDetailSerializer, **errors(401, 403, 404)},
    ),
)
@extend_schema(tags=["Appels à financement"])
class CallViewSet(TodayContextMixin, ApiViewMixin, viewsets.ReadOnlyModelViewSet):
    filterset_class = CallFilter

    def get_queryset(self) -> QuerySet[Call]:
        qs = selectors.calls_visible_to(self.request.user)
        if self.action == "retrieve":
            qs = qs.prefetch_related("eligible_categories")
        return qs.order_by("-application_opens_on", "domain__code", "pk")

    def get_serializer_class(self):
        return s.CallSerializer if self.action == "list" else s.CallDetailSerializer


# --- Files --------------------------------------------------------------------------------------


def _with_details(qs: QuerySet[Application]) -> QuerySet[Application]:
    """Everything the detail shows, in a fixed number of queries."""
    return qs.select_related("decided_by", "payment", "financial_report").prefetch_related(
        "covered_establishments",
        "budget_lines",
        "prerequisite_answers__requirement",
        "documents",
        "events__actor",
        "declarations__requirement",
        "declarations__proofs",
    )


def _reviewed(actor, application: Application, action_name: str, message: str) -> Application:
    if action_name == s.ReviewAction.START:
        return application_services.review_start(actor=actor, application=application)
    if action_name == s.ReviewAction.COMPLEMENT:
        return application_services.request_complement(
            actor=actor, application=application, message=message
        )
    if action_name == s.ReviewAction.ACCEPT:
        return application_services.application_accept(
            actor=actor, application=application, comment=message
        )
    try:
        return application_services.application_reject(
            actor=actor, application=application, reason=message
        )
    except DomainError as exc:
        # The service names the reason « reason »; the API's field is « message ».
        if exc.field == "reason":
            raise DomainError(exc.message, code=exc.code, field="message") from exc
        raise


@extend_schema_view(
    list=extend_schema(
        summary="Dossiers de votre périmètre",
        description="ARS et CRRC : les dossiers de leur région ; observateurs nationaux : tous ; "
        "établissements, entités juridiques et GHT : les dossiers qui les concernent "
        "(candidat ou établissement couvert).",
        responses={200: s.ApplicationSerializer(many=True), **errors(400, 401, 403, 404)},
    ),
    retrieve=extend_schema(
        summary="Un dossier",
        description="Le dossier complet : parties, budget, prérequis, pièces (description "
        "seulement), plafond et son calcul, montant engagé, historique, déclarations de cibles "
        "et leurs preuves, demande de paiement et bilan (lecture seule).",
        responses={200: s.ApplicationDetailSerializer, **errors(401, 403, 404)},
    ),
    create=extend_schema(
        summary="Ouvrir un dossier",
        description="Ouvre un dossier en brouillon pour un candidat de l'appel, jusqu'à la clôture "
        "des candidatures. Réservé aux personnes qui candidatent au nom de l'organisation "
        "(directeur, RSSI, DSI, coordinateur GHT). " + STATE_CODES,
        request=s.ApplicationCreateSerializer,
        responses={201: s.ApplicationDetailSerializer, **errors(400, 401, 403, 404)},
    ),
    partial_update=extend_schema(
        summary="Préparer un dossier",
        description="Modifie les parties du dossier (brouillon ou complément demandé). "
        "« budget » remplace tout le budget prévisionnel (une ligne par catégorie ; une "
        "catégorie absente est retirée) ; « prerequisites » répond aux prérequis listés. "
        "Tout ou rien : une erreur n'enregistre aucune des modifications. " + STATE_CODES,
        request=s.ApplicationUpdateSerializer,
        responses={200: s.ApplicationDetailSerializer, **errors(400, 401, 403, 404)},
    ),
)
@extend_schema(tags=["Dossiers"])
class ApplicationViewSet(
    ApiViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    filterset_class = ApplicationFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[Application]:
        qs = selectors.applications_visible_to(self.request.user)
        if self.action == "retrieve":
            qs = _with_details(qs)
        return qs.order_by("call_id", "applicant__name", "pk")

    def get_serializer_class(self):
        return {
            "list": s.ApplicationSerializer,
            "create": s.ApplicationCreateSerializer,
            "partial_update": s.ApplicationUpdateSerializer,
            "review": s.ReviewSerializer,
            "comments": s.CommentSerializer,
        }.get(self.action, s.ApplicationDetailSerializer)

    def _detail(self, pk, http_status=status.HTTP_200_OK) -> Response:
        """The file as it is now (read again through the user's scope)."""
        application = _with_details(self.get_queryset()).get(pk=pk)
        context = self.get_serializer_context()
        return Response(
            s.ApplicationDetailSerializer(application, context=context).data, status=http_status
        )

    def create(self, request, *args, **kwargs):
        serializer = s.ApplicationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        call = selectors.get_visible_call(request.user, data["call"])
        applicant = s.get_applicant_organisation(request.user, data["applicant"])
        application = application_services.application_start(
            actor=request.user, call=call, applicant=applicant
        )
        return self._detail(application.pk, status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        application = self.get_object()
        serializer = s.ApplicationUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        budget = changes.pop("budget", None)
        prerequisites = changes.pop("prerequisites", None)
        with transaction.atomic():
            if changes:
                application_services.application_update(
                    actor=request.user, application=application, **changes
                )
            if budget is not None:
                application_services.budget_set(
                    actor=request.user,
                    application=application,
                    lines={
                        line["category"]: (line["amount_eur"], line.get("description", ""))
                        for line in budget
                    },
                )
            for answer in prerequisites or ():
                application_services.prerequisite_answer(
                    actor=request.user,
                    application=application,
                    requirement_id=answer["requirement"],
                    met=answer["met"],
                    comment=answer.get("comment", ""),
                )
        return self._detail(application.pk)

    @extend_schema(
        summary="Déposer un dossier",
        description="Dépose le dossier complet pendant la fenêtre de candidature, ou le redépose "
        "avec le complément demandé par l'ARS (même après la clôture). Le plafond et son calcul "
        "sont figés à ce moment. Un dossier incomplet est refusé (code incomplete, avec ce qui "
        "manque). " + STATE_CODES,
        request=None,
        responses={200: s.ApplicationDetailSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def submit(self, request, pk=None):
        application = self.get_object()
        application_services.application_submit(actor=request.user, application=application)
        return self._detail(application.pk)

    @extend_schema(
        summary="Instruire un dossier",
        description="Réservé à l'ARS de la région de l'appel. start : commencer l'instruction "
        "(dossier déposé) ; complement : renvoyer le dossier au candidat (message : pièces "
        "attendues, obligatoire) ; accept : accepter et engager le montant demandé sur "
        "l'enveloppe régionale (jamais au-delà : code envelope_exceeded) ; reject : rejeter "
        "(message : motif, obligatoire, communiqué au candidat). " + STATE_CODES,
        request=s.ReviewSerializer,
        responses={200: s.ApplicationDetailSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def review(self, request, pk=None):
        application = self.get_object()
        serializer = s.ReviewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        _reviewed(
            request.user,
            application,
            serializer.validated_data["action"],
            serializer.validated_data["message"],
        )
        return self._detail(application.pk)

    @extend_schema(
        methods=["GET"],
        summary="Commentaires d'un dossier",
        description="Le fil de commentaires du dossier (candidat, CRRC, ARS), du plus ancien au "
        "plus récent.",
        responses={200: s.CommentSerializer(many=True), **errors(401, 403, 404)},
    )
    @extend_schema(
        methods=["POST"],
        summary="Commenter un dossier",
        description="Ajoute un commentaire au fil ; l'autre partie est prévenue par e-mail. "
        "Réservé au candidat, au CRRC et à l'ARS de la région (pas aux observateurs : 403).",
        request=s.CommentCreateSerializer,
        responses={201: s.CommentSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[], pagination_class=None)
    def comments(self, request, pk=None):
        application = self.get_object()
        if request.method == "POST":
            serializer = s.CommentCreateSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            comment = application_services.comment_add(
                actor=request.user, application=application, body=serializer.validated_data["body"]
            )
            return Response(s.CommentSerializer(comment).data, status=status.HTTP_201_CREATED)
        thread = application.comments.select_related("author", "author_organisation")
        return Response(s.CommentSerializer(thread, many=True).data)
