"""The connect scanner against listeners the tests open on 127.0.0.1 (loopback only)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from rempart.exposure import scanner as scanner_module
from rempart.exposure.ports import PortInfo
from rempart.exposure.scanner import (
    ConnectScanner,
    RateLimiter,
    RttEstimator,
    ScanError,
    TimeoutPlan,
    concurrency_bound,
    printable,
    rate_key,
)

from .servers import Listener, closed_ports, free_port

FAST = TimeoutPlan(initial=0.3, minimum=0.05, maximum=0.3, retries=1)


@pytest.fixture
def listeners():
    made: list[Listener] = []

    def make(*args, **kwargs) -> Listener:
        listener = Listener(*args, **kwargs)
        made.append(listener)
        return listener

    yield make
    for listener in made:
        listener.close()


def scan(ports, *, targets=("127.0.0.1",), rate=5000, plan=FAST, **kwargs):
    options = {"banners": False} | kwargs
    return ConnectScanner(**options).scan(list(targets), ports, rate_per_24=rate, timeout_plan=plan)


def test_open_ports_found_and_closed_ones_not(listeners):
    opened = [listeners().port for _ in range(3)]
    closed = closed_ports(20)
    result = scan(opened + closed)
    host = result.hosts["127.0.0.1"]
    assert host.open_ports == sorted(opened)
    assert result.open_set() == {("127.0.0.1", p) for p in opened}
    assert host.answered == len(opened) + len(closed)  # a RST is an answer too
    assert host.timeouts == 0
    assert result.probes_planned == 23
    assert result.probes_sent == 23
    assert host.srtt is not None
    assert host.srtt > 0


def test_port_that_stops_answering_times_out_without_stalling(listeners):
    answering = listeners().port
    silent = listeners(accept=False, backlog_full=True).port  # the kernel drops its SYNs
    closed = closed_ports(10)
    started = time.perf_counter()
    result = scan([answering, silent, *closed])
    elapsed = time.perf_counter() - started
    host = result.hosts["127.0.0.1"]
    assert host.open_ports == [answering]
    assert host.timeouts == 1  # counted once, after its retry
    assert result.probes_sent == 12 + 1
    # Two tries of at most FAST.maximum each, not the kernel's minute-long SYN retries (the
    # bound leaves room for a loaded machine).
    assert elapsed < 20


def test_silent_host_and_planned_timeouts(listeners):
    """Timeouts follow the RTT measured on the answering ports: on loopback, the minimum."""
    silent = listeners(accept=False, backlog_full=True).port
    ports = [*closed_ports(30), silent]
    result = scan(ports, plan=TimeoutPlan(initial=30.0, minimum=0.05, maximum=30.0, retries=0))
    assert result.hosts["127.0.0.1"].timeouts == 1
    # The silent port was started before any RTT was known; the first answers brought its
    # deadline forward to the planned timeout (a few RTTs), far from the initial 30 s.
    assert result.elapsed < 15


def test_banner_of_a_talking_service_and_a_silent_one_does_not_stall(listeners):
    talking = listeners(greeting=b"SSH-2.0-OpenSSH_7.4\r\n").port
    mute = listeners(greeting=None).port  # accepts, then never says anything
    result = ConnectScanner(banner_timeout=0.6).scan(
        ["127.0.0.1"], [talking, mute], rate_per_24=1000, timeout_plan=FAST
    )
    ports = result.hosts["127.0.0.1"].ports
    assert ports[talking].banner == "SSH-2.0-OpenSSH_7.4"
    assert ports[mute].banner == ""
    assert result.banner_elapsed < 15  # the mute service's 0.6 s, not a wait forever


def test_web_ports_get_a_head_request(listeners, monkeypatch):
    web = listeners(greeting=b"HTTP/1.1 301 Moved\r\nServer: nginx/1.18.0\r\n\r\n")
    info = PortInfo(web.port, "http", "Web", "web", "low", "http", False, "x" * 20, "y" * 20)
    monkeypatch.setattr(scanner_module, "port_info", lambda port: info)
    result = ConnectScanner(banner_timeout=1.0).scan(
        ["127.0.0.1"], [web.port], rate_per_24=1000, timeout_plan=FAST
    )
    assert web.received
    assert web.received[0].startswith(b"HEAD / HTTP/1.0\r\nHost: 127.0.0.1")
    assert result.hosts["127.0.0.1"].ports[web.port].banner == (
        "HTTP/1.1 301 Moved | Server: nginx/1.18.0"
    )


def test_cancel_stops_a_long_scan():
    """Cancelled once it has started probing, the scan stops there: 20,000 probes at 200 per
    second would take 100 s (the bounds are far from any machine's speed: no timing race)."""
    cancel = threading.Event()

    def cancel_once_started(progress):
        if progress.done > 0:
            cancel.set()

    started = time.perf_counter()
    result = ConnectScanner(banners=False).scan(
        ["127.0.0.1"],
        list(range(20000, 40000)),
        rate_per_24=200,
        timeout_plan=FAST,
        cancel_event=cancel,
        on_progress=cancel_once_started,
    )
    assert result.cancelled
    assert 0 < result.probes_sent < 20000
    assert time.perf_counter() - started < 30


def test_concurrency_never_exceeds_the_bound_from_the_descriptor_limit(monkeypatch):
    in_use = scanner_module.open_descriptors()
    monkeypatch.setattr(
        scanner_module.resource,
        "getrlimit",
        lambda which: (in_use + scanner_module.FD_MARGIN + 12, 1 << 20),
    )
    assert concurrency_bound() == 12

    live = 0
    peak = 0

    class CountingSocket(socket.socket):
        def close(self):
            nonlocal live
            if self.fileno() != -1:
                live -= 1
            super().close()

    class Counting(ConnectScanner):
        def _make_socket(self, family, address):
            nonlocal live, peak
            sock = CountingSocket(family, socket.SOCK_STREAM)
            live += 1
            peak = max(peak, live)
            return sock

    result = Counting(banners=False).scan(
        ["127.0.0.1"], closed_ports(200), rate_per_24=100_000, timeout_plan=FAST
    )
    # The event loop's own descriptors (epoll, self-pipe) were open when the scan computed it.
    assert 1 <= result.concurrency_bound <= 12
    assert result.max_in_flight <= result.concurrency_bound
    assert peak <= result.concurrency_bound
    assert live == 0  # every socket closed
    assert result.probes_sent == 200


def test_too_few_descriptors_refuses_to_start(monkeypatch):
    monkeypatch.setattr(scanner_module.resource, "getrlimit", lambda which: (10, 10))
    with pytest.raises(ScanError, match="descripteurs"):
        concurrency_bound()


def test_loopback_self_connect_is_not_an_open_port():
    """Connecting from 127.0.0.1:P to 127.0.0.1:P with nothing listening: the kernel joins
    the socket to itself (TCP simultaneous open) and connect() succeeds."""
    port = free_port()

    class SamePort(ConnectScanner):
        def _make_socket(self, family, address):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", address[1]))
            return sock

    result = SamePort(banners=False).scan(["127.0.0.1"], [port], rate_per_24=100, timeout_plan=FAST)
    assert result.self_connects_filtered == 1
    assert result.open_set() == set()


def test_rate_cap_per_24(listeners):
    """50 probes/s per /24: 60 probes on one /24 take over a second (a lower bound, which a
    slow machine cannot break); two addresses of two /24s have a cap each."""
    ports = closed_ports(60)
    one = scan(ports, rate=50)
    assert one.elapsed >= (60 - 5 - 1) / 50  # burst of 5, then one every 20 ms
    two = scan(ports[:30], targets=("127.0.0.1", "127.0.1.1"), rate=50)
    assert two.probes_sent == 60
    assert two.elapsed >= (30 - 5 - 1) / 50
    assert scanner_module.rate_key("127.0.0.1") != scanner_module.rate_key("127.0.1.1")
    assert scanner_module.rate_key("127.0.0.1") == scanner_module.rate_key("127.0.0.200")


def test_rate_limiter_spacing():
    import asyncio

    async def run():
        limiter = RateLimiter(100)  # burst of 10
        started = time.monotonic()
        for _ in range(30):
            await limiter.take()
        return time.monotonic() - started

    elapsed = asyncio.run(run())
    assert elapsed >= 0.17  # 20 tokens after the burst, one every 10 ms


def test_rtt_estimator_plans_like_nmap():
    plan = TimeoutPlan(initial=1.0, minimum=0.1, maximum=1.25)
    estimator = RttEstimator()
    assert estimator.timeout(plan) is None
    estimator.add(0.040)
    assert estimator.timeout(plan) == pytest.approx(0.040 + 4 * 0.020)
    for _ in range(50):
        estimator.add(0.040)
    assert estimator.timeout(plan) == pytest.approx(0.1, abs=1e-3)  # the minimum
    estimator.add(3.0)
    assert estimator.timeout(plan) == 1.25  # the maximum


def test_progress_is_reported():
    seen = []
    ConnectScanner(banners=False).scan(
        ["127.0.0.1"],
        closed_ports(40),
        rate_per_24=5000,
        timeout_plan=FAST,
        on_progress=seen.append,
    )
    assert seen[-1].done == seen[-1].total == 40
    assert seen[-1].percent == 100.0


@pytest.mark.parametrize(
    ("targets", "ports", "rate", "message"),
    [
        (["intranet.ch-exemple.fr"], [80], 10, "n'est pas une adresse IP"),
        (["127.0.0.1"], [0], 10, "n'est pas un port"),
        (["127.0.0.1"], [70000], 10, "n'est pas un port"),
        (["127.0.0.1"], [], 10, "Aucun port"),
        ([], [80], 10, "Aucune cible"),
        (["127.0.0.1"], [80], 0, "débit"),
    ],
)
def test_bad_settings_are_refused_in_french(targets, ports, rate, message):
    with pytest.raises(ScanError, match=message):
        ConnectScanner().scan(targets, ports, rate_per_24=rate)


def test_bad_timeout_plan_is_refused():
    with pytest.raises(ScanError):
        TimeoutPlan(initial=0.05, minimum=0.1)


def test_rate_key_groups_by_24():
    assert rate_key("192.0.2.10") == rate_key("192.0.2.254") == "192.0.2.0/24"
    assert rate_key("192.0.3.1") != rate_key("192.0.2.1")
    assert rate_key("2001:db8::1") == "2001:db8::/64"


def test_printable_banner():
    assert printable(b"220 ftp.example FTP\r\n\x00\xff") == "220 ftp.example FTP | \\x00\\xff"
    assert len(printable(b"A" * 1000)) == 300
