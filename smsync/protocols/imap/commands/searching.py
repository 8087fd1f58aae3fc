"""SEARCH (ESEARCH, SEARCHRES, CONDSTORE MODSEQ), SORT and THREAD commands."""

from __future__ import annotations

from smsync.protocols.imap import encode, sort_thread
from smsync.protocols.imap.commands import SELECTED, CommandBad, Reply, command
from smsync.protocols.imap.search import BadCharset, search

_RETURN_OPTS = frozenset({"MIN", "MAX", "ALL", "COUNT", "SAVE"})


def _uses_modseq(key) -> bool:
    if key.op == "MODSEQ":
        return True
    return key.op in ("AND", "OR", "NOT") and any(_uses_modseq(k) for k in key.args)


async def _matching(conn, key, charset):
    session = conn.session
    try:
        return await search(session.selected, key, charset, session.saved_uids)
    except BadCharset:
        raise _Refused(Reply("NO", "unsupported charset", "BADCHARSET (UTF-8 US-ASCII)"))


class _Refused(Exception):
    def __init__(self, reply):
        self.reply = reply


@command("SEARCH", SELECTED)
async def search_(conn, cmd):
    session = conn.session
    sel = session.selected
    args = cmd.args
    ret = args.return_opts
    if ret is not None:
        bad = set(ret) - _RETURN_OPTS
        if bad:
            raise CommandBad(f"unknown SEARCH RETURN option {sorted(bad)[0]}")
        if not ret:
            ret = ("ALL",)
    elif session.rev2:
        # IMAP4rev2 answers every SEARCH with ESEARCH.
        ret = ("ALL",)
    uses_modseq = _uses_modseq(args.key)
    if uses_modseq:
        session.enable_condstore()
    try:
        found = await _matching(conn, args.key, args.charset)
    except _Refused as e:
        return e.reply
    numbers = [uid if cmd.uid else seq for seq, uid in found]
    highest = None
    if uses_modseq and found:
        highest = await _highest_modseq(sel, [u for _, u in _modseq_of(found, ret)])
    if ret is None:
        line = b"SEARCH" + b"".join(b" %d" % n for n in numbers)
        if highest is not None:
            line += b" (MODSEQ %d)" % highest
        conn.untagged(line)
        return None
    if "SAVE" in ret:
        # SEARCHRES: $ names these messages (as UIDs, so they survive renumbering) --
        # RFC 5182 2.4: with MIN and/or MAX alone, just the message(s) they return.
        session.saved_uids = _to_save(found, set(ret) - {"SAVE"})
        if set(ret) == {"SAVE"}:
            return None
    parts = [b"ESEARCH (TAG " + encode.string(cmd.tag) + b")"]
    if cmd.uid:
        parts.append(b"UID")
    if numbers:
        if "MIN" in ret:
            parts.append(b"MIN %d" % min(numbers))
        if "MAX" in ret:
            parts.append(b"MAX %d" % max(numbers))
        if "ALL" in ret:
            parts.append(b"ALL " + encode.seq_set(numbers))
    if "COUNT" in ret:
        parts.append(b"COUNT %d" % len(numbers))
    if highest is not None:
        parts.append(b"MODSEQ %d" % highest)
    conn.untagged(b" ".join(parts))
    return None


def _to_save(found: list, opts: set) -> list[int]:
    """What SAVE keeps (RFC 5182 2.4): with MIN and/or MAX alone, just the message(s)
    they return ("SAVE MIN" -> "MIN", "SAVE MIN MAX" -> "MIN & MAX"); else every match."""
    uids = [u for _, u in found]
    if uids and opts and opts <= {"MIN", "MAX"}:
        picked = set()
        if "MIN" in opts:
            picked.add(uids[0])
        if "MAX" in opts:
            picked.add(uids[-1])
        return sorted(picked)
    return sorted(uids)


def _modseq_of(found: list, ret) -> list:
    """The matches whose highest mod-sequence the answer reports (RFC 4731 3.2): "If the
    SEARCH/UID SEARCH command contained a single MIN or MAX result option, the MODSEQ
    result option contains the mod-sequence for the found message. If [it] contained
    both MIN and MAX result options and no ALL/COUNT option, [...] the highest
    mod-sequence for the two returned messages. Otherwise [...] for all messages being
    returned." ``found`` is ascending, so its ends are MIN and MAX."""
    if ret is None or "ALL" in ret or "COUNT" in ret:
        return found
    ends = []
    if "MIN" in ret:
        ends.append(found[0])
    if "MAX" in ret:
        ends.append(found[-1])
    return ends or found


async def _highest_modseq(sel, uids: list):
    infos = await sel.mailbox.messages(_uidset(uids)) if uids else []
    return max((m.modseq for m in infos), default=None)


def _uidset(uids):
    from smsync.model import UIDSet

    return UIDSet.of(uids)


async def _items(conn, found, uid_mode: bool):
    """(number, MessageInfo, MessageStructure) for the matched messages."""
    sel = conn.session.selected
    uids = [u for _, u in found]
    number = {u: (u if uid_mode else s) for s, u in found}
    infos = await sel.mailbox.messages(_uidset(uids)) if uids else []
    structures = await sel.mailbox.structures(uids) if uids else {}
    return [(number[m.uid], m, structures.get(m.uid)) for m in infos]


@command("SORT", SELECTED)
async def sort(conn, cmd):
    args = cmd.args
    try:
        found = await _matching(conn, args.key, args.charset)
    except _Refused as e:
        return e.reply
    ordered = sort_thread.sort_messages(await _items(conn, found, cmd.uid), args.criteria)
    line = b"SORT" + b"".join(b" %d" % n for n in ordered)
    if found and _uses_modseq(args.key):
        # RFC 7162 3.1.9: as SEARCH does, a SORT by MODSEQ ends with the highest.
        line += b" (MODSEQ %d)" % await _highest_modseq(conn.session.selected, [u for _, u in found])
    conn.untagged(line)


@command("THREAD", SELECTED)
async def thread(conn, cmd):
    args = cmd.args
    if args.algorithm not in ("REFERENCES", "ORDEREDSUBJECT"):
        return Reply("NO", f"unsupported threading algorithm {args.algorithm}", "CANNOT")
    try:
        found = await _matching(conn, args.key, args.charset)
    except _Refused as e:
        return e.reply
    items = await _items(conn, found, cmd.uid)
    if args.algorithm == "REFERENCES":
        threads = sort_thread.thread_references(items)
    else:
        threads = sort_thread.thread_ordered_subject(items)
    conn.untagged(b"THREAD " + sort_thread.format_threads(threads) if threads else b"THREAD")
