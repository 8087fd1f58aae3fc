"""vCard 2.1 (``text/x-vcard``), the contact format of Nokia and most older phones and
of Funambol's device clients.

Read: quoted-printable values (soft line breaks included) in the CHARSET named (UTF-8
when none is), bare TYPE parameters (``TEL;CELL;VOICE``), ``ENCODING=BASE64`` binaries,
folded lines; see ``cards.read_21``. Written: from the stored card as vCard 3.0, every
property, with bare upper-case types, base64 PHOTO, and quoted-printable UTF-8 for any
value with line breaks, non-ASCII text or more than a line's length.
"""

from __future__ import annotations

from typing import Optional

from smsync.formats.contentlines import Component, Property, split_raw, unescape_text
from smsync.model import CollectionKind
from smsync.protocols.syncml.formats import Format, register
from smsync.protocols.syncml.formats.cards import BINARY, LISTS, RAW, as_v3, read_21, to_canonical_card
from smsync.protocols.syncml.formats.merge import STRUCTURED
from smsync.protocols.syncml.formats.support import escape_legacy, guarded, needs_qp, qp_encode

MIME = "text/x-vcard"
#: The properties a DevInf CTCap for this type can list (what is read and written).
CTCAP = ("BEGIN", "END", "VERSION", "UID", "N", "FN", "NICKNAME", "TEL", "EMAIL", "ADR", "LABEL", "ORG",
         "TITLE", "ROLE", "NOTE", "BDAY", "URL", "PHOTO", "CATEGORIES", "CLASS", "REV", "GEO", "TZ")

#: What a 2.1 device is expected to send back whenever the contact has it: leaving one of
#: these out of a Replace deletes it. Other properties (X-, 3.0 and 4.0 additions) are
#: sent too, but a phone that drops what it does not know does not delete them.
AUTHORITATIVE = frozenset({"N", "FN", "TEL", "EMAIL", "ADR", "ORG", "TITLE", "NOTE", "BDAY", "URL",
                           "PHOTO", "ROLE", "LABEL"})


def _value_21(prop: Property) -> str:
    name, value = prop.name, prop.value
    if name in STRUCTURED:
        return ";".join(escape_legacy(unescape_text(p), ";") for p in split_raw(value, ";"))
    if name in LISTS:
        return ",".join(escape_legacy(unescape_text(v), ",;") for v in split_raw(value, ",") if v)
    if name in RAW:
        return value
    return escape_legacy(unescape_text(value))


def _params_21(prop: Property) -> list[str]:
    out = []
    for key, values in prop.params:
        if key == "TYPE" and prop.name not in BINARY:
            out.extend(v.upper() for t in values for v in t.split(",") if v.strip())
        elif key == "ENCODING" and values and values[0].lower() == "b":
            out.append("ENCODING=BASE64")
        elif key == "VALUE" and values and values[0].lower() == "uri":
            out.append("VALUE=URL")
        elif key == "PREF":
            out.append("PREF")
        else:
            out.append(f"{key}={','.join(values)}" if values else key)
    return out


def _line(prop: Property) -> str:
    params = _params_21(prop)
    head = (prop.group + "." if prop.group else "") + prop.name
    value = _value_21(prop)
    if prop.name in BINARY and "ENCODING=BASE64" in params:
        payload = "".join(value.split())
        chunks = [payload[i:i + 72] for i in range(0, len(payload), 72)] or [""]
        return ";".join([head, *params]) + ":\r\n" + "".join(f" {c}\r\n" for c in chunks) + "\r\n"
    line = ";".join([head, *params]) + ":" + value
    if needs_qp(value) or len(line.encode("utf-8")) > 75:
        params += ["ENCODING=QUOTED-PRINTABLE", "CHARSET=UTF-8"]
        return ";".join([head, *params]) + ":" + qp_encode(value) + "\r\n"
    return line + "\r\n"


def write_21(card: Component) -> bytes:
    """A vCard 3.0 component as vCard 2.1 bytes."""
    lines = ["BEGIN:VCARD\r\n", "VERSION:2.1\r\n"]
    lines += [_line(p) for p in card.properties if p.name != "VERSION"]
    lines.append("END:VCARD\r\n")
    return "".join(lines).encode("utf-8")


@guarded
def from_canonical(data: bytes) -> bytes:
    """The stored contact as vCard 2.1."""
    return write_21(as_v3(data))


@guarded
def to_canonical(data: bytes, previous: Optional[bytes] = None) -> bytes:
    """A vCard 2.1 contact as the vCard to store (see ``cards.to_canonical_card``)."""
    return to_canonical_card(read_21(data), previous, lambda stored: read_21(from_canonical(stored)),
                             AUTHORITATIVE)


FORMAT = register(Format(CollectionKind.ADDRESSBOOK, MIME, "2.1", to_canonical, from_canonical))
