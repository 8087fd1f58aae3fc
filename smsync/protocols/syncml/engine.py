"""One database's sync within a session, over the shared sync engine (``ISyncAdapter``).

* Two-way and one-way from the client: the client's Add, Replace and Delete become
  ``ClientChange`` values (its LUIDs mapped to server item names through the device's
  map), applied by one engine round per message; conflicts are resolved by the device's
  ``ConflictPolicy`` and answered 208 (client won), 209 (both kept) or 419 (server won).
* Slow sync (201, and after an anchor mismatch) and refresh from the client (203): the
  engine starts over (key ``"0"``); every item the client sends is matched to a server
  item -- by the LUID map, else by UID, else by its main fields (``items.match_key``) --
  so a slow sync never doubles an item. A matched item the same on both sides is
  recorded as held; a different one is resolved by the policy (client wins: the
  client's version is stored; else the server's is sent back as a Replace). Items
  matching nothing are added. Refresh from the client then deletes what it did not send.
* Once the client's package is complete, the server's changes go out (two-way, slow,
  one-way and refresh from the server): adds of items the client does not map, Replace
  and Delete of those it does, in the type its DevInf prefers (``devinf.send_type``).
"""

from __future__ import annotations

from typing import Optional

from twisted.logger import Logger

from smsync.errors import InvalidData, NotFound, SmsyncError, SyncTokenInvalid
from smsync.model import ConflictPolicy
from smsync.protocols.syncml import formats as registry
from smsync.protocols.syncml import message as m
from smsync.protocols.syncml.databases import DatabaseState, state_key
from smsync.protocols.syncml.items import match_key, with_uid
from smsync.sync import ADD, CHANGE, COLLECTION, DELETE, ClientChange, SourceRef, SyncStatus
from smsync.sync.uids import uid_of

log = Logger(namespace="smsync.syncml")

#: Server changes read per engine round.
WINDOW = 500

_STATUS = {
    SyncStatus.OK: m.OK,
    SyncStatus.CONFLICT_SERVER_WON: m.CONFLICT_SERVER_WON,
    SyncStatus.CONFLICT_CLIENT_WON: m.CONFLICT_CLIENT_WON,
    SyncStatus.CONFLICT_BOTH_KEPT: m.CONFLICT_DUPLICATE,
    SyncStatus.NOT_FOUND: m.NOT_FOUND,
    SyncStatus.INVALID: m.UNSUPPORTED_TYPE,
    SyncStatus.ALREADY_EXISTS: m.ALREADY_EXISTS,
    SyncStatus.QUOTA_EXCEEDED: m.DEVICE_FULL,
    SyncStatus.DENIED: m.PERMISSION_DENIED,
    SyncStatus.ERROR: m.FAILED,
}

INCOMING = frozenset({m.TWO_WAY, m.SLOW, m.ONE_WAY_FROM_CLIENT, m.REFRESH_FROM_CLIENT})
OUTGOING = frozenset({m.TWO_WAY, m.SLOW, m.ONE_WAY_FROM_SERVER, m.REFRESH_FROM_SERVER})
MATCHING = frozenset({m.SLOW, m.REFRESH_FROM_CLIENT})


class Change:
    """One Add, Replace or Delete the client sent (a large object already joined)."""

    __slots__ = ("command", "luid", "data", "mime", "soft", "reply")

    def __init__(self, command: str, luid: Optional[str], data: Optional[bytes],
                 mime: Optional[str], soft: bool = False):
        self.command = command
        self.luid = luid
        self.data = data
        self.mime = mime
        self.soft = soft
        #: The status code it gets.
        self.reply = m.OK


def source_of(db) -> SourceRef:
    return SourceRef(COLLECTION, db.collection_id)


async def load_state(store, account: str, device_id: str, collection_id: str) -> DatabaseState:
    try:
        raw = await store.devices.load_state(account, device_id, state_key(collection_id))
    except NotFound:
        raw = None
    return DatabaseState.from_bytes(raw)


async def save_state(ctx, db) -> None:
    await ctx.store.devices.save_state(ctx.account, ctx.device_id, state_key(db.collection_id),
                                       db.state.to_bytes())


async def _round(ctx, db, changes=(), window: int = 0):
    """One engine round from the database's key (starting over when it has none or the
    engine no longer knows it)."""
    key = db.state.key or "0"
    try:
        result = await ctx.adapter.sync(ctx.account, ctx.device_id, source_of(db), key,
                                        tuple(changes), window)
    except SyncTokenInvalid:
        if key == "0":
            raise
        result = await ctx.adapter.sync(ctx.account, ctx.device_id, source_of(db), "0",
                                        tuple(changes), window)
    db.state.key = result.sync_key
    return result


async def begin(ctx, db) -> None:
    """Set the engine up for the session's mode: a slow sync or refresh starts over."""
    if db.mode in MATCHING or db.mode == m.REFRESH_FROM_SERVER or db.state.key is None:
        db.state.key = None
        # A slow sync voids the map: only what the client sends in this session is on
        # it (a client may empty its database first, as SyncEvolution does for a
        # refresh from the server). The old map still helps match what it sends.
        db.old_luids = dict(db.state.luids)
        db.state.luids.clear()
        await _round(ctx, db)  # a fresh engine state, nothing sent yet


async def _collection(ctx, db):
    collections = await ctx.store.collections(ctx.account)
    return await collections.collection_by_id(db.collection_id)


async def _index(ctx, db) -> dict:
    """Slow sync: the collection's items by name, UID and main fields (built once)."""
    if db.index is None:
        coll = await _collection(ctx, db)
        infos = await coll.items()
        names = [i.name for i in infos]
        contents = {}
        for start in range(0, len(names), 200):
            for item in await coll.get(names[start:start + 200]):
                contents[item.info.name] = item.content
        by_uid = {i.uid: i.name for i in infos if i.uid}
        by_key: dict = {}
        for name, content in contents.items():
            key = match_key(content)
            if key is not None:
                by_key.setdefault(key, []).append(name)
        db.index = {"content": contents, "uid": by_uid, "key": by_key}
    return db.index


def _format(db, mime: Optional[str]):
    return registry.lookup(db.database.kind, mime or db.send_type)


def _canonical(db, change: Change, previous: Optional[bytes]) -> bytes:
    fmt = _format(db, change.mime)
    if fmt is None:
        raise InvalidData(f"type {change.mime or db.send_type} is not taken for {db.name}")
    return with_uid(fmt.to_canonical(change.data or b"", previous), previous)


async def apply(ctx, db, changes: list[Change]) -> None:
    """Apply the client's changes of one message; set each ``Change.reply``."""
    if db.mode in (m.ONE_WAY_FROM_SERVER, m.REFRESH_FROM_SERVER):
        for change in changes:
            change.reply = m.NOT_ALLOWED
        return
    if db.mode in MATCHING:
        await _apply_matching(ctx, db, changes)
    else:
        await _apply_incremental(ctx, db, changes)


async def _apply_incremental(ctx, db, changes: list[Change]) -> None:
    batch: list[tuple[Change, ClientChange]] = []
    # The stored versions the client replaces, read in one go.
    wanted = [db.state.guid(c.luid) for c in changes if c.command == "Replace"]
    wanted = [g for g in wanted if g is not None]
    previous_of = {}
    if wanted:
        coll = await _collection(ctx, db)
        previous_of = {item.info.name: item.content for item in await coll.get(wanted)}
    for change in changes:
        guid = db.state.guid(change.luid)
        try:
            if change.command == "Delete":
                if guid is None:
                    change.reply = m.DELETE_NOT_FOUND
                elif change.soft:
                    # Removed from the device, not by its user: the server keeps it.
                    db.state.forget(change.luid)
                else:
                    batch.append((change, ClientChange(DELETE, server_id=guid)))
                continue
            if change.data is None:
                change.reply = m.INCOMPLETE
                continue
            if change.command == "Replace" and guid is not None:
                previous = previous_of.get(guid)
                content = _canonical(db, change, previous)
                batch.append((change, ClientChange(CHANGE, server_id=guid, content=content)))
            else:
                content = _canonical(db, change, None)
                batch.append((change, ClientChange(ADD, client_id=change.luid, content=content)))
        except InvalidData as e:
            change.reply = m.UNSUPPORTED_TYPE
            db.counts["errors"] += 1
            ctx.note(f"{db.name}: {change.command} {change.luid}: {e}")
    await _run(ctx, db, batch)


async def _run(ctx, db, batch) -> None:
    if not batch:
        return
    result = await _round(ctx, db, [c for _, c in batch])
    for (change, sent), outcome in zip(batch, result.results):
        code = _STATUS[outcome.status]
        if outcome.status == SyncStatus.ALREADY_EXISTS and sent.op == ADD and outcome.server_id:
            # The server has an item with this UID: the client's is that one.
            db.state.bind(change.luid, outcome.server_id)
            code = m.OK
        elif sent.op == ADD and outcome.server_id and outcome.status == SyncStatus.OK:
            db.state.bind(change.luid, outcome.server_id)
            code = m.ITEM_ADDED
            db.counts["added"] += 1
        elif sent.op == DELETE and outcome.status in (SyncStatus.OK, SyncStatus.CONFLICT_CLIENT_WON):
            db.state.forget(change.luid)
            db.counts["deleted"] += 1
        elif sent.op == DELETE and outcome.status == SyncStatus.CONFLICT_SERVER_WON:
            # The item comes back to the device as an add.
            db.state.forget(change.luid)
        elif sent.op == CHANGE and outcome.status in (SyncStatus.OK, SyncStatus.CONFLICT_CLIENT_WON):
            db.counts["replaced"] += 1
        if outcome.status in (SyncStatus.CONFLICT_SERVER_WON, SyncStatus.CONFLICT_CLIENT_WON,
                              SyncStatus.CONFLICT_BOTH_KEPT):
            db.counts["conflicts"] += 1
        if code.startswith(("4", "5")):
            db.counts["errors"] += 1
        change.reply = code


async def _apply_matching(ctx, db, changes: list[Change]) -> None:
    index = await _index(ctx, db)
    hold: list[str] = []
    batch: list[tuple[Change, ClientChange]] = []
    for change in changes:
        if change.command == "Delete":
            db.state.forget(change.luid)
            continue
        if change.data is None or change.luid is None:
            change.reply = m.INCOMPLETE
            continue
        try:
            content = _canonical(db, change, None)
        except InvalidData as e:
            change.reply = m.UNSUPPORTED_TYPE
            db.counts["errors"] += 1
            ctx.note(f"{db.name}: {change.command} {change.luid}: {e}")
            continue
        guid = _match(db, index, change.luid, content)
        if guid is None:
            batch.append((change, ClientChange(ADD, client_id=change.luid, content=content)))
            continue
        db.matched.add(guid)
        db.state.bind(change.luid, guid)
        stored = index["content"][guid]
        if stored == content:
            hold.append(guid)
            continue
        # Keep what the client's format cannot carry from the stored version.
        content = _canonical(db, change, stored)
        if content == stored:
            hold.append(guid)
        elif db.policy == ConflictPolicy.CLIENT_WINS:
            hold.append(guid)
            batch.append((change, ClientChange(CHANGE, server_id=guid, content=content)))
        else:
            # The server's version goes back to the client (it is not held).
            db.counts["conflicts"] += 1
    if hold:
        await ctx.adapter.hold(ctx.account, ctx.device_id, source_of(db), hold)
    await _run(ctx, db, batch)


def _match(db, index: dict, luid: str, content: bytes) -> Optional[str]:
    if len(db.matched) >= len(index["content"]):
        return None  # every server item is taken (an empty collection, say)
    guid = db.state.guid(luid) or db.old_luids.get(luid)
    if guid is not None and guid in index["content"] and guid not in db.matched:
        return guid
    uid = uid_of(content)
    guid = index["uid"].get(uid) if uid else None
    if guid is not None and guid not in db.matched:
        return guid
    key = match_key(content)
    for guid in index["key"].get(key, ()) if key is not None else ():
        if guid not in db.matched:
            return guid
    return None


async def finish_client(ctx, db) -> None:
    """The client's package is complete: refresh from the client deletes what it did
    not send."""
    if db.mode != m.REFRESH_FROM_CLIENT:
        return
    index = await _index(ctx, db)
    mapped = set(db.state.luids.values())
    gone = [g for g in index["content"] if g not in db.matched and g not in mapped]
    if not gone:
        return
    await ctx.adapter.hold(ctx.account, ctx.device_id, source_of(db), gone)
    result = await _round(ctx, db, [ClientChange(DELETE, server_id=g) for g in gone])
    db.counts["deleted"] += sum(1 for r in result.results if r.status == SyncStatus.OK)


async def server_changes(ctx, session, db) -> None:
    """Queue the server's changes for the client (Add, Replace, Delete in its Sync)."""
    db.index = None
    if db.mode not in OUTGOING:
        return
    b = session.builder
    while True:
        result = await _round(ctx, db, (), WINDOW)
        for change in result.changes:
            element = _command(b, db, change, session.max_obj_size)
            if element is not None:
                session.queue(element, db.name)
                db.counts["sent"] += 1
        if not result.more_available:
            break


def _command(b, db, change, max_obj=None):
    luid = db.state.luid(change.server_id)
    if change.op == DELETE:
        if luid is None:
            return None
        db.state.forget(luid)
        return b.el("Delete", b.el("Item", b.loc("Target", luid)))
    fmt = registry.lookup(db.database.kind, db.send_type)
    try:
        data = fmt.from_canonical(change.item.content)
    except (SmsyncError, ValueError) as e:
        log.warn("syncml: {db}: cannot send {item}: {error}", db=db.name,
                 item=change.server_id, error=str(e))
        return None
    if max_obj is not None and len(data) > max_obj:
        # Larger than the client says it can take (MaxObjSize): not sent, noted.
        log.info("syncml: {db}: {item} ({size} bytes) is over the client's MaxObjSize {limit}",
                 db=db.name, item=change.server_id, size=len(data), limit=max_obj)
        db.counts["errors"] += 1
        return None
    meta = b.meta(b.meta_value("Type", fmt.mime))
    text = data.decode("utf-8", "replace")
    if luid is not None:
        return b.el("Replace", meta, b.el("Item", b.loc("Target", luid), b.leaf("Data", text)))
    return b.el("Add", meta, b.el("Item", b.loc("Source", change.server_id), b.leaf("Data", text)))
