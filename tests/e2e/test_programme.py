"""Issue 4, first slice: the ARS opens a funding call (windows checked on the server, ceilings
computed from the call's schedule); an establishment's RSSI sees the call and only their own
file's ceiling."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from rempart.core.roles import OrgKind, Role
from rempart.organisations.models import Sector
from rempart.organisations.tests.factories import (
    TEST_TOTP_SECRET,
    CategoryFactory,
    OrganisationFactory,
    RegionFactory,
    member,
)
from rempart.programme.models import Axis, Domain

from .helpers import fresh_totp_code, log_in, open_menu, pass_totp

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "mot-de-passe-de-test-solide"  # the factories' password


@pytest.fixture
def region():
    region = RegionFactory(code="84", name="Auvergne-Rhône-Alpes")
    ars = OrganisationFactory(
        kind=OrgKind.ARS, name="ARS ARA", region=region, finess=None, sector=""
    )
    ght = OrganisationFactory(
        kind=OrgKind.GHT, name="GHT des Volcans", region=region, finess=None, sector=""
    )
    other_ght = OrganisationFactory(
        kind=OrgKind.GHT, name="GHT du Léman", region=region, finess=None, sector=""
    )
    category = CategoryFactory()  # 355, sanitaire
    home = OrganisationFactory(
        name="CH des Tilleuls",
        region=region,
        ght=ght,
        category=category,
        sector=Sector.HEALTH,
        operating_budget_eur=Decimal("42000000"),
    )
    OrganisationFactory(
        name="CH des Puys",
        region=region,
        ght=ght,
        category=category,
        sector=Sector.HEALTH,
        operating_budget_eur=Decimal("3000000"),
    )
    OrganisationFactory(
        name="CH du Lac secret",
        region=region,
        ght=other_ght,
        category=category,
        sector=Sector.HEALTH,
        operating_budget_eur=Decimal("90000000"),
    )
    Domain.objects.create(
        code="D2", title="Continuité et reprise d'activité", axis=Axis.OPERATIONAL
    )
    return {"ars": ars, "home": home}


def test_ars_opens_a_call_and_an_rssi_sees_their_ceiling(browsing, region):
    member(Role.ARS_MANAGER, region["ars"], email="claire@ars.fr", first_name="Claire")
    member(Role.RSSI, region["home"], email="romain@tilleuls.fr", first_name="Romain")
    today = timezone.localdate()

    ars = browsing()
    log_in(ars, "claire@ars.fr", PASSWORD)
    pass_totp(ars, fresh_totp_code(TEST_TOTP_SECRET))
    open_menu(ars, "Programme CaRE", "Appels à financement")
    ars.get_by_role("link", name="Ouvrir un appel").click()

    form = ars.locator("main form")
    form.locator("[name=domain]").select_option(label="D2 — Continuité et reprise d'activité")
    form.locator("[name=title]").fill("CaRE D2 — appel régional")
    form.locator("[name=legal_reference]").fill("Arrêté du 3 juillet 2025")
    form.locator("[name=national_amount_eur]").fill("45000000")
    form.locator("[name=envelope_eur]").fill("5600000")
    # Applications would close before they open: refused by the server, nothing lost.
    form.locator("[name=application_opens_on]").fill(
        (today - datetime.timedelta(days=1)).isoformat()
    )
    form.locator("[name=application_closes_on]").fill(
        (today - datetime.timedelta(days=5)).isoformat()
    )
    form.locator("[name=declaration_deadline]").fill(
        (today + datetime.timedelta(days=200)).isoformat()
    )
    form.locator("[name=payment_opens_on]").fill((today + datetime.timedelta(days=201)).isoformat())
    form.locator("[name=payment_closes_on]").fill(
        (today + datetime.timedelta(days=300)).isoformat()
    )
    form.locator("[name=basis]").select_option("operating_budget_eur")
    form.locator("[name=method]").select_option("brackets")
    form.locator("[name=brackets]").fill("5000000;15000\n20000000;25000\nau-delà;60000")
    form.locator("[name=floor]").fill("15000")
    form.get_by_role("button", name="Ouvrir l'appel").click()
    ars.wait_for_load_state()
    expect(ars.locator(".fr-message--error, .fr-alert--error").first).to_be_visible()
    expect(ars.locator("main form [name=title]")).to_have_value("CaRE D2 — appel régional")

    ars.locator("main form [name=application_closes_on]").fill(
        (today + datetime.timedelta(days=60)).isoformat()
    )
    ars.locator("main form").get_by_role("button", name="Ouvrir l'appel").click()
    ars.wait_for_load_state()
    main = ars.locator("main")
    expect(main).to_contain_text("CaRE D2 — appel régional")
    expect(main).to_contain_text("Candidatures ouvertes")
    # GHT des Volcans: 42 M€ → 60 000 €, 3 M€ → 15 000 € (the floor) = 75 000 €.
    expect(main).to_contain_text("75 000,00")
    expect(main).to_contain_text("GHT du Léman")

    rssi = browsing()
    log_in(rssi, "romain@tilleuls.fr", PASSWORD)
    pass_totp(rssi, fresh_totp_code(TEST_TOTP_SECRET))
    open_menu(rssi, "Programme CaRE", "Appels à financement")
    rssi.get_by_role("link", name="CaRE D2 — appel régional").click()
    rssi.wait_for_load_state()
    main = rssi.locator("main")
    expect(main).to_contain_text("Votre plafond")
    expect(main).to_contain_text("GHT des Volcans")
    expect(main).to_contain_text("75 000,00")
    expect(main).not_to_contain_text("GHT du Léman")
    expect(main).not_to_contain_text("CH du Lac secret")
