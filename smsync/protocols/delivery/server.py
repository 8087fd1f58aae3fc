"""One SMTP-family server connection: LMTP (RFC 2033), SMTP (RFC 5321) and submission
(RFC 6409) share it; the factory decides what a recipient is and what happens to a
message once received (``MailFactory`` hooks).

Commands are answered in order; a pipelining client (RFC 2920) may send ahead. The text
after DATA goes through ``DataDecoder`` into a ``Spool`` and never through the command
reader, so a message line is never taken for a command.
"""

from __future__ import annotations

import base64
import itertools
import uuid
from typing import Optional

import attrs
from twisted.internet import defer, interfaces
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin

from smsync.clientlog import ClientErrors
from smsync.edge import Edge, edge_for, sasl
from smsync.edge.gate import admit
from smsync.edge.logins import BadCredentials, LoginUnavailable, ProtocolNotAllowed
from smsync.errors import SmsyncError
from smsync.protocols.delivery.core import Rejected, Reply
from smsync.protocols.delivery.envelope import (
    DataDecoder,
    EnvelopeError,
    Path,
    parse_path,
    size_param,
)
from smsync.protocols.delivery.spool import Spool

log = Logger(namespace="smsync.delivery")

#: RFC 5321 4.5.3.1.4: a command line is at most 512 octets; AUTH responses are longer.
MAX_COMMAND_LINE = 4096


@attrs.define
class ServerConfig:
    """How one SMTP-family listener behaves."""

    #: "lmtp", "smtp" or "submission".
    mode: str = "lmtp"
    hostname: str = "localhost"
    max_message_size: int = 50 * 1024 * 1024
    max_recipients: int = 100
    #: A ``twisted.internet.ssl`` context factory: enables STARTTLS when set.
    tls: object = None
    #: Refuse AUTH before STARTTLS (when TLS is available at all).
    require_tls_for_auth: bool = True
    idle_timeout: float = 300.0
    failed_login_delay: float = 1.0
    max_failed_logins: int = 3


@attrs.define
class Envelope:
    """The transaction in progress: who sends, to whom (address and account)."""

    sender: Optional[Path] = None
    recipients: list = attrs.field(factory=list)
    body_8bit: bool = False


class MailFactory(Factory):
    """Base of the listeners' factories. Subclasses decide recipients and the fate of
    each received message."""

    protocol_name = "SMTP"

    def __init__(self, store, portal, config: ServerConfig, reactor=None,
                 edge: Optional[Edge] = None):
        self.store = store
        self.portal = portal
        #: The front door (logins, policy, outbound): a server's shared one, or our own.
        self.edge = edge_for(store, portal, edge)
        self.config = config
        self.connections: set = set()
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor

    def buildProtocol(self, addr):
        proto = MailServer()
        proto.factory = self
        return proto

    # -- hooks ---------------------------------------------------------------------

    def auth_offered(self) -> bool:
        return False

    def check_sender(self, session: "MailServer", path: Path) -> defer.Deferred:
        """Fire with None to accept MAIL FROM ``path``; fail with ``Rejected``."""
        return defer.succeed(None)

    def check_recipient(self, session: "MailServer", address: str) -> defer.Deferred:
        """Fire with what to remember about an accepted recipient (e.g. its account);
        fail with ``Rejected`` to refuse it."""
        raise NotImplementedError

    def finish(self, session: "MailServer", envelope: Envelope, spool: Spool) -> defer.Deferred:
        """Handle a received message; fire with one ``Reply`` per recipient."""
        raise NotImplementedError


class MailServer(Protocol, TimeoutMixin):
    """One connection of an LMTP, SMTP or submission listener."""

    factory: MailFactory

    def __init__(self):
        self._buffer = b""
        self._busy = False
        self._closed = False
        self._data: Optional[tuple] = None
        self._received: Optional[tuple] = None
        self._sasl = None
        self.helo: Optional[str] = None
        self.esmtp = False
        self.tls_active = False
        self.authenticated: Optional[str] = None
        self.failed_logins = 0
        self.envelope = Envelope()
        self.peer = "unknown"
        # The verb being answered, for the client-error log (never its arguments).
        self._verb = "-"
        self._errors: Optional[ClientErrors] = None
        #: Submission: this connection's place among those not logged in.
        self.ticket = None

    @property
    def config(self) -> ServerConfig:
        return self.factory.config

    @property
    def lmtp(self) -> bool:
        return self.config.mode == "lmtp"

    # -- connection ----------------------------------------------------------------

    def connectionMade(self):
        self.peer = getattr(self.transport.getPeer(), "host", "unknown")
        if self.config.mode == "submission":
            # Only submission logs in; LMTP and SMTP in serve the MTA and the world.
            self.ticket = admit(self.factory.edge.gate, "submission", self.peer, self.transport,
                                b"421 4.7.0 too many connections from your address; "
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
        self.tls_active = interfaces.ISSLTransport.providedBy(self.transport)
        self.setTimeout(self.config.idle_timeout)
        kind = {"lmtp": "LMTP", "submission": "ESMTP submission"}.get(self.config.mode, "ESMTP")
        self.reply(220, f"{self.config.hostname} {kind} smsync ready")

    def connectionLost(self, reason):
        self._closed = True
        if self.ticket is not None:
            self.ticket.release()
        self.setTimeout(None)
        self.factory.connections.discard(self)
        if self._data is not None:
            self._data[1].discard()
            self._data = None
        if self._errors is not None:
            self._errors.closed()

    def timeoutConnection(self):
        self.reply(421, "4.4.2 idle for too long, closing connection")
        self.transport.loseConnection()

    def reply(self, code: int, text: str, more: tuple = (), logged: bool = True) -> None:
        """Send a reply; ``more`` lines make it a multi-line one (``text`` first). An
        error reply is logged as the client's unless ``logged`` is False (where a more
        telling line is logged already)."""
        lines = [text, *more]
        out = [f"{code}-{l}\r\n" for l in lines[:-1]] + [f"{code} {lines[-1]}\r\n"]
        self.transport.write("".join(out).encode("utf-8"))
        if code >= 400 and logged:
            self._log_error(code, text)

    def send(self, reply: Reply) -> None:
        self.transport.write(reply.line())
        if reply.code >= 400:
            self._log_error(reply.code, f"{reply.enhanced} {reply.text}")

    def client_errors(self) -> ClientErrors:
        """This connection's client-error log (``smsync.clientlog``)."""
        if self._errors is None:
            self._errors = ClientErrors.of(self.config.mode, self.transport)
        self._errors.account = self.authenticated
        return self._errors

    def _log_error(self, code: int, text: str) -> None:
        self.client_errors()(self._verb, f"{code} {text}")

    # -- reading -------------------------------------------------------------------

    def dataReceived(self, data: bytes):
        self.resetTimeout()
        if self._data is not None:
            self._receive(data)
            return
        self._buffer += data
        self._kick()

    def _kick(self) -> None:
        if not self._busy and not self._closed:
            self._busy = True
            defer.Deferred.fromCoroutine(self._run()).addErrback(self._crashed)

    def _crashed(self, failure):
        log.failure("{mode} session failed", failure, mode=self.config.mode)
        if not self._closed:
            self.reply(421, "4.3.0 internal error, closing connection", logged=False)  # a failure already
            self.transport.loseConnection()
            self._closed = True

    async def _run(self) -> None:
        try:
            while not self._closed:
                if self._received is not None:
                    envelope, spool, self._received = *self._received, None
                    await self._finish_message(envelope, spool)
                    continue
                if self._data is not None:
                    return
                nl = self._buffer.find(b"\n")
                if nl < 0:
                    if len(self._buffer) > MAX_COMMAND_LINE:
                        self.reply(500, "5.5.2 line too long")
                        self.transport.loseConnection()
                        self._closed = True
                    return
                line, self._buffer = self._buffer[:nl], self._buffer[nl + 1:]
                if line.endswith(b"\r"):
                    line = line[:-1]
                await self._line(line)
        finally:
            self._busy = False

    async def _line(self, line: bytes) -> None:
        if self._sasl is not None:
            step, self._sasl = self._sasl, None
            self._verb = "AUTH"
            await step(line)
            return
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            self._verb = "-"
            self.reply(500, "5.5.2 command is not UTF-8")
            return
        verb, _, arg = text.partition(" ")
        self._verb = verb[:12].upper() if verb.isalpha() else "-"
        handler = getattr(self, "do_" + verb.upper(), None) if verb.isalpha() else None
        if handler is None:
            self.reply(500, "5.5.1 command not recognised")
            return
        try:
            await handler(arg.strip())
        except EnvelopeError as e:
            self.reply(e.code, f"{e.enhanced} {e}")
        except Rejected as e:
            self.send(e.reply)

    # -- greeting, session commands ------------------------------------------------

    def _extensions(self) -> list[str]:
        ext = ["PIPELINING", f"SIZE {self.config.max_message_size}", "8BITMIME",
               "ENHANCEDSTATUSCODES"]
        if self.config.tls is not None and not self.tls_active:
            ext.append("STARTTLS")
        if self.factory.auth_offered() and self.authenticated is None and self._auth_allowed():
            ext.append("AUTH PLAIN LOGIN")
        return ext

    def _greet(self, arg: str, esmtp: bool) -> None:
        if not arg:
            self.reply(501, "5.5.4 a domain or address literal is required")
            return
        self.helo = arg.split()[0]
        self.esmtp = esmtp
        self.envelope = Envelope()
        greeting = f"{self.config.hostname} greets {self.helo}"
        if esmtp:
            self.reply(250, greeting, tuple(self._extensions()))
        else:
            self.reply(250, greeting)

    async def do_LHLO(self, arg: str) -> None:
        if not self.lmtp:
            self.reply(500, "5.5.1 LHLO is LMTP only")
            return
        self._greet(arg, True)

    async def do_EHLO(self, arg: str) -> None:
        if self.lmtp:
            self.reply(500, "5.5.1 this is LMTP: use LHLO")
            return
        self._greet(arg, True)

    async def do_HELO(self, arg: str) -> None:
        if self.lmtp:
            self.reply(500, "5.5.1 this is LMTP: use LHLO")
            return
        self._greet(arg, False)

    async def do_NOOP(self, arg: str) -> None:
        self.reply(250, "2.0.0 OK")

    async def do_RSET(self, arg: str) -> None:
        self.envelope = Envelope()
        self.reply(250, "2.0.0 OK")

    async def do_VRFY(self, arg: str) -> None:
        # Answering would let anyone list accounts.
        self.reply(252, "2.5.0 cannot verify, but will try to deliver")

    async def do_HELP(self, arg: str) -> None:
        self.reply(214, "2.0.0 see RFC 5321")

    async def do_QUIT(self, arg: str) -> None:
        self.reply(221, f"2.0.0 {self.config.hostname} closing connection")
        self._closed = True
        self.transport.loseConnection()

    async def do_STARTTLS(self, arg: str) -> None:
        if self.config.tls is None or self.tls_active:
            self.reply(502, "5.5.1 STARTTLS not available")
            return
        if arg:
            self.reply(501, "5.5.4 no parameters allowed")
            return
        self.reply(220, "2.0.0 ready to start TLS")
        # Anything pipelined after STARTTLS came in the clear: drop it (RFC 3207 §4.2).
        self._buffer = b""
        self.transport.startTLS(self.config.tls)
        self.tls_active = True
        self.helo = None
        self.envelope = Envelope()

    # -- AUTH (submission) -----------------------------------------------------------

    def _auth_allowed(self) -> bool:
        if self.tls_active:
            return True
        if self.config.require_tls_for_auth and self.config.tls:
            return False
        # RFC 8314: no passwords in clear from other hosts unless the config allows it.
        return self.factory.edge.logins.cleartext_allowed(self.peer)

    async def do_AUTH(self, arg: str) -> None:
        if not self.factory.auth_offered():
            self.reply(502, "5.5.1 AUTH not available here")
            return
        if self.authenticated is not None:
            self.reply(503, "5.5.1 already authenticated")
            return
        if self.envelope.sender is not None:
            self.reply(503, "5.5.1 AUTH not allowed during a mail transaction")
            return
        if not self._auth_allowed():
            self.reply(538, "5.7.11 encryption required: use STARTTLS first")
            return
        words = arg.split()
        mechanism = words[0].upper() if words else ""
        initial = words[1] if len(words) > 1 else None
        if mechanism == "PLAIN":
            if initial is None:
                self._sasl = self._plain_response
                self.reply(334, "")
            else:
                await self._plain_response(initial.encode("ascii", "replace"))
        elif mechanism == "LOGIN":
            if initial is None:
                self._sasl = self._login_user
                self.reply(334, base64.b64encode(sasl.LOGIN_USER_CHALLENGE).decode())
            else:
                await self._login_user(initial.encode("ascii", "replace"))
        else:
            self.reply(504, "5.5.4 unrecognised authentication mechanism")

    def _decode(self, line: bytes) -> Optional[bytes]:
        try:
            return sasl.decode_response(line)
        except sasl.SaslCancelled:
            self.reply(501, "5.0.0 authentication cancelled")
        except sasl.SaslMalformed:
            self.reply(501, "5.5.2 cannot decode the response")
        return None

    async def _plain_response(self, line: bytes) -> None:
        raw = self._decode(line)
        if raw is None:
            return
        try:
            plain = sasl.parse_plain(raw)
        except sasl.SaslMalformed:
            self.factory.edge.logins.failed("submission", "(malformed PLAIN response)", self.peer)
            await self._auth_failed()
            return
        if plain.acts_as_other:
            self.factory.edge.logins.failed("submission", plain.authcid, self.peer)
            await self._auth_failed()
            return
        await self._authenticate(plain.authcid, plain.password)

    async def _login_user(self, line: bytes) -> None:
        user = self._decode(line)
        if user is None:
            return

        async def password_step(line: bytes) -> None:
            password = self._decode(line)
            if password is not None:
                await self._authenticate(user, password)

        self._sasl = password_step
        self.reply(334, base64.b64encode(sasl.LOGIN_PASSWORD_CHALLENGE).decode())

    async def _authenticate(self, user: bytes, password: bytes) -> None:
        try:
            done = await self.factory.edge.logins.login("submission", user, password, self.peer)
        except BadCredentials:
            await self._auth_failed()
            return
        except ProtocolNotAllowed:
            self.reply(535, "5.7.8 sending mail is not enabled for this account", logged=False)
            return
        except LoginUnavailable as e:
            # RFC 4954: 454, a temporary authentication failure.
            self.reply(454, f"4.7.0 {e}", logged=False)
            return
        done.logout()
        self.authenticated = done.account
        if self.ticket is not None:
            self.ticket.release()
        self.reply(235, "2.7.0 authentication succeeded")

    async def _auth_failed(self) -> None:
        self.failed_logins += 1
        d = defer.Deferred()
        self.factory.reactor.callLater(self.config.failed_login_delay, d.callback, None)
        await d
        self.reply(535, "5.7.8 authentication credentials invalid", logged=False)  # logged above
        if self.failed_logins >= self.config.max_failed_logins:
            self._closed = True
            self.transport.loseConnection()

    # -- the mail transaction --------------------------------------------------------

    async def do_MAIL(self, arg: str) -> None:
        if self.helo is None:
            self.reply(503, f"5.5.1 say {'LHLO' if self.lmtp else 'EHLO'} first")
            return
        if self.envelope.sender is not None:
            self.reply(503, "5.5.1 nested MAIL command")
            return
        path = parse_path(arg, "FROM", allow_null=True)
        for name in path.params:
            if name not in ("SIZE", "BODY", "AUTH"):
                raise EnvelopeError(f"parameter {name} not supported", 555, "5.5.4")
        size = size_param(path)
        if size is not None and size > self.config.max_message_size:
            self.reply(552, f"5.3.4 message size exceeds the limit of "
                            f"{self.config.max_message_size} octets")
            return
        body = (path.params.get("BODY") or "7BIT").upper()
        if body not in ("7BIT", "8BITMIME"):
            raise EnvelopeError("BODY must be 7BIT or 8BITMIME", 501, "5.5.4")
        await self.factory.check_sender(self, path)
        self.envelope = Envelope(sender=path, body_8bit=body == "8BITMIME")
        self.reply(250, "2.1.0 sender OK")

    async def do_RCPT(self, arg: str) -> None:
        if self.envelope.sender is None:
            self.reply(503, "5.5.1 need MAIL first")
            return
        path = parse_path(arg, "TO", allow_null=False)
        if path.params:
            raise EnvelopeError("RCPT parameters not supported", 555, "5.5.4")
        if len(self.envelope.recipients) >= self.config.max_recipients:
            self.reply(452, "4.5.3 too many recipients")
            return
        try:
            target = await self.factory.check_recipient(self, path.address)
        except SmsyncError:
            log.failure("recipient check failed")
            self.reply(451, "4.3.0 temporary failure, try again later")
            return
        self.envelope.recipients.append((path.address, target))
        self.reply(250, "2.1.5 recipient OK")

    async def do_DATA(self, arg: str) -> None:
        if self.envelope.sender is None:
            self.reply(503, "5.5.1 need MAIL first")
            return
        if not self.envelope.recipients:
            self.reply(503 if self.lmtp else 554, "5.5.1 no valid recipients")
            return
        spool = Spool(self.config.max_message_size)
        self._data = (DataDecoder(), spool)
        self.reply(354, "start mail input; end with <CRLF>.<CRLF>")
        rest, self._buffer = self._buffer, b""
        if rest:
            self._receive(rest)

    def _receive(self, data: bytes) -> None:
        decoder, spool = self._data
        text, rest = decoder.feed(data)
        spool.write(text)
        if rest is None:
            return
        self._data = None
        self._buffer = rest + self._buffer
        self._received = (self.envelope, spool)
        self.envelope = Envelope()
        self._kick()

    async def _finish_message(self, envelope: Envelope, spool: Spool) -> None:
        count = len(envelope.recipients) if self.lmtp else 1
        if spool.overflow:
            spool.discard()
            self._send_all(count, Reply(552, "5.3.4", "message size exceeds the limit of "
                                                     f"{self.config.max_message_size} octets"))
            return
        try:
            await spool.finish()
            replies = await self.factory.finish(self, envelope, spool)
        except Exception:
            log.failure("{mode}: could not take a message", mode=self.config.mode)
            replies = [Reply(451, "4.3.0", "temporary failure, try again later")] * len(
                envelope.recipients)
        finally:
            spool.discard()
        if self._closed:
            return
        if self.lmtp:
            for reply in replies:
                self.send(reply)
        else:
            self.send(summarise(replies))

    def _send_all(self, count: int, reply: Reply) -> None:
        for _ in range(count):
            self.send(reply)

    # -- what the trace fields say ---------------------------------------------------

    def with_protocol(self) -> str:
        """RFC 3848 "with" keyword: LMTP, SMTP, ESMTP plus S (TLS) and A (AUTH)."""
        if self.lmtp:
            base = "LMTP"
        else:
            base = "ESMTP" if self.esmtp else "SMTP"
        if self.tls_active:
            base += "S"
        if self.authenticated and base != "LMTP":
            base += "A"
        return base


def summarise(replies: list[Reply]) -> Reply:
    """One SMTP answer for several recipients' results: 250 if all were stored; a
    temporary failure if any was temporary (the client retries them all -- a duplicate
    beats a loss); else the first permanent failure."""
    if all(r.ok for r in replies):
        return Reply(250, "2.0.0", "message accepted for delivery")
    temporary = [r for r in replies if 400 <= r.code < 500]
    if temporary:
        return temporary[0]
    return next(r for r in replies if not r.ok)


_ids = itertools.count(1)
_id_prefix = uuid.uuid4().hex[:8].upper()


def queue_id() -> str:
    """A fresh id for a received message (Received header, logs): unique per process
    run, without a system call per message."""
    return f"{_id_prefix}{next(_ids):08X}"
