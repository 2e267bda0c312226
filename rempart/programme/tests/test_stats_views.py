"""Statistics pages, exports and API view: who sees them, what they show, what the exports
hold (the XLSX opened with openpyxl) and a fixed number of queries."""

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook
from rest_framework.test import APIRequestFactory, force_authenticate

from rempart.core.roles import OrgKind, Role
from rempart.organisations.tests.factories import OrganisationFactory, RegionFactory, member
from rempart.programme.models import (
    Attainment,
    DeclarationStatus,
    Requirement,
    RequirementKind,
    TargetDeclaration,
)
from rempart.programme.stats_api import CallStatisticsView

from .factories import CallFactory, DomainFactory, application, establishment, ght, legal_entity

pytestmark = pytest.mark.django_db

D = Decimal
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def plain(text: str) -> str:
    return (
        text.replace("\u00a0", " ")
        .replace("\u202f", " ")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
    )


@pytest.fixture
def region():
    return RegionFactory(code="84", name="Auvergne-Rhône-Alpes")


@pytest.fixture
def other_region():
    return RegionFactory(code="11", name="Île-de-France")


@pytest.fixture
def domain():
    domain = DomainFactory(code="D1", title="Annuaires et exposition")
    for position, identifier in enumerate(["D1.O1.A", "D1.O2.B"]):
        Requirement.objects.create(
            domain=domain,
            kind=RequirementKind.TARGET,
            identifier=identifier,
            label=f"Cible {identifier}",
            attainment=Attainment.DECLARED,
            position=position,
        )
    return domain


@pytest.fixture
def world(region, other_region, domain):
    def org(kind, name, where):
        return OrganisationFactory(
            kind=kind, name=name, region=where, departement=None, finess=None, sector=""
        )

    group = ght(region, "GHT Alpes Dauphiné")
    voiron = establishment(region, "CH Voiron", "42000000", ght=group)
    grenoble = establishment(region, "CH Grenoble", "3000000", ght=group)
    tilleuls = legal_entity(region, '=HYPERLINK("http://x")')  # a hostile name
    clinique = establishment(region, "Clinique des Tilleuls", "3000000", legal_entity=tilleuls)
    call = CallFactory(region=region, domain=domain, envelope_eur=D("8100000.00"))
    accepted = application(
        call, group, status="acceptee", requested="623026.24", covered=[voiron, grenoble]
    )
    application(call, tilleuls, status="deposee", ceiling="16100.11", covered=[clinique, voiron])
    target = Requirement.objects.filter(domain=domain, kind=RequirementKind.TARGET).first()
    TargetDeclaration.objects.create(
        application=accepted,
        requirement=target,
        status=DeclarationStatus.VALIDATED,
        declared_at=datetime.datetime(2026, 1, 5, 10, tzinfo=datetime.UTC),
        reviewed_at=datetime.datetime(2026, 1, 6, 10, tzinfo=datetime.UTC),
    )
    other_call = CallFactory(region=other_region, domain=domain)
    return {
        "call": call,
        "other_call": other_call,
        "accepted": accepted,
        "voiron": voiron,
        "ars": org(OrgKind.ARS, "ARS ARA", region),
        "crrc": org(OrgKind.CRRC, "CRRC ARA", region),
        "other_ars": org(OrgKind.ARS, "ARS IDF", other_region),
        "national": org(OrgKind.NATIONAL, "ANS", None),
        "group": group,
    }


@pytest.fixture
def manager(world):
    return member(Role.ARS_MANAGER, world["ars"])


def url(name, call, suffix=""):
    return reverse(f"programme:{name}", args=[call.pk])


# --- Rights -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["call_statistics", "call_statistics_csv", "call_statistics_xlsx"])
def test_who_sees_a_calls_figures(client, world, name):
    call = world["call"]
    allowed = [
        member(Role.ARS_MANAGER, world["ars"]),
        member(Role.CRRC_OPERATOR, world["crrc"]),
        member(Role.NATIONAL_OBSERVER, world["national"]),
    ]
    refused = [
        member(Role.ARS_MANAGER, world["other_ars"]),  # another region
        member(Role.DIRECTOR, world["voiron"]),  # an establishment covered by the call
        member(Role.GHT_COORDINATOR, world["group"]),  # an applicant
    ]
    for user in allowed:
        client.force_login(user)
        assert client.get(url(name, call)).status_code == 200, user
    for user in refused:
        client.force_login(user)
        assert client.get(url(name, call)).status_code == 404, user
    client.force_login(allowed[0])
    assert client.get(reverse(f"programme:{name}", args=[999999])).status_code == 404


def test_anonymous_is_sent_to_login(client, world):
    response = client.get(url("call_statistics", world["call"]))
    assert response.status_code == 302
    assert "login" in response["Location"] or "connexion" in response["Location"]


def test_overview_is_for_region_and_national_roles(client, world):
    client.force_login(member(Role.DIRECTOR, world["voiron"]))
    assert client.get(reverse("programme:statistics")).status_code == 404

    client.force_login(member(Role.ARS_MANAGER, world["ars"]))
    page = plain(client.get(reverse("programme:statistics")).content.decode())
    assert world["call"].title in page
    assert world["other_call"].title not in page
    assert "Appels de votre région" in page

    client.force_login(member(Role.NATIONAL_OBSERVER, world["national"]))
    page = plain(client.get(reverse("programme:statistics")).content.decode())
    assert world["call"].title in page
    assert world["other_call"].title in page
    assert '<h2 class="fr-mt-4w">Auvergne-Rhône-Alpes</h2>' in page
    assert '<h2 class="fr-mt-4w">Île-de-France</h2>' in page
    assert reverse("programme:call_statistics", args=[world["call"].pk]) in page


# --- The page -----------------------------------------------------------------------------------


def test_page_shows_the_figures_charts_and_tables(client, world, manager):
    client.force_login(manager)
    response = client.get(url("call_statistics", world["call"]))
    page = plain(response.content.decode())
    assert "623 026,24 € engagés sur un potentiel de 639 126,35 €" in page
    assert "3 établissements couverts par 2 dossiers déposés" in page
    assert "319 563,18 €" in page  # mean of the two ceilings: 639 126,35 / 2 = 319 563,175
    assert "16 100,11 €" in page
    assert "623 026,24 €" in page
    # Charts: server-side SVG, each with a title, followed by its data table.
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" viewBox') == 6
    assert '<title id="chart-statuses-title">Dossiers par statut</title>' in page
    assert "<caption>Dossiers par statut</caption>" in page
    assert "<caption>Déclarations par cible, parmi les dossiers acceptés</caption>" in page
    assert "D1.O1.A" in page
    assert "100,0 %" in page
    # Strict CSP: no inline style, no inline handler.
    assert "style=" not in page
    assert "onclick" not in page
    assert url("call_statistics_csv", world["call"]) in page
    assert url("call_statistics_xlsx", world["call"]) in page


def _populate(call, region, size):
    for index in range(size):
        org = legal_entity(region, f"Entité {index}")
        et = establishment(region, f"ET {index}", "1000000")
        status = ["acceptee", "deposee", "rejetee"][index % 3]
        application(call, org, status=status, covered=[et])


def test_page_runs_a_fixed_number_of_queries(client, region, domain, manager):
    small, large = (CallFactory(region=region, domain=domain) for _ in range(2))
    _populate(small, region, 1)
    _populate(large, region, 15)
    client.force_login(manager)
    client.get(url("call_statistics", small))  # warm the session
    counts = []
    for call in (small, large):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url("call_statistics", call)).status_code == 200
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1]


# --- Exports ----------------------------------------------------------------------------------


def money(value) -> Decimal:
    return D(str(value))


def _csv_rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:]), delimiter=";"))


def test_csv_holds_every_figure(client, world, manager):
    client.force_login(manager)
    response = client.get(url("call_statistics_csv", world["call"]))
    assert response["Content-Type"].startswith("text/csv")
    assert f"statistiques-d1-84-{world['call'].pk}.csv" in response["Content-Disposition"]
    rows = _csv_rows(response)
    assert rows[0] == ["Rubrique", "Indicateur", "Valeur", "Unité"]
    values = {(row[0], row[1]): (row[2], row[3]) for row in rows[1:]}
    assert values[("Synthèse", "Dossiers déposés (hors brouillons)")] == ("2", "dossiers")
    assert values[("Synthèse", "Établissements couverts par les dossiers déposés")] == (
        "3",
        "établissements",
    )
    assert values[("Synthèse", "Potentiel (plafonds des dossiers déposés)")] == ("639126,35", "€")
    assert values[("Synthèse", "Engagé / enveloppe")] == ("7,7", "%")
    assert values[("Montants", "Plafonds des dossiers déposés — moyenne")] == ("319563,18", "€")
    assert values[("Montants", "Plafonds des dossiers déposés — médiane")] == ("319563,18", "€")
    assert values[("Montants", "Montants engagés des dossiers acceptés — nombre")] == (
        "1",
        "dossiers",
    )
    assert values[("Cibles", "D1.O1.A — validées")] == ("1", "dossiers")
    assert values[("Cibles", "D1.O2.B — taux d'atteinte")] == ("0,0", "%")
    assert values[("Calendrier", "janvier 2026 — déclarations de cibles")] == ("1", "déclarations")


def test_xlsx_has_one_sheet_per_block_and_is_formula_safe(client, world, manager):
    client.force_login(manager)
    response = client.get(url("call_statistics_xlsx", world["call"]))
    assert response["Content-Type"] == XLSX
    assert f"statistiques-d1-84-{world['call'].pk}.xlsx" in response["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Synthèse", "Montants", "Dossiers", "Cibles", "Calendrier"]

    synthesis = {row[0]: row[1] for row in book["Synthèse"].iter_rows(min_row=2, values_only=True)}
    # XLSX numbers are read back as floats: compare their exact text.
    assert synthesis["Appel"] == world["call"].title
    assert synthesis["Dossiers déposés (hors brouillons)"] == 2
    assert money(synthesis["Engagé (dossiers acceptés)"]) == D("623026.24")
    engaged_row = next(
        row for row in book["Synthèse"].iter_rows() if row[0].value == "Engagé (dossiers acceptés)"
    )
    assert engaged_row[1].number_format == '#,##0.00 "€"'

    amounts = list(book["Montants"].iter_rows(values_only=True))
    assert amounts[0] == (
        "Indicateur",
        "Plafonds des dossiers déposés",
        "Montants engagés des dossiers acceptés",
    )
    assert amounts[1] == ("Nombre", 2, 1)
    assert [money(v) for v in amounts[3][1:]] == [D("319563.18"), D("623026.24")]
    assert [money(v) for v in amounts[4][1:]] == [D("319563.18"), D("623026.24")]

    files = list(book["Dossiers"].iter_rows(values_only=True))
    assert files[0][:3] == ("Candidat", "FINESS", "Statut")
    by_name = {row[0]: row for row in files[1:]}
    hostile = by_name['=HYPERLINK("http://x")']
    assert hostile[2] == "Déposée"
    assert money(hostile[3]) == D("16100.11")
    assert hostile[4] is None
    assert hostile[5] == 2
    ght_row = by_name["GHT Alpes Dauphiné"]
    assert (ght_row[2], money(ght_row[3]), money(ght_row[4]), ght_row[5]) == (
        "Acceptée",
        D("623026.24"),
        D("623026.24"),
        2,
    )
    assert isinstance(ght_row[6], datetime.datetime)  # a date cell
    # The hostile name is a text cell, never a formula.
    cell = next(c for c in book["Dossiers"]["A"] if c.value == '=HYPERLINK("http://x")')
    assert cell.data_type == "s"
    assert cell.quotePrefix

    targets = list(book["Cibles"].iter_rows(values_only=True))
    assert targets[1][:5] == ("D1.O1.A", "Cible D1.O1.A", 1, 0, 1)
    assert money(targets[1][7]) == D("100.0")
    calendar = list(book["Calendrier"].iter_rows(values_only=True))
    assert calendar[0][0] == "Mois"
    assert ("janvier 2026", 0, 0, 0, 0, 1) in calendar


# --- API view (registered by the lead at calls/<int:pk>/statistics/) ---------------------------


def _api_get(user, call_pk):
    request = APIRequestFactory().get(f"/api/v1/calls/{call_pk}/statistics/")
    force_authenticate(request, user=user)
    return CallStatisticsView.as_view()(request, pk=call_pk)


def test_api_returns_the_same_figures(world, manager):
    response = _api_get(manager, world["call"].pk)
    assert response.status_code == 200
    body = response.data
    assert body["filed"] == 2
    assert body["establishments_covered"] == 3
    assert body["ceilings"]["mean"] == "319563.18"
    assert body["engaged"]["total"] == "623026.24"
    assert body["envelope"]["remaining"] == "7476973.76"
    assert body["attainment"] == {
        "accepted": 1,
        "targets": 2,
        "full": 0,
        "partial": 1,
        "none": 0,
        "full_percent": "0.0",
    }


def test_api_hides_figures_outside_the_users_scope(world):
    for user in (
        member(Role.DIRECTOR, world["voiron"]),
        member(Role.ARS_MANAGER, world["other_ars"]),
    ):
        response = _api_get(user, world["call"].pk)
        assert response.status_code == 404
        assert "message" in response.data["error"]
    assert (
        _api_get(member(Role.NATIONAL_OBSERVER, world["national"]), world["call"].pk).status_code
        == 200
    )


def test_a_call_without_files_shows_empty_figures(client, region, manager):
    empty = CallFactory(region=region, domain=DomainFactory(code="D9", title="Sans cible"))
    client.force_login(manager)
    page = plain(client.get(url("call_statistics", empty)).content.decode())
    assert "0,00 € engagés sur un potentiel de 0,00 €" in page
    assert "Aucun dossier déposé." in page
    assert "Le domaine de cet appel n'a pas de cible enregistrée." in page
    rows = _csv_rows(client.get(url("call_statistics_csv", empty)))
    values = {(row[0], row[1]): row[2] for row in rows[1:]}
    assert values[("Montants", "Plafonds des dossiers déposés — moyenne")] == ""
    assert values[("Synthèse", "Engagé / enveloppe")] == "0,0"
    book = load_workbook(io.BytesIO(client.get(url("call_statistics_xlsx", empty)).content))
    assert list(book["Dossiers"].iter_rows(values_only=True))[1:] == []


def test_api_view_documents_its_answer():
    from django.urls import path
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    generator = SchemaGenerator(
        patterns=[path("api/v1/calls/<int:pk>/statistics/", CallStatisticsView.as_view())]
    )
    schema = generator.get_schema(request=None, public=True)
    validate_schema(schema)
    operation = schema["paths"]["/api/v1/calls/{id}/statistics/"]["get"]
    assert set(operation["responses"]) == {"200", "401", "403", "404"}
    body = schema["components"]["schemas"]["CallStatistics"]
    assert {"ceilings", "engaged", "envelope", "attainment", "months"} <= set(body["properties"])
