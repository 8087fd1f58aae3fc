"""MAILCOUNT: a tiny line protocol on the smsync front door, as an example of a protocol.

A client logs in and asks how many messages each of its folders holds::

    S: +OK mailcount ready
    C: AUTH PLAIN AGFsaWNlQGV4YW1wbGUuY29tAHNlY3JldA==
    S: +OK logged in
    C: COUNT
    S: * INBOX 3
    S: * Sent 0
    S: +OK 2 folders
    C: QUIT
    S: +OK bye

Everything a protocol must not write itself comes from the ``smsync.edge.Edge`` it is
built with: SASL decoding (``smsync.edge.sasl``), the login with the protocol policy and
the failed-login log line (``edge.logins``), and the devices list (``edge.devices``).
Client mistakes get ``-ERR`` and one bounded log line (``smsync.clientlog``).

It imports only what a protocol may (``tests/test_layering.py`` checks it). Run it in a
program of your own (``run_mailcount.py``) or build it the way ``smsync.tap`` builds a
registered protocol: ``build_service(edge, endpoints)``.
"""

from __future__ import annotations

from typing import Optional

from twisted.internet.protocol import ServerFactory
from twisted.logger import Logger
from twisted.protocols.basic import LineReceiver

from smsync.clientlog import ClientErrors
from smsync.edge import Edge, edge_for, sasl
from smsync.edge.devices import Client
from smsync.edge.logins import BadCredentials, ProtocolNotAllowed
from smsync.errors import SmsyncError

log = Logger(namespace="smsync.mailcount")

#: The name the policy, the device list and the log know this protocol by.
PROTOCOL = "mailcount"


class MailCountProtocol(LineReceiver):
    """One connection: AUTH PLAIN, then COUNT, until QUIT."""

    delimiter = b"\r\n"
    #: Longer lines are refused and the connection closed (a hostile client's 2 MB line
    #: is never buffered).
    MAX_LENGTH = 1024

    factory: "MailCountFactory"

    def __init__(self):
        self.account: Optional[str] = None
        self.errors: Optional[ClientErrors] = None
        self.host = "unknown"

    def connectionMade(self):
        self.errors = ClientErrors.of(PROTOCOL, self.transport)
        self.host = self.errors.host
        self.send("+OK mailcount ready")

    def connectionLost(self, reason=None):
        if self.errors is not None:
            self.errors.closed()

    def send(self, line: str) -> None:
        self.sendLine(line.encode("utf-8"))

    def refuse(self, command: bytes, answer: str) -> None:
        self.send("-ERR " + answer)
        self.errors(command.split(b" ", 1)[0], "-ERR " + answer)

    def lineLengthExceeded(self, line):
        self.send("-ERR line too long")
        self.errors(b"(long line)", "-ERR line too long")
        self.transport.loseConnection()

    def lineReceived(self, line: bytes):
        # Commands run one at a time, in order: lines a client sends ahead wait in the
        # receiver's buffer (and the socket) while one is answered.
        self.pauseProducing()
        d = self.factory.run(self, line)
        d.addErrback(self._crashed, line)
        d.addBoth(self._next)

    def _next(self, _) -> None:
        if self.transport.connected and not self.transport.disconnecting:
            self.resumeProducing()

    def _crashed(self, failure, line: bytes) -> None:
        log.failure("mailcount: command failed", failure)
        self.refuse(line, "server error")


class MailCountFactory(ServerFactory):
    """Serves MAILCOUNT over ``store`` and ``portal``; pass ``edge`` to share a server's
    front door (else one is made from the store and portal)."""

    protocol = MailCountProtocol

    def __init__(self, store, portal, edge: Optional[Edge] = None):
        self.store = store
        self.portal = portal
        self.edge = edge_for(store, portal, edge)

    def run(self, conn: MailCountProtocol, line: bytes):
        from twisted.internet.defer import Deferred

        return Deferred.fromCoroutine(self._run(conn, line))

    async def _run(self, conn: MailCountProtocol, line: bytes) -> None:
        verb, _, rest = line.strip().partition(b" ")
        verb = verb.upper()
        if verb == b"QUIT":
            conn.send("+OK bye")
            conn.transport.loseConnection()
        elif verb == b"AUTH":
            await self._auth(conn, line, rest)
        elif verb == b"COUNT":
            await self._count(conn, line)
        else:
            conn.refuse(line, "unknown command")

    async def _auth(self, conn, line: bytes, rest: bytes) -> None:
        mechanism, _, response = rest.partition(b" ")
        if conn.account is not None:
            return conn.refuse(line, "already logged in")
        if mechanism.upper() != b"PLAIN" or not response:
            return conn.refuse(line, "use AUTH PLAIN <base64>")
        try:
            plain = sasl.decode_plain(response)
        except (sasl.SaslCancelled, sasl.SaslMalformed) as e:
            return conn.refuse(line, str(e) or "authentication cancelled")
        if plain.acts_as_other:
            self.edge.logins.failed(PROTOCOL, plain.authcid, conn.host)
            conn.send("-ERR invalid credentials")
            return
        try:
            done = await self.edge.logins.login(PROTOCOL, plain.authcid, plain.password, conn.host)
        except BadCredentials:
            conn.send("-ERR invalid credentials")  # logged by the edge
            return
        except ProtocolNotAllowed:
            conn.send("-ERR mailcount is not enabled for this account")  # logged too
            return
        done.logout()
        conn.account = conn.errors.account = done.account
        await self.edge.devices.record(done.account, PROTOCOL, Client.address(PROTOCOL, conn.host))
        conn.send("+OK logged in")

    async def _count(self, conn, line: bytes) -> None:
        if conn.account is None:
            return conn.refuse(line, "log in first")
        try:
            mail = await self.store.mail(conn.account)
            counts = []
            for entry in await mail.list_mailboxes():
                box = await mail.mailbox_by_id(entry.id)
                counts.append((entry.name, (await box.info()).exists))
        except SmsyncError as e:
            return conn.refuse(line, f"cannot read the folders: {e}")
        for name, exists in counts:
            conn.send(f"* {name} {exists}")
        conn.send(f"+OK {len(counts)} folders")


def build_service(edge: Edge, endpoints):
    """The builder contract of ``smsync.tap.registry``: a factory smsync listens with."""
    return MailCountFactory(edge.store, edge.portal, edge=edge)
