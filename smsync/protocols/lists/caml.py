"""CAML queries (MS-WSSCAML) as the Lists service applies them: the ``<Query><Where>``
of a ``query`` parameter and the ``<contains>`` parameter, read into a predicate over a
row's fields (name -> text, as ``catalog.item_rows`` gives them), and ViewFields
applied after the filter, so a query may test a field the answer does not show.

Served: the comparisons ``Eq Neq Gt Lt Geq Leq Contains BeginsWith IsNull IsNotNull``
(a ``FieldRef`` and, but for the null tests, a ``Value``) and ``And``/``Or`` over them,
nested. Values compare as their ``Type`` says: ``Integer``, ``Counter`` and
``Number`` as numbers, ``DateTime`` as UTC instants (``<Today/>`` is today, and a
date without ``IncludeTimeValue`` compares by day), ``Boolean`` as 1/0, everything
else as text ignoring case (as SharePoint compares); a lookup or user value
(``1;#alice``) by its text, or its ID with ``LookupId="TRUE"``. ``OrderBy`` and
``GroupBy`` are not applied: rows come in ID order, a series with its occurrences.
Anything else in a Where is a ``ListsFault`` (0x81020014): an unknown operator is
answered, never silently treated as "everything".
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Callable, Optional

from lxml import etree

from smsync.protocols.lists.soap import GENERIC, Z, ListsFault

Predicate = Callable[[dict], bool]
_COMPARE = ("Eq", "Neq", "Gt", "Lt", "Geq", "Leq", "Contains", "BeginsWith")
_NULLS = ("IsNull", "IsNotNull")
_NUMBERS = ("integer", "counter", "number", "currency", "modstat")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?")
#: What a field SharePoint gives every item has when a row does not carry it: a query on
#: it (clients filter out folders with ``FSObjType`` 0) must not drop every row.
IMPLICIT = {"FSObjType": "0", "ItemChildCount": "0", "FolderChildCount": "0", "_ModerationStatus": "0"}
#: Deepest And/Or nesting read (the envelope's depth bounds it too).
MAX_TERMS = 200


def _local(node) -> str:
    return etree.QName(node).localname if isinstance(node.tag, str) else ""


def _children(node) -> list:
    return [c for c in node if isinstance(c.tag, str)]


def _find(node, local: str):
    for child in _children(node):
        if _local(child) == local:
            return child
    return None


def parse_date(text: str) -> Optional[datetime]:
    """``2026-12-10T10:00:00Z``, ``2026-12-10 10:00:00`` or ``2026-12-10`` as an aware
    UTC datetime (the site's zone is UTC); None if it is none of them."""
    match = _DATE.match((text or "").strip())
    if not match:
        return None
    y, m, d, hh, mm, ss = match.groups()
    try:
        return datetime(int(y), int(m), int(d), int(hh or 0), int(mm or 0), int(ss or 0),
                        tzinfo=timezone.utc)
    except ValueError:
        return None


def _lookup_part(text: str, want_id: bool) -> str:
    if ";#" not in text:
        return text
    head, _, tail = text.partition(";#")
    return head if want_id else tail


class _Term:
    """One comparison: the field, the operator, the value and how to compare it."""

    def __init__(self, op: str, node):
        self.op = op
        ref = _find(node, "FieldRef")
        if ref is None or not ref.get("Name"):
            raise ListsFault(f"The CAML {op} has no FieldRef.", GENERIC)
        self.field = ref.get("Name")
        self.lookup_id = (ref.get("LookupId") or "").upper() == "TRUE"
        value = _find(node, "Value")
        self.kind = "text"
        self.value = None
        self.whole_day = True
        if op in _NULLS:
            return
        if value is None:
            raise ListsFault(f"The CAML {op} on {self.field} has no Value.", GENERIC)
        self.kind = (value.get("Type") or "Text").lower()
        self.whole_day = (value.get("IncludeTimeValue") or "").upper() != "TRUE"
        if self.kind == "datetime":
            today = _find(value, "Today")
            if today is not None:
                offset = (today.get("OffsetDays") or today.get("Offset") or "0").strip()
                base = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
                self.value = base + timedelta(days=int(offset) if re.fullmatch(r"-?\d{1,5}", offset) else 0)
            else:
                self.value = parse_date("".join(value.itertext()))
            if self.value is None:
                raise ListsFault(f"The CAML value for {self.field} is not a date.", GENERIC)
        else:
            self.value = self._typed("".join(value.itertext()).strip())
            if self.value is None:
                raise ListsFault(f"The CAML value for {self.field} is not a {self.kind}.", GENERIC)

    def _typed(self, text: str):
        if self.kind in _NUMBERS:
            try:
                return float(text)
            except ValueError:
                return None
        if self.kind == "boolean":
            return 1.0 if text.strip().upper() in ("1", "TRUE", "YES") else 0.0
        return text.lower()

    def _of_row(self, raw: str):
        """The row's value in the term's type (None: it cannot be compared)."""
        text = _lookup_part(raw, self.lookup_id)
        if self.kind == "datetime":
            found = parse_date(text)
            if found is not None and self.whole_day:
                return found.date()
            return found
        return self._typed(text)

    def __call__(self, fields: dict) -> bool:
        raw = fields.get(self.field) or IMPLICIT.get(self.field, "")
        if self.op == "IsNull":
            return raw == ""
        if self.op == "IsNotNull":
            return raw != ""
        if raw == "":
            # SharePoint: an empty field matches only Neq.
            return self.op == "Neq"
        mine = self._of_row(raw)
        theirs = self.value
        if self.kind == "datetime" and self.whole_day and isinstance(theirs, datetime):
            theirs = theirs.date()
        if mine is None:
            return self.op == "Neq"
        if isinstance(mine, (date, datetime)) != isinstance(theirs, (date, datetime)):
            return False
        op = self.op
        if op == "Contains":
            return str(theirs) in str(mine)
        if op == "BeginsWith":
            return str(mine).startswith(str(theirs))
        try:
            return {"Eq": mine == theirs, "Neq": mine != theirs, "Gt": mine > theirs,
                    "Lt": mine < theirs, "Geq": mine >= theirs, "Leq": mine <= theirs}[op]
        except TypeError:
            return False


def _predicate(node, budget: list) -> Predicate:
    budget[0] -= 1
    if budget[0] < 0:
        raise ListsFault("The CAML query is too large.", GENERIC)
    op = _local(node)
    if op in ("And", "Or"):
        parts = [_predicate(child, budget) for child in _children(node)]
        if len(parts) < 2:
            raise ListsFault(f"A CAML {op} needs two conditions.", GENERIC)
        if op == "And":
            return lambda fields: all(p(fields) for p in parts)
        return lambda fields: any(p(fields) for p in parts)
    if op in _COMPARE or op in _NULLS:
        return _Term(op, node)
    raise ListsFault(f"The CAML operator {op[:40]!r} is not served.", GENERIC)


def where_of(query, contains=None) -> Optional[Predicate]:
    """The predicate of a ``query`` parameter (holding ``<Query>``, or the ``<Query>``
    itself) and a ``contains`` parameter; None when neither filters anything."""
    parts = []
    budget = [MAX_TERMS]
    if query is not None:
        root = query if _local(query) == "Query" else _find(query, "Query")
        where = _find(root, "Where") if root is not None else None
        if where is not None:
            conditions = _children(where)
            if len(conditions) > 1:
                raise ListsFault("A CAML Where holds one condition (And/Or joins more).", GENERIC)
            if conditions:
                parts.append(_predicate(conditions[0], budget))
    if contains is not None:
        node = contains if _local(contains) == "Contains" else _find(contains, "Contains")
        if node is not None:
            parts.append(_Term("Contains", node))
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return lambda fields: all(p(fields) for p in parts)


def of_request(request) -> Optional[Predicate]:
    """The filter a request's ``query`` and ``contains`` parameters make."""
    return where_of(request.child("query"), request.child("contains"))


def row_fields(row) -> dict:
    """``name -> text`` of a ``<z:row>`` (``ows_`` stripped)."""
    return {k[4:]: v for k, v in row.attrib.items() if k.startswith("ows_")}


def filter_rows(data_rows: list, keep: Optional[Predicate], wanted: Optional[frozenset],
                always: tuple) -> list:
    """The rows ``keep`` accepts, then cut to the ``wanted`` fields (and ``always``):
    rows rendered with every field so the filter sees fields the answer leaves out."""
    out = []
    for row in data_rows:
        if row.tag != f"{{{Z}}}row":
            out.append(row)
            continue
        if keep is not None and not keep(row_fields(row)):
            continue
        if wanted is not None:
            for key in list(row.attrib):
                name = key[4:]
                if name not in wanted and name not in always:
                    del row.attrib[key]
        out.append(row)
    return out
