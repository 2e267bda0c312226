"""The tracking server's WSGI application (config/tracking_wsgi.py, served by `manage.py
tracking_server`, decision 0005): the
three routes every recipient and every mail scanner hits — the pixel (GET), the link (GET) and
« report this message » (POST) — are answered straight from the WSGI environ; every other
request, and every case these three do not cover, goes to Django unchanged.

Why: Django's request cycle (request object, signals, middleware, URL resolver, response
object) cost as much CPU as storing the event itself, and the issue asks for 2,000 tracking
requests per second with every event stored, on two cores shared with the database
(bench/tracking.py).

What stays the same as through Django, and is tested (test_tracking_wsgi.py compares the
answers of both, header by header):
- the event is stored by the same functions (tracking.record_event, tracking.record_click):
  same token checks, same bot flags, nothing stored for a dead token;
- the answer: the same GIF, the same landing page, the same redirect, with the same headers —
  the views' private headers (tracking_views.PRIVATE_HEADERS), the security middleware's
  (nosniff, referrer and opener policies, HSTS on HTTPS), X-Frame-Options and the Content
  Security Policy with its nonce;
- an HTTP request is left to Django when the settings want it redirected to HTTPS;
- the database connection is checked before and after the request as Django does
  (close_old_connections: CONN_MAX_AGE, broken connections);
- an exception is answered and logged by Django's own handler (the 500 page).
What a click needs beyond the landing page (the teaching page when the page has no form, the
neutral page for a dead token) is rendered by Django's view, told that the click is already
stored (tracking_views.CLICK_RECORDED).
"""

import re

from django.conf import settings
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIRequest
from django.core.signals import setting_changed
from django.db import close_old_connections
from django.dispatch import receiver
from django.urls import reverse
from django.utils.csp import CSP, build_policy, generate_nonce

from . import tracking
from .models import EventKind
from .tracking_views import (
    CLICK_RECORDED,
    PIXEL_GIF,
    PRIVATE_HEADERS,
    has_form,
    landing_html,
    route_url,
)

_MARK = "TOKEN"
_REDIRECT_BODY = b""  # HttpResponseRedirect's


def _route_pattern(name: str) -> re.Pattern:
    """The path of route `name` with its token captured (a token-shaped one only)."""
    before, _mark, after = reverse(name, args=[_MARK]).partition(_MARK)
    return re.compile(
        re.escape(before) + "(" + tracking.TOKEN_SHAPE.pattern + ")" + re.escape(after)
    )


class TrackingApplication:
    def __init__(self, django_application):
        self.django = django_application
        self.routes = None  # made on the first request: the URLconf is loaded by then

    def __call__(self, environ, start_response):
        route = self._route(environ)
        secure = _is_secure(environ)
        if route is None or (settings.SECURE_SSL_REDIRECT and not secure):
            return self.django(environ, start_response)
        handler, token = route
        close_old_connections()
        try:
            answer = handler(environ, token)
        except Exception as exc:  # answered and logged as Django does
            response = response_for_exception(WSGIRequest(environ), exc)
            start_response(f"{response.status_code} {response.reason_phrase}", [*response.items()])
            return response
        finally:
            close_old_connections()
        if answer is None:  # the rest of a click is Django's
            return self.django(environ, start_response)
        status, headers, body, nonce = answer
        start_response(status, [*headers, *_security_headers(secure, nonce)])
        return [body]

    def _route(self, environ):
        """(handler, token) for the three routes with a token-shaped token, else None."""
        if self.routes is None:
            self.routes = {
                "GET": [
                    (_route_pattern("phishing_tracking:pixel"), self.pixel),
                    (_route_pattern("phishing_tracking:click"), self.click),
                ],
                "POST": [(_route_pattern("phishing_tracking:report"), self.report)],
            }
        if environ.get("SCRIPT_NAME"):  # mounted below the root: not as deployed
            return None
        path = environ.get("PATH_INFO", "")
        for pattern, handler in self.routes.get(environ.get("REQUEST_METHOD"), ()):
            match = pattern.fullmatch(path)
            if match:
                return handler, match.group(1)
        return None

    # --- The three routes ------------------------------------------------------------------

    def pixel(self, environ, token):
        tracking.record_event(token=token, kind=EventKind.OPENED, user_agent=_agent(environ))
        return "200 OK", _private("image/gif", PIXEL_GIF), PIXEL_GIF, None

    def report(self, environ, token):
        tracking.record_event(token=token, kind=EventKind.REPORTED, user_agent=_agent(environ))
        headers = _private("text/html; charset=utf-8", _REDIRECT_BODY)
        headers.append(("Location", route_url("phishing_tracking:report_thanks")))
        return "302 Found", headers, _REDIRECT_BODY, None

    def click(self, environ, token):
        recorded = tracking.record_click(token=token, user_agent=_agent(environ))
        if recorded is None or not has_form(recorded[1]):
            environ[CLICK_RECORDED] = recorded
            return None
        event, landing = recorded
        nonce = generate_nonce()
        body = landing_html(landing, token, event.pk, nonce).encode()
        return "200 OK", _private("text/html; charset=utf-8", body), body, nonce


def _agent(environ) -> str:
    return environ.get("HTTP_USER_AGENT", "")[:512]


def _private(content_type: str, body: bytes) -> list[tuple[str, str]]:
    return [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        *PRIVATE_HEADERS.items(),
    ]


def _is_secure(environ) -> bool:
    """HttpRequest.is_secure() on the environ."""
    if settings.SECURE_PROXY_SSL_HEADER:
        header, secure_value = settings.SECURE_PROXY_SSL_HEADER
        value = environ.get(header)
        if value is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return environ.get("wsgi.url_scheme") == "https"


def _security_headers(secure: bool, nonce: str | None) -> list[tuple[str, str]]:
    """What SecurityMiddleware, the clickjacking and the CSP middleware add to these answers
    (the private headers already set the referrer policy). Without a nonce they are the same
    for every answer: kept until a setting changes (tests)."""
    if nonce is None:
        if secure not in _headers_without_nonce:
            _headers_without_nonce[secure] = _build_security_headers(secure, None)
        return _headers_without_nonce[secure]
    return _build_security_headers(secure, nonce)


_headers_without_nonce: dict[bool, list[tuple[str, str]]] = {}


@receiver(setting_changed)
def _forget_headers(**kwargs):
    _headers_without_nonce.clear()


def _build_security_headers(secure: bool, nonce: str | None) -> list[tuple[str, str]]:
    headers = [("X-Frame-Options", "DENY")]
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append(("X-Content-Type-Options", "nosniff"))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
    if secure and settings.SECURE_HSTS_SECONDS:
        value = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            value += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            value += "; preload"
        headers.append(("Strict-Transport-Security", value))
    for header, config in (
        (CSP.HEADER_ENFORCE, settings.SECURE_CSP),
        (CSP.HEADER_REPORT_ONLY, settings.SECURE_CSP_REPORT_ONLY),
    ):
        if config:
            headers.append((str(header), build_policy(config, nonce)))
    return headers
