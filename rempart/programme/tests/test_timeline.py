"""The CaRE timeline of an establishment, a legal entity or a GHT: which files it shows
(its own and those covering it, across calls, within the viewer's scope), in which order,
and for whom."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from rempart.core.roles import OrgKind, Role
from rempart.organisations.tests.factories import OrganisationFactory, RegionFactory, member
from rempart.programme import stats
from rempart.programme.models import (
    ApplicantRule,
    ApplicationEvent,
    Attainment,
    DeclarationStatus,
    EventKind,
    FinancialReport,
    PaymentRequest,
    PaymentStatus,
    ReportStatus,
    Requirement,
    RequirementKind,
    TargetDeclaration,
)

from .factories import CallFactory, DomainFactory, application, establishment, ght, legal_entity

pytestmark = pytest.mark.django_db

D = Decimal


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=datetime.UTC)


def event(app, kind, when, message=""):
    created = ApplicationEvent.objects.create(application=app, kind=kind, message=message)
    ApplicationEvent.objects.filter(pk=created.pk).update(at=when)
    return created


def plain(text: str) -> str:
    return text.replace("\u00a0", " ").replace("&#x27;", "'").replace("&#39;", "'")


@pytest.fixture
def region():
    return RegionFactory(code="84", name="Auvergne-Rhône-Alpes")


@pytest.fixture
def world(region):
    other_region = RegionFactory(code="11", name="Île-de-France")
    d1 = DomainFactory(code="D1", title="Annuaires")
    d2 = DomainFactory(code="D2", title="Continuité")
    target = Requirement.objects.create(
        domain=d1,
        kind=RequirementKind.TARGET,
        identifier="D1.O2.B",
        label="Audit de l'annuaire",
        attainment=Attainment.DECLARED,
    )
    group = ght(region, "GHT Alpes Dauphiné")
    entity = legal_entity(region, "Association Les Tilleuls", ght=group)
    voiron = establishment(region, "CH Voiron", "42000000", ght=group)
    clinique = establishment(region, "Clinique des Tilleuls", "3000000", legal_entity=entity)
    elsewhere_entity = legal_entity(region, "Fondation du Parc")
    elsewhere = establishment(region, "EHPAD du Parc", "2000000", legal_entity=elsewhere_entity)
    # D1 opened in 2025; D2 (one file per establishment) opened earlier, in 2024.
    d1_call = CallFactory(region=region, domain=d1, title="CaRE D1 2025")
    d2_call = CallFactory(
        region=region,
        domain=d2,
        title="CaRE D2 2024",
        applicant_rule=ApplicantRule.ESTABLISHMENT,
        application_opens_on=datetime.date(2024, 4, 2),
        application_closes_on=datetime.date(2024, 9, 30),
        declaration_deadline=datetime.date(2025, 6, 30),
        payment_opens_on=datetime.date(2025, 7, 1),
        payment_closes_on=datetime.date(2025, 10, 25),
    )
    ght_file = application(
        d1_call,
        group,
        status="acceptee",
        requested="623026.24",
        covered=[voiron, clinique],
        submitted_at=at(2025, 10, 1, 8),
        decided_at=at(2025, 11, 3, 8),
    )
    own_file = application(
        d2_call, voiron, status="deposee", covered=[voiron], submitted_at=at(2024, 6, 1, 8)
    )
    foreign_file = application(d1_call, elsewhere_entity, status="deposee", covered=[elsewhere])
    event(ght_file, EventKind.CREATED, at(2025, 9, 10, 8))
    event(ght_file, EventKind.SUBMITTED, at(2025, 10, 1, 8), "Dossier complet.")
    event(ght_file, EventKind.ACCEPTED, at(2025, 11, 3, 8), "Montant engagé : 623 026,24 €")
    # Recorded by the services too, but shown from the declaration itself (no duplicate).
    event(ght_file, EventKind.TARGET_DECLARED, at(2026, 1, 5, 8))
    event(own_file, EventKind.SUBMITTED, at(2024, 6, 1, 8))
    event(foreign_file, EventKind.SUBMITTED, at(2025, 10, 2, 8), "Ne doit pas apparaître")
    TargetDeclaration.objects.create(
        application=ght_file,
        requirement=target,
        status=DeclarationStatus.VALIDATED,
        declared_at=at(2026, 1, 5, 8),
        reviewed_at=at(2026, 2, 1, 8),
        review_comment="Rapport ORADAD de niveau 3 reçu.",
    )
    PaymentRequest.objects.create(
        application=ght_file,
        amount_eur=D("623026.24"),
        status=PaymentStatus.PAID,
        bank_account_holder="GHT Alpes Dauphiné",
        requested_at=at(2026, 7, 2, 8),
        decided_at=at(2026, 7, 10, 8),
        paid_eur=D("623026.24"),
        paid_on=datetime.date(2026, 7, 20),
        payment_reference="VIR-2026-001",
    )
    FinancialReport.objects.create(
        application=ght_file,
        status=ReportStatus.FILED,
        filed_at=at(2026, 9, 1, 8),
        eligible_costs_eur=D("700000.00"),
        amount_due_eur=D("623026.24"),
        paid_eur=D("623026.24"),
        to_recover_eur=D("0.00"),
        balance_due_eur=D("0.00"),
    )

    def org(kind, name, where):
        return OrganisationFactory(
            kind=kind, name=name, region=where, departement=None, finess=None, sector=""
        )

    return {
        "group": group,
        "entity": entity,
        "voiron": voiron,
        "clinique": clinique,
        "elsewhere": elsewhere,
        "d1_call": d1_call,
        "d2_call": d2_call,
        "ght_file": ght_file,
        "own_file": own_file,
        "foreign_file": foreign_file,
        "ars": org(OrgKind.ARS, "ARS ARA", region),
        "other_ars": org(OrgKind.ARS, "ARS IDF", other_region),
        "national": org(OrgKind.NATIONAL, "ANS", None),
    }


@pytest.fixture
def manager(world):
    return member(Role.ARS_MANAGER, world["ars"])


def titles(group) -> list[str]:
    return [entry.title for entry in group.entries]


def test_establishment_timeline_groups_its_files_by_call_in_order(world, manager):
    calls = stats.organisation_timeline(manager, world["voiron"])

    # Calls in the order they opened: D2 (2024), then D1 (2025).
    assert [group.call for group in calls] == [world["d2_call"], world["d1_call"]]
    d2, d1 = calls
    assert d2.files == [world["own_file"]]
    assert d1.files == [world["ght_file"]]  # the GHT's file covers it; the foreign one does not
    assert titles(d2) == ["Dossier déposé"]
    assert titles(d1) == [
        "Dossier créé",
        "Dossier déposé",
        "Dossier accepté",
        "Cible D1.O2.B déclarée atteinte",
        "Cible D1.O2.B validée par l'ARS",
        "Paiement demandé",
        "Paiement validé par l'ARS",
        "Paiement versé",
        "Bilan financier déposé",
    ]
    moments = [entry.at for entry in d1.entries]
    assert moments == sorted(moments)
    assert [span["span"].window for span in d1.spans] == ["candidature", "declaration", "paiement"]
    paid = d1.entries[7]
    assert paid.date_only
    assert paid.when == "20 juillet 2026"
    assert "623\u00a0026,24\u00a0€" in paid.detail
    assert "VIR-2026-001" in paid.detail


def test_legal_entity_and_ght_see_the_files_covering_their_establishments(world, manager):
    entity_calls = stats.organisation_timeline(manager, world["entity"])
    assert [(g.call, g.files) for g in entity_calls] == [(world["d1_call"], [world["ght_file"]])]

    ght_calls = stats.organisation_timeline(manager, world["group"])
    assert [(g.call, g.files) for g in ght_calls] == [
        (world["d2_call"], [world["own_file"]]),  # covers a member establishment
        (world["d1_call"], [world["ght_file"]]),  # its own
    ]

    elsewhere = stats.organisation_timeline(manager, world["elsewhere"])
    assert [(g.call, g.files) for g in elsewhere] == [(world["d1_call"], [world["foreign_file"]])]


def test_timeline_runs_a_fixed_number_of_queries(world, manager, region):
    stats.organisation_timeline(manager, world["voiron"])  # loads the memberships once
    with CaptureQueriesContext(connection) as captured:
        stats.organisation_timeline(manager, world["voiron"])
    small = len(captured.captured_queries)
    # More files, events and declarations covering the establishment.
    for index in range(5):
        call = CallFactory(region=region, domain=world["d1_call"].domain)
        entity = legal_entity(region, f"Entité {index}")
        app = application(call, entity, status="acceptee", covered=[world["voiron"]])
        event(app, EventKind.SUBMITTED, at(2025, 10, 1 + index, 8))
        event(app, EventKind.ACCEPTED, at(2025, 11, 1 + index, 8))
    manager = type(manager).objects.get(pk=manager.pk)  # memberships cache reset
    stats.organisation_timeline(manager, world["voiron"])  # loads memberships
    with CaptureQueriesContext(connection) as captured:
        calls = stats.organisation_timeline(manager, world["voiron"])
    assert len(calls) == 7
    assert len(captured.captured_queries) == small == 5


def test_page_lists_the_chronology(client, world, manager):
    client.force_login(manager)
    response = client.get(reverse("programme:organisation_timeline", args=[world["voiron"].pk]))
    assert response.status_code == 200
    page = plain(response.content.decode())
    assert "Parcours CaRE — CH Voiron" in page
    positions = [
        page.index(text)
        for text in (
            "CaRE D2 2024",
            "CaRE D1 2025",
            "Dossier créé",
            "Cible D1.O2.B déclarée atteinte",
            "Paiement versé",
            "Bilan financier déposé",
        )
    ]
    assert positions == sorted(positions)
    assert "Rapport ORADAD de niveau 3 reçu." in page
    assert reverse("programme:application_detail", args=[world["ght_file"].pk]) in page
    assert "Ne doit pas apparaître" not in page
    assert "EHPAD du Parc" not in page
    assert "Fondation du Parc" not in page
    assert "style=" not in page


def test_who_may_open_a_timeline(client, world):
    voiron_url = reverse("programme:organisation_timeline", args=[world["voiron"].pk])
    for user, expected in [
        (member(Role.ARS_MANAGER, world["ars"]), 200),
        (member(Role.NATIONAL_OBSERVER, world["national"]), 200),
        (member(Role.RSSI, world["voiron"]), 200),
        (member(Role.GHT_COORDINATOR, world["group"]), 200),
        (member(Role.ARS_MANAGER, world["other_ars"]), 404),  # another region
        (member(Role.STAFF, world["voiron"]), 404),  # no access to the programme
    ]:
        client.force_login(user)
        assert client.get(voiron_url).status_code == expected, user

    client.force_login(member(Role.ARS_MANAGER, world["ars"]))
    # Only establishments, legal entities and GHT have a timeline; unknown ids are not found.
    for pk in (world["ars"].pk, 999999):
        response = client.get(reverse("programme:organisation_timeline", args=[pk]))
        assert response.status_code == 404


def test_establishment_people_see_only_files_they_may_see(client, world):
    """The RSSI of the clinic sees, on its GHT's timeline, the GHT's file (which covers the
    clinic) but not the file of CH Voiron alone."""
    rssi = member(Role.RSSI, world["clinique"])
    calls = stats.organisation_timeline(rssi, world["group"])
    assert [(g.call, g.files) for g in calls] == [(world["d1_call"], [world["ght_file"]])]
    # And a hospital outside its legal entity and GHT is not found at all.
    client.force_login(rssi)
    response = client.get(reverse("programme:organisation_timeline", args=[world["elsewhere"].pk]))
    assert response.status_code == 404
