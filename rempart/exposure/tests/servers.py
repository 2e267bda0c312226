"""Loopback servers and certificates the exposure tests make for themselves."""

from __future__ import annotations

import contextlib
import datetime
import socket
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from rempart.exposure.tls import pin_versions

NOW = datetime.datetime.now(datetime.UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_ports(count: int) -> list[int]:
    """Ports nothing listens on (bound then released: the kernel does not hand them out
    again at once)."""
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


class Listener:
    """A TCP listener on loopback (127.0.0.1 and a free port unless told) whose behaviour is chosen by the test:
    - `greeting`: bytes sent to each accepted client (None: accept and stay silent);
    - `accept=False`: never accept (with `backlog_full=True`, the accept queue is filled so
      that the kernel drops every further SYN: a port that stops answering)."""

    def __init__(
        self,
        greeting: bytes | None = None,
        *,
        accept: bool = True,
        backlog_full=False,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(0 if backlog_full else 64)
        self.port = self.sock.getsockname()[1]
        self.greeting = greeting
        self.clients: list[socket.socket] = []
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = None
        if backlog_full:
            # Linux accepts backlog + 1 connections into the queue; then SYNs are dropped.
            for _ in range(3):
                client = socket.socket()
                client.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    client.connect((host, self.port))
                self.clients.append(client)
        elif accept:
            self.sock.settimeout(0.05)
            self._thread = threading.Thread(target=self._serve, daemon=True)
            self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.clients.append(conn)
            if self.greeting is not None:
                with contextlib.suppress(OSError):
                    conn.settimeout(0.3)
                    with contextlib.suppress(TimeoutError):
                        self.received.append(conn.recv(256))
                    conn.sendall(self.greeting)

    def close(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        for client in self.clients:
            client.close()
        self.sock.close()


# --- Certificates ---------------------------------------------------------------------------------


@dataclass
class Issued:
    cert: x509.Certificate
    key: object

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CH de test"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(common_name: str = "Autorité de test Rempart") -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=365))
        .not_valid_after(NOW + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key)


def make_cert(
    *,
    names: tuple[str, ...] = ("localhost",),
    ips: tuple[str, ...] = ("127.0.0.1",),
    issuer: Issued | None = None,
    not_before: datetime.datetime | None = None,
    not_after: datetime.datetime | None = None,
    rsa_bits: int | None = 2048,
    digest=None,
) -> Issued:
    """A server certificate; self-signed when no issuer is given."""
    import ipaddress

    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
        if rsa_bits
        else ec.generate_private_key(ec.SECP256R1())
    )
    subject = _name(names[0] if names else "serveur")
    san = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - datetime.timedelta(days=30))
        .not_valid_after(not_after or NOW + datetime.timedelta(days=335))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    signing_key = issuer.key if issuer else key
    return Issued(builder.sign(signing_key, digest or hashes.SHA256()), key)


class TlsServer:
    """A TLS server on loopback (127.0.0.1 unless told) that completes handshakes (and answers a line) until closed."""

    def __init__(
        self,
        folder: Path,
        leaf: Issued,
        *,
        chain: tuple[Issued, ...] = (),
        minimum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
        maximum: ssl.TLSVersion | None = None,
        ciphers: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        cert_path = folder / f"server-{id(self)}.pem"
        key_path = folder / f"server-{id(self)}.key"
        cert_path.write_bytes(leaf.pem() + b"".join(c.pem() for c in chain))
        key_path.write_bytes(leaf.key_pem())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # Security level 0 so the test server can hold the weak keys and old protocols
        # under test; what it then accepts is set by minimum/maximum/ciphers.
        context.set_ciphers(ciphers or "DEFAULT:@SECLEVEL=0")
        pin_versions(context, minimum, maximum)
        context.load_cert_chain(cert_path, key_path)
        self.context = context
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(32)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.handshakes: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            conn.settimeout(2)
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    self.handshakes.append(f"{tls.version()} {tls.cipher()[0]}")
                    with contextlib.suppress(OSError):
                        tls.settimeout(0.2)
                        if tls.recv(64):
                            tls.sendall(b"HTTP/1.0 200 OK\r\nServer: test-tls\r\n\r\n")
            except (OSError, ssl.SSLError):
                conn.close()

    def close(self):
        self._stop.set()
        self._thread.join(timeout=3)
        self.sock.close()


def sha1_cert_via_openssl(ca: Issued, folder: Path) -> Issued:
    """A leaf signed by `ca` in SHA-1 with the openssl command (cryptography no longer signs
    SHA-1); CalledProcessError or FileNotFoundError if the local OpenSSL refuses or is absent."""
    import shutil
    import subprocess

    binary = shutil.which("openssl")
    if binary is None:
        raise FileNotFoundError("openssl")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = Issued(None, key)  # type: ignore[arg-type]
    (folder / "sha1.key").write_bytes(leaf.key_pem())
    (folder / "ca.pem").write_bytes(ca.pem())
    (folder / "ca.key").write_bytes(Issued(ca.cert, ca.key).key_pem())
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    csr = subprocess.run(  # noqa: S603 - fixed local binary, arguments built here
        [binary, "req", "-new", "-key", folder / "sha1.key", "-subj", "/CN=localhost"],
        capture_output=True,
        check=True,
    ).stdout
    pem = subprocess.run(  # noqa: S603
        [
            binary,
            "x509",
            "-req",
            "-sha1",
            "-days",
            "200",
            "-CA",
            folder / "ca.pem",
            "-CAkey",
            folder / "ca.key",
            "-CAcreateserial",
            "-extfile",
            folder / "san.ext",
        ],
        input=csr,
        capture_output=True,
        check=True,
    ).stdout
    return Issued(x509.load_pem_x509_certificate(pem), key)
