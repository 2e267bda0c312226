"""ORSAN cyber pages: the whole path through the browser's forms (resource offered → activation
→ request → mobilised → lent → returned → lifted), refusals shown next to the field with what
was typed, rights (403 with the reason, never an empty page), HTMX catalogue, query budgets."""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from rempart.core.roles import Role
from rempart.incidents import orsan_services as services
from rempart.incidents.models import (
    AidRequest,
    AidStatus,
    CaseEvent,
    CrisisActivation,
    EventKind,
    PooledResource,
    ResourceKind,
)
from rempart.organisations.tests.factories import member

from .test_orsan_services import *  # noqa: F403  (the fixtures: world, laptops, case, activation)
from .test_orsan_services import ask, availability

pytestmark = pytest.mark.django_db


def url(name, *args) -> str:
    return reverse(f"incidents:{name}", args=args)


def plain(html: str) -> str:
    return re.sub(r"\s+", " ", html.replace("&#x27;", "'").replace("&quot;", '"'))


def test_the_whole_path_through_the_pages(
    client, world, case, django_capture_on_commit_callbacks, mailoutbox
):
    # The neighbour's RSSI offers 20 laptops.
    client.force_login(world.neighbour_rssi)
    response = client.post(
        url("orsan_resource_create"),
        {
            "organisation": world.neighbour.pk,
            "kind": ResourceKind.LAPTOPS,
            "label": "Postes portables",
            "quantity": "20",
            "unit": "postes",
            "description": "Masterisés.",
            "contact": "",
        },
    )
    assert response.status_code == 302, plain(response.content.decode())
    assert response["Location"] == url("orsan_my_resources")
    resource = PooledResource.objects.get()
    assert (resource.organisation, resource.quantity, resource.contact) == (
        world.neighbour,
        20,
        world.neighbour_rssi,
    )
    page = plain(client.get(url("orsan_my_resources")).content.decode())
    assert "Postes portables" in page
    assert "20 / 20 postes" in page

    # The ARS activates the plan for the hospital, linked to its case.
    client.force_login(world.ars_manager)
    form = client.get(url("orsan_activate"))
    assert form.status_code == 200
    assert "Centre hospitalier de Rivebelle" in form.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url("orsan_activate"),
            {
                "region": world.region.pk,
                "title": "Rançongiciel à Rivebelle",
                "reason": "Urgences à l'arrêt.",
                "affected": [world.hospital.pk],
                "case": case.pk,
            },
        )
    activation = CrisisActivation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("orsan_detail", activation.pk)
    assert activation.case == case
    assert mailoutbox

    # The hospital's RSSI asks for 12 laptops, naming the neighbour's.
    client.force_login(world.rssi)
    detail = plain(client.get(url("orsan_detail", activation.pk)).content.decode())
    assert url("orsan_request", activation.pk) in detail
    assert url("orsan_lift", activation.pk) not in detail
    response = client.post(
        url("orsan_request", activation.pk),
        {
            "requester": world.hospital.pk,
            "kind": ResourceKind.LAPTOPS,
            "quantity": "12",
            "need": "Rouvrir les urgences.",
            "resource": resource.pk,
        },
    )
    aid = AidRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("orsan_aid", aid.pk)
    page = plain(client.get(url("orsan_aid", aid.pk)).content.decode())
    assert "Demandée" in page
    assert 'value="cancel"' in page
    assert 'value="mobilise"' not in page

    # The CRRC mobilises it.
    client.force_login(world.crrc_operator)
    page = plain(client.get(url("orsan_aid", aid.pk)).content.decode())
    assert 'value="mobilise"' in page
    assert "20 / 20 postes disponibles" in page
    response = client.post(
        url("orsan_aid", aid.pk), {"action": "mobilise", "resource": resource.pk, "quantity": ""}
    )
    assert response.status_code == 302
    aid.refresh_from_db()
    assert (aid.status, aid.quantity) == (AidStatus.MOBILISED, 12)

    # The neighbour records the loan, then the return.
    client.force_login(world.neighbour_rssi)
    due = (timezone.localdate() + datetime.timedelta(days=10)).isoformat()
    lent_at = timezone.localtime().strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        url("orsan_aid", aid.pk), {"action": "lend", "lent_at": lent_at, "due_back_on": due}
    )
    assert response.status_code == 302, plain(response.content.decode())
    aid.refresh_from_db()
    assert aid.status == AidStatus.LENT
    assert aid.due_back_on.isoformat() == due
    loans = plain(client.get(url("orsan_loans")).content.decode())
    assert "Centre hospitalier de Rivebelle" in loans
    assert "12 postes" in loans
    response = client.post(
        url("orsan_aid", aid.pk),
        {"action": "return", "returned_at": lent_at, "condition": "Complet."},
    )
    assert response.status_code == 302, plain(response.content.decode())
    aid.refresh_from_db()
    assert aid.status == AidStatus.RETURNED
    assert availability(resource) == 20

    # The ARS lifts the plan.
    client.force_login(world.ars_manager)
    response = client.post(url("orsan_lift", activation.pk), {"note": "Urgences rouvertes."})
    assert response.status_code == 302
    activation.refresh_from_db()
    assert activation.ended_at is not None
    page = plain(client.get(url("orsan_detail", activation.pk)).content.decode())
    assert "Levé le" in page
    assert "Urgences rouvertes." in page
    assert CaseEvent.objects.filter(case=case, kind=EventKind.MUTUAL_AID).count() == 6


def test_over_lending_is_shown_on_the_quantity_with_what_was_typed(
    client, world, laptops, activation
):
    first = ask(world, activation, quantity=15)
    services.aid_mobilise(actor=world.crrc_operator, aid=first, resource=laptops)
    second = ask(world, activation, quantity=10)
    client.force_login(world.crrc_operator)
    response = client.post(
        url("orsan_aid", second.pk), {"action": "mobilise", "resource": laptops.pk, "quantity": "8"}
    )
    assert response.status_code == 400
    page = plain(response.content.decode())
    assert "Il ne reste que 5 postes disponibles" in page
    assert 'value="8"' in page
    second.refresh_from_db()
    assert second.status == AidStatus.REQUESTED


def test_bad_input_gets_a_french_message_and_no_500(client, world, laptops, activation):
    client.force_login(world.neighbour_rssi)
    response = client.post(
        url("orsan_resource_create"),
        {"organisation": world.neighbour.pk, "kind": "", "label": "", "quantity": "vingt"},
    )
    assert response.status_code == 400
    page = plain(response.content.decode())
    assert "Choisissez le type de ressource." in page
    assert "Indiquez une quantité en nombre entier" in page
    assert "Indiquez l'unité." in page
    assert not PooledResource.objects.exclude(pk=laptops.pk).exists()
    # Lowering the quantity under what is out is refused with the reason.
    aid = ask(world, activation, quantity=6)
    services.aid_mobilise(actor=world.crrc_operator, aid=aid, resource=laptops)
    response = client.post(
        url("orsan_resource_edit", laptops.pk),
        {
            "action": "save",
            "kind": laptops.kind,
            "label": "Postes",
            "quantity": "4",
            "unit": "postes",
            "contact": world.neighbour_rssi.pk,
        },
    )
    assert response.status_code == 400
    assert "ne peut pas descendre sous 6" in plain(response.content.decode())
    laptops.refresh_from_db()
    assert laptops.quantity == 20
    # An unknown action, or one that is no longer possible, says so.
    client.force_login(world.rssi)
    response = client.post(url("orsan_aid", aid.pk), {"action": "lend"})
    assert response.status_code == 403
    assert "structure qui prête" in plain(response.content.decode())
    response = client.post(url("orsan_aid", aid.pk), {"action": "voler"})
    assert response.status_code == 302
    client.force_login(world.crrc_operator)
    response = client.post(url("orsan_aid", aid.pk), {"action": "return", "condition": "x"})
    assert response.status_code == 400
    assert "« mobilisée » : cette action n'est plus possible" in plain(response.content.decode())
    client.force_login(world.ars_manager)
    response = client.post(
        url("orsan_activate"), {"region": world.region.pk, "title": "", "reason": "", "case": "x"}
    )
    assert response.status_code == 400
    page = plain(response.content.decode())
    assert "Donnez un intitulé à l'activation." in page
    assert "Choisissez au moins une structure touchée." in page


def test_edit_a_resource_and_its_contact(client, world, laptops):
    neighbour_director = member(Role.DIRECTOR, world.neighbour, first_name="Denis")
    client.force_login(world.neighbour_rssi)
    form = client.get(url("orsan_resource_edit", laptops.pk)).content.decode()
    assert "Denis" in form
    assert "Moi-même" not in form
    response = client.post(
        url("orsan_resource_edit", laptops.pk),
        {
            "action": "save",
            "kind": ResourceKind.LAPTOPS,
            "label": "Postes portables (lot 2)",
            "quantity": "25",
            "unit": "postes",
            "description": "",
            "contact": neighbour_director.pk,
        },
    )
    assert response.status_code == 302
    laptops.refresh_from_db()
    assert (laptops.label, laptops.quantity, laptops.contact) == (
        "Postes portables (lot 2)",
        25,
        neighbour_director,
    )
    # Someone of another structure cannot be named.
    response = client.post(
        url("orsan_resource_edit", laptops.pk),
        {
            "action": "save",
            "kind": "postes",
            "label": "P",
            "quantity": "25",
            "unit": "postes",
            "contact": world.rssi.pk,
        },
    )
    assert response.status_code == 400
    assert "Choisissez une personne de la liste." in plain(response.content.decode())
    # The hospital's people cannot edit the neighbour's resource.
    client.force_login(world.rssi)
    assert client.get(url("orsan_resource_edit", laptops.pk)).status_code == 403


def test_withdraw_and_offer_again(client, world, laptops):
    client.force_login(world.neighbour_rssi)
    response = client.post(url("orsan_resource_edit", laptops.pk), {"action": "withdraw"})
    assert response.status_code == 302
    laptops.refresh_from_db()
    assert not laptops.active
    catalogue = plain(client.get(url("orsan_resources")).content.decode())
    assert "<strong>Postes portables" not in catalogue
    assert "Aucune ressource n'est encore proposée" in catalogue
    client.post(url("orsan_resource_edit", laptops.pk), {"action": "offer"})
    laptops.refresh_from_db()
    assert laptops.active


# --- Rights ---------------------------------------------------------------------------------


def test_a_neighbour_cannot_ask_in_an_activation_that_does_not_name_it(
    client, world, laptops, activation
):
    client.force_login(world.neighbour_rssi)
    detail = client.get(url("orsan_detail", activation.pk))
    assert detail.status_code == 200  # it sees the crisis (and may lend)...
    assert url("orsan_request", activation.pk) not in detail.content.decode()
    response = client.get(url("orsan_request", activation.pk))
    assert response.status_code == 403  # ...but does not ask in it
    assert "structures touchées nommées dans l'activation" in plain(response.content.decode())
    response = client.post(
        url("orsan_request", activation.pk),
        {
            "requester": world.neighbour.pk,
            "kind": ResourceKind.LAPTOPS,
            "quantity": "1",
            "need": "x",
        },
    )
    assert response.status_code == 403
    assert not AidRequest.objects.exists()


def test_a_crrc_of_another_region_sees_nothing(client, world, laptops, activation):
    aid = ask(world, activation, quantity=2)
    client.force_login(world.outsider_crrc)
    for name in ("orsan_detail", "orsan_lift", "orsan_request"):
        response = client.get(url(name, activation.pk))
        assert response.status_code == 403, name
        assert "Rançongiciel" not in response.content.decode()
    response = client.get(url("orsan_aid", aid.pk))
    assert response.status_code == 403
    assert "Rivebelle" not in response.content.decode()
    response = client.post(url("orsan_aid", aid.pk), {"action": "mobilise", "resource": laptops.pk})
    assert response.status_code == 403
    assert client.get(url("orsan_resource_edit", laptops.pk)).status_code == 403
    assert client.get(url("orsan_detail", 999_999)).status_code == 404
    for name in ("orsan_activations", "orsan_resources", "orsan_loans"):
        response = client.get(url(name))
        assert response.status_code == 200, name
        body = response.content.decode()
        assert "Rançongiciel" not in body, name
        assert "Postes portables" not in body, name
    aid.refresh_from_db()
    assert aid.status == AidStatus.REQUESTED


def test_people_outside_orsan_are_told_why(client, world):
    for person in (world.staff, world.provider_expert):
        client.force_login(person)
        for name in ("orsan_activations", "orsan_resources", "orsan_loans", "orsan_my_resources"):
            response = client.get(url(name))
            assert response.status_code == 403, (person, name)
    client.force_login(world.staff)
    assert "réservé aux personnes qui y prennent part" in plain(
        client.get(url("orsan_resources")).content.decode()
    )
    client.force_login(world.crrc_operator)
    assert client.get(url("orsan_activate")).status_code == 403  # the ARS activates


def test_only_the_ars_lifts_and_outstanding_loans_are_listed(client, world, laptops, activation):
    aid = ask(world, activation, quantity=3)
    services.aid_mobilise(actor=world.crrc_operator, aid=aid, resource=laptops)
    client.force_login(world.crrc_operator)
    assert client.get(url("orsan_lift", activation.pk)).status_code == 403
    client.force_login(world.ars_manager)
    page = plain(client.get(url("orsan_lift", activation.pk)).content.decode())
    assert "Des ressources sont encore mobilisées ou prêtées" in page
    response = client.post(url("orsan_lift", activation.pk), {"note": "Fin."})
    assert response.status_code == 400
    assert f"n° {aid.pk} — Centre hospitalier de Rivebelle : 3 postes" in plain(
        response.content.decode()
    )
    activation.refresh_from_db()
    assert activation.ended_at is None


def test_the_linked_case_is_shown_only_to_whoever_sees_it(client, world, activation, case):
    link = reverse("incidents:case_detail", args=[case.pk])
    client.force_login(world.rssi)
    assert link in client.get(url("orsan_detail", activation.pk)).content.decode()
    client.force_login(world.neighbour_rssi)
    page = client.get(url("orsan_detail", activation.pk)).content.decode()
    assert link not in page
    assert case.title not in page


# --- Catalogue, HTMX and query budgets ------------------------------------------------------


def test_catalogue_filters_and_htmx_swap_equals_the_reload(client, world, laptops):
    services.resource_create(
        actor=world.crrc_operator,
        organisation=world.crrc,
        kind=ResourceKind.RSSI_TIME,
        label="RSSI mutualisé",
        quantity=10,
        unit="jours",
    )
    client.force_login(world.rssi)
    page = plain(client.get(url("orsan_resources")).content.decode())
    assert "Postes portables" in page
    assert "RSSI mutualisé" in page
    assert "10 / 10 jours" in page
    query = {"type": ResourceKind.RSSI_TIME}
    full = client.get(url("orsan_resources"), query).content.decode()
    assert "RSSI mutualisé" in full
    assert "Postes portables" not in full
    partial = client.get(
        url("orsan_resources"),
        query,
        headers={"HX-Request": "true", "HX-Target": "orsan-catalogue"},
    ).content.decode()
    assert "<html" not in partial
    assert "RSSI mutualisé" in partial
    assert partial.strip() in full  # the swap shows what a reload shows
    # Unknown filter values are ignored, not an error page.
    assert (
        client.get(url("orsan_resources"), {"type": "fusee", "structure": "x"}).status_code == 200
    )
    only_available = client.get(url("orsan_resources"), {"dispo": "oui"}).content.decode()
    assert "Postes portables" in only_available


def test_list_pages_keep_their_number_of_queries(
    client, world, laptops, activation, django_assert_max_num_queries
):
    client.force_login(world.ars_manager)
    pages = [
        url("orsan_activations"),
        url("orsan_resources"),
        url("orsan_loans"),
        url("orsan_detail", activation.pk),
    ]

    def counts():
        found = {}
        for page in pages:
            from django.db import connection
            from django.test.utils import CaptureQueriesContext

            with CaptureQueriesContext(connection) as queries:
                assert client.get(page).status_code == 200
            found[page] = len(queries)
        return found

    def add_rows(n):
        for i in range(n):
            resource = services.resource_create(
                actor=world.crrc_operator,
                organisation=world.neighbour,
                kind=ResourceKind.NETWORK,
                label=f"Lot {i}",
                quantity=5,
                unit="commutateurs",
            )
            aid = ask(world, activation, quantity=1, kind=ResourceKind.NETWORK)
            services.aid_mobilise(actor=world.crrc_operator, aid=aid, resource=resource)
            services.aid_lend(
                actor=world.crrc_operator,
                aid=aid,
                lent_at=None,
                due_back_on=timezone.localdate(),
            )
            services.activation_create(
                actor=world.ars_manager,
                region=world.region,
                title=f"Activation {i}",
                reason="Motif.",
                affected=[world.hospital, world.neighbour],
            )

    add_rows(1)
    before = counts()
    add_rows(6)
    after = counts()
    assert after == before, (before, after)
    with django_assert_max_num_queries(20):
        client.get(url("orsan_detail", activation.pk))
