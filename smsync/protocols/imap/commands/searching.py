"""SEARCH (ESEARCH, SEARCHRES, CONDSTORE MODSEQ, CONTEXT=SEARCH), SORT (ESORT,
CONTEXT=SORT), THREAD, and CANCELUPDATE."""

from __future__ import annotations

from smsync.protocols.imap import encode, messagecache, sort_thread
from smsync.protocols.imap.commands import SELECTED, CommandBad, Reply, command
from smsync.protocols.imap.contexts import Context, Contexts
from smsync.protocols.imap.search import BadCharset, search, sort

#: Return options that put results in the ESEARCH answer (RFC 4731, RFC 5267 4.4).
_RESULT_OPTS = frozenset({"MIN", "MAX", "ALL", "COUNT", "PARTIAL"})
_RETURN_OPTS = _RESULT_OPTS | {"SAVE", "CONTEXT", "UPDATE"}


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
    args = cmd.args
    ret = _return_options(conn, cmd)
    if ret is None and session.rev2:
        # IMAP4rev2 answers every SEARCH with ESEARCH.
        ret = ()
    uses_modseq = _uses_modseq(args.key)
    if uses_modseq:
        session.enable_condstore()
    saved = list(session.saved_uids)
    try:
        found = await _matching(conn, args.key, args.charset)
    except _Refused as e:
        return e.reply
    if ret is not None:
        return await _esearch(conn, cmd, ret, found, None, saved)
    line = b"SEARCH" + b"".join(b" %d" % (uid if cmd.uid else seq) for seq, uid in found)
    if uses_modseq and found:
        line += b" (MODSEQ %d)" % await _highest_modseq(session.selected, [u for _, u in found])
    conn.untagged(line)
    return None


def _return_options(conn, cmd):
    """The RETURN options of a SEARCH or SORT, checked; None when it has none."""
    ret = cmd.args.return_opts
    if ret is None:
        return None
    bad = set(ret) - _RETURN_OPTS
    if bad:
        raise CommandBad(f"unknown {cmd.name} RETURN option {sorted(bad)[0]}")
    if "PARTIAL" in ret and "ALL" in ret:
        # RFC 5267 4.4: "A single command MUST NOT contain more than one PARTIAL or ALL
        # search return option -- that is, either one PARTIAL, one ALL, or neither".
        raise CommandBad("PARTIAL and ALL cannot be given together")
    contexts = conn.session.selected.contexts
    if "UPDATE" in ret and contexts is not None and cmd.tag in contexts:
        # RFC 5267 4.3: "An attempt to use UPDATE where a tag is already in use with a
        # previous searching command that itself used UPDATE SHALL result in the server
        # rejecting the searching command with a BAD response."
        raise CommandBad(f"tag {cmd.tag} already names an updating search")
    return ret


async def _esearch(conn, cmd, ret, ordered: list, criteria, saved: list[int]):
    """Answer a SEARCH or SORT with RETURN options: its matches ``ordered`` ((seq, uid)
    pairs, in mailbox order for a SEARCH, in sort order for a SORT -- RFC 5267 3.1, where
    MIN and MAX are "the lowest [highest] sorted message" and ALL is "in the requested
    sort order") told in one ESEARCH response; SAVE keeps them for ``$``, UPDATE keeps
    the search going (``saved``: the ``$`` it was run with)."""
    session = conn.session
    sel = session.selected
    args = cmd.args
    opts = set(ret) & _RESULT_OPTS
    if not opts and not {"SAVE", "UPDATE"} & set(ret):
        # RFC 4731 3.1: an empty list of result options means ALL (CONTEXT is a hint).
        opts = {"ALL"}
    numbers = [uid if cmd.uid else seq for seq, uid in ordered]
    window = _window(numbers, args.partial) if "PARTIAL" in opts else []
    highest = None
    if _uses_modseq(args.key) and ordered:
        highest = await _highest_modseq(sel, [u for _, u in _modseq_of(ordered, opts, args.partial)])
    if "SAVE" in ret:
        # SEARCHRES: $ names these messages (as UIDs, so they survive renumbering).
        session.saved_uids = _to_save(ordered, opts)
    if "UPDATE" in ret:
        _keep_updating(conn, cmd, ordered, criteria, saved)
    if set(ret) == {"SAVE"}:
        # RFC 5182 1: "In absence of any other SEARCH result option, the SAVE result
        # option also suppresses any SEARCH response".
        return None
    parts = [b"ESEARCH (TAG " + encode.string(cmd.tag) + b")"]
    if cmd.uid:
        parts.append(b"UID")
    if numbers:
        if "MIN" in opts:
            parts.append(b"MIN %d" % numbers[0])
        if "MAX" in opts:
            parts.append(b"MAX %d" % numbers[-1])
        if "ALL" in opts:
            parts.append(b"ALL " + encode.seq_set_ordered(numbers))
    if "PARTIAL" in opts:
        # RFC 5267 4.4: "a PARTIAL return data item that has, as payload, the original
        # range and a potentially missing set of results"; "NIL indicates no results
        # correspond to the requested range".
        got = encode.seq_set_ordered(window) if window else b"NIL"
        parts.append(b"PARTIAL (%d:%d " % args.partial + got + b")")
    if "COUNT" in opts:
        parts.append(b"COUNT %d" % len(numbers))
    if highest is not None:
        parts.append(b"MODSEQ %d" % highest)
    conn.untagged(b" ".join(parts))
    return None


def _window(items: list, partial) -> list:
    """The results PARTIAL ``lo:hi`` picks: the ``lo``th to the ``hi``th, counted from 1
    (RFC 5267 4.4: "A range 500:400 is the same as 400:500")."""
    lo, hi = sorted(partial)
    return items[lo - 1 : hi]


def _to_save(ordered: list, opts: set) -> list[int]:
    """What SAVE keeps (RFC 5182 2.4): with MIN and/or MAX alone, just the message(s)
    they return ("SAVE MIN" -> "MIN", "SAVE MIN MAX" -> "MIN & MAX"); else every match."""
    uids = [u for _, u in ordered]
    if uids and opts and opts <= {"MIN", "MAX"}:
        picked = set()
        if "MIN" in opts:
            picked.add(uids[0])
        if "MAX" in opts:
            picked.add(uids[-1])
        return sorted(picked)
    return sorted(uids)


def _keep_updating(conn, cmd, ordered: list, criteria, saved: list[int]) -> None:
    """RETURN (UPDATE): keep the results up to date (RFC 5267 4.3), or say that they
    will not be (4.3.1: "an untagged NO is generated [...] with a response-code of
    NOUPDATE")."""
    sel = conn.session.selected
    if sel.contexts is None:
        sel.contexts = Contexts()
    args = cmd.args
    ctx = Context(cmd.tag, cmd.uid, args.key, args.charset, criteria, saved, args.update_atts,
                  [u for _, u in ordered])
    if not sel.contexts.add(ctx):
        conn.untagged(b"NO [NOUPDATE " + encode.string(cmd.tag) + b"] too many updating searches")


@command("CANCELUPDATE", SELECTED)
async def cancelupdate(conn, cmd):
    contexts = conn.session.selected.contexts
    for tag in cmd.args.tags:
        if contexts is None or not contexts.cancel(tag):
            return Reply("NO", f"no updating search has tag {tag}")
    return Reply("OK", "updates cancelled")


def _modseq_of(found: list, opts, partial) -> list:
    """The matches whose highest mod-sequence the answer reports (RFC 4731 3.2): "If the
    SEARCH/UID SEARCH command contained a single MIN or MAX result option, the MODSEQ
    result option contains the mod-sequence for the found message. If [it] contained
    both MIN and MAX result options and no ALL/COUNT option, [...] the highest
    mod-sequence for the two returned messages. Otherwise [...] for all messages being
    returned." ``found`` is in result order, so its ends are MIN and MAX."""
    if "ALL" in opts or "COUNT" in opts:
        return found
    picked = []
    if "MIN" in opts:
        picked.append(found[0])
    if "MAX" in opts:
        picked.append(found[-1])
    if "PARTIAL" in opts:
        picked += _window(found, partial)
    return picked or found


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
    structures = await messagecache.structures(sel, uids) if uids else {}
    return [(number[m.uid], m, structures.get(m.uid)) for m in infos]


@command("SORT", SELECTED)
async def sort_(conn, cmd):
    args = cmd.args
    ret = _return_options(conn, cmd)
    saved = list(conn.session.saved_uids)
    try:
        found = await _matching(conn, args.key, args.charset)
    except _Refused as e:
        return e.reply
    ordered = await sort(conn.session.selected, found, args.criteria)
    if ret is not None:
        # ESORT (RFC 5267 3): "the extended SORT command returns results in an ESEARCH
        # response".
        return await _esearch(conn, cmd, ret, ordered, args.criteria, saved)
    line = b"SORT" + b"".join(b" %d" % (uid if cmd.uid else seq) for seq, uid in ordered)
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
