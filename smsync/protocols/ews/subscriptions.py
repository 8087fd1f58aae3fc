"""EWS notifications (MS-OXWSNTIF): pull, push and streaming subscriptions.

One ``Hub`` per store. A subscription watches folders (or all of them) for event types;
what happens to them comes from the store's ``IChangeNotifier`` -- whichever protocol
or process made the change -- as "folder X is at revision N". One ``Feed`` per account
turns that into item events, once for all the account's subscriptions: it keeps a
cursor per watched folder (a mail folder's HIGHESTMODSEQ and UIDNEXT, a collection's
revision and item names) and reads ``changes_since`` of it: a UID at or past UIDNEXT is
Created (and NewMail when unread), a lower one Modified, an expunged one Deleted; a
collection item not seen before is Created, the others Modified, a tombstone Deleted,
and a calendar's change is also FreeBusyChanged. Folders made, removed or renamed
(the hierarchy event) are folder events. An ``Event`` is shared by every subscription
it reaches.

A subscription queues the events it takes (at most ``MAX_QUEUED``), each with its
watermark: a position in the change log of every folder it watches (``marks``), with
the copy's epoch and the event's number in it. The copy that gave a watermark out
answers from its queue; any other process -- or a later copy here -- reads the events
again from its positions, the subscription's definition coming from the account's
settings (``Hub``), so a subscription works whichever worker a request reaches.
Pull subscriptions hand them out in GetEvents and drop them once a later watermark
acknowledges them; streaming ones write them to the open
GetStreamingEvents connection (``Stream``) at once; push ones POST them to the
client's URL (``Pusher``). Subscriptions expire: pull ones after Timeout minutes
without GetEvents, streaming ones after ``STREAM_IDLE`` seconds without a connection.
One ticker per hub (only while it has subscriptions) writes the streams' keep-alives,
closes those past their ConnectionTimeout and drops expired subscriptions: no timer per
subscription. Objects held per subscription and stream are slotted, so thousands of
open streams cost little.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
import weakref
from collections import OrderedDict, deque
from datetime import datetime, timezone
from typing import Optional

from lxml import etree
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.protocol import Protocol
from twisted.logger import Logger

from smsync.errors import NotFound, SmsyncError, StorageUnavailable
from smsync.model import ChangeKind, CollectionKind
from smsync.protocols.ews import ids, marks, soap
from smsync.protocols.ews.soap import m, t

log = Logger(namespace="smsync.ews.notify")

#: Event types (NotificationEventTypeType) and their bits.
NEW_MAIL, CREATED, DELETED, MODIFIED, MOVED, COPIED, FREE_BUSY = (1 << i for i in range(7))
EVENT_NAMES = {NEW_MAIL: "NewMailEvent", CREATED: "CreatedEvent", DELETED: "DeletedEvent",
               MODIFIED: "ModifiedEvent", MOVED: "MovedEvent", COPIED: "CopiedEvent",
               FREE_BUSY: "FreeBusyChangedEvent"}
EVENT_BITS = {name: bit for bit, name in EVENT_NAMES.items()}
EVENT_BITS.update({name[:-len("Event")]: bit for name, bit in list(EVENT_BITS.items())})

PULL, PUSH, STREAMING = "pull", "push", "streaming"

#: Subscriptions an account may hold at once (all kinds together).
MAX_PER_ACCOUNT = 1000
#: Events queued per subscription; past it the oldest are lost and the client is told
#: (ErrorMissedNotificationEvents).
MAX_QUEUED = 1000
#: Events in one GetEvents answer (MoreEvents says there are others).
MAX_PER_GET = 50
#: Pull Timeout and push StatusFrequency bounds, minutes (Exchange's).
MAX_MINUTES = 1440
#: GetStreamingEvents ConnectionTimeout bounds, minutes.
MAX_CONNECTION_MINUTES = 30
#: A streaming subscription with no connection for this long is dropped (seconds).
STREAM_IDLE = 30 * 60
#: A stream quiet this long gets a keep-alive (ConnectionStatus OK), seconds.
HEARTBEAT = 30.0
#: How often the hub's ticker runs (seconds): keep-alives and closings are this exact.
TICK = 5.0
#: Push: failed deliveries in a row before the subscription is dropped, the first
#: retry's delay (doubling after) and how long one POST may take (seconds).
PUSH_FAILURES = 5
PUSH_RETRY = 2.0
PUSH_TIMEOUT = 30.0
#: Moves and copies remembered for Moved/Copied events: how long, and how many before
#: the old ones are forgotten early.
TRANSFER_TTL = 60.0
TRANSFERS = 10_000
#: Expired or unsubscribed ids remembered, to answer ErrorExpiredSubscription.
TOMBSTONES = 10_000
#: Streamed and pushed events: the subscription's record says where it stands within
#: this many seconds (one write for a burst).
SAVE_DELAY = 2.0
#: ... and written one at a time, this far apart (seconds).
SAVE_GAP = 0.05
#: A push subscription's record lapses this long (seconds; at least 3 StatusFrequency
#: periods) after the process delivering it last renewed it.
PUSH_LAPSE = 3600
#: Taking up a subscription from a watermark waits this long (seconds) at most for the
#: catch-up read, so the events since are in the answer.
ADOPT_WAIT = 5.0
#: Records of live copies checked per minute (a subscription ended or taken up by
#: another process is let go).
AUDIT_BATCH = 1000


class NotifyError(Exception):
    """A request about subscriptions failed with the EWS ResponseCode ``code``."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(message or code)
        self.code = code
        self.message = message or code


def _now() -> float:
    return time.time()


def _timestamp(when: float) -> str:
    return datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- events -----------------------------------------------------------------------------


class Event:
    """One thing that happened, shared by every subscription it reaches: ``bit`` its
    type; ``item`` the ``ItemRef`` (None for a folder event, then ``folder`` is the
    folder); ``parent`` the ``FolderRef`` holding it; ``change`` its revision (the
    ChangeKey) when it still exists; ``old_item``/``old_parent`` for Moved/Copied."""

    __slots__ = ("bit", "when", "item", "folder", "parent", "change", "old_item", "old_parent")

    def __init__(self, bit: int, parent, item=None, folder=None, change=None, old_item=None,
                 old_parent=None, when: Optional[float] = None):
        self.bit = bit
        self.when = when if when is not None else _now()
        self.item = item
        self.folder = folder
        self.parent = parent
        self.change = change
        self.old_item = old_item
        self.old_parent = old_parent

    @property
    def watched_source(self) -> Optional[str]:
        """The folder a subscription must watch to see this event."""
        return self.parent.source if self.parent is not None else None

    def element(self, watermark: str):
        node = etree.Element(t(EVENT_NAMES[self.bit]))
        etree.SubElement(node, t("Watermark")).text = watermark
        etree.SubElement(node, t("TimeStamp")).text = _timestamp(self.when)
        if self.item is not None:
            attrs = {"Id": ids.item_id(self.item)}
            if self.change is not None:
                attrs["ChangeKey"] = ids.change_key(self.change)
            etree.SubElement(node, t("ItemId"), attrs)
        else:
            etree.SubElement(node, t("FolderId"), Id=ids.folder_id(self.folder))
        if self.parent is not None:
            etree.SubElement(node, t("ParentFolderId"), Id=ids.folder_id(self.parent))
        if self.bit in (MOVED, COPIED):
            if self.old_item is not None:
                etree.SubElement(node, t("OldItemId"), Id=ids.item_id(self.old_item))
            if self.old_parent is not None:
                etree.SubElement(node, t("OldParentFolderId"), Id=ids.folder_id(self.old_parent))
        return node


# -- ids and watermarks ------------------------------------------------------------------


def new_subscription_id() -> str:
    return base64.b64encode(os.urandom(18)).decode("ascii")


def check_subscription_id(text: Optional[str]) -> str:
    """``text`` if it could be a subscription id of this server (``NotifyError``
    ErrorInvalidSubscription otherwise)."""
    text = (text or "").strip()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 18:
        raise NotifyError("ErrorInvalidSubscription", "not a subscription id of this server")
    return text


def watermark(subscription_id: str, seq: int, epoch: bytes = marks.NO_EPOCH, positions=None,
              account: str = "") -> str:
    """The watermark of event ``seq`` of a subscription (0: before its first) in
    ``epoch``, with the folders at ``positions`` (store id -> ``(mark, uidnext)``)."""
    return marks.encode(account, marks.tag(subscription_id), epoch, seq, positions or {})


def read_watermark(account: str, subscription_id: Optional[str], text: Optional[str]) -> marks.Mark:
    """The ``Mark`` of a watermark of ``account`` (of ``subscription_id`` unless None);
    ``NotifyError(ErrorInvalidWatermark)`` for any other text."""
    try:
        mark = marks.decode(account, text)
    except ValueError:
        mark = None
    if mark is None or (subscription_id is not None and mark.tag != marks.tag(subscription_id)):
        raise NotifyError("ErrorInvalidWatermark", "not a watermark of this subscription")
    return mark


def parse_watermark(subscription_id: str, text: Optional[str], account: str = "") -> int:
    """The event number a watermark of ``subscription_id`` names;
    ``NotifyError(ErrorInvalidWatermark)`` for any other text."""
    return read_watermark(account, subscription_id, text).seq


def is_watermark(text: Optional[str]) -> bool:
    """Whether ``text`` has the shape of a watermark this server writes."""
    return marks.looks_like(text)


# -- subscriptions ------------------------------------------------------------------------


class Subscription:
    """One subscription as this process holds it. ``folders`` the watched folder
    sources (None: all folders); ``mask`` the event type bits; ``events`` what is
    queued, event ``acked + i + 1`` at index ``i``; ``expires`` when it lapses (None:
    while a stream holds it). ``epoch`` names this copy in its watermarks; ``base`` is
    where the watched folders stood at ``acked`` (store id -> ``(mark, uidnext)``) and
    ``posts`` how queued events moved them (event number -> positions: set on the last
    event of a folder's read, so a watermark is exact at the end of each read, and one
    inside a read names its start); ``own`` holds the private cursors of folders it
    is catching up on (taken up from an older watermark) until they reach the feed's."""

    __slots__ = ("id", "account", "kind", "mask", "folders", "events", "acked", "lost",
                 "expires", "minutes", "stream", "pusher", "epoch", "base", "posts", "own",
                 "created", "url")

    def __init__(self, account: str, kind: str, mask: int, folders, minutes: int = 0,
                 sub_id: Optional[str] = None, created: Optional[float] = None,
                 url: Optional[str] = None):
        self.id = sub_id or new_subscription_id()
        self.account = account
        self.kind = kind
        self.mask = mask
        self.folders = folders
        self.events: list = []
        self.acked = 0
        self.lost = False
        self.minutes = minutes
        self.stream = None
        self.pusher = None
        self.epoch = os.urandom(4)
        self.base: dict = {}
        self.posts: Optional[dict] = None
        self.own: Optional[dict] = None
        self.created = created if created is not None else _now()
        self.url = url
        self.expires = _now() + (minutes * 60 if kind == PULL else STREAM_IDLE if kind == STREAMING
                                 else float("inf"))

    @property
    def seq(self) -> int:
        """The watermark number of the newest event queued."""
        return self.acked + len(self.events)

    def watches(self, source: str) -> bool:
        return self.folders is None or source in self.folders

    def wants(self, event: Event) -> bool:
        if not self.mask & event.bit:
            return False
        if self.folders is None:
            return True
        folders = self.folders
        return (event.watched_source in folders
                or (event.folder is not None and event.folder.source in folders)
                or (event.old_parent is not None and event.old_parent.source in folders))

    def take_wanted(self, events) -> bool:
        """Queue those of ``events`` this subscription wants; whether there were any."""
        took = False
        for event in events:
            if self.wants(event):
                self.take(event)
                took = True
        return took

    def take(self, event: Event) -> None:
        self.events.append(event)
        if len(self.events) > MAX_QUEUED:
            drop = len(self.events) - MAX_QUEUED
            del self.events[:drop]
            self._settle(self.acked + drop)
            self.lost = True

    def advance(self, positions: dict) -> None:
        """The watched folders in ``positions`` have been read up to there: after the
        newest queued event, or at once when none is queued."""
        if self.events:
            if self.posts is None:
                self.posts = {}
            self.posts.setdefault(self.seq, {}).update(positions)
        else:
            self.base.update(positions)

    def _settle(self, acked: int) -> None:
        if self.posts:
            for n in sorted(k for k in self.posts if k <= acked):
                self.base.update(self.posts.pop(n))
            if not self.posts:
                self.posts = None
        self.acked = acked

    def ack(self, seq: int) -> None:
        """Forget the events up to watermark ``seq``."""
        drop = max(0, min(seq, self.seq) - self.acked)
        if drop:
            del self.events[:drop]
            self._settle(self.acked + drop)

    def mark(self, seq: int, positions: Optional[dict] = None) -> str:
        """The watermark text of event ``seq`` (``positions``: where the folders stand
        then; the base when not given)."""
        return watermark(self.id, seq, self.epoch, self.base if positions is None else positions,
                         self.account)

    def wake(self) -> None:
        if self.stream is not None:
            self.stream.schedule()
        elif self.pusher is not None:
            self.pusher.schedule()

    def touch(self) -> None:
        if self.kind == PULL:
            self.expires = _now() + self.minutes * 60

    def notification(self, limit: Optional[int] = None, previous: bool = True):
        """``(<m:Notification>, events put in it)``: the queued events (at most
        ``limit``), or a StatusEvent when none is queued."""
        node = etree.Element(m("Notification"))
        etree.SubElement(node, t("SubscriptionId")).text = self.id
        chosen = self.events if limit is None else self.events[:limit]
        first = self.mark(self.acked)
        if previous:
            etree.SubElement(node, t("PreviousWatermark")).text = first
            etree.SubElement(node, t("MoreEvents")).text = "true" if len(chosen) < len(self.events) else "false"
        if not chosen:
            status = etree.SubElement(node, t("StatusEvent"))
            etree.SubElement(status, t("Watermark")).text = first
        positions = self.base
        posts = self.posts or {}
        for i, event in enumerate(chosen, start=self.acked + 1):
            moved = posts.get(i)
            if moved:
                positions = {**positions, **moved}
            node.append(event.element(self.mark(i, positions)))
        return node, len(chosen)


#: In ``Subscription.own``: the feed's reads are not its reads yet (it is being taken up
#: from a watermark; its positions are not placed).
_HOLD = ""


class _Scope:
    """What ``tree.all_folders`` needs of a request: an account and the store."""

    __slots__ = ("account", "store")

    def __init__(self, account, store):
        self.account = account
        self.store = store


class _Cursor:
    """How far the feed has read a folder: ``mark`` HIGHESTMODSEQ or revision,
    ``uidnext`` of a mail folder, ``names`` of a collection's items."""

    __slots__ = ("ref", "mark", "uidnext", "names", "calendar")

    def __init__(self, ref, mark=0, uidnext=1, names=None, calendar=False):
        self.ref = ref
        self.mark = mark
        self.uidnext = uidnext
        self.names = names
        self.calendar = calendar

    @property
    def position(self) -> tuple:
        """``(mark, uidnext)`` as a watermark holds it (uidnext 0 for a collection)."""
        return (self.mark, self.uidnext if self.ref.kind == ids.MAIL_FOLDER else 0)


class Feed:
    """One account's subscriptions and what they watch: subscribed once to the
    notifier, it reads each changed folder once and hands the events to them all."""

    def __init__(self, hub: "Hub", account: str):
        self.hub = hub
        self.account = account
        self.subs: dict[str, Subscription] = {}
        self.cursors: dict[str, _Cursor] = {}
        #: source -> tree.Folder of the last hierarchy read.
        self.folders: dict = {}
        self.all = 0  # subscriptions watching every folder
        self.pending: set = set()
        self.hierarchy_pending = False
        self.running = False
        self.ready: Optional[Deferred] = None
        #: source -> subscriptions reading it through a private cursor (catching up).
        self.private: dict = {}
        #: (subscription, positions) to take up at the start of the next read.
        self.joining: list = []
        #: Deferreds fired when nothing is left to read.
        self.waiters: list = []
        self.handle = hub.store.notifier.subscribe(account, self._on_change)

    # - what is watched

    async def _hierarchy(self) -> dict:
        from smsync.protocols.ews import tree

        return {f.ref.source: f for f in await tree.all_folders(_Scope(self.account, self.hub.store))}

    async def _baseline(self, folder, fresh: bool = False) -> Optional[_Cursor]:
        """A cursor at ``folder``'s present state (at its start with ``fresh``: a folder
        just made, whose every item is news)."""
        ref = folder.ref
        try:
            if ref.kind == ids.MAIL_FOLDER:
                if fresh:
                    return _Cursor(ref)
                box = await (await self.hub.store.mail(self.account)).mailbox_by_id(ref.source)
                info = await box.info()
                return _Cursor(ref, info.highestmodseq, info.uidnext)
            if ref.kind == ids.COLLECTION:
                coll = await (await self.hub.store.collections(self.account)).collection_by_id(ref.source)
                info = await coll.info()
                calendar = info.kind == CollectionKind.CALENDAR
                if fresh:
                    return _Cursor(ref, 0, names=set(), calendar=calendar)
                names = {item.name for item in await coll.items()}
                return _Cursor(ref, info.revision, names=names, calendar=calendar)
        except NotFound:
            return None
        return None

    async def watch(self, folders) -> None:
        """Start reading ``folders`` (``tree.Folder`` values; None: every folder) from
        their present state on."""
        if not self.folders:
            self.folders = await self._hierarchy()
        chosen = list(self.folders.values()) if folders is None else folders
        for folder in chosen:
            if folder.ref.source in self.cursors or folder.ref.kind == ids.VIRTUAL:
                continue
            cursor = await self._baseline(folder)
            if cursor is not None and folder.ref.source not in self.cursors:
                self.cursors[folder.ref.source] = cursor
                # A change committed while the baseline was read may have been announced
                # before the cursor was there to take it: one read from the baseline.
                self.pending.add(folder.ref.source)
        self._kick()

    def add(self, sub: Subscription) -> None:
        self.subs[sub.id] = sub
        if sub.folders is None:
            self.all += 1

    def remove(self, sub: Subscription) -> None:
        if self.subs.pop(sub.id, None) is not None and sub.folders is None:
            self.all -= 1
        if sub.own:
            for source in sub.own:
                readers = self.private.get(source)
                if readers is not None:
                    readers.discard(sub)
                    if not readers:
                        del self.private[source]
            sub.own = None

    def positions_of(self, sub: Subscription) -> dict:
        """Where the folders ``sub`` watches stand for the feed."""
        return {source: cursor.position for source, cursor in self.cursors.items()
                if sub.watches(source)}

    async def adopt(self, sub: Subscription, positions: dict) -> None:
        """Have ``sub`` (added, its folders watched) read from ``positions`` (store id
        -> ``(mark, uidnext)``, older than the feed's) on: a private cursor per folder
        behind the feed, read at once and then with the feed's until both stand at the
        same place, when it joins the feed's. Fires once that first read is done, so
        the events since are queued."""
        # From now on the feed's reads of those folders are not its (a read under way
        # may end past the watermark, or before it): its own cursors will tell.
        if sub.own is None:
            sub.own = {}
        for source in positions:
            sub.own.setdefault(source, None)
        self.joining.append((sub, positions))
        self._kick()
        await self.settle(ADOPT_WAIT)

    async def settle(self, timeout: Optional[float] = None) -> None:
        """Fires once nothing is left to read (or after ``timeout`` seconds: an account
        whose changes never stop keeps its feed reading)."""
        if self.running or self.pending or self.hierarchy_pending or self.joining:
            d = Deferred()
            self.waiters.append(d)
            self._kick()
            if timeout is None:
                await d
                return
            from twisted.internet import reactor

            call = reactor.callLater(timeout, lambda: d.called or d.callback(None))
            await d
            if call.active():
                call.cancel()

    def _take_up(self) -> None:
        """Start the private cursors of the subscriptions in ``joining`` (no read is
        under way: the feed's cursors stand still meanwhile)."""
        joining, self.joining = self.joining, []
        for sub, positions in joining:
            if self.subs.get(sub.id) is not sub:
                continue
            for source, position in positions.items():
                cursor = self.cursors.get(source)
                if cursor is None or not sub.watches(source) or position == cursor.position:
                    if sub.own and sub.own.get(source, False) is None:
                        del sub.own[source]
                    if cursor is not None and sub.watches(source):
                        sub.base[source] = position
                    continue
                sub.base[source] = position
                mark, uidnext = position
                own = _Cursor(cursor.ref, mark, uidnext or 1, calendar=cursor.calendar)
                # A collection's items at that position are not known: the first read
                # tells every change since as Created, every deletion as Deleted.
                if sub.own is None:
                    sub.own = {}
                sub.own[source] = own
                self.private.setdefault(source, set()).add(sub)
                self.pending.add(source)
            if sub.own:
                sub.own.pop(_HOLD, None)
            if not sub.own:
                sub.own = None

    def close(self) -> None:
        self.handle.cancel()

    # - reading changes

    def _on_change(self, event) -> None:
        if event.kind in (ChangeKind.MAIL, ChangeKind.COLLECTION):
            if event.folder_id in self.cursors:
                self.pending.add(event.folder_id)
        elif event.kind == ChangeKind.HIERARCHY:
            self.hierarchy_pending = True
        elif event.kind == ChangeKind.RESYNC:
            self.hierarchy_pending = True
            self.pending.update(self.cursors)
        else:
            return
        self._kick()

    def _kick(self) -> None:
        if not self.running and (self.pending or self.hierarchy_pending or self.joining):
            self.running = True
            ensureDeferred(self._run())

    async def _run(self) -> None:
        try:
            while self.pending or self.hierarchy_pending or self.joining:
                if self.joining:
                    self._take_up()
                if self.hierarchy_pending:
                    self.hierarchy_pending = False
                    events = await self._read_hierarchy()
                    if events:
                        self._hand_out(events)
                while self.pending:
                    source = self.pending.pop()
                    cursor = self.cursors.get(source)
                    if cursor is not None:
                        events = await self._read(cursor)
                        # Those reading the folder privately, or about to, take nothing
                        # of it (their own read tells them). Nobody joins the feed's
                        # cursor during its read: joining happens in this loop.
                        skip = {sub for sub in self.subs.values()
                                if sub.own and (source in sub.own or _HOLD in sub.own)}
                        if self.cursors.get(source) is cursor:
                            self._hand_out(events, source, cursor.position, skip)
                        elif events:
                            self._hand_out(events, skip=skip)
                    for sub in list(self.private.get(source, ())):
                        await self._read_private(sub, source)
        except StorageUnavailable:
            # The store said so in its own line; the next change reads again.
            pass
        except Exception:
            log.failure("ews: reading the changes of {account} failed", account=self.account)
        finally:
            self.running = False
            waiters, self.waiters = self.waiters, []
            for d in waiters:
                if not d.called:
                    d.callback(None)

    async def _read_private(self, sub: Subscription, source: str) -> None:
        own = sub.own.get(source) if sub.own else None
        if own is None:
            return
        try:
            events = await self._read(own, shared=False)
        except SmsyncError as e:
            # A position the store does not take (a revision above the collection's):
            # the feed's reads go on from where it stands.
            log.info("ews: catching up {source} of {account}: {e}", source=source,
                     account=self.account, e=e)
            events = []
            cursor = self.cursors.get(source)
            if cursor is not None:
                own.mark, own.uidnext = cursor.mark, cursor.uidnext
        if self.subs.get(sub.id) is not sub or not sub.own or sub.own.get(source) is not own:
            return
        took = sub.take_wanted(events)
        sub.advance({source: own.position})
        cursor = self.cursors.get(source)
        if cursor is None or cursor.position == own.position:
            # Caught up: from now on the feed's reads are its reads.
            del sub.own[source]
            if not sub.own:
                sub.own = None
            readers = self.private.get(source)
            if readers is not None:
                readers.discard(sub)
                if not readers:
                    del self.private[source]
        if took:
            sub.wake()

    async def _read(self, cursor: _Cursor, shared: bool = True) -> list:
        ref = cursor.ref
        events: list = []
        try:
            if ref.kind == ids.MAIL_FOLDER:
                box = await (await self.hub.store.mail(self.account)).mailbox_by_id(ref.source)
                changes = await box.changes_since(cursor.mark)
                when = _now()
                uidnext = cursor.uidnext
                # A private read (catching up) leaves the EWS moves to the feed's.
                transfers = self.hub.transfers if shared else None
                for info in changes.changed:
                    item = ids.ItemRef(self.account, ids.MESSAGE, ref.source, str(info.uid))
                    if info.uid >= cursor.uidnext:
                        uidnext = max(uidnext, info.uid + 1)
                        came = transfers.pop((self.account, ref.source, info.uid), None) if transfers else None
                        if came is not None:
                            old_source, old_uid, moved = came[:3]
                            events.append(Event(
                                MOVED if moved else COPIED, ref, item, change=info.modseq,
                                old_item=ids.ItemRef(self.account, ids.MESSAGE, old_source, str(old_uid)),
                                old_parent=ids.FolderRef(self.account, ids.MAIL_FOLDER, old_source),
                                when=when))
                            continue
                        events.append(Event(CREATED, ref, item, change=info.modseq, when=when))
                        if "\\Seen" not in info.flags and "\\Draft" not in info.flags:
                            events.append(Event(NEW_MAIL, ref, item, change=info.modseq, when=when))
                    else:
                        events.append(Event(MODIFIED, ref, item, change=info.modseq, when=when))
                moves = self.hub.moved_from if shared else None
                for uid in changes.expunged:
                    if uid >= cursor.uidnext:
                        continue  # came and went between two reads
                    old_item = ids.ItemRef(self.account, ids.MESSAGE, ref.source, str(uid))
                    went = moves.pop((self.account, ref.source, uid), None) if moves else None
                    if went is not None:
                        dest, new_uid = went[:2]
                        if dest in self.cursors:
                            continue  # the destination's read tells of the move
                        transfers.pop((self.account, dest, new_uid), None)
                        events.append(Event(
                            MOVED, ids.FolderRef(self.account, ids.MAIL_FOLDER, dest),
                            ids.ItemRef(self.account, ids.MESSAGE, dest, str(new_uid)),
                            old_item=old_item, old_parent=ref, when=when))
                        continue
                    events.append(Event(DELETED, ref, old_item, when=when))
                cursor.mark = max(cursor.mark, changes.highestmodseq)
                cursor.uidnext = uidnext
            elif ref.kind == ids.COLLECTION:
                coll = await (await self.hub.store.collections(self.account)).collection_by_id(ref.source)
                changes = await coll.changes_since(cursor.mark)
                when = _now()
                loose = cursor.names is None
                if loose:
                    changed = {info.name for info in changes.changed}
                    cursor.names = {item.name for item in await coll.items()} - changed
                for info in changes.changed:
                    item = ids.ItemRef(self.account, ids.ITEM, ref.source, info.name)
                    bit = MODIFIED if info.name in cursor.names else CREATED
                    cursor.names.add(info.name)
                    events.append(Event(bit, ref, item, change=info.revision, when=when))
                for name in changes.deleted:
                    if loose or name in cursor.names:
                        cursor.names.discard(name)
                        events.append(Event(DELETED, ref, ids.ItemRef(self.account, ids.ITEM,
                                                                      ref.source, name), when=when))
                if events and cursor.calendar:
                    events.append(Event(FREE_BUSY, ref, events[0].item, when=when))
                cursor.mark = max(cursor.mark, changes.revision)
        except NotFound:
            # The folder is gone: the hierarchy read says so.
            if shared:
                self.cursors.pop(ref.source, None)
            self.hierarchy_pending = True
        return events

    async def _read_hierarchy(self) -> list:
        before = self.folders
        now = await self._hierarchy()
        self.folders = now
        if not before:
            return []
        events: list = []
        when = _now()
        for source, folder in now.items():
            old = before.get(source)
            if old is None:
                events.append(Event(CREATED, folder.parent, folder=folder.ref, when=when))
                if self.all:
                    cursor = await self._baseline(folder, fresh=True)
                    if cursor is not None:
                        self.cursors.setdefault(source, cursor)
                        self.pending.add(source)
            elif old.parent != folder.parent:
                events.append(Event(MOVED, folder.parent, folder=folder.ref, old_parent=old.parent,
                                    when=when))
            elif old.display_name != folder.display_name:
                events.append(Event(MODIFIED, folder.parent, folder=folder.ref, when=when))
        for source, folder in before.items():
            if source not in now:
                events.append(Event(DELETED, folder.parent, folder=folder.ref, when=when))
                self.cursors.pop(source, None)
        return events

    def _hand_out(self, events: list, source: Optional[str] = None, position=None,
                  skip=()) -> None:
        """Give ``events`` to the subscriptions that want them (but those in ``skip``);
        with ``source``, the read of that folder ended at ``position``."""
        for sub in list(self.subs.values()):
            if sub in skip:
                continue
            took = sub.take_wanted(events)
            if source is not None and sub.watches(source):
                sub.advance({source: position})
            if took:
                sub.wake()


class Hub:
    """Every subscription this process holds for one store's EWS endpoint, by id and
    by account. With the store's ``IAccountSettings`` each subscription is also kept
    there (``marks.Record``), so any process can take it up: the one a request reaches
    reads the record, and answers from its own copy when it used the subscription last
    (and, for GetEvents, the watermark is of that copy), else makes a new copy from the
    definition that reads from the watermark's positions (GetEvents) or the last one
    streamed (GetStreamingEvents). A store without settings keeps them in memory only."""

    def __init__(self, store):
        self.store = store
        self.settings = getattr(store, "settings", None)
        #: Names this process's copies in the records ("holder").
        self.token = os.urandom(6).hex()
        self.subs: dict[str, Subscription] = {}
        self.feeds: dict[str, Feed] = {}
        self.streams: set = set()
        self.gone: OrderedDict = OrderedDict()
        #: Messages EWS moved or copied, for Moved/Copied events:
        #: (account, destination, new UID) -> (source, old UID, moved, when) and
        #: (account, source, old UID) -> (destination, new UID, when).
        self.transfers: dict = {}
        self.moved_from: dict = {}
        self._ticker = None
        self._last_sweep = 0.0
        self._locks: dict = {}
        #: Copies whose record is to be written (streamed or pushed events), in order;
        #: written one at a time, ``SAVE_GAP`` apart, by ``_drain``.
        self._dirty: dict = {}
        self._draining = None
        self._audit_order: deque = deque()
        self._auditing = False
        self._stopped = False
        #: Copies made in the last minute (id -> when): their record may not name this
        #: process yet (its write is under way), so the audit leaves them alone.
        self._taken: dict = {}

    # - the stored records

    def _key(self, sub_id: str) -> str:
        return marks.RECORD_PREFIX + sub_id

    def _lapse(self, sub: Subscription) -> float:
        """When ``sub`` lapses if nobody uses it (as its record says)."""
        now = _now()
        if sub.kind == PULL:
            return sub.expires
        if sub.kind == STREAMING:
            if sub.stream is not None:
                return max(sub.stream.deadline, now) + STREAM_IDLE
            return sub.expires
        # Push: the process delivering it renews it; one that stopped lets it lapse.
        return now + max(3 * sub.minutes * 60, PUSH_LAPSE)

    def _record(self, sub: Subscription) -> marks.Record:
        return marks.Record(sub.kind, sub.mask, None if sub.folders is None else sorted(sub.folders),
                            sub.minutes, sub.created, self._lapse(sub), sub.mark(sub.acked),
                            self.token, sub.url)

    async def _load(self, account: str, sub_id: str) -> Optional[marks.Record]:
        return marks.Record.load(await self.settings.get(account, self._key(sub_id)))

    async def save(self, sub: Subscription, strict: bool = False) -> None:
        """Write ``sub``'s record (where it stands, that this process holds it); a
        failure is logged (raised with ``strict``: a subscription not kept would be
        taken for one ended elsewhere)."""
        self._dirty.pop(sub.id, None)
        if self.settings is None or self.subs.get(sub.id) is not sub:
            return
        try:
            await self.settings.set(sub.account, self._key(sub.id), self._record(sub).dump())
        except Exception as e:
            if strict:
                raise
            log.info("ews: keeping the subscription of {account} failed: {e}", account=sub.account, e=e)

    def save_soon(self, sub: Subscription) -> None:
        """``save`` later (streamed and pushed events): ``SAVE_DELAY`` seconds on, one
        write for a burst, and never many at once -- the writes of the streams a
        delivery woke would otherwise queue ahead of the next delivery's."""
        if self.settings is None or self._stopped:
            return
        self._dirty.setdefault(sub.id, sub)
        if self._draining is None:
            from twisted.internet import reactor

            self._draining = reactor.callLater(SAVE_DELAY, lambda: ensureDeferred(self._drain()))

    async def _drain(self) -> None:
        from twisted.internet import reactor

        try:
            while self._dirty and not self._stopped:
                sub_id = next(iter(self._dirty))
                sub = self._dirty.pop(sub_id)
                if self.subs.get(sub_id) is sub:
                    await self.save(sub)
                    d = Deferred()
                    reactor.callLater(SAVE_GAP, d.callback, None)
                    await d
        finally:
            self._draining = None

    def _lock(self, account: str):
        from twisted.internet.defer import DeferredLock

        lock = self._locks.get(account)
        if lock is None:
            lock = self._locks[account] = DeferredLock()
        return lock

    async def _indexed(self, account: str, change) -> None:
        """Apply ``change`` to the account's index (under this process's lock for it);
        entries past their time are checked against their records first, and those
        lapsed removed with their records."""
        lock = self._lock(account)
        await lock.acquire()
        try:
            index = marks.load_index(await self.settings.get(account, marks.INDEX_KEY))
            now = _now()
            for sub_id in [k for k, v in index.items() if v <= now]:
                record = await self._load(account, sub_id)
                if record is None or record.expires <= now:
                    del index[sub_id]
                    if record is not None:
                        await self.settings.set(account, self._key(sub_id), None)
                else:
                    index[sub_id] = record.expires
            change(index)
            await self.settings.set(account, marks.INDEX_KEY, marks.dump_index(index))
        finally:
            lock.release()

    async def _register(self, sub: Subscription) -> None:
        def add(index):
            if len(index) >= MAX_PER_ACCOUNT:
                raise NotifyError("ErrorExceededSubscriptionCount",
                                  f"an account may hold {MAX_PER_ACCOUNT} subscriptions")
            index[sub.id] = self._lapse(sub)

        await self._indexed(sub.account, add)

    async def _forget(self, account: str, sub_id: str) -> None:
        """Remove the record of ``sub_id`` and its index entry."""
        if self.settings is None:
            return
        try:
            await self.settings.set(account, self._key(sub_id), None)
            await self._indexed(account, lambda index: index.pop(sub_id, None))
        except Exception as e:
            log.info("ews: removing a subscription of {account} failed: {e}", account=account, e=e)

    # - subscribing, finding, taking up

    def _feed(self, account: str) -> Feed:
        feed = self.feeds.get(account)
        if feed is not None and len(feed.subs) >= MAX_PER_ACCOUNT:
            raise NotifyError("ErrorExceededSubscriptionCount",
                              f"an account may hold {MAX_PER_ACCOUNT} subscriptions")
        if feed is None:
            feed = self.feeds[account] = Feed(self, account)
        return feed

    async def subscribe(self, account: str, kind: str, mask: int, folders, minutes: int = 0,
                        url: Optional[str] = None, since: Optional[marks.Mark] = None) -> Subscription:
        """A new subscription of ``account`` to ``folders`` (``tree.Folder`` values, or
        None for all), watching from now on -- or, with ``since`` (a watermark a client
        kept from an earlier subscription), from where it stood for the folders it
        names."""
        feed = self._feed(account)
        sources = None if folders is None else frozenset(f.ref.source for f in folders)
        sub = Subscription(account, kind, mask, sources, minutes, url=url)
        if since is not None:
            sub.own = {_HOLD: None}  # the feed's reads wait for its positions
        # Counted before the baseline is read, so the feed is not dropped meanwhile.
        feed.add(sub)
        self.subs[sub.id] = sub
        self._taken[sub.id] = _now()
        try:
            if self.settings is not None:
                await self._register(sub)
            await feed.watch(folders)
            sub.base = feed.positions_of(sub)
            if since is not None:
                positions = {source: since.position_of(source) for source in sub.base}
                positions = {k: v for k, v in positions.items() if v is not None}
                if positions:
                    await feed.adopt(sub, positions)
                else:
                    sub.own = None
            await self.save(sub, strict=True)
        except BaseException:
            self.drop(sub)
            if self.settings is not None:
                await self._forget(account, sub.id)
            raise
        if kind == PUSH:
            sub.pusher = Pusher(self, sub, url, minutes)
        self._start()
        return sub

    def _missing(self, account: str, subscription_id: str) -> NotifyError:
        if self.gone.get(subscription_id) == account:
            return NotifyError("ErrorExpiredSubscription", "the subscription has expired")
        return NotifyError("ErrorSubscriptionNotFound", "no such subscription")

    def _bury(self, account: str, subscription_id: str) -> None:
        self.gone[subscription_id] = account
        while len(self.gone) > TOMBSTONES:
            self.gone.popitem(last=False)

    def get(self, account: str, subscription_id: Optional[str], kind: Optional[str] = None) -> Subscription:
        """This process's copy of the live subscription ``subscription_id`` of
        ``account`` (``NotifyError`` with the code a client expects otherwise)."""
        subscription_id = check_subscription_id(subscription_id)
        sub = self.subs.get(subscription_id)
        if sub is not None and sub.expires <= _now() and sub.stream is None:
            self.drop(sub, expired=True)
            sub = None
        if sub is None or sub.account != account:
            raise self._missing(account, subscription_id)
        if kind is not None and sub.kind != kind:
            raise NotifyError("ErrorInvalidSubscription", f"not a {kind} subscription")
        return sub

    async def find(self, account: str, subscription_id: Optional[str], kind: Optional[str] = None):
        """``(copy, record)`` of the live subscription ``subscription_id`` of
        ``account``: this process's copy (None when it has none) and its stored record
        (None without settings). ``NotifyError`` when it is not there, has lapsed (its
        record is then removed) or is not of ``kind``."""
        if self.settings is None:
            return self.get(account, subscription_id, kind), None
        subscription_id = check_subscription_id(subscription_id)
        local = self.subs.get(subscription_id)
        if local is not None and local.account != account:
            local = None
        record = await self._load(account, subscription_id)
        now = _now()
        if record is None:
            if local is not None:
                self.drop(local)  # ended by another process
            raise self._missing(account, subscription_id)
        # This process used it last: its own clock says when it lapses.
        if local is not None and record.holder == self.token:
            lapsed = local.stream is None and local.expires <= now
        else:
            lapsed = record.expires <= now and (local is None or local.stream is None)
        if lapsed:
            await self._forget(account, subscription_id)
            if local is not None:
                self.drop(local, expired=True)
            else:
                self._bury(account, subscription_id)
            raise NotifyError("ErrorExpiredSubscription", "the subscription has expired")
        if kind is not None and record.kind != kind:
            raise NotifyError("ErrorInvalidSubscription", f"not a {kind} subscription")
        return local, record

    async def adopt(self, account: str, subscription_id: str, record: marks.Record,
                    since: Optional[marks.Mark], strict: bool = True) -> Subscription:
        """A copy of the stored subscription reading from ``since`` on (from now on
        when None), replacing this process's older copy. With ``strict`` a watched
        folder ``since`` does not place is ``ErrorInvalidWatermark`` (all folders: one
        made since, read from its start)."""
        old = self.subs.get(subscription_id)
        if old is not None:
            self.drop(old)
        feed = self._feed(account)
        sources = None if record.folders is None else frozenset(record.folders)
        sub = Subscription(account, record.kind, record.mask, sources, record.minutes,
                           sub_id=subscription_id, created=record.created, url=record.url)
        if since is not None:
            sub.own = {_HOLD: None}  # the feed's reads wait for its positions
        feed.add(sub)
        self.subs[sub.id] = sub
        self._taken[sub.id] = _now()
        try:
            if not feed.folders:
                feed.folders = await feed._hierarchy()
            folders = None if sources is None else [feed.folders[s] for s in sorted(sources)
                                                    if s in feed.folders]
            await feed.watch(folders)
            sub.base = feed.positions_of(sub)
            if since is not None:
                positions = {}
                for source, now in sub.base.items():
                    position = since.position_of(source)
                    if position is None:
                        if sources is not None and strict:
                            raise NotifyError("ErrorInvalidWatermark",
                                              "not a watermark of this subscription")
                        # A folder made since the watermark: all of it is news.
                        position = (0, 1 if now[1] else 0) if sources is None else now
                    positions[source] = position
                if positions:
                    await feed.adopt(sub, positions)
                else:
                    sub.own = None
        except BaseException:
            self.drop(sub)
            raise
        self._start()
        return sub

    async def end(self, account: str, subscription_id: str, local: Optional[Subscription]) -> None:
        """Unsubscribe: the record and this process's copy go."""
        if local is not None:
            self.drop(local)
        await self._forget(account, subscription_id)

    def drop(self, sub: Subscription, expired: bool = False) -> None:
        """Forget this process's copy of ``sub`` (unsubscribed, expired, refused by
        its push client, or taken up by another process)."""
        if self.subs.get(sub.id) is not sub:
            return
        del self.subs[sub.id]
        self._taken.pop(sub.id, None)
        self._dirty.pop(sub.id, None)
        if expired:
            self._bury(sub.account, sub.id)
        feed = self.feeds.get(sub.account)
        if feed is not None:
            feed.remove(sub)
            if not feed.subs:
                feed.close()
                del self.feeds[sub.account]
        if sub.stream is not None:
            sub.stream.release(sub)
        if sub.pusher is not None:
            sub.pusher.stop()
            sub.pusher = None
        sub.events = []
        sub.posts = None

    def note_transfer(self, account: str, source: str, result, destination: str, moved: bool) -> None:
        """EWS moved (``moved``) or copied messages of folder ``source`` to
        ``destination`` (``result`` the store's ``CopyResult``): the feed then tells
        Moved/Copied (with the old ids) instead of Created and Deleted. Nothing is kept
        for an account without subscriptions."""
        if account not in self.feeds:
            return
        when = _now()
        for old_uid, new_uid in zip(result.source_uids, result.dest_uids):
            self.transfers[(account, destination, new_uid)] = (source, old_uid, moved, when)
            if moved:
                self.moved_from[(account, source, old_uid)] = (destination, new_uid, when)
        if len(self.transfers) > TRANSFERS:
            self._forget_transfers(when - TRANSFER_TTL)

    def _forget_transfers(self, before: float) -> None:
        for table in (self.transfers, self.moved_from):
            for key in [k for k, v in table.items() if v[-1] < before]:
                del table[key]

    def count(self, account: Optional[str] = None) -> int:
        if account is None:
            return len(self.subs)
        feed = self.feeds.get(account)
        return len(feed.subs) if feed is not None else 0

    # - the ticker

    def _start(self) -> None:
        if self._ticker is None and (self.subs or self.streams):
            from twisted.internet import reactor

            self._ticker = reactor.callLater(TICK, self._tick)

    def _tick(self) -> None:
        self._ticker = None
        now = _now()
        for stream in list(self.streams):
            stream.tick(now)
        if now - self._last_sweep >= 60 or not self.streams:
            audit = now - self._last_sweep >= 60
            self._last_sweep = now
            self._forget_transfers(now - TRANSFER_TTL)
            lapsed = [s for s in self.subs.values() if s.stream is None and s.expires <= now]
            if self.settings is None:
                for sub in lapsed:
                    log.info("ews: subscription of {account} expired", account=sub.account)
                    self.drop(sub, expired=True)
            elif (lapsed or audit) and not self._auditing:
                ensureDeferred(self._audit(lapsed, AUDIT_BATCH if audit else 0))
        self._start()

    async def _audit(self, lapsed: list, batch: int) -> None:
        """Settle this process's copies against their records: a lapsed copy whose
        subscription another process used since is just forgotten, else it expires with
        its record; then (``batch`` of them, in turn) a copy whose record is gone
        (unsubscribed through another process) or names another holder (taken up
        there) is dropped -- its stream closed."""
        self._auditing = True
        try:
            now = _now()
            for sub in lapsed:
                record = await self._load(sub.account, sub.id)
                if self.subs.get(sub.id) is not sub or sub.stream is not None:
                    continue
                if record is not None and record.holder != self.token and record.expires > now:
                    self.drop(sub)
                    continue
                log.info("ews: subscription of {account} expired", account=sub.account)
                self.drop(sub, expired=True)
                if record is not None:
                    await self._forget(sub.account, sub.id)
            young = now - 60
            for sub_id in [k for k, v in self._taken.items() if v < young]:
                del self._taken[sub_id]
            order = self._audit_order
            if batch and not order:
                order.extend(self.subs)
            for _ in range(min(batch, len(order))):
                sub = self.subs.get(order.popleft())
                if sub is None or sub.id in self._taken:
                    continue
                record = await self._load(sub.account, sub.id)
                if self.subs.get(sub.id) is not sub:
                    continue
                if record is None or record.holder != self.token:
                    log.info("ews: a subscription of {account} ended or moved to another process",
                             account=sub.account)
                    self.drop(sub)
        except Exception:
            if not self._stopped:  # else the store closed under it
                log.failure("ews: checking the stored subscriptions failed")
        finally:
            self._auditing = False

    def stop(self) -> None:
        """Close every stream and drop every subscription (the server stops; the
        records stay, for the other processes and the next start)."""
        self._stopped = True
        for stream in list(self.streams):
            stream.close()
        for sub in list(self.subs.values()):
            self.drop(sub)
        self._dirty.clear()
        if self._draining is not None and self._draining.active():
            self._draining.cancel()
        self._draining = None
        if self._ticker is not None and self._ticker.active():
            self._ticker.cancel()
        self._ticker = None


_HUBS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def note_transfer(store, account: str, source: str, result, destination: str, moved: bool) -> None:
    """``Hub.note_transfer`` of ``store``'s hub (MoveItem, CopyItem and DeleteItem's
    MoveToDeletedItems call it after the store moved or copied)."""
    hub = _HUBS.get(store)
    if hub is not None:
        hub.note_transfer(account, source, result, destination, moved)


def hub_of(store) -> Hub:
    """The one ``Hub`` of ``store`` in this process."""
    hub = _HUBS.get(store)
    if hub is None:
        hub = _HUBS[store] = Hub(store)
    return hub


# -- streaming -----------------------------------------------------------------------------

_STATUS_CACHE: dict = {}


def _streaming_message(children=(), status: Optional[str] = None):
    message = soap.response_message("GetStreamingEvents")
    if children:
        notifications = etree.SubElement(message, m("Notifications"))
        for child in children:
            notifications.append(child)
    if status is not None:
        etree.SubElement(message, m("ConnectionStatus")).text = status
    return soap.response("GetStreamingEvents", [message])


def status_envelope(version: str, status: str) -> bytes:
    """The envelope saying ConnectionStatus ``status`` (built once per version)."""
    key = (version, status)
    data = _STATUS_CACHE.get(key)
    if data is None:
        data = _STATUS_CACHE[key] = soap.envelope(_streaming_message(status=status), version)
    return data


class Stream:
    """One open GetStreamingEvents connection: writes the events of its subscriptions
    as they come (one envelope per burst), a keep-alive when quiet, and
    ConnectionStatus Closed at its ConnectionTimeout. ``done`` fires when it ends."""

    __slots__ = ("hub", "request", "subs", "version", "deadline", "last_write", "done",
                 "_flush", "__weakref__")

    def __init__(self, hub: Hub, request, subs: list, version: str, minutes: int):
        self.hub = hub
        self.request = request
        self.subs = subs
        self.version = version
        self.deadline = _now() + minutes * 60
        self.done = Deferred()
        self._flush = None
        self.last_write = _now()
        for sub in subs:
            if sub.stream is not None:
                sub.stream.release(sub)  # the newer connection takes it over
            sub.stream = self
        hub.streams.add(self)
        request.notifyFinish().addBoth(self._lost)
        request.setResponseCode(200)
        request.setHeader(b"content-type", b"text/xml; charset=utf-8")
        if any(sub.events for sub in subs):
            self.flush()
        else:
            self._write(status_envelope(version, "OK"))
        hub._start()

    def _write(self, data: bytes) -> None:
        self.last_write = _now()
        self.request.write(data)

    def schedule(self) -> None:
        if self._flush is None and self.request is not None:
            from twisted.internet import reactor

            # Every subscription's events of one burst go out in one envelope.
            self._flush = reactor.callLater(0, self.flush)

    def flush(self) -> None:
        self._flush = None
        if self.request is None:
            return
        notifications = []
        for sub in self.subs:
            if sub.events:
                node, _count = sub.notification(previous=False)
                notifications.append(node)
                sub.ack(sub.seq)
                self.hub.save_soon(sub)
        if notifications:
            self._write(soap.envelope(_streaming_message(notifications, "OK"), self.version))

    def tick(self, now: float) -> None:
        if now >= self.deadline:
            self.close()
        elif now - self.last_write >= HEARTBEAT:
            self._write(status_envelope(self.version, "OK"))

    def release(self, sub: Subscription) -> None:
        """Stop carrying ``sub`` (dropped, or taken over by another connection); a
        stream left with none closes."""
        if sub in self.subs:
            self.subs = [s for s in self.subs if s is not sub]
            if sub.stream is self:
                sub.stream = None
                sub.expires = _now() + STREAM_IDLE
        if not self.subs:
            self.close()

    def close(self) -> None:
        """End the connection with ConnectionStatus Closed."""
        request = self.request
        if request is None:
            return
        if self._flush is not None:
            self._flush.cancel()
            self.flush()
        self._detach()
        try:
            request.write(status_envelope(self.version, "Closed"))
            request.finish()
        except Exception:
            pass  # the client went away meanwhile
        if not self.done.called:
            self.done.callback(None)

    def _lost(self, _result) -> None:
        self._detach()
        if not self.done.called:
            self.done.callback(None)

    def _detach(self) -> None:
        if self._flush is not None and self._flush.active():
            self._flush.cancel()
        self._flush = None
        self.request = None
        self.hub.streams.discard(self)
        expires = _now() + STREAM_IDLE
        for sub in self.subs:
            if sub.stream is self:
                sub.stream = None
                sub.expires = expires
                # Where it stands and when it lapses, for the next connection,
                # whichever process it reaches.
                if self.hub.subs.get(sub.id) is sub:
                    ensureDeferred(self.hub.save(sub))
        self.subs = []


# -- push ------------------------------------------------------------------------------------


def send_notification_envelope(notification) -> bytes:
    """The SendNotification request the server POSTs to a push client."""
    message = soap.response_message("SendNotification", children=[notification])
    payload = etree.Element(m("SendNotification"), nsmap={"m": soap.M, "t": soap.T})
    holder = etree.SubElement(payload, m("ResponseMessages"))
    holder.append(message)
    return soap.envelope(payload, soap.LATEST)


def read_push_answer(body: bytes) -> str:
    """The SubscriptionStatus (OK or Unsubscribe) of a push client's answer."""
    root = soap.parse_xml(body, 1024 * 1024)
    status = root.findtext(f".//{m('SubscriptionStatus')}")
    if status is None:
        status = root.findtext(".//{*}SubscriptionStatus")
    status = (status or "").strip()
    if status not in ("OK", "Unsubscribe"):
        raise ValueError(f"SubscriptionStatus {status[:20]!r}")
    return status


#: The largest answer read from a push client.
MAX_PUSH_ANSWER = 64 * 1024


class _Collect(Protocol):
    """Reads a push client's answer body, at most ``MAX_PUSH_ANSWER`` bytes."""

    def __init__(self):
        self.done = Deferred()
        self.parts: list = []
        self.size = 0

    def dataReceived(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > MAX_PUSH_ANSWER:
            if not self.done.called:
                self.done.errback(ValueError("the answer is too large"))
            self.transport.stopProducing()
            return
        self.parts.append(data)

    def connectionLost(self, reason=None) -> None:
        if not self.done.called:
            self.done.callback(b"".join(self.parts))


class Pusher:
    """Delivers a push subscription's events to its client's URL: at once when there
    are some, a StatusEvent every StatusFrequency minutes otherwise; one POST at a
    time. An answer Unsubscribe, or ``PUSH_FAILURES`` failures in a row, ends it."""

    __slots__ = ("hub", "sub", "url", "frequency", "failures", "sending", "call")

    def __init__(self, hub: Hub, sub: Subscription, url: str, minutes: int):
        self.hub = hub
        self.sub = sub
        self.url = url
        self.frequency = minutes * 60
        self.failures = 0
        self.sending = False
        self.call = None
        self._later(self.frequency)

    def _later(self, delay: float) -> None:
        from twisted.internet import reactor

        if self.call is not None and self.call.active():
            self.call.cancel()
        self.call = reactor.callLater(delay, self._send)

    def schedule(self) -> None:
        if not self.sending and self.failures == 0:
            self._later(0)

    def stop(self) -> None:
        if self.call is not None and self.call.active():
            self.call.cancel()
        self.call = None
        self.sub = None

    def _send(self) -> None:
        self.call = None
        if self.sub is None or self.sending:
            return
        self.sending = True
        ensureDeferred(self._post())

    async def _post(self) -> None:
        from twisted.internet import reactor
        from twisted.web.client import Agent, HTTPConnectionPool
        from twisted.web.http_headers import Headers

        sub = self.sub
        node, count = sub.notification(MAX_PER_GET)
        seq = sub.acked + count
        body = send_notification_envelope(node)
        status = None
        try:
            from twisted.web.client import FileBodyProducer
            from io import BytesIO

            agent = Agent(reactor, connectTimeout=10, pool=HTTPConnectionPool(reactor, persistent=False))
            d = agent.request(b"POST", self.url.encode("utf-8"),
                              Headers({b"content-type": [b"text/xml; charset=utf-8"],
                                       b"user-agent": [b"smsync-ews-push"]}),
                              FileBodyProducer(BytesIO(body)))
            d.addTimeout(PUSH_TIMEOUT, reactor)
            answer = await d
            collected = _Collect()
            answer.deliverBody(collected)
            data = await collected.done.addTimeout(PUSH_TIMEOUT, reactor)
            if answer.code != 200:
                raise ValueError(f"HTTP {answer.code}")
            status = read_push_answer(data)
        except Exception as e:
            reason = getattr(e, "message", None) or str(e) or type(e).__name__
            log.info("ews: push to {url} for {account} failed: {reason}", url=self.url,
                     account=sub.account, reason=str(reason)[:200])
        finally:
            self.sending = False
        if self.sub is None:
            return
        if status is None:
            self.failures += 1
            if self.failures >= PUSH_FAILURES:
                log.info("ews: push subscription of {account} dropped: {url} keeps failing",
                         account=sub.account, url=self.url)
                self.hub.drop(sub)
                ensureDeferred(self.hub._forget(sub.account, sub.id))
                return
            self._later(min(PUSH_RETRY * 2 ** (self.failures - 1), max(self.frequency, PUSH_RETRY)))
            return
        self.failures = 0
        if status == "Unsubscribe":
            log.info("ews: push client of {account} unsubscribed", account=sub.account)
            self.hub.drop(sub)
            ensureDeferred(self.hub._forget(sub.account, sub.id))
            return
        sub.ack(seq)
        self.hub.save_soon(sub)
        self._later(0 if sub.events else self.frequency)


def describe(error: Exception) -> NotifyError:
    """A ``NotifyError`` for whatever failed while subscribing."""
    if isinstance(error, NotifyError):
        return error
    code = getattr(error, "code", None)
    if isinstance(code, str):
        return NotifyError(code, getattr(error, "message", str(error)))
    if isinstance(error, SmsyncError):
        from smsync.protocols.ews.errors import from_store

        mapped = from_store(error, "ErrorFolderNotFound")
        return NotifyError(mapped.code, mapped.message)
    return NotifyError("ErrorInternalServerError", str(error)[:200])
