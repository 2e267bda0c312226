"""The XLSX export of the coverage: the organisations list with the CSV's filters, and the
breakdown by département, category and GHT; the same refusals as the pages."""

from __future__ import annotations

import io

import pytest
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from rempart.exercises.models import Function

from .factories import ScenarioFactory, add_player, exercises_world, run_from
from .test_coverage import valid_exercise

pytestmark = pytest.mark.django_db

URL = reverse("exercises:coverage_xlsx")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _book(response):
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    return load_workbook(io.BytesIO(response.content))


def test_xlsx_has_the_list_and_the_breakdown():
    world = exercises_world()
    valid_exercise(world.establishment)
    pending = run_from(ScenarioFactory(title="=cmd|' /C calc'!A0"), world.sibling)
    add_player(pending, Function.IT)
    valid_exercise(world.other_establishment)
    client = client_for(world.ars_manager)

    page = client.get(reverse("exercises:coverage_organisations")).text
    assert URL in page
    assert URL in client.get(reverse("exercises:coverage")).text
    book = _book(client.get(URL))
    organisations, breakdown = book.worksheets
    assert organisations.title == "Établissements"
    rows = list(organisations.iter_rows(values_only=True))
    header = rows[0]
    lines = {row[1]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert set(lines) == {world.establishment.name, world.sibling.name}
    assert lines[world.establishment.name]["Couvert"] == "oui"
    assert lines[world.establishment.name]["Valable jusqu'au"] is not None
    sibling = lines[world.sibling.name]
    assert sibling["Couvert"] == "non"
    assert sibling["Exercice en attente"].startswith("'=")  # never a formula
    assert sibling["Motifs (ne compte pas encore)"]

    table = list(breakdown.iter_rows(values_only=True))
    assert breakdown.title.startswith("Répartition au ")
    assert table[1][:6] == ("Total", "Total", 2, 1, 1, 50.0)
    assert {row[0] for row in table[1:]} == {"Total", "Département", "Catégorie", "GHT"}
    by_category = [row for row in table if row[0] == "Catégorie"]
    assert sum(row[2] for row in by_category) == 2

    # The CSV's filters apply to the list.
    missing = _book(client.get(URL, {"statut": "missing"})).worksheets[0]
    assert [row[1] for row in missing.iter_rows(min_row=2, values_only=True)] == [
        world.sibling.name
    ]


def test_xlsx_refusals_as_the_pages():
    world = exercises_world()
    assert client_for(world.director).get(URL).status_code == 403
    # Another region's ARS gets its own region only.
    valid_exercise(world.establishment)
    book = _book(client_for(world.outsider_ars).get(URL))
    names = [row[1] for row in book.worksheets[0].iter_rows(min_row=2, values_only=True)]
    assert world.establishment.name not in names
