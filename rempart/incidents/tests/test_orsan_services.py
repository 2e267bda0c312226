"""ORSAN cyber services: a resource offered, an activation, a request mobilised, lent and
returned; availability, over-lending, rights, dates, lifting, timeline, e-mails, audit."""

import datetime

import pytest
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.models import AuditEntry
from rempart.core.roles import Role
from rempart.incidents import orsan_selectors as sel
from rempart.incidents import orsan_services as services
from rempart.incidents.models import (
    AccessLevel,
    AidRequest,
    AidStatus,
    CaseAccess,
    CaseEvent,
    EventKind,
    PooledResource,
    ResourceKind,
)
from rempart.organisations.tests.factories import member
from rempart.programme.tests.factories import establishment

from .factories import incident_world, make_case

pytestmark = pytest.mark.django_db

# What the other ORSAN test modules import (fixtures and helpers, not the tests).
__all__ = ["activation", "ask", "availability", "case", "laptops", "orsan_lines", "world"]


@pytest.fixture
def world():
    return incident_world(rota=False)


@pytest.fixture
def laptops(world):
    """20 laptops offered by the neighbour establishment, its RSSI as contact."""
    return services.resource_create(
        actor=world.neighbour_rssi,
        organisation=world.neighbour,
        kind=ResourceKind.LAPTOPS,
        label="Postes portables préconfigurés",
        quantity=20,
        unit="postes",
        description="Windows 11, masterisés, livrés sous 4 h.",
    )


@pytest.fixture
def case(world):
    """The victim's case, which its pilot shared with the ARS (read)."""
    case = make_case(world)
    CaseAccess.objects.create(
        case=case, organisation=world.ars, level=AccessLevel.READ, granted_at=timezone.now()
    )
    return case


@pytest.fixture
def activation(world, case):
    return services.activation_create(
        actor=world.ars_manager,
        region=world.region,
        title="Rançongiciel au CH de Rivebelle",
        reason="Urgences à l'arrêt, postes chiffrés.",
        affected=[world.hospital],
        case=case,
    )


def ask(world, activation, quantity=10, **extra):
    values = {
        "actor": world.rssi,
        "activation": activation,
        "requester": world.hospital,
        "kind": ResourceKind.LAPTOPS,
        "need": "Rouvrir les postes des urgences.",
        "quantity": quantity,
    }
    values.update(extra)
    return services.aid_request_create(**values)


def availability(resource) -> int:
    return sel.with_availability(PooledResource.objects.filter(pk=resource.pk)).get().available


def orsan_lines(case) -> list[str]:
    return list(
        CaseEvent.objects.filter(case=case, kind=EventKind.MUTUAL_AID)
        .order_by("pk")
        .values_list("text", flat=True)
    )


# --- The whole path ---------------------------------------------------------------------------


def test_offered_requested_mobilised_lent_returned(
    world, laptops, case, django_capture_on_commit_callbacks, mailoutbox
):
    assert laptops.region == world.region
    assert laptops.contact == world.neighbour_rssi  # the person offering, by default
    assert availability(laptops) == 20

    with django_capture_on_commit_callbacks(execute=True):
        activation = services.activation_create(
            actor=world.ars_manager,
            region=world.region,
            title="Rançongiciel au CH de Rivebelle",
            reason="Urgences à l'arrêt.",
            affected=[world.hospital],
            case=case,
        )
    notified = {address for mail in mailoutbox for address in mail.to}
    # The region's CRRC operators, the victim's managers, the offering contacts; not the ARS
    # person who activated.
    assert world.crrc_operator.email in notified
    assert {world.rssi.email, world.director.email} <= notified
    assert world.neighbour_rssi.email in notified
    assert world.ars_manager.email not in notified
    assert world.staff.email not in notified
    assert world.outsider_crrc.email not in notified
    assert "activation du plan" in mailoutbox[0].subject
    assert "Rançongiciel au CH de Rivebelle" in mailoutbox[0].body

    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        aid = ask(world, activation, quantity=12, resource=laptops)
    assert aid.status == AidStatus.REQUESTED
    assert availability(laptops) == 20  # a request reserves nothing
    notified = {address for mail in mailoutbox for address in mail.to}
    assert {world.crrc_operator.email, world.ars_manager.email, world.neighbour_rssi.email} <= (
        notified
    )
    assert world.rssi.email not in notified  # the author

    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        aid = services.aid_mobilise(actor=world.crrc_operator, aid=aid, resource=laptops)
    assert (aid.status, aid.quantity, aid.resource, aid.mobilised_by) == (
        AidStatus.MOBILISED,
        12,
        laptops,
        world.crrc_operator,
    )
    assert availability(laptops) == 8
    notified = {address for mail in mailoutbox for address in mail.to}
    assert {world.rssi.email, world.neighbour_rssi.email} <= notified

    lent_at = timezone.now() - datetime.timedelta(hours=1)
    due = timezone.localdate() + datetime.timedelta(days=14)
    with django_capture_on_commit_callbacks(execute=True):
        aid = services.aid_lend(
            actor=world.neighbour_rssi, aid=aid, lent_at=lent_at, due_back_on=due
        )
    assert (aid.status, aid.lent_at, aid.due_back_on) == (AidStatus.LENT, lent_at, due)
    assert availability(laptops) == 8
    assert list(sel.outstanding_loans(world.ars_manager)) == [aid]

    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        aid = services.aid_return(
            actor=world.neighbour_rssi,
            aid=aid,
            returned_at=timezone.now(),
            condition="12 postes rendus, un chargeur manquant.",
        )
    assert aid.status == AidStatus.RETURNED
    assert aid.returned_at is not None
    assert availability(laptops) == 20
    assert not sel.outstanding_loans(world.ars_manager).exists()
    assert "un chargeur manquant" in aid.note
    notified = {address for mail in mailoutbox for address in mail.to}
    assert world.rssi.email in notified
    assert world.neighbour_rssi.email not in notified
    assert "ressource restituée" in mailoutbox[0].subject

    lines = orsan_lines(case)
    assert len(lines) == 5
    assert lines[0].startswith("Activation du plan ORSAN cyber")
    assert "mobilisée : 12 postes" in lines[2]
    assert "retour prévu le" in lines[3]
    assert "un chargeur manquant" in lines[4]

    # Audited: the request's creation and each of its changes.
    changes = AuditEntry.objects.filter(
        content_type__model="aidrequest", object_pk=str(aid.pk)
    ).count()
    assert changes == 4
    assert AuditEntry.objects.filter(content_type__model="crisisactivation").exists()


def test_a_request_without_a_named_resource_is_mobilised_on_one(world, laptops, activation):
    aid = ask(world, activation, quantity=5, kind=ResourceKind.LAPTOPS)
    assert aid.resource is None
    aid = services.aid_mobilise(actor=world.ars_manager, aid=aid, resource=laptops, quantity=3)
    assert (aid.quantity, aid.resource) == (3, laptops)
    assert "(demandé : 5)" in aid.note
    assert availability(laptops) == 17


# --- Availability and over-lending ------------------------------------------------------------


def test_over_lending_is_refused_with_what_is_left(world, laptops, activation):
    first = ask(world, activation, quantity=15)
    services.aid_mobilise(actor=world.crrc_operator, aid=first, resource=laptops)
    second = ask(world, activation, quantity=10)
    with pytest.raises(DomainError) as refused:
        services.aid_mobilise(actor=world.crrc_operator, aid=second, resource=laptops)
    assert refused.value.code == "over_lending"
    assert refused.value.field == "quantity"
    assert "Il ne reste que 5 postes disponibles" in refused.value.message
    second.refresh_from_db()
    assert second.status == AidStatus.REQUESTED
    # Five can still go.
    services.aid_mobilise(actor=world.crrc_operator, aid=second, resource=laptops, quantity=5)
    assert availability(laptops) == 0
    assert not sel.mobilisable_resources(activation).exists()
    # More than asked is refused too.
    third = ask(world, activation, quantity=2)
    laptops.quantity = 30
    laptops.save()
    with pytest.raises(DomainError, match="porte sur 2"):
        services.aid_mobilise(actor=world.crrc_operator, aid=third, resource=laptops, quantity=3)


def test_availability_is_checked_against_the_database_not_a_stale_object(
    world, laptops, activation
):
    """Two people load the same page; the second mobilisation sees the first one's, because
    the service recounts under the resource's lock (the object passed in is stale)."""
    stale_view = PooledResource.objects.get(pk=laptops.pk)
    first, second = ask(world, activation, quantity=12), ask(world, activation, quantity=12)
    services.aid_mobilise(actor=world.crrc_operator, aid=first, resource=stale_view)
    with pytest.raises(DomainError) as refused:
        services.aid_mobilise(actor=world.ars_manager, aid=second, resource=stale_view)
    assert refused.value.code == "over_lending"
    # And a request already mobilised is not mobilised twice.
    with pytest.raises(DomainError) as again:
        services.aid_mobilise(actor=world.ars_manager, aid=first, resource=laptops)
    assert again.value.code == "invalid_state"


def test_availability_counts_mobilised_and_lent_of_every_activation(world, laptops, activation):
    other = services.activation_create(
        actor=world.ars_manager,
        region=world.region,
        title="Panne fournisseur",
        reason="Messagerie indisponible.",
        affected=[world.hospital],
    )
    a = ask(world, activation, quantity=4)
    b = ask(world, other, quantity=3)
    c = ask(world, activation, quantity=2)
    cancelled = ask(world, activation, quantity=5)
    services.aid_mobilise(actor=world.crrc_operator, aid=a, resource=laptops)
    services.aid_mobilise(actor=world.crrc_operator, aid=b, resource=laptops)
    services.aid_lend(
        actor=world.neighbour_rssi,
        aid=b,
        lent_at=timezone.now(),
        due_back_on=timezone.localdate(),
    )
    services.aid_mobilise(actor=world.crrc_operator, aid=cancelled, resource=laptops)
    services.aid_cancel(actor=world.rssi, aid=cancelled, reason="Postes retrouvés.")
    assert c.status == AidStatus.REQUESTED
    resource = sel.with_availability(PooledResource.objects.filter(pk=laptops.pk)).get()
    assert (resource.engaged, resource.available) == (7, 13)
    engaged = list(sel.engaged_resources(activation))
    assert [(r.pk, r.engaged_here, r.available) for r in engaged] == [(laptops.pk, 4, 13)]


def test_availability_of_many_resources_is_one_query(world, activation, django_assert_num_queries):
    for i in range(6):
        resource = services.resource_create(
            actor=world.crrc_operator,
            organisation=world.neighbour,
            kind=ResourceKind.NETWORK,
            label=f"Commutateurs lot {i}",
            quantity=10,
            unit="commutateurs",
        )
        for _ in range(2):
            aid = ask(world, activation, quantity=2, kind=ResourceKind.NETWORK)
            services.aid_mobilise(actor=world.crrc_operator, aid=aid, resource=resource)
    with django_assert_num_queries(1):
        rows = [(r.engaged, r.available) for r in sel.resources_visible_to(world.rssi)]
    assert rows == [(4, 6)] * 6


def test_quantity_never_goes_below_what_is_out(world, laptops, activation):
    aid = ask(world, activation, quantity=8)
    services.aid_mobilise(actor=world.crrc_operator, aid=aid, resource=laptops)
    values = {"kind": laptops.kind, "label": laptops.label, "unit": laptops.unit}
    with pytest.raises(DomainError) as refused:
        services.resource_update(actor=world.neighbour_rssi, resource=laptops, quantity=5, **values)
    assert refused.value.code == "below_engaged"
    assert "8 postes de cette ressource sont mobilisés ou prêtés" in refused.value.message
    laptops.refresh_from_db()
    assert laptops.quantity == 20
    updated = services.resource_update(
        actor=world.neighbour_rssi, resource=laptops, quantity=8, **values
    )
    assert updated.quantity == 8
    assert availability(laptops) == 0


def test_a_withdrawn_resource_is_not_mobilised_but_its_loans_stay_tracked(
    world, laptops, activation
):
    lent = ask(world, activation, quantity=5)
    services.aid_mobilise(actor=world.crrc_operator, aid=lent, resource=laptops)
    services.aid_lend(
        actor=world.crrc_operator,
        aid=lent,
        lent_at=timezone.now(),
        due_back_on=timezone.localdate() + datetime.timedelta(days=3),
    )
    services.resource_set_active(actor=world.neighbour_rssi, resource=laptops, active=False)
    assert not sel.catalogue(world.rssi).exists()
    waiting = ask(world, activation, quantity=1)
    with pytest.raises(DomainError, match="n'est plus proposée"):
        services.aid_mobilise(actor=world.crrc_operator, aid=waiting, resource=laptops)
    assert list(sel.outstanding_loans(world.crrc_operator)) == [lent]
    services.aid_return(
        actor=world.neighbour_rssi, aid=lent, returned_at=timezone.now(), condition="Complet."
    )
    services.resource_set_active(actor=world.neighbour_rssi, resource=laptops, active=True)
    assert sel.catalogue(world.rssi).get() == laptops


def test_a_structure_does_not_lend_to_itself(world, activation):
    own = services.resource_create(
        actor=world.rssi,
        organisation=world.hospital,
        kind=ResourceKind.LAPTOPS,
        label="Postes de secours",
        quantity=5,
        unit="postes",
    )
    with pytest.raises(DomainError, match="ne se prête pas à elle-même"):
        ask(world, activation, resource=own)
    aid = ask(world, activation)
    with pytest.raises(DomainError, match="ne se prête pas à elle-même"):
        services.aid_mobilise(actor=world.crrc_operator, aid=aid, resource=own)


# --- Rights ---------------------------------------------------------------------------------


def test_who_offers(world):
    values = {"kind": ResourceKind.RSSI_TIME, "label": "RSSI", "quantity": 10, "unit": "jours"}
    for person in (world.rssi, world.director, world.ght_coordinator, world.crrc_operator):
        services.resource_create(actor=person, organisation=world.hospital, **values)
    services.resource_create(actor=world.crrc_operator, organisation=world.crrc, **values)
    for person in (world.staff, world.neighbour_rssi, world.ars_manager, world.outsider_crrc):
        with pytest.raises(DomainError) as refused:
            services.resource_create(actor=person, organisation=world.hospital, **values)
        assert refused.value.code == "forbidden", person
    resource = PooledResource.objects.filter(organisation=world.hospital).first()
    with pytest.raises(DomainError) as refused:
        services.resource_set_active(actor=world.neighbour_rssi, resource=resource, active=False)
    assert refused.value.code == "forbidden"


def test_only_the_ars_of_the_region_activates(world, case):
    values = {"region": world.region, "title": "T", "reason": "R", "affected": [world.hospital]}
    for person in (world.crrc_operator, world.rssi, world.outsider_crrc):
        with pytest.raises(DomainError) as refused:
            services.activation_create(actor=person, **values)
        assert refused.value.code == "forbidden"
    ars_elsewhere = member(Role.ARS_MANAGER, world.ars)
    assert services.activation_create(actor=ars_elsewhere, **values).pk


def test_activation_checks_what_it_names(world):
    base = {"actor": world.ars_manager, "region": world.region, "title": "T", "reason": "R"}
    with pytest.raises(DomainError, match="au moins une structure") as refused:
        services.activation_create(**base)
    assert refused.value.field == "affected"
    elsewhere = establishment(world.outsider_crrc.memberships.get().organisation.region, "CH X")
    with pytest.raises(DomainError, match="établissements actifs de la région") as refused:
        services.activation_create(**base, affected=[elsewhere])
    assert "CH X" not in refused.value.message  # never names a structure out of reach
    with pytest.raises(DomainError, match="intitulé"):
        services.activation_create(**{**base, "title": "  "}, affected=[world.hospital])
    # A case the ARS does not see (not invited) cannot be linked... until it is invited.
    case = make_case(world)
    with pytest.raises(DomainError, match="dossier") as refused:
        services.activation_create(**base, case=case)
    assert refused.value.field == "case"
    CaseAccess.objects.create(
        case=case, organisation=world.ars, level=AccessLevel.READ, granted_at=timezone.now()
    )
    activation = services.activation_create(**base, case=case)
    assert list(activation.affected.all()) == [world.hospital]  # the case's victim, added


def test_only_named_structures_ask_through_their_managers(world, laptops, activation):
    with pytest.raises(DomainError) as refused:
        ask(world, activation, actor=world.neighbour_rssi, requester=world.neighbour)
    assert refused.value.code == "forbidden"
    assert "seules les structures touchées" in refused.value.message
    for person in (world.staff, world.ars_manager, world.outsider_rssi, world.outsider_crrc):
        with pytest.raises(DomainError) as refused:
            ask(world, activation, actor=person)
        assert refused.value.code == "forbidden", person
    assert ask(world, activation, actor=world.director).pk
    assert ask(world, activation, actor=world.ght_coordinator).pk  # the GHT's incidents
    assert ask(world, activation, actor=world.crrc_operator).pk  # the hotline, for the victim


def test_who_mobilises_lends_returns_and_cancels(world, laptops, activation):
    aid = ask(world, activation, quantity=2)
    for person in (world.rssi, world.neighbour_rssi, world.outsider_crrc, world.oncall):
        with pytest.raises(DomainError) as refused:
            services.aid_mobilise(actor=person, aid=aid, resource=laptops)
        assert refused.value.code == "forbidden", person
        with pytest.raises(DomainError) as refused:
            services.aid_refuse(actor=person, aid=aid, reason="Non.")
        assert refused.value.code == "forbidden", person
    services.aid_mobilise(actor=world.ars_manager, aid=aid, resource=laptops)
    due = timezone.localdate() + datetime.timedelta(days=2)
    for person in (world.rssi, world.staff, world.outsider_crrc):
        with pytest.raises(DomainError) as refused:
            services.aid_lend(actor=person, aid=aid, lent_at=None, due_back_on=due)
        assert refused.value.code == "forbidden", person
    with pytest.raises(DomainError) as refused:
        services.aid_cancel(actor=world.neighbour_rssi, aid=aid)
    assert refused.value.code == "forbidden"
    services.aid_lend(actor=world.neighbour_rssi, aid=aid, lent_at=None, due_back_on=due)
    with pytest.raises(DomainError) as refused:
        services.aid_cancel(actor=world.rssi, aid=aid)
    assert refused.value.code == "invalid_state"  # lent: too late to cancel
    with pytest.raises(DomainError) as refused:
        services.aid_return(actor=world.rssi, aid=aid, returned_at=None, condition="Ok")
    assert refused.value.code == "forbidden"
    services.aid_return(actor=world.crrc_operator, aid=aid, returned_at=None, condition="Ok")


def test_cancel_and_refuse(world, laptops, activation):
    aid = ask(world, activation, quantity=3)
    services.aid_mobilise(actor=world.crrc_operator, aid=aid, resource=laptops)
    cancelled = services.aid_cancel(actor=world.rssi, aid=aid, reason="Plus nécessaire.")
    assert cancelled.status == AidStatus.CANCELLED
    assert "Plus nécessaire." in cancelled.note
    assert availability(laptops) == 20
    refused = ask(world, activation, quantity=3)
    with pytest.raises(DomainError, match="motif du refus") as missing:
        services.aid_refuse(actor=world.crrc_operator, aid=refused, reason=" ")
    assert missing.value.field == "reason"
    refused = services.aid_refuse(actor=world.crrc_operator, aid=refused, reason="Hors ORSAN.")
    assert refused.status == AidStatus.REFUSED
    assert "Hors ORSAN." in refused.note
    with pytest.raises(DomainError) as again:
        services.aid_cancel(actor=world.rssi, aid=refused)
    assert again.value.code == "invalid_state"


# --- Dates and bad input ----------------------------------------------------------------------


def test_loan_dates_are_checked(world, laptops, activation):
    aid = ask(world, activation, quantity=1)
    services.aid_mobilise(actor=world.crrc_operator, aid=aid, resource=laptops)
    today = timezone.localdate()
    cases = [
        ({"lent_at": timezone.now() + datetime.timedelta(days=1), "due_back_on": today}, "futur"),
        ({"lent_at": None, "due_back_on": None}, "date de retour prévue"),
        ({"lent_at": None, "due_back_on": "demain"}, "date de retour prévue"),
        (
            {"lent_at": None, "due_back_on": today - datetime.timedelta(days=1)},
            "ne peut pas précéder",
        ),
        (
            {"lent_at": timezone.now() - datetime.timedelta(days=30), "due_back_on": today},
            "précède l'activation",
        ),
    ]
    for values, message in cases:
        with pytest.raises(DomainError, match=message):
            services.aid_lend(actor=world.crrc_operator, aid=aid, **values)
    lent = services.aid_lend(actor=world.crrc_operator, aid=aid, lent_at=None, due_back_on=today)
    with pytest.raises(DomainError, match="ne peut pas précéder le prêt"):
        services.aid_return(
            actor=world.crrc_operator,
            aid=lent,
            returned_at=lent.lent_at - datetime.timedelta(hours=1),
            condition="Ok",
        )
    with pytest.raises(DomainError, match="état de la ressource"):
        services.aid_return(actor=world.crrc_operator, aid=lent, returned_at=None, condition="")


@pytest.mark.parametrize(
    ("quantity", "message"),
    [("", "nombre entier"), ("2,5", "nombre entier"), (0, "au moins 1"), (10**6, "dépasser")],
)
def test_bad_quantities_are_refused_in_french(world, quantity, message):
    with pytest.raises(DomainError, match=message) as refused:
        services.resource_create(
            actor=world.rssi,
            organisation=world.hospital,
            kind=ResourceKind.LAPTOPS,
            label="Postes",
            quantity=quantity,
            unit="postes",
        )
    assert refused.value.field == "quantity"


def test_bad_resource_fields_are_refused(world):
    values = {
        "actor": world.rssi,
        "organisation": world.hospital,
        "kind": ResourceKind.LAPTOPS,
        "label": "Postes",
        "quantity": 3,
        "unit": "postes",
    }
    for change, field in (
        ({"kind": "fusee"}, "kind"),
        ({"label": ""}, "label"),
        ({"unit": "x" * 51}, "unit"),
        ({"contact": world.outsider_rssi}, "contact"),
    ):
        with pytest.raises(DomainError) as refused:
            services.resource_create(**{**values, **change})
        assert refused.value.field == field
    # A member of the organisation, or oneself, may be the contact.
    assert services.resource_create(**values, contact=world.director).contact == world.director


# --- Lifting --------------------------------------------------------------------------------


def test_lifting_is_refused_while_something_is_out_and_closes_what_waits(
    world, laptops, activation, case, django_capture_on_commit_callbacks, mailoutbox
):
    lent = ask(world, activation, quantity=4)
    services.aid_mobilise(actor=world.crrc_operator, aid=lent, resource=laptops)
    services.aid_lend(
        actor=world.crrc_operator, aid=lent, lent_at=None, due_back_on=timezone.localdate()
    )
    waiting = ask(world, activation, quantity=1)
    with pytest.raises(DomainError) as refused:
        services.activation_lift(actor=world.ars_manager, activation=activation, note="Fin.")
    assert refused.value.code == "loans_outstanding"
    assert f"n° {lent.pk} — Centre hospitalier de Rivebelle : 4 postes" in refused.value.message
    assert "(prêtée)" in refused.value.message
    with pytest.raises(DomainError) as refused:
        services.activation_lift(actor=world.crrc_operator, activation=activation, note="Fin.")
    assert refused.value.code == "forbidden"
    with pytest.raises(DomainError, match="bilan"):
        services.activation_lift(actor=world.ars_manager, activation=activation, note="")

    services.aid_return(actor=world.crrc_operator, aid=lent, returned_at=None, condition="Ok")
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        lifted = services.activation_lift(
            actor=world.ars_manager, activation=activation, note="Urgences rouvertes."
        )
    assert lifted.ended_at is not None
    assert lifted.ended_by == world.ars_manager
    waiting.refresh_from_db()
    assert waiting.status == AidStatus.REFUSED
    assert services.LIFT_REASON in waiting.note
    assert any("levée de l'activation" in mail.subject for mail in mailoutbox)
    assert any("demande refusée" in mail.subject for mail in mailoutbox)
    assert "Levée du plan ORSAN cyber" in orsan_lines(case)[-1]
    with pytest.raises(DomainError, match="déjà été levée"):
        services.activation_lift(actor=world.ars_manager, activation=lifted, note="Encore.")
    with pytest.raises(DomainError) as ended:
        ask(world, lifted)
    assert ended.value.code == "activation_ended"


# --- Visibility -----------------------------------------------------------------------------


def test_who_sees_what(world, laptops, activation):
    aid = ask(world, activation, quantity=2)
    requested_on_laptops = ask(world, activation, quantity=1, resource=laptops)
    other = services.resource_create(
        actor=world.crrc_operator,
        organisation=world.provider,
        kind=ResourceKind.EXPERTISE,
        label="Forensique",
        quantity=5,
        unit="jours",
    )
    services.aid_mobilise(actor=world.crrc_operator, aid=aid, resource=other)

    def seen(user):
        return set(sel.aid_requests_visible_to(user).values_list("pk", flat=True))

    both = {aid.pk, requested_on_laptops.pk}
    assert seen(world.ars_manager) == both
    assert seen(world.crrc_operator) == both
    assert seen(world.rssi) == both  # its own requests
    assert seen(world.neighbour_rssi) == {requested_on_laptops.pk}  # on its resource
    assert seen(world.staff) == set()
    assert seen(world.outsider_crrc) == set()
    assert seen(world.outsider_rssi) == set()

    # Activations and the catalogue: the region's ORSAN people, nobody else.
    for person in (world.ars_manager, world.crrc_operator, world.rssi, world.neighbour_rssi):
        assert sel.activations_visible_to(person).filter(pk=activation.pk).exists(), person
        assert sel.catalogue(person).filter(pk=laptops.pk).exists(), person
    for person in (world.staff, world.outsider_crrc, world.outsider_rssi, world.provider_expert):
        assert not sel.activations_visible_to(person).exists(), person
        assert not sel.catalogue(person).exists(), person


def test_overdue_loans_are_flagged(world, laptops, activation):
    aid = ask(world, activation, quantity=1)
    services.aid_mobilise(actor=world.crrc_operator, aid=aid, resource=laptops)
    services.aid_lend(
        actor=world.crrc_operator,
        aid=aid,
        lent_at=timezone.now() - datetime.timedelta(hours=20),
        due_back_on=timezone.localdate(),
    )
    assert not sel.outstanding_loans(world.ars_manager).get().overdue
    AidRequest.objects.filter(pk=aid.pk).update(
        due_back_on=timezone.localdate() - datetime.timedelta(days=1)
    )
    assert sel.outstanding_loans(world.ars_manager).get().overdue
