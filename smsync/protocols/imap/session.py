"""Per-connection IMAP state: who is logged in, what is enabled, what is selected.

The session also owns the connection's subscription to the store's change notifier: a
change to the selected folder marks it dirty (and wakes IDLE), so the next command
reports it before its tagged completion.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

from twisted.internet import defer
from twisted.logger import Logger

from smsync.edge.devices import Client
from smsync.model import ChangeKind
from smsync.protocols.imap import mutf7, shared
from smsync.protocols.imap.selected import SelectedMailbox

log = Logger()

#: A session's end updates its device's last sync time only if the device was noted
#: longer ago than this (seconds): a mail client's many short sessions then cost one
#: registry write each, not two, and the time shown is still right to the minute.
DEVICE_REFRESH = 60.0

#: Commands a client may send after logging in before we know enough to name its
#: device entry (ID is the one that names it).
_BEFORE_DEVICE = frozenset({"ID", "CAPABILITY", "ENABLE", "NOOP", "COMPRESS", "NAMESPACE"})


class Session:
    """The state of one IMAP connection (RFC 3501 section 3)."""

    def __init__(self, conn):
        self.conn = conn
        self.account: Optional[str] = None
        self.store = None
        self.mail = None
        self.enabled: set[str] = set()
        self.selected: Optional[SelectedMailbox] = None
        self.client_id: Optional[dict] = None
        #: SEARCHRES: the UIDs the last ``SEARCH RETURN (SAVE)`` matched.
        self.saved_uids: list[int] = []
        self.wake: Optional[Callable[[], None]] = None
        #: NOTIFY SET's standing request (``notifications.Notifications``), or None.
        self.notifications = None
        self._subscription = None
        #: owner -> subscription to the change notices of a folder owner (``watch``).
        self._watches: dict = {}
        self._device_id: Optional[str] = None
        self._logout_avatar = None
        self.logged_out = False
        # Device-registry writes in flight, who waits for them, and when the last began.
        self._device_writes = 0
        self._device_waiters: list[defer.Deferred] = []
        self._device_recorded_at = float("-inf")
        # IDLE pushes and command completions both report changes: one at a time.
        self._report_lock = defer.DeferredLock()

    # -- state -----------------------------------------------------------------------

    @property
    def authenticated(self) -> bool:
        return self.account is not None

    @property
    def state(self) -> str:
        if self.account is None:
            return "notauth"
        return "selected" if self.selected is not None else "auth"

    @property
    def utf8(self) -> bool:
        """Folder names and strings travel as UTF-8 (UTF8=ACCEPT or IMAP4rev2 enabled)."""
        return "UTF8=ACCEPT" in self.enabled or "IMAP4REV2" in self.enabled

    @property
    def rev2(self) -> bool:
        return "IMAP4REV2" in self.enabled

    @property
    def condstore(self) -> bool:
        return "CONDSTORE" in self.enabled or "QRESYNC" in self.enabled

    @property
    def qresync(self) -> bool:
        return "QRESYNC" in self.enabled

    def enable_condstore(self) -> None:
        """A CONDSTORE enabling command (RFC 7162 3.1) ran: from now on every untagged
        FETCH carries MODSEQ, and "a first CONDSTORE enabling command executed in the
        session with a mailbox selected MUST cause the server to return HIGHESTMODSEQ"
        -- as far as this session has told the client about the folder, so no change
        it has not yet heard of is skipped by a client that resynchronises from it."""
        first = "CONDSTORE" not in self.enabled
        self.enabled.add("CONDSTORE")
        sel = self.selected
        if sel is None:
            return
        sel.condstore = True
        if first:
            self.conn.untagged(b"OK [HIGHESTMODSEQ %d] CONDSTORE enabled" % sel.modseq)

    def decode_mailbox(self, raw: bytes) -> str:
        """A folder name as the store spells it (``/`` separated, INBOX canonical).

        Raises:
            CommandBad: the name is not valid modified UTF-7 / UTF-8.
        """
        from smsync.protocols.imap.commands import CommandBad

        try:
            name = mutf7.decode_name(raw, self.utf8)
        except (ValueError, UnicodeDecodeError):
            raise CommandBad("mailbox name is not valid modified UTF-7 or UTF-8") from None
        if name.upper() == "INBOX" or name.upper().startswith("INBOX/"):
            name = "INBOX" + name[5:]
        return name

    def encode_mailbox(self, name: str) -> bytes:
        """A folder name as this client reads it, ready to put on the wire."""
        from smsync.protocols.imap import encode

        if self.utf8:
            return encode.astring(name)
        return encode.astring(mutf7.encode(name))

    # -- login and device registry ---------------------------------------------------

    def logged_in(self, account: str, store, mail, logout=None) -> None:
        self.account = account
        self.store = store
        # Its own folders and, where the store shares folders, those shared with it.
        self.mail = shared.view_of(store, account, mail, self.watch)
        self._logout_avatar = logout
        self._subscription = store.notifier.subscribe(account, self._changed)

    def watch(self, owner: str) -> None:
        """Also hear of changes to ``owner``'s folders: the session opened one that
        ``owner`` shares with it (RFC 4314), and IDLE must report others' changes there."""
        if owner != self.account and owner not in self._watches:
            self._watches[owner] = self.store.notifier.subscribe(owner, self._changed)

    def before_command(self, cmd) -> None:
        if self.authenticated and self._device_id is None and cmd.name not in _BEFORE_DEVICE:
            self._record_device()

    def device_identity(self) -> Client:
        """The client as the device registry names it: from ID when the client sent
        one, else from the login and the client's address."""
        return Client.imap(self.client_id, self.conn.peer_host, self.account)

    def _record_device(self, success: bool = True) -> defer.Deferred:
        client = self.device_identity()
        self._device_id = client.device_id
        self._device_recorded_at = time.monotonic()
        d = self.conn.factory.edge.devices.record(self.account, "imap", client, success)
        self._device_writes += 1
        d.addBoth(self._device_written)
        return self._device_flushed()

    def _device_written(self, _) -> None:
        self._device_writes -= 1
        if not self._device_writes:
            waiters, self._device_waiters = self._device_waiters, []
            for waiter in waiters:
                waiter.callback(None)

    def _device_flushed(self) -> defer.Deferred:
        """Fires once every device-registry write this session started is done."""
        if not self._device_writes:
            return defer.succeed(None)
        waiter = defer.Deferred()
        self._device_waiters.append(waiter)
        return waiter

    def _refresh_device(self) -> defer.Deferred:
        """Note the session's end in the device registry, unless it was noted less than
        ``DEVICE_REFRESH`` seconds ago (then wait for that note to be stored)."""
        if time.monotonic() - self._device_recorded_at < DEVICE_REFRESH:
            return self._device_flushed()
        return self._record_device()

    def client_identified(self, params: Optional[dict]) -> None:
        self.client_id = params
        if self.authenticated and self._device_id is None:
            self._record_device()

    # -- change notification ---------------------------------------------------------

    def _changed(self, event) -> None:
        if self.notifications is not None:
            self.notifications.changed(event)
        sel = self.selected
        if sel is None:
            return
        if event.kind == ChangeKind.RESYNC or (
            event.kind in (ChangeKind.MAIL, ChangeKind.HIERARCHY)
            and (event.folder_id == sel.id or event.name == sel.name or event.kind == ChangeKind.HIERARCHY)
        ):
            sel.dirty = True
            if self.wake is not None:
                self.wake()

    async def report_changes(self, allow_expunge: bool = True, force: bool = False) -> None:
        """Send what changed in the selected folder since we last told the client."""
        sel = self.selected
        if sel is None or not (sel.dirty or force):
            return
        from smsync.errors import NotFound

        await self._report_lock.acquire()
        try:
            if self.selected is sel and not self.conn.closed:
                new, changed = await sel.sync(self.conn, allow_expunge, self.qresync)
                new = sel.take_own_new(new) if new else new
                if new and self.notifications is not None:
                    await self.notifications.new_messages(new)
                if changed and sel.contexts and self.selected is sel:
                    await sel.contexts.refresh(self.conn, sel)
        except NotFound:
            # Another session deleted the folder under us: nothing sensible remains.
            self.selected = None
            self.conn.untagged("BYE selected mailbox was deleted")
            self.conn.flush()
            self.conn.transport.loseConnection()
        finally:
            self._report_lock.release()

    def set_notifications(self, notifications) -> None:
        """NOTIFY SET (a ``Notifications``) or NOTIFY NONE (None): replaces what was
        asked before."""
        if self.notifications is not None:
            self.notifications.stop()
        self.notifications = notifications

    def command_done(self) -> None:
        """A command ended (its tagged response is out)."""
        if self.notifications is not None:
            self.notifications.command_done()

    def own_change(self, name: Optional[str] = None) -> None:
        """This session is changing folder ``name``'s messages, or (no name) the folder
        list: NOTIFY does not tell it back what it did (RFC 5465 section 5)."""
        if self.notifications is not None:
            self.notifications.own_change(name)

    def closed(self) -> None:
        """The connection ended: stop listening and note the device's last sync."""
        self.set_notifications(None)
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None
        watches, self._watches = self._watches, {}
        for subscription in watches.values():
            subscription.cancel()
        self.selected = None
        if self.authenticated and not self.logged_out:
            self._refresh_device()
        if self._logout_avatar is not None:
            logout, self._logout_avatar = self._logout_avatar, None
            try:
                logout()
            except Exception:
                log.failure("avatar logout failed")

    def logout(self) -> defer.Deferred:
        self.logged_out = True
        if self.authenticated:
            return self._refresh_device()
        return defer.succeed(None)
