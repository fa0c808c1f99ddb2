"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message.

    with SmtpSink() as smtp:
        settings.EMAIL_HOST, settings.EMAIL_PORT = smtp.host, smtp.port
        smtp.rejected.add("bad@example.com")    # RCPT TO -> 550
        smtp.greylist("a@example.com", times=1) # RCPT TO -> 451 (temporary) the next time
        smtp.messages[0]["Subject"]             # email.message.EmailMessage
"""

import socket
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpSink:
    def __init__(self):
        self.host = "127.0.0.1"
        self.port = _free_port()
        self.messages: list = []
        self.envelopes: list = []
        self.rejected: set[str] = set()
        self.greylisted: dict[str, int] = {}
        self._controller = Controller(self, hostname=self.host, port=self.port)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.rejected:
            return "550 5.1.1 Mailbox unavailable"
        if self.greylisted.get(address, 0) > 0:
            self.greylisted[address] -= 1
            return "451 4.7.1 Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"

    def reset(self):
        self.messages.clear()
        self.envelopes.clear()
        self.rejected.clear()
        self.greylisted.clear()

    def greylist(self, address: str, *, times: int = 1) -> None:
        self.greylisted[address] = times

    def start(self):
        self._controller.start()
        return self

    def stop(self):
        self._controller.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
