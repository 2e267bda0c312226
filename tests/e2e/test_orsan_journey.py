"""ORSAN cyber mutual aid, the whole loan cycle in the browser, each step by the person who does
it in real life, each in their own browser:

1. Nina, RSSI of the neighbouring Hôpital du Val, offers ten preconfigured laptops to the
   region's pool.
2. Anne, at the ARS, activates ORSAN cyber for the Centre hospitalier de Rivebelle, hit by a
   ransomware (she first forgets the reason: refused in French, nothing she typed is lost).
3. Rémi, RSSI of the victim, asks for six laptops (he cannot activate the plan himself, and an
   RSSI from another region cannot even see the activation).
4. Chloé, at the CRRC, mobilises the neighbour's laptops for the request (not more than asked);
   Nina records that they are lent.
5. Nina records their return (the condition is required); the loans page, the activation and
   the catalogue show the laptops returned and available again.

The database is checked at the end: the request is returned, the resource fully available.
"""

import datetime

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from rempart.incidents import orsan_selectors
from rempart.incidents.models import AidRequest, AidStatus, CrisisActivation, PooledResource
from rempart.incidents.tests.factories import incident_world
from rempart.organisations.tests.factories import TEST_TOTP_SECRET

from .helpers import fresh_totp_code, log_in, pass_totp

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "mot-de-passe-de-test-solide"  # the factories' password
LAPTOPS = "Ordinateurs portables préconfigurés"
TITLE = "Rançongiciel au CH de Rivebelle"
VICTIM = "Centre hospitalier de Rivebelle"
LENDER = "Hôpital du Val"


def sign_in(browsing, user):
    """A new browser (a new person) logged in with password and TOTP code."""
    page = browsing()
    log_in(page, user.email, PASSWORD)
    pass_totp(page, fresh_totp_code(TEST_TOTP_SECRET))
    expect(page.locator("#fr-navigation")).to_be_visible()
    return page


def open_orsan(page) -> None:
    """Incidents menu of the top navigation → ORSAN cyber."""
    nav = page.locator("#fr-navigation")
    nav.get_by_role("button", name="Incidents").click()
    nav.get_by_role("link", name="ORSAN cyber").click()
    page.wait_for_load_state()
    expect(page.locator("main h1")).to_have_text("ORSAN cyber — entraide régionale")


def open_request(page, aid_pk: int) -> None:
    """From the ORSAN home: the activation, then the request in its table."""
    open_orsan(page)
    page.locator("main").get_by_role("link", name=TITLE).click()
    page.wait_for_load_state()
    requests = page.locator("main").get_by_role("table", name="Demandes d'entraide")
    requests.get_by_role("link", name=f"n° {aid_pk}", exact=True).click()
    page.wait_for_load_state()
    expect(page.locator("main h1")).to_have_text(f"Demande d'entraide n° {aid_pk}")


def expect_status(page, label: str) -> None:
    """The request's status badge, under its title."""
    expect(page.locator("main h1 + p .fr-badge")).to_have_text(label)


def aid_form(page, action: str):
    return page.locator("main form").filter(has=page.locator(f"input[name=action][value={action}]"))


# --- 1. The neighbour offers laptops ---------------------------------------------------------


def offer_laptops(lender) -> None:
    open_orsan(lender)
    main = lender.locator("main")
    main.get_by_role("link", name="Catalogue des ressources").click()
    lender.wait_for_load_state()
    expect(main).to_contain_text("Aucune ressource n'est encore proposée dans votre région.")
    main.get_by_role("link", name="Proposer une ressource").click()
    lender.wait_for_load_state()
    expect(main.locator("h1")).to_have_text("Proposer une ressource")

    form = main.locator("form")
    form.locator("[name=kind]").select_option(label="Ordinateurs portables")
    form.locator("[name=label]").fill(LAPTOPS)
    form.locator("[name=quantity]").fill("10")
    form.locator("[name=unit]").fill("postes")
    form.locator("[name=description]").fill("Windows 11, client VPN, sans données ; 4 h de délai.")
    form.get_by_role("button", name="Proposer la ressource").click()
    lender.wait_for_load_state()

    expect(main.locator("h1")).to_have_text("Mes ressources proposées")
    expect(main).to_contain_text(f"« {LAPTOPS} » est proposée dans le catalogue de la région.")
    row = main.locator("tbody tr").filter(has_text=LAPTOPS)
    expect(row).to_contain_text(LENDER)
    expect(row).to_contain_text("10 / 10 postes")
    expect(row).to_contain_text("proposée")


# --- 2. The ARS activates the plan -----------------------------------------------------------


def activate_plan(ars, victim_pk: int) -> None:
    open_orsan(ars)
    main = ars.locator("main")
    expect(main).to_contain_text("Le plan ORSAN cyber n'a jamais été activé dans votre région.")
    main.get_by_role("link", name="Activer le plan ORSAN cyber").click()
    ars.wait_for_load_state()
    expect(main.locator("h1")).to_have_text("Activer le plan ORSAN cyber")

    # The reason is forgotten: refused with the reason, what was typed is still there.
    form = main.locator("form")
    form.locator("[name=title]").fill(TITLE)
    form.locator("[name=affected]").select_option(label=VICTIM)
    form.get_by_role("button", name="Activer le plan").click()
    ars.wait_for_load_state()
    expect(main).to_contain_text("Indiquez le motif de l'activation.")
    expect(form.locator("[name=title]")).to_have_value(TITLE)
    expect(form.locator("[name=affected]")).to_have_values([str(victim_pk)])
    assert not CrisisActivation.objects.exists()

    form.locator("[name=reason]").fill(
        "Urgences et DPI à l'arrêt depuis 6 h ; il faut des postes sains pour rouvrir l'accueil."
    )
    form.get_by_role("button", name="Activer le plan").click()
    ars.wait_for_load_state()
    expect(main.locator("h1")).to_have_text(TITLE)
    expect(main).to_contain_text("Le plan ORSAN cyber est activé")
    expect(main).to_contain_text("Activation en cours")
    expect(main).to_contain_text("Urgences et DPI à l'arrêt depuis 6 h")
    expect(main).to_contain_text(VICTIM)
    expect(main).to_contain_text("Aucune demande d'entraide pour cette activation.")


# --- 3. The victim asks for help (and what it may not do) ------------------------------------


def victim_cannot_activate(victim) -> None:
    victim.goto(reverse("incidents:orsan_activate"))
    main = victim.locator("main")
    expect(main.locator("h1")).to_have_text("Accès refusé")
    expect(main).to_contain_text("Seule l'ARS de la région active le plan ORSAN cyber.")


def outsider_cannot_see(outsider, activation_pk: int) -> None:
    outsider.goto(reverse("incidents:orsan_detail", args=[activation_pk]))
    main = outsider.locator("main")
    expect(main.locator("h1")).to_have_text("Accès refusé")
    expect(main).to_contain_text("Vous n'avez pas accès à cette activation ORSAN cyber")
    expect(main).not_to_contain_text(TITLE)


def request_laptops(victim) -> int:
    open_orsan(victim)
    main = victim.locator("main")
    row = main.locator("tbody tr").filter(has_text=TITLE)
    expect(row).to_contain_text(VICTIM)
    expect(row).to_contain_text("en cours")
    row.get_by_role("link", name=TITLE).click()
    victim.wait_for_load_state()
    main.get_by_role("link", name="Demander de l'entraide").click()
    victim.wait_for_load_state()
    expect(main.locator("h1")).to_have_text("Demander de l'entraide")

    form = main.locator("form")
    expect(form.locator("[name=requester] option:checked")).to_have_text(VICTIM)
    form.locator("[name=kind]").select_option(label="Ordinateurs portables")
    form.locator("[name=quantity]").fill("6")
    form.locator("[name=need]").fill("Six postes sains pour rouvrir l'accueil des urgences.")
    form.locator("[name=resource]").select_option(
        label=f"{LAPTOPS} ({LENDER}, ordinateurs portables) — 10 / 10 postes disponibles"
    )
    form.get_by_role("button", name="Envoyer la demande").click()
    victim.wait_for_load_state()

    expect(main).to_contain_text("Votre demande est enregistrée")
    expect_status(victim, "Demandée")
    expect(main).to_contain_text("Ressource souhaitée")
    expect(main).to_contain_text(f"« {LAPTOPS} » — {LENDER}")
    # The victim does not mobilise for itself.
    expect(main.get_by_role("button", name="Mobiliser", exact=True)).to_have_count(0)
    aid = AidRequest.objects.get()
    expect(main.locator("h1")).to_have_text(f"Demande d'entraide n° {aid.pk}")
    return aid.pk


# --- 4. The CRRC mobilises, the lender hands the laptops over --------------------------------


def mobilise(crrc, aid_pk: int) -> None:
    open_request(crrc, aid_pk)
    main = crrc.locator("main")
    expect_status(crrc, "Demandée")
    form = aid_form(crrc, "mobilise")
    expect(form.locator("[name=resource] option:checked")).to_contain_text(LAPTOPS)

    # More than the request asks for: refused, the chosen resource stays selected.
    form.locator("[name=quantity]").fill("8")
    form.get_by_role("button", name="Mobiliser", exact=True).click()
    crrc.wait_for_load_state()
    expect(main).to_contain_text("La demande porte sur 6 : on ne mobilise pas davantage.")
    form = aid_form(crrc, "mobilise")
    expect(form.locator("[name=resource] option:checked")).to_contain_text(LAPTOPS)
    assert AidRequest.objects.get(pk=aid_pk).status == AidStatus.REQUESTED

    form.locator("[name=quantity]").fill("")  # the quantity asked for
    form.get_by_role("button", name="Mobiliser", exact=True).click()
    crrc.wait_for_load_state()
    expect(main).to_contain_text("La demande est mobilisée")
    expect_status(crrc, "Mobilisée")
    expect(main).to_contain_text(f"Mobilisation : 6 postes de « {LAPTOPS} » ({LENDER})")
    expect(aid_form(crrc, "mobilise")).to_have_count(0)


def lend(lender, aid_pk: int, due_back: datetime.date) -> None:
    open_request(lender, aid_pk)
    main = lender.locator("main")
    expect_status(lender, "Mobilisée")
    form = aid_form(lender, "lend")
    expect(form.locator("[name=lent_at]")).not_to_have_value("")  # now, by default
    form.locator("[name=due_back_on]").fill(due_back.isoformat())
    form.get_by_role("button", name="Enregistrer le prêt").click()
    lender.wait_for_load_state()
    expect(main).to_contain_text("Le prêt est enregistré, avec sa date de retour prévue.")
    expect_status(lender, "Prêtée")
    expect(main).to_contain_text(f"retour prévu le {due_back:%d/%m/%Y}")


def loans_show_laptops_out(crrc, aid_pk: int, due_back: datetime.date) -> None:
    open_orsan(crrc)
    main = crrc.locator("main")
    expect(main).to_contain_text("1 prêt en cours n'est pas encore restitué.")
    main.get_by_role("link", name="Voir les prêts en cours").click()
    crrc.wait_for_load_state()
    expect(main.locator("h1")).to_have_text("Prêts en cours")
    expect(main).to_contain_text("1 prêt en cours")
    loans = main.get_by_role("table", name="Prêts en cours")
    row = loans.locator("tbody tr").filter(has_text=f"n° {aid_pk}")
    expect(row).to_contain_text(TITLE)
    expect(row).to_contain_text(VICTIM)
    expect(row).to_contain_text(f"6 postes — {LAPTOPS}")
    expect(row).to_contain_text(LENDER)
    expect(row).to_contain_text(f"{due_back:%d/%m/%Y}")
    main.get_by_role("link", name="Catalogue des ressources").click()
    crrc.wait_for_load_state()
    expect(main.locator("tbody tr").filter(has_text=LAPTOPS)).to_contain_text("4 / 10 postes")


# --- 5. The laptops come back ----------------------------------------------------------------


def record_return(lender, aid_pk: int) -> None:
    open_request(lender, aid_pk)
    main = lender.locator("main")
    expect_status(lender, "Prêtée")
    form = aid_form(lender, "return")
    form.get_by_role("button", name="Enregistrer la restitution").click()
    lender.wait_for_load_state()
    expect(main).to_contain_text("Décrivez l'état de la ressource au retour.")
    assert AidRequest.objects.get(pk=aid_pk).status == AidStatus.LENT

    form = aid_form(lender, "return")
    form.locator("[name=condition]").fill("Six postes rendus complets, disques effacés.")
    form.get_by_role("button", name="Enregistrer la restitution").click()
    lender.wait_for_load_state()
    expect(main).to_contain_text("La restitution est enregistrée")
    expect_status(lender, "Restituée")
    expect(main).to_contain_text("État au retour : Six postes rendus complets, disques effacés.")
    expect(aid_form(lender, "return")).to_have_count(0)


def everything_back(crrc, aid_pk: int) -> None:
    open_orsan(crrc)
    main = crrc.locator("main")
    expect(main).not_to_contain_text("pas encore restitué")
    main.get_by_role("link", name="Prêts en cours").click()
    crrc.wait_for_load_state()
    expect(main).to_contain_text("Aucun prêt en cours.")

    main.get_by_role("link", name="Activations").click()
    crrc.wait_for_load_state()
    main.get_by_role("link", name=TITLE).click()
    crrc.wait_for_load_state()
    requests = main.get_by_role("table", name="Demandes d'entraide")
    row = requests.locator("tbody tr").filter(has_text=f"n° {aid_pk}")
    expect(row).to_contain_text("Restituée")
    expect(row).to_contain_text(LAPTOPS)
    expect(main).to_contain_text("Aucune ressource mobilisée ou prêtée en ce moment.")

    main.get_by_role("link", name="Catalogue des ressources").click()
    crrc.wait_for_load_state()
    expect(main.locator("tbody tr").filter(has_text=LAPTOPS)).to_contain_text("10 / 10 postes")


def test_laptops_lent_to_a_victim_and_returned(browsing):
    world = incident_world(rota=False)
    due_back = timezone.localdate() + datetime.timedelta(days=14)

    lender = sign_in(browsing, world.neighbour_rssi)
    offer_laptops(lender)

    ars = sign_in(browsing, world.ars_manager)
    activate_plan(ars, world.hospital.pk)
    activation = CrisisActivation.objects.get()
    assert list(activation.affected.all()) == [world.hospital]
    notices = [m for m in mail.outbox if "activation du plan" in m.subject]
    told = {address for message in notices for address in message.to}
    assert {world.rssi.email, world.neighbour_rssi.email, world.crrc_operator.email} <= told

    victim = sign_in(browsing, world.rssi)
    victim_cannot_activate(victim)
    outsider = sign_in(browsing, world.outsider_rssi)
    outsider_cannot_see(outsider, activation.pk)
    aid_pk = request_laptops(victim)

    crrc = sign_in(browsing, world.crrc_operator)
    mobilise(crrc, aid_pk)
    lend(lender, aid_pk, due_back)
    loans_show_laptops_out(crrc, aid_pk, due_back)

    record_return(lender, aid_pk)
    everything_back(crrc, aid_pk)

    # The victim sees its request closed.
    victim.reload()
    expect_status(victim, "Restituée")

    aid = AidRequest.objects.select_related("resource").get(pk=aid_pk)
    assert aid.status == AidStatus.RETURNED
    assert aid.requester == world.hospital
    assert aid.quantity == 6
    assert aid.resource.label == LAPTOPS
    assert aid.resource.organisation == world.neighbour
    assert aid.mobilised_by == world.crrc_operator
    assert aid.due_back_on == due_back
    assert aid.lent_at is not None
    assert aid.returned_at is not None
    assert aid.returned_at >= aid.lent_at
    resource = orsan_selectors.with_availability(PooledResource.objects.filter(pk=aid.resource_id))
    assert resource.get().available == 10
    assert resource.get().active
    activation.refresh_from_db()
    assert activation.ended_at is None  # returned, the plan still running
    returned = [m for m in mail.outbox if "ressource restituée" in m.subject]
    assert world.rssi.email in {address for message in returned for address in message.to}
