"""Library pages for the owner, a lesser colleague and outsiders: who reads which library,
the CRRC's upload (errors with lines, nothing loaded) and retire, an establishment's own
scenarios (create, injects, new version once used, duplicate), and the list's query budget."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from rempart.exercises import library
from rempart.exercises.models import Scenario, ScenarioStatus

from .factories import ScenarioFactory, exercises_world, run_from
from .test_library import GOOD

pytestmark = pytest.mark.django_db


class _Undefined(str):
    def __mod__(self, other):
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
    return exercises_world()


@pytest.fixture
def scenarios(world):
    """National, this region's, the other region's, the establishment's own."""
    return {
        "national": ScenarioFactory(title="National rançongiciel"),
        "region": ScenarioFactory(region=world.region, title="Régional panne DPI"),
        "other_region": ScenarioFactory(region=world.other_region, title="Ailleurs fuite"),
        "own": ScenarioFactory(organisation=world.establishment, title="Propre PACS"),
        "sibling_own": ScenarioFactory(organisation=world.sibling, title="Tilleuls EHPAD"),
    }


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def url(name, *args):
    return reverse(f"exercises:{name}", args=args)


def listed(client, query="") -> str:
    response = client.get(url("library_list") + query)
    assert response.status_code == 200
    return response.content.decode()


# --- Who reads what ---------------------------------------------------------------------------


def test_director_reads_national_region_and_own(world, scenarios):
    client = client_for(world.director)
    page = listed(client)
    for key in ("national", "region", "own"):
        assert scenarios[key].title in page
    assert "Ailleurs fuite" not in page
    assert "Tilleuls EHPAD" not in page
    for key in ("national", "region", "own"):
        assert client.get(url("library_detail", scenarios[key].pk)).status_code == 200
    assert client.get(url("library_detail", scenarios["other_region"].pk)).status_code == 404
    assert client.get(url("library_detail", scenarios["sibling_own"].pk)).status_code == 404
    assert client.get(url("library_export", scenarios["sibling_own"].pk)).status_code == 404
    # Filters.
    page = listed(client, "?library=own")
    assert "Propre PACS" in page
    assert "National rançongiciel" not in page
    assert "National rançongiciel" not in listed(client, "?level=expert")


def test_sibling_and_other_region_never_see_own_or_foreign(world, scenarios):
    sibling = client_for(world.sibling_director)
    page = listed(sibling)
    assert "Tilleuls EHPAD" in page
    assert "Propre PACS" not in page
    assert sibling.get(url("library_detail", scenarios["own"].pk)).status_code == 404
    outsider = client_for(world.outsider_director)
    page = listed(outsider)
    assert "National rançongiciel" in page
    assert "Régional panne DPI" not in page
    assert "Ailleurs fuite" in page
    assert outsider.get(url("library_detail", scenarios["region"].pk)).status_code == 404


def test_staff_is_refused(world, scenarios):
    client = client_for(world.staff)
    assert client.get(url("library_list")).status_code == 403
    assert client.get(url("library_detail", scenarios["national"].pk)).status_code == 403
    assert client.get(url("library_upload")).status_code == 403
    assert client.get(url("library_own_create")).status_code == 403


def test_list_query_budget_and_htmx_partial(world, django_assert_max_num_queries):
    for n in range(30):
        ScenarioFactory(region=world.region if n % 2 else None, title=f"Scénario {n:02}")
    client = client_for(world.director)
    client.get(url("library_list"))  # warm the session
    with django_assert_max_num_queries(12):
        response = client.get(url("library_list"))
    assert response.status_code == 200
    partial = client.get(
        url("library_list") + "?level=beginner",
        headers={"HX-Request": "true", "HX-Target": "library-results"},
    )
    body = partial.content.decode()
    assert partial.status_code == 200
    assert "<html" not in body
    assert "library-table" in body


def test_detail_shows_timeline_versions_and_criteria(world, scenarios):
    page = client_for(world.director).get(url("library_detail", scenarios["national"].pk))
    body = page.content.decode()
    assert "T+30 min" in body
    assert "Appel d&#x27;un journaliste" in body
    assert "Activation de la cellule de crise" in body
    assert "version-table" in body
    assert "Version en vigueur" in body


# --- CRRC: upload and retire ------------------------------------------------------------------


def upload(client, text, region, name="scenario.yaml"):
    return client.post(
        url("library_upload"),
        {"region": region.pk, "file": SimpleUploadedFile(name, text.encode("utf-8"))},
    )


def test_crrc_uploads_into_its_region(world):
    client = client_for(world.trainer)
    assert client.get(url("library_upload")).status_code == 200
    response = upload(client, GOOD, world.region)
    assert response.status_code == 302
    scenario = Scenario.objects.get(slug="essai-rancongiciel")
    assert scenario.region_id == world.region.pk
    assert scenario.created_by == world.trainer
    # The region's people read it; the other region's do not.
    assert "Essai : rançongiciel" in listed(client_for(world.director))
    assert "Essai : rançongiciel" not in listed(client_for(world.outsider_director))
    # A second upload of a changed text: v2.
    upload(client, GOOD.replace("version: 1", "version: 2").replace("60", "90"), world.region)
    assert set(
        Scenario.objects.filter(slug="essai-rancongiciel").values_list("version", "status")
    ) == {(2, "current"), (1, "superseded")}


def test_upload_errors_shown_with_lines_and_nothing_loaded(world):
    client = client_for(world.crrc_operator)
    bad = GOOD.replace("functions: [care, it]", "functions: [care, pharmacie]").replace(
        "level: beginner", "level: facile"
    )
    response = upload(client, bad, world.region)
    assert response.status_code == 400
    body = response.content.decode()
    assert "2 erreurs : rien n'a été publié" in body
    assert "<td>4</td>" in body
    assert "<td>22</td>" in body
    assert "pharmacie" in body
    assert "facile" in body
    assert not Scenario.objects.exists()
    # Not a YAML file, not UTF-8.
    response = upload(client, "x", world.region, name="scenario.docx")
    assert response.status_code == 400
    assert "extension .yaml" in response.content.decode()
    response = client.post(
        url("library_upload"),
        {"region": world.region.pk, "file": SimpleUploadedFile("s.yaml", b"\xff\xfe\x00bad")},
    )
    assert response.status_code == 400
    assert "UTF-8" in response.content.decode()


def test_upload_refused_outside_the_crrc(world):
    for user in (world.director, world.ars_manager, world.outsider_ars):
        assert client_for(user).get(url("library_upload")).status_code == 403
        assert upload(client_for(user), GOOD, world.region).status_code == 403
    # A librarian cannot pick another region.
    response = upload(client_for(world.trainer), GOOD, world.other_region)
    assert response.status_code == 400
    assert not Scenario.objects.exists()
    with pytest.raises(Exception, match="CRRC"):
        library.library_upload(actor=world.director, region=world.region, text=GOOD)


def test_retire(world, scenarios):
    regional = scenarios["region"]
    ScenarioFactory(
        region=world.region, slug=regional.slug, version=2, status=ScenarioStatus.SUPERSEDED
    )
    run = run_from(regional, world.establishment)
    assert client_for(world.director).post(url("library_retire", regional.pk)).status_code == 403
    assert client_for(world.outsider_ars).post(url("library_retire", regional.pk)).status_code in (
        403,
        404,
    )
    national = scenarios["national"]
    assert client_for(world.trainer).post(url("library_retire", national.pk)).status_code == 403
    response = client_for(world.trainer).post(url("library_retire", regional.pk))
    assert response.status_code == 302
    assert set(
        Scenario.objects.filter(library_key=regional.library_key, slug=regional.slug).values_list(
            "status", flat=True
        )
    ) == {"retired"}
    run.refresh_from_db()
    assert run.scenario_id == regional.pk
    assert "Régional panne DPI" not in listed(client_for(world.director))


# --- Own scenarios ----------------------------------------------------------------------------

OWN = {
    "organisation": None,
    "title": "Panne électrique et informatique au bloc",
    "level": "intermediate",
    "theme": "other",
    "is_cyber": "on",
    "summary": "Le bloc perd ses systèmes.",
    "objectives": "Basculer en mode dégradé\n\nAlerter la direction\n",
    "duration_minutes": "120",
    "functions": ["general_management", "medical", "it"],
}


def test_director_creates_own_scenario_and_adds_injects(world):
    client = client_for(world.director)
    assert client.get(url("library_own_create")).status_code == 200
    response = client.post(url("library_own_create"), {**OWN, "organisation": world.sibling.pk})
    assert response.status_code == 400  # not their establishment
    response = client.post(
        url("library_own_create"), {**OWN, "organisation": world.establishment.pk}
    )
    assert response.status_code == 302
    scenario = Scenario.objects.get(organisation=world.establishment)
    assert scenario.objectives == ["Basculer en mode dégradé", "Alerter la direction"]
    assert len(scenario.criteria) == 8
    assert scenario.slug.startswith("panne-electrique")
    inject = {
        "offset_minutes": "10",
        "title": "Coupure",
        "body": "Le bloc n'a plus de courant informatique.",
        "channel": "screen",
        "functions": ["medical", "it"],
        "expected_reactions": "Mode dégradé.",
    }
    assert client.post(url("library_inject_add", scenario.pk), inject).status_code == 302
    # A recipient outside the scenario's functions, an offset going back in time: refused.
    bad = client.post(
        url("library_inject_add", scenario.pk), {**inject, "functions": ["communication"]}
    )
    assert bad.status_code == 400
    back = client.post(url("library_inject_add", scenario.pk), {**inject, "offset_minutes": "5"})
    assert back.status_code == 400
    assert "au moins 10 minutes" in back.content.decode()
    late = client.post(url("library_inject_add", scenario.pk), {**inject, "offset_minutes": "500"})
    assert late.status_code == 400
    assert client.post(url("library_inject_add", scenario.pk), {**inject, "offset_minutes": "40"})
    scenario.refresh_from_db()
    assert [i.offset_minutes for i in scenario.injects.all()] == [10, 40]
    assert scenario.version == 1  # no run yet: edited in place
    # Sibling and outsiders: never.
    for user in (world.sibling_director, world.outsider_director):
        other = client_for(user)
        assert other.get(url("library_detail", scenario.pk)).status_code == 404
        assert other.post(url("library_inject_add", scenario.pk), inject).status_code == 404
        assert other.get(url("library_own_edit", scenario.pk)).status_code == 404
    # The lesser colleague (staff) cannot either.
    assert (
        client_for(world.staff).post(url("library_inject_add", scenario.pk), inject).status_code
        == 403
    )


def test_editing_a_used_own_scenario_makes_a_new_version(world, scenarios):
    own = scenarios["own"]
    run = run_from(own, world.establishment)
    client = client_for(world.director)
    assert client.get(url("library_own_edit", own.pk)).status_code == 200
    data = {**OWN, "functions": own.functions, "changelog": "Durée allongée."}
    data.pop("organisation")
    # The factory's second inject goes to Communication, which the scenario does not name.
    refused = client.post(url("library_own_edit", own.pk), data)
    assert refused.status_code == 400
    assert "gardez ces fonctions cochées" in refused.content.decode()
    assert Scenario.objects.filter(slug=own.slug).count() == 1
    data["functions"] = [*own.functions, "communication"]
    response = client.post(url("library_own_edit", own.pk), data)
    assert response.status_code == 302
    own.refresh_from_db()
    new = Scenario.objects.get(library_key=own.library_key, slug=own.slug, version=2)
    assert own.status == ScenarioStatus.SUPERSEDED
    assert own.title == "Propre PACS"
    assert new.status == ScenarioStatus.CURRENT
    assert new.title == OWN["title"]
    assert new.changelog == "Durée allongée."
    assert new.injects.count() == 2
    run.refresh_from_db()
    assert run.scenario_id == own.pk
    # The superseded version is read-only; a library scenario is never edited here.
    assert client.get(url("library_own_edit", own.pk)).status_code == 403
    assert client.get(url("library_own_edit", scenarios["national"].pk)).status_code == 403
    # Removing an inject of the (unused) v2 edits it in place.
    first = new.injects.first()
    assert client.post(url("library_inject_remove", new.pk, first.pk)).status_code == 302
    assert new.injects.count() == 1
    assert Scenario.objects.filter(slug=own.slug).count() == 2


def test_duplicate_to_adapt(world, scenarios):
    national = scenarios["national"]
    client = client_for(world.director)
    response = client.post(
        url("library_duplicate", national.pk), {"organisation": world.establishment.pk}
    )
    assert response.status_code == 302
    copy = Scenario.objects.get(organisation=world.establishment, slug__endswith="-adapte")
    assert copy.version == 1
    assert copy.injects.count() == 2
    assert copy.title == national.title
    assert "Adapté de" in copy.changelog
    national.refresh_from_db()
    assert national.status == ScenarioStatus.CURRENT
    assert client_for(world.sibling_director).get(url("library_detail", copy.pk)).status_code == 404
    # Not into another establishment; not for people who write no scenarios.
    response = client.post(
        url("library_duplicate", national.pk), {"organisation": world.sibling.pk}
    )
    assert response.status_code == 400
    assert (
        client_for(world.trainer)
        .post(url("library_duplicate", national.pk), {"organisation": world.crrc.pk})
        .status_code
        == 403
    )


def test_export_then_upload_as_next_version(world):
    library.load_scenarios(GOOD, region=world.region)
    regional = Scenario.objects.get(region=world.region)
    exported = client_for(world.trainer).get(url("library_export", regional.pk))
    assert exported.status_code == 200
    assert "attachment" in exported["Content-Disposition"]
    text = exported.content.decode().replace(
        "Alerter la direction", "Alerter la direction de garde"
    )
    assert upload(client_for(world.trainer), text, world.region).status_code == 302
    assert Scenario.objects.get(library_key=regional.library_key, slug=regional.slug, version=2)
