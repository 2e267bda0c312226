"""REST API: the regional incident figures, the same as the page and its CSV export.

Route: `incidents/statistics/` (GET), with the page's filters as query parameters (`year`, or
`start` and `end`; `region`, `organisation_type`, `incident_type`). Holders of
VIEW_INCIDENT_STATS only (ARS and CRRC for their region, national observers): 403 with the
reason for everybody else; a bad filter is a 400 with the reason per parameter. Durations are
in seconds (medians and 90th percentiles as defined in `stats`).
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from rempart.core.api_auth import HasApiAccess
from rempart.organisations.api import errors

from . import perms, stats
from .stats_views import StatsFilterForm


class CountSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()


class MonthSerializer(serializers.Serializer):
    month = serializers.DateField(help_text="Premier jour du mois (heure de Paris).")
    count = serializers.IntegerField()
    incomplete = serializers.IntegerField()


class TimingSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="acknowledge, qualify, declare ou resolve.")
    label = serializers.CharField()
    definition = serializers.CharField()
    count = serializers.IntegerField(help_text="Alertes ou dossiers ayant atteint l'étape.")
    pending = serializers.IntegerField(help_text="Pas encore atteinte.")
    median_seconds = serializers.FloatField(allow_null=True)
    p90_seconds = serializers.FloatField(
        allow_null=True, help_text="90e centile (rang le plus proche : une valeur observée)."
    )
    median_label = serializers.CharField(help_text="En français : « 4 min », « 2 h 15 ».")
    p90_label = serializers.CharField()


class FiltersSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField(help_text="Inclus.")
    period = serializers.CharField()
    regions = serializers.ListField(child=serializers.CharField(), help_text="Codes INSEE.")
    organisation_type = serializers.CharField(allow_blank=True)
    incident_type = serializers.CharField(allow_blank=True)


class IncidentFiguresSerializer(serializers.Serializer):
    filters = FiltersSerializer()
    alerts = serializers.IntegerField(help_text="Alertes reçues, hors tests et doublons.")
    duplicates = serializers.IntegerField()
    incomplete = serializers.IntegerField()
    incomplete_share = serializers.FloatField(allow_null=True, help_text="En %, à 0,1 près.")
    months = MonthSerializer(many=True)
    alert_types = CountSerializer(many=True)
    cases = serializers.IntegerField()
    case_states = CountSerializer(many=True)
    case_outcomes = CountSerializer(many=True)
    organisations = serializers.IntegerField()
    declarations_filed = serializers.IntegerField()
    timings = TimingSerializer(many=True)


def as_dict(figures: stats.IncidentFigures) -> dict:
    f = figures.filters

    def counts(rows):
        return [{"key": r.key, "label": r.label, "count": r.count} for r in rows]

    return {
        "filters": {
            "start": f.period.start,
            "end": f.period.end,
            "period": f.period.label,
            "regions": [region.code for region in f.regions],
            "organisation_type": f.organisation_type,
            "incident_type": f.incident_type,
        },
        "alerts": figures.alerts,
        "duplicates": figures.duplicates,
        "incomplete": figures.incomplete,
        "incomplete_share": figures.incomplete_share,
        "months": [
            {"month": m.month, "count": m.count, "incomplete": m.incomplete} for m in figures.months
        ],
        "alert_types": counts(figures.alert_types),
        "cases": figures.cases,
        "case_states": counts(figures.case_states),
        "case_outcomes": counts(figures.case_outcomes),
        "organisations": figures.organisations,
        "declarations_filed": figures.declarations_filed,
        "timings": [
            {
                "key": t.key,
                "label": t.label,
                "definition": t.definition,
                "count": t.count,
                "pending": t.pending,
                "median_seconds": t.median,
                "p90_seconds": t.p90,
                "median_label": t.median_label,
                "p90_label": t.p90_label,
            }
            for t in figures.timings
        ],
    }


class IncidentStatisticsView(APIView):
    """Regional incident figures and response times."""

    permission_classes = [HasApiAccess]
    throttle_classes = [UserRateThrottle]

    @extend_schema(
        summary="Chiffres régionaux des incidents",
        description=(
            "Alertes reçues (par mois, par type, incomplètes, doublons), dossiers par état et "
            "par qualification, structures concernées, déclarations CERT Santé déposées, délais "
            "de prise en compte, de qualification, de déclaration et de résolution (médiane et "
            "90e centile). Hors alertes de test. Réservé à l'ARS, au CRRC et aux observateurs "
            "nationaux."
        ),
        tags=["Incidents"],
        parameters=[
            OpenApiParameter(
                "year",
                OpenApiTypes.INT,
                description="Année civile (par défaut : l'année en cours).",
            ),
            OpenApiParameter(
                "start", OpenApiTypes.DATE, description="Début de période (avec end)."
            ),
            OpenApiParameter("end", OpenApiTypes.DATE, description="Fin de période, incluse."),
            OpenApiParameter(
                "region", OpenApiTypes.INT, description="Identifiant d'une région du périmètre."
            ),
            OpenApiParameter(
                "organisation_type", OpenApiTypes.STR, enum=["sanitaire", "medico_social"]
            ),
            OpenApiParameter("incident_type", OpenApiTypes.STR),
        ],
        responses={200: IncidentFiguresSerializer, **errors(400, 401, 403)},
    )
    def get(self, request):
        if not perms.can_view_stats(request.user):
            raise exceptions.PermissionDenied(stats.NO_STATS_ACCESS)
        form = StatsFilterForm(request.query_params, regions=stats.regions_in_scope(request.user))
        if not form.is_valid():
            raise exceptions.ValidationError(
                {name: [str(e) for e in messages] for name, messages in form.errors.items()}
            )
        figures = stats.incident_figures(form.filters())
        return Response(IncidentFiguresSerializer(as_dict(figures)).data)
