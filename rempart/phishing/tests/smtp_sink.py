"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1 (a free port), keeping every message
it accepts; it can refuse chosen addresses. Shared by the sending tests and the browser
journey (as the fixture `sink`)."""

from __future__ import annotations

import contextlib
import email
import email.policy
import logging
import socket
import threading
from collections import Counter

from aiosmtpd.controller import Controller

from rempart.phishing import sending


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Sink:
    """An aiosmtpd handler keeping every accepted message; refuses the addresses listed."""

    def __init__(self):
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.refuse: dict[str, str] = {}  # address -> SMTP answer
        self.lock = threading.Lock()
        self.port = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"

    def parsed(self) -> list[email.message.EmailMessage]:
        return [
            email.message_from_bytes(raw, policy=email.policy.default) for *_, raw in self.messages
        ]

    def tokens(self) -> Counter:
        return Counter(m[sending.TOKEN_HEADER] for m in self.parsed())


@contextlib.contextmanager
def running_sink():
    """A started sink; stopped on leaving."""
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    handler = Sink()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    try:
        yield handler
    finally:
        controller.stop()
