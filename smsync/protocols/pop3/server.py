"""The POP3 server (RFC 1939, CAPA/RESP-CODES/PIPELINING of RFC 2449, AUTH of RFC 5034,
STLS of RFC 2595) over the core mail store.

One ``POP3Server`` per connection. Commands are answered strictly in order: lines a
pipelining client sends ahead wait in a queue while an answer that needs the store is
being produced. A RETR of a message of at most ``POP3Config.chunk_size`` bytes is
answered with one write from a window of messages read ahead (``prefetch.py``: clients
fetch in order, so the store is not on the path of each exchange). Larger messages and
TOP stream with ``IMailbox.read_body`` in ranges of ``chunk_size``, pausing while the
socket's buffer is full, so a large message is never held whole in memory.
"""

from __future__ import annotations

import collections
from typing import Optional

import attrs
from twisted.internet import defer, interfaces
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from zope.interface import implementer

from smsync.clientlog import ClientErrors
from smsync.edge import Edge, edge_for, sasl
from smsync.edge.devices import Client
from smsync.edge.gate import admit
from smsync.edge.logins import BadCredentials, LoginUnavailable, ProtocolNotAllowed
from smsync.errors import NotFound, SmsyncError
from smsync.protocols.pop3.codec import (
    MAX_LINE,
    CommandError,
    DotStuffer,
    TopFilter,
    parse_command,
    parse_number,
    stuff_message,
)
from smsync.protocols.pop3.maildrop import Maildrop, MaildropLocks, locks_for
from smsync.protocols.pop3.prefetch import Prefetcher

log = Logger(namespace="smsync.pop3")

#: Lines a client may send ahead of the answers before we stop reading from it.
_MAX_QUEUED = 1000


@attrs.define
class POP3Config:
    """How a POP3 listener behaves."""

    #: A ``twisted.internet.ssl`` context factory: enables STLS when set.
    tls: object = None
    #: The listener is already TLS (pop3s): no STLS offered.
    implicit_tls: bool = False
    #: Refuse USER/PASS and AUTH before TLS (when TLS is available at all).
    require_tls_for_auth: bool = False
    #: Bytes asked of ``read_body`` at a time while streaming a message; messages up
    #: to this size are read whole (and ahead of their RETR).
    chunk_size: int = 256 * 1024
    #: Bytes of upcoming messages a session may hold read ahead.
    prefetch_bytes: int = 1 << 20
    #: Seconds of silence before the autologout timer ends a session (RFC 1939: >= 600).
    idle_timeout: float = 600.0
    #: Seconds a connection may take to log in (``[limits] login_timeout``).
    login_timeout: float = 60.0
    #: Seconds a failed login waits before its answer (slows password guessing).
    failed_login_delay: float = 1.0
    #: Failed logins after which the connection is closed.
    max_failed_logins: int = 3
    #: Name in the greeting.
    hostname: str = "smsync"


class POP3Factory(Factory):
    """Makes a ``POP3Server`` per connection over ``store`` and ``portal``. Every factory
    over the same store object shares one maildrop lock table."""

    def __init__(self, store, portal, config: Optional[POP3Config] = None,
                 locks: Optional[MaildropLocks] = None, reactor=None,
                 edge: Optional[Edge] = None):
        self.store = store
        self.portal = portal
        #: The front door (logins, policy, devices): a server's shared one, or our own.
        self.edge = edge_for(store, portal, edge)
        self.config = config or POP3Config()
        self.locks = locks if locks is not None else locks_for(store)
        self.connections: set = set()
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor

    def buildProtocol(self, addr):
        proto = POP3Server()
        proto.factory = self
        return proto


class _Reply(Exception):
    """Raised inside a command handler to answer ``-ERR`` with ``text``."""

    def __init__(self, text: str, close: bool = False, logged: bool = True):
        super().__init__(text)
        self.text = text
        self.close = close
        #: False where a more telling line was logged already (a failed login).
        self.logged = logged


@implementer(interfaces.IPushProducer)
class POP3Server(Protocol, TimeoutMixin):
    """One POP3 connection's state: AUTHORIZATION, then TRANSACTION, then UPDATE."""

    factory: POP3Factory

    def __init__(self):
        self._buffer = b""
        self._queue: collections.deque = collections.deque()
        self._busy = False
        self._closed = False
        self._writable: Optional[defer.Deferred] = None
        self.tls_active = False
        self.user: Optional[str] = None
        self.account: Optional[str] = None
        # The verb being answered, for the client-error log (never its arguments).
        self._verb = "-"
        self._errors: Optional[ClientErrors] = None
        #: This connection's place among those not logged in (``smsync.edge.gate``).
        self.ticket = None
        self.maildrop: Optional[Maildrop] = None
        self.failed_logins = 0
        self._sasl_pending = False
        self._reading_paused = False
        #: The window of messages read ahead, once in the TRANSACTION state.
        self._prefetch: Optional[Prefetcher] = None

    # -- connection --------------------------------------------------------------

    @property
    def config(self) -> POP3Config:
        return self.factory.config

    def connectionMade(self):
        self.ticket = admit(self.factory.edge.gate, "pop3", self._host(), self.transport,
                            b"-ERR [SYS/TEMP] too many connections from your address; "
                            b"try again later\r\n")
        if self.ticket is None:
            self._closed = True
            return
        self.factory.connections.add(self)
        # Replies are small writes answered by the client's next command: without
        # NODELAY, Nagle and delayed ACKs add ~40 ms to each exchange.
        no_delay = getattr(self.transport, "setTcpNoDelay", None)
        if no_delay is not None:
            no_delay(True)
        # An ssl: endpoint (pop3s) hands us a TLS transport: implicit TLS.
        self.tls_active = self.config.implicit_tls or interfaces.ISSLTransport.providedBy(
            self.transport)
        self.setTimeout(self.config.login_timeout)
        self.send_ok(f"{self.config.hostname} POP3 server ready")

    def connectionLost(self, reason):
        self._closed = True
        if self.ticket is not None:
            self.ticket.release()
        if self._errors is not None:
            self._errors.closed()
        self.setTimeout(None)
        self.factory.connections.discard(self)
        # A dropped connection never reaches UPDATE: nothing marked is deleted.
        self._release()
        if self._prefetch is not None:
            self._prefetch.close()
        if self._writable is not None:
            d, self._writable = self._writable, None
            d.callback(None)

    def timeoutConnection(self):
        self.send_err("[SYS/TEMP] autologout: idle for too long")
        self.transport.loseConnection()

    def _release(self) -> None:
        if self.account is not None:
            self.factory.locks.release(self.account, self)

    # -- writing -----------------------------------------------------------------

    def send_ok(self, text: str = "") -> None:
        self.transport.write(b"+OK " + text.encode("utf-8") + b"\r\n" if text else b"+OK\r\n")

    def send_err(self, text: str, logged: bool = True) -> None:
        self.transport.write(b"-ERR " + text.encode("utf-8") + b"\r\n")
        if logged:
            self.client_errors()(self._verb, "-ERR " + text)

    def client_errors(self) -> ClientErrors:
        """This connection's client-error log (``smsync.clientlog``)."""
        if self._errors is None:
            self._errors = ClientErrors.of("pop3", self.transport)
        self._errors.account = self.account
        return self._errors

    def send_multiline(self, first: str, lines) -> None:
        out = [b"+OK " + first.encode("utf-8")]
        out += [(b"." + l if l.startswith(b".") else l) for l in lines]
        out.append(b".")
        self.transport.write(b"\r\n".join(out) + b"\r\n")

    # IPushProducer: the transport pauses us while its send buffer is full.
    def pauseProducing(self):
        if self._writable is None:
            self._writable = defer.Deferred()

    def resumeProducing(self):
        if self._writable is not None:
            d, self._writable = self._writable, None
            d.callback(None)

    def stopProducing(self):
        self.resumeProducing()

    # -- reading -----------------------------------------------------------------

    def dataReceived(self, data: bytes):
        self._buffer += data
        while not self._closed:
            nl = self._buffer.find(b"\n")
            if nl < 0:
                if len(self._buffer) > MAX_LINE:
                    self.send_err("line too long")
                    self.transport.loseConnection()
                    self._closed = True
                return
            line, self._buffer = self._buffer[:nl], self._buffer[nl + 1:]
            if line.endswith(b"\r"):
                line = line[:-1]
            self._queue.append(line)
            if len(self._queue) > _MAX_QUEUED and not self._reading_paused:
                self._reading_paused = True
                self.transport.pauseProducing()
            self.resetTimeout()
            if not self._busy:
                self._drain()

    def _drain(self) -> None:
        """Answer the queued commands in order: at once while the answer is at hand,
        then the rest in ``_run``, which may wait on the store or the socket."""
        while self._queue and not self._closed:
            if not self._answer_now(self._queue[0]):
                self._busy = True
                defer.Deferred.fromCoroutine(self._run()).addErrback(self._crashed)
                return
            self._next_line()

    def _next_line(self) -> bytes:
        line = self._queue.popleft()
        if self._reading_paused and len(self._queue) < _MAX_QUEUED // 2:
            self._reading_paused = False
            self.transport.resumeProducing()
        return line

    async def _run(self) -> None:
        try:
            while self._queue and not self._closed:
                line = self._next_line()
                if not self._answer_now(line):
                    await self._line(line)
        finally:
            self._busy = False

    def _answer_now(self, line: bytes) -> bool:
        """Answer ``line`` here and now if it is a RETR of a message already read ahead
        and the socket takes more: the exchange of a client fetching in order costs no
        coroutine, Deferred or store call. False (nothing done) for anything else."""
        if (self._prefetch is None or self._writable is not None or self._sasl_pending
                or line[:5].upper() != b"RETR "):
            return False
        arg = line[5:]
        # Anything unusual (spaces, signs, huge numbers) gets the full parser's answer.
        if not arg.isdigit() or len(arg) > 10:
            return False
        number = int(arg)
        entry = self.maildrop.get(number)
        if entry is None or entry.size > self.config.chunk_size:
            return False
        body = self._prefetch.ready(entry.uid)
        if body is None:
            return False
        self._prefetch.advance(number)
        self.transport.write(b"+OK %d octets\r\n" % entry.size + stuff_message(body))
        entry.retrieved = True
        return True

    def _crashed(self, failure):
        log.failure("POP3 session failed", failure)
        if not self._closed:
            self.send_err("[SYS/TEMP] internal server error", logged=False)
            self.transport.loseConnection()

    async def _line(self, line: bytes) -> None:
        if self._sasl_pending:
            self._sasl_pending = False
            self._verb = "AUTH"
            await self._sasl_response(line)
            return
        try:
            command = parse_command(line)
        except CommandError as e:
            self._verb = line[:12].split(b" ", 1)[0].decode("ascii", "replace").upper() or "-"
            self.send_err(str(e))
            return
        verb = self._verb = command.verb
        handler = getattr(self, "do_" + verb, None)
        if handler is None:
            self.send_err("unknown command")
            return
        if verb not in _ANY_STATE_VERBS and (self.maildrop is None) != (verb in _AUTH_STATE_VERBS):
            self.send_err("command not valid in this state")
            return
        try:
            await handler(command)
        except _Reply as reply:
            self.send_err(reply.text, logged=reply.logged)
            if reply.close:
                self.transport.loseConnection()
                self._closed = True
        except CommandError as e:
            self.send_err(str(e))

    # -- any state ---------------------------------------------------------------

    def capabilities(self) -> list[str]:
        caps = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING",
                "EXPIRE NEVER", "IMPLEMENTATION smsync"]
        if self.maildrop is None:
            if self.auth_allowed():
                caps += ["USER", "SASL PLAIN"]
            if self.config.tls is not None and not self.tls_active:
                caps.append("STLS")
        return caps

    async def do_CAPA(self, command) -> None:
        self.send_multiline("capability list follows",
                            [c.encode("ascii") for c in self.capabilities()])

    async def do_QUIT(self, command) -> None:
        if self.maildrop is None:
            self.send_ok(f"{self.config.hostname} POP3 server signing off")
        else:
            try:
                await self.maildrop.commit()
            except Exception as e:
                if not isinstance(e, SmsyncError):
                    log.failure("POP3 UPDATE failed for {account}", account=self.account)
                self.send_err("[SYS/TEMP] some deleted messages not removed")
            else:
                count, _ = self.maildrop.stat()
                self.send_ok(f"{self.config.hostname} POP3 server signing off "
                             f"({count} messages left)")
                await self._record_device()
            self._release()
        self._closed = True
        self.transport.loseConnection()

    # -- AUTHORIZATION -----------------------------------------------------------

    def auth_allowed(self) -> bool:
        if self.tls_active:
            return True
        if self.config.require_tls_for_auth and self.config.tls:
            return False
        # RFC 8314: no passwords in clear from other hosts unless the config allows it.
        return self.factory.edge.logins.cleartext_allowed(self._host())

    def _check_auth_allowed(self) -> None:
        if not self.auth_allowed():
            raise _Reply("[AUTH] plaintext authentication disallowed before STLS")

    async def do_STLS(self, command) -> None:
        if self.config.tls is None or self.tls_active:
            raise _Reply("STLS not available")
        self.send_ok("begin TLS negotiation")
        # Whatever was pipelined after STLS came in the clear: drop it (command injection).
        self._queue.clear()
        self._buffer = b""
        self.transport.startTLS(self.config.tls)
        self.tls_active = True
        self.user = None

    async def do_USER(self, command) -> None:
        self._check_auth_allowed()
        if len(command.args) != 1:
            raise _Reply("USER takes one argument")
        self.user = command.args[0]
        self.send_ok("send PASS")

    async def do_PASS(self, command) -> None:
        self._check_auth_allowed()
        if self.user is None:
            raise _Reply("USER first")
        user, self.user = self.user, None
        # RFC 1939 allows spaces in the password: take the whole rest of the line.
        await self._login(user, command.rest)

    async def do_AUTH(self, command) -> None:
        if not command.args:
            self.send_multiline("mechanisms follow", [b"PLAIN"] if self.auth_allowed() else [])
            return
        self._check_auth_allowed()
        mechanism = command.args[0].upper()
        if mechanism != "PLAIN":
            raise _Reply("[AUTH] unsupported authentication mechanism")
        if len(command.args) > 1:
            await self._sasl_response(command.args[1].encode("ascii", "replace"))
        else:
            self._sasl_pending = True
            self.transport.write(b"+ \r\n")

    async def _sasl_response(self, line: bytes) -> None:
        try:
            plain = sasl.decode_plain(line)
        except sasl.SaslCancelled:
            self.send_err("[AUTH] authentication cancelled")
            return
        except sasl.SaslMalformed as e:
            self.send_err(f"[AUTH] {e}")
            return
        if plain.acts_as_other:
            self.factory.edge.logins.failed("pop3", plain.authcid, self._host())
            await self._failed_login()
            return
        await self._login(plain.authcid, plain.password)

    def _host(self) -> str:
        return getattr(self.transport.getPeer(), "host", "unknown")

    async def _login(self, user, password) -> None:
        try:
            done = await self.factory.edge.logins.login("pop3", user, password, self._host())
        except BadCredentials:
            await self._failed_login()
            return
        except ProtocolNotAllowed:
            raise _Reply("[AUTH] POP3 is not enabled for this account", logged=False) from None
        except LoginUnavailable as e:
            raise _Reply(f"[SYS/TEMP] {e}", logged=False) from None
        account = done.account
        if not self.factory.locks.acquire(account, self):
            raise _Reply("[IN-USE] maildrop already locked by another POP3 session")
        self.account = account
        try:
            mail = await self.factory.store.mail(account)
            inbox = await mail.mailbox("INBOX")
            self.maildrop = await Maildrop.open(inbox)
        except Exception as e:
            self._release()
            self.account = None
            if not isinstance(e, SmsyncError):
                log.failure("POP3: cannot open the Inbox of {account}", account=account)
            raise _Reply("[SYS/TEMP] cannot open the maildrop") from None
        await self._record_device()
        if self.ticket is not None:
            self.ticket.release()
        self.setTimeout(self.config.idle_timeout)
        self._prefetch = Prefetcher(self.maildrop, self.config.chunk_size,
                                    self.config.prefetch_bytes)
        # Registered for the rest of the session: every answer waits while the socket's
        # buffer is full, so a pipelining client that does not read cannot make us queue.
        self.transport.registerProducer(self, True)
        count, size = self.maildrop.stat()
        self.send_ok(f"maildrop has {count} messages ({size} octets)")

    async def _failed_login(self) -> None:
        self.failed_logins += 1
        d = defer.Deferred()
        self.factory.reactor.callLater(self.config.failed_login_delay, d.callback, None)
        await d
        close = self.failed_logins >= self.config.max_failed_logins
        raise _Reply("[AUTH] invalid user name or password", close=close, logged=False)

    async def _record_device(self) -> None:
        await self.factory.edge.devices.record(self.account, "pop3",
                                               Client.address("pop3", self._host()))

    # -- TRANSACTION -------------------------------------------------------------

    def _entry(self, text: str):
        number = parse_number(text)
        entry = self.maildrop.get(number)
        if entry is None:
            raise _Reply("no such message")
        return number, entry

    async def do_NOOP(self, command) -> None:
        self.send_ok()

    async def do_STAT(self, command) -> None:
        count, size = self.maildrop.stat()
        self.send_ok(f"{count} {size}")

    async def do_LIST(self, command) -> None:
        if command.args:
            number, entry = self._entry(command.args[0])
            self.send_ok(f"{number} {entry.size}")
            return
        count, size = self.maildrop.stat()
        self.send_multiline(f"{count} messages ({size} octets)",
                            [b"%d %d" % (n, e.size) for n, e in self.maildrop.live()])

    async def do_UIDL(self, command) -> None:
        if command.args:
            number, entry = self._entry(command.args[0])
            self.send_ok(f"{number} {self.maildrop.uidl(entry)}")
            return
        self.send_multiline("unique-id listing follows",
                            [f"{n} {self.maildrop.uidl(e)}".encode("ascii")
                             for n, e in self.maildrop.live()])

    async def do_DELE(self, command) -> None:
        if len(command.args) != 1:
            raise _Reply("DELE takes one argument")
        number, entry = self._entry(command.args[0])
        entry.deleted = True
        self.send_ok(f"message {number} deleted")

    async def do_RSET(self, command) -> None:
        self.maildrop.reset()
        count, size = self.maildrop.stat()
        self.send_ok(f"maildrop has {count} messages ({size} octets)")

    async def do_RETR(self, command) -> None:
        if len(command.args) != 1:
            raise _Reply("RETR takes one argument")
        number, entry = self._entry(command.args[0])
        if entry.size > self.config.chunk_size:
            self._prefetch.advance(number)
            await self._stream(entry, None)
        else:
            await self._send_whole(number, entry)
        entry.retrieved = True

    async def do_TOP(self, command) -> None:
        if len(command.args) != 2:
            raise _Reply("TOP takes a message number and a line count")
        _, entry = self._entry(command.args[0])
        lines = parse_number(command.args[1])
        await self._stream(entry, TopFilter(lines))

    async def _send_whole(self, number: int, entry) -> None:
        """Answer RETR of a small message with one write, from the read-ahead window
        when it is there."""
        got = self._prefetch.take(entry.uid)
        if isinstance(got, defer.Deferred):
            got = await got
        # Refill the window before waiting on anything, so the next bodies are read
        # while this one goes out.
        self._prefetch.advance(number)
        if got is None:
            try:
                body = await self.maildrop.mailbox.read_body(entry.uid)
            except NotFound:
                body = None
        else:
            body = got[0]
        if body is None:
            raise _Reply("[SYS/PERM] message was deleted by another session")
        if self._writable is not None:
            await self._writable
        if self._closed:
            return
        self.transport.write(b"+OK %d octets\r\n" % entry.size + stuff_message(body))

    async def _stream(self, entry, top: Optional[TopFilter]) -> None:
        mailbox = self.maildrop.mailbox
        size = self.config.chunk_size
        try:
            chunk = await mailbox.read_body(entry.uid, 0, size)
        except NotFound:
            raise _Reply("[SYS/PERM] message was deleted by another session") from None
        if self._writable is not None:
            await self._writable
        if self._closed:
            return
        self.transport.write(b"+OK %d octets\r\n" % entry.size)
        stuffer = DotStuffer()
        offset = 0
        while chunk:
            offset += len(chunk)
            out = top.feed(chunk) if top is not None else chunk
            self.transport.write(stuffer.feed(out))
            if (top is not None and top.done) or len(chunk) < size or offset >= entry.size:
                break
            if self._writable is not None:
                await self._writable
            if self._closed:
                return
            try:
                chunk = await mailbox.read_body(entry.uid, offset, size)
            except NotFound:
                # Removed mid-stream: the client must not take half a message as
                # whole, so the connection ends without the terminator.
                self.transport.loseConnection()
                self._closed = True
                return
        self.transport.write(stuffer.finish())


#: Verbs allowed before login.
_AUTH_STATE_VERBS = frozenset({"USER", "PASS", "AUTH", "STLS"})
#: Verbs allowed in every state.
_ANY_STATE_VERBS = frozenset({"CAPA", "QUIT"})
