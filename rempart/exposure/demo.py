"""`make demo`: the exposure watch of the demo region, with findings from real scans.

Nothing is invented: the CRRC allows the loopback range as a lab range, the demo RSSI's
establishment declares a loopback address of its own and signs the authorisation, then two real
scans run against services this command starts there for the time of the scans (a silent
"remote desktop" on 3389, a web portal on 8443 whose TLS certificate expired). The first scan
finds both; the remote desktop is then stopped and the second scan closes its finding.
Idempotent: a second run finds the scans done and changes nothing."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import tempfile
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.db import transaction
from django.utils import timezone

from rempart.organisations.demo import DEMO_DOMAIN
from rempart.organisations.models import Membership, Region, User

from . import services
from .models import Asset, Scan, ScanStatus
from .scanner import TimeoutPlan

DEMO_ADDRESS = "127.84.0.10"  # inside the lab range 127.0.0.0/8
PLAN = TimeoutPlan(initial=0.5, minimum=0.1, maximum=0.5)


class _Service:
    """A loopback TCP service for the time of the demo scans: silent, or TLS with a cert."""

    def __init__(self, port: int, context: ssl.SSLContext | None = None):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((DEMO_ADDRESS, port))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.context = context
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            try:
                conn.settimeout(0.3)
                if self.context is not None:
                    with self.context.wrap_socket(conn, server_side=True) as tls:
                        tls.recv(64)
                        tls.sendall(b"HTTP/1.0 200 OK\r\nServer: portail-demo\r\n\r\n")
                else:
                    conn.recv(64)
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=2)
        self.sock.close()


def _expired_context(folder: Path) -> ssl.SSLContext:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "portail.demo.rempart.fr")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=400))
        .not_valid_after(now - datetime.timedelta(days=12))
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


def _user(local: str) -> User | None:
    return User.objects.filter(email=f"{local}@{DEMO_DOMAIN}").first()


def seed_exposure_demo(region: Region) -> list[str]:
    operator, rssi = _user("crrc"), _user("rssi")
    if operator is None or rssi is None:
        return ["comptes de démonstration absents : rien à faire"]
    membership = Membership.objects.active().filter(user=rssi).select_related("organisation")
    establishment = membership.first().organisation
    if Scan.objects.filter(organisation=establishment, status=ScanStatus.DONE).count() >= 2:
        return ["veille d'exposition déjà en place"]
    with transaction.atomic():
        if not services.lab_range_for(region.pk, ipaddress.ip_network("127.0.0.0/8")):
            services.lab_range_allow(
                actor=operator,
                region=region,
                network="127.0.0.0/8",
                reason="Démonstration : services de laboratoire sur la boucle locale",
            )
        asset = Asset.objects.filter(
            organisation=establishment, value=f"{DEMO_ADDRESS}/32", retired_at__isnull=True
        ).first() or services.asset_create(
            actor=rssi,
            organisation=establishment,
            value=DEMO_ADDRESS,
            description="Laboratoire de démonstration (portail web, bureau à distance)",
        )
        if not asset.services.exists():
            services.service_declare(
                actor=rssi, asset=asset, port=8443, purpose="Portail web des patients"
            )
        if services.current_authorisation(establishment) is None:
            today = timezone.localdate()
            services.authorisation_sign(
                actor=rssi,
                organisation=establishment,
                assets=[asset],
                valid_from=today,
                valid_until=today + datetime.timedelta(days=365),
                weekdays="1234567",
                window_start=datetime.time(0, 0),
                window_end=datetime.time(23, 59, 59),
                max_rate=200,
            )
    lines = []
    with tempfile.TemporaryDirectory() as folder:
        portal = _Service(8443, _expired_context(Path(folder)))
        rdp = _Service(3389)
        try:
            first = _scan(operator, establishment)
            lines.append(f"analyse n° {first.pk} : {first.open_found} port(s) ouvert(s)")
        finally:
            rdp.close()
        try:
            second = _scan(operator, establishment)
            lines.append(f"analyse n° {second.pk} : {second.open_found} port(s) ouvert(s)")
        finally:
            portal.close()
    open_findings = establishment.exposure_findings.exclude(status="fixed").count()
    lines.append(f"{open_findings} constat(s) à traiter pour {establishment.name}")
    return lines


def _scan(operator, establishment) -> Scan:
    """A scan this command runs itself, while its lab services listen."""
    scan = services.scan_queue(actor=operator, organisation=establishment, hand_to_worker=False)
    return services.scan_run(scan.pk, timeout_plan=PLAN)
