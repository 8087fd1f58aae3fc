"""SEARCH keys compiled into predicates over one message.

``compile_key`` turns a (decoded) ``SearchKey`` tree into a closure
``match(seq, info, structure, doc) -> bool`` once per SEARCH, so that a folder of
thousands of messages is not searched by re-interpreting the tree (comparing op names,
lower-casing every flag) per message: SEARCH is the costliest command of a busy server's
reactor thread otherwise.

``info`` is the message's ``MessageInfo``; ``structure`` its ``MessageStructure`` or
None when it was not loaded (keys that need it then do not match); ``doc`` the
``search._Doc`` of its text or None likewise.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable

from smsync.formats.headers import decode_words
from smsync.model import SYSTEM_FLAGS
from smsync.protocols.imap import objectid

Match = Callable[..., bool]

_SYSTEM = {f.lower(): f for f in SYSTEM_FLAGS}
_ADDRESS_KEYS = {"FROM": "from_", "TO": "to", "CC": "cc", "BCC": "bcc"}


def _true(seq, m, st, doc) -> bool:
    return True


def _false(seq, m, st, doc) -> bool:
    return False


def compile_key(key, exists: int, top_uid: int, saved: set, now: datetime, recent=()) -> Match:
    """The predicate of ``key`` (strings already case-folded, FLAG names lower-cased, as
    ``search._decode`` leaves them) for a folder of ``exists`` messages whose highest
    UID is ``top_uid``; ``saved`` are the SEARCHRES UIDs, ``now`` the time OLDER and
    YOUNGER count from, ``recent`` the UID intervals ``(after, upto]`` of the messages
    that are ``\\Recent`` to the session."""
    return _Compiler(exists, top_uid, saved, now, tuple(recent)).compile(key)


def uses_seq(key) -> bool:
    """Whether ``key`` looks at message sequence numbers (else predicates may be called
    with any ``seq``)."""
    if key.op in ("AND", "OR", "NOT"):
        return any(uses_seq(k) for k in key.args)
    return key.op == "SEQ" and not key.args[0].saved


class _Compiler:
    def __init__(self, exists: int, top_uid: int, saved: set, now: datetime, recent: tuple):
        self.exists, self.top_uid, self.saved, self.now = exists, top_uid, saved, now
        self.recent = recent
        # Flag sets are shared objects (stores reuse them), so lower-casing is done once
        # per distinct set rather than once per message.
        self.lowered: dict[frozenset, frozenset] = {}

    def compile(self, key) -> Match:
        op = key.op
        a = key.args
        if op == "ALL":
            return _true
        if op == "NONE":
            return _false
        if op == "AND":
            # Relaxed pre-filter keys are full of ALLs: fold them away.
            parts = tuple(p for p in (self.compile(k) for k in a) if p is not _true)
            if _false in parts:
                return _false
            if not parts:
                return _true
            if len(parts) == 1:
                return parts[0]
            if len(parts) == 2:
                first, second = parts
                return lambda seq, m, st, doc: first(seq, m, st, doc) and second(seq, m, st, doc)

            def all_of(seq, m, st, doc):
                for part in parts:
                    if not part(seq, m, st, doc):
                        return False
                return True

            return all_of
        if op == "OR":
            left, right = self.compile(a[0]), self.compile(a[1])
            if left is _true or right is _true:
                return _true
            if left is _false or right is _false:
                return right if left is _false else left
            return lambda seq, m, st, doc: left(seq, m, st, doc) or right(seq, m, st, doc)
        if op == "NOT":
            inner = self.compile(a[0])
            if inner is _true or inner is _false:
                return _false if inner is _true else _true
            return lambda seq, m, st, doc: not inner(seq, m, st, doc)
        if op == "FLAG":
            return self._flag(a[0])
        if op == "RECENT":
            spans = self.recent
            if not spans:
                return _false
            return lambda seq, m, st, doc: any(lo < m.uid <= hi for lo, hi in spans)
        if op in ("SEQ", "UID"):
            return self._set(op, a[0])
        if op == "LARGER":
            n = a[0]
            return lambda seq, m, st, doc: m.size > n
        if op == "SMALLER":
            n = a[0]
            return lambda seq, m, st, doc: m.size < n
        if op == "MODSEQ":
            n = a[0]
            return lambda seq, m, st, doc: m.modseq >= n
        if op in ("BEFORE", "ON", "SINCE"):
            cmp = _day_cmp(op, a[0].date())
            return lambda seq, m, st, doc: cmp(m.internal_date.date())
        if op in ("SAVEDBEFORE", "SAVEDON", "SAVEDSINCE"):
            # RFC 8514 4.3: BEFORE, ON and SINCE of the day of the save date.
            cmp = _day_cmp(op[5:], a[0].date())
            return lambda seq, m, st, doc: cmp(m.saved_date.date())
        if op == "EMAILID":
            wanted = a[0]
            return lambda seq, m, st, doc: st is not None and st.digest is not None and objectid.email_id(st) == wanted
        if op == "THREADID":
            wanted = a[0]
            return lambda seq, m, st, doc: st is not None and st.digest is not None and objectid.thread_id(st) == wanted
        if op == "OLDER":
            limit = self.now - timedelta(seconds=a[0])
            return lambda seq, m, st, doc: m.internal_date <= limit
        if op == "YOUNGER":
            limit = self.now - timedelta(seconds=a[0])
            return lambda seq, m, st, doc: m.internal_date >= limit
        if op in ("SENTBEFORE", "SENTON", "SENTSINCE"):
            # The Date: header's day only: a message without one has no sent date and
            # matches none of them (its internal date is another key's business).
            cmp = _day_cmp(op[4:], a[0].date())
            return lambda seq, m, st, doc: st is not None and st.date is not None and cmp(st.date.date())
        if op in _ADDRESS_KEYS:
            attr, needle = _ADDRESS_KEYS[op], a[0]
            return lambda seq, m, st, doc: st is not None and needle in _address_text(getattr(st.envelope, attr))
        if op == "SUBJECT":
            needle = a[0]
            return lambda seq, m, st, doc: st is not None and needle in (st.subject or "").casefold()
        if op == "HEADER":
            name, needle = a
            return lambda seq, m, st, doc: doc is not None and any(
                n == name and needle in v.casefold() for n, v in doc.fields
            )
        if op == "BODY":
            needle = a[0]
            return lambda seq, m, st, doc: doc is not None and needle in doc.body
        if op == "TEXT":
            needle = a[0]
            return lambda seq, m, st, doc: doc is not None and (needle in doc.body or needle in doc.header_text)
        return _false

    def _flag(self, name: str) -> Match:
        canonical = _SYSTEM.get(name)
        if canonical is not None:
            # Stores keep system flags in their canonical spelling.
            return lambda seq, m, st, doc: canonical in m.flags
        lowered = self.lowered

        def keyword(seq, m, st, doc):
            flags = m.flags
            low = lowered.get(flags)
            if low is None:
                low = lowered[flags] = frozenset(f.lower() for f in flags)
            return name in low

        return keyword

    def _set(self, op: str, seqset) -> Match:
        if seqset.saved:
            saved = self.saved
            return lambda seq, m, st, doc: m.uid in saved
        ranges = tuple(seqset.resolve(self.exists if op == "SEQ" else self.top_uid))
        if op == "SEQ":
            return lambda seq, m, st, doc: any(lo <= seq <= hi for lo, hi in ranges)
        return lambda seq, m, st, doc: any(lo <= m.uid <= hi for lo, hi in ranges)


def _address_text(addresses) -> str:
    """What FROM, TO, CC and BCC search (RFC 3501 6.4.4: "the envelope structure's
    FROM field"): each address of the envelope as ``name <mailbox@host>`` (the name's
    encoded words decoded), a group by its name, case-folded. Comments are no part of
    an address, so they are not searched."""
    parts = []
    for address in addresses:
        if address.is_group_start:
            parts.append(address.mailbox)
        elif address.email is not None:
            name = decode_words(address.name).strip() if address.name else ""
            parts.append(f"{name} <{address.email}>" if name else address.email)
    return ", ".join(parts).casefold()


def _day_cmp(op: str, key_day):
    if op == "BEFORE":
        return lambda day: day < key_day
    if op == "ON":
        return lambda day: day == key_day
    return lambda day: day >= key_day
