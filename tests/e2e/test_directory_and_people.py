"""Journeys of issue 3: the ARS manager browses the regional directory; an establishment's
RSSI invites a colleague, who joins through the e-mailed link and sets up TOTP."""

import re

import pytest
from auditlog.context import set_actor
from django.core import mail
from playwright.sync_api import expect

from rempart.core.roles import OrgKind, Role
from rempart.organisations import services
from rempart.organisations.models import Invitation, LegalStatus, Membership, Sector, User
from rempart.organisations.tests.factories import (
    TEST_TOTP_SECRET,
    CategoryFactory,
    DepartementFactory,
    OrganisationFactory,
    RegionFactory,
    member,
)

from .helpers import fresh_totp_code, log_in, pass_totp

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "mot-de-passe-de-test-solide"  # the factories' password


def log_in_with_totp(page, email: str, first_name: str) -> None:
    log_in(page, email, PASSWORD)
    pass_totp(page, fresh_totp_code(TEST_TOTP_SECRET))
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Bonjour {first_name}")


def results(page):
    return page.locator("#directory-results")


def filtering(page, action) -> None:
    """Do `action` and wait for the directory's answer, so that the next filter is not sent
    while this one is in flight (htmx drops a request made during another one)."""
    with page.expect_response(lambda r: "/organisations/" in r.url and r.request.method == "GET"):
        action()


@pytest.fixture
def directory_region():
    """A region with 2 GHT, 66 establishments over 2 départements (two pages of 50),
    and another region whose establishment must never show."""
    region = RegionFactory(code="84", name="Auvergne-Rhône-Alpes")
    isere = DepartementFactory(code="38", name="Isère", region=region)
    rhone = DepartementFactory(code="69", name="Rhône", region=region)
    ch = CategoryFactory(code="355", label="Centre Hospitalier (C.H.)", sector=Sector.HEALTH)
    clinic = CategoryFactory(
        code="365", label="Etablissement de Soins Pluridisciplinaire", sector=Sector.HEALTH
    )
    ehpad = CategoryFactory(code="500", label="EHPAD", sector=Sector.MEDICO_SOCIAL)
    ars = OrganisationFactory(
        kind=OrgKind.ARS,
        name="ARS Auvergne-Rhône-Alpes",
        region=region,
        departement=rhone,
        finess=None,
        sector="",
    )
    ght_alpes = OrganisationFactory(
        kind=OrgKind.GHT,
        name="GHT Alpes–Dauphiné",
        region=region,
        departement=isere,
        finess=None,
        sector="",
    )
    ght_rhone = OrganisationFactory(
        kind=OrgKind.GHT,
        name="GHT Rhône–Centre",
        region=region,
        departement=rhone,
        finess=None,
        sector="",
    )

    def establishment(name, departement, category, **kwargs):
        return OrganisationFactory(
            name=name,
            region=region,
            departement=departement,
            category=category,
            sector=category.sector,
            **kwargs,
        )

    for i in range(30):
        establishment(
            f"Clinique du Rhône n°{i:02d}",
            rhone,
            clinic,
            legal_status=LegalStatus.PRIVATE_FOR_PROFIT,
        )
    for i in range(24):
        establishment(
            f"Centre hospitalier de l'Isère n°{i:02d}",
            isere,
            ch,
            legal_status=LegalStatus.PUBLIC,
            ght=ght_alpes,
        )
    for i in range(10):
        establishment(
            f"EHPAD des Glycines n°{i:02d}", isere, ehpad, legal_status=LegalStatus.PUBLIC
        )
    establishment(
        "Hôpital Édouard-Herriot de démonstration",
        rhone,
        ch,
        legal_status=LegalStatus.PUBLIC,
        ght=ght_rhone,
    )
    target = establishment(
        "Centre hospitalier des Sources",
        isere,
        ch,
        legal_status=LegalStatus.PUBLIC,
        ght=ght_alpes,
        beds=320,
        commune="Voiron",
    )
    other_region = RegionFactory(code="93", name="Provence-Alpes-Côte d'Azur")
    elsewhere = OrganisationFactory(
        name="Hôpital des Calanques d'ailleurs",
        region=other_region,
        departement=DepartementFactory(code="13", name="Bouches-du-Rhône", region=other_region),
    )
    return {
        "region": region,
        "ars": ars,
        "target": target,
        "elsewhere": elsewhere,
        "ght_alpes": ght_alpes,
        "isere": isere,
    }


def test_ars_manager_searches_filters_and_opens_an_establishment(page, directory_region):
    data = directory_region
    target = data["target"]
    member(Role.ARS_MANAGER, data["ars"], email="arnaud@ars.sante.fr", first_name="Arnaud")
    rssi = member(
        Role.RSSI, target, email="romain@sources.fr", first_name="Romain", last_name="Sanchez"
    )
    member(Role.DSI, target, email="delphine@sources.fr", first_name="Delphine", last_name="Simon")
    # The RSSI changed the number of beds earlier: it is in the history.
    with set_actor(rssi):
        services.organisation_update(actor=rssi, organisation=target, beds=412)

    log_in_with_totp(page, "arnaud@ars.sante.fr", "Arnaud")
    page.get_by_role("link", name="Annuaire").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Annuaire des organisations")
    # 66 establishments + 2 GHT + the ARS; nothing from the other region.
    expect(results(page)).to_contain_text("69 organisations trouvées")
    expect(results(page)).to_contain_text("Page 1 sur 2")
    expect(results(page)).not_to_contain_text(data["elsewhere"].name)

    # Pagination.
    results(page).get_by_role("link", name="Page suivante").click()
    expect(results(page)).to_contain_text("Page 2 sur 2")
    expect(results(page).locator("tbody tr")).to_have_count(19)

    # Search by name (the form's submit button).
    page.get_by_label("Rechercher").fill("des Sources")
    filtering(page, lambda: page.get_by_role("button", name="Filtrer").click())
    expect(results(page)).to_contain_text("1 organisation trouvée")
    expect(results(page).get_by_role("link", name=target.name)).to_be_visible()

    # The other region's hospital cannot be found, even by its exact name.
    page.get_by_label("Rechercher").fill(data["elsewhere"].name)
    filtering(page, lambda: page.get_by_role("button", name="Filtrer").click())
    expect(results(page)).to_contain_text("Aucune organisation ne correspond")

    page.get_by_label("Rechercher").fill("")
    filtering(page, lambda: page.get_by_role("button", name="Filtrer").click())
    expect(results(page)).to_contain_text("69 organisations trouvées")

    # Filters: sector, département, GHT (each choice refreshes the results).
    filtering(page, lambda: page.get_by_label("Secteur").select_option(label="Médico-social"))
    expect(results(page)).to_contain_text("10 organisations trouvées")
    expect(results(page)).to_contain_text("EHPAD des Glycines")
    expect(results(page)).not_to_contain_text("Clinique du Rhône")

    filtering(page, lambda: page.get_by_label("Secteur").select_option(label="Sanitaire"))
    expect(results(page)).to_contain_text("56 organisations trouvées")
    filtering(page, lambda: page.get_by_label("Département").select_option(label="38 – Isère"))
    expect(results(page)).to_contain_text("25 organisations trouvées")
    expect(results(page)).not_to_contain_text("Clinique du Rhône")

    filtering(page, lambda: page.get_by_label("GHT").select_option(label="GHT Alpes–Dauphiné"))
    filtering(page, lambda: page.get_by_label("Département").select_option(label="Tous"))
    filtering(page, lambda: page.get_by_label("Secteur").select_option(label="Tous"))
    expect(results(page)).to_contain_text("25 organisations trouvées")
    expect(results(page)).to_contain_text("GHT Alpes–Dauphiné")
    expect(results(page)).not_to_contain_text("EHPAD des Glycines")
    expect(results(page)).not_to_contain_text("Hôpital Édouard-Herriot")

    # Open the establishment: identification, people and history.
    results(page).get_by_role("link", name=target.name).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(target.name)
    main = page.locator("main")
    expect(main).to_contain_text(target.finess)
    expect(main).to_contain_text("GHT Alpes–Dauphiné")
    expect(main).to_contain_text("Romain Sanchez")
    expect(main).to_contain_text("RSSI / référent SSI")
    expect(main).to_contain_text("Delphine Simon")
    history = page.locator("#historique ~ *").first
    expect(history).to_contain_text("Romain Sanchez")
    expect(history).to_contain_text("412")


def test_rssi_invites_a_colleague_who_joins_and_sets_up_totp(browsing):
    region = RegionFactory(code="84", name="Auvergne-Rhône-Alpes")
    home = OrganisationFactory(name="Centre hospitalier des Tilleuls", region=region)
    member(Role.RSSI, home, email="romain.rssi@tilleuls.fr", first_name="Romain")

    rssi_page = browsing()
    log_in_with_totp(rssi_page, "romain.rssi@tilleuls.fr", "Romain")
    rssi_page.goto(f"/organisations/{home.pk}/personnes/")
    expect(rssi_page.get_by_role("heading", level=1)).to_contain_text(home.name)

    # A malformed address first: a French message, nothing sent.
    rssi_page.get_by_label("Adresse e-mail professionnelle").fill("pas-une-adresse")
    rssi_page.get_by_label("Rôle").select_option(label="DSI")
    rssi_page.get_by_role("button", name="Envoyer l'invitation").click()
    expect(rssi_page.locator("#people-panel")).to_contain_text(
        "Saisissez une adresse e-mail valide"
    )
    assert mail.outbox == []

    rssi_page.get_by_label("Adresse e-mail professionnelle").fill("nouveau.dsi@tilleuls.fr")
    rssi_page.get_by_label("Rôle").select_option(label="DSI")
    rssi_page.get_by_role("button", name="Envoyer l'invitation").click()
    panel = rssi_page.locator("#people-panel")
    expect(panel).to_contain_text("Invitation envoyée à nouveau.dsi@tilleuls.fr")
    expect(panel).to_contain_text("Invitations en attente")
    expect(panel.locator("li").filter(has_text="nouveau.dsi@tilleuls.fr")).to_have_count(1)

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["nouveau.dsi@tilleuls.fr"]
    assert home.name in message.subject
    link = re.search(r"https?://\S+/organisations/invitation/\S+/", message.body)
    assert link, message.body

    # The colleague, in their own browser.
    page = browsing()
    page.goto(link.group(0))
    expect(page.get_by_role("heading", level=1)).to_have_text("Rejoindre Rempart")
    expect(page.locator("main")).to_contain_text(home.name)
    expect(page.locator("main")).to_contain_text("DSI")
    page.get_by_label("Prénom").fill("Nadia")
    page.locator("input[name=last_name]").fill("Nouvelle")
    page.locator("input[name=password1]").fill("court")
    page.locator("input[name=password2]").fill("court")
    page.get_by_role("button", name="Créer mon compte et rejoindre").click()
    expect(page.locator("main")).to_contain_text("trop court")
    assert not User.objects.filter(email="nouveau.dsi@tilleuls.fr").exists()

    page.locator("input[name=password1]").fill("Une-phrase-de-passe-solide-2025")
    page.locator("input[name=password2]").fill("Une-phrase-de-passe-solide-2025")
    page.get_by_role("button", name="Créer mon compte et rejoindre").click()

    # DSI requires MFA: straight to the TOTP set-up page (the password was just chosen,
    # so no second password prompt).
    expect(page).to_have_url(re.compile(r"/accounts/2fa/totp/activate/"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        "Activer l'application d'authentification"
    )
    secret = page.locator("#authenticator_secret").input_value()
    assert re.fullmatch(r"[A-Z2-7]{16,}=*", secret), secret
    form = page.locator("main form").filter(has=page.locator("input[name=code]"))
    form.locator("input[name=code]").fill(fresh_totp_code(secret))
    form.locator("button[type=submit]").first.click()
    expect(page.locator("main")).to_contain_text("Application d'authentification activée")

    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Bonjour Nadia")
    expect(page.locator("main")).to_contain_text(home.name)
    user = User.objects.get(email="nouveau.dsi@tilleuls.fr")
    assert Membership.objects.active().filter(user=user, organisation=home, role=Role.DSI).exists()
    assert Invitation.objects.get(email="nouveau.dsi@tilleuls.fr").accepted_by == user
