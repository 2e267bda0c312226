"""The organisation directory: filters, pagination, HTMX swap, scope and query budget."""

from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from rempart.core.roles import OrgKind, Role
from rempart.organisations.models import LegalStatus, Sector

from .factories import (
    CategoryFactory,
    DepartementFactory,
    MembershipFactory,
    OrganisationFactory,
    RegionFactory,
    UserFactory,
    member,
    next_finess,
)

URL = reverse("organisations:directory")
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "directory-results"}


@pytest.fixture
def region(db):
    """A small region where each filter selects a different, known set of organisations."""
    region = RegionFactory(code="84", name="Auvergne-Rhône-Alpes")
    drome = DepartementFactory(code="26", name="Drôme", region=region)
    ardeche = DepartementFactory(code="07", name="Ardèche", region=region)
    ch = CategoryFactory(code="355", label="Centre Hospitalier (C.H.)", sector=Sector.HEALTH)
    clinic = CategoryFactory(
        code="365", label="Établissement de soins pluridisciplinaire", sector=Sector.HEALTH
    )
    ehpad = CategoryFactory(code="500", label="EHPAD", sector=Sector.MEDICO_SOCIAL)

    def org(kind, name, dept=drome, **extra):
        return OrganisationFactory(kind=kind, name=name, region=region, departement=dept, **extra)

    ars = org(OrgKind.ARS, "ARS Auvergne-Rhône-Alpes", commune="Lyon")
    org(OrgKind.CRRC, "CERT Santé AURA", commune="Lyon")
    valence = org(
        OrgKind.ESTABLISHMENT,
        "Centre hospitalier de Valence",
        finess=next_finess("26"),
        category=ch,
        legal_status=LegalStatus.PUBLIC,
        commune="Valence",
    )
    ght_drome = org(OrgKind.GHT, "GHT Drôme Nord", support_establishment=valence, commune="Valence")
    valence.ght = ght_drome
    valence.save()
    ght_ardeche = org(OrgKind.GHT, "GHT Ardèche", dept=ardeche, commune="Privas")
    org(
        OrgKind.ESTABLISHMENT,
        "Hôpital de Romans",
        finess=next_finess("26"),
        category=ch,
        legal_status=LegalStatus.PUBLIC,
        ght=ght_drome,
        commune="Romans-sur-Isère",
    )
    clinique = org(
        OrgKind.ESTABLISHMENT,
        "Clinique du Parc",
        finess=next_finess("07"),
        dept=ardeche,
        category=clinic,
        legal_status=LegalStatus.PRIVATE_FOR_PROFIT,
        ght=ght_ardeche,
        commune="Aubenas",
    )
    org(
        OrgKind.ESTABLISHMENT,
        "EHPAD Les Tilleuls",
        finess=next_finess("07"),
        dept=ardeche,
        category=ehpad,
        sector=Sector.MEDICO_SOCIAL,
        legal_status=LegalStatus.PRIVATE_NON_PROFIT,
        commune="Privas",
    )
    # Another region: never listed.
    other = RegionFactory(code="93", name="Provence-Alpes-Côte d'Azur")
    OrganisationFactory(
        kind=OrgKind.ESTABLISHMENT,
        name="Centre hospitalier de Valence-sur-Mer",
        region=other,
        departement=DepartementFactory(code="13", name="Bouches-du-Rhône", region=other),
        category=ch,
        legal_status=LegalStatus.PUBLIC,
        commune="Marseille",
    )
    manager = member(Role.ARS_MANAGER, ars)
    rssi = member(Role.RSSI, valence)
    MembershipFactory(user=UserFactory(), organisation=clinique, role=Role.DIRECTOR)
    return {
        "region": region,
        "drome": drome,
        "ardeche": ardeche,
        "ars": ars,
        "valence": valence,
        "ght_drome": ght_drome,
        "ght_ardeche": ght_ardeche,
        "clinique": clinique,
        "manager": manager,
        "rssi": rssi,
    }


def names(response) -> set[str]:
    return {org.name for org in response.context["page"].object_list}


def get_as(client, user, params=None, **headers):
    client.force_login(user)
    response = client.get(URL, params or {}, **headers)
    assert response.status_code == 200
    return response


ESTABLISHMENTS = {
    "Centre hospitalier de Valence",
    "Hôpital de Romans",
    "Clinique du Parc",
    "EHPAD Les Tilleuls",
}


def test_ars_manager_sees_the_whole_region_and_nothing_else(client, region):
    response = get_as(client, region["manager"])
    assert names(response) == ESTABLISHMENTS | {
        "ARS Auvergne-Rhône-Alpes",
        "CERT Santé AURA",
        "GHT Drôme Nord",
        "GHT Ardèche",
    }
    assert "Valence-sur-Mer" not in response.content.decode()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "valence"}, {"Centre hospitalier de Valence", "GHT Drôme Nord"}),  # name, or commune
        ({"q": "ROMANS"}, {"Hôpital de Romans"}),  # case does not matter
        ({"q": "aubenas"}, {"Clinique du Parc"}),  # commune only
        ({"q": "  tilleuls "}, {"EHPAD Les Tilleuls"}),  # surrounding spaces ignored
        ({"q": "zzz-nothing"}, set()),
        ({"kind": OrgKind.GHT}, {"GHT Drôme Nord", "GHT Ardèche"}),
        ({"kind": OrgKind.ARS}, {"ARS Auvergne-Rhône-Alpes"}),
        ({"sector": Sector.MEDICO_SOCIAL}, {"EHPAD Les Tilleuls"}),
        ({"legal_status": LegalStatus.PRIVATE_FOR_PROFIT}, {"Clinique du Parc"}),
        (
            {"legal_status": LegalStatus.PUBLIC},
            {"Centre hospitalier de Valence", "Hôpital de Romans"},
        ),
        ({"category": "500"}, {"EHPAD Les Tilleuls"}),
        ({"departement": "07"}, {"Clinique du Parc", "EHPAD Les Tilleuls", "GHT Ardèche"}),
        (
            {"kind": OrgKind.ESTABLISHMENT, "sector": Sector.HEALTH, "departement": "26"},
            {"Centre hospitalier de Valence", "Hôpital de Romans"},
        ),
    ],
)
def test_filters(client, region, params, expected):
    assert names(get_as(client, region["manager"], params)) == expected


def test_filter_by_finess_number_prefix(client, region):
    finess = region["clinique"].finess
    assert names(get_as(client, region["manager"], {"q": finess})) == {"Clinique du Parc"}
    assert "Clinique du Parc" in names(get_as(client, region["manager"], {"q": finess[:6]}))


def test_filter_by_ght(client, region):
    response = get_as(client, region["manager"], {"ght": region["ght_drome"].pk})
    assert names(response) == {"Centre hospitalier de Valence", "Hôpital de Romans"}


def test_filter_without_members(client, region):
    # The ARS (manager), Valence (RSSI) and the clinic (director) have people; the rest none.
    response = get_as(client, region["manager"], {"membres": "aucun"})
    assert names(response) == {
        "CERT Santé AURA",
        "GHT Drôme Nord",
        "GHT Ardèche",
        "Hôpital de Romans",
        "EHPAD Les Tilleuls",
    }


def test_invalid_filters_say_so_and_list_everything(client, region):
    """A GHT of another region (or a made-up value) is not a crash but a French message."""
    response = get_as(client, region["manager"], {"ght": "999999", "kind": "spaceship"})
    assert response.context["form"].errors
    assert "Certains filtres sont invalides" in response.content.decode()
    assert len(names(response)) == 8


@pytest.fixture
def big_region(region):
    """120 more establishments of the ARS manager's region."""
    for i in range(120):
        OrganisationFactory(
            kind=OrgKind.ESTABLISHMENT,
            name=f"Établissement {i:03d}",
            region=region["region"],
            departement=region["drome"],
            finess=next_finess("26"),
            commune="Montélimar",
            ght=region["ght_drome"] if i % 2 else None,
        )
    return region


def test_pagination(client, big_region):
    manager = big_region["manager"]
    first = get_as(client, manager)
    assert first.context["page"].paginator.count == 128
    assert len(first.context["page"].object_list) == 50
    third = get_as(client, manager, {"page": 3})
    assert len(third.context["page"].object_list) == 28
    assert names(first).isdisjoint(names(third))
    # Out of range or nonsense pages give a page, never an error.
    assert get_as(client, manager, {"page": 999}).context["page"].number == 3
    assert get_as(client, manager, {"page": "abc"}).context["page"].number == 1
    # Filters survive the page links.
    filtered = get_as(client, manager, {"q": "Établissement", "page": 2})
    assert filtered.context["page"].paginator.count == 120
    assert "q=%C3%89tablissement" in filtered.context["querystring"]


class _InnerHtml(HTMLParser):
    """The source between the start and end tags of the element with a given id."""

    VOID = {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    }

    def __init__(self, source: str, element_id: str):
        super().__init__(convert_charrefs=False)
        self.source, self.element_id = source, element_id
        self.line_starts = [0]
        for line in source.splitlines(keepends=True):
            self.line_starts.append(self.line_starts[-1] + len(line))
        self.depth, self.start, self.end = 0, None, None
        self.feed(source)

    def _offset(self) -> int:
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def handle_starttag(self, tag, attrs):
        if self.end is not None or tag in self.VOID:
            return
        if self.depth:
            self.depth += 1
        elif dict(attrs).get("id") == self.element_id:
            self.depth = 1
            self.start = self._offset() + len(self.get_starttag_text())

    def handle_endtag(self, tag):
        if self.depth and tag not in self.VOID:
            self.depth -= 1
            if not self.depth:
                self.end = self._offset()

    @property
    def inner(self) -> str:
        assert self.start is not None, f"no element #{self.element_id}"
        assert self.end is not None, f"#{self.element_id} is never closed"
        return self.source[self.start : self.end]


@pytest.mark.parametrize(
    "params", [{}, {"page": 2}, {"q": "Établissement 1", "sector": Sector.HEALTH}, {"ght": "x"}]
)
def test_htmx_swap_equals_reload(client, big_region, params):
    """What HTMX swaps into #directory-results is what a full reload shows there."""
    full = get_as(client, big_region["manager"], params).content.decode()
    partial = get_as(client, big_region["manager"], params, **HTMX)
    assert partial.templates[0].name == "organisations/includes/directory_results.html"
    partial_html = partial.content.decode()
    assert "<html" not in partial_html
    assert " ".join(partial_html.split()) == " ".join(
        _InnerHtml(full, "directory-results").inner.split()
    )


def _directory_queries(client, user, params=None) -> list[str]:
    client.force_login(user)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(URL, params or {})
    assert response.status_code == 200
    return [q["sql"] for q in captured.captured_queries]


@pytest.mark.parametrize(
    "params", [{}, {"page": 2}, {"q": "a", "sector": Sector.HEALTH, "membres": "aucun"}]
)
def test_query_count_does_not_grow_with_rows(client, region, params):
    small = _directory_queries(client, region["manager"], params)
    for i in range(120):
        OrganisationFactory(
            kind=OrgKind.ESTABLISHMENT,
            name=f"Établissement {i:03d}",
            region=region["region"],
            departement=region["drome"] if i % 3 else region["ardeche"],
            finess=next_finess("26"),
            category=region["valence"].category,
            ght=region["ght_ardeche"] if i % 2 else region["ght_drome"],
        )
    big = _directory_queries(client, region["manager"], params)
    assert len(big) == len(small), "the directory makes more queries with more rows:\n" + "\n".join(
        big
    )
    assert len(small) <= 15, "\n".join(small)


def test_rssi_sees_only_their_establishment_and_their_ght(client, region):
    response = get_as(client, region["rssi"])
    assert names(response) == {"Centre hospitalier de Valence", "GHT Drôme Nord"}
    # Their GHT's filter choices do not reveal the other GHT either.
    assert "GHT Ardèche" not in response.content.decode()


def test_learner_has_no_directory(client, region):
    learner = member(Role.STAFF, region["valence"])
    client.force_login(learner)
    assert client.get(URL).status_code == 404
    assert client.get(URL, **HTMX).status_code == 404


def test_anonymous_goes_to_login(client, region):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
