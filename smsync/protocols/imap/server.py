"""The IMAP server: connection framing, command dispatch, TLS, compression, timeouts.

``IMAPFactory(store, portal, config)`` is what a Twisted endpoint listens with. Each
connection is an ``IMAPConnection``: it frames the byte stream into whole commands (lines
plus the literals they announce), runs them one after another through the handlers
registered in ``smsync.protocols.imap.commands``, and reports changes other sessions made
to the selected mailbox before each tagged completion.
"""

from __future__ import annotations

import collections
import zlib
from typing import Optional

import attrs
from twisted.internet import defer
from twisted.internet.interfaces import IPushProducer, ISSLTransport
from twisted.internet.protocol import Protocol, ServerFactory
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from smsync.clientlog import ClientErrors
from smsync.edge import Edge, edge_for
from smsync.edge.gate import admit
from smsync.errors import SmsyncError
from smsync.protocols.imap import commands
from smsync.protocols.imap.commands import ClientGone, CommandBad, Reply
from smsync.protocols.imap.parser import ParseError, literal_at_end, parse_command, peek_tag_and_name
from smsync.protocols.imap.session import Session

log = Logger()

#: A command's output is held back and sent in one piece with its tagged completion
#: (a send(2) and two epoll changes saved per command, a third of the reactor's time
#: under load); past this many bytes it is sent as it comes.
HOLD_BYTES = 64 * 1024


@attrs.define
class IMAPConfig:
    """Limits and options of one IMAP service. Times are seconds, sizes bytes."""

    append_limit: int = 50 * 1024 * 1024
    max_line: int = 64 * 1024
    #: Largest literal accepted in anything but APPEND (a search string, a password...).
    max_literal: int = 1024 * 1024
    #: Before login, the longest line and the largest literal taken (a LOGIN with a long
    #: password fits; a 50 MB APPEND literal from a stranger is not held in memory).
    max_unauth_line: int = 8 * 1024
    max_unauth_literal: int = 4 * 1024
    unauth_timeout: float = 60.0
    #: RFC 3501 5.4: at least 30 minutes for an authenticated client, IDLE included.
    auth_timeout: float = 30 * 60.0
    #: Seconds a failed login waits before its NO. (Repeated failures are slowed and
    #: locked out across connections and protocols by the edge's login limiter.)
    failed_login_delay: float = 1.0
    #: A ``twisted.internet.ssl`` context factory: enables STARTTLS when set.
    tls: object = None
    #: The listener is already TLS (imaps): no STARTTLS, plaintext auth allowed.
    implicit_tls: bool = False
    #: Refuse LOGIN/PLAIN before TLS (LOGINDISABLED) when TLS is available.
    require_tls_for_auth: bool = False
    #: Reported by GETQUOTA (KiB); None: no storage limit is reported.
    quota_storage_kb: Optional[int] = None
    #: Messages fetched from the store per round trip while streaming FETCH answers.
    fetch_batch: int = 500
    server_name: str = "smsync"


class IMAPFactory(ServerFactory):
    """Makes ``IMAPConnection`` objects over one store and one ``twisted.cred`` portal
    (and the server's ``smsync.edge.Edge`` when given: its logins, policy and devices)."""

    def __init__(self, store, portal, config: Optional[IMAPConfig] = None, clock=None,
                 edge: Optional[Edge] = None):
        from twisted.internet import reactor

        self.store = store
        self.portal = portal
        #: The front door (logins, policy, devices): a server's shared one, or our own.
        self.edge = edge_for(store, portal, edge)
        self.config = config or IMAPConfig()
        self.clock = clock or reactor
        self.connections: set = set()

    def buildProtocol(self, addr):
        proto = IMAPConnection(self)
        return proto

    # Failed-login bookkeeping is per client address, shared by its connections.

@implementer(IPushProducer)
class IMAPConnection(Protocol):
    """One client connection: framing, ordering and the output side."""

    def __init__(self, factory: IMAPFactory):
        self.factory = factory
        self.config = factory.config
        self.session = Session(self)
        self._buf = bytearray()
        self._parts: list[bytes] = []
        self._parts_size = 0
        self._literal_left = 0
        self._discard_left = 0
        self._skipping = False
        self._overlong: Optional[bytes] = None
        self._queue: collections.deque[bytes] = collections.deque()
        self._waiter: Optional[defer.Deferred] = None
        self._busy = False
        self._closed = False
        self._reading_paused = False
        self._write_paused: Optional[defer.Deferred] = None
        # Output of the running command not yet given to the transport (see HOLD_BYTES).
        self._held: list[bytes] = []
        self._held_size = 0
        self._holding = False
        self._timer = None
        self._deflate = None
        self._inflate = None
        self.tls_active = self.config.implicit_tls
        self.after_reply = None
        self.peer_host = "unknown"
        #: This connection's place among those not logged in (``smsync.edge.gate``).
        self.ticket = None
        # Made on the first client error: most connections never have one.
        self._errors: Optional[ClientErrors] = None

    # -- connection life -------------------------------------------------------------

    def connectionMade(self):
        peer = self.transport.getPeer()
        self.peer_host = getattr(peer, "host", "unknown")
        # Arriving on an ssl: endpoint is implicit TLS (imaps).
        self.tls_active = self.tls_active or ISSLTransport.providedBy(self.transport)
        self.ticket = admit(self.factory.edge.gate, "imap", self.peer_host, self.transport,
                            b"* BYE [UNAVAILABLE] too many connections from your address; "
                            b"try again later\r\n")
        if self.ticket is None:
            self._closed = True
            return
        self.factory.connections.add(self)
        # A command's answer leaves in one write already (see HOLD_BYTES): Nagle would
        # only hold the next one back until the client ACKs, up to its delayed-ACK
        # timer, for clients that pipeline (mbsync) and for IDLE pushes.
        set_nodelay = getattr(self.transport, "setTcpNoDelay", None)
        if set_nodelay is not None:
            try:
                set_nodelay(True)
            except OSError:
                pass
        self.transport.registerProducer(self, True)
        caps = " ".join(commands.capabilities(self))
        self.write_line(f"* OK [CAPABILITY {caps}] {self.config.server_name} IMAP ready".encode())
        self._reset_timer()

    def connectionLost(self, reason=None):
        self._closed = True
        if self.ticket is not None:
            self.ticket.release()
        self._held = []
        self._held_size = 0
        self.factory.connections.discard(self)
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter.errback(ClientGone())
        if self._write_paused is not None:
            d, self._write_paused = self._write_paused, None
            d.callback(None)
        self.session.closed()
        if self._errors is not None:
            self._errors.closed()

    def client_errors(self) -> ClientErrors:
        """This connection's client-error log (``smsync.clientlog``)."""
        if self._errors is None:
            self._errors = ClientErrors.of("imap", self.transport)
        self._errors.account = self.session.account
        return self._errors

    def _log_error(self, tag, name, answer: bytes) -> None:
        # Only the tag and command name: the rest may be a password.
        what = " ".join(x for x in (tag if isinstance(tag, str) else None, name) if x) or "(unparsed)"
        self.client_errors()(what, answer)

    @property
    def closed(self) -> bool:
        return self._closed

    def _reset_timer(self):
        timeout = self.config.auth_timeout if self.session.authenticated else self.config.unauth_timeout
        if self._timer is not None and self._timer.active():
            self._timer.reset(timeout)
        else:
            self._timer = self.factory.clock.callLater(timeout, self._timed_out)

    def _timed_out(self):
        self._timer = None
        if self._busy and self._waiter is None:
            # A command still working (a slow password check, a long FETCH) is not idleness.
            self._reset_timer()
            return
        if not self._closed:
            self.write_line(b"* BYE Autologout; connection idle too long")
            self.flush()
            self.transport.loseConnection()

    # -- output ----------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Send raw bytes (compressed once COMPRESS is active). While a command runs they
        are held until it completes, waits for the client or has ``HOLD_BYTES`` ready."""
        if self._closed:
            return
        if self._holding and self._waiter is None:
            self._held.append(data)
            self._held_size += len(data)
            if self._held_size >= HOLD_BYTES:
                self.flush()
            return
        if self._held:
            self.flush()
        self._send(data)

    def flush(self) -> None:
        """Give held output to the transport now (before a close, a wait for the client,
        a switch to TLS or compression)."""
        if not self._held:
            return
        data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
        self._held = []
        self._held_size = 0
        if not self._closed:
            self._send(data)

    def _send(self, data: bytes) -> None:
        if self._deflate is not None:
            data = self._deflate.compress(data) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        self.transport.write(data)

    def write_line(self, line: bytes) -> None:
        self.write(line + b"\r\n")

    def untagged(self, text) -> None:
        """Send ``* text``."""
        self.write_line(b"* " + (text.encode("utf-8") if isinstance(text, str) else text))

    async def drain(self) -> None:
        """Wait until the transport wants more output (streaming large answers)."""
        if self._write_paused is not None:
            # What is held counts as sent: the client may need it to drain its side.
            self.flush()
            await self._write_paused

    def pauseProducing(self):
        if self._write_paused is None:
            self._write_paused = defer.Deferred()

    def resumeProducing(self):
        d, self._write_paused = self._write_paused, None
        if d is not None:
            d.callback(None)

    def stopProducing(self):
        self.resumeProducing()

    def start_compression(self) -> None:
        self._deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        self._inflate = zlib.decompressobj(-15)

    @property
    def compressed(self) -> bool:
        return self._deflate is not None

    def start_tls(self) -> None:
        # Anything pipelined after STARTTLS in the clear must not be taken as coming
        # through TLS (the STARTTLS command-injection attack).
        self._buf.clear()
        self._queue.clear()
        self.transport.unregisterProducer()
        self.transport.startTLS(self.config.tls)
        self.transport.registerProducer(self, True)
        self.tls_active = True

    # -- input framing ---------------------------------------------------------------

    def dataReceived(self, data: bytes):
        if self._inflate is not None:
            try:
                data = self._inflate.decompress(data)
            except zlib.error:
                self.write_line(b"* BYE corrupt compressed stream")
                self.transport.loseConnection()
                return
        self._buf += data
        self._reset_timer()
        try:
            self._frame()
        except Exception:
            log.failure("IMAP framing failed")
            self.write_line(b"* BYE internal error")
            self.flush()
            self.transport.loseConnection()
            return
        # Continuation requests ("+ Ready for literal data") and refusals go out now,
        # even while a command holds its output.
        self.flush()

    def _frame(self):
        buf = self._buf
        while buf and not self._closed:
            if self._discard_left:
                n = min(self._discard_left, len(buf))
                del buf[:n]
                self._discard_left -= n
                continue
            if self._literal_left:
                n = min(self._literal_left, len(buf))
                self._parts.append(bytes(buf[:n]))
                del buf[:n]
                self._literal_left -= n
                continue
            i = buf.find(b"\n")
            max_line = (self.config.max_line if self.session.authenticated
                        else min(self.config.max_line, self.config.max_unauth_line))
            if i < 0:
                if len(buf) > max_line:
                    # Keep only enough to find the end of the line; answer once it ends.
                    if not self._overlong:
                        self._overlong = self._parts[0] if self._parts else bytes(buf[:200])
                    del buf[: len(buf) - 1]
                return
            line = bytes(buf[:i])
            del buf[: i + 1]
            if line.endswith(b"\r"):
                line = line[:-1]
            if self._overlong:
                first, self._overlong = self._overlong, None
                self._abandon(b"line too long", first=first)
                continue
            if len(line) > max_line:
                self._abandon(b"line too long", first=self._parts[0] if self._parts else line)
                continue
            marker = literal_at_end(line)
            if self._skipping:
                if marker is not None and marker.nonsync:
                    self._discard_left = marker.size
                else:
                    self._skipping = False
                continue
            if marker is None:
                self._parts.append(line)
                command = b"".join(self._parts)
                self._parts = []
                self._parts_size = 0
                self._deliver(command)
                continue
            first = self._parts[0] if self._parts else line
            tag, name, _uid = peek_tag_and_name(first)
            appending = name in ("APPEND", "REPLACE")
            limit = self.config.append_limit if appending else self.config.max_literal
            if not self.session.authenticated:
                limit = min(limit, self.config.max_unauth_literal)
            if marker.size > limit or self._parts_size + marker.size > limit * 4:
                self._parts = []
                self._parts_size = 0
                if appending:
                    self._refuse(tag, b"NO [TOOBIG] message larger than APPENDLIMIT", name)
                else:
                    self._refuse(tag, b"BAD [TOOBIG] literal too large", name)
                if marker.nonsync:
                    self._discard_left = marker.size
                    self._skipping = True
                continue
            self._parts.append(line + b"\r\n")
            self._parts_size += len(line) + marker.size
            self._literal_left = marker.size
            if not marker.nonsync:
                self.write_line(b"+ Ready for literal data")

    def _refuse(self, tag: Optional[str], text: bytes, name: Optional[str] = None) -> None:
        t = tag.encode("ascii", "replace") if tag and tag != "+" else b"*"
        self.write_line(t + b" " + text)
        self._log_error(tag, name, text)

    def _abandon(self, why: bytes, first: bytes) -> None:
        self._parts = []
        self._parts_size = 0
        tag, name, _ = peek_tag_and_name(first[:200])
        self._refuse(tag, b"BAD " + why, name)

    def _deliver(self, item: bytes) -> None:
        if self._waiter is not None:
            d, self._waiter = self._waiter, None
            d.callback(item)
            return
        self._queue.append(item)
        if len(self._queue) > 64 and not self._reading_paused:
            # A client pipelining faster than we answer: stop reading until we catch up.
            self._reading_paused = True
            self.transport.pauseProducing()
        self._pump()

    async def next_line(self) -> bytes:
        """The next line (or command) the client sends: IDLE's DONE, SASL responses.

        Raises:
            ClientGone: the client went away first.
        """
        # The client may be waiting for what we said so far (a "+" challenge, "+ idling").
        self.flush()
        if self._queue:
            return self._queue.popleft()
        if self._closed:
            raise ClientGone()
        self._waiter = defer.Deferred()
        return await self._waiter

    def _pump(self) -> None:
        if self._busy or self._closed or not self._queue:
            return
        item = self._queue.popleft()
        if self._reading_paused and len(self._queue) < 16:
            self._reading_paused = False
            self.transport.resumeProducing()
        self._busy = True
        self._holding = True
        d = defer.Deferred.fromCoroutine(self._run(item))

        def done(result):
            if isinstance(result, Failure) and not result.check(ClientGone):
                log.failure("IMAP command failed", failure=result)
            self._holding = False
            self.flush()
            self._busy = False
            if not self._closed:
                self._reset_timer()
                self.session.command_done()
            self._pump()

        d.addBoth(done)

    async def between_commands(self, work) -> bool:
        """Run ``work()``, a coroutine function that writes unsolicited responses (NOTIFY
        pushes), if no command is under way or the one under way waits for the client
        (IDLE); commands that arrive meanwhile wait until it is done. False, and nothing
        run, while a command is running: its end is the time to try again."""
        if self._closed:
            return True
        if self._busy and self._waiter is None:
            return False
        if self._busy:
            await work()
            return True
        self._busy = True
        try:
            await work()
        finally:
            self._busy = False
            self._pump()
        return True

    async def _run(self, item: bytes) -> None:
        try:
            cmd = parse_command(item)
        except ParseError as e:
            tag = (e.tag or "*").encode("ascii", "replace")
            answer = b"BAD " + str(e).encode("utf-8", "replace")
            self.write_line(tag + b" " + answer)
            _, name, _ = peek_tag_and_name(item[:200])
            self._log_error(e.tag, name, answer)
            return
        # An APPEND's command bytes hold the whole message: let them go before the
        # store copies the literal, so a big message is in memory once, not twice.
        del item
        tag = cmd.tag.encode("ascii")
        spec = commands.lookup(cmd.name)
        refusal = commands.refusal(self, spec, cmd)
        if refusal is not None:
            self.write_line(tag + b" BAD " + refusal.encode())
            self._log_error(cmd.tag, cmd.name, b"BAD " + refusal.encode())
            return
        self.session.before_command(cmd)
        try:
            reply = await spec.handler(self, cmd)
        except ClientGone:
            raise
        except CommandBad as e:
            reply = Reply("BAD", str(e))
        except SmsyncError as e:
            reply = commands.error_reply(e)
        except Exception:
            log.failure("IMAP {name} failed", name=cmd.name)
            reply = Reply("NO", "internal server error", "SERVERBUG")
        if reply is None:
            reply = Reply("OK", f"{cmd.name} completed")
        if self._closed:
            return
        if spec.sync_after and self.session.selected is not None and reply.status != "BAD":
            await self.session.report_changes(allow_expunge=commands.may_expunge(cmd))
        code = f"[{reply.code}] " if reply.code else ""
        self.write_line(tag + f" {reply.status} {code}{reply.text}".encode("utf-8"))
        if reply.status != "OK" and reply.code != "AUTHENTICATIONFAILED":  # that has its own line
            self._log_error(cmd.tag, cmd.name, f"{reply.status} {code}{reply.text}".encode("utf-8"))
        # The completion must leave before the hook: in the clear before STARTTLS,
        # uncompressed before COMPRESS, at all before LOGOUT's close.
        self._holding = False
        self.flush()
        hook, self.after_reply = self.after_reply, None
        if hook is not None:
            hook()

