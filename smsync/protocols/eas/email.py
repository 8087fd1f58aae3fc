"""Messages as EAS Email items (MS-ASEMAIL, MS-ASAIRS), converted at the edge from the
stored RFC 5322 bytes and their stored structure: headers from ``MessageStructure``,
the body as the device asks (plain text, HTML or the whole MIME message), transfer- and
charset-decoded and truncated, the attachments as ``FileReference``s that ItemOperations
and GetAttachment resolve; and the device's Read, Flag and Categories changes as flag
deltas.

Only byte ranges are read: the header, the text part, and a few bytes at each end of
each base64 attachment (to size it without reading it), in one ``read_ranges`` round
trip where the mailbox offers it -- for a Sync window, one for all its messages
(``application_data_many``).
"""

from __future__ import annotations

import functools
import hashlib
import html
import re
from datetime import datetime, timezone
from typing import Optional

import attrs
from zope.interface import implementer

from smsync.errors import InvalidData
from smsync.formats.addresses import Address
from smsync.formats.bodytext import decode_body, decode_transfer, html_to_text, text_part
from smsync.formats.headers import decode_text, decode_words, parse_header_fields
from smsync.formats.structure import BodyPart, MessageStructure
from smsync.interfaces import IMailboxRangeReads
from smsync.model import SYSTEM_FLAGS, MessageInfo
from smsync.protocols.eas import meetings
from smsync.protocols.eas.convert import HTML, MIME, PLAIN, BodyOptions, ConversionError, eas_date
from smsync.protocols.eas.wbxml import Element
from smsync.scheduling import itip
from smsync.sync.reads import read_ranges
from smsync.scheduling.imip import MAX_CALENDAR, calendar_part, decode_part

EMAIL = "Email:"
EMAIL2 = "Email2:"
BASE = "AirSyncBase:"

#: Body bytes sent when the device names no truncation (MS-ASAIRS leaves it to the
#: server; a phone's list view needs a preview, not the whole message).
DEFAULT_TRUNCATION = 32 * 1024

#: Most header bytes read for the fields ``MessageStructure`` does not keep.
MAX_HEADER_READ = 64 * 1024

#: Attachment Method values (MS-ASAIRS 2.2.2.31).
NORMAL_ATTACHMENT, EMBEDDED_MESSAGE = 1, 5

#: Keywords that are protocol state rather than a user's category (RFC 5788 registry
#: and what common clients set), never shown as Categories.
_NOT_CATEGORIES = frozenset(k.lower() for k in (
    "$Forwarded", "$MDNSent", "$Junk", "$NotJunk", "$Phishing", "$Submitted",
    "$SubmitPending", "$Important", "Junk", "NonJunk", "NotJunk", "$Answered",
    "$Recent", "Forwarded", "$HasAttachment", "$HasNoAttachment", "$IsTrusted"))
_SYSTEM = frozenset(f.lower() for f in SYSTEM_FLAGS) | {"\\recent"}


# -- parts -------------------------------------------------------------------------------


def _leaves(part: BodyPart, path: tuple):
    """``(IMAP section path, part)`` of each non-multipart part, without descending into
    attached messages (those are one attachment each)."""
    if part.children:
        for n, child in enumerate(part.children, 1):
            yield from _leaves(child, path + (n,))
    else:
        yield path or (1,), part


def attachment_parts(structure: MessageStructure) -> list:
    """``[(path, part)]`` of the parts a device shows as attachments: every leaf but the
    message's text and HTML bodies -- declared attachments, files, attached messages,
    and inline images (listed with ``IsInline`` so that the HTML's ``cid:`` finds them)."""
    root = structure.root
    if not root.children and (text_part(root) is root or text_part(root, True) is root):
        return []  # most mail: one text part, its body
    bodies = {id(p) for p in (text_part(structure.root), text_part(structure.root, True))
              if p is not None}
    out = []
    for path, part in _leaves(structure.root, ()):
        if id(part) in bodies:
            continue
        if (part.type == "text" and part.disposition != "attachment" and not part.filename
                and part.subtype in ("plain", "html")):
            continue  # a further text alternative, shown as body text by clients
        if part.type == "application" and part.subtype in ("pkcs7-signature", "x-pkcs7-signature"):
            continue  # an S/MIME signature is part of the MIME body, not a file
        out.append((path, part))
    return out


def file_reference(folder_id: str, uid: int, path: tuple) -> str:
    """The AirSyncBase FileReference of the part at ``path`` of message ``uid``:
    ``"<folder id>:<uid>:<dotted path>"``; ``parse_file_reference`` reads it back."""
    return f"{folder_id}:{uid}:{'.'.join(str(n) for n in path)}"


def parse_file_reference(text: Optional[str]) -> tuple[str, int, tuple]:
    """``(folder id, uid, part path)`` of a FileReference. ``ValueError`` for anything
    ``file_reference`` did not make."""
    folder, sep1, rest = (text or "").rpartition(":")
    folder, sep2, uid = folder.rpartition(":")
    if not (sep1 and sep2 and folder and uid.isascii() and uid.isdigit()):
        raise ValueError(f"not a file reference: {text!r}"[:120])
    try:
        path = tuple(int(n) for n in rest.split("."))
    except ValueError:
        raise ValueError(f"not a file reference: {text!r}"[:120]) from None
    if not path or any(n < 1 for n in path) or len(path) > 32 or int(uid) < 1:
        raise ValueError(f"not a file reference: {text!r}"[:120])
    return folder, int(uid), path


def attachment_name(part: BodyPart, path: tuple) -> str:
    """The file name a device shows for an attachment (made up when the part has none)."""
    name = part.filename
    if name:
        return name
    if part.mime_type == "message/rfc822":
        subject = decode_words(part.envelope.subject or "") if part.envelope else ""
        return (re.sub(r'[\\/:*?"<>|\r\n\t]+', " ", subject).strip()[:80] or "message") + ".eml"
    extension = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif",
                 "application/pdf": ".pdf", "text/plain": ".txt", "text/html": ".html",
                 "text/calendar": ".ics"}.get(part.mime_type, ".bin")
    return f"attachment-{'.'.join(map(str, path))}{extension}"


def attachment_content_type(part: BodyPart) -> str:
    return part.mime_type


async def attachment_bytes(mailbox, uid: int, part: BodyPart) -> Optional[bytes]:
    """The attachment's decoded bytes (None: the message is gone)."""
    (raw,) = await read_ranges(mailbox, [(uid, part.header_end, part.body_end - part.header_end)])
    return None if raw is None else decode_transfer(raw, part.encoding)


#: Bytes read at each end of a base64 attachment to size it.
_HEAD, _TAIL = 200, 8


def _base64_size(size: int, head: bytes, tail: bytes) -> int:
    """The decoded size of a base64 body of ``size`` bytes from its first and last
    bytes: exact for the usual layout (lines of one length, one line-break style)."""
    newline = head.find(b"\n")
    stripped_tail = tail.rstrip(b" \t\r\n")
    padding = len(stripped_tail) - len(stripped_tail.rstrip(b"="))
    content = size - (len(tail) - len(stripped_tail))
    if newline < 0:
        chars = content - sum(head.count(c) for c in b" \t\r")
    else:
        brk = 2 if newline > 0 and head[newline - 1:newline] == b"\r" else 1
        line = newline - (brk - 1)
        if line <= 0:
            return size * 3 // 4
        lines = (content + brk) // (line + brk)
        chars = lines * line + max(content - lines * (line + brk), 0)
    return max(chars // 4 * 3 - padding, 0)


def _size_plan(uid: int, parts: list) -> tuple[list, list]:
    """``(ranges to read, how each part is sized)`` for ``attachment_sizes``."""
    ranges, index = [], []
    for part in parts:
        length = part.body_end - part.header_end
        if (part.encoding or "").lower() == "base64" and length > _HEAD + _TAIL:
            index.append(("b64", len(ranges)))
            ranges += [(uid, part.header_end, _HEAD), (uid, part.body_end - _TAIL, _TAIL)]
        elif (part.encoding or "").lower() in ("base64", "quoted-printable") and length <= 64 * 1024:
            index.append(("whole", len(ranges)))
            ranges.append((uid, part.header_end, length))
        else:
            index.append(("as stored", None))
    return ranges, index


async def attachment_sizes(mailbox, uid: int, parts: list) -> list:
    """The decoded size of each part in ``parts``: base64 ones from a few bytes at each
    end, small quoted-printable ones by decoding them, the rest as stored."""
    ranges, index = _size_plan(uid, parts)
    read = await read_ranges(mailbox, ranges)
    out = []
    for part, (how, at) in zip(parts, index):
        length = part.body_end - part.header_end
        if how == "b64" and read[at] is not None and read[at + 1] is not None:
            out.append(_base64_size(length, read[at], read[at + 1]))
        elif how == "whole" and read[at] is not None:
            out.append(len(decode_transfer(read[at], part.encoding)))
        else:
            out.append(length)
    return out


# -- HTML and text ------------------------------------------------------------------------


def text_to_html(text: str) -> str:
    """Plain text as an HTML body showing the same lines."""
    escaped = html.escape(text).replace("\r\n", "\n").replace("\n", "<br>\n")
    return f"<html><body><div>{escaped}</div></body></html>"


def _utf8_prefix(data: bytes) -> str:
    """Text of bytes cut at an arbitrary point: UTF-8 when it is (a character split by
    the cut dropped), else Latin-1 byte for byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start >= len(data) - 3 and e.reason == "unexpected end of data":
            return data[:e.start].decode("utf-8")
        return decode_text(data)


def _cut_utf8(text: str, limit: int) -> tuple[bytes, bool]:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return data, False
    return data[:limit].decode("utf-8", "ignore").encode("utf-8"), True


# -- headers --------------------------------------------------------------------------------


def _address(address: Address) -> Optional[str]:
    if address.email is None:
        return None
    name = decode_words(address.name or "").strip()
    if name:
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{quoted}" <{address.email}>'
    return address.email


def _addresses(addresses) -> str:
    return ", ".join(a for a in (_address(x) for x in addresses) if a)


def display_names(addresses) -> str:
    """What DisplayTo shows: each recipient's name, or its address where it has none."""
    out = []
    for address in addresses:
        if address.email is None:
            continue
        out.append(decode_words(address.name or "").strip() or address.email)
    return "; ".join(out)


def importance(fields: list) -> int:
    """MS-ASEMAIL Importance (0 low, 1 normal, 2 high) from Importance, X-Priority or
    Priority."""
    for name, value in fields:
        value = value.strip().lower()
        if name == "importance":
            if value.startswith("high"):
                return 2
            if value.startswith("low"):
                return 0
        elif name == "x-priority" and value[:1].isdigit():
            return 2 if value[0] in "12" else 0 if value[0] in "45" else 1
        elif name in ("priority", "x-msmail-priority"):
            if value.startswith(("urgent", "high")):
                return 2
            if value.startswith(("non-urgent", "low")):
                return 0
    return 1


_REPLY_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|sv|vs|tr|antw)\s*(\[\d+\])?\s*:\s*)+", re.I)


def thread_topic(subject: str) -> str:
    """The subject without reply and forward prefixes."""
    return _REPLY_PREFIX.sub("", subject).strip()


def conversation_id(structure: MessageStructure, fallback: str) -> bytes:
    """16 opaque bytes, equal for the messages of one thread: derived from the thread's
    root (the first References id, else In-Reply-To, else the message's own id)."""
    root = (structure.references[0] if structure.references
            else (structure.in_reply_to or "").strip() or structure.message_id or fallback)
    return hashlib.md5(root.strip().encode("utf-8", "replace")).digest()


def conversation_index(when: datetime) -> bytes:
    """A ConversationIndex header block: the upper five bytes of the date's FILETIME
    (the layout MS-OXOMSG gives the index's first timestamp)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    epoch = datetime(1601, 1, 1, tzinfo=timezone.utc)
    filetime = int((when - epoch).total_seconds() * 10_000_000)
    return (filetime >> 24).to_bytes(5, "big", signed=False)


def smime_class(structure: MessageStructure) -> Optional[str]:
    """The MessageClass of an S/MIME message, None for any other."""
    root = structure.root
    if root.mime_type == "multipart/signed" and "pkcs7" in (root.param("protocol") or "").lower():
        return "IPM.Note.SMIME.MultipartSigned"
    if root.type == "application" and root.subtype in ("pkcs7-mime", "x-pkcs7-mime"):
        return "IPM.Note.SMIME"
    return None


# -- categories ---------------------------------------------------------------------------


_KEYWORD_SAFE = re.compile(r"[!#$&'+\-.0-9:;<=>?@A-Z^_`a-z|]")


def category_keyword(category: str) -> str:
    """An IMAP keyword (an atom) naming ``category``: characters an atom cannot hold,
    non-ASCII and ``~`` itself written ``~XX`` (UTF-8 bytes in hex); ``keyword_category``
    reads it back."""
    out = []
    for ch in category:
        if _KEYWORD_SAFE.match(ch):
            out.append(ch)
        else:
            out.extend(f"~{b:02X}" for b in ch.encode("utf-8"))
    keyword = "".join(out)
    if not is_category(keyword) and keyword:
        # A category named like a protocol keyword ("$Forwarded", "Junk") must not
        # become that keyword: its first character is escaped.
        keyword = "".join(f"~{b:02X}" for b in keyword[0].encode("utf-8")) + keyword[1:]
    return keyword


_ESCAPES = re.compile(r"(?:~[0-9A-Fa-f]{2})+")


def keyword_category(keyword: str) -> str:
    """The category an IMAP keyword shows as (``category_keyword`` undone)."""
    return _ESCAPES.sub(lambda m: bytes.fromhex(m.group(0).replace("~", "")).decode("utf-8", "replace"),
                        keyword)


def is_category(flag: str) -> bool:
    """Whether a flag is a user's keyword shown as a Category (not a system flag or a
    protocol keyword such as ``$Forwarded``)."""
    lowered = flag.lower()
    return not flag.startswith("\\") and lowered not in _SYSTEM and lowered not in _NOT_CATEGORIES


def categories(flags) -> list[str]:
    return sorted(keyword_category(f) for f in flags if is_category(f))


# -- the body -------------------------------------------------------------------------------


@attrs.frozen
class MessageBody:
    """A message's body as the device gets it.

    Attributes:
        type: the AirSyncBase Type sent (PLAIN, HTML or MIME).
        data: the bytes sent, cut as asked: UTF-8 text, or the RFC 5322 message for MIME.
        size: the whole body's size (EstimatedDataSize).
        truncated: whether ``data`` is less than the whole body.
        native: the message's own body type (HTML when it has an HTML part).
        preview: the plain-text preview asked for, else None.
    """

    type: int
    data: bytes
    size: int
    truncated: bool
    native: int
    preview: Optional[str] = None

    @property
    def text(self) -> str:
        return _utf8_prefix(self.data)


def wants_mime(structure: MessageStructure, options: BodyOptions) -> bool:
    """Whether the device gets the MIME body: it asked for Type 4 with MIMESupport 2, or
    allows MIME for S/MIME messages (1 or 2) and this is one."""
    if options.mime_support == 2 and options.type == MIME:
        return True
    return options.mime_support >= 1 and smime_class(structure) is not None


def _body_range(info: MessageInfo, structure: MessageStructure, options: BodyOptions,
                limit: Optional[int], plain_part, html_part) -> Optional[tuple]:
    """The ``(uid, offset, length)`` ``message_body`` reads (None: no text part)."""
    if wants_mime(structure, options):
        return (info.uid, 0, structure.size if limit is None else min(structure.size, limit))
    wanted_html = options.type == HTML
    part = (html_part or plain_part) if wanted_html else (plain_part or html_part)
    if part is None:
        return None
    length = part.body_end - part.header_end
    if limit is not None:
        # Enough raw bytes for ``limit`` bytes of text even base64-encoded or, for
        # HTML shown as text, with markup around it.
        length = min(length, limit * (8 if part.subtype == "html" and not wanted_html else 2) + 1024)
    return (info.uid, part.header_end, length)


def _preview_range(uid: int, plain_part, html_part, chars: int) -> Optional[tuple]:
    """The ``(uid, offset, length)`` ``_preview`` reads (None: no text part)."""
    part = plain_part or html_part
    if part is None:
        return None
    return (uid, part.header_end, min(part.body_end - part.header_end, chars * 16 + 1024))


def _preview_read(structure: MessageStructure, options: BodyOptions) -> bool:
    """Whether ``message_body`` reads the preview apart from the body (it cuts a plain
    body's own text otherwise)."""
    return options.preview > 0 and (wants_mime(structure, options) or options.type == HTML)


async def message_body(mailbox, info: MessageInfo, structure: MessageStructure,
                       options: BodyOptions, limit: Optional[int]) -> MessageBody:
    """The body ``options`` ask for, cut to ``limit`` bytes (None: whole); with
    AllOrNone a body that does not fit is sent empty and marked truncated."""
    plain_part = text_part(structure.root)
    html_part = text_part(structure.root, True)
    native = HTML if html_part is not None else PLAIN
    preview_wanted = options.preview > 0
    wanted_range = _body_range(info, structure, options, limit, plain_part, html_part)
    if wants_mime(structure, options):
        (raw,) = await read_ranges(mailbox, [wanted_range])
        data = raw or b""
        truncated = len(data) < structure.size
        preview = None
        if preview_wanted:
            preview = await _preview(mailbox, info.uid, plain_part, html_part, options.preview)
        return _all_or_none(MessageBody(MIME, data, structure.size, truncated, native, preview),
                            options)
    wanted_html = options.type == HTML
    part = (html_part or plain_part) if wanted_html else (plain_part or html_part)
    text = ""
    if part is not None:
        length = wanted_range[2]
        (raw,) = await read_ranges(mailbox, [wanted_range])
        text = decode_body(raw or b"", part)
        if part.subtype == "html" and not wanted_html:
            text = html_to_text(text)
        elif part.subtype == "plain" and wanted_html:
            text = text_to_html(text)
    body_type = HTML if wanted_html else PLAIN
    data, truncated = _cut_utf8(text, limit) if limit is not None else (text.encode("utf-8"), False)
    if part is not None and part.body_end - part.header_end > length:
        truncated = True
    size = max(len(text.encode("utf-8")), part.size if part is not None else 0)
    preview = None
    if preview_wanted:
        if body_type == PLAIN:
            preview = _cut_preview(text, options.preview)
        else:
            preview = await _preview(mailbox, info.uid, plain_part, html_part, options.preview)
    return _all_or_none(MessageBody(body_type, data, size, truncated, native, preview), options)


def _all_or_none(body: MessageBody, options: BodyOptions) -> MessageBody:
    if options.all_or_none and body.truncated:
        return attrs.evolve(body, data=b"")
    return body


def _cut_preview(text: str, chars: int) -> str:
    return re.sub(r"\s+", " ", text).strip()[:chars]


async def _preview(mailbox, uid: int, plain_part, html_part, chars: int) -> str:
    part = plain_part or html_part
    if part is None:
        return ""
    (raw,) = await read_ranges(mailbox, [_preview_range(uid, plain_part, html_part, chars)])
    text = decode_body(raw or b"", part)
    return _cut_preview(html_to_text(text) if part is html_part else text, chars)


def body_element(body: MessageBody, part: Optional[int] = None) -> Element:
    """``AirSyncBase:Body`` of ``body``; with ``part``, the data travels as that part of
    a multipart ItemOperations answer (``ItemOperations:Part`` replaces ``Data``)."""
    children = [_leaf(BASE, "Type", str(body.type)),
                Element(BASE, "EstimatedDataSize", (), str(body.size)),
                _leaf(BASE, "Truncated", "1" if body.truncated else "0")]
    if part is not None:
        children.append(Element("ItemOperations:", "Part", (), str(part)))
    elif body.data:
        children.append(Element(BASE, "Data", (), body.text))
    if body.preview:
        children.append(Element(BASE, "Preview", (), body.preview))
    return Element(BASE, "Body", tuple(children))


# -- the item -------------------------------------------------------------------------------


def at_least(version: Optional[str], wanted: float) -> bool:
    """Whether protocol ``version`` (None: the newest) is ``wanted`` or later."""
    if version is None:
        return True
    try:
        return float(version) >= wanted
    except ValueError:
        return False


def _e(tag: str, text: Optional[str] = None, *children) -> Element:
    return Element(EMAIL, tag, children, text)


@functools.lru_cache(maxsize=256)
def _leaf(namespace: str, tag: str, text: str) -> Element:
    """A leaf element of one of the few values a field takes (Read 0/1, Importance...):
    elements are immutable, so every item of a window shares one."""
    return Element(namespace, tag, (), text)


def _header_range(info: MessageInfo, structure: MessageStructure) -> tuple:
    return (info.uid, 0, min(structure.header_size, MAX_HEADER_READ))


async def email_fields(mailbox, info: MessageInfo, structure: MessageStructure,
                       version: Optional[str] = None) -> tuple[list, list, int]:
    """The Email item's fields but its Body, split where the Body goes:
    ``(fields before the Body, fields after it, where NativeBodyType goes in the
    second)``."""
    envelope = structure.envelope
    # The header range is the one ``application_data_many`` plans for the window; an
    # invitation's calendar part is read here (rare enough not to plan).
    ranges = [_header_range(info, structure)]
    invitation = calendar_part(structure)
    if invitation is not None and invitation.body_end - invitation.header_end <= MAX_CALENDAR:
        ranges.append((info.uid, invitation.header_end, invitation.body_end - invitation.header_end))
    else:
        invitation = None
    header, *calendar = await read_ranges(mailbox, ranges)
    # Only the priority headers are read from the header: most messages have none, and
    # parsing every field of every message of a window for them is a Sync's largest
    # avoidable cost.
    lowered = (header or b"").lower()
    fields = parse_header_fields(header) if b"priority" in lowered or b"importance" in lowered else []
    meeting = _meeting(invitation, calendar[0] if calendar else None, mailbox, version)
    before = [
        # From the parsed addresses, each name quoted: the decoded header would lose the
        # quotes an encoded name with a comma needs to read back as one address.
        _e("To", _addresses(envelope.to) or structure.to or None),
        _e("Cc", _addresses(envelope.cc) or structure.cc or None),
    ]
    if at_least(version, 16.0) and envelope.bcc:
        # Drafts and sent copies carry their Bcc (MS-ASEMAIL email2:Bcc, 16.0 and later).
        before.append(Element(EMAIL2, "Bcc", (), _addresses(envelope.bcc) or None))
    before += [
        _e("From", structure.from_ or None),
        _e("Subject", structure.subject or None),
    ]
    if envelope.reply_to and envelope.reply_to != envelope.from_:
        before.append(_e("ReplyTo", _addresses(envelope.reply_to) or None))
    before += [
        _e("DateReceived", eas_date(info.internal_date)),
        _e("DisplayTo", display_names(envelope.to) or None),
        _e("ThreadTopic", thread_topic(structure.subject) or None),
        _leaf(EMAIL, "Importance", str(importance(fields))),
        _leaf(EMAIL, "Read", "1" if "\\Seen" in info.flags else "0"),
    ]
    attachments = attachment_parts(structure)
    if attachments:
        sizes = await attachment_sizes(mailbox, info.uid, [p for _, p in attachments])
        before.append(Element(BASE, "Attachments", tuple(
            _attachment(mailbox.id, info.uid, path, part, size)
            for (path, part), size in zip(attachments, sizes))))
    after = [
        _leaf(EMAIL, "MessageClass", (meeting[0] if meeting else None) or smime_class(structure) or "IPM.Note"),
        *((meeting[1],) if meeting and meeting[1] is not None else ()),
        _leaf(EMAIL, "InternetCPID", "65001"),
        _e("Flag", None, *((_e("Status", "2"), _e("FlagType", "Flag for follow up"))
                           if "\\Flagged" in info.flags else ())),
        _leaf(EMAIL, "ContentClass", "urn:content-classes:message"),
    ]
    native_at = len(after)
    if at_least(version, 14.0):
        when = structure.date or info.internal_date
        after += [
            Element(EMAIL2, "ConversationId", opaque=conversation_id(
                structure, f"{mailbox.id}/{info.uid}")),
            Element(EMAIL2, "ConversationIndex", opaque=conversation_index(when)),
        ]
        if envelope.sender and envelope.sender != envelope.from_:
            after.append(Element(EMAIL2, "Sender", (), _addresses(envelope.sender[:1]) or None))
        account = (getattr(mailbox, "account", None) or "").lower()
        if account and any((a.email or "").lower() == account for a in envelope.bcc):
            after.append(Element(EMAIL2, "ReceivedAsBcc", (), "1"))
    if at_least(version, 16.0):
        after.append(_leaf(EMAIL2, "IsDraft", "1" if "\\Draft" in info.flags else "0"))
    names = categories(info.flags)
    if names:
        after.append(_e("Categories", None, *(_e("Category", n) for n in names)))
    return before, after, native_at


def _meeting(part: Optional[BodyPart], raw: Optional[bytes], mailbox,
             version: Optional[str]) -> Optional[tuple]:
    """``(MessageClass, MeetingRequest element or None)`` of a message whose calendar
    part is ``part`` (its raw body ``raw``), or None when it is no meeting message. An
    invitation that cannot be read shows as plain mail."""
    if part is None or raw is None:
        return None
    ics = decode_part(raw, part)
    try:
        method = itip.parse_itip(ics).method
    except InvalidData:
        return None
    account = getattr(mailbox, "account", None)
    cls = meetings.message_class(method, ics, account)
    if cls is None:
        return None
    if method not in (itip.REQUEST, itip.CANCEL):
        return cls, None
    try:
        return cls, meetings.meeting_request(ics, version, account)
    except ConversionError:
        return None


def _attachment(folder_id: str, uid: int, path: tuple, part: BodyPart, size: int) -> Element:
    inline = part.disposition == "inline" or (part.disposition is None and part.id is not None)
    children = [
        Element(BASE, "DisplayName", (), attachment_name(part, path)),
        Element(BASE, "FileReference", (), file_reference(folder_id, uid, path)),
        Element(BASE, "Method", (), str(EMBEDDED_MESSAGE if part.mime_type == "message/rfc822"
                                        else NORMAL_ATTACHMENT)),
        Element(BASE, "EstimatedDataSize", (), str(size)),
    ]
    if part.id:
        children.append(Element(BASE, "ContentId", (), part.id.strip().strip("<>")))
    if part.location:
        children.append(Element(BASE, "ContentLocation", (), part.location))
    if inline:
        children.append(Element(BASE, "IsInline", (), "1"))
    return Element(BASE, "Attachment", tuple(children))


def _kept(elements) -> tuple:
    return tuple(c for c in elements
                 if c.text or c.children or c.opaque is not None or c.tag == "Flag")


async def application_data(mailbox, info: MessageInfo, structure: MessageStructure,
                           options: BodyOptions = BodyOptions(),
                           version: Optional[str] = None) -> Element:
    """The ``AirSync:ApplicationData`` of one message, its body as ``options`` ask (cut
    to ``DEFAULT_TRUNCATION`` when they name no size). ``version`` is the device's
    protocol version: the Email2 fields and Preview go to 14.0 and later (None: the
    newest)."""
    limit = DEFAULT_TRUNCATION if options.truncation is None else options.truncation
    if not at_least(version, 14.0):
        options = attrs.evolve(options, preview=0)
    before, after, native_at = await email_fields(mailbox, info, structure, version)
    body = await message_body(mailbox, info, structure, options, limit)
    after.insert(native_at, _leaf(BASE, "NativeBodyType", str(body.native)))
    return Element("AirSync:", "ApplicationData",
                   _kept(before) + (body_element(body),) + _kept(after))


#: Most bytes one ``read_ranges`` call of ``application_data_many`` asks for: a window
#: of large bodies (a device may ask for MIME without truncation) is read in several.
MAX_BATCH_READ = 8 * 1024 * 1024


def _ranges_read(info: MessageInfo, structure: MessageStructure, options: BodyOptions,
                 limit: Optional[int]) -> list:
    """Every range ``application_data`` reads for one message (``options`` as adjusted
    to the version there), from the same helpers its readers use."""
    out = [_header_range(info, structure)]
    attachments = attachment_parts(structure)
    if attachments:
        out += _size_plan(info.uid, [p for _, p in attachments])[0]
    plain_part, html_part = text_part(structure.root), text_part(structure.root, True)
    body = _body_range(info, structure, options, limit, plain_part, html_part)
    if body is not None:
        out.append(body)
    if _preview_read(structure, options):
        preview = _preview_range(info.uid, plain_part, html_part, options.preview)
        if preview is not None:
            out.append(preview)
    return out


@implementer(IMailboxRangeReads)
class _ReadAhead:
    """A mailbox whose byte ranges were read beforehand: those come from memory, any
    other range from the mailbox; everything else is the mailbox's own."""

    def __init__(self, mailbox, read: dict):
        self._mailbox = mailbox
        self._read = read

    def __getattr__(self, name):
        return getattr(self._mailbox, name)

    async def read_ranges(self, ranges):
        missing = [r for r in ranges if r not in self._read]
        if missing:
            self._read.update(zip(missing, await read_ranges(self._mailbox, missing)))
        return [self._read[r] for r in ranges]


def _spans(ranges: list) -> dict:
    """The ranges to read for ``ranges`` (uid, offset, length): those of one message
    that touch or overlap are read as one (a header and the body right after it are one
    file read, not two) -> the wanted ranges each span holds."""
    spans: dict = {}
    current, members = None, []
    for r in sorted(ranges, key=lambda r: (r[0], r[1])):
        if current is not None and r[0] == current[0] and r[1] <= current[1] + current[2]:
            current = (current[0], current[1], max(current[1] + current[2], r[1] + r[2]) - current[1])
            members.append(r)
            continue
        if current is not None:
            spans[current] = members
        current, members = r, [r]
    if current is not None:
        spans[current] = members
    return spans


async def application_data_many(mailbox, messages: list, options: BodyOptions = BodyOptions(),
                                version: Optional[str] = None) -> list:
    """``application_data`` of each ``(info, structure)`` in ``messages``, in order,
    with the byte ranges of them all read in one ``read_ranges`` round trip (several
    when they add up to more than ``MAX_BATCH_READ`` bytes) rather than one or more per
    message."""
    limit = DEFAULT_TRUNCATION if options.truncation is None else options.truncation
    shown = options if at_least(version, 14.0) else attrs.evolve(options, preview=0)
    wanted = list(dict.fromkeys(r for info, structure in messages
                                for r in _ranges_read(info, structure, shown, limit)))
    spans = _spans(wanted)
    read: dict = {}
    batch: list = []
    size = 0
    for r in list(spans) + [None]:
        if r is None or (batch and size + r[2] > MAX_BATCH_READ):
            for (uid, start, _), data in zip(batch, await read_ranges(mailbox, batch)):
                for want in spans[(uid, start, _)]:
                    offset = want[1] - start
                    read[want] = data[offset:offset + want[2]] if data is not None else None
            batch, size = [], 0
        if r is not None:
            batch.append(r)
            size += r[2]
    ahead = _ReadAhead(mailbox, read)
    return [await application_data(ahead, info, structure, options, version)
            for info, structure in messages]


def flag_changes(data: Element, current=None) -> tuple[set, set]:
    """``(flags to add, flags to remove)`` a device's Change of a message asks for.

    Read and Flag map to ``\\Seen`` and ``\\Flagged``. Categories, when the Change
    carries them, are the message's whole category list: each becomes a keyword to add;
    with ``current`` (the message's flags now) the category keywords not listed any
    more are removed too."""
    add, remove = set(), set()
    read = data.find(EMAIL, "Read")
    if read is not None:
        (add if read.text == "1" else remove).add("\\Seen")
    flag = data.find(EMAIL, "Flag")
    if flag is not None:
        status = flag.find(EMAIL, "Status")
        (add if status is not None and status.text == "2" else remove).add("\\Flagged")
    cats = data.find(EMAIL, "Categories")
    if cats is not None:
        wanted = {category_keyword(c.text) for c in cats.children
                  if c.tag == "Category" and c.text}
        add |= wanted
        if current is not None:
            lowered = {w.lower() for w in wanted}
            remove |= {f for f in current if is_category(f) and f.lower() not in lowered}
    return add, remove
