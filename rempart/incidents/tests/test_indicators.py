"""Indicators of compromise: validation and normalisation per kind (each refusal with its
reason), defanged input, duplicates, bulk paste (nothing valid lost), removal, the page and
the API. People: the victim's RSSI (pilotage), an on-call expert given contribution, the ARS
invited read-only, an outsider of another region."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.models import ApiTokenScope
from rempart.incidents import indicator_services as ioc
from rempart.incidents.models import (
    AccessLevel,
    CaseAccess,
    CaseEvent,
    CaseState,
    EventKind,
    Indicator,
    IndicatorKind,
    Tlp,
)
from rempart.programme.tests.test_api import assert_error, token_for

from .factories import incident_world, make_case

pytestmark = pytest.mark.django_db
K = IndicatorKind


@pytest.fixture
def world():
    return incident_world()


@pytest.fixture
def case(world):
    case = make_case(world)
    CaseAccess.objects.create(
        case=case, person=world.oncall, level=AccessLevel.CONTRIBUTE, granted_at=case.opened_at
    )
    CaseAccess.objects.create(
        case=case, organisation=world.ars, level=AccessLevel.READ, granted_at=case.opened_at
    )
    return case


def refusal(kind, value) -> DomainError:
    with pytest.raises(DomainError) as caught:
        ioc.normalise(kind, value)
    assert caught.value.field == "value"
    return caught.value


# --- Normalisation and refusals -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "raw", "stored"),
    [
        (K.IPV4, " 192.168.1.10 ", "192.168.1.10"),
        (K.IPV4, "10.0.0.0/24", "10.0.0.0/24"),
        (K.IPV4, "203[.]0[.]113[.]5", "203.0.113.5"),
        (K.IPV6, "2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        (K.DOMAIN, "Evil-Site[.]EXAMPLE.fr.", "evil-site.example.fr"),
        (K.DOMAIN, "hôpital-rançon.fr", "xn--hpital-ranon-tdb6o.fr"),
        (
            K.URL,
            "hxxps://evil[.]example[.]com/payload?id=1",
            "https://evil.example.com/payload?id=1",
        ),
        (K.URL, "HXXP[:]//Evil.Example.COM:8080/Path", "http://evil.example.com:8080/Path"),
        (K.URL, "ftp://files.example.org/a.zip", "ftp://files.example.org/a.zip"),
        (K.URL, "http://[2001:DB8::1]/x", "http://[2001:db8::1]/x"),
        (K.EMAIL, "Phisher[@]Evil[.]Example.fr", "Phisher@evil.example.fr"),
        (K.MD5, "D41D8CD98F00B204E9800998ECF8427E", "d41d8cd98f00b204e9800998ecf8427e"),
        (
            K.SHA1,
            "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        ),
        (
            K.SHA256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        (K.FILENAME, "facture_2024.pdf.exe", "facture_2024.pdf.exe"),
    ],
)
def test_values_are_normalised(kind, raw, stored):
    assert ioc.normalise(kind, raw) == stored


def test_ipv4_out_of_range_says_why():
    error = refusal(K.IPV4, "999.1.1.1")
    assert "999.1.1.1" in error.message
    assert "de 0 à 255" in error.message
    assert "999 dépasse" in error.message
    assert "4 nombres" in refusal(K.IPV4, "10.1.1").message
    assert "zéro" in refusal(K.IPV4, "010.1.1.1").message
    assert "Nom de domaine" in refusal(K.IPV4, "exemple.fr").message
    assert "le bloc est 10.0.0.0/24" in refusal(K.IPV4, "10.0.0.1/24").message


def test_ip_versions_point_to_the_right_kind():
    error = refusal(K.IPV4, "2001:db8::1")
    assert error.code == "wrong_kind"
    assert "IPv6" in error.message
    assert "choisissez" in error.message
    error = refusal(K.IPV6, "192.0.2.1")
    assert error.code == "wrong_kind"
    assert "Adresse IPv4" in error.message
    assert "2001:db8::1" in refusal(K.IPV6, "2001:db8::zz").message  # an example of the form
    assert "zone" in refusal(K.IPV6, "fe80::1%eth0").message


def test_domain_rules():
    assert "http://" in refusal(K.DOMAIN, "http://exemple.fr").message
    assert refusal(K.DOMAIN, "http://exemple.fr").code == "wrong_kind"
    assert "au moins un point" in refusal(K.DOMAIN, "localhost").message
    long_label = "a" * 64 + ".fr"
    assert "64 caractères" in refusal(K.DOMAIN, long_label).message
    assert "63" in refusal(K.DOMAIN, long_label).message
    too_long = ".".join(["a" * 60] * 5) + ".fr"
    assert "253" in refusal(K.DOMAIN, too_long).message
    assert "tiret" in refusal(K.DOMAIN, "-evil.fr").message
    assert "deux points de suite" in refusal(K.DOMAIN, "evil..fr").message
    assert "URL" in refusal(K.DOMAIN, "evil.fr/login").message
    assert "Adresse e-mail" in refusal(K.DOMAIN, "a@evil.fr").message


def test_url_rules():
    assert "http, https et ftp" in refusal(K.URL, "javascript:alert(1)").message
    assert "http, https et ftp" in refusal(K.URL, "file:///etc/passwd").message
    assert "protocole" in refusal(K.URL, "evil.fr/login").message
    assert "machine" in refusal(K.URL, "http:///chemin").message
    assert "espaces" in refusal(K.URL, "http://evil.fr/a b").message
    assert "IPv4" in refusal(K.URL, "http://999.1.1.1/x").message


def test_email_and_filename_rules():
    assert "exactement un « @ »" in refusal(K.EMAIL, "pas-une-adresse").message
    assert "au moins un point" in refusal(K.EMAIL, "a@localhost").message
    error = refusal(K.FILENAME, r"C:\Windows\Temp\evil.exe")
    assert "« evil.exe »" in error.message
    assert "chemin" in error.message


def test_hash_of_the_wrong_length_says_which_kind_it_would_be():
    sha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
    error = refusal(K.SHA256, sha1)
    assert error.code == "wrong_length"
    assert "64 caractères" in error.message
    assert "40" in error.message
    assert "c'est une empreinte SHA-1 ?" in error.message
    assert "empreinte MD5 ?" in refusal(K.SHA1, "d41d8cd98f00b204e9800998ecf8427e").message
    odd = refusal(K.MD5, "abc123")
    assert "32 caractères" in odd.message
    assert "6." in odd.message
    assert "« g »" in refusal(K.MD5, "g" * 32).message


def test_empty_too_long_and_unknown_kind():
    assert refusal(K.DOMAIN, "   ").code == "required"
    assert "2000" in refusal(K.URL, "http://a.fr/" + "x" * 2000).message
    with pytest.raises(DomainError) as caught:
        ioc.normalise("inconnu", "1.2.3.4")
    assert caught.value.field == "kind"


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("192.0.2.1", K.IPV4),
        ("999.1.1.1", K.IPV4),
        ("2001:db8::1", K.IPV6),
        ("evil[.]example.fr", K.DOMAIN),
        ("exemple.com", K.DOMAIN),
        ("hxxp://evil[.]fr/x", K.URL),
        ("a[@]b.fr", K.EMAIL),
        ("d41d8cd98f00b204e9800998ecf8427e", K.MD5),
        ("da39a3ee5e6b4b0d3255bfef95601890afd80709", K.SHA1),
        ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", K.SHA256),
        ("invoice.pdf.exe", K.FILENAME),
        ("juste du texte", None),
    ],
)
def test_kinds_are_detected(raw, kind):
    assert ioc.detect_kind(raw) == kind


# --- Adding, duplicates, removal --------------------------------------------------------------------


def test_add_normalises_and_writes_the_timeline(world, case):
    seen = timezone.now() - datetime.timedelta(days=1)
    indicator = ioc.indicator_add(
        actor=world.oncall,
        case=case,
        kind=K.DOMAIN,
        value="Evil[.]Example.fr",
        tlp=Tlp.GREEN,
        description="Domaine de commande",
        first_seen=seen,
    )
    assert indicator.value == "evil.example.fr"
    assert indicator.tlp == Tlp.GREEN
    assert indicator.created_by == world.oncall
    assert indicator.first_seen == seen
    event = CaseEvent.objects.get(case=case, kind=EventKind.INDICATOR)
    assert "evil.example.fr" in event.text
    assert "TLP:GREEN" in event.text
    assert event.author == world.oncall


def test_duplicate_is_refused_even_when_typed_differently(world, case):
    ioc.indicator_add(
        actor=world.rssi, case=case, kind=K.URL, value="https://evil.fr/a", tlp="amber"
    )
    with pytest.raises(DomainError) as caught:
        ioc.indicator_add(
            actor=world.rssi, case=case, kind=K.URL, value="hxxps://evil[.]fr/a", tlp="red"
        )
    assert caught.value.code == "duplicate"
    assert "figure déjà dans le dossier" in caught.value.message
    assert Indicator.objects.filter(case=case).count() == 1
    # The same value in another case is another indicator.
    other = make_case(world, number=2)
    ioc.indicator_add(
        actor=world.rssi, case=other, kind=K.URL, value="https://evil.fr/a", tlp="amber"
    )


def test_refusals_of_the_other_fields(world, case):
    with pytest.raises(DomainError) as caught:
        ioc.indicator_add(actor=world.rssi, case=case, kind=K.IPV4, value="1.2.3.4", tlp="orange")
    assert caught.value.field == "tlp"
    with pytest.raises(DomainError) as caught:
        ioc.indicator_add(
            actor=world.rssi,
            case=case,
            kind=K.IPV4,
            value="1.2.3.4",
            tlp="amber",
            first_seen=timezone.now() + datetime.timedelta(days=2),
        )
    assert caught.value.field == "first_seen"
    # "TLP:AMBER+STRICT" as written in reports is understood.
    indicator = ioc.indicator_add(
        actor=world.rssi, case=case, kind=K.IPV4, value="1.2.3.4", tlp="TLP:AMBER+STRICT"
    )
    assert indicator.tlp == Tlp.AMBER_STRICT


def test_who_may_add(world, case):
    for person in (world.ars_manager, world.outsider_rssi, world.staff):
        with pytest.raises(DomainError) as caught:
            ioc.indicator_add(actor=person, case=case, kind=K.IPV4, value="1.2.3.4", tlp="amber")
        assert caught.value.code == "forbidden"
    case.state = CaseState.CLOSED
    case.closed_at = timezone.now()
    case.save()
    with pytest.raises(DomainError) as caught:
        ioc.indicator_add(actor=world.rssi, case=case, kind=K.IPV4, value="1.2.3.4", tlp="amber")
    assert caught.value.code == "case_closed"
    assert not Indicator.objects.exists()


def test_bulk_keeps_every_valid_line_and_says_why_the_others_are_refused(world, case):
    ioc.indicator_add(actor=world.rssi, case=case, kind=K.IPV4, value="198.51.100.7", tlp="amber")
    text = "\n".join(
        [
            "# extrait du rapport du prestataire",
            "203.0.113.5",
            "999.1.1.1",
            "",
            "hxxp://evil[.]example/payload",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "203[.]0[.]113[.]5",
            "198.51.100.7",
            "juste du texte",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b78",
        ]
    )
    result = ioc.indicators_bulk_add(actor=world.oncall, case=case, text=text, tlp="green")
    added = {(line.kind, line.value) for line in result.added}
    assert added == {
        (K.IPV4, "203.0.113.5"),
        (K.URL, "http://evil.example/payload"),
        (K.SHA1, "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
    }
    refused = {line.number: line for line in result.refused}
    assert set(refused) == {3, 7, 8, 9, 10}
    assert "de 0 à 255" in refused[3].reason
    assert "Déjà collé ligne 2" in refused[7].reason
    assert "figure déjà dans le dossier" in refused[8].reason
    assert refused[9].code == "unknown_kind"
    assert "58" in refused[10].reason
    assert Indicator.objects.filter(case=case).count() == 4
    assert set(Indicator.objects.filter(case=case).values_list("tlp", flat=True)) == {
        "amber",
        "green",
    }
    assert result.refused_text.splitlines()[0] == "999.1.1.1"
    summary = CaseEvent.objects.filter(case=case, kind=EventKind.INDICATOR).latest("pk")
    assert summary.text.startswith("3 indicateurs ajoutés (TLP:GREEN)")


def test_bulk_with_a_chosen_kind_and_empty_paste(world, case):
    result = ioc.indicators_bulk_add(
        actor=world.rssi, case=case, text="evil.fr\n1.2.3.4", kind=K.DOMAIN, tlp="amber"
    )
    assert [line.value for line in result.added] == ["evil.fr"]
    assert "« 1.2.3.4 » se termine par un nombre" in result.refused[0].reason
    with pytest.raises(DomainError) as caught:
        ioc.indicators_bulk_add(actor=world.rssi, case=case, text="\n# rien\n", tlp="amber")
    assert caught.value.field == "text"


def test_remove(world, case):
    indicator = ioc.indicator_add(
        actor=world.rssi, case=case, kind=K.MD5, value="d41d8cd98f00b204e9800998ecf8427e", tlp="red"
    )
    with pytest.raises(DomainError):
        ioc.indicator_remove(actor=world.ars_manager, case=case, indicator=indicator)
    ioc.indicator_remove(actor=world.oncall, case=case, indicator=indicator)
    assert not Indicator.objects.exists()
    # The timeline is marked like the case (AMBER): a RED value stays out of it.
    lines = list(CaseEvent.objects.filter(case=case).values_list("text", flat=True))
    assert lines == [
        "Indicateur ajouté : MD5 (valeur TLP:RED, plus restreinte que le dossier) (TLP:RED).",
        "Indicateur retiré : MD5 (valeur TLP:RED, plus restreinte que le dossier).",
    ]
    green = ioc.indicator_add(
        actor=world.rssi,
        case=case,
        kind=K.MD5,
        value="d41d8cd98f00b204e9800998ecf8427e",
        tlp="green",
    )
    ioc.indicator_remove(actor=world.rssi, case=case, indicator=green)
    last = CaseEvent.objects.filter(case=case).latest("pk")
    assert last.text == "Indicateur retiré : MD5 d41d8cd98f00b204e9800998ecf8427e."


# --- The page -------------------------------------------------------------------------------------


def page_url(case):
    return reverse("incidents:case_indicators", args=[case.pk])


def text_of(response) -> str:
    return response.content.decode().replace("&#x27;", "'").replace("&quot;", '"')


def test_page_lists_and_adds(client, world, case):
    ioc.indicator_add(actor=world.rssi, case=case, kind=K.IPV4, value="203.0.113.5", tlp="red")
    client.force_login(world.oncall)
    page = client.get(page_url(case))
    assert page.status_code == 200
    text = text_of(page)
    assert "203.0.113.5" in text
    assert "TLP:RED" in text
    assert "Ajouter un indicateur" in text
    assert "Ajouter une liste d'indicateurs" in text
    assert reverse("incidents:case_stix", args=[case.pk]) in text

    response = client.post(
        page_url(case),
        {
            "action": "add",
            "kind": "sha256",
            "value": "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "tlp": "amber",
        },
    )
    assert response.status_code == 400
    text = text_of(response)
    assert "c'est une empreinte SHA-1 ?" in text
    assert "da39a3ee5e6b4b0d3255bfef95601890afd80709" in text  # what was typed is kept

    response = client.post(
        page_url(case),
        {
            "action": "add",
            "kind": "url",
            "value": "hxxp://evil[.]fr/x",
            "tlp": "green",
            "description": "Lien du courriel",
            "first_seen": "2025-01-10T08:30",
        },
    )
    assert response.status_code == 302
    indicator = Indicator.objects.get(case=case, kind=K.URL)
    assert indicator.value == "http://evil.fr/x"
    assert timezone.localtime(indicator.first_seen).strftime("%d/%m/%Y %H:%M") == "10/01/2025 08:30"


def test_page_bulk_report(client, world, case):
    client.force_login(world.rssi)
    response = client.post(
        page_url(case),
        {"action": "bulk", "text": "203.0.113.9\n999.1.1.1\nevil.fr", "kind": "", "tlp": "amber"},
    )
    assert response.status_code == 200
    text = text_of(response)
    assert "2 indicateurs ajoutés" in text
    assert "1 ligne refusée" in text
    assert "chaque nombre va de 0 à 255" in text
    # The refused line is left in the box, to correct.
    assert ">999.1.1.1</textarea>" in text
    assert Indicator.objects.filter(case=case).count() == 2


def test_page_removes(client, world, case):
    indicator = ioc.indicator_add(
        actor=world.rssi, case=case, kind=K.IPV4, value="203.0.113.5", tlp="amber"
    )
    client.force_login(world.rssi)
    response = client.post(page_url(case), {"action": "remove", "indicator": indicator.pk})
    assert response.status_code == 302
    assert not Indicator.objects.exists()
    response = client.post(page_url(case), {"action": "remove", "indicator": 999999})
    assert response.status_code == 404


def test_page_access(client, world, case):
    client.force_login(world.ars_manager)  # invited read-only
    page = client.get(page_url(case))
    assert page.status_code == 200
    assert "Ajouter un indicateur" not in text_of(page)
    assert "lecture seule" in text_of(page)
    response = client.post(
        page_url(case), {"action": "add", "kind": "ipv4", "value": "1.2.3.4", "tlp": "amber"}
    )
    assert response.status_code == 403
    assert not Indicator.objects.exists()

    client.force_login(world.outsider_rssi)
    response = client.get(page_url(case))
    assert response.status_code == 403
    assert "Vous n'avez pas accès à ce dossier" in text_of(response)
    assert client.get(reverse("incidents:case_indicators", args=[987654])).status_code == 404


# --- API ------------------------------------------------------------------------------------------


def api_url(case, pk=None):
    if pk is None:
        return reverse("api-v1:case-indicator-list", args=[case.pk])
    return reverse("api-v1:case-indicator-detail", args=[case.pk, pk])


def test_api_add_one_list_and_remove(client, world, case):
    auth = token_for(world.rssi)
    response = client.post(
        api_url(case),
        {"value": "hxxps://evil[.]fr/login", "tlp": "green", "description": "Lien"},
        content_type="application/json",
        headers=auth,
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "url"
    assert body["value"] == "https://evil.fr/login"
    assert body["tlp"] == "green"
    assert body["stix_id"].startswith("indicator--")

    response = client.post(
        api_url(case),
        {"kind": "sha256", "value": "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
        content_type="application/json",
        headers=auth,
    )
    error = assert_error(response, 400, "wrong_length")
    assert "c'est une empreinte SHA-1 ?" in error["error"]["details"]["value"][0]

    response = client.post(
        api_url(case),
        {"values": ["203.0.113.5", "999.1.1.1", "https://evil.fr/login"]},
        content_type="application/json",
        headers=auth,
    )
    assert response.status_code == 201
    report = response.json()
    assert report["added_count"] == 1
    assert report["added"][0]["tlp"] == case.tlp  # the case's TLP by default
    assert [(r["line"], r["code"]) for r in report["refused"]] == [
        (2, "invalid_value"),
        (3, "duplicate"),
    ]

    listing = client.get(api_url(case), headers=auth)
    assert listing.status_code == 200
    assert listing.json()["count"] == 2

    indicator = Indicator.objects.get(case=case, kind=K.IPV4)
    assert client.get(api_url(case, indicator.pk), headers=auth).json()["value"] == "203.0.113.5"
    assert client.delete(api_url(case, indicator.pk), headers=auth).status_code == 204
    assert not Indicator.objects.filter(pk=indicator.pk).exists()
    assert_error(client.delete(api_url(case, indicator.pk), headers=auth), 404, "not_found")


def test_api_refusals(client, world, case):
    payload = {"kind": "ipv4", "value": "192.0.2.1"}
    read_only = token_for(world.rssi, ApiTokenScope.READ)
    assert_error(
        client.post(api_url(case), payload, content_type="application/json", headers=read_only),
        403,
    )
    ars = token_for(world.ars_manager)
    assert client.get(api_url(case), headers=ars).status_code == 200
    error = assert_error(
        client.post(api_url(case), payload, content_type="application/json", headers=ars),
        403,
        "forbidden",
    )
    assert "lecture seule" in error["error"]["message"]
    outsider = token_for(world.outsider_crrc)
    assert_error(client.get(api_url(case), headers=outsider), 403, "forbidden")
    assert_error(
        client.post(
            api_url(case),
            {"value": "x", "values": ["y"]},
            content_type="application/json",
            headers=token_for(world.rssi),
        ),
        400,
        "invalid",
    )
    assert_error(
        client.post(
            api_url(case),
            {"value": "juste du texte"},
            content_type="application/json",
            headers=token_for(world.rssi),
        ),
        400,
        "unknown_kind",
    )
    assert not Indicator.objects.exists()
