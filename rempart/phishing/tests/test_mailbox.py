"""The reporting mailbox, polled over IMAP: against a real IMAP server on 127.0.0.1 (a minimal
one, below, speaking the commands imaplib sends: CAPABILITY, LOGIN, SELECT, UID SEARCH,
UID FETCH, UID STORE, LOGOUT, plus implicit TLS with a throwaway certificate)."""

from __future__ import annotations

import base64
import datetime
import quopri
import re
import socketserver
import ssl
import threading
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from django.utils import timezone

from rempart.core.errors import DomainError
from rempart.core.models import AuditEntry
from rempart.phishing import mailbox as mb
from rempart.phishing import services
from rempart.phishing.models import (
    CampaignRecipient,
    EventKind,
    ReportedMessage,
    ReportMailbox,
    TrackingEvent,
)

from .factories import group_with, landing, mandate, phishing_world, profile, template

pytestmark = pytest.mark.django_db

USER, PASSWORD = "signalement@ch-test.fr", "mot de passe IMAP"


# --- A minimal IMAP4rev1 server -------------------------------------------------------------------


class ImapState:
    def __init__(self):
        self.lock = threading.Lock()
        self.messages: list[dict] = []  # {"uid", "raw", "seen"}
        self.next_uid = 1
        self.logins: list[tuple[str, str]] = []
        self.commands: list[str] = []

    def add(self, raw: bytes) -> int:
        with self.lock:
            uid = self.next_uid
            self.next_uid += 1
            self.messages.append({"uid": uid, "raw": raw, "seen": False})
            return uid

    def seen(self) -> list[int]:
        return [m["uid"] for m in self.messages if m["seen"]]


ARG = re.compile(rb'"((?:[^"\\]|\\.)*)"|(\([^)]*\))|(\S+)')


def _args(line: bytes) -> list[bytes]:
    out = []
    for quoted, paren, atom in ARG.findall(line):
        out.append(paren or atom or re.sub(rb"\\(.)", rb"\1", quoted))
    return out


class ImapHandler(socketserver.StreamRequestHandler):
    state: ImapState

    def send(self, text: bytes) -> None:
        self.wfile.write(text)
        self.wfile.flush()

    def handle(self):
        state = self.server.state
        logged_in = False
        self.send(b"* OK [CAPABILITY IMAP4rev1] Test IMAP ready\r\n")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            line = line.rstrip(b"\r\n")
            tag, _, rest = line.partition(b" ")
            command, _, args = rest.partition(b" ")
            command = command.upper()
            state.commands.append(command.decode())
            if command == b"CAPABILITY":
                self.send(b"* CAPABILITY IMAP4rev1\r\n" + tag + b" OK done\r\n")
            elif command == b"LOGIN":
                user, password = _args(args)[:2]
                state.logins.append((user.decode(), password.decode()))
                if (user.decode(), password.decode()) == (USER, PASSWORD):
                    logged_in = True
                    self.send(tag + b" OK LOGIN completed\r\n")
                else:
                    self.send(tag + b" NO [AUTHENTICATIONFAILED] Invalid credentials\r\n")
            elif command == b"SELECT" and logged_in:
                folder = _args(args)[0]
                if folder.upper() != b"INBOX":
                    self.send(tag + b" NO [NONEXISTENT] Unknown mailbox\r\n")
                    continue
                self.send(
                    b"* %d EXISTS\r\n* 0 RECENT\r\n* FLAGS (\\Seen)\r\n" % len(state.messages)
                    + tag
                    + b" OK [READ-WRITE] SELECT completed\r\n"
                )
            elif command == b"UID" and logged_in:
                self.uid(tag, args, state)
            elif command == b"LOGOUT":
                self.send(b"* BYE bye\r\n" + tag + b" OK LOGOUT completed\r\n")
                return
            else:
                self.send(tag + b" BAD unknown or not allowed\r\n")

    def uid(self, tag, args, state):
        sub, _, rest = args.partition(b" ")
        sub = sub.upper()
        with state.lock:
            index = {m["uid"]: (i + 1, m) for i, m in enumerate(state.messages)}
            if sub == b"SEARCH":
                assert rest.upper() == b"UNSEEN", rest
                uids = b" ".join(b"%d" % m["uid"] for m in state.messages if not m["seen"])
                self.send(b"* SEARCH " + uids + b"\r\n" + tag + b" OK SEARCH completed\r\n")
            elif sub == b"FETCH":
                uid, _, items = rest.partition(b" ")
                seq, message = index[int(uid)]
                raw = message["raw"]
                if b"PEEK" not in items.upper():
                    message["seen"] = True
                self.send(
                    b"* %d FETCH (UID %d BODY[] {%d}\r\n" % (seq, message["uid"], len(raw))
                    + raw
                    + b")\r\n"
                    + tag
                    + b" OK FETCH completed\r\n"
                )
            elif sub == b"STORE":
                uid, _, flags = rest.partition(b" ")
                seq, message = index[int(uid)]
                assert flags.upper().startswith(b"+FLAGS")
                assert b"\\SEEN" in flags.upper()
                message["seen"] = True
                self.send(
                    b"* %d FETCH (UID %d FLAGS (\\Seen))\r\n" % (seq, message["uid"])
                    + tag
                    + b" OK STORE completed\r\n"
                )
            else:
                self.send(tag + b" BAD unknown UID command\r\n")


class TlsImapHandler(ImapHandler):
    def setup(self):
        self.request = self.server.tls.wrap_socket(self.request, server_side=True)
        super().setup()


class ImapServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _start(handler, tls=None):
    server = ImapServer(("127.0.0.1", 0), handler)
    server.state = ImapState()
    server.tls = tls
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server


@pytest.fixture
def imap():
    server = _start(ImapHandler)
    yield server
    server.shutdown()
    server.server_close()


def _self_signed(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


# --- World ----------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def loopback(settings):
    settings.PHISHING_INTEGRATIONS_ALLOW_LOOPBACK = True


@pytest.fixture
def world():
    return phishing_world()


def scheduled_campaign(world, actor, organisation=None, mandate_=None, emails=None, name="Automne"):
    operator = mandate_.crrc if mandate_ else organisation
    target = mandate_.establishment if mandate_ else organisation
    now = timezone.now()
    campaign = services.campaign_create(
        actor=actor,
        organisation=None if mandate_ else organisation,
        mandate=mandate_,
        name=name,
        templates=[template(actor, operator, name=f"Colis {name}")],
        landing_page=landing(actor, operator, name=f"Portail {name}"),
        sending_profile=profile(actor, operator, name=f"SMTP {name}"),
        groups=[
            group_with(
                world.rssi if mandate_ else actor,
                target,
                emails or ["a@exemple.fr", "b@exemple.fr"],
                name=f"G {name}",
            )
        ],
        starts_at=now + datetime.timedelta(hours=1),
        spread_until=now + datetime.timedelta(days=3),
        staff_information="Les personnels ont été informés.",
        legal_basis="Intérêt légitime",
    )
    services.campaign_schedule(actor=actor, campaign=campaign)
    return campaign


def tokens_of(campaign) -> list[str]:
    return list(
        CampaignRecipient.objects.filter(campaign=campaign)
        .order_by("pk")
        .values_list("token", flat=True)
    )


def phishing_message(token: str) -> EmailMessage:
    """The message as the sending engine sends it."""
    message = EmailMessage()
    message["From"] = "Service courrier <courrier@exemple.fr>"
    message["To"] = "a@exemple.fr"
    message["Subject"] = "Votre colis"
    message["Message-ID"] = make_msgid()
    message[mb.TOKEN_HEADER] = token
    message.set_content(f"Bonjour, voir https://rempart.test/p/c/{token}/")
    message.add_alternative(
        f'<p><a href="https://rempart.test/p/c/{token}/">Voir</a>'
        f'<img src="https://rempart.test/p/o/{token}.gif"></p>',
        subtype="html",
    )
    return message


def forwarded_as_attachment(original: EmailMessage) -> bytes:
    wrapper = EmailMessage()
    wrapper["From"] = "a@exemple.fr"
    wrapper["To"] = USER
    wrapper["Subject"] = "TR: Votre colis"
    wrapper["Message-ID"] = make_msgid()
    wrapper.set_content("Message suspect, voir la pièce jointe.")
    wrapper.add_attachment(original)
    return wrapper.as_bytes()


def forwarded_inline(body_html: str, encoding: str) -> bytes:
    """A client that forwards inline: the headers are lost, the links stay in the body,
    encoded quoted-printable or base64."""
    data = body_html.encode("utf-8")
    if encoding == "quoted-printable":
        payload = quopri.encodestring(data).decode()
    else:
        payload = base64.encodebytes(data).decode()
    return (
        "From: b@exemple.fr\r\n"
        f"To: {USER}\r\n"
        "Subject: TR: Votre colis\r\n"
        f"Message-ID: {make_msgid()}\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
        f"{payload}"
    ).encode()


def make_mailbox(world, server, organisation=None, actor=None, **extra):
    data = {
        "name": "Signalements",
        "address": USER,
        "host": "127.0.0.1",
        "port": server.server_address[1],
        "tls_mode": "none",
        "username": USER,
        "password": PASSWORD,
        "folder": "INBOX",
        "active": True,
    }
    data.update(extra)
    return mb.mailbox_create(
        actor=actor or world.rssi, organisation=organisation or world.hospital, **data
    )


def reported(campaign) -> int:
    return TrackingEvent.objects.filter(campaign=campaign, kind=EventKind.REPORTED).count()


# --- Finding the token ----------------------------------------------------------------------------


def test_tokens_found_in_header_attachment_and_encoded_bodies():
    token = "A" * 10 + "b_c-" + "9" * 18  # 32 characters
    assert mb.candidate_tokens(phishing_message(token).as_bytes()) == [token]
    assert mb.candidate_tokens(forwarded_as_attachment(phishing_message(token))) == [token]
    html = f'<p>De : courrier</p><a href="https://rempart.test/p/c/{token}/">Voir</a>' + "x" * 200
    for encoding in ("quoted-printable", "base64"):
        assert mb.candidate_tokens(forwarded_inline(html, encoding)) == [token]
    # A link rewritten by a mail filter (URL-encoded), and the pixel.
    wrapped = f"https://filter.example/?url=https%3A%2F%2Frempart.test%2Fp%2Fc%2F{token}%2F"
    assert mb.candidate_tokens(forwarded_inline(wrapped, "base64")) == [token]
    pixel = f'<img src="https://rempart.test/p/o/{token}.gif">'
    assert mb.candidate_tokens(forwarded_inline(pixel, "quoted-printable")) == [token]
    # Nothing that looks like a token outside our paths; a too short one is not one.
    assert mb.candidate_tokens(forwarded_inline("https://x.example/c/" + token, "base64")) == []
    assert mb.candidate_tokens(forwarded_inline("/p/c/abc/", "base64")) == []


# --- Polling ------------------------------------------------------------------------------------


def test_poll_records_reports_once_and_marks_seen(world, imap):
    campaign = scheduled_campaign(world, world.rssi, world.hospital)
    first, second = tokens_of(campaign)
    box = make_mailbox(world, imap)
    attached = forwarded_as_attachment(phishing_message(first))
    uid_attached = imap.state.add(attached)
    html = f'<a href="https://rempart.test/p/c/{second}/">Voir</a>'
    uid_inline = imap.state.add(forwarded_inline(html, "quoted-printable"))
    uid_other = imap.state.add(forwarded_inline("<p>Une vraie arnaque, sans jeton</p>", "base64"))
    forged = "Z" * 32
    uid_forged = imap.state.add(forwarded_inline(f"/p/c/{forged}/", "base64"))

    result = mb.poll(box.pk)

    assert result.error == ""
    assert (result.fetched, result.reports, result.no_token) == (4, 2, 2)
    assert reported(campaign) == 2
    events = TrackingEvent.objects.filter(kind=EventKind.REPORTED)
    assert {e.recipient.token for e in events} == {first, second}
    assert {e.source for e in events} == {"imap"}
    assert sorted(imap.state.seen()) == sorted([uid_attached, uid_inline, uid_other, uid_forged])
    assert "FETCH" not in imap.state.commands  # always UID commands
    box.refresh_from_db()
    assert box.last_error == ""
    assert box.last_success_at is not None
    assert box.reports_recorded == 2
    assert box.poll_lease_until is None
    # Nothing of the messages is stored: only hashes of their Message-ID.
    assert ReportedMessage.objects.filter(mailbox=box).count() == 4
    assert all(len(k) == 64 for k in ReportedMessage.objects.values_list("message_key", flat=True))

    # The same message again (unseen again, or forwarded twice): never counted twice.
    imap.state.messages[0]["seen"] = False
    imap.state.add(attached)
    again = mb.poll(box.pk)
    assert (again.fetched, again.reports, again.duplicates) == (2, 0, 2)
    assert reported(campaign) == 2
    assert mb.poll(box.pk).fetched == 0


def test_only_campaigns_of_the_mailbox_owner_count(world, imap):
    ours = scheduled_campaign(world, world.rssi, world.hospital, name="Nôtre")
    theirs = scheduled_campaign(
        world, world.outsider_rssi, world.other_hospital, emails=["z@loin.fr"], name="Loin"
    )
    box = make_mailbox(world, imap)
    imap.state.add(forwarded_as_attachment(phishing_message(tokens_of(theirs)[0])))
    imap.state.add(forwarded_as_attachment(phishing_message(tokens_of(ours)[0])))
    result = mb.poll(box.pk)
    assert (result.reports, result.no_token) == (1, 1)
    assert reported(ours) == 1
    assert reported(theirs) == 0


def test_crrc_mailbox_records_its_delegated_campaigns(world, imap):
    given = mandate(world)
    campaign = scheduled_campaign(world, world.crrc_operator, mandate_=given)
    box = make_mailbox(world, imap, organisation=world.crrc, actor=world.crrc_operator)
    imap.state.add(forwarded_as_attachment(phishing_message(tokens_of(campaign)[1])))
    assert mb.poll(box.pk).reports == 1
    assert reported(campaign) == 1


def test_bad_credentials_unknown_folder_and_unreachable_are_recorded(world, imap):
    box = make_mailbox(world, imap, password="faux")
    imap.state.add(b"Message-ID: <x@y>\r\n\r\nbonjour")
    result = mb.poll(box.pk)
    assert "mot de passe refusé" in result.error
    box.refresh_from_db()
    assert "mot de passe refusé" in box.last_error
    assert box.poll_lease_until is None
    assert imap.state.seen() == []
    test = mb.mailbox_test(actor=world.rssi, mailbox=box)
    assert not test.ok
    assert "mot de passe" in test.message

    mb.mailbox_update(
        actor=world.rssi,
        mailbox=box,
        name=box.name,
        password=PASSWORD,
        folder="Signalements",
        host=box.host,
        port=box.port,
    )
    box.refresh_from_db()
    assert "Signalements" in mb.mailbox_test(actor=world.rssi, mailbox=box).message
    mb.mailbox_update(actor=world.rssi, mailbox=box, name=box.name, folder="INBOX")
    box.refresh_from_db()
    ok = mb.mailbox_test(actor=world.rssi, mailbox=box)
    assert ok.ok
    assert "1 message(s) non lu(s)" in ok.message
    box.refresh_from_db()
    assert box.last_error == ""

    # A port nobody listens on.
    imap.shutdown()
    imap.server_close()
    closed = mb.poll(box.pk)
    assert "injoignable" in closed.error or "refuse la connexion" in closed.error
    box.refresh_from_db()
    assert box.last_error == closed.error


def test_implicit_tls(world, tmp_path, monkeypatch):
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    server = _start(TlsImapHandler, tls=server_ctx)
    try:
        monkeypatch.setattr(mb, "ssl_context", lambda: ssl.create_default_context(cafile=cert))
        campaign = scheduled_campaign(world, world.rssi, world.hospital)
        box = make_mailbox(world, server, host="localhost", tls_mode="tls")
        server.state.add(forwarded_as_attachment(phishing_message(tokens_of(campaign)[0])))
        result = mb.poll(box.pk)
        assert result.error == ""
        assert result.reports == 1
        # An untrusted certificate is refused, and said so.
        monkeypatch.setattr(mb, "ssl_context", ssl.create_default_context)
        server.state.add(forwarded_as_attachment(phishing_message(tokens_of(campaign)[1])))
        refused = mb.poll(box.pk)
        assert "TLS" in refused.error
        assert refused.reports == 0
    finally:
        server.shutdown()
        server.server_close()


def test_internal_addresses_are_refused(world, imap, settings):
    box = make_mailbox(world, imap)
    settings.PHISHING_INTEGRATIONS_ALLOW_LOOPBACK = False
    result = mb.poll(box.pk)
    assert "adresse interne" in result.error
    assert imap.state.logins == []  # never connected


def test_a_mailbox_is_polled_by_one_worker_at_a_time(world, imap):
    box = make_mailbox(world, imap)
    ReportMailbox.objects.filter(pk=box.pk).update(
        poll_lease_until=timezone.now() + datetime.timedelta(minutes=1)
    )
    assert mb.poll(box.pk).skipped
    assert imap.state.logins == []


def test_concurrent_handling_counts_once(world, imap):
    """The unique (mailbox, Message-ID hash) row is written with the events: a second
    handler that did not see the first one's row rolls its events back."""
    campaign = scheduled_campaign(world, world.rssi, world.hospital)
    box = make_mailbox(world, imap)
    raw = forwarded_as_attachment(phishing_message(tokens_of(campaign)[0]))
    assert mb.handle_message(box, raw) == ("recorded", 1)
    real_filter = ReportedMessage.objects.filter

    class Blind:
        def exists(self):
            return False

    import unittest.mock

    with unittest.mock.patch.object(
        ReportedMessage.objects, "filter", side_effect=lambda *a, **k: Blind()
    ):
        assert mb.handle_message(box, raw) == ("duplicate", 0)
    assert real_filter(mailbox=box).count() == 1
    assert reported(campaign) == 1


# --- Permissions and audit ------------------------------------------------------------------


def test_who_configures_a_mailbox_and_the_password_stays_out_of_the_trail(world, imap):
    for outsider, org in (
        (world.staff, world.hospital),
        (world.outsider_rssi, world.hospital),
        (world.ars_manager, world.hospital),
        (world.crrc_operator, world.hospital),
    ):
        with pytest.raises(DomainError) as excinfo:
            make_mailbox(world, imap, organisation=org, actor=outsider)
        assert excinfo.value.code == "forbidden"
    box = make_mailbox(world, imap)
    mb.mailbox_update(actor=world.rssi, mailbox=box, name="Boîte", password="nouveau")
    box.refresh_from_db()
    assert box.password == "nouveau"
    entries = AuditEntry.objects.filter(object_pk=str(box.pk), content_type__model="reportmailbox")
    assert entries.count() >= 2
    for entry in entries:
        assert PASSWORD not in str(entry.changes)
        assert "nouveau" not in str(entry.changes).replace("nouveau mot de passe", "")
    with pytest.raises(DomainError):
        make_mailbox(world, imap, name="boîte")  # same name, other case
    with pytest.raises(DomainError, match="port"):
        make_mailbox(world, imap, name="Autre", port=70000)
    assert set(mb.mailboxes_visible_to(world.rssi)) == {box}
    assert not mb.mailboxes_visible_to(world.outsider_rssi).exists()
    mb.mailbox_delete(actor=world.rssi, mailbox=box)
    assert not ReportMailbox.objects.exists()


# --- Pages ----------------------------------------------------------------------------------------


def test_pages(client, world, imap):
    from django.urls import reverse

    for user in (world.staff, world.ars_manager):
        client.force_login(user)
        assert client.get(reverse("phishing:mailbox_list")).status_code == 403
    client.force_login(world.crrc_operator)
    assert client.get(reverse("phishing:mailbox_list")).status_code == 200
    client.force_login(world.rssi)
    assert client.get(reverse("phishing:mailbox_new")).status_code == 200
    form = {
        "organisation": world.hospital.pk,
        "name": "Signalements",
        "address": USER,
        "host": "127.0.0.1",
        "port": str(imap.server_address[1]),
        "tls_mode": "none",
        "username": USER,
        "password": PASSWORD,
        "folder": "INBOX",
        "active": "on",
    }
    bad = client.post(reverse("phishing:mailbox_new"), {**form, "port": "99999"})
    assert bad.status_code == 400
    assert "entre 1 et 65535" in bad.content.decode()
    assert client.post(reverse("phishing:mailbox_new"), form).status_code == 302
    box = ReportMailbox.objects.get()
    assert box.password == PASSWORD
    edit = reverse("phishing:mailbox_edit", args=[box.pk])
    assert PASSWORD not in client.get(edit).content.decode()
    kept = client.post(edit, {**form, "password": "", "name": "Boîte"})
    assert kept.status_code == 302
    box.refresh_from_db()
    assert (box.name, box.password) == ("Boîte", PASSWORD)

    campaign = scheduled_campaign(world, world.rssi, world.hospital)
    imap.state.add(forwarded_as_attachment(phishing_message(tokens_of(campaign)[0])))
    tested = client.post(reverse("phishing:mailbox_test", args=[box.pk]), follow=True)
    assert "Connexion réussie : 1 message(s) non lu(s)" in tested.content.decode()
    polled = client.post(reverse("phishing:mailbox_poll", args=[box.pk]), follow=True)
    assert "1 signalement(s) enregistré(s)" in polled.content.decode()
    assert reported(campaign) == 1
    page = client.get(reverse("phishing:mailbox_list")).content.decode()
    assert "Relevée" in page
    assert PASSWORD not in page

    # Wrong password: shown on the page.
    mb.mailbox_update(actor=world.rssi, mailbox=box, name="Boîte", password="faux")
    client.post(reverse("phishing:mailbox_poll", args=[box.pk]))
    assert "mot de passe refusé" in client.get(reverse("phishing:mailbox_list")).content.decode()
    assert client.get(reverse("phishing:mailbox_test", args=[box.pk])).status_code == 405

    for user in (world.outsider_rssi, world.staff, world.outsider_crrc):
        client.force_login(user)
        assert client.get(edit).status_code == 403
        for name in ("mailbox_test", "mailbox_poll", "mailbox_delete", "mailbox_edit"):
            assert client.post(reverse(f"phishing:{name}", args=[box.pk])).status_code == 403
    client.force_login(world.rssi)
    delete = reverse("phishing:mailbox_delete", args=[box.pk])
    assert client.get(delete).status_code == 200
    assert client.post(delete).status_code == 302
    assert not ReportMailbox.objects.exists()
    assert reported(campaign) == 1  # the reports stay with the campaign


def test_the_worker_task_polls(world, imap):
    from rempart.phishing.integration_tasks import poll_mailbox_task

    campaign = scheduled_campaign(world, world.rssi, world.hospital)
    box = make_mailbox(world, imap)
    imap.state.add(forwarded_as_attachment(phishing_message(tokens_of(campaign)[0])))
    outcome = poll_mailbox_task(box.pk)
    assert outcome["reports"] == 1
    assert outcome["error"] == ""
    assert reported(campaign) == 1
