"""Alerts of one establishment filed at the same moment: real concurrent transactions on
PostgreSQL (SQLite serialises every write transaction, so there is no race to test there)."""

import threading
import time

import pytest
from django.db import connection, connections

from rempart.incidents import alert_services
from rempart.incidents.models import Alert, AlertSource, IncidentType, PagingStatus

from .factories import incident_world

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="concurrent transactions: PostgreSQL only"
    ),
]

DATA = {"incident_type": IncidentType.RANSOMWARE, "description": "Écrans de rançon"}


def _at_once(actors, organisation, references=None):
    barrier = threading.Barrier(len(actors))
    results, failures = [], []

    def go(actor, reference):
        try:
            barrier.wait()
            results.append(
                alert_services.alert_file(
                    actor=actor,
                    organisation=organisation,
                    source=AlertSource.API,
                    data=DATA,
                    client_reference=reference,
                )
            )
        except Exception as exc:  # reported below
            failures.append(exc)
        finally:
            connections.close_all()

    references = references or [""] * len(actors)
    threads = [
        threading.Thread(target=go, args=(actor, reference))
        for actor, reference in zip(actors, references, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    return results


def test_simultaneous_alerts_of_one_establishment_page_once(monkeypatch):
    """The repeat is looked up slowly: without the lock on the organisation, both alerts would
    see no earlier one and both would page."""
    world = incident_world()
    look_up = alert_services._first_of_repeat

    def slow_look_up(*args, **kwargs):
        found = look_up(*args, **kwargs)
        time.sleep(0.3)
        return found

    monkeypatch.setattr(alert_services, "_first_of_repeat", slow_look_up)
    people = [world.staff, world.rssi, world.director]
    results = _at_once(people, world.hospital)

    assert len(results) == 3
    assert all(created for _alert, created in results)
    alerts = list(Alert.objects.filter(organisation=world.hospital).order_by("received_at"))
    originals = [a for a in alerts if a.duplicate_of_id is None]
    assert len(originals) == 1
    assert all(a.duplicate_of_id == originals[0].pk for a in alerts if a is not originals[0])
    assert all(
        a.paging_status == PagingStatus.LINKED for a in alerts if a.duplicate_of_id is not None
    )
    assert originals[0].pages.exists()  # paged, once


def test_the_same_reference_sent_twice_at_once_is_stored_once():
    world = incident_world()
    results = _at_once([world.rssi, world.rssi], world.hospital, ["gw-1", "gw-1"])
    assert sorted(created for _alert, created in results) == [False, True]
    assert results[0][0].pk == results[1][0].pk
    assert Alert.objects.filter(client_reference="gw-1").count() == 1
