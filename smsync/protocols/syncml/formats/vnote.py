"""vNote 1.1 (``text/x-vnote``), the IrMC note format of Nokia phones and Funambol's
device clients, to and from the stored VJOURNAL (see ``notes``).

BODY is the note's text (DESCRIPTION), SUMMARY its title (the text's first line when
the device sends none), DCREATED is CREATED, LAST-MODIFIED, CATEGORIES (``;``-separated)
and CLASS map to themselves; X- properties pass. Values are quoted-printable UTF-8 when
they have line breaks or non-ASCII text.
"""

from __future__ import annotations

from typing import Optional

from smsync.errors import InvalidData
from smsync.formats.contentlines import Property, escape_text, parse_components, split_raw, unescape_text
from smsync.formats.icaltime import parse_time
from smsync.model import CollectionKind
from smsync.protocols.syncml.formats import Format, register
from smsync.protocols.syncml.formats.calendars import new_calendar, to_canonical_calendar
from smsync.protocols.syncml.formats.notes import KIND, Note, from_plain_text, journal_of, stored_note
from smsync.protocols.syncml.formats.support import (
    decode_value,
    device_text,
    guarded,
    escape_legacy,
    join_soft_breaks,
    needs_qp,
    qp_encode,
    split_legacy,
    unescape_legacy,
)

MIME = "text/x-vnote"
#: The properties a DevInf CTCap for this type can list.
CTCAP = ("BEGIN", "END", "VERSION", "BODY", "SUMMARY", "DCREATED", "LAST-MODIFIED", "CATEGORIES", "CLASS")
AUTHORITATIVE = frozenset({"SUMMARY", "DESCRIPTION", "CATEGORIES", "CLASS"})


def _utc(value: str) -> Optional[str]:
    text = value.strip().replace("-", "").replace(":", "")
    if not text:
        return None
    t = parse_time(text, None)
    return t.local.strftime("%Y%m%dT%H%M%SZ") if not t.is_date else t.local.strftime("%Y%m%dT000000Z")


def read_vnote(data: bytes):
    """A vNote as a VCALENDAR with one VJOURNAL."""
    roots = parse_components(join_soft_breaks(device_text(data)).encode("utf-8"))
    if len(roots) != 1 or roots[0].name != "VNOTE":
        raise InvalidData("a vNote is exactly one BEGIN:VNOTE ... END:VNOTE")
    body = title = None
    extra = []
    for prop in roots[0].properties:
        value = decode_value(prop)
        name = prop.name
        if name == "BODY":
            body = unescape_legacy(value).replace("\r\n", "\n").replace("\r", "\n")
        elif name == "SUMMARY":
            title = unescape_legacy(value).strip() or None
        elif name in ("DCREATED", "LAST-MODIFIED"):
            stamp = _utc(value)
            if stamp:
                extra.append(Property("CREATED" if name == "DCREATED" else name, stamp))
        elif name == "CATEGORIES":
            items = split_legacy(value)
            if items:
                extra.append(Property(name, ",".join(escape_text(v) for v in items)))
        elif name == "CLASS" and value.strip():
            extra.append(Property(name, value.strip().upper()))
        elif name.startswith("X-") and name != "X-IRMC-LUID":
            extra.append(Property(name, escape_text(unescape_legacy(value))))
    if title is None and body is not None:
        title = from_plain_text(body).title
    return new_calendar(journal_of(Note(title, body if body and body.strip() else None), extra))


def _line(name: str, value: str, escaped: bool = False) -> str:
    if not escaped:
        value = escape_legacy(value)
    if needs_qp(value) or len(name) + len(value) > 74:
        return f"{name};ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:{qp_encode(value)}\r\n"
    return f"{name}:{value}\r\n"


@guarded
def from_canonical(data: bytes) -> bytes:
    """The stored note as vNote 1.1."""
    _, journal, note = stored_note(data)
    lines = ["BEGIN:VNOTE\r\n", "VERSION:1.1\r\n"]
    body = note.text if note.text is not None else note.title
    if body is not None:
        lines.append(_line("BODY", body))
    if note.title:
        lines.append(_line("SUMMARY", note.title))
    for prop in journal.properties:
        if prop.name in ("CREATED", "LAST-MODIFIED"):
            t = parse_time(prop.value, None)
            lines.append(f"{'DCREATED' if prop.name == 'CREATED' else prop.name}:{t.local:%Y%m%dT%H%M%SZ}\r\n")
        elif prop.name == "CATEGORIES":
            items = [escape_legacy(unescape_text(v).strip(), ",;") for v in split_raw(prop.value, ",")]
            lines.append(_line("CATEGORIES", ";".join(v for v in items if v), escaped=True))
        elif prop.name == "CLASS":
            lines.append(f"CLASS:{prop.value.strip()}\r\n")
        elif prop.name.startswith("X-"):
            lines.append(_line(prop.name, unescape_text(prop.value)))
    lines.append("END:VNOTE\r\n")
    return "".join(lines).encode("utf-8")


@guarded
def to_canonical(data: bytes, previous: Optional[bytes] = None) -> bytes:
    """A vNote as the VJOURNAL to store (``calendars.to_canonical_calendar``)."""
    return to_canonical_calendar(read_vnote(data), KIND, previous,
                                 lambda stored: read_vnote(from_canonical(stored)), AUTHORITATIVE)


FORMAT = register(Format(CollectionKind.NOTES, MIME, "1.1", to_canonical, from_canonical))
