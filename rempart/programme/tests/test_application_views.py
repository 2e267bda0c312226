"""File pages: each one for the roles that use it, 404 outside one's scope, bad input shown
next to the field with what was typed, downloads only for people who see the file, and a list
whose query count does not grow with the number of files."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import strip_tags

from rempart.core.models import AuditEntry
from rempart.programme import application_services as svc
from rempart.programme.models import (
    ApplicantRule,
    Application,
    ApplicationComment,
    ApplicationDocument,
    ApplicationStatus,
    CeilingOverride,
)

from . import test_application_services as shared
from .factories import application, establishment, ght, pdf_upload

# Fixtures and helpers shared with the services tests.
_private_media = shared._private_media
region, other_region, domain = shared.region, shared.other_region, shared.domain
orgs, people, call = shared.orgs, shared.people, shared.call
fill, open_call, started = shared.fill, shared.open_call, shared.started

pytestmark = pytest.mark.django_db
S = ApplicationStatus


def plain(text: str) -> str:
    return (
        text.replace("\u00a0", " ")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", '"')
    )


def words(html: str) -> str:
    """The page's text without tags, spaces collapsed."""
    return " ".join(plain(strip_tags(html)).split())


def url(name, *args, **kwargs):
    return reverse(f"programme:{name}", args=args, kwargs=kwargs or None)


@pytest.fixture
def files(people, orgs, call, region, domain):
    """The GHT's draft, the legal entity's submitted file, and a file of another region."""
    foreign_call = open_call(orgs["paris"].region, domain, title="Appel IDF")
    return {
        "ght": started(people, orgs, call),
        "tilleuls": application(call, orgs["tilleuls"], status=S.SUBMITTED),
        "paris": application(foreign_call, orgs["paris"], status=S.SUBMITTED),
    }


def login(client, people, who):
    client.force_login(people[who])


# --- List -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "seen", "hidden"),
    [
        ("manager", ["GHT Alpes Dauphiné", "Association Les Tilleuls"], ["CH Paris Est"]),
        ("operator", ["GHT Alpes Dauphiné", "Association Les Tilleuls"], ["CH Paris Est"]),
        ("rssi", ["GHT Alpes Dauphiné"], ["Association Les Tilleuls", "CH Paris Est"]),
        ("tilleuls_director", ["Association Les Tilleuls"], ["GHT Alpes Dauphiné"]),
        ("outsider", ["CH Paris Est"], ["GHT Alpes Dauphiné", "Association Les Tilleuls"]),
        (
            "observer",
            ["GHT Alpes Dauphiné", "Association Les Tilleuls", "CH Paris Est"],
            [],
        ),
    ],
)
def test_list_shows_the_files_in_scope(client, people, files, who, seen, hidden):
    login(client, people, who)
    page = client.get(url("application_list"))
    assert page.status_code == 200
    table = plain(page.text).split("<tbody>")[-1] if "<tbody>" in page.text else ""
    for name in seen:
        assert name in table
    for name in hidden:
        assert name not in table


def test_list_filters(client, people, files, call):
    login(client, people, "manager")
    text = plain(client.get(url("application_list"), {"statut": "deposee"}).text)
    assert "Association Les Tilleuls" in text
    assert f'href="/programme/dossiers/{files["ght"].pk}/"' not in text
    text = plain(client.get(url("application_list"), {"q": "alpes"}).text)
    assert f'href="/programme/dossiers/{files["ght"].pk}/"' in text
    assert f'href="/programme/dossiers/{files["tilleuls"].pk}/"' not in text
    text = plain(client.get(url("application_list"), {"appel": call.pk, "q": "zzz"}).text)
    assert "Aucun dossier ne correspond à ces filtres." in text
    # A bad filter value is reported, never a server error.
    page = client.get(url("application_list"), {"appel": "abc", "statut": "inconnu"})
    assert page.status_code == 200
    assert "Association Les Tilleuls" in plain(page.text)


def test_list_is_404_for_a_learner_and_asks_the_anonymous_to_log_in(client, people, files):
    login(client, people, "learner")
    assert client.get(url("application_list")).status_code == 404
    client.logout()
    response = client.get(url("application_list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def _many_files(call, region, count, start):
    for i in range(count):
        group = ght(region, f"GHT n°{start + i}")
        establishment(region, f"CH membre {start + i}", "3000000", ght=group)
        application(call, group, status=S.SUBMITTED)


def test_list_query_count_does_not_grow_with_files(client, people, call, region):
    login(client, people, "manager")
    _many_files(call, region, 2, 0)
    client.get(url("application_list"))  # warm the session
    with CaptureQueriesContext(connection) as few:
        assert client.get(url("application_list")).status_code == 200
    _many_files(call, region, 30, 100)
    with CaptureQueriesContext(connection) as many:
        page = client.get(url("application_list"))
    assert page.status_code == 200
    assert plain(page.text).count("GHT n°") == 25  # first page
    assert len(many) == len(few)
    assert len(many) <= 10


# --- Start ----------------------------------------------------------------------------------------


def test_start_from_the_call_page(client, people, orgs, call):
    login(client, people, "rssi")
    call_page = plain(client.get(url("call_detail", call.pk)).text)
    assert "Préparer notre dossier" in call_page
    page = client.get(url("application_start"), {"appel": call.pk})
    assert page.status_code == 200
    assert "GHT Alpes Dauphiné" in plain(page.text)
    assert "Association Les Tilleuls" not in plain(page.text)
    response = client.post(url("application_start"), {"appel": call.pk, "candidat": orgs["ght"].pk})
    app = Application.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("application_edit", app.pk)
    assert app.applicant == orgs["ght"]
    call_page = plain(client.get(url("call_detail", call.pk)).text)
    assert "Voir notre dossier" in call_page
    assert "Préparer notre dossier" not in call_page
    # Starting again leads to the file that exists.
    response = client.post(url("application_start"), {"appel": call.pk, "candidat": orgs["ght"].pk})
    assert response["Location"] == url("application_detail", app.pk)
    assert Application.objects.count() == 1


def test_start_refusals(client, people, orgs, call, domain):
    login(client, people, "rssi")
    page = client.post(
        url("application_start"), {"appel": call.pk, "candidat": orgs["tilleuls"].pk}
    )
    assert page.status_code == 400
    assert "Choisissez un candidat pour lequel vous pouvez préparer un dossier." in plain(page.text)
    foreign = open_call(orgs["paris"].region, domain, title="Appel IDF")
    assert client.get(url("application_start"), {"appel": foreign.pk}).status_code == 404
    response = client.get(url("application_start"))
    assert response.status_code == 302
    assert response["Location"] == url("calls")
    assert not Application.objects.exists()
    login(client, people, "manager")
    page = client.get(url("application_start"), {"appel": call.pk})
    assert "Vous ne pouvez préparer de dossier pour aucun candidat" in plain(page.text)
    assert (
        client.post(
            url("application_start"), {"appel": call.pk, "candidat": orgs["ght"].pk}
        ).status_code
        == 400
    )
    assert not Application.objects.exists()


# --- Detail ---------------------------------------------------------------------------------------


def test_detail_for_the_applicant(client, people, files):
    login(client, people, "rssi")
    page = client.get(url("application_detail", files["ght"].pk))
    assert page.status_code == 200
    text = plain(page.text)
    assert "Brouillon" in text
    assert "CH Voiron" in text
    assert "CH Grenoble" in text
    assert "75 000,00 €" in text  # the live ceiling
    assert "il sera figé au dépôt" in text
    assert "Ce qui manque pour déposer le dossier" in text
    assert "Joignez la pièce « Lettre d'engagement signée du directeur »." in text
    assert "Modifier le dossier" in text
    assert "Déposer le dossier" in text
    assert "Instruction par l'ARS" not in text
    assert "Modifier le plafond" not in text
    assert "Publier le commentaire" in text
    assert "Dossier créé" in text  # history


def test_detail_for_the_ars_crrc_and_observer(client, people, files, call):
    app = files["tilleuls"]
    login(client, people, "manager")
    text = words(client.get(url("application_detail", app.pk)).text)
    assert "Instruction par l'ARS" in text
    assert "Commencer l'instruction" in text
    assert "Reste à engager (enveloppe − engagé) : 5 600 000,00 €" in text
    assert "Montant à engager pour ce dossier : 15 000,00 €" in text
    assert "Modifier le plafond" in text
    assert "Plafond figé au dépôt" in text
    assert "Déposer le dossier" not in text
    login(client, people, "operator")
    text = plain(client.get(url("application_detail", app.pk)).text)
    assert "Association Les Tilleuls" in text
    assert "Instruction par l'ARS" not in text
    assert "Accepter" not in text
    assert "Publier le commentaire" in text
    login(client, people, "observer")
    text = plain(client.get(url("application_detail", app.pk)).text)
    assert "Association Les Tilleuls" in text
    assert "Publier le commentaire" not in text
    assert "Instruction par l'ARS" not in text


@pytest.mark.parametrize("who", ["outsider", "tilleuls_director", "learner", "paris_director"])
def test_detail_is_404_outside_scope(client, people, files, who):
    login(client, people, who)
    assert client.get(url("application_detail", files["ght"].pk)).status_code == 404
    assert client.get(url("application_edit", files["ght"].pk)).status_code == 404
    assert client.get(url("application_detail", 999999)).status_code == 404


# --- Edit -----------------------------------------------------------------------------------------


def _edit_data(**changes):
    data = {
        "maturity_level": "2",
        "maturity_summary": "Diagnostic fait avec le CRRC.",
        "project_objectives": "Atteindre les cibles D2.",
        "project_schedule": "Copil mensuel.",
        "project_lead": "Camille Martin",
        "requested_eur": "60 000",
        "own_funding_eur": "15 000,00",
        "other_funding_eur": "",
        "commitment_signatory": "Le directeur général",
        "commitment_signed_on": "2025-09-15",
        "budget_conseil": "50000",
        "budget_conseil_description": "AMOA PCA",
        "budget_audits": "25 000",
        "budget_audits_description": "",
    }
    data.update(changes)
    return data


def _prerequisites(app, met=True):
    data = {}
    for answer in app.prerequisite_answers.all():
        if met:
            data[f"prerequisite_{answer.requirement_id}"] = "on"
        data[f"prerequisite_{answer.requirement_id}_comment"] = "Fait."
    return data


def test_edit_saves_everything(client, people, files):
    app = files["ght"]
    login(client, people, "coordinator")
    assert client.get(url("application_edit", app.pk)).status_code == 200
    response = client.post(url("application_edit", app.pk), _edit_data() | _prerequisites(app))
    assert response.status_code == 302
    assert response["Location"] == url("application_detail", app.pk)
    app.refresh_from_db()
    assert app.requested_eur == Decimal("60000.00")
    assert app.own_funding_eur == Decimal("15000.00")
    assert app.maturity_level == 2
    assert dict(app.budget_lines.values_list("category", "amount_eur")) == {
        "conseil": Decimal("50000.00"),
        "audits": Decimal("25000.00"),
    }
    assert all(a.met and a.comment == "Fait." for a in app.prerequisite_answers.all())
    text = plain(client.get(url("application_edit", app.pk)).text)
    assert "Le budget est équilibré" in text
    response = client.post(
        url("application_edit", app.pk), _edit_data(suite="rester") | _prerequisites(app)
    )
    assert response["Location"] == url("application_edit", app.pk)


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"budget_audits": "vingt mille"}, "budget_audits", "n'est pas un montant"),
        ({"requested_eur": "-5"}, "requested_eur", "Le montant doit être positif."),
        ({"maturity_level": "9"}, "maturity_level", "Le niveau de maturité va de 1 à 5."),
        ({"commitment_signed_on": "32/13/2025"}, "commitment_signed_on", "n'est pas valide"),
        (
            {"commitment_signed_on": "2099-01-01"},
            "commitment_signed_on",
            "La lettre d'engagement ne peut pas être signée dans le futur.",
        ),
        ({"own_funding_eur": "10,555"}, "own_funding_eur", "Arrondissez le montant au centime"),
    ],
)
def test_edit_bad_input_keeps_the_input_and_loses_nothing(
    client, people, files, changes, field, words
):
    app = files["ght"]
    svc.application_update(actor=people["rssi"], application=app, project_lead="Déjà saisi")
    svc.budget_set(actor=people["rssi"], application=app, lines={"formation": ("1000", "")})
    login(client, people, "rssi")
    data = _edit_data(project_lead="Nouveau chef", **changes)
    page = client.post(url("application_edit", app.pk), data)
    assert page.status_code == 400
    text = plain(page.text)
    assert words in text
    assert f'id="id_{field}-messages"' in page.text  # the message is next to its field
    assert "Vos saisies sont conservées" in text
    assert 'value="Nouveau chef"' in text  # what was typed is shown again
    app.refresh_from_db()
    assert app.project_lead == "Déjà saisi"  # nothing saved by the refused form
    assert list(app.budget_lines.values_list("category", flat=True)) == ["formation"]


def test_edit_totals_follow_what_is_typed(client, people, files):
    app = files["ght"]
    login(client, people, "rssi")
    page = client.post(
        url("application_edit", app.pk),
        _edit_data(own_funding_eur="5000"),
        headers={"HX-Request": "true", "HX-Target": "application-totals"},
    )
    assert page.status_code == 200
    text = plain(page.text)
    assert "<h1>" not in text
    assert 'Dépenses prévues : <strong class="rempart-nowrap">75 000,00 €' in text
    assert "il manque 10 000,00 € de financements" in text
    app.refresh_from_db()
    assert app.requested_eur is None  # nothing saved
    page = client.post(
        url("application_edit", app.pk),
        _edit_data(requested_eur="90000", own_funding_eur="0", budget_audits="40000"),
        headers={"HX-Request": "true", "HX-Target": "application-totals"},
    )
    assert "Le budget est équilibré" in plain(page.text)
    assert "dépasse le plafond du dossier (75 000,00 €)" in plain(page.text)


def test_edit_of_a_submitted_file_goes_back_to_the_file(client, people, files):
    login(client, people, "tilleuls_director")
    app = files["tilleuls"]
    response = client.get(url("application_edit", app.pk))
    assert response.status_code == 302
    assert response["Location"] == url("application_detail", app.pk)
    response = client.post(url("application_edit", app.pk), _edit_data())
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.project_lead == "Camille Martin"


def test_edit_is_404_for_people_who_only_see_the_file(client, people, files):
    for who in ("manager", "operator", "observer"):
        login(client, people, who)
        assert client.get(url("application_edit", files["ght"].pk)).status_code == 404
        assert (
            client.post(url("application_edit", files["ght"].pk), _edit_data()).status_code == 404
        )
    assert files["ght"].budget_lines.count() == 0


# --- Documents ------------------------------------------------------------------------------------


def test_document_upload_download_and_remove(client, people, files):
    app = files["ght"]
    login(client, people, "rssi")
    response = client.post(
        url("application_document_add", app.pk),
        {"part": "lettre_engagement", "file": pdf_upload()},
    )
    assert response.status_code == 302
    assert response["Location"] == url("application_detail", app.pk) + "#pieces"
    document = ApplicationDocument.objects.get()
    download = url("application_document", app.pk, document.pk)
    for who in ("rssi", "grenoble_dsi", "manager", "operator", "observer"):
        login(client, people, who)
        response = client.get(download)
        assert response.status_code == 200, who
        assert response["Content-Disposition"].startswith("attachment")
        assert "lettre-engagement.pdf" in response["Content-Disposition"]
        assert response["X-Content-Type-Options"] == "nosniff"
        assert b"".join(response.streaming_content).startswith(b"%PDF")
    for who in ("tilleuls_director", "outsider", "learner"):
        login(client, people, who)
        assert client.get(download).status_code == 404, who
    # A document is only served through its own file.
    login(client, people, "manager")
    other = url("application_document", files["tilleuls"].pk, document.pk)
    assert client.get(other).status_code == 404
    # Removing: only those who prepare the file, by POST.
    remove = url("application_document_remove", app.pk, document.pk)
    assert client.post(remove).status_code == 404
    login(client, people, "rssi")
    assert client.get(remove).status_code == 405
    response = client.post(remove, {"depuis": "modifier"})
    assert response["Location"] == url("application_edit", app.pk) + "#pieces"
    assert not ApplicationDocument.objects.exists()


@pytest.mark.parametrize(
    ("upload", "words"),
    [
        (SimpleUploadedFile("outil.exe", b"MZ\x90\x00"), "n'est pas d'un type accepté"),
        (
            SimpleUploadedFile("faux.pdf", b"<html></html>"),
            "ne correspond pas à son extension .pdf",
        ),
    ],
)
def test_document_refusals_are_shown(client, people, files, upload, words):
    app = files["ght"]
    login(client, people, "rssi")
    page = client.post(url("application_document_add", app.pk), {"part": "budget", "file": upload})
    assert page.status_code == 400
    text = plain(page.text)
    assert words in text
    assert "La pièce n'a pas été ajoutée" in text
    assert '<option value="budget" selected>' in text  # the chosen part is kept
    assert "Pièces jointes" in text
    assert not ApplicationDocument.objects.exists()


def test_document_errors_on_the_edit_page(client, people, files, settings):
    settings.REMPART_UPLOAD_MAX_BYTES = 10
    app = files["ght"]
    login(client, people, "rssi")
    page = client.post(
        url("application_document_add", app.pk),
        {"part": "budget", "file": pdf_upload(), "depuis": "modifier"},
    )
    assert page.status_code == 400
    text = plain(page.text)
    assert "la taille maximale est 10 octets" in text
    assert "Enregistrer et continuer" in text  # the edit page
    page = client.post(url("application_document_add", app.pk), {"part": "", "file": pdf_upload()})
    assert "Choisissez la pièce du dossier." in plain(page.text)


def test_documents_are_not_added_by_others(client, people, files):
    for who in ("manager", "operator", "tilleuls_director"):
        login(client, people, who)
        response = client.post(
            url("application_document_add", files["ght"].pk),
            {"part": "budget", "file": pdf_upload()},
        )
        assert response.status_code == 404
    assert not ApplicationDocument.objects.exists()


# --- Submission -----------------------------------------------------------------------------------


def test_submit_shows_what_is_missing_then_submits(client, people, files):
    app = files["ght"]
    login(client, people, "rssi")
    assert client.get(url("application_submit", app.pk)).status_code == 405
    page = client.post(url("application_submit", app.pk))
    assert page.status_code == 400
    text = plain(page.text)
    assert "Le dossier n'a pas été déposé" in text
    assert "Le dossier n'est pas complet" in text
    fill(people["rssi"], app)
    response = client.post(url("application_submit", app.pk))
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.status == S.SUBMITTED
    text = plain(client.get(response["Location"]).text)
    assert "Le dossier est déposé" in text
    assert "Déposer le dossier" not in text
    login(client, people, "manager")
    assert client.post(url("application_submit", app.pk)).status_code == 404


def test_submit_after_the_window_says_when_it_closed(client, people, files, call, monkeypatch):
    import datetime

    from rempart.programme import windows

    app = fill(people["rssi"], files["ght"])
    day = call.application_closes_on + datetime.timedelta(days=1)
    monkeypatch.setattr(windows, "paris_today", lambda: day)
    monkeypatch.setattr(svc, "paris_today", lambda: day)
    login(client, people, "rssi")
    text = plain(client.get(url("application_detail", app.pk)).text)
    assert "La fenêtre de candidature est close depuis le" in text
    page = client.post(url("application_submit", app.pk))
    assert page.status_code == 400
    assert "La fenêtre de candidature est close depuis le" in plain(page.text)
    app.refresh_from_db()
    assert app.status == S.DRAFT


# --- Review ---------------------------------------------------------------------------------------


def test_review_by_the_ars(client, people, files):
    app = files["tilleuls"]
    review = url("application_review", app.pk)
    for who in ("operator", "tilleuls_director", "outsider", "observer"):
        login(client, people, who)
        assert client.post(review, {"action": "start"}).status_code == 404
    login(client, people, "manager")
    assert client.get(review).status_code == 405
    response = client.post(review, {"action": "start"})
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.status == S.UNDER_REVIEW
    page = client.post(review, {"action": "complement", "message": "  "})
    assert page.status_code == 400
    assert "Indiquez les pièces ou informations attendues." in plain(page.text)
    page = client.post(review, {"action": "reject", "reason": ""})
    assert page.status_code == 400
    assert "Indiquez le motif du rejet : il est communiqué au candidat." in plain(page.text)
    page = client.post(review, {"action": "valider"})
    assert page.status_code == 400
    assert "Cette action d'instruction n'existe pas." in plain(page.text)
    response = client.post(review, {"action": "complement", "message": "Devis manquant."})
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.status == S.COMPLEMENT_REQUESTED
    text = plain(client.get(url("application_detail", app.pk)).text)
    assert "Devis manquant." in text
    page = client.post(review, {"action": "accept"})
    assert page.status_code == 400
    assert "complément demandé" in plain(page.text)


def test_accept_beyond_the_envelope_is_refused_with_the_amounts(
    client, people, orgs, region, domain
):
    call = open_call(region, domain, title="Petite enveloppe", envelope_eur=Decimal("20000.00"))
    application(call, orgs["ght"], status=S.ACCEPTED, requested="10000.00")
    app = application(call, orgs["tilleuls"], status=S.UNDER_REVIEW, requested="15000.00")
    login(client, people, "manager")
    text = words(client.get(url("application_detail", app.pk)).text)
    assert "Reste à engager (enveloppe − engagé) : 10 000,00 €" in text
    assert "l'acceptation sera refusée" in text
    page = client.post(url("application_review", app.pk), {"action": "accept"})
    assert page.status_code == 400
    assert "il reste 10 000,00 € à engager et le dossier demande 15 000,00 €" in plain(page.text)
    app.refresh_from_db()
    assert app.status == S.UNDER_REVIEW
    page = client.post(
        url("application_review", app.pk), {"action": "reject", "reason": "Enveloppe épuisée."}
    )
    assert page.status_code == 302
    app.refresh_from_db()
    assert app.status == S.REJECTED
    text = plain(client.get(url("application_detail", app.pk)).text)
    assert "Dossier rejeté" in text
    assert "Enveloppe épuisée." in text
    assert "Modifier le plafond" not in text


def test_accept_engages_the_amount(client, people, files):
    app = files["tilleuls"]
    login(client, people, "manager")
    response = client.post(
        url("application_review", app.pk), {"action": "accept", "comment": "Bon dossier."}
    )
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.status == S.ACCEPTED
    assert app.engaged_eur == Decimal("15000.00")
    text = plain(client.get(url("application_detail", app.pk)).text)
    assert "15 000,00 € engagés sur l'enveloppe régionale" in text
    assert "Montant engagé : 15 000,00 €" in text


# --- Comments -------------------------------------------------------------------------------------


def test_comments_on_the_page(client, people, files):
    app = files["tilleuls"]
    comment = url("application_comment", app.pk)
    login(client, people, "operator")
    page = client.post(comment, {"body": "  "})
    assert page.status_code == 400
    assert "Le commentaire est vide." in plain(page.text)
    response = client.post(comment, {"body": "Pensez au PCA."})
    assert response.status_code == 302
    assert response["Location"].endswith("#commentaires")
    text = plain(client.get(url("application_detail", app.pk)).text)
    assert "Pensez au PCA." in text
    assert "CRRC ARA" in text
    for who in ("observer", "outsider", "rssi"):
        login(client, people, who)
        assert client.post(comment, {"body": "Bonjour"}).status_code == 404
    assert ApplicationComment.objects.count() == 1


# --- Ceiling set by the ARS -----------------------------------------------------------------------


def test_ceiling_override_page(client, people, orgs, call):
    page_url = url("ceiling_override", call_pk=call.pk, org_pk=orgs["ght"].pk)
    login(client, people, "manager")
    call_page = plain(client.get(url("call_detail", call.pk)).text)
    assert page_url in call_page
    page = client.get(page_url)
    assert page.status_code == 200
    text = plain(page.text)
    assert "75 000,00 €" in text
    assert "Somme sur 2 établissements" in text
    page = client.post(page_url, {"action": "set", "amount_eur": "50 000", "reason": ""})
    assert page.status_code == 400
    assert "Indiquez le motif de la modification du plafond." in plain(page.text)
    assert 'value="50 000"' in page.text
    assert not CeilingOverride.objects.exists()
    page = client.post(page_url, {"action": "set", "amount_eur": "cinquante", "reason": "x"})
    assert page.status_code == 400
    assert "n'est pas un montant" in plain(page.text)
    response = client.post(
        page_url, {"action": "set", "amount_eur": "50 000", "reason": "Budget révisé"}
    )
    assert response.status_code == 302
    override = CeilingOverride.objects.get()
    assert override.amount_eur == Decimal("50000.00")
    entry = AuditEntry.objects.get(
        content_type__model="ceilingoverride", object_pk=str(override.pk)
    )
    assert entry.actor == people["manager"]
    assert "Budget révisé" in str(entry.changes)
    text = plain(client.get(page_url).text)
    assert "fixé par l'ARS" in text
    assert "Budget révisé" in text
    assert "retenu par l'ARS" in plain(client.get(url("call_detail", call.pk)).text)
    response = client.post(page_url, {"action": "clear"})
    assert response.status_code == 302
    assert not CeilingOverride.objects.exists()


def test_ceiling_override_is_404_outside_the_ars_scope(client, people, orgs, call):
    page_url = url("ceiling_override", call_pk=call.pk, org_pk=orgs["ght"].pk)
    for who in ("operator", "rssi", "coordinator", "outsider", "observer"):
        login(client, people, who)
        assert client.get(page_url).status_code == 404, who
        assert client.post(page_url, {"amount_eur": "1", "reason": "x"}).status_code == 404
    login(client, people, "manager")
    # Not an applicant of this call: another region's establishment, a GHT member (the GHT
    # applies for it), an ARS, an unknown id.
    for org in ("paris", "voiron", "ars"):
        assert (
            client.get(url("ceiling_override", call_pk=call.pk, org_pk=orgs[org].pk)).status_code
            == 404
        ), org
    assert client.get(url("ceiling_override", call_pk=call.pk, org_pk=999999)).status_code == 404
    per_establishment = open_call(
        call.region,
        call.domain,
        title="Par établissement",
        applicant_rule=ApplicantRule.ESTABLISHMENT,
    )
    assert (
        client.get(
            url("ceiling_override", call_pk=per_establishment.pk, org_pk=orgs["voiron"].pk)
        ).status_code
        == 200
    )
    assert not CeilingOverride.objects.exists()


# --- Call page ------------------------------------------------------------------------------------


def test_call_page_shows_each_applicants_file(client, people, files, call):
    login(client, people, "operator")
    text = plain(client.get(url("call_detail", call.pk)).text)
    assert "Brouillon" in text
    assert "Déposée" in text
    assert f'href="/programme/dossiers/{files["tilleuls"].pk}/"' in text
    assert "Modifier le plafond" not in text
    assert "Préparer notre dossier" not in text
    login(client, people, "manager")
    text = plain(client.get(url("call_detail", call.pk)).text)
    assert text.count("Modifier le plafond") == 2
    assert "Préparer notre dossier" not in text
    login(client, people, "tilleuls_director")
    text = plain(client.get(url("call_detail", call.pk)).text)
    assert "Voir notre dossier" in text
    assert "GHT Alpes Dauphiné" not in text


def test_complement_round_trip(client, people, orgs, call, files):
    app = fill(people["rssi"], files["ght"])
    svc.application_submit(actor=people["rssi"], application=app)
    login(client, people, "manager")
    review = url("application_review", app.pk)
    client.post(review, {"action": "complement", "message": "Joignez le devis."})
    login(client, people, "rssi")
    text = words(client.get(url("application_detail", app.pk)).text)
    assert "Complément demandé par l'ARS" in text
    assert "Joignez le devis." in text
    assert "Redéposer avec le complément" in text
    assert client.get(url("application_edit", app.pk)).status_code == 200
    response = client.post(url("application_submit", app.pk))
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.status == S.SUBMITTED
    assert "Le complément est transmis" in plain(client.get(response["Location"]).text)


def test_a_draft_seen_by_the_ars_shows_what_is_missing_without_buttons(client, people, files):
    login(client, people, "manager")
    text = words(client.get(url("application_detail", files["ght"].pk)).text)
    assert "Ce qui manque pour déposer le dossier" in text
    assert "Le dossier est préparé par le candidat." in text
    assert "Déposer le dossier" not in text
    assert "Modifier le dossier" not in text
    assert "Le dossier est en préparation par le candidat : il pourra être instruit" in text
