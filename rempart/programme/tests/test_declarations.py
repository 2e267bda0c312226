"""Target attainment declarations: who declares, when, with which proofs; the frozen copy of a
cited measurement; the ARS's validation. The world defined here (a GHT's accepted file
covering two establishments, the region's ARS and CRRC, outsiders) is reused by the payment,
report and page tests."""

import datetime
from decimal import Decimal

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from rempart.core.errors import DomainError
from rempart.core.models import AuditEntry
from rempart.core.roles import OrgKind, Role
from rempart.organisations.tests.factories import OrganisationFactory, RegionFactory, member
from rempart.programme import declaration_services as ds
from rempart.programme import measurement_services, windows
from rempart.programme.models import (
    ApplicationEvent,
    Attainment,
    DeclarationProof,
    DeclarationStatus,
    EventKind,
    Measurement,
    ProofKind,
    Requirement,
    RequirementKind,
    TargetDeclaration,
)

from .factories import CallFactory, DomainFactory, application, establishment, ght, pdf_upload

pytestmark = pytest.mark.django_db

# What the payment, report, measurement and page tests take from here (never the tests).
__all__ = [
    "ENGAGED",
    "TODAY",
    "_private_media",
    "app",
    "call",
    "coordinator",
    "crrc",
    "days",
    "declare",
    "declare_all_validated",
    "domain",
    "far_manager",
    "make_call",
    "manager",
    "orgs",
    "other_region",
    "plain",
    "refused",
    "region",
    "restoration",
    "rssi",
    "stranger",
    "targets",
    "travel",
]

TODAY = windows.paris_today()
ENGAGED = "62067.28"


def days(n: int) -> datetime.date:
    return TODAY + datetime.timedelta(days=n)


def travel(monkeypatch, day: datetime.date) -> None:
    """Move the platform's calendar (every window check reads windows.paris_today)."""
    monkeypatch.setattr(windows, "paris_today", lambda: day)


def plain(text: str) -> str:
    return (
        text.replace("\u00a0", " ")
        .replace("\u202f", " ")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", '"')
    )


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


# --- The world ------------------------------------------------------------------------------------


@pytest.fixture
def region():
    return RegionFactory(code="84", name="Auvergne-Rhône-Alpes")


@pytest.fixture
def other_region():
    return RegionFactory(code="11", name="Île-de-France")


@pytest.fixture
def domain():
    return DomainFactory(code="D2", title="Continuité et reprise d'activité")


@pytest.fixture
def targets(domain):
    """Two targets of the domain (one proven by documents, one by a restoration test), a
    prerequisite, and a target of another domain."""
    other = DomainFactory(code="D3", title="Accès distants")
    return {
        "doc": Requirement.objects.create(
            domain=domain,
            kind=RequirementKind.TARGET,
            identifier="D2.01.D",
            label="Un test du PCA réalisé",
            attainment=Attainment.DOCUMENT,
            proofs=["Compte rendu du test"],
            position=1,
        ),
        "measure": Requirement.objects.create(
            domain=domain,
            kind=RequirementKind.TARGET,
            identifier="D2.02.R",
            label="Un test de restauration réussi sur un système critique",
            attainment=Attainment.MEASUREMENT,
            measurement=Measurement.RESTORATION_TEST,
            position=2,
        ),
        "prerequisite": Requirement.objects.create(
            domain=domain,
            kind=RequirementKind.PREREQUISITE,
            identifier="D2.P1",
            label="Organisation projet",
            attainment=Attainment.DECLARED,
        ),
        "foreign": Requirement.objects.create(
            domain=other,
            kind=RequirementKind.TARGET,
            identifier="D3.01",
            label="Accès distants sécurisés",
            attainment=Attainment.DOCUMENT,
        ),
    }


@pytest.fixture
def orgs(region):
    group = ght(region, "GHT Alpes Dauphiné")
    return {
        "ars": OrganisationFactory(
            kind=OrgKind.ARS, name="ARS ARA", region=region, finess=None, sector=""
        ),
        "crrc": OrganisationFactory(
            kind=OrgKind.CRRC, name="CRRC ARA", region=region, finess=None, sector=""
        ),
        "ght": group,
        "voiron": establishment(region, "CH Voiron", "42000000", ght=group),
        "grenoble": establishment(region, "CH Grenoble", "3000000", ght=group),
        "lyon": establishment(region, "CH Lyon Sud", "3000000"),
    }


def make_call(region, domain, **dates):
    values = {
        "application_opens_on": days(-100),
        "application_closes_on": days(-40),
        "declaration_deadline": days(20),
        "payment_opens_on": days(21),
        "payment_closes_on": days(120),
    }
    values.update(dates)
    return CallFactory(region=region, domain=domain, title="CaRE D2 — Continuité", **values)


@pytest.fixture
def call(region, domain, targets):
    """Applications closed, declarations open for 20 more days, then the payment window."""
    return make_call(region, domain)


@pytest.fixture
def app(call, orgs):
    """The GHT's accepted file, covering Voiron and Grenoble."""
    return application(
        call,
        orgs["ght"],
        status="acceptee",
        requested=ENGAGED,
        covered=[orgs["voiron"], orgs["grenoble"]],
    )


@pytest.fixture
def manager(orgs):
    return member(Role.ARS_MANAGER, orgs["ars"], email="ars@exemple.fr")


@pytest.fixture
def crrc(orgs):
    return member(Role.CRRC_OPERATOR, orgs["crrc"], email="crrc@exemple.fr")


@pytest.fixture
def rssi(orgs):
    """RSSI of a covered establishment: prepares the file, declares targets."""
    return member(Role.RSSI, orgs["voiron"], email="rssi.voiron@exemple.fr")


@pytest.fixture
def coordinator(orgs):
    return member(Role.GHT_COORDINATOR, orgs["ght"], email="coordination@exemple.fr")


@pytest.fixture
def stranger(orgs):
    """RSSI of an establishment of the region that the file does not cover."""
    return member(Role.RSSI, orgs["lyon"], email="rssi.lyon@exemple.fr")


@pytest.fixture
def far_manager(other_region):
    ars = OrganisationFactory(
        kind=OrgKind.ARS, name="ARS IDF", region=other_region, finess=None, sector=""
    )
    return member(Role.ARS_MANAGER, ars, email="ars.idf@exemple.fr")


def restoration(organisation, *, result="Restauration réussie en 4 h", level=None, **extra):
    return measurement_services.record_measurement(
        organisation=organisation,
        kind=extra.pop("kind", Measurement.RESTORATION_TEST),
        result=result,
        level=level,
        measured_on=extra.pop("measured_on", days(-10)),
        source=extra.pop("source", "Test de restauration interne"),
        recorded_by=None,
        **extra,
    )


def declare(actor, app, requirement, **proofs):
    return ds.target_declare(actor=actor, application=app, requirement_id=requirement.pk, **proofs)


def declare_all_validated(app, targets, rssi, manager):
    """Both targets declared and validated (what the payment needs)."""
    measurement = restoration(app.applicant)
    for requirement in (targets["doc"], targets["measure"]):
        extra = {"measurement_ids": [measurement.pk]} if requirement == targets["measure"] else {}
        declaration = declare(
            rssi, app, requirement, links=["https://intranet.exemple.fr/pca"], **extra
        )
        ds.target_validate(actor=manager, declaration=declaration)


def refused(callable_, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as info:
        callable_(**kwargs)
    return info.value


# --- Declaring ------------------------------------------------------------------------------------


def test_declare_with_a_file_records_proof_event_audit_and_mail(
    app, targets, rssi, manager, coordinator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        declaration = declare(
            rssi,
            app,
            targets["doc"],
            statement="Test du PCA réalisé le 12 mars avec la direction des soins.",
            files=[pdf_upload("compte-rendu-test-pca.pdf")],
        )
    assert declaration.status == DeclarationStatus.DECLARED
    assert declaration.declared_by == rssi
    proof = declaration.proofs.get()
    assert proof.kind == ProofKind.FILE
    assert proof.original_name == "compte-rendu-test-pca.pdf"
    assert proof.content_type == "application/pdf"
    assert len(proof.sha256) == 64
    assert proof.file.name.startswith("prive/programme/declarationproof/")
    assert "compte-rendu" not in proof.file.name  # stored under a random name
    event = ApplicationEvent.objects.get(application=app, kind=EventKind.TARGET_DECLARED)
    assert event.actor == rssi
    assert "D2.01.D" in event.message
    assert "1 preuve" in event.message
    # The ARS hears about it; the declarant and the applicant's people do not.
    assert [m.to for m in mail.outbox] == [["ars@exemple.fr"]]
    assert "Cible déclarée atteinte" in mail.outbox[0].subject
    assert AuditEntry.objects.filter(
        content_type__model="targetdeclaration",
        object_pk=str(declaration.pk),
        action=AuditEntry.Action.CREATE,
        organisation_id=app.applicant_id,
    ).exists()
    assert AuditEntry.objects.filter(
        content_type__model="declarationproof", object_pk=str(proof.pk)
    ).exists()


def test_a_declaration_without_proof_is_refused(app, targets, rssi):
    error = refused(
        ds.target_declare,
        actor=rssi,
        application=app,
        requirement_id=targets["doc"].pk,
        statement="C'est fait.",
    )
    assert error.code == "proof_required"
    assert "sans preuve" in error.message
    # blank entries do not count as proofs
    error = refused(
        ds.target_declare,
        actor=rssi,
        application=app,
        requirement_id=targets["doc"].pk,
        files=[None],
        links=[""],
    )
    assert error.code == "proof_required"
    assert not TargetDeclaration.objects.exists()


def test_declarations_close_after_the_deadline_inclusive(app, call, targets, rssi, monkeypatch):
    travel(monkeypatch, call.declaration_deadline)
    declare(rssi, app, targets["doc"], links=["https://exemple.fr/retex.pdf"])

    travel(monkeypatch, call.declaration_deadline + datetime.timedelta(days=1))
    error = refused(
        ds.target_declare,
        actor=rssi,
        application=app,
        requirement_id=targets["measure"].pk,
        links=["https://exemple.fr/test.pdf"],
    )
    assert error.code == "window_closed"
    deadline = windows.format_date_fr(call.declaration_deadline)
    assert f"close depuis le {deadline} au soir" in error.message
    assert "Prochaine étape : le guichet de paiement" in error.message
    assert windows.format_date_fr(call.payment_closes_on) in error.message
    assert TargetDeclaration.objects.count() == 1


def test_closed_declarations_say_when_payment_opens(region, domain, targets, orgs, rssi):
    call = make_call(region, domain, declaration_deadline=days(-5), payment_opens_on=days(30))
    app = application(call, orgs["ght"], status="acceptee", covered=[orgs["voiron"]])
    error = refused(
        ds.target_declare,
        actor=rssi,
        application=app,
        requirement_id=targets["doc"].pk,
        links=["https://exemple.fr/a"],
    )
    assert error.code == "window_closed"
    assert windows.format_date_fr(days(-5)) in error.message
    assert "l'ARS vérifie les cibles déclarées" in error.message
    assert f"ouvre du {windows.format_date_fr(days(30))}" in error.message


def test_after_the_payment_window_too_the_message_says_so(app, call, targets, rssi, monkeypatch):
    travel(monkeypatch, call.payment_closes_on + datetime.timedelta(days=3))
    error = refused(
        ds.target_declare,
        actor=rssi,
        application=app,
        requirement_id=targets["doc"].pk,
        links=["https://exemple.fr/a"],
    )
    assert "lui aussi clos" in error.message
    assert "bilan financier" in error.message


def test_only_an_accepted_file_declares(call, orgs, targets, rssi):
    pending = application(call, orgs["ght"], status="en_instruction", covered=[orgs["voiron"]])
    error = refused(
        ds.target_declare,
        actor=rssi,
        application=pending,
        requirement_id=targets["doc"].pk,
        links=["https://exemple.fr/a"],
    )
    assert error.code == "not_accepted"
    assert "en instruction" in error.message


def test_only_targets_of_the_calls_domain(app, targets, rssi):
    for requirement in (targets["prerequisite"], targets["foreign"]):
        error = refused(
            ds.target_declare,
            actor=rssi,
            application=app,
            requirement_id=requirement.pk,
            links=["https://exemple.fr/a"],
        )
        assert error.code == "invalid_target"
    error = refused(
        ds.target_declare,
        actor=rssi,
        application=app,
        requirement_id="not a number",
        links=["https://exemple.fr/a"],
    )
    assert error.code == "invalid_target"


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(1)",
        "ftp://depot.exemple.fr/pca.pdf",
        "www.exemple.fr/pca",
        "file:///etc/passwd",
        "https://",
        "data:text/html,<script>alert(1)</script>",
    ],
)
def test_links_must_be_http_or_https(app, targets, rssi, link):
    error = refused(
        ds.target_declare,
        actor=rssi,
        application=app,
        requirement_id=targets["doc"].pk,
        links=[link],
    )
    assert error.code == "invalid_link"
    assert error.field == "link"
    assert "https://" in error.message
    assert not TargetDeclaration.objects.exists()


def test_a_link_proof_keeps_url_and_label(app, targets, rssi):
    declaration = declare(
        rssi,
        app,
        targets["doc"],
        links=[ds.LinkProof(" https://ged.chu.fr/pca/retex?v=2 ", "RETEX du test PCA")],
    )
    proof = declaration.proofs.get()
    assert (proof.kind, proof.url, proof.label) == (
        ProofKind.LINK,
        "https://ged.chu.fr/pca/retex?v=2",
        "RETEX du test PCA",
    )


def test_an_unsafe_upload_is_refused(app, targets, rssi):
    fake = SimpleUploadedFile(
        "rapport.pdf", b"MZ\x90\x00 not a pdf", content_type="application/pdf"
    )
    error = refused(
        ds.target_declare,
        actor=rssi,
        application=app,
        requirement_id=targets["doc"].pk,
        files=[fake],
    )
    assert error.code == "file_content"
    assert not DeclarationProof.objects.exists()


# --- Measurements as proofs -----------------------------------------------------------------------


def test_a_measured_target_needs_a_measurement(app, targets, rssi):
    error = refused(
        ds.target_declare,
        actor=rssi,
        application=app,
        requirement_id=targets["measure"].pk,
        files=[pdf_upload("pv-restauration.pdf")],
    )
    assert error.code == "measurement_required"
    assert "Test de restauration" in error.message
    assert not TargetDeclaration.objects.exists()


def test_measurements_of_the_applicant_or_a_covered_establishment_with_documents(
    app, orgs, targets, rssi
):
    of_ght = restoration(orgs["ght"], result="Restauration du DPI en 6 h")
    of_voiron = restoration(orgs["voiron"], result="Restauration de la messagerie en 2 h", level=4)
    declaration = declare(
        rssi,
        app,
        targets["measure"],
        measurement_ids=[of_ght.pk, str(of_voiron.pk)],
        files=[pdf_upload("pv.pdf")],
    )
    kinds = sorted(declaration.proofs.values_list("kind", flat=True))
    assert kinds == [ProofKind.FILE, ProofKind.MEASUREMENT, ProofKind.MEASUREMENT]
    snapshot = declaration.proofs.get(measurement=of_voiron).measurement_snapshot
    assert snapshot["organisation_name"] == "CH Voiron"
    assert snapshot["organisation_id"] == orgs["voiron"].pk
    assert snapshot["level"] == 4
    assert snapshot["kind"] == Measurement.RESTORATION_TEST
    assert snapshot["measured_on"] == days(-10).isoformat()
    assert snapshot["source"] == "Test de restauration interne"
    assert snapshot["recorded_at"]


def test_a_measurement_of_the_wrong_kind_is_refused(app, orgs, targets, rssi):
    scan = restoration(orgs["ght"], kind=Measurement.EXPOSURE_SCAN, result="Niveau 3", level=3)
    error = refused(
        ds.target_declare,
        actor=rssi,
        application=app,
        requirement_id=targets["measure"].pk,
        measurement_ids=[scan.pk],
    )
    assert error.code == "wrong_measurement"
    assert "Audit d'exposition" in error.message
    assert "Test de restauration" in error.message


def test_a_measurement_of_a_foreign_organisation_is_refused(app, orgs, targets, rssi):
    elsewhere = restoration(orgs["lyon"])
    error = refused(
        ds.target_declare,
        actor=rssi,
        application=app,
        requirement_id=targets["measure"].pk,
        measurement_ids=[elsewhere.pk],
    )
    assert error.code == "foreign_measurement"
    error = refused(
        ds.target_declare,
        actor=rssi,
        application=app,
        requirement_id=targets["measure"].pk,
        measurement_ids=[elsewhere.pk + 1000],
    )
    assert error.code == "foreign_measurement"
    assert not TargetDeclaration.objects.exists()


def test_a_document_target_takes_no_measurement(app, orgs, targets, rssi):
    measurement = restoration(orgs["ght"])
    error = refused(
        ds.target_declare,
        actor=rssi,
        application=app,
        requirement_id=targets["doc"].pk,
        measurement_ids=[measurement.pk],
    )
    assert error.code == "invalid_measurement"


def test_the_snapshot_stays_frozen_when_the_measurement_changes(app, orgs, targets, rssi):
    measurement = restoration(orgs["voiron"], result="Restauration réussie en 4 h", level=3)
    declaration = declare(rssi, app, targets["measure"], measurement_ids=[measurement.pk])
    before = declaration.proofs.get().measurement_snapshot

    measurement.result = "Échec de la restauration"
    measurement.level = 1
    measurement.measured_on = days(-1)
    measurement.source = "Corrigé"
    measurement.save()
    orgs["voiron"].name = "CH Voiron (renommé)"
    orgs["voiron"].save()

    proof = DeclarationProof.objects.get(declaration=declaration)
    assert proof.measurement_snapshot == before
    assert proof.measurement_snapshot["result"] == "Restauration réussie en 4 h"
    assert proof.measurement_snapshot["level"] == 3
    assert proof.measurement_snapshot["organisation_name"] == "CH Voiron"
    row = next(r for r in ds.target_rows(app) if r.requirement == targets["measure"])
    assert row.proofs[0].snapshot_measured_on == days(-10)


# --- Declaring again, review by the ARS -----------------------------------------------------------


def test_refused_can_be_declared_again_validated_is_final(app, targets, rssi, manager):
    declaration = declare(rssi, app, targets["doc"], links=["https://exemple.fr/v1"])
    error = refused(
        ds.target_declare,
        actor=rssi,
        application=app,
        requirement_id=targets["doc"].pk,
        links=["https://exemple.fr/v1bis"],
    )
    assert error.code == "already_declared"

    error = refused(ds.target_refuse, actor=manager, declaration=declaration, comment="  ")
    assert error.code == "reason_required"
    assert error.field == "comment"
    ds.target_refuse(
        actor=manager, declaration=declaration, comment="Le compte rendu n'est pas signé."
    )
    declaration.refresh_from_db()
    assert declaration.status == DeclarationStatus.REFUSED
    assert declaration.review_comment == "Le compte rendu n'est pas signé."

    # again, without a new proof: refused; with one: declared again
    error = refused(
        ds.target_declare, actor=rssi, application=app, requirement_id=targets["doc"].pk
    )
    assert error.code == "proof_required"
    again = declare(rssi, app, targets["doc"], files=[pdf_upload("compte-rendu-signe.pdf")])
    assert again.pk == declaration.pk
    assert again.status == DeclarationStatus.DECLARED
    assert again.reviewed_at is None
    assert again.review_comment == ""
    assert again.proofs.count() == 2
    row = next(r for r in ds.target_rows(app) if r.requirement == targets["doc"])
    assert [p.earlier for p in row.proofs] == [True, False]
    event = ApplicationEvent.objects.filter(kind=EventKind.TARGET_DECLARED).latest("pk")
    assert "déclarée à nouveau" in event.message

    ds.target_validate(actor=manager, declaration=again, comment="Conforme.")
    again.refresh_from_db()
    assert again.status == DeclarationStatus.VALIDATED
    assert again.reviewed_by == manager
    error = refused(
        ds.target_declare,
        actor=rssi,
        application=app,
        requirement_id=targets["doc"].pk,
        links=["https://exemple.fr/v3"],
    )
    assert error.code == "already_validated"
    error = refused(ds.target_refuse, actor=manager, declaration=again, comment="Revirement")
    assert error.code == "invalid_state"


def test_review_events_and_mails_go_to_the_applicants_people(
    app, targets, rssi, coordinator, manager, django_capture_on_commit_callbacks
):
    declaration = declare(rssi, app, targets["doc"], links=["https://exemple.fr/v1"])
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        ds.target_refuse(actor=manager, declaration=declaration, comment="Preuve illisible.")
    recipients = sorted(m.to[0] for m in mail.outbox)
    assert recipients == ["coordination@exemple.fr", "rssi.voiron@exemple.fr"]
    assert "Preuve illisible." in mail.outbox[0].body
    event = ApplicationEvent.objects.get(kind=EventKind.TARGET_REFUSED)
    assert event.actor == manager
    assert "D2.01.D" in event.message
    assert AuditEntry.objects.filter(
        content_type__model="targetdeclaration",
        object_pk=str(declaration.pk),
        action=AuditEntry.Action.UPDATE,
    ).exists()

    declaration = declare(rssi, app, targets["doc"], links=["https://exemple.fr/v2"])
    with django_capture_on_commit_callbacks(execute=True):
        ds.target_validate(actor=manager, declaration=declaration)
    assert ApplicationEvent.objects.filter(kind=EventKind.TARGET_VALIDATED).count() == 1


def test_rights_crrc_reads_but_neither_declares_nor_validates(
    app, targets, rssi, crrc, manager, coordinator, stranger, far_manager
):
    for person in (crrc, manager, stranger, far_manager):
        error = refused(
            ds.target_declare,
            actor=person,
            application=app,
            requirement_id=targets["doc"].pk,
            links=["https://exemple.fr/a"],
        )
        assert error.code == "forbidden"
    # the GHT coordinator declares for the file too
    declaration = declare(coordinator, app, targets["doc"], links=["https://exemple.fr/a"])
    for person in (crrc, rssi, coordinator, stranger, far_manager):
        error = refused(ds.target_validate, actor=person, declaration=declaration)
        assert error.code == "forbidden"
    declaration.refresh_from_db()
    assert declaration.status == DeclarationStatus.DECLARED


def test_target_rows_show_partial_attainment(app, targets, rssi, manager):
    rows = ds.target_rows(app)
    assert [r.requirement.identifier for r in rows] == ["D2.01.D", "D2.02.R"]
    assert [r.status for r in rows] == [ds.NOT_DECLARED, ds.NOT_DECLARED]
    declaration = declare(rssi, app, targets["doc"], links=["https://exemple.fr/a"])
    ds.target_validate(actor=manager, declaration=declaration)
    rows = ds.target_rows(app)
    assert ds.validated_count(rows) == 1
    assert [r.status_label for r in rows] == ["Validée par l'ARS", "Non déclarée"]
    assert [r.requirement.identifier for r in ds.targets_not_validated(app)] == ["D2.02.R"]


def test_measurement_options_are_the_files_organisations_only(app, orgs):
    restoration(orgs["ght"])
    restoration(orgs["grenoble"], kind=Measurement.CRISIS_EXERCISE, result="Exercice joué")
    restoration(orgs["lyon"])
    options = ds.measurement_options(app)
    assert {kind: len(rows) for kind, rows in options.items()} == {
        Measurement.RESTORATION_TEST: 1,
        Measurement.CRISIS_EXERCISE: 1,
    }


def test_amount_engaged_is_untouched_by_declarations(app, targets, rssi):
    declare(rssi, app, targets["doc"], links=["https://exemple.fr/a"])
    app.refresh_from_db()
    assert app.engaged_eur == Decimal(ENGAGED)
