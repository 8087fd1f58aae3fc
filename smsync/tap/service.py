"""The running server: opens the store at startup, starts the protocols, closes at shutdown.

``makeService`` for every twistd plugin ends up in ``SmsyncService``: a MultiService that
opens the store in ``startService`` (after twistd has daemonised, so no store thread or
file handle crosses a fork), builds each planned protocol's service over the store and a
portal, and closes the store after its children have stopped.
"""

from __future__ import annotations

import gc
from typing import Optional, Sequence

import attrs
from twisted.application.service import IService, MultiService, Service
from twisted.internet.defer import Deferred, DeferredList, maybeDeferred, succeed
from twisted.internet.interfaces import IProtocolFactory
from twisted.logger import Logger

from smsync.auth import make_portal
from smsync.config import Config
from smsync.edge import Edge, make_edge
from smsync.store.registry import open_store
from smsync.tap import registry
from smsync.tap.http import HttpRoot, make_site, max_body_for
from smsync.tap.ports import with_backlog

log = Logger(namespace="smsync")

#: Set when a service failed to start (store would not open, port would not bind); the
#: ``smsync serve`` command exits non-zero when it is set after the reactor stops.
startup_failures: list[str] = []


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _describe(port) -> str:
    address = port.getHost()
    host = getattr(address, "host", None)
    if host is not None and getattr(address, "port", None) is not None:
        return f"{host}:{address.port}"
    name = getattr(address, "name", address)
    return name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)


class ListeningService(Service):
    """Listens with one protocol factory on several endpoint strings, logging each bound
    address; a port that cannot be bound stops the whole server (a server silently
    missing its IMAP port is worse than one that does not start).

    ``fds``, one per endpoint: the listening sockets a worker of ``smsync serve
    --workers N`` inherited for them (``smsync.tap.inherit``), accepted on instead of
    binding."""

    def __init__(self, label: str, endpoints: Sequence[str], factory, reactor=None,
                 on_failure=None, fds: Optional[Sequence[int]] = None):
        self.label = label
        self.on_failure = on_failure
        self.endpoints = list(endpoints)
        self.factory = factory
        self._reactor = reactor
        self.fds = list(fds) if fds is not None else None
        if self.fds is not None and len(self.fds) != len(self.endpoints):
            raise ValueError(f"{label}: {len(self.endpoints)} endpoints but "
                             f"{len(self.fds)} inherited sockets")
        self.ports: list = []
        self.listening: Optional[Deferred] = None

    def startService(self):
        from twisted.internet.endpoints import serverFromString

        from smsync.tap.inherit import listen_inherited

        super().startService()
        reactor = self._reactor
        if reactor is None:
            from twisted.internet import reactor
        listens = []
        fds, self.fds = self.fds, None  # inherited sockets are adopted once
        for n, description in enumerate(self.endpoints):
            if fds is not None:
                d = listen_inherited(reactor, description, fds[n], self.factory)
            else:
                d = serverFromString(reactor, with_backlog(description)).listen(self.factory)
            d.addCallbacks(self._bound, self._failed, callbackArgs=(fds is not None,),
                           errbackArgs=(description, reactor))
            listens.append(d)
        self.listening = DeferredList(listens, consumeErrors=True)

    def _bound(self, port, inherited=False):
        self.ports.append(port)
        if inherited:
            log.info("{label} accepting on {where}", label=self.label, where=_describe(port))
        else:
            log.info("{label} listening on {where}", label=self.label, where=_describe(port))
        return port

    def _failed(self, failure, description, reactor):
        message = f"{self.label}: cannot listen on {description}: {_one_line(failure.value)}"
        if self.on_failure is not None:
            self.on_failure(message)
            return
        startup_failures.append(message)
        log.error("smsync: error: {message}", message=message)
        if reactor.running:
            reactor.stop()

    def stopService(self):
        super().stopService()
        ports, self.ports = self.ports, []
        return DeferredList([maybeDeferred(p.stopListening) for p in ports])


def as_service(label: str, built, endpoints: Sequence[str], reactor=None,
               on_failure=None, fds: Optional[Sequence[int]] = None) -> IService:
    """Turn what a stream builder returned into a service: an ``IService`` as it is, a
    protocol factory listening on ``endpoints`` (or accepting on the inherited ``fds``;
    a builder listening by itself cannot use those)."""
    if IService.providedBy(built):
        if fds is not None:
            raise TypeError(f"{label}: its builder listens by itself, so it cannot share "
                            f"the listening sockets of several workers (use --workers 1)")
        return built
    if IProtocolFactory.providedBy(built):
        return ListeningService(label, endpoints, built, reactor, on_failure, fds)
    raise TypeError(f"{label}: builder returned {built!r}, neither IService nor a factory")


def http_service(root: HttpRoot, endpoints: Sequence[str], reactor=None,
                 on_failure=None, config: Optional[Config] = None,
                 fds: Optional[Sequence[int]] = None) -> IService:
    """The shared site on ``endpoints`` (or the inherited ``fds``), its body limit taken
    from ``config``."""
    site = make_site(root, max_body_for(config))
    return ListeningService("http", endpoints, site, reactor, on_failure, fds)


def mount_http(root: HttpRoot, protocol: str, store, portal, config: Config,
               edge: Optional[Edge] = None) -> None:
    """Mount ``protocol``'s resources on ``root`` (built over ``edge``, or over a new
    edge from ``store``, ``portal`` and ``config``)."""
    if edge is None:
        edge = make_edge(store, portal, config)
    resources = registry.http_builder(protocol)(edge)
    for path, resource in resources.items():
        root.mount(path, resource)


def build(protocol: str, store, portal, endpoints: Sequence[str], config: Config,
          reactor=None, on_failure=None, edge: Optional[Edge] = None,
          fds: Optional[Sequence[int]] = None) -> IService:
    """Build ``protocol``'s service over ``store`` and ``portal`` listening on
    ``endpoints``; an HTTP protocol gets a site of its own. ``KeyError`` if the protocol
    is not available.

    ``edge`` is the server's front door (``SmsyncService`` passes its one); without it a
    new one is made, and its service (a relay queue, if the protocol sends mail) then
    runs inside the returned service. ``fds``: the inherited sockets of ``endpoints``
    (a worker's)."""
    if not registry.is_available(protocol):
        raise KeyError(protocol)
    own_edge = edge is None
    if own_edge:
        edge = make_edge(store, portal, config)
    if protocol in registry.HTTP_PROTOCOLS:
        root = HttpRoot()
        mount_http(root, protocol, store, portal, config, edge)
        service = http_service(root, endpoints, reactor, on_failure, config, fds)
    else:
        built = registry.stream_builder(protocol)(edge, list(endpoints))
        service = as_service(protocol, built, endpoints, reactor, on_failure, fds)
    if own_edge and edge.outbound.in_use:
        if not isinstance(service, MultiService):
            holder = MultiService()
            service.setServiceParent(holder)
            service = holder
        edge.service.setServiceParent(service)
    return service


@attrs.frozen
class Plan:
    """What an ``SmsyncService`` runs: ``streams`` maps a stream protocol to its
    endpoints; ``http`` lists the HTTP protocols sharing the site on ``http_endpoints``
    (the site runs, answering 404, even when no HTTP protocol is available yet).

    A worker of ``smsync serve --workers N`` (``smsync.tap.workers``) runs the plan with
    ``worker`` its number (0 relays the outgoing mail), ``workers`` how many there are,
    and ``inherited`` the listening sockets it inherited: a stream protocol's name or
    ``"http"`` -> one descriptor per endpoint, in order."""

    store_uri: str
    config: Config
    streams: dict = attrs.field(factory=dict)
    http: tuple = ()
    http_endpoints: tuple = ()
    label: str = "smsync"
    worker: Optional[int] = None
    workers: int = 1
    inherited: dict = attrs.field(factory=dict)

    def listeners(self) -> list:
        """``(name, endpoints)`` of every listener the plan starts: the available stream
        protocols, then ``"http"`` if the site has endpoints."""
        out = [(p, tuple(eps)) for p, eps in self.streams.items() if registry.is_available(p)]
        if self.http_endpoints:
            out.append(("http", tuple(self.http_endpoints)))
        return out


class SmsyncService(MultiService):
    """Opens the store, starts the planned protocols, and closes the store at shutdown.

    ``ready`` fires once the store is open and every protocol has been started (or
    failed: see ``startup_failures``). A failure to start stops the reactor when
    ``stop_reactor_on_failure`` (a server missing its store or a port should not run on
    half-started); embedders and tests turn that off and read ``failures``.

    With ``freeze_gc`` (a server process of its own: ``twistd -n smsync``, a worker of
    ``smsync serve``, which pass it) everything alive once the server is ready --
    modules, templates, the store's and protocols' objects, about 100,000 -- is moved out
    of the cyclic garbage collector's sight (``gc.freeze``): otherwise each full
    collection walks all of it, 30-50 ms with the reactor stopped, about every seventy
    web requests (benchmarks/bench_web.py: the web interface's worst answers;
    docs/performance.md, issue 17). Objects made later are collected as before. Off by
    default, for embedders and tests: several servers started and stopped in one process
    would each freeze what the others left."""

    def __init__(self, plan: Plan, reactor=None, stop_reactor_on_failure: bool = True,
                 freeze_gc: bool = False):
        super().__init__()
        self.stop_reactor_on_failure = stop_reactor_on_failure
        self.freeze_gc = freeze_gc
        self.failures: list[str] = []
        self.plan = plan
        self.store = None
        self.portal = None
        #: The front door every protocol of this server shares (made once the store is open).
        self.edge: Optional[Edge] = None
        self.http_root: Optional[HttpRoot] = None
        #: The service listening for each started stream protocol, and for ``"http"``
        #: the shared site's (for embedders and tests that need its ports).
        self.listeners: dict = {}
        self._reactor = reactor
        self.ready: Deferred = succeed(None)

    def _the_reactor(self):
        if self._reactor is None:
            from twisted.internet import reactor

            return reactor
        return self._reactor

    def startService(self):
        super().startService()
        self.ready = Deferred.fromCoroutine(self._start())

    async def _start(self) -> None:
        plan = self.plan
        try:
            self.store = await open_store(plan.store_uri)
        except Exception as e:
            self._fail(f"cannot open store {plan.store_uri}: {_one_line(e)}")
            return
        log.info("{label}: store {uri} open", label=plan.label, uri=plan.store_uri)
        self.portal = make_portal(self.store)
        try:
            self.edge = make_edge(self.store, self.portal, plan.config,
                                  relay=plan.worker in (None, 0), shared=plan.workers > 1)
            # Started before the protocols and stopped after them: a protocol that sends
            # mail finds the relayer running, and no relay attempt outlives the server.
            self.edge.service.setServiceParent(self)
            for protocol, endpoints in plan.streams.items():
                self._start_stream(protocol, endpoints)
            if plan.http_endpoints:
                self._start_http()
        except Exception as e:
            log.failure("{label}: a protocol failed to start", label=plan.label)
            self._fail(_one_line(e))
            return
        listening = [s.listening for s in self if getattr(s, "listening", None) is not None]
        await DeferredList(listening, consumeErrors=True)
        self._record_listening()
        if self.freeze_gc:
            # What start-up left as garbage goes first: frozen, it would stay forever.
            gc.collect()
            gc.freeze()

    def _record_listening(self) -> None:
        # What runs, with the real port numbers (``tcp:0`` too), for whoever tells
        # users how to connect (the web interface's connection settings).
        listening = self.edge.listening
        listening.clear()
        for label, service in self.listeners.items():
            for port in getattr(service, "ports", ()):
                listening.add_port(label, port)
        if self.http_root is not None:
            listening.serving_http(p for p in self.plan.http if registry.is_available(p))

    def _start_stream(self, protocol: str, endpoints) -> None:
        if not registry.is_available(protocol):
            log.warn("{protocol}: not available yet", protocol=protocol)
            return
        service = build(protocol, self.store, self.portal, endpoints, self.plan.config,
                        self._reactor, self._fail, edge=self.edge,
                        fds=self.plan.inherited.get(protocol))
        service.setServiceParent(self)
        self.listeners[protocol] = service

    def _start_http(self) -> None:
        self.http_root = HttpRoot()
        for protocol in self.plan.http:
            if registry.is_available(protocol):
                mount_http(self.http_root, protocol, self.store, self.portal, self.plan.config,
                           self.edge)
                log.info("{protocol}: mounted at {paths}", protocol=protocol,
                         paths=" ".join(registry.HTTP_PATHS[protocol]))
            else:
                log.warn("{protocol}: not available yet", protocol=protocol)
        site = http_service(self.http_root, self.plan.http_endpoints, self._reactor,
                            self._fail, self.plan.config, self.plan.inherited.get("http"))
        site.setServiceParent(self)
        self.listeners["http"] = site

    def _fail(self, message: str) -> None:
        self.failures.append(message)
        log.error("smsync: error: {message}", message=message)
        if not self.stop_reactor_on_failure:
            return
        startup_failures.append(message)
        reactor = self._the_reactor()
        if reactor.running:
            reactor.stop()

    def stopService(self):
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        # Let a start in progress finish first so nothing is left half-open.
        await self.ready
        await maybeDeferred(MultiService.stopService, self)
        store, self.store = self.store, None
        if store is not None:
            await store.close()
            log.info("{label}: store closed", label=self.plan.label)
