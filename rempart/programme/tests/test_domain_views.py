"""Pages of the CaRE domains, with the people every view test needs: the owner of the data (an
ARS programme manager), a colleague with a lesser role (an establishment's RSSI, who may read
it, and a learner, who may not) and an outsider (an RSSI of another region)."""

import html

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from rempart.core.models import AuditEntry
from rempart.core.roles import OrgKind, Role
from rempart.organisations.tests.factories import OrganisationFactory, RegionFactory, member
from rempart.programme.models import Domain, Requirement
from rempart.programme.reference_data import load_domains

pytestmark = pytest.mark.django_db


@pytest.fixture
def region():
    return RegionFactory(code="84", name="Auvergne-Rhône-Alpes")


@pytest.fixture
def hospital(region):
    return OrganisationFactory(name="CH Nord-Ouest", region=region)


@pytest.fixture
def ars_manager(region):
    ars = OrganisationFactory(
        kind=OrgKind.ARS, name="ARS Auvergne-Rhône-Alpes", region=region, finess=None, sector=""
    )
    return member(Role.ARS_MANAGER, ars, last_name="Gestionnaire")


@pytest.fixture
def rssi(hospital):
    return member(Role.RSSI, hospital)


@pytest.fixture
def learner(hospital):
    return member(Role.STAFF, hospital)


@pytest.fixture
def outsider():
    other = RegionFactory(code="93", name="Provence-Alpes-Côte d'Azur")
    return member(Role.RSSI, OrganisationFactory(name="Clinique du Parc", region=other))


@pytest.fixture
def loaded():
    load_domains()


def _text(response) -> str:
    return html.unescape(response.content.decode())


def _urls():
    return [
        reverse("programme:domains"),
        reverse("programme:domain_detail", args=["D2"]),
        reverse("programme:requirement_edit", args=["D2.01.D"]),
    ]


EDIT_DATA = {
    "label": "Tester le PCA, y compris sur le SI mutualisé",
    "domain_target": "Vérifier les modes dégradés.",
    "proofs": "RETEX du test\nPérimètre testé",
    "attainment": "mesure",
    "measurement": "exercice_crise",
    "confirmed": "on",
}


def test_anonymous_is_sent_to_the_login_page(client, loaded):
    for url in _urls():
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("account_login"))


def test_ars_manager_sees_the_list(client, loaded, ars_manager):
    client.force_login(ars_manager)
    page = client.get(reverse("programme:domains"))
    assert page.status_code == 200
    text = _text(page)
    for code, title in [
        ("D1", "Annuaires techniques et exposition sur internet"),
        ("D2", "Stratégie de continuité"),
        ("D3", "Sécurisation des accès distants"),
    ]:
        assert reverse("programme:domain_detail", args=[code]) in text
        assert title in text
    assert text.count('fr-badge--warning fr-badge--sm">liste officielle incomplète</p>') == 3
    assert "2026-11-23.1" in text
    assert "Sécurité opérationnelle" in text
    # D2: 5 prerequisites and 6 targets.
    row = text[text.index(reverse("programme:domain_detail", args=["D2"])) :]
    row = row[: row.index("</tr>")]
    assert "<td>5</td>" in row
    assert "<td>6</td>" in row


def test_list_query_count_does_not_grow_with_domains(
    client, loaded, ars_manager, django_assert_max_num_queries
):
    client.force_login(ars_manager)
    client.get(reverse("programme:domains"))  # warm the session and content types
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as three:
        client.get(reverse("programme:domains"))
    Domain.objects.create(code="D4", title="Postes de travail", axis="securite_operationnelle")
    with django_assert_max_num_queries(len(three.captured_queries)):
        page = client.get(reverse("programme:domains"))
    assert "Postes de travail" in _text(page)


def test_ars_manager_sees_the_detail_and_its_history(client, loaded, ars_manager):
    client.force_login(ars_manager)
    page = client.get(reverse("programme:domain_detail", args=["D2"]))
    assert page.status_code == 200
    text = _text(page)
    assert "Arrêté du 3 juillet 2025" in text
    assert "Renforcer la résilience des établissements" in text  # summary
    assert "Sources et limites" in text
    assert "liste officielle incomplète" in text
    # Prerequisites first, then targets, each with identifier, label, proofs and mode.
    prerequisites, targets = text.index("Prérequis (5)"), text.index("Cibles (6)")
    assert prerequisites < text.index("<strong>D2.PROV.P1</strong>") < targets
    assert targets < text.index("<strong>D2.01.D</strong>")
    assert "Organisation projet" in text
    assert "Procès-verbal du test de restauration" in text
    assert "Mesure de la plateforme" in text
    assert "Test de restauration" in text
    assert "à confirmer" in text
    assert reverse("programme:requirement_edit", args=["D2.01.D"]) in text
    # The history lists the loads, by the system.
    assert "Historique" in text
    assert "Création" in text
    assert "système" in text


def test_only_unconfirmed_items_carry_the_badge(client, loaded, ars_manager):
    client.force_login(ars_manager)
    text = _text(client.get(reverse("programme:domain_detail", args=["D1"])))
    confirmed_row = text[text.index("<strong>D1.O6.B</strong>") :]
    confirmed_row = confirmed_row[: confirmed_row.index("</td>")]
    assert "à confirmer" not in confirmed_row
    provisional_row = text[text.index("<strong>D1.PROV.01</strong>") :]
    provisional_row = provisional_row[: provisional_row.index("</td>")]
    assert "à confirmer" in provisional_row


def test_ars_manager_edits_a_target_audited_with_before_and_after(client, loaded, ars_manager):
    client.force_login(ars_manager)
    requirement = Requirement.objects.get(identifier="D2.01.D")
    old_label = requirement.label
    url = reverse("programme:requirement_edit", args=["D2.01.D"])

    form = client.get(url)
    assert form.status_code == 200
    assert old_label in _text(form)
    assert "Une preuve par ligne" in _text(form)

    response = client.post(url, EDIT_DATA)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("programme:domain_detail", args=["D2"]))
    requirement.refresh_from_db()
    assert requirement.label == EDIT_DATA["label"]
    assert requirement.proofs == ["RETEX du test", "Périmètre testé"]

    entry = AuditEntry.objects.get(
        content_type=ContentType.objects.get_for_model(Requirement),
        object_id=requirement.pk,
        action=AuditEntry.Action.UPDATE,
    )
    assert entry.actor == ars_manager
    assert entry.changes_dict["label"] == [old_label, EDIT_DATA["label"]]
    assert set(entry.changes_dict) == {"label", "domain_target", "proofs"}

    detail = _text(client.get(response["Location"]))
    assert "a été mis à jour" in detail
    history = detail[detail.index('id="historique"') :]
    assert "Gestionnaire" in history  # the actor
    assert f"label : {old_label} → {EDIT_DATA['label']}" in history
    assert "→ RETEX du test ; Périmètre testé" in history  # proofs readable, not JSON escapes
    assert "\\u00e9" not in history
    # Newest first: the edit comes before the creation records of the load.
    assert history.index("Modification") < history.index("Création")


def test_saving_an_unchanged_form_writes_nothing(client, loaded, ars_manager):
    client.force_login(ars_manager)
    requirement = Requirement.objects.get(identifier="D1.O6.B")
    entries = AuditEntry.objects.count()
    response = client.post(
        reverse("programme:requirement_edit", args=["D1.O6.B"]),
        {
            "label": requirement.label,
            "domain_target": requirement.domain_target,
            "proofs": "\n".join(requirement.proofs),
            "attainment": requirement.attainment,
            "measurement": "",
            "confirmed": "on",
        },
    )
    assert response.status_code == 302
    assert AuditEntry.objects.count() == entries


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"measurement": ""}, "elle est obligatoire pour ce mode de preuve"),
        ({"attainment": "document"}, "Une mesure ne s'indique que pour le mode"),
        ({"label": ""}, "Ce champ est obligatoire"),
        ({"proofs": "RETEX\nRETEX"}, "figure deux fois"),
        ({"attainment": "honneur"}, "Sélectionnez un choix valide"),
    ],
)
def test_bad_input_is_refused_with_a_french_message(client, loaded, ars_manager, changes, message):
    client.force_login(ars_manager)
    before = Requirement.objects.values().get(identifier="D2.01.D")
    response = client.post(
        reverse("programme:requirement_edit", args=["D2.01.D"]), {**EDIT_DATA, **changes}
    )
    assert response.status_code == 200
    assert message in _text(response)
    assert "fr-input-group--error" in _text(response) or "fr-select-group--error" in _text(response)
    assert Requirement.objects.values().get(identifier="D2.01.D") == before


def test_rssi_reads_but_cannot_edit(client, loaded, rssi):
    client.force_login(rssi)
    assert client.get(reverse("programme:domains")).status_code == 200
    detail = client.get(reverse("programme:domain_detail", args=["D2"]))
    assert detail.status_code == 200
    assert "D2.01.D" in _text(detail)
    assert reverse("programme:requirement_edit", args=["D2.01.D"]) not in _text(detail)
    assert 'id="historique"' not in _text(detail)  # the history names the agencies' staff
    url = reverse("programme:requirement_edit", args=["D2.01.D"])
    assert client.get(url).status_code == 404
    before = Requirement.objects.values().get(identifier="D2.01.D")
    assert client.post(url, EDIT_DATA).status_code == 404
    assert Requirement.objects.values().get(identifier="D2.01.D") == before


def test_outsider_from_another_region_reads_the_same_national_data(client, loaded, outsider):
    client.force_login(outsider)
    assert client.get(reverse("programme:domain_detail", args=["D1"])).status_code == 200
    assert client.get(reverse("programme:requirement_edit", args=["D1.O6.B"])).status_code == 404


def test_learner_gets_404_everywhere(client, loaded, learner):
    client.force_login(learner)
    for url in _urls():
        assert client.get(url).status_code == 404, url
    assert client.post(_urls()[2], EDIT_DATA).status_code == 404


def test_unknown_domain_or_requirement_is_a_404(client, loaded, ars_manager):
    client.force_login(ars_manager)
    assert client.get(reverse("programme:domain_detail", args=["D9"])).status_code == 404
    assert client.get(reverse("programme:requirement_edit", args=["D9.X"])).status_code == 404


def test_pages_do_not_accept_post(client, loaded, ars_manager):
    client.force_login(ars_manager)
    assert client.post(reverse("programme:domains")).status_code == 405
    assert client.post(reverse("programme:domain_detail", args=["D1"])).status_code == 405


def test_empty_list_says_how_to_load_the_data(client, ars_manager):
    client.force_login(ars_manager)
    page = client.get(reverse("programme:domains"))
    assert page.status_code == 200
    assert "load_programme_data" in _text(page)
