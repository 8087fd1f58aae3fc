"""Real smsync servers on 127.0.0.1 for tests: any protocol, or several at once, over any
store, with or without TLS, started the way ``smsync serve`` starts them.

A protocol's tests (ours, or a third party's writing a protocol or a store backend) start
what they test through ``RunningServers.start``, talk to it with real clients on
ephemeral ports, and stop it::

    import pytest_twisted
    from smsync.testing.servers import PASSWORD, USER, RunningServers, in_thread

    @pytest_twisted.ensureDeferred
    async def test_login():
        running = await RunningServers.start("imap", "sqlite:")
        try:
            def client():
                c = imaplib.IMAP4(running.host, running.port("imap"))
                c.login(USER, PASSWORD)
                c.logout()
            await in_thread(client)
        finally:
            await running.stop()

The servers run through the production start-up path, ``smsync.tap.service.SmsyncService``
over a ``Plan``: the store is opened from its URI, each protocol's registered builder makes
its service from a ``smsync.config.Config``, and stopping closes the listeners and then
the store. So what a test sees is what a deployment gets.

Clients block (imaplib, poplib, smtplib, http.client, the caldav library); run them in a
thread with ``in_thread`` while the reactor serves them. Needs a running reactor (pytest
with pytest-twisted, smsync's ``test`` extra); ``tls=True`` makes its certificate with
``cryptography``, which ``twisted[tls]`` installs.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Mapping, Optional, Union

import attrs
from twisted.internet import threads
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import quoteStringArgument

from smsync.config import Config, LoginsConfig
from smsync.tap import registry
from smsync.tap.service import ListeningService, Plan, SmsyncService

#: The account every started server has (see ``RunningServers.start``'s ``accounts``).
USER = "alice@example.org"
#: A second account, for tests of what one account must not see of another's.
OTHER = "bob@example.org"
#: The password of ``USER`` and ``OTHER``.
PASSWORD = "correct horse"

#: The address every listener binds.
HOST = "127.0.0.1"

#: ``store_uri`` value meaning "a fresh SQLite store in the harness's own directory".
SQLITE = "sqlite:"


@functools.cache
def password_hash() -> str:
    """The hash of ``PASSWORD``, computed once per process (argon2 takes ~0.1 s a hash,
    so every test account shares one)."""
    from smsync.auth import hash_password

    return hash_password(PASSWORD)


def in_thread(fn, *args, **kwargs) -> Deferred:
    """Run the blocking ``fn(*args, **kwargs)`` in a thread; a Deferred firing with its
    result, so the reactor keeps serving the client meanwhile."""
    return threads.deferToThread(fn, *args, **kwargs)


def numbered_message(n: int, size: int = 0, to: str = USER) -> bytes:
    """A small RFC 5322 message to ``to``, told apart by ``n`` (subject, Message-ID),
    whose body has a line starting with a dot (so the dot-stuffing of POP3, SMTP and LMTP
    is exercised) and is padded with 72-byte lines to at least ``size`` bytes."""
    head = (f"From: sender@example.net\r\nTo: {to}\r\nSubject: message {n}\r\n"
            f"Message-ID: <m{n}@example.net>\r\n\r\n").encode()
    body = f"Body of message {n}.\r\n.a line starting with a dot\r\n".encode()
    missing = size - len(head) - len(body)
    if missing > 0:
        body += (b"x" * 70 + b"\r\n") * (-(-missing // 72))
    return head + body


def self_signed_pem(common_name: str = "localhost") -> bytes:
    """A throwaway private key and a self-signed certificate for ``common_name`` (and
    ``localhost`` and the loopback addresses), as one PEM blob (key first), the form
    ``[tls] certificate`` and Twisted's ``PrivateCertificate.loadPEM`` read."""
    from smsync.certificates import self_signed

    key_pem, cert_pem = self_signed(common_name, days=2)
    return key_pem + cert_pem


def client_tls_context():
    """An ``ssl.SSLContext`` for test clients that accepts any certificate: the servers
    under test present a self-signed one made for the test."""
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def default_config() -> Config:
    """The configuration servers get by default: smsync's defaults, except that the login
    limiter leaves the loopback addresses alone -- tests make many failed logins from
    127.0.0.1 and would lock each other out. A test of the limiter passes a config with
    ``logins`` of its own (and connects from 127.0.0.2 and beyond, all loopback)."""
    return Config(logins=LoginsConfig(exempt=("127.0.0.1", "::1")))


def config_with(config: Optional[Config] = None, **sections: Mapping) -> Config:
    """``config`` (default: ``default_config()``) with some keys of some sections
    replaced, e.g. ``config_with(limits={"max_message_size": 20000}, delivery={"hostname":
    "mx.test"})``. An unknown section or key is a ``TypeError``/``AttributeError``, as a
    typo should be."""
    config = config if config is not None else default_config()
    changes = {}
    for section, values in sections.items():
        current = getattr(config, section)
        changes[section] = attrs.evolve(current, **values)
    return attrs.evolve(config, **changes)


def _protocols(protocols: Union[str, Iterable[str]]) -> tuple[str, ...]:
    names = (protocols,) if isinstance(protocols, str) else tuple(protocols)
    if not names:
        raise ValueError("name at least one protocol")
    for name in names:
        if not registry.is_available(name):
            raise ValueError(f"protocol {name!r} is not available "
                             f"(available: {', '.join(registry.available())})")
    return names


def _is_tls_port(port) -> bool:
    from twisted.protocols.tls import TLSMemoryBIOFactory

    return isinstance(getattr(port, "factory", None), TLSMemoryBIOFactory)


async def _listening_ports(service) -> list:
    """The listening ports of ``service``: a ``ListeningService``'s, or those of the
    ``twisted.application.strports`` services inside a builder's own service (submission
    builds one with its relay queue)."""
    from twisted.application.internet import StreamServerEndpointService

    if isinstance(service, ListeningService):
        return list(service.ports)
    ports = []
    for child in getattr(service, "services", ()):
        if isinstance(child, StreamServerEndpointService):
            # The endpoint service keeps its port only inside the Deferred it listened
            # with (a private attribute); chain a copy of the result out of it.
            seen = Deferred()

            def forward(port, seen=seen):
                seen.callback(port)
                return port

            child._waitingForPort.addCallback(forward)
            ports.append(await seen)
        else:
            ports.extend(await _listening_ports(child))
    return ports


@attrs.define
class _Listener:
    """One protocol's (or the shared site's) service, factory and listening ports."""

    service: object
    factory: object
    plain: list
    secure: list


class RunningServers:
    """Protocols listening on 127.0.0.1 over one store, started by ``start``.

    Attributes:
        service: the ``SmsyncService`` running them.
        store: the store the protocols serve (closed by ``stop``).
        store_uri: its URI (for ``SQLITE``, the path the harness chose), e.g. for a
            second process or a second store object over the same data.
        portal: the ``twisted.cred`` portal every protocol authenticates against.
        config: the ``smsync.config.Config`` the protocols were built from.
        protocols: the protocols started, in the order given; the first is the "main"
            one ``portno`` and ``factory`` speak of.
        directory: the harness's own directory (TLS certificate, SQLite store for
            ``SQLITE``, relay queue), removed by ``stop`` unless the caller gave it.
        host: ``"127.0.0.1"``.

    Protocol test suites subclass it to add their client helpers (``start`` returns an
    instance of the class it is called on).
    """

    host = HOST

    def __init__(self, service: SmsyncService, protocols: tuple[str, ...], directory: Path,
                 own_directory: bool):
        self.service = service
        self.protocols = protocols
        self.directory = directory
        self._own_directory = own_directory
        self.store = service.store
        self.store_uri = service.plan.store_uri
        self.portal = service.portal
        self.config = service.plan.config
        #: protocol (or "http", for the shared site) -> its listener
        self._listeners: dict[str, _Listener] = {}

    @classmethod
    async def start(cls, protocols: Union[str, Iterable[str]], store_uri: str = "memory:", *,
                    tls: bool = False, config: Optional[Config] = None,
                    knobs: Optional[Mapping[str, Mapping]] = None,
                    accounts: Iterable[str] = (USER, OTHER), directory=None,
                    interface: str = HOST, freeze_gc: bool = False):
        """Start ``protocols`` over the store at ``store_uri`` and fire with the running
        servers once every one listens (on ``interface``: 127.0.0.1 by default,
        ``"0.0.0.0"`` for clients connecting to another address of the machine).

        Args:
            protocols: a protocol name or several (``registry.available()``: imap, pop3,
                lmtp, smtp, submission, caldav, carddav, ...). HTTP protocols share one
                site, as in the all-in-one server.
            store_uri: any store URI (``memory:``, ``sqlite:///dir``, ``postgresql://...``,
                a third-party scheme), or ``SQLITE`` for a fresh SQLite store in the
                harness's directory.
            tls: when true, a self-signed certificate for ``localhost`` is made and set
                as ``[tls]`` (so STARTTLS/STLS is offered on the plain ports), and every
                protocol also listens on an implicit-TLS (``ssl:``) port:
                ``port(protocol, tls=True)``, ``https_url``.
            config: the configuration the protocols are built from (default:
                ``default_config()``; see ``config_with``). Its ``[services]`` and ``[store]`` are
                not used: the harness picks ephemeral endpoints and ``store_uri``.
                Submission, EAS and EWS without ``[delivery] queue_dir`` get a queue
                in ``directory``.
            knobs: for settings smsync's config cannot express (login delays, timeouts,
                read sizes): ``{protocol: {attribute: value}}`` set on the protocol
                factory's own ``config`` object after the builder made it and before
                any client connects. An attribute the factory's config does not have
                is an ``AttributeError``.
            accounts: accounts created (password ``PASSWORD``) once the store is open;
                ``()`` for a persistent store that already has them.
            directory: where the harness keeps its files; default a new temporary
                directory, removed by ``stop``.
            freeze_gc: freeze what is alive once the servers are ready, as a server
                process of its own does (``SmsyncService``): for a benchmark's server
                process, not for tests (each start would freeze what earlier ones left).

        Raises:
            ValueError: a protocol is not available.
            RuntimeError: the store would not open or a listener would not bind (the
                message lists why); nothing is left running.
        """
        names = _protocols(protocols)
        own = directory is None
        directory = Path(tempfile.mkdtemp(prefix="smsync-servers-") if own else directory)
        try:
            service = SmsyncService(
                _plan(names, store_uri, directory, tls, config, interface),
                stop_reactor_on_failure=False, freeze_gc=freeze_gc)
            service.startService()
            await service.ready
            if service.failures:
                await service.stopService()
                raise RuntimeError("servers did not start: " + "; ".join(service.failures))
        except BaseException:
            if own:
                shutil.rmtree(directory, ignore_errors=True)
            raise
        running = cls(service, names, directory, own)
        try:
            await running._find_listeners()
            running._set_knobs(knobs or {})
            for account in accounts:
                await running.store.accounts.add(account, password_hash())
        except BaseException:
            await running.stop()
            raise
        return running

    async def _find_listeners(self) -> None:
        for label, child in self.service.listeners.items():
            ports = await _listening_ports(child)
            self._listeners[label] = _Listener(
                service=child, factory=getattr(child, "factory", None),
                plain=[p for p in ports if not _is_tls_port(p)],
                secure=[p for p in ports if _is_tls_port(p)])

    def _set_knobs(self, knobs: Mapping[str, Mapping]) -> None:
        for protocol, values in knobs.items():
            if protocol not in self.protocols:
                raise ValueError(f"knobs for {protocol!r}, which is not started")
            settings = getattr(self.factory_of(protocol), "config", None)
            for name, value in values.items():
                if settings is None or not hasattr(settings, name):
                    raise AttributeError(f"{protocol}: its factory's config has no {name!r}")
                setattr(settings, name, value)

    def _listener(self, protocol: Optional[str]):
        protocol = protocol or self.protocols[0]
        return self._listeners[registry.service_of(protocol)]

    def port(self, protocol: Optional[str] = None, *, tls: bool = False) -> int:
        """The port number ``protocol`` (default: the main one; an HTTP protocol or
        ``"http"``: the shared site) listens on: plain, or implicit TLS when ``tls``
        (``LookupError`` if it has no such listener)."""
        listener = self._listener(protocol)
        ports = listener.secure if tls else listener.plain
        if not ports:
            raise LookupError(f"{protocol or self.protocols[0]} has no "
                              f"{'implicit-TLS' if tls else 'plain'} listener")
        return ports[0].getHost().port

    @property
    def portno(self) -> int:
        """The main protocol's plain port number."""
        return self.port()

    def factory_of(self, protocol: Optional[str] = None):
        """The protocol factory serving ``protocol`` (the main one by default); for an
        HTTP protocol, the site."""
        return self._listener(protocol).factory

    def service_of(self, protocol: Optional[str] = None):
        """The service ``protocol``'s builder made (the main protocol's by default), as
        it runs under ``service``. (The relay queue every sending protocol shares is the
        server's: ``service.edge.outbound``.)"""
        return self._listener(protocol).service

    @property
    def factory(self):
        """The main protocol's factory (``factory_of()``)."""
        return self.factory_of()

    @property
    def http_root(self):
        """The ``HttpRoot`` of the shared site (None without an HTTP protocol)."""
        return self.service.http_root

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` of the shared site."""
        return f"http://{self.host}:{self.port('http')}"

    @property
    def https_url(self) -> str:
        """``https://127.0.0.1:PORT`` of the shared site's implicit-TLS listener."""
        return f"https://{self.host}:{self.port('http', tls=True)}"

    async def mailbox(self, name: str = "INBOX", user: str = USER):
        """The store's ``IMailbox`` ``name`` of ``user``."""
        mail = await self.store.mail(user)
        return await mail.mailbox(name)

    async def deliver(self, *bodies: bytes, user: str = USER, folder: str = "INBOX") -> list[int]:
        """Append ``bodies`` to ``user``'s ``folder`` through the store; their UIDs."""
        box = await self.mailbox(folder, user)
        return [(await box.append(body)).uid for body in bodies]

    async def bodies(self, user: str = USER, folder: str = "INBOX") -> list[bytes]:
        """Every message in ``user``'s ``folder``, as stored, in UID order."""
        box = await self.mailbox(folder, user)
        return [await box.read_body(uid) for uid in await box.uids()]

    async def collections(self, user: str = USER):
        """``user``'s ``ICollectionStore``."""
        return await self.store.collections(user)

    async def stop(self) -> None:
        """Drop every open client connection, stop listening, close the store, and
        remove the harness's own directory. Calling it again does nothing."""
        if self.service.running:
            for listener in self._listeners.values():
                for conn in list(getattr(listener.factory, "connections", ())):
                    conn.transport.abortConnection()
            await self.service.stopService()
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)


def serving(starting):
    """The body of a pytest fixture serving what the coroutine ``starting`` (e.g.
    ``RunningServers.start("pop3")``) starts, stopped after the test; with pytest-twisted::

        @pytest.fixture
        def server():
            yield from serving(RunningServers.start("pop3"))
    """
    import pytest_twisted

    running = pytest_twisted.blockon(Deferred.fromCoroutine(starting))
    try:
        yield running
    finally:
        pytest_twisted.blockon(Deferred.fromCoroutine(running.stop()))


def store_fixtures(start, names: tuple[str, str] = ("server", "sqlite_server")):
    """Two pytest fixtures serving ``start(store_uri)`` (a coroutine function such as
    ``functools.partial(RunningServers.start, "imap")``): the first over ``memory:``, the
    second over a fresh SQLite store, each stopped after its test. In a ``conftest.py``::

        server, sqlite_server = store_fixtures(start_imap)
    """
    import pytest

    @pytest.fixture(name=names[0])
    def over_memory():
        yield from serving(start("memory:"))

    @pytest.fixture(name=names[1])
    def over_sqlite():
        yield from serving(start(SQLITE))

    return over_memory, over_sqlite


def _plan(protocols: tuple[str, ...], store_uri: str, directory: Path, tls: bool,
          config: Optional[Config], interface: str = HOST) -> Plan:
    config = config if config is not None else default_config()
    if store_uri == SQLITE:
        store_uri = f"sqlite:///{directory}/store"
    endpoints = [f"tcp:0:interface={interface}"]
    if tls:
        pem = directory / "server.pem"
        pem.write_bytes(self_signed_pem())
        config = attrs.evolve(config, tls=attrs.evolve(config.tls, certificate=str(pem)))
        quoted = quoteStringArgument(str(pem))
        endpoints.append(f"ssl:0:interface={interface}:privateKey={quoted}:certKey={quoted}")
    # Every protocol that sends mail (submission, EAS SendMail, EWS) shares one queue.
    if {"submission", "eas", "ews"} & set(protocols) and not config.delivery.queue_dir:
        config = config_with(config, delivery={"queue_dir": str(directory / "queue")})
    http = tuple(p for p in protocols if p in registry.HTTP_PROTOCOLS)
    streams = {p: list(endpoints) for p in protocols if p not in registry.HTTP_PROTOCOLS}
    return Plan(store_uri=store_uri, config=config, streams=streams, http=http,
                http_endpoints=tuple(endpoints) if http else (), label="smsync-test")
