"""The sending engine: planning (window, spread, DST, weekends), rate limit, SMTP into a real
aiosmtpd sink on 127.0.0.1, retries and failures, claims of dead workers, pause / resume,
permissions, anonymous erasure and the purge of pseudonymous identities."""

from __future__ import annotations

import datetime
import socket
import threading
import time

import pytest
from aiosmtpd.controller import Controller
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.phishing import sending
from rempart.phishing.models import (
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    SendingProfile,
    SendStatus,
)

from .factories import mandate, phishing_world, sending_campaign
from .smtp_sink import Sink, free_port

pytestmark = pytest.mark.django_db
PARIS = sending.PARIS


@pytest.fixture
def world():
    return phishing_world()


def emails(n):
    return [f"personne{i}@exemple.fr" for i in range(n)]


def run():
    return sending.run_once(budget_s=10)


# --- Planning ---------------------------------------------------------------------------------


def paris(*args):
    return datetime.datetime(*args, tzinfo=PARIS)


def test_windows_skip_weekends_and_keep_the_daily_window():
    # Friday 2026-03-06 16:00 → Monday 2026-03-09 10:00, 9:00–17:00, weekdays only.
    found = sending.windows(
        paris(2026, 3, 6, 16), paris(2026, 3, 9, 10), datetime.time(9), datetime.time(17), True
    )
    assert [(lo.astimezone(PARIS), hi.astimezone(PARIS)) for lo, hi in found] == [
        (paris(2026, 3, 6, 16), paris(2026, 3, 6, 17)),
        (paris(2026, 3, 9, 9), paris(2026, 3, 9, 10)),
    ]
    times = sending.spread_times(4, found)
    assert [t.astimezone(PARIS) for t in times] == [
        paris(2026, 3, 6, 16),
        paris(2026, 3, 6, 16, 30),
        paris(2026, 3, 9, 9),
        paris(2026, 3, 9, 9, 30),
    ]
    # Weekends allowed: Saturday and Sunday count too.
    every_day = sending.windows(
        paris(2026, 3, 6, 16), paris(2026, 3, 9, 10), datetime.time(9), datetime.time(17), False
    )
    assert len(every_day) == 4


def test_windows_have_their_real_length_when_the_clocks_change():
    night = (datetime.time(0), datetime.time(4))
    spring = sending.windows(paris(2026, 3, 29, 0), paris(2026, 3, 30, 0), *night, False)
    autumn = sending.windows(paris(2026, 10, 25, 0), paris(2026, 10, 26, 0), *night, False)
    assert [(hi - lo) for lo, hi in spring] == [datetime.timedelta(hours=3)]
    assert [(hi - lo) for lo, hi in autumn] == [datetime.timedelta(hours=5)]
    # 9:00 Paris is 08:00 UTC in winter and 07:00 UTC in summer.
    office = (datetime.time(9), datetime.time(17))
    both = sending.windows(paris(2026, 3, 27, 0), paris(2026, 3, 31, 0), *office, True)
    assert [lo.astimezone(datetime.UTC).hour for lo, _ in both] == [8, 7]
    # Spread over those two days: every instant is inside 9:00–17:00 Paris time.
    for at in sending.spread_times(50, both):
        local = at.astimezone(PARIS)
        assert local.weekday() < 5
        assert 9 <= local.hour < 17


def test_plan_spreads_every_recipient_inside_the_window(world, sink):
    now = timezone.now()
    campaign = sending_campaign(
        world,
        emails(30),
        port=sink.port,
        starts_at=now + datetime.timedelta(hours=1),
        spread_until=now + datetime.timedelta(days=10),
        window=(datetime.time(9), datetime.time(17)),
        weekdays_only=True,
    )
    assert sending.plan_campaign(campaign.pk) == 30
    assert sending.plan_campaign(campaign.pk) == 0  # idempotent
    times = sorted(campaign.recipients.values_list("next_attempt_at", flat=True))
    assert len(set(times)) == 30
    for at in times:
        local = at.astimezone(PARIS)
        assert campaign.starts_at <= at <= campaign.spread_until
        assert local.weekday() < 5
        assert datetime.time(9) <= local.time() < datetime.time(17)
    assert times[-1] - times[0] > datetime.timedelta(days=5)  # spread, not bunched


def test_no_slot_in_the_period_is_shown_on_the_campaign(world, sink):
    saturday = paris(2030, 1, 5, 10)
    campaign = sending_campaign(
        world,
        emails(2),
        port=sink.port,
        starts_at=saturday,
        spread_until=saturday + datetime.timedelta(hours=5),
        window=(datetime.time(9), datetime.time(17)),
        weekdays_only=True,
    )
    assert sending.plan_campaign(campaign.pk, now=saturday) == 0
    campaign.refresh_from_db()
    assert "Aucun créneau" in campaign.last_error
    assert not campaign.recipients.filter(next_attempt_at__isnull=False).exists()


# --- Rate limit -------------------------------------------------------------------------------


def _profile(world, rate):
    return SendingProfile.objects.create(
        organisation=world.hospital,
        name=f"Débit {rate}",
        host="127.0.0.1",
        port=25,
        tls_mode="none",
        from_address="envoi@exemple.fr",
        rate_per_second=rate,
    )


@override_settings(REDIS_URL=None, CELERY_BROKER_URL=None)
def test_database_bucket_second_resolution(world):
    slow = _profile(world, "0.5")
    assert sending.take_tokens(slow.pk, 0.5, 10) == (1, 0.0)
    granted, wait = sending.take_tokens(slow.pk, 0.5, 10)
    assert granted == 0
    assert 1.9 < wait <= 2.0
    # Two seconds later, one more message.
    SendingProfile.objects.filter(pk=slow.pk).update(
        rate_checked_at=timezone.now() - datetime.timedelta(seconds=2)
    )
    assert sending.take_tokens(slow.pk, 0.5, 10)[0] == 1
    fast = _profile(world, 200)
    assert sending.take_tokens(fast.pk, 200.0, 500)[0] == 200  # one second's worth at most
    assert sending.take_tokens(fast.pk, 200.0, 500)[0] == 0


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.mark.skipif(not _redis_answers(), reason="Redis ne répond pas sur 127.0.0.1:6379")
def test_redis_bucket_second_resolution(world):
    import redis

    url = "redis://127.0.0.1:6379/15"
    profile = _profile(world, "0.5")
    client = redis.Redis.from_url(url)
    client.delete(f"rempart:phishing:bucket:{profile.pk}")
    with override_settings(REDIS_URL=url):
        assert sending._redis_url() == url
        assert sending.take_tokens(profile.pk, 0.5, 10) == (1, 0.0)
        granted, wait = sending.take_tokens(profile.pk, 0.5, 10)
        assert granted == 0
        assert 1.5 < wait <= 2.0
        time.sleep(wait + 0.05)
        assert sending.take_tokens(profile.pk, 0.5, 10)[0] == 1
    client.delete(f"rempart:phishing:bucket:{profile.pk}")
    client.close()


@override_settings(REDIS_URL=None, CELERY_BROKER_URL=None)
def test_sender_keeps_to_the_profile_rate(world, sink):
    campaign = sending_campaign(world, emails(10), port=sink.port, rate=5)
    sending.sweep()
    started = time.monotonic()
    result = sending.send_due(campaign.sending_profile_id, budget_s=10)
    elapsed = time.monotonic() - started
    assert result.sent == 10
    assert len(sink.messages) == 10
    assert elapsed >= 0.9  # 5 at once (one second's worth), the next 5 one second later


# --- Sending into a real SMTP sink ------------------------------------------------------------


def test_messages_are_sent_once_with_their_tracking_links(world, sink):
    campaign = sending_campaign(world, emails(3), port=sink.port)
    accented = campaign.recipients.order_by("pk").first()
    accented.first_name, accented.last_name = "Éloïse", "Lefèvre-Dupré"
    accented.save()
    report = run()
    assert report["sent"] == 3
    assert len(sink.messages) == 3
    assert {m[0] for m in sink.messages} == {"envoi@exemple.fr"}  # envelope: the profile's
    tokens = set(campaign.recipients.values_list("token", flat=True))
    assert set(sink.tokens()) == tokens
    for message in sink.parsed():
        token = message[sending.TOKEN_HEADER]
        person = campaign.recipients.get(token=token)
        assert message["To"] == person.email
        assert message["From"] == "Service courrier <courrier@exemple.fr>"
        assert message["Subject"] == f"Votre colis {person.first_name}"
        assert message.get_content_type() == "multipart/alternative"
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        urls = sending.tracking_urls(token)
        assert urls["click"].startswith("http")
        assert token in urls["click"]
        assert f"Bonjour {person.first_name}, voir {urls['click']}" in text
        assert f'<a href="{urls["click"]}">' in html
        assert f'<img src="{urls["pixel"]}" width="1" height="1" alt="">' in html
        assert f"{person.first_name} {person.last_name}" in html
        assert message["Message-ID"].strip().endswith("@exemple.fr>")
        assert message[sending.REPORT_HEADER].strip() == urls["report"]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DONE
    assert campaign.closed_at
    assert set(campaign.recipients.values_list("send_status", flat=True)) == {SendStatus.SENT}
    assert all(r.sent_at and r.attempts == 1 for r in campaign.recipients.all())
    # Another pass sends nothing again.
    assert run()["sent"] == 0
    assert len(sink.messages) == 3


def test_tracking_urls_follow_the_public_routes():
    urls = sending.tracking_urls("jeton")
    for kind in ("click", "pixel", "report"):
        try:
            path = reverse(f"phishing_tracking:{kind}", args=["jeton"])
        except Exception:  # (public tracking routes not there yet: the documented fallback)
            path = sending._route_pattern(f"phishing_tracking:{kind}").replace("TOKEN", "jeton")
        assert urls[kind].endswith(path)
        assert urls[kind].startswith("http")


def test_campaign_starts_only_when_due(world, sink):
    now = timezone.now()
    campaign = sending_campaign(
        world,
        emails(2),
        port=sink.port,
        starts_at=now + datetime.timedelta(hours=2),
        spread_until=now + datetime.timedelta(hours=3),
    )
    report = run()
    assert report["planned"] == 2
    assert report["sent"] == 0
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED
    assert not sink.messages


def test_anonymous_mode_erases_the_identity_once_sent(world, sink):
    campaign = sending_campaign(world, emails(2), port=sink.port, privacy="anonymous")
    sink.refuse["personne1@exemple.fr"] = "550 No such user"
    run()
    sent = campaign.recipients.get(send_status=SendStatus.SENT)
    failed = campaign.recipients.get(send_status=SendStatus.FAILED)
    assert (sent.email, sent.first_name, sent.last_name) == ("", "", "")
    assert failed.email == "personne1@exemple.fr"
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DONE
    # Closed: the address that was not used goes too.
    assert sending.purge_identities() == 1
    assert set(campaign.recipients.values_list("email", flat=True)) == {""}


def test_pseudonymous_identities_are_erased_after_the_retention(world, sink):
    campaign = sending_campaign(world, emails(2), port=sink.port, retention_days=10)
    run()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DONE
    assert all(r.email and r.first_name for r in campaign.recipients.all())
    assert sending.purge_identities() == 0
    later = campaign.closed_at + datetime.timedelta(days=10, minutes=1)
    assert sending.purge_identities(now=later) == 1
    campaign.refresh_from_db()
    assert campaign.identities_erased_at == later
    assert {(r.email, r.first_name, r.last_name) for r in campaign.recipients.all()} == {
        ("", "", "")
    }
    assert campaign.recipients.filter(send_status=SendStatus.SENT).count() == 2


# --- Failures ---------------------------------------------------------------------------------


def test_unreachable_server_is_shown_retried_then_failed(world, client):
    campaign = sending_campaign(world, emails(2), port=free_port())  # nobody listens
    report = run()
    assert report["sent"] == 0
    assert report["retried"] == 2
    assert "injoignable" in report["errors"][0]
    campaign.refresh_from_db()
    assert "injoignable" in campaign.last_error
    rows = list(campaign.recipients.all())
    assert all(r.send_status == SendStatus.PENDING and r.attempts == 1 for r in rows)
    assert all(r.next_attempt_at > timezone.now() + datetime.timedelta(seconds=50) for r in rows)
    assert all("injoignable" in r.last_error and r.sent_at is None for r in rows)
    # The campaign page's panel shows it.
    client.force_login(world.rssi)
    page = client.get(reverse("phishing:campaign_sending", args=[campaign.pk]))
    assert page.status_code == 200
    assert "injoignable" in page.content.decode()
    # Back-off doubles; after MAX_ATTEMPTS tries the rows are failed and the campaign done.
    for attempt in range(2, sending.MAX_ATTEMPTS + 1):
        campaign.recipients.update(next_attempt_at=timezone.now())
        run()
        row = campaign.recipients.first()
        assert row.attempts == attempt
    assert set(campaign.recipients.values_list("send_status", flat=True)) == {SendStatus.FAILED}
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DONE
    assert sending._backoff(2) == 2 * sending._backoff(1)


def test_temporary_refusal_is_retried_permanent_one_fails_at_once(world, sink):
    campaign = sending_campaign(world, emails(3), port=sink.port)
    sink.refuse["personne0@exemple.fr"] = "450 Mailbox busy"
    sink.refuse["personne1@exemple.fr"] = "550 No such user"
    run()
    by_email = {r.email: r for r in campaign.recipients.all()}
    assert by_email["personne0@exemple.fr"].send_status == SendStatus.PENDING
    assert "450" in by_email["personne0@exemple.fr"].last_error
    assert by_email["personne1@exemple.fr"].send_status == SendStatus.FAILED
    assert "550" in by_email["personne1@exemple.fr"].last_error
    assert by_email["personne2@exemple.fr"].send_status == SendStatus.SENT
    del sink.refuse["personne0@exemple.fr"]
    campaign.recipients.filter(send_status=SendStatus.PENDING).update(
        next_attempt_at=timezone.now()
    )
    run()
    assert sink.tokens().most_common(1)[0][1] == 1  # nobody twice
    assert campaign.recipients.filter(send_status=SendStatus.SENT).count() == 2


def test_claims_of_a_dead_worker(world, sink, settings):
    settings.PHISHING_CLAIM_LEASE_S = 30
    campaign = sending_campaign(world, emails(4), port=sink.port)
    sending.sweep()
    ids = sending.claim(campaign.sending_profile_id, [campaign.pk], 4, "mort:1")
    assert len(ids) == 4
    # Claimed rows are not given to anybody else.
    assert sending.claim(campaign.sending_profile_id, [campaign.pk], 4, "vivant:2") == []
    # The dead worker had written the final dot of one message (outcome unknown).
    CampaignRecipient.objects.filter(pk=ids[0]).update(handed_over_at=timezone.now())
    assert run()["sent"] == 0  # the lease runs
    CampaignRecipient.objects.filter(pk__in=ids).update(
        claimed_at=timezone.now() - datetime.timedelta(seconds=31)
    )
    report = run()
    assert report["unknown"] == 1
    assert report["released"] == 3
    assert report["sent"] == 3
    unknown = CampaignRecipient.objects.get(pk=ids[0])
    assert unknown.send_status == SendStatus.FAILED
    assert unknown.sent_at is None
    assert "pas renvoyé" in unknown.last_error
    assert unknown.token not in sink.tokens()
    assert sum(sink.tokens().values()) == 3


# --- Pause, resume, send now, permissions -----------------------------------------------------


def test_pause_and_resume(world, sink):
    campaign = sending_campaign(world, emails(3), port=sink.port)
    paused = sending.campaign_pause(actor=world.rssi, campaign=campaign)
    assert paused.status == CampaignStatus.PAUSED
    assert run()["sent"] == 0
    assert not sink.messages
    with pytest.raises(DomainError):
        sending.campaign_pause(actor=world.rssi, campaign=paused)
    resumed = sending.campaign_resume(actor=world.rssi, campaign=paused)
    assert resumed.status == CampaignStatus.SCHEDULED  # nothing had gone yet
    assert run()["sent"] == 3
    resumed.refresh_from_db()
    assert resumed.status == CampaignStatus.DONE
    with pytest.raises(DomainError):
        sending.campaign_resume(actor=world.rssi, campaign=resumed)
    # Audited.
    from rempart.core.models import AuditEntry

    changes = [e.changes_dict.get("status") for e in AuditEntry.objects.get_for_object(resumed)]
    assert ["scheduled", "paused"] in changes
    assert ["paused", "scheduled"] in changes


def test_send_now_ignores_spread_and_window(world, sink):
    now = timezone.now()
    campaign = sending_campaign(
        world,
        emails(3),
        port=sink.port,
        starts_at=now + datetime.timedelta(days=2),
        spread_until=now + datetime.timedelta(days=5),
        window=(datetime.time(9), datetime.time(9, 1)),
    )
    run()
    assert not sink.messages
    sending.campaign_send_now(actor=world.rssi, campaign=campaign)
    assert run()["sent"] == 3


def test_who_may_pause_resume_and_send_now(world, sink, client):
    campaign = sending_campaign(world, emails(1), port=sink.port)
    for user in (world.staff, world.outsider_rssi, world.crrc_operator, world.ars_manager):
        for service in (sending.campaign_pause, sending.campaign_send_now):
            with pytest.raises(DomainError) as excinfo:
                service(actor=user, campaign=campaign)
            assert excinfo.value.code == "forbidden"
    # Views: invisible → 404, visible without the right → 403, GET refused.
    url = reverse("phishing:campaign_pause", args=[campaign.pk])
    client.force_login(world.outsider_rssi)
    assert client.post(url).status_code == 403
    assert client.post(reverse("phishing:campaign_pause", args=[99999])).status_code == 404
    client.force_login(world.rssi)
    assert client.get(url).status_code == 405
    response = client.post(url)
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED
    panel = client.get(reverse("phishing:campaign_sending", args=[campaign.pk])).content.decode()
    assert reverse("phishing:campaign_resume", args=[campaign.pk]) in panel
    assert reverse("phishing:campaign_pause", args=[campaign.pk]) not in panel
    client.post(reverse("phishing:campaign_resume", args=[campaign.pk]))
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED


def test_delegated_campaign_controlled_by_the_crrc_only(world, sink, client):
    given = mandate(world)
    campaign = sending_campaign(world, emails(1), port=sink.port, mandate_=given)
    # The establishment sees the campaign and its progress, but has no button (it may cancel).
    client.force_login(world.rssi)
    panel = client.get(reverse("phishing:campaign_sending", args=[campaign.pk]))
    assert panel.status_code == 200
    assert "Mettre en pause" not in panel.content.decode()
    response = client.post(reverse("phishing:campaign_pause", args=[campaign.pk]))
    assert response.status_code == 403
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SCHEDULED
    client.force_login(world.trainer)
    panel = client.get(reverse("phishing:campaign_sending", args=[campaign.pk])).content.decode()
    assert "Mettre en pause" in panel
    sending.campaign_pause(actor=world.trainer, campaign=campaign)
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.PAUSED


def test_panel_figures(world, sink):
    campaign = sending_campaign(world, emails(3), port=sink.port)
    sink.refuse["personne1@exemple.fr"] = "550 No such user"
    context = sending.sending_panel(world.rssi, campaign)
    progress = context["sending"]
    assert (progress.planned, progress.sent, progress.failed, progress.pending) == (3, 0, 0, 3)
    assert progress.can_pause
    assert not progress.can_resume
    assert progress.live
    run()
    campaign.refresh_from_db()
    progress = sending.sending_panel(world.rssi, campaign)["sending"]
    assert (progress.sent, progress.failed, progress.percent) == (2, 1, 100)
    assert not progress.can_pause
    assert progress.next_send_at is None
    assert not progress.live


def test_management_command_once(world, sink, capsys):
    sending_campaign(world, emails(2), port=sink.port)
    call_command("send_phishing", "--once")
    assert "envoyés : 2" in capsys.readouterr().out
    assert len(sink.messages) == 2


# --- Concurrent senders -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_senders_never_send_twice(sink):
    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("Concurrent writers: PostgreSQL (SQLite has one writer at a time)")
    world = phishing_world()
    campaign = sending_campaign(world, emails(120), port=sink.port)
    errors, results = [], []

    def sender():
        try:
            results.append(sending.send_due(campaign.sending_profile_id, budget_s=20).sent)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sender) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    counts = sink.tokens()
    assert len(counts) == 120
    assert max(counts.values()) == 1
    assert campaign.recipients.filter(send_status=SendStatus.SENT).count() == 120
    assert sum(results) == 120  # each row counted by the one sender that sent it
    assert not CampaignRecipient.objects.exclude(claimed_by="").exists()


# --- TLS and login ----------------------------------------------------------------------------


@pytest.fixture
def certificate(tmp_path, settings):
    """A self-signed certificate for 127.0.0.1, trusted through PHISHING_SMTP_CA_FILE."""
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = [
        *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
        *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
        *("-addext", "subjectAltName=IP:127.0.0.1"),
    ]
    subprocess.run(command, check=True, capture_output=True)  # noqa: S603 (fixed arguments)
    settings.PHISHING_SMTP_CA_FILE = str(cert)
    return cert, key


def _starttls_server(certificate, logins):
    import ssl

    from aiosmtpd.smtp import AuthResult

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        if auth_data.password == b"mot-de-passe-smtp":
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False, message="535 5.7.8 Identifiants refusés")

    handler = Sink()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=authenticator,
        auth_required=True,
        tls_context=context,
        require_starttls=True,
    )
    controller.start()
    return controller, handler


def test_starttls_and_login_with_the_encrypted_password(world, certificate):
    logins = []
    controller, handler = _starttls_server(certificate, logins)
    try:
        campaign = sending_campaign(world, emails(2), port=controller.port)
        SendingProfile.objects.filter(pk=campaign.sending_profile_id).update(
            tls_mode="starttls", username="envoi"
        )
        profile = SendingProfile.objects.get(pk=campaign.sending_profile_id)
        profile.password = "mot-de-passe-smtp"  # (stored encrypted by the field)
        profile.save()
        assert run()["sent"] == 2
        assert len(handler.messages) == 2
        assert logins == [(b"envoi", b"mot-de-passe-smtp")]
        # A wrong password: the campaign shows it, nothing is marked sent.
        campaign2 = sending_campaign(world, emails(1), port=controller.port, name="Autre")
        SendingProfile.objects.filter(pk=campaign2.sending_profile_id).update(
            tls_mode="starttls", username="envoi"
        )
        wrong = SendingProfile.objects.get(pk=campaign2.sending_profile_id)
        wrong.password = "pas-le-bon"
        wrong.save()
        report = run()
        assert report["sent"] == 0
        campaign2.refresh_from_db()
        assert "Identifiants SMTP refusés" in campaign2.last_error
        assert not campaign2.recipients.filter(send_status=SendStatus.SENT).exists()
    finally:
        controller.stop()


def test_untrusted_certificate_is_refused(world, certificate, settings):
    logins = []
    controller, handler = _starttls_server(certificate, logins)
    settings.PHISHING_SMTP_CA_FILE = None  # the system's authorities only
    try:
        campaign = sending_campaign(world, emails(1), port=controller.port)
        SendingProfile.objects.filter(pk=campaign.sending_profile_id).update(tls_mode="starttls")
        assert run()["sent"] == 0
        campaign.refresh_from_db()
        assert "CERTIFICATE_VERIFY_FAILED" in campaign.last_error
        assert not handler.messages
        assert not logins
    finally:
        controller.stop()
