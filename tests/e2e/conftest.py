"""Browser journeys: Playwright (sync API) driving Debian's Chromium against pytest-django's
live server. No browser is ever downloaded: the system Chromium is used, headless.

Every page the journeys load is checked for server errors: a 5xx response fails the test.
On failure a screenshot is written to /tmp/e2e-<test name>.png.
"""

import contextlib
import os
import re
import shutil

import pytest
from django.conf import settings
from django.core.servers.basehttp import WSGIServer
from django.test.testcases import LiveServerThread

CHROMIUM = os.environ.get("REMPART_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000


class SerialWSGIServer(WSGIServer):
    """The live server, one request at a time. On SQLite every request thread shares the test's
    single in-memory connection, so two overlapping requests (an HTMX call still running when
    a form is posted) would open a transaction inside the other's; PostgreSQL gives each
    thread its own connection and keeps the threaded server."""

    def __init__(self, *args, connections_override=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.connections_override = connections_override


if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    LiveServerThread.server_class = SerialWSGIServer
SCREENSHOTS = os.environ.get("REMPART_E2E_SCREENSHOTS", "/tmp")  # noqa: S108 - failure screenshots


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.fail(f"Chromium introuvable ({CHROMIUM}) : apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in the test thread, and Django then
    # refuses ORM calls; those the journeys make (building data, reading mail) are plain
    # synchronous calls, so the guard is lifted while the browser is up, and only then.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(autouse=True)
def _e2e_settings(settings, live_server):
    """Links in e-mails point at the live server; rate-limit and TOTP caches start empty."""
    from django.core.cache import cache

    settings.SITE_URL = live_server.url
    cache.clear()
    yield
    cache.clear()


class Browsing:
    """A browser context (one person) whose pages are watched for server errors."""

    def __init__(self, browser, base_url: str, **options):
        self.context = browser.new_context(base_url=base_url, locale="fr-FR", **options)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.server_errors: list[str] = []
        self.pages = []

    def new_page(self):
        page = self.context.new_page()
        page.on("response", self._watch)
        self.pages.append(page)
        return page

    def _watch(self, response) -> None:
        if response.status >= 500:
            self.server_errors.append(f"{response.status} {response.request.method} {response.url}")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def browsing(browser, live_server, request):
    """`browsing()` opens a fresh browser context (a new person) and returns a page in it;
    keyword arguments are Playwright context options (e.g. `user_agent`)."""
    opened: list[Browsing] = []

    def open_page(**options):
        session = Browsing(browser, live_server.url, **options)
        opened.append(session)
        return session.new_page()

    yield open_page

    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    errors = [error for session in opened for error in session.server_errors]
    for index, session in enumerate(opened):
        if failed:
            for page_index, page in enumerate(session.pages):
                name = re.sub(r"[^\w-]", "_", request.node.name)
                # A screenshot must not hide the real failure.
                with contextlib.suppress(Exception):
                    page.screenshot(
                        path=f"{SCREENSHOTS}/e2e-{name}-{index}-{page_index}.png", full_page=True
                    )
        session.close()
    assert not errors, f"Erreur serveur pendant le parcours : {errors}"


@pytest.fixture
def page(browsing):
    return browsing()
