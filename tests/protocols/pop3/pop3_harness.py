"""The POP3 tests' view of the shared harness (``smsync.testing.servers``): a real POP3
server on 127.0.0.1 over a real store, with poplib and raw-line clients. Clients (poplib,
fetchmail, raw sockets) block, so tests run them in a thread (``in_thread``) while the
reactor serves them."""

from __future__ import annotations

import poplib

from smsync.testing.lineclient import LineClient
from smsync.testing.servers import (OTHER, PASSWORD, USER, RunningServers, in_thread,  # noqa: F401
                                    password_hash)


def message(n: int, size: int = 0) -> bytes:
    """A small RFC 5322 message numbered ``n``, padded with body lines to about ``size``."""
    head = (f"From: sender@example.net\r\nTo: {USER}\r\nSubject: message {n}\r\n"
            f"Message-ID: <m{n}@example.net>\r\n\r\n").encode()
    body = f"Body of message {n}.\r\n.a line starting with a dot\r\n".encode()
    missing = size - len(head) - len(body)
    if missing > 0:
        body += (b"x" * 70 + b"\r\n") * (-(-missing // 72))
    return head + body


class Running(RunningServers):
    """A listening POP3 server (the main protocol) and the store under it."""

    def poplib(self, login: bool = True, user: str = USER) -> poplib.POP3:
        c = poplib.POP3(self.host, self.portno, timeout=20)
        if login:
            c.user(user)
            c.pass_(PASSWORD)
        return c

    def raw(self) -> "RawClient":
        return RawClient(self.host, self.portno)


async def start_server(uri: str = "memory:", tls: bool = False, **knobs) -> Running:
    """POP3 over ``uri``; ``knobs`` set ``POP3Config`` attributes (failed logins answer
    fast unless given)."""
    return await Running.start("pop3", uri, tls=tls,
                               knobs={"pop3": {"failed_login_delay": 0.05, **knobs}})


class RawClient(LineClient):
    """A line-level client, for pipelining and malformed input."""

    def multiline(self) -> list[bytes]:
        lines = []
        while (line := self.line()) != b".":
            lines.append(line)
        return lines
