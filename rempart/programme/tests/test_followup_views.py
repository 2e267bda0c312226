"""The pages after acceptance: targets (declare with proofs, download a proof, ARS review),
payment and financial report — who sees what, who may act, PRG on success, the user's input
kept on refusal."""

import datetime

import pytest
from django.urls import reverse

from rempart.core.roles import Role
from rempart.organisations.tests.factories import member
from rempart.programme import declaration_services as ds
from rempart.programme import payment_services as ps
from rempart.programme.models import (
    CostLine,
    DeclarationProof,
    DeclarationStatus,
    ExpenseCategory,
    Measurement,
    PaymentRequest,
    PaymentStatus,
    ReportStatus,
    TargetDeclaration,
)

from .factories import application, pdf_upload
from .test_declarations import *  # noqa: F403  (the fixtures of the world)
from .test_declarations import (
    TODAY,
    declare,
    declare_all_validated,
    plain,
    restoration,
    travel,
)

pytestmark = pytest.mark.django_db


def url(name, app, *args):
    return reverse(f"programme:{name}", args=[app.pk, *args])


# --- Targets --------------------------------------------------------------------------------------


def test_targets_page_shows_each_target_and_the_summary(client, app, targets, rssi, manager):
    declaration = declare(rssi, app, targets["doc"], links=["https://ged.exemple.fr/retex"])
    ds.target_validate(actor=manager, declaration=declaration, comment="Conforme.")
    client.force_login(rssi)
    page = client.get(url("application_targets", app))
    assert page.status_code == 200
    text = plain(page.text)
    assert "1 cible validée sur 2" in text
    assert "D2.01.D — Un test du PCA réalisé" in text
    assert "D2.02.R — Un test de restauration réussi sur un système critique" in text
    assert "Validée par l'ARS" in text
    assert "Non déclarée" in text
    assert "https://ged.exemple.fr/retex" in text
    assert "Conforme." in text
    assert "Compte rendu du test" in text  # proofs expected by the target
    assert 'aria-current="page">Atteinte des cibles' in text  # the file's tabs
    # a form for the target still to declare, none for the validated one
    assert text.count('name="action" value="declare"') == 1
    assert "D2.P1" not in text  # prerequisites are not targets


def test_declare_through_the_page_and_download_the_proof(
    client, app, targets, rssi, stranger, crrc, manager
):
    client.force_login(rssi)
    response = client.post(
        url("application_targets", app),
        {
            "action": "declare",
            "requirement": targets["doc"].pk,
            "statement": "Test du PCA joué le 3 mars.",
            "files": [pdf_upload("cr-test-pca.pdf"), pdf_upload("feuille-presence.pdf")],
            "link": "",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == url("application_targets", app)
    declaration = TargetDeclaration.objects.get()
    assert declaration.statement == "Test du PCA joué le 3 mars."
    assert declaration.proofs.count() == 2
    page = client.get(url("application_targets", app))
    assert "Cible D2.01.D déclarée" in plain(page.text)
    proof = declaration.proofs.get(original_name="cr-test-pca.pdf")
    proof_url = url("application_proof", app, proof.pk)
    assert proof_url in page.text

    download = client.get(proof_url)
    assert download.status_code == 200
    assert 'attachment; filename="cr-test-pca.pdf"' in download["Content-Disposition"]
    assert download["Content-Type"] == "application/pdf"
    assert b"".join(download.streaming_content).startswith(b"%PDF")
    # the ARS and the CRRC read it; another establishment does not
    for person in (manager, crrc):
        client.force_login(person)
        assert client.get(proof_url).status_code == 200
    client.force_login(stranger)
    assert client.get(proof_url).status_code == 404


def test_a_proof_of_another_file_is_404(client, app, call, orgs, targets, rssi):
    other = application(call, orgs["lyon"], status="acceptee", covered=[orgs["lyon"]])
    lyon_rssi = member(Role.RSSI, orgs["lyon"])
    declaration = declare(lyon_rssi, other, targets["doc"], files=[pdf_upload()])
    proof = declaration.proofs.get()
    client.force_login(rssi)
    assert client.get(url("application_proof", app, proof.pk)).status_code == 404
    assert client.get(url("application_proof", other, proof.pk)).status_code == 404
    link = declare(rssi, app, targets["doc"], links=["https://exemple.fr/a"]).proofs.get()
    assert client.get(url("application_proof", app, link.pk)).status_code == 404


def test_declaration_errors_keep_the_input(client, app, targets, rssi):
    client.force_login(rssi)
    response = client.post(
        url("application_targets", app),
        {
            "action": "declare",
            "requirement": targets["doc"].pk,
            "statement": "Nous avons joué le test du PCA.",
            "link": "",
        },
    )
    assert response.status_code == 400
    text = plain(response.text)
    assert "Une déclaration sans preuve n'est pas recevable" in text
    assert "Nous avons joué le test du PCA." in text
    response = client.post(
        url("application_targets", app),
        {
            "action": "declare",
            "requirement": targets["doc"].pk,
            "statement": "Avec un lien.",
            "link": "javascript:alert(1)",
            "link_label": "Compte rendu",
        },
    )
    assert response.status_code == 400
    text = plain(response.text)
    assert "n'est pas un lien valide" in text
    assert 'value="javascript:alert(1)"' in text
    assert 'value="Compte rendu"' in text
    assert 'href="javascript' not in text
    assert not TargetDeclaration.objects.exists()


def test_declare_a_measured_target_by_choosing_a_measurement(client, app, orgs, targets, rssi):
    measurement = restoration(orgs["voiron"], result="Restauration du PACS en 3 h")
    restoration(orgs["lyon"], result="Mesure d'un autre établissement")
    client.force_login(rssi)
    page = client.get(url("application_targets", app))
    text = plain(page.text)
    assert "CH Voiron : Restauration du PACS en 3 h" in text
    assert "Mesure d'un autre établissement" not in text
    response = client.post(
        url("application_targets", app),
        {
            "action": "declare",
            "requirement": targets["measure"].pk,
            "measurements": [str(measurement.pk)],
        },
    )
    assert response.status_code == 302
    proof = DeclarationProof.objects.get()
    assert proof.measurement_snapshot["result"] == "Restauration du PACS en 3 h"
    # the page shows the frozen copy, not the row as it is now
    measurement.result = "Corrigé après coup"
    measurement.save()
    text = plain(client.get(url("application_targets", app)).text)
    assert "Restauration du PACS en 3 h" in text
    assert "Mesure figée" in text
    assert "Corrigé après coup" not in text


def test_a_foreign_measurement_cannot_be_posted(client, app, orgs, targets, rssi):
    elsewhere = restoration(orgs["lyon"])
    client.force_login(rssi)
    response = client.post(
        url("application_targets", app),
        {
            "action": "declare",
            "requirement": targets["measure"].pk,
            "measurements": [str(elsewhere.pk)],
        },
    )
    assert response.status_code == 400
    assert "Choisissez une mesure de la liste." in plain(response.text)
    assert not TargetDeclaration.objects.exists()


def test_after_the_deadline_the_page_says_so_and_refuses(
    client, app, call, targets, rssi, monkeypatch
):
    travel(monkeypatch, call.declaration_deadline + datetime.timedelta(days=2))
    client.force_login(rssi)
    page = client.get(url("application_targets", app))
    text = plain(page.text)
    assert "est close depuis le" in text
    assert 'value="declare"' not in text
    response = client.post(
        url("application_targets", app),
        {"action": "declare", "requirement": targets["doc"].pk, "link": "https://exemple.fr/a"},
    )
    assert response.status_code == 400
    assert "est close depuis le" in plain(response.text)
    assert not TargetDeclaration.objects.exists()


def test_ars_validates_and_refuses_on_the_page(client, app, targets, rssi, manager):
    doc = declare(rssi, app, targets["doc"], links=["https://exemple.fr/a"])
    client.force_login(manager)
    page = client.get(url("application_targets", app))
    assert page.text.count('value="validate"') == 1
    assert 'value="declare"' not in page.text  # the ARS never declares

    response = client.post(
        url("application_targets", app),
        {"action": "refuse", "declaration": doc.pk, "comment": ""},
    )
    assert response.status_code == 400
    assert "Indiquez pourquoi la cible n'est pas validée" in plain(response.text)
    doc.refresh_from_db()
    assert doc.status == DeclarationStatus.DECLARED

    response = client.post(
        url("application_targets", app),
        {"action": "refuse", "declaration": doc.pk, "comment": "Compte rendu non signé."},
    )
    assert response.status_code == 302
    doc.refresh_from_db()
    assert doc.status == DeclarationStatus.REFUSED

    doc = declare(rssi, app, targets["doc"], links=["https://exemple.fr/b"])
    response = client.post(
        url("application_targets", app), {"action": "validate", "declaration": doc.pk}
    )
    assert response.status_code == 302
    doc.refresh_from_db()
    assert doc.status == DeclarationStatus.VALIDATED
    # a declaration of another file is not reachable through this one
    assert (
        client.post(
            url("application_targets", app), {"action": "validate", "declaration": doc.pk + 999}
        ).status_code
        == 404
    )


def test_crrc_reads_but_neither_declares_nor_validates(client, app, targets, rssi, crrc):
    doc = declare(rssi, app, targets["doc"], links=["https://exemple.fr/a"])
    client.force_login(crrc)
    page = client.get(url("application_targets", app))
    assert page.status_code == 200
    assert 'value="declare"' not in page.text
    assert 'value="validate"' not in page.text
    response = client.post(
        url("application_targets", app), {"action": "validate", "declaration": doc.pk}
    )
    assert response.status_code == 403
    assert "Seule l'ARS de la région vérifie les cibles déclarées." in plain(response.text)
    doc.refresh_from_db()
    assert doc.status == DeclarationStatus.DECLARED


def test_other_establishment_and_other_region_get_404(
    client, app, targets, stranger, far_manager, rssi
):
    declare(rssi, app, targets["doc"], links=["https://exemple.fr/a"])
    for person in (stranger, far_manager):
        client.force_login(person)
        for name in ("application_targets", "application_payment", "application_report"):
            assert client.get(url(name, app)).status_code == 404
            assert client.post(url(name, app), {"action": "file"}).status_code == 404
    client.logout()
    response = client.get(url("application_targets", app))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_pages_of_a_file_not_yet_accepted(client, call, orgs, rssi):
    pending = application(call, orgs["ght"], status="en_instruction", covered=[orgs["voiron"]])
    client.force_login(rssi)
    for name in ("application_targets", "application_payment", "application_report"):
        page = client.get(url(name, pending))
        assert page.status_code == 200
        assert "en instruction" in plain(page.text)
        assert "<form" not in page.text.split('id="content"')[1].split("</main>")[0]


def test_unknown_action_is_answered(client, app, rssi):
    client.force_login(rssi)
    response = client.post(url("application_targets", app), {"action": "hack"})
    assert response.status_code == 302
    assert "Action inconnue" in plain(client.get(response["Location"]).text)
    assert client.put(url("application_targets", app)).status_code == 405


# --- Payment --------------------------------------------------------------------------------------


def test_payment_page_lists_targets_not_validated_then_requests(
    client, app, call, targets, rssi, manager, monkeypatch
):
    client.force_login(rssi)
    page = client.get(url("application_payment", app))
    text = plain(page.text)
    assert "Pas encore validées" in text
    assert "D2.01.D — Non déclarée" in text
    assert "62 067,28 €" in text

    declare_all_validated(app, targets, rssi, manager)
    assert "2 cibles validées sur 2" in plain(client.get(url("application_targets", app)).text)
    # before the window: the form posts, the service answers with the opening date
    response = client.post(
        url("application_payment", app), {"action": "request", "bank_account_holder": "CH"}
    )
    assert response.status_code == 400
    assert "n'est pas encore ouvert" in plain(response.text)
    assert 'value="CH"' in response.text
    assert not PaymentRequest.objects.exists()

    day = call.payment_opens_on
    travel(monkeypatch, day)
    response = client.post(
        url("application_payment", app),
        {"action": "request", "bank_account_holder": "Centre hospitalier de Voiron"},
    )
    assert response.status_code == 302
    payment = PaymentRequest.objects.get()
    assert payment.status == PaymentStatus.REQUESTED
    text = plain(client.get(url("application_payment", app)).text)
    assert "Demande de paiement envoyée" in text
    assert "Centre hospitalier de Voiron" in text

    # the ARS approves, then records a payment above the amount engaged (refused), then right
    client.force_login(manager)
    assert client.post(url("application_payment", app), {"action": "approve"}).status_code == 302
    response = client.post(
        url("application_payment", app),
        {
            "action": "paid",
            "paid_eur": "62 067,29",
            "paid_on": day.isoformat(),
            "payment_reference": "MANDAT-42",
        },
    )
    assert response.status_code == 400
    text = plain(response.text)
    assert "ne peut pas dépasser le montant engagé" in text
    assert 'value="MANDAT-42"' in text
    response = client.post(
        url("application_payment", app),
        {
            "action": "paid",
            "paid_eur": "62 067,28",
            "paid_on": day.isoformat(),
            "payment_reference": "MANDAT-42",
        },
    )
    assert response.status_code == 302
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    assert "MANDAT-42" in plain(client.get(url("application_payment", app)).text)


def test_crrc_cannot_request_payment(client, app, targets, rssi, manager, crrc, call, monkeypatch):
    declare_all_validated(app, targets, rssi, manager)
    travel(monkeypatch, call.payment_opens_on)
    client.force_login(crrc)
    page = client.get(url("application_payment", app))
    assert page.status_code == 200
    assert 'value="request"' not in page.text
    response = client.post(
        url("application_payment", app), {"action": "request", "bank_account_holder": "CRRC"}
    )
    assert response.status_code == 403
    assert "Vous ne pouvez pas demander le paiement" in plain(response.text)
    assert not PaymentRequest.objects.exists()


# --- Financial report -----------------------------------------------------------------------------


def line(category, amount, reference, day):
    return {
        "action": "add_line",
        "category": category,
        "supplier": "Cabinet Conseil Cyber",
        "invoice_reference": reference,
        "invoice_date": day.isoformat(),
        "amount_eur": amount,
        "description": "Accompagnement",
    }


def test_report_page_cost_lines_file_and_review(
    client, app, call, targets, rssi, manager, monkeypatch
):
    # paid everything engaged first
    declare_all_validated(app, targets, rssi, manager)
    day = call.payment_opens_on + datetime.timedelta(days=1)
    travel(monkeypatch, day)
    payment = ps.payment_request(actor=rssi, application=app, bank_account_holder="CH Voiron")
    ps.payment_approve(actor=manager, payment=payment)
    ps.payment_record_paid(
        actor=manager, payment=payment, paid_eur="62067.28", paid_on=day, payment_reference="M"
    )

    client.force_login(rssi)
    report_url = url("application_report", app)
    # a cost line dated before the call's publication: refused, input kept
    too_early = call.application_opens_on - datetime.timedelta(days=1)
    response = client.post(report_url, line(ExpenseCategory.AUDITS, "1 000", "FA-OLD", too_early))
    assert response.status_code == 400
    text = plain(response.text)
    assert "antérieure à la publication de l'appel" in text
    assert 'value="FA-OLD"' in text
    assert 'value="Cabinet Conseil Cyber"' in text

    for data in (
        line(ExpenseCategory.AUDITS, "20 000,05", "FA-1", TODAY),
        line(ExpenseCategory.SOFTWARE, "12500.02", "FA-2", TODAY),
        line(ExpenseCategory.AUDITS, "9 000,03", "FA-3", TODAY),
        line(ExpenseCategory.TRAINING, "1,00", "FA-4", TODAY),
    ):
        assert client.post(report_url, data).status_code == 302
    removed = CostLine.objects.get(invoice_reference="FA-4")
    assert client.post(report_url, {"action": "remove_line", "line": removed.pk}).status_code == 302
    page = client.get(report_url)
    text = plain(page.text)
    assert "Total « Audits »" in text
    assert "29 000,08 €" in text  # audits subtotal
    assert "12 500,02 €" in text
    assert "41 500,10 €" in text  # grand total
    assert "Si le bilan était déposé aujourd'hui" in text
    assert "20 567,18 €" in text  # what would be recovered

    assert client.post(report_url, {"action": "file"}).status_code == 302
    report = ps.report_of(app)
    assert report.status == ReportStatus.FILED
    text = plain(client.get(report_url).text)
    assert "Trop-perçu : 20 567,18 € à récupérer" in text
    assert 'value="add_line"' not in text
    # no more lines once filed
    response = client.post(report_url, line(ExpenseCategory.AUDITS, "5", "FA-9", TODAY))
    assert response.status_code in (400, 403)
    assert CostLine.objects.count() == 3

    client.force_login(manager)
    page = client.get(report_url)
    assert 'value="review"' in page.text
    assert client.post(report_url, {"action": "review", "comment": "OK"}).status_code == 302
    report.refresh_from_db()
    assert report.status == ReportStatus.RECOVERY
    response = client.post(report_url, {"action": "recovery", "recovered_on": ""})
    assert response.status_code == 400
    assert "Indiquez la date à laquelle le trop-perçu a été récupéré." in plain(response.text)
    response = client.post(report_url, {"action": "recovery", "recovered_on": day.isoformat()})
    assert response.status_code == 302
    report.refresh_from_db()
    assert report.status == ReportStatus.RECOVERED
    assert f"Récupéré le {day:%d/%m/%Y}" in plain(client.get(report_url).text)


def test_filing_an_empty_report_is_refused_on_the_page(client, app, rssi):
    client.force_login(rssi)
    response = client.post(url("application_report", app), {"action": "add_line"})
    assert response.status_code == 400
    assert "Choisissez une catégorie de dépense." in plain(response.text)
    response = client.post(url("application_report", app), {"action": "file"})
    assert response.status_code == 400
    assert "Le bilan est vide : ajoutez au moins une dépense" in plain(response.text)


def test_crrc_reads_the_report_but_cannot_add(client, app, rssi, crrc):
    ps.cost_line_add(
        actor=rssi,
        application=app,
        category=ExpenseCategory.CONSULTING,
        supplier="Cabinet",
        invoice_reference="F-1",
        invoice_date=TODAY,
        amount_eur="100.00",
    )
    client.force_login(crrc)
    page = client.get(url("application_report", app))
    assert page.status_code == 200
    assert "Cabinet" in page.text
    assert 'value="add_line"' not in page.text
    response = client.post(
        url("application_report", app), line(ExpenseCategory.AUDITS, "5", "F-2", TODAY)
    )
    assert response.status_code == 403
    assert "Vous ne pouvez pas modifier le bilan financier" in plain(response.text)
    assert CostLine.objects.count() == 1


def test_measurement_kind_label_is_shown_for_measured_targets(client, app, targets, rssi):
    client.force_login(rssi)
    text = plain(client.get(url("application_targets", app)).text)
    assert str(Measurement.RESTORATION_TEST.label) in text
    assert "Aucune mesure de ce type n'est encore enregistrée." in text
    assert "0 cible validée sur 2" in text
