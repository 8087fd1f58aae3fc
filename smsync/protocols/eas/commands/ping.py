"""Ping (MS-ASCMD 2.2.1.13): direct push. The device names folders and a heartbeat;
the answer waits until one of them changes -- through any protocol or process, as the
store's ``IChangeNotifier`` tells -- or the heartbeat ends. An empty Ping repeats the
last folder list and heartbeat, remembered in the device's state."""

from __future__ import annotations

from twisted.internet.defer import Deferred

from smsync.errors import NotFound
from smsync.model import ChangeKind
from smsync.protocols.eas import state
from smsync.protocols.eas.commands import CommandError, command
from smsync.protocols.eas.wbxml import Element
from smsync.sync import COLLECTION, MAIL
from smsync.sync.state import SyncState, state_key

PING = "Ping:"

#: Heartbeat bounds in seconds (Exchange's defaults): a phone outside them is told them.
MIN_HEARTBEAT, MAX_HEARTBEAT = 60, 3540
MAX_FOLDERS = 300

#: Ping Status values (MS-ASCMD 2.2.3.177.11).
EXPIRED, CHANGED, MISSING, BAD_REQUEST, BAD_HEARTBEAT, TOO_MANY, HIERARCHY = (
    "1", "2", "3", "4", "5", "6", "7")

#: Changes arriving this soon after the first are answered together.
GATHER = 0.02


def _p(tag: str, text=None, *children) -> Element:
    return Element(PING, tag, children, text)


def _parse(body: Element):
    heartbeat = body.find(PING, "HeartbeatInterval")
    folders = body.find(PING, "Folders")
    ids = [f.find(PING, "Id").text for f in (folders.children if folders is not None else ())
           if f.tag == "Folder" and f.find(PING, "Id") is not None and f.find(PING, "Id").text]
    seconds = None
    if heartbeat is not None:
        if heartbeat.text is None or not heartbeat.text.isdigit():
            raise ValueError("HeartbeatInterval is not a number")
        seconds = int(heartbeat.text)
    return seconds, ids


@command("Ping", PING)
async def ping(ctx, body):
    saved = await state.load(ctx, state.PING_KEY) or {}
    if body is not None and (body.namespace, body.tag) != (PING, "Ping"):
        raise CommandError(400, "Ping needs a Ping body")
    heartbeat, folders = (None, []) if body is None else _parse_or_none(body)
    if heartbeat is False:
        return _p("Ping", None, _p("Status", BAD_REQUEST))
    heartbeat = heartbeat or saved.get("heartbeat")
    folders = folders or saved.get("folders") or []
    if not heartbeat or not folders:
        return _p("Ping", None, _p("Status", MISSING))
    if heartbeat < MIN_HEARTBEAT or heartbeat > MAX_HEARTBEAT:
        limit = MIN_HEARTBEAT if heartbeat < MIN_HEARTBEAT else MAX_HEARTBEAT
        return _p("Ping", None, _p("Status", BAD_HEARTBEAT), _p("HeartbeatInterval", str(limit)))
    if len(folders) > MAX_FOLDERS:
        return _p("Ping", None, _p("Status", TOO_MANY), _p("MaxFolders", str(MAX_FOLDERS)))
    saved = None  # not kept for the whole heartbeat
    if body is not None:
        body = None
        await state.save(ctx, state.PING_KEY, {"heartbeat": heartbeat, "folders": folders})
    # Changes made between the device's last Sync and this Ping are answered at once: no
    # event will come for them.
    changed = await _pending(ctx, folders)
    if not changed:
        watched, folders = frozenset(folders), None
        changed = await _Waiter(ctx, watched, heartbeat).done
    if changed is None:
        ctx.log("Ping: the folder hierarchy changed")
        return _p("Ping", None, _p("Status", HIERARCHY))
    if not changed:
        return _p("Ping", None, _p("Status", EXPIRED))
    ctx.log(f"Ping: {len(changed)} folders changed")
    return _p("Ping", None, _p("Status", CHANGED),
              _p("Folders", None, *(_p("Folder", sid) for sid in sorted(changed))))


async def _pending(ctx, folders) -> set:
    """The watched folders whose revision is past what the device last synced of them
    (or whose first sync is not finished). Folders it never synced are left to events."""
    found = set()
    mail = await ctx.store.mail(ctx.account)
    collections = await ctx.store.collections(ctx.account)
    for folder_id in folders:
        try:
            box = await mail.mailbox_by_id(folder_id)
            kind, revision = MAIL, (await box.info()).highestmodseq
        except NotFound:
            try:
                collection = await collections.collection_by_id(folder_id)
            except NotFound:
                continue
            kind, revision = COLLECTION, (await collection.info()).revision
        raw = await ctx.store.devices.load_state(ctx.account, ctx.device_id,
                                                 state_key(kind, folder_id))
        synced = SyncState.from_bytes(raw) if raw else None
        if synced is not None and (revision > synced.cursor.base or synced.cursor.scan is not None):
            found.add(folder_id)
    return found


def _parse_or_none(body):
    try:
        return _parse(body)
    except ValueError:
        return False, []


class _Waiter:
    """Waits for a change of the ``watched`` folders: ``done`` fires with those that
    changed before the heartbeat ended (empty: none), or None when the hierarchy
    changed; early (empty) when the client goes away.

    A slotted object with bound methods rather than closures and a coroutine frame:
    10,000 waiting Pings hold one each, and the difference is some megabytes.
    """

    __slots__ = ("done", "_watched", "_changed", "_timer", "_gather", "_subscription")

    def __init__(self, ctx, watched: frozenset, heartbeat: int):
        from twisted.internet import reactor

        self.done = Deferred()
        self._watched = watched
        self._changed = None
        self._gather = None
        self._subscription = ctx.store.notifier.subscribe(ctx.account, self._on_event)
        self._timer = reactor.callLater(heartbeat, self._finish, set())
        if ctx.gone is not None:
            ctx.gone.addBoth(self._gone)
        self.done.addBoth(self._cleanup)

    def _gone(self, _) -> None:
        # Swallowed, as the connection's end is no error of ours to report.
        self._finish(set())

    def _finish(self, result) -> None:
        if not self.done.called:
            self.done.callback(result)

    def _on_event(self, event) -> None:
        if self.done.called:
            return
        if event.kind in (ChangeKind.HIERARCHY, ChangeKind.RESYNC):
            self._finish(None)
        elif event.folder_id in self._watched:
            if self._changed is None:
                from twisted.internet import reactor

                self._changed = set()
                self._gather = reactor.callLater(GATHER, self._finish, self._changed)
            self._changed.add(event.folder_id)

    def _cleanup(self, result):
        self._subscription.cancel()
        for timer in (self._timer, self._gather):
            if timer is not None and timer.active():
                timer.cancel()
        return result


async def _wait(ctx, watched, heartbeat: int):
    """What ``_Waiter`` fires with, for the folders ``watched`` (the hanging Sync's)."""
    return await _Waiter(ctx, frozenset(watched), heartbeat).done
