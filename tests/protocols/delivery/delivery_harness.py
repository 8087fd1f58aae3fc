"""Helpers for the delivery tests: LMTP/SMTP/submission listeners on 127.0.0.1
(ephemeral ports) over a real store, a POP3 listener to read back what arrived, and a
tiny SMTP sink (twisted.mail.smtp) standing in for the smarthost."""

from __future__ import annotations

import functools

from twisted.internet import defer, reactor, threads
from twisted.mail import smtp
from zope.interface import implementer

from smsync.auth import hash_password, make_portal
from smsync.protocols.delivery.inbound import DeliveryFactory
from smsync.protocols.delivery.server import ServerConfig
from smsync.store.registry import open_store

USER = "alice@example.org"
OTHER = "bob@example.org"
PASSWORD = "correct horse"


@functools.cache
def password_hash() -> str:
    return hash_password(PASSWORD)


def in_thread(fn, *args, **kwargs):
    return threads.deferToThread(fn, *args, **kwargs)


def message(n: int, size: int = 0, to: str = USER) -> bytes:
    head = (f"From: sender@example.net\r\nTo: {to}\r\nSubject: message {n}\r\n"
            f"Message-ID: <m{n}@example.net>\r\n\r\n").encode()
    body = f"Body of message {n}.\r\n.a line starting with a dot\r\n".encode()
    missing = size - len(head) - len(body)
    if missing > 0:
        body += (b"y" * 70 + b"\r\n") * (-(-missing // 72))
    return head + body


def stored_part(stored: bytes) -> bytes:
    """A delivered message without the trace fields delivery prepended."""
    lines = stored.split(b"\r\n")
    i = 0
    while i < len(lines) and (lines[i].startswith((b"Return-Path:", b"Received:"))
                              or lines[i][:1] in (b"\t", b" ")):
        i += 1
    return b"\r\n".join(lines[i:])


class Running:
    def __init__(self, store, listeners):
        self.store = store
        self.listeners = listeners  # name -> (factory, port)
        self.host = "127.0.0.1"

    def port(self, name: str) -> int:
        return self.listeners[name][1].getHost().port

    def factory(self, name: str):
        return self.listeners[name][0]

    async def inbox(self, user: str = USER):
        mail = await self.store.mail(user)
        return await mail.mailbox("INBOX")

    async def bodies(self, user: str = USER, folder: str = "INBOX") -> list[bytes]:
        mail = await self.store.mail(user)
        box = await mail.mailbox(folder)
        return [await box.read_body(uid) for uid in await box.uids()]

    async def stop(self):
        for factory, port in self.listeners.values():
            for conn in list(factory.connections):
                conn.transport.abortConnection()
            await port.stopListening()
        await self.store.close()


async def start(uri: str = "memory:", pop3: bool = False, **config) -> Running:
    store = await open_store(uri)
    for account in (USER, OTHER):
        await store.accounts.add(account, password_hash())
    portal = make_portal(store)
    listeners = {}
    for mode in ("lmtp", "smtp"):
        cfg = ServerConfig(mode=mode, hostname="mx.example.org", **config)
        factory = DeliveryFactory(store, portal, cfg)
        listeners[mode] = (factory, reactor.listenTCP(0, factory, interface="127.0.0.1"))
    if pop3:
        from smsync.protocols.pop3.server import POP3Config, POP3Factory

        factory = POP3Factory(store, portal, POP3Config(failed_login_delay=0.05))
        listeners["pop3"] = (factory, reactor.listenTCP(0, factory, interface="127.0.0.1"))
    return Running(store, listeners)


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
