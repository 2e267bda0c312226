"""What the benchmarks that start servers and workers share: the refusal to print a figure,
logging to stderr, free loopback ports, Redis checks and clean-up, child processes in their own
process group, Celery worker readiness."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent


class CannotMeasure(Exception):
    """Something the benchmark needs did not work: no figure is printed."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def forget_queue(redis_url: str, queue: str) -> None:
    """What a run leaves in Redis: its queue, and the messages a killed worker held."""
    try:
        import redis
    except ImportError:
        return
    client = redis.Redis.from_url(redis_url)
    try:
        client.delete(queue)
        for tag, raw in client.hscan_iter("unacked"):
            try:
                routing_key = json.loads(raw)[2]
            except (ValueError, IndexError, TypeError):
                continue
            if routing_key == queue:
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
    finally:
        client.close()


def finess(serial: int) -> str:
    """A valid FINESS number of the demo region's département 84."""
    from rempart.organisations.finess import luhn_key

    body = f"84{serial:06d}"
    return body + luhn_key(body)


class Process:
    """A child process in its own process group (killed with its children), logging to a file."""

    def __init__(self, name: str, args: list[str], log_path: Path, env: dict | None = None):
        self.name = name
        self.log_path = log_path
        self.popen = subprocess.Popen(
            args,
            cwd=ROOT,
            env=os.environ.copy() if env is None else env,
            stdout=log_path.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def wait_for_worker(worker: Process, timeout: float = 120) -> None:
    """The Celery worker answers a ping (it consumes its queue)."""
    from config.celery import app

    deadline = time.monotonic() + timeout
    name = f"{worker.name}@{socket.gethostname()}"
    while time.monotonic() < deadline:
        if worker.popen.poll() is not None:
            raise CannotMeasure(f"le worker s'est arrêté :\n{worker.tail()}")
        if app.control.ping(destination=[name], timeout=1.0):
            return
    raise CannotMeasure(f"le worker ne répond pas :\n{worker.tail()}")
