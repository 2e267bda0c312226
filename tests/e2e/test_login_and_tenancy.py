"""Journeys of issue 3: an establishment's people log in (password + TOTP) and stay inside
their own establishment; a learner has no directory; guessing passwords locks the account."""

import pytest
from playwright.sync_api import expect

from rempart.core.roles import OrgKind, Role
from rempart.organisations.models import Sector
from rempart.organisations.tests.factories import (
    TEST_TOTP_SECRET,
    OrganisationFactory,
    RegionFactory,
    member,
)

from .helpers import fresh_totp_code, log_in, pass_totp, wrong_code

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "mot-de-passe-de-test-solide"  # the factories' password


@pytest.fixture
def region():
    """Two GHT, an establishment in each, and people in both."""
    region = RegionFactory(code="84", name="Auvergne-Rhône-Alpes")
    ght_a = OrganisationFactory(
        kind=OrgKind.GHT, name="GHT des Volcans", region=region, finess=None, sector=""
    )
    ght_b = OrganisationFactory(
        kind=OrgKind.GHT, name="GHT du Léman", region=region, finess=None, sector=""
    )
    home = OrganisationFactory(
        name="Centre hospitalier des Tilleuls",
        region=region,
        ght=ght_a,
        sector=Sector.HEALTH,
        legal_status="public",
        beds=320,
    )
    foreign = OrganisationFactory(
        name="Clinique des Mélèzes secrète",
        region=region,
        ght=ght_b,
        sector=Sector.HEALTH,
        legal_status="prive_lucratif",
        commune="Chamonix-Mont-Blanc-Canari",
    )
    return {"region": region, "home": home, "foreign": foreign, "ght_a": ght_a, "ght_b": ght_b}


def test_rssi_logs_in_with_totp_and_cannot_open_a_foreign_establishment(page, region):
    home, foreign = region["home"], region["foreign"]
    member(Role.RSSI, home, email="romain.rssi@tilleuls.fr", first_name="Romain")
    member(Role.RSSI, foreign, email="rssi@melezes.fr", first_name="Rachida")

    log_in(page, "romain.rssi@tilleuls.fr", PASSWORD)
    # The password is right: the second factor is asked for.
    expect(page.locator("input[name=code]")).to_be_visible()
    expect(page.locator("main")).to_contain_text("authentification")

    pass_totp(page, wrong_code(TEST_TOTP_SECRET))
    expect(page.locator("main")).to_contain_text("Code incorrect")
    expect(page.locator("input[name=code]")).to_be_visible()

    pass_totp(page, fresh_totp_code(TEST_TOTP_SECRET))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Bonjour Romain")
    main = page.locator("main")
    expect(main).to_contain_text(home.name)
    expect(main).not_to_contain_text(foreign.name)

    # Their own establishment's page.
    main.get_by_role("link", name=home.name).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(home.name)
    expect(page.locator("main")).to_contain_text(home.finess)

    # A foreign establishment, by typing its address: a 404 that shows nothing of it.
    response = page.goto(f"/organisations/{foreign.pk}/")
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page introuvable")
    body = page.content()
    for secret in (foreign.name, foreign.finess, foreign.commune, "Rachida", "rssi@melezes.fr"):
        assert secret not in body
    # The same for its people page and its edit page.
    for path in (
        f"/organisations/{foreign.pk}/personnes/",
        f"/organisations/{foreign.pk}/modifier/",
    ):
        response = page.goto(path)
        assert response.status == 404, path
        assert foreign.name not in page.content()


def test_learner_logs_in_without_mfa_and_has_no_directory(page, region):
    home, foreign = region["home"], region["foreign"]
    member(Role.STAFF, home, email="alice.agent@tilleuls.fr", first_name="Alice")

    log_in(page, "alice.agent@tilleuls.fr", PASSWORD)
    # No second factor for a learner: straight to the home page.
    expect(page.get_by_role("heading", level=1)).to_contain_text("Bonjour Alice")
    expect(page.locator("main")).to_contain_text(home.name)
    assert "/accounts/2fa/" not in page.url

    response = page.goto("/organisations/")
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page introuvable")

    response = page.goto(f"/organisations/{foreign.pk}/")
    assert response.status == 404
    assert foreign.name not in page.content()

    response = page.goto(f"/organisations/{region['ght_b'].pk}/")
    assert response.status == 404
    assert region["ght_b"].name not in page.content()


def test_five_wrong_passwords_lock_the_account(page, region):
    member(Role.DSI, region["home"], email="delphine.dsi@tilleuls.fr", first_name="Delphine")

    for attempt in range(5):
        log_in(page, "delphine.dsi@tilleuls.fr", f"mauvais-mot-de-passe-{attempt}")
        expect(page.locator("main")).to_contain_text("incorrect")
        assert "/accounts/login/" in page.url

    # Even the right password is now refused, with the lockout message.
    log_in(page, "delphine.dsi@tilleuls.fr", PASSWORD)
    expect(page.locator("main")).to_contain_text("Trop de tentatives de connexion échouées")
    assert "/accounts/login/" in page.url
    expect(page.locator("input[name=code]")).to_have_count(0)
