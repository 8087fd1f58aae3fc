"""The state-based sync engine EAS, EWS and SyncML share (``ISyncAdapter``).

One round (``SyncAdapter.sync``):

1. Find the device's state for the source (device registry key ``sync:<kind>:<id>``,
   or ``sync:<kind>:<id>#<lane>`` for a round of a lane: ``smsync.sync.lanes``) and check the presented key: ``"0"`` starts over; the current key continues; the
   previous key is a retry (the answer was lost) -- the same batch gets the stored answer
   again and applies nothing, a different batch is run again from the state as it was
   before the lost round (adds of the lost round are recognised by client id and not
   stored twice). Any other key is ``SyncTokenInvalid``.
2. Apply the device's changes, resolving conflicts by ``Device.conflict_policy``. Every
   write the device makes is recorded as held by it, so it is not echoed back.
3. Read the source's change log above the state's ``base`` and send what the device does
   not hold: deletions first (they bound how far ``base`` may move), then adds and
   changes in (revision, id) order, at most ``window`` of them. Several items can share
   a revision, so ``base`` only moves to just below the oldest revision not yet sent and
   the items sent above it are remembered one by one (``Cursor.seen``). A mail initial
   sync (``"0"``) instead walks the folder by UID, so a 100,000-message folder costs
   one window's worth of work per round, not the whole log; collections read the log
   with a limit for the same reason.
4. Save the new state, the request's fingerprint and the answer in one ``save_states``
   (with a lane, also the list of the device's lanes on the source and the removal of
   the least recently used one it pushes out).

Conflict policies (the device's ``ConflictPolicy``), for a device change to an item the
server changed since the device last got it:

* server-wins: the change is dropped (``CONFLICT_SERVER_WON``) and the server's version
  is sent first in this answer; a deleted item comes back as an add;
* client-wins: the change is applied (``CONFLICT_CLIENT_WON``), a delete deletes, a
  change to an item deleted on the server re-creates it;
* keep-both: the device's version is stored as a new item with a new UID
  (``CONFLICT_BOTH_KEPT``) and both are sent; deletes keep the server's version. Mail
  flag changes are deltas, so client-wins and keep-both both merge them into the
  server's flags and send the result.

A round is one store transaction (``IStoreTransactions``) where the store offers them,
as both SQL stores do: steps 2 to 4 -- the device's batch, the id maps and the new state
-- commit together or not at all, so a process killed anywhere in a round has applied
none of it, and the device's retry (same key, same batch) applies it exactly once. A
crash after the commit loses only the answer: the retry is recognised in step 1 and gets
it again. Over a store without transactions the writes go one by one, and a crash
between 2 and 4 can apply part of the batch again when the device retries.

Rounds are serialised per (device, source) within one process, whatever their lane (the
lanes of a source share their list); across processes (several
frontends on one PostgreSQL store) the transaction makes a round all or nothing but two
rounds of one device racing in two processes can still both start from the same state.
"""

from __future__ import annotations

import hashlib
import json

import attrs

from twisted.internet.defer import DeferredLock
from twisted.logger import Logger
from zope.interface import implementer

from smsync._async import deferred
from smsync.errors import (
    InvalidData,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    QuotaExceeded,
    SmsyncError,
    SyncTokenInvalid,
    UidConflict,
)
from smsync.interfaces import IStoreTransactions, ISyncAdapter
from smsync.model import ConflictPolicy
from smsync.sync import lanes
from smsync.sync.sources import CollectionSource, Entry, MailSource
from smsync.sync.state import Cursor, Retry, SyncState
from smsync.sync.types import (
    ADD,
    CHANGE,
    DELETE,
    MAIL,
    ChangeResult,
    ClientChange,
    ServerChange,
    SourceRef,
    SyncResult,
    SyncStatus,
)

log = Logger()

#: How often a change is retried when another writer changes the item between the
#: conflict check and the write (its if_match then fails).
_RACE_RETRIES = 3

_ERROR_STATUS = (
    (UidConflict, SyncStatus.ALREADY_EXISTS),
    (InvalidData, SyncStatus.INVALID),
    (NotFound, SyncStatus.NOT_FOUND),
    (QuotaExceeded, SyncStatus.QUOTA_EXCEEDED),
    (PermissionDenied, SyncStatus.DENIED),
    (SmsyncError, SyncStatus.ERROR),
)


def fingerprint(source: SourceRef, sync_key: str, changes, window: int, deletes_as_moves: bool) -> str:
    """A digest of a request, to recognise the same batch sent again."""

    def one(c: ClientChange):
        content = c.origin or (None if c.content is None else hashlib.sha256(c.content).hexdigest())
        flags = None if c.flags is None else sorted(c.flags)
        removed = None if c.flags_removed is None else sorted(c.flags_removed)
        return [c.op, c.client_id, c.server_id, content, flags, removed]

    doc = [source.kind, source.id, sync_key, window, bool(deletes_as_moves), [one(c) for c in changes]]
    return hashlib.sha256(json.dumps(doc).encode()).hexdigest()


def _order(server_id: str):
    # UIDs are numeric strings: shorter first gives numeric order for them and a stable
    # order for item names.
    return (len(server_id), server_id)


class _Round:
    """What one round works with and collects."""

    def __init__(self, source, cursor: Cursor, policy: ConflictPolicy, carry: dict):
        self.source = source
        self.cursor = cursor
        self.policy = policy
        self.carry = carry
        self.adds: dict = {}
        #: Server ids to send before anything else (conflicts the device must hear of).
        self.priority: list = []
        self.notes: list = []

    def urgent(self, server_id: str) -> None:
        if server_id not in self.priority:
            self.priority.append(server_id)


@implementer(ISyncAdapter)
class SyncAdapter:
    """``ISyncAdapter`` over any ``IStore``.

    Args:
        store: the ``IStore`` whose mail, collections and device registry it uses.
        max_lanes: how many lanes a device keeps per source (``smsync.sync.lanes``).
    """

    def __init__(self, store, max_lanes: int = lanes.MAX_LANES):
        self._store = store
        self._max_lanes = max_lanes
        # Two rounds of one device on one source at once (a client that sends a second
        # request before the first is answered) must not interleave their state updates.
        self._locks: dict = {}

    @deferred
    async def sync(self, account, device_id, source, sync_key, client_changes=(), window=100,
                   deletes_as_moves=False, lane=None):
        """See ``ISyncAdapter.sync`` (``lane`` too).

        Extra argument ``deletes_as_moves`` (mail sources only, EAS's DeletesAsMoves):
        a deleted message is moved to the account's Trash folder instead of removed
        (removed anyway when the source is Trash or there is none).

        Raises (as failures of the Deferred):
            NotFound: no such device, folder or collection.
            SyncTokenInvalid: ``sync_key`` was not issued for this device and source, or
                the source was re-created (new UIDVALIDITY) since.
            InvalidData: malformed arguments (not a ``SourceRef``, negative window...).
        """
        client_changes = tuple(client_changes)
        if not isinstance(source, SourceRef):
            raise InvalidData("source must be a SourceRef")
        if not isinstance(sync_key, str) or not sync_key:
            raise InvalidData("sync key must be a non-empty string")
        if not isinstance(window, int) or isinstance(window, bool) or window < 0:
            raise InvalidData("window must be an integer >= 0")
        if not all(isinstance(c, ClientChange) for c in client_changes):
            raise InvalidData("client changes must be ClientChange values")
        lane = lanes.check(lane)
        account = account.lower()
        device = await self._store.devices.get(account, device_id)
        lock = self._locks.setdefault((account, device_id, source), DeferredLock())
        async with lock:
            try:
                return await self._atomically(account, device, source, sync_key,
                                              client_changes, window, deletes_as_moves, lane)
            finally:
                if not lock.waiting:
                    self._locks.pop((account, device_id, source), None)

    @deferred
    async def estimate(self, account, device_id, source, sync_key, lane=None):
        """How many changes the device holding ``sync_key`` for ``source`` (in ``lane``)
        has not got yet (EAS GetItemEstimate): the count the next rounds would send, read
        without changing the device's state (nor the lanes' order).

        Raises (as failures of the Deferred):
            NotFound: no such device, folder or collection.
            SyncTokenInvalid: ``sync_key`` is not the device's current key for ``source``
                (a key of ``"0"`` included: there is nothing to estimate before the
                first round).
        """
        if not isinstance(source, SourceRef):
            raise InvalidData("source must be a SourceRef")
        lane = lanes.check(lane)
        account = account.lower()
        device = await self._store.devices.get(account, device_id)
        src = await self._open(self._store, account, source, False)
        raw = await self._store.devices.load_state(account, device.device_id,
                                                   lanes.lane_key(source.kind, source.id, lane))
        state = SyncState.from_bytes(raw) if raw else None
        if state is None or sync_key != state.key or state.uidvalidity != src.validity:
            raise SyncTokenInvalid(f"sync key {sync_key!r} is not the current one")
        cursor = state.cursor
        log = await src.changes(cursor.base)
        in_log = {e.server_id for e in log.changed}.union(log.deleted)
        count = sum(1 for sid in log.deleted if sid in cursor.known)
        count += sum(1 for e in log.changed if not cursor.has(e.server_id, e.revision))
        count += len(cursor.stale - in_log)
        if cursor.scan is not None:
            # The rest of a mail initial sync's walk by UID.
            count += await src.count_after(cursor.scan, cursor.known)
        return count

    @deferred
    async def moved(self, account, device_id, source, server_id, dest, dest_server_id, lane=None):
        """Record that the device itself moved ``server_id`` of ``source`` to
        ``dest_server_id`` of ``dest`` (EAS MoveItems): its next rounds (in ``lane`` of
        each) send neither a delete from the source nor an add to the destination.
        Sources the device never synced are left alone."""
        lane = lanes.check(lane)
        account = account.lower()
        for ref, forget, hold in ((source, server_id, None), (dest, None, dest_server_id)):
            lock = self._locks.setdefault((account, device_id, ref), DeferredLock())
            async with lock:
                try:
                    await self._note(account, device_id, ref, forget, hold, lane)
                finally:
                    if not lock.waiting:
                        self._locks.pop((account, device_id, ref), None)

    @deferred
    async def hold(self, account, device_id, source, server_ids, lane=None):
        """Record that the device already holds ``server_ids`` of ``source`` as they are
        now (SyncML's slow sync matched them to items the device sent): its next rounds
        (in ``lane``) do not send them. Items that no longer exist are skipped; a source
        the device never synced is left alone. Fires with the number of items recorded."""
        lane = lanes.check(lane)
        account = account.lower()
        lock = self._locks.setdefault((account, device_id, source), DeferredLock())
        async with lock:
            try:
                devices = self._store.devices
                key = lanes.lane_key(source.kind, source.id, lane)
                raw = await devices.load_state(account, device_id, key)
                state = SyncState.from_bytes(raw) if raw else None
                if state is None:
                    return 0
                src = await self._open(self._store, account, source, False)
                wanted = list(server_ids)
                entries = await src.reread(wanted) if wanted else {}
                held = 0
                for server_id, change in entries.items():
                    info = change.item.info if change.item is not None else None
                    revision = info.revision if info is not None else None
                    if revision is None:
                        current = await src.lookup(server_id)
                        if current is None:
                            continue
                        revision = current.revision
                    state.cursor.hold(server_id, revision)
                    held += 1
                await devices.save_states(account, device_id, {key: state.to_bytes()})
                return held
            finally:
                if not lock.waiting:
                    self._locks.pop((account, device_id, source), None)

    async def _note(self, account, device_id, ref, forget, hold, lane) -> None:
        devices = self._store.devices
        key = lanes.lane_key(ref.kind, ref.id, lane)
        raw = await devices.load_state(account, device_id, key)
        state = SyncState.from_bytes(raw) if raw else None
        if state is None:
            return
        if forget is not None:
            state.cursor.drop(forget)
        if hold is not None:
            src = await self._open(self._store, account, ref, False)
            current = await src.lookup(hold)
            if current is None:
                return
            state.cursor.hold(hold, current.revision)
        await devices.save_states(account, device_id, {key: state.to_bytes()})

    async def _atomically(self, *round_args) -> SyncResult:
        """Run one round in a store transaction when the store has them."""
        if not IStoreTransactions.providedBy(self._store):
            return await self._sync(self._store, *round_args)
        txn = await self._store.transaction()
        try:
            answer = await self._sync(txn, *round_args)
        except BaseException:
            try:
                await txn.rollback()
            except Exception:
                log.failure("rolling back a failed sync round failed")
            raise
        await txn.commit()
        return answer

    @staticmethod
    async def _open(view, account, source: SourceRef, deletes_as_moves: bool):
        if source.kind == MAIL:
            mail = await view.mail(account)
            return await MailSource.open(mail, source.id, deletes_as_moves)
        collections = await view.collections(account)
        return await CollectionSource.open(collections, source.id)

    async def _sync(self, view, account, device, source, sync_key, client_changes, window,
                    deletes_as_moves, lane) -> SyncResult:
        """The round itself, reading and writing through ``view``: the store, or an open
        ``IStoreTransaction`` of it."""
        devices = view.devices
        src = await self._open(view, account, source, deletes_as_moves)
        key = lanes.lane_key(source.kind, source.id, lane)
        raw = await devices.load_state(account, device.device_id, key)
        state = SyncState.from_bytes(raw) if raw else None
        fp = fingerprint(source, sync_key, client_changes, window, deletes_as_moves)
        carry: dict = {}

        if state is not None and state.retry is not None and sync_key == state.retry.presented:
            if fp == state.retry.fingerprint:
                answer, gone = await self._replayed(src, state.retry.answer)
                values = await self._touch(devices, account, device, source, lane)
                if gone:
                    # Adds of items deleted since, left out of the answer: the device
                    # never gets them, so it must not hear of their deletion either.
                    for server_id in gone:
                        state.cursor.drop(server_id)
                    values[key] = state.to_bytes()
                if values:
                    await devices.save_states(account, device.device_id, values)
                return answer
            # The answer was lost and the device sent a different batch: run it from the
            # state the lost round started from, without storing its adds again.
            state.cursor = state.retry.snapshot.copy()
            carry = state.retry.adds
        if sync_key == "0":
            state = SyncState.fresh(source.kind, src.validity)
        elif state is None or (sync_key != state.key and not (
                state.retry is not None and sync_key == state.retry.presented)):
            raise SyncTokenInvalid(f"sync key {sync_key!r} was not issued for this source")
        if state.uidvalidity != src.validity:
            raise SyncTokenInvalid("the folder was re-created since the last sync")

        if sync_key == "0" and source.kind == MAIL:
            # Everything up to the folder's current MODSEQ reaches the device by a walk
            # over its UIDs (``MailSource.scan``); the log serves only what changes after.
            state.cursor.base = await src.highest()
            state.cursor.scan = 0
        before = state.cursor.copy()
        rnd = _Round(src, state.cursor, device.conflict_policy, carry)
        results = []
        for change in client_changes:
            results.append(await self._apply(rnd, change))
        changes, more = await self._server_changes(rnd, window)

        state.counter += 1
        answer = SyncResult(state.key, results, changes, more)
        state.retry = Retry(sync_key, fp, before, rnd.adds, answer)
        values = await self._touch(devices, account, device, source, lane)
        values[key] = state.to_bytes()
        await devices.save_states(account, device.device_id, values)
        for note in rnd.notes:
            await devices.log(account, device.device_id, note)
        return answer

    async def _touch(self, devices, account, device, source, lane) -> dict:
        """The lanes' list with ``lane`` first, and its evictions (``lanes.touch``)."""
        return await lanes.touch(devices, account, device.device_id, source.kind, source.id,
                                 lane, self._max_lanes)

    @staticmethod
    async def _replayed(src, answer: SyncResult) -> tuple[SyncResult, list]:
        """The kept answer of the last round, to send again, and the adds it leaves out.

        A saved answer names the items it sent without their contents (``Retry``), so
        they are read again here. Nothing has changed since in the usual case (the device
        retries at once), and the answer is then the same. An item changed since is sent
        as it is now, and again next round (the state records the version first sent).
        One deleted since is left out: the device hears of the deletion next round if
        the answer changed it, and not at all if it added it (the second value lists
        those adds, for the caller to forget).
        """
        bare = [c.server_id for c in answer.changes
                if c.op != DELETE and c.message is None and c.item is None]
        if not bare:
            return answer, []
        current = await src.reread(bare)
        changes, gone = [], []
        for c in answer.changes:
            if c.op == DELETE or c.message is not None or c.item is not None:
                changes.append(c)
            elif c.server_id in current:
                changes.append(attrs.evolve(current[c.server_id], op=c.op))
            elif c.op == ADD:
                gone.append(c.server_id)
        return attrs.evolve(answer, changes=changes), gone

    # -----------------------------------------------------------------------------------
    # Client changes

    async def _apply(self, rnd: _Round, change: ClientChange) -> ChangeResult:
        """Apply one client change; errors a client can cause become its status."""
        for _ in range(_RACE_RETRIES):
            try:
                if change.op == ADD:
                    return await self._add(rnd, change)
                return await self._change_or_delete(rnd, change)
            except PreconditionFailed:
                continue  # changed under us between the check and the write: look again
            except SmsyncError as e:
                status = next(s for cls, s in _ERROR_STATUS if isinstance(e, cls))
                return self._refused(rnd, change, status, e)
        return self._refused(rnd, change, SyncStatus.ERROR, SmsyncError("item keeps changing"))

    def _refused(self, rnd: _Round, change: ClientChange, status: SyncStatus, error) -> ChangeResult:
        rnd.notes.append(f"{change.op} {change.server_id or change.client_id}: {status.value}: {error}")
        server_id = change.server_id
        if change.op == CHANGE and server_id is not None:
            # The device now holds a version the server refused: send it the server's.
            rnd.cursor.spoil(server_id)
        elif change.op == DELETE and server_id is not None and server_id in rnd.cursor.known:
            # It deleted its copy; the item stays, so it gets it back as an add.
            rnd.cursor.drop(server_id)
        elif change.op == ADD and isinstance(error, UidConflict):
            server_id = error.existing_name
        return ChangeResult(status, change.client_id, server_id)

    async def _add(self, rnd: _Round, change: ClientChange) -> ChangeResult:
        cid = change.client_id
        if cid is not None and cid in rnd.carry:
            # Stored by the round whose answer was lost: the device sends it again.
            server_id, revision = rnd.carry[cid]
        else:
            server_id, revision = await rnd.source.add(change)
        rnd.cursor.hold(server_id, revision)
        if cid is not None:
            rnd.adds[cid] = [server_id, revision]
        return ChangeResult(SyncStatus.OK, cid, server_id)

    async def _change_or_delete(self, rnd: _Round, change: ClientChange) -> ChangeResult:
        src, cursor, sid = rnd.source, rnd.cursor, change.server_id

        def result(status, copy=None):
            return ChangeResult(status, change.client_id, sid, copy)

        if sid is None or sid not in cursor.known:
            # A device can only change what it was given.
            return result(SyncStatus.NOT_FOUND)
        current = await src.lookup(sid)

        if current is None:  # the server deleted it
            if change.op == DELETE:
                cursor.drop(sid)
                return result(SyncStatus.OK)
            rnd.urgent(sid)
            if rnd.policy == ConflictPolicy.SERVER_WINS:
                rnd.notes.append(f"change {sid}: deleted on the server; server won")
                return result(SyncStatus.CONFLICT_SERVER_WON)
            revision = await src.recreate(sid, change)  # NotFound for mail
            cursor.hold(sid, revision)
            return result(SyncStatus.CONFLICT_CLIENT_WON)

        conflict = not cursor.has(sid, current.revision)
        if conflict:
            rnd.notes.append(f"{change.op} {sid}: changed on the server too; {rnd.policy.value}")

        if change.op == DELETE:
            if conflict and rnd.policy != ConflictPolicy.CLIENT_WINS:
                # The server's newer version survives; the device deleted its copy, so
                # it gets the item again as an add.
                cursor.drop(sid)
                rnd.urgent(sid)
                return result(SyncStatus.CONFLICT_SERVER_WON)
            await src.delete(sid, current)
            cursor.drop(sid)
            return result(SyncStatus.CONFLICT_CLIENT_WON if conflict else SyncStatus.OK)

        if src.satisfied(current, change):
            if src.kind != MAIL:
                # Same content as the server's: the device holds the current version.
                cursor.hold(sid, current.revision)
            # For mail the device may still lack other flag changes: left pending.
            return result(SyncStatus.OK)
        if not conflict:
            revision = await src.change(sid, current, change)
            if revision is not None:
                cursor.hold(sid, revision)
            return result(SyncStatus.OK)
        if rnd.policy == ConflictPolicy.SERVER_WINS:
            rnd.urgent(sid)
            return result(SyncStatus.CONFLICT_SERVER_WON)
        if rnd.policy == ConflictPolicy.CLIENT_WINS or src.kind == MAIL:
            # Mail flag changes are deltas: applied over the server's flags they merge
            # both sides, which is all "keep both" can mean for flags.
            revision = await src.change(sid, current, change)
            if src.kind == MAIL:
                rnd.urgent(sid)  # the merged flags differ from both sides' views
            elif revision is not None:
                cursor.hold(sid, revision)
            return result(SyncStatus.CONFLICT_CLIENT_WON)
        # A round run again after a lost answer must not copy twice. The NUL prefix
        # keeps these apart from client ids, which protocols take from text.
        carry_key = "\0copy:" + sid + ":" + hashlib.sha256(change.content or b"").hexdigest()
        if carry_key in rnd.carry:
            copy_id, copy_rev = rnd.carry[carry_key]
        else:
            copy_id, copy_rev = await src.copy(change, current)
        rnd.adds[carry_key] = [copy_id, copy_rev]
        # Both versions go to the device: the server's under ``sid`` (pending, it never
        # had it) and its own as an add of the copy.
        rnd.urgent(sid)
        rnd.urgent(copy_id)
        return result(SyncStatus.CONFLICT_BOTH_KEPT, copy_id)

    # -----------------------------------------------------------------------------------
    # Server changes

    async def _server_changes(self, rnd: _Round, window: int):
        """Pick at most ``window`` changes the device does not hold, record them as held
        and move ``base`` as far as is safe. Returns (changes, more_available)."""
        src, cursor = rnd.source, rnd.cursor
        # Enough of the log to fill the window even if the items the device already
        # holds (``seen``) and this round's conflicts come first.
        log = await src.changes(cursor.base, window + len(cursor.seen) + len(rnd.priority) + 1)
        deletes = [sid for sid in log.deleted if sid in cursor.known]
        pending = [e for e in log.changed if not cursor.has(e.server_id, e.revision)]
        in_log = {e.server_id for e in log.changed}.union(log.deleted)
        for sid in sorted(cursor.stale - in_log):
            # Refused changes of items the log does not list (unchanged since ``base``).
            current = await src.lookup(sid)
            if current is None:
                deletes.append(sid)
            else:
                pending.append(Entry(sid, current.revision, current.payload))

        urgent = {sid: i for i, sid in enumerate(rnd.priority)}
        last = len(urgent)
        deletes.sort(key=lambda sid: (urgent.get(sid, last), _order(sid)))
        pending.sort(key=lambda e: (urgent.get(e.server_id, last), e.revision, _order(e.server_id)))
        # Deletes first: until all are sent ``base`` cannot move (a tombstone carries no
        # revision), except urgent changes, which the device must see this round.
        first = [e for e in pending if e.server_id in urgent]
        rest = [e for e in pending if e.server_id not in urgent]
        queue = [("u", e) for e in first] + [("d", sid) for sid in deletes] + [("c", e) for e in rest]
        now, later = queue[:window], queue[window:]

        out: list[ServerChange] = []
        unsent = [e for what, e in later if what != "d"]
        fetched = {
            entry.server_id: (entry, change)
            for entry, change in await src.fetch([e for what, e in now if what != "d"], cursor.known)
        }
        for what, x in now:
            if what == "d":
                cursor.drop(x)
                out.append(ServerChange(DELETE, x))
            elif x.server_id in fetched:
                entry, change = fetched[x.server_id]
                cursor.hold(entry.server_id, entry.revision)
                out.append(change)
            else:
                unsent.append(x)  # deleted meanwhile: reported as such next round
        if any(what == "d" for what, _ in later):
            pass  # tombstones carry no revision: ``base`` stays until all are sent
        elif unsent:
            cursor.advance(min(e.revision for e in unsent) - 1)
        else:
            cursor.advance(log.revision)
        more = bool(later) or bool(unsent) or log.truncated

        if cursor.scan is not None:
            # A mail initial sync walking the folder by UID fills the rest of the window.
            room = window - len(out)
            if room > 0:
                entries, last, done = await src.scan(cursor.scan, room, cursor.known)
                for entry, change in await src.fetch(entries, cursor.known):
                    cursor.hold(entry.server_id, entry.revision)
                    out.append(change)
                cursor.scan = None if done else last
            more = more or cursor.scan is not None
        return out, more
