"""REST API of the programme: calls and files, scoped like the pages (region A's ARS, CRRC,
GHT and establishment people, a national observer, region B's people as outsiders), writes
through the services with structured errors, and the OpenAPI schema."""

import datetime
import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.urls import reverse
from drf_spectacular.validation import validate_schema

from rempart.core import services as core_services
from rempart.core.models import ApiTokenScope
from rempart.core.roles import OrgKind, Role
from rempart.organisations.tests.factories import OrganisationFactory, RegionFactory, member
from rempart.programme import application_services
from rempart.programme.models import (
    Application,
    ApplicationDocument,
    ApplicationStatus,
    Attainment,
    BudgetLine,
    DeclarationProof,
    DeclarationStatus,
    EventKind,
    PaymentRequest,
    ProofKind,
    Requirement,
    RequirementKind,
    TargetDeclaration,
)
from rempart.programme.windows import paris_today

from .factories import CallFactory, DomainFactory, application, establishment, ght, legal_entity
from .factories import pdf_upload as make_pdf

pytestmark = pytest.mark.django_db

CALLS = "api-v1:call-list"
FILES = "api-v1:application-list"
CANARY = "CANARI-REGION-B"


def call_url(pk) -> str:
    return reverse("api-v1:call-detail", args=[pk])


def file_url(pk, action: str | None = None) -> str:
    if action:
        return reverse(f"api-v1:application-{action}", args=[pk])
    return reverse("api-v1:application-detail", args=[pk])


def token_for(user, scope=ApiTokenScope.READ_WRITE) -> dict[str, str]:
    _token, raw = core_services.api_token_create(actor=user, name="Tests", scope=scope)
    return {"Authorization": f"Token {raw}"}


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert {"code", "message"} <= set(body["error"])
    if code:
        assert body["error"]["code"] == code, body
    return body


def dates_around_today() -> dict:
    """Applications open since ten days, closing in twenty; then the operational phase and
    the payment window."""
    today = paris_today()
    day = datetime.timedelta(days=1)
    return {
        "application_opens_on": today - 10 * day,
        "application_closes_on": today + 20 * day,
        "declaration_deadline": today + 100 * day,
        "payment_opens_on": today + 101 * day,
        "payment_closes_on": today + 200 * day,
    }


class World:
    def __init__(self):
        self.region = RegionFactory(code="84", name="Auvergne-Rhône-Alpes")
        self.region_b = RegionFactory(code="93", name="Provence-Alpes-Côte d'Azur")
        self.domain = DomainFactory(code="D2", title="Continuité et reprise d'activité")
        self.prerequisite = Requirement.objects.create(
            domain=self.domain,
            kind=RequirementKind.PREREQUISITE,
            identifier="D2.P1",
            label="Organisation projet",
            attainment=Attainment.DECLARED,
        )
        self.target = Requirement.objects.create(
            domain=self.domain,
            kind=RequirementKind.TARGET,
            identifier="D2.C1",
            label="Test de restauration",
            attainment=Attainment.DECLARED,
        )
        # Region A.
        self.ars = OrganisationFactory(
            kind=OrgKind.ARS, name="ARS ARA", region=self.region, finess=None, sector=""
        )
        self.crrc = OrganisationFactory(
            kind=OrgKind.CRRC, name="CRRC ARA", region=self.region, finess=None, sector=""
        )
        self.national = OrganisationFactory(
            kind=OrgKind.NATIONAL,
            name="ANS",
            region=None,
            departement=None,
            finess=None,
            sector="",
        )
        self.ght = ght(self.region, "GHT Alpes Dauphiné")
        self.voiron = establishment(self.region, "CH Voiron", "42000000", ght=self.ght)
        self.grenoble = establishment(self.region, "CH Grenoble", "3000000", ght=self.ght)
        self.tilleuls = legal_entity(self.region, "Association Les Tilleuls")
        self.clinique = establishment(
            self.region, "Clinique des Tilleuls", "3000000", legal_entity=self.tilleuls
        )
        self.call = CallFactory(
            region=self.region,
            domain=self.domain,
            title="CaRE D2 ARA",
            envelope_eur=Decimal("100000.00"),
            **dates_around_today(),
        )
        # Region B, whose every name carries the canary.
        self.ars_b = OrganisationFactory(
            kind=OrgKind.ARS, name=f"ARS {CANARY}", region=self.region_b, finess=None, sector=""
        )
        self.hospital_b = establishment(self.region_b, f"CH {CANARY}", "3000000")
        self.call_b = CallFactory(
            region=self.region_b,
            domain=self.domain,
            title=f"Appel {CANARY}",
            **dates_around_today(),
        )
        # Files: the GHT's (submitted), one of region B.
        self.ght_file = application(
            self.call, self.ght, requested="15000.00", covered=[self.voiron, self.grenoble]
        )
        self.file_b = application(
            self.call_b,
            self.hospital_b,
            requested="15000.00",
            covered=[self.hospital_b],
            project_lead=f"Chef {CANARY}",
        )
        # People.
        self.manager = member(Role.ARS_MANAGER, self.ars, email="ars@ars.fr")
        self.crrc_operator = member(Role.CRRC_OPERATOR, self.crrc, email="crrc@crrc.fr")
        self.observer = member(Role.NATIONAL_OBSERVER, self.national, email="obs@ans.fr")
        self.coordinator = member(Role.GHT_COORDINATOR, self.ght, email="coord@ght.fr")
        self.rssi_voiron = member(Role.RSSI, self.voiron, email="rssi@voiron.fr")
        self.director_clinique = member(Role.DIRECTOR, self.clinique, email="dir@clinique.fr")
        self.staff = member(Role.STAFF, self.voiron, email="agent@voiron.fr")
        self.manager_b = member(Role.ARS_MANAGER, self.ars_b, email="ars@ars-b.fr")
        self.rssi_b = member(Role.RSSI, self.hospital_b, email="rssi@ch-b.fr")

    def clinique_draft(self, **extra) -> Application:
        """The legal entity's file for its clinic: complete, in draft, with the signed letter."""
        draft = application(
            self.call,
            self.tilleuls,
            status=ApplicationStatus.DRAFT,
            requested="15000.00",
            covered=[self.clinique],
            **extra,
        )
        application_services.document_add(
            actor=self.director_clinique,
            application=draft,
            part="lettre_engagement",
            upload=make_pdf(),
        )
        return draft


@pytest.fixture
def world():
    return World()


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


# --- Calls ----------------------------------------------------------------------------------------


def test_calls_are_scoped_by_region(client, world):
    assert ids(client.get(reverse(CALLS), headers=token_for(world.manager))) == {world.call.pk}
    assert ids(client.get(reverse(CALLS), headers=token_for(world.rssi_voiron))) == {world.call.pk}
    assert ids(client.get(reverse(CALLS), headers=token_for(world.manager_b))) == {world.call_b.pk}
    assert ids(client.get(reverse(CALLS), headers=token_for(world.observer))) == {
        world.call.pk,
        world.call_b.pk,
    }
    response = client.get(call_url(world.call_b.pk), headers=token_for(world.manager))
    assert_error(response, 404, "not_found")
    assert CANARY not in response.text


def test_call_list_shows_windows_and_phase(client, world):
    body = client.get(reverse(CALLS), headers=token_for(world.rssi_voiron)).json()
    row = body["results"][0]
    assert row["phase"] == {"code": "candidatures", "label": "Candidatures ouvertes"}
    assert [(w["window"], w["open"]) for w in row["windows"]] == [
        ("candidature", True),
        ("declaration", False),
        ("paiement", False),
    ]
    assert row["windows"][0]["closes_on"] == world.call.application_closes_on.isoformat()
    assert row["envelope_eur"] == "100000.00"
    assert row["domain"] == {"code": "D2", "title": "Continuité et reprise d'activité"}
    assert "envelope" not in row  # the summary is on the detail only


def test_call_list_follows_the_paris_calendar(client, world, monkeypatch):
    """The phase is computed on the day in Paris (frozen here to the day after closing)."""
    after = world.call.application_closes_on + datetime.timedelta(days=1)
    monkeypatch.setattr("rempart.programme.windows.paris_today", lambda: after)
    row = client.get(reverse(CALLS), headers=token_for(world.manager)).json()["results"][0]
    assert row["phase"]["code"] == "operationnelle"
    assert [w["open"] for w in row["windows"]] == [False, True, False]


def test_call_detail_envelope_for_the_region_only(client, world):
    application(world.call, world.tilleuls, status="acceptee", requested="15000.00")
    detail = client.get(call_url(world.call.pk), headers=token_for(world.manager)).json()
    assert detail["envelope"]["envelope_eur"] == "100000.00"
    assert detail["envelope"]["engaged_eur"] == "15000.00"
    assert detail["envelope"]["remaining_eur"] == "85000.00"
    assert detail["envelope"]["accepted"] == 1
    assert detail["ceiling_schedule"][0].startswith("Base de calcul")
    assert detail["eligible_categories"] == []
    crrc = client.get(call_url(world.call.pk), headers=token_for(world.crrc_operator)).json()
    assert crrc["envelope"]["engaged_eur"] == "15000.00"
    # An establishment's people see the call, not the region's commitments.
    rssi = client.get(call_url(world.call.pk), headers=token_for(world.rssi_voiron)).json()
    assert rssi["envelope"] is None
    assert rssi["envelope_eur"] == "100000.00"


def test_calls_filter_by_domain_and_region(client, world):
    auth = token_for(world.observer)
    assert ids(client.get(reverse(CALLS), {"region": "84"}, headers=auth)) == {world.call.pk}
    assert ids(client.get(reverse(CALLS), {"domain": "D9"}, headers=auth)) == set()


# --- Files: reading -------------------------------------------------------------------------------


def test_files_are_scoped(client, world):
    draft = world.clinique_draft()
    everyone_a = {world.ght_file.pk, draft.pk}
    assert ids(client.get(reverse(FILES), headers=token_for(world.manager))) == everyone_a
    assert ids(client.get(reverse(FILES), headers=token_for(world.crrc_operator))) == everyone_a
    assert ids(client.get(reverse(FILES), headers=token_for(world.observer))) == everyone_a | {
        world.file_b.pk
    }
    # The GHT's people and the covered establishment's see the GHT's file only.
    assert ids(client.get(reverse(FILES), headers=token_for(world.coordinator))) == {
        world.ght_file.pk
    }
    assert ids(client.get(reverse(FILES), headers=token_for(world.rssi_voiron))) == {
        world.ght_file.pk
    }
    assert ids(client.get(reverse(FILES), headers=token_for(world.director_clinique))) == {draft.pk}
    outsider = client.get(reverse(FILES), headers=token_for(world.manager_b))
    assert ids(outsider) == {world.file_b.pk}


def test_foreign_file_is_404_without_its_data(client, world):
    for user in (world.manager_b, world.rssi_b):
        auth = token_for(user)
        for url in (
            file_url(world.ght_file.pk),
            file_url(world.ght_file.pk, "comments"),
            file_url(10**9),
        ):
            response = client.get(url, headers=auth)
            assert_error(response, 404, "not_found")
            assert "GHT Alpes" not in response.text
    auth = token_for(world.rssi_voiron)
    response = client.get(file_url(world.file_b.pk), headers=auth)
    assert_error(response, 404, "not_found")
    assert CANARY not in response.text
    # Filtering on a foreign call or applicant finds nothing, rather than an error.
    assert ids(client.get(reverse(FILES), {"call": world.call_b.pk}, headers=auth)) == set()
    assert (
        ids(client.get(reverse(FILES), {"applicant": world.hospital_b.pk}, headers=auth)) == set()
    )


def test_file_filters(client, world):
    draft = world.clinique_draft()
    auth = token_for(world.manager)
    assert ids(client.get(reverse(FILES), {"status": "brouillon"}, headers=auth)) == {draft.pk}
    assert ids(client.get(reverse(FILES), {"status": "deposee"}, headers=auth)) == {
        world.ght_file.pk
    }
    assert ids(client.get(reverse(FILES), {"applicant": world.ght.pk}, headers=auth)) == {
        world.ght_file.pk
    }
    assert ids(client.get(reverse(FILES), {"call": world.call.pk}, headers=auth)) == {
        world.ght_file.pk,
        draft.pk,
    }
    assert_error(client.get(reverse(FILES), {"status": "inconnu"}, headers=auth), 400, "invalid")


def test_file_detail_has_every_part_and_never_a_file_path(client, world):
    file = world.ght_file
    ApplicationDocument.objects.create(
        application=file,
        part="diagnostic",
        file=ContentFile(b"%PDF-1.4\n", name="diag.pdf"),
        original_name="diagnostic.pdf",
        content_type="application/pdf",
        size=9,
        sha256="a" * 64,
    )
    file.status = ApplicationStatus.ACCEPTED
    file.engaged_eur = Decimal("15000.00")
    file.ceiling_steps = ["CH Voiron : 60 000,00 €"]
    file.save()
    declaration = TargetDeclaration.objects.create(
        application=file,
        requirement=world.target,
        status=DeclarationStatus.DECLARED,
        statement="Test réalisé.",
        declared_at=file.submitted_at,
    )
    DeclarationProof.objects.create(
        declaration=declaration,
        kind=ProofKind.FILE,
        file=ContentFile(b"%PDF-1.4\n", name="proof.pdf"),
        original_name="rapport-test.pdf",
        content_type="application/pdf",
        size=9,
        sha256="b" * 64,
    )
    PaymentRequest.objects.create(
        application=file,
        amount_eur=Decimal("15000.00"),
        bank_account_holder="GHT",
        requested_at=file.submitted_at,
    )
    application_services.comment_add(actor=world.manager, application=file, body="Bien reçu.")
    response = client.get(file_url(file.pk), headers=token_for(world.rssi_voiron))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "acceptee"
    assert body["engaged_eur"] == "15000.00"
    assert body["applicant"]["name"] == "GHT Alpes Dauphiné"
    assert {o["name"] for o in body["covered_establishments"]} == {"CH Voiron", "CH Grenoble"}
    assert body["ceiling"] == {
        "amount_eur": "15000.00",
        "steps": ["CH Voiron : 60 000,00 €"],
        "missing": [],
        "frozen": True,
    }
    assert body["budget"] == [
        {
            "category": "conseil",
            "category_label": "Conseil et accompagnement",
            "amount_eur": "15000.00",
            "description": "",
        }
    ]
    assert body["prerequisites"][0]["requirement"]["identifier"] == "D2.P1"
    assert body["prerequisites"][0]["met"] is True
    assert body["documents"][0]["original_name"] == "diagnostic.pdf"
    assert "file" not in body["documents"][0]
    assert body["declarations"][0]["requirement"]["identifier"] == "D2.C1"
    assert body["declarations"][0]["proofs"][0]["original_name"] == "rapport-test.pdf"
    assert "file" not in body["declarations"][0]["proofs"][0]
    assert body["payment"]["status"] == "demande"
    assert body["report"] is None
    assert body["gaps"] == []
    assert body["allowed"] == {"edit": False, "decide": False, "comment": True}
    assert "prive/" not in response.text  # no stored path anywhere
    assert "comments" not in body  # the thread has its own endpoint


def test_draft_detail_shows_live_ceiling_and_gaps(client, world):
    draft = application(
        world.call,
        world.tilleuls,
        status=ApplicationStatus.DRAFT,
        requested="20000.00",
        covered=[world.clinique],
    )
    body = client.get(file_url(draft.pk), headers=token_for(world.director_clinique)).json()
    assert body["ceiling"]["frozen"] is False
    assert body["ceiling"]["amount_eur"] == "15000.00"
    fields = [gap["field"] for gap in body["gaps"]]
    assert "requested_eur" in fields  # above the ceiling
    assert "documents" in fields  # no signed letter
    assert body["allowed"] == {"edit": True, "decide": False, "comment": True}
    manager = client.get(file_url(draft.pk), headers=token_for(world.manager)).json()
    assert manager["allowed"] == {"edit": False, "decide": False, "comment": True}


def test_role_without_api_access_is_refused(client, world):
    """A learner cannot create a token; logged in through the browser, the API refuses them."""
    client.force_login(world.staff)
    for url in (reverse(CALLS), reverse(FILES), file_url(world.ght_file.pk)):
        body = assert_error(client.get(url), 403)
        assert body["error"]["message"] == "Votre rôle ne permet pas d'utiliser l'API."
        assert "GHT Alpes" not in json.dumps(body)


def test_anonymous_is_refused(client, world):
    for url in (reverse(CALLS), reverse(FILES), file_url(world.ght_file.pk)):
        assert_error(client.get(url), 401)
    assert_error(
        client.post(
            reverse(FILES),
            {"call": world.call.pk, "applicant": world.tilleuls.pk},
            content_type="application/json",
        ),
        401,
    )


# --- Files: opening and preparing -----------------------------------------------------------------


def post(client, url, data, auth):
    return client.post(url, data, content_type="application/json", headers=auth)


def patch(client, url, data, auth):
    return client.patch(url, data, content_type="application/json", headers=auth)


def test_open_a_file_in_the_name_of_ones_legal_entity(client, world):
    auth = token_for(world.director_clinique)
    response = post(
        client, reverse(FILES), {"call": world.call.pk, "applicant": world.tilleuls.pk}, auth
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "brouillon"
    assert body["applicant"]["id"] == world.tilleuls.pk
    assert [o["name"] for o in body["covered_establishments"]] == ["Clinique des Tilleuls"]
    assert [p["requirement"]["identifier"] for p in body["prerequisites"]] == ["D2.P1"]
    assert [e["kind"] for e in body["events"]] == [EventKind.CREATED]
    # Only once per call.
    again = post(
        client, reverse(FILES), {"call": world.call.pk, "applicant": world.tilleuls.pk}, auth
    )
    assert_error(again, 400, "already_exists")


def test_open_a_file_refusals(client, world):
    data = {"call": world.call.pk, "applicant": world.tilleuls.pk}
    # The ARS decides, it never applies.
    assert_error(post(client, reverse(FILES), data, token_for(world.manager)), 403, "forbidden")
    # A foreign call or organisation is not found.
    response = post(client, reverse(FILES), data, token_for(world.rssi_b))
    assert_error(response, 404, "not_found")
    response = post(
        client,
        reverse(FILES),
        {"call": world.call_b.pk, "applicant": world.tilleuls.pk},
        token_for(world.director_clinique),
    )
    assert_error(response, 404, "not_found")
    response = post(
        client,
        reverse(FILES),
        {"call": world.call.pk, "applicant": world.hospital_b.pk},
        token_for(world.director_clinique),
    )
    assert_error(response, 404, "not_found")
    assert CANARY not in response.text
    # Bad input.
    body = assert_error(
        post(client, reverse(FILES), {"call": "abc"}, token_for(world.director_clinique)),
        400,
        "invalid",
    )
    assert set(body["error"]["details"]) == {"call", "applicant"}
    body = assert_error(
        post(client, reverse(FILES), {**data, "status": "acceptee"}, token_for(world.coordinator)),
        400,
        "invalid",
    )
    assert "status" in body["error"]["details"]
    # A read-only token never writes.
    read_only = token_for(world.director_clinique, ApiTokenScope.READ)
    assert_error(post(client, reverse(FILES), data, read_only), 403)
    assert not Application.objects.filter(applicant=world.tilleuls).exists()


def test_prepare_a_file(client, world):
    draft = application_services.application_start(
        actor=world.director_clinique, call=world.call, applicant=world.tilleuls
    )
    auth = token_for(world.director_clinique)
    response = patch(
        client,
        file_url(draft.pk),
        {
            "maturity_level": 3,
            "maturity_summary": "Diagnostic fait avec le CRRC.",
            "project_objectives": "Tester la restauration.",
            "project_lead": "Camille Martin",
            "requested_eur": "12000.50",
            "own_funding_eur": 2000,
            "commitment_signatory": "La directrice",
            "commitment_signed_on": paris_today().isoformat(),
            "budget": [
                {"category": "conseil", "amount_eur": "10000.50", "description": "AMOA"},
                {"category": "audits", "amount_eur": "4000.00"},
            ],
            "prerequisites": [
                {"requirement": world.prerequisite.pk, "met": True, "comment": "Fait."}
            ],
        },
        auth,
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["maturity_level"] == 3
    assert body["requested_eur"] == "12000.50"
    assert body["own_funding_eur"] == "2000.00"
    assert [(b["category"], b["amount_eur"]) for b in body["budget"]] == [
        ("audits", "4000.00"),
        ("conseil", "10000.50"),
    ]
    assert body["prerequisites"][0]["met"] is True
    assert [gap["field"] for gap in body["gaps"]] == ["documents"]
    # The budget list replaces the whole budget.
    response = patch(
        client,
        file_url(draft.pk),
        {"budget": [{"category": "audits", "amount_eur": "14000.50"}]},
        auth,
    )
    assert [b["category"] for b in response.json()["budget"]] == ["audits"]
    # A person of the covered establishment's legal entity cannot; neither the CRRC nor the
    # national observer (403), and region B not even sees it (404).
    for user in (world.crrc_operator, world.observer, world.manager):
        assert_error(
            patch(client, file_url(draft.pk), {"project_lead": "X"}, token_for(user)),
            403,
            "forbidden",
        )
    assert_error(
        patch(client, file_url(draft.pk), {"project_lead": "X"}, token_for(world.manager_b)),
        404,
    )
    draft.refresh_from_db()
    assert draft.project_lead == "Camille Martin"


def test_prepare_refuses_bad_input_and_saves_nothing(client, world):
    draft = application_services.application_start(
        actor=world.director_clinique, call=world.call, applicant=world.tilleuls
    )
    auth = token_for(world.director_clinique)
    # A negative amount: the service's French message, on its field; the valid change made in
    # the same request is not kept.
    body = assert_error(
        patch(
            client,
            file_url(draft.pk),
            {"project_lead": "Camille", "budget": [{"category": "conseil", "amount_eur": "-5"}]},
            auth,
        ),
        400,
        "invalid",
    )
    assert "positif" in body["error"]["message"]
    assert "budget_conseil" in body["error"]["details"]
    draft.refresh_from_db()
    assert draft.project_lead == ""
    assert not BudgetLine.objects.filter(application=draft).exists()
    cases = [
        ({"maturity_level": 7}, "maturity_level"),
        ({"requested_eur": "12,5"}, "requested_eur"),
        ({"requested_eur": "1.234"}, "requested_eur"),
        ({"commitment_signed_on": "31/10/2025"}, "commitment_signed_on"),
        ({"budget": [{"category": "voyages", "amount_eur": "1"}]}, "budget"),
        (
            {
                "budget": [
                    {"category": "audits", "amount_eur": "1"},
                    {"category": "audits", "amount_eur": "2"},
                ]
            },
            "budget",
        ),
        ({"budget": [{"category": "audits", "amount_eur": "1", "tva": "x"}]}, "budget"),
        ({"status": "acceptee"}, "status"),
        ({"ceiling_eur": "999999"}, "ceiling_eur"),
        ({}, "non_field_errors"),
    ]
    for data, field in cases:
        body = assert_error(patch(client, file_url(draft.pk), data, auth), 400, "invalid")
        assert field in body["error"]["details"], (data, body)
    # A date in the future and a prerequisite of another domain: the services' refusals.
    tomorrow = (paris_today() + datetime.timedelta(days=1)).isoformat()
    body = assert_error(
        patch(client, file_url(draft.pk), {"commitment_signed_on": tomorrow}, auth), 400, "invalid"
    )
    assert "futur" in body["error"]["message"]
    body = assert_error(
        patch(
            client,
            file_url(draft.pk),
            {"prerequisites": [{"requirement": world.target.pk, "met": True}]},
            auth,
        ),
        400,
        "invalid",
    )
    assert "prérequis" in body["error"]["message"]
    # Malformed JSON is a structured 400 too.
    response = client.patch(file_url(draft.pk), "{", content_type="application/json", headers=auth)
    assert_error(response, 400)


def test_submitted_file_is_no_longer_editable(client, world):
    auth = token_for(world.coordinator)
    response = patch(client, file_url(world.ght_file.pk), {"project_lead": "Autre"}, auth)
    body = assert_error(response, 400, "not_editable")
    assert "déposée" in body["error"]["message"]


# --- Files: submitting, review, comments ----------------------------------------------------------


def test_submit(client, world):
    draft = world.clinique_draft()
    auth = token_for(world.director_clinique)
    response = post(client, file_url(draft.pk, "submit"), {}, auth)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "deposee"
    assert body["ceiling"]["frozen"] is True
    assert body["ceiling"]["amount_eur"] == "15000.00"
    assert body["events"][-1]["kind"] == EventKind.SUBMITTED
    # Twice: the state refuses it.
    assert_error(post(client, file_url(draft.pk, "submit"), {}, auth), 400, "not_editable")


def test_submit_incomplete_or_out_of_window(client, world, monkeypatch):
    draft = world.clinique_draft(project_lead="")
    auth = token_for(world.director_clinique)
    body = assert_error(post(client, file_url(draft.pk, "submit"), {}, auth), 400, "incomplete")
    assert "chef de projet" in body["error"]["message"]
    assert body["error"]["details"] == {"project_lead": [body["error"]["message"]]}
    draft.project_lead = "Camille"
    draft.save()
    closed = world.call.application_closes_on + datetime.timedelta(days=1)
    monkeypatch.setattr("rempart.programme.windows.paris_today", lambda: closed)
    body = assert_error(post(client, file_url(draft.pk, "submit"), {}, auth), 400, "window_closed")
    assert "close depuis le" in body["error"]["message"]
    draft.refresh_from_db()
    assert draft.status == ApplicationStatus.DRAFT
    # Outside the applicant: 403 for the ARS, 404 for region B.
    assert_error(post(client, file_url(draft.pk, "submit"), {}, token_for(world.manager)), 403)
    assert_error(post(client, file_url(draft.pk, "submit"), {}, token_for(world.rssi_b)), 404)


def test_review_by_the_regions_ars(client, world):
    auth = token_for(world.manager)
    url = file_url(world.ght_file.pk, "review")
    response = post(client, url, {"action": "start"}, auth)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "en_instruction"
    body = assert_error(post(client, url, {"action": "complement"}, auth), 400, "reason_required")
    assert "message" in body["error"]["details"]
    body = assert_error(post(client, url, {"action": "reject", "message": " "}, auth), 400)
    assert body["error"]["code"] == "reason_required"
    assert "message" in body["error"]["details"]
    response = post(client, url, {"action": "accept", "message": "Dossier solide."}, auth)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "acceptee"
    assert body["engaged_eur"] == "15000.00"
    assert body["decision_reason"] == "Dossier solide."
    # Decided: no further step.
    assert_error(
        post(client, url, {"action": "reject", "message": "Non"}, auth), 400, "invalid_state"
    )
    detail = client.get(call_url(world.call.pk), headers=auth).json()
    assert detail["envelope"]["engaged_eur"] == "15000.00"


def test_review_complement_then_resubmission(client, world):
    draft = world.clinique_draft()
    application_services.application_submit(actor=world.director_clinique, application=draft)
    manager = token_for(world.manager)
    response = post(
        client,
        file_url(draft.pk, "review"),
        {"action": "complement", "message": "Joignez le diagnostic."},
        manager,
    )
    assert response.json()["status"] == "complement_demande"
    assert response.json()["events"][-1]["message"] == "Joignez le diagnostic."
    response = post(client, file_url(draft.pk, "submit"), {}, token_for(world.director_clinique))
    assert response.json()["status"] == "deposee"
    response = post(
        client,
        file_url(draft.pk, "review"),
        {"action": "reject", "message": "Hors sujet."},
        manager,
    )
    assert response.json()["status"] == "rejetee"


def test_review_never_exceeds_the_envelope(client, world):
    world.call.envelope_eur = Decimal("10000.00")
    world.call.save()
    body = assert_error(
        post(
            client,
            file_url(world.ght_file.pk, "review"),
            {"action": "accept"},
            token_for(world.manager),
        ),
        400,
        "envelope_exceeded",
    )
    assert "enveloppe" in body["error"]["message"]
    world.ght_file.refresh_from_db()
    assert world.ght_file.status == ApplicationStatus.SUBMITTED


def test_review_refusals(client, world):
    url = file_url(world.ght_file.pk, "review")
    # The CRRC and the applicant see the file but do not decide; the observer neither.
    for user in (world.crrc_operator, world.coordinator, world.rssi_voiron, world.observer):
        assert_error(post(client, url, {"action": "start"}, token_for(user)), 403, "forbidden")
    # Another region's ARS does not even see it.
    response = post(client, url, {"action": "accept"}, token_for(world.manager_b))
    assert_error(response, 404, "not_found")
    body = assert_error(
        post(client, url, {"action": "approve"}, token_for(world.manager)), 400, "invalid"
    )
    assert "action" in body["error"]["details"]
    world.ght_file.refresh_from_db()
    assert world.ght_file.status == ApplicationStatus.SUBMITTED


def test_comments(client, world):
    url = file_url(world.ght_file.pk, "comments")
    response = post(
        client, url, {"body": "Le CRRC peut vous accompagner."}, token_for(world.crrc_operator)
    )
    assert response.status_code == 201, response.content
    assert response.json()["author_organisation"]["name"] == "CRRC ARA"
    response = post(client, url, {"body": "Merci."}, token_for(world.coordinator))
    assert response.status_code == 201, response.content
    for user in (world.observer, world.rssi_voiron, world.manager):
        thread = client.get(url, headers=token_for(user))
        assert thread.status_code == 200, thread.content
        assert [c["body"] for c in thread.json()] == ["Le CRRC peut vous accompagner.", "Merci."]
    # The national observer reads, never writes.
    assert_error(
        post(client, url, {"body": "Bonjour"}, token_for(world.observer)), 403, "forbidden"
    )
    body = assert_error(
        post(client, url, {"body": "   "}, token_for(world.manager)), 400, "invalid"
    )
    assert "body" in body["error"]["details"]
    assert_error(post(client, url, {"body": "Intrus"}, token_for(world.manager_b)), 404)
    assert world.ght_file.comments.count() == 2


def test_file_list_query_count_does_not_grow(client, world, django_assert_max_num_queries):
    auth = token_for(world.manager)
    client.get(reverse(FILES), headers=auth)
    for i in range(15):
        org = establishment(world.region, f"CH {i}", "3000000")
        application(world.call, org, covered=[org])
    with django_assert_max_num_queries(8):
        response = client.get(reverse(FILES), headers=auth)
    assert response.json()["count"] == 16


# --- Schema ---------------------------------------------------------------------------------------


def test_schema_lists_the_programme_and_generates_without_warnings(client, world, tmp_path):
    client.force_login(world.manager)
    response = client.get(reverse("api-schema"))
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    paths = schema["paths"]
    assert set(paths["/api/v1/calls/"]) == {"get"}
    assert set(paths["/api/v1/calls/{id}/"]) == {"get"}
    assert set(paths["/api/v1/applications/"]) == {"get", "post"}
    assert set(paths["/api/v1/applications/{id}/"]) == {"get", "patch"}
    assert set(paths["/api/v1/applications/{id}/submit/"]) == {"post"}
    assert set(paths["/api/v1/applications/{id}/review/"]) == {"post"}
    assert set(paths["/api/v1/applications/{id}/comments/"]) == {"get", "post"}
    params = {p["name"] for p in paths["/api/v1/applications/"]["get"]["parameters"]}
    assert {"call", "status", "applicant", "page", "page_size"} <= params
    comment_params = {
        p["name"] for p in paths["/api/v1/applications/{id}/comments/"]["get"]["parameters"]
    }
    assert comment_params == {"id"}
    for code in ("400", "403", "404"):
        assert code in paths["/api/v1/applications/{id}/review/"]["post"]["responses"]
    assert "envelope_exceeded" in paths["/api/v1/applications/{id}/review/"]["post"]["description"]
    # The management command fails on any warning of the generator.
    out = tmp_path / "schema.yaml"
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(out), stderr=StringIO()
    )
    assert "/api/v1/applications/{id}/review/" in out.read_text()
