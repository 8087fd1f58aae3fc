"""EAS Contacts (MS-ASCNTC) <-> the vCard a store keeps (3.0 or 4.0, RFC 2426/6350).

Each EAS field lives in one vCard property (or one component of N, ORG or ADR):
names in N, FileAs in FN, CompanyName/Department in ORG, JobTitle in TITLE, the three
e-mail and IM slots in the first three EMAIL / IMPP, each phone slot in the first (or
second) TEL of its kind, the three addresses in the first ADR typed home, work and
neither, WebPage in the first URL, Body in NOTE. Fields vCard has no property for use
the X- properties that Evolution, KAddressBook and Apple write (X-EVOLUTION-SPOUSE,
X-PHONETIC-FIRST-NAME...), and vCard 4.0's ANNIVERSARY and RELATED where it has them.

Editing follows ``pim``'s merge rule, so a phone's Change keeps every property EAS has
no slot for: the fourth EMAIL, a second mobile number, GEO, RELATED URIs, X-ABLabel
groups, parameters on the properties it does change.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import date, timedelta
from typing import Callable, Optional

import attrs

from smsync.formats.contentlines import Component, Property, parse_components, serialize, unescape_text
from smsync.formats.vcard import to_version
from smsync.protocols.eas import pim
from smsync.protocols.eas.convert import ConversionError, body_element, parse_eas_date
from smsync.protocols.eas.wbxml import Element

CLASS = "Contacts"
C = "Contacts:"
C2 = "Contacts2:"

#: Most base64 text a Picture may hold (MS-ASCNTC 2.2.2.58: 48 KB, else Status 6).
MAX_PICTURE = 48 * 1024


# -- where each field lives -------------------------------------------------------------


def _types(prop: Property) -> set[str]:
    return {t.strip().lower() for v in prop.param_values("TYPE") for t in v.split(",") if t.strip()}


def _tel_kind(prop: Property) -> Optional[str]:
    """Which EAS phone slot family a TEL belongs to (None: EAS has none for it)."""
    t = _types(prop)
    if "fax" in t:
        return "workfax" if "work" in t else "homefax" if "home" in t else None
    if "cell" in t:
        return "cell"
    for kind, names in (("pager", {"pager"}), ("car", {"car"}),
                        ("radio", {"x-evolution-radio", "x-radio", "radio"}),
                        ("assistant", {"x-evolution-assistant", "x-assistant", "assistant"}),
                        ("work", {"work"}), ("home", {"home"})):
        if t & names:
            return kind
    return None


def _adr_kind(prop: Property) -> str:
    t = _types(prop)
    return "work" if "work" in t else "home" if "home" in t else "other"


def _named(*names: str) -> Callable[[list[Property]], list[Property]]:
    return lambda props: [p for p in props if p.name in names]


def _related(kind: str, *names: str) -> Callable[[list[Property]], list[Property]]:
    def find(props):
        return [p for p in props if p.name in names or (
            p.name == "RELATED" and kind in _types(p) and (p.param("VALUE") or "").lower() == "text")]
    return find


def _tel(kind: str) -> Callable[[list[Property]], list[Property]]:
    return lambda props: [p for p in props if p.name == "TEL" and _tel_kind(p) == kind]


def _adr(kind: str) -> Callable[[list[Property]], list[Property]]:
    return lambda props: [p for p in props if p.name == "ADR" and _adr_kind(p) == kind]


@attrs.frozen
class _Place:
    """A property a field lives in: the ``index``-th of those ``find`` returns, and how
    to make one (name and parameters, per vCard version) when there is none."""

    find: Callable[[list[Property]], list[Property]]
    index: int = 0
    make: Callable[[str], Property] = attrs.field(default=None)


def _maker(name: str, v3: tuple = (), v4: tuple = (), name4: Optional[str] = None):
    def make(version: str) -> Property:
        types = v4 if version == "4.0" else v3
        params = []
        if version == "4.0" and name4 == "RELATED":
            params = [("TYPE", list(types)), ("VALUE", ["text"])]
        elif types:
            params = [("TYPE", list(types))]
        return Property(name4 if version == "4.0" and name4 else name, "", params)
    return make


def _tel_place(kind: str, index: int, *types: str) -> _Place:
    return _Place(_tel(kind), index, _maker("TEL", tuple(t.upper() for t in types), types))


_PLACES: dict[str, _Place] = {
    "N": _Place(_named("N"), 0, _maker("N")),
    "ORG": _Place(_named("ORG"), 0, _maker("ORG")),
    "TITLE": _Place(_named("TITLE"), 0, _maker("TITLE")),
    "NICKNAME": _Place(_named("NICKNAME"), 0, _maker("NICKNAME")),
    "URL": _Place(_named("URL"), 0, _maker("URL")),
    "BDAY": _Place(_named("BDAY"), 0, _maker("BDAY")),
    "ANNIVERSARY": _Place(_named("ANNIVERSARY", "X-ANNIVERSARY", "X-EVOLUTION-ANNIVERSARY", "X-MS-ANNIVERSARY",
                                 "X-KADDRESSBOOK-X-ANNIVERSARY"), 0, _maker("X-ANNIVERSARY", name4="ANNIVERSARY")),
    "PHOTO": _Place(_named("PHOTO"), 0, _maker("PHOTO")),
    "SPOUSE": _Place(_related("spouse", "X-EVOLUTION-SPOUSE", "X-SPOUSE", "X-MS-SPOUSE",
                              "X-KADDRESSBOOK-X-SPOUSESNAME"), 0,
                     _maker("X-EVOLUTION-SPOUSE", (), ("spouse",), "RELATED")),
    "ASSISTANT": _Place(_named("X-EVOLUTION-ASSISTANT", "X-ASSISTANT", "X-MS-ASSISTANT",
                               "X-KADDRESSBOOK-X-ASSISTANTSNAME"), 0, _maker("X-EVOLUTION-ASSISTANT")),
    "MANAGER": _Place(_named("X-EVOLUTION-MANAGER", "X-MANAGER", "X-MS-MANAGER",
                             "X-KADDRESSBOOK-X-MANAGERSNAME"), 0, _maker("X-EVOLUTION-MANAGER")),
    "OFFICE": _Place(_named("X-OFFICE", "X-KADDRESSBOOK-X-OFFICE", "X-EVOLUTION-OFFICE"), 0, _maker("X-OFFICE")),
    "YOMIFIRST": _Place(_named("X-PHONETIC-FIRST-NAME"), 0, _maker("X-PHONETIC-FIRST-NAME")),
    "YOMILAST": _Place(_named("X-PHONETIC-LAST-NAME"), 0, _maker("X-PHONETIC-LAST-NAME")),
    "YOMIORG": _Place(_named("X-PHONETIC-ORG"), 0, _maker("X-PHONETIC-ORG")),
    "ADR:home": _Place(_adr("home"), 0, _maker("ADR", ("HOME",), ("home",))),
    "ADR:work": _Place(_adr("work"), 0, _maker("ADR", ("WORK",), ("work",))),
    "ADR:other": _Place(_adr("other"), 0, _maker("ADR")),
    "TEL:work1": _tel_place("work", 0, "work", "voice"),
    "TEL:work2": _tel_place("work", 1, "work", "voice"),
    "TEL:home1": _tel_place("home", 0, "home", "voice"),
    "TEL:home2": _tel_place("home", 1, "home", "voice"),
    "TEL:cell": _tel_place("cell", 0, "cell"),
    "TEL:car": _tel_place("car", 0, "car"),
    "TEL:pager": _tel_place("pager", 0, "pager"),
    "TEL:radio": _tel_place("radio", 0, "x-evolution-radio"),
    "TEL:assistant": _tel_place("assistant", 0, "x-evolution-assistant"),
    "TEL:workfax": _tel_place("workfax", 0, "work", "fax"),
    "TEL:homefax": _tel_place("homefax", 0, "home", "fax"),
    **{f"EMAIL{i}": _Place(_named("EMAIL"), i, _maker("EMAIL", ("INTERNET",))) for i in range(3)},
    **{f"IMPP{i}": _Place(_named("IMPP"), i, _maker("IMPP")) for i in range(3)},
}

#: Properties of several values that hold one list field each.
_CHILDREN = _related("child", "X-CHILD")
_CHILD_MAKER = _maker("X-CHILD", (), ("child",), "RELATED")


@attrs.frozen
class _Field:
    """One EAS element: ``kind`` says how its text sits in the place's property (``comp``
    is component ``index`` of a structured value)."""

    ns: str
    tag: str
    place: str
    kind: str = "text"
    index: int = 0


def _adr_fields(prefix: str, place: str) -> list[_Field]:
    return [_Field(C, f"{prefix}AddressStreet", place, "comp", 2),
            _Field(C, f"{prefix}AddressCity", place, "comp", 3),
            _Field(C, f"{prefix}AddressState", place, "comp", 4),
            _Field(C, f"{prefix}AddressPostalCode", place, "comp", 5),
            _Field(C, f"{prefix}AddressCountry", place, "comp", 6)]


_FIELDS: tuple[_Field, ...] = (
    _Field(C, "LastName", "N", "comp", 0), _Field(C, "FirstName", "N", "comp", 1),
    _Field(C, "MiddleName", "N", "comp", 2), _Field(C, "Title", "N", "comp", 3),
    _Field(C, "Suffix", "N", "comp", 4),
    _Field(C, "CompanyName", "ORG", "comp", 0), _Field(C, "Department", "ORG", "comp", 1),
    _Field(C, "JobTitle", "TITLE"), _Field(C, "OfficeLocation", "OFFICE"),
    _Field(C, "Email1Address", "EMAIL0", "email"), _Field(C, "Email2Address", "EMAIL1", "email"),
    _Field(C, "Email3Address", "EMAIL2", "email"),
    _Field(C, "BusinessPhoneNumber", "TEL:work1", "tel"), _Field(C, "Business2PhoneNumber", "TEL:work2", "tel"),
    _Field(C, "HomePhoneNumber", "TEL:home1", "tel"), _Field(C, "Home2PhoneNumber", "TEL:home2", "tel"),
    _Field(C, "MobilePhoneNumber", "TEL:cell", "tel"), _Field(C, "CarPhoneNumber", "TEL:car", "tel"),
    _Field(C, "PagerNumber", "TEL:pager", "tel"), _Field(C, "RadioPhoneNumber", "TEL:radio", "tel"),
    _Field(C, "AssistantPhoneNumber", "TEL:assistant", "tel"),
    _Field(C, "BusinessFaxNumber", "TEL:workfax", "tel"), _Field(C, "HomeFaxNumber", "TEL:homefax", "tel"),
    *_adr_fields("Home", "ADR:home"), *_adr_fields("Business", "ADR:work"), *_adr_fields("Other", "ADR:other"),
    _Field(C, "WebPage", "URL"),
    _Field(C, "Birthday", "BDAY", "date"), _Field(C, "Anniversary", "ANNIVERSARY", "date"),
    _Field(C, "Spouse", "SPOUSE"), _Field(C, "AssistantName", "ASSISTANT"),
    _Field(C, "YomiFirstName", "YOMIFIRST"), _Field(C, "YomiLastName", "YOMILAST"),
    _Field(C, "YomiCompanyName", "YOMIORG"),
    _Field(C, "Picture", "PHOTO", "photo"),
    _Field(C2, "NickName", "NICKNAME"), _Field(C2, "ManagerName", "MANAGER"),
    _Field(C2, "IMAddress", "IMPP0", "raw"), _Field(C2, "IMAddress2", "IMPP1", "raw"),
    _Field(C2, "IMAddress3", "IMPP2", "raw"),
)

#: How many components each structured property has at least.
_WIDTH = {"N": 5, "ORG": 2, "ADR:home": 7, "ADR:work": 7, "ADR:other": 7}


# -- reading a vCard ----------------------------------------------------------------------


def _load(data: bytes) -> Component:
    roots = parse_components(data)
    if len(roots) != 1 or roots[0].name != "VCARD":
        raise ConversionError("a contact is exactly one BEGIN:VCARD ... END:VCARD")
    if (roots[0].value("VERSION") or "").strip() == "2.1":
        # 2.1's quoted-printable and charsets are undone by the 3.0 conversion.
        return _load(to_version(data, "3.0"))
    return roots[0]


def _version(card: Component) -> str:
    return "4.0" if (card.value("VERSION") or "").strip() == "4.0" else "3.0"


def _locate(card: Component) -> dict[str, Optional[Property]]:
    found = {}
    for key, place in _PLACES.items():
        props = place.find(card.properties)
        found[key] = props[place.index] if len(props) > place.index else None
    return found


def _components(prop: Property, width: int) -> list[str]:
    parts = pim.split_raw(prop.value, ";")
    return parts + [""] * (width - len(parts))


_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})(?:T[\d:]*(?:Z|[+-][\d:]+)?)?$")


def _eas_day(day: date) -> str:
    # Noon-ish UTC shows the same calendar day in every zone from UTC-11 to UTC+12;
    # midnight UTC would show the day before everywhere west of Greenwich.
    return f"{day.isoformat()}T11:59:00.000Z"


def _read(field: _Field, prop: Property) -> Optional[str]:
    kind = field.kind
    if kind == "comp":
        value = unescape_text(_components(prop, field.index + 1)[field.index])
    elif kind == "raw" or kind == "tel":
        value = prop.value.strip()
        if kind == "tel" and value.lower().startswith("tel:"):
            value = value[4:]
    elif kind == "email":
        value = unescape_text(prop.value).strip()
        if value.lower().startswith("mailto:"):
            value = value[7:]
    elif kind == "date":
        match = _DATE.match(unescape_text(prop.value).strip())
        if match is None or prop.param("X-APPLE-OMIT-YEAR") is not None:
            return None
        try:
            value = _eas_day(date(*(int(g) for g in match.groups())))
        except ValueError:
            return None
    elif kind == "photo":
        value = _photo_payload(prop)
    else:
        value = unescape_text(prop.value)
    return value or None


def _photo_payload(prop: Property) -> Optional[str]:
    value = prop.value
    if value.startswith("data:") and ";base64," in value[:100]:
        payload = value.partition(",")[2]
    elif (prop.param("ENCODING") or "").lower() in ("b", "base64"):
        payload = value
    else:
        return None  # a URI: EAS can only carry the picture itself
    payload = "".join(payload.split())
    return payload if 0 < len(payload) <= MAX_PICTURE else None


def _view(card: Component, version: str) -> dict:
    """What ``to_application_data`` shows of ``card``: tag -> text (lists for
    Categories and Children), Body under ``"Body"``, FileAs under ``"FileAs"``."""
    located = _locate(card)
    view: dict = {}
    for field in _FIELDS:
        prop = located[field.place]
        if prop is not None:
            value = _read(field, prop)
            if value is not None:
                view[field.tag] = value
    fn = card.get("FN")
    if fn is not None and unescape_text(fn.value).strip():
        view["FileAs"] = unescape_text(fn.value)
    categories = pim.categories_view(card)
    if categories:
        view["Categories"] = categories
    children = [unescape_text(p.value) for p in _CHILDREN(card.properties) if p.value.strip()]
    if children:
        view["Children"] = children
    note = card.get("NOTE")
    if note is not None and note.value and pim.body_supported(version):
        view["Body"] = unescape_text(note.value)
    return view


# -- the EAS side -------------------------------------------------------------------------


@pim.guarded
def to_application_data(data: bytes, version: str, truncation: Optional[int] = None) -> Element:
    """The stored vCard ``data`` as an ``AirSync:ApplicationData`` of Contacts fields.

    Only fields with a value are sent; Body (the NOTE) only from EAS 12.0 on, cut to
    ``truncation`` bytes. Raises ``ConversionError`` if ``data`` is not one vCard.
    """
    view = _view(_load(data), version)
    children: list[Element] = []
    if "Body" in view:
        children.append(body_element(view["Body"], truncation))
    if "FileAs" in view:
        children.append(pim.element(C, "FileAs", view["FileAs"]))
    for field in _FIELDS:
        if field.tag in view:
            children.append(pim.element(field.ns, field.tag, view[field.tag]))
    if "Categories" in view:
        children.append(pim.list_element(C, "Categories", "Category", view["Categories"]))
    if "Children" in view:
        children.append(pim.list_element(C, "Children", "Child", view["Children"]))
    return Element(pim.AS, "ApplicationData", tuple(children))


def _address(text: str) -> str:
    """The address of ``"Name" <addr>`` (or of a bare address)."""
    match = re.search(r"<([^<>]*)>\s*$", text)
    return (match.group(1) if match else text).strip()


def _device_value(field: _Field, text: str) -> Optional[str]:
    kind = field.kind
    if kind == "email":
        return _address(text) or None
    if kind in ("tel", "raw"):
        return " ".join(text.split()) or None  # never a line break inside a TEL or IMPP
    if kind == "date":
        return _eas_day((parse_eas_date(text.strip()) + timedelta(hours=12)).date())
    if kind == "photo":
        payload = "".join(text.split())
        if len(payload) > MAX_PICTURE:
            raise ConversionError("Picture larger than 48 KB (MS-ASCNTC 2.2.2.58)")
        try:
            base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as e:
            raise ConversionError("Picture is not base64") from e
        return payload or None
    return text


def _device_view(app: Element, version: str) -> dict:
    view: dict = {}
    for field in _FIELDS:
        text = pim.child_text(app, field.ns, field.tag)
        if text is not None:
            value = _device_value(field, text)
            if value is not None:
                view[field.tag] = value
    file_as = pim.child_text(app, C, "FileAs")
    if file_as is not None and file_as.strip():
        view["FileAs"] = file_as
    for tag, item in (("Categories", "Category"), ("Children", "Child")):
        values = pim.child_list(app, C, tag, item)
        if values:
            view[tag] = values
    if pim.body_supported(version):
        body = pim.device_body(app)
        if body is not None:
            view["Body"] = body
    return view


# -- writing into a vCard -----------------------------------------------------------------


def _image_type(payload: str) -> tuple[str, str]:
    head = base64.b64decode(payload[:16] + "=" * (-len(payload[:16]) % 4), validate=False)
    for magic, kind, media in ((b"\x89PNG", "PNG", "image/png"), (b"GIF8", "GIF", "image/gif"),
                               (b"BM", "BMP", "image/bmp")):
        if head.startswith(magic):
            return kind, media
    return "JPEG", "image/jpeg"


def _write(field: _Field, prop: Property, value: str, version: str) -> None:
    kind = field.kind
    if kind in ("tel", "raw", "email"):
        prop.value = pim.escape_text(value) if kind == "email" else value
        if kind == "tel":
            prop.set_param("VALUE", None)  # "tel:" URIs are rewritten as text
    elif kind == "date":
        day = value[:10]
        prop.value = day if version == "3.0" else day.replace("-", "")
        prop.set_param("X-APPLE-OMIT-YEAR", None)
        prop.set_param("VALUE", None)
    elif kind == "photo":
        for name in ("ENCODING", "TYPE", "VALUE", "MEDIATYPE"):
            prop.set_param(name, None)
        image, media = _image_type(value)
        if version == "4.0":
            prop.value = f"data:{media};base64,{value}"
        else:
            prop.params += [("ENCODING", ["b"]), ("TYPE", [image])]
            prop.value = value
    else:
        prop.value = pim.escape_text(value)


def _derived_fn(card: Component) -> str:
    """A display name from what the contact has: names, else company, else e-mail."""
    n = card.get("N")
    if n is not None:
        parts = [unescape_text(p).strip() for p in _components(n, 5)]
        name = " ".join(p for p in (parts[3], parts[1], parts[2], parts[0], parts[4]) if p)
        if name:
            return name
    for prop_name in ("ORG", "NICKNAME", "EMAIL", "TEL"):
        prop = card.get(prop_name)
        if prop is not None:
            value = unescape_text(pim.split_raw(prop.value, ";")[0]).strip()
            if value:
                return value
    return ""


def _merge(card: Component, old: dict, new: dict) -> None:
    version = _version(card)
    located = _locate(card)
    drop: set[int] = set()
    cleared: set[str] = set()
    names_changed = False
    for field in _FIELDS:
        before, after = old.get(field.tag), new.get(field.tag)
        if before == after:
            continue
        names_changed = names_changed or field.place in ("N", "ORG", "EMAIL0")
        prop = located[field.place]
        if after is None:
            if prop is None:
                continue
            if field.kind == "comp":
                parts = _components(prop, _WIDTH[field.place])
                parts[field.index] = ""
                prop.value = ";".join(parts)
                cleared.add(field.place)
            else:
                drop.add(id(prop))
            continue
        if prop is None:
            prop = located[field.place] = _PLACES[field.place].make(version)
            card.properties.append(prop)
        if field.kind == "comp":
            parts = _components(prop, max(_WIDTH[field.place], field.index + 1))
            parts[field.index] = pim.escape_text(after)
            prop.value = ";".join(parts)
            if field.place.startswith("ADR"):
                prop.set_param("LABEL", None)  # a 4.0 label of the old address
        else:
            _write(field, prop, after, version)
    for place in cleared:
        prop = located[place]
        if place != "N" and not unescape_text(prop.value.replace(";", "")).strip():
            drop.add(id(prop))
    card.properties = [p for p in card.properties if id(p) not in drop]
    _merge_lists(card, old, new, version)
    _merge_fn(card, old, new, names_changed)
    if "Body" in new and new["Body"] != old.get("Body"):
        pim.replace_all(card, "NOTE", pim.escape_text(new["Body"]) if new["Body"] else None)


def _merge_lists(card: Component, old: dict, new: dict, version: str) -> None:
    pim.merge_categories(card, old.get("Categories"), new.get("Categories"))
    if old.get("Children") != new.get("Children"):
        existing = _CHILDREN(card.properties)
        values = new.get("Children") or []
        for prop, value in zip(existing, values):
            prop.value = pim.escape_text(value)
        for value in values[len(existing):]:
            prop = _CHILD_MAKER(version)
            prop.value = pim.escape_text(value)
            card.properties.append(prop)
        extra = {id(p) for p in existing[len(values):]}
        card.properties = [p for p in card.properties if id(p) not in extra]


def _merge_fn(card: Component, old: dict, new: dict, names_changed: bool) -> None:
    fn = card.get("FN")
    if "FileAs" in new:
        if new["FileAs"] == old.get("FileAs"):
            return
        value = new["FileAs"]
    elif fn is not None and unescape_text(fn.value).strip() and not names_changed:
        # FN is required: a device that does not send FileAs has not cleared it.
        return
    else:
        value = _derived_fn(card)
    if fn is None:
        at = next((i + 1 for i, p in enumerate(card.properties) if p.name == "VERSION"), 0)
        card.properties.insert(at, Property("FN", pim.escape_text(value)))
    else:
        fn.value = pim.escape_text(value)


@pim.guarded
def from_application_data(app: Element, version: str, existing: Optional[bytes] = None) -> bytes:
    """The vCard to store for a device's Contacts ``ApplicationData``.

    Without ``existing`` a new vCard 3.0 is made (UID, FN and N always present). With
    it, the stored vCard is edited in place: fields the device sent are written, fields
    it left out that the stored card showed are removed (a Sync Change carries the
    whole contact, MS-ASCMD 2.2.3.24), everything else -- UID, VERSION, properties and
    parameters EAS has no field for -- is kept as it was. A Body the device does not
    send keeps the stored NOTE. Raises ``ConversionError`` for malformed input.
    """
    if existing is not None:
        card = _load(existing)
    else:
        card = Component("VCARD", [Property("VERSION", "3.0"), Property("UID", pim.new_uid())])
    old = _view(card, version)
    new = _device_view(app, version)
    _merge(card, old, new)
    if card.get("UID") is None:
        card.properties.append(Property("UID", pim.new_uid()))
    if _version(card) == "3.0" and card.get("N") is None:
        at = next((i + 1 for i, p in enumerate(card.properties) if p.name == "FN"), len(card.properties))
        card.properties.insert(at, Property("N", ";;;;"))
    return serialize(card)
