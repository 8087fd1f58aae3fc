"""FETCH and UID FETCH: metadata, ENVELOPE/BODYSTRUCTURE from stored structures, body
sections read by byte range (streamed for large ones), BINARY, CONDSTORE CHANGEDSINCE and
QRESYNC VANISHED.

Messages are fetched from the store in batches and written as they are encoded, waiting
for the transport when its buffer is full, so ``UID FETCH 1:* (FLAGS)`` on a very large
folder neither builds one huge answer nor blocks the reactor for long. Each response is
first planned from the message's metadata and structure; the small sections of a group
of messages (up to ``bodyreads.READ_BATCH_BYTES``) are then read with one
``IMailbox.read_ranges`` call, and larger ones streamed by ``read_body`` ranges.
"""

from __future__ import annotations

from functools import partial

from smsync.errors import NotFound, PermissionDenied
from smsync.formats import bodytext
from smsync.model import FlagMode, UIDSet
from smsync.protocols.imap import bodyreads, encode, objectid, sections
from smsync.protocols.imap.messagecache import section_cache, structures as cached_structures
from smsync.protocols.imap.commands import SELECTED, CommandBad, Reply, command
from smsync.protocols.imap.syntax import FetchAtt, Section
from smsync.sync.reads import read_ranges

#: Larger sections are written in chunks of this size, read from the store one by one.
STREAM_CHUNK = 256 * 1024

_NEEDS_STRUCTURE = frozenset(
    {"ENVELOPE", "BODY", "BODYSTRUCTURE", "RFC822.HEADER", "RFC822.TEXT", "EMAILID", "THREADID", "PREVIEW"}
)
#: Made from the digest of the message's bytes (see ``objectid``).
_NEEDS_DIGEST = frozenset({"EMAILID", "THREADID"})
_SETS_SEEN = frozenset({"BODY", "BINARY", "RFC822", "RFC822.TEXT"})


def _needs_structure(att: FetchAtt) -> bool:
    if att.name in _NEEDS_STRUCTURE:
        return True
    if att.section is not None:
        return bool(att.section.part or att.section.text)
    return False


def _sets_seen(att: FetchAtt) -> bool:
    if att.name in ("BODY", "BINARY"):
        return att.section is not None
    return att.name in _SETS_SEEN


@command("FETCH", SELECTED)
async def fetch(conn, cmd):
    session = conn.session
    sel = session.selected
    args = cmd.args
    if args.vanished and not session.qresync:
        # RFC 7162 3.2.3: "A server MUST respond with a tagged BAD response if [...] the
        # VANISHED UID FETCH modifier is specified and the client hasn't issued "ENABLE
        # QRESYNC"".
        raise CommandBad("VANISHED needs ENABLE QRESYNC first")
    atts = list(args.atts)
    names = {a.name for a in atts}
    if args.changedsince is not None or "MODSEQ" in names:
        session.enable_condstore()
    uids = sel.resolve(args.seqset, cmd.uid, session.saved_uids)
    mark_seen = not sel.readonly and any(_sets_seen(a) for a in atts)
    if mark_seen and "FLAGS" not in names:
        atts.append(FetchAtt("FLAGS"))
    if "UID" not in names and (cmd.uid or (mark_seen and sel.condstore)):
        # RFC 7162 3.2.4 (a QRESYNC server): once CONDSTORE is on, a FETCH that sets
        # \Seen reports UID and MODSEQ with the flags.
        atts.insert(0, FetchAtt("UID"))
    if sel.condstore and "MODSEQ" not in names and (mark_seen or "FLAGS" in names or args.changedsince is not None):
        atts.append(FetchAtt("MODSEQ"))
    if args.vanished:
        await _report_vanished(conn, sel, args)
    want_structure = any(_needs_structure(a) for a in atts)
    batch = conn.config.fetch_batch if want_structure or any(a.section for a in atts) else conn.config.fetch_batch * 8
    planner = _Planner(conn, atts)
    vanished = False
    for i in range(0, len(uids), batch):
        chunk = uids[i : i + batch]
        infos = await sel.mailbox.messages(UIDSet.of(chunk))
        if args.changedsince is not None:
            infos = [m for m in infos if m.modseq > args.changedsince]
        if not infos:
            continue
        if mark_seen:
            infos = await _mark_seen(sel, infos)
        structures = {}
        if want_structure:
            # Messages whose every structure-bound item is cached need no structure.
            needed = [m.uid for m in infos if not planner.cached(m.uid)]
            structures = await cached_structures(sel, needed) if needed else {}
        if names & _NEEDS_DIGEST:
            structures = await objectid.with_digests(sel.mailbox, structures)
        planned = []
        for info in infos:
            seq = sel.seq_of(info.uid)
            if seq is None:
                continue
            structure = structures.get(info.uid)
            if want_structure and structure is None and not planner.cached(info.uid):
                vanished = True  # expunged since messages() answered
                continue
            planned.append(planner.plan(seq, info, structure))
        # The small sections of a group of messages come from the store in one call.
        for group in bodyreads.plan_groups(planned, _read_cost):
            try:
                vanished |= await _send(conn, sel, group)
            except BinaryError:
                return Reply("NO", "unknown Content-Transfer-Encoding", "UNKNOWN-CTE")
            if conn.closed:
                return None
    if vanished:
        # RFC 2180 4.1.3: what is still there was answered, so the FETCH succeeded;
        # RFC 5530's EXPUNGEISSUED says why some are missing (as Dovecot answers).
        # A NO would make clients take the whole FETCH for failed and retry it.
        return Reply("OK", "some messages were already expunged", "EXPUNGEISSUED")
    return None


async def _report_vanished(conn, sel, args) -> None:
    changes = await sel.mailbox.changes_since(args.changedsince)
    top = max(changes.expunged[-1] if changes.expunged else 0, sel.uids[-1] if sel.uids else 0)
    gone = [u for u in changes.expunged if args.seqset.contains(u, top)] if not args.seqset.saved else []
    if gone:
        conn.untagged(b"VANISHED (EARLIER) " + encode.seq_set(gone))


async def _mark_seen(sel, infos):
    unseen = [m.uid for m in infos if "\\Seen" not in m.flags]
    if not unseen:
        return infos
    try:
        result = await sel.mailbox.store_flags(UIDSet.of(unseen), FlagMode.ADD, ("\\Seen",))
    except PermissionDenied:
        # RFC 4314 4: a FETCH "MUST NOT set [\Seen], if the current user doesn't have
        # "s" right" -- in a folder shared without it.
        return infos
    sel.note_own(result.changed)
    updated = {m.uid: m for m in result.changed}
    return [updated.get(m.uid, m) for m in infos]


class _Range:
    """A large section written straight from the store in chunks: ``length`` bytes of
    message ``uid`` from ``start``."""

    __slots__ = ("uid", "start", "length")

    def __init__(self, uid: int, start: int, length: int):
        self.uid, self.start, self.length = uid, start, length


class _Read:
    """A section read together with the other small sections of its group: ``length``
    bytes of message ``uid`` from ``start``, which ``finish(data)`` turns into the
    response item (it may raise ``BinaryError``)."""

    __slots__ = ("uid", "start", "length", "finish", "data")

    def __init__(self, uid: int, start: int, length: int, finish):
        self.uid, self.start, self.length, self.finish = uid, start, length, finish
        self.data = None


class _Planned:
    """One message's FETCH response as ``pieces``: bytes ready to send (adjacent ones
    joined), ``_Read`` sections to fill in from the store (also listed in ``reads``,
    whose lengths add up to ``cost``), ``_Range`` sections to stream (``streams``)."""

    __slots__ = ("pieces", "reads", "cost", "streams")

    def __init__(self, pieces, reads: tuple = (), streams: bool = False):
        self.pieces, self.reads, self.streams = pieces, reads, streams
        self.cost = sum(r.length for r in reads) if reads else 0


def _read_cost(planned: _Planned) -> int:
    return planned.cost


class _Planner:
    """Plans the FETCH responses of one command: what each attribute gives for a
    message, decided once per command rather than once per message and attribute."""

    def __init__(self, conn, atts):
        utf8 = conn.session.utf8
        sel = conn.session.selected
        # Stores hand out shared flag-set objects: encode each distinct set once (and
        # announce its new keywords then, before the response carrying them is sent).
        flag_lists: dict = {}

        def flags(info, st):
            shown = sel.flags_of(info)
            text = flag_lists.get(shown)
            if text is None:
                sel.announce(conn, shown)
                text = flag_lists[shown] = b"FLAGS " + encode.flags(shown)
            return text

        makers = {
            "UID": lambda info, st: b"UID %d" % info.uid,
            "FLAGS": flags,
            "MODSEQ": lambda info, st: b"MODSEQ (%d)" % info.modseq,
            "INTERNALDATE": lambda info, st: b"INTERNALDATE " + encode.internal_date(info.internal_date),
            "SAVEDATE": lambda info, st: b"SAVEDATE " + encode.internal_date(info.saved_date),
            "RFC822.SIZE": lambda info, st: b"RFC822.SIZE %d" % info.size,
            "ENVELOPE": lambda info, st: b"ENVELOPE " + encode.envelope(st.envelope, utf8),
            "BODYSTRUCTURE": lambda info, st: b"BODYSTRUCTURE " + encode.body_structure(st.root, True, utf8),
            "EMAILID": lambda info, st: b"EMAILID (" + objectid.email_id(st).encode() + b")",
            "THREADID": lambda info, st: b"THREADID (" + objectid.thread_id(st).encode() + b")",
            "PREVIEW": partial(_preview_item, utf8=utf8),
        }
        self.items = []
        #: Labels of the header-section items kept in ``section_cache``; None when an
        #: attribute other than those needs the message's structure.
        self._cached_labels: list | None = []
        prefix = sel.cache_prefix
        for att in atts:
            name = att.name
            if name in makers:
                self.items.append(makers[name])
                if name in _NEEDS_STRUCTURE:
                    self._cached_labels = None
            elif name == "BODY" and att.section is None:
                self.items.append(lambda info, st: b"BODY " + encode.body_structure(st.root, False, utf8))
                self._cached_labels = None
            elif name in _LEGACY:
                self.items.append(_section_maker(*_LEGACY[name], None))
                if name != "RFC822":
                    self._cached_labels = None
            elif name in ("BODY", "BODY.PEEK"):
                label = b"BODY[" + att.section.spec().encode() + b"]"
                if att.partial is not None:
                    label += b"<%d>" % att.partial[0]
                section = att.section
                # A partial is left out: its label names where it starts, not its length.
                keep = (att.partial is None and not section.part
                        and (bool(section.fields) or section.text == "HEADER"))
                self.items.append(_section_maker(label, section, att.partial, prefix if keep else None))
                if keep:
                    if self._cached_labels is not None:
                        self._cached_labels.append(label)
                elif _needs_structure(att):
                    self._cached_labels = None
            else:  # BINARY, BINARY.PEEK, BINARY.SIZE
                self.items.append(partial(_binary_item, att=att))
                if _needs_structure(att):
                    self._cached_labels = None
        self._prefix = prefix

    def cached(self, uid: int) -> bool:
        """Whether every item of message ``uid`` that needs its structure is in
        ``section_cache`` (so the structure need not be read)."""
        labels = self._cached_labels
        if not labels:
            return False
        prefix = self._prefix
        if len(labels) == 1:
            return (*prefix, uid, labels[0]) in section_cache
        return all((*prefix, uid, label) in section_cache for label in labels)

    def plan(self, seq: int, info, structure) -> _Planned:
        """The FETCH response of one message (see ``_Planned``)."""
        # Every piece is looked at again when the group is sent: joining the bytes
        # between sections here leaves a header FETCH three pieces a message, not eight.
        # Runs once per message of a FETCH 1:* of 100,000: the common all-bytes case
        # takes the shortest path.
        text: list = [b"* %d FETCH (" % seq]
        pieces = None
        for n, item in enumerate(self.items):
            if n:
                text.append(b" ")
            got = item(info, structure)
            if type(got) is bytes:
                text.append(got)
                continue
            for piece in got if type(got) is list else (got,):
                if type(piece) is bytes:
                    text.append(piece)
                    continue
                if pieces is None:
                    pieces = []
                pieces.append(b"".join(text))
                pieces.append(piece)
                text = []
        text.append(b")\r\n")
        if pieces is None:
            return _Planned((b"".join(text),))
        pieces.append(b"".join(text))
        reads = tuple(p for p in pieces if type(p) is _Read)
        return _Planned(pieces, reads, any(type(p) is _Range for p in pieces))


async def _send(conn, sel, group: list) -> bool:
    """Read the ``_Read`` sections of a group of planned responses in one store call,
    then write the responses, streaming ``_Range`` sections. Returns whether a message
    had gone from the store meanwhile (its response is left out)."""
    reads = [r for planned in group for r in planned.reads]
    if reads:
        data = await read_ranges(sel.mailbox, [(r.uid, r.start, r.length) for r in reads])
        for r, d in zip(reads, data):
            r.data = d
    vanished = False
    out: list[bytes] = []
    for planned in group:
        pieces = planned.pieces
        if planned.reads:
            if any(r.data is None for r in planned.reads):
                vanished = True
                continue
            # Finished in full before anything of it is queued: a BINARY that cannot be
            # decoded must not leave half a response behind.
            try:
                pieces = [p.finish(p.data) if type(p) is _Read else p for p in pieces]
            except BinaryError:
                conn.write(b"".join(out))
                raise
        if not planned.streams:
            out += pieces
        else:
            for piece in pieces:
                if type(piece) is bytes:
                    out.append(piece)
                    continue
                conn.write(b"".join(out))
                out.clear()
                await _stream(conn, sel, piece)
        if len(out) > 256:
            conn.write(b"".join(out))
            out = []
            await conn.drain()
            if conn.closed:
                return vanished
    if out:
        conn.write(b"".join(out))
    await conn.drain()
    return vanished


_LEGACY = {
    "RFC822": (b"RFC822", Section()),
    "RFC822.HEADER": (b"RFC822.HEADER", Section((), "HEADER")),
    "RFC822.TEXT": (b"RFC822.TEXT", Section((), "TEXT")),
}


async def _stream(conn, sel, rng: _Range) -> None:
    pos, end = rng.start, rng.start + rng.length
    while pos < end and not conn.closed:
        n = min(STREAM_CHUNK, end - pos)
        try:
            data = await sel.mailbox.read_body(rng.uid, pos, n)
        except NotFound:
            # Expunged while we were sending it: the literal's length is on the wire.
            data = b""
        if len(data) < n:
            # The store holds less than its structure promised: pad so the literal
            # stays as long as announced and the client does not hang.
            data += b" " * (n - len(data))
        conn.write(data)
        pos += n
        await conn.drain()


def _section_maker(label: bytes, section, spec, cache_prefix=None):
    """The item maker of a BODY[section]<partial> attribute (``spec`` the partial). With
    ``cache_prefix`` (``SelectedMailbox.cache_prefix``), finished items are kept in and
    answered from ``section_cache``."""
    as_literal = lambda data: label + b" " + encode.literal(data)  # noqa: E731
    nil = [label + b" NIL"]
    empty = [as_literal(b"")]
    if section.fields:
        fields, exclude = section.fields, section.text.endswith(".NOT")

        def filtered(raw):
            return as_literal(sections.partial(sections.filter_header(raw, fields, exclude), spec))

    def item(info, structure) -> list:
        if structure is None:
            # Only sections of the whole message get here (no part, no HEADER/TEXT).
            loc = sections.Located(0, info.size)
        else:
            loc = sections.locate(structure, section)
        if loc.missing:
            return nil
        if loc.fields:
            return [_Read(info.uid, loc.start, loc.end - loc.start, filtered)]
        start, end = loc.start, loc.end
        if spec is not None:
            start = min(start + spec[0], end)
            end = min(start + spec[1], end)
        length = end - start
        if not length:
            return empty
        if length <= STREAM_CHUNK:
            return [_Read(info.uid, start, length, as_literal)]
        return [label + b" {%d}\r\n" % length, _Range(info.uid, start, length)]

    if cache_prefix is None:
        return item
    store_key, account, mailbox, validity = cache_prefix
    get, put = section_cache.get, section_cache.put

    def cached_item(info, structure):
        key = (store_key, account, mailbox, validity, info.uid, label)
        hit = get(key)
        if hit is not None:
            return hit
        got = item(info, structure)
        if len(got) == 1:  # a streamed section is never kept
            piece = got[0]
            if type(piece) is _Read:
                finish = piece.finish
                piece.finish = lambda raw: _kept(put, key, finish(raw))
            else:
                put(key, piece)
        return got

    return cached_item


def _kept(put, key, item: bytes) -> bytes:
    put(key, item)
    return item


def _preview_item(info, structure, utf8: bool):
    """RFC 8970 PREVIEW: the start of the message's text (its first text part, HTML
    dropped), read with the other small sections of its group; "" when it has none."""
    part = bodytext.preview_part(structure)
    length = bodytext.preview_length(part) if part is not None else 0
    if not length:
        return b'PREVIEW ""'

    def finish(raw):
        return b"PREVIEW " + encode.string(bodytext.preview(part, raw), utf8)

    return _Read(info.uid, part.header_end, length, finish)


def _binary_item(info, structure, att):
    """The BINARY[section]<partial> or BINARY.SIZE item of one message."""
    section = att.section or Section()
    spec = ".".join(str(p) for p in section.part)
    loc = sections.locate(structure, section, binary=True) if structure is not None else sections.Located(0, info.size)
    size_only = att.name == "BINARY.SIZE"
    label = (b"BINARY.SIZE[" if size_only else b"BINARY[") + spec.encode() + b"]"
    if loc.missing:
        return label + b" NIL"

    def finish(raw):
        try:
            data = sections.decode_transfer(raw, loc.encoding or "binary")
        except sections.UnknownEncoding:
            raise BinaryError()
        if loc.text:
            # RFC 3516 6: "textual line-oriented sections are always transmitted using
            # the IMAP4 CRLF line termination syntax, regardless of the underlying storage
            # representation" -- a base64 text part may decode to bare LFs.
            data = sections.crlf_lines(data)
        if size_only:
            return label + b" %d" % len(data)
        item = label
        if att.partial is not None:
            item += b"<%d>" % att.partial[0]
            data = sections.partial(data, att.partial)
        return item + b" " + encode.literal(data, binary=b"\x00" in data)

    if loc.end > loc.start:
        return _Read(info.uid, loc.start, loc.end - loc.start, finish)
    return finish(b"")


class BinaryError(Exception):
    pass
