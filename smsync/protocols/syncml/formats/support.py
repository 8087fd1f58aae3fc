"""What the SyncML item formats share: one error for bad input, device text decoding
(charsets, quoted-printable and its soft line breaks), UIDs and UTC stamps.
"""

from __future__ import annotations

import base64
import binascii
import functools
import quopri
import re
import uuid
from datetime import datetime, timezone
from typing import Callable, Optional

from smsync.errors import InvalidData
from smsync.formats.contentlines import Property


def guarded(fn: Callable) -> Callable:
    """Make ``fn`` raise only ``InvalidData`` on a device's or a store's bad data: an
    item that cannot be converted is the client's error, never a server error. Items
    given as ``str`` are taken as UTF-8."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        args = tuple(a.encode("utf-8") if isinstance(a, str) else a for a in args)
        try:
            return fn(*args, **kwargs)
        except InvalidData:
            raise
        except (ValueError, TypeError, KeyError, IndexError, OverflowError, LookupError,
                UnicodeError, AttributeError) as e:
            raise InvalidData(f"unreadable item: {type(e).__name__}: {e}"[:200]) from e

    return wrapper


def new_uid() -> str:
    """A fresh UID for an item a device sent without one."""
    return str(uuid.uuid4())


def utc_stamp(when: Optional[datetime] = None) -> str:
    """An iCalendar UTC DATE-TIME (``20261206T055944Z``), now by default."""
    when = when or datetime.now(timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def as_bytes(data) -> bytes:
    """An item as bytes: a ``str`` (an XML message's Data text) is taken as UTF-8;
    anything else but bytes is ``InvalidData``."""
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    if not isinstance(data, bytes):
        raise InvalidData("item data is bytes")
    return data


def device_text(data: bytes) -> str:
    """A device's item as text: UTF-8 (a BOM dropped), else Windows-1252, the charset
    of the phones and Outlook clients that send anything else."""
    data = as_bytes(data)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


_QP_HEAD = re.compile(r"^[^:]*ENCODING=QUOTED-PRINTABLE[^:]*:", re.I)
_QP_BARE = re.compile(r"^[^:]*;QUOTED-PRINTABLE[;:]", re.I)


def join_soft_breaks(text: str) -> str:
    """Content lines with quoted-printable soft line breaks (a value line ending in
    ``=``, continued on the next line without leading space) joined, as vCard 2.1,
    vCalendar 1.0 and vNote write long values."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    joining = False
    for line in lines:
        if joining:
            out[-1] = out[-1][:-1] + line
        else:
            out.append(line)
        last = out[-1]
        head = last.split(":", 1)[0] if ":" in last else ""
        joining = bool(last.endswith("=") and head and (_QP_HEAD.match(last) or _QP_BARE.match(last)))
    return "\r\n".join(out)


def decode_value(prop: Property) -> str:
    """A 2.1-era property's value as text: quoted-printable undone and CHARSET applied
    (UTF-8 when none is named), ENCODING and CHARSET removed from its parameters. Base64
    values are left as they are."""
    encoding = (prop.param("ENCODING") or "").upper()
    types = [t.upper() for t in prop.param_values("TYPE")]
    charset = prop.param("CHARSET")
    value = prop.value
    if encoding == "QUOTED-PRINTABLE" or "QUOTED-PRINTABLE" in types:
        raw = quopri.decodestring(value.encode("utf-8"))
        try:
            value = raw.decode(charset or "utf-8")
        except (LookupError, UnicodeDecodeError):
            value = raw.decode("cp1252", "replace")
        prop.set_param("ENCODING", None)
        if "QUOTED-PRINTABLE" in types:
            prop.set_param("TYPE", [t for t in prop.param_values("TYPE") if t.upper() != "QUOTED-PRINTABLE"] or None)
    elif encoding in ("8BIT", "7BIT"):
        prop.set_param("ENCODING", None)
    elif charset is not None and charset.lower().replace("-", "") not in ("utf8",):
        # Text already decoded as UTF-8 (or 1252) by ``device_text``: a CHARSET on an
        # unencoded value says how the bytes were meant; re-read them that way.
        try:
            value = value.encode("cp1252").decode(charset)
        except (LookupError, UnicodeError):
            pass
    prop.set_param("CHARSET", None)
    return value


_ESCAPED = re.compile(r"\\([;,\\])")


def unescape_legacy(text: str) -> str:
    """A vCard 2.1 / vCalendar 1.0 / vNote value as text: ``\\;``, ``\\,`` and ``\\\\``
    undone (2.1 escapes only the ``;`` of compound values; devices write the others as
    3.0 does). Other backslashes are text."""
    return _ESCAPED.sub(r"\1", text)


def escape_legacy(text: str, separators: str = "") -> str:
    """``text`` for a 2.1-era value: ``separators`` and a backslash that would read as an
    escape get a backslash; nothing else does (phones show backslashes)."""
    text = re.sub(r"\\(?=[;,\\]|$)", r"\\\\", text)
    for sep in separators:
        text = text.replace(sep, "\\" + sep)
    return text


def split_legacy(value: str) -> list[str]:
    """The items of a 2.1-era list value (``;`` or ``,`` between them), unescaped,
    stripped, empty ones left out."""
    items, current, i, n = [], [], 0, len(value)
    while i < n:
        c = value[i]
        if c == "\\" and i + 1 < n and value[i + 1] in ";,\\":
            current.append(value[i + 1])
            i += 2
            continue
        if c in ";,":
            items.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    items.append("".join(current))
    return [v.strip() for v in items if v.strip()]


def qp_encode(text: str, width: int = 74) -> str:
    """``text`` as UTF-8 quoted-printable (line ends as ``=0D=0A``), lines of at most
    ``width`` characters joined by soft line breaks."""
    raw = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n").encode("utf-8")
    pieces = [chr(b) if (33 <= b <= 126 and b != 61) or b == 32 else f"={b:02X}" for b in raw]
    if pieces and pieces[-1] == " ":
        pieces[-1] = "=20"  # trailing white space is dropped by decoders
    lines, line = [], ""
    for piece in pieces:
        if len(line) + len(piece) > width - 1:
            lines.append(line + "=")
            line = ""
        line += piece
    lines.append(line)
    return "\r\n".join(lines)


def needs_qp(text: str) -> bool:
    """Whether a 2.1-era value must be quoted-printable: line breaks or non-ASCII."""
    return any(c in text for c in "\r\n") or not text.isascii()


def b64_payload(text: str) -> Optional[str]:
    """``text`` without whitespace if it is base64, else None."""
    payload = "".join(text.split())
    try:
        base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None
    return payload
