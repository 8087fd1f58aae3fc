"""What this server is listening on, once it listens: each service's bound addresses
(with the real port numbers, also for ``tcp:0``) and whether each is implicit TLS, and
which HTTP protocols the shared site serves. The server assembly (``smsync.tap``) fills
it in; whoever tells users how to reach the server (the web interface's connection
settings) reads it, so it shows what runs, not what a file says.
"""

from __future__ import annotations

from typing import Iterable

import attrs


@attrs.frozen
class Listener:
    """One listening port of a service."""

    #: The ``[services]`` key: imap, pop3, lmtp, smtp, submission or http.
    service: str
    #: The interface bound ("0.0.0.0", "::", "127.0.0.1", ...; "" for a UNIX socket).
    interface: str
    port: int
    #: Implicit TLS (RFC 8314): the connection starts with the TLS handshake.
    tls: bool


def _is_tls(port) -> bool:
    from twisted.protocols.tls import TLSMemoryBIOFactory

    return isinstance(getattr(port, "factory", None), TLSMemoryBIOFactory)


class Listening:
    """The listeners of one server, and the HTTP protocols its site serves."""

    def __init__(self):
        self._listeners: list[Listener] = []
        self.http_protocols: frozenset[str] = frozenset()

    def add_port(self, service: str, port) -> None:
        """Record a bound ``IListeningPort`` of ``service`` (a UNIX socket is not a
        place a client is told about, so it is left out)."""
        address = port.getHost()
        number = getattr(address, "port", None)
        if number is None:
            return
        self._listeners.append(Listener(service, str(getattr(address, "host", "")), int(number),
                                        _is_tls(port)))

    def serving_http(self, protocols: Iterable[str]) -> None:
        """Record the HTTP protocols mounted on the shared site."""
        self.http_protocols = frozenset(protocols)

    def of(self, service: str) -> list[Listener]:
        """The listeners of ``service``, plain ones first."""
        return sorted((x for x in self._listeners if x.service == service), key=lambda x: x.tls)

    def runs(self, protocol: str) -> bool:
        """Whether ``protocol`` (a stream service, or an HTTP protocol on the site) is
        served here."""
        if protocol in self.http_protocols:
            return bool(self.of("http"))
        return bool(self.of(protocol))

    def clear(self) -> None:
        self._listeners.clear()
        self.http_protocols = frozenset()
