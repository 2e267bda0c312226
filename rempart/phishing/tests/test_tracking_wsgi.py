"""The tracking server's WSGI application (rempart/phishing/tracking_wsgi.py) answers the pixel,
the link and « report this message » without Django's request cycle: it must store the same
events and answer exactly what Django answers, header by header, and leave everything else to
Django."""

from __future__ import annotations

import io
import logging
import re

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import reverse

from rempart.phishing import tracking, tracking_wsgi
from rempart.phishing.models import (
    Campaign,
    CampaignStatus,
    TrackingEvent,
)

from .factories import delivered_campaign, phishing_world

pytestmark = pytest.mark.django_db

BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36"
)
UNKNOWN = "nXbo1qZ7cT0Uf3rWm9Kd2LpYs8Ve4HgA"  # the right shape, nobody's
# What differs between two answers to the same click: the CSP nonce and the click's id.
VARYING = re.compile(r"nonce-[A-Za-z0-9_-]+|nonce=\"[A-Za-z0-9_-]+\"|data-event=\"\d+\"")


@pytest.fixture(autouse=True)
def connection_checks(monkeypatch):
    """As Django's test client does: the connection is not closed around each request (it
    holds the test's transaction). The calls are counted instead."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    checks = []
    monkeypatch.setattr(tracking_wsgi, "close_old_connections", lambda: checks.append(1))
    tracking._landings.clear()
    yield checks
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def django_app():
    return WSGIHandler()


@pytest.fixture
def fast_app(django_app):
    return tracking_wsgi.TrackingApplication(django_app)


@pytest.fixture
def campaign():
    return delivered_campaign(phishing_world())


@pytest.fixture
def token(campaign):
    return campaign.recipients.order_by("pk").first().token


def call(app, method: str, path: str, **extra):
    """One WSGI request: (status, headers as a dict, body)."""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "HTTP_USER_AGENT": BROWSER,
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": "0",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        **extra,
    }
    started = {}

    def start_response(status, headers, exc_info=None):
        started["status"], started["headers"] = status, headers

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    names = [name.lower() for name, _value in started["headers"]]
    assert len(names) == len(set(names)), f"header sent twice: {names}"
    return started["status"], dict(started["headers"]), body


def without_nonce(value):
    return VARYING.sub("…", value.decode("latin-1") if isinstance(value, bytes) else value)


def same_answer(fast, slow):
    """Same status, same headers and body but for the CSP nonce and the click's id."""
    (fast_status, fast_headers, fast_body), (slow_status, slow_headers, slow_body) = fast, slow
    assert fast_status == slow_status
    assert {k: without_nonce(v) for k, v in fast_headers.items()} == {
        k: without_nonce(v) for k, v in slow_headers.items()
    }
    assert without_nonce(fast_body) == without_nonce(slow_body)


def kinds():
    return list(TrackingEvent.objects.order_by("pk").values_list("kind", flat=True))


def test_pixel_and_report_answer_as_django_and_store_one_event_each(
    fast_app, django_app, token, connection_checks
):
    pixel = reverse("phishing_tracking:pixel", args=[token])
    report = reverse("phishing_tracking:report", args=[token])
    same_answer(call(fast_app, "GET", pixel), call(django_app, "GET", pixel))
    same_answer(call(fast_app, "POST", report), call(django_app, "POST", report))
    assert kinds() == ["opened", "opened", "reported", "reported"]
    status, headers, body = call(fast_app, "GET", pixel)
    assert (status, headers["Content-Type"], body[:6]) == ("200 OK", "image/gif", b"GIF89a")
    assert "no-store" in headers["Cache-Control"]
    assert headers["X-Frame-Options"] == "DENY"
    assert "Set-Cookie" not in headers
    # The connection is checked before and after each answer, as Django's signals do.
    assert len(connection_checks) == 6


def test_click_shows_the_landing_page_with_its_own_nonce(fast_app, django_app, token):
    click = reverse("phishing_tracking:click", args=[token])
    fast, slow = call(fast_app, "GET", click), call(django_app, "GET", click)
    same_answer(fast, slow)
    _status, headers, body = fast
    nonce = re.search(r"'nonce-([^']+)'", headers["Content-Security-Policy"]).group(1)
    assert f'<script nonce="{nonce}"' in body.decode()
    assert nonce not in slow[2].decode()
    event = TrackingEvent.objects.filter(kind="clicked").order_by("pk").first()
    assert f'data-event="{event.pk}"' in body.decode()
    assert reverse("phishing_tracking:submit", args=[token]) in body.decode()
    assert kinds() == ["clicked", "clicked"]
    assert event.bot_reason == tracking.REASON_NO_JS


def test_a_click_without_a_form_is_stored_once_and_the_teaching_page_is_djangos(
    fast_app, django_app, campaign, token
):
    campaign.landing_page.form_html = ""
    campaign.landing_page.save()
    click = reverse("phishing_tracking:click", args=[token])
    same_answer(call(fast_app, "GET", click), call(django_app, "GET", click))
    assert kinds() == ["clicked", "clicked"]  # one each: not stored again by the view


@pytest.mark.parametrize("route", ["pixel", "click", "report"])
def test_dead_tokens_get_djangos_answer_and_store_nothing(fast_app, django_app, campaign, route):
    method = "POST" if route == "report" else "GET"
    for dead in (UNKNOWN, "x", "a" * 65, "abc$def" * 5):
        path = reverse(f"phishing_tracking:{route}", args=[dead])
        same_answer(call(fast_app, method, path), call(django_app, method, path))
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.CANCELLED)
    cancelled = campaign.recipients.first().token
    path = reverse(f"phishing_tracking:{route}", args=[cancelled])
    same_answer(call(fast_app, method, path), call(django_app, method, path))
    assert kinds() == []


def test_everything_else_goes_to_django(fast_app, token, monkeypatch):
    """Other routes, other methods, an application mounted below the root: Django's."""
    seen = []
    monkeypatch.setattr(
        fast_app, "django", lambda environ, start: seen.append(environ["PATH_INFO"]) or []
    )
    for method, path, extra in (
        ("GET", "/static/core/rempart.css", {}),
        ("GET", reverse("phishing_tracking:report_thanks"), {}),
        ("GET", reverse("phishing_tracking:report", args=[token]), {}),  # the button page
        ("POST", reverse("phishing_tracking:pixel", args=[token]), {}),
        ("HEAD", reverse("phishing_tracking:pixel", args=[token]), {}),
        ("POST", reverse("phishing_tracking:submit", args=[token]), {}),
        ("GET", reverse("phishing_tracking:pixel", args=[token]), {"SCRIPT_NAME": "/rempart"}),
    ):
        fast_app({**_environ(method, path), **extra}, lambda *a: None)
    assert len(seen) == 7
    assert kinds() == []


def _environ(method, path):
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
    }


def test_https_only_sites_redirect_as_django_and_send_hsts(settings, token):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.ALLOWED_HOSTS = ["testserver"]
    django_app = WSGIHandler()  # its middleware reads the settings when made
    fast_app = tracking_wsgi.TrackingApplication(django_app)
    pixel = reverse("phishing_tracking:pixel", args=[token])
    insecure = call(fast_app, "GET", pixel)
    assert insecure[0].startswith("301")  # Django's redirect, nothing stored
    assert insecure[1]["Location"] == f"https://testserver{pixel}"
    assert kinds() == []
    proxied = {"HTTP_X_FORWARDED_PROTO": "https"}
    fast = call(fast_app, "GET", pixel, **proxied)
    same_answer(fast, call(django_app, "GET", pixel, **proxied))
    assert fast[1]["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    click = reverse("phishing_tracking:click", args=[token])
    same_answer(call(fast_app, "GET", click, **proxied), call(django_app, "GET", click, **proxied))
    assert kinds() == ["opened", "opened", "clicked", "clicked"]


def test_a_changed_policy_is_sent_at_once(settings, fast_app, token):
    pixel = reverse("phishing_tracking:pixel", args=[token])
    call(fast_app, "GET", pixel)
    settings.SECURE_CSP_REPORT_ONLY = {"default-src": ["'self'"], "report-uri": "/csp/"}
    settings.SECURE_CONTENT_TYPE_NOSNIFF = False
    django_app = WSGIHandler()
    fast = call(fast_app, "GET", pixel)
    same_answer(fast, call(django_app, "GET", pixel))
    assert "Content-Security-Policy-Report-Only" in fast[1]
    assert "X-Content-Type-Options" not in fast[1]


def test_an_error_is_answered_and_logged_by_django(fast_app, token, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("base indisponible")

    monkeypatch.setattr(tracking, "record_event", broken)
    caplog.set_level(logging.ERROR, logger="django.request")
    status, _headers, body = call(fast_app, "GET", reverse("phishing_tracking:pixel", args=[token]))
    assert status.startswith("500")
    assert b"base indisponible" not in body
    assert any("base indisponible" in str(r.exc_info) for r in caplog.records)
