"""The POP3 tests' view of the shared harness (``smsync.testing.servers``): a real POP3
server on 127.0.0.1 over a real store, with poplib and raw-line clients. Clients (poplib,
fetchmail, raw sockets) block, so tests run them in a thread (``in_thread``) while the
reactor serves them."""

from __future__ import annotations

import poplib

from smsync.testing.lineclient import LineClient
from smsync.testing.servers import OTHER, PASSWORD, USER, RunningServers  # noqa: F401
from smsync.testing.servers import in_thread, password_hash  # noqa: F401
from smsync.testing.servers import numbered_message as message  # noqa: F401


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
