"""SyncML sessions: what the server remembers between the messages of one session, and
packing its answers into messages the client can take.

A session is found by the token in the RespURI the server handed out (``?s=TOKEN``), or
for a client that does not use RespURI by (device LocURI, SessionID). Sessions live in
memory, end after ``TIMEOUT`` seconds without a message, and are bounded per account
(``PER_ACCOUNT``) and in all (``MAX_SESSIONS``): the oldest goes first.

``Session.pack`` turns one answer (its Status elements, then the commands waiting in the
outbox) into a message no larger than the client's MaxMsgSize: what does not fit waits
for the client's next message (its Alert 222), and the message says Final only once the
outbox is empty and the server's package is done. An item too large for any message is
split into chunks (MoreData, Size on the first), one chunk ending a message.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from typing import Callable, Optional

import attrs
from twisted.internet.defer import DeferredLock

from smsync.formats.wbxml import Element
from smsync.protocols.syncml import codec
from smsync.protocols.syncml.message import Builder

#: Seconds a session lives without a message.
TIMEOUT = 300.0
#: Open sessions per account (a device starting over leaves its old one behind).
PER_ACCOUNT = 8
#: Open sessions in all (unauthenticated ones included).
MAX_SESSIONS = 2000
#: The MaxMsgSize the server announces.
SERVER_MAX_MSG = 1024 * 1024
#: What a client that names no MaxMsgSize can take.
DEFAULT_MAX_MSG = 64 * 1024
#: The least MaxMsgSize honoured: below it no header and status fit.
MIN_MAX_MSG = 2048
#: Room kept in a message for the header, Final and what the estimates miss.
_SLACK = 700


@attrs.define(eq=False)
class DbSync:
    """One database synced in a session."""

    name: str                 # the server database name the client used (Target LocURI)
    client_uri: str           # the client's database (Source LocURI)
    database: object          # databases.Database
    collection_id: str
    mode: int                 # the sync the server runs (alert code)
    state: object             # databases.DatabaseState
    client_next: Optional[str]
    server_next: str
    send_type: str            # the type items are sent to the client in
    policy: object = None     # the device's ConflictPolicy
    # What happened, for the device's log line.
    counts: dict = attrs.field(factory=lambda: {"added": 0, "replaced": 0, "deleted": 0,
                                                "sent": 0, "conflicts": 0, "errors": 0})
    #: The client's Sync for this database has been seen complete (its package Final).
    client_done: bool = False
    #: The server's changes have been put in the outbox.
    server_done: bool = False
    #: A large object being received: (luid, op, type, declared size, bytes so far).
    chunk: Optional[list] = None
    #: Slow sync: the server items matched to the client's so far (guid set).
    matched: set = attrs.field(factory=set)
    #: Slow sync: the client's map from before (it may send items under the same ids).
    old_luids: dict = attrs.field(factory=dict)
    #: Slow sync: index of the collection (built on first use).
    index: Optional[dict] = None
    #: The client's Sync seen at all.
    client_sync_seen: bool = False
    #: The client's package holding the Alert is complete: the next one holds its Sync
    #: (a client with nothing to send for a refresh from the server may leave it out).
    alert_package_done: bool = False
    status: str = "200"


@attrs.define(eq=False)
class Session:
    token: str
    device_uri: str
    session_id: str
    version: object
    encoding: str
    server_uri: str
    account: Optional[str] = None
    device_id: Optional[str] = None
    host: str = ""
    max_msg_size: int = DEFAULT_MAX_MSG
    max_obj_size: Optional[int] = None
    last_used: float = 0.0
    #: The last MsgID the client sent, and our own counter.
    client_msg_id: Optional[str] = None
    server_msg_id: int = 0
    dbs: dict = attrs.field(factory=dict)
    #: Commands waiting to be sent: (database name or None, element, ends_message).
    outbox: list = attrs.field(factory=list)
    #: The server's package is complete once the outbox is empty.
    package_done: bool = True
    #: The client's last package is complete (its message said Final).
    client_final: bool = False
    #: What the device's DevInf said (``devinf.ClientInfo``), when known.
    client_info: object = None
    #: A DevInf sent before the login succeeded, taken once it does.
    pending_info: object = None
    #: The answer to the client's last message, in case it sends that message again.
    last_answer: Optional[tuple] = None
    lock: DeferredLock = attrs.field(factory=DeferredLock)
    #: Non-empty auth nonce the client must use next (md5).
    nonce: Optional[bytes] = None

    @property
    def builder(self) -> Builder:
        return Builder(self.version.namespace)

    def resp_uri(self) -> str:
        return f"{self.server_uri}?s={self.token}"

    def queue(self, element: Element, database: Optional[str] = None) -> None:
        """Send ``element`` (a command without CmdID, or with ``database`` an item
        command of that database's Sync) in this or a later message."""
        self.outbox.append((database, element, False))

    def header(self, b: Builder, msg_id: str) -> Element:
        return b.el("SyncHdr", b.leaf("VerDTD", self.version.verdtd),
                    b.leaf("VerProto", self.version.verproto), b.leaf("SessionID", self.session_id),
                    b.leaf("MsgID", msg_id), b.loc("Target", self.device_uri),
                    b.loc("Source", self.server_uri), b.leaf("RespURI", self.resp_uri()),
                    b.meta(b.meta_value("MaxMsgSize", SERVER_MAX_MSG)))

    def pack(self, statuses: list[Element], final_when_empty: bool = True) -> bytes:
        """The next message: ``statuses`` (Status elements without CmdID, the header's
        first), then as much of the outbox as fits in the client's MaxMsgSize; Final
        when the outbox is then empty and ``final_when_empty``."""
        b = self.builder
        self.server_msg_id += 1
        msg_id = str(self.server_msg_id)
        limit = max(MIN_MAX_MSG, self.max_msg_size)
        self._split_large(limit)
        budget = limit - _SLACK - sum(_estimate(s) for s in statuses) - 300
        taken = 0
        used = 0
        for _db, element, ends in self.outbox:
            size = _estimate(element)
            if taken and used + size > budget:
                break
            taken += 1
            used += size
            if ends:
                break
        while True:
            body = self._body(b, statuses, self.outbox[:taken], final_when_empty and taken == len(self.outbox))
            root = b.el("SyncML", self.header(b, msg_id), body)
            data = codec.encode(root, self.encoding)
            if len(data) <= limit or taken <= 1:
                break
            taken -= 1  # the estimate was short: one command fewer
        del self.outbox[:taken]
        self.package_done = not self.outbox and final_when_empty
        return data

    def _body(self, b: Builder, statuses, entries, final: bool) -> Element:
        cmd_id = 0
        out = []

        def next_id() -> Element:
            nonlocal cmd_id
            cmd_id += 1
            return b.leaf("CmdID", cmd_id)

        for status in statuses:
            out.append(Element(status.namespace, status.tag, (next_id(),) + status.children))
        i = 0
        while i < len(entries):
            database, element, _ = entries[i]
            if database is None:
                out.append(Element(element.namespace, element.tag, (next_id(),) + element.children))
                i += 1
                continue
            db = self.dbs[database]
            sync_id = next_id()
            items = []
            while i < len(entries) and entries[i][0] == database:
                item = entries[i][1]
                items.append(Element(item.namespace, item.tag, (next_id(),) + item.children))
                i += 1
            out.append(b.el("Sync", sync_id, b.loc("Target", db.client_uri),
                            b.loc("Source", db.name), *items))
        if final:
            out.append(b.empty("Final"))
        return b.el("SyncBody", *out)

    def _split_large(self, limit: int) -> None:
        """Split the first waiting item too large for a message into chunks."""
        room = limit - _SLACK - 1500
        for index, (database, element, ends) in enumerate(self.outbox):
            if ends or database is None or _estimate(element) <= room:
                continue
            self.outbox[index:index + 1] = _chunks(self.builder, database, element, max(256, room))
            return


def _estimate(element: Element) -> int:
    """About how many bytes an element takes in XML (WBXML takes less)."""
    if element.opaque is not None:
        return len(element.opaque) + 2 * len(element.tag) + 5
    if element.text is not None:
        return len(element.text.encode("utf-8")) + 2 * len(element.tag) + 5 + (12 if element.tag == "Data" else 0)
    return 2 * len(element.tag) + 5 + sum(_estimate(c) for c in element.children) + (
        20 if element.namespace == "syncml:metinf" else 0)


def _chunks(b: Builder, database: str, element: Element, room: int) -> list:
    """An Add or Replace whose one item's Data is larger than ``room`` as several
    commands, each a chunk of the Data: the first says the whole Size in its Meta, all
    but the last say MoreData."""
    item = next(c for c in element.children if c.tag == "Item")
    data = next(c for c in item.children if c.tag == "Data")
    raw = data.opaque if data.opaque is not None else (data.text or "").encode("utf-8")
    pieces = []
    start = 0
    while start < len(raw):
        end = min(len(raw), start + room)
        # Never cut a UTF-8 character in two: XML carries text.
        while end < len(raw) and (raw[end] & 0xC0) == 0x80:
            end -= 1
        pieces.append(raw[start:end])
        start = end
    out = []
    for n, piece in enumerate(pieces):
        last = n == len(pieces) - 1
        kids = []
        for c in item.children:
            if c.tag == "Data":
                kids.append(Element(c.namespace, "Data", (), piece.decode("utf-8")))
                if not last:
                    kids.append(b.empty("MoreData"))
            elif c.tag == "Meta" and n == 0:
                kids.append(Element(c.namespace, "Meta", c.children + (b.meta_value("Size", len(raw)),)))
            else:
                kids.append(c)
        if n == 0 and not any(c.tag == "Meta" for c in item.children):
            at = next(i for i, c in enumerate(kids) if c.tag == "Data")
            kids.insert(at, b.el("Meta", b.meta_value("Size", len(raw))))
        new_item = Element(item.namespace, "Item", kids)
        command = Element(element.namespace, element.tag,
                          tuple(new_item if c is item else c for c in element.children))
        out.append((database, command, not last))
    return out


class Sessions:
    """The open sessions of one endpoint."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, timeout: float = TIMEOUT,
                 per_account: int = PER_ACCOUNT, max_sessions: int = MAX_SESSIONS):
        self.clock = clock
        self.timeout = timeout
        self.per_account = per_account
        self.max_sessions = max_sessions
        self._by_token: "OrderedDict[str, Session]" = OrderedDict()
        self._by_device: dict = {}

    def __len__(self) -> int:
        return len(self._by_token)

    def expire(self) -> None:
        now = self.clock()
        for token, session in list(self._by_token.items()):
            if now - session.last_used > self.timeout:
                self.drop(session)

    def by_token(self, token: str) -> Optional[Session]:
        self.expire()
        session = self._by_token.get(token)
        if session is not None:
            session.last_used = self.clock()
            self._by_token.move_to_end(token)
        return session

    def by_device(self, device_uri: str, session_id: str) -> Optional[Session]:
        self.expire()
        session = self._by_device.get((device_uri, session_id))
        if session is not None:
            session.last_used = self.clock()
            self._by_token.move_to_end(session.token)
        return session

    def open(self, **fields) -> Session:
        """A new session (dropping the oldest when there are too many)."""
        self.expire()
        session = Session(token=secrets.token_urlsafe(16), last_used=self.clock(), **fields)
        old = self._by_device.get((session.device_uri, session.session_id))
        if old is not None:
            self.drop(old)
        while len(self._by_token) >= self.max_sessions:
            self.drop(next(iter(self._by_token.values())))
        self._by_token[session.token] = session
        self._by_device[(session.device_uri, session.session_id)] = session
        return session

    def authenticated(self, session: Session) -> None:
        """Bound the account's sessions now that ``session`` has one."""
        mine = [s for s in self._by_token.values() if s.account == session.account]
        for old in mine[:max(0, len(mine) - self.per_account)]:
            if old is not session:
                self.drop(old)

    def drop(self, session: Session) -> None:
        self._by_token.pop(session.token, None)
        key = (session.device_uri, session.session_id)
        if self._by_device.get(key) is session:
            del self._by_device[key]
