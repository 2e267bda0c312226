"""The public tracking server (`manage.py tracking_server`, decision 0005) serves the same
application: started for real on loopback, it answers the pixel and the static files."""

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from rempart.phishing.management.commands.tracking_server import granian_argv
from rempart.phishing.tracking_views import PIXEL_GIF

ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, path: str):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_the_command_builds_a_wsgi_granian_server_on_the_given_address():
    argv = granian_argv(host="127.0.0.1", port=8001, workers=2, blocking_threads=2)
    assert argv[0] == "granian"
    assert argv[argv.index("--interface") + 1] == "wsgi"
    assert argv[argv.index("--workers") + 1] == "2"
    assert argv[-1] == "config.tracking_wsgi:application"


@pytest.mark.parametrize("bind", ["8001", "localhost", "127.0.0.1:http"])
def test_a_malformed_address_is_refused(bind):
    with pytest.raises(CommandError, match="Adresse d'écoute invalide"):
        call_command("tracking_server", bind=bind)


def test_the_server_answers_the_pixel_and_static_files():
    port = _free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    server = subprocess.Popen(  # noqa: S603 - our own manage.py, fixed arguments
        [
            sys.executable,
            "manage.py",
            "tracking_server",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, headers, body = _get(port, "/p/o/jeton-inconnu.gif")
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        # An unknown token: the same image, nothing stored, never cached.
        assert status == 200
        assert body == PIXEL_GIF
        assert headers["content-type"] == "image/gif"
        assert "no-store" in headers["cache-control"]
        assert headers["x-frame-options"] == "DENY"
        status, headers, _body = _get(port, "/static/core/rempart.css")
        assert status == 200
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
