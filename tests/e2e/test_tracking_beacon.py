"""The click confirmation in a real browser (Playwright + Debian's Chromium, headless): the
landing page's script runs under the strict CSP (nonce), posts its beacon on the first
interaction, and the click loses its `no_js` flag; a client that runs no script (a scanner)
leaves it flagged. Then the form: only the names of the filled fields are kept."""

from __future__ import annotations

import time
import urllib.request

import pytest

from rempart.phishing.models import TrackingEvent
from rempart.phishing.tests.test_tracking import (  # noqa: F401  (fixtures)
    BROWSER,
    _fresh_landing_cache,
    campaign,
    token,
    world,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def person(browsing):
    """A page with an ordinary desktop user-agent (headless Chromium announces itself as
    HeadlessChrome, a scanner's marker), recording the CSP violations it reports."""
    page = browsing(user_agent=BROWSER)
    page.csp_errors = []
    page.on(
        "console",
        lambda message: (
            page.csp_errors.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    return page


def _wait_for(condition, seconds=5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_the_beacon_confirms_a_human_click_under_the_csp(person, live_server, campaign, token):  # noqa: F811
    page = person
    page.goto(f"/p/c/{token}/")
    click = TrackingEvent.objects.get(kind="clicked")
    assert click.bot_reason == "no_js"
    page.mouse.move(100, 100)
    page.mouse.move(200, 150)
    assert _wait_for(lambda: not TrackingEvent.objects.get(pk=click.pk).suspected_bot)
    assert page.csp_errors == []

    page.get_by_label("Identifiant").fill("jdupont")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(f"**/p/c/{token}/apprendre/")
    assert page.locator("h1").inner_text() == "C'était un exercice"
    submitted = TrackingEvent.objects.get(kind="submitted")
    assert submitted.filled_fields == ["identifiant"]


def test_a_client_that_runs_no_script_stays_flagged(live_server, token):  # noqa: F811
    request = urllib.request.Request(  # noqa: S310 - the live server on loopback
        f"{live_server.url}/p/c/{token}/", headers={"User-Agent": BROWSER}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        assert response.status == 200
    time.sleep(0.5)
    click = TrackingEvent.objects.get(kind="clicked")
    assert (click.suspected_bot, click.bot_reason) == (True, "no_js")
