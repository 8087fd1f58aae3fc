"""The IMAP tests' view of the shared harness (``smsync.testing.servers``): a real IMAP
server on 127.0.0.1 over a real store, with imaplib/imapclient/raw-line clients.

Clients block, so tests run them in a thread (``in_thread``) while the reactor serves them.
"""

from __future__ import annotations

import imaplib

from smsync.testing.lineclient import LineClient
from smsync.testing.servers import (OTHER, PASSWORD, USER, RunningServers, in_thread,  # noqa: F401
                                    password_hash, self_signed_pem)

#: Short login delays so tests of failed logins do not wait seconds.
FAST_LOGIN_FAILURES = {"failed_login_delay": 0.05}


class Running(RunningServers):
    """A listening IMAP server (the main protocol) and the store under it."""

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


async def start_server(uri: str = "memory:", tls: bool = False, **knobs) -> Running:
    """IMAP over ``uri``; ``knobs`` set ``IMAPConfig`` attributes (login delays are short
    unless given)."""
    return await Running.start("imap", uri, tls=tls,
                               knobs={"imap": {**FAST_LOGIN_FAILURES, **knobs}})


class RawClient(LineClient):
    """A line-level client for what library clients cannot send (bad commands, LITERAL+,
    COMPRESS, half an APPEND)."""

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
