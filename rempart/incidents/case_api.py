"""REST API v1 of case handling: /api/v1/cases/ and its actions (state/, outcome/, events/,
tasks/, share/).

Like the pages: the list starts from the user's scope (`selectors.cases_visible_to`); one case
is read through `selectors.get_visible_case(user, pk, level)` — a case outside the user's
access is a structured 403 with the reason (`forbidden`), a missing one a 404; every write
goes through `case_services`, which checks the rights and the rules again and audits.

Error codes (400): invalid, invalid_state, reason_required, outcome_required, in_future,
case_closed, already_linked, test_alert, conflict; 403 forbidden (no access, level too low,
read-only token); 404 not_found.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet, prefetch_related_objects
from django.http import Http404
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from rempart.core.errors import DomainError
from rempart.organisations.api import ApiViewMixin, errors

from . import case_serializers as s
from . import case_services as services
from . import selectors
from .models import AccessLevel, Case, CaseState, IncidentType

CODES = (
    "Codes d'erreur (400) : invalid, invalid_state, reason_required, outcome_required, "
    "in_future, case_closed, already_linked, test_alert. 403 forbidden : dossier hors de votre "
    "accès ou niveau d'accès insuffisant (lecture, contribution, pilotage). 404 not_found."
)


def _visible_case(user, pk, level: AccessLevel = AccessLevel.READ) -> Case:
    """The case through the selector; its « no access » reason kept in the 403 body."""
    try:
        return selectors.get_visible_case(user, pk, level)
    except PermissionDenied as exc:
        raise DomainError(str(exc) or selectors.NO_CASE_ACCESS, code="forbidden") from exc


class CaseFilter(filters.FilterSet):
    state = filters.ChoiceFilter(
        choices=[("ouverts", "En cours (tout sauf clos)"), *CaseState.choices],
        method="filter_state",
        label="État",
    )
    incident_type = filters.ChoiceFilter(choices=IncidentType.choices, label="Type d'incident")
    organisation = filters.NumberFilter(field_name="organisation_id", label="Structure victime")
    mine = filters.BooleanFilter(method="filter_mine", label="Mes dossiers (pilote ou tâches)")

    class Meta:
        model = Case
        fields = ["state", "incident_type", "organisation", "mine"]

    def filter_state(self, queryset, name, value):
        if value == "ouverts":
            return queryset.exclude(state=CaseState.CLOSED)
        return queryset.filter(state=value)

    def filter_mine(self, queryset, name, value):
        if not value:
            return queryset
        mine = services.cases_for_list(self.request.user, mine=True).values("pk")
        return queryset.filter(pk__in=mine)


def _user_in(people, pk, field: str):
    if pk is None:
        return None
    found = next((u for u in people if u.pk == pk), None)
    if found is None:
        raise serializers.ValidationError(
            {field: ["Personne inconnue ou sans accès à ce dossier."]}
        )
    return found


@extend_schema_view(
    list=extend_schema(
        summary="Dossiers d'incident de votre périmètre",
        description="Les dossiers de votre structure (responsables des incidents), de votre "
        "région (CRRC), ceux que vous pilotez et ceux qui vous ont été partagés. Filtres : "
        "état (« ouverts » : tout sauf clos), type, structure, mine.",
        responses={200: s.CaseSerializer(many=True), **errors(400, 401, 403)},
    ),
    retrieve=extend_schema(
        summary="Un dossier d'incident",
        description="Le dossier, votre niveau d'accès, ses alertes et ses actifs touchés. " + CODES,
        responses={200: s.CaseDetailSerializer, **errors(401, 403, 404)},
    ),
    create=extend_schema(
        summary="Ouvrir un dossier d'incident",
        description="Depuis une alerte (« alert » : ses doublons sont rattachés, elle est "
        "qualifiée) ou pour une structure (« organisation »). Tâches et liste de contrôle "
        "pré-remplies selon le type d'incident. Réservé aux responsables des incidents de la "
        "structure, au CRRC et à l'expert d'astreinte. " + CODES,
        request=s.CaseCreateSerializer,
        responses={201: s.CaseDetailSerializer, **errors(400, 401, 403, 404)},
    ),
    partial_update=extend_schema(
        summary="Modifier un dossier d'incident",
        description="Intitulé, synthèse, gravité, marquage TLP (pilotage du dossier). " + CODES,
        request=s.CaseUpdateSerializer,
        responses={200: s.CaseDetailSerializer, **errors(400, 401, 403, 404)},
    ),
)
@extend_schema(tags=["Dossiers d'incident"])
class CaseViewSet(
    ApiViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    filterset_class = CaseFilter
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Case]:
        return selectors.cases_visible_to(self.request.user).order_by("-opened_at", "-pk")

    def get_serializer_class(self):
        return {
            "list": s.CaseSerializer,
            "create": s.CaseCreateSerializer,
            "partial_update": s.CaseUpdateSerializer,
        }.get(self.action, s.CaseDetailSerializer)

    def _detail(self, case_pk, http_status=status.HTTP_200_OK) -> Response:
        case = _visible_case(self.request.user, case_pk)
        case = self._with_parts(case)
        return Response(s.CaseDetailSerializer(case).data, status=http_status)

    @staticmethod
    def _with_parts(case: Case) -> Case:
        prefetch_related_objects([case], "alerts", "assets")
        return case

    def retrieve(self, request, pk=None):
        return self._detail(pk)

    def create(self, request, *args, **kwargs):
        serializer = s.CaseCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        alert = organisation = None
        if data.get("alert") is not None:
            try:
                alert = selectors.get_handleable_alert(request.user, data["alert"])
            except PermissionDenied as exc:
                raise DomainError(str(exc), code="forbidden") from exc
        else:
            organisation = (
                services.openable_organisations(request.user)
                .filter(pk=data["organisation"])
                .first()
            )
            if organisation is None:
                raise serializers.ValidationError(
                    {
                        "organisation": [
                            "Structure inconnue, ou pour laquelle vous ne pouvez pas ouvrir "
                            "de dossier."
                        ]
                    }
                )
        case = services.case_open(
            actor=request.user,
            organisation=organisation,
            title=data["title"],
            incident_type=data["incident_type"],
            summary=data["summary"],
            severity=data["severity"],
            tlp=data["tlp"],
            alert=alert,
        )
        return self._detail(case.pk, status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        case = _visible_case(request.user, pk, AccessLevel.MANAGE)
        serializer = s.CaseUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.case_update(actor=request.user, case=case, **serializer.validated_data)
        return self._detail(case.pk)

    @extend_schema(
        summary="Changer l'état d'un dossier",
        description="nouveau → qualifié → confinement → éradication → remédiation → "
        "post-incident → clos. Avancer est libre (sauter des étapes aussi) ; revenir en arrière "
        "ou rouvrir un dossier clos demande une note ; clore demande une issue déterminée. "
        "Pilotage du dossier. " + CODES,
        request=s.CaseStateSerializer,
        responses={200: s.CaseDetailSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def state(self, request, pk=None):
        case = _visible_case(request.user, pk, AccessLevel.MANAGE)
        serializer = s.CaseStateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.case_change_state(actor=request.user, case=case, **serializer.validated_data)
        return self._detail(case.pk)

    @extend_schema(
        summary="Qualifier l'issue d'un dossier",
        description="Faux positif, incident avéré sans impact ou avec impact — à part de "
        "l'état. Pilotage du dossier. " + CODES,
        request=s.CaseOutcomeSerializer,
        responses={200: s.CaseDetailSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def outcome(self, request, pk=None):
        case = _visible_case(request.user, pk, AccessLevel.MANAGE)
        serializer = s.CaseOutcomeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.case_set_outcome(actor=request.user, case=case, **serializer.validated_data)
        return self._detail(case.pk)

    @extend_schema(
        methods=["GET"],
        summary="Chronologie d'un dossier",
        description="Les événements datés du dossier, du plus ancien au plus récent.",
        responses={200: s.CaseEventSerializer(many=True), **errors(401, 403, 404)},
    )
    @extend_schema(
        methods=["POST"],
        summary="Ajouter une entrée à la chronologie",
        description="Note, constat ou action menée, datée quand elle a eu lieu (passé "
        "possible, jamais futur). Niveau contribution. " + CODES,
        request=s.CaseEventCreateSerializer,
        responses={201: s.CaseEventSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[], pagination_class=None)
    def events(self, request, pk=None):
        if request.method == "POST":
            case = _visible_case(request.user, pk, AccessLevel.CONTRIBUTE)
            serializer = s.CaseEventCreateSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            event = services.case_add_event(
                actor=request.user, case=case, **serializer.validated_data
            )
            return Response(s.CaseEventSerializer(event).data, status=status.HTTP_201_CREATED)
        case = _visible_case(request.user, pk)
        return Response(s.CaseEventSerializer(services.case_events(case), many=True).data)

    @extend_schema(
        methods=["GET"],
        summary="Tâches et liste de contrôle d'un dossier",
        description="Tâches (kind « tache ») et points de la liste de contrôle (« verification »).",
        responses={200: s.CaseTaskSerializer(many=True), **errors(401, 403, 404)},
    )
    @extend_schema(
        methods=["POST"],
        summary="Ajouter une tâche",
        description="Attribuée (facultatif) à une personne qui voit le dossier, prévenue par "
        "e-mail. Niveau contribution. " + CODES,
        request=s.CaseTaskCreateSerializer,
        responses={201: s.CaseTaskSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[], pagination_class=None)
    def tasks(self, request, pk=None):
        if request.method == "POST":
            case = _visible_case(request.user, pk, AccessLevel.CONTRIBUTE)
            serializer = s.CaseTaskCreateSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            data = dict(serializer.validated_data)
            assignee = _user_in(services.case_people(case), data.pop("assignee"), "assignee")
            task = services.task_add(actor=request.user, case=case, assignee=assignee, **data)
            return Response(s.CaseTaskSerializer(task).data, status=status.HTTP_201_CREATED)
        case = _visible_case(request.user, pk)
        return Response(s.CaseTaskSerializer(services.case_tasks(case), many=True).data)

    @extend_schema(
        summary="Mettre à jour une tâche",
        description="Statut, attribution, intitulé, précisions, échéance. Niveau "
        "contribution. " + CODES,
        request=s.CaseTaskUpdateSerializer,
        responses={200: s.CaseTaskSerializer, **errors(400, 401, 403, 404)},
    )
    @action(
        detail=True,
        methods=["patch"],
        url_path=r"tasks/(?P<task_pk>[0-9]+)",
        url_name="task",
        filter_backends=[],
    )
    def task(self, request, pk=None, task_pk=None):
        case = _visible_case(request.user, pk, AccessLevel.CONTRIBUTE)
        try:
            task = services.get_case_task(case, task_pk)
        except DomainError as exc:
            raise Http404(exc.message) from exc
        serializer = s.CaseTaskUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        status_value = data.pop("status", None)
        if "assignee" in data:
            assignee = _user_in(services.case_people(case), data.pop("assignee"), "assignee")
            task = services.task_assign(actor=request.user, task=task, assignee=assignee)
        if data:
            task = services.task_update(actor=request.user, task=task, **data)
        if status_value is not None:
            task = services.task_set_status(actor=request.user, task=task, status=status_value)
        return Response(s.CaseTaskSerializer(task).data)

    @extend_schema(
        methods=["GET"],
        summary="Partages d'un dossier",
        description="Les personnes et structures à qui le dossier est partagé, et à quel "
        "niveau. Pilotage du dossier.",
        responses={200: s.CaseAccessSerializer(many=True), **errors(401, 403, 404)},
    )
    @extend_schema(
        methods=["POST"],
        summary="Partager un dossier",
        description="Avec un expert du CRRC de la région (astreinte, prestataire) ou une "
        "structure de la région (ARS, établissement qui aide), au niveau lecture, contribution "
        "ou pilotage ; partager à nouveau change le niveau. La personne est prévenue par "
        "e-mail. Pilotage du dossier. " + CODES,
        request=s.CaseShareSerializer,
        responses={201: s.CaseAccessSerializer, **errors(400, 401, 403, 404)},
    )
    @extend_schema(
        methods=["DELETE"],
        summary="Retirer un partage",
        description="Retire l'accès « access » (identifiant du partage). Pilotage du dossier.",
        parameters=[
            OpenApiParameter("access", int, required=True, description="Identifiant du partage")
        ],
        request=None,
        responses={204: None, **errors(400, 401, 403, 404)},
    )
    @action(
        detail=True, methods=["get", "post", "delete"], filter_backends=[], pagination_class=None
    )
    def share(self, request, pk=None):
        case = _visible_case(request.user, pk, AccessLevel.MANAGE)
        if request.method == "GET":
            return Response(s.CaseAccessSerializer(services.case_accesses(case), many=True).data)
        if request.method == "DELETE":
            try:
                access = services.get_case_access(case, request.query_params.get("access"))
            except DomainError as exc:
                raise Http404(exc.message) from exc
            services.case_unshare(actor=request.user, case=case, access=access)
            return Response(status=status.HTTP_204_NO_CONTENT)
        serializer = s.CaseShareSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        person = organisation = None
        if data["person"] is not None:
            person = services.expert_candidates(case).filter(pk=data["person"]).first()
            if person is None:
                raise serializers.ValidationError(
                    {"person": ["Un dossier se confie à un expert du CRRC de la région."]}
                )
        else:
            organisation = (
                services.share_organisations(case).filter(pk=data["organisation"]).first()
            )
            if organisation is None:
                raise serializers.ValidationError(
                    {"organisation": ["Un dossier se partage avec une structure de sa région."]}
                )
        access = services.case_share(
            actor=request.user,
            case=case,
            person=person,
            organisation=organisation,
            level=data["level"],
        )
        return Response(s.CaseAccessSerializer(access).data, status=status.HTTP_201_CREATED)
