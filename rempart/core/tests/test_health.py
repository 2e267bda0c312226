"""/healthz: public, JSON, 200 when the database (and the broker, when one is set) answers."""

import socket

import pytest
from django.urls import reverse

REDIS_URL = "redis://127.0.0.1:6379/0"


def _closed_loopback_port() -> int:
    """A loopback port nobody listens on: bound then released, so connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.mark.django_db
def test_healthz_is_public_and_reports_the_database(client, settings):
    settings.CELERY_BROKER_URL = ""
    response = client.get(reverse("core:healthz"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("not configured")
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_answers_503_when_the_broker_is_down(client, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{_closed_loopback_port()}/0"
    response = client.get(reverse("core:healthz"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("error: ")


@pytest.mark.django_db
@pytest.mark.skipif(not _redis_reachable(), reason="Redis ne répond pas sur 127.0.0.1:6379")
def test_healthz_is_ok_with_a_live_redis_broker(client, settings):
    settings.CELERY_BROKER_URL = REDIS_URL
    response = client.get(reverse("core:healthz"))
    assert response.status_code == 200, response.content
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


@pytest.mark.django_db
def test_healthz_refuses_writes(client):
    assert client.post(reverse("core:healthz")).status_code == 405
