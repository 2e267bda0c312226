"""The life of a file in the services: who opens it, what it must contain, when it is
submitted, how the ARS reviews it (envelope never exceeded), comments, notices and the ARS's
own ceilings. The fixtures are shared with test_application_views.py."""

import datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from rempart.core.errors import DomainError
from rempart.core.models import AuditEntry
from rempart.core.roles import OrgKind, Role
from rempart.organisations.tests.factories import OrganisationFactory, RegionFactory, member
from rempart.programme import application_services as svc
from rempart.programme import windows
from rempart.programme.models import (
    ApplicantRule,
    Application,
    ApplicationDocument,
    ApplicationEvent,
    ApplicationStatus,
    Attainment,
    BudgetLine,
    CeilingOverride,
    EventKind,
    Requirement,
    RequirementKind,
)
from rempart.programme.windows import paris_today

from .factories import (
    CallFactory,
    DomainFactory,
    application,
    ehpad_category,
    establishment,
    ght,
    legal_entity,
    pdf_upload,
)

pytestmark = pytest.mark.django_db

TODAY = paris_today()
S = ApplicationStatus


# --- Shared fixtures (imported by test_application_views.py) ----------------------------------


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    """Uploaded files go to a temporary folder, never to the project's var/media."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def region():
    return RegionFactory(code="84", name="Auvergne-Rhône-Alpes")


@pytest.fixture
def other_region():
    return RegionFactory(code="11", name="Île-de-France")


@pytest.fixture
def domain():
    domain = DomainFactory(code="D2", title="Continuité et reprise d'activité")
    for position, (identifier, label) in enumerate(
        [("D2.P1", "Organisation projet en place"), ("D2.P2", "Référent SSI nommé")]
    ):
        Requirement.objects.create(
            domain=domain,
            kind=RequirementKind.PREREQUISITE,
            identifier=identifier,
            label=label,
            attainment=Attainment.DECLARED,
            position=position,
        )
    Requirement.objects.create(
        domain=domain,
        kind=RequirementKind.TARGET,
        identifier="D2.01.D",
        label="Test de PCA",
        attainment=Attainment.DOCUMENT,
    )
    return domain


@pytest.fixture
def orgs(region, other_region):
    group = ght(region, "GHT Alpes Dauphiné")
    tilleuls = legal_entity(region, "Association Les Tilleuls")

    def office(kind, name, where):
        extra = {} if where else {"departement": None}
        return OrganisationFactory(
            kind=kind, name=name, region=where, finess=None, sector="", **extra
        )

    return {
        "ars": office(OrgKind.ARS, "ARS ARA", region),
        "crrc": office(OrgKind.CRRC, "CRRC ARA", region),
        "national": office(OrgKind.NATIONAL, "Agence du numérique en santé", None),
        "ght": group,
        "voiron": establishment(region, "CH Voiron", "42000000", ght=group),
        "grenoble": establishment(region, "CH Grenoble", "3000000", ght=group),
        "tilleuls": tilleuls,
        "clinique": establishment(
            region, "Clinique des Tilleuls", "3000000", legal_entity=tilleuls
        ),
        "ars_idf": office(OrgKind.ARS, "ARS IDF", other_region),
        "paris": establishment(other_region, "CH Paris Est", "8000000"),
    }


@pytest.fixture
def people(orgs):
    return {
        "manager": member(Role.ARS_MANAGER, orgs["ars"], email="ars@ara.fr"),
        "operator": member(Role.CRRC_OPERATOR, orgs["crrc"], email="crrc@ara.fr"),
        "observer": member(Role.NATIONAL_OBSERVER, orgs["national"], email="obs@ans.fr"),
        "coordinator": member(Role.GHT_COORDINATOR, orgs["ght"], email="coord@ght.fr"),
        "rssi": member(Role.RSSI, orgs["voiron"], email="rssi@voiron.fr"),
        "grenoble_dsi": member(Role.DSI, orgs["grenoble"], email="dsi@grenoble.fr"),
        "tilleuls_director": member(Role.DIRECTOR, orgs["tilleuls"], email="dir@tilleuls.fr"),
        "learner": member(Role.STAFF, orgs["voiron"], email="agent@voiron.fr"),
        "outsider": member(Role.ARS_MANAGER, orgs["ars_idf"], email="ars@idf.fr"),
        "paris_director": member(Role.DIRECTOR, orgs["paris"], email="dir@paris.fr"),
    }


def open_call(region, domain, **extra):
    """A call whose application window is open today."""
    values = {
        "title": "CaRE D2 — Continuité",
        "application_opens_on": TODAY - datetime.timedelta(days=30),
        "application_closes_on": TODAY + datetime.timedelta(days=60),
        "declaration_deadline": TODAY + datetime.timedelta(days=300),
        "payment_opens_on": TODAY + datetime.timedelta(days=301),
        "payment_closes_on": TODAY + datetime.timedelta(days=400),
    }
    values.update(extra)
    return CallFactory(region=region, domain=domain, **values)


@pytest.fixture
def call(region, domain):
    return open_call(region, domain)


def fill(actor, app, *, requested="60000.00", own="15000.00", budget="75000.00"):
    """Complete a draft through the services: every part, a balanced budget, prerequisites
    met, the signed commitment letter."""
    svc.application_update(
        actor=actor,
        application=app,
        maturity_level=2,
        maturity_summary="Diagnostic réalisé avec le CRRC.",
        project_objectives="Atteindre les cibles D2.",
        project_schedule="Comité de pilotage mensuel.",
        project_lead="Camille Martin",
        requested_eur=requested,
        own_funding_eur=own,
        other_funding_eur="0",
        commitment_signatory="Le directeur général",
        commitment_signed_on=TODAY - datetime.timedelta(days=1),
    )
    svc.budget_set(actor=actor, application=app, lines={"conseil": (budget, "AMOA PCA/PRA")})
    for answer in app.prerequisite_answers.all():
        svc.prerequisite_answer(
            actor=actor, application=app, requirement_id=answer.requirement_id, met=True
        )
    svc.document_add(actor=actor, application=app, part="lettre_engagement", upload=pdf_upload())
    return app


def started(people, orgs, call):
    return svc.application_start(actor=people["rssi"], call=call, applicant=orgs["ght"])


def submitted(people, orgs, call, **fill_kwargs):
    app = fill(people["rssi"], started(people, orgs, call), **fill_kwargs)
    return svc.application_submit(actor=people["rssi"], application=app)


def gap_messages(app, ceiling=None):
    return " ".join(g.message for g in svc.submission_gaps(app, ceiling))


def plain(text: str) -> str:
    return text.replace("\u00a0", " ")


# --- Start ------------------------------------------------------------------------------------


def test_an_establishment_rssi_opens_the_ght_file(people, orgs, call):
    app = started(people, orgs, call)
    assert app.status == S.DRAFT
    assert app.created_by == people["rssi"]
    assert set(app.covered_establishments.values_list("name", flat=True)) == {
        "CH Voiron",
        "CH Grenoble",
    }
    assert sorted(app.prerequisite_answers.values_list("requirement__identifier", flat=True)) == [
        "D2.P1",
        "D2.P2",
    ]
    assert list(app.events.values_list("kind", flat=True)) == [EventKind.CREATED]
    # The GHT's coordinator and the legal entity's director open theirs too.
    assert (
        svc.application_start(
            actor=people["tilleuls_director"], call=call, applicant=orgs["tilleuls"]
        ).covered_establishments.get()
        == orgs["clinique"]
    )


def test_start_refuses_a_second_file(people, orgs, call):
    started(people, orgs, call)
    with pytest.raises(DomainError) as exc:
        svc.application_start(actor=people["coordinator"], call=call, applicant=orgs["ght"])
    assert exc.value.code == "already_exists"
    assert "GHT Alpes Dauphiné a déjà un dossier pour cet appel." in exc.value.message
    assert Application.objects.count() == 1


@pytest.mark.parametrize(
    ("person", "applicant"),
    [
        ("manager", "ght"),  # the ARS decides, never prepares (separation of duties)
        ("operator", "ght"),
        ("observer", "ght"),
        ("learner", "ght"),  # no APPLY_FUNDING
        ("rssi", "tilleuls"),  # not their organisation
        ("tilleuls_director", "ght"),
    ],
)
def test_start_forbidden_to_people_who_do_not_apply_for_it(people, orgs, call, person, applicant):
    with pytest.raises(DomainError) as exc:
        svc.application_start(actor=people[person], call=call, applicant=orgs[applicant])
    assert exc.value.code == "forbidden"
    assert "Vous ne pouvez pas candidater au nom de" in exc.value.message
    assert not Application.objects.exists()


def test_start_refuses_an_applicant_of_another_region(people, orgs, call):
    with pytest.raises(DomainError) as exc:
        svc.application_start(actor=people["paris_director"], call=call, applicant=orgs["paris"])
    assert exc.value.code == "not_applicant"
    assert exc.value.message == "CH Paris Est n'est pas dans la région de cet appel."


def test_start_refuses_an_applicant_without_eligible_establishment(people, orgs, region, domain):
    call = CallFactory(
        region=region,
        domain=domain,
        application_opens_on=TODAY - datetime.timedelta(days=1),
        application_closes_on=TODAY + datetime.timedelta(days=10),
        declaration_deadline=TODAY + datetime.timedelta(days=100),
        payment_opens_on=TODAY + datetime.timedelta(days=101),
        payment_closes_on=TODAY + datetime.timedelta(days=200),
        eligible_categories=[ehpad_category()],
    )
    with pytest.raises(DomainError) as exc:
        svc.application_start(actor=people["coordinator"], call=call, applicant=orgs["ght"])
    assert exc.value.code == "not_applicant"
    assert "Aucun établissement de GHT Alpes Dauphiné n'est d'une catégorie éligible" in (
        exc.value.message
    )


def test_start_refuses_who_does_not_apply_under_the_calls_rule(people, orgs, region, domain):
    """A GHT member applies through its GHT (one file for all members); with the
    « each establishment » rule the GHT itself opens no file."""
    call = open_call(region, domain)
    with pytest.raises(DomainError) as exc:
        svc.application_start(actor=people["rssi"], call=call, applicant=orgs["voiron"])
    assert exc.value.code == "not_applicant"
    per_establishment = open_call(
        region, domain, title="Par établissement", applicant_rule=ApplicantRule.ESTABLISHMENT
    )
    with pytest.raises(DomainError) as exc:
        svc.application_start(
            actor=people["coordinator"], call=per_establishment, applicant=orgs["ght"]
        )
    assert exc.value.code == "not_applicant"
    app = svc.application_start(
        actor=people["rssi"], call=per_establishment, applicant=orgs["voiron"]
    )
    assert list(app.covered_establishments.all()) == [orgs["voiron"]]
    assert not Application.objects.filter(applicant=orgs["ght"]).exists()


def test_start_refused_once_applications_are_closed(people, orgs, region, domain):
    call = CallFactory(region=region, domain=domain)  # applications closed on 31 Oct 2025
    with pytest.raises(DomainError) as exc:
        svc.application_start(actor=people["rssi"], call=call, applicant=orgs["ght"])
    assert exc.value.code == "window_closed"
    assert exc.value.message == (
        "Les candidatures à cet appel sont closes depuis le 31 octobre 2025."
    )


# --- Preparing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"maturity_level": 6}, "maturity_level", "Le niveau de maturité va de 1 à 5."),
        ({"maturity_level": "trois"}, "maturity_level", "Le niveau de maturité va de 1 à 5."),
        ({"requested_eur": "-10"}, "requested_eur", "doit être un montant positif"),
        ({"own_funding_eur": "12.345"}, "own_funding_eur", "au centime près"),
        ({"other_funding_eur": "beaucoup"}, "other_funding_eur", "n'est pas un montant"),
        ({"project_lead": "x" * 256}, "project_lead", "ne doit pas dépasser 255 caractères"),
        (
            {"commitment_signed_on": TODAY + datetime.timedelta(days=1)},
            "commitment_signed_on",
            "ne peut pas être signée dans le futur",
        ),
        ({"commitment_signed_on": "hier"}, "commitment_signed_on", "n'est pas valide"),
        ({"status": "acceptee"}, None, "Ces informations ne se modifient pas : status."),
    ],
)
def test_update_validation(people, orgs, call, changes, field, words):
    app = started(people, orgs, call)
    svc.application_update(actor=people["rssi"], application=app, project_lead="Camille")
    with pytest.raises(DomainError) as exc:
        svc.application_update(actor=people["rssi"], application=app, **changes)
    assert exc.value.field == field
    assert words in exc.value.message
    app.refresh_from_db()
    assert app.project_lead == "Camille"
    assert app.status == S.DRAFT


def test_update_saves_and_empty_amounts(people, orgs, call):
    app = started(people, orgs, call)
    svc.application_update(
        actor=people["coordinator"],
        application=app,
        maturity_level="3",
        project_objectives="  Objectifs  ",
        requested_eur="1000.50",
        own_funding_eur="",
    )
    app.refresh_from_db()
    assert app.maturity_level == 3
    assert app.project_objectives == "Objectifs"
    assert app.requested_eur == Decimal("1000.50")
    assert app.own_funding_eur == Decimal("0")
    svc.application_update(actor=people["rssi"], application=app, requested_eur="")
    app.refresh_from_db()
    assert app.requested_eur is None


def test_only_the_applicants_people_edit_a_draft(people, orgs, call):
    app = started(people, orgs, call)
    for person in ("manager", "operator", "tilleuls_director", "learner", "outsider"):
        with pytest.raises(DomainError) as exc:
            svc.application_update(actor=people[person], application=app, project_lead="X")
        assert exc.value.code == "forbidden"
    # The DSI of another member establishment covered by the GHT's file may.
    svc.application_update(actor=people["grenoble_dsi"], application=app, project_lead="DSI")


def test_budget_set_replaces_lines_and_checks_everything_first(people, orgs, call):
    app = started(people, orgs, call)
    actor = people["rssi"]
    svc.budget_set(
        actor=actor,
        application=app,
        lines={"conseil": ("10000", "AMOA"), "audits": ("5000.50", ""), "outils": ("", "")},
    )
    assert dict(app.budget_lines.values_list("category", "amount_eur")) == {
        "conseil": Decimal("10000.00"),
        "audits": Decimal("5000.50"),
    }
    with pytest.raises(DomainError) as exc:
        svc.budget_set(
            actor=actor,
            application=app,
            lines={"conseil": ("20000", ""), "formation": ("-5", "")},
        )
    assert exc.value.field == "budget_formation"
    assert "« Formation » doit être un montant positif" in exc.value.message
    with pytest.raises(DomainError) as exc:
        svc.budget_set(actor=actor, application=app, lines={"voyages": ("100", "")})
    assert "n'est pas éligible" in exc.value.message
    with pytest.raises(DomainError) as exc:
        svc.budget_set(actor=actor, application=app, lines={"conseil": ("100", "d" * 501)})
    assert "500 caractères" in exc.value.message
    # Nothing changed by the refused calls.
    assert app.budget_lines.get(category="conseil").amount_eur == Decimal("10000.00")
    # Zero or empty drops a line.
    svc.budget_set(actor=actor, application=app, lines={"conseil": ("0", ""), "audits": ("", "")})
    assert not app.budget_lines.exists()


def test_prerequisite_answers(people, orgs, call, domain):
    app = started(people, orgs, call)
    p1 = Requirement.objects.get(identifier="D2.P1")
    target = Requirement.objects.get(identifier="D2.01.D")
    answer = svc.prerequisite_answer(
        actor=people["rssi"],
        application=app,
        requirement_id=p1.pk,
        met=True,
        comment=" Chef de projet nommé ",
    )
    assert (answer.met, answer.comment) == (True, "Chef de projet nommé")
    with pytest.raises(DomainError) as exc:
        svc.prerequisite_answer(
            actor=people["rssi"], application=app, requirement_id=target.pk, met=True
        )
    assert exc.value.message == "Ce prérequis ne concerne pas ce dossier."
    with pytest.raises(DomainError) as exc:
        svc.prerequisite_answer(
            actor=people["rssi"],
            application=app,
            requirement_id=p1.pk,
            met=True,
            comment="x" * 5001,
        )
    assert exc.value.field == "comment"
    with pytest.raises(DomainError) as exc:
        svc.prerequisite_answer(
            actor=people["manager"], application=app, requirement_id=p1.pk, met=False
        )
    assert exc.value.code == "forbidden"


# --- Documents ----------------------------------------------------------------------------------


def test_document_add_stores_a_checked_file(people, orgs, call):
    app = started(people, orgs, call)
    document = svc.document_add(
        actor=people["rssi"], application=app, part="lettre_engagement", upload=pdf_upload()
    )
    assert document.original_name == "lettre-engagement.pdf"
    assert document.content_type == "application/pdf"
    assert len(document.sha256) == 64
    assert document.file.name.startswith("prive/programme/applicationdocument/")
    assert "lettre" not in document.file.name  # a random name, never the uploaded one
    with document.file.open("rb") as handle:
        assert handle.read().startswith(b"%PDF")
    assert app.events.filter(kind=EventKind.DOCUMENT_ADDED).exists()


@pytest.mark.parametrize(
    ("upload", "part", "code", "words"),
    [
        (
            SimpleUploadedFile("outil.exe", b"MZ\x90\x00binary"),
            "budget",
            "file_type",
            "n'est pas d'un type accepté",
        ),
        (
            SimpleUploadedFile("budget.pdf", b"<html>pas un pdf</html>"),
            "budget",
            "file_content",
            "ne correspond pas à son extension .pdf",
        ),
        (SimpleUploadedFile("vide.pdf", b""), "budget", "file_empty", "est vide"),
        (None, "budget", "file_missing", "Choisissez un fichier."),
        (pdf_upload(), "photo", "invalid", "Choisissez la pièce du dossier."),
    ],
)
def test_document_add_refusals(people, orgs, call, upload, part, code, words):
    app = started(people, orgs, call)
    with pytest.raises(DomainError) as exc:
        svc.document_add(actor=people["rssi"], application=app, part=part, upload=upload)
    assert exc.value.code == code
    assert words in exc.value.message
    assert not ApplicationDocument.objects.exists()


def test_document_add_refuses_a_file_too_large(people, orgs, call, settings):
    settings.REMPART_UPLOAD_MAX_BYTES = 50
    app = started(people, orgs, call)
    with pytest.raises(DomainError) as exc:
        svc.document_add(actor=people["rssi"], application=app, part="budget", upload=pdf_upload())
    assert exc.value.code == "file_too_large"
    assert "la taille maximale est 50 octets" in exc.value.message
    assert not ApplicationDocument.objects.exists()


def test_document_remove(people, orgs, call, django_capture_on_commit_callbacks):
    app = started(people, orgs, call)
    document = svc.document_add(
        actor=people["rssi"], application=app, part="budget", upload=pdf_upload("budget.pdf")
    )
    storage, name = document.file.storage, document.file.name
    assert storage.exists(name)
    with pytest.raises(DomainError):
        svc.document_remove(actor=people["manager"], document=document)
    with django_capture_on_commit_callbacks(execute=True):
        svc.document_remove(actor=people["rssi"], document=document)
    assert not ApplicationDocument.objects.exists()
    assert not storage.exists(name)
    assert app.events.filter(
        kind=EventKind.DOCUMENT_REMOVED, message="Budget prévisionnel : budget.pdf"
    )


# --- Submission ---------------------------------------------------------------------------------


def test_gaps_of_an_empty_draft(people, orgs, call):
    app = started(people, orgs, call)
    fields = [g.field for g in svc.submission_gaps(app)]
    assert fields == [
        "maturity_level",
        "maturity_summary",
        "project_objectives",
        "project_lead",
        "budget",
        "requested_eur",
        "commitment_signatory",
        "documents",
        "prerequisites",
        "prerequisites",
    ]
    text = gap_messages(app)
    assert "Joignez la pièce « Lettre d'engagement signée du directeur »." in text
    assert "Prérequis D2.P1 non rempli : Organisation projet en place" in text


def test_gaps_unbalanced_budget_and_over_ceiling(people, orgs, call):
    app = fill(people["rssi"], started(people, orgs, call))
    assert svc.submission_gaps(app, Decimal("75000.00")) == []
    svc.application_update(actor=people["rssi"], application=app, own_funding_eur="10000")
    text = plain(gap_messages(app, Decimal("75000.00")))
    assert (
        "Le budget ne s'équilibre pas : les dépenses prévues (75 000,00 €) doivent égaler les "
        "financements (CaRE 60 000,00 € + autofinancement 10 000,00 € + autres 0,00 € = "
        "70 000,00 €)." in text
    )
    svc.application_update(actor=people["rssi"], application=app, own_funding_eur="15000")
    text = plain(gap_messages(app, Decimal("50000.00")))
    assert "Le financement demandé (60 000,00 €) dépasse le plafond du dossier (50 000,00 €)." in (
        text
    )


def test_gaps_missing_letter_and_unmet_prerequisite(people, orgs, call):
    app = fill(people["rssi"], started(people, orgs, call))
    app.documents.all().delete()
    p2 = Requirement.objects.get(identifier="D2.P2")
    svc.prerequisite_answer(actor=people["rssi"], application=app, requirement_id=p2.pk, met=False)
    svc.application_update(actor=people["rssi"], application=app, commitment_signed_on=None)
    gaps = svc.submission_gaps(app, Decimal("75000.00"))
    assert [g.field for g in gaps] == ["commitment_signatory", "documents", "prerequisites"]
    assert gaps[2].message == "Prérequis D2.P2 non rempli : Référent SSI nommé."


def test_submit_freezes_the_ceiling_and_notifies_the_ars(
    people, orgs, call, django_capture_on_commit_callbacks, mailoutbox
):
    app = fill(people["rssi"], started(people, orgs, call))
    with django_capture_on_commit_callbacks(execute=True):
        svc.application_submit(actor=people["rssi"], application=app)
    app.refresh_from_db()
    assert app.status == S.SUBMITTED
    assert app.submitted_at is not None
    assert app.ceiling_eur == Decimal("75000.00")  # 60 000 (Voiron) + 15 000 (Grenoble)
    assert any("Somme sur 2 établissements" in step for step in app.ceiling_steps)
    assert app.events.filter(kind=EventKind.SUBMITTED).exists()
    # The region's ARS manager hears of it, not the other region's, not the author.
    assert [m.to for m in mailoutbox] == [["ars@ara.fr"]]
    assert "Dossier déposé" in mailoutbox[0].subject
    assert f"/programme/dossiers/{app.pk}/" in mailoutbox[0].body
    # A submitted file no longer changes.
    with pytest.raises(DomainError) as exc:
        svc.application_update(actor=people["rssi"], application=app, project_lead="Autre")
    assert exc.value.code == "not_editable"
    assert "déposée" in exc.value.message


def test_submit_refuses_an_incomplete_file(people, orgs, call):
    app = started(people, orgs, call)
    svc.application_update(actor=people["rssi"], application=app, maturity_level=2)
    with pytest.raises(DomainError) as exc:
        svc.application_submit(actor=people["rssi"], application=app)
    assert exc.value.code == "incomplete"
    assert exc.value.message.startswith("Le dossier n'est pas complet : Rédigez le diagnostic")
    assert exc.value.field == "maturity_summary"
    app.refresh_from_db()
    assert app.status == S.DRAFT


def test_submit_refuses_a_request_over_the_ceiling(people, orgs, call):
    app = fill(
        people["rssi"], started(people, orgs, call), requested="80000", own="0", budget="80000"
    )
    with pytest.raises(DomainError) as exc:
        svc.application_submit(actor=people["rssi"], application=app)
    assert "dépasse le plafond du dossier (75 000,00 €)" in plain(exc.value.message)
    assert exc.value.field == "requested_eur"


def _move_today(monkeypatch, day):
    monkeypatch.setattr(svc, "paris_today", lambda: day)
    monkeypatch.setattr(windows, "paris_today", lambda: day)


def test_submit_outside_the_window(people, orgs, call, monkeypatch):
    app = fill(people["rssi"], started(people, orgs, call))
    _move_today(monkeypatch, call.application_closes_on + datetime.timedelta(days=1))
    with pytest.raises(DomainError) as exc:
        svc.application_submit(actor=people["rssi"], application=app)
    assert exc.value.code == "window_closed"
    assert "La fenêtre de candidature est close depuis le" in exc.value.message
    assert "Prochaine étape" in exc.value.message
    _move_today(monkeypatch, call.application_opens_on - datetime.timedelta(days=1))
    with pytest.raises(DomainError) as exc:
        svc.application_submit(actor=people["rssi"], application=app)
    assert exc.value.code == "window_not_open"
    app.refresh_from_db()
    assert app.status == S.DRAFT
    # On the closing day itself it is still open (Paris time, inclusive).
    _move_today(monkeypatch, call.application_closes_on)
    svc.application_submit(actor=people["rssi"], application=app)


def test_resubmission_after_a_complement_is_allowed_after_closing(
    people, orgs, call, monkeypatch, django_capture_on_commit_callbacks, mailoutbox
):
    app = submitted(people, orgs, call)
    with django_capture_on_commit_callbacks(execute=True):
        svc.request_complement(
            actor=people["manager"], application=app, message="Joignez le devis du prestataire."
        )
    app.refresh_from_db()
    assert app.status == S.COMPLEMENT_REQUESTED
    # The applicant's people are told (GHT coordinator, covered establishments' people).
    recipients = sorted(email for m in mailoutbox for email in m.to)
    assert recipients == ["coord@ght.fr", "dsi@grenoble.fr", "rssi@voiron.fr"]
    assert "Joignez le devis du prestataire." in mailoutbox[0].body
    mailoutbox.clear()
    _move_today(monkeypatch, call.application_closes_on + datetime.timedelta(days=10))
    svc.application_update(actor=people["rssi"], application=app, project_schedule="Revu")
    with django_capture_on_commit_callbacks(execute=True):
        svc.application_submit(actor=people["rssi"], application=app)
    app.refresh_from_db()
    assert app.status == S.SUBMITTED
    assert app.events.filter(kind=EventKind.COMPLEMENT_PROVIDED).exists()
    assert [m.to for m in mailoutbox] == [["ars@ara.fr"]]


# --- Review -------------------------------------------------------------------------------------


def test_review_transitions(people, orgs, call, django_capture_on_commit_callbacks, mailoutbox):
    app = submitted(people, orgs, call)
    manager = people["manager"]
    for person in ("operator", "rssi", "coordinator", "outsider", "observer"):
        with pytest.raises(DomainError) as exc:
            svc.review_start(actor=people[person], application=app)
        assert exc.value.code == "forbidden"
        assert exc.value.message == "Seule l'ARS de la région instruit ce dossier."
        with pytest.raises(DomainError):
            svc.application_accept(actor=people[person], application=app)
    app = svc.review_start(actor=manager, application=app)
    assert app.status == S.UNDER_REVIEW
    with pytest.raises(DomainError) as exc:
        svc.review_start(actor=manager, application=app)
    assert exc.value.code == "invalid_state"
    assert "en instruction" in exc.value.message
    with django_capture_on_commit_callbacks(execute=True):
        app = svc.application_accept(actor=manager, application=app, comment="Dossier solide.")
    assert app.status == S.ACCEPTED
    assert app.engaged_eur == Decimal("60000.00")
    assert app.decided_by == manager
    assert app.decision_reason == "Dossier solide."
    assert svc.engaged_on(call) == Decimal("60000.00")
    assert sorted(e for m in mailoutbox for e in m.to) == [
        "coord@ght.fr",
        "dsi@grenoble.fr",
        "rssi@voiron.fr",
    ]
    assert "Montant engagé : 60 000,00 €" in plain(mailoutbox[0].body)
    for step in (svc.review_start, svc.application_accept):
        with pytest.raises(DomainError) as exc:
            step(actor=manager, application=app)
        assert exc.value.code == "invalid_state"
    with pytest.raises(DomainError):
        svc.application_reject(actor=manager, application=app, reason="Trop tard")
    with pytest.raises(DomainError):
        svc.request_complement(actor=manager, application=app, message="Trop tard")


def test_a_draft_cannot_be_reviewed(people, orgs, call):
    app = started(people, orgs, call)
    with pytest.raises(DomainError) as exc:
        svc.application_accept(actor=people["manager"], application=app)
    assert exc.value.code == "invalid_state"
    assert "brouillon" in exc.value.message


def test_accept_refuses_when_the_envelope_would_be_exceeded(people, orgs, region, domain):
    call = open_call(region, domain, envelope_eur=Decimal("70000.00"))
    application(call, orgs["tilleuls"], status=S.ACCEPTED, requested="15000.00")
    app = submitted(people, orgs, call)  # asks for 60 000 with 55 000 left
    with pytest.raises(DomainError) as exc:
        svc.application_accept(actor=people["manager"], application=app)
    assert exc.value.code == "envelope_exceeded"
    assert plain(exc.value.message) == (
        "Accepter ce dossier engagerait 75 000,00 € pour une enveloppe régionale de "
        "70 000,00 € : il reste 55 000,00 € à engager et le dossier demande 60 000,00 €."
    )
    app.refresh_from_db()
    assert app.status == S.SUBMITTED
    assert app.engaged_eur is None
    assert svc.engaged_on(call) == Decimal("15000.00")
    # Exactly what is left fits.
    call.envelope_eur = Decimal("75000.00")
    call.save()
    assert svc.application_accept(actor=people["manager"], application=app).status == S.ACCEPTED
    assert svc.engaged_on(call) == call.envelope_eur


def test_accept_refuses_a_request_over_the_frozen_ceiling(people, orgs, call):
    app = application(call, orgs["tilleuls"], requested="20000.00", ceiling="15000.00")
    with pytest.raises(DomainError) as exc:
        svc.application_accept(actor=people["manager"], application=app)
    assert exc.value.code == "over_ceiling"


def test_reject_needs_a_reason(people, orgs, call, django_capture_on_commit_callbacks, mailoutbox):
    app = submitted(people, orgs, call)
    with pytest.raises(DomainError) as exc:
        svc.application_reject(actor=people["manager"], application=app, reason="   ")
    assert exc.value.field == "reason"
    assert exc.value.message == "Indiquez le motif du rejet : il est communiqué au candidat."
    with pytest.raises(DomainError) as exc:
        svc.request_complement(actor=people["manager"], application=app, message="")
    assert exc.value.field == "message"
    with django_capture_on_commit_callbacks(execute=True):
        app = svc.application_reject(
            actor=people["manager"], application=app, reason="Prérequis non démontrés."
        )
    assert app.status == S.REJECTED
    assert app.decision_reason == "Prérequis non démontrés."
    assert app.engaged_eur is None
    assert all("Prérequis non démontrés." in m.body for m in mailoutbox)
    assert "rssi@voiron.fr" in {e for m in mailoutbox for e in m.to}


# --- Comments -----------------------------------------------------------------------------------


def test_comments(people, orgs, call, django_capture_on_commit_callbacks, mailoutbox):
    app = submitted(people, orgs, call)
    with django_capture_on_commit_callbacks(execute=True):
        comment = svc.comment_add(
            actor=people["operator"], application=app, body="  Pensez au test de restauration. "
        )
    assert comment.body == "Pensez au test de restauration."
    assert comment.author_organisation == orgs["crrc"]
    # Both sides hear of it (the applicant's people and the ARS), never the author.
    recipients = sorted(e for m in mailoutbox for e in m.to)
    assert recipients == ["ars@ara.fr", "coord@ght.fr", "dsi@grenoble.fr", "rssi@voiron.fr"]
    assert "nouveau commentaire" in mailoutbox[0].subject
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        svc.comment_add(actor=people["rssi"], application=app, body="C'est prévu.")
    assert "rssi@voiron.fr" not in {e for m in mailoutbox for e in m.to}
    assert (
        svc.comment_add(actor=people["manager"], application=app, body="Noté.").author_organisation
        == orgs["ars"]
    )
    for person in ("observer", "outsider", "learner", "tilleuls_director"):
        with pytest.raises(DomainError) as exc:
            svc.comment_add(actor=people[person], application=app, body="Bonjour")
        assert exc.value.code == "forbidden"
    for body, words in [("   ", "Le commentaire est vide."), ("x" * 5001, "5000 caractères")]:
        with pytest.raises(DomainError) as exc:
            svc.comment_add(actor=people["rssi"], application=app, body=body)
        assert words in exc.value.message
    assert app.comments.count() == 3


# --- The ARS's own ceiling ----------------------------------------------------------------------


def test_ceiling_override_is_audited_and_applies(
    people, orgs, call, django_capture_on_commit_callbacks, mailoutbox
):
    computed = svc.effective_ceiling(call, orgs["ght"])
    assert computed.amount == Decimal("75000.00")
    assert computed.override is None
    override = svc.ceiling_override_set(
        actor=people["manager"],
        call=call,
        applicant=orgs["ght"],
        amount_eur="50000.00",
        reason="Budget d'exploitation 2024 révisé",
    )
    assert override.set_by == people["manager"]
    effective = svc.effective_ceiling(call, orgs["ght"])
    assert effective.amount == Decimal("50000.00")
    assert "Plafond retenu par l'ARS : 50 000,00 € — motif : Budget d'exploitation 2024 révisé" in (
        plain(" ".join(effective.steps))
    )
    entries = AuditEntry.objects.filter(
        content_type__model="ceilingoverride", object_pk=str(override.pk)
    )
    assert entries.exists()  # the actor is the request's user: see the view test
    assert entries.first().organisation_id == orgs["ght"].pk
    assert "Budget d'exploitation 2024 révisé" in str(entries.first().changes)
    # A submitted file takes the ARS's figure; the applicant is told.
    app = submitted(people, orgs, call, requested="50000", own="25000")
    assert app.ceiling_eur == Decimal("50000.00")
    with django_capture_on_commit_callbacks(execute=True):
        svc.ceiling_override_set(
            actor=people["manager"],
            call=call,
            applicant=orgs["ght"],
            amount_eur="55000",
            reason="Arbitrage régional",
        )
    app.refresh_from_db()
    assert app.ceiling_eur == Decimal("55000.00")
    assert app.events.filter(kind=EventKind.CEILING_OVERRIDDEN).exists()
    assert "rssi@voiron.fr" in {e for m in mailoutbox for e in m.to}
    assert CeilingOverride.objects.count() == 1
    svc.ceiling_override_clear(actor=people["manager"], call=call, applicant=orgs["ght"])
    app.refresh_from_db()
    assert app.ceiling_eur == Decimal("75000.00")
    assert not CeilingOverride.objects.exists()
    assert AuditEntry.objects.filter(
        content_type__model="ceilingoverride", object_pk=str(override.pk), action=2
    ).exists()


def test_ceiling_override_refusals(people, orgs, call):
    for person in ("operator", "outsider", "rssi", "coordinator"):
        with pytest.raises(DomainError) as exc:
            svc.ceiling_override_set(
                actor=people[person],
                call=call,
                applicant=orgs["ght"],
                amount_eur="1",
                reason="x",
            )
        assert exc.value.code == "forbidden"
        with pytest.raises(DomainError):
            svc.ceiling_override_clear(actor=people[person], call=call, applicant=orgs["ght"])
    manager = people["manager"]
    with pytest.raises(DomainError) as exc:
        svc.ceiling_override_set(
            actor=manager, call=call, applicant=orgs["ght"], amount_eur="1000", reason=" "
        )
    assert exc.value.field == "reason"
    assert exc.value.message == "Indiquez le motif de la modification du plafond."
    with pytest.raises(DomainError) as exc:
        svc.ceiling_override_set(
            actor=manager, call=call, applicant=orgs["ght"], amount_eur="-1", reason="x"
        )
    assert exc.value.field == "amount_eur"
    assert not CeilingOverride.objects.exists()
    application(call, orgs["tilleuls"], status=S.ACCEPTED)
    with pytest.raises(DomainError) as exc:
        svc.ceiling_override_set(
            actor=manager, call=call, applicant=orgs["tilleuls"], amount_eur="1000", reason="x"
        )
    assert exc.value.code == "already_decided"


def test_history_is_readable(people, orgs, call):
    app = submitted(people, orgs, call)
    kinds = list(ApplicationEvent.objects.filter(application=app).values_list("kind", flat=True))
    assert kinds == [EventKind.CREATED, EventKind.DOCUMENT_ADDED, EventKind.SUBMITTED]
    assert BudgetLine.objects.filter(application=app).count() == 1
