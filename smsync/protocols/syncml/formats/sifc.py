"""SIF-C (``text/x-s4j-sifc``): contacts as Funambol's Outlook client sends them, to and
from the stored vCard.

Outlook's contact fields map to vCard properties: the name parts to N, FileAs to FN,
CompanyName/Department to ORG, the three e-mail slots to the first three EMAILs, each
phone slot to the first TEL of its types (``HomeTelephoneNumber`` to TEL;TYPE=HOME,VOICE,
``Home2TelephoneNumber`` to the second, and so on), the home, business and other
addresses to the first ADR typed HOME, WORK and neither, the web pages to URL, Photo
to a base64 PHOTO. Fields vCard has no property for use the X- properties Evolution
writes (as EAS does: X-EVOLUTION-SPOUSE, X-PHONETIC-FIRST-NAME...), and any other field
is kept as an ``X-SIF-`` property (``sif.extra_property``).

A Replace is merged into the stored card (``cards.to_canonical_card``), so what SIF-C
has no slot for -- a fourth e-mail, a second mobile, an address's extended part, GEO,
vCard 4.0 properties -- stays.
"""

from __future__ import annotations

import base64
import re
from typing import Optional

from smsync.errors import InvalidData
from smsync.formats.contentlines import Component, Property, escape_text, split_raw, unescape_text
from smsync.model import CollectionKind
from smsync.protocols.syncml.formats import Format, register, sif
from smsync.protocols.syncml.formats.cards import as_v3, derived_fn, to_canonical_card
from smsync.protocols.syncml.formats.support import b64_payload, guarded

MIME = "text/x-s4j-sifc"
ROOT = "contact"

_NAME = ("LastName", "FirstName", "MiddleName", "Title", "Suffix")
_ORG = ("CompanyName", "Department")
_ADR_PARTS = ("PostOfficeBox", None, "Street", "City", "State", "PostalCode", "Country")
_ADDRESSES = (("Home", "HOME"), ("Business", "WORK"), ("Other", None))
#: Phone slots in the order they are filled: tag, the types that pick a TEL for it,
#: the types it is written with.
_PHONES = (
    ("HomeFaxNumber", {"home", "fax"}, "HOME,FAX"),
    ("BusinessFaxNumber", {"work", "fax"}, "WORK,FAX"),
    ("OtherFaxNumber", {"fax"}, "FAX"),
    ("MobileTelephoneNumber", {"cell"}, "CELL"),
    ("PagerNumber", {"pager"}, "PAGER"),
    ("CarTelephoneNumber", {"car"}, "CAR"),
    ("CallbackTelephoneNumber", {"x-callback"}, "X-CALLBACK"),
    ("RadioTelephoneNumber", {"x-radio"}, "X-RADIO"),
    ("AssistantTelephoneNumber", {"x-assistant"}, "X-ASSISTANT"),
    ("TelexNumber", {"x-telex"}, "X-TELEX"),
    ("CompanyMainTelephoneNumber", {"x-company-main"}, "WORK,X-COMPANY-MAIN"),
    ("BusinessTelephoneNumber", {"work"}, "WORK,VOICE"),
    ("Business2TelephoneNumber", {"work"}, "WORK,VOICE"),
    ("HomeTelephoneNumber", {"home"}, "HOME,VOICE"),
    ("Home2TelephoneNumber", {"home"}, "HOME,VOICE"),
    ("PrimaryTelephoneNumber", {"pref"}, "PREF,VOICE"),
    ("OtherTelephoneNumber", set(), "VOICE"),
)
#: Single-valued fields kept in one property each (the first of the names is written).
_SIMPLE = (
    ("FileAs", ("FN",)),
    ("NickName", ("NICKNAME",)),
    ("JobTitle", ("TITLE",)),
    ("Profession", ("ROLE",)),
    ("Spouse", ("X-EVOLUTION-SPOUSE", "X-SPOUSE", "X-MS-SPOUSE")),
    ("AssistantName", ("X-EVOLUTION-ASSISTANT", "X-ASSISTANT", "X-MS-ASSISTANT")),
    ("ManagerName", ("X-EVOLUTION-MANAGER", "X-MANAGER", "X-MS-MANAGER")),
    ("OfficeLocation", ("X-OFFICE", "X-EVOLUTION-OFFICE")),
    ("YomiFirstName", ("X-PHONETIC-FIRST-NAME",)),
    ("YomiLastName", ("X-PHONETIC-LAST-NAME",)),
    ("YomiCompanyName", ("X-PHONETIC-ORG",)),
    ("IMAddress", ("IMPP", "X-JABBER", "X-AIM")),
)
_DATES = (("Birthday", ("BDAY",)), ("Anniversary", ("X-ANNIVERSARY", "ANNIVERSARY", "X-EVOLUTION-ANNIVERSARY")))
_WEB = (("WebPage", None), ("HomeWebPage", "home"), ("BusinessWebPage", "work"))
_KNOWN = {*_NAME, *_ORG, "Body", "Categories", "Sensitivity", "Photo", "Email1Address", "Email2Address",
          "Email3Address", "SIFVersion", *(t for t, _, _ in _PHONES), *(t for t, _ in _SIMPLE),
          *(t for t, _ in _DATES), *(t for t, _ in _WEB),
          *(f"{a}Address{p}" for a, _ in _ADDRESSES for p in _ADR_PARTS if p)}
#: Outlook sends these on every contact with their default value: not worth a property.
_DEFAULTS = {"Importance": "1", "Email1AddressType": "SMTP", "Email2AddressType": "SMTP",
             "Email3AddressType": "SMTP"}
#: What a SIF-C client sends whenever the contact has it (see ``merge``).
AUTHORITATIVE = frozenset({"N", "FN", "NICKNAME", "ORG", "TITLE", "ROLE", "NOTE", "BDAY", "EMAIL", "TEL",
                           "ADR", "URL", "CATEGORIES", "CLASS", *(n[0] for _, n in _SIMPLE),
                           "X-ANNIVERSARY"})


def _types(prop: Property) -> set[str]:
    return {t.strip().lower() for v in prop.param_values("TYPE") for t in v.split(",") if t.strip()}


def _date(value: str) -> Optional[str]:
    m = re.match(r"^(\d{4})-?(\d{2})-?(\d{2})", value.strip())
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}" if m else None


def _image_type(payload: str) -> str:
    head = base64.b64decode(payload[:16] + "=" * (-len(payload[:16]) % 4))
    for magic, kind in ((b"\x89PNG", "PNG"), (b"GIF8", "GIF"), (b"BM", "BMP")):
        if head.startswith(magic):
            return kind
    return "JPEG"


def read_sifc(data: bytes) -> Component:
    """A SIF-C contact as a vCard 3.0 component (no UID: SIF has none)."""
    f = sif.read(data, ROOT)
    props = [Property("VERSION", "3.0")]
    name = [escape_text(sif.text(f, tag) or "") for tag in _NAME]
    props.append(Property("N", ";".join(name)))
    for tag, names in _SIMPLE:
        value = sif.text(f, tag)
        if value:
            props.append(Property(names[0], escape_text(value) if names[0] != "IMPP" else value))
    org = [sif.text(f, tag) for tag in _ORG]
    if any(org):
        props.append(Property("ORG", ";".join(escape_text(v or "") for v in org).rstrip(";")))
    for i in (1, 2, 3):
        value = sif.text(f, f"Email{i}Address")
        if value:
            props.append(Property("EMAIL", escape_text(value), [("TYPE", ["INTERNET"])]))
    for tag, _, types in _PHONES:
        value = sif.text(f, tag)
        if value:
            props.append(Property("TEL", " ".join(value.split()), [("TYPE", types.split(","))]))
    for prefix, kind in _ADDRESSES:
        parts = [(sif.text(f, f"{prefix}Address{p}") or "") if p else "" for p in _ADR_PARTS]
        if any(parts):
            props.append(Property("ADR", ";".join(escape_text(p) for p in parts), [("TYPE", [kind])] if kind else []))
    for tag, kind in _WEB:
        value = sif.text(f, tag)
        if value:
            props.append(Property("URL", value, [("TYPE", [kind.upper()])] if kind else []))
    for tag, names in _DATES:
        value = sif.text(f, tag)
        day = _date(value) if value else None
        if day and not day.startswith("4501"):  # Outlook's "none" date
            props.append(Property(names[0], day))
    note = sif.body(f, "Body")
    if note:
        props.append(Property("NOTE", escape_text(note)))
    cats = sif.categories(sif.text(f, "Categories"))
    if cats:
        props.append(Property("CATEGORIES", cats))
    klass = sif.sensitivity_class(sif.text(f, "Sensitivity"))
    if klass:
        props.append(Property("CLASS", klass))
    photo = sif.text(f, "Photo")
    if photo:
        payload = b64_payload(photo)
        if payload is None:
            raise InvalidData("SIF-C Photo is not base64")
        props.append(Property("PHOTO", payload, [("ENCODING", ["b"]), ("TYPE", [_image_type(payload)])]))
    for tag, value in f.items():
        if tag not in _KNOWN and isinstance(value, str) and _DEFAULTS.get(tag) != value.strip():
            props.append(sif.extra_property(tag, value))
    fn = next((p for p in props if p.name == "FN"), None)
    card = Component("VCARD", props)
    if fn is None:
        card.properties.insert(1, Property("FN", escape_text(derived_fn(card))))
    return card


def _first(card: Component, names) -> Optional[Property]:
    for name in names:
        prop = card.get(name)
        if prop is not None:
            return prop
    return None


def _phone_slots(card: Component) -> dict[str, Property]:
    slots: dict[str, Property] = {}
    for prop in card.get_all("TEL"):
        types = _types(prop) - {"voice", "msg", "internet"}
        if "x-evolution-radio" in types or "radio" in types:
            types.add("x-radio")
        if "x-evolution-assistant" in types or "assistant" in types:
            types.add("x-assistant")
        for tag, wanted, _ in _PHONES:
            if tag in slots:
                continue
            # Other takes a TEL of any other type (not a fax): it comes back as VOICE, which
            # the merge does not count as a change of its stored types.
            if wanted <= types and not ("fax" in types and "fax" not in wanted):
                slots[tag] = prop
                break
    return slots


def write_sifc(card: Component) -> bytes:
    """A vCard 3.0 component as SIF-C."""
    fields: list[tuple[str, Optional[str]]] = []
    n = card.get("N")
    parts = [unescape_text(p) for p in split_raw(n.value, ";")] if n is not None else []
    parts += [""] * 5
    fields += [(tag, parts[i] or None) for i, tag in enumerate(_NAME)]
    for tag, names in _SIMPLE:
        prop = _first(card, names)
        if prop is not None:
            fields.append((tag, prop.value if names[0] == "IMPP" else unescape_text(prop.value)))
    org = card.get("ORG")
    if org is not None:
        parts = [unescape_text(p) for p in split_raw(org.value, ";")] + ["", ""]
        fields += [(tag, parts[i] or None) for i, tag in enumerate(_ORG)]
    for i, prop in enumerate(card.get_all("EMAIL")[:3], 1):
        address = unescape_text(prop.value).strip()
        fields.append((f"Email{i}Address", address[7:] if address.lower().startswith("mailto:") else address))
    for tag, prop in sorted(_phone_slots(card).items(), key=lambda kv: [p[0] for p in _PHONES].index(kv[0])):
        value = prop.value.strip()
        fields.append((tag, value[4:] if value.lower().startswith("tel:") else value))
    taken = set()
    for prefix, kind in _ADDRESSES:
        for prop in card.get_all("ADR"):
            t = _types(prop)
            fits = (kind is not None and kind.lower() in t) or (kind is None and not t & {"home", "work"})
            if fits and id(prop) not in taken:
                taken.add(id(prop))
                values = [unescape_text(v) for v in split_raw(prop.value, ";")] + [""] * 7
                fields += [(f"{prefix}Address{p}", values[i] or None) for i, p in enumerate(_ADR_PARTS) if p]
                break
    for tag, kind in _WEB:
        for prop in card.get_all("URL"):
            t = _types(prop)
            if (kind is None and not t & {"home", "work"}) or (kind is not None and kind in t):
                fields.append((tag, prop.value))
                break
    for tag, names in _DATES:
        prop = _first(card, names)
        day = _date(prop.value) if prop is not None else None
        if day:
            fields.append((tag, day))
    note = card.get("NOTE")
    if note is not None:
        fields.append(("Body", unescape_text(note.value)))
    fields.append(("Categories", sif.categories_field(card)))
    fields.append(("Sensitivity", sif.class_sensitivity(card)))
    photo = card.get("PHOTO")
    if photo is not None and (photo.param("ENCODING") or "").lower() in ("b", "base64"):
        fields.append(("Photo", "".join(photo.value.split())))
    fields += sif.extra_fields(card)
    return sif.write(ROOT, fields)


@guarded
def from_canonical(data: bytes) -> bytes:
    """The stored contact as SIF-C."""
    return write_sifc(as_v3(data))


@guarded
def to_canonical(data: bytes, previous: Optional[bytes] = None) -> bytes:
    """A SIF-C contact as the vCard to store (see ``cards.to_canonical_card``)."""
    return to_canonical_card(read_sifc(data), previous, lambda stored: read_sifc(from_canonical(stored)),
                             AUTHORITATIVE)


FORMAT = register(Format(CollectionKind.ADDRESSBOOK, MIME, "1.1", to_canonical, from_canonical))
