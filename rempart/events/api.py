"""REST API v1 of trainings and webinars (routes in `api_routes`, plugged in config/api_urls.py):

* `trainings/sessions/` — the sessions the user may see, as on the sessions page (published and
  cancelled ones of one's region; a trainer also the drafts of their CRRC), filters `kind`,
  `programme`, `upcoming`; `{id}/` adds the seats left;
* `trainings/registrations/` — the registrations of the organisations the user registers people
  for (the « my staff » page): list, detail, create (the page's service: a seat if one is left,
  else the waiting list with its position; the same e-mail twice is refused with the
  `duplicate` code), and `{id}/cancel/` (POST: the freed seat goes to the waiting list);
* `trainings/figures/` — the region's participation and satisfaction (ARS, CRRC): the figures
  page's numbers, `?annee=` like the page.

Thin like the pages: reads through `selectors` (403 with the reason for a lacking right, 404 for
anything outside one's scope), writes through `services`, which check the rights again.
"""

from __future__ import annotations

from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from rempart.core.api_errors import ReasonedRefusal
from rempart.core.errors import DomainError
from rempart.organisations.api import ApiViewMixin, OrganisationRefSerializer, errors

from . import api_selectors, perms, services
from . import selectors as sel
from .models import Registration, RegistrationStatus, SessionKind, SessionStatus, TrainingSession

TAG = "Formations et webinaires"


# --- Serializers ----------------------------------------------------------------------------------


class SessionSerializer(serializers.ModelSerializer):
    organiser = OrganisationRefSerializer(help_text="Le CRRC qui organise la session.")
    kind = serializers.ChoiceField(choices=SessionKind.choices)
    status = serializers.ChoiceField(choices=SessionStatus.choices)
    audience = serializers.ListField(
        child=serializers.CharField(), help_text="Publics visés (it_teams, directors…)."
    )
    duration_hours = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        coerce_to_string=False,
        help_text="Durée de formation en heures (celle de l'attestation ; sur plusieurs jours, "
        "par défaut la durée d'une journée × le nombre de jours).",
    )
    days = serializers.IntegerField(help_text="Nombre de jours (1 : la session tient en un jour).")
    confirmed_count = serializers.IntegerField(help_text="Personnes inscrites (hors attente).")
    waiting_count = serializers.IntegerField(help_text="Personnes en liste d'attente.")
    seats_left = serializers.SerializerMethodField(help_text="Places restantes.")

    class Meta:
        model = TrainingSession
        fields = [
            "id",
            "kind",
            "status",
            "programme",
            "title",
            "description",
            "audience",
            "prerequisites",
            "starts_at",
            "ends_at",
            "days",
            "duration_hours",
            "location",
            "online_url",
            "capacity",
            "confirmed_count",
            "waiting_count",
            "seats_left",
            "organiser",
        ]

    def get_seats_left(self, session) -> int:
        return max(session.capacity - session.confirmed_count, 0)


class SessionDetailSerializer(SessionSerializer):
    is_open = serializers.BooleanField(
        help_text="Vrai quand la session est publiée et n'a pas commencé : on peut s'y inscrire."
    )
    can_manage = serializers.BooleanField(help_text="Vrai quand vous gérez cette session.")

    class Meta(SessionSerializer.Meta):
        fields = [*SessionSerializer.Meta.fields, "is_open", "can_manage"]


class SessionRefSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=SessionKind.choices)

    class Meta:
        model = TrainingSession
        fields = ["id", "kind", "title", "programme", "starts_at", "ends_at"]


class RegistrationSerializer(serializers.ModelSerializer):
    session = SessionRefSerializer()
    organisation = OrganisationRefSerializer()
    status = serializers.ChoiceField(choices=RegistrationStatus.choices)

    class Meta:
        model = Registration
        fields = [
            "id",
            "session",
            "organisation",
            "first_name",
            "last_name",
            "email",
            "function",
            "status",
            "attended",
            "promoted_at",
            "cancelled_at",
            "created_at",
        ]


class RegistrationCreateSerializer(serializers.Serializer):
    session = serializers.IntegerField(help_text="Identifiant de la session (publiée, à venir).")
    organisation = serializers.IntegerField(
        help_text="La structure au titre de laquelle la personne est inscrite (l'une de celles "
        "pour lesquelles vous inscrivez, dans la région de la session)."
    )
    first_name = serializers.CharField(max_length=150)
    last_name = serializers.CharField(max_length=150)
    email = serializers.EmailField(max_length=254)
    function = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class RegistrationResultSerializer(serializers.Serializer):
    registration = RegistrationSerializer()
    waiting_position = serializers.IntegerField(
        allow_null=True,
        help_text="Rang sur la liste d'attente (1 : la prochaine personne promue) ; null quand "
        "l'inscription est confirmée.",
    )
    message = serializers.CharField(help_text="Le message de la page, en français.")


class CancelResultSerializer(serializers.Serializer):
    registration = RegistrationSerializer()
    promoted = RegistrationSerializer(
        allow_null=True,
        help_text="La personne qui quitte la liste d'attente pour la place libérée (null : "
        "aucune, ou vous ne voyez pas son inscription).",
    )


class SatisfactionSerializer(serializers.Serializer):
    average = serializers.DecimalField(
        max_digits=4,
        decimal_places=2,
        allow_null=True,
        coerce_to_string=False,
        help_text="Note moyenne sur 10, au centième (null : aucune réponse).",
    )
    answers = serializers.IntegerField()


class KindFiguresSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=SessionKind.choices)
    label = serializers.CharField()
    sessions = serializers.IntegerField()
    registrations = serializers.IntegerField()
    attendances = serializers.IntegerField()
    satisfaction = SatisfactionSerializer()


class ProgrammeFiguresSerializer(serializers.Serializer):
    programme = serializers.CharField()
    kind_label = serializers.CharField()
    sessions = serializers.IntegerField()
    attendances = serializers.IntegerField()
    satisfaction = SatisfactionSerializer()


class FigureSessionSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    kind = serializers.ChoiceField(choices=SessionKind.choices)
    programme = serializers.CharField()
    title = serializers.CharField()
    organiser = OrganisationRefSerializer()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    capacity = serializers.IntegerField()
    registered = serializers.IntegerField()
    attendances = serializers.IntegerField()
    satisfaction = SatisfactionSerializer(source="api_satisfaction")


class FiguresSerializer(serializers.Serializer):
    year = serializers.IntegerField(allow_null=True, help_text="L'année filtrée (null : toutes).")
    structures_enrolled = serializers.IntegerField(help_text="Structures ayant inscrit quelqu'un.")
    people_registered = serializers.IntegerField()
    people_trained = serializers.IntegerField(help_text="Personnes marquées présentes.")
    sessions_held = serializers.IntegerField(help_text="Sessions publiées (hors annulées).")
    satisfaction = SatisfactionSerializer()
    by_kind = KindFiguresSerializer(many=True)
    by_programme = ProgrammeFiguresSerializer(many=True)
    sessions = FigureSessionSerializer(many=True)


# --- Views ----------------------------------------------------------------------------------------


def _boolean(raw: str | None, name: str) -> bool | None:
    if raw in (None, ""):
        return None
    value = {"true": True, "1": True, "false": False, "0": False}.get(raw.lower())
    if value is None:
        raise DomainError(f"« {name} » vaut true ou false.", code="invalid", field=name)
    return value


class SessionFilter(filters.FilterSet):
    kind = filters.ChoiceFilter(choices=SessionKind.choices)
    programme = filters.CharFilter(
        field_name="programme", lookup_expr="iexact", help_text="Le programme, tel qu'il est écrit."
    )

    class Meta:
        model = TrainingSession
        fields = ["kind", "programme"]


UPCOMING = OpenApiParameter(
    "upcoming",
    OpenApiTypes.BOOL,
    description="true : les sessions pas encore terminées (la page par défaut) ; false : les "
    "sessions passées ; absent : toutes.",
)


@extend_schema_view(
    list=extend_schema(
        summary="Sessions de formation et webinaires",
        description="Les sessions que vous voyez sur la page des formations : publiées et "
        "annulées de votre région (un formateur voit aussi les brouillons de son CRRC).",
        parameters=[UPCOMING],
        responses={200: SessionSerializer(many=True), **errors(400, 401, 403)},
    ),
    retrieve=extend_schema(
        summary="Une session, avec ses places restantes",
        responses={200: SessionDetailSerializer, **errors(401, 403, 404)},
    ),
)
@extend_schema(tags=[TAG])
class SessionViewSet(
    ReasonedRefusal,
    ApiViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = SessionSerializer
    filterset_class = SessionFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema: the model, no data
            return api_selectors.no_sessions()
        upcoming = _boolean(self.request.query_params.get("upcoming"), "upcoming")
        return sel.sessions(self.request.user, upcoming=upcoming)

    def retrieve(self, request, *args, **kwargs):
        session = sel.get_session(request.user, kwargs["pk"])
        return Response(SessionDetailSerializer(session).data)


class RegistrationFilter(filters.FilterSet):
    session = filters.NumberFilter(field_name="session_id")
    organisation = filters.NumberFilter(field_name="organisation_id")
    status = filters.ChoiceFilter(choices=RegistrationStatus.choices)

    class Meta:
        model = Registration
        fields = ["session", "organisation", "status"]


@extend_schema_view(
    list=extend_schema(
        summary="Inscriptions de vos structures",
        description="Les inscriptions des structures pour lesquelles vous inscrivez des "
        "personnes (un professionnel libéral : les siennes), les sessions les plus récentes "
        "d'abord.",
        responses={200: RegistrationSerializer(many=True), **errors(400, 401, 403)},
    ),
    retrieve=extend_schema(
        summary="Une inscription",
        responses={200: RegistrationSerializer, **errors(401, 403, 404)},
    ),
    create=extend_schema(
        summary="Inscrire une personne",
        description="Le service de la page : une place s'il en reste, sinon la liste d'attente "
        "(`waiting_position` donne le rang). Codes d'erreur possibles : 400 duplicate (la "
        "personne est déjà inscrite ou en attente pour cette session), 400 invalid (données, "
        "session fermée…), 403 forbidden (vous n'inscrivez pas pour cette structure, ou jeton "
        "en lecture seule), 404 not_found (session hors de votre périmètre).",
        request=RegistrationCreateSerializer,
        responses={201: RegistrationResultSerializer, **errors(400, 401, 403, 404)},
    ),
)
@extend_schema(tags=[TAG])
class RegistrationViewSet(
    ReasonedRefusal,
    ApiViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = RegistrationSerializer
    filterset_class = RegistrationFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return api_selectors.no_registrations()
        return sel.staff_registrations(self.request.user)

    def create(self, request, *args, **kwargs):
        data = RegistrationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        session = sel.get_session(request.user, values.pop("session"))
        organisations = sel.register_organisations(request.user, session)
        if not organisations.exists():
            raise DomainError(perms.NOT_REGISTRAR, code="forbidden")
        organisation = organisations.filter(pk=values.pop("organisation")).first()
        if organisation is None:
            raise DomainError(
                "Choisissez l'une de vos structures de la région de la session.",
                code="invalid",
                field="organisation",
            )
        result = services.registration_create(
            actor=request.user, session=session, organisation=organisation, **values
        )
        body = {
            "registration": result.registration,
            "waiting_position": services.waiting_rank(result.registration),
            "message": result.message,
        }
        return Response(RegistrationResultSerializer(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Annuler une inscription",
        description="L'inscription est gardée, marquée annulée ; la place libérée va à la "
        "première personne de la liste d'attente, prévenue par courriel. Codes d'erreur "
        "possibles : 400 refused (déjà annulée, session commencée), 403 forbidden (vous "
        "n'inscrivez pas pour cette structure, ou jeton en lecture seule), 404 not_found.",
        request=None,
        responses={200: CancelResultSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def cancel(self, request, pk=None):
        registration = sel.get_registration(request.user, pk)
        promoted = services.registration_cancel(actor=request.user, registration=registration)
        registration.refresh_from_db()
        if promoted is not None:  # shown only to who sees it on the page
            promoted = api_selectors.visible_registration(request.user, promoted.pk)
        body = {"registration": registration, "promoted": promoted}
        return Response(CancelResultSerializer(body).data)


YEAR = OpenApiParameter(
    "annee", OpenApiTypes.INT, description="Une année (2000 à 2100), comme sur la page."
)


@extend_schema(tags=[TAG])
class FiguresView(ReasonedRefusal, ApiViewMixin, APIView):
    """The figures page as data."""

    @extend_schema(
        summary="Chiffres des formations de la région",
        description="Les chiffres de la page : structures inscrites, personnes formées, "
        "sessions, satisfaction (moyenne sur 10), par type, par programme et par session. "
        "Réservé à l'ARS et au CRRC (à l'échelle de la région).",
        parameters=[YEAR],
        responses={200: FiguresSerializer, **errors(400, 401, 403)},
    )
    def get(self, request):
        raw = request.query_params.get("annee", "")
        year = None
        if raw:
            if not (raw.isdigit() and 2000 <= int(raw) <= 2100):
                raise DomainError(
                    "Indiquez une année de 2000 à 2100 (par exemple annee=2025).",
                    code="invalid",
                    field="annee",
                )
            year = int(raw)
        figures = sel.figures(request.user, year=year)
        rows = list(sel.figure_session_rows(request.user, year=year))
        for row in rows:
            row.api_satisfaction = sel.Satisfaction(sel.two_decimals(row.avg), row.answers)
        body = {"year": year, **figures.__dict__, "sessions": rows}
        return Response(FiguresSerializer(body).data)
