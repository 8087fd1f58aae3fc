"""The selected mailbox as one session sees it: message sequence numbers and what the
client has been told.

A session's view lags the store on purpose: RFC 3501 lets messages disappear from a
client's numbering only at points it allows. ``sync`` catches the view up from the
store's change log (``IMailbox.changes_since``) and says what changed.
"""

from __future__ import annotations

import bisect
from array import array
from typing import Iterable, Optional

from smsync.model import SYSTEM_FLAGS
from smsync.protocols.imap import encode
from smsync.protocols.imap.recent import RecentMarks
from smsync.protocols.imap.syntax import SeqSet

_RECENT = frozenset({"\\Recent"})


class SelectedMailbox:
    """UIDs in sequence order plus the modseq up to which the client knows the folder."""

    # Slots: 10,000 idle sessions each hold one, and an instance dict of this many
    # attributes costs more than the rest of the object.
    __slots__ = ("mailbox", "id", "name", "uidvalidity", "readonly", "uids", "modseq",
                 "pending_expunge", "own", "dirty", "condstore", "marks", "recent", "keywords",
                 "contexts", "own_new", "cache_prefix")

    def __init__(self, mailbox, info, uids: Iterable[int], readonly: bool, store_key: str = ""):
        self.mailbox = mailbox
        #: What names this folder's messages in the process's ``messagecache``: a UID
        #: of one UIDVALIDITY is one message forever, but a folder id is only promised
        #: stable, so the store and the account are part of the name.
        self.cache_prefix = (store_key, getattr(mailbox, "account", None), info.id, info.uidvalidity)
        self.id = info.id
        self.name = info.name
        self.uidvalidity = info.uidvalidity
        self.readonly = readonly
        # UIDs are 32-bit: an array costs 4 bytes a message where a list costs 8, which
        # matters with thousands of idle sessions on big folders.
        self.uids = array("I", uids)
        self.modseq = info.highestmodseq
        #: Expunged in the store but not yet announced: still numbered for the client.
        self.pending_expunge: set[int] = set()
        #: uid -> modseq of flag changes this session made and already reported.
        self.own: dict[int, int] = {}
        self.dirty = False
        #: Untagged FETCH responses carry MODSEQ (CONDSTORE enabled for this mailbox).
        self.condstore = False
        #: IMAP4rev1 \Recent (``recent.py``): the folder's recent mark, and the UID
        #: intervals ``(after, upto]`` of the messages recent to this session -- a few
        #: pairs, however many messages. None for a session without \Recent (IMAP4rev2).
        self.marks: Optional[RecentMarks] = None
        self.recent: Optional[list[tuple[int, int]]] = None
        #: Keywords the client has been given in a FLAGS response: lower-cased -> as
        #: spelled. SELECT names the system flags only, so a folder's keywords are
        #: announced when a FETCH response first carries them, not found by a scan.
        self.keywords: dict[str, str] = {}
        #: Searches kept up to date (RFC 5267 RETURN (UPDATE), ``contexts.Contexts``),
        #: made on the first; they end with the selection.
        self.contexts = None
        #: UIDs this session put here itself (APPEND, COPY) not yet announced; made
        #: when there are some (an idle session keeps no empty set).
        self.own_new: Optional[set[int]] = None

    def announce(self, conn, flags) -> None:
        """RFC 3501 7.2.6: a FETCH response may carry only flags the client has been
        given in FLAGS. Before one carries a keyword new to this session, send FLAGS
        with it (and, read-write, PERMANENTFLAGS, where "\\*" says more may come)."""
        new = [f for f in flags if f[:1] != "\\" and f.lower() not in self.keywords]
        if not new:
            return
        for f in new:
            self.keywords[f.lower()] = f
        defined = SYSTEM_FLAGS + tuple(self.keywords.values())
        conn.untagged(b"FLAGS " + encode.flags(defined))
        if not self.readonly:
            conn.untagged(b"OK [PERMANENTFLAGS " + encode.flags(defined + ("\\*",)) + b"] flags permitted")

    async def take_recent(self, uids, mark: Optional[int] = None) -> None:
        """Learn which of ``uids`` (ascending, just added to the view) are recent to this
        session: claimed from the folder's mark, or only looked at when read-only
        (RFC 3501 6.3.2: EXAMINE does not take \\Recent from others). ``mark``: the
        folder's mark as just read with its info, if known -- when no UID lies above it
        there is nothing to claim and the store is not asked."""
        if self.marks is None or not len(uids):
            return
        top = uids[-1]
        if mark is not None and mark >= top:
            return
        before = await (self.marks.peek() if self.readonly else self.marks.claim(top))
        if before >= top:
            return
        spans = sorted(self.recent + [(before, top)])
        merged = [spans[0]]
        for lo, hi in spans[1:]:
            if lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
            else:
                merged.append((lo, hi))
        self.recent = merged

    def note_own_new(self, uids) -> None:
        """This session just put ``uids`` here itself (APPEND, COPY, MOVE)."""
        if self.own_new is None:
            self.own_new = set()
        self.own_new.update(uids)

    def take_own_new(self, uids) -> list[int]:
        """``uids`` (just announced) less those this session added itself: RFC 5465 5.2,
        the server "SHOULD NOT" send NOTIFY's FETCH for a client's own APPEND or COPY."""
        if not self.own_new:
            return list(uids)
        out = [u for u in uids if u not in self.own_new]
        self.own_new.difference_update(uids)
        if not self.own_new:
            self.own_new = None
        return out

    def is_recent(self, uid: int) -> bool:
        return bool(self.recent) and any(lo < uid <= hi for lo, hi in self.recent)

    @property
    def recent_count(self) -> int:
        """The messages of the view recent to this session (the RECENT response)."""
        uids = self.uids
        return sum(bisect.bisect_right(uids, hi) - bisect.bisect_right(uids, lo) for lo, hi in self.recent or ())

    def drop_recent(self) -> None:
        """The session turned IMAP4rev2 on: no more \\Recent."""
        self.marks = None
        self.recent = None

    def flags_of(self, info):
        """The flags a FETCH response gives ``info``'s message: its own, and \\Recent
        when it is recent to this session."""
        if self.recent and self.is_recent(info.uid):
            return info.flags | _RECENT
        return info.flags

    @property
    def exists(self) -> int:
        return len(self.uids)

    def seq_of(self, uid: int) -> Optional[int]:
        i = bisect.bisect_left(self.uids, uid)
        if i < len(self.uids) and self.uids[i] == uid:
            return i + 1
        return None

    def resolve(self, seqset: SeqSet, uid_mode: bool, saved: list[int] = ()) -> list[int]:
        """The UIDs, ascending, that ``seqset`` names (sequence numbers, or UIDs with
        ``uid_mode``); names of messages that do not exist are left out."""
        uids = self.uids
        if seqset.saved:
            present = set(uids)
            return [u for u in saved if u in present]
        if not uids:
            return []
        out: set[int] = set()
        if uid_mode:
            for lo, hi in seqset.resolve(uids[-1]):
                a = bisect.bisect_left(uids, lo)
                b = bisect.bisect_right(uids, hi)
                out.update(uids[a:b])
        else:
            n = len(uids)
            for lo, hi in seqset.resolve(n):
                lo = max(lo, 1)
                hi = min(hi, n)
                if lo <= hi:
                    out.update(uids[lo - 1 : hi])
        return sorted(out)

    def note_own(self, infos) -> None:
        """Remember flag changes this session reported itself, so ``sync`` does not
        announce them twice."""
        if len(self.own) > 50_000:
            self.own.clear()
        for m in infos:
            self.own[m.uid] = m.modseq

    def forget(self, conn, gone: Iterable[int], qresync: bool) -> None:
        """Drop UIDs from the numbering, telling the client (EXPUNGE or VANISHED)."""
        gone = sorted(set(gone))
        positions = [(self.seq_of(u), u) for u in gone]
        positions = [(s, u) for s, u in positions if s is not None]
        if not positions:
            return
        if self.contexts:
            self.contexts.removing(conn, self, {u for _, u in positions})
        if qresync:
            conn.untagged(b"VANISHED " + encode.seq_set(u for _, u in positions))
        else:
            # Highest first, so each number is still right when the client reads it.
            for seq, _ in sorted(positions, reverse=True):
                conn.untagged(b"%d EXPUNGE" % seq)
        dead = {u for _, u in positions}
        if len(dead) > 8:
            self.uids = array("I", (u for u in self.uids if u not in dead))
        else:
            for u in dead:
                i = bisect.bisect_left(self.uids, u)
                del self.uids[i]
        self.pending_expunge -= dead
        for u in dead:
            self.own.pop(u, None)

    async def sync(self, conn, allow_expunge: bool, qresync: bool) -> tuple[list[int], bool]:
        """Catch up with the store and tell the client what changed since last time:
        expunges (when ``allow_expunge``), flag changes made elsewhere, new messages.
        Returns the UIDs of the new messages and whether the folder changed at all."""
        self.dirty = False
        before = self.modseq
        changes = await self.mailbox.changes_since(self.modseq)
        for uid in changes.expunged:
            if self.seq_of(uid) is not None:
                self.pending_expunge.add(uid)
        if allow_expunge and self.pending_expunge:
            self.forget(conn, sorted(self.pending_expunge), qresync)
        last = self.uids[-1] if self.uids else 0
        new = []
        for m in changes.changed:
            if m.uid > last:
                new.append(m.uid)
                continue
            if m.uid in self.pending_expunge or self.own.get(m.uid) == m.modseq:
                continue
            seq = self.seq_of(m.uid)
            if seq is None:
                continue
            conn.untagged(self.flags_response(conn, seq, m, with_uid=True))
        if new:
            self.uids.extend(new)
            conn.untagged(b"%d EXISTS" % len(self.uids))
            if self.recent is not None:
                # EXISTS goes out first: claiming \Recent may be a durable write, and a
                # client waiting in IDLE for new mail must not wait for it (RECENT may
                # follow on its own, RFC 3501 7.3.2).
                conn.flush()
                await self.take_recent(new)
                conn.untagged(b"%d RECENT" % self.recent_count)
        self.modseq = max(self.modseq, changes.highestmodseq)
        if self.pending_expunge:
            # Still to tell at the next point that allows it (a NOOP need not look
            # at the store to find them).
            self.dirty = True
        return new, bool(new) or self.modseq != before or bool(changes.expunged)

    def flags_response(self, conn, seq: int, info, with_uid: bool) -> bytes:
        """The untagged FETCH of ``info``'s flags (announcing a new keyword first)."""
        parts = []
        if with_uid:
            parts.append(b"UID %d" % info.uid)
        shown = self.flags_of(info)
        self.announce(conn, shown)
        parts.append(b"FLAGS " + encode.flags(shown))
        if self.condstore:
            parts.append(b"MODSEQ (%d)" % info.modseq)
        return b"%d FETCH (" % seq + b" ".join(parts) + b")"
