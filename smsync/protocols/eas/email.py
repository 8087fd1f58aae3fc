"""Messages as EAS Email items (MS-ASEMAIL, MS-ASAIRS), converted at the edge from the
stored RFC 5322 bytes and their stored structure: headers from ``MessageStructure``,
the body from the first text part, transfer- and charset-decoded, truncated as the
device asks; and the device's Read and Flag changes as flag deltas."""

from __future__ import annotations

import base64
import binascii
import quopri
from typing import Optional

from smsync.formats.headers import decode_charset
from smsync.formats.structure import BodyPart, MessageStructure
from smsync.model import MessageInfo
from smsync.protocols.eas.convert import HTML, PLAIN, BodyOptions, eas_date
from smsync.protocols.eas.wbxml import Element

EMAIL = "Email:"
BASE = "AirSyncBase:"

#: Body bytes sent when the device names no truncation (MS-ASAIRS leaves it to the
#: server; a phone's list view needs a preview, not the whole message).
DEFAULT_TRUNCATION = 32 * 1024


def text_part(part: BodyPart, html: bool = False) -> Optional[BodyPart]:
    """The first inline text/plain (or, with ``html``, text/html) part, depth first."""
    if part.children:
        for child in part.children:
            found = text_part(child, html)
            if found is not None:
                return found
        return None
    wanted = "html" if html else "plain"
    if part.type == "text" and part.subtype == wanted and part.disposition != "attachment":
        return part
    return None


def decode_body(raw: bytes, part: BodyPart) -> str:
    """A part's body bytes as text: transfer encoding undone, charset applied."""
    encoding = (part.encoding or "7bit").lower()
    try:
        if encoding == "base64":
            raw = base64.b64decode(b"".join(raw.split()), validate=False)
        elif encoding == "quoted-printable":
            raw = quopri.decodestring(raw)
    except (binascii.Error, ValueError):
        pass  # shown as stored rather than refused: the device still gets something
    charset = dict(part.params).get("charset")
    return decode_charset(raw, charset)


def _e(tag: str, text: Optional[str] = None, *children) -> Element:
    return Element(EMAIL, tag, children, text)


async def application_data(mailbox, info: MessageInfo, structure: MessageStructure,
                           options: BodyOptions = BodyOptions()) -> Element:
    """The ``AirSync:ApplicationData`` of one message, its body as ``options`` ask."""
    limit = DEFAULT_TRUNCATION if options.truncation is None else options.truncation
    html = options.type == HTML
    part = text_part(structure.root, html) or (text_part(structure.root, not html) if html else None)
    body_type = HTML if (part is not None and part.subtype == "html") else PLAIN
    text = ""
    if part is not None:
        length = part.body_end - part.header_end
        # Enough raw bytes for ``limit`` characters even base64-encoded.
        raw = await mailbox.read_body(info.uid, part.header_end, min(length, limit * 2 + 1024))
        text = decode_body(raw, part)
    data = text.encode("utf-8")
    truncated = len(data) > limit
    if truncated:
        data = data[:limit]
        text = data.decode("utf-8", "ignore")
    children = [
        _e("To", structure.to or None), _e("From", structure.from_ or None),
        _e("Subject", structure.subject or None),
        _e("DateReceived", eas_date(info.internal_date)),
        _e("DisplayTo", structure.to or None),
        _e("Importance", "1"),
        _e("Read", "1" if "\\Seen" in info.flags else "0"),
        Element(BASE, "Body", (
            Element(BASE, "Type", (), str(body_type)),
            Element(BASE, "EstimatedDataSize", (), str(part.size if part is not None else 0)),
            Element(BASE, "Truncated", (), "1" if truncated else "0"),
            *((Element(BASE, "Data", (), text),) if text else ()),
        )),
        _e("MessageClass", "IPM.Note"),
        _e("Flag", None, *((_e("Status", "2"), _e("FlagType", "Flag for follow up"))
                           if "\\Flagged" in info.flags else ())),
        Element(BASE, "NativeBodyType", (), str(body_type)),
    ]
    if structure.cc:
        children.insert(2, _e("Cc", structure.cc))
    return Element("AirSync:", "ApplicationData", tuple(c for c in children if c.text or c.children
                                                       or c.tag == "Flag"))


def flag_changes(data: Element) -> tuple[set, set]:
    """``(flags to add, flags to remove)`` a device's Change of a message asks for."""
    add, remove = set(), set()
    read = data.find(EMAIL, "Read")
    if read is not None:
        (add if read.text == "1" else remove).add("\\Seen")
    flag = data.find(EMAIL, "Flag")
    if flag is not None:
        status = flag.find(EMAIL, "Status")
        (add if status is not None and status.text == "2" else remove).add("\\Flagged")
    return add, remove
