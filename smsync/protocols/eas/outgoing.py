"""The message a phone sends (SendMail, SmartReply, SmartForward) made ready to go: its
recipients, the copy the recipients get (no Bcc), the header fields a phone may leave
out, and the original message SmartReply quotes and SmartForward attaches.

Pure functions over RFC 5322 bytes. The phone's own header fields and body are kept
byte for byte where nothing needs to change (a forwarded original is attached as it is
stored), so a signature or an encoding the phone chose survives.
"""

from __future__ import annotations

import email.policy
import html
import re
import uuid
from email.parser import BytesParser
from datetime import datetime, timezone
from email.utils import format_datetime, getaddresses, make_msgid
from typing import Optional

#: Header fields whose addresses receive the message.
RECIPIENT_FIELDS = ("to", "cc", "bcc")

_FIELD_NAME = re.compile(rb"^[!-9;-~]+:")
_BARE_LF = re.compile(rb"(?<!\r)\n")
_CONTENT_FIELDS = ("content-", "mime-version")


class InvalidMime(ValueError):
    """The text is not an RFC 5322 message (MS-ASCMD Status 107)."""


def normalise(raw: bytes) -> bytes:
    """``raw`` with CRLF line ends (phones send either)."""
    return _BARE_LF.sub(b"\r\n", raw)


def split(raw: bytes) -> tuple[list[bytes], bytes]:
    """The header fields of ``raw`` (each with its continuation lines, no final CRLF)
    and its body. ``InvalidMime`` when the header is empty or a line of it is not a
    field."""
    raw = normalise(raw)
    end = raw.find(b"\r\n\r\n")
    head, body = (raw, b"") if end < 0 else (raw[:end], raw[end + 4:])
    fields: list[bytes] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        elif _FIELD_NAME.match(line):
            fields.append(line)
        else:
            raise InvalidMime(f"not a header field: {line[:60]!r}")
    if not fields:
        raise InvalidMime("the message has no header")
    return fields, body


def _name(field: bytes) -> str:
    return field.split(b":", 1)[0].decode("ascii").strip().lower()


def join(fields: list[bytes], body: bytes) -> bytes:
    return b"\r\n".join(fields) + b"\r\n\r\n" + body


def _headers(fields: list[bytes]):
    return BytesParser(policy=email.policy.compat32).parsebytes(join(fields, b""), headersonly=True)


def recipients(raw: bytes) -> list[str]:
    """Every address of the To, Cc and Bcc fields, in order, once each."""
    fields, _ = split(raw)
    headers = _headers(fields)
    values = [str(v) for name in RECIPIENT_FIELDS for v in headers.get_all(name, [])]
    out: list[str] = []
    for _, address in getaddresses(values):
        if "@" in address and address not in out:
            out.append(address)
    return out


def without(raw: bytes, *names: str) -> bytes:
    """``raw`` without the header fields called ``names`` (case-insensitive)."""
    fields, body = split(raw)
    drop = {n.lower() for n in names}
    return join([f for f in fields if _name(f) not in drop], body)


def completed(raw: bytes, account: str, now: Optional[datetime] = None) -> bytes:
    """``raw`` with the fields RFC 5322 requires that the phone left out: From (the
    account), Date and Message-ID, added at the top."""
    fields, body = split(raw)
    present = {_name(f) for f in fields}
    added = []
    if "from" not in present:
        added.append(f"From: <{account}>".encode())
    if "date" not in present:
        added.append(f"Date: {format_datetime(now or datetime.now(timezone.utc))}".encode())
    if "message-id" not in present:
        domain = account.rpartition("@")[2] or "localhost"
        added.append(f"Message-ID: {make_msgid(domain=domain)}".encode())
    return join(added + fields, body)


def _text_of(message, subtype: str) -> Optional[str]:
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return None
    try:
        return part.get_content()
    except (LookupError, ValueError, AssertionError):
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", "replace")


def _attribution(original) -> str:
    who = str(original.get("From", "") or "").strip() or "someone"
    when = str(original.get("Date", "") or "").strip()
    return f"On {when}, {who} wrote:" if when else f"{who} wrote:"


def with_quote(new: bytes, original: bytes) -> bytes:
    """The reply ``new`` with ``original``'s text quoted below the phone's: ``> ``
    lines in the text/plain part, a ``<blockquote>`` in the text/html part. A reply
    with neither is returned as it is."""
    reply = BytesParser(policy=email.policy.default).parsebytes(normalise(new))
    source = BytesParser(policy=email.policy.default).parsebytes(normalise(original))
    plain = _text_of(source, "plain")
    rich = _text_of(source, "html")
    if plain is None and rich is not None:
        plain = re.sub(r"<[^>]*>", "", rich)
    attribution = _attribution(source)
    changed = False
    for part in reply.walk():
        if part.is_multipart() or part.is_attachment():
            continue
        kind = part.get_content_type()
        if kind not in ("text/plain", "text/html"):
            continue
        try:
            text = part.get_content()
        except (LookupError, ValueError, AssertionError):
            continue
        if kind == "text/plain":
            quoted = "\n".join("> " + line if line else ">" for line in (plain or "").splitlines())
            text = text.rstrip("\n") + f"\n\n{attribution}\n{quoted}\n"
        else:
            inner = rich if rich is not None else "<pre>" + html.escape(plain or "") + "</pre>"
            inner = re.sub(r"(?is)^.*<body[^>]*>|</body>.*$", "", inner)
            block = (f'<div>{html.escape(attribution)}<br><blockquote type="cite">{inner}'
                     f"</blockquote></div>")
            at = text.lower().rfind("</body>")
            text = text[:at] + block + text[at:] if at >= 0 else text + block
        part.set_content(text, subtype=kind.partition("/")[2], charset="utf-8")
        changed = True
    if not changed:
        return normalise(new)
    return reply.as_bytes(policy=email.policy.SMTP)


def with_attachment(new: bytes, original: bytes) -> bytes:
    """The forward ``new`` as a multipart/mixed whose first part is the phone's own
    content and whose second is ``original``, byte for byte, as message/rfc822."""
    fields, body = split(new)
    outer = [f for f in fields if not _name(f).startswith(_CONTENT_FIELDS)]
    inner = [f for f in fields if _name(f).startswith("content-")]
    if not any(_name(f) == "content-type" for f in inner):
        inner.insert(0, b"Content-Type: text/plain; charset=us-ascii")
    attached = without(normalise(original), "Return-Path")
    boundary = "=_smsync_" + uuid.uuid4().hex
    encoding = "7bit" if attached.isascii() else "8bit"
    parts = (
        f"--{boundary}\r\n".encode() + join(inner, body).rstrip(b"\r\n") + b"\r\n"
        + f"--{boundary}\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n"
          f"Content-Transfer-Encoding: {encoding}\r\n\r\n".encode()
        + attached.rstrip(b"\r\n") + b"\r\n" + f"--{boundary}--\r\n".encode())
    outer += [b"MIME-Version: 1.0", f'Content-Type: multipart/mixed; boundary="{boundary}"'.encode()]
    return join(outer, parts)
