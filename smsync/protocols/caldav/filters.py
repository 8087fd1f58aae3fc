"""calendar-query filters (RFC 4791 9.7): parsed from XML into values, then evaluated
against a parsed calendar object. Pure: no store, no I/O.

Simplifications, stated: a ``time-range`` on an event, to-do or journal is tested
against the whole object's recurrence set (``smsync.formats.icalendar.overlaps``), so a
prop-filter beside it may match another instance than the time range; a time-range on
a VALARM uses the alarms of the master component only.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Optional

import attrs

from smsync.errors import InvalidData
from smsync.formats.contentlines import Component, unescape_text
from smsync.formats.icalendar import overlaps
from smsync.formats.icaltime import parse_duration, prop_time, zones_of
from smsync.protocols.dav.collation import TextMatch
from smsync.protocols.dav.collation import parse_text_match as text_match_of
from smsync.protocols.dav.errors import DavError
from smsync.protocols.dav.xml import children

C = "urn:ietf:params:xml:ns:caldav"
VALID_FILTER = f"{{{C}}}valid-filter"
SUPPORTED_COLLATION = f"{{{C}}}supported-collation"
SUPPORTED_FILTER = f"{{{C}}}supported-filter"


def _c(local: str) -> str:
    return f"{{{C}}}{local}"


@attrs.frozen
class TimeRange:
    start: Optional[datetime]
    end: Optional[datetime]

    def contains(self, when: datetime) -> bool:
        return (self.start is None or when >= self.start) and (self.end is None or when < self.end)


@attrs.frozen
class ParamFilter:
    name: str
    is_not_defined: bool = False
    text_match: Optional[TextMatch] = None


@attrs.frozen
class PropFilter:
    name: str
    is_not_defined: bool = False
    time_range: Optional[TimeRange] = None
    text_match: Optional[TextMatch] = None
    params: tuple = ()


@attrs.frozen
class CompFilter:
    name: str
    is_not_defined: bool = False
    time_range: Optional[TimeRange] = None
    props: tuple = ()
    comps: tuple = ()


# ---------------------------------------------------------------------------------------
# Parsing


def parse_utc(text: str) -> datetime:
    """A time-range bound: ``YYYYMMDDTHHMMSSZ`` (RFC 4791 9.9 requires UTC)."""
    text = text.strip()
    try:
        if len(text) != 16 or not text.endswith("Z") or text[8] != "T":
            raise ValueError
        return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        raise DavError(403, VALID_FILTER, f"bad UTC date-time {text!r}") from None


def parse_time_range(el) -> TimeRange:
    start, end = el.get("start"), el.get("end")
    if start is None and end is None:
        raise DavError(403, VALID_FILTER, "time-range needs start or end")
    tr = TimeRange(parse_utc(start) if start else None, parse_utc(end) if end else None)
    if tr.start is not None and tr.end is not None and tr.end <= tr.start:
        raise DavError(403, VALID_FILTER, "time-range end is not after its start")
    return tr


def parse_text_match(el, default_collation: str = "i;ascii-casemap",
                     condition: str = SUPPORTED_COLLATION) -> TextMatch:
    return text_match_of(el, default_collation, condition)


def _param_filter(el) -> ParamFilter:
    name = (el.get("name") or "").upper()
    if not name:
        raise DavError(403, VALID_FILTER, "param-filter without name")
    kids = children(el)
    if any(k.tag == _c("is-not-defined") for k in kids):
        return ParamFilter(name, is_not_defined=True)
    tm = next((k for k in kids if k.tag == _c("text-match")), None)
    return ParamFilter(name, text_match=parse_text_match(tm) if tm is not None else None)


def _prop_filter(el) -> PropFilter:
    name = (el.get("name") or "").upper()
    if not name:
        raise DavError(403, VALID_FILTER, "prop-filter without name")
    kids = children(el)
    if any(k.tag == _c("is-not-defined") for k in kids):
        return PropFilter(name, is_not_defined=True)
    tr = next((k for k in kids if k.tag == _c("time-range")), None)
    tm = next((k for k in kids if k.tag == _c("text-match")), None)
    return PropFilter(
        name,
        time_range=parse_time_range(tr) if tr is not None else None,
        text_match=parse_text_match(tm) if tm is not None else None,
        params=tuple(_param_filter(k) for k in kids if k.tag == _c("param-filter")),
    )


def parse_comp_filter(el) -> CompFilter:
    name = (el.get("name") or "").upper()
    if not name:
        raise DavError(403, VALID_FILTER, "comp-filter without name")
    kids = children(el)
    if any(k.tag == _c("is-not-defined") for k in kids):
        return CompFilter(name, is_not_defined=True)
    tr = next((k for k in kids if k.tag == _c("time-range")), None)
    return CompFilter(
        name,
        time_range=parse_time_range(tr) if tr is not None else None,
        props=tuple(_prop_filter(k) for k in kids if k.tag == _c("prop-filter")),
        comps=tuple(parse_comp_filter(k) for k in kids if k.tag == _c("comp-filter")),
    )


def parse_filter(el) -> CompFilter:
    """The ``C:filter`` element as its top ``CompFilter`` (which names VCALENDAR)."""
    if el is None:
        raise DavError(403, VALID_FILTER, "calendar-query needs a filter")
    comps = [k for k in children(el) if k.tag == _c("comp-filter")]
    if len(comps) != 1:
        raise DavError(403, VALID_FILTER, "a filter holds exactly one comp-filter")
    top = parse_comp_filter(comps[0])
    if top.name != "VCALENDAR":
        raise DavError(403, VALID_FILTER, "the top comp-filter names VCALENDAR")
    return top


# ---------------------------------------------------------------------------------------
# Evaluation


def _param_matches(pf: ParamFilter, prop) -> bool:
    values = prop.param_values(pf.name)
    defined = any(True for k, _ in prop.params if k == pf.name)
    if pf.is_not_defined:
        return not defined
    if not defined:
        return False
    if pf.text_match is None:
        return True
    return any(pf.text_match.matches(v) for v in values)


def _prop_time_matches(tr: TimeRange, prop, zones) -> bool:
    try:
        t = prop_time(prop, zones)
    except InvalidData:
        return False
    when = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=t.epoch)
    return tr.contains(when)


def _prop_matches(pf: PropFilter, comp: Component, zones) -> bool:
    props = comp.get_all(pf.name)
    if pf.is_not_defined:
        return not props
    for prop in props:
        if pf.time_range is not None and not _prop_time_matches(pf.time_range, prop, zones):
            continue
        if pf.text_match is not None and not pf.text_match.matches(unescape_text(prop.value)):
            continue
        if all(_param_matches(p, prop) for p in pf.params):
            return True
    return False


def _alarm_in_range(alarm: Component, parent: Component, tr: TimeRange, zones) -> bool:
    trigger = alarm.get("TRIGGER")
    if trigger is None:
        return False
    try:
        if (trigger.param("VALUE") or "").upper() == "DATE-TIME":
            epoch = prop_time(trigger, zones).epoch
        else:
            related = (trigger.param("RELATED") or "START").upper()
            anchor_name = "DTSTART" if related == "START" else ("DTEND" if parent.name == "VEVENT" else "DUE")
            anchor = parent.get(anchor_name) or parent.get("DTSTART")
            if anchor is None:
                return False
            start = prop_time(anchor, zones)
            epoch = parse_duration(trigger.value).end_epoch(start)
    except InvalidData:
        return False
    when = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=epoch)
    return tr.contains(when)


def _comp_matches(cf: CompFilter, comp: Component, ctx: "_Eval", parent: Optional[Component]) -> bool:
    if cf.time_range is not None:
        if comp.name in ("VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY"):
            if not ctx.overlaps(cf.time_range):
                return False
        elif comp.name == "VALARM":
            if parent is None or not _alarm_in_range(comp, parent, cf.time_range, ctx.zones):
                return False
        else:
            return False
    if not all(_prop_matches(pf, comp, ctx.zones) for pf in cf.props):
        return False
    return all(_sub_matches(sub, comp, ctx) for sub in cf.comps)


def _sub_matches(cf: CompFilter, comp: Component, ctx: "_Eval") -> bool:
    subs = [c for c in comp.components if c.name == cf.name]
    if cf.is_not_defined:
        return not subs
    return any(_comp_matches(cf, s, ctx, comp) for s in subs)


class _Eval:
    def __init__(self, data: bytes, calendar: Component):
        self.data = data
        self.zones = zones_of(calendar)
        self._cache: dict = {}

    def overlaps(self, tr: TimeRange) -> bool:
        key = (tr.start, tr.end)
        if key not in self._cache:
            self._cache[key] = overlaps(self.data, tr.start, tr.end)
        return self._cache[key]


def matches(top: CompFilter, data: bytes, calendar: Component) -> bool:
    """Whether the calendar object (``data`` and its parsed VCALENDAR) passes ``top``."""
    if calendar.name != top.name:
        return top.is_not_defined
    if top.is_not_defined:
        return False
    try:
        return _comp_matches(top, calendar, _Eval(data, calendar), None)
    except InvalidData:
        return False


def index_hint(top: CompFilter) -> tuple[Optional[str], Optional[TimeRange], bool]:
    """What a store index can answer of ``top``: the component type asked for, its time
    range, and whether those two are the whole filter (no content check needed)."""
    if top.props or len(top.comps) != 1 or top.time_range is not None:
        return None, None, False
    comp = top.comps[0]
    if comp.is_not_defined or comp.name not in ("VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY"):
        return None, None, False
    simple = not comp.props and not comp.comps
    return comp.name, comp.time_range, simple
