"""One log line for every error a client causes, bounded per connection.

Every protocol answers a client's mistake in its own words (IMAP ``BAD``/``NO``, POP3
``-ERR``, SMTP/LMTP ``5xx``, HTTP ``4xx``); the administrator needs to see those too, to
tell a misconfigured phone from a broken server. A client that sends garbage in a loop
must not flood the log, though: each connection logs its first ``limit`` errors, then
says once that it stops, and at the end how many it did not log.

Failed logins are always logged (by ``smsync.edge.logins``), one line each, with the
peer address, in a fixed form that fail2ban-style tools can match::

    smsync: imap: authentication failed for user@example.org from 192.0.2.7
"""

from __future__ import annotations

from typing import Optional

import attrs
from twisted.logger import Logger

log = Logger(namespace="smsync.client")

#: Longest piece of client input quoted in a log line.
QUOTE_LIMIT = 120


def quote(data) -> str:
    """``data`` (bytes or str) made safe for one log line: printable, escaped, bounded."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = bytes(data[: QUOTE_LIMIT + 1]).decode("utf-8", "backslashreplace")
    text = str(data)
    cut = len(text) > QUOTE_LIMIT
    text = text[:QUOTE_LIMIT].encode("unicode_escape").decode("ascii")
    return text + ("..." if cut else "")


@attrs.define
class ClientErrors:
    """The client-error log of one connection of ``protocol`` from ``host`` (and
    ``port``, None when the transport has none).

    Set ``account`` once the client has logged in so lines name it.
    """

    protocol: str
    host: str
    port: Optional[int] = None
    limit: int = 20
    account: Optional[str] = None
    count: int = 0

    @classmethod
    def of(cls, protocol: str, transport) -> "ClientErrors":
        """The log of a connection on ``transport`` (its peer's address; ``?`` for a
        transport without one, as in tests and pipes)."""
        try:
            peer = transport.getPeer()
        except Exception:
            return cls(protocol, "?")
        host = getattr(peer, "host", None)
        return cls(protocol, str(peer) if host is None else host, getattr(peer, "port", None))

    @property
    def peer(self) -> str:
        """``host:port``, ``[v6]:port`` for IPv6."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    def __call__(self, command, answer) -> None:
        """Log that the client's ``command`` (bytes or text, quoted safely) got the
        error ``answer``; only the connection's first ``limit`` errors are logged."""
        self.count += 1
        if self.count > self.limit:
            return
        log.info("{protocol}: {peer}{who}: {command!s} -> {answer!s}", protocol=self.protocol,
                 peer=self.peer, who=self._who(), command=quote(command), answer=quote(answer))
        if self.count == self.limit:
            log.info("{protocol}: {peer}{who}: further client errors on this connection are not logged",
                     protocol=self.protocol, peer=self.peer, who=self._who())

    def auth_failed(self, user) -> None:
        """Log a failed login attempt for ``user`` (always: every attempt counts), in the
        one format of ``smsync.edge.logins.log_failed_login``."""
        from smsync.edge.logins import log_failed_login

        log_failed_login(self.protocol, user, self.host)

    def closed(self) -> None:
        """Call when the connection ends: says how many errors went unlogged."""
        if self.count > self.limit:
            log.info("{protocol}: {peer}{who}: connection closed after {count} client errors",
                     protocol=self.protocol, peer=self.peer, who=self._who(), count=self.count)

    def _who(self) -> str:
        return f" ({self.account})" if self.account else ""
