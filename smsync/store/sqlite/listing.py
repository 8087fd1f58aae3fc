"""Folder listings (``IMailbox.messages``) of a ``sqlite:`` store, kept current from the
change log instead of being re-read whole.

Building the ``MessageInfo`` of every message of a 100,000-message folder costs a few
hundred milliseconds (a row fetch and two datetimes each), and IMAP asks for exactly
that on SELECT and on every ``UID FETCH 1:* (FLAGS)``. So each process keeps the listing
of its biggest recently listed folders, stamped with the folder's MODSEQ, and brings it
up to date from the rows whose modseq is above that stamp and the tombstones written
since (both indexed: the same queries as ``changes_since``). That works because every
change to a folder's messages raises the folder's MODSEQ and stamps what it touched
(appends, copies and flag changes stamp rows, expunges leave tombstones). Should
anything ever slip through, the count check below reloads the listing whole.

``MessageInfo`` values are frozen, so listings share them with callers safely; callers
get lists of their own.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from datetime import datetime, timezone

from smsync.errors import InvalidData, NotFound
from smsync.model import MessageInfo, UIDSet
from smsync.store.sql.rows import MESSAGE_INFO_SLOTS as slot_setters
from smsync.store.sqlite.rows import MSG_COLS, flag_sets, flags_of, message_info, select_uids, zone

#: Folders with fewer messages are read whole each time: that is fast enough. Kept
#: low: a busy INBOX of 1,000 messages read whole on every FETCH and SEARCH was most
#: of the CPU of 50 IMAP clients (issue 3 benchmark).
MIN_CACHED = 100
#: Most messages kept over all cached listings (each costs about 250 bytes).
MAX_CACHED = 250_000
_MAX_UID = (1 << 32) - 1


def message_infos(rows, _utc=timezone.utc, _ts=datetime.fromtimestamp) -> list:
    """``MessageInfo`` of each row ``(uid, flags, internal_date, internal_tz, saved_date,
    size, modseq)``, in order. One loop with everything local: this runs 100,000 times
    for a big folder.

    ``rows`` may be a cursor: iterated, it never holds every row tuple at once (tens of
    megabytes for a 100,000-message folder) next to the ``MessageInfo`` values."""
    set_uid, set_flags, set_idate, set_sdate, set_size, set_modseq = slot_setters
    new = object.__new__
    known_flags = flag_sets
    out = []
    append = out.append
    # Messages appended in one commit (and copied or moved together) share their saved
    # date: reusing the previous row's datetime saves a conversion for each of those.
    last_sdate = last_saved = None
    for uid, flags, idate, itz, sdate, size, modseq in rows:
        info = new(MessageInfo)
        set_uid(info, uid)
        flagset = known_flags.get(flags)
        set_flags(info, flagset if flagset is not None else flags_of(flags))
        set_idate(info, _ts(idate, _utc if not itz else zone(itz)))
        if sdate != last_sdate:
            last_sdate, last_saved = sdate, _ts(sdate, _utc)
        set_sdate(info, last_saved)
        set_size(info, size)
        set_modseq(info, modseq)
        append(info)
    return out


class _Listing:
    __slots__ = ("modseq", "uids", "infos")

    def __init__(self, modseq: int, infos: list):
        self.modseq = modseq
        self.infos = infos
        self.uids = [info.uid for info in infos]


class Listings:
    """The per-process listing cache. Thread-safe: reader threads share it."""

    def __init__(self, min_cached: int | None = None, max_cached: int | None = None):
        self.min_cached = MIN_CACHED if min_cached is None else min_cached
        self.max_cached = MAX_CACHED if max_cached is None else max_cached
        self._lock = threading.Lock()
        self._cached: OrderedDict[str, _Listing] = OrderedDict()
        self._size = 0
        #: How listings were answered (for tests and benchmarks): full reads, patches.
        self.full_reads = 0
        self.patches = 0

    def messages(self, conn, pk: int, uids) -> list:
        """``MessageInfo`` of folder ``pk``'s messages in ``uids`` (a ``UIDSet``; None for
        all), ascending, as of the read transaction open on ``conn``. ``NotFound`` if the
        folder is gone."""
        if uids is not None and not isinstance(uids, UIDSet):
            raise InvalidData("UID sets must be smsync.model.UIDSet values")
        fid, modseq, exists = _folder(conn, pk)
        listing = self._current(conn, pk, fid, modseq, exists)
        if uids is None:
            return list(listing.infos)
        return _select(listing, uids)

    def cached_uids(self, conn, pk: int):
        """The UIDs of folder ``pk``, ascending, from its listing brought up to date, or
        None when no listing of it is cached (reading the UIDs alone is then cheaper than
        building one). ``NotFound`` if the folder is gone."""
        fid, modseq, exists = _folder(conn, pk)
        with self._lock:
            if fid not in self._cached:
                return None
        # IMAP asks for the UIDs on every SELECT: a copy of a list, not a 1,000-row read.
        return list(self._current(conn, pk, fid, modseq, exists).uids)

    def _current(self, conn, pk, fid, modseq, exists) -> _Listing:
        with self._lock:
            cached = self._cached.get(fid)
            if cached is not None:
                self._cached.move_to_end(fid)
        if cached is not None and cached.modseq == modseq:
            return cached
        listing = None
        if cached is not None and cached.modseq < modseq:
            listing = _patched(conn, pk, cached, modseq, exists)
        if listing is None:
            rows = conn.execute(
                f"SELECT {MSG_COLS} FROM messages WHERE folder_id = ? ORDER BY uid", (pk,)
            )
            listing = _Listing(modseq, message_infos(rows))
            self.full_reads += 1
        else:
            self.patches += 1
        if len(listing.uids) >= self.min_cached:
            self._keep(fid, listing)
        return listing

    def _keep(self, fid: str, listing: _Listing) -> None:
        with self._lock:
            old = self._cached.get(fid)
            # A reader on an older snapshot must not replace a newer listing.
            if old is not None and old.modseq > listing.modseq:
                return
            if old is not None:
                self._size -= len(old.uids)
            self._cached[fid] = listing
            self._cached.move_to_end(fid)
            self._size += len(listing.uids)
            while self._size > self.max_cached and len(self._cached) > 1:
                _, dropped = self._cached.popitem(last=False)
                self._size -= len(dropped.uids)

    def forget(self, fid: str) -> None:
        """Drop a folder's listing (it was deleted)."""
        with self._lock:
            old = self._cached.pop(fid, None)
            if old is not None:
                self._size -= len(old.uids)


class TransactionListings(Listings):
    """The listings a store transaction reads through (``SQLiteStore.transaction_view``).

    A listing built inside a transaction may be of a revision that never commits, so it
    is kept here, with the transaction, never in the process's cache. Reads of a few
    messages -- the sync engine fetches one window of a folder per round, inside a
    transaction -- must not cost a listing of the whole folder, so they are answered
    from a listing already at the transaction's revision of the folder (its own, or the
    process's one: a folder's MODSEQ names one committed state, and the transaction's
    own writes give it a MODSEQ no committed state of the folder has yet) or else read
    by UID from the index.
    """

    def __init__(self, shared: Listings):
        super().__init__()
        self._shared = shared

    def messages(self, conn, pk: int, uids) -> list:
        if uids is None:
            return super().messages(conn, pk, None)
        if not isinstance(uids, UIDSet):
            raise InvalidData("UID sets must be smsync.model.UIDSet values")
        fid, modseq, _ = _folder(conn, pk)
        listing = self._exact(fid, modseq)
        if listing is not None:
            return _select(listing, uids)
        return [message_info(r) for r in select_uids(conn, pk, uids, MSG_COLS)]

    def cached_uids(self, conn, pk: int):
        fid, modseq, _ = _folder(conn, pk)
        listing = self._exact(fid, modseq)
        if listing is not None:
            return list(listing.uids)
        return super().cached_uids(conn, pk)

    def _exact(self, fid: str, modseq: int):
        """A listing of folder ``fid`` at ``modseq`` exactly, or None."""
        for cache in (self, self._shared):
            with cache._lock:
                listing = cache._cached.get(fid)
            if listing is not None and listing.modseq == modseq:
                return listing
        return None


def _folder(conn, pk: int) -> tuple:
    """``(fid, modseq, n_exists)`` of folder ``pk``; ``NotFound`` if it is gone."""
    row = conn.execute("SELECT fid, modseq, n_exists FROM folders WHERE id = ?", (pk,)).fetchone()
    if row is None:
        raise NotFound("folder no longer exists")
    return row


def _patched(conn, pk: int, cached: _Listing, modseq: int, exists: int):
    """``cached`` brought up to ``modseq``, or None when reading whole is as cheap or the
    result does not add up."""
    since = cached.modseq
    changed = conn.execute(
        f"SELECT {MSG_COLS} FROM messages WHERE folder_id = ? AND modseq > ?", (pk, since)
    ).fetchall()
    gone = {
        r[0]
        for r in conn.execute(
            "SELECT uid FROM expunged WHERE folder_id = ? AND modseq > ?", (pk, since)
        )
    }
    if len(changed) + len(gone) > len(cached.uids) // 4 + 100:
        return None
    changed.sort(key=lambda r: r[0])
    uids, infos = list(cached.uids), list(cached.infos)
    for info in message_infos(changed):
        i = bisect_left(uids, info.uid)
        if i < len(uids) and uids[i] == info.uid:
            infos[i] = info
        else:
            # New UIDs are above every existing one, so this appends in all but odd cases.
            uids.insert(i, info.uid)
            infos.insert(i, info)
    if gone:
        infos = [info for info in infos if info.uid not in gone]
    listing = _Listing(modseq, infos)
    if len(listing.uids) != exists:
        return None
    return listing


def _select(listing: _Listing, uids: UIDSet) -> list:
    """The listing's messages whose UIDs are in ``uids``, ascending, each once."""
    if not listing.uids:
        return []
    ranges = sorted(
        (max(1, lo), min(hi, _MAX_UID)) for lo, hi in uids.bounded(listing.uids[-1]) if hi >= 1
    )
    out = []
    upto = 0  # UIDs up to this one are already in ``out``
    for lo, hi in ranges:
        lo = max(lo, upto + 1)
        if lo > hi:
            continue
        start = bisect_left(listing.uids, lo)
        end = bisect_right(listing.uids, hi)
        out.extend(listing.infos[start:end])
        upto = hi
    return out
