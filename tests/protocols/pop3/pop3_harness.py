"""Helpers for the POP3 tests: a real POP3 server on 127.0.0.1 (ephemeral port) over a
real store. Clients (poplib, fetchmail, raw sockets) block, so tests run them in a
thread (``in_thread``) while the reactor serves them."""

from __future__ import annotations

import functools
import poplib
import socket

from twisted.internet import reactor, threads

from smsync.auth import hash_password, make_portal
from smsync.protocols.pop3.server import POP3Config, POP3Factory
from smsync.store.registry import open_store

USER = "alice@example.org"
OTHER = "bob@example.org"
PASSWORD = "correct horse"


@functools.cache
def password_hash() -> str:
    return hash_password(PASSWORD)


def in_thread(fn, *args, **kwargs):
    return threads.deferToThread(fn, *args, **kwargs)


def message(n: int, size: int = 0) -> bytes:
    """A small RFC 5322 message numbered ``n``, padded with body lines to about ``size``."""
    head = (f"From: sender@example.net\r\nTo: {USER}\r\nSubject: message {n}\r\n"
            f"Message-ID: <m{n}@example.net>\r\n\r\n").encode()
    body = f"Body of message {n}.\r\n.a line starting with a dot\r\n".encode()
    missing = size - len(head) - len(body)
    if missing > 0:
        body += (b"x" * 70 + b"\r\n") * (-(-missing // 72))
    return head + body


class Running:
    def __init__(self, store, factory, port):
        self.store = store
        self.factory = factory
        self.port = port
        self.host = "127.0.0.1"
        self.portno = port.getHost().port

    def poplib(self, login: bool = True, user: str = USER) -> poplib.POP3:
        c = poplib.POP3(self.host, self.portno, timeout=20)
        if login:
            c.user(user)
            c.pass_(PASSWORD)
        return c

    def raw(self) -> "RawClient":
        return RawClient(self.host, self.portno)

    async def inbox(self, user: str = USER):
        mail = await self.store.mail(user)
        return await mail.mailbox("INBOX")

    async def deliver(self, *bodies, user: str = USER) -> list[int]:
        inbox = await self.inbox(user)
        return [(await inbox.append(b)).uid for b in bodies]

    async def stop(self):
        for conn in list(self.factory.connections):
            conn.transport.abortConnection()
        await self.port.stopListening()
        await self.store.close()


async def start_server(uri: str = "memory:", **config) -> Running:
    store = await open_store(uri)
    for account in (USER, OTHER):
        await store.accounts.add(account, password_hash())
    config = {"failed_login_delay": 0.05, **config}
    factory = POP3Factory(store, make_portal(store), POP3Config(**config))
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    return Running(store, factory, port)


class RawClient:
    """A line-level client, for pipelining and malformed input."""

    def __init__(self, host: str, port: int):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.buf = b""
        self.greeting = self.line()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def multiline(self) -> list[bytes]:
        lines = []
        while (line := self.line()) != b".":
            lines.append(line)
        return lines

    def closed(self) -> bool:
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except socket.timeout:
            return False

    def close(self) -> None:
        self.sock.close()
