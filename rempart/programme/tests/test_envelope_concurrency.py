"""The regional envelope is never over-committed, even when two ARS managers accept two files at
the same moment: real concurrent transactions on PostgreSQL (SQLite serialises every write
transaction at BEGIN, so there is no race to test there)."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, connections

from rempart.core.errors import DomainError
from rempart.core.roles import Role
from rempart.organisations.tests.factories import OrganisationFactory, RegionFactory, member
from rempart.programme import application_services
from rempart.programme.models import Application, ApplicationStatus
from rempart.programme.tests.factories import CallFactory, application, ght

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="concurrent transactions: PostgreSQL only"
    ),
]


def _accept_at_the_same_time(monkeypatch, managers, files):
    """Both managers accept at once; the sum of what is engaged is read slowly, so that
    without the lock both would see the same envelope and both succeed."""
    read_engaged = application_services.engaged_on

    def slow_engaged_on(call):
        total = read_engaged(call)
        time.sleep(0.3)
        return total

    monkeypatch.setattr(application_services, "engaged_on", slow_engaged_on)
    barrier = threading.Barrier(len(files))
    outcomes: list[str] = []

    def accept(manager, file):
        try:
            barrier.wait()
            application_services.application_accept(actor=manager, application=file)
            outcomes.append("accepted")
        except DomainError as error:
            outcomes.append(error.code)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=accept, args=(manager, file))
        for manager, file in zip(managers, files, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return sorted(outcomes)


def test_two_managers_accepting_at_once_never_exceed_the_envelope(monkeypatch):
    region = RegionFactory()
    ars = OrganisationFactory(kind="ars", region=region, finess=None, name="ARS")
    first_manager = member(Role.ARS_MANAGER, ars)
    second_manager = member(Role.ARS_MANAGER, ars)
    call = CallFactory(region=region, envelope_eur=Decimal("100000.00"))
    files = [
        application(call, ght(region, "GHT Nord"), requested="60000.00"),
        application(call, ght(region, "GHT Sud"), requested="60000.00"),
    ]

    outcomes = _accept_at_the_same_time(monkeypatch, [first_manager, second_manager], files)

    assert outcomes == ["accepted", "envelope_exceeded"]
    accepted = Application.objects.filter(call=call, status=ApplicationStatus.ACCEPTED)
    assert accepted.count() == 1
    assert application_services.engaged_on(call) == Decimal("60000.00")


def test_both_fit_when_the_envelope_allows_it(monkeypatch):
    region = RegionFactory()
    ars = OrganisationFactory(kind="ars", region=region, finess=None, name="ARS")
    managers = [member(Role.ARS_MANAGER, ars), member(Role.ARS_MANAGER, ars)]
    call = CallFactory(region=region, envelope_eur=Decimal("120000.00"))
    files = [
        application(call, ght(region, "GHT Est"), requested="60000.00"),
        application(call, ght(region, "GHT Ouest"), requested="60000.00"),
    ]

    assert _accept_at_the_same_time(monkeypatch, managers, files) == ["accepted", "accepted"]
    assert application_services.engaged_on(call) == Decimal("120000.00")
