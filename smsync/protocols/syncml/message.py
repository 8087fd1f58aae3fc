"""Reading and building SyncML elements, whatever the version's namespace.

``Builder(version)`` makes elements of the version's SyncML page (``b.el("Alert", ...)``)
and of MetInf (``b.meta("Type", "text/vcard")``); ``text(element, "Item", "Source",
"LocURI")`` reads a path of SyncML-page children; ``metinf(element, "Type")`` reads a
MetInf value from an element's Meta. Status codes are named here.
"""

from __future__ import annotations

from typing import Optional

from smsync.formats.wbxml import Element
from smsync.protocols.syncml.codepages import DEVINF_NS, METINF_NS

# SyncML status codes (SyncML Representation Protocol, section 10).
OK = "200"
ITEM_ADDED = "201"
ACCEPTED = "202"
AUTH_ACCEPTED = "212"
CHUNK_ACCEPTED = "213"
CONFLICT_CLIENT_WON = "208"
CONFLICT_DUPLICATE = "209"
DELETE_NOT_FOUND = "211"
INVALID_CREDENTIALS = "401"
FORBIDDEN = "403"
NOT_FOUND = "404"
NOT_ALLOWED = "405"
NOT_SUPPORTED = "406"
MISSING_CREDENTIALS = "407"
INCOMPLETE = "412"
TOO_LARGE = "413"
UNSUPPORTED_TYPE = "415"
ALREADY_EXISTS = "418"
CONFLICT_SERVER_WON = "419"
DEVICE_FULL = "420"
SIZE_MISMATCH = "424"
PERMISSION_DENIED = "425"
FAILED = "500"
NOT_IMPLEMENTED = "501"
UNAVAILABLE = "503"
REFRESH_REQUIRED = "508"
STORE_FAILURE = "510"

# Alert codes.
TWO_WAY = 200
SLOW = 201
ONE_WAY_FROM_CLIENT = 202
REFRESH_FROM_CLIENT = 203
ONE_WAY_FROM_SERVER = 204
REFRESH_FROM_SERVER = 205
NEXT_MESSAGE = 222
#: Server-alerted syncs (206-210) and the sync each asks the client for.
SERVER_ALERTED = {206: TWO_WAY, 207: ONE_WAY_FROM_CLIENT, 208: REFRESH_FROM_CLIENT,
                  209: ONE_WAY_FROM_SERVER, 210: REFRESH_FROM_SERVER}
SYNC_ALERTS = frozenset({TWO_WAY, SLOW, ONE_WAY_FROM_CLIENT, REFRESH_FROM_CLIENT,
                         ONE_WAY_FROM_SERVER, REFRESH_FROM_SERVER})
ALERT_NAMES = {TWO_WAY: "two-way", SLOW: "slow", ONE_WAY_FROM_CLIENT: "one-way-from-client",
               REFRESH_FROM_CLIENT: "refresh-from-client",
               ONE_WAY_FROM_SERVER: "one-way-from-server",
               REFRESH_FROM_SERVER: "refresh-from-server"}


class Builder:
    """Elements of one SyncML version."""

    def __init__(self, namespace: str):
        self.ns = namespace

    def el(self, tag: str, *children: Optional[Element], text: Optional[str] = None) -> Element:
        """A SyncML-page element; None children are left out."""
        kids = tuple(c for c in children if c is not None)
        return Element(self.ns, tag, kids, text if not kids else None)

    def leaf(self, tag: str, text) -> Optional[Element]:
        """A SyncML-page leaf, or None when ``text`` is None."""
        return None if text is None else Element(self.ns, tag, (), str(text))

    def empty(self, tag: str) -> Element:
        return Element(self.ns, tag)

    @staticmethod
    def meta_value(tag: str, text=None, *children: Element) -> Element:
        """A MetInf element."""
        if children:
            return Element(METINF_NS, tag, children)
        return Element(METINF_NS, tag, (), None if text is None else str(text))

    def meta(self, *values: Optional[Element]) -> Optional[Element]:
        """A Meta of MetInf values (None if there are none)."""
        kids = tuple(v for v in values if v is not None)
        return Element(self.ns, "Meta", kids) if kids else None

    def loc(self, tag: str, uri: Optional[str], name: Optional[str] = None) -> Optional[Element]:
        """A Target or Source with a LocURI (None without a URI)."""
        if uri is None:
            return None
        return self.el(tag, self.leaf("LocURI", uri), self.leaf("LocName", name))


def child(element: Optional[Element], *path: str) -> Optional[Element]:
    """The element at ``path`` (SyncML-page tags) under ``element``, or None."""
    for tag in path:
        if element is None:
            return None
        element = next((c for c in element.children if c.tag == tag and c.namespace not in
                        (METINF_NS, DEVINF_NS)), None)
    return element


def children(element: Optional[Element], tag: str) -> list[Element]:
    """Every SyncML-page child called ``tag``."""
    if element is None:
        return []
    return [c for c in element.children if c.tag == tag and c.namespace not in (METINF_NS, DEVINF_NS)]


def text(element: Optional[Element], *path: str) -> Optional[str]:
    """The text (opaque bytes as UTF-8) of the element at ``path``, stripped, or None."""
    found = child(element, *path)
    if found is None:
        return None
    if found.opaque is not None:
        return found.opaque.decode("utf-8", "replace").strip()
    return (found.text or "").strip() if found.text is not None or not found.children else None


def data_bytes(element: Optional[Element]) -> Optional[bytes]:
    """The content of a Data element as bytes (text as UTF-8), or None."""
    if element is None:
        return None
    if element.opaque is not None:
        return element.opaque
    if element.children:
        return None
    return (element.text or "").encode("utf-8")


def metinf(meta_holder: Optional[Element], tag: str) -> Optional[Element]:
    """A MetInf element ``tag`` in ``meta_holder``'s Meta (or in a MetInf element the Meta
    holds), or None."""
    meta = child(meta_holder, "Meta")
    if meta is None:
        return None
    for c in meta.children:
        if c.namespace == METINF_NS and c.tag == tag:
            return c
        if c.namespace == METINF_NS and c.tag == "MetInf":
            found = c.find(METINF_NS, tag)
            if found is not None:
                return found
    return None


def metinf_text(meta_holder: Optional[Element], tag: str) -> Optional[str]:
    found = metinf(meta_holder, tag)
    if found is None:
        return None
    if found.opaque is not None:
        return found.opaque.decode("utf-8", "replace").strip()
    return (found.text or "").strip()


def anchor(meta_holder: Optional[Element]) -> tuple[Optional[str], Optional[str]]:
    """(Last, Next) of the Anchor in ``meta_holder``'s Meta."""
    found = metinf(meta_holder, "Anchor")
    if found is None:
        return None, None
    last, nxt = found.find(METINF_NS, "Last"), found.find(METINF_NS, "Next")
    return ((last.text or "").strip() if last is not None else None,
            (nxt.text or "").strip() if nxt is not None else None)


def int_or(value: Optional[str], default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default
