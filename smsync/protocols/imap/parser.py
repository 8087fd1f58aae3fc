"""IMAP command parser: complete command bytes in, an attrs ``Command`` out.

The framing layer (``server.py``) gathers one whole command -- its lines and the literals
they announce -- into one bytes value without the final CRLF, and hands it to
``parse_command``. Everything here is a pure function of those bytes; malformed input
raises ``ParseError`` (answered with a tagged BAD) and nothing else.
"""

from __future__ import annotations

import re
from typing import Optional

from smsync.protocols.imap import acl_syntax, metadata_syntax
from smsync.protocols.imap.notifysyntax import parse_notify
from smsync.protocols.imap.reader import ATOM_SPECIALS, ParseError, Reader, literal_at_end, peek_tag_and_name
from smsync.protocols.imap.searchkeys import parse_search_keys
from smsync.protocols.imap.syntax import *  # noqa: F401,F403 -- the command types are part of this API
from smsync.protocols.imap.syntax import (
    Append, AppendMessage, Authenticate, CatPart, Command, Compress, CopyMove, Create, Enable,
    Fetch, FetchAtt, Id, ListCmd, Login, MailboxArg, QResyncParams, Rename, Replace, Search,
    Section, Select, Sort, Status, Store, Thread, UidExpunge,
)
from smsync.protocols.imap.syntax import CancelUpdate

__all__ = ["ParseError", "parse_command", "parse_section", "literal_at_end", "peek_tag_and_name"]


def parse_command(data: bytes) -> Command:
    """Parse one complete command (lines and literals, without the final CRLF).

    Raises:
        ParseError: the command is malformed; ``tag`` is set when one was read.
    """
    r = Reader(data)
    tag_bytes = r._run(lambda b: 0x20 < b < 0x7F and b not in ATOM_SPECIALS and b != 0x2B)
    if not tag_bytes:
        r.fail("missing tag")
    r.tag = tag_bytes.decode("ascii")
    if r.at_end():
        r.fail("missing command")
    r.sp()
    name = r.word()
    uid = False
    if name == "UID":
        r.sp()
        name = r.word()
        uid = True
        if name not in _UID_COMMANDS:
            r.fail(f"UID {name} is not a command")
    parser = _COMMANDS.get(name)
    if parser is None:
        r.fail(f"unknown command {name}")
    try:
        args = parser(r, uid)
    except ParseError:
        raise
    except (ValueError, IndexError, UnicodeError, OverflowError) as e:
        # A grammar path we did not foresee: still a BAD, never a traceback.
        r.fail(f"malformed arguments ({e.__class__.__name__})")
    r.end()
    return Command(r.tag, name, args, uid)


def parse_section(spec: bytes) -> Section:
    """A section-spec on its own (what ``BODY[...]`` holds; an IMAP URL's ``;SECTION=``).

    Raises:
        ParseError: it is not one.
    """
    if not spec:
        return Section()
    r = Reader(spec)
    section = _section(r, binary=False)
    r.end()
    return section


def _no_args(r: Reader, uid: bool):
    return None


def _login(r: Reader, uid: bool):
    r.sp()
    user = r.astring()
    r.sp()
    return Login(user, r.astring())


def _authenticate(r: Reader, uid: bool):
    r.sp()
    mech = r.word()
    initial = None
    if r.maybe_sp():
        initial = r._run(lambda b: b in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
        if not initial:
            r.fail("bad initial response")
    return Authenticate(mech, initial)


def _enable(r: Reader, uid: bool):
    caps = []
    while r.maybe_sp():
        caps.append(r.word())
    if not caps:
        r.fail("ENABLE needs at least one capability")
    return Enable(tuple(caps))


def _id(r: Reader, uid: bool):
    r.sp()
    if r.maybe_char(b"("):
        params = []
        while not r.maybe_char(b")"):
            if params:
                r.sp()
            key = r.string().decode("utf-8", "replace")
            r.sp()
            value = r.nstring()
            params.append((key, None if value is None else value.decode("utf-8", "replace")))
            if len(params) > 30:
                r.fail("too many ID parameters")
        return Id(tuple(params))
    if r.word() != "NIL":
        r.fail("ID takes a list or NIL")
    return Id(None)


def _compress(r: Reader, uid: bool):
    r.sp()
    return Compress(r.word())


def _select(r: Reader, uid: bool):
    r.sp()
    mailbox = r.astring()
    condstore = False
    qresync = None
    if r.maybe_sp():
        r.char(b"(")
        first = True
        while not r.maybe_char(b")"):
            if not first:
                r.sp()
            first = False
            word = r.word()
            if word == "CONDSTORE":
                condstore = True
            elif word == "QRESYNC":
                r.sp()
                qresync = _qresync_params(r)
            else:
                r.fail(f"unknown SELECT parameter {word}")
    return Select(mailbox, condstore, qresync)


def _qresync_params(r: Reader) -> QResyncParams:
    r.char(b"(")
    uidvalidity = r.nz_number()
    r.sp()
    modseq = r.number()
    known = match = None
    if r.maybe_sp():
        if r.peek() != 0x28:
            known = r.seq_set()
            r.maybe_sp()
        if r.maybe_char(b"("):
            seqs = r.seq_set()
            r.sp()
            uids = r.seq_set()
            r.char(b")")
            match = (seqs, uids)
    r.char(b")")
    return QResyncParams(uidvalidity, modseq, known, match)


def _create(r: Reader, uid: bool):
    r.sp()
    mailbox = r.astring()
    uses: tuple[str, ...] = ()
    if r.maybe_sp():
        r.char(b"(")
        while not r.maybe_char(b")"):
            word = r.word()
            if word != "USE":
                r.fail(f"unknown CREATE parameter {word}")
            r.sp()
            uses += r.flag_list()
            r.maybe_sp()
    return Create(mailbox, uses)


def _mailbox_arg(r: Reader, uid: bool):
    r.sp()
    return MailboxArg(r.astring())


def _rename(r: Reader, uid: bool):
    r.sp()
    old = r.astring()
    r.sp()
    return Rename(old, r.astring())


def _list(r: Reader, uid: bool):
    r.sp()
    select_opts: tuple[str, ...] = ()
    extended = False
    if r.peek() == 0x28:
        select_opts = r.paren_words()
        extended = True
        r.sp()
    reference = r.astring()
    r.sp()
    if r.peek() == 0x28:
        r.char(b"(")
        patterns = []
        while not r.maybe_char(b")"):
            if patterns:
                r.sp()
            patterns.append(r.list_mailbox())
        extended = True
        if not patterns:
            r.fail("empty pattern list")
    else:
        patterns = [r.list_mailbox()]
    return_opts: list[str] = []
    status_items: tuple[str, ...] = ()
    if r.maybe_sp():
        if r.word() != "RETURN":
            r.fail("expected RETURN")
        extended = True
        r.sp()
        r.char(b"(")
        while not r.maybe_char(b")"):
            if return_opts:
                r.sp()
            opt = r.word()
            return_opts.append(opt)
            if opt == "STATUS":
                r.sp()
                status_items = r.paren_words()
    return ListCmd(reference, tuple(patterns), select_opts, tuple(return_opts), status_items, extended)


def _lsub(r: Reader, uid: bool):
    r.sp()
    reference = r.astring()
    r.sp()
    return ListCmd(reference, (r.list_mailbox(),))


def _status(r: Reader, uid: bool):
    r.sp()
    mailbox = r.astring()
    r.sp()
    items = r.paren_words()
    if not items:
        r.fail("STATUS needs at least one item")
    return Status(mailbox, items)


def _append(r: Reader, uid: bool):
    r.sp()
    mailbox = r.astring()
    messages = []
    # MULTIAPPEND (RFC 3502): several messages follow one another.
    while r.maybe_sp():
        messages.append(_append_message(r))
    if not messages:
        r.fail("APPEND needs a message literal")
    return Append(mailbox, tuple(messages))


#: CATENATE parts one message may have (each URL costs a store read).
MAX_CAT_PARTS = 200


def _append_message(r: Reader) -> AppendMessage:
    """RFC 4466 append-message: flags, date-time, then a literal, a literal8, ``UTF8
    (literal8)`` (RFC 6855) or ``CATENATE (...)`` (RFC 4469)."""
    flags: tuple[str, ...] = ()
    date = None
    if r.peek() == 0x28:
        flags = r.flag_list()
        r.sp()
    if r.peek() == 0x22:
        date = r.date_time()
        r.sp()
    ahead = r.data[r.pos : r.pos + 10].upper()
    if ahead.startswith(b"UTF8 "):
        # RFC 6855: UTF8 (literal8)
        r.pos += 5
        r.char(b"(")
        data, binary = r.literal(allow_binary=True)
        r.char(b")")
    elif ahead.startswith(b"CATENATE "):
        r.pos += 9
        return AppendMessage(b"", flags, date, False, _cat_parts(r))
    else:
        data, binary = r.literal(allow_binary=True)
    return AppendMessage(data, flags, date, binary)


def _cat_parts(r: Reader) -> tuple[CatPart, ...]:
    """RFC 4469: "(" cat-part *(SP cat-part) ")", cat-part = "TEXT" SP literal / "URL" SP
    astring; RFC 6855 adds "UTF8" SP "(" literal8 ")". A TEXT literal may be a literal8
    (RFC 4466 append-data takes one)."""
    r.char(b"(")
    parts: list[CatPart] = []
    while True:
        kind = r.word()
        r.sp()
        if kind == "TEXT":
            parts.append(CatPart("TEXT", r.literal(allow_binary=True)[0]))
        elif kind == "URL":
            parts.append(CatPart("URL", r.astring()))
        elif kind == "UTF8":
            r.char(b"(")
            parts.append(CatPart("TEXT", r.literal(allow_binary=True)[0]))
            r.char(b")")
        else:
            r.fail(f"unknown CATENATE part {kind}")
        if len(parts) > MAX_CAT_PARTS:
            r.fail("too many CATENATE parts")
        if r.maybe_char(b")"):
            return tuple(parts)
        r.sp()


def _replace(r: Reader, uid: bool):
    r.sp()
    number = None if r.maybe_char(b"*") else r.nz_number()
    r.sp()
    mailbox = r.astring()
    r.sp()
    return Replace(number, mailbox, _append_message(r))


def _getquota(r: Reader, uid: bool):
    r.sp()
    return MailboxArg(r.astring())


_MACROS = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
_SIMPLE_ATTS = frozenset(
    "ENVELOPE FLAGS INTERNALDATE RFC822 RFC822.HEADER RFC822.SIZE RFC822.TEXT BODY "
    "BODYSTRUCTURE UID MODSEQ SAVEDATE EMAILID THREADID".split()
)
_SECTION_ATTS = frozenset({"BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE"})


def _fetch(r: Reader, uid: bool):
    r.sp()
    seqset = r.seq_set()
    r.sp()
    atts: list[FetchAtt] = []
    if r.maybe_char(b"("):
        while not r.maybe_char(b")"):
            if atts:
                r.sp()
            atts.append(_fetch_att(r))
        if not atts:
            r.fail("empty fetch attribute list")
    else:
        word = r.peek_word()
        if word in _MACROS:
            r.word()
            atts = [FetchAtt(n) for n in _MACROS[word]]
        else:
            atts.append(_fetch_att(r))
    changedsince = None
    vanished = False
    if r.maybe_sp():
        r.char(b"(")
        first = True
        while not r.maybe_char(b")"):
            if not first:
                r.sp()
            first = False
            word = r.word()
            if word == "CHANGEDSINCE":
                r.sp()
                changedsince = r.number()
            elif word == "VANISHED":
                vanished = True
            else:
                r.fail(f"unknown FETCH modifier {word}")
        if vanished and (not uid or changedsince is None):
            r.fail("VANISHED needs UID FETCH with CHANGEDSINCE")
    return Fetch(seqset, tuple(atts), changedsince, vanished)


def _fetch_att_list(r: Reader) -> list[FetchAtt]:
    """``"(" fetch-att *(SP fetch-att) ")"``."""
    r.char(b"(")
    atts: list[FetchAtt] = []
    while not r.maybe_char(b")"):
        if atts:
            r.sp()
        atts.append(_fetch_att(r))
    if not atts:
        r.fail("empty fetch attribute list")
    return atts


def _fetch_att(r: Reader) -> FetchAtt:
    name = r._run(lambda b: 0x20 < b < 0x7F and b not in ATOM_SPECIALS and b != 0x5B).decode("ascii").upper()
    if not name:
        r.fail("expected a fetch attribute")
    if name == "PREVIEW":
        _preview_modifiers(r)
        return FetchAtt(name)
    if r.peek() != 0x5B:
        if name not in _SIMPLE_ATTS:
            r.fail(f"unknown fetch attribute {name}")
        return FetchAtt(name)
    if name not in _SECTION_ATTS:
        r.fail(f"{name} takes no section")
    r.char(b"[")
    section = _section(r, binary=name.startswith("BINARY"))
    r.char(b"]")
    partial = None
    if r.maybe_char(b"<"):
        if name == "BINARY.SIZE":
            r.fail("BINARY.SIZE takes no partial")
        start = r.number()
        r.char(b".")
        length = r.nz_number()
        r.char(b">")
        partial = (start, length)
    return FetchAtt(name, section, partial)


def _preview_modifiers(r: Reader) -> None:
    """RFC 8970: "PREVIEW" [SP "(" preview-mod *(SP preview-mod) ")"], preview-mod =
    "LAZY". LAZY lets a server answer NIL rather than make a preview now; ours always
    makes it, so the modifier changes nothing. A parenthesis that does not start with
    LAZY is left alone: it is the FETCH modifiers of ``FETCH 1 PREVIEW (CHANGEDSINCE 5)``."""
    if r.data[r.pos : r.pos + 6].upper() != b" (LAZY" or r._atom_continues(6):
        return
    r.sp()
    for mod in r.paren_words():
        if mod != "LAZY":
            r.fail(f"unknown PREVIEW modifier {mod}")


def _section(r: Reader, binary: bool) -> Section:
    parts: list[int] = []
    text = None
    fields: tuple[str, ...] = ()
    while True:
        b = r.peek()
        if b is not None and 0x30 <= b <= 0x39:
            parts.append(r.nz_number())
            if not r.maybe_char(b"."):
                break
            continue
        if b == 0x5D:
            if parts:
                r.fail("section ends with a dot")
            break
        text = r._run(lambda b: 0x41 <= (b & 0xDF) <= 0x5A or b == 0x2E).decode().upper()
        if binary:
            r.fail("BINARY sections are part numbers only")
        if text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
            r.sp()
            r.char(b"(")
            names = []
            while not r.maybe_char(b")"):
                if names:
                    r.sp()
                # Echoed back as the client spelled them (clients match on the text).
                names.append(r.astring().decode("ascii", "replace"))
            if not names:
                r.fail("empty header field list")
            fields = tuple(names)
        elif text == "MIME":
            if not parts:
                r.fail("MIME needs a part number")
        elif text not in ("HEADER", "TEXT"):
            r.fail(f"bad section text {text!r}")
        break
    return Section(tuple(parts), text, fields)


def _store(r: Reader, uid: bool):
    r.sp()
    seqset = r.seq_set()
    r.sp()
    unchangedsince = None
    if r.maybe_char(b"("):
        word = r.word()
        if word != "UNCHANGEDSINCE":
            r.fail(f"unknown STORE modifier {word}")
        r.sp()
        unchangedsince = r.number()
        r.char(b")")
        r.sp()
    item = r.word()
    m = re.fullmatch(r"([+-]?)FLAGS(\.SILENT)?", item)
    if not m:
        r.fail(f"bad STORE item {item}")
    mode = {"": "set", "+": "add", "-": "remove"}[m.group(1)]
    r.sp()
    if r.peek() == 0x28:
        flags = r.flag_list()
    else:
        flags = [r.flag()]
        while r.maybe_sp():
            flags.append(r.flag())
        flags = tuple(flags)
    return Store(seqset, mode, bool(m.group(2)), flags, unchangedsince)


def _copy(r: Reader, uid: bool):
    r.sp()
    seqset = r.seq_set()
    r.sp()
    return CopyMove(seqset, r.astring())


def _search_return(r: Reader) -> Optional[tuple]:
    """``RETURN (...)`` of SEARCH or SORT as (options, PARTIAL's range, UPDATE's fetch
    attributes) -- RFC 4731, RFC 5267 (``PARTIAL 1:500``), RFC 5465 section 7
    (``UPDATE (UID FLAGS)``) -- or None when there is none."""
    if r.data[r.pos : r.pos + 7].upper() != b"RETURN " or r.data[r.pos + 7 : r.pos + 8] != b"(":
        return None
    r.pos += 8
    opts: list[str] = []
    partial = None
    atts: list[FetchAtt] = []
    while not r.maybe_char(b")"):
        if opts:
            r.sp()
        opt = r.word()
        if opt == "PARTIAL":
            if partial is not None:
                r.fail("PARTIAL given twice")
            r.sp()
            lo = r.nz_number()
            r.char(b":")
            partial = (lo, r.nz_number())
        elif opt == "UPDATE" and r.data[r.pos : r.pos + 2] == b" (":
            r.sp()
            atts = _fetch_att_list(r)
        opts.append(opt)
    r.sp()
    return tuple(opts), partial, tuple(atts)


def _charset(r: Reader) -> Optional[str]:
    if r.data[r.pos : r.pos + 8].upper() == b"CHARSET ":
        r.pos += 8
        cs = r.astring().decode("ascii", "replace").upper()
        r.sp()
        return cs
    return None


def _search(r: Reader, uid: bool):
    r.sp()
    ret = _search_return(r)
    charset = _charset(r)
    return Search(parse_search_keys(r), charset, *(ret or ()))


_SORT_KEYS = frozenset("ARRIVAL CC DATE FROM SIZE SUBJECT TO DISPLAYFROM DISPLAYTO".split())


def _sort(r: Reader, uid: bool):
    r.sp()
    ret = _search_return(r)
    words = r.paren_words()
    crit = []
    reverse = False
    for w in words:
        if w == "REVERSE":
            if reverse:
                r.fail("REVERSE REVERSE")
            reverse = True
            continue
        if w not in _SORT_KEYS:
            r.fail(f"unknown sort key {w}")
        crit.append((reverse, w))
        reverse = False
    if reverse or not crit:
        r.fail("bad sort criteria")
    r.sp()
    charset = r.astring().decode("ascii", "replace").upper()
    r.sp()
    return Sort(tuple(crit), charset, parse_search_keys(r), *(ret or ()))


def _thread(r: Reader, uid: bool):
    r.sp()
    alg = r.word()
    r.sp()
    charset = r.astring().decode("ascii", "replace").upper()
    r.sp()
    return Thread(alg, charset, parse_search_keys(r))


def _cancelupdate(r: Reader, uid: bool):
    tags = []
    while r.maybe_sp():
        tags.append(r.quoted().decode("ascii", "replace"))
    if not tags:
        r.fail("CANCELUPDATE needs the tag of a searching command")
    return CancelUpdate(tuple(tags))


def _notify(r: Reader, uid: bool):
    return parse_notify(r, _fetch_att_list)


def _expunge(r: Reader, uid: bool):
    if uid:
        r.sp()
        return UidExpunge(r.seq_set())
    return None


_COMMANDS = {
    "CAPABILITY": _no_args,
    "NOOP": _no_args,
    "LOGOUT": _no_args,
    "STARTTLS": _no_args,
    "CHECK": _no_args,
    "CLOSE": _no_args,
    "UNSELECT": _no_args,
    "IDLE": _no_args,
    "NAMESPACE": _no_args,
    "LOGIN": _login,
    "AUTHENTICATE": _authenticate,
    "ENABLE": _enable,
    "ID": _id,
    "COMPRESS": _compress,
    "SELECT": _select,
    "EXAMINE": _select,
    "CREATE": _create,
    "DELETE": _mailbox_arg,
    "SUBSCRIBE": _mailbox_arg,
    "UNSUBSCRIBE": _mailbox_arg,
    "GETQUOTAROOT": _mailbox_arg,
    "GETQUOTA": _getquota,
    "RENAME": _rename,
    "LIST": _list,
    "LSUB": _lsub,
    "STATUS": _status,
    "APPEND": _append,
    "REPLACE": _replace,
    "EXPUNGE": _expunge,
    "FETCH": _fetch,
    "STORE": _store,
    "COPY": _copy,
    "MOVE": _copy,
    "SEARCH": _search,
    "SORT": _sort,
    "THREAD": _thread,
    # ACL (RFC 4314) and METADATA (RFC 5464), in modules of their own.
    **acl_syntax.COMMANDS,
    **metadata_syntax.COMMANDS,
    "CANCELUPDATE": _cancelupdate,
    "NOTIFY": _notify,
}
_UID_COMMANDS = frozenset({"FETCH", "STORE", "COPY", "MOVE", "SEARCH", "SORT", "THREAD", "EXPUNGE", "REPLACE"})
