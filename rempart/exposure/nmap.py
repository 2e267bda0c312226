"""Optional enrichment by nmap: service versions and safe scripts on ports already found open.

The command is built here and nowhere else, as an argument list (no shell): a TCP connect scan
(`-sT`, no root) or version detection (`-sV`), `-Pn -n`, only the given open ports, and NSE
scripts only through an expression that keeps the `safe` category and excludes every
category that could harm or leak (`intrusive`, `brute`, `dos`, `exploit`, `vuln`, `fuzzer`,
`malware`, `external`, `broadcast`). Its XML output (`-oX -`) is parsed with defusedxml (no
entity expansion, no external entities) into the scanner's own result structures.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from .scanner import HostResult, PortResult, ScanError, ScanResult, check_ports, check_targets

FORBIDDEN_CATEGORIES = (
    "intrusive",
    "brute",
    "dos",
    "exploit",
    "vuln",
    "fuzzer",
    "malware",
    "external",
    "broadcast",
)
ALLOWED_SELECTORS = {"safe", "default", "discovery", "version"}
OTHER_CATEGORIES = {"all", "auth"}  # not forbidden as such, but not a deliberate choice either
SCRIPT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{1,63}$")
TIMING = {3: "-T3", 4: "-T4"}


class NmapError(RuntimeError):
    """nmap could not run or its output could not be read; the message is in French."""


@dataclass(frozen=True)
class NmapOptions:
    version_detection: bool = True  # -sV (else a plain -sT)
    scripts: tuple[str, ...] = ()  # categories from ALLOWED_SELECTORS or script names
    timing: int = 4
    max_rate: float | None = None  # probes per second for the whole run (--max-rate)
    host_timeout_s: int = 900


def script_expression(selectors: Sequence[str]) -> str:
    """An NSE expression that can only select safe scripts, whatever was asked."""
    chosen = []
    for selector in selectors:
        selector = selector.strip().lower()
        if selector in FORBIDDEN_CATEGORIES or selector in OTHER_CATEGORIES:
            raise ScanError(f"La catégorie de scripts « {selector} » est interdite.")
        if selector not in ALLOWED_SELECTORS and not SCRIPT_NAME.match(selector):
            raise ScanError(f"« {selector} » n'est ni une catégorie autorisée ni un nom de script.")
        chosen.append(selector)
    if not chosen:
        return ""
    forbidden = " or ".join(FORBIDDEN_CATEGORIES)
    return f"({' or '.join(chosen)}) and safe and not ({forbidden})"


def build_command(
    targets: Sequence[str],
    ports: Sequence[int],
    options: NmapOptions | None = None,
    *,
    binary: str = "nmap",
) -> list[str]:
    """The argument list of a safe nmap run (never through a shell)."""
    options = options or NmapOptions()
    addresses = check_targets(targets)  # IP addresses only: nothing can read as an option
    port_list = sorted(check_ports(ports))
    if options.timing not in TIMING:
        raise ScanError("Le profil de temporisation nmap doit être 3 ou 4.")
    # A connect scan (no root), with version detection on top when asked.
    command = [binary, "-sT", *(["-sV"] if options.version_detection else []), "-Pn", "-n"]
    command += [TIMING[options.timing], "--host-timeout", f"{int(options.host_timeout_s)}s"]
    if options.max_rate:
        command += ["--max-rate", f"{float(options.max_rate):g}"]
    expression = script_expression(options.scripts)
    if expression:
        command += ["--script", expression]
    if any(ipaddress.ip_address(a).version == 6 for a in addresses):
        if any(ipaddress.ip_address(a).version == 4 for a in addresses):
            raise ScanError("nmap ne mélange pas IPv4 et IPv6 dans un même lancement.")
        command.append("-6")
    command += ["-p", ",".join(str(p) for p in port_list), "-oX", "-", "--", *addresses]
    return command


def run(
    targets: Sequence[str],
    ports: Sequence[int],
    options: NmapOptions | None = None,
    *,
    timeout_s: float = 3600,
) -> ScanResult:
    """Run nmap and parse its output; NmapError if it is missing, fails or times out."""
    binary = shutil.which("nmap")
    if binary is None:
        raise NmapError("nmap n'est pas installé sur ce serveur (paquet Debian « nmap »).")
    command = build_command(targets, ports, options, binary=binary)
    try:
        completed = subprocess.run(  # noqa: S603 - fixed binary, argument list built above
            command, capture_output=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise NmapError(f"nmap n'a pas fini en {timeout_s:g} s.") from exc
    if completed.returncode != 0:
        message = completed.stderr.decode(errors="replace").strip()[:500]
        raise NmapError(f"nmap a échoué (code {completed.returncode}) : {message}")
    return parse_xml(completed.stdout)


class NmapScanner:
    """nmap behind the Scanner interface (a connect scan of its own, -sT). Its --max-rate is
    for the whole run, so the per-/24 cap becomes a stricter global one; it reports no progress
    and is bounded by its host timeout rather than cancelled mid-run."""

    name = "nmap"

    def __init__(self, options: NmapOptions | None = None):
        self.options = options or NmapOptions(version_detection=False)

    def scan(
        self,
        targets,
        ports,
        *,
        rate_per_24: float,
        timeout_plan=None,
        on_progress=None,
        cancel_event=None,
    ) -> ScanResult:
        options = NmapOptions(
            version_detection=self.options.version_detection,
            scripts=self.options.scripts,
            timing=self.options.timing,
            max_rate=rate_per_24,
            host_timeout_s=self.options.host_timeout_s,
        )
        result = run(targets, ports, options)
        result.rate_per_24 = rate_per_24
        return result


# --- XML ----------------------------------------------------------------------------------------


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def parse_xml(data: bytes | str) -> ScanResult:
    """nmap's XML (-oX) as a ScanResult: open ports only, with service, version, CPE and
    script output. Entity tricks and DTD fetches are refused by defusedxml."""
    try:
        root = ElementTree.fromstring(data, forbid_dtd=False)
    except DefusedXmlException as exc:
        raise NmapError(f"sortie nmap refusée (construction XML dangereuse : {exc}).") from exc
    except ElementTree.ParseError as exc:
        raise NmapError(f"sortie nmap illisible : {exc}") from exc
    if root.tag != "nmaprun":
        raise NmapError(f"sortie nmap inattendue : élément racine « {root.tag} ».")
    started = _int(root.get("start"))
    result = ScanResult(
        scanner="nmap",
        hosts={},
        started_at=datetime.datetime.fromtimestamp(started, datetime.UTC),
    )
    finished = root.find("runstats/finished")
    if finished is not None:
        try:
            result.elapsed = float(finished.get("elapsed", "0"))
        except ValueError:
            result.elapsed = 0.0
    scaninfo = root.find("scaninfo")
    port_count = 0
    if scaninfo is not None:
        for part in (scaninfo.get("services") or "").split(","):
            low, _, high = part.partition("-")
            if low.isdigit():
                port_count += (_int(high) - _int(low) + 1) if high else 1
    for node in root.iter("host"):
        address = next(
            (
                a.get("addr", "")
                for a in node.findall("address")
                if a.get("addrtype") in ("ipv4", "ipv6")
            ),
            "",
        )
        if not address:
            continue
        host = HostResult(address=address)
        host.hostnames = [
            h.get("name", "") for h in node.findall("hostnames/hostname") if h.get("name")
        ]
        status = node.find("status")
        if status is not None and status.get("state") != "up":
            host.unreachable = status.get("reason", "down")
        times = node.find("times")
        if times is not None and _int(times.get("srtt"), -1) >= 0:
            host.srtt = _int(times.get("srtt")) / 1_000_000  # microseconds
        for port_node in node.findall("ports/port"):
            state = port_node.find("state")
            if state is None or state.get("state") != "open":
                continue
            entry = PortResult(
                port=_int(port_node.get("portid")),
                protocol=port_node.get("protocol", "tcp"),
            )
            service = port_node.find("service")
            if service is not None:
                entry.service = service.get("name", "")
                entry.product = service.get("product", "")
                entry.version = service.get("version", "")
                entry.extra_info = service.get("extrainfo", "")
                entry.tunnel = service.get("tunnel", "")
                entry.cpe = [c.text.strip() for c in service.findall("cpe") if c.text]
            for script in port_node.findall("script"):
                entry.scripts[script.get("id", "")] = (script.get("output") or "").strip()
            if entry.protocol == "tcp" and 0 < entry.port <= 65535:
                host.ports[entry.port] = entry
        result.hosts[address] = host
    result.probes_planned = port_count * len(result.hosts)
    return result
