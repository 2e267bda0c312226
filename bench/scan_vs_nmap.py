"""Benchmark: our TCP connect scanner and `nmap -sT -T4` side by side, on a test network the
benchmark builds for itself, then our scanner alone on loopback.

Run as root with `make nmap bench NAME=scan_vs_nmap`. It needs `ip` and `tc` (iproute2), `nmap`,
and `nft` or `iptables`; it refuses to run (exit 2, the reason on stderr) otherwise.

The test network (removed at the end, also on Ctrl-C or SIGTERM):
- a network namespace `rempart-scanbench-<pid>` joined to the host by a link whose host side is
  198.51.100.1 and whose namespace side holds 198.51.100.10 to .14 (five targets, TEST-NET-2:
  the benchmark refuses to run if that range is already routed anywhere on the machine — on
  this workplace 192.0.2.0/24 is the machine's own LAN, hence TEST-NET-2);
- 20 ms of delay each way (40 ms RTT): `tc qdisc … netem delay 20ms` on a veth pair when the
  kernel has netem; otherwise a pair of TUN devices joined by a small relay process of this
  script that holds every packet 20 ms in each direction (the same effect, in user space);
- inside the namespace, a firewall that silently drops (policy drop) every TCP port but a few,
  and real services on some of those: `python -m http.server`, TLS servers with certificates
  generated here (one valid, one expired), an SSH-like and an FTP-like banner, a MySQL-like
  greeting, and listeners that accept and stay silent (RDP-, SMB-, DICOM-like). One target
  has no service at all (every port dropped).
Nothing is ever sent to an address outside loopback and that namespace.

Both scanners, run from the host side, scan the same 5 targets × 1,000 ports (the watched
ports of rempart/exposure/data/ports.yaml, then 1, 2, 3… up to 1,000 ports), BENCH_ROUNDS times
(default 3), alternating. Then our scanner probes 127.0.0.1 on ports 1–30,000.

Prints:
    scan_ours_s: <x> s               median wall time of our scan (port discovery)
    scan_nmap_s: <x> s               median wall time of `nmap -sT -T4 -Pn -n … -oX -`
    scan_speed_ratio: <x> ratio      nmap time / our time (> 1: we are faster)
    open_ports_missed: <n> count     ports nmap found open that we did not (worst round)
    loopback_probes_per_s: <n> probes/s
and exits non-zero when it could not measure. Details (open sets, TLS findings of the two TLS
services, banners, timings per round) go to stderr. BENCH_RATE sets our per-/24 rate cap
(probes/s, default 20,000), BENCH_PORTS the port count, BENCH_DELAY_MS the one-way delay.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchkit import CannotMeasure, log  # noqa: E402 - bench/ is the script's own folder

NETWORK = ipaddress.ip_network("198.51.100.0/24")
DOCUMENTATION = [
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
]
HOST_SIDE = "198.51.100.1"
TARGETS = [f"198.51.100.{i}" for i in range(10, 15)]
DELAY_MS = float(os.environ.get("BENCH_DELAY_MS", "20"))
PORT_COUNT = int(os.environ.get("BENCH_PORTS", "1000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
RATE = float(os.environ.get("BENCH_RATE", "20000"))
LOOPBACK_PORTS = range(1, 30001)

# (address, port, kind): what answers inside the namespace.
SERVICES = [
    ("198.51.100.10", 80, "http"),
    ("198.51.100.10", 443, "tls-valid"),
    ("198.51.100.10", 22, "ssh"),
    ("198.51.100.11", 3389, "silent"),
    ("198.51.100.11", 445, "silent"),
    ("198.51.100.11", 8080, "http"),
    ("198.51.100.12", 8443, "tls-expired"),
    ("198.51.100.12", 3306, "mysql"),
    ("198.51.100.12", 21, "ftp"),
    ("198.51.100.13", 5432, "silent"),
    ("198.51.100.13", 11112, "silent"),
]
# Let through the firewall without a service behind: they answer RST (closed), like a real host.
CLOSED_ALLOWED = [23, 25, 139, 1433]
GREETINGS = {
    "ssh": b"SSH-2.0-OpenSSH_8.4p1 Debian-5+deb11u1\r\n",
    "ftp": b"220 (vsFTPd 3.0.3)\r\n",
    "mysql": b"J\x00\x00\x00\n5.7.33-log\x00\x08\x00\x00\x00abcdefgh\x00\xff\xf7",
}


# --- Child modes: the delay wire and the services ---------------------------------------------


def wire(host_dev: str, ns_dev: str, delay_ms: float) -> None:
    """Two TUN devices joined in user space, every packet held `delay_ms` each way."""
    import fcntl
    import heapq
    import select
    import struct

    tunsetiff, iff_tun, iff_no_pi = 0x400454CA, 0x0001, 0x1000

    def tun(name: str) -> int:
        fd = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(fd, tunsetiff, struct.pack("16sH", name.encode(), iff_tun | iff_no_pi))
        os.set_blocking(fd, False)
        return fd

    a, b = tun(host_dev), tun(ns_dev)
    peer = {a: b, b: a}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready", flush=True)
    delay = delay_ms / 1000
    queue: list[tuple[float, int, int, bytes]] = []
    serial = 0
    poller = select.poll()
    poller.register(a, select.POLLIN)
    poller.register(b, select.POLLIN)
    while True:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, fd, packet = heapq.heappop(queue)
            with contextlib.suppress(OSError):  # the other side is not up yet, or is gone
                os.write(fd, packet)
        wait_ms = max(0, int((queue[0][0] - time.monotonic()) * 1000)) if queue else 200
        for fd, _event in poller.poll(wait_ms):
            for _ in range(64):
                try:
                    packet = os.read(fd, 65535)
                except (BlockingIOError, OSError):
                    break
                serial += 1
                heapq.heappush(queue, (time.monotonic() + delay, serial, peer[fd], packet))


def serve(spec_path: str) -> None:
    """The banner, silent and TLS services of the namespace (HTTP runs as http.server)."""
    import asyncio
    import ssl

    spec = json.loads(Path(spec_path).read_text())

    async def main() -> None:
        held: set = set()

        def handler(kind: str):
            async def handle(reader, writer):
                held.add(writer)
                try:
                    if kind in GREETINGS:
                        writer.write(GREETINGS[kind])
                        await writer.drain()
                    if kind.startswith("tls"):
                        request = await asyncio.wait_for(reader.read(1024), 5)
                        if request:
                            writer.write(b"HTTP/1.0 200 OK\r\nServer: bench-tls\r\n\r\n")
                            await writer.drain()
                    await reader.read(1024)  # silent: hold until the client leaves
                except (OSError, TimeoutError, ssl.SSLError):
                    pass
                finally:
                    held.discard(writer)
                    writer.close()

            return handle

        servers = []
        for address, port, kind in spec["services"]:
            context = None
            if kind.startswith("tls"):
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(spec["certs"][kind], spec["keys"][kind])
            servers.append(await asyncio.start_server(handler(kind), address, port, ssl=context))
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


# --- The test network ---------------------------------------------------------------------------


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    completed = subprocess.run(args, capture_output=True, text=True, check=False)
    if check and completed.returncode != 0:
        raise CannotMeasure(f"{' '.join(args)} : {completed.stderr.strip()}")
    return completed


def refuse_unless_ready() -> None:
    if os.geteuid() != 0:
        raise SystemExit("scan_vs_nmap : il faut être root (espace de noms réseau, veth, tc).")
    missing = [tool for tool in ("ip", "tc", "nmap") if shutil.which(tool) is None]
    if not (shutil.which("nft") or shutil.which("iptables")):
        missing.append("nft ou iptables")
    if missing:
        raise SystemExit(
            f"scan_vs_nmap : outils manquants : {', '.join(missing)} (make nmap les installe)."
        )
    if NETWORK not in DOCUMENTATION:
        raise SystemExit("scan_vs_nmap : le réseau de test doit être une plage de documentation.")
    routes = json.loads(run("ip", "-j", "route", "show", "table", "all").stdout or "[]")
    for route in routes:
        dst = route.get("dst", "")
        if dst in ("default", "") or ":" in dst or route.get("type") in ("broadcast",):
            continue
        try:
            network = ipaddress.ip_network(dst, strict=False)
        except ValueError:
            continue
        if network.overlaps(NETWORK):
            raise SystemExit(
                f"scan_vs_nmap : {NETWORK} est déjà routé sur cette machine ({dst} "
                f"via {route.get('dev')}) : refus de s'en servir."
            )


class TestNetwork:
    def __init__(self, workdir: Path):
        pid = os.getpid()
        self.ns = f"rempart-scanbench-{pid}"
        self.host_dev = f"rsb{pid}h"[:15]
        self.ns_dev = f"rsb{pid}n"[:15]
        self.workdir = workdir
        self.children: list[subprocess.Popen] = []
        self.link = ""
        self.made_ns = False

    def __enter__(self):
        try:
            self.build()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc):
        self.remove()

    def ns_run(self, *args: str) -> None:
        run("ip", "netns", "exec", self.ns, *args)

    def spawn(self, args: list[str], name: str, in_ns: bool = True) -> subprocess.Popen:
        prefix = ["ip", "netns", "exec", self.ns] if in_ns else []
        child = subprocess.Popen(
            prefix + args,
            stdout=subprocess.PIPE,
            stderr=(self.workdir / f"{name}.log").open("wb"),
            start_new_session=True,
            cwd=self.workdir,
        )
        self.children.append(child)
        return child

    def build(self) -> None:
        run("ip", "netns", "add", self.ns)
        self.made_ns = True
        self.ns_run("ip", "link", "set", "lo", "up")
        run("ip", "link", "add", self.host_dev, "type", "veth", "peer", "name", self.ns_dev)
        delay = f"{DELAY_MS:g}ms"
        netem = run(
            "tc", "qdisc", "add", "dev", self.host_dev, "root", "netem", "delay", delay, check=False
        )
        if netem.returncode == 0:
            run("ip", "link", "set", self.ns_dev, "netns", self.ns)
            self.ns_run("tc", "qdisc", "add", "dev", self.ns_dev, "root", "netem", "delay", delay)
            self.link = f"veth + tc netem delay {delay} dans chaque sens"
        else:
            log(f"netem indisponible ({netem.stderr.strip()}) : relais TUN à {delay} par sens")
            run("ip", "link", "del", self.host_dev)
            relay = self.spawn(
                [sys.executable, __file__, "--wire", self.host_dev, self.ns_dev, f"{DELAY_MS:g}"],
                "wire",
                in_ns=False,
            )
            if relay.stdout.readline().strip() != b"ready":
                raise CannotMeasure(f"le relais TUN n'a pas démarré (voir {self.workdir}/wire.log)")
            run("ip", "link", "set", self.ns_dev, "netns", self.ns)
            self.link = f"TUN + relais en espace utilisateur, {delay} dans chaque sens"
        run("ip", "addr", "add", f"{HOST_SIDE}/24", "dev", self.host_dev)
        run("ip", "link", "set", self.host_dev, "up")
        for address in TARGETS:
            self.ns_run("ip", "addr", "add", f"{address}/24", "dev", self.ns_dev)
        self.ns_run("ip", "link", "set", self.ns_dev, "up")
        self.firewall()
        self.start_services()

    def firewall(self) -> None:
        allowed = sorted({port for _, port, _ in SERVICES} | set(CLOSED_ALLOWED))
        ports = ", ".join(str(p) for p in allowed)
        if shutil.which("nft"):
            rules = (
                "table inet rempart_scanbench {\n"
                "  chain input {\n"
                "    type filter hook input priority 0; policy drop;\n"
                '    iif "lo" accept\n'
                "    ct state established,related accept\n"
                f"    tcp dport {{ {ports} }} accept\n"
                "  }\n"
                "}\n"
            )
            path = self.workdir / "rules.nft"
            path.write_text(rules)
            self.ns_run("nft", "-f", str(path))
            log(f"pare-feu (nft) : tout port TCP ignoré sauf {ports}")
            return
        self.ns_run("iptables", "-A", "INPUT", "-i", "lo", "-j", "ACCEPT")
        self.ns_run(
            "iptables", "-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED",
            "-j", "ACCEPT",
        )  # fmt: skip
        self.ns_run(
            "iptables", "-A", "INPUT", "-p", "tcp", "-m", "multiport", "--dports",
            ",".join(str(p) for p in allowed), "-j", "ACCEPT",
        )  # fmt: skip
        self.ns_run("iptables", "-P", "INPUT", "DROP")
        log(f"pare-feu (iptables) : tout port TCP ignoré sauf {ports}")

    def start_services(self) -> None:
        certs, keys = make_certificates(self.workdir)
        site = self.workdir / "site"
        site.mkdir()
        (site / "index.html").write_text("<html><title>Portail patient</title></html>\n")
        for address, port, kind in SERVICES:
            if kind == "http":
                self.spawn(
                    [
                        sys.executable,
                        "-m",
                        "http.server",
                        "--bind",
                        address,
                        "--directory",
                        str(site),
                        str(port),
                    ],
                    f"http-{address}-{port}",
                )
        spec = self.workdir / "services.json"
        others = [s for s in SERVICES if s[2] != "http"]
        spec.write_text(json.dumps({"services": others, "certs": certs, "keys": keys}))
        server = self.spawn([sys.executable, __file__, "--serve", str(spec)], "services")
        if server.stdout.readline().strip() != b"ready":
            raise CannotMeasure(
                f"les services n'ont pas démarré (voir {self.workdir}/services.log)"
            )
        wait_for_services()

    def remove(self) -> None:
        for child in reversed(self.children):
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGTERM)
                try:
                    child.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(child.pid, signal.SIGKILL)
                    child.wait(timeout=5)
        if self.made_ns:
            run("ip", "netns", "del", self.ns, check=False)
        if run("ip", "link", "show", self.host_dev, check=False).returncode == 0:
            run("ip", "link", "del", self.host_dev, check=False)
        leftovers = [
            n for n in run("ip", "netns", "list", check=False).stdout.split() if n == self.ns
        ]
        if leftovers:
            log(f"ATTENTION : l'espace de noms {self.ns} n'a pas pu être supprimé")


def make_certificates(folder: Path) -> tuple[dict, dict]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    plans = {
        "tls-valid": (
            "portail.ch-bench.test",
            "198.51.100.10",
            now - datetime.timedelta(days=10),
            300,
        ),
        "tls-expired": (
            "vpn.ch-bench.test",
            "198.51.100.12",
            now - datetime.timedelta(days=400),
            380,
        ),
    }
    certs, keys = {}, {}
    for kind, (name, address, start, days) in plans.items():
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=days))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName(name), x509.IPAddress(ipaddress.ip_address(address))]
                ),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )
        certs[kind] = str(folder / f"{kind}.pem")
        keys[kind] = str(folder / f"{kind}.key")
        Path(certs[kind]).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        Path(keys[kind]).write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return certs, keys


def wait_for_services(timeout: float = 20) -> None:
    import socket

    deadline = time.monotonic() + timeout
    pending = {(address, port) for address, port, _ in SERVICES}
    while pending and time.monotonic() < deadline:
        for target in sorted(pending):
            with contextlib.suppress(OSError), socket.create_connection(target, timeout=1):
                pending.discard(target)
        time.sleep(0.1)
    if pending:
        raise CannotMeasure(f"services injoignables à travers le lien : {sorted(pending)}")


# --- Measures -----------------------------------------------------------------------------------


def port_list() -> list[int]:
    from rempart.exposure.ports import default_port_list

    chosen = dict.fromkeys(default_port_list())
    chosen.update(dict.fromkeys(port for _, port, _ in SERVICES))
    candidate = 1
    while len(chosen) < PORT_COUNT:
        chosen.setdefault(candidate)
        candidate += 1
    return sorted(chosen)[:PORT_COUNT] if len(chosen) > PORT_COUNT else sorted(chosen)


def scan_ours(ports: list[int]):
    from rempart.exposure.scanner import ConnectScanner

    started = time.perf_counter()
    result = ConnectScanner(banners=False).scan(TARGETS, ports, rate_per_24=RATE)
    return time.perf_counter() - started, result


def scan_nmap(ports: list[int]):
    from rempart.exposure.nmap import parse_xml

    command = [
        "nmap",
        "-sT",
        "-T4",
        "-Pn",
        "-n",
        "-p",
        ",".join(map(str, ports)),
        "-oX",
        "-",
        *TARGETS,
    ]
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, check=False, timeout=900)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise CannotMeasure(f"nmap a échoué : {completed.stderr.decode(errors='replace')[:400]}")
    return elapsed, parse_xml(completed.stdout)


def describe_extras() -> None:
    """Banners and TLS findings of the services found (stderr only: the engine's other half)."""
    from rempart.exposure.scanner import ConnectScanner
    from rempart.exposure.tls import check_tls

    scanner = ConnectScanner(banner_timeout=1.5)
    result = scanner.scan(TARGETS, sorted({p for _, p, _ in SERVICES}), rate_per_24=RATE)
    log(f"  avec bannières : {result.elapsed:.2f} s dont bannières {result.banner_elapsed:.2f} s")
    for address, host in sorted(result.hosts.items()):
        for port, entry in sorted(host.ports.items()):
            log(f"  {address}:{port:<5} {entry.service or '?':<12} {entry.banner[:70]}")
    for address, port, name in (
        ("198.51.100.10", 443, "portail.ch-bench.test"),
        ("198.51.100.12", 8443, "vpn.ch-bench.test"),
    ):
        report = check_tls(address, port, server_name=name, timeout=3)
        codes = ", ".join(sorted(report.codes)) or "aucun constat"
        log(f"  TLS {address}:{port} ({report.protocol}) : {codes}")


def loopback_rate() -> float:
    from rempart.exposure.scanner import ConnectScanner, TimeoutPlan

    plan = TimeoutPlan(initial=0.5, minimum=0.1, maximum=0.5)
    result = ConnectScanner(banners=False).scan(
        ["127.0.0.1"], list(LOOPBACK_PORTS), rate_per_24=100_000, timeout_plan=plan
    )
    log(
        f"boucle locale : {result.probes_sent} sondes en {result.elapsed:.2f} s, "
        f"{result.open_count} ports ouverts, {result.self_connects_filtered} auto-connexion(s) "
        f"écartée(s), {result.max_in_flight} en vol au plus (borne {result.concurrency_bound})"
    )
    return result.probes_sent / result.elapsed


def measure() -> dict[str, float]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    ports = port_list()
    expected = {(address, port) for address, port, _ in SERVICES}
    ours_times, nmap_times, missed_worst = [], [], 0
    with tempfile.TemporaryDirectory(prefix="rempart-scanbench-") as folder:
        network = TestNetwork(Path(folder))
        with network:
            log(f"réseau de test : {network.ns}, {network.link}, cibles {TARGETS[0]}–{TARGETS[-1]}")
            log(
                f"{len(TARGETS)} cibles × {len(ports)} ports, débit plafonné à {RATE:g} sondes/s par /24"
            )
            for round_number in range(1, ROUNDS + 1):
                order = ("ours", "nmap") if round_number % 2 else ("nmap", "ours")
                found = {}
                for who in order:
                    if who == "ours":
                        elapsed, result = scan_ours(ports)
                        ours_times.append(elapsed)
                        log(
                            f"tour {round_number} — le nôtre : {elapsed:.2f} s, {result.probes_sent} "
                            f"sondes, {result.timeouts} sans réponse, {result.max_in_flight} en vol "
                            f"au plus, srtt {1000 * (result.hosts[TARGETS[0]].srtt or 0):.1f} ms"
                        )
                    else:
                        elapsed, result = scan_nmap(ports)
                        nmap_times.append(elapsed)
                        log(f"tour {round_number} — nmap : {elapsed:.2f} s")
                    found[who] = result.open_set()
                missed = found["nmap"] - found["ours"]
                missed_worst = max(missed_worst, len(missed))
                for who, opened in found.items():
                    if opened != expected:
                        log(
                            f"  {who} : manquants {sorted(expected - opened)}, "
                            f"inattendus {sorted(opened - expected)}"
                        )
                if missed:
                    log(f"  vus ouverts par nmap et pas par nous : {sorted(missed)}")
            describe_extras()
    return {
        "ours": statistics.median(ours_times),
        "nmap": statistics.median(nmap_times),
        "missed": missed_worst,
        "loopback": loopback_rate(),
    }


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--wire":
        wire(sys.argv[2], sys.argv[3], float(sys.argv[4]))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2])
        return 0
    refuse_unless_ready()

    def stop(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)  # also when started in the background with SIGINT ignored
    try:
        figures = measure()
    except CannotMeasure as exc:
        log(f"mesure impossible : {exc}")
        return 1
    except KeyboardInterrupt:
        log("interrompu : réseau de test supprimé")
        return 130
    print(f"scan_ours_s: {figures['ours']:.2f} s")
    print(f"scan_nmap_s: {figures['nmap']:.2f} s")
    print(f"scan_speed_ratio: {figures['nmap'] / figures['ours']:.2f} ratio")
    print(f"open_ports_missed: {figures['missed']} count")
    print(f"loopback_probes_per_s: {figures['loopback']:.0f} probes/s")
    if figures["missed"]:
        log("objectif manqué : nmap a vu des ports ouverts que nous n'avons pas vus")
        return 1
    if figures["nmap"] < figures["ours"]:
        log("objectif manqué : nmap a été plus rapide")
    return 0


if __name__ == "__main__":
    sys.exit(main())
