"""REST API v1 of simulated phishing (routes in `api_routes`, plugged in config/api_urls.py):

* `phishing/campaigns/` — the campaigns aimed at your establishments and those your CRRC runs
  under a mandate (GET; filters `status`, `mode`, `organisation`), newest first, paginated;
* `phishing/campaigns/{id}/` — one campaign with its sending progress (GET);
* `phishing/campaigns/{id}/results/` — the same figures as the results page (GET): the funnel
  raw and without bots, per department (departments under 5 people merged, never alone), time
  to the first report, activity over time, and the region's rates when at least 5 other
  organisations contribute;
* `phishing/campaigns/{id}/pause/`, `resume/`, `send-now/` — sending controls (POST), for who
  runs the campaign (the establishment, or the CRRC under a valid mandate).

Thin like the pages: reads through `selectors` and `results`, writes through `sending`'s
services, which check the rights and the state again. A campaign of another organisation is a
403 (it exists, it is not yours), an unknown id a 404. No per-person data is served here: the
per-recipient table stays on the pages, where the mandate and the privacy mode are shown.
"""

from __future__ import annotations

from django.db.models import Count, Q
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from rempart.organisations.api import ApiViewMixin, OrganisationRefSerializer, errors

from . import results, selectors, sending
from .models import Campaign, CampaignMode, CampaignStatus, SendStatus

TAG = "Hameçonnage simulé"
CONTROL_CODES = (
    "Codes d'erreur possibles : 400 refused (la campagne n'est pas dans l'état voulu : « seule "
    "une campagne programmée ou en cours d'envoi se met en pause »…), 403 forbidden (vous voyez "
    "la campagne mais ne la menez pas, ou jeton en lecture seule), 404 not_found."
)


# --- Serializers ----------------------------------------------------------------------------------


class ProgressSerializer(serializers.Serializer):
    recipients = serializers.IntegerField()
    pending = serializers.IntegerField(
        help_text="Messages à envoyer (y compris les nouvelles tentatives)."
    )
    sent = serializers.IntegerField()
    failed = serializers.IntegerField()


class CampaignSerializer(serializers.ModelSerializer):
    organisation = OrganisationRefSerializer(help_text="L'établissement visé.")
    operator = OrganisationRefSerializer(
        help_text="Qui mène la campagne (l'établissement ou le CRRC)."
    )
    recipient_count = serializers.IntegerField()

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "organisation",
            "operator",
            "mode",
            "status",
            "privacy_mode",
            "retention_days",
            "starts_at",
            "spread_until",
            "window_start",
            "window_end",
            "weekdays_only",
            "scheduled_at",
            "closed_at",
            "identities_erased_at",
            "created_at",
            "recipient_count",
        ]


class CampaignDetailSerializer(CampaignSerializer):
    progress = ProgressSerializer(source="api_progress")
    last_error = serializers.CharField(help_text="Dernière erreur d'envoi (serveur SMTP…).")
    last_error_at = serializers.DateTimeField(allow_null=True)

    class Meta(CampaignSerializer.Meta):
        fields = [*CampaignSerializer.Meta.fields, "progress", "last_error", "last_error_at"]


def _rate():
    return serializers.DecimalField(
        max_digits=4, decimal_places=1, allow_null=True, coerce_to_string=False,
        help_text="En % des messages envoyés, à 0,1 près (null : rien d'envoyé).",
    )  # fmt: skip


class FunnelSerializer(serializers.Serializer):
    """Distinct people at each step (cumulative: a click counts as an opening)."""

    recipients = serializers.IntegerField()
    sent = serializers.IntegerField()
    opened = serializers.IntegerField()
    clicked = serializers.IntegerField()
    submitted = serializers.IntegerField()
    reported = serializers.IntegerField()
    reported_without_click = serializers.IntegerField()
    opened_rate = _rate()
    clicked_rate = _rate()
    submitted_rate = _rate()
    reported_rate = _rate()
    reported_without_click_rate = _rate()


class DepartmentSerializer(serializers.Serializer):
    label = serializers.CharField(help_text="Le service (ou la ligne « autres services »).")
    raw = FunnelSerializer(help_text="Tous les événements.")
    filtered = FunnelSerializer(help_text="Sans les événements attribués à des robots.")


class RegionComparisonSerializer(serializers.Serializer):
    available = serializers.BooleanField(
        help_text="Faux quand moins de 5 autres structures de la région ont une campagne terminée."
    )
    organisations = serializers.IntegerField(
        help_text="Structures dont les campagnes sont comptées."
    )
    campaigns = serializers.IntegerField()
    finished = serializers.IntegerField(
        help_text="Autres structures de la région ayant terminé une campagne."
    )
    waiting = serializers.IntegerField(
        help_text="Structures dont les dernières campagnes attendent d'être au moins 5 pour être "
        "comptées (aucune ne peut être isolée par différence)."
    )
    raw = FunnelSerializer(allow_null=True)
    filtered = FunnelSerializer(allow_null=True)


class BucketSerializer(serializers.Serializer):
    label = serializers.CharField(help_text="Jour (ou heure), heure de Paris.")
    raw = serializers.DictField(child=serializers.IntegerField())
    filtered = serializers.DictField(child=serializers.IntegerField())


class TimelineSerializer(serializers.Serializer):
    hourly = serializers.BooleanField()
    truncated = serializers.BooleanField()
    buckets = BucketSerializer(many=True)


@extend_schema_field(OpenApiTypes.INT)
class SecondsField(serializers.Field):
    """A duration in whole seconds (null when there is none)."""

    def to_representation(self, value):
        return int(value.total_seconds())


class ResultsSerializer(serializers.Serializer):
    campaign = serializers.IntegerField(source="campaign.pk")
    raw = FunnelSerializer()
    filtered = FunnelSerializer()
    departments = DepartmentSerializer(many=True)
    others = DepartmentSerializer(
        allow_null=True, help_text="Les services de moins de 5 personnes, réunis (jamais seuls)."
    )
    departments_hidden = serializers.BooleanField(
        help_text="Vrai quand la campagne compte moins de 5 personnes : aucun détail par service."
    )
    first_sent = serializers.DateTimeField(allow_null=True)
    time_to_first_report_s = SecondsField(
        source="time_to_first_report",
        allow_null=True,
        help_text="Du premier envoi au premier signalement, en secondes (null : aucun).",
    )
    time_to_first_report_filtered_s = SecondsField(
        source="time_to_first_report_filtered",
        allow_null=True,
        help_text="Le même délai, sans les signalements attribués à des robots.",
    )
    timeline = TimelineSerializer()
    region = RegionComparisonSerializer()


# --- Views ----------------------------------------------------------------------------------------


class CampaignFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=CampaignStatus.choices)
    mode = filters.ChoiceFilter(choices=CampaignMode.choices)
    organisation = filters.NumberFilter(field_name="organisation_id")

    class Meta:
        model = Campaign
        fields = ["status", "mode", "organisation"]


def _with_progress(campaign: Campaign) -> Campaign:
    counts = campaign.recipients.aggregate(
        recipients=Count("pk"),
        pending=Count("pk", filter=Q(send_status=SendStatus.PENDING)),
        sent=Count("pk", filter=Q(send_status=SendStatus.SENT)),
        failed=Count("pk", filter=Q(send_status=SendStatus.FAILED)),
    )
    campaign.api_progress = counts
    return campaign


@extend_schema_view(
    list=extend_schema(
        summary="Campagnes d'hameçonnage simulé",
        description="Les campagnes visant vos établissements et celles que votre CRRC mène "
        "sous mandat, les plus récentes d'abord.",
        responses={200: CampaignSerializer(many=True), **errors(401, 403)},
    ),
    retrieve=extend_schema(
        summary="Une campagne, avec l'avancement des envois",
        responses={200: CampaignDetailSerializer, **errors(401, 403, 404)},
    ),
)
@extend_schema(tags=[TAG])
class CampaignViewSet(
    ApiViewMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = CampaignSerializer
    filterset_class = CampaignFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema: the model, no data
            return selectors.no_campaigns()
        selectors.require_phishing_user(self.request.user)
        return selectors.campaigns_visible_to(self.request.user).order_by("-created_at", "-pk")

    def _campaign(self, pk) -> Campaign:
        return selectors.get_campaign(self.request.user, pk)

    def _detail(self, pk) -> Response:
        return Response(CampaignDetailSerializer(_with_progress(self._campaign(pk))).data)

    def retrieve(self, request, *args, **kwargs):
        return self._detail(kwargs["pk"])

    @extend_schema(
        summary="Résultats d'une campagne",
        description="Les chiffres de la page de résultats : entonnoir brut et hors robots, par "
        "service (les services de moins de 5 personnes réunis), délai du premier signalement, "
        "activité dans le temps, comparaison avec la région.",
        responses={200: ResultsSerializer, **errors(401, 403, 404)},
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def results(self, request, pk=None):
        campaign = self._campaign(pk)
        results.results_access(request.user, campaign)
        return Response(ResultsSerializer(results.campaign_results(campaign)).data)

    def _control(self, request, pk, service) -> Response:
        campaign = self._campaign(pk)
        service(actor=request.user, campaign=campaign)
        return self._detail(campaign.pk)  # read again: the new status

    @extend_schema(
        summary="Mettre en pause les envois",
        description="Plus aucun message ne part jusqu'à la reprise. " + CONTROL_CODES,
        request=None,
        responses={200: CampaignDetailSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def pause(self, request, pk=None):
        return self._control(request, pk, sending.campaign_pause)

    @extend_schema(
        summary="Reprendre les envois",
        description="Les envois continuent là où ils s'étaient arrêtés. " + CONTROL_CODES,
        request=None,
        responses={200: CampaignDetailSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def resume(self, request, pk=None):
        return self._control(request, pk, sending.campaign_resume)

    @extend_schema(
        summary="Envoyer maintenant ce qui reste",
        description="Les messages restants partent dès maintenant, au débit du profil d'envoi "
        "(l'étalement et la plage horaire sont mis de côté). " + CONTROL_CODES,
        request=None,
        responses={200: CampaignDetailSerializer, **errors(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"], url_path="send-now", filter_backends=[])
    def send_now(self, request, pk=None):
        return self._control(request, pk, sending.campaign_send_now)
