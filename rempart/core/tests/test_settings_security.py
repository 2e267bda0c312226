"""Production settings: `check --deploy` is clean, secrets are mandatory, the CSP is strict."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.urls import reverse

BASE_DIR = Path(__file__).resolve().parents[3]


def _production_env(tmp_path, **overrides) -> dict[str, str]:
    """A clean production environment: nothing inherited from the developer's shell but PATH."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "REMPART_ENV": "production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "REMPART_FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DJANGO_ALLOWED_HOSTS": "rempart.example.org",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'production.sqlite3'}",
    }
    env.update(overrides)
    return {key: value for key, value in env.items() if value is not None}


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - fixed command line, our own interpreter
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_is_clean_in_production(tmp_path):
    result = _manage(_production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output
    assert "WARNINGS" not in output
    assert "security.W" not in output


def test_production_without_secret_key_refuses_to_start(tmp_path):
    result = _manage(_production_env(tmp_path, DJANGO_SECRET_KEY=None), "check")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY est obligatoire en production" in result.stderr


def test_production_without_field_encryption_keys_refuses_to_start(tmp_path):
    result = _manage(_production_env(tmp_path, REMPART_FIELD_ENCRYPTION_KEYS=None), "check")
    assert result.returncode != 0
    assert "REMPART_FIELD_ENCRYPTION_KEYS est obligatoire en production" in result.stderr


def test_production_secure_settings_are_on(tmp_path):
    """What check --deploy cannot see: proxy headers (HTTPS, client address), __Host- cookies."""
    probe = (
        "from django.conf import settings as s; "
        "print(s.SECURE_PROXY_SSL_HEADER, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SESSION_COOKIE_NAME, s.CSRF_COOKIE_NAME, s.DEBUG, s.SECURE_HSTS_SECONDS >= 31536000, "
        "s.ALLAUTH_TRUSTED_PROXY_COUNT)"
    )
    result = _manage(_production_env(tmp_path), "shell", "--no-imports", "-c", probe)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == (
        "('HTTP_X_FORWARDED_PROTO', 'https') True True __Host-sessionid __Host-csrftoken False True 1"
    )


@pytest.mark.django_db
def test_pages_carry_a_strict_content_security_policy(client):
    response = client.get(reverse("account_login"))
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in policy
    assert "default-src 'self'" in policy
    assert "object-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    # The nonce in the header is the one the page's scripts carry.
    nonce = policy.split("'nonce-", 1)[1].split("'", 1)[0]
    assert f'nonce="{nonce}"'.encode() in response.content
