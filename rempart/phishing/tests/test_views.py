"""The phishing pages: owner, colleague with a lesser role (staff), outsider of another region,
CRRC with and without a valid mandate. Writes are POST only; a foreign object is a 403 with a
French reason; the SMTP password is never shown back; the CSV import waits for confirmation."""

import datetime
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from rempart.phishing.models import (
    Campaign,
    CampaignStatus,
    EmailTemplate,
    Mandate,
    Recipient,
    RecipientImport,
    SendingProfile,
)

from .factories import HTML, group_with, landing, mandate, phishing_world, profile, template

pytestmark = pytest.mark.django_db

PAGES = [
    "phishing:campaign_list",
    "phishing:campaign_new",
    "phishing:group_list",
    "phishing:template_list",
    "phishing:template_new",
    "phishing:landing_list",
    "phishing:landing_new",
    "phishing:profile_list",
    "phishing:profile_new",
    "phishing:mandate_list",
]


class _Undefined(str):
    def __mod__(self, other):
        # (The shared field component probes `widget.input_type`, which a textarea lacks.)
        if str(other).endswith("widget.input_type"):
            return ""
        raise AssertionError(f"Variable de gabarit indéfinie : {other}")


@pytest.fixture(autouse=True)
def strict_templates(settings):
    settings.TEMPLATES = [
        {
            **settings.TEMPLATES[0],
            "OPTIONS": {**settings.TEMPLATES[0]["OPTIONS"], "string_if_invalid": _Undefined("%s")},
        }
    ]


@pytest.fixture
def world():
    return phishing_world()


def as_(client, user):
    client.force_login(user)
    return client


@pytest.mark.parametrize("name", PAGES)
def test_pages_open_for_the_rssi_and_are_refused_to_staff_and_ars(client, world, name):
    assert as_(client, world.rssi).get(reverse(name)).status_code == 200
    for user in (world.staff, world.ars_manager):
        response = as_(client, user).get(reverse(name))
        assert response.status_code == 403
        assert "réservé" in response.content.decode()


def test_nav_group_only_for_capability_holders(client, world):
    page = as_(client, world.rssi).get(reverse("core:home")).content.decode()
    assert "Hameçonnage simulé" in page
    assert "Hameçonnage simulé" in as_(client, world.trainer).get("/").content.decode()
    assert "Hameçonnage simulé" not in as_(client, world.staff).get("/").content.decode()
    # The ARS sees only the regional figures, never a campaign or a set-up page.
    ars_page = as_(client, world.ars_manager).get("/").content.decode()
    assert reverse("phishing:regional_results") in ars_page
    assert f'href="{reverse("phishing:campaign_list")}"' not in ars_page


def test_profile_password_never_shown_and_kept_when_blank(client, world):
    as_(client, world.rssi)
    response = client.post(
        reverse("phishing:profile_new"),
        {
            "organisation": world.hospital.pk,
            "name": "Relais",
            "host": "smtp.exemple.fr",
            "port": "587",
            "tls_mode": "starttls",
            "username": "u",
            "password": "Mot-De-Passe-Smtp",
            "from_address": "envoi@exemple.fr",
            "rate_per_second": "0,5",
            "active": "on",
        },
    )
    assert response.status_code == 302, re.findall(
        r"fr-message--error\">([^<]*)", response.content.decode()
    )
    created = SendingProfile.objects.get(name="Relais")
    assert str(created.rate_per_second) == "0.50"
    edit = reverse("phishing:profile_edit", args=[created.pk])
    page = client.get(edit).content.decode()
    assert "Mot-De-Passe-Smtp" not in page
    assert "Laisser vide pour garder" in page
    assert "Mot-De-Passe-Smtp" not in client.get(reverse("phishing:profile_list")).content.decode()
    response = client.post(
        edit,
        {
            "name": "Relais",
            "host": "smtp.exemple.fr",
            "port": "465",
            "tls_mode": "tls",
            "username": "u",
            "password": "",
            "from_address": "envoi@exemple.fr",
            "rate_per_second": "2",
        },
    )
    assert response.status_code == 302
    created.refresh_from_db()
    assert (created.password, created.port, created.active) == ("Mot-De-Passe-Smtp", 465, False)
    bad = client.post(edit, {"name": "Relais", "host": "x", "port": "0", "tls_mode": "x"})
    assert bad.status_code == 400


def test_outsider_gets_a_clear_403_and_missing_is_404(client, world):
    own = profile(world.rssi, world.hospital)
    shared = template(world.rssi, world.hospital)
    page = landing(world.rssi, world.hospital)
    group = group_with(world.rssi, world.hospital, ["a@exemple.fr"])
    as_(client, world.outsider_rssi)
    for url in (
        reverse("phishing:profile_edit", args=[own.pk]),
        reverse("phishing:template_detail", args=[shared.pk]),
        reverse("phishing:landing_edit", args=[page.pk]),
        reverse("phishing:group_detail", args=[group.pk]),
        reverse("phishing:group_import", args=[group.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "autre structure" in response.content.decode()
    assert client.get(reverse("phishing:profile_edit", args=[999999])).status_code == 404
    # The CRRC does not browse an establishment's people, even under a mandate.
    mandate(world)
    assert (
        as_(client, world.crrc_operator)
        .get(reverse("phishing:group_detail", args=[group.pk]))
        .status_code
        == 403
    )


def test_csv_import_over_the_web_in_two_steps(client, world):
    group = group_with(world.rssi, world.hospital, ["deja@exemple.fr"], name="Soignants")
    as_(client, world.rssi)
    content = (
        "\ufeffemail;prenom;nom;service;fonction\n"
        "deja@exemple.fr;Déjà;Là;Bloc;IBODE\n"
        "nouvelle@exemple.fr;Zoé;Petit;Urgences;IDE\n"
        ";Sans;Mail;X;Y\n"
        "nouvelle@exemple.fr;Zoé;Petit;Urgences;IDE\n"
    ).encode("utf-8")
    upload = SimpleUploadedFile("liste.csv", content, content_type="text/csv")
    response = client.post(reverse("phishing:group_import", args=[group.pk]), {"file": upload})
    assert response.status_code == 302
    report = client.get(response["Location"])
    text = report.content.decode()
    assert "e-mail manquant" in text
    assert "en double dans le fichier (déjà ligne 3)" in text
    assert "Importer les 2 lignes valides" in text
    assert Recipient.objects.filter(group=group).count() == 1  # nothing yet
    # Another person of the establishment cannot confirm someone else's upload.
    assert as_(client, world.director).post(response["Location"]).status_code == 403
    confirm = as_(client, world.rssi).post(response["Location"], {"action": "confirm"})
    assert confirm.status_code == 302
    assert sorted(Recipient.objects.filter(group=group).values_list("email", flat=True)) == [
        "deja@exemple.fr",
        "nouvelle@exemple.fr",
    ]
    assert Recipient.objects.get(group=group, email="deja@exemple.fr").department == "Bloc"
    detail = client.get(reverse("phishing:group_detail", args=[group.pk]) + "?q=zoé")
    assert "nouvelle@exemple.fr" in detail.content.decode()
    assert "deja@exemple.fr" not in detail.content.decode()


def test_csv_import_refuses_without_a_file_and_empty_file(client, world):
    group = group_with(world.rssi, world.hospital, [], name="Vide")
    as_(client, world.rssi)
    url = reverse("phishing:group_import", args=[group.pk])
    assert "Choisissez un fichier" in client.post(url, {}).content.decode()
    response = client.post(url, {"file": SimpleUploadedFile("v.csv", b"\n\n")})
    assert response.status_code == 400
    assert "vide" in response.content.decode()
    assert not RecipientImport.objects.exists()


def test_template_form_errors_preview_and_library_copy(client, world):
    as_(client, world.rssi)
    response = client.post(
        reverse("phishing:template_new"),
        {
            "organisation": world.hospital.pk,
            "name": "Sans lien",
            "subject": "Bonjour",
            "sender_name": "Paie",
            "sender_address": "paie@exemple.fr",
            "html_body": "<p>Bonjour {{prenom}} {{inconnue}}</p>",
        },
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Variable inconnue" in page
    assert not EmailTemplate.objects.filter(name="Sans lien").exists()
    shared = template(world.crrc_operator, world.crrc, name="Bulletin de paie", library=True)
    listing = client.get(reverse("phishing:template_list")).content.decode()
    assert "Bulletin de paie" in listing
    preview = client.get(reverse("phishing:template_detail", args=[shared.pk])).content.decode()
    assert "Camille" in preview  # sample values
    assert "{{prenom}}" not in preview
    assert client.get(reverse("phishing:template_edit", args=[shared.pk])).status_code == 403
    assert client.get(reverse("phishing:template_copy", args=[shared.pk])).status_code == 405
    copied = client.post(
        reverse("phishing:template_copy", args=[shared.pk]), {"organisation": world.hospital.pk}
    )
    assert copied.status_code == 302
    assert EmailTemplate.objects.filter(organisation=world.hospital, copied_from=shared).exists()
    assert (
        as_(client, world.outsider_rssi)
        .get(reverse("phishing:template_detail", args=[shared.pk]))
        .status_code
        == 403
    )


def test_mandate_grant_and_revoke_over_the_web(client, world):
    as_(client, world.director)
    today = timezone.localdate()
    response = client.post(
        reverse("phishing:mandate_list"),
        {
            "organisation": world.hospital.pk,
            "crrc": world.crrc.pk,
            "starts_on": today.isoformat(),
            "ends_on": (today + datetime.timedelta(days=30)).isoformat(),
            "visibility": "pseudonymous",
        },
    )
    assert response.status_code == 302
    given = Mandate.objects.get()
    assert given.signed_by == world.director
    crrc_page = as_(client, world.crrc_operator).get(reverse("phishing:mandate_list"))
    assert "CH Test" in crrc_page.content.decode()
    assert "Révoquer" not in crrc_page.content.decode()
    assert client.post(reverse("phishing:mandate_revoke", args=[given.pk])).status_code == 403
    assert (
        as_(client, world.outsider_crrc)
        .post(reverse("phishing:mandate_revoke", args=[given.pk]))
        .status_code
        == 403
    )
    assert (
        as_(client, world.rssi)
        .post(reverse("phishing:mandate_revoke", args=[given.pk]))
        .status_code
        == 302
    )
    given.refresh_from_db()
    assert given.revoked_at is not None


_serial = iter(range(1, 10_000))


def _campaign_post(world, operator, target):
    now = timezone.localtime()
    n = next(_serial)
    actor = world.crrc_operator if operator == world.crrc else world.rssi
    return {
        "name": "Campagne web",
        "templates": [template(actor, operator, name=f"Modèle {n}").pk],
        "groups": [
            group_with(world.rssi, target, ["a@exemple.fr", "b@exemple.fr"], name=f"G {n}").pk
        ],
        "landing_page": landing(actor, operator, name=f"Page {n}").pk,
        "sending_profile": profile(actor, operator, name=f"Profil {n}").pk,
        "starts_at": (now + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "spread_until": (now + datetime.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
        "window_start": "09:00",
        "window_end": "17:00",
        "weekdays_only": "on",
        "privacy_mode": "anonymous",
        "retention_days": "30",
        "staff_information": "Note de service du 1er septembre.",
        "legal_basis": "Intérêt légitime",
    }


def test_autonomous_campaign_create_edit_schedule(client, world):
    as_(client, world.rssi)
    response = client.post(
        reverse("phishing:campaign_new"),
        {"name": "Automne", "target": f"org-{world.hospital.pk}"},
    )
    assert response.status_code == 302
    campaign = Campaign.objects.get()
    edit = reverse("phishing:campaign_edit", args=[campaign.pk])
    assert client.get(edit).status_code == 200
    bad = client.post(
        edit, {**_campaign_post(world, world.hospital, world.hospital), "window_end": "08:00"}
    )
    assert bad.status_code == 400
    assert "L'heure de fin doit suivre" in bad.content.decode().replace("&#x27;", "'")
    data = _campaign_post(world, world.hospital, world.hospital)
    data["groups"] = [group_with(world.rssi, world.hospital, ["c@exemple.fr"], name="G2").pk]
    assert client.post(edit, data).status_code == 302
    detail = client.get(reverse("phishing:campaign_detail", args=[campaign.pk])).content.decode()
    assert "Programmer la campagne" in detail
    # Staff and outsiders: no access.
    assert as_(client, world.staff).get(edit).status_code == 403
    assert (
        as_(client, world.outsider_rssi)
        .get(reverse("phishing:campaign_detail", args=[campaign.pk]))
        .status_code
        == 403
    )
    assert (
        as_(client, world.rssi)
        .post(reverse("phishing:campaign_schedule", args=[campaign.pk]))
        .status_code
        == 302
    )
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED
    assert campaign.recipients.count() == 1
    assert client.get(edit).status_code == 403  # no longer a draft


def test_delegated_campaign_needs_a_valid_mandate_over_the_web(client, world):
    as_(client, world.crrc_operator)
    assert client.get(reverse("phishing:campaign_new")).status_code == 403
    given = mandate(world)
    page = client.get(reverse("phishing:campaign_new")).content.decode()
    assert "CH Test (déléguée" in page
    response = client.post(
        reverse("phishing:campaign_new"), {"name": "Déléguée", "target": f"mandat-{given.pk}"}
    )
    assert response.status_code == 302
    campaign = Campaign.objects.get()
    edit = reverse("phishing:campaign_edit", args=[campaign.pk])
    assert client.post(edit, _campaign_post(world, world.crrc, world.hospital)).status_code == 302
    # The establishment sees it, may not edit it, may cancel it.
    as_(client, world.rssi)
    assert client.get(reverse("phishing:campaign_detail", args=[campaign.pk])).status_code == 200
    assert client.get(edit).status_code == 403
    # A CRRC of another region: nothing.
    assert (
        as_(client, world.outsider_crrc)
        .get(reverse("phishing:campaign_detail", args=[campaign.pk]))
        .status_code
        == 403
    )
    # Forged target: another CRRC's mandate id is refused as an invalid choice.
    forged = client.post(
        reverse("phishing:campaign_new"), {"name": "X", "target": f"mandat-{given.pk}"}
    )
    assert forged.status_code == 403  # the outsider CRRC has no mandate at all
    assert (
        as_(client, world.rssi)
        .post(reverse("phishing:campaign_cancel", args=[campaign.pk]))
        .status_code
        == 302
    )
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CANCELLED


def test_landing_page_form(client, world):
    as_(client, world.rssi)
    response = client.post(
        reverse("phishing:landing_new"),
        {
            "organisation": world.hospital.pk,
            "name": "Portail RH",
            "form_html": "<form></form>",
            "fields_text": "identifiant, Mot de passe",
            "teaching_title": "Exercice",
            "teaching_text": "C'était un exercice.",
        },
    )
    assert response.status_code == 400
    assert "Nom de champ invalide" in response.content.decode()


def test_html_of_templates_is_not_injected_in_the_page(client, world):
    sneaky = template(
        world.rssi, world.hospital, name="Script", html_body=HTML + "<script>alert(1)</script>"
    )
    page = as_(client, world.rssi).get(reverse("phishing:template_detail", args=[sneaky.pk]))
    assert "<script>alert(1)</script>" not in page.content.decode()
