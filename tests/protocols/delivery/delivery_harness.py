"""Helpers for the delivery tests: LMTP/SMTP/submission listeners on 127.0.0.1
(ephemeral ports) over a real store, a POP3 listener to read back what arrived, and a
tiny SMTP sink (twisted.mail.smtp) standing in for the smarthost."""

from __future__ import annotations

from twisted.internet import defer, reactor
from twisted.mail import smtp
from zope.interface import implementer

from smsync.testing.lineclient import LineClient
from smsync.testing.servers import OTHER, PASSWORD, USER, RunningServers  # noqa: F401
from smsync.testing.servers import config_with, in_thread, password_hash  # noqa: F401
from smsync.testing.servers import numbered_message as message  # noqa: F401

#: The name the listeners give themselves in greetings and Received fields.
HOSTNAME = "mx.example.org"


def stored_part(stored: bytes) -> bytes:
    """A delivered message without the trace fields delivery prepended."""
    lines = stored.split(b"\r\n")
    i = 0
    while i < len(lines) and (lines[i].startswith((b"Return-Path:", b"Received:"))
                              or lines[i][:1] in (b"\t", b" ")):
        i += 1
    return b"\r\n".join(lines[i:])


async def start(uri: str = "memory:", pop3: bool = False, **limits) -> RunningServers:
    """LMTP and SMTP (and POP3, to read back what arrived) over ``uri``; ``limits`` are
    ``[limits]`` keys (``max_message_size``)."""
    config = config_with(delivery={"hostname": HOSTNAME}, limits=limits)
    protocols = ("lmtp", "smtp") + (("pop3",) if pop3 else ())
    knobs = {"pop3": {"failed_login_delay": 0.05}} if pop3 else {}
    return await RunningServers.start(protocols, uri, config=config, knobs=knobs)


class Raw(LineClient):
    """A line-level SMTP/LMTP client, for pipelining and what smtplib will not send."""

    def __init__(self, port: int, timeout: float = 15.0):
        super().__init__("127.0.0.1", port, timeout)

    def reply(self) -> bytes:
        """A whole (possibly multi-line) reply; the last line."""
        while True:
            line = self.line()
            if line[3:4] != b"-":
                return line

    def command(self, line: bytes) -> bytes:
        """Send ``line`` (CRLF added) and return the last line of the reply."""
        self.send(line + b"\r\n")
        return self.reply()


@implementer(smtp.IMessage)
class _SinkMessage:
    def __init__(self, sink, envelope):
        self.sink = sink
        self.envelope = envelope
        self.lines = []

    def lineReceived(self, line):
        self.lines.append(line)

    def eomReceived(self):
        self.sink.received.append((self.envelope[0], self.envelope[1], b"\r\n".join(self.lines) + b"\r\n"))
        return defer.succeed(None)

    def connectionLost(self):
        pass


@implementer(smtp.IMessageDelivery)
class _SinkDelivery:
    def __init__(self, sink):
        self.sink = sink
        self._from = None

    def receivedHeader(self, helo, origin, recipients):
        return None

    def validateFrom(self, helo, origin):
        self._from = str(origin)
        return origin

    def validateTo(self, user):
        address = str(user.dest)
        if address in self.sink.refuse:
            raise smtp.SMTPBadRcpt(user)
        return lambda: _SinkMessage(self.sink, (self._from, address))


class Sink:
    """A tiny SMTP server (twisted.mail.smtp) recording what it is sent: one entry
    ``(sender, recipient, text)`` per recipient. ``refuse`` holds addresses it rejects
    with 550."""

    def __init__(self):
        self.received: list = []
        self.refuse: set = set()
        self.port = None
        self.portno = None

    def _factory(self):
        sink = self

        class Factory(smtp.SMTPFactory):
            def buildProtocol(self, addr):
                p = smtp.ESMTP()
                p.factory = self
                p.delivery = _SinkDelivery(sink)
                p.host = b"sink.example"
                return p

        return Factory()

    def listen(self, portno: int = 0):
        self.port = reactor.listenTCP(portno, self._factory(), interface="127.0.0.1")
        self.portno = self.port.getHost().port
        return self.portno

    async def stop(self):
        if self.port is not None:
            await self.port.stopListening()
            self.port = None
