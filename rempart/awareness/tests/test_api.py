import pytest
from django.test import Client

from rempart.awareness.models import Attempt

from .factories import QUIZ_CODE, SEED_QUIZ_RIGHT, awareness_world, load_content

pytestmark = pytest.mark.django_db
LIST = "/api/v1/awareness/modules/"
ATTEMPTS = f"/api/v1/awareness/modules/{QUIZ_CODE}/attempts/"


@pytest.fixture
def world():
    return awareness_world()


@pytest.fixture
def rssi_client(world):
    """The RSSI uses the API (USE_API) with a personal token."""
    from rempart.core.models import ApiToken, ApiTokenScope, hash_token

    raw = ApiToken.generate_key()
    ApiToken.objects.create(
        user=world.rssi,
        name="t",
        key_prefix=raw[:12],
        key_hash=hash_token(raw),
        scope=ApiTokenScope.READ_WRITE,
    )
    return Client(HTTP_AUTHORIZATION=f"Token {raw}")


def test_catalogue_never_gives_the_answers(world, rssi_client):
    load_content()
    response = rssi_client.get(LIST)
    assert response.status_code == 200
    modules = {m["code"]: m for m in response.json()}
    quiz = modules[QUIZ_CODE]
    assert len(quiz["questions"]) == 4
    assert "correct" not in str(quiz)
    assert "explanation" not in str(quiz)


def test_submit_scores_and_returns_the_certificate(world, rssi_client):
    load_content()
    response = rssi_client.post(
        ATTEMPTS, {"answers": SEED_QUIZ_RIGHT}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["score"] == 100
    assert body["passed"] is True
    assert body["questions"][0]["explanation"]
    assert body["verification_url"].endswith(f"/verifier/{body['certificate_code']}/")


def test_bad_answers_are_a_structured_400(world, rssi_client):
    load_content()
    response = rssi_client.post(
        ATTEMPTS,
        {"answers": {"hameconnage": ["z"], "inexistante": ["a"]}},
        content_type="application/json",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["details"]["hameconnage"] == ["Choisissez parmi les réponses proposées."]
    assert error["details"]["mobilite"] == ["Répondez à cette question."]
    assert "aucune question" in error["details"]["__all__"][0]
    malformed = rssi_client.post(ATTEMPTS, {"answers": "b"}, content_type="application/json")
    assert malformed.status_code == 400
    assert malformed.json()["error"]["details"]["answers"]
    other_org = rssi_client.post(
        ATTEMPTS,
        {"answers": SEED_QUIZ_RIGHT, "organisation": world.other_establishment.pk},
        content_type="application/json",
    )
    assert other_org.status_code == 400
    unknown = rssi_client.post(
        "/api/v1/awareness/modules/inconnu/attempts/",
        {"answers": {}},
        content_type="application/json",
    )
    assert unknown.status_code == 404
    assert not Attempt.objects.exists()


def test_roles_without_api_access_are_refused(world):
    load_content()
    client = Client()
    client.force_login(world.staff)
    response = client.get(LIST)
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "Votre rôle ne permet pas d'utiliser l'API."
