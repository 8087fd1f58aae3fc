"""NOTIFY (RFC 5465): what a session asked to be told unasked, and telling it.

For the selected mailbox the session's usual reporting (``Session.report_changes``) runs
between commands too: EXISTS and the FETCH a ``MessageNew`` asks for, flag changes, and
EXPUNGE unless the client chose ``selected-delayed``. For other mailboxes a change is a
STATUS response, and a mailbox created, deleted, renamed or (un)subscribed a LIST one.

What the store tells decides what this costs. A change to messages comes as a
``ChangeEvent`` naming its folder (from this process or, through the store's notifier,
from another), so learning whether messages came, went or changed flags is one
``info()`` of that folder, compared with the status last seen. A change to the folder
list names nothing: the list is read again and compared with the one last seen, folders
matched by their ids so that a rename is told as one.
"""

from __future__ import annotations

from typing import Optional

import attrs
from twisted.internet import defer
from twisted.logger import Logger

from smsync.errors import NotFound
from smsync.model import MAILBOX_SEPARATOR, ChangeKind
from smsync.protocols.imap import encode, listing
from smsync.protocols.imap.fetchnew import fetch_new
from smsync.protocols.imap.notifysyntax import (
    FLAG_CHANGE, MAILBOX_NAME, MESSAGE_EVENTS, MESSAGE_EXPUNGE, MESSAGE_NEW, SELECTED_FILTERS,
    SUBSCRIPTION_CHANGE,
)

log = Logger()


@attrs.frozen
class Watch:
    """An event group of NOTIFY SET other than the selected mailbox's: ``filter`` upper
    case, ``names`` the folder names SUBTREE or MAILBOXES gives (as the store spells
    them), ``events`` what the client wants told of the folders it matches."""

    filter: str
    names: tuple[str, ...]
    events: frozenset

    def matches(self, name: str, subscribed) -> bool:
        """Whether folder ``name`` is one of this group's (``subscribed``: the names
        subscribed now)."""
        f = self.filter
        if f == "PERSONAL":
            return True
        if f == "INBOXES":
            # RFC 5465 6.3: the mailboxes "to which messages may be delivered by a
            # Message Delivery Agent" -- smsync's deliver to INBOX only.
            return name == "INBOX"
        if f == "SUBSCRIBED":
            return name in subscribed
        if f == "SUBTREE":
            return any(name == n or name.startswith(n + MAILBOX_SEPARATOR) for n in self.names)
        return name in self.names  # MAILBOXES


@attrs.frozen
class _Status:
    uidvalidity: int
    uidnext: int
    exists: int
    highestmodseq: int
    unseen: int

    @classmethod
    def of(cls, info) -> "_Status":
        return cls(info.uidvalidity, info.uidnext, info.exists, info.highestmodseq, info.unseen)


def what_changed(before: Optional[_Status], now: _Status) -> frozenset:
    """The message events that can take a folder from status ``before`` to ``now``
    (every one when there is no ``before``, or the folder was re-created)."""
    if before is None or before.uidvalidity != now.uidvalidity:
        return MESSAGE_EVENTS
    kinds = set()
    arrived = now.uidnext - before.uidnext
    if arrived > 0:
        kinds.add(MESSAGE_NEW)
    if now.exists < before.exists + arrived:
        kinds.add(MESSAGE_EXPUNGE)
    if not kinds and (now.highestmodseq != before.highestmodseq or now.unseen != before.unseen):
        kinds.add(FLAG_CHANGE)
    return frozenset(kinds)


class Notifications:
    """One session's NOTIFY SET: what it watches, what it last saw, what is owed.

    Made with ``start``; the session hands it every ``ChangeEvent`` (``changed``) and
    says when a command ended (``command_done``). What is owed is sent when no command
    is running (``IMAPConnection.between_commands``), or once the running one ends.
    """

    def __init__(self, session, selected_events: frozenset, delayed: bool, fetch_atts: tuple,
                 watches: tuple[Watch, ...]):
        self.session = session
        #: Message events wanted for the selected mailbox (empty: none, RFC 5465 3.1
        #: "the same as specifying SELECTED NONE").
        self.selected_events = selected_events
        self.delayed = delayed
        self.fetch_atts = fetch_atts
        self.watches = watches
        self._watch_folders = bool(watches)
        #: The folder list last seen, by folder id.
        self.folders: dict = {}
        #: The status last seen of the watched folders, by name.
        self.statuses: dict[str, _Status] = {}
        self._pending: set[str] = set()
        self._hierarchy = False
        self._selected = False
        #: Changes this session made itself (RFC 5465 5: "The server SHOULD omit
        #: notifying the client if the event is caused by this client").
        self._own_names: set[str] = set()
        self._own_hierarchy = False
        self._selected_name: Optional[str] = None
        self._call = None
        self._lock = defer.DeferredLock()
        self.stopped = False

    # -- set up -----------------------------------------------------------------------

    @classmethod
    async def start(cls, session, groups, status: bool) -> "Notifications":
        """The notifications NOTIFY SET's checked ``groups`` ask for; the folders they
        watch are looked at now, and with ``status`` (NOTIFY SET STATUS) a STATUS sent
        of each watched for message events (RFC 5465 3.1)."""
        selected_events: frozenset = frozenset()
        delayed = False
        fetch_atts: tuple = ()
        watches = []
        for group in groups:
            if group.filter in SELECTED_FILTERS:
                selected_events = frozenset(group.events)
                delayed = group.filter == "SELECTED-DELAYED"
                fetch_atts = group.fetch_atts
            elif group.events:
                names = tuple(session.decode_mailbox(n).rstrip(MAILBOX_SEPARATOR) for n in group.mailboxes)
                watches.append(Watch(group.filter, names, frozenset(group.events)))
        self = cls(session, selected_events, delayed, fetch_atts, tuple(watches))
        sel = session.selected
        self._selected_name = sel.name if sel is not None else None
        if self._watch_folders:
            entries = await session.mail.list_mailboxes()
            self.folders = {e.id: e for e in entries}
            subscribed = self._subscribed()
            for e in entries:
                if not self._message_events(e.name, subscribed):
                    continue
                try:
                    info = await (await session.mail.mailbox(e.name)).info()
                except NotFound:
                    continue
                self.statuses[e.name] = _Status.of(info)
                if status and not (sel is not None and sel.id == info.id):
                    session.conn.untagged(self._status_line(e.name, self.statuses[e.name]))
        return self

    def stop(self) -> None:
        """NOTIFY NONE, another NOTIFY SET, or the end of the session."""
        self.stopped = True
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    # -- what happened ----------------------------------------------------------------

    def changed(self, event) -> None:
        """A ``ChangeEvent`` for the session's account (called from inside the store's
        notify: only notes what to look at, on the next turn)."""
        if self.stopped:
            return
        if event.kind == ChangeKind.RESYNC:
            self._hierarchy = self._watch_folders
            self._pending.update(self.statuses)
            self._selected = bool(self.selected_events)
        elif event.kind == ChangeKind.HIERARCHY:
            self._hierarchy = self._watch_folders
        elif event.kind == ChangeKind.MAIL:
            sel = self.session.selected
            if sel is not None and (event.folder_id == sel.id or event.name == sel.name):
                self._selected = bool(self.selected_events)
            elif event.name is not None and self._message_events(event.name, self._subscribed()):
                self._pending.add(event.name)
        else:
            return
        self._schedule()

    def own_change(self, name: Optional[str] = None) -> None:
        """This session's command changes folder ``name``'s messages (APPEND, COPY), or
        with no name the folder list (CREATE, DELETE, RENAME, SUBSCRIBE...): what that
        changes is taken in without telling the client."""
        if name is None:
            self._own_hierarchy = self._watch_folders
        elif name in self.statuses or self._message_events(name, self._subscribed()):
            self._own_names.add(name)

    def command_done(self) -> None:
        """A command ended: send what is owed."""
        sel = self.session.selected
        name = sel.name if sel is not None else None
        if name != self._selected_name:
            # The folder left is watched like any other again, from how it is now.
            if self._selected_name is not None and self._selected_name in self.statuses:
                self._own_names.add(self._selected_name)
            self._selected_name = name
        if self._owed():
            self._schedule()

    def _owed(self) -> bool:
        return bool(self._pending or self._hierarchy or self._selected or self._own_names
                    or self._own_hierarchy)

    def _schedule(self) -> None:
        if self._call is None and not self.stopped:
            self._call = self.session.conn.factory.clock.callLater(0, self._kick)

    def _kick(self) -> None:
        self._call = None
        if self.stopped or self.session.conn.closed:
            return
        d = defer.Deferred.fromCoroutine(self.session.conn.between_commands(self._deliver))
        d.addErrback(lambda f: log.failure("NOTIFY push failed", failure=f))

    async def settled(self) -> None:
        """Wait until what is being sent has been sent (IDLE, before it completes)."""
        await self._lock.acquire()
        self._lock.release()

    # -- telling ----------------------------------------------------------------------

    async def _deliver(self) -> None:
        await self._lock.acquire()
        try:
            while self._owed() and not self.stopped and not self.session.conn.closed:
                if self._hierarchy or self._own_hierarchy:
                    quiet = self._own_hierarchy
                    self._hierarchy = self._own_hierarchy = False
                    await self._folders_changed(quiet)
                if self._own_names:
                    names, self._own_names = self._own_names, set()
                    self._pending -= names
                    for name in sorted(names):
                        await self._messages_changed(name, quiet=True)
                while self._pending:
                    await self._messages_changed(self._pending.pop(), quiet=False)
                if self._selected:
                    self._selected = False
                    expunge = not self.delayed and MESSAGE_EXPUNGE in self.selected_events
                    await self.session.report_changes(allow_expunge=expunge)
        finally:
            self._lock.release()

    async def new_messages(self, uids) -> None:
        """New messages of the selected mailbox were just announced (EXISTS): FETCH what
        MessageNew asked of them (RFC 5465 5.2)."""
        if self.fetch_atts and MESSAGE_NEW in self.selected_events:
            await fetch_new(self.session.conn, uids, self.fetch_atts)

    async def _messages_changed(self, name: str, quiet: bool) -> None:
        session = self.session
        try:
            info = await (await session.mail.mailbox(name)).info()
        except NotFound:
            self.statuses.pop(name, None)
            return
        before = self.statuses.get(name)
        now = self.statuses[name] = _Status.of(info)
        sel = session.selected
        if quiet or (sel is not None and sel.id == info.id):
            return
        wanted = self._message_events(name, self._subscribed())
        if what_changed(before, now) & wanted:
            session.conn.untagged(self._status_line(name, now, FLAG_CHANGE in wanted))

    def _status_line(self, name: str, st: _Status, flags: bool = False) -> bytes:
        """RFC 5465 5.2, 5.3: "STATUS (UIDNEXT MESSAGES)", with HIGHESTMODSEQ once
        CONDSTORE is on; 5.1, a flag change: "at least HIGHESTMODSEQ and UIDVALIDITY"."""
        items = b"MESSAGES %d UIDNEXT %d UIDVALIDITY %d UNSEEN %d" % (st.exists, st.uidnext, st.uidvalidity, st.unseen)
        if flags or self.session.condstore:
            items += b" HIGHESTMODSEQ %d" % st.highestmodseq
        return b"STATUS " + self.session.encode_mailbox(name) + b" (" + items + b")"

    async def _folders_changed(self, quiet: bool) -> None:
        session = self.session
        entries = await session.mail.list_mailboxes()
        before, now = self.folders, {e.id: e for e in entries}
        self.folders = now
        for fid, e in now.items():
            old = before.get(fid)
            if old is not None and old.name != e.name and old.name in self.statuses:
                self.statuses[e.name] = self.statuses.pop(old.name)
        if quiet:
            return
        subscribed_before = {e.name for e in before.values() if e.subscribed}
        subscribed_now = {e.name for e in entries if e.subscribed}
        told: dict[str, Optional[str]] = {}  # name -> its old name when renamed
        gone: list[str] = []
        for fid, e in now.items():
            old = before.get(fid)
            if old is None:
                if self._wants(MAILBOX_NAME, e.name, subscribed_before, subscribed_now):
                    told[e.name] = None
            elif old.name != e.name:
                if self._wants(MAILBOX_NAME, e.name, subscribed_before, subscribed_now, old.name):
                    told[e.name] = old.name
            elif old.subscribed != e.subscribed:
                if self._wants(SUBSCRIPTION_CHANGE, e.name, subscribed_before, subscribed_now):
                    told[e.name] = None
        names_now = {e.name for e in entries}
        for fid, old in before.items():
            if (fid not in now and old.name not in names_now
                    and self._wants(MAILBOX_NAME, old.name, subscribed_before, subscribed_now)):
                gone.append(old.name)
        if not told and not gone:
            return
        listed = {item.name: item for item in listing.list_mailboxes(
            entries, (), told.__contains__, frozenset(), frozenset({"SUBSCRIBED"}), extended=True)}
        for name in sorted(told):
            item = listed.get(name)
            attrs_ = item.attrs if item is not None else ()
            extra = None
            if told[name] is not None:
                extra = b'("OLDNAME" (' + session.encode_mailbox(told[name]) + b"))"
            session.conn.untagged(encode.mailbox_list_line(b"LIST", attrs_, session.encode_mailbox(name), extra))
        for name in sorted(gone):
            # RFC 5465 5.4: "If, after the event, the mailbox name does not refer to a
            # mailbox accessible to the client, the \Nonexistent flag MUST be included."
            session.conn.untagged(encode.mailbox_list_line(b"LIST", ["\\NonExistent"], session.encode_mailbox(name)))

    # -- matching ---------------------------------------------------------------------

    def _subscribed(self) -> set:
        return {e.name for e in self.folders.values() if e.subscribed}

    def _message_events(self, name: str, subscribed) -> frozenset:
        """The message events wanted for folder ``name`` (all groups that match it)."""
        out: frozenset = frozenset()
        for w in self.watches:
            if w.matches(name, subscribed):
                out |= w.events & MESSAGE_EVENTS
        return out

    def _wants(self, event: str, name: str, subscribed_before, subscribed_now, old_name=None) -> bool:
        for w in self.watches:
            if event not in w.events:
                continue
            for n in (name, old_name):
                if n is not None and (w.matches(n, subscribed_before) or w.matches(n, subscribed_now)):
                    return True
        return False
