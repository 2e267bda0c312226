"""TLS checks of one service: its certificate chain and the protocols and ciphers it accepts.

Several handshakes, each on its own connection, with the standard `ssl` module; certificates
are read with `cryptography`:
1. verification off and every protocol and cipher allowed, to collect what the server presents
   (chain, negotiated version and cipher) whatever its state;
2. verification on, against the system CA store (or the `cafile`/`cadata` given), dates and key
   sizes ignored there because they are checked on their own: does the chain lead to a trusted
   authority?
3. one handshake pinned to TLS 1.0, one to TLS 1.1, and one offering only weak ciphers — each
   only if the local OpenSSL can still speak it (a local in-memory handshake proves it);
   otherwise the check is reported « non testable ici », never guessed.
Each finding carries its code, severity and French texts from data/tls_checks.yaml.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import ipaddress
import socket
import ssl
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.x509.oid import NameOID

from .ports import tls_check_texts

EXPIRY_WARNING_DAYS = 30
MIN_RSA_BITS = 2048
MIN_EC_BITS = 224
WEAK_HASHES = {"sha1", "md5"}
# OpenSSL verification codes that the dedicated checks already report.
_X509_NO_CHECK_TIME = 0x200000
_SELF_SIGNED_CODES = {18}  # X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
# Weak cipher families, by OpenSSL cipher-string name and French label.
WEAK_CIPHER_FAMILIES = (
    ("RC4", "RC4"),
    ("3DES", "3DES"),
    ("DES", "DES"),
    ("EXPORT", "export"),
    ("eNULL", "sans chiffrement (NULL)"),
    ("aNULL", "sans authentification (anonyme)"),
)
OLD_PROTOCOLS = (
    ("tls_protocol_tls1_0", "TLS 1.0", ssl.TLSVersion.TLSv1),
    ("tls_protocol_tls1_1", "TLS 1.1", ssl.TLSVersion.TLSv1_1),
)


@dataclass
class Finding:
    code: str
    severity: str
    title: str
    explanation: str
    remediation: str
    detail: str = ""


@dataclass
class CertificateInfo:
    subject: str
    issuer: str
    not_before: datetime.datetime
    not_after: datetime.datetime
    serial: str
    sha256: str
    key_type: str
    key_bits: int
    signature_hash: str  # "sha256", "sha1"…, "" when the algorithm has none (Ed25519)
    dns_names: list[str]
    ip_addresses: list[str]
    self_signed: bool


@dataclass
class TlsReport:
    address: str
    port: int
    server_name: str = ""
    protocol: str = ""  # negotiated with everything allowed
    cipher: str = ""
    certificates: list[CertificateInfo] = field(default_factory=list)
    trusted: bool | None = None
    findings: list[Finding] = field(default_factory=list)
    not_testable: dict[str, str] = field(default_factory=dict)  # check → why, in French
    error: str = ""  # no TLS handshake at all

    @property
    def codes(self) -> set[str]:
        return {finding.code for finding in self.findings}


def finding(code: str, detail: str = "") -> Finding:
    text = tls_check_texts()[code]
    return Finding(
        code=code,
        severity=text.severity,
        title=text.title,
        explanation=text.explanation,
        remediation=text.remediation,
        detail=detail,
    )


# --- What the local OpenSSL can test -------------------------------------------------------------


def _client_context(
    *, minimum=None, maximum=None, ciphers: str = "ALL:@SECLEVEL=0"
) -> ssl.SSLContext:
    """A client that accepts anything: verification off, every cipher, the given versions."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers(ciphers)
    pin_versions(context, minimum or ssl.TLSVersion.MINIMUM_SUPPORTED, maximum)
    return context


def pin_versions(context: ssl.SSLContext, minimum=None, maximum=None) -> None:
    """Set protocol bounds; asking for TLS 1.0/1.1 is the point here, not an oversight, so
    Python's deprecation warning about them is silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if minimum is not None:
            context.minimum_version = minimum
        if maximum is not None:
            context.maximum_version = maximum


def _memory_handshake(client: ssl.SSLContext, server: ssl.SSLContext) -> str:
    """Handshake two contexts through memory buffers; the version negotiated."""
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_in, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_side = client.wrap_bio(to_client, to_server)
    server_side = server.wrap_bio(server_in, server_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, side in (("client", client_side), ("server", server_side)):
            if not done[name]:
                try:
                    side.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        server_in.write(to_server.read())
        to_client.write(server_out.read())
        if all(done.values()):
            return client_side.version() or ""
    raise ssl.SSLError("la poignée de main locale ne s'est pas terminée")


@dataclass(frozen=True)
class LocalCapabilities:
    protocols: dict[str, str]  # finding code → "" if testable here, else why not
    weak_ciphers: str  # OpenSSL cipher string of the weak families available here ("" if none)
    weak_untestable: tuple[str, ...]  # labels of the weak families this OpenSSL lacks


@functools.cache
def local_capabilities() -> LocalCapabilities:
    """What this machine's OpenSSL can still negotiate, proven by local handshakes."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rempart-selftest")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    protocols: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as folder:
        cert_path, key_path = Path(folder) / "c.pem", Path(folder) / "k.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        for code, label, version in OLD_PROTOCOLS:
            try:
                server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                server.set_ciphers("ALL:@SECLEVEL=0")
                pin_versions(server, version, version)
                server.load_cert_chain(cert_path, key_path)
                client = _client_context(minimum=version, maximum=version)
                negotiated = _memory_handshake(client, server)
                protocols[code] = "" if negotiated else f"{label} non négocié localement"
            except (ssl.SSLError, ValueError) as exc:
                protocols[code] = (
                    f"{label} non testable ici : l'OpenSSL local ({ssl.OPENSSL_VERSION}) "
                    f"ne le parle plus ({exc})"
                )
    available, missing = [], []
    for family, label in WEAK_CIPHER_FAMILIES:
        try:
            _client_context(ciphers=f"{family}:@SECLEVEL=0")
            available.append(family)
        except ssl.SSLError:
            missing.append(label)
    weak = ":".join(available) + ":@SECLEVEL=0" if available else ""
    return LocalCapabilities(protocols, weak, tuple(missing))


# --- Certificates --------------------------------------------------------------------------------


def _name(value: x509.Name) -> str:
    return value.rfc4514_string()


def describe(cert: x509.Certificate) -> CertificateInfo:
    public = cert.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        key_type, bits = "RSA", public.key_size
    elif isinstance(public, ec.EllipticCurvePublicKey):
        key_type, bits = f"EC {public.curve.name}", public.curve.key_size
    elif isinstance(public, dsa.DSAPublicKey):
        key_type, bits = "DSA", public.key_size
    else:
        key_type, bits = type(public).__name__.removesuffix("PublicKey"), 0
    try:
        algorithm = cert.signature_hash_algorithm
        signature_hash = algorithm.name if algorithm is not None else ""
    except Exception:  # an algorithm cryptography does not know
        signature_hash = "inconnu"
    dns_names, ips = [], []
    with contextlib.suppress(x509.ExtensionNotFound):
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = san.get_values_for_type(x509.DNSName)
        ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return CertificateInfo(
        subject=_name(cert.subject),
        issuer=_name(cert.issuer),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        serial=format(cert.serial_number, "x"),
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
        key_type=key_type,
        key_bits=bits,
        signature_hash=signature_hash,
        dns_names=dns_names,
        ip_addresses=ips,
        self_signed=cert.issuer == cert.subject,
    )


def hostname_matches(name: str, cert: CertificateInfo) -> bool:
    """RFC 6125 matching on the SAN only (CN is ignored, as browsers do); a wildcard covers
    exactly one leftmost label."""
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        ip = None
    if ip is not None:
        return str(ip) in cert.ip_addresses
    name = name.lower().rstrip(".")
    for pattern in cert.dns_names:
        pattern = pattern.lower().rstrip(".")
        if pattern == name:
            return True
        if pattern.startswith("*.") and "." in name:
            head, _, tail = name.partition(".")
            if head and tail == pattern[2:] and tail.count(".") >= 1:
                return True
    return False


# --- Handshakes ----------------------------------------------------------------------------------


def _sni(server_name: str) -> str | None:
    try:
        ipaddress.ip_address(server_name)
    except ValueError:
        return server_name or None
    return None


def _chain(tls: ssl.SSLSocket) -> list[bytes]:
    getter = getattr(tls, "get_unverified_chain", None)  # public from Python 3.13
    if getter is None:
        getter = getattr(tls._sslobj, "get_unverified_chain", None)  # private in 3.10-3.12
    if getter is not None:
        chain = getter() or []
        return [c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER) for c in chain]
    leaf = tls.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def _handshake(address: str, port: int, context: ssl.SSLContext, sni, timeout: float):
    with (
        socket.create_connection((address, port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=sni) as tls,
    ):
        cipher = tls.cipher()
        return tls.version() or "", cipher[0] if cipher else "", _chain(tls)


def check_tls(
    address: str,
    port: int,
    *,
    server_name: str = "",
    timeout: float = 5.0,
    now: datetime.datetime | None = None,
    cafile: str | None = None,
    cadata: str | None = None,
    expiry_warning_days: int = EXPIRY_WARNING_DAYS,
) -> TlsReport:
    """Every TLS check on one service. `server_name` is the published name (SNI and hostname
    check); without it the hostname check is reported as not testable."""
    report = TlsReport(address=address, port=port, server_name=server_name)
    now = now or datetime.datetime.now(datetime.UTC)
    sni = _sni(server_name)
    try:
        report.protocol, report.cipher, chain = _handshake(
            address, port, _client_context(), sni, timeout
        )
    except (OSError, ssl.SSLError, ValueError) as exc:
        report.error = f"pas de poignée de main TLS : {exc}"
        return report
    certs = [x509.load_der_x509_certificate(der) for der in chain]
    report.certificates = [describe(cert) for cert in certs]
    if not certs:
        report.error = "le serveur n'a présenté aucun certificat"
        return report
    leaf = report.certificates[0]
    add = report.findings.append

    # Dates (the leaf: it is what clients reject first).
    if now > leaf.not_after:
        days = (now - leaf.not_after).days
        add(finding("tls_expired", f"expiré le {leaf.not_after:%d/%m/%Y} (depuis {days} jour(s))"))
    elif now < leaf.not_before:
        add(finding("tls_not_yet_valid", f"valide à partir du {leaf.not_before:%d/%m/%Y}"))
    elif leaf.not_after - now < datetime.timedelta(days=expiry_warning_days):
        days = (leaf.not_after - now).days
        add(
            finding(
                "tls_expiring_soon", f"expire le {leaf.not_after:%d/%m/%Y} (dans {days} jour(s))"
            )
        )

    # Trust: a verified handshake, dates and key sizes set aside (checked on their own).
    try:
        verified = ssl.create_default_context(cafile=cafile, cadata=cadata)
        verified.check_hostname = False
        verified.set_ciphers("ALL:@SECLEVEL=0")
        pin_versions(verified, ssl.TLSVersion.MINIMUM_SUPPORTED)
        verified.verify_flags |= _X509_NO_CHECK_TIME
        _handshake(address, port, verified, sni, timeout)
        report.trusted = True
    except ssl.SSLCertVerificationError as exc:
        report.trusted = False
        if exc.verify_code in _SELF_SIGNED_CODES or (len(certs) == 1 and leaf.self_signed):
            add(finding("tls_self_signed", f"émis par lui-même : {leaf.subject}"))
        else:
            add(finding("tls_untrusted_chain", f"{exc.verify_message} (émetteur : {leaf.issuer})"))
    except (OSError, ssl.SSLError, ValueError) as exc:
        report.not_testable["chain"] = f"vérification de la chaîne impossible : {exc}"

    # Name.
    if server_name:
        if not hostname_matches(server_name, leaf):
            names = ", ".join(leaf.dns_names + leaf.ip_addresses) or "aucun nom alternatif"
            add(
                finding(
                    "tls_hostname_mismatch", f"« {server_name} » absent du certificat ({names})"
                )
            )
    else:
        report.not_testable["hostname"] = "aucun nom publié fourni : nom du certificat non vérifié"

    # Keys and signatures of the chain (a self-signed root's own signature does not matter).
    for index, info in enumerate(report.certificates):
        weak = (info.key_type in ("RSA", "DSA") and info.key_bits < MIN_RSA_BITS) or (
            info.key_type.startswith("EC") and info.key_bits < MIN_EC_BITS
        )
        if weak:
            add(finding("tls_weak_key", f"{info.key_type} {info.key_bits} bits ({info.subject})"))
        is_root = index > 0 and info.self_signed
        if info.signature_hash in WEAK_HASHES and not is_root:
            add(
                finding(
                    "tls_weak_signature",
                    f"signature {info.signature_hash.upper()} ({info.subject})",
                )
            )

    # Old protocols and weak ciphers, when this machine can still speak them.
    capabilities = local_capabilities()
    for code, label, version in OLD_PROTOCOLS:
        why_not = capabilities.protocols.get(code, "")
        if why_not:
            report.not_testable[code] = why_not
            continue
        try:
            negotiated, cipher, _ = _handshake(
                address, port, _client_context(minimum=version, maximum=version), sni, timeout
            )
        except (ssl.SSLError, ConnectionResetError, ConnectionAbortedError):
            continue  # refused: good
        except OSError as exc:
            report.not_testable[code] = f"{label} : le service n'a pas répondu ({exc})"
            continue
        add(finding(code, f"{negotiated} accepté (suite {cipher})"))
    if capabilities.weak_untestable:
        report.not_testable["tls_weak_cipher"] = (
            "suites non testables ici (absentes de l'OpenSSL local) : "
            + ", ".join(capabilities.weak_untestable)
        )
    if capabilities.weak_ciphers:
        try:
            context = _client_context(
                maximum=ssl.TLSVersion.TLSv1_2, ciphers=capabilities.weak_ciphers
            )
            negotiated, cipher, _ = _handshake(address, port, context, sni, timeout)
        except (ssl.SSLError, ConnectionResetError, ConnectionAbortedError):
            pass  # no weak suite accepted
        except OSError as exc:
            report.not_testable["tls_weak_cipher"] = f"le service n'a pas répondu ({exc})"
        else:
            add(finding("tls_weak_cipher", f"suite {cipher} acceptée ({negotiated})"))
    return report
