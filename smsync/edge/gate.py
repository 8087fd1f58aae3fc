"""How many connections may wait before logging in: per client address and in total.

A connection that has not logged in costs the server memory and a file descriptor and
gives nothing back; a few hundred from one address are an attack, not a user. Protocols
that log in (IMAP, POP3, submission) ``enter`` the gate when a connection opens and
``leave`` it once it logs in or closes; over either limit the connection is answered
"too many connections, try again later" in the protocol's words and closed.
"""

from __future__ import annotations

from collections import Counter

import attrs
from twisted.logger import Logger

log = Logger(namespace="smsync.client")


@attrs.frozen
class GateSettings:
    """The config's ``[limits]`` pre-login keys."""

    per_address: int = 50
    total: int = 1000

    @classmethod
    def from_config(cls, config) -> "GateSettings":
        limits = getattr(config, "limits", None)
        if limits is None:
            return cls()
        return cls(per_address=limits.max_unauthenticated_per_address,
                   total=limits.max_unauthenticated)


class Gate:
    """Counts connections that have not logged in, per address and in total."""

    def __init__(self, settings: GateSettings = GateSettings()):
        self.settings = settings
        self._by_host: Counter = Counter()
        self.waiting = 0
        self._warned: set = set()

    def enter(self, protocol: str, host: str) -> bool:
        """Admit a new connection from ``host`` (True), or refuse it (False, logged once
        per address until its count falls again)."""
        s = self.settings
        if self.waiting >= s.total or self._by_host[host] >= s.per_address:
            if host not in self._warned:
                self._warned.add(host)
                log.warn("smsync: {protocol}: too many connections not logged in "
                         "({n} from {host}, {total} in all): refusing more",
                         protocol=protocol, n=self._by_host[host], host=host, total=self.waiting)
            return False
        self._by_host[host] += 1
        self.waiting += 1
        return True

    def leave(self, host: str) -> None:
        """A connection admitted by ``enter`` logged in or closed (call once)."""
        count = self._by_host[host] - 1
        if count <= 0:
            del self._by_host[host]
        else:
            self._by_host[host] = count
        self.waiting -= 1
        self._warned.discard(host)


class Ticket:
    """One connection's place in the gate: ``release`` is safe to call more than once
    (at login, then again at close)."""

    __slots__ = ("gate", "host", "held")

    def __init__(self, gate: Gate, host: str):
        self.gate = gate
        self.host = host
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self.gate.leave(self.host)


def admit(gate: Gate, protocol: str, host: str, transport, refusal: bytes):
    """A ``Ticket`` for a new connection; or, when the gate refuses it, None after
    writing ``refusal`` (the protocol's "too many connections" line, CRLF included) and
    closing ``transport``."""
    if gate.enter(protocol, host):
        return Ticket(gate, host)
    transport.write(refusal)
    transport.loseConnection()
    return None
