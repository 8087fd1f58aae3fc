"""Drafts a phone writes (EAS 16.0 and later): the Email ``ApplicationData`` of a Sync
``Add`` or ``Change`` (MS-ASCMD 2.2.3.7.2, 2.2.3.24; MS-ASEMAIL 2.2.2) as the RFC 5322
message stored in the folder with ``\\Draft``, so IMAP clients open it as a draft and
every other device gets it as an Email item.

What the phone sends: Email To and Cc, Email2 Bcc (comma- or semicolon-separated
addresses), Subject, Importance (0 low, 1 normal, 2 high) and an AirSyncBase Body of
Type 1 (plain text), 2 (HTML) or 4 (a whole MIME message, as pyactivesync and some phones
send it); Read, Flag and Categories become flags (``email.flag_changes``). A Change
sends only what changed (MS-ASEMAIL: a Change without Categories leaves them as they
are): the other fields keep the stored draft's values, its other header fields and its
attachments stay. Email2:Send (send rather than save) is not served here.

Pure functions over bytes; ``ConversionError`` (Sync Status 6) for what cannot be
stored: no Body in an Add, a body type other than 1, 2 and 4, an address that is not
one, a MIME body that is not a message.
"""

from __future__ import annotations

import email.errors
import email.policy
import re
from datetime import datetime, timezone
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime
from typing import Optional

from smsync.formats.headers import address_field, unstructured_field
from smsync.protocols.eas import outgoing
from smsync.protocols.eas.convert import BASE, HTML, MIME, PLAIN, ConversionError
from smsync.protocols.eas.email import EMAIL, EMAIL2, flag_changes
from smsync.protocols.eas.wbxml import Element

#: How the text part is written: CRLF line ends (the header fields are written by
#: ``smsync.formats.headers``).
POLICY = email.policy.SMTP

#: The flag that makes a stored message a draft (RFC 3501 2.3.2).
DRAFT = "\\Draft"

#: ``(namespace, tag, header field)`` of the recipient fields a phone sends.
RECIPIENT_FIELDS = ((EMAIL, "To", "To"), (EMAIL, "Cc", "Cc"), (EMAIL2, "Bcc", "Bcc"))

#: The ApplicationData fields that change a draft's content (not only its flags).
CONTENT_FIELDS = frozenset({(EMAIL, "To"), (EMAIL, "Cc"), (EMAIL2, "Bcc"), (EMAIL, "Subject"),
                            (EMAIL, "Importance"), (BASE, "Body")})

_PRIORITY_FIELDS = ("importance", "x-priority", "priority", "x-msmail-priority")
_IMPORTANCE = {"0": (b"Importance: low", b"X-Priority: 5 (Lowest)"),
               "2": (b"Importance: high", b"X-Priority: 1 (Highest)")}
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
#: Characters a text body may hold only in an encoded part (all controls but line ends
#: and tab).
_BINARY = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: What an address may look like here: ASCII, a dot-atom local part (no quoted one) and
#: a host name, at most 254 characters (RFC 5321 4.5.3.1.3); the standard library's
#: parser then checks the dots.
_ADDRESS = re.compile(r"(?=.{3,254}$)[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")
#: Most recipients one field takes: a draft is not a mailing list.
MAX_RECIPIENTS = 500


def sends(command: Element) -> bool:
    """Whether a Sync Add or Change asks for the message to be sent (Email2:Send)."""
    return command.find(EMAIL2, "Send") is not None


def edits_content(data: Optional[Element]) -> bool:
    """Whether a Change's ApplicationData touches the message itself (recipients,
    subject, importance or body) rather than only its Read/Flag/Categories."""
    return data is not None and any((c.namespace, c.tag) in CONTENT_FIELDS for c in data.children)


def add_flags(data: Element) -> frozenset:
    """The flags of a new draft: ``\\Draft`` and what Read, Flag and Categories say."""
    add, _ = flag_changes(data)
    return frozenset(add | {DRAFT})


# -- recipients -----------------------------------------------------------------------------


def _entries(text: str) -> list[str]:
    """``text`` cut at the commas and semicolons outside quotes and angle brackets."""
    out, current, quoted, angle, escaped = [], [], False, False, False
    for ch in text:
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"' and not angle:
            quoted = not quoted
        elif ch == "<" and not quoted:
            angle = True
        elif ch == ">" and not quoted:
            angle = False
        elif ch in ",;" and not quoted and not angle:
            out.append("".join(current))
            current = []
            continue
        current.append(ch)
    out.append("".join(current))
    return [e.strip() for e in out if e.strip()]


def _unquote(name: str) -> str:
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        return re.sub(r"\\(.)", r"\1", name[1:-1])
    return name


def recipients(text: Optional[str]) -> list[tuple[str, str]]:
    """``[(display name, address)]`` of a phone's To, Cc or Bcc value
    (``"Name" <a@example.org>, b@example.org``; semicolons separate too).

    Raises:
        ConversionError: an entry that is no address (``bob``, ``a@``, ``<x y@z>``), an
            address that is not ASCII, a control character, or too many entries.
    """
    out = []
    for entry in _entries(text or ""):
        if _CONTROL.search(entry):
            raise ConversionError("a control character in an address")
        if entry.endswith(">") and "<" in entry:
            at = entry.rindex("<")
            name, address = _unquote(entry[:at]), entry[at + 1:-1].strip()
        else:
            name, address = "", entry
        if _ADDRESS.fullmatch(address) is None:
            raise ConversionError(f"not an address: {address[:80]!r}")
        try:
            HeaderAddress(addr_spec=address)
        except (email.errors.MessageError, ValueError, LookupError, TypeError, AttributeError) as e:
            # The standard library's address parser has more ways to fail on hostile
            # input than the ones it documents.
            raise ConversionError(f"not an address: {address[:80]!r}") from e
        out.append((name, address))
    if len(out) > MAX_RECIPIENTS:
        raise ConversionError(f"more than {MAX_RECIPIENTS} recipients")
    return out


def _address_field(header: str, text: Optional[str]) -> Optional[bytes]:
    """The header field ``header`` listing the addresses of ``text`` (None: none)."""
    found = recipients(text)
    return address_field(header, found) if found else None


# -- fields ---------------------------------------------------------------------------------


def _name(field: bytes) -> str:
    return field.split(b":", 1)[0].decode("ascii").strip().lower()


def _replaced(fields: list, names, new=()) -> list:
    """``fields`` without those called one of ``names`` (or, given a function, those whose
    lower-case name it accepts) and with ``new`` where the first of them was (at the end
    when there was none)."""
    if callable(names):
        drop = names
    else:
        lowered = {n.lower() for n in names}
        drop = lowered.__contains__
    at = next((i for i, f in enumerate(fields) if drop(_name(f))), len(fields))
    kept = [f for f in fields[:at] if not drop(_name(f))]
    rest = [f for f in fields[at:] if not drop(_name(f))]
    return kept + [f for f in new if f is not None] + rest


def _is_content_field(name: str) -> bool:
    return name.startswith("content-") or name == "mime-version"


def subject_field(text: Optional[str]) -> Optional[bytes]:
    """The Subject field of a phone's Subject (None: empty). Line breaks and other
    control characters become spaces: a subject is one line."""
    subject = _CONTROL.sub(" ", text or "").strip()
    return unstructured_field("Subject", subject) if subject else None


# -- the body -------------------------------------------------------------------------------


def _body(app: Element) -> Optional[tuple[int, bytes]]:
    """``(AirSyncBase Type, Data as bytes)`` of the phone's Body; None: no Body."""
    body = app.find(BASE, "Body")
    if body is None:
        return None
    kind = body.find(BASE, "Type")
    if kind is None or kind.text not in (str(PLAIN), str(HTML), str(MIME)):
        raise ConversionError(f"a draft's body of type {getattr(kind, 'text', None)!r} is not taken")
    data = body.find(BASE, "Data")
    if data is None:
        raw = b""
    elif data.opaque is not None:
        raw = data.opaque
    else:
        raw = (data.text or "").encode("utf-8")
    return int(kind.text), raw


def _is_multipart(fields: list) -> bool:
    for field in fields:
        if _name(field) == "content-type":
            value = field.split(b":", 1)[1].strip().lower()
            return value.startswith(b"multipart/")
    return False


def _with_text(fields: list, body: bytes, text: str, html: bool) -> tuple[list, bytes]:
    """The message of ``fields`` and ``body`` with its text replaced by ``text`` (HTML
    with ``html``); the attachments of a multipart message stay."""
    part = EmailMessage(POLICY)
    part.set_content(text, subtype="html" if html else "plain", charset="utf-8",
                     cte="quoted-printable" if _BINARY.search(text) else None)
    if _is_multipart(fields):
        old = BytesParser(policy=POLICY).parsebytes(outgoing.join(fields, body))
        attachments = list(old.iter_attachments())
        if attachments:
            part.make_mixed()
            for attachment in attachments:
                part.attach(attachment)
    new_fields, new_body = outgoing.split(part.as_bytes(policy=POLICY))
    return _replaced(fields, _is_content_field, new_fields), new_body


# -- the draft ------------------------------------------------------------------------------


def draft_message(app: Element, account: str, existing: Optional[bytes] = None,
                  now: Optional[datetime] = None) -> bytes:
    """The RFC 5322 message of a phone's draft.

    Args:
        app: the Sync Add's or Change's ``AirSync:ApplicationData``.
        account: the account's address, the draft's From when it has none.
        existing: for a Change, the stored draft: the fields ``app`` leaves out keep
            its values, and its other header fields and attachments stay.
        now: the draft's Date (default: now); a MIME body keeps its own.

    Raises:
        ConversionError: see the module docstring.
    """
    now = now or datetime.now(timezone.utc)
    body = _body(app)
    try:
        if body is not None and body[0] == MIME:
            fields, content = outgoing.split(body[1])
        elif existing is not None:
            fields, content = outgoing.split(existing)
        elif body is None:
            raise ConversionError("a draft needs a Body")
        else:
            fields, content = [], b""
    except outgoing.InvalidMime as e:
        raise ConversionError(f"the draft is not a message: {e}") from None
    for namespace, tag, header in RECIPIENT_FIELDS:
        found = app.find(namespace, tag)
        if found is not None:
            fields = _replaced(fields, (header,), (_address_field(header, found.text),))
    subject = app.find(EMAIL, "Subject")
    if subject is not None:
        fields = _replaced(fields, ("Subject",), (subject_field(subject.text),))
    importance = app.find(EMAIL, "Importance")
    if importance is not None:
        if importance.text not in ("0", "1", "2"):
            raise ConversionError(f"not an Importance: {importance.text!r}"[:80])
        fields = _replaced(fields, _PRIORITY_FIELDS, _IMPORTANCE.get(importance.text, ()))
    if body is None or body[0] != MIME:
        # A saved draft is dated when it was saved, as mail programs date theirs.
        fields = _replaced(fields, ("Date",), (f"Date: {format_datetime(now)}".encode("ascii"),))
    if body is not None and body[0] != MIME:
        try:
            text = body[1].decode("utf-8")
        except UnicodeDecodeError:
            raise ConversionError("the draft's text is not UTF-8") from None
        try:
            fields, content = _with_text(fields, content, text, body[0] == HTML)
        except (email.errors.MessageError, ValueError, LookupError, TypeError, AttributeError) as e:
            # The stored draft may be any message an IMAP client appended; the standard
            # library's parser fails on odd ones in more ways than it documents.
            raise ConversionError(f"the draft's body: {e}") from None
    try:
        return outgoing.completed(outgoing.join(fields, content), account, now)
    except outgoing.InvalidMime as e:
        raise ConversionError(f"the draft is not a message: {e}") from None
