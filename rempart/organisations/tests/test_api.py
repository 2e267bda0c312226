"""REST API v1: scoping (an ARS manager, an establishment's RSSI with a lesser colleague, an
outsider from another region), filters and pagination, writes through the services, the
OpenAPI schema and the docs page."""

import json
import re

import pytest
from django.contrib.contenttypes.models import ContentType
from django.contrib.staticfiles import finders
from django.core import mail
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from drf_spectacular.validation import validate_schema
from rest_framework.throttling import UserRateThrottle

from rempart.core import services as core_services
from rempart.core.models import ApiTokenScope, AuditEntry
from rempart.core.roles import OrgKind, Role
from rempart.organisations.models import Invitation, LegalStatus, Organisation, Sector

from .factories import (
    CategoryFactory,
    DepartementFactory,
    OrganisationFactory,
    RegionFactory,
    member,
    next_finess,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    """Throttle counters live in the cache, keyed by user id, and ids repeat across tests."""
    cache.clear()


ORGS = "api-v1:organisation-list"
MEMBERSHIPS = "api-v1:membership-list"
INVITATIONS = "api-v1:invitation-list"
ME = "api-v1:me"


def org_url(pk) -> str:
    return reverse("api-v1:organisation-detail", args=[pk])


class World:
    """Region A (ARS, a GHT with two establishments, an EHPAD) and region B (one hospital)."""

    def __init__(self):
        region_a = RegionFactory(code="84", name="Auvergne-Rhône-Alpes")
        region_b = RegionFactory(code="93", name="Provence-Alpes-Côte d'Azur")
        rhone = DepartementFactory(code="69", name="Rhône", region=region_a)
        ain = DepartementFactory(code="01", name="Ain", region=region_a)
        bdr = DepartementFactory(code="13", name="Bouches-du-Rhône", region=region_b)
        ch = CategoryFactory(code="355", label="Centre Hospitalier (C.H.)", sector=Sector.HEALTH)
        ehpad_cat = CategoryFactory(code="500", label="EHPAD", sector=Sector.MEDICO_SOCIAL)
        self.ars = OrganisationFactory(
            kind=OrgKind.ARS,
            name="ARS Auvergne-Rhône-Alpes",
            region=region_a,
            departement=rhone,
            finess=None,
            sector="",
        )
        self.ght = OrganisationFactory(
            kind=OrgKind.GHT,
            name="GHT Rhône Nord",
            region=region_a,
            departement=rhone,
            finess=None,
            sector="",
        )
        self.hospital = OrganisationFactory(
            name="CH Nord-Ouest",
            region=region_a,
            departement=rhone,
            ght=self.ght,
            category=ch,
            legal_status=LegalStatus.PUBLIC,
            commune="Lyon",
            finess=next_finess("69"),
        )
        self.clinic = OrganisationFactory(
            name="Clinique du Tonkin",
            region=region_a,
            departement=rhone,
            ght=self.ght,
            category=ch,
            legal_status=LegalStatus.PRIVATE_FOR_PROFIT,
            commune="Villeurbanne",
            finess=next_finess("69"),
        )
        self.ehpad = OrganisationFactory(
            name="EHPAD Les Tilleuls",
            region=region_a,
            departement=ain,
            category=ehpad_cat,
            sector=Sector.MEDICO_SOCIAL,
            legal_status=LegalStatus.PRIVATE_NON_PROFIT,
            commune="Bourg-en-Bresse",
            finess=next_finess("01"),
        )
        self.foreign = OrganisationFactory(
            name="Hôpital de la Timone",
            region=region_b,
            departement=bdr,
            category=ch,
            legal_status=LegalStatus.PUBLIC,
            commune="Marseille",
            finess=next_finess("13"),
        )
        self.region_a = [self.ars, self.ght, self.hospital, self.clinic, self.ehpad]
        self.ars_manager = member(Role.ARS_MANAGER, self.ars, email="ars@ars.sante.fr")
        self.rssi = member(Role.RSSI, self.hospital, email="rssi@ch-nord.fr")
        self.colleague = member(Role.STAFF, self.hospital, email="agent@ch-nord.fr")
        self.clinic_dsi = member(Role.DSI, self.clinic, email="dsi@tonkin.fr")
        self.outsider = member(Role.RSSI, self.foreign, email="rssi@timone.fr")


@pytest.fixture
def world():
    return World()


def token_for(user, scope=ApiTokenScope.READ_WRITE) -> dict[str, str]:
    _token, raw = core_services.api_token_create(actor=user, name="Tests", scope=scope)
    return {"Authorization": f"Token {raw}"}


def get(client, url, auth, **params):
    return client.get(url, params, headers=auth)


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert {"code", "message"} <= set(body["error"])
    if code:
        assert body["error"]["code"] == code
    return body


def names(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["name"] for row in response.json()["results"]}


# --- Scoping --------------------------------------------------------------------------------------


def test_ars_manager_sees_region_a_only(client, world):
    auth = token_for(world.ars_manager)
    listed = get(client, reverse(ORGS), auth)
    assert names(listed) == {o.name for o in world.region_a}
    assert listed.json()["count"] == 5
    assert get(client, org_url(world.hospital.pk), auth).json()["finess"] == world.hospital.finess
    body = assert_error(get(client, org_url(world.foreign.pk), auth), 404, "not_found")
    assert "Timone" not in json.dumps(body)
    assert world.foreign.finess not in json.dumps(body)


def test_rssi_sees_their_establishment_and_their_ght_only(client, world):
    auth = token_for(world.rssi)
    assert names(get(client, reverse(ORGS), auth)) == {"CH Nord-Ouest", "GHT Rhône Nord"}
    assert get(client, org_url(world.ght.pk), auth).status_code == 200
    detail = get(client, org_url(world.hospital.pk), auth).json()
    assert detail["ght"] == {"id": world.ght.pk, "name": "GHT Rhône Nord", "kind": "ght"}
    assert detail["category"]["code"] == "355"
    assert detail["departement"]["code"] == "69"
    for other in (world.clinic, world.ehpad, world.foreign, world.ars):
        body = assert_error(get(client, org_url(other.pk), auth), 404)
        assert other.name not in json.dumps(body)


def test_outsider_gets_404_and_no_data_on_a_foreign_organisation(client, world):
    auth = token_for(world.outsider)
    for url in (org_url(world.hospital.pk), org_url(f"{world.hospital.pk}abc"), org_url(10**9)):
        response = get(client, url, auth)
        assert_error(response, 404, "not_found")
        assert "CH Nord-Ouest" not in response.text
        assert world.hospital.finess not in response.text
    response = client.patch(
        org_url(world.hospital.pk),
        {"phone": "0400000000"},
        content_type="application/json",
        headers=auth,
    )
    assert_error(response, 404)
    world.hospital.refresh_from_db()
    assert world.hospital.phone == ""
    # Filtering on a foreign organisation finds nothing, rather than an error that would confirm it exists.
    response = get(client, reverse(MEMBERSHIPS), auth, organisation=world.hospital.pk)
    assert response.json()["count"] == 0
    assert "ch-nord.fr" not in response.text
    assert names(get(client, reverse(ORGS), auth, ght=world.ght.pk)) == set()


def test_anonymous_is_refused_everywhere(client, world):
    urls = [
        reverse(ORGS),
        org_url(world.hospital.pk),
        reverse(MEMBERSHIPS),
        reverse(INVITATIONS),
        reverse(ME),
        reverse("api-schema"),
    ]
    for url in urls:
        response = client.get(url)
        assert_error(response, 401)
        assert "CH Nord-Ouest" not in response.text
    response = client.post(
        reverse(INVITATIONS),
        {"organisation": world.hospital.pk, "email": "a@b.fr", "role": "staff"},
        content_type="application/json",
    )
    assert_error(response, 401)
    assert not Invitation.objects.exists()


# --- Filters and pagination ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"kind": "establishment"}, {"CH Nord-Ouest", "Clinique du Tonkin", "EHPAD Les Tilleuls"}),
        ({"kind": "ght"}, {"GHT Rhône Nord"}),
        ({"sector": "medico_social"}, {"EHPAD Les Tilleuls"}),
        ({"legal_status": "prive_lucratif"}, {"Clinique du Tonkin"}),
        ({"departement": "01"}, {"EHPAD Les Tilleuls"}),
        ({"category": "355"}, {"CH Nord-Ouest", "Clinique du Tonkin"}),
        ({"q": "villeur"}, {"Clinique du Tonkin"}),
        ({"q": "tilleuls"}, {"EHPAD Les Tilleuls"}),
        (
            {"q": "  "},
            {
                "ARS Auvergne-Rhône-Alpes",
                "GHT Rhône Nord",
                "CH Nord-Ouest",
                "Clinique du Tonkin",
                "EHPAD Les Tilleuls",
            },
        ),
        ({"q": "timone"}, set()),
        ({"kind": "establishment", "legal_status": "public"}, {"CH Nord-Ouest"}),
    ],
)
def test_list_filters(client, world, params, expected):
    assert names(get(client, reverse(ORGS), token_for(world.ars_manager), **params)) == expected


def test_filter_by_ght_and_finess_prefix(client, world):
    auth = token_for(world.ars_manager)
    assert names(get(client, reverse(ORGS), auth, ght=world.ght.pk)) == {
        "CH Nord-Ouest",
        "Clinique du Tonkin",
    }
    assert names(get(client, reverse(ORGS), auth, q=world.ehpad.finess)) == {"EHPAD Les Tilleuls"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"kind": "hopital"}, "kind"),
        ({"sector": "x"}, "sector"),
        ({"ght": "abc"}, "ght"),
        ({"q": "x" * 101}, "q"),
    ],
)
def test_bad_filter_is_a_structured_400(client, world, params, field):
    body = assert_error(
        get(client, reverse(ORGS), token_for(world.ars_manager), **params), 400, "invalid"
    )
    assert field in body["error"]["details"]


def test_pagination(client, world):
    auth = token_for(world.ars_manager)
    first = get(client, reverse(ORGS), auth, page_size=2).json()
    assert first["count"] == 5
    assert len(first["results"]) == 2
    assert first["next"]
    assert first["previous"] is None
    third = get(client, reverse(ORGS), auth, page_size=2, page=3).json()
    assert len(third["results"]) == 1
    assert third["next"] is None
    seen = [r["name"] for r in first["results"]] + [r["name"] for r in third["results"]]
    assert seen == sorted(seen)  # stable order: by name
    assert_error(get(client, reverse(ORGS), auth, page=99), 404)
    assert len(get(client, reverse(ORGS), auth, page_size=10_000).json()["results"]) == 5


def test_list_query_count_does_not_grow_with_rows(client, world, django_assert_max_num_queries):
    auth = token_for(world.ars_manager)
    get(client, reverse(ORGS), auth)  # first use of the token records last_used_at

    def count_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert get(client, reverse(ORGS), auth).status_code == 200
        return len(ctx.captured_queries)

    few = count_queries()
    region = world.ars.region
    for i in range(40):
        OrganisationFactory(
            name=f"Établissement {i:02d}",
            region=region,
            departement=world.hospital.departement,
            ght=world.ght,
            category=world.hospital.category,
            finess=next_finess("69"),
        )
    many = count_queries()
    assert few == many
    with django_assert_max_num_queries(5):
        response = get(client, reverse(ORGS), auth)
    assert response.json()["count"] == 45


# --- Writes -------------------------------------------------------------------------------------


def test_rssi_patches_their_establishment_with_a_write_token_and_it_is_audited(client, world):
    auth = token_for(world.rssi, ApiTokenScope.READ_WRITE)
    response = client.patch(
        org_url(world.hospital.pk),
        {"phone": "04 72 00 00 00", "beds": 120},
        content_type="application/json",
        headers=auth,
    )
    assert response.status_code == 200, response.content
    assert response.json()["phone"] == "04 72 00 00 00"
    assert response.json()["beds"] == 120
    world.hospital.refresh_from_db()
    assert world.hospital.phone == "04 72 00 00 00"
    assert world.hospital.beds == 120
    entry = AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Organisation),
        object_pk=str(world.hospital.pk),
        action=AuditEntry.Action.UPDATE,
    ).get()
    assert entry.actor == world.rssi
    assert entry.organisation_id == world.hospital.pk
    assert entry.changes_dict["phone"] == ["", "04 72 00 00 00"]


def test_patch_is_refused_where_the_role_may_not_edit(client, world):
    # The RSSI sees their GHT but may not edit it; their colleague may not use the API at all.
    response = client.patch(
        org_url(world.ght.pk),
        {"phone": "0400000000"},
        content_type="application/json",
        headers=token_for(world.rssi),
    )
    assert_error(response, 403, "forbidden")
    client.force_login(world.colleague)
    response = client.patch(
        org_url(world.hospital.pk), {"phone": "0400000000"}, content_type="application/json"
    )
    assert_error(response, 403)
    world.ght.refresh_from_db()
    world.hospital.refresh_from_db()
    assert world.ght.phone == ""
    assert world.hospital.phone == ""


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"finess": "690000000"}, "finess"),
        ({"name": "Nouveau nom", "region": 1}, "region"),
        ({"email": "pas-une-adresse"}, "email"),
        ({"beds": -3}, "beds"),
        ({"name": ""}, "name"),
        ({"operating_budget_eur": "-1"}, "operating_budget_eur"),
    ],
)
def test_bad_patch_is_a_structured_400_and_changes_nothing(client, world, data, field):
    response = client.patch(
        org_url(world.hospital.pk),
        data,
        content_type="application/json",
        headers=token_for(world.rssi),
    )
    body = assert_error(response, 400)
    assert field in body["error"].get("details", {})
    world.hospital.refresh_from_db()
    assert world.hospital.name == "CH Nord-Ouest"
    assert world.hospital.email == ""


def test_put_and_delete_are_not_offered(client, world):
    auth = token_for(world.ars_manager)
    assert_error(
        client.put(org_url(world.hospital.pk), {}, content_type="application/json", headers=auth),
        405,
    )
    assert_error(client.delete(org_url(world.hospital.pk), headers=auth), 405)
    assert Organisation.objects.filter(pk=world.hospital.pk).exists()


# --- Memberships and invitations -----------------------------------------------------------------


def emails(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["user"]["email"] for row in response.json()["results"]}


def test_memberships_are_scoped_by_who_may_see_people(client, world):
    region_a_people = {"ars@ars.sante.fr", "rssi@ch-nord.fr", "agent@ch-nord.fr", "dsi@tonkin.fr"}
    assert (
        emails(get(client, reverse(MEMBERSHIPS), token_for(world.ars_manager))) == region_a_people
    )
    rssi = token_for(world.rssi)
    listed = get(client, reverse(MEMBERSHIPS), rssi)
    assert emails(listed) == {"rssi@ch-nord.fr", "agent@ch-nord.fr"}
    row = next(r for r in listed.json()["results"] if r["user"]["email"] == "agent@ch-nord.fr")
    assert row["role"] == "staff"
    assert row["role_label"] == "Personnel (apprenant)"
    assert row["organisation"]["id"] == world.hospital.pk
    clinic_membership = world.clinic_dsi.memberships.get()
    assert_error(
        get(client, reverse("api-v1:membership-detail", args=[clinic_membership.pk]), rssi), 404
    )
    assert emails(get(client, reverse(MEMBERSHIPS), token_for(world.outsider))) == {
        "rssi@timone.fr"
    }


def test_memberships_filters(client, world):
    auth = token_for(world.ars_manager)
    assert emails(get(client, reverse(MEMBERSHIPS), auth, organisation=world.clinic.pk)) == {
        "dsi@tonkin.fr"
    }
    assert emails(get(client, reverse(MEMBERSHIPS), auth, role="rssi")) == {"rssi@ch-nord.fr"}
    assert_error(get(client, reverse(MEMBERSHIPS), auth, role="pape"), 400, "invalid")


def test_ended_memberships_are_not_listed(client, world):
    membership = world.colleague.memberships.get()
    membership.valid_from = membership.valid_from.replace(year=membership.valid_from.year - 1)
    membership.valid_until = membership.valid_from
    membership.save()
    assert "agent@ch-nord.fr" not in emails(
        get(client, reverse(MEMBERSHIPS), token_for(world.rssi))
    )


def invite(client, auth, **data):
    return client.post(reverse(INVITATIONS), data, content_type="application/json", headers=auth)


def test_rssi_invites_a_colleague(client, world, django_capture_on_commit_callbacks):
    auth = token_for(world.rssi)
    with django_capture_on_commit_callbacks(execute=True):
        response = invite(
            client, auth, organisation=world.hospital.pk, email=" Nouvelle@CH-Nord.fr ", role="dsi"
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "nouvelle@ch-nord.fr"
    assert body["role"] == "dsi"
    assert body["role_label"] == "DSI"
    assert body["invited_by"] == "rssi@ch-nord.fr"
    assert body["expired"] is False
    assert "/invitation/" not in response.text  # the signed link goes by e-mail only
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["nouvelle@ch-nord.fr"]
    invitation = Invitation.objects.get()
    entry = AuditEntry.objects.get(
        content_type=ContentType.objects.get_for_model(Invitation), object_pk=str(invitation.pk)
    )
    assert entry.actor == world.rssi
    assert entry.organisation_id == world.hospital.pk
    # Listed as pending for the RSSI and the ARS, not for the outsider.
    assert [r["id"] for r in get(client, reverse(INVITATIONS), auth).json()["results"]] == [
        invitation.pk
    ]
    ars = token_for(world.ars_manager)
    assert (
        get(client, reverse(INVITATIONS), ars, organisation=world.hospital.pk).json()["count"] == 1
    )
    outsider = token_for(world.outsider)
    assert get(client, reverse(INVITATIONS), outsider).json()["count"] == 0
    assert_error(
        get(client, reverse("api-v1:invitation-detail", args=[invitation.pk]), outsider), 404
    )
    # A second identical invitation is refused with a clear reason.
    body = assert_error(
        invite(
            client, auth, organisation=world.hospital.pk, email="nouvelle@ch-nord.fr", role="dsi"
        ),
        400,
        "invitation_pending",
    )
    assert "email" in body["error"]["details"]


def test_invitation_with_a_role_they_may_not_grant_is_a_structured_400(client, world):
    # A DSI may give the DSI and learner roles only.
    dsi = token_for(world.clinic_dsi)
    body = assert_error(
        invite(client, dsi, organisation=world.clinic.pk, email="x@tonkin.fr", role="rssi"),
        400,
        "role_not_grantable",
    )
    assert (
        body["error"]["message"]
        == "Vous ne pouvez pas attribuer le rôle « RSSI / référent SSI » dans cette organisation."
    )
    assert body["error"]["details"] == {"role": [body["error"]["message"]]}
    # A role that does not exist in an establishment.
    auth = token_for(world.rssi)
    body = assert_error(
        invite(
            client, auth, organisation=world.hospital.pk, email="x@ch-nord.fr", role="ars_manager"
        ),
        400,
        "role_not_allowed_here",
    )
    assert "role" in body["error"]["details"]
    assert_error(
        invite(client, auth, organisation=world.hospital.pk, email="x@ch-nord.fr", role="pape"),
        400,
        "invalid",
    )
    body = assert_error(
        invite(client, auth, organisation=world.hospital.pk, email="pas-une-adresse", role="staff"),
        400,
        "invalid",
    )
    assert "email" in body["error"]["details"]
    assert_error(invite(client, auth, email="x@ch-nord.fr", role="staff"), 400, "invalid")
    assert not Invitation.objects.exists()


def test_invitation_outside_the_scope(client, world):
    auth = token_for(world.rssi)
    # A foreign organisation: not found, and nothing about it in the answer.
    response = invite(
        client, auth, organisation=world.foreign.pk, email="x@timone.fr", role="staff"
    )
    assert_error(response, 404)
    assert "Timone" not in response.text
    # Their GHT: visible, but the RSSI does not manage its people.
    assert_error(
        invite(client, auth, organisation=world.ght.pk, email="x@ght.fr", role="staff"),
        403,
        "forbidden",
    )
    assert not Invitation.objects.exists()


def test_me(client, world):
    body = get(client, reverse(ME), token_for(world.rssi, ApiTokenScope.READ)).json()
    assert body["user"]["email"] == "rssi@ch-nord.fr"
    assert [
        (m["role"], m["role_label"], m["organisation"]["name"]) for m in body["memberships"]
    ] == [("rssi", "RSSI / référent SSI", "CH Nord-Ouest")]
    assert "use_api" in body["memberships"][0]["capabilities"]
    assert body["token"]["scope"] == "read"


# --- Schema and docs -----------------------------------------------------------------------------


def test_schema_is_a_valid_openapi_document_listing_the_routes(client, world):
    client.force_login(world.rssi)
    response = client.get(reverse("api-schema"))
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path in (
        "/api/v1/organisations/",
        "/api/v1/organisations/{id}/",
        "/api/v1/memberships/",
        "/api/v1/invitations/",
        "/api/v1/me/",
    ):
        assert path in paths
    assert set(paths["/api/v1/organisations/{id}/"]) == {"get", "patch"}
    params = {p["name"] for p in paths["/api/v1/organisations/"]["get"]["parameters"]}
    assert {
        "q",
        "kind",
        "sector",
        "legal_status",
        "ght",
        "departement",
        "category",
        "page",
        "page_size",
    } <= params
    assert "jetonPersonnel" in schema["components"]["securitySchemes"]
    assert "404" in paths["/api/v1/organisations/{id}/"]["get"]["responses"]
    # YAML on request, and with a token too.
    yaml = client.get(reverse("api-schema"), {"format": "yaml"})
    assert yaml.status_code == 200
    assert yaml.text.startswith("openapi:")
    client.logout()
    assert client.get(reverse("api-schema"), headers=token_for(world.rssi)).status_code == 200


def test_docs_page_works_under_the_strict_csp(client, world):
    response = client.get(reverse("api-docs"))
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]
    client.force_login(world.colleague)  # any logged-in person may read the docs
    page = client.get(reverse("api-docs"))
    assert page.status_code == 200
    csp = page["Content-Security-Policy"]
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert "script-src 'self'" in csp
    html = page.text
    assert "<style" not in html
    assert " style=" not in html
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert len(scripts) == 3
    assert all('src="' in attrs and not body.strip() for attrs, body in scripts)
    for asset in re.findall(r'(?:src|href)="/static/([^"?]+)"', html):
        assert finders.find(asset), asset
    init = re.search(r'src="([^"]*\?[^"]*script[^"]*)"', html).group(1).replace("&amp;", "&")
    script = client.get(init)
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.text
    assert "/api/schema/" in script.text


def test_memberships_query_count_does_not_grow_with_rows(
    client, world, django_assert_max_num_queries
):
    auth = token_for(world.ars_manager)
    get(client, reverse(MEMBERSHIPS), auth)
    for i in range(30):
        member(Role.STAFF, world.hospital, email=f"agent{i}@ch-nord.fr")
    with django_assert_max_num_queries(5):
        response = get(client, reverse(MEMBERSHIPS), auth)
    assert response.json()["count"] == 34


def test_too_many_requests_is_a_structured_429(client, world, monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "2/min"})
    auth = token_for(world.rssi)
    assert get(client, reverse(ME), auth).status_code == 200
    assert get(client, reverse(ME), auth).status_code == 200
    body = assert_error(get(client, reverse(ME), auth), 429, "throttled")
    assert "rssi@ch-nord.fr" not in json.dumps(body)
