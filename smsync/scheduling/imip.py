"""iMIP (RFC 6047): iTIP messages carried by mail.

``imip_message`` writes the mail any iTIP message travels in (``return_path`` heads
the copy filed in a local Inbox); ``reply_message`` the one of an attendee's answer: a
``multipart/alternative`` of a short text for people and the ``text/calendar;
method=REPLY`` part for their calendar software, from the attendee to the organizer.
``calendar_part`` and ``read_calendar`` find and read the iTIP object of a stored
message from its ``MessageStructure``, reading only that part's bytes;
``may_carry_calendar`` and ``calendar_of_message`` do it for a message being delivered.
"""

from __future__ import annotations

import base64
import binascii
import email
import quopri
import re
import uuid
from datetime import datetime, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses
from typing import Optional

from smsync.errors import NotFound
from smsync.formats.headers import decode_charset
from smsync.formats.structure import BodyPart, MessageStructure

#: The largest calendar part read from a message: an invitation is a few kilobytes,
#: and one with many instances some dozens.
MAX_CALENDAR = 512 * 1024

#: The subject prefix of a reply, by PARTSTAT (what Outlook and Exchange write, which
#: people recognise in any client).
SUBJECT_PREFIX = {"ACCEPTED": "Accepted", "TENTATIVE": "Tentative", "DECLINED": "Declined",
                  "DELEGATED": "Delegated", "NEEDS-ACTION": "Response"}
_SENTENCE = {"ACCEPTED": "has accepted", "TENTATIVE": "has tentatively accepted",
             "DECLINED": "has declined", "DELEGATED": "has delegated",
             "NEEDS-ACTION": "has not yet answered"}


def _one_line(text: str) -> str:
    """``text`` as one header line: whatever Python's email package counts as a line
    break (NEL, LINE SEPARATOR... as well as CR and LF) becomes a space. Event titles
    and names come from other people's calendars and may hold anything."""
    return " ".join(text.splitlines()) if text else text


def _mailbox(address: str, name: Optional[str]) -> str:
    try:
        return str(Address(display_name=_one_line(name or ""), addr_spec=address))
    except (ValueError, IndexError):
        return address


def imip_message(calendar: bytes, *, method: str, sender: str, recipients: list[str],
                 subject: str, text: str, sender_name: Optional[str] = None,
                 now: Optional[datetime] = None) -> bytes:
    """An RFC 6047 message from ``sender`` to ``recipients``: ``text`` for people and
    ``calendar`` (an iTIP object whose METHOD is ``method``) as its ``text/calendar``
    alternative, UTF-8 throughout; with Date and a Message-ID in the sender's domain.
    The RFC 5322 bytes, CRLF line ends."""
    message = EmailMessage(policy=SMTP)
    message["From"] = _mailbox(sender, sender_name)
    message["To"] = _one_line(", ".join(recipients))
    message["Subject"] = _one_line(subject)
    message["Date"] = format_datetime((now or datetime.now(timezone.utc)).astimezone(timezone.utc))
    domain = sender.rpartition("@")[2] or "localhost"
    message["Message-ID"] = f"<{uuid.uuid4().hex}@{domain}>"
    # Outlook files a message with this class as a meeting message, not plain mail.
    message["Content-Class"] = "urn:content-classes:calendarmessage"
    message.set_content(text, charset="utf-8")
    message.add_alternative(calendar.decode("utf-8", "replace"), subtype="calendar",
                            charset="utf-8", params={"method": method.upper()})
    return message.as_bytes(policy=SMTP)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def return_path(sender: str) -> bytes:
    """The ``Return-Path`` field a message from ``sender`` is filed in a local Inbox
    with (control characters made ``?``: an address is one header line)."""
    return f"Return-Path: <{_CONTROL.sub('?', sender)}>\r\n".encode("utf-8")


def reply_message(reply_ics: bytes, *, attendee: str, organizer: str, partstat: str,
                  summary: Optional[str] = None, attendee_name: Optional[str] = None,
                  comment: Optional[str] = None, now: Optional[datetime] = None) -> bytes:
    """The iMIP message carrying ``reply_ics`` (an ``itip.reply``) from ``attendee`` to
    ``organizer``: subject "Accepted: <summary>" (Tentative, Declined ...), a sentence
    saying the answer, then ``comment``."""
    partstat = partstat.upper()
    prefix = SUBJECT_PREFIX.get(partstat, "Response")
    title = summary or "(no subject)"
    who = attendee_name or attendee
    text = f"{who} {_SENTENCE.get(partstat, 'has answered')} this invitation: {title}\n"
    if comment:
        text += "\n" + comment.strip() + "\n"
    return imip_message(reply_ics, method="REPLY", sender=attendee, recipients=[organizer],
                        subject=f"{prefix}: {title}", text=text, sender_name=attendee_name,
                        now=now)


def _leaves(part: BodyPart):
    """Non-multipart parts, depth first, not inside attached messages."""
    if part.children:
        for child in part.children:
            yield from _leaves(child)
    else:
        yield part


def calendar_part(structure: MessageStructure) -> Optional[BodyPart]:
    """The message's iTIP part: the first ``text/calendar`` part with a ``method``
    parameter, else the first ``text/calendar`` part (not inside attached messages), or
    None."""
    root = structure.root
    if not root.children:
        return root if root.mime_type == "text/calendar" else None
    parts = [p for p in _leaves(root) if p.mime_type == "text/calendar"]
    return next((p for p in parts if p.param("method")), parts[0] if parts else None)


_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/=]")


def decode_part(raw: bytes, part: BodyPart) -> bytes:
    """A calendar part's body as UTF-8 iCalendar: transfer encoding undone, charset
    applied (iCalendar is UTF-8, RFC 5545; a part labelled otherwise is converted)."""
    encoding = (part.encoding or "7bit").lower()
    try:
        if encoding == "base64":
            raw = base64.b64decode(_NOT_BASE64.sub(b"", raw))
        elif encoding == "quoted-printable":
            raw = quopri.decodestring(raw)
    except (binascii.Error, ValueError):
        pass
    charset = (part.param("charset") or "utf-8").lower()
    if charset in ("utf-8", "utf8", "us-ascii"):
        return raw
    return decode_charset(raw, charset).encode("utf-8")


async def read_calendar(mailbox, uid: int, structure: MessageStructure,
                        limit: int = MAX_CALENDAR) -> Optional[bytes]:
    """The decoded iTIP object of message ``uid`` of ``mailbox`` (an ``IMailbox``), or
    None when it has no calendar part, the part is over ``limit`` bytes, or the message
    is gone."""
    part = calendar_part(structure)
    if part is None or part.body_end - part.header_end > limit:
        return None
    try:
        raw = await mailbox.read_body(uid, part.header_end, part.body_end - part.header_end)
    except NotFound:
        return None
    return decode_part(raw, part)


_CALENDAR_TYPE = re.compile(rb"content-type:[ \t]*(?:\r?\n[ \t]+)?text/calendar", re.IGNORECASE)


def may_carry_calendar(raw: bytes) -> bool:
    """Whether the message text ``raw`` may have a ``text/calendar`` part (a quick look
    at its bytes, so that other mail is not parsed)."""
    return _CALENDAR_TYPE.search(raw) is not None


def _mail_leaves(part):
    """The non-multipart parts of an ``email`` message, depth first, not inside
    attached messages (what those carry is not this mail's invitation)."""
    if part.is_multipart():
        if part.get_content_maintype() == "multipart":
            for child in part.get_payload():
                yield from _mail_leaves(child)
        return
    yield part


def calendar_of_message(raw: bytes, limit: int = MAX_CALENDAR):
    """The iTIP object of the RFC 5322 message ``raw`` and who it is from: ``(ics,
    senders)`` -- the decoded ``text/calendar`` part (with a ``method`` parameter
    first, not inside attached messages) and the From addresses -- or None when it has
    no such part or the part is over ``limit`` bytes."""
    message = email.message_from_bytes(raw)
    found = None
    for part in _mail_leaves(message):
        if part.get_content_type() != "text/calendar":
            continue
        if part.get_param("method") is not None:
            found = part
            break
        found = found or part
    if found is None:
        return None
    body = found.get_payload(decode=True) or b""
    if len(body) > limit:
        return None
    charset = (found.get_content_charset() or "utf-8").lower()
    if charset not in ("utf-8", "utf8", "us-ascii"):
        body = decode_charset(body, charset).encode("utf-8")
    senders = tuple(address for _, address in getaddresses(message.get_all("From", [])) if address)
    return body, senders
