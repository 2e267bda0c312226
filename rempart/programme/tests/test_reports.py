"""The financial report: cost lines while it is a draft, the amounts computed when it is filed
(to the cent), the ARS's review with over-compensation to recover, and the recovery."""

import datetime
from decimal import Decimal

import pytest
from django.core import mail

from rempart.core.models import AuditEntry
from rempart.programme import payment_services as ps
from rempart.programme import windows
from rempart.programme.models import (
    ApplicationEvent,
    CostLine,
    EventKind,
    ExpenseCategory,
    FinancialReport,
    ReportStatus,
)

from .factories import application
from .test_declarations import *  # noqa: F403  (the fixtures of the world)
from .test_declarations import ENGAGED, days, declare_all_validated, refused, travel

pytestmark = pytest.mark.django_db


def add(actor, app, amount, **changes):
    values = {
        "category": ExpenseCategory.AUDITS,
        "supplier": "Cabinet Audit Sûr",
        "invoice_reference": "FA-2026-001",
        "invoice_date": days(-20),
        "amount_eur": amount,
        "description": "Audit de l'annuaire",
    }
    values.update(changes)
    return ps.cost_line_add(actor=actor, application=app, **values)


def pay(app, manager, rssi, targets, monkeypatch, amount):
    """Targets validated, payment requested, approved and paid for `amount`."""
    declare_all_validated(app, targets, rssi, manager)
    day = app.call.payment_opens_on + datetime.timedelta(days=1)
    travel(monkeypatch, day)
    payment = ps.payment_request(actor=rssi, application=app, bank_account_holder="CH Voiron")
    payment = ps.payment_approve(actor=manager, payment=payment)
    return ps.payment_record_paid(
        actor=manager, payment=payment, paid_eur=amount, paid_on=day, payment_reference="M-1"
    )


# --- The computation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("costs", "engaged", "paid", "due", "to_recover", "balance"),
    [
        # the brief's example: paid everything engaged, spent less
        ("41500.10", "62067.28", "62067.28", "41500.10", "20567.18", "0.00"),
        # spent more than engaged: capped at the amount engaged, nothing paid yet
        ("70000.00", "62067.28", "0", "62067.28", "0.00", "62067.28"),
        # spent exactly what was paid
        ("15000.00", "15000.00", "15000.00", "15000.00", "0.00", "0.00"),
        # partial payment, balance still due
        ("41500.10", "62067.28", "30000.00", "41500.10", "0.00", "11500.10"),
        # half-cents are rounded half up
        ("10.005", "100.00", "0", "10.01", "0.00", "10.01"),
        ("10.004", "100.00", "20.00", "10.00", "10.00", "0.00"),
    ],
)
def test_compute_amounts(costs, engaged, paid, due, to_recover, balance):
    amounts = ps.compute_amounts(Decimal(costs), Decimal(engaged), Decimal(paid))
    assert amounts.amount_due == Decimal(due)
    assert amounts.to_recover == Decimal(to_recover)
    assert amounts.balance_due == Decimal(balance)
    for value in (amounts.amount_due, amounts.to_recover, amounts.balance_due):
        assert value.as_tuple().exponent == -2


def test_over_compensation_worked_example_to_the_cent(
    app, targets, rssi, coordinator, manager, monkeypatch, django_capture_on_commit_callbacks
):
    """Engaged 62 067,28 €, paid 62 067,28 €, costs 41 500,10 € → due 41 500,10 €,
    to recover 20 567,18 €."""
    pay(app, manager, rssi, targets, monkeypatch, "62067.28")
    add(rssi, app, "20000.05", category=ExpenseCategory.AUDITS, invoice_reference="FA-1")
    add(rssi, app, "12500.02", category=ExpenseCategory.SOFTWARE, invoice_reference="FA-2")
    add(rssi, app, "9000.03", category=ExpenseCategory.TRAINING, invoice_reference="FA-3")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        report = ps.report_file(actor=rssi, application=app)
    report.refresh_from_db()
    assert report.status == ReportStatus.FILED
    assert report.eligible_costs_eur == Decimal("41500.10")
    assert report.amount_due_eur == Decimal("41500.10")
    assert report.paid_eur == Decimal("62067.28")
    assert report.to_recover_eur == Decimal("20567.18")
    assert report.balance_due_eur == Decimal("0.00")
    assert report.filed_by == rssi
    assert [m.to for m in mail.outbox] == [["ars@exemple.fr"]]
    filed = ApplicationEvent.objects.get(kind=EventKind.REPORT_FILED)
    assert "Trop-perçu à récupérer : 20 567,18 €" in filed.message.replace("\u00a0", " ")

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        reviewed = ps.report_review(actor=manager, report=report, comment="Factures conformes.")
    assert reviewed.status == ReportStatus.RECOVERY
    assert reviewed.to_recover_eur == Decimal("20567.18")
    assert sorted(m.to[0] for m in mail.outbox) == [
        "coordination@exemple.fr",
        "rssi.voiron@exemple.fr",
    ]
    message = ApplicationEvent.objects.get(kind=EventKind.REPORT_REVIEWED).message
    assert "trop-perçu de 20 567,18 € à récupérer" in message.replace("\u00a0", " ")

    error = refused(
        ps.report_record_recovery,
        actor=manager,
        report=reviewed,
        recovered_on=windows.paris_today() + datetime.timedelta(days=1),
    )
    assert error.field == "recovered_on"
    assert "futur" in error.message
    error = refused(
        ps.report_record_recovery,
        actor=manager,
        report=reviewed,
        recovered_on=windows.paris_today() - datetime.timedelta(days=400),
    )
    assert "précède l'instruction" in error.message
    recovered = ps.report_record_recovery(
        actor=manager, report=reviewed, recovered_on=windows.paris_today()
    )
    assert recovered.status == ReportStatus.RECOVERED
    assert recovered.recovered_on == windows.paris_today()
    assert ApplicationEvent.objects.filter(kind=EventKind.REPORT_REVIEWED).count() == 2
    assert (
        AuditEntry.objects.filter(
            content_type__model="financialreport", object_pk=str(report.pk)
        ).count()
        >= 3
    )
    assert (
        refused(
            ps.report_record_recovery,
            actor=manager,
            report=recovered,
            recovered_on=windows.paris_today(),
        ).code
        == "invalid_state"
    )


def test_costs_above_engaged_with_nothing_paid(app, rssi, manager):
    add(rssi, app, "50000.00")
    add(rssi, app, "20000.00", category=ExpenseCategory.CONSULTING, invoice_reference="FA-9")
    report = ps.report_file(actor=rssi, application=app)
    assert report.eligible_costs_eur == Decimal("70000.00")
    assert report.amount_due_eur == Decimal(ENGAGED)
    assert report.paid_eur == Decimal("0.00")
    assert report.balance_due_eur == Decimal(ENGAGED)
    assert report.to_recover_eur == Decimal("0.00")
    reviewed = ps.report_review(actor=manager, report=report)
    assert reviewed.status == ReportStatus.ACCEPTED


def test_review_reads_a_payment_made_after_filing(app, targets, rssi, manager, monkeypatch):
    add(rssi, app, "41500.10")
    report = ps.report_file(actor=rssi, application=app)
    assert report.balance_due_eur == Decimal("41500.10")
    pay(app, manager, rssi, targets, monkeypatch, "62067.28")
    reviewed = ps.report_review(actor=manager, report=report)
    assert reviewed.status == ReportStatus.RECOVERY
    assert reviewed.paid_eur == Decimal("62067.28")
    assert reviewed.to_recover_eur == Decimal("20567.18")
    assert reviewed.balance_due_eur == Decimal("0.00")
    message = ApplicationEvent.objects.get(kind=EventKind.REPORT_REVIEWED).message
    assert "mis à jour depuis le dépôt" in message


# --- Cost lines -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"invoice_date": "before"}, "invoice_date", "antérieure à la publication de l'appel"),
        ({"invoice_date": "future"}, "invoice_date", "dans le futur"),
        ({"invoice_date": None}, "invoice_date", "Indiquez la date de la facture."),
        ({"amount_eur": "0"}, "amount_eur", "supérieur à 0"),
        ({"amount_eur": "-10"}, "amount_eur", "positif"),
        ({"amount_eur": "abc"}, "amount_eur", "n'est pas un montant"),
        ({"amount_eur": "10.123"}, "amount_eur", "au centime"),
        ({"amount_eur": ""}, "amount_eur", "Indiquez le montant"),
        ({"category": "voyages"}, "category", "catégorie de dépense éligible"),
        ({"supplier": " "}, "supplier", "Indiquez le fournisseur."),
        ({"invoice_reference": ""}, "invoice_reference", "Indiquez la référence de la facture."),
        ({"invoice_reference": "x" * 101}, "invoice_reference", "100 caractères"),
        ({"description": "x" * 501}, "description", "500 caractères"),
    ],
)
def test_bad_cost_lines(app, call, rssi, changes, field, message):
    if changes.get("invoice_date") == "before":
        changes["invoice_date"] = call.application_opens_on - datetime.timedelta(days=1)
    elif changes.get("invoice_date") == "future":
        changes["invoice_date"] = days(1)
    error = refused(add, actor=rssi, app=app, amount=changes.pop("amount_eur", "100.00"), **changes)
    assert error.field == field
    assert message in error.message
    assert not CostLine.objects.exists()
    assert not FinancialReport.objects.exists()


def test_invoice_dated_on_the_calls_publication_is_eligible(app, call, rssi):
    line = add(rssi, app, "100.00", invoice_date=call.application_opens_on)
    assert line.report.status == ReportStatus.DRAFT


def test_an_empty_report_is_not_filed(app, rssi):
    error = refused(ps.report_file, actor=rssi, application=app)
    assert error.code == "empty_report"
    assert not FinancialReport.objects.exists()
    line = add(rssi, app, "100.00")
    ps.cost_line_remove(actor=rssi, line=line)
    error = refused(ps.report_file, actor=rssi, application=app)
    assert error.code == "empty_report"
    assert "vide" in error.message
    assert FinancialReport.objects.get().status == ReportStatus.DRAFT


def test_a_filed_report_no_longer_changes(app, rssi, manager):
    line = add(rssi, app, "100.00")
    ps.report_file(actor=rssi, application=app)
    assert refused(add, actor=rssi, app=app, amount="50.00").code == "not_editable"
    assert refused(ps.cost_line_remove, actor=rssi, line=line).code == "not_editable"
    assert refused(ps.report_file, actor=rssi, application=app).code == "not_editable"
    assert CostLine.objects.count() == 1


def test_only_an_accepted_file_has_a_report(call, orgs, rssi):
    pending = application(call, orgs["ght"], status="deposee", covered=[orgs["voiron"]])
    assert refused(add, actor=rssi, app=pending, amount="10.00").code == "not_accepted"


def test_rights_on_the_report(app, rssi, crrc, manager, stranger, far_manager, coordinator):
    for person in (crrc, manager, stranger, far_manager):
        assert refused(add, actor=person, app=app, amount="10.00").code == "forbidden"
    line = add(coordinator, app, "10.00")
    for person in (crrc, manager, stranger):
        assert refused(ps.cost_line_remove, actor=person, line=line).code == "forbidden"
        assert refused(ps.report_file, actor=person, application=app).code == "forbidden"
    report = ps.report_file(actor=rssi, application=app)
    for person in (crrc, rssi, coordinator, far_manager):
        assert refused(ps.report_review, actor=person, report=report).code == "forbidden"
    assert (
        refused(ps.report_record_recovery, actor=manager, report=report, recovered_on=days(0)).code
        == "invalid_state"
    )


def test_lines_by_category(app, rssi):
    add(rssi, app, "100.10", category=ExpenseCategory.TRAINING, invoice_reference="F1")
    add(rssi, app, "200.20", category=ExpenseCategory.CONSULTING, invoice_reference="F2")
    add(rssi, app, "0.05", category=ExpenseCategory.TRAINING, invoice_reference="F3")
    groups, total = ps.lines_by_category(ps.report_of(app))
    assert [(g.category, g.total, len(g.lines)) for g in groups] == [
        (ExpenseCategory.CONSULTING, Decimal("200.20"), 1),
        (ExpenseCategory.TRAINING, Decimal("100.15"), 2),
    ]
    assert total == Decimal("300.35")
