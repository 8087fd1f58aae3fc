"""FindItem's Restriction (MS-OXWSSRCH 2.2.4.x) as a predicate over a stored message:
IsEqualTo, IsNotEqualTo, IsGreaterThan(OrEqualTo), IsLessThan(OrEqualTo), Contains,
Exists, And, Or, Not over the common message fields. A field or operator not served is
``ErrorUnsupportedPathForQuery``/``ErrorUnsupportedQueryFilter``, never a wrong answer."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable, Optional

from smsync.protocols.ews.errors import EWSError
from smsync.protocols.ews.messages import DRAFT, FLAGGED, SEEN, keywords
from smsync.protocols.ews.soap import t

UNSUPPORTED_PATH = "ErrorUnsupportedPathForQuery"
UNSUPPORTED_FILTER = "ErrorUnsupportedQueryFilter"

Predicate = Callable[[object, object], bool]


def _date(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _bool(text: str) -> bool:
    return text.strip().lower() in ("true", "1")


def _addresses(addresses) -> str:
    return " ".join(f"{a.name or ''} {a.email or ''}" for a in addresses).lower()


#: FieldURI -> (value of a message, constant parser)
FIELDS = {
    "item:Subject": (lambda i, s: s.subject or "", str),
    "message:IsRead": (lambda i, s: SEEN in i.flags, _bool),
    "item:IsDraft": (lambda i, s: DRAFT in i.flags, _bool),
    "item:HasAttachments": (lambda i, s: bool(s.has_attachments), _bool),
    "item:DateTimeReceived": (lambda i, s: i.internal_date, _date),
    "item:DateTimeCreated": (lambda i, s: i.saved_date, _date),
    "item:DateTimeSent": (lambda i, s: s.date or i.internal_date, _date),
    "item:Size": (lambda i, s: i.size, int),
    "message:From": (lambda i, s: _addresses(s.envelope.from_), str),
    "message:Sender": (lambda i, s: _addresses(s.envelope.sender), str),
    "message:ToRecipients": (lambda i, s: _addresses(s.envelope.to), str),
    "message:InternetMessageId": (lambda i, s: s.message_id or "", str),
    "item:Categories": (lambda i, s: " ".join(keywords(i.flags)), str),
    "item:ItemClass": (lambda i, s: "IPM.Note", str),
    "message:IsFlagged": (lambda i, s: FLAGGED in i.flags, _bool),
}

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


def _field(element) -> tuple:
    node = element.find(t("FieldURI"))
    uri = node.get("FieldURI") if node is not None else None
    if uri not in FIELDS:
        shown = uri or (_local(_children(element)[0]) if _children(element) else "?")
        raise EWSError(UNSUPPORTED_PATH, f"cannot search by {str(shown)[:60]}")
    return FIELDS[uri]


def _constant(element) -> str:
    node = element.find(f"{t('FieldURIOrConstant')}/{t('Constant')}")
    if node is None:
        node = element.find(t("Constant"))
    if node is None:
        raise EWSError(UNSUPPORTED_FILTER, "only comparisons with a constant are served")
    return node.get("Value", "")


def _build(element) -> Predicate:
    name = _local(element)
    if name in ("And", "Or"):
        parts = [_build(c) for c in _children(element)]
        if name == "And":
            return lambda i, s: all(p(i, s) for p in parts)
        return lambda i, s: any(p(i, s) for p in parts)
    if name == "Not":
        (inner,) = [_build(c) for c in _children(element)][:1] or [None]
        if inner is None:
            raise EWSError(UNSUPPORTED_FILTER, "Not without a condition")
        return lambda i, s: not inner(i, s)
    if name == "Exists":
        _field(element)
        return lambda i, s: True
    if name in _COMPARE:
        read, parse = _field(element)
        try:
            wanted = parse(_constant(element))
        except ValueError:
            raise EWSError("ErrorInvalidValueForProperty", "the constant does not fit the field") from None
        if isinstance(wanted, str):
            wanted = wanted.lower()
        compare = _COMPARE[name]

        def check(i, s):
            value = read(i, s)
            return compare(value.lower() if isinstance(value, str) else value, wanted)

        return check
    if name == "Contains":
        read, _parse = _field(element)
        wanted = _constant(element)
        mode = element.get("ContainmentMode", "Substring")
        loose = element.get("ContainmentComparison", "Exact") != "Exact"
        if loose:
            wanted = wanted.lower()

        def contains(i, s):
            value = str(read(i, s))
            value = value.lower() if loose else value
            if mode == "FullString":
                return value == wanted
            if mode == "Prefixed":
                return value.startswith(wanted)
            return wanted in value

        return contains
    raise EWSError(UNSUPPORTED_FILTER, f"{name[:40] or 'an empty restriction'} is not served")


def parse(element) -> Optional[Predicate]:
    """The predicate of a ``<m:Restriction>`` element (None for none)."""
    if element is None:
        return None
    conditions = _children(element)
    if len(conditions) != 1:
        raise EWSError(UNSUPPORTED_FILTER, "a Restriction holds one condition")
    return _build(conditions[0])
