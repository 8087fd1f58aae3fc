"""FindItem's Restriction (MS-OXWSSRCH 2.2.4.x) as a predicate over one item, and the
values a SortOrder sorts by.

IsEqualTo, IsNotEqualTo, IsGreaterThan(OrEqualTo), IsLessThan(OrEqualTo), Contains
(ContainmentMode, ContainmentComparison), Exists, And, Or, Not over the common fields of
each kind of item: a table FieldURI -> ``Field`` per kind (``MAIL``, ``CONTACT``,
``EVENT``, ``TASK``, ``NOTE``). A message is read from its metadata and structure
(``MailRecord``); a contact, event, task or note from its ``<t:Contact>``/
``<t:CalendarItem>``/``<t:Task>``/``<t:Message>`` rendered in the AllProperties shape by its converter (``ItemRecord``), so
a field is matched on exactly the value GetItem shows. A field or operator not in the
table is ``ErrorUnsupportedPathForQuery``/``ErrorUnsupportedQueryFilter``, never a wrong
answer. Comparing with an item that has no value of the field is false (as Exchange
does), whatever the operator; a multi-valued field (Categories, the e-mail addresses)
matches when one of its values does. Strings compare ignoring case, as Exchange's
IsEqualTo does.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Callable, Optional

import attrs

from smsync.formats.contentlines import text_list
from smsync.protocols.ews import contacts
from smsync.protocols.ews.errors import EWSError
from smsync.protocols.ews.messages import DRAFT, FLAGGED, SEEN, keywords
from smsync.protocols.ews.soap import t

UNSUPPORTED_PATH = "ErrorUnsupportedPathForQuery"
UNSUPPORTED_FILTER = "ErrorUnsupportedQueryFilter"
UNSUPPORTED_SORT = "ErrorUnsupportedPathForSortGroup"

Predicate = Callable[[object], bool]


@attrs.frozen
class Field:
    """How one FieldURI is read from a record (None: the item has no value; a list: a
    multi-valued field) and how a Constant compared with it is parsed."""

    read: Callable[[object], object]
    parse: Callable[[str], object]


@attrs.frozen
class MailRecord:
    """A message as a restriction reads it: its metadata and parsed structure."""

    info: object
    structure: object


@attrs.frozen
class ItemRecord:
    """A contact, event or task as a restriction reads it: its element in the
    AllProperties shape, and the stored content (for what the element does not carry)."""

    node: object
    content: bytes = b""


def _date(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("true", "1", "false", "0"):
        raise ValueError(value)
    return value in ("true", "1")


def _number(text: str) -> Decimal:
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(text) from None


def _addresses(addresses) -> str:
    return " ".join(f"{a.name or ''} {a.email or ''}" for a in addresses).lower()


#: Messages: FieldURI -> Field over a ``MailRecord``.
MAIL = {
    "item:Subject": Field(lambda r: r.structure.subject or "", str),
    "message:IsRead": Field(lambda r: SEEN in r.info.flags, _bool),
    "item:IsDraft": Field(lambda r: DRAFT in r.info.flags, _bool),
    "item:HasAttachments": Field(lambda r: bool(r.structure.has_attachments), _bool),
    "item:DateTimeReceived": Field(lambda r: r.info.internal_date, _date),
    "item:DateTimeCreated": Field(lambda r: r.info.saved_date, _date),
    "item:DateTimeSent": Field(lambda r: r.structure.date or r.info.internal_date, _date),
    "item:Size": Field(lambda r: r.info.size, int),
    "message:From": Field(lambda r: _addresses(r.structure.envelope.from_), str),
    "message:Sender": Field(lambda r: _addresses(r.structure.envelope.sender), str),
    "message:ToRecipients": Field(lambda r: _addresses(r.structure.envelope.to), str),
    "message:InternetMessageId": Field(lambda r: r.structure.message_id or "", str),
    "item:Categories": Field(lambda r: keywords(r.info.flags), str),
    "item:ItemClass": Field(lambda r: "IPM.Note", str),
    "message:IsFlagged": Field(lambda r: FLAGGED in r.info.flags, _bool),
}


# -- contacts, events, tasks: read from their rendered element ---------------------------


def _text(tag: str, parse: Callable = str) -> Field:
    """The field of the item element's child ``tag`` (its text, parsed)."""

    def read(record):
        value = record.node.findtext(t(tag))
        try:
            return parse(value) if value is not None else None
        except ValueError:  # not what the converter writes: as if the item had none
            return None

    return Field(read, parse)


def _entry(tag: str, key: str) -> Field:
    """An indexed field: the ``<t:Entry Key=key>`` of the element's ``tag`` list."""

    def read(record):
        holder = record.node.find(t(tag))
        if holder is None:
            return None
        for entry in holder.findall(t("Entry")):
            if entry.get("Key") == key:
                return entry.text or ""
        return None

    return Field(read, str)


def _entries(tag: str) -> Field:
    """Every entry of the element's ``tag`` list (a multi-valued field)."""

    def read(record):
        holder = record.node.find(t(tag))
        return [e.text or "" for e in holder.findall(t("Entry"))] if holder is not None else None

    return Field(read, str)


def _strings(tag: str) -> Field:
    def read(record):
        holder = record.node.find(t(tag))
        return [s.text or "" for s in holder.findall(t("String"))] if holder is not None else None

    return Field(read, str)


def _mailbox(tag: str) -> Field:
    """A single mailbox (the organizer): its name and address, as the message fields."""

    def read(record):
        box = record.node.find(f"{t(tag)}/{t('Mailbox')}")
        if box is None:
            return None
        return f"{box.findtext(t('Name')) or ''} {box.findtext(t('EmailAddress')) or ''}".lower()

    return Field(read, str)


def _vcard_categories(record):
    """A contact's CATEGORIES (the Contact element has none to read them from)."""
    try:
        found = text_list(contacts.load(record.content).get_all("CATEGORIES"))
    except EWSError:
        return None
    return found or None


_COMMON = {
    "item:Subject": _text("Subject"),
    "item:Body": _text("Body"),
    "item:ItemClass": _text("ItemClass"),
    "item:Categories": _strings("Categories"),
    "item:Importance": _text("Importance"),
    "item:Sensitivity": _text("Sensitivity"),
}

#: Contacts: FieldURI (an IndexedFieldURI as ``uri:index``) -> Field over an ``ItemRecord``.
CONTACT = {
    **_COMMON,
    "item:Categories": Field(_vcard_categories, str),
    **{f"contacts:{name}": _text(name) for name in (
        "DisplayName", "FileAs", "GivenName", "MiddleName", "Nickname", "Surname",
        "CompanyName", "Department", "JobTitle")},
    "contacts:Birthday": _text("Birthday", _date),
    "contacts:EmailAddresses": _entries("EmailAddresses"),
    "contacts:PhoneNumbers": _entries("PhoneNumbers"),
    **{f"contacts:EmailAddress:{key}": _entry("EmailAddresses", key)
       for key in ("EmailAddress1", "EmailAddress2", "EmailAddress3")},
    **{f"contacts:PhoneNumber:{key}": _entry("PhoneNumbers", key) for key in (
        "MobilePhone", "BusinessPhone", "HomePhone", "BusinessFax", "HomeFax", "Pager",
        "CarPhone", "OtherTelephone")},
}

#: Calendar items (a series master, a single event or an occurrence).
EVENT = {
    **_COMMON,
    "calendar:Start": _text("Start", _date),
    "calendar:End": _text("End", _date),
    "calendar:Location": _text("Location"),
    "calendar:IsRecurring": _text("IsRecurring", _bool),
    "calendar:IsAllDayEvent": _text("IsAllDayEvent", _bool),
    "calendar:UID": _text("UID"),
    "calendar:LegacyFreeBusyStatus": _text("LegacyFreeBusyStatus"),
    "calendar:CalendarItemType": _text("CalendarItemType"),
    "calendar:Organizer": _mailbox("Organizer"),
}

#: Tasks.
TASK = {
    **_COMMON,
    "task:Status": _text("Status"),
    "task:DueDate": _text("DueDate", _date),
    "task:StartDate": _text("StartDate", _date),
    "task:CompleteDate": _text("CompleteDate", _date),
    "task:IsComplete": _text("IsComplete", _bool),
    "task:PercentComplete": _text("PercentComplete", _number),
}


#: Notes (sticky notes, VJOURNALs).
NOTE = {
    **_COMMON,
    "item:DateTimeCreated": _text("DateTimeCreated", _date),
    "item:LastModifiedTime": _text("LastModifiedTime", _date),
}


# -- the restriction -------------------------------------------------------------------

_COMPARE = {
    "IsEqualTo": lambda a, b: a == b,
    "IsNotEqualTo": lambda a, b: a != b,
    "IsGreaterThan": lambda a, b: a > b,
    "IsGreaterThanOrEqualTo": lambda a, b: a >= b,
    "IsLessThan": lambda a, b: a < b,
    "IsLessThanOrEqualTo": lambda a, b: a <= b,
}


def _local(element) -> str:
    return element.tag.rpartition("}")[2] if isinstance(element.tag, str) else ""


def _children(element) -> list:
    return [c for c in element if isinstance(c.tag, str)]


def field_key(element) -> Optional[str]:
    """The table key of the path in ``element`` (a FieldURI, or an IndexedFieldURI as
    ``uri:index``); None for any other path (ExtendedFieldURI, none)."""
    node = element.find(t("FieldURI"))
    if node is not None:
        return node.get("FieldURI")
    node = element.find(t("IndexedFieldURI"))
    if node is not None:
        return f"{node.get('FieldURI')}:{node.get('FieldIndex')}"
    return None


def _field(element, fields: dict) -> Field:
    key = field_key(element)
    if key not in fields:
        shown = key or (_local(_children(element)[0]) if _children(element) else "?")
        raise EWSError(UNSUPPORTED_PATH, f"cannot search by {str(shown)[:60]}")
    return fields[key]


def _constant(element) -> str:
    node = element.find(f"{t('FieldURIOrConstant')}/{t('Constant')}")
    if node is None:
        node = element.find(t("Constant"))
    if node is None:
        raise EWSError(UNSUPPORTED_FILTER, "only comparisons with a constant are served")
    return node.get("Value", "")


def _values(value) -> list:
    """The values of a field (one, several, or none when the item has none)."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _fold(value):
    return value.lower() if isinstance(value, str) else value


def _compare(name: str, field: Field, element) -> Predicate:
    try:
        wanted = _fold(field.parse(_constant(element)))
    except ValueError:
        raise EWSError("ErrorInvalidValueForProperty", "the constant does not fit the field") from None
    compare = _COMPARE[name]

    def check(record):
        try:
            return any(compare(_fold(v), wanted) for v in _values(field.read(record)))
        except TypeError:  # a value of another type than the constant's: no match
            return False

    return check


def _contains(field: Field, element) -> Predicate:
    wanted = _constant(element)
    mode = element.get("ContainmentMode", "Substring")
    if mode not in ("FullString", "Prefixed", "Substring", "PrefixOnWords", "ExactPhrase"):
        raise EWSError(UNSUPPORTED_FILTER, f"ContainmentMode {mode[:30]}")
    loose = element.get("ContainmentComparison", "Exact") != "Exact"
    if loose:
        wanted = wanted.lower()

    def one(value) -> bool:
        value = str(value).lower() if loose else str(value)
        if mode == "FullString":
            return value == wanted
        if mode == "Prefixed":
            return value.startswith(wanted)
        if mode == "PrefixOnWords":
            return any(word.startswith(wanted) for word in value.split())
        return wanted in value

    return lambda record: any(one(v) for v in _values(field.read(record)))


def _exists(field: Field) -> Predicate:
    def exists(record):
        return any(v != "" for v in _values(field.read(record)))

    return exists


def _build(element, fields: dict) -> Predicate:
    name = _local(element)
    if name in ("And", "Or"):
        parts = [_build(c, fields) for c in _children(element)]
        if not parts:
            raise EWSError(UNSUPPORTED_FILTER, f"{name} without a condition")
        if name == "And":
            return lambda r: all(p(r) for p in parts)
        return lambda r: any(p(r) for p in parts)
    if name == "Not":
        inner = [_build(c, fields) for c in _children(element)]
        if len(inner) != 1:
            raise EWSError(UNSUPPORTED_FILTER, "Not holds one condition")
        return lambda r: not inner[0](r)
    if name == "Exists":
        return _exists(_field(element, fields))
    if name in _COMPARE:
        return _compare(name, _field(element, fields), element)
    if name == "Contains":
        return _contains(_field(element, fields), element)
    raise EWSError(UNSUPPORTED_FILTER, f"{name[:40] or 'an empty restriction'} is not served")


def parse(element, fields: dict = MAIL) -> Optional[Predicate]:
    """The predicate of a ``<m:Restriction>`` element over records of the kind whose
    table is ``fields`` (None for no restriction)."""
    if element is None:
        return None
    conditions = _children(element)
    if len(conditions) != 1:
        raise EWSError(UNSUPPORTED_FILTER, "a Restriction holds one condition")
    return _build(conditions[0], fields)


def sort_key(fields: dict, key: str) -> Callable[[object], tuple]:
    """The sort key of a record by the field ``key`` of ``fields`` (items without a value
    first, strings ignoring case; ``ErrorUnsupportedPathForSortGroup`` for an unknown
    field)."""
    if key not in fields:
        raise EWSError(UNSUPPORTED_SORT, f"cannot sort by {str(key)[:60]}")
    read = fields[key].read

    def of(record):
        values = [_fold(v) for v in _values(read(record))]
        if not values:
            return (0, "")
        return (1, " ".join(map(str, values)) if len(values) > 1 else values[0])

    return of
