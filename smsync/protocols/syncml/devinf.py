"""Device information: the server's own DevInf, and what a client's says.

The server's DevInf lists one DataStore per database name whose kind has a format in
``smsync.protocols.syncml.formats`` (so the notes databases appear once a notes format
is registered), each with the types it takes and sends and, per type, a CTCap naming the
properties the stored form keeps (all of them: ``X-*`` included). SyncML 1.2 puts CTCaps
inside their DataStore; 1.1 lists them once after the DataStores.
"""

from __future__ import annotations

import json
from typing import Optional

import attrs

from smsync.formats.wbxml import Element
from smsync.protocols.syncml import formats as registry
from smsync.protocols.syncml.codepages import DEVINF_NS
from smsync.protocols.syncml.databases import DATABASES, Database

#: Properties every CTCap names, per top-level type.
_VCARD_PROPS = ("BEGIN", "END", "VERSION", "UID", "N", "FN", "NICKNAME", "TEL", "EMAIL", "ADR",
                "ORG", "TITLE", "ROLE", "URL", "NOTE", "BDAY", "PHOTO", "CATEGORIES", "REV", "X-*")
_VCAL_PROPS = ("BEGIN", "END", "VERSION", "UID", "SUMMARY", "DESCRIPTION", "LOCATION", "DTSTART",
               "DTEND", "DUE", "DURATION", "RRULE", "EXDATE", "RDATE", "RECURRENCE-ID", "TZID",
               "CATEGORIES", "CLASS", "PRIORITY", "STATUS", "COMPLETED", "PERCENT-COMPLETE",
               "ATTENDEE", "ORGANIZER", "TRANSP", "SEQUENCE", "DTSTAMP", "LAST-MODIFIED",
               "X-*")


def _d(tag: str, *children, text=None) -> Element:
    kids = tuple(c for c in children if c is not None)
    return Element(DEVINF_NS, tag, kids, None if kids else (None if text is None else str(text)))


def _ctcap(fmt, v12: bool) -> list[Element]:
    props = _VCARD_PROPS if "card" in fmt.mime or "sifc" in fmt.mime else _VCAL_PROPS
    if v12:
        return [_d("CTCap", _d("CTType", text=fmt.mime), _d("VerCT", text=fmt.version or "1.0"),
                   *(_d("Property", _d("PropName", text=p)) for p in props))]
    return [_d("CTType", text=fmt.mime), *(_d("PropName", text=p) for p in props)]


def _served() -> list[tuple[Database, list]]:
    out = []
    for db in DATABASES.values():
        fmts = registry.formats_for(db.kind)
        if fmts:
            out.append((db, fmts))
    return out


def _preferred(db: Database, fmts: list):
    return next((f for f in fmts if f.mime == db.preferred), fmts[0])


def server_devinf(version, server_uri: str) -> Element:
    """The server's DevInf (version 1.1 or 1.2 as the session's)."""
    v12 = version.verdtd == "1.2"
    stores = []
    caps_11: dict = {}
    for db, fmts in _served():
        pref = _preferred(db, fmts)
        others = [f for f in fmts if f is not pref]

        def ct(tag, f):
            return _d(tag, _d("CTType", text=f.mime), _d("VerCT", text=f.version or "1.0"))

        children = [_d("SourceRef", text=db.name), _d("DisplayName", text=db.name),
                    _d("MaxGUIDSize", text="64"), ct("Rx-Pref", pref), *(ct("Rx", f) for f in others),
                    ct("Tx-Pref", pref), *(ct("Tx", f) for f in others)]
        if v12:
            for f in fmts:
                children += _ctcap(f, True)
        else:
            for f in fmts:
                caps_11.setdefault(f.mime, f)
        children.append(_d("SyncCap", *(_d("SyncType", text=str(n)) for n in range(1, 8))))
        stores.append(_d("DataStore", *children))
    tail = []
    if not v12 and caps_11:
        tail.append(_d("CTCap", *[e for f in caps_11.values() for e in _ctcap(f, False)]))
    return _d("DevInf", _d("VerDTD", text=version.verdtd), _d("Man", text="smsync"),
              _d("Mod", text="smsync SyncML server"), _d("OEM", text="smsync"),
              _d("FwV", text="1"), _d("SwV", text="1"), _d("HwV", text="1"),
              _d("DevID", text=server_uri), _d("DevTyp", text="server"), _d("UTC"),
              _d("SupportLargeObjs"), _d("SupportNumberOfChanges"), *stores, *tail)


@attrs.frozen
class ClientInfo:
    """What a client's DevInf says: maker, model, and per database (its SourceRef) the
    types it prefers to receive and takes."""

    manufacturer: Optional[str] = None
    model: Optional[str] = None
    software: Optional[str] = None
    large_objects: bool = False
    #: SourceRef (without ``./``) -> [preferred rx type, other rx types...]
    receives: dict = attrs.field(factory=dict)

    def to_bytes(self) -> bytes:
        return json.dumps(attrs.asdict(self)).encode()

    @classmethod
    def from_bytes(cls, raw: Optional[bytes]) -> Optional["ClientInfo"]:
        if not raw:
            return None
        try:
            return cls(**json.loads(raw))
        except (ValueError, TypeError):
            return None

    def agent(self) -> Optional[str]:
        parts = [p for p in (self.manufacturer, self.model) if p]
        if not parts:
            return None
        return " ".join(parts) + (f"/{self.software}" if self.software else "")

    def rx(self, client_uri: str) -> list:
        return list(self.receives.get(_ref(client_uri), ()))


def _ref(uri: str) -> str:
    uri = (uri or "").strip()
    while uri.startswith("./"):
        uri = uri[2:]
    return uri.strip("/").lower()


def _t(element: Optional[Element], tag: str) -> Optional[str]:
    if element is None:
        return None
    found = element.find(DEVINF_NS, tag)
    if found is None or found.text is None:
        return None
    return found.text.strip()[:200] or None


def parse_client_devinf(devinf: Element) -> ClientInfo:
    """The ``ClientInfo`` of a DevInf element (lenient: what is missing is None)."""
    receives = {}
    for store in devinf.children:
        if store.tag != "DataStore":
            continue
        ref = _t(store, "SourceRef")
        if not ref:
            continue
        types = []
        for tag in ("Rx-Pref", "Rx"):
            for c in store.children:
                if c.tag == tag:
                    mime = _t(c, "CTType")
                    if mime and mime not in types:
                        types.append(mime)
        receives[_ref(ref)] = types
    return ClientInfo(_t(devinf, "Man"), _t(devinf, "Mod"), _t(devinf, "SwV"),
                      devinf.find(DEVINF_NS, "SupportLargeObjs") is not None, receives)


def send_type(db: Database, client_uri: str, info: Optional[ClientInfo]):
    """The ``Format`` items of ``db`` go to the client in: the first type its DevInf
    says it takes that has a format, else the database's preferred type, else the
    kind's first format (None: the kind has none)."""
    for mime in (info.rx(client_uri) if info is not None else []):
        fmt = registry.lookup(db.kind, mime)
        if fmt is not None:
            return fmt
    return registry.lookup(db.kind, db.preferred) or next(iter(registry.formats_for(db.kind)), None)
