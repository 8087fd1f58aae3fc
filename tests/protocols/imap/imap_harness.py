"""Helpers for the IMAP tests: a real server on 127.0.0.1 (ephemeral port) over a real
store, and a raw line client.

Clients (imaplib, imapclient, mbsync, raw sockets) block, so tests run them in a thread
(``in_thread``) while the reactor serves them.
"""

from __future__ import annotations

import functools
import imaplib
import socket

from twisted.internet import reactor, threads

from smsync.auth import hash_password, make_portal
from smsync.protocols.imap.server import IMAPConfig, IMAPFactory
from smsync.store.registry import open_store

USER = "alice@example.org"
OTHER = "bob@example.org"
PASSWORD = "correct horse"


@functools.cache
def password_hash() -> str:
    # argon2 costs ~0.1 s a hash: every test account shares one.
    return hash_password(PASSWORD)


def in_thread(fn, *args, **kwargs):
    """Run a blocking client function off the reactor thread (a Deferred)."""
    return threads.deferToThread(fn, *args, **kwargs)


class Running:
    """A listening server and the store under it."""

    def __init__(self, store, factory, port):
        self.store = store
        self.factory = factory
        self.port = port
        self.host = "127.0.0.1"
        self.portno = port.getHost().port

    def imaplib(self, login: bool = True, user: str = USER) -> imaplib.IMAP4:
        c = imaplib.IMAP4(self.host, self.portno, timeout=20)
        if login:
            c.login(user, PASSWORD)
        return c

    def imapclient(self, login: bool = True, user: str = USER, **kw):
        from imapclient import IMAPClient

        c = IMAPClient(self.host, self.portno, ssl=False, timeout=20, **kw)
        if login:
            c.login(user, PASSWORD)
        return c

    def raw(self) -> "RawClient":
        return RawClient(self.host, self.portno)

    async def mailbox(self, name: str = "INBOX", user: str = USER):
        mail = await self.store.mail(user)
        return await mail.mailbox(name)

    async def stop(self):
        for conn in list(self.factory.connections):
            conn.transport.abortConnection()
        await self.port.stopListening()
        await self.store.close()


async def start_server(uri: str = "memory:", **config) -> Running:
    store = await open_store(uri)
    for account in (USER, OTHER):
        await store.accounts.add(account, password_hash())
    config = {"failed_login_delay": 0.05, "failed_login_max_delay": 0.4, **config}
    cfg = IMAPConfig(**config)
    factory = IMAPFactory(store, make_portal(store), cfg)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    return Running(store, factory, port)


class RawClient:
    """A line-level client for what library clients cannot send (bad commands, LITERAL+,
    COMPRESS, half an APPEND)."""

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

    def command(self, tag: bytes, text: bytes) -> list[bytes]:
        """Send ``tag text`` and return every line up to the tagged one (included)."""
        self.send(tag + b" " + text + b"\r\n")
        return self.until(tag)

    def until(self, tag: bytes) -> list[bytes]:
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines

    def closed(self) -> bool:
        """True if the server has closed the connection (waiting up to the timeout)."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionError, OSError):
            return True

    def close(self) -> None:
        self.sock.close()


def self_signed_pem() -> bytes:
    """A throwaway key and self-signed certificate for localhost, PEM, for TLS tests."""
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ) + cert.public_bytes(serialization.Encoding.PEM)


def tls_options():
    from twisted.internet import ssl

    return ssl.PrivateCertificate.loadPEM(self_signed_pem()).options()
