"""What the Contacts, Tasks and Notes converter tests share: an ApplicationData built
from and read back into a plain dict, always through the WBXML codec (so every tag a
converter emits or reads must exist in the code pages)."""

from __future__ import annotations

from smsync.protocols.eas.wbxml import Element, decode, encode

AS = "AirSync:"
BASE = "AirSyncBase:"
#: Containers and their item tag.
LISTS = {"Categories": "Category", "Children": "Child"}


def fields(app: Element) -> dict:
    """tag -> text; lists for Categories/Children, a dict for Recurrence, Body's Data."""
    app = decode(encode(app))
    out: dict = {}
    for child in app.children:
        if child.tag == "Body":
            data = child.find(BASE, "Data")
            out["Body"] = data.text or "" if data is not None else ""
        elif child.tag in LISTS:
            out[child.tag] = [c.text for c in child.children]
        elif child.children:
            out[child.tag] = {c.tag: c.text for c in child.children}
        else:
            out[child.tag] = child.text
    return out


def app_of(values: dict, namespace: str, other: dict | None = None) -> Element:
    """The ApplicationData a device would send for ``values`` (``other`` maps tags of
    another namespace, such as Contacts2, to it)."""
    children = []
    for tag, value in values.items():
        ns = (other or {}).get(tag, namespace)
        if tag == "Body":
            children.append(Element(BASE, "Body", (Element(BASE, "Type", (), "1"), Element(BASE, "Data", (), value))))
        elif tag in LISTS:
            children.append(Element(ns, tag, tuple(Element(ns, LISTS[tag], (), v) for v in value)))
        elif isinstance(value, dict):
            children.append(Element(ns, tag, tuple(Element(ns, k, (), v) for k, v in value.items())))
        else:
            children.append(Element(ns, tag, (), value))
    return decode(encode(Element(AS, "ApplicationData", tuple(children))))
