"""REST API: the statistics of one funding call, the same figures as the page and the exports.

Route (registered by config/api_urls.py): `calls/<int:pk>/statistics/`. Like the page, a call
outside the user's regions, or a call whose figures the user may not see (establishment,
legal entity and GHT people), answers 404.
"""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from rempart.core.api_auth import HasApiAccess
from rempart.organisations.api import errors

from . import perms, selectors, stats

MONEY = {"help_text": "Montant en euros, au centime, en chaîne (« 62067.28 »)."}


def _money(**extra):
    return serializers.CharField(**{**MONEY, **extra})


def _percent(help_text: str):
    return serializers.CharField(allow_null=True, help_text=f"{help_text} En %, à 0,1 près.")


class StatisticsCallSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    region = serializers.CharField(help_text="Code INSEE de la région.")
    domain = serializers.CharField(help_text="Code du domaine CaRE (D1, D2…).")


class StatusCountSerializer(serializers.Serializer):
    status = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()


class AmountStatsSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    total = _money()
    mean = _money(
        allow_null=True, help_text="Somme / nombre, arrondie au centime (demi-centime au-dessus)."
    )
    median = _money(
        allow_null=True,
        help_text="Nombre pair : moyenne des deux montants du milieu, arrondie au centime.",
    )
    minimum = _money(allow_null=True)
    maximum = _money(allow_null=True)


class EnvelopeSerializer(serializers.Serializer):
    envelope = _money()
    potential = _money(help_text="Somme des plafonds des dossiers déposés.")
    engaged = _money(help_text="Somme des montants engagés des dossiers acceptés.")
    remaining = _money(help_text="Enveloppe − engagé.")
    engaged_percent = _percent("Engagé / enveloppe.")
    potential_percent = _percent("Potentiel / enveloppe.")
    engaged_of_potential_percent = _percent("Engagé / potentiel.")
    headline = serializers.CharField()


class TargetStatsSerializer(serializers.Serializer):
    requirement_id = serializers.IntegerField()
    identifier = serializers.CharField()
    label = serializers.CharField()
    accepted = serializers.IntegerField()
    declared = serializers.IntegerField(help_text="Déclarées, en attente de vérification.")
    validated = serializers.IntegerField()
    refused = serializers.IntegerField()
    not_declared = serializers.IntegerField()
    rate = _percent("Validées / dossiers acceptés.")


class AttainmentSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    targets = serializers.IntegerField()
    full = serializers.IntegerField(
        help_text="Dossiers acceptés dont toutes les cibles sont validées."
    )
    partial = serializers.IntegerField()
    none = serializers.IntegerField()
    full_percent = _percent("Atteinte complète / dossiers acceptés.")


class PaymentStatusSerializer(serializers.Serializer):
    status = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()
    requested = _money()
    paid = _money()


class PaymentsSerializer(serializers.Serializer):
    by_status = PaymentStatusSerializer(many=True)
    count = serializers.IntegerField()
    requested_total = _money()
    paid_total = _money()


class ReportsSerializer(serializers.Serializer):
    by_status = StatusCountSerializer(many=True)
    filed = serializers.IntegerField()
    eligible_costs_total = _money()
    amount_due_total = _money()
    to_recover_total = _money()
    balance_due_total = _money()


class MonthCountSerializer(serializers.Serializer):
    month = serializers.DateField(help_text="Premier jour du mois (heure de Paris).")
    count = serializers.IntegerField()


class MonthDecisionsSerializer(MonthCountSerializer):
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()


class MonthsSerializer(serializers.Serializer):
    submitted = MonthCountSerializer(many=True)
    decisions = MonthDecisionsSerializer(many=True)
    declarations = MonthCountSerializer(many=True)


class CallStatisticsSerializer(serializers.Serializer):
    call = StatisticsCallSerializer()
    computed_at = serializers.DateTimeField()
    statuses = StatusCountSerializer(many=True)
    total_files = serializers.IntegerField()
    filed = serializers.IntegerField(help_text="Dossiers sortis du brouillon.")
    establishments_covered = serializers.IntegerField(
        help_text="Établissements distincts couverts par au moins un dossier déposé."
    )
    establishments_covered_accepted = serializers.IntegerField()
    ceilings = AmountStatsSerializer(help_text="Plafonds des dossiers déposés.")
    engaged = AmountStatsSerializer(help_text="Montants engagés des dossiers acceptés.")
    envelope = EnvelopeSerializer()
    targets = TargetStatsSerializer(many=True)
    attainment = AttainmentSerializer()
    payments = PaymentsSerializer()
    reports = ReportsSerializer()
    months = MonthsSerializer()


class CallStatisticsView(APIView):
    """The statistics of one call (region-wide and national roles)."""

    permission_classes = [HasApiAccess]
    throttle_classes = [UserRateThrottle]

    @extend_schema(
        summary="Statistiques d'un appel",
        description=(
            "Dossiers par statut, établissements couverts, montants (plafonds et engagés : "
            "nombre, somme, moyenne, médiane, minimum, maximum au centime), enveloppe, atteinte "
            "des cibles, paiements, bilans et calendrier. Réservé aux rôles régionaux (ARS, "
            "CRRC) et nationaux : 404 pour les autres."
        ),
        tags=["Programme CaRE"],
        responses={200: CallStatisticsSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, pk: int):
        call = selectors.get_visible_call(request.user, pk)
        if not perms.sees_all_applicants(request.user, call):
            raise Http404("Statistiques indisponibles pour votre rôle.")
        return Response(stats.call_statistics(call).as_dict())
