"""The payment request: in the payment window, once every target is validated, one per file;
then the ARS's approval or refusal and the payment recorded (never above the amount engaged)."""

import datetime
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from rempart.core.models import AuditEntry
from rempart.core.roles import Role
from rempart.organisations.tests.factories import member
from rempart.programme import declaration_services as ds
from rempart.programme import payment_services as ps
from rempart.programme import windows
from rempart.programme.models import (
    ApplicationEvent,
    EventKind,
    PaymentRequest,
    PaymentStatus,
)

from .factories import application
from .test_declarations import *  # noqa: F403  (the fixtures of the world)
from .test_declarations import ENGAGED, TODAY, declare, declare_all_validated, refused, travel

pytestmark = pytest.mark.django_db


@pytest.fixture
def validated(app, targets, rssi, manager):
    declare_all_validated(app, targets, rssi, manager)
    return app


@pytest.fixture
def in_window(call, monkeypatch):
    day = call.payment_opens_on + datetime.timedelta(days=2)
    travel(monkeypatch, day)
    return day


def ask(actor, app, holder="Centre hospitalier de Voiron"):
    return ps.payment_request(actor=actor, application=app, bank_account_holder=holder)


# --- Requesting -----------------------------------------------------------------------------------


def test_request_outside_the_payment_window(validated, call, rssi, monkeypatch):
    # before it opens (declarations still open today)
    error = refused(ask, actor=rssi, app=validated)
    assert error.code == "window_not_open"
    assert windows.format_date_fr(call.payment_opens_on) in error.message
    assert windows.format_date_fr(call.payment_closes_on) in error.message
    # after it closed
    travel(monkeypatch, call.payment_closes_on + datetime.timedelta(days=1))
    error = refused(ask, actor=rssi, app=validated)
    assert error.code == "window_closed"
    assert f"clos depuis le {windows.format_date_fr(call.payment_closes_on)}" in error.message
    # on the last day it is open
    travel(monkeypatch, call.payment_closes_on)
    assert ask(rssi, validated).status == PaymentStatus.REQUESTED


def test_request_needs_every_target_validated(app, targets, rssi, manager, in_window, monkeypatch):
    error = refused(ask, actor=rssi, app=app)
    assert error.code == "targets_not_validated"
    assert "D2.01.D (non déclarée)" in error.message
    assert "D2.02.R (non déclarée)" in error.message

    travel(monkeypatch, TODAY)  # back to the declaration phase
    declaration = declare(rssi, app, targets["doc"], links=["https://exemple.fr/a"])
    ds.target_validate(actor=manager, declaration=declaration)
    travel(monkeypatch, in_window)
    error = refused(ask, actor=rssi, app=app)
    assert "D2.01.D" not in error.message
    assert "D2.02.R (non déclarée)" in error.message
    assert not PaymentRequest.objects.exists()


def test_request_for_the_amount_engaged_with_event_mail_and_audit(
    validated, rssi, manager, in_window, django_capture_on_commit_callbacks
):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        payment = ask(rssi, validated, "  CH de Voiron — Trésorerie  ")
    assert payment.amount_eur == Decimal(ENGAGED)
    assert payment.bank_account_holder == "CH de Voiron — Trésorerie"
    assert payment.requested_by == rssi
    event = ApplicationEvent.objects.get(kind=EventKind.PAYMENT_REQUESTED)
    assert "62 067,28" in event.message.replace("\u00a0", " ")
    assert [m.to for m in mail.outbox] == [["ars@exemple.fr"]]
    assert AuditEntry.objects.filter(
        content_type__model="paymentrequest", object_pk=str(payment.pk)
    ).exists()


def test_one_request_per_file(validated, rssi, coordinator, in_window):
    ask(rssi, validated)
    error = refused(ask, actor=coordinator, app=validated)
    assert error.code == "already_exists"
    assert PaymentRequest.objects.count() == 1


def test_holder_required_and_only_accepted_files(validated, call, orgs, rssi, in_window):
    error = refused(ask, actor=rssi, app=validated, holder="   ")
    assert error.field == "bank_account_holder"
    rejected = application(call, orgs["lyon"], status="rejetee", decision_reason="Hors délai")
    person = member(Role.RSSI, orgs["lyon"])
    error = refused(ask, actor=person, app=rejected)
    assert error.code == "not_accepted"


def test_rights_to_request(validated, crrc, manager, stranger, far_manager, in_window):
    for person in (crrc, manager, stranger, far_manager):
        assert refused(ask, actor=person, app=validated).code == "forbidden"


# --- ARS follow-up --------------------------------------------------------------------------------


@pytest.fixture
def requested(validated, rssi, in_window):
    return ask(rssi, validated)


def test_approve_then_record_the_payment(
    requested, manager, rssi, coordinator, in_window, django_capture_on_commit_callbacks
):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        approved = ps.payment_approve(actor=manager, payment=requested, comment="RIB conforme.")
    assert approved.status == PaymentStatus.APPROVED
    assert approved.decided_by == manager
    assert sorted(m.to[0] for m in mail.outbox) == [
        "coordination@exemple.fr",
        "rssi.voiron@exemple.fr",
    ]
    paid = ps.payment_record_paid(
        actor=manager,
        payment=approved,
        paid_eur="62067.28",
        paid_on=in_window,
        payment_reference="MANDAT-2026-0042",
    )
    paid.refresh_from_db()
    assert paid.status == PaymentStatus.PAID
    assert paid.paid_eur == Decimal("62067.28")
    assert paid.paid_on == in_window
    assert paid.payment_reference == "MANDAT-2026-0042"
    events = ApplicationEvent.objects.filter(kind=EventKind.PAYMENT_STATUS).order_by("pk")
    assert events.first().message.startswith("Demande de paiement validée")
    assert "MANDAT-2026-0042" in events.last().message
    # nothing moves once paid
    assert refused(ps.payment_approve, actor=manager, payment=paid).code == "invalid_state"


def test_refusal_needs_a_reason_and_the_request_can_be_made_again(requested, manager, rssi):
    error = refused(ps.payment_refuse, actor=manager, payment=requested, comment="")
    assert error.code == "invalid"
    assert error.field == "comment"
    refused_payment = ps.payment_refuse(
        actor=manager, payment=requested, comment="Cibles contestées par l'instruction nationale."
    )
    assert refused_payment.status == PaymentStatus.REFUSED
    assert refused_payment.decision_comment.startswith("Cibles contestées")
    error = refused(
        ps.payment_record_paid,
        actor=manager,
        payment=refused_payment,
        paid_eur="100.00",
        paid_on=timezone.localdate(refused_payment.decided_at),  # (Paris date, as the service)
        payment_reference="X",
    )
    assert error.code == "invalid_state"
    # The applicant corrects what was wrong and asks again, in the window: the same request.
    again = ask(actor=rssi, app=requested.application, holder="Trésorerie du CH")
    assert again.pk == refused_payment.pk
    assert again.status == PaymentStatus.REQUESTED
    assert again.bank_account_holder == "Trésorerie du CH"
    assert refused(ask, actor=rssi, app=requested.application).code == "already_exists"


@pytest.mark.parametrize(
    ("paid_eur", "paid_on_shift", "reference", "field", "message"),
    [
        ("62067.29", 0, "REF", "paid_eur", "ne peut pas dépasser le montant engagé"),
        ("70000", 0, "REF", "paid_eur", "62 067,28"),
        ("0", 0, "REF", "paid_eur", "supérieur à 0"),
        ("-5", 0, "REF", "paid_eur", "positif"),
        ("12,5", 0, "REF", "paid_eur", "n'est pas un montant"),
        ("100.001", 0, "REF", "paid_eur", "au centime"),
        ("100.00", 1, "REF", "paid_on", "dans le futur"),
        ("100.00", -30, "REF", "paid_on", "précède la demande"),
        ("100.00", 0, "  ", "payment_reference", "Indiquez la référence du paiement"),
        ("100.00", None, "REF", "paid_on", "Indiquez la date du paiement"),
    ],
)
def test_bad_payment_records(
    requested, manager, in_window, paid_eur, paid_on_shift, reference, field, message
):
    approved = ps.payment_approve(actor=manager, payment=requested)
    paid_on = None if paid_on_shift is None else in_window + datetime.timedelta(paid_on_shift)
    error = refused(
        ps.payment_record_paid,
        actor=manager,
        payment=approved,
        paid_eur=paid_eur,
        paid_on=paid_on,
        payment_reference=reference,
    )
    assert error.field == field
    assert message in error.message.replace("\u00a0", " ")
    approved.refresh_from_db()
    assert approved.status == PaymentStatus.APPROVED
    assert approved.paid_eur is None


def test_paying_needs_approval_first(requested, manager, in_window):
    error = refused(
        ps.payment_record_paid,
        actor=manager,
        payment=requested,
        paid_eur="100.00",
        paid_on=in_window,
        payment_reference="REF",
    )
    assert error.code == "invalid_state"


def test_a_partial_payment_is_allowed(requested, manager, in_window):
    approved = ps.payment_approve(actor=manager, payment=requested)
    paid = ps.payment_record_paid(
        actor=manager,
        payment=approved,
        paid_eur=Decimal("30000.00"),
        paid_on=in_window,
        payment_reference="REF-1",
    )
    assert paid.paid_eur == Decimal("30000.00")


def test_rights_on_the_ars_steps(requested, crrc, rssi, coordinator, far_manager, in_window):
    for person in (crrc, rssi, coordinator, far_manager):
        assert refused(ps.payment_approve, actor=person, payment=requested).code == "forbidden"
        assert (
            refused(ps.payment_refuse, actor=person, payment=requested, comment="Non").code
            == "forbidden"
        )
        assert (
            refused(
                ps.payment_record_paid,
                actor=person,
                payment=requested,
                paid_eur="1.00",
                paid_on=in_window,
                payment_reference="R",
            ).code
            == "forbidden"
        )
    requested.refresh_from_db()
    assert requested.status == PaymentStatus.REQUESTED


def test_requested_at_is_kept(requested):
    assert abs((timezone.now() - requested.requested_at).total_seconds()) < 60
