"""Item helpers of the SyncML layer: UIDs for items devices send without one, and the
keys a slow sync matches a device's items to the server's by.

Pure functions over stored (canonical) bytes.
"""

from __future__ import annotations

import uuid
from typing import Optional

from smsync.errors import InvalidData
from smsync.formats.contentlines import parse_components
from smsync.sync.uids import uid_of

_UID_HOLDERS = (b"BEGIN:VCARD", b"BEGIN:VEVENT", b"BEGIN:VTODO", b"BEGIN:VJOURNAL")


def with_uid(content: bytes, previous: Optional[bytes] = None) -> bytes:
    """``content`` with a UID: its own; else the ``previous`` version's (a device that
    does not keep UIDs must not change an item's identity by editing it); else a new one.
    The store keeps one item per UID and refuses items without one."""
    if uid_of(content) is not None:
        return content
    uid = (uid_of(previous) if previous else None) or str(uuid.uuid4())
    newline = b"\r\n" if b"\r\n" in content else b"\n"
    out = []
    for line in content.splitlines(keepends=True):
        out.append(line)
        if line.rstrip(b"\r\n").upper() in _UID_HOLDERS:
            if not line.endswith((b"\n", b"\r")):
                out[-1] = line + newline
            out.append(b"UID:" + uid.encode("utf-8") + newline)
    return b"".join(out)


def _norm(value: Optional[str]) -> str:
    return " ".join((value or "").replace("\\,", ",").replace("\\;", ";").split()).casefold()


def match_key(content: bytes) -> Optional[tuple]:
    """What a slow sync compares when UIDs differ: a contact's name (FN, else N) with its
    first e-mail address or phone number; an event's, task's or journal's summary with
    its start (or due) time. None when the item has neither (it is then never matched
    but by UID)."""
    try:
        roots = parse_components(content)
    except InvalidData:
        return None
    for root in roots:
        if root.name == "VCARD":
            name = _norm(root.value("FN")) or _norm((root.value("N") or "").replace(";", " "))
            if not name:
                return None
            contact = _norm(root.value("EMAIL")) or "".join(
                c for c in (root.value("TEL") or "") if c.isdigit())
            return ("VCARD", name, contact)
        for comp in root.components:
            if comp.name in ("VEVENT", "VTODO", "VJOURNAL") and comp.get("RECURRENCE-ID") is None:
                summary = _norm(comp.value("SUMMARY"))
                when = (comp.value("DTSTART") or comp.value("DUE") or "").strip()
                if not summary and not when:
                    return None
                return (comp.name, summary, when)
    return None
