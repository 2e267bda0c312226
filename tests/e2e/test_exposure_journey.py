"""Issue 9, the exposure watch in the browser, on a loopback lab range.

The CRRC has allowed 127.0.0.0/8 as a lab range. On an address of its own in that range, the
test runs an "RDP-like" listener on 3389 and a TLS service on 8443 whose certificate expired.
The RSSI of the establishment tries to declare a private range (refused, with the reason),
declares the loopback address, signs the scan authorisation. The CRRC analyst launches a scan
and watches its progress; the findings for the exposed remote desktop and the expired
certificate appear with their remediation. The RSSI acknowledges the certificate finding. The
remote desktop is stopped; the analyst rescans, and the RDP finding is closed as fixed."""

import datetime

import pytest
from playwright.sync_api import expect

from rempart.exposure.models import Finding, FindingStatus, Scan, ScanStatus
from rempart.exposure.tests.factories import exposure_world
from rempart.exposure.tests.servers import Listener, TlsServer, make_cert
from rempart.organisations.tests.factories import TEST_TOTP_SECRET

from .helpers import fresh_totp_code, log_in, pass_totp

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "mot-de-passe-de-test-solide"  # the factories' password
RDP_TITLE = "Bureau à distance Microsoft (RDP) exposé sur Internet"


def _logged_in(browsing, user):
    page = browsing()
    log_in(page, user.email, PASSWORD)
    pass_totp(page, fresh_totp_code(TEST_TOTP_SECRET))
    return page


def _scan_and_wait(page) -> None:
    page.get_by_role("button", name="Lancer une analyse").click()
    expect(page.locator("h1")).to_contain_text("Analyse n°")
    expect(page.locator("#scan-progress")).to_contain_text("Terminée", timeout=60_000)
    full_result = page.get_by_role("link", name="Voir le résultat complet")
    if full_result.count():  # the progress was followed live: the fragment links to the rest
        full_result.click()
    expect(page.locator("#observations-table")).to_be_visible()


def test_declare_authorise_scan_find_fix_rescan_closes(browsing, tmp_path):
    world = exposure_world(authorised=False)
    now = datetime.datetime.now(datetime.UTC)
    expired = make_cert(
        names=("portail.chu-test.fr",),
        ips=(world.address,),
        not_before=now - datetime.timedelta(days=400),
        not_after=now - datetime.timedelta(days=3),
    )
    rdp = Listener(host=world.address, port=3389)
    portal = TlsServer(tmp_path, expired, host=world.address, port=8443)
    try:
        # 1. The RSSI declares the lab address (a private range is refused, with why).
        rssi = _logged_in(browsing, world.rssi)
        rssi.goto("/exposition/")
        expect(rssi.locator("h1")).to_contain_text(world.establishment.name)
        expect(rssi.locator("#no-authorisation")).to_be_visible()
        form = rssi.locator("form#asset-form")
        form.locator("[name=value]").fill("10.20.0.0/16")
        form.locator("[name=description]").fill("Réseau interne")
        form.get_by_role("button", name="Déclarer").click()
        expect(rssi.locator("form#asset-form")).to_contain_text("adresse privée")
        expect(rssi.locator("form#asset-form [name=value]")).to_have_value("10.20.0.0/16")
        form = rssi.locator("form#asset-form")
        form.locator("[name=value]").fill(world.address)
        form.locator("[name=description]").fill("Laboratoire : portail et bureau à distance")
        form.get_by_role("button", name="Déclarer").click()
        expect(rssi.locator("#assets-table")).to_contain_text(f"{world.address}/32")

        # 2. The RSSI signs the authorisation: every day, all day, 200 probes/s.
        rssi.get_by_role("link", name="Signer une autorisation").click()
        form = rssi.locator("form#authorisation-form")
        for day in ("samedi", "dimanche"):
            form.get_by_label(day, exact=True).check(force=True)
        form.locator("[name=window_start]").fill("00:00")
        form.locator("[name=window_end]").fill("23:59")
        form.locator("[name=max_rate]").fill("200")
        form.get_by_role("button", name="Signer l'autorisation").click()
        expect(form.locator("[name=confirm]")).to_be_visible()  # not signed without the box
        assert not world.establishment.exposure_authorisations.exists()
        rssi.locator("form#authorisation-form").get_by_label("Je suis habilité(e)").check(
            force=True
        )
        rssi.get_by_role("button", name="Signer l'autorisation").click()
        expect(rssi.locator("#authorisations-table")).to_contain_text("en vigueur")

        # 3. The analyst sees the establishment on the board and scans it.
        analyst = _logged_in(browsing, world.operator)
        analyst.goto("/exposition/")
        expect(analyst.locator("h1")).to_contain_text("Veille d'exposition régionale")
        analyst.locator("#board-table").get_by_role("link", name=world.establishment.name).click()
        _scan_and_wait(analyst)
        expect(analyst.locator("#observations-table")).to_contain_text("3389")
        expect(analyst.locator("#observations-table")).to_contain_text("8443")
        analyst.get_by_role("link", name=world.establishment.name).first.click()
        findings = analyst.locator("#findings-table")
        expect(findings).to_contain_text(RDP_TITLE)
        expect(findings).to_contain_text("Certificat expiré")

        # 4. The RSSI reads the remediation and acknowledges the certificate finding.
        rssi.goto("/exposition/")
        rssi.locator("#findings-table").get_by_role("link", name=RDP_TITLE).click()
        expect(rssi.locator("#remediation")).to_contain_text("Fermer le port 3389")
        rssi.goto("/exposition/")
        rssi.locator("#findings-table").get_by_role("link", name="Certificat expiré").click()
        rssi.get_by_role("button", name="Prendre en compte").click()
        expect(rssi.locator("form#ack-form")).to_contain_text("Indiquez le motif")
        rssi.locator("form#ack-form [name=reason]").fill("Renouvellement commandé, livraison lundi")
        rssi.get_by_role("button", name="Prendre en compte").click()
        expect(rssi.locator("#findings-table")).to_contain_text("Pris en compte")

        # 5. The remote desktop is stopped; the rescan closes its finding.
        rdp.close()
        analyst.reload()
        _scan_and_wait(analyst)
        expect(analyst.locator("#observations-table")).not_to_contain_text("3389")
        analyst.get_by_role("link", name=world.establishment.name).first.click()
        expect(analyst.locator("#findings-table")).not_to_contain_text(RDP_TITLE)
        expect(analyst.locator("#findings-table")).to_contain_text("Certificat expiré")
        analyst.get_by_role("link", name="Afficher aussi les constats corrigés").click()
        fixed_row = analyst.locator("#findings-table tr", has_text=RDP_TITLE)
        expect(fixed_row).to_contain_text("Corrigé")
    finally:
        rdp.close()
        portal.close()

    rdp_finding = Finding.objects.get(code="exposed_rdp")
    assert rdp_finding.status == FindingStatus.FIXED
    assert rdp_finding.fixed_scan_id == Scan.objects.order_by("-pk").first().pk
    assert Finding.objects.get(code="tls_expired").status == FindingStatus.ACKNOWLEDGED
    assert list(Scan.objects.values_list("status", flat=True)) == [ScanStatus.DONE] * 2
