"""SEARCH evaluation over a folder: every RFC 3501 key, CONDSTORE MODSEQ, WITHIN,
OBJECTID's EMAILID and THREADID, SAVEDATE's SAVED* keys; and the order SORT puts the
matches in.

Keys are answered from what the store keeps per message -- ``MessageInfo`` (flags,
dates, size, modseq) and the ``MessageStructure`` computed at delivery (decoded From,
To, Cc, Bcc, Subject, Date) -- and message bytes are read only for HEADER, BODY and TEXT,
and then only for the candidates the cheaper keys left.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import partial
from typing import Optional

from smsync.model import UIDSet
from smsync.protocols.imap import bodyreads, messagecache, objectid, sections
from smsync.protocols.imap.searchkeys import SearchKey
from smsync.protocols.imap.searchmatch import compile_key, uses_seq
from smsync.protocols.imap.sort_thread import sort_messages
from smsync.sync.reads import read_ranges

SUPPORTED_CHARSETS = frozenset({"UTF-8", "US-ASCII", "UTF8", "ASCII"})
_BATCH = 1000
_STRUCT_KEYS = frozenset(
    {"FROM", "TO", "CC", "BCC", "SUBJECT", "SENTBEFORE", "SENTON", "SENTSINCE", "EMAILID", "THREADID"}
)
_TEXT_KEYS = frozenset({"HEADER", "BODY", "TEXT"})


class BadCharset(Exception):
    """SEARCH CHARSET names a charset we do not search in."""


def _decode(key: SearchKey) -> SearchKey:
    """Search strings as case-folded str (UTF-8 with invalid bytes kept as Latin-1)."""
    op = key.op
    if op in ("AND", "OR", "NOT"):
        return SearchKey(op, tuple(_decode(k) for k in key.args))
    if op in ("FROM", "TO", "CC", "BCC", "SUBJECT", "BODY", "TEXT"):
        return SearchKey(op, (_text(key.args[0]),))
    if op == "HEADER":
        return SearchKey(op, (key.args[0].lower(), _text(key.args[1])))
    if op == "FLAG":
        return SearchKey(op, (key.args[0].lower(),))
    return key


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8").casefold()
    except UnicodeDecodeError:
        return raw.decode("latin-1").casefold()


def _needs(key: SearchKey, out: set) -> set:
    if key.op in ("AND", "OR", "NOT"):
        for k in key.args:
            _needs(k, out)
    elif key.op in _STRUCT_KEYS:
        out.add("structure")
        if key.op in ("EMAILID", "THREADID"):
            out.add("digest")
    elif key.op == "HEADER":
        out.update(("structure", "header"))
    elif key.op in ("BODY", "TEXT"):
        out.update(("structure", "text"))
    return out


class _Doc:
    """The parts of a message's text a HEADER/BODY/TEXT key looks at."""

    __slots__ = ("fields", "header_text", "body")

    def __init__(self, fields, header_text: str, body: str):
        self.fields, self.header_text, self.body = fields, header_text, body


def _text_parts(st) -> list:
    """The leaf parts of a message whose decoded text BODY and TEXT search."""
    return [
        part
        for part in st.parts()
        if not part.children and part.message is None
        and part.type in ("text", "message", "application")
    ]


def _doc_ranges(uid: int, st, want_text: bool) -> list[tuple[int, int, int]]:
    """The byte ranges a HEADER/BODY/TEXT key reads of one message: its header block,
    then (with ``want_text``) each text part's content."""
    ranges = [(uid, 0, st.root.header_end)]
    if want_text:
        ranges += [(uid, p.header_end, p.body_end - p.header_end) for p in _text_parts(st)]
    return ranges


def _make_doc(st, header: bytes, texts: list[bytes]) -> _Doc:
    """The searchable document of a message from the bytes ``_doc_ranges`` named."""
    from smsync.formats.headers import decode_text, decode_words, parse_header_fields

    fields = parse_header_fields(header)
    # HEADER matches a field's value as sent and with its RFC 2047 encoded words decoded
    # (a client searching Subject for "café" finds "=?utf-8?q?caf=C3=A9?=").
    fields += [(n, decoded) for n, v in fields if "=?" in v and (decoded := decode_words(v)) != v]
    decoded = []
    for part, raw in zip(_text_parts(st), texts):
        try:
            data = sections.decode_transfer(raw, part.encoding)
        except sections.UnknownEncoding:
            data = raw
        charset = part.param("charset") or "utf-8"
        try:
            decoded.append(data.decode(charset, "replace"))
        except LookupError:
            decoded.append(decode_text(data))
    header_text = " ".join(f"{n}: {v}" for n, v in fields)
    return _Doc(fields, header_text.casefold(), "\n".join(decoded).casefold())


async def _load_docs(mailbox, candidates: list, want_text: bool) -> list[Optional[_Doc]]:
    """The documents of ``candidates`` (``(MessageInfo, structure)``) read with one
    ``read_ranges`` call; None for a message gone from the store meanwhile."""
    ranges: list[tuple[int, int, int]] = []
    spans = []
    for m, st in candidates:
        mine = _doc_ranges(m.uid, st, want_text)
        spans.append((len(ranges), len(mine)))
        ranges += mine
    data = await read_ranges(mailbox, ranges)
    docs: list[Optional[_Doc]] = []
    for (_, st), (first, count) in zip(candidates, spans):
        got = data[first : first + count]
        if any(d is None for d in got):
            docs.append(None)
        else:
            docs.append(_make_doc(st, got[0], got[1:] if want_text else []))
    return docs


def _doc_cost(want_text: bool):
    return lambda c: sum(r[2] for r in _doc_ranges(c[0].uid, c[1], want_text))


async def search(sel, key: SearchKey, charset: Optional[str], saved: list[int]) -> list[tuple[int, int]]:
    """(seq, uid), ascending, of every message of the selected folder ``sel`` matching
    ``key``.

    Keys are tried cheapest first: metadata keys before structures are loaded (only for
    the messages they leave), structure keys before any message text is read, which is
    then read a group of messages per store call.

    Raises:
        BadCharset: ``charset`` is not one we search in.
    """
    if charset is not None and charset.upper() not in SUPPORTED_CHARSETS:
        raise BadCharset(charset)
    key = _decode(key)
    needs = _needs(key, set())
    want_doc = "header" in needs or "text" in needs
    uids = list(sel.uids)
    compiler = partial(compile_key, exists=len(uids), top_uid=uids[-1] if uids else 0,
                       saved=set(saved), now=datetime.now(timezone.utc), recent=sel.recent or ())
    match = compiler(key)
    # Pre-filters: the key with what is not loaded yet relaxed to "could match".
    metadata_key = _relax(key, True, _STRUCT_KEYS | _TEXT_KEYS)
    without_structure = compiler(metadata_key)
    without_text = compiler(_relax(key, True, _TEXT_KEYS))
    # Sequence numbers only for the keys that look at them; else for the matches only.
    seq_of = sel.seq_of if uses_seq(key) else (lambda uid: 0)
    found = []
    for i in range(0, len(uids), _BATCH):
        batch = uids[i : i + _BATCH]
        infos = await sel.mailbox.messages(UIDSet.of(batch))
        if not needs:
            found += [m.uid for m in _filter(infos, match, key, seq_of)]
            continue
        infos = _filter(infos, without_structure, metadata_key, seq_of)
        structures = await messagecache.structures(sel, [m.uid for m in infos]) if infos else {}
        if "digest" in needs:
            structures = await objectid.with_digests(sel.mailbox, structures)
        candidates = []
        for m in infos:
            st = structures.get(m.uid)
            if not want_doc or st is None:
                if match(seq_of(m.uid), m, st, None):
                    found.append(m.uid)
            elif without_text(seq_of(m.uid), m, st, None):
                candidates.append((m, st))
        for group in bodyreads.plan_groups(candidates, _doc_cost("text" in needs)):
            docs = await _load_docs(sel.mailbox, group, "text" in needs)
            for (m, st), doc in zip(group, docs):
                if doc is not None and match(seq_of(m.uid), m, st, doc):
                    found.append(m.uid)
    found = [(sel.seq_of(uid), uid) for uid in found]
    found.sort()
    return found


async def sort(sel, found: list[tuple[int, int]], criteria) -> list[tuple[int, int]]:
    """``found`` ((seq, uid) pairs, as ``search`` gives them) in the order of SORT
    ``criteria`` ((reverse, key) pairs; RFC 5256, ties by sequence number). A message
    gone from the store meanwhile is left out."""
    if not found:
        return []
    uid_of = {seq: uid for seq, uid in found}
    seq_of = {uid: seq for seq, uid in found}
    infos = await sel.mailbox.messages(UIDSet.of(list(seq_of)))
    structures = await sel.mailbox.structures([m.uid for m in infos]) if infos else {}
    items = [(seq_of[m.uid], m, structures.get(m.uid)) for m in infos if m.uid in seq_of]
    return [(seq, uid_of[seq]) for seq in sort_messages(items, criteria)]


def _flags_only(key: SearchKey) -> bool:
    """Whether ``key`` looks at nothing but a message's flags."""
    if key.op in ("AND", "OR", "NOT"):
        return all(_flags_only(k) for k in key.args)
    return key.op in ("FLAG", "ALL", "NONE")


def _filter(infos: list, predicate, key: SearchKey, seq_of) -> list:
    """Those of ``infos`` that ``predicate`` (compiled from ``key``, given no structure
    or text) holds for, in order."""
    if not _flags_only(key):
        return [m for m in infos if predicate(seq_of(m.uid), m, None, None)]
    # UNSEEN, FLAGGED...: decided once per distinct flag set rather than per message
    # (a folder has few distinct sets, and stores share the set objects).
    verdicts: dict = {}
    out = []
    for m in infos:
        flags = m.flags
        verdict = verdicts.get(flags)
        if verdict is None:
            verdict = verdicts[flags] = predicate(0, m, None, None)
        if verdict:
            out.append(m)
    return out


def _relax(key: SearchKey, positive: bool, ops: frozenset) -> SearchKey:
    """``key`` with the keys named in ``ops`` replaced by ALL where that can only widen
    the match (under an even number of NOTs; NONE under an odd number), so it is a safe
    pre-filter for when what those keys look at is not loaded yet."""
    if key.op in ("AND", "OR"):
        return SearchKey(key.op, tuple(_relax(k, positive, ops) for k in key.args))
    if key.op == "NOT":
        return SearchKey("NOT", (_relax(key.args[0], not positive, ops),))
    if key.op in ops:
        return SearchKey("ALL" if positive else "NONE")
    return key
