"""A pooled resource is never over-lent, even when two people mobilise it at the same moment
for two different activations: real concurrent transactions on PostgreSQL (SQLite serialises
every write transaction, so there is no race to test there; the logic itself is tested in
test_orsan_services)."""

import threading
import time

import pytest
from django.db import connection, connections

from rempart.core.errors import DomainError
from rempart.incidents import orsan_selectors as sel
from rempart.incidents import orsan_services as services
from rempart.incidents.models import AidRequest, AidStatus, PooledResource, ResourceKind

from .factories import incident_world

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="concurrent transactions: PostgreSQL only"
    ),
]


def test_two_mobilisations_at_once_never_lend_more_than_there_is(monkeypatch):
    world = incident_world(rota=False)
    laptops = services.resource_create(
        actor=world.neighbour_rssi,
        organisation=world.neighbour,
        kind=ResourceKind.LAPTOPS,
        label="Postes portables",
        quantity=20,
        unit="postes",
    )
    requests = []
    for title in ("Rançongiciel", "Panne fournisseur"):
        # Two activations: their locks do not serialise the two mobilisations, only the
        # resource's does.
        activation = services.activation_create(
            actor=world.ars_manager,
            region=world.region,
            title=title,
            reason="Motif.",
            affected=[world.hospital],
        )
        requests.append(
            services.aid_request_create(
                actor=world.rssi,
                activation=activation,
                requester=world.hospital,
                kind=ResourceKind.LAPTOPS,
                need="Postes.",
                quantity=15,
            )
        )

    read_engaged = sel.engaged_quantity

    def slow_engaged(resource_id, **kwargs):
        total = read_engaged(resource_id, **kwargs)
        time.sleep(0.3)  # without the lock, both would read 0 here and both succeed
        return total

    monkeypatch.setattr(sel, "engaged_quantity", slow_engaged)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def mobilise(actor, aid):
        try:
            barrier.wait()
            services.aid_mobilise(actor=actor, aid=aid, resource=laptops)
            outcomes.append("mobilised")
        except DomainError as error:
            outcomes.append(error.code)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=mobilise, args=(actor, aid))
        for actor, aid in zip((world.ars_manager, world.crrc_operator), requests, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["mobilised", "over_lending"]
    assert AidRequest.objects.filter(status=AidStatus.MOBILISED).count() == 1
    resource = sel.with_availability(PooledResource.objects.filter(pk=laptops.pk)).get()
    assert (resource.engaged, resource.available) == (15, 5)
