"""Issue 4, the whole cycle in the browser: the ARS opens a call; a hospital's RSSI prepares the
GHT's file (a wrong file type is refused, nothing lost) and submits it; the ARS asks for a
complement, then accepts; the RSSI records a restoration test and declares the targets with
their proofs; the ARS validates them; in the payment window the RSSI requests payment, the ARS
approves and records it; the RSSI files the financial report (less spent than paid: an amount
to recover); the ARS sees the statistics.

Time passes between phases: the live server runs in this process, so the programme's clock
(`paris_today`, imported by several modules) is moved forward where each module reads it."""

import datetime
import sys
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
from rempart.programme.models import (
    Application,
    Attainment,
    Axis,
    Domain,
    Measurement,
    Requirement,
    RequirementKind,
)

from .helpers import fresh_totp_code, log_in, open_menu, pass_totp

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "mot-de-passe-de-test-solide"  # the factories' password
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def travel_to(monkeypatch, day: datetime.date) -> None:
    """Move the programme's clock to `day` in every module that reads it."""
    for name, module in list(sys.modules.items()):
        if name.startswith("rempart.") and callable(getattr(module, "paris_today", None)):
            monkeypatch.setattr(module, "paris_today", lambda: day)


@pytest.fixture
def region():
    region = RegionFactory(code="84", name="Auvergne-Rhône-Alpes")
    ars = OrganisationFactory(kind=OrgKind.ARS, name="ARS ARA", region=region, finess=None)
    ght = OrganisationFactory(
        kind=OrgKind.GHT, name="GHT des Volcans", region=region, finess=None, sector=""
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
    domain = Domain.objects.create(
        code="D2", title="Continuité et reprise d'activité", axis=Axis.GOVERNANCE
    )
    Requirement.objects.create(
        domain=domain,
        kind=RequirementKind.PREREQUISITE,
        identifier="D2.T.P1",
        label="Organisation projet",
        attainment=Attainment.DECLARED,
    )
    Requirement.objects.create(
        domain=domain,
        kind=RequirementKind.TARGET,
        identifier="D2.T.01",
        label="Politique de sauvegarde",
        attainment=Attainment.DOCUMENT,
        position=1,
    )
    Requirement.objects.create(
        domain=domain,
        kind=RequirementKind.TARGET,
        identifier="D2.T.02",
        label="Test de restauration d'un système critique",
        attainment=Attainment.MEASUREMENT,
        measurement=Measurement.RESTORATION_TEST,
        position=2,
    )
    return {"ars": ars, "ght": ght, "home": home}


def _open_call(ars, today):
    open_menu(ars, "Programme CaRE", "Appels à financement")
    ars.get_by_role("link", name="Ouvrir un appel").click()
    form = ars.locator("main form")
    form.locator("[name=domain]").select_option(label="D2 — Continuité et reprise d'activité")
    form.locator("[name=title]").fill("CaRE D2 — appel régional")
    form.locator("[name=legal_reference]").fill("Arrêté du 3 juillet 2025")
    form.locator("[name=national_amount_eur]").fill("45000000")
    form.locator("[name=envelope_eur]").fill("5600000")
    dates = {
        "application_opens_on": today - datetime.timedelta(days=1),
        "application_closes_on": today + datetime.timedelta(days=30),
        "declaration_deadline": today + datetime.timedelta(days=120),
        "payment_opens_on": today + datetime.timedelta(days=121),
        "payment_closes_on": today + datetime.timedelta(days=200),
    }
    for name, day in dates.items():
        form.locator(f"[name={name}]").fill(day.isoformat())
    form.locator("[name=basis]").select_option("operating_budget_eur")
    form.locator("[name=method]").select_option("brackets")
    form.locator("[name=brackets]").fill("5000000;15000\n20000000;25000\nau-delà;60000")
    form.locator("[name=floor]").fill("15000")
    form.get_by_role("button", name="Ouvrir l'appel").click()
    ars.wait_for_load_state()
    expect(ars.locator("main")).to_contain_text("Candidatures ouvertes")
    return dates


def _prepare_file(rssi, tmp_path):
    open_menu(rssi, "Programme CaRE", "Appels à financement")
    rssi.get_by_role("link", name="CaRE D2 — appel régional").click()
    rssi.get_by_role("button", name="Préparer notre dossier").first.click()
    rssi.wait_for_load_state()
    form = rssi.locator("main form").filter(has=rssi.locator("[name=maturity_summary]"))
    form.locator("[name=maturity_level]").select_option("2")
    form.locator("[name=maturity_summary]").fill("Diagnostic réalisé avec le CRRC en septembre.")
    form.locator("[name=project_objectives]").fill("PCA et PRA pour les deux établissements.")
    form.locator("[name=project_schedule]").fill("Comité de pilotage mensuel.")
    form.locator("[name=project_lead]").fill("Romain Duval")
    form.locator("[name=budget_conseil]").fill("50000")
    form.locator("[name=budget_exercices]").fill("30000")
    # The budget does not add up yet (80 000 € of expenses, 75 000 € of resources): saving
    # is allowed, submitting is not.
    form.locator("[name=requested_eur]").fill("75000")
    form.locator("[name=own_funding_eur]").fill("0")
    form.locator("[name=commitment_signatory]").fill("Anne Morel, directrice")
    form.locator("[name=commitment_signed_on]").fill(
        (timezone.localdate() - datetime.timedelta(days=2)).isoformat()
    )
    form.locator("input[type=checkbox][name^=prerequisite_]").first.check(force=True)
    form.get_by_role("button", name="Enregistrer").first.click()
    rssi.wait_for_load_state()

    # A file that is not what its name says is refused, with the reason.
    fake = tmp_path / "lettre.pdf"
    fake.write_bytes(b"MZ\x90\x00 not a pdf")
    documents = rssi.locator("main form").filter(has=rssi.locator("input[type=file]"))
    documents.locator("[name=part]").select_option("lettre_engagement")
    documents.locator("input[type=file]").set_input_files(str(fake))
    documents.get_by_role("button", name="Joindre la pièce").click()
    rssi.wait_for_load_state()
    expect(rssi.locator("main")).to_contain_text("ne correspond pas à son extension")

    letter = tmp_path / "lettre-engagement.pdf"
    letter.write_bytes(PDF)
    documents = rssi.locator("main form").filter(has=rssi.locator("input[type=file]"))
    documents.locator("[name=part]").select_option("lettre_engagement")
    documents.locator("input[type=file]").set_input_files(str(letter))
    documents.get_by_role("button", name="Joindre la pièce").click()
    rssi.wait_for_load_state()
    expect(rssi.locator("main")).to_contain_text("lettre-engagement.pdf")


def _submit(rssi):
    rssi.get_by_role("button", name="Déposer le dossier").click()
    rssi.wait_for_load_state()


def test_whole_care_cycle(browsing, region, tmp_path, monkeypatch, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    member(Role.ARS_MANAGER, region["ars"], email="claire@ars.fr", first_name="Claire")
    member(Role.RSSI, region["home"], email="romain@tilleuls.fr", first_name="Romain")
    today = timezone.localdate()
    travel_to(monkeypatch, today)

    ars = browsing()
    log_in(ars, "claire@ars.fr", PASSWORD)
    pass_totp(ars, fresh_totp_code(TEST_TOTP_SECRET))
    dates = _open_call(ars, today)

    rssi = browsing()
    log_in(rssi, "romain@tilleuls.fr", PASSWORD)
    pass_totp(rssi, fresh_totp_code(TEST_TOTP_SECRET))
    _prepare_file(rssi, tmp_path)

    # Unbalanced budget: refused with the reason, the file stays a draft.
    _submit(rssi)
    expect(rssi.locator("main")).to_contain_text("Le budget ne s'équilibre pas")
    rssi.get_by_role("link", name="Modifier le dossier").first.click()
    rssi.wait_for_load_state()
    form = rssi.locator("main form").filter(has=rssi.locator("[name=maturity_summary]"))
    expect(form.locator("[name=project_lead]")).to_have_value("Romain Duval")  # nothing lost
    form.locator("[name=own_funding_eur]").fill("5000")
    form.get_by_role("button", name="Enregistrer").first.click()
    rssi.wait_for_load_state()
    _submit(rssi)
    expect(rssi.locator("main")).to_contain_text("Déposée")
    file = Application.objects.get()

    # The ARS asks for a complement, the RSSI answers, the ARS accepts.
    ars.goto(f"/programme/dossiers/{file.pk}/")
    ars.get_by_role("button", name="Commencer l'instruction").click()
    ars.wait_for_load_state()
    complement = ars.locator("main form").filter(has=ars.locator("input[value=complement]"))
    complement.locator("textarea").fill("Joindre le diagnostic de maturité détaillé.")
    complement.get_by_role("button", name="Demander le complément").click()
    ars.wait_for_load_state()
    expect(ars.locator("main")).to_contain_text("Complément demandé")

    rssi.goto(f"/programme/dossiers/{file.pk}/")
    expect(rssi.locator("main")).to_contain_text("Joindre le diagnostic de maturité détaillé.")
    diagnosis = tmp_path / "diagnostic.pdf"
    diagnosis.write_bytes(PDF)
    documents = rssi.locator("main form").filter(has=rssi.locator("input[type=file]"))
    documents.locator("[name=part]").select_option("diagnostic")
    documents.locator("input[type=file]").set_input_files(str(diagnosis))
    documents.get_by_role("button", name="Joindre la pièce").click()
    rssi.wait_for_load_state()
    rssi.get_by_role("button", name="Redéposer avec le complément").click()
    rssi.wait_for_load_state()
    expect(rssi.locator("main")).to_contain_text("Déposée")

    ars.goto(f"/programme/dossiers/{file.pk}/")
    ars.get_by_role("button", name="Accepter et engager le montant").click()
    ars.wait_for_load_state()
    expect(ars.locator("main")).to_contain_text("Acceptée")
    file.refresh_from_db()
    assert file.engaged_eur == Decimal("75000.00")

    # Operational phase: a restoration test is recorded, then both targets are declared.
    travel_to(monkeypatch, dates["application_closes_on"] + datetime.timedelta(days=20))
    rssi.goto(f"/programme/dossiers/mesures/{region['home'].pk}/")
    form = rssi.locator("main form").filter(has=rssi.locator("[name=measured_on]"))
    form.locator("[name=kind]").select_option(Measurement.RESTORATION_TEST.value)
    form.locator("[name=level]").select_option("4")
    form.locator("[name=result]").fill("Restauration du DPI en 3 h 40")
    form.locator("[name=measured_on]").fill(
        (dates["application_closes_on"] + datetime.timedelta(days=10)).isoformat()
    )
    form.locator("[name=source]").fill("Test de restauration interne")
    form.get_by_role("button", name="Enregistrer la mesure").click()
    rssi.wait_for_load_state()
    expect(rssi.locator("main")).to_contain_text("Restauration du DPI en 3 h 40")

    rssi.goto(f"/programme/dossiers/{file.pk}/cibles/")
    policy = rssi.locator("section[id^=cible-]").filter(has_text="D2.T.01")
    policy.get_by_role("button", name="Déclarer la cible atteinte").click()
    rssi.wait_for_load_state()  # without proof: refused
    expect(rssi.locator("main")).to_contain_text("Une déclaration sans preuve n'est pas recevable")
    policy = rssi.locator("section[id^=cible-]").filter(has_text="D2.T.01")
    proof = tmp_path / "politique-sauvegarde.pdf"
    proof.write_bytes(PDF)
    policy.locator("input[type=file]").set_input_files(str(proof))
    policy.get_by_role("button", name="Déclarer la cible atteinte").click()
    rssi.wait_for_load_state()
    restoration = rssi.locator("section[id^=cible-]").filter(has_text="D2.T.02")
    restoration.get_by_label("Restauration du DPI en 3 h 40", exact=False).check(force=True)
    restoration.get_by_role("button", name="Déclarer la cible atteinte").click()
    rssi.wait_for_load_state()

    ars.goto(f"/programme/dossiers/{file.pk}/cibles/")
    for identifier in ("D2.T.01", "D2.T.02"):
        section = ars.locator("section[id^=cible-]").filter(has_text=identifier)
        section.get_by_role("button", name="Valider la cible").click()
        ars.wait_for_load_state()
    expect(ars.locator("main")).to_contain_text("2 cibles validées sur 2")

    # Payment window: request, approval, payment.
    travel_to(monkeypatch, dates["payment_opens_on"] + datetime.timedelta(days=3))
    rssi.goto(f"/programme/dossiers/{file.pk}/paiement/")
    rssi.locator("[name=bank_account_holder]").fill("CH des Tilleuls")
    rssi.get_by_role("button", name="Demander le paiement").click()
    rssi.wait_for_load_state()
    expect(rssi.locator("main")).to_contain_text("75 000,00")

    ars.goto(f"/programme/dossiers/{file.pk}/paiement/")
    ars.get_by_role("button", name="Valider et mettre en paiement").click()
    ars.wait_for_load_state()
    paid = ars.locator("main form").filter(has=ars.locator("[name=paid_eur]"))
    paid.locator("[name=paid_eur]").fill("75000")
    paid.locator("[name=paid_on]").fill(
        (dates["payment_opens_on"] + datetime.timedelta(days=3)).isoformat()
    )
    paid.locator("[name=payment_reference]").fill("VIR-2026-0042")
    paid.get_by_role("button", name="Enregistrer le paiement").click()
    ars.wait_for_load_state()
    expect(ars.locator("main")).to_contain_text("Payé")

    # Financial report: 61 234,56 € spent for 75 000,00 € paid → 13 765,44 € to recover.
    rssi.goto(f"/programme/dossiers/{file.pk}/bilan/")
    line = rssi.locator("main form").filter(has=rssi.locator("[name=supplier]"))
    line.locator("[name=category]").select_option("conseil")
    line.locator("[name=supplier]").fill("Cyber Conseil SAS")
    line.locator("[name=invoice_reference]").fill("F-2026-118")
    line.locator("[name=invoice_date]").fill(
        (dates["application_closes_on"] + datetime.timedelta(days=15)).isoformat()
    )
    line.locator("[name=amount_eur]").fill("61234,56")
    line.get_by_role("button", name="Ajouter la dépense").click()
    rssi.wait_for_load_state()
    rssi.get_by_role("button", name="Déposer le bilan financier").click()
    rssi.wait_for_load_state()
    expect(rssi.locator("main")).to_contain_text("13 765,44")

    # The ARS sees the figures of the call.
    ars.goto(f"/programme/statistiques/appels/{file.call_id}/")
    main = ars.locator("main")
    expect(main).to_contain_text("75 000,00")
    targets = main.locator("table").filter(has_text="D2.T.02")
    expect(targets).to_contain_text("100")  # both targets reached by the only accepted file
