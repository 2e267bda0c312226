"""REST API v1 of crisis exercises (routes in `api_routes`, plugged in config/api_urls.py):

* `exercises/runs/` — the runs of the organisations whose exercises the user runs (the runs
  page): status, dates and the validity verdict with its reasons per organisation taking
  part; filters `status`, `kind`. Never the journal, the injects, the participants' names or
  the debrief: what an establishment learnt about its weaknesses stays on its pages;
* `exercises/coverage/` — the indicator of the coverage page (ARS, CRRC, GHT coordinators,
  national observers): the total against the target and the page's breakdowns (by region and
  category nationally; by département, category and GHT for one region), the regional
  exercises; `?au=YYYY-MM-DD` and `?region=<id>` like the page;
* `exercises/coverage/organisations/` — the organisations list of the page, paginated, with
  the same filters (`statut`, `departement`, `categorie`, `ght`, `q`, `au`).

Thin like the pages: runs through `selectors` (403 for who runs no exercise, 404 for a run
outside one's scope), coverage through `coverage` and `perms.coverage_q`. Unlike the page,
which silently falls back to today or to the whole scope, a bad parameter is a 400 and a
region outside the user's scope a 404.
"""

from __future__ import annotations

import datetime

from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, viewsets
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from rempart.core.api_errors import ReasonedRefusal
from rempart.core.errors import DomainError
from rempart.organisations import perms as org_perms
from rempart.organisations.api import (
    ApiViewMixin,
    CategorySerializer,
    DepartementSerializer,
    OrganisationRefSerializer,
    errors,
)

from . import api_selectors, perms
from . import coverage as cov
from . import selectors as sel
from .models import ExerciseRun, Level, RunKind, RunStatus, Theme

TAG = "Exercices de crise"


# --- Runs ---------------------------------------------------------------------------------------


class RecordSerializer(serializers.Serializer):
    organisation = OrganisationRefSerializer()
    counts = serializers.BooleanField(help_text="Vrai quand l'exercice compte pour elle.")
    held_on = serializers.DateField(allow_null=True, help_text="Jour où l'exercice a été joué.")
    valid_until = serializers.DateField(
        allow_null=True, help_text="Fin de validité (null : ne compte pas)."
    )
    reasons = serializers.ListField(
        child=serializers.CharField(),
        help_text="Pourquoi l'exercice ne compte pas encore (vide quand il compte).",
    )
    rule_version = serializers.CharField(help_text="Version de la règle de validité appliquée.")


class ScenarioRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    version = serializers.IntegerField()


class RunSerializer(serializers.ModelSerializer):
    organisation = OrganisationRefSerializer(
        help_text="Qui tient l'exercice (l'établissement, ou le CRRC/l'ARS pour un exercice "
        "régional)."
    )
    kind = serializers.ChoiceField(choices=RunKind.choices)
    status = serializers.ChoiceField(choices=RunStatus.choices)
    level = serializers.ChoiceField(choices=Level.choices)
    theme = serializers.ChoiceField(choices=Theme.choices)
    scenario = ScenarioRefSerializer(allow_null=True, help_text="Null : scénario propre.")
    participant_count = serializers.IntegerField()
    counts = serializers.SerializerMethodField(
        help_text="Vrai quand l'exercice compte pour toutes les organisations qui y prennent part."
    )
    verdicts = serializers.SerializerMethodField(
        help_text="Le verdict de la règle de validité par organisation qui y prend part."
    )

    class Meta:
        model = ExerciseRun
        fields = [
            "id",
            "title",
            "kind",
            "status",
            "organisation",
            "scenario",
            "level",
            "theme",
            "is_cyber",
            "planned_start",
            "started_at",
            "ended_at",
            "cancelled_at",
            "location",
            "participant_count",
            "counts",
            "verdicts",
        ]

    def _records(self, run) -> list:
        the_rule = self.context["rule"]
        records = list(run.coverage.all())  # prefetched by the selector
        for record in records:
            record.valid_until = (
                the_rule.valid_until(record.held_on) if record.counts and record.held_on else None
            )
        return records

    def get_counts(self, run) -> bool:
        records = list(run.coverage.all())
        return bool(records) and all(r.counts for r in records)

    @extend_schema_field(RecordSerializer(many=True))
    def get_verdicts(self, run) -> list:
        return RecordSerializer(self._records(run), many=True).data


class RunFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=RunStatus.choices)
    kind = filters.ChoiceFilter(choices=RunKind.choices)

    class Meta:
        model = ExerciseRun
        fields = ["status", "kind"]


@extend_schema_view(
    list=extend_schema(
        summary="Exercices de crise de vos structures",
        description="Les exercices des organisations dont vous organisez les exercices (la "
        "direction, le RSSI ou le DSI d'un établissement ; le CRRC ou l'ARS pour ses exercices "
        "régionaux), les plus récents d'abord, avec le verdict de validité et ses motifs. Ni "
        "le journal, ni les stimuli, ni le RETEX.",
        responses={200: RunSerializer(many=True), **errors(400, 401, 403)},
    ),
    retrieve=extend_schema(
        summary="Un exercice de crise, avec son verdict",
        responses={200: RunSerializer, **errors(401, 403, 404)},
    ),
)
@extend_schema(tags=[TAG])
class RunViewSet(
    ReasonedRefusal,
    ApiViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = RunSerializer
    filterset_class = RunFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema: the model, no data
            return api_selectors.no_runs()
        return sel.my_runs(self.request.user)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "rule": cov.rule()}

    def retrieve(self, request, *args, **kwargs):
        # The runs page's scope: 403 for who runs no exercise, 404 outside one's organisations.
        run = self.get_queryset().filter(pk=kwargs["pk"]).first()
        if run is None:
            raise Http404("Exercice introuvable.")
        return Response(self.get_serializer(run).data)


# --- Coverage -----------------------------------------------------------------------------------


def _scope(user) -> Q:
    scope = perms.coverage_q(user)
    if scope is None:
        raise PermissionDenied(perms.NO_COVERAGE)
    return scope


def _day(params) -> datetime.date:
    raw = params.get("au", "")
    today = timezone.localdate()
    if not raw:
        return today
    try:
        day = datetime.date.fromisoformat(raw)
    except ValueError:
        day = None
    if day is None or not datetime.date(2020, 1, 1) <= day <= today:
        raise DomainError(
            f"« au » est une date AAAA-MM-JJ, du 2020-01-01 à aujourd'hui ({today.isoformat()}).",
            code="invalid",
            field="au",
        )
    return day


def _int(params, name: str) -> int | None:
    raw = params.get(name, "")
    if not raw:
        return None
    if not (raw.isdigit() and len(raw) < 12):
        raise DomainError(f"« {name} » est un identifiant (un entier).", code="invalid", field=name)
    return int(raw)


class CellSerializer(serializers.Serializer):
    key = serializers.IntegerField(
        allow_null=True, help_text="Identifiant du groupe (null : sans valeur, ex. hors GHT)."
    )
    label = serializers.CharField()
    total = serializers.IntegerField(help_text="Organisations comptées.")
    covered = serializers.IntegerField(help_text="Avec un exercice valide.")
    missing = serializers.IntegerField()
    rate = serializers.FloatField(help_text="Part couverte, en %, à 0,1 près.")
    meets_target = serializers.BooleanField()


class RegionalRunSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    title = serializers.CharField()
    organisation = OrganisationRefSerializer(help_text="Le CRRC ou l'ARS qui le tient.")
    region = serializers.CharField(source="region.name")
    status = serializers.ChoiceField(choices=RunStatus.choices)
    planned_start = serializers.DateTimeField()
    organisations = serializers.IntegerField(help_text="Organisations qui y prennent part.")
    organisations_counted = serializers.IntegerField(help_text="Celles pour qui il compte.")


class CoverageSerializer(serializers.Serializer):
    day = serializers.DateField(help_text="Le jour du calcul (« au »).")
    cutoff = serializers.DateField(help_text="Un exercice joué depuis ce jour est valide.")
    rule_version = serializers.CharField()
    target_percent = serializers.FloatField()
    requirements = serializers.ListField(
        child=serializers.CharField(), help_text="Ce qui fait un exercice valide."
    )
    region = serializers.IntegerField(
        allow_null=True, help_text="La région filtrée, s'il y a lieu."
    )
    national = serializers.BooleanField(
        help_text="Vrai : vue de plusieurs régions (par région et catégorie) ; faux : une région "
        "(par département, catégorie et GHT)."
    )
    total = CellSerializer()
    needed_for_target = serializers.IntegerField(
        help_text="Organisations qui doivent encore avoir un exercice valide pour la cible."
    )
    by_region = CellSerializer(many=True)
    by_departement = CellSerializer(many=True)
    by_category = CellSerializer(many=True)
    by_ght = CellSerializer(many=True)
    regional_runs = RegionalRunSerializer(many=True)


def _cells(cells, target: float) -> list[dict]:
    return [
        {
            "key": cell.key,
            "label": cell.label,
            "total": cell.total,
            "covered": cell.covered,
            "missing": cell.missing,
            "rate": cell.rate,
            "meets_target": cell.total > 0 and cell.rate >= target,
        }
        for cell in cells
    ]


DAY = OpenApiParameter(
    "au", OpenApiTypes.DATE, description="Le jour du calcul (AAAA-MM-JJ, aujourd'hui par défaut)."
)


@extend_schema(tags=[TAG])
class CoverageView(ReasonedRefusal, ApiViewMixin, APIView):
    """The coverage page as data."""

    @extend_schema(
        summary="Couverture des exercices de crise",
        description="La part des organisations ayant un exercice valide sur les 12 derniers "
        "mois, contre la cible, et les répartitions de la page : par région et catégorie "
        "vu de plusieurs régions, par département, catégorie et GHT pour une région. Calculée "
        "à partir des exercices enregistrés, jamais déclarée. Réservé à l'ARS, au CRRC, aux "
        "coordinateurs de GHT (leurs membres) et aux observateurs nationaux.",
        parameters=[
            DAY,
            OpenApiParameter(
                "region",
                OpenApiTypes.INT,
                description="Une région de votre périmètre (404 sinon) : ses répartitions.",
            ),
        ],
        responses={200: CoverageSerializer, **errors(400, 401, 403, 404)},
    )
    def get(self, request):
        scope = _scope(request.user)
        day = _day(request.query_params)
        regions = org_perms.capability_regions(request.user, perms.C.VIEW_EXERCISE_COVERAGE)
        region_id = _int(request.query_params, "region")
        if region_id is not None and regions is not None and region_id not in regions:
            raise Http404("Région hors de votre périmètre.")
        if region_id is not None and regions is None and not api_selectors.region_exists(region_id):
            raise Http404("Région introuvable.")
        view = cov.coverage_view(scope, regions=regions, region_id=region_id, today=day)
        overview, national, runs = view.overview, view.national, view.regional_runs
        target = overview.rule.target_percent
        body = {
            "day": day,
            "cutoff": overview.cutoff,
            "rule_version": overview.rule.version,
            "target_percent": target,
            "requirements": overview.rule.requirements(),
            "region": region_id,
            "national": national,
            "total": _cells([overview.total], target)[0],
            "needed_for_target": overview.needed_for_target,
            "by_region": _cells(overview.by_region, target),
            "by_departement": _cells(overview.by_departement, target),
            "by_category": _cells(overview.by_category, target),
            "by_ght": _cells(overview.by_ght, target),
            "regional_runs": runs,
        }
        return Response(CoverageSerializer(body).data)


class GhtRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class CoverageOrganisationSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    finess = serializers.CharField(allow_null=True)
    departement = DepartementSerializer(allow_null=True)
    category = CategorySerializer(allow_null=True)
    ght = GhtRefSerializer(allow_null=True)
    is_covered = serializers.BooleanField(help_text="Un exercice valide sur la période.")
    last_valid_on = serializers.DateField(
        allow_null=True, help_text="Jour du dernier exercice valide."
    )
    valid_until = serializers.DateField(allow_null=True, help_text="Fin de sa validité.")
    pending_title = serializers.CharField(
        allow_null=True, help_text="Le dernier exercice qui ne compte pas (encore)."
    )
    pending_reasons = serializers.ListField(
        child=serializers.CharField(), allow_null=True, help_text="Pourquoi il ne compte pas."
    )


STATUSES = {"covered", "missing"}


@extend_schema(tags=[TAG])
class CoverageOrganisationsView(ReasonedRefusal, ApiViewMixin, ListAPIView):
    """The organisations list of the coverage pages, paginated."""

    serializer_class = CoverageOrganisationSerializer
    filter_backends: list = []

    @extend_schema(
        summary="Organisations et exercices de crise",
        description="La liste de la page : chaque organisation comptée, couverte ou non, son "
        "dernier exercice valide et sa fin de validité, ou pourquoi son dernier exercice ne "
        "compte pas encore. Jamais le contenu des exercices.",
        parameters=[
            DAY,
            OpenApiParameter(
                "statut", OpenApiTypes.STR, enum=sorted(STATUSES), description="covered, missing."
            ),
            OpenApiParameter("departement", OpenApiTypes.INT),
            OpenApiParameter("categorie", OpenApiTypes.INT, description="Catégorie FINESS."),
            OpenApiParameter("ght", OpenApiTypes.INT, description="Le GHT (son identifiant)."),
            OpenApiParameter("q", OpenApiTypes.STR, description="Nom (contient) ou FINESS."),
        ],
        responses={
            200: CoverageOrganisationSerializer(many=True),
            **errors(400, 401, 403),
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return api_selectors.no_organisations()
        params = self.request.query_params
        scope = _scope(self.request.user)
        day = _day(params)
        status = params.get("statut", "")
        if status and status not in STATUSES:
            raise DomainError(
                "« statut » vaut covered (couvertes) ou missing (sans exercice valide).",
                code="invalid",
                field="statut",
            )
        self.the_rule = cov.rule()
        return cov.organisations_page_queryset(
            scope,
            today=day,
            status=status,
            departement_id=_int(params, "departement"),
            category_id=_int(params, "categorie"),
            ght_id=_int(params, "ght"),
            search=params.get("q", "").strip()[:100],
        )

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        for organisation in page or []:
            organisation.valid_until = (
                self.the_rule.valid_until(organisation.last_valid_on)
                if organisation.last_valid_on
                else None
            )
        return page
