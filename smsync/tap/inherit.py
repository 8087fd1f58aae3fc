"""Listening sockets shared by the workers of ``smsync serve --workers N``.

The supervisor binds every endpoint itself (``bind``), through the same Twisted endpoint
strings a single process listens on, so port 0, privileged ports, ``unix:`` sockets and
their errors behave exactly as they do there; it never accepts on them. Each worker
inherits the descriptors and accepts on them (``listen_inherited``): the kernel hands
each new connection to whichever worker accepts first, and a worker that dies leaves
the socket open for the others.

A worker builds the endpoint from its description as a single process would, but with a
stand-in reactor (``_Adopting``) whose ``listenTCP``/``listenSSL``/``listenUNIX`` adopt
the inherited socket instead of binding one. So an ``ssl:`` endpoint's factory is wrapped
in ``TLSMemoryBIOFactory`` with the very context factory the endpoint would have used
(implicit TLS), and STARTTLS is the protocol's business as before.
"""

from __future__ import annotations

import os
import socket
import stat

from twisted.internet import tcp, unix
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.protocol import Factory

from smsync.tap.ports import with_backlog


class NotShareable(Exception):
    """The endpoint does not listen on a socket the workers can share."""


class _Nobody(Factory):
    """The supervisor's factory: it never accepts, the workers do."""

    noisy = False

    def logPrefix(self):
        return "smsync (for the workers)"

    def buildProtocol(self, addr):  # pragma: no cover - the supervisor never reads
        return None


def bind(reactor, description: str) -> Deferred:
    """Listen on ``description`` (with the server's backlog) without accepting; fires
    with the ``IListeningPort`` whose ``fileno()`` the workers inherit. Fails as the
    endpoint's ``listen`` would, or with ``NotShareable``."""
    from twisted.internet.endpoints import serverFromString

    d = maybeDeferred(lambda: serverFromString(reactor, with_backlog(description))
                      .listen(_Nobody()))

    def stop_accepting(port):
        if not isinstance(port, (tcp.Port, unix.Port)):
            maybeDeferred(port.stopListening)
            raise NotShareable(f"{description!r} is not a TCP or UNIX socket")
        port.stopReading()
        return port

    return d.addCallback(stop_accepting)


class _SharedUNIXPort(unix.Port):
    """A UNIX port on an inherited socket. Twisted's own would chmod the path when it
    starts and, when it stops, shut the socket down and unlink its path: both belong to
    the supervisor, and the other workers still accept on it."""

    _shouldShutdown = False

    @classmethod
    def _fromListeningDescriptor(cls, reactor, fd, factory):
        port = super()._fromListeningDescriptor(reactor, fd, factory)
        port._shouldShutdown = False
        try:
            port.mode = stat.S_IMODE(os.stat(port._bindPath).st_mode)
        except OSError:
            pass
        return port

    def connectionLost(self, reason):
        tcp.Port.connectionLost(self, reason)


def adopt(reactor, fd: int, factory):
    """Accept with ``factory`` on the listening socket ``fd`` (left open: the caller
    closes it); the ``IListeningPort``."""
    probe = socket.socket(fileno=fd)
    try:
        family = probe.family
    finally:
        probe.detach()
    if family == socket.AF_UNIX:
        port = _SharedUNIXPort._fromListeningDescriptor(reactor, fd, factory)
        port.startListening()
        return port
    return reactor.adoptStreamPort(fd, family, factory)


class _Adopting:
    """The reactor as an endpoint sees it while listening on an inherited socket."""

    def __init__(self, reactor, fd: int):
        self._reactor = reactor
        self._fd = fd

    def listenTCP(self, port, factory, backlog=50, interface=""):
        return adopt(self._reactor, self._fd, factory)

    def listenSSL(self, port, factory, contextFactory, backlog=50, interface=""):
        # What the reactor's own listenSSL does over listenTCP.
        from twisted.protocols.tls import TLSMemoryBIOFactory

        return self.listenTCP(port, TLSMemoryBIOFactory(contextFactory, False, factory))

    def listenUNIX(self, address, factory, backlog=50, mode=0o666, wantPID=0):
        return adopt(self._reactor, self._fd, factory)

    def __getattr__(self, name):
        return getattr(self._reactor, name)


def listen_inherited(reactor, description: str, fd: int, factory) -> Deferred:
    """Serve ``factory`` on the inherited socket ``fd`` that the supervisor bound for
    ``description``, as ``serverFromString(reactor, description).listen(factory)`` would
    on a socket of its own. Fires with the ``IListeningPort``; ``fd`` is closed."""
    from twisted.internet.endpoints import serverFromString

    def listen():
        try:
            return serverFromString(_Adopting(reactor, fd), description).listen(factory)
        finally:
            os.close(fd)

    return maybeDeferred(listen)
