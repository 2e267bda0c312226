"""Personal API tokens: the management page, the service, and authentication with them.

Three people: the owner (an RSSI, who may use the API), a colleague with a lesser role
(a learner, who may not), and an outsider from another organisation."""

import datetime
import re

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from rempart.core import services
from rempart.core.errors import DomainError
from rempart.core.models import ApiToken, ApiTokenScope, AuditEntry, hash_token
from rempart.core.roles import OrgKind, Role
from rempart.organisations.models import Membership
from rempart.organisations.tests.factories import OrganisationFactory, RegionFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    """Throttle counters live in the cache, keyed by user id, and ids repeat across tests."""
    cache.clear()


PAGE = "core:api_tokens"
ME = "api-v1:me"


@pytest.fixture
def hospital():
    region = RegionFactory(code="84", name="Auvergne-Rhône-Alpes")
    ght = OrganisationFactory(
        kind=OrgKind.GHT, name="GHT Rhône Nord", region=region, finess=None, sector=""
    )
    return OrganisationFactory(name="CH Nord-Ouest", region=region, ght=ght)


@pytest.fixture
def owner(hospital):
    return member(Role.RSSI, hospital)


@pytest.fixture
def colleague(hospital):
    return member(Role.STAFF, hospital)


@pytest.fixture
def outsider():
    other = OrganisationFactory(
        name="Clinique du Parc", region=RegionFactory(code="93", name="PACA")
    )
    return member(Role.RSSI, other)


def make_token(user, scope=ApiTokenScope.READ, **kwargs) -> tuple[ApiToken, str]:
    return services.api_token_create(actor=user, name="Export Grafana", scope=scope, **kwargs)


def token_header(raw: str) -> dict[str, str]:
    return {"Authorization": f"Token {raw}"}


def audit_of(token: ApiToken):
    return AuditEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(ApiToken), object_pk=str(token.pk)
    ).order_by("pk")


# --- The page ---------------------------------------------------------------------------------


def test_page_is_for_roles_that_may_use_the_api(client, owner, colleague):
    client.force_login(owner)
    page = client.get(reverse(PAGE))
    assert page.status_code == 200
    assert "Créer un jeton" in page.text
    assert "Vous n'avez encore aucun jeton." in page.text
    client.force_login(colleague)
    assert client.get(reverse(PAGE)).status_code == 404
    assert client.post(reverse(PAGE), {"name": "x", "scope": "read"}).status_code == 404
    assert not ApiToken.objects.exists()


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse(PAGE))
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


def test_create_shows_the_value_once_and_stores_only_its_hash(client, owner):
    client.force_login(owner)
    response = client.post(
        reverse(PAGE), {"name": "Tableau de bord régional", "scope": "read_write", "expires_on": ""}
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    raw = re.search(r'id="api-token-value"[^>]*value="(rmp_[^"]+)"', response.text).group(1)
    assert "il ne sera plus jamais affiché" in response.text
    token = ApiToken.objects.get()
    assert token.user == owner
    assert token.scope == ApiTokenScope.READ_WRITE
    assert token.expires_at is None
    assert token.key_hash == hash_token(raw)
    assert len(token.key_hash) == 64
    assert raw.startswith(token.key_prefix)
    stored = {f.attname: getattr(token, f.attname) for f in ApiToken._meta.concrete_fields}
    assert raw not in {str(v) for v in stored.values()}
    # Never shown again: the list only gives the prefix.
    page = client.get(reverse(PAGE))
    assert raw not in page.text
    assert f"{token.key_prefix}…" in page.text
    assert "Tableau de bord régional" in page.text
    # Audited, with the actor, without the hash.
    entry = audit_of(token).get()
    assert entry.action == AuditEntry.Action.CREATE
    assert entry.actor == owner
    assert token.key_hash not in (entry.changes_text or "") + str(entry.changes)
    # The value works.
    assert client.get(reverse(ME), headers=token_header(raw)).status_code == 200


def test_create_with_an_expiry_date(client, owner):
    client.force_login(owner)
    day = timezone.localdate() + datetime.timedelta(days=30)
    response = client.post(
        reverse(PAGE), {"name": "Script", "scope": "read", "expires_on": day.isoformat()}
    )
    assert response.status_code == 200
    token = ApiToken.objects.get()
    assert timezone.localtime(token.expires_at).date() == day
    assert timezone.localtime(token.expires_at).time() == datetime.time.min


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"name": "Script", "scope": "read", "expires_on": "2001-01-01"},
            "La date d&#x27;expiration doit être dans le futur",
        ),
        ({"name": "Script", "scope": "read", "expires_on": "today"}, "Saisissez une date valide"),
        ({"name": "", "scope": "read"}, "Ce champ est obligatoire"),
        ({"name": "Script", "scope": "admin"}, "Sélectionnez un choix valide"),
        ({"name": "x" * 101, "scope": "read"}, "au plus 100 caractères"),
    ],
)
def test_bad_input_gets_a_french_message_and_creates_nothing(client, owner, data, message):
    client.force_login(owner)
    response = client.post(reverse(PAGE), data)
    assert response.status_code == 400
    assert message in response.text
    assert not ApiToken.objects.exists()


def test_today_is_not_in_the_future(client, owner):
    client.force_login(owner)
    response = client.post(
        reverse(PAGE),
        {"name": "Script", "scope": "read", "expires_on": timezone.localdate().isoformat()},
    )
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_create_by_htmx_returns_the_panel(client, owner):
    client.force_login(owner)
    response = client.post(
        reverse(PAGE), {"name": "Script", "scope": "read"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="api-tokens-panel">')
    assert "<html" not in response.text
    raw = re.search(r'value="(rmp_[^"]+)"', response.text).group(1)
    assert ApiToken.objects.get().key_hash == hash_token(raw)
    # Errors are swapped in too (HTMX swaps 2xx answers only).
    response = client.post(
        reverse(PAGE), {"name": "", "scope": "read"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert "Ce champ est obligatoire" in response.text
    assert ApiToken.objects.count() == 1


def _without_csrf(html: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def test_htmx_panel_equals_the_panel_of_a_reload(client, owner):
    make_token(owner)
    client.force_login(owner)
    full = client.get(reverse(PAGE)).text
    partial = client.get(reverse(PAGE), headers={"HX-Request": "true"}).text.strip()
    start = full.index('<div id="api-tokens-panel">')
    assert _without_csrf(full[start : start + len(partial)]) == _without_csrf(partial)


def test_revoke_own_token(client, owner):
    token, raw = make_token(owner)
    client.force_login(owner)
    response = client.post(reverse("core:api_token_revoke", args=[token.pk]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert "Révoqué le" in client.get(reverse(PAGE)).text
    entry = audit_of(token).last()
    assert entry.action == AuditEntry.Action.UPDATE
    assert entry.actor == owner
    assert "revoked_at" in entry.changes_dict
    assert client.get(reverse(ME), headers=token_header(raw)).status_code == 401
    # Revoking twice says so, and changes nothing.
    response = client.post(reverse("core:api_token_revoke", args=[token.pk]), follow=True)
    assert "Ce jeton est déjà révoqué." in response.text


def test_revoke_by_htmx(client, owner):
    token, _raw = make_token(owner)
    client.force_login(owner)
    response = client.post(
        reverse("core:api_token_revoke", args=[token.pk]), headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert "<html" not in response.text
    assert "est révoqué : il ne fonctionne plus" in response.text
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_someone_elses_token_is_not_found(client, owner, outsider):
    token, _raw = make_token(owner)
    client.force_login(outsider)
    assert client.post(reverse("core:api_token_revoke", args=[token.pk])).status_code == 404
    assert "Export Grafana" not in client.get(reverse(PAGE)).text
    token.refresh_from_db()
    assert token.revoked_at is None
    assert client.get(reverse("core:api_token_revoke", args=[token.pk])).status_code == 405


def test_service_refuses_bad_input_and_other_people(owner, outsider, colleague):
    with pytest.raises(DomainError) as exc:
        services.api_token_create(
            actor=owner,
            name="x",
            scope="read",
            expires_at=timezone.now() - datetime.timedelta(seconds=1),
        )
    assert exc.value.field == "expires_at"
    with pytest.raises(DomainError):
        services.api_token_create(actor=owner, name="   ", scope="read")
    with pytest.raises(DomainError):
        services.api_token_create(actor=owner, name="x", scope="admin")
    with pytest.raises(DomainError) as exc:
        services.api_token_create(actor=colleague, name="x", scope="read")
    assert exc.value.code == "forbidden"
    token, _raw = make_token(owner)
    with pytest.raises(DomainError) as exc:
        services.api_token_revoke(actor=outsider, token=token)
    assert exc.value.code == "forbidden"
    assert ApiToken.objects.count() == 1


# --- Authentication with a token --------------------------------------------------------------


def assert_structured(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["message"]
    if code:
        assert body["error"]["code"] == code
    return body


def test_valid_token_authenticates_and_records_its_use(client, owner):
    token, raw = make_token(owner)
    assert token.last_used_at is None
    response = client.get(reverse(ME), headers=token_header(raw))
    assert response.status_code == 200
    assert response.json()["user"]["email"] == owner.email
    assert response.json()["token"] == {
        "name": "Export Grafana",
        "scope": "read",
        "expires_at": None,
    }
    token.refresh_from_db()
    assert token.last_used_at is not None
    # "Bearer" is accepted too, for tools that only know that word.
    assert client.get(reverse(ME), headers={"Authorization": f"Bearer {raw}"}).status_code == 200


@pytest.mark.parametrize(
    "header",
    [None, "Token", "Token a b", "Token rmp_inconnu", "Token " + "é" * 10, "Basic dXNlcjpwYXNz"],
)
def test_missing_unknown_or_malformed_token_is_401(client, owner, header):
    make_token(owner)
    headers = {"Authorization": header} if header else {}
    body = assert_structured(client.get(reverse(ME), headers=headers), 401)
    assert owner.email not in str(body)


def test_revoked_or_expired_token_is_401(client, owner):
    token, raw = make_token(owner)
    services.api_token_revoke(actor=owner, token=token)
    assert_structured(
        client.get(reverse(ME), headers=token_header(raw)), 401, "authentication_failed"
    )
    token, raw = make_token(owner, expires_at=timezone.now() + datetime.timedelta(days=1))
    ApiToken.objects.filter(pk=token.pk).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    body = assert_structured(
        client.get(reverse(ME), headers=token_header(raw)), 401, "authentication_failed"
    )
    assert "expiré" in body["error"]["message"]


def test_inactive_person_token_is_401(client, owner):
    _token, raw = make_token(owner)
    owner.is_active = False
    owner.save()
    assert_structured(client.get(reverse(ME), headers=token_header(raw)), 401)


def test_read_only_token_cannot_write(client, owner, hospital):
    _token, raw = make_token(owner, scope=ApiTokenScope.READ)
    response = client.patch(
        reverse("api-v1:organisation-detail", args=[hospital.pk]),
        {"phone": "04 00 00 00 00"},
        content_type="application/json",
        headers=token_header(raw),
    )
    body = assert_structured(response, 403)
    assert "lecture seule" in body["error"]["message"]
    response = client.post(
        reverse("api-v1:invitation-list"),
        {"organisation": hospital.pk, "email": "a@b.fr", "role": "staff"},
        content_type="application/json",
        headers=token_header(raw),
    )
    assert_structured(response, 403)
    hospital.refresh_from_db()
    assert hospital.phone == ""


def test_token_stops_working_when_the_role_is_gone(client, owner):
    _token, raw = make_token(owner)
    assert client.get(reverse(ME), headers=token_header(raw)).status_code == 200
    Membership.objects.filter(user=owner).update(role=Role.STAFF)
    body = assert_structured(client.get(reverse(ME), headers=token_header(raw)), 403)
    assert "rôle" in body["error"]["message"]


def test_session_without_second_factor_cannot_use_the_api(client, hospital):
    person = member(Role.RSSI, hospital, mfa=False)
    client.force_login(person)
    body = assert_structured(client.get(reverse(ME)), 403)
    assert "double authentification" in body["error"]["message"]


def test_session_of_a_role_without_api_access_is_refused(client, colleague):
    client.force_login(colleague)
    assert_structured(client.get(reverse(ME)), 403)
