"""Regional incident figures: hand-computed medians and 90th percentiles, what is left out,
who sees which region, the CSV export and a fixed number of queries."""

import csv
import datetime
import io
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from rempart.core.roles import OrgKind, Role
from rempart.incidents import stats
from rempart.incidents.models import (
    CaseOutcome,
    CaseState,
    CertSanteDeclaration,
    DeclarationStatus,
    IncidentType,
)
from rempart.organisations.models import Organisation
from rempart.organisations.tests.factories import OrganisationFactory, member
from rempart.programme.tests.factories import ehpad_category, establishment

from .factories import incident_world, make_alert, make_case

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
T0 = datetime.datetime(2025, 3, 10, 9, 0, tzinfo=PARIS)
MIN = datetime.timedelta(minutes=1)


def plain(text: str) -> str:
    return text.replace("\u00a0", " ").replace("&#x27;", "'").replace("&#39;", "'")


@pytest.fixture
def world():
    return incident_world()


def _alert(world, *, at=T0, ack=None, qualify=None, **fields):
    return make_alert(
        world,
        received_at=at,
        acknowledged_at=at + ack * MIN if ack is not None else None,
        qualified_at=at + qualify * MIN if qualify is not None else None,
        **fields,
    )


def _declare(case, minutes: int):
    CertSanteDeclaration.objects.create(
        case=case,
        structure_name=case.organisation.name,
        prepared_at=case.reported_at,
        status=DeclarationStatus.FILED,
        filed_at=case.reported_at + minutes * MIN,
        filed_reference=f"SIG-{case.pk}",
    )


@pytest.fixture
def figures_world(world):
    """Region A in 2025: five alerts acknowledged after 2, 4, 6, 10 and 30 min, four of them
    qualified after 20, 40, 60 and 200 min; one incomplete; a duplicate, a test alert, an alert
    of 2024 and one of region B that never count. Three cases: declared after 30 min and 3 h,
    resolved after 2 h and 1 day."""
    ehpad = establishment(world.region, "EHPAD Les Glycines", category=ehpad_category(), sector="")
    first = _alert(world, ack=2, qualify=20)
    _alert(world, at=T0 + datetime.timedelta(days=1), ack=4, qualify=40)
    _alert(
        world,
        at=datetime.datetime(2025, 7, 1, 2, 0, tzinfo=PARIS),
        ack=6,
        qualify=60,
        organisation=world.neighbour,
        incident_type=IncidentType.PHISHING,
    )
    _alert(
        world,
        at=datetime.datetime(2025, 7, 20, 23, 30, tzinfo=PARIS),
        ack=10,
        qualify=200,
        organisation=ehpad,
        incident_type=IncidentType.PHISHING,
    )
    _alert(
        world,
        at=datetime.datetime(2025, 12, 31, 23, 50, tzinfo=PARIS),
        ack=30,
        incident_type="",
        missing_fields=["incident_type"],
    )
    # Never counted as alerts received:
    _alert(world, at=T0 + 3 * MIN, ack=1, qualify=1, duplicate_of=first)  # a duplicate
    _alert(world, at=T0 + 5 * MIN, ack=1, qualify=1, is_test=True)  # the chain test
    _alert(world, at=datetime.datetime(2024, 12, 31, 23, 0, tzinfo=PARIS), ack=1)  # last year
    outsider_site = Organisation.objects.get(name="Hôpital d'ailleurs")
    make_alert(
        world,
        region=outsider_site.region,
        organisation=outsider_site,
        crrc=None,
        received_at=T0,
        acknowledged_at=T0 + MIN,
    )

    closed = T0 + datetime.timedelta(days=2)
    declared_fast = make_case(
        world,
        number=1,
        reported_at=T0,
        opened_at=T0,
        resolved_at=T0 + 120 * MIN,
        state=CaseState.CLOSED,
        closed_at=closed,
        outcome=CaseOutcome.TRUE_POSITIVE_IMPACT,
    )
    _declare(declared_fast, 30)
    declared_slow = make_case(
        world,
        number=2,
        reported_at=T0 + datetime.timedelta(days=5),
        opened_at=T0 + datetime.timedelta(days=5),
        resolved_at=T0 + datetime.timedelta(days=6),
        state=CaseState.CLOSED,
        closed_at=closed + datetime.timedelta(days=5),
        outcome=CaseOutcome.FALSE_POSITIVE,
        organisation=world.neighbour,
        incident_type=IncidentType.PHISHING,
    )
    _declare(declared_slow, 180)
    make_case(
        world,
        number=3,
        reported_at=T0 + datetime.timedelta(days=20),
        opened_at=T0 + datetime.timedelta(days=20),
        state=CaseState.CONTAINMENT,
    )
    # Cases that never count: one opened only from a test alert, one of 2024.
    test_case = make_case(world, number=4, reported_at=T0, opened_at=T0)
    _alert(world, at=T0, is_test=True, case=test_case)
    make_case(
        world,
        number=5,
        year=2024,
        reported_at=datetime.datetime(2024, 6, 1, tzinfo=PARIS),
        opened_at=datetime.datetime(2024, 6, 1, tzinfo=PARIS),
    )
    return world


def _figures(world, **filters):
    values = {"regions": [world.region], "period": stats.Period.year(2025), **filters}
    return stats.incident_figures(stats.Filters(**values))


def _timing(figures, key):
    return next(t for t in figures.timings if t.key == key)


# --- Numbers --------------------------------------------------------------------------------------


def test_median_and_nearest_rank_percentile():
    assert stats.median([]) is None
    assert stats.median([7]) == 7
    assert stats.median([30, 2, 10, 4, 6]) == 6
    assert stats.median([200, 20, 60, 40]) == 50
    assert stats.percentile([30, 2, 10, 4, 6], 90) == 30  # rank ceil(4.5) = 5
    assert stats.percentile([20, 40, 60, 200], 90) == 200  # rank ceil(3.6) = 4
    assert stats.percentile(list(range(1, 21)), 90) == 18  # rank 18 of 20
    assert stats.percentile([5], 90) == 5
    assert stats.percentile([], 90) is None


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, "—"),
        (45, "45 s"),
        (240, "4 min"),
        (3599, "1 h"),
        (2 * 3600 + 15 * 60, "2 h 15"),
        (2 * 3600 + 5 * 60 + 10, "2 h 05"),
        (24 * 3600, "1 j"),
        (3 * 86400 + 4 * 3600 + 10 * 60, "3 j 4 h"),
        (86400 + 23 * 3600 + 50 * 60, "2 j"),
    ],
)
def test_durations_in_french(seconds, shown):
    assert stats.format_duration(seconds).replace("\u00a0", " ") == shown


# --- Figures --------------------------------------------------------------------------------------


def test_hand_computed_figures(figures_world):
    world = figures_world
    f = _figures(world)
    assert f.alerts == 5
    assert f.duplicates == 1
    assert f.incomplete == 1
    assert f.incomplete_share == 20.0
    months = {m.month.month: m.count for m in f.months}
    assert len(f.months) == 12
    assert months == {1: 0, 2: 0, 3: 2, 4: 0, 5: 0, 6: 0, 7: 2, 8: 0, 9: 0, 10: 0, 11: 0, 12: 1}
    types = {row.key: row.count for row in f.alert_types}
    assert types[IncidentType.RANSOMWARE] == 2
    assert types[IncidentType.PHISHING] == 2
    assert types[""] == 1  # « type non renseigné »
    assert f.cases == 3
    states = {row.key: row.count for row in f.case_states}
    assert states[CaseState.CLOSED] == 2
    assert states[CaseState.CONTAINMENT] == 1
    outcomes = {row.key: row.count for row in f.case_outcomes}
    assert outcomes == {
        CaseOutcome.UNDETERMINED: 1,
        CaseOutcome.FALSE_POSITIVE: 1,
        CaseOutcome.TRUE_POSITIVE_NO_IMPACT: 0,
        CaseOutcome.TRUE_POSITIVE_IMPACT: 1,
    }
    assert f.organisations == 3  # the hospital, its neighbour, the EHPAD
    assert f.declarations_filed == 2

    acknowledge = _timing(f, "acknowledge")
    assert (acknowledge.median, acknowledge.p90) == (6 * 60, 30 * 60)
    assert (acknowledge.count, acknowledge.pending) == (5, 0)
    assert plain(acknowledge.median_label) == "6 min"
    qualify = _timing(f, "qualify")
    assert (qualify.median, qualify.p90) == (50 * 60, 200 * 60)
    assert (qualify.count, qualify.pending) == (4, 1)
    assert plain(qualify.p90_label) == "3 h 20"
    declare = _timing(f, "declare")
    assert (declare.median, declare.p90) == (105 * 60, 180 * 60)
    assert plain(declare.median_label) == "1 h 45"
    assert declare.pending == 1
    resolve = _timing(f, "resolve")
    assert (resolve.median, resolve.p90) == (780 * 60, 1440 * 60)
    assert (plain(resolve.median_label), plain(resolve.p90_label)) == ("13 h", "1 j")


def test_filters_by_organisation_type_incident_type_and_dates(figures_world):
    world = figures_world
    essms = _figures(world, organisation_type="medico_social")  # through the FINESS category
    assert (essms.alerts, essms.cases) == (1, 0)
    es = _figures(world, organisation_type="sanitaire")
    assert (es.alerts, es.cases) == (4, 3)
    phishing = _figures(world, incident_type=IncidentType.PHISHING)
    assert (phishing.alerts, phishing.cases, phishing.declarations_filed) == (2, 1, 1)
    march = _figures(
        world, period=stats.Period.between(datetime.date(2025, 3, 1), datetime.date(2025, 3, 31))
    )
    assert (march.alerts, march.duplicates, march.cases) == (2, 1, 3)
    assert [m.month.month for m in march.months] == [3]
    # The last evening of the year, in Paris time, belongs to 2025.
    assert _figures(world, period=stats.Period.year(2026)).alerts == 0


# --- Pages ----------------------------------------------------------------------------------------


def test_only_stats_roles_see_the_figures(client, figures_world):
    world = figures_world
    for person in (world.rssi, world.director, world.staff, world.oncall, world.provider_expert):
        client.force_login(person)
        response = client.get(reverse("incidents:stats"))
        assert response.status_code == 403, person
        assert "réservés à l'ARS et au CRRC" in plain(response.content.decode())
        assert client.get(reverse("incidents:stats_csv")).status_code == 403
    for person in (world.ars_manager, world.crrc_operator):
        client.force_login(person)
        assert client.get(reverse("incidents:stats"), {"year": 2025}).status_code == 200


def test_a_region_does_not_see_another_regions_figures(client, figures_world):
    world = figures_world
    client.force_login(world.ars_manager)
    page = plain(client.get(reverse("incidents:stats"), {"year": 2025}).content.decode())
    assert "Alertes reçues (hors tests et doublons)</th><td>5</td>" in page
    assert "Autre région" not in page
    other = world.outsider_crrc
    other_region = other.memberships.get().organisation.region
    refused = client.get(reverse("incidents:stats"), {"year": 2025, "region": other_region.pk})
    assert refused.status_code == 400
    assert "Choisissez une région de la liste" in plain(refused.content.decode())

    client.force_login(other)
    page = plain(client.get(reverse("incidents:stats"), {"year": 2025}).content.decode())
    assert "Alertes reçues (hors tests et doublons)</th><td>1</td>" in page

    national = member(
        Role.NATIONAL_OBSERVER, OrganisationFactory(kind=OrgKind.NATIONAL, name="ANS")
    )
    client.force_login(national)
    page = plain(client.get(reverse("incidents:stats"), {"year": 2025}).content.decode())
    assert "Alertes reçues (hors tests et doublons)</th><td>6</td>" in page  # both regions
    assert 'name="region"' in page
    only_a = client.get(reverse("incidents:stats"), {"year": 2025, "region": world.region.pk})
    assert "Alertes reçues (hors tests et doublons)</th><td>5</td>" in plain(
        only_a.content.decode()
    )


def test_page_shows_charts_tables_and_times(client, figures_world):
    client.force_login(figures_world.ars_manager)
    response = client.get(reverse("incidents:stats"), {"year": 2025})
    page = plain(response.content.decode())
    assert page.count("<svg") >= 3
    assert "style=" not in page.split("<main", 1)[1]  # strict CSP: no inline style
    assert "<caption>Alertes reçues par mois</caption>" in page
    assert '<th scope="row">Juillet 2025</th><td>2</td>' in page
    assert "<caption>Délais de réponse : médiane et 90e centile</caption>" in page
    for shown in ("6 min", "30 min", "50 min", "3 h 20", "1 h 45", "3 h", "13 h", "1 j"):
        assert f'<td class="rempart-nowrap">{shown}</td>' in page, shown
    assert "Déclarations déposées à CERT Santé</th><td>2</td>" in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"year": "deux mille"}, "Indiquez une année sur quatre chiffres"),
        ({"year": "3000"}, "pas dans le futur"),
        ({"start": "2025-05-01", "end": "2025-04-01"}, "La date de fin précède"),
        ({"start": "2025-05-01"}, "Indiquez les deux dates"),
        ({"start": "2015-01-01", "end": "2025-01-01"}, "cinq ans au plus"),
        ({"start": "31/31/2025", "end": "2025-01-01"}, "Indiquez une date"),
        ({"organisation_type": "hopital"}, "type de structure de la liste"),
        ({"incident_type": "virus"}, "type d'incident de la liste"),
    ],
)
def test_bad_filters_are_explained(client, world, query, message):
    client.force_login(world.ars_manager)
    response = client.get(reverse("incidents:stats"), query)
    assert response.status_code == 400
    assert message in plain(response.content.decode())
    assert client.get(reverse("incidents:stats_csv"), query).status_code == 400


def test_csv_holds_every_figure(client, figures_world):
    client.force_login(figures_world.crrc_operator)
    response = client.get(reverse("incidents:stats_csv"), {"year": 2025})
    assert response.status_code == 200
    content = b"".join(response.streaming_content).decode()
    assert content.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(content.lstrip("\ufeff")), delimiter=";"))
    assert rows[0] == ["Rubrique", "Indicateur", "Valeur", "Unité"]
    found = {(r[0], r[1]): r[2] for r in rows[1:]}
    assert found[("Filtres", "Période")] == "année 2025"
    assert found[("Alertes", "Alertes reçues (hors tests et doublons)")] == "5"
    assert found[("Alertes", "Doublons rattachés")] == "1"
    assert found[("Alertes", "Part des alertes incomplètes")] == "20,0"
    assert found[("Alertes par mois", "juillet 2025")] == "2"
    assert found[("Dossiers par qualification", "Faux positif")] == "1"
    assert found[("Délais", "Qualification de l'alerte — médiane")] == "50,0"
    assert found[("Délais", "Résolution de l'incident — 90e centile")] == "1440,0"
    assert found[("Déclarations", "Déclarations déposées à CERT Santé")] == "2"
    assert "incidents-20250101-20251231.csv" in response["Content-Disposition"]


def test_page_runs_a_fixed_number_of_queries(client, world):
    def add(count: int, start: int):
        for n in range(count):
            at = T0 + datetime.timedelta(days=n)
            case = make_case(world, number=start + n, reported_at=at, opened_at=at)
            _alert(world, at=at, ack=n + 1, qualify=n + 5, case=case)
            if n % 2:
                _declare(case, 60 + n)

    client.force_login(world.ars_manager)
    add(3, 1)
    client.get(reverse("incidents:stats"), {"year": 2025})  # warm the session
    counts = []
    for extra in (0, 30):
        add(extra, 100)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("incidents:stats"), {"year": 2025}).status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1], counts


# --- API ------------------------------------------------------------------------------------------


def _api_get(user, **query):
    from rest_framework.test import APIRequestFactory, force_authenticate

    from rempart.incidents.stats_api import IncidentStatisticsView

    request = APIRequestFactory().get("/api/v1/incidents/statistics/", query)
    force_authenticate(request, user=user)
    return IncidentStatisticsView.as_view()(request)


def test_api_returns_the_same_figures(figures_world):
    response = _api_get(figures_world.ars_manager, year=2025)
    assert response.status_code == 200
    body = response.data
    assert body["alerts"] == 5
    assert body["duplicates"] == 1
    assert body["incomplete_share"] == 20.0
    assert body["filters"]["regions"] == [figures_world.region.code]
    assert body["filters"]["start"] == "2025-01-01"
    timings = {t["key"]: t for t in body["timings"]}
    assert timings["qualify"]["median_seconds"] == 50 * 60
    assert timings["qualify"]["p90_seconds"] == 200 * 60
    assert timings["declare"]["count"] == 2
    assert plain(timings["resolve"]["p90_label"]) == "1 j"


def test_api_refuses_other_roles_and_bad_filters(figures_world):
    refused = _api_get(figures_world.rssi)
    assert refused.status_code == 403
    assert "réservés à l'ARS et au CRRC" in refused.data["error"]["message"]
    invalid = _api_get(figures_world.ars_manager, start="2025-05-01", end="2025-01-01")
    assert invalid.status_code == 400
    assert "La date de fin précède" in invalid.data["error"]["details"]["end"][0]


def test_api_view_documents_its_answer():
    from django.urls import path
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    from rempart.incidents.stats_api import IncidentStatisticsView

    generator = SchemaGenerator(
        patterns=[path("api/v1/incidents/statistics/", IncidentStatisticsView.as_view())]
    )
    schema = generator.get_schema(request=None, public=True)
    validate_schema(schema)
    operation = schema["paths"]["/api/v1/incidents/statistics/"]["get"]
    assert set(operation["responses"]) == {"200", "400", "401", "403"}
    assert {p["name"] for p in operation["parameters"]} >= {"year", "start", "end", "region"}
    body = schema["components"]["schemas"]["IncidentFigures"]
    assert {"alerts", "duplicates", "timings", "case_outcomes"} <= set(body["properties"])
