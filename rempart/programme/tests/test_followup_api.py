"""REST API that follows an accepted file: target declarations (JSON and multipart with files,
links, platform measurements) and the ARS's review, the payment request and its decision, the
financial report. The world of test_declarations (a GHT's accepted file covering two
establishments, the region's ARS and CRRC) plus a national observer and region B's ARS;
every refusal is checked through the API with its code, and nothing saved is lost."""

import datetime
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from rempart.core.models import ApiTokenScope
from rempart.core.roles import OrgKind, Role
from rempart.organisations.tests.factories import OrganisationFactory, member
from rempart.programme import declaration_services as ds
from rempart.programme import payment_services as ps
from rempart.programme import windows
from rempart.programme.models import (
    ApplicationEvent,
    CostLine,
    DeclarationProof,
    DeclarationStatus,
    EventKind,
    FinancialReport,
    PaymentRequest,
    PaymentStatus,
    ReportStatus,
    TargetDeclaration,
)

from .factories import application, establishment, pdf_upload
from .test_api import assert_error, token_for
from .test_declarations import *  # noqa: F403  (the fixtures of the world)
from .test_declarations import (
    ENGAGED,
    TODAY,
    days,
    declare,
    declare_all_validated,
    make_call,
    restoration,
    travel,
)

pytestmark = pytest.mark.django_db

DECLARATIONS = "api-v1:declaration-list"
CANARY = "CANARI-IDF"


def declaration_url(pk, action: str | None = None) -> str:
    if action:
        return reverse(f"api-v1:declaration-{action}", args=[pk])
    return reverse("api-v1:declaration-detail", args=[pk])


def followup_url(app, name: str, *extra) -> str:
    return reverse(f"api-v1:application-followup-{name}", args=[app.pk, *extra])


def post(client, url, data, auth):
    return client.post(url, data, content_type="application/json", headers=auth)


def post_multipart(client, url, data, auth):
    return client.post(url, data, headers=auth)


@pytest.fixture
def observer():
    national = OrganisationFactory(
        kind=OrgKind.NATIONAL, name="ANS", region=None, departement=None, finess=None, sector=""
    )
    return member(Role.NATIONAL_OBSERVER, national, email="obs@ans.fr")


@pytest.fixture
def file_b(other_region, domain, targets, far_manager):
    """Region B's accepted file, with a declaration: its names carry the canary."""
    hospital = establishment(other_region, f"CH {CANARY}", "3000000")
    call_b = make_call(other_region, domain)
    app_b = application(
        call_b, hospital, status="acceptee", requested="15000.00", covered=[hospital]
    )
    person = member(Role.RSSI, hospital, email="rssi@ch-idf.fr")
    declare(person, app_b, targets["doc"], links=[f"https://{CANARY.lower()}.fr/preuve"])
    return app_b


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


# --- Declaring ------------------------------------------------------------------------------------


def test_declare_in_multipart_with_files_link_and_measurement(client, app, targets, orgs, rssi):
    measurement = restoration(orgs["voiron"])
    response = post_multipart(
        client,
        reverse(DECLARATIONS),
        {
            "application": app.pk,
            "requirement": "D2.02.R",
            "statement": "Restauration du DPI testée le 3 mars.",
            "files": [pdf_upload("compte-rendu.pdf"), pdf_upload("annexe.pdf")],
            "links[0]url": "https://intranet.exemple.fr/pra",
            "links[0]label": "Procédure de reprise",
            "measurements": [measurement.pk],
        },
        token_for(rssi),
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["application"] == app.pk
    assert body["applicant"]["name"] == "GHT Alpes Dauphiné"
    assert body["requirement"]["identifier"] == "D2.02.R"
    assert body["status"] == DeclarationStatus.DECLARED
    assert body["declared_by"] == (rssi.get_full_name() or rssi.email)
    proofs = {(p["kind"], p["label"]) for p in body["proofs"]}
    assert ("fichier", "compte-rendu.pdf") in proofs
    assert ("fichier", "annexe.pdf") in proofs
    assert ("lien", "Procédure de reprise") in proofs
    snapshot = next(p["measurement"] for p in body["proofs"] if p["kind"] == "mesure")
    assert snapshot["measurement_id"] == measurement.pk
    assert snapshot["organisation_name"] == "CH Voiron"
    assert all(p["current"] for p in body["proofs"])
    assert "prive/" not in response.text  # never a stored path
    declaration = TargetDeclaration.objects.get(pk=body["id"])
    assert declaration.proofs.count() == 4
    assert ApplicationEvent.objects.filter(
        application=app, kind=EventKind.TARGET_DECLARED, actor=rssi
    ).exists()


def test_declare_in_json_with_links(client, app, targets, coordinator):
    response = post(
        client,
        reverse(DECLARATIONS),
        {
            "application": app.pk,
            "requirement": "D2.01.D",
            "links": [
                "https://intranet.exemple.fr/pca",
                {"url": "https://intranet.exemple.fr/cr", "label": "Compte rendu"},
            ],
        },
        token_for(coordinator),
    )
    assert response.status_code == 201, response.content
    proofs = response.json()["proofs"]
    assert [(p["kind"], p["url"], p["label"]) for p in proofs] == [
        ("lien", "https://intranet.exemple.fr/pca", ""),
        ("lien", "https://intranet.exemple.fr/cr", "Compte rendu"),
    ]


def test_a_declaration_without_proof_is_refused(client, app, targets, rssi):
    auth = token_for(rssi)
    for data in (
        {"application": app.pk, "requirement": "D2.01.D", "statement": "C'est fait."},
        {"application": app.pk, "requirement": "D2.01.D", "links": [""]},
    ):
        body = assert_error(post(client, reverse(DECLARATIONS), data, auth), 400, "proof_required")
        assert "sans preuve" in body["error"]["message"]
        assert set(body["error"]["details"]) == {"files"}
    assert not TargetDeclaration.objects.exists()


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("outil.exe", b"MZ\x90\x00binary", "file_type"),
        ("faux.pdf", b"pas un PDF du tout", "file_content"),
        ("vide.pdf", b"", "file_empty"),
    ],
    ids=["extension", "content", "empty"],
)
def test_a_file_of_the_wrong_type_is_refused(
    client, app, targets, rssi, name, content, code, settings
):
    upload = SimpleUploadedFile(name, content, "application/octet-stream")
    body = assert_error(
        post_multipart(
            client,
            reverse(DECLARATIONS),
            {
                "application": app.pk,
                "requirement": "D2.01.D",
                "files": [pdf_upload("bon.pdf"), upload],
                "links": ["https://intranet.exemple.fr/pca"],
            },
            token_for(rssi),
        ),
        400,
        code,
    )
    assert set(body["error"]["details"]) == {"files"}
    assert name in body["error"]["message"]
    # Nothing is kept, not even the valid file.
    assert not TargetDeclaration.objects.exists()
    assert not DeclarationProof.objects.exists()
    stored = [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]
    assert not [p for p in stored if "declarationproof" in str(p)]


def test_declaration_bad_input(client, app, targets, orgs, rssi):
    auth = token_for(rssi)
    foreign = restoration(orgs["lyon"])  # an establishment the file does not cover
    own = restoration(orgs["voiron"])
    base = {"application": app.pk, "requirement": "D2.01.D"}
    cases = [
        (
            {**base, "requirement": "D9.99", "links": ["https://a.fr"]},
            "invalid_target",
            "requirement",
        ),
        (
            {**base, "requirement": "D3.01", "links": ["https://a.fr"]},
            "invalid_target",
            "requirement",
        ),
        ({**base, "links": ["ftp://exemple.fr/preuve"]}, "invalid_link", "links"),
        ({**base, "links": [{"url": "https://a.fr", "label": "x" * 300}]}, "invalid", "links"),
        ({**base, "measurements": [own.pk]}, "invalid_measurement", "measurements"),
        (
            {**base, "requirement": "D2.02.R", "measurements": [foreign.pk]},
            "foreign_measurement",
            "measurements",
        ),
        (
            {**base, "requirement": "D2.02.R", "links": ["https://a.fr"]},
            "measurement_required",
            "measurements",
        ),
        ({**base, "statement": "x" * 5001, "links": ["https://a.fr"]}, "invalid", "statement"),
        # The shape of the request.
        ({**base, "links": [{"href": "https://a.fr"}]}, "invalid", "links"),
        ({**base, "links": [42]}, "invalid", "links"),
        ({**base, "measurements": ["abc"]}, "invalid", "measurements"),
        ({**base, "files": ["rapport.pdf"]}, "invalid", "files"),
        ({**base, "status": "validee", "links": ["https://a.fr"]}, "invalid", "status"),
        ({"application": "abc"}, "invalid", "application"),
        ({"application": app.pk}, "invalid", "requirement"),
    ]
    for data, code, field in cases:
        body = assert_error(post(client, reverse(DECLARATIONS), data, auth), 400, code)
        assert field in body["error"]["details"], (data, body)
    assert not TargetDeclaration.objects.exists()


def test_declaration_calendar_and_state(client, app, call, orgs, targets, rssi, monkeypatch):
    auth = token_for(rssi)
    data = {"application": app.pk, "requirement": "D2.01.D", "links": ["https://a.fr/pca"]}
    travel(monkeypatch, call.declaration_deadline + datetime.timedelta(days=1))
    body = assert_error(post(client, reverse(DECLARATIONS), data, auth), 400, "window_closed")
    assert "close depuis le" in body["error"]["message"]
    travel(monkeypatch, call.declaration_deadline)  # the last day is open
    assert post(client, reverse(DECLARATIONS), data, auth).status_code == 201
    assert_error(post(client, reverse(DECLARATIONS), data, auth), 400, "already_declared")
    # A file not accepted yet.
    submitted = application(call, orgs["lyon"], status="deposee", covered=[orgs["lyon"]])
    person = member(Role.RSSI, orgs["lyon"], email="rssi2.lyon@exemple.fr")
    assert_error(
        post(
            client, reverse(DECLARATIONS), {**data, "application": submitted.pk}, token_for(person)
        ),
        400,
        "not_accepted",
    )


# --- Review by the ARS, declaring again -----------------------------------------------------------


def test_review_then_declare_again_keeps_every_proof(client, app, targets, rssi, manager):
    first = declare(rssi, app, targets["doc"], links=["https://intranet.exemple.fr/v1"])
    url = declaration_url(first.pk, "review")
    auth = token_for(manager)
    body = assert_error(post(client, url, {"action": "refuse"}, auth), 400, "reason_required")
    assert set(body["error"]["details"]) == {"comment"}
    response = post(client, url, {"action": "refuse", "comment": "Le compte rendu manque."}, auth)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == DeclarationStatus.REFUSED
    assert response.json()["review_comment"] == "Le compte rendu manque."
    assert_error(post(client, url, {"action": "validate"}, auth), 400, "invalid_state")
    # Declared again with a new proof: the refused one's proof is kept, marked not current.
    response = post_multipart(
        client,
        reverse(DECLARATIONS),
        {"application": app.pk, "requirement": "D2.01.D", "files": [pdf_upload("cr.pdf")]},
        token_for(rssi),
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"] == first.pk
    assert body["status"] == DeclarationStatus.DECLARED
    assert [(p["kind"], p["current"]) for p in body["proofs"]] == [
        ("lien", False),
        ("fichier", True),
    ]
    response = post(client, url, {"action": "validate", "comment": "Conforme."}, auth)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == DeclarationStatus.VALIDATED
    assert response.json()["reviewed_by"]
    # Validated is final.
    assert_error(
        post(
            client,
            reverse(DECLARATIONS),
            {"application": app.pk, "requirement": "D2.01.D", "links": ["https://a.fr"]},
            token_for(rssi),
        ),
        400,
        "already_validated",
    )
    assert_error(post(client, url, {"action": "approve"}, auth), 400, "invalid")


def test_declaration_rights_and_scope(
    client, app, targets, rssi, crrc, manager, observer, stranger, far_manager, file_b
):
    declaration = declare(rssi, app, targets["doc"], links=["https://intranet.exemple.fr/pca"])
    data = {"application": app.pk, "requirement": "D2.02.R", "links": ["https://a.fr"]}
    review = declaration_url(declaration.pk, "review")
    # The CRRC, the ARS and the national observer see the file but do not declare.
    for person in (crrc, manager, observer):
        assert_error(post(client, reverse(DECLARATIONS), data, token_for(person)), 403, "forbidden")
    # Only the region's ARS reviews.
    for person in (crrc, observer, rssi):
        assert_error(
            post(client, review, {"action": "validate"}, token_for(person)), 403, "forbidden"
        )
    # Outside the scope: not found, without a byte of the file.
    for person in (far_manager, stranger):
        auth = token_for(person)
        for response in (
            client.get(declaration_url(declaration.pk), headers=auth),
            post(client, review, {"action": "validate"}, auth),
            post(client, reverse(DECLARATIONS), data, auth),
        ):
            assert_error(response, 404, "not_found")
            assert "GHT Alpes" not in response.text
    # A read-only token reads, never writes.
    read_only = token_for(rssi, ApiTokenScope.READ)
    assert client.get(declaration_url(declaration.pk), headers=read_only).status_code == 200
    assert_error(post(client, reverse(DECLARATIONS), data, read_only), 403)
    assert_error(
        post(client, review, {"action": "validate"}, token_for(manager, ApiTokenScope.READ)), 403
    )
    declaration.refresh_from_db()
    assert declaration.status == DeclarationStatus.DECLARED
    assert TargetDeclaration.objects.filter(application=app).count() == 1


def test_declaration_list_is_scoped_and_filtered(
    client, app, call, targets, orgs, rssi, manager, crrc, observer, far_manager, file_b
):
    doc = declare(rssi, app, targets["doc"], links=["https://intranet.exemple.fr/pca"])
    measure = declare(
        rssi, app, targets["measure"], measurement_ids=[restoration(orgs["voiron"]).pk]
    )
    ds.target_validate(actor=manager, declaration=doc)
    b_declaration = file_b.declarations.get()
    for person in (rssi, manager, crrc):
        assert ids(client.get(reverse(DECLARATIONS), headers=token_for(person))) == {
            doc.pk,
            measure.pk,
        }
    assert ids(client.get(reverse(DECLARATIONS), headers=token_for(observer))) == {
        doc.pk,
        measure.pk,
        b_declaration.pk,
    }
    response = client.get(reverse(DECLARATIONS), headers=token_for(far_manager))
    assert ids(response) == {b_declaration.pk}
    assert "GHT Alpes" not in response.text
    response = client.get(reverse(DECLARATIONS), headers=token_for(rssi))
    assert CANARY not in response.text
    auth = token_for(manager)
    assert ids(client.get(reverse(DECLARATIONS), {"status": "validee"}, headers=auth)) == {doc.pk}
    assert ids(client.get(reverse(DECLARATIONS), {"requirement": "D2.02.R"}, headers=auth)) == {
        measure.pk
    }
    assert ids(client.get(reverse(DECLARATIONS), {"call": call.pk}, headers=auth)) == {
        doc.pk,
        measure.pk,
    }
    assert ids(client.get(reverse(DECLARATIONS), {"application": app.pk}, headers=auth)) == {
        doc.pk,
        measure.pk,
    }
    # A foreign file in a filter finds nothing, rather than an error.
    assert ids(client.get(reverse(DECLARATIONS), {"application": file_b.pk}, headers=auth)) == set()
    assert_error(client.get(reverse(DECLARATIONS), {"status": "x"}, headers=auth), 400, "invalid")


def test_declaration_list_query_count_does_not_grow(
    client, call, targets, orgs, manager, django_assert_max_num_queries
):
    auth = token_for(manager)
    client.get(reverse(DECLARATIONS), headers=auth)
    for i in range(12):
        org = establishment(orgs["ars"].region, f"CH {i}", "3000000")
        file = application(call, org, status="acceptee", covered=[org])
        person = member(Role.RSSI, org)
        declare(person, file, targets["doc"], links=["https://a.fr", "https://b.fr"])
    with django_assert_max_num_queries(6):
        response = client.get(reverse(DECLARATIONS), headers=auth)
    assert response.json()["count"] == 12


def test_targets_of_a_file(client, app, call, targets, orgs, rssi, manager, stranger, monkeypatch):
    measurement = restoration(orgs["grenoble"])
    restoration(orgs["lyon"])  # not covered by the file: never offered
    url = followup_url(app, "targets")
    body = client.get(url, headers=token_for(rssi)).json()
    assert body["declarations_open"] is True
    assert body["declaration_deadline"] == call.declaration_deadline.isoformat()
    assert (body["validated"], body["total"]) == (0, 2)
    rows = {row["requirement"]["identifier"]: row for row in body["targets"]}
    assert rows["D2.01.D"]["status"] == "non_declaree"
    assert rows["D2.01.D"]["can_declare"] is True
    assert rows["D2.01.D"]["measurement_options"] == []
    assert rows["D2.02.R"]["measurement"] == "test_restauration"
    assert [m["id"] for m in rows["D2.02.R"]["measurement_options"]] == [measurement.pk]
    declaration = declare(rssi, app, targets["doc"], links=["https://a.fr"])
    body = client.get(url, headers=token_for(manager)).json()
    rows = {row["requirement"]["identifier"]: row for row in body["targets"]}
    assert rows["D2.01.D"]["declaration"] == declaration.pk
    assert rows["D2.01.D"]["can_review"] is True
    assert rows["D2.02.R"]["can_declare"] is False
    assert rows["D2.02.R"]["measurement_options"] == []
    travel(monkeypatch, call.declaration_deadline + datetime.timedelta(days=1))
    body = client.get(url, headers=token_for(rssi)).json()
    assert body["declarations_open"] is False
    assert "close depuis le" in body["closed_message"]
    assert_error(client.get(url, headers=token_for(stranger)), 404, "not_found")


# --- Payment --------------------------------------------------------------------------------------


@pytest.fixture
def validated(app, targets, rssi, manager):
    declare_all_validated(app, targets, rssi, manager)
    return app


@pytest.fixture
def in_window(call, monkeypatch):
    day = call.payment_opens_on + datetime.timedelta(days=2)
    travel(monkeypatch, day)
    return day


def test_payment_request_and_decisions(client, validated, rssi, manager, crrc, in_window):
    app = validated
    url, decision = followup_url(app, "payment"), followup_url(app, "payment-decision")
    body = client.get(url, headers=token_for(rssi)).json()
    assert body["payment"] is None
    assert body["window"]["open"] is True
    assert body["targets_not_validated"] == []
    assert body["allowed"] == {"request": True, "decide": False}
    response = post(
        client, url, {"bank_account_holder": "CH de Voiron — Trésorerie"}, token_for(rssi)
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["payment"]["status"] == PaymentStatus.REQUESTED
    assert body["payment"]["amount_eur"] == ENGAGED
    assert body["payment"]["bank_account_holder"] == "CH de Voiron — Trésorerie"
    assert body["allowed"] == {"request": False, "decide": False}
    assert_error(
        post(client, url, {"bank_account_holder": "X"}, token_for(rssi)), 400, "already_exists"
    )
    # The CRRC sees it, does not decide.
    assert_error(post(client, decision, {"action": "approve"}, token_for(crrc)), 403, "forbidden")
    auth = token_for(manager)
    assert client.get(url, headers=auth).json()["allowed"] == {"request": False, "decide": True}
    # A field of another action is refused, not ignored.
    body = assert_error(
        post(client, decision, {"action": "approve", "paid_eur": "10"}, auth), 400, "invalid"
    )
    assert set(body["error"]["details"]) == {"paid_eur"}
    response = post(client, decision, {"action": "approve", "comment": "RIB conforme."}, auth)
    assert response.status_code == 200, response.content
    assert response.json()["payment"]["status"] == PaymentStatus.APPROVED
    assert response.json()["payment"]["decision_comment"] == "RIB conforme."
    # Recording the payment: never above the amount engaged, never in the future.
    paid = {"action": "paid", "paid_eur": "62067.29", "paid_on": in_window.isoformat()}
    body = assert_error(
        post(client, decision, {**paid, "payment_reference": "M-1"}, auth), 400, "over_engaged"
    )
    assert set(body["error"]["details"]) == {"paid_eur"}
    future = (in_window + datetime.timedelta(days=1)).isoformat()
    body = assert_error(
        post(
            client,
            decision,
            {**paid, "paid_eur": ENGAGED, "paid_on": future, "payment_reference": "M-1"},
            auth,
        ),
        400,
        "invalid",
    )
    assert set(body["error"]["details"]) == {"paid_on"}
    body = assert_error(post(client, decision, {**paid, "paid_eur": ENGAGED}, auth), 400, "invalid")
    assert set(body["error"]["details"]) == {"payment_reference"}
    assert_error(
        post(client, decision, {"action": "paid", "paid_eur": "12,5"}, auth), 400, "invalid"
    )
    response = post(
        client, decision, {**paid, "paid_eur": ENGAGED, "payment_reference": "M-2026-42"}, auth
    )
    assert response.status_code == 200, response.content
    payment = response.json()["payment"]
    assert (payment["status"], payment["paid_eur"], payment["payment_reference"]) == (
        PaymentStatus.PAID,
        ENGAGED,
        "M-2026-42",
    )
    assert_error(post(client, decision, {"action": "approve"}, auth), 400, "invalid_state")


def test_payment_outside_the_window_or_before_validation(
    client, app, call, targets, rssi, manager, monkeypatch
):
    url = followup_url(app, "payment")
    data = {"bank_account_holder": "CH Voiron"}
    auth = token_for(rssi)
    body = assert_error(post(client, url, data, auth), 400, "window_not_open")
    assert windows.format_date_fr(call.payment_opens_on) in body["error"]["message"]
    declare_all_validated(app, targets, rssi, manager)
    travel(monkeypatch, call.payment_closes_on + datetime.timedelta(days=1))
    body = assert_error(post(client, url, data, auth), 400, "window_closed")
    assert "clos depuis le" in body["error"]["message"]
    assert not PaymentRequest.objects.exists()


def test_payment_needs_validated_targets_and_a_holder(client, app, targets, rssi, in_window):
    url = followup_url(app, "payment")
    auth = token_for(rssi)
    body = client.get(url, headers=auth).json()
    assert [t["identifier"] for t in body["targets_not_validated"]] == ["D2.01.D", "D2.02.R"]
    assert body["allowed"]["request"] is False
    body = assert_error(post(client, url, {"bank_account_holder": "X"}, auth), 400)
    assert body["error"]["code"] == "targets_not_validated"
    assert "D2.01.D (non déclarée)" in body["error"]["message"]


def test_payment_refused_then_requested_again(client, validated, rssi, manager, in_window):
    url, decision = followup_url(validated, "payment"), followup_url(validated, "payment-decision")
    body = assert_error(post(client, url, {"bank_account_holder": "  "}, token_for(rssi)), 400)
    assert set(body["error"]["details"]) == {"bank_account_holder"}
    body = assert_error(post(client, url, {}, token_for(rssi)), 400, "invalid")
    assert set(body["error"]["details"]) == {"bank_account_holder"}
    post(client, url, {"bank_account_holder": "Mauvais titulaire"}, token_for(rssi))
    auth = token_for(manager)
    body = assert_error(post(client, decision, {"action": "refuse"}, auth), 400, "invalid")
    assert set(body["error"]["details"]) == {"comment"}
    assert PaymentRequest.objects.get().status == PaymentStatus.REQUESTED
    response = post(client, decision, {"action": "refuse", "comment": "RIB illisible."}, auth)
    assert response.json()["payment"]["status"] == PaymentStatus.REFUSED
    assert client.get(url, headers=token_for(rssi)).json()["allowed"]["request"] is True
    response = post(client, url, {"bank_account_holder": "CH Voiron"}, token_for(rssi))
    assert response.status_code == 201, response.content
    assert response.json()["payment"]["status"] == PaymentStatus.REQUESTED
    # The refusal stays in the file's history.
    assert ApplicationEvent.objects.filter(
        application=validated, message__contains="RIB illisible."
    ).exists()


def test_payment_rights_and_scope(
    client, validated, rssi, manager, crrc, observer, stranger, far_manager, in_window
):
    url, decision = followup_url(validated, "payment"), followup_url(validated, "payment-decision")
    data = {"bank_account_holder": "CH Voiron"}
    for person in (crrc, manager, observer):
        assert_error(post(client, url, data, token_for(person)), 403, "forbidden")
    assert_error(post(client, url, data, token_for(rssi, ApiTokenScope.READ)), 403)
    for person in (stranger, far_manager):
        for response in (
            client.get(url, headers=token_for(person)),
            post(client, url, data, token_for(person)),
            post(client, decision, {"action": "approve"}, token_for(person)),
        ):
            assert_error(response, 404, "not_found")
    assert not PaymentRequest.objects.exists()
    # Nothing requested yet: nothing to decide.
    assert_error(
        post(client, decision, {"action": "approve"}, token_for(manager)), 400, "no_payment"
    )
    post(client, url, data, token_for(rssi))
    for person in (observer, crrc, rssi):
        assert_error(
            post(client, decision, {"action": "approve"}, token_for(person)), 403, "forbidden"
        )
    assert_error(
        post(client, decision, {"action": "approve"}, token_for(manager, ApiTokenScope.READ)), 403
    )
    assert PaymentRequest.objects.get().status == PaymentStatus.REQUESTED


# --- Financial report -----------------------------------------------------------------------------

LINE = {
    "category": "audits",
    "supplier": "Cabinet Audit Sûr",
    "invoice_reference": "FA-2026-001",
    "amount_eur": "20000.05",
    "description": "Audit de l'annuaire",
}


def test_report_lines_filing_and_review_with_recovery(
    client, validated, call, rssi, manager, crrc, in_window, monkeypatch
):
    app = validated
    # Paid everything engaged (62 067,28 €).
    payment = ps.payment_request(actor=rssi, application=app, bank_account_holder="CH Voiron")
    payment = ps.payment_approve(actor=manager, payment=payment)
    ps.payment_record_paid(
        actor=manager, payment=payment, paid_eur=ENGAGED, paid_on=in_window, payment_reference="M"
    )
    lines_url = followup_url(app, "report-lines")
    auth = token_for(rssi)
    invoice_date = (in_window - datetime.timedelta(days=30)).isoformat()
    created = []
    for amount, category, reference in (
        ("20000.05", "audits", "FA-1"),
        ("12500.02", "outils", "FA-2"),
        ("9000.03", "formation", "FA-3"),
        ("999.99", "conseil", "FA-4"),
    ):
        response = post(
            client,
            lines_url,
            {
                **LINE,
                "amount_eur": amount,
                "category": category,
                "invoice_reference": reference,
                "invoice_date": invoice_date,
            },
            auth,
        )
        assert response.status_code == 201, response.content
        assert response.json()["amount_eur"] == amount
        created.append(response.json()["id"])
    # One withdrawn.
    response = client.delete(followup_url(app, "report-line", created[-1]), headers=auth)
    assert response.status_code == 204, response.content
    assert_error(client.delete(followup_url(app, "report-line", created[-1]), headers=auth), 404)
    body = client.get(followup_url(app, "report"), headers=auth).json()
    assert body["report"]["status"] == ReportStatus.DRAFT
    assert body["total_eur"] == "41500.10"
    assert [c["category"] for c in body["categories"]] == ["audits", "outils", "formation"]
    assert len(body["lines"]) == 3
    assert body["preview"]["to_recover_eur"] == "20567.18"
    assert body["allowed"] == {"edit": True, "decide": False}
    # Filed: amounts computed and kept; no more lines.
    response = post(client, followup_url(app, "report-file"), {}, auth)
    assert response.status_code == 200, response.content
    report = response.json()["report"]
    assert (report["status"], report["to_recover_eur"], report["amount_due_eur"]) == (
        ReportStatus.FILED,
        "20567.18",
        "41500.10",
    )
    body = assert_error(
        post(client, lines_url, {**LINE, "invoice_date": invoice_date}, auth), 400, "not_editable"
    )
    assert "déposé" in body["error"]["message"]
    assert_error(client.delete(followup_url(app, "report-line", created[0]), headers=auth), 400)
    assert CostLine.objects.count() == 3
    # The ARS reviews; the CRRC does not.
    decision = followup_url(app, "report-decision")
    assert_error(post(client, decision, {"action": "accept"}, token_for(crrc)), 403, "forbidden")
    manager_auth = token_for(manager)
    response = post(client, decision, {"action": "accept", "comment": "Conforme."}, manager_auth)
    assert response.status_code == 200, response.content
    assert response.json()["report"]["status"] == ReportStatus.RECOVERY
    assert response.json()["allowed"] == {"edit": False, "decide": True}
    tomorrow = (in_window + datetime.timedelta(days=1)).isoformat()
    body = assert_error(
        post(client, decision, {"action": "recovered", "recovered_on": tomorrow}, manager_auth),
        400,
        "invalid",
    )
    assert set(body["error"]["details"]) == {"recovered_on"}
    body = assert_error(post(client, decision, {"action": "recovered"}, manager_auth), 400)
    assert set(body["error"]["details"]) == {"recovered_on"}
    response = post(
        client,
        decision,
        {"action": "recovered", "recovered_on": in_window.isoformat()},
        manager_auth,
    )
    assert response.status_code == 200, response.content
    report = response.json()["report"]
    assert (report["status"], report["recovered_on"]) == (
        ReportStatus.RECOVERED,
        in_window.isoformat(),
    )
    assert_error(post(client, decision, {"action": "accept"}, manager_auth), 400, "invalid_state")


def test_report_bad_input(client, app, call, rssi):
    url = followup_url(app, "report-lines")
    auth = token_for(rssi)
    day = (TODAY - datetime.timedelta(days=5)).isoformat()
    body = assert_error(post(client, url, {}, auth), 400, "invalid")
    assert set(body["error"]["details"]) == {
        "category",
        "supplier",
        "invoice_reference",
        "invoice_date",
        "amount_eur",
    }
    assert body["error"]["details"]["supplier"] == ["Indiquez le fournisseur."]
    before = (call.application_opens_on - datetime.timedelta(days=1)).isoformat()
    cases = [
        ({"invoice_date": before}, "invoice_too_early", "invoice_date"),
        ({"invoice_date": days(1).isoformat()}, "invalid", "invoice_date"),
        ({"invoice_date": "31/12/2025"}, "invalid", "invoice_date"),
        ({"amount_eur": "0"}, "invalid", "amount_eur"),
        ({"amount_eur": "-10"}, "invalid", "amount_eur"),
        ({"amount_eur": "10.123"}, "invalid", "amount_eur"),
        ({"category": "voyages"}, "invalid", "category"),
        ({"supplier": "  "}, "invalid", "supplier"),
        ({"invoice_reference": "x" * 101}, "invalid", "invoice_reference"),
        ({"tva": "20"}, "invalid", "tva"),
    ]
    for changes, code, field in cases:
        body = assert_error(
            post(client, url, {**LINE, "invoice_date": day, **changes}, auth), 400, code
        )
        assert field in body["error"]["details"], (changes, body)
    assert not CostLine.objects.exists()
    # Filing an empty report; deciding on a report that does not exist.
    assert_error(post(client, followup_url(app, "report-file"), {}, auth), 400, "empty_report")
    assert not FinancialReport.objects.filter(status=ReportStatus.FILED).exists()


def test_report_rights_and_scope(client, app, rssi, manager, crrc, observer, stranger, far_manager):
    day = (TODAY - datetime.timedelta(days=5)).isoformat()
    line = ps.cost_line_add(
        actor=rssi,
        application=app,
        category="audits",
        supplier="Cabinet",
        invoice_reference="FA-1",
        invoice_date=TODAY - datetime.timedelta(days=5),
        amount_eur=Decimal("100.00"),
    )
    lines_url = followup_url(app, "report-lines")
    line_url = followup_url(app, "report-line", line.pk)
    for person in (crrc, manager, observer):
        auth = token_for(person)
        assert_error(post(client, lines_url, {**LINE, "invoice_date": day}, auth), 403, "forbidden")
        assert_error(client.delete(line_url, headers=auth), 403, "forbidden")
        assert_error(post(client, followup_url(app, "report-file"), {}, auth), 403, "forbidden")
        assert client.get(followup_url(app, "report"), headers=auth).status_code == 200
    read_only = token_for(rssi, ApiTokenScope.READ)
    assert_error(post(client, lines_url, {**LINE, "invoice_date": day}, read_only), 403)
    assert_error(client.delete(line_url, headers=read_only), 403)
    for person in (stranger, far_manager):
        auth = token_for(person)
        for response in (
            client.get(followup_url(app, "report"), headers=auth),
            post(client, lines_url, {**LINE, "invoice_date": day}, auth),
            client.delete(line_url, headers=auth),
            post(client, followup_url(app, "report-decision"), {"action": "accept"}, auth),
        ):
            assert_error(response, 404, "not_found")
            assert "GHT Alpes" not in response.text
    assert CostLine.objects.filter(pk=line.pk).exists()
    # Not filed yet: nothing to decide.
    assert_error(
        post(
            client, followup_url(app, "report-decision"), {"action": "accept"}, token_for(manager)
        ),
        400,
        "invalid_state",
    )


def test_report_decision_without_report(client, app, manager):
    assert_error(
        post(
            client, followup_url(app, "report-decision"), {"action": "accept"}, token_for(manager)
        ),
        400,
        "no_report",
    )


def test_a_line_of_another_file_is_not_found(client, app, call, orgs, rssi):
    other = application(call, orgs["lyon"], status="acceptee", covered=[orgs["lyon"]])
    person = member(Role.RSSI, orgs["lyon"], email="rssi3.lyon@exemple.fr")
    foreign = ps.cost_line_add(
        actor=person,
        application=other,
        category="audits",
        supplier="Cabinet",
        invoice_reference="FA-1",
        invoice_date=TODAY - datetime.timedelta(days=5),
        amount_eur=Decimal("100.00"),
    )
    response = client.delete(followup_url(app, "report-line", foreign.pk), headers=token_for(rssi))
    assert_error(response, 404, "not_found")
    assert CostLine.objects.filter(pk=foreign.pk).exists()


# --- Schema ---------------------------------------------------------------------------------------


def test_schema_documents_the_follow_up(client, manager, tmp_path):
    client.force_login(manager)
    paths = client.get(reverse("api-schema")).json()["paths"]
    expected = {
        "/api/v1/declarations/": {"get", "post"},
        "/api/v1/declarations/{id}/": {"get"},
        "/api/v1/declarations/{id}/review/": {"post"},
        "/api/v1/applications/{id}/targets/": {"get"},
        "/api/v1/applications/{id}/payment/": {"get", "post"},
        "/api/v1/applications/{id}/payment/decision/": {"post"},
        "/api/v1/applications/{id}/report/": {"get"},
        "/api/v1/applications/{id}/report/lines/": {"post"},
        "/api/v1/applications/{id}/report/lines/{line_id}/": {"delete"},
        "/api/v1/applications/{id}/report/file/": {"post"},
        "/api/v1/applications/{id}/report/decision/": {"post"},
    }
    for path, methods in expected.items():
        assert set(paths[path]) == methods, path
    create = paths["/api/v1/declarations/"]["post"]
    assert "multipart/form-data" in create["requestBody"]["content"]
    assert "proof_required" in create["description"]
    assert "window_closed" in paths["/api/v1/applications/{id}/payment/"]["post"]["description"]
    for code in ("400", "403", "404"):
        assert code in paths["/api/v1/applications/{id}/payment/decision/"]["post"]["responses"]
    params = {p["name"] for p in paths["/api/v1/declarations/"]["get"]["parameters"]}
    assert {"call", "application", "status", "requirement"} <= params
    out = tmp_path / "schema.yaml"
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(out), stderr=StringIO()
    )
    assert "/api/v1/applications/{id}/report/lines/{line_id}/" in out.read_text()
