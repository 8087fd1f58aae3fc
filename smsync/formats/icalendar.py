"""CalDAV calendar objects (RFC 4791 4.1): validation and time-range summaries.

``summarize_calendar`` checks that data is one calendar object resource and computes
what a store indexes: the UID, the component type and the ``spans`` of every instance.

Span semantics, shared by every store: a span ``(s, e)`` of UTC epoch seconds matches a
time range ``[a, b)`` (also epoch seconds; open ends are ``SPAN_MIN``/``SPAN_MAX``)
exactly when ``s < b and e > a`` (``span_matches``). The RFC 4791 9.9 rules, some of
which have inclusive edges, are encoded into spans with that one test using whole
seconds (an inclusive ``a <= X`` becomes ``X + 1 > a``): for instance an event with no
duration at ``X`` gets the span ``(X, X + 1)``. Query bounds should be whole seconds
(``epoch_of`` floors).

Recurrences are expanded up to ``horizon`` (default: ``DEFAULT_HORIZON`` after now);
``expanded_until`` then says up to where: spans answer every range ending at or before
it exactly, and a store calls ``overlaps`` for ranges reaching past it.

Deliberate simplifications: ``RANGE=THISANDFUTURE`` overrides replace one instance only;
TZIDs naming neither a VTIMEZONE of the data nor an IANA zone are taken as UTC.
"""

from __future__ import annotations

import heapq
import math
from datetime import datetime, timedelta, timezone
from typing import Iterator

import attrs

from smsync.errors import InvalidData, QuotaExceeded
from smsync.formats.contentlines import Component, parse_components, unescape_text
from smsync.formats.icaltime import UTC as UTC_ZONE
from smsync.formats.icaltime import (
    Duration,
    Time,
    build_rrule,
    epoch_of,
    parse_duration,
    parse_rrule,
    prop_time,
    prop_times,
    zones_of,
)

#: Open ends of time ranges, and the span of an item that matches every range:
#: 0001-01-01 and 10000-01-01 UTC.
SPAN_MIN = -62135596800
SPAN_MAX = 253402300800
#: How far ahead of now infinite recurrences are expanded by default (about 3 years).
DEFAULT_HORIZON = timedelta(days=3 * 366)
#: Expansion of one object stops after this many instances (``expanded_until`` says where).
MAX_INSTANCES = 10000
#: ``overlaps`` and ``expand_instances`` walk at most this many instances of one object:
#: without a bound, a dense rule and a far or open-ended range (both chosen by a client)
#: would keep the reactor expanding for minutes.
MAX_EXPANSION = 100_000

COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY")


@attrs.frozen
class CalendarSummary:
    """What a store indexes about one calendar object resource.

    ``spans``: sorted distinct ``(start, end)`` UTC epoch-second pairs, one per instance
    (see the module docstring for their matching rule); ``expanded_until``: None if the
    spans are complete, else the epoch second up to which they answer every range.
    ``dtstart``: epoch of the master's (or first instance's) DTSTART, for sorting.
    """

    uid: str
    component: str
    spans: tuple[tuple[int, int], ...]
    expanded_until: int | None = None
    summary: str | None = None
    dtstart: int | None = None


def span_matches(span: tuple[int, int], start: int, end: int) -> bool:
    """Whether ``span`` matches the range ``[start, end)`` (epoch seconds)."""
    return span[0] < end and span[1] > start


def _range(start: datetime | None, end: datetime | None) -> tuple[int, int]:
    a = SPAN_MIN if start is None else epoch_of(start)
    if end is None:
        return a, SPAN_MAX
    return a, math.ceil((end if end.tzinfo else end.replace(tzinfo=timezone.utc)).timestamp())


# ---------------------------------------------------------------------------------------
# Validation


@attrs.frozen
class _Object:
    calendar: Component
    component: str
    uid: str
    master: Component | None
    overrides: tuple[Component, ...]
    zones: dict = attrs.field(hash=False)


def _load(data: bytes) -> _Object:
    roots = parse_components(data)
    if len(roots) != 1 or roots[0].name != "VCALENDAR":
        raise InvalidData("a calendar object is exactly one VCALENDAR")
    cal = roots[0]
    if cal.get("METHOD") is not None:
        raise InvalidData("calendar object resources must not have METHOD (RFC 4791 4.1)")
    items = [c for c in cal.components if c.name != "VTIMEZONE"]
    if not items:
        raise InvalidData("calendar object without VEVENT, VTODO, VJOURNAL or VFREEBUSY")
    kinds = {c.name for c in items}
    if len(kinds) != 1:
        raise InvalidData(f"calendar object mixes components: {', '.join(sorted(kinds))}")
    kind = kinds.pop()
    if kind not in COMPONENTS:
        raise InvalidData(f"unsupported calendar component {kind}")
    uids = {(c.value("UID") or "").strip() for c in items}
    if "" in uids:
        raise InvalidData(f"{kind} without UID")
    if len(uids) != 1:
        raise InvalidData("calendar object with several UIDs")
    masters = [c for c in items if c.get("RECURRENCE-ID") is None]
    if len(masters) > 1:
        raise InvalidData("several components with the same UID and no RECURRENCE-ID")
    overrides = tuple(c for c in items if c.get("RECURRENCE-ID") is not None)
    zones = zones_of(cal)
    for comp in items:
        _check_times(comp, zones)
        if kind == "VEVENT" and comp.get("DTSTART") is None:
            raise InvalidData("VEVENT without DTSTART (required without METHOD, RFC 5545 3.6.1)")
    return _Object(cal, kind, uids.pop(), masters[0] if masters else None, overrides, zones)


def _check_times(comp: Component, zones) -> None:
    """Read every time-valued property once so that bad values are refused up front,
    whatever range a later query happens to look at."""
    for prop in comp.properties:
        name = prop.name
        if name in ("DTSTART", "DTEND", "DUE", "RECURRENCE-ID", "COMPLETED", "CREATED"):
            prop_time(prop, zones)
        elif name in ("EXDATE", "RDATE", "FREEBUSY"):
            prop_times(prop, zones)
        elif name == "DURATION":
            parse_duration(prop.value)
        elif name == "RRULE":
            parse_rrule(prop.value, UTC_ZONE)
    if comp.get("DTEND") is not None and comp.get("DURATION") is not None:
        raise InvalidData(f"{comp.name} with both DTEND and DURATION")
    if comp.get("DUE") is not None and comp.get("DURATION") is not None:
        raise InvalidData(f"{comp.name} with both DUE and DURATION")


# ---------------------------------------------------------------------------------------
# Instances and spans


@attrs.frozen
class _Shape:
    """How long each instance lasts and which RFC 4791 9.9 rule applies to it."""

    rule: str  # "end", "duration", "none", "todo-due", "todo-duration", "todo-start", "journal"
    exact: int = 0  # seconds from start to DTEND/DUE
    duration: Duration | None = None


def _shape(comp: Component, kind: str, start: Time | None, zones) -> _Shape:
    if kind == "VJOURNAL":
        return _Shape("journal")
    end_name = "DTEND" if kind == "VEVENT" else "DUE"
    end_prop = comp.get(end_name)
    dur_prop = comp.get("DURATION")
    if start is None:
        return _Shape("none")
    if end_prop is not None:
        end = prop_time(end_prop, zones)
        return _Shape("end" if kind == "VEVENT" else "todo-due", exact=end.epoch - start.epoch)
    if dur_prop is not None:
        return _Shape("duration" if kind == "VEVENT" else "todo-duration", duration=parse_duration(dur_prop.value))
    if kind == "VTODO":
        return _Shape("todo-start")
    return _Shape("none")


def _span(shape: _Shape, start: Time, s: int) -> tuple[int, int]:
    """The span of an instance starting at ``start`` (epoch ``s``)."""
    rule = shape.rule
    if rule == "end":
        return (s, s + max(shape.exact, 0))
    if rule == "duration":
        e = shape.duration.end_epoch(start, s)
        return (s, e) if e > s else (s, s + 1)
    if rule == "none" or rule == "journal":
        return (s, s + 86400) if start.is_date else (s, s + 1)
    if rule == "todo-start":
        return (s, s + 1)
    if rule == "todo-duration":
        e = shape.duration.end_epoch(start, s)
        # (start <= DTSTART+DURATION) AND ((end > DTSTART) OR (end >= DTSTART+DURATION))
        return (s, e + 1) if e > s else (min(s, e) - 1, max(s, e) + 1)
    # todo-due: ((start < DUE) OR (start <= DTSTART)) AND ((end > DTSTART) OR (end >= DUE))
    due = s + shape.exact
    return (min(s, due - 1), max(due, s + 1))


def _todo_fixed_span(comp: Component, zones) -> tuple[int, int] | None:
    """RFC 4791 9.9 rows for a VTODO with neither DTSTART nor DUE."""
    due = comp.get("DUE")
    if due is not None:
        d = prop_time(due, zones).epoch
        return (d - 1, d)  # (start < DUE) AND (end >= DUE)
    completed, created = comp.get("COMPLETED"), comp.get("CREATED")
    if completed is not None and created is not None:
        c1, c2 = prop_time(completed, zones).epoch, prop_time(created, zones).epoch
        return (min(c1, c2) - 1, max(c1, c2) + 1)
    if completed is not None:
        c = prop_time(completed, zones).epoch
        return (c - 1, c + 1)
    if created is not None:
        return (prop_time(created, zones).epoch, SPAN_MAX)
    return (SPAN_MIN, SPAN_MAX)


def _freebusy_spans(comp: Component, zones) -> list[tuple[int, int]]:
    """RFC 4791 9.9 for VFREEBUSY: with DTSTART and DTEND, ``(start <= DTEND) AND
    (end > DTSTART)``; else each FREEBUSY period, ``(start < period-end) AND (end >
    period-start)``; with neither, it matches no range (no spans)."""
    start, end = comp.get("DTSTART"), comp.get("DTEND")
    if start is not None and end is not None:
        s, e = prop_time(start, zones).epoch, prop_time(end, zones).epoch
        return [(s, max(e, s) + 1)]
    spans = []
    for prop in comp.get_all("FREEBUSY"):
        for t, period_end in prop_times(prop, zones):
            if period_end is None:
                continue
            e = period_end.end_epoch(t) if isinstance(period_end, Duration) else period_end.epoch
            if e > t.epoch:
                spans.append((t.epoch, e))
    return spans


def _single_spans(comp: Component, kind: str, zones, start: Time | None = None):
    """Spans of a component as one instance (an override, or a non-recurring item)."""
    if kind == "VFREEBUSY":
        return _freebusy_spans(comp, zones)
    start_prop = comp.get("DTSTART")
    if start is None and start_prop is not None:
        start = prop_time(start_prop, zones)
    if start is None:
        if kind == "VTODO":
            return [_todo_fixed_span(comp, zones)]
        if kind == "VJOURNAL":
            return []
        raise InvalidData("VEVENT without DTSTART")
    return [_span(_shape(comp, kind, start, zones), start, start.epoch)]


def _master_instances(obj: _Object, stop_after: int) -> Iterator[tuple[int, Time]]:
    """Instances of the master (recurrence set minus EXDATEs and overridden ones) as
    ``(recurrence-id epoch, start)``, RRULE instances ascending, each RDATE merged in
    order. Stops at the first RRULE instance starting after ``stop_after``."""
    master, zones = obj.master, obj.zones
    start = prop_time(master.get("DTSTART"), zones)
    exdates = set()
    exdays = set()
    for prop in master.get_all("EXDATE"):
        for t, _ in prop_times(prop, zones):
            if t.is_date and not start.is_date:
                exdays.add(t.local.date())
            else:
                exdates.add(t.epoch)
    overridden = {prop_time(o.get("RECURRENCE-ID"), zones).epoch for o in obj.overrides}
    rdates = []
    for prop in master.get_all("RDATE"):
        for t, end in prop_times(prop, zones):
            rdates.append((t.epoch, 1, t, end))
    rdates.sort(key=lambda r: r[0])
    rules = [parse_rrule(prop.value, start.zone) for prop in master.get_all("RRULE")]

    def rule_instances(rule):
        for when in build_rrule(rule, start.local, start.zone):
            if when != start.local:
                e = start.zone.epoch(when)
                yield (e, 0, Time(when, start.zone, start.is_date, e), None)
                if e > stop_after:
                    return

    # RFC 5545: DTSTART is always the first instance, whatever the rules say.
    streams = [[(start.epoch, 0, start, None)], rdates, *(rule_instances(r) for r in rules)]
    seen = set()
    for e, _, t, period_end in heapq.merge(*streams, key=lambda r: r[0]):
        if e in seen or e in exdates or e in overridden:
            continue
        if exdays and t.local.date() in exdays:
            continue
        seen.add(e)
        yield e, t, period_end
        if e > stop_after:
            return


def _walk(obj: _Object, stop_after: int, max_instances: int):
    """Yield ``(recurrence_id_or_None, span)`` of every instance, overrides included;
    then return ``(complete, stop_epoch)`` via StopIteration.value."""
    kind, zones = obj.component, obj.zones
    for o in obj.overrides:
        rid = prop_time(o.get("RECURRENCE-ID"), zones).epoch
        for span in _single_spans(o, kind, zones):
            yield rid, span
    master = obj.master
    if master is None:
        return True, None
    if (kind == "VFREEBUSY" or master.get("DTSTART") is None
            or not (master.get("RRULE") or master.get("RDATE"))):
        for span in _single_spans(master, kind, zones):
            yield None, span
        return True, None
    start = prop_time(master.get("DTSTART"), zones)
    shape = _shape(master, kind, start, zones)
    count = 0
    for e, t, period_end in _master_instances(obj, stop_after):
        if e > stop_after or count >= max_instances:
            return False, e
        count += 1
        if period_end is not None:
            end = period_end.end_epoch(t) if isinstance(period_end, Duration) else period_end.epoch
            yield e, ((e, end) if end > e else (e, e + 1))
        else:
            yield e, _span(shape, t, e)
    return True, None


def _drain(gen, sink) -> tuple[bool, int | None]:
    """Feed ``_walk``'s items to ``sink`` until it returns True (then ``(True, None)``) or
    the walk ends (then its ``(complete, stop_epoch)``). Times that cannot be computed
    (arithmetic past year 9999) are ``InvalidData``."""
    try:
        while True:
            try:
                item = next(gen)
            except StopIteration as done:
                return done.value
            if sink(item):
                return True, None
    except (ValueError, OverflowError) as e:
        raise InvalidData(f"unreadable calendar times: {e}") from None


def summarize_calendar(data: bytes, horizon: datetime | None = None) -> CalendarSummary:
    """Validate a CalDAV calendar object resource and summarise it for indexing.

    Valid data is one VCALENDAR without METHOD whose components other than VTIMEZONE
    are all VEVENT, all VTODO, all VJOURNAL or all VFREEBUSY, with one UID shared by the master and
    its RECURRENCE-ID overrides. Raises ``InvalidData`` otherwise, or when dates,
    durations or rules cannot be read.

    Args:
        data: the iCalendar bytes.
        horizon: expand infinite recurrences up to here (default now +
            ``DEFAULT_HORIZON``). Finite ones are expanded fully, up to
            ``MAX_INSTANCES`` instances.
    """
    obj = _load(data)
    if horizon is None:
        horizon = datetime.now(timezone.utc) + DEFAULT_HORIZON
    limit = epoch_of(horizon)
    master = obj.master
    infinite = master is not None and any(
        parse_rrule(p.value, UTC_ZONE).infinite for p in master.get_all("RRULE")
    )
    spans: set[tuple[int, int]] = set()
    gen = _walk(obj, limit if infinite else SPAN_MAX, MAX_INSTANCES)
    complete, stopped_at = _drain(gen, lambda item: spans.add(item[1]))
    head = master if master is not None else obj.overrides[0]
    summary = head.value("SUMMARY")
    dtstart = head.get("DTSTART")
    return CalendarSummary(
        uid=obj.uid,
        component=obj.component,
        spans=tuple(sorted(spans)),
        expanded_until=None if complete else stopped_at - 1,
        summary=unescape_text(summary) if summary is not None else None,
        dtstart=prop_time(dtstart, obj.zones).epoch if dtstart is not None else None,
    )


def _capped(complete: bool, stopped_at: int | None, stop_after: int) -> bool:
    """Whether a ``_walk`` up to ``stop_after`` ended at ``MAX_EXPANSION`` rather than
    by reaching its end or ``stop_after`` (which ``_walk`` checks first)."""
    return not complete and stopped_at <= stop_after


def overlaps(data: bytes, start: datetime | None, end: datetime | None) -> bool:
    """Whether any instance of the calendar object overlaps ``[start, end)`` by the
    RFC 4791 9.9 rules, recurrences expanded (None: open-ended).
    ``InvalidData`` as for ``summarize_calendar``.

    A recurrence with more than ``MAX_EXPANSION`` instances before the range's end is
    answered True once that many are walked without a match: a client filters out one
    item too many rather than the server spending minutes expanding it.
    """
    obj = _load(data)
    a, b = _range(start, end)
    matched = False

    def sink(item) -> bool:
        nonlocal matched
        matched = span_matches(item[1], a, b)
        return matched

    complete, stopped_at = _drain(_walk(obj, b + 1, MAX_EXPANSION), sink)
    return matched or _capped(complete, stopped_at, b + 1)


def _dt(epoch: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=epoch)


def expand_instances(data: bytes, start: datetime | None, end: datetime | None):
    """Instances overlapping ``[start, end)`` as ``(recurrence_id, start, end)`` aware
    UTC datetimes sorted by start; ``recurrence_id`` is None for a non-recurring item.
    Instances that span every range (a VTODO without dates) are reported with
    ``start``/``end`` of None. ``InvalidData`` as for ``summarize_calendar``;
    ``QuotaExceeded`` when more than ``MAX_EXPANSION`` instances start before ``end``
    (RFC 4791's CALDAV:max-instances: the client asks a narrower range)."""
    obj = _load(data)
    a, b = _range(start, end)
    out = []

    def sink(item) -> None:
        rid, (s, e) = item
        if span_matches((s, e), a, b):
            out.append(
                (
                    _dt(rid) if rid is not None else None,
                    _dt(s) if s > SPAN_MIN else None,
                    _dt(e) if e < SPAN_MAX else None,
                )
            )

    complete, stopped_at = _drain(_walk(obj, b + 1, MAX_EXPANSION), sink)
    if _capped(complete, stopped_at, b + 1):
        raise QuotaExceeded(
            f"more than {MAX_EXPANSION} instances to expand: ask a narrower time range"
        )
    out.sort(key=lambda i: (i[1] is not None, i[1] or datetime.min.replace(tzinfo=timezone.utc)))
    return out
