"""SEARCH keys (RFC 3501 6.4.4, CONDSTORE MODSEQ, WITHIN, OBJECTID EMAILID/THREADID,
SAVEDATE's SAVED*): their value type and grammar.

Keys are normalised while parsed so that evaluation (``search.py``) deals with few
shapes: flag keys become ``FLAG``/``NOT FLAG``, a list of keys becomes ``AND``.
"""

from __future__ import annotations

import attrs

_FLAG_KEYS = {
    "ANSWERED": "\\Answered",
    "DELETED": "\\Deleted",
    "DRAFT": "\\Draft",
    "FLAGGED": "\\Flagged",
    "SEEN": "\\Seen",
}
_STRING_KEYS = frozenset({"BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"})
_DATE_KEYS = frozenset(
    {"BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE", "SAVEDBEFORE", "SAVEDON", "SAVEDSINCE"}
)
_NUMBER_KEYS = frozenset({"LARGER", "SMALLER", "OLDER", "YOUNGER"})
_MAX_DEPTH = 50


@attrs.frozen
class SearchKey:
    """One search criterion.

    ``op`` is one of: ALL, NONE, AND (args: keys), OR (two keys), NOT (one key),
    RECENT (IMAP4rev1 \\Recent, to the session), FLAG (flag str), SEQ / UID (a SeqSet), BCC BODY CC FROM SUBJECT TEXT TO (bytes),
    HEADER (field str, value bytes), BEFORE ON SINCE SENTBEFORE SENTON SENTSINCE
    SAVEDBEFORE SAVEDON SAVEDSINCE (naive datetime of the day), LARGER SMALLER OLDER
    YOUNGER (int), MODSEQ (int), EMAILID THREADID (the objectid, str).
    """

    op: str
    args: tuple = ()


def parse_search_keys(r) -> SearchKey:
    """Read one or more space-separated keys to the end of the command.

    ``r`` is a ``reader.Reader``; errors are its ``ParseError``.
    """
    keys = [_key(r, 0)]
    while r.maybe_sp():
        keys.append(_key(r, 0))
    return keys[0] if len(keys) == 1 else SearchKey("AND", tuple(keys))


def _key(r, depth: int) -> SearchKey:
    if depth > _MAX_DEPTH:
        r.fail("search keys nested too deeply")
    b = r.peek()
    if b == 0x28:
        r.char(b"(")
        keys = [_key(r, depth + 1)]
        while not r.maybe_char(b")"):
            r.sp()
            keys.append(_key(r, depth + 1))
        return keys[0] if len(keys) == 1 else SearchKey("AND", tuple(keys))
    if b is not None and (0x30 <= b <= 0x39 or b in b"*$"):
        return SearchKey("SEQ", (r.seq_set(),))
    word = r.word()
    if word == "ALL":
        return SearchKey("ALL")
    # RFC 3501 6.4.4: NEW is "(RECENT UNSEEN)", OLD is "NOT RECENT".
    if word == "RECENT":
        return SearchKey("RECENT")
    if word == "NEW":
        return SearchKey("AND", (SearchKey("RECENT"), SearchKey("NOT", (SearchKey("FLAG", ("\\Seen",)),))))
    if word == "OLD":
        return SearchKey("NOT", (SearchKey("RECENT"),))
    if word in _FLAG_KEYS:
        return SearchKey("FLAG", (_FLAG_KEYS[word],))
    if word.startswith("UN") and word[2:] in _FLAG_KEYS:
        return SearchKey("NOT", (SearchKey("FLAG", (_FLAG_KEYS[word[2:]],)),))
    if word == "KEYWORD" or word == "UNKEYWORD":
        r.sp()
        key = SearchKey("FLAG", (r.flag(),))
        return key if word == "KEYWORD" else SearchKey("NOT", (key,))
    if word in _STRING_KEYS:
        r.sp()
        return SearchKey(word, (r.astring(),))
    if word == "HEADER":
        r.sp()
        field = r.astring().decode("ascii", "replace")
        r.sp()
        return SearchKey("HEADER", (field, r.astring()))
    if word in _DATE_KEYS:
        r.sp()
        return SearchKey(word, (r.date(),))
    if word in _NUMBER_KEYS:
        r.sp()
        return SearchKey(word, (r.number(),))
    if word == "UID":
        r.sp()
        return SearchKey("UID", (r.seq_set(),))
    if word == "NOT":
        r.sp()
        return SearchKey("NOT", (_key(r, depth + 1),))
    if word == "OR":
        r.sp()
        left = _key(r, depth + 1)
        r.sp()
        return SearchKey("OR", (left, _key(r, depth + 1)))
    if word == "SAVEDATESUPPORTED":
        # RFC 8514 4.3: it "Matches all messages in the mailbox when the underlying
        # storage of that mailbox supports the save date attribute"; every store keeps
        # one (MessageInfo.saved_date).
        return SearchKey("ALL")
    if word in ("EMAILID", "THREADID"):
        # RFC 8474 6: search-key =/ "EMAILID" SP objectid / "THREADID" SP objectid
        r.sp()
        return SearchKey(word, (r.atom(),))
    if word == "MODSEQ":
        r.sp()
        if r.peek() == 0x22:
            # entry-name entry-type-req: per-flag modseqs are not kept; the message's
            # modseq bounds them all, which is what RFC 7162 3.1.5 allows.
            r.quoted()
            r.sp()
            r.word()
            r.sp()
        return SearchKey("MODSEQ", (r.number(),))
    r.fail(f"unknown search key {word}")
