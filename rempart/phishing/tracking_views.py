"""Public endpoints of simulated phishing (mounted at /p/, no login: the recipient's token is
the only credential). See tracking.py for what is stored and how scanners are flagged.

- Every answer is the same whatever the token (valid, unknown, forged, malformed, cancelled or
  erased campaign) except where a valid token needs more: the landing page after a click, the
  campaign's teaching page. A dead token leads to the neutral teaching page, which names no
  campaign and no organisation; never a 404, never an error page.
- GET never writes, with two deliberate exceptions that ARE the tracking: the pixel (opened)
  and the link (clicked) are followed by mail clients with GET only. Submitting the form,
  reporting the message and the click confirmation beacon are POSTs.
- The POSTs are exempt from CSRF: no session or cookie is involved (these pages set none), the
  token in the URL is the credential, and a forged cross-site POST would need the token.
- Values typed on the landing page never leave `submit`: only the names of the non-empty
  fields are passed on; `sensitive_post_parameters()` masks them all in error reports, and
  nothing here logs the request.
- The landing page's HTML is written by the establishment or the CRRC: it is passed through an
  allow-list (tracking.safe_landing_html: no script, no event handler, no style, no form of its
  own) and shown inside the page's single form, posting to `submit`. The CSP stays strict: the
  only script is the confirmation beacon, inline with the request's nonce.
"""

import re
import secrets

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, HttpResponseRedirect
from django.middleware.csp import get_nonce
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import Resolver404, URLResolver, reverse
from django.urls.resolvers import RegexPattern
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import tracking
from .models import EventKind

# The smallest transparent GIF (1×1).
PIXEL_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


def _agent(request) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:512]


# The token is in the URL: never cached (never_cache's headers, set directly: cheaper on the
# hot path), never indexed, never sent on as a referrer. Also used by tracking_wsgi.py.
PRIVATE_HEADERS = {
    "Cache-Control": "max-age=0, no-cache, no-store, must-revalidate, private",
    "Expires": "0",
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
}

# Set by the tracking server's WSGI application (tracking_wsgi.py) when it has already stored
# the click and leaves the page to Django: (event, landing page) or None for a dead token. A
# WSGI environ key with a dot: no HTTP header can set it.
CLICK_RECORDED = "rempart.tracking.click_recorded"


def _private(response):
    if not response.streaming and not response.has_header("Content-Length"):
        response["Content-Length"] = str(len(response.content))  # (CommonMiddleware's job)
    for name, value in PRIVATE_HEADERS.items():
        response[name] = value
    return response


@login_not_required
@require_GET
def pixel(request, token: str):
    """The image of the message: the same 1×1 GIF for every token; records `opened`."""
    tracking.record_event(token=token, kind=EventKind.OPENED, user_agent=_agent(request))
    return _private(HttpResponse(PIXEL_GIF, content_type="image/gif"))


def _teaching(request, landing, *, beacon: dict | None = None):
    module_url, module_title = tracking.module_link(landing)
    context = {
        "title": landing.teaching_title if landing is not None else "Exercice de sensibilisation",
        "landing": landing,
        "module_url": module_url,
        "module_title": module_title,
        "beacon": beacon,
    }
    return _private(render(request, "phishing/public/teaching.html", context))


@login_not_required
@require_GET
def click(request, token: str):
    """The link of the message: records `clicked`, then shows the landing page (or straight
    the teaching page when the landing page has no form). A dead token: the neutral page."""
    if CLICK_RECORDED in request.META:
        recorded = request.META[CLICK_RECORDED]
    else:
        recorded = tracking.record_click(token=token, user_agent=_agent(request))
    if recorded is None:
        return _teaching(request, None)
    event, landing = recorded
    if not has_form(landing):
        beacon = {"url": route_url("phishing_tracking:confirm", token), "event": event.pk}
        return _teaching(request, landing, beacon=beacon)
    return _private(HttpResponse(landing_html(landing, token, event.pk, str(get_nonce(request)))))


def has_form(landing) -> bool:
    return landing is not None and bool(landing.form_html.strip())


def landing_html(landing, token: str, event_id: int, nonce: str) -> str:
    """The landing page shown after a click: its form posts to `submit`, its script (the CSP
    `nonce`) confirms click `event_id`."""
    return (
        _landing_page(landing)
        .replace(_SUBMIT, route_url("phishing_tracking:submit", token))
        .replace(_BEACON, route_url("phishing_tracking:confirm", token))
        .replace(_EVENT, str(event_id))
        .replace(_NONCE, nonce)
    )


# The landing page is the hot path of a click: it is rendered once per landing page (and
# version) with markers, which each click replaces by its own URLs, event and CSP nonce. The
# markers are random for each process: the author's HTML cannot contain them.
_MARK = secrets.token_hex(8)
_SUBMIT, _BEACON, _EVENT, _NONCE, _TOKEN = (f"{name}{_MARK}" for name in ("s", "b", "e", "n", "t"))
_pages: dict[tuple[int, object], str] = {}
_urls: dict[str, str] = {}


def route_url(name: str, token: str = "") -> str:
    """reverse(name, args=[token]) without walking the URL resolver each time (a token is
    made of URL-safe characters only, checked by tracking.is_token before any use)."""
    if name not in _urls:
        _urls[name] = reverse(name, args=[_TOKEN] if token else [])
    return _urls[name].replace(_TOKEN, token)


def _landing_page(landing) -> str:
    key = (landing.pk, landing.updated_at)
    page = _pages.get(key)
    if page is None:
        body, _names = tracking.safe_landing_html(landing.form_html)
        page = render_to_string(
            "phishing/public/landing.html",
            {
                "body": body,
                "has_submit": 'type="submit"' in body,
                "submit_url": _SUBMIT,
                "beacon": {"url": _BEACON, "event": _EVENT},
                "csp_nonce": _NONCE,
            },
        )
        if len(_pages) > 200:
            _pages.clear()
        _pages[key] = page
    return page


@login_not_required
@csrf_exempt
@require_POST
def confirm(request, token: str):
    """The landing page's script ran (a browser, a person): the click is confirmed."""
    tracking.confirm_click(token=token, event_id=request.POST.get("e"))
    return _private(HttpResponse(status=204))


@sensitive_variables()
def _filled_names(post) -> list[str]:
    """Names of the non-empty fields; the values are looked at here and nowhere else."""
    return [name for name in post if any(value.strip() for value in post.getlist(name))]


@login_not_required
@csrf_exempt
@sensitive_post_parameters()
@require_POST
def submit(request, token: str):
    """The landing page's form: records `submitted` with the NAMES of the filled fields only,
    then the teaching page."""
    landing = tracking.landing_for(token)
    if landing is None:
        return _private(redirect("phishing_tracking:neutral"))
    _body, shown = tracking.safe_landing_html(landing.form_html)
    tracking.record_submission(
        token=token,
        user_agent=_agent(request),
        filled=_filled_names(request.POST),
        allowed=[*landing.fields, *shown],
    )
    return _private(redirect("phishing_tracking:teaching", token))


@login_not_required
@require_GET
def teaching(request, token: str):
    """What the exercise teaches: the campaign's teaching page, or the neutral one."""
    return _teaching(request, tracking.landing_for(token))


@login_not_required
@require_GET
def neutral(request):
    return _teaching(request, None)


@login_not_required
@csrf_exempt
@require_http_methods(["GET", "POST"])
def report(request, token: str):
    """ "Report this message": GET shows a button (writes nothing), POST records `reported`.
    The same page and the same thanks for any token."""
    if request.method == "POST":
        tracking.record_event(token=token, kind=EventKind.REPORTED, user_agent=_agent(request))
        return _private(HttpResponseRedirect(route_url("phishing_tracking:report_thanks")))
    return _private(
        render(request, "phishing/public/report.html", {"title": "Signaler ce message"})
    )


@login_not_required
@require_GET
def report_thanks(request):
    return _private(
        render(
            request, "phishing/public/report_thanks.html", {"title": "Merci de votre signalement"}
        )
    )


class TrackingFastPathMiddleware:
    """Serves the public tracking routes straight after the CSP middleware, skipping the
    middleware they do not use (session, locale, CSRF, authentication, login, messages, allauth,
    htmx, MFA, audit, request logging): the pixel and the link are hit by every recipient and
    every mail scanner, and must stay cheap (bench/tracking.py). The views are the same as
    through the full stack (they need no user, no session, no CSRF); only the headers the
    skipped middleware would add are set here (X-Frame-Options; the CSP middleware, before
    this one, still adds the policy and its nonce). Not logging these requests also keeps the
    recipients' IP addresses out of the request log.

    Installed in settings.MIDDLEWARE right after
    "django.middleware.csp.ContentSecurityPolicyMiddleware".
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.prefix = None
        self.resolver = None

    def __call__(self, request):
        if self.prefix is None:
            neutral = reverse("phishing_tracking:neutral")  # "/p/apprendre/"
            self.prefix = neutral[: neutral.rstrip("/").rfind("/") + 1]  # "/p/"
            # Only the tracking routes are tried (not the whole project's URL tree).
            self.resolver = URLResolver(
                RegexPattern("^" + re.escape(self.prefix)), "rempart.phishing.tracking_urls"
            )
        path = request.path_info
        if not path.startswith(self.prefix):
            return self.get_response(request)
        try:
            match = self.resolver.resolve(path)
        except Resolver404:
            return self.get_response(request)
        response = match.func(request, *match.args, **match.kwargs)
        if "X-Frame-Options" not in response:
            response["X-Frame-Options"] = "DENY"
        return response
