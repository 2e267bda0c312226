"""Port discovery: an asyncio TCP connect scanner that needs no privileges.

Why these rules (docs/exposure.md):
- one socket per probe, so the number of probes in flight stays below the process's
  file-descriptor limit (RLIMIT_NOFILE) with a margin for the rest of the process;
- the connect timeout follows the measured round-trip times, as nmap and TCP do
  (srtt + 4 × rttvar, clamped): a silent (filtered) port costs a few RTTs, not seconds;
- a rate cap per /24 (a token bucket, GCRA form), which is what an authorisation promises to
  the hospital's network team;
- every socket is closed at once with SO_LINGER 0 (a RST, no TIME_WAIT pile-up);
- a connect to 127.0.0.1:P that the kernel completed from the same ephemeral port P (TCP
  simultaneous open with itself) is not an open port: local address == remote address;
- a target that stops answering only costs its probes' timeouts: nothing waits for it.

The engine takes IP addresses only: deciding what may be scanned (authorised scope, public
addresses, time windows) is the caller's job, done before it is called.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import errno
import inspect
import ipaddress
import os
import resource
import socket
import ssl
import struct
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .ports import port_info

LINGER_RST = struct.pack("ii", 1, 0)
FD_MARGIN = 64  # descriptors left for the rest of the process (database, logs, banners)
DEFAULT_MAX_CONCURRENCY = 2048
# Errors that say the whole host (or the route to it) is unreachable.
UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}
# Errors that say this process ran short of local resources: wait and try the same probe again.
TRANSIENT = {errno.EMFILE, errno.ENFILE, errno.EADDRNOTAVAIL, errno.ENOBUFS, errno.EAGAIN}
# Ports first probed on each host: they usually answer (open or closed), which gives the RTT
# estimate the timeouts of the silent ports are planned from.
WARMUP_PORTS = (80, 443, 22, 25, 21, 3389, 445, 8080, 8443, 53, 23, 110, 143)


class ScanError(ValueError):
    """The scan cannot start (bad target, bad port, bad setting); the message is in French."""


@dataclass(frozen=True)
class TimeoutPlan:
    """How long to wait for an answer: nmap's -T4 figures by default."""

    initial: float = 1.0  # before any RTT was measured
    minimum: float = 0.1
    maximum: float = 1.25
    retries: int = 1  # a silent port is probed this many more times before it counts as filtered

    def __post_init__(self):
        if not 0 < self.minimum <= self.initial <= 30 or not self.minimum <= self.maximum <= 30:
            raise ScanError("Délais incohérents : il faut 0 < minimum ≤ initial et maximum ≤ 30 s.")
        if not 0 <= self.retries <= 5:
            raise ScanError("Le nombre de nouvelles tentatives doit être entre 0 et 5.")


@dataclass
class PortResult:
    port: int
    protocol: str = "tcp"
    state: str = "open"
    service: str = ""  # our name (data/ports.yaml) or nmap's
    banner: str = ""
    product: str = ""
    version: str = ""
    extra_info: str = ""
    tunnel: str = ""  # "ssl" when the service speaks TLS
    cpe: list[str] = field(default_factory=list)
    scripts: dict[str, str] = field(default_factory=dict)


@dataclass
class HostResult:
    address: str
    hostnames: list[str] = field(default_factory=list)
    ports: dict[int, PortResult] = field(default_factory=dict)  # open ports only
    probes: int = 0
    answered: int = 0  # probes that got an answer (SYN-ACK or RST)
    timeouts: int = 0
    errors: int = 0
    srtt: float | None = None  # seconds
    unreachable: str = ""  # why the network said the host cannot be reached

    @property
    def open_ports(self) -> list[int]:
        return sorted(self.ports)


@dataclass
class ScanResult:
    scanner: str
    hosts: dict[str, HostResult]
    started_at: datetime.datetime
    elapsed: float = 0.0  # seconds, wall time of the whole scan
    probes_planned: int = 0  # targets × ports (retries not counted)
    probes_sent: int = 0  # connect attempts made, retries included
    timeouts: int = 0
    self_connects_filtered: int = 0
    concurrency_bound: int = 0
    max_in_flight: int = 0
    rate_per_24: float = 0.0
    cancelled: bool = False
    banner_elapsed: float = 0.0

    def open_set(self) -> set[tuple[str, int]]:
        return {(address, port) for address, host in self.hosts.items() for port in host.ports}

    @property
    def open_count(self) -> int:
        return sum(len(host.ports) for host in self.hosts.values())


@dataclass(frozen=True)
class ScanProgress:
    done: int  # probes finished (retries not counted)
    total: int
    open_found: int
    elapsed: float

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else 100.0


ProgressCallback = Callable[[ScanProgress], object]


class Scanner(Protocol):
    """What a scanner does; the connect scanner and the nmap runner both fit."""

    name: str

    def scan(
        self,
        targets: Sequence[str],
        ports: Sequence[int],
        *,
        rate_per_24: float,
        timeout_plan: TimeoutPlan | None = None,
        on_progress: ProgressCallback | None = None,
        cancel_event=None,
    ) -> ScanResult: ...


# --- Settings checks ----------------------------------------------------------------------------


def check_targets(targets: Iterable[str]) -> list[str]:
    """Canonical addresses, duplicates removed; ScanError for anything that is not an IP."""
    seen: dict[str, None] = {}
    for raw in targets:
        try:
            address = ipaddress.ip_address(str(raw).strip())
        except ValueError:
            raise ScanError(
                f"« {raw} » n'est pas une adresse IP : le moteur ne reçoit que des adresses "
                "(les noms sont résolus avant, dans le périmètre autorisé)."
            ) from None
        seen[str(address)] = None
    if not seen:
        raise ScanError("Aucune cible à analyser.")
    return list(seen)


def check_ports(ports: Iterable[int]) -> list[int]:
    clean: dict[int, None] = {}
    for port in ports:
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise ScanError(f"« {port} » n'est pas un port TCP (1 à 65535).")
        clean[port] = None
    if not clean:
        raise ScanError("Aucun port à analyser.")
    return list(clean)


def open_descriptors() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 32  # a guess on systems without /proc, covered by the margin


def concurrency_bound(*, cap: int = DEFAULT_MAX_CONCURRENCY, margin: int = FD_MARGIN) -> int:
    """How many probes may be in flight: below the soft RLIMIT_NOFILE, minus the descriptors
    already open and a margin for the rest of the process."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    available = soft - open_descriptors() - margin
    if available < 1:
        raise ScanError(
            f"Trop peu de descripteurs de fichiers disponibles (limite {soft}) pour analyser."
        )
    return max(1, min(cap, available))


def rate_key(address: str) -> str:
    """The /24 (IPv4) or /64 (IPv6) an address belongs to: the unit of the rate cap."""
    ip = ipaddress.ip_address(address)
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


# --- Timing -------------------------------------------------------------------------------------


class RttEstimator:
    """Smoothed RTT and its variation (RFC 6298, as nmap does)."""

    __slots__ = ("rttvar", "samples", "srtt")

    def __init__(self):
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.samples = 0

    def add(self, rtt: float) -> None:
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt
        self.samples += 1

    def timeout(self, plan: TimeoutPlan) -> float | None:
        if self.srtt is None:
            return None
        return min(plan.maximum, max(plan.minimum, self.srtt + 4 * self.rttvar))


class RateLimiter:
    """A token bucket in its GCRA form: `rate` probes per second with a burst of a tenth of a
    second's worth (at least one), so any one-second window holds at most 1.1 × rate probes.
    One computation and at most one sleep per probe, however many coroutines wait."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate
        self.tolerance = max(0.0, rate * 0.1 - 1) * self.interval
        self.tat = 0.0  # theoretical arrival time of the next probe

    async def take(self) -> None:
        now = time.monotonic()
        tat = max(self.tat, now)
        self.tat = tat + self.interval
        wait = tat - self.tolerance - now
        if wait > 0:
            await asyncio.sleep(wait)


# --- The connect scanner ------------------------------------------------------------------------

OPEN, CLOSED, TIMEOUT, SELF, UNREACH, ERROR = range(6)


@dataclass(eq=False)  # hashed by identity: it sits in the set of provisional timers
class _HostState:
    result: HostResult
    rtt: RttEstimator
    subnet: RttEstimator
    limiter: RateLimiter


def _probe_order(targets: list[str], ports: list[int]) -> Iterator[tuple[str, int, int]]:
    """Each host's usually-answering ports first, then port by port across hosts (so no host
    and no /24 gets a burst of its own)."""
    wanted = set(ports)
    first = [p for p in WARMUP_PORTS if p in wanted]
    chosen = set(first)
    rest = [p for p in ports if p not in chosen]
    for port in first + rest:
        for address in targets:
            yield address, port, 0


class ConnectScanner:
    """TCP connect scan on asyncio; see the module docstring for the rules it keeps."""

    name = "connect"

    def __init__(
        self,
        *,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        banners: bool = True,
        banner_timeout: float = 2.0,
        banner_bytes: int = 512,
    ):
        self.max_concurrency = max_concurrency
        self.banners = banners
        self.banner_timeout = banner_timeout
        self.banner_bytes = banner_bytes

    # The socket factory is a method so that a test can bind the source port.
    def _make_socket(self, family: int, address: tuple) -> socket.socket:
        return socket.socket(family, socket.SOCK_STREAM)

    def scan(
        self,
        targets: Sequence[str],
        ports: Sequence[int],
        *,
        rate_per_24: float,
        timeout_plan: TimeoutPlan | None = None,
        on_progress: ProgressCallback | None = None,
        cancel_event=None,
    ) -> ScanResult:
        """Run the scan on a fresh event loop (the caller is a worker thread or process)."""
        return asyncio.run(
            self.scan_async(
                targets,
                ports,
                rate_per_24=rate_per_24,
                timeout_plan=timeout_plan,
                on_progress=on_progress,
                cancel_event=cancel_event,
            )
        )

    async def scan_async(
        self,
        targets: Sequence[str],
        ports: Sequence[int],
        *,
        rate_per_24: float,
        timeout_plan: TimeoutPlan | None = None,
        on_progress: ProgressCallback | None = None,
        cancel_event=None,
    ) -> ScanResult:
        addresses = check_targets(targets)
        port_list = check_ports(ports)
        if not 0 < rate_per_24 <= 100_000:
            raise ScanError("Le débit maximal par /24 doit être entre 1 et 100 000 sondes/s.")
        plan = timeout_plan or TimeoutPlan()
        bound = concurrency_bound(cap=self.max_concurrency)
        total = len(addresses) * len(port_list)
        result = ScanResult(
            scanner=self.name,
            hosts={},
            started_at=datetime.datetime.now(datetime.UTC),
            probes_planned=total,
            concurrency_bound=bound,
            rate_per_24=rate_per_24,
        )
        overall = RttEstimator()
        subnets: dict[str, tuple[RttEstimator, RateLimiter]] = {}
        states: dict[str, _HostState] = {}
        for address in addresses:
            key = rate_key(address)
            if key not in subnets:
                subnets[key] = (RttEstimator(), RateLimiter(rate_per_24))
            host = HostResult(address=address)
            result.hosts[address] = host
            states[address] = _HostState(host, RttEstimator(), *subnets[key])

        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        work = _probe_order(addresses, port_list)
        retry: deque[tuple[str, int, int]] = deque()
        in_flight = 0
        done = 0
        stop = asyncio.Event()  # cancelled
        changed = asyncio.Event()  # a probe finished: a retry may have been queued

        def plan_timeout(state: _HostState) -> float | None:
            for estimator in (state.rtt, state.subnet, overall):
                value = estimator.timeout(plan)
                if value is not None:
                    return value
            return None

        # Probes started before any RTT was measured wait `plan.initial`; as soon as a sample
        # arrives their deadline is brought forward to what the estimate plans.
        provisional: set[tuple[asyncio.Timeout, float, _HostState]] = set()

        def shorten_provisional() -> None:
            for timer, begin, state in list(provisional):
                planned = plan_timeout(state)
                when = timer.when()
                if planned is not None and when is not None and begin + planned < when:
                    timer.reschedule(max(begin + planned, loop.time()))

        async def next_item() -> tuple[str, int, int] | None:
            while not stop.is_set():
                if retry:
                    return retry.popleft()
                item = next(work, None)
                if item is not None:
                    return item
                if in_flight == 0:
                    return None
                changed.clear()
                await changed.wait()
            return None

        async def worker() -> None:
            nonlocal in_flight, done
            while True:
                item = await next_item()
                if item is None:
                    return
                address, port, tries = item
                state = states[address]
                host = state.result
                in_flight += 1
                result.max_in_flight = max(result.max_in_flight, in_flight)
                try:
                    if host.unreachable:
                        done += 1
                        continue
                    await state.limiter.take()
                    if stop.is_set():
                        return
                    timeout = plan_timeout(state)
                    watch = (provisional, state) if timeout is None else None
                    outcome, rtt, detail = await self._probe(
                        loop, address, port, timeout or plan.initial, watch
                    )
                    host.probes += 1
                    result.probes_sent += 1
                    if rtt is not None:
                        host.answered += 1
                        for estimator in (state.rtt, state.subnet, overall):
                            estimator.add(rtt)
                        host.srtt = state.rtt.srtt
                        if provisional:
                            shorten_provisional()
                    if outcome == TIMEOUT:
                        if tries < plan.retries:
                            retry.append((address, port, tries + 1))
                            continue
                        host.timeouts += 1
                        result.timeouts += 1
                    elif outcome == OPEN:
                        info = port_info(port)
                        host.ports[port] = PortResult(
                            port=port, service=info.service if info else ""
                        )
                    elif outcome == SELF:
                        result.self_connects_filtered += 1
                    elif outcome == UNREACH:
                        host.unreachable = detail
                    elif outcome == ERROR:
                        host.errors += 1
                    done += 1
                finally:
                    in_flight -= 1
                    changed.set()

        async def watch() -> None:
            last_report = -1.0
            while True:
                now = time.perf_counter()
                if cancel_event is not None and cancel_event.is_set():
                    stop.set()
                    changed.set()
                    return
                if on_progress is not None and now - last_report >= 0.5:
                    last_report = now
                    await _call(on_progress, self._progress(result, done, total, started))
                await asyncio.sleep(0.05)

        workers = [asyncio.create_task(worker()) for _ in range(min(bound, total))]
        watcher = asyncio.create_task(watch())
        try:
            gather = asyncio.gather(*workers)
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({gather, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                result.cancelled = True
                for task in workers:
                    task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gather
            stopped.cancel()
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        result.elapsed = time.perf_counter() - started
        if self.banners and not result.cancelled:
            banner_started = time.perf_counter()
            await self.grab_banners(result, bound)
            result.banner_elapsed = time.perf_counter() - banner_started
            result.elapsed = time.perf_counter() - started
        if on_progress is not None:
            await _call(on_progress, self._progress(result, done, total, started))
        return result

    @staticmethod
    def _progress(result: ScanResult, done: int, total: int, started: float) -> ScanProgress:
        return ScanProgress(
            done=done,
            total=total,
            open_found=result.open_count,
            elapsed=time.perf_counter() - started,
        )

    async def _probe(self, loop, address: str, port: int, timeout: float, watch=None):
        """One connect: (outcome, rtt or None, detail). With `watch` = (set, state), the
        timer is registered in the set so that its deadline can be brought forward."""
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        target = (address, port)
        for _attempt in range(50):
            try:
                sock = self._make_socket(family, target)
            except OSError as exc:
                if exc.errno in TRANSIENT:
                    await asyncio.sleep(0.01)
                    continue
                return ERROR, None, str(exc)
            try:
                sock.setblocking(False)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
                begin = time.perf_counter()
                entry = None
                try:
                    async with asyncio.timeout(timeout) as timer:
                        if watch is not None:
                            entry = (timer, loop.time(), watch[1])
                            watch[0].add(entry)
                        await loop.sock_connect(sock, target)
                except TimeoutError:
                    return TIMEOUT, None, ""
                except ConnectionRefusedError:
                    return CLOSED, time.perf_counter() - begin, ""
                except OSError as exc:
                    if exc.errno in TRANSIENT:
                        await asyncio.sleep(0.01)
                        continue
                    if exc.errno in UNREACHABLE:
                        return UNREACH, None, os.strerror(exc.errno)
                    return ERROR, None, str(exc)
                rtt = time.perf_counter() - begin
                try:
                    if sock.getsockname()[:2] == sock.getpeername()[:2]:
                        return SELF, None, ""
                except OSError:  # reset between connect and the check: it did answer
                    return CLOSED, rtt, ""
                return OPEN, rtt, ""
            finally:
                if entry is not None:
                    watch[0].discard(entry)
                sock.close()
        return ERROR, None, "ressources locales épuisées"

    # --- Banners --------------------------------------------------------------------------------

    async def grab_banners(self, result: ScanResult, concurrency: int = 64) -> None:
        """What each open port says first (or answers to a HEAD on web ports)."""
        limit = asyncio.Semaphore(max(1, min(concurrency, 256)))

        async def one(address: str, entry: PortResult) -> None:
            async with limit:
                entry.banner, tunnel = await self.banner(address, entry.port)
                if tunnel:
                    entry.tunnel = tunnel

        await asyncio.gather(
            *(
                one(address, entry)
                for address, host in result.hosts.items()
                for entry in host.ports.values()
            )
        )

    async def banner(self, address: str, port: int) -> tuple[str, str]:
        """(printable banner, "ssl" if TLS was spoken) — empty on silence or error, never
        longer than banner_timeout."""
        info = port_info(port)
        probe = info.probe if info else "read"
        if probe == "none":
            return "", ""
        use_tls = bool(info and info.tls)
        context = None
        if use_tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        writer = None
        try:
            async with asyncio.timeout(self.banner_timeout):
                reader, writer = await asyncio.open_connection(address, port, ssl=context)
                if probe == "http":
                    host = f"[{address}]" if ":" in address else address
                    writer.write(
                        f"HEAD / HTTP/1.0\r\nHost: {host}\r\nUser-Agent: rempart-exposure\r\n\r\n".encode()
                    )
                    await writer.drain()
                data = await reader.read(self.banner_bytes)
        except (TimeoutError, OSError, ssl.SSLError, EOFError):
            data = b""
        finally:
            if writer is not None:
                _abort(writer)
        return printable(data), "ssl" if use_tls else ""


def _abort(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
    writer.transport.abort()


def printable(data: bytes, limit: int = 300) -> str:
    """A banner safe to store and show: printable ASCII, other bytes as \\xNN, lines joined."""
    text = []
    for byte in data:
        if byte in (10, 13):
            text.append("\n" if byte == 10 else "")
        elif 32 <= byte < 127:
            text.append(chr(byte))
        else:
            text.append(f"\\x{byte:02x}")
    lines = [line.strip() for line in "".join(text).split("\n") if line.strip()]
    return " | ".join(lines)[:limit]


async def _call(callback: ProgressCallback, progress: ScanProgress) -> None:
    outcome = callback(progress)
    if inspect.isawaitable(outcome):
        await outcome
