"""A stored vCard as a row of a Contacts list (the SharePoint Contacts list fields
MS-OUTSPS syncs), and back.

=============  =================================================================
Field          vCard
=============  =================================================================
Title          N family name (SharePoint's "Last Name")
FirstName      N given name
FullName       FN
Email          the first EMAIL (a PREF one first)
Company        ORG's organisation name
JobTitle       TITLE
WorkPhone      the first TEL with TYPE=WORK, not fax, pager or cell
HomePhone      the first TEL with TYPE=HOME, not fax, pager or cell
CellPhone      the first TEL with TYPE=CELL
WorkFax        the first TEL with TYPE=FAX (a WORK one first)
WorkAddress    street of the ADR with TYPE=WORK (else the first ADR); WorkCity its
WorkCity...    locality, WorkState region, WorkZip postal code, WorkCountry country
WebPage        the first URL, as a URL field writes it (``address, description``)
Comments       NOTE
=============  =================================================================

Everything else in the card (other phones and addresses, photos, birthdays, groups,
X- properties, the parameters of the properties above) survives an Outlook edit: a
field changes only its own property (or its own component of N, ORG, ADR). Clearing a
field removes its property; where the card has another of the kind (a second EMAIL), that
one is the field's value from then on. A new card
is vCard 3.0; an edited one keeps its version. ``info`` gives a new card's UID
(``info.uid`` when set).
"""

from __future__ import annotations

from typing import Callable, Optional

from smsync.errors import InvalidData
from smsync.model import CollectionKind
from smsync.formats.contentlines import (
    Component,
    Property,
    escape_text,
    parse_components,
    serialize,
    split_raw,
    unescape_text,
)

from . import fields_common as fc
from . import fields_ical as fi

#: The collections this list type shows, and its SharePoint list template
#: (``ServerTemplate`` of GetList: 105 Contacts, 106 Events, 107 Tasks).
KIND = CollectionKind.ADDRESSBOOK
SERVER_TEMPLATE = 105

FIELDS = (
    fc.Field("Title", "Text", "Last Name", required=True),
    fc.Field("FirstName", "Text", "First Name"),
    fc.Field("FullName", "Text", "Full Name"),
    fc.Field("Email", "Text", "E-mail Address"),
    fc.Field("Company", "Text", "Company"),
    fc.Field("JobTitle", "Text", "Job Title"),
    fc.Field("WorkPhone", "Text", "Business Phone"),
    fc.Field("HomePhone", "Text", "Home Phone"),
    fc.Field("CellPhone", "Text", "Mobile Number"),
    fc.Field("WorkFax", "Text", "Fax Number"),
    fc.Field("WorkAddress", "Note", "Address"),
    fc.Field("WorkCity", "Text", "City"),
    fc.Field("WorkState", "Text", "State/Province"),
    fc.Field("WorkZip", "Text", "ZIP/Postal Code"),
    fc.Field("WorkCountry", "Text", "Country/Region"),
    fc.Field("WebPage", "URL", "Web Page"),
    fc.Field("Comments", "Note", "Notes"),
)
NAMES = fc.field_names(FIELDS)

#: Field -> index in ADR (post office box, extended, street, locality, region, code, country).
_ADR = {"WorkAddress": 2, "WorkCity": 3, "WorkState": 4, "WorkZip": 5, "WorkCountry": 6}
#: Field -> index in N (family, given, additional, prefix, suffix).
_N = {"Title": 0, "FirstName": 1}
_SIMPLE = {"FullName": "FN", "JobTitle": "TITLE", "Comments": "NOTE"}


def _types(prop: Property) -> set[str]:
    return {t.strip().upper() for v in prop.param_values("TYPE") for t in v.split(",") if t.strip()}


def _is_pref(prop: Property) -> bool:
    return "PREF" in _types(prop) or prop.param("PREF") is not None


def _pick(card: Component, name: str, test: Callable[[set], bool], prefer=None) -> Optional[Property]:
    found = [p for p in card.properties if p.name == name and test(_types(p))]
    if prefer is not None:
        found.sort(key=lambda p: 0 if prefer(p) else 1)
    return found[0] if found else None


_NOT_VOICE = {"FAX", "PAGER", "CELL", "TEXTPHONE", "VIDEO"}
#: Field -> (how its TEL is found, preferred, the TYPE a new one gets).
_PHONES = {
    "WorkPhone": (lambda t: "WORK" in t and not t & _NOT_VOICE, None, ["WORK", "VOICE"]),
    "HomePhone": (lambda t: "HOME" in t and not t & _NOT_VOICE, None, ["HOME", "VOICE"]),
    "CellPhone": (lambda t: "CELL" in t, None, ["CELL"]),
    "WorkFax": (lambda t: "FAX" in t, lambda p: "HOME" not in _types(p), ["WORK", "FAX"]),
}


def _work_adr(card: Component) -> Optional[Property]:
    return _pick(card, "ADR", lambda t: "WORK" in t) or card.get("ADR")


def _email(card: Component) -> Optional[Property]:
    return _pick(card, "EMAIL", lambda t: True, _is_pref)


def _parts(prop: Optional[Property], size: int) -> list[str]:
    parts = [] if prop is None else split_raw(prop.value, ";")
    return parts + [""] * (size - len(parts))


def _component(prop: Optional[Property], index: int) -> str:
    # A component may itself be a comma list (several street lines): shown joined.
    return unescape_text(_parts(prop, index + 1)[index]).strip()


def _text(prop: Optional[Property]) -> str:
    return "" if prop is None else unescape_text(prop.value).strip()


def _load(content: bytes) -> Component:
    roots = parse_components(content)
    if len(roots) != 1 or roots[0].name != "VCARD":
        raise InvalidData("a contact is exactly one vCard")
    return roots[0]


def _url_field(url: str) -> str:
    # A URL field's text is "address, description"; the description is not stored.
    return f"{url}, {url}" if url else ""


def to_row(content: bytes, info=None) -> dict[str, str]:
    """The stored vCard as a Contacts list row (see the module docstring);
    ``InvalidData`` for content that is not one vCard. ``info`` is not used."""
    card = _load(content)
    n, adr = card.get("N"), _work_adr(card)
    row = {name: _component(n, index) for name, index in _N.items()}
    row.update({name: _text(card.get(prop)) for name, prop in _SIMPLE.items()})
    row["Email"] = _text(_email(card))
    row["Company"] = _component(card.get("ORG"), 0)
    for name, (test, prefer, _) in _PHONES.items():
        tel = _pick(card, "TEL", test, prefer)
        row[name] = _tel_text(tel)
    row.update({name: _component(adr, index) for name, index in _ADR.items()})
    url = card.get("URL")
    row["WebPage"] = _url_field(url.value.strip() if url is not None else "")
    return row


def _tel_text(tel: Optional[Property]) -> str:
    text = _text(tel)
    return text[4:] if text.lower().startswith("tel:") else text


def _set_component(card: Component, prop: Optional[Property], name: str, index: int, size: int,
                   text: str, types: Optional[list] = None) -> Property:
    """Set one ``;`` component of a structured property (creating it when absent)."""
    if prop is None:
        prop = Property(name, "", [("TYPE", types)] if types else [])
        card.properties.append(prop)
    parts = _parts(prop, size)
    parts[index] = escape_text(text.strip())
    while len(parts) > size and not parts[-1]:
        parts.pop()
    prop.value = ";".join(parts)
    return prop


def _set_single(card: Component, prop: Optional[Property], name: str, value: str,
                params: Optional[list] = None) -> None:
    """Replace ``prop``'s value in place, add a new property, or remove ``prop``."""
    if not value:
        if prop is not None:
            card.properties = [p for p in card.properties if p is not prop]
        return
    if prop is None:
        card.properties.append(Property(name, value, params or []))
    else:
        prop.value = value


def _empty_structured(card: Component, prop: Optional[Property]) -> None:
    if prop is not None and not "".join(split_raw(prop.value, ";")).strip(" ,"):
        card.properties = [p for p in card.properties if p is not prop]



def to_rows(content: bytes, info=None) -> list[dict[str, str]]:
    """``[to_row(content)]``: a contact is one row (as ``fields_events.to_rows`` has it)."""
    return [to_row(content, info)]


def _uri(text: str) -> str:
    """Text for a URI value (URL, ``tel:``), which has no escaping: without the line
    breaks and control characters that would end or corrupt its content line."""
    return "".join(c for c in text.strip() if c.isprintable())


def from_row(fields: dict[str, str], existing: Optional[bytes] = None, info=None) -> bytes:
    """The vCard to store for a Contacts list row: a new 3.0 card, or ``existing`` with
    what the row changes (fields left out, or sent as the stored card shows them, leave
    it byte for byte). ``InvalidData`` for a row that cannot be read."""
    fc.check_size(fields)
    if existing is not None:
        card = _load(existing)
        shown = to_row(existing)
    else:
        uid = getattr(info, "uid", None) or fi.new_uid()
        card = Component("VCARD", [Property("VERSION", "3.0"), Property("UID", escape_text(uid))])
        shown = {}
    v4 = (card.value("VERSION") or "").strip() == "4.0"

    def changed(name: str) -> bool:
        return fc.differs(fields, shown, name) or (existing is None and name in fields)

    def value(name: str) -> str:
        return fields[name].replace("\r\n", "\n").strip()

    for name, index in _N.items():
        if changed(name):
            _set_component(card, card.get("N"), "N", index, 5, value(name))
    if existing is None and card.get("N") is None:
        card.properties.append(Property("N", ";;;;"))
    for name, prop_name in _SIMPLE.items():
        if changed(name):
            _set_single(card, card.get(prop_name), prop_name, escape_text(value(name)))
    if card.get("FN") is None:
        # FN is required: the name Outlook shows, from the parts it has.
        n = card.get("N")
        given, family = _component(n, 1), _component(n, 0)
        full = " ".join(p for p in (given, family) if p) or _text(_email(card)) or _component(card.get("ORG"), 0)
        card.properties.append(Property("FN", escape_text(full)))
    if changed("Email"):
        _set_single(card, _email(card), "EMAIL", escape_text(value("Email")),
                    [("TYPE", ["INTERNET"] if not v4 else ["work"])])
    if changed("Company"):
        org = _set_component(card, card.get("ORG"), "ORG", 0, 1, value("Company"))
        _empty_structured(card, org)
    for name, (test, prefer, types) in _PHONES.items():
        if changed(name):
            tel = _pick(card, "TEL", test, prefer)
            text = value(name)
            if tel is not None and tel.value.lower().startswith("tel:") and text:
                value_text = "tel:" + _uri(text)  # a URI value: not TEXT-escaped
            else:
                value_text = escape_text(text)
            _set_single(card, tel, "TEL", value_text, [("TYPE", [t.lower() for t in types] if v4 else types)])
    if any(changed(name) for name in _ADR):
        adr = _work_adr(card)
        for name, index in _ADR.items():
            if changed(name):
                adr = _set_component(card, adr, "ADR", index, 7, value(name), ["work"] if v4 else ["WORK"])
        _empty_structured(card, adr)
    if changed("WebPage"):
        url = _uri(value("WebPage").split(", ")[0])
        _set_single(card, card.get("URL"), "URL", url)
    out = serialize(card)
    if existing is not None:
        if out == serialize(_load(existing)):
            return existing  # nothing changed: not even REV moves
        rev = card.get("REV")
        if rev is not None:
            rev.value, rev.params = fi.stamp(), []
            out = serialize(card)
    return out
