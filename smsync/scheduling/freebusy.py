"""Free/busy time from the calendars, for every protocol that answers it (CalDAV's
free-busy-query and scheduling outbox, EWS GetUserAvailability).

Busy time follows RFC 4791 7.10: events' instances (recurrences expanded), transparent
and cancelled events counting as free, and the FREEBUSY periods of stored VFREEBUSY
objects. ``busy_events`` gives each busy instance with what a detailed view shows of it
(subject, location...), ``busy_time`` the merged periods.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Optional

import attrs

from smsync.errors import InvalidData, NotFound
from smsync.formats.contentlines import parse_components, unescape_text
from smsync.formats.icalendar import expand_instances
from smsync.formats.icaltime import Duration, prop_times, zones_of
from smsync.model import CollectionKind

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

#: FBTYPE values (RFC 5545 3.2.9) a busy period has.
BUSY, TENTATIVE, UNAVAILABLE = "BUSY", "BUSY-TENTATIVE", "BUSY-UNAVAILABLE"


def busy_periods(data: bytes, start, end) -> list[tuple[str, datetime, datetime]]:
    """``(fbtype, start, end)`` of the busy time of one event in ``[start, end)``.
    Transparent and cancelled events are free time (RFC 4791 7.10)."""
    return [(e.fbtype, e.start, e.end) for e in event_instances(data, start, end)]


def published_periods(data: bytes, start, end) -> list[tuple[str, datetime, datetime]]:
    """``(fbtype, start, end)`` of the FREEBUSY periods of a stored VFREEBUSY object in
    ``[start, end)`` (RFC 4791 7.10 counts them beside events); FREE time is left out."""
    cal = parse_components(data)[0]
    zones = zones_of(cal)
    out = []
    for comp in cal.components:
        if comp.name != "VFREEBUSY":
            continue
        for prop in comp.get_all("FREEBUSY"):
            fbtype = (prop.param("FBTYPE") or "BUSY").strip().upper()
            if fbtype == "FREE":
                continue
            for t, period_end in prop_times(prop, zones):
                if period_end is None:
                    continue
                e = period_end.end_epoch(t) if isinstance(period_end, Duration) else period_end.epoch
                s = max(_EPOCH + timedelta(seconds=t.epoch), start)
                e = min(_EPOCH + timedelta(seconds=e), end)
                if e > s:
                    out.append((fbtype, s, e))
    return out


def merge(periods):
    """``periods`` (``(fbtype, start, end)``) with the overlapping and touching ones of
    one type joined, sorted by start."""
    merged = []
    for fbtype, s, e in sorted(periods, key=lambda p: (p[0], p[1])):
        if merged and merged[-1][0] == fbtype and s <= merged[-1][2]:
            merged[-1] = (fbtype, merged[-1][1], max(merged[-1][2], e))
        else:
            merged.append((fbtype, s, e))
    return sorted(merged, key=lambda p: p[1])


@attrs.frozen
class BusyEvent:
    """One busy instance of an event, clipped to the range asked.

    Attributes:
        fbtype: ``BUSY``, ``BUSY-TENTATIVE`` or ``BUSY-UNAVAILABLE``.
        start, end: aware UTC datetimes.
        subject, location: the event's SUMMARY and LOCATION ("" when none).
        uid: the event's UID.
        recurring: whether the event recurs; ``exception`` whether this instance is a
            modified occurrence.
        private: whether its CLASS is PRIVATE or CONFIDENTIAL.
        meeting: whether it has attendees.
    """

    fbtype: str
    start: datetime
    end: datetime
    subject: str = ""
    location: str = ""
    uid: str = ""
    recurring: bool = False
    exception: bool = False
    private: bool = False
    meeting: bool = False


def _text(comp, name: str) -> str:
    value = comp.value(name)
    return unescape_text(value).strip() if value else ""


def _fbtype(comp) -> Optional[str]:
    if (comp.value("TRANSP") or "").strip().upper() == "TRANSPARENT":
        return None
    status = (comp.value("STATUS") or "").strip().upper()
    if status == "CANCELLED":
        return None
    return TENTATIVE if status == "TENTATIVE" else BUSY


def event_instances(data: bytes, start: datetime, end: datetime) -> list[BusyEvent]:
    """The busy instances of one stored calendar object in ``[start, end)``.
    ``InvalidData`` for one that does not parse."""
    cal = parse_components(data)[0]
    events = [x for x in cal.components if x.name == "VEVENT"]
    master = next((e for e in events if e.get("RECURRENCE-ID") is None), events[0] if events else None)
    if master is None:
        return []
    recurring = master.get("RRULE") is not None or master.get("RDATE") is not None
    overrides = {}
    for comp in events:
        if comp is not master and comp.get("RECURRENCE-ID") is not None:
            for t, _end in prop_times(comp.get("RECURRENCE-ID"), zones_of(cal)):
                overrides[t.epoch] = comp
    out = []
    for rid, s, e in expand_instances(data, start, end):
        if s is None or e is None:
            continue
        comp = master
        if rid is not None:
            comp = overrides.get(int((rid - _EPOCH).total_seconds()), master)
        fbtype = _fbtype(comp)
        s, e = max(s, start), min(e, end)
        if fbtype is None or e <= s:
            continue
        klass = (comp.value("CLASS") or "").strip().upper()
        out.append(BusyEvent(fbtype, s, e, _text(comp, "SUMMARY"), _text(comp, "LOCATION"),
                             _text(master, "UID"), recurring or rid is not None,
                             comp is not master, klass in ("PRIVATE", "CONFIDENTIAL"),
                             comp.get("ATTENDEE") is not None))
    return out


async def busy_events(store, account: str, start: datetime, end: datetime) -> list[BusyEvent]:
    """The busy instances in ``account``'s calendars overlapping ``[start, end)``
    (aware datetimes), events and published VFREEBUSY periods alike, sorted by start;
    objects that do not parse are skipped. ``NotFound`` for no such account."""
    collections = await store.collections(account)
    out = []
    for entry in await collections.list_collections(CollectionKind.CALENDAR):
        try:
            handle = await collections.collection_by_id(entry.id)
            infos = await handle.time_range(start, end, ["VEVENT", "VFREEBUSY"])
            if not infos:
                continue
            for item in await handle.get([i.name for i in infos]):
                try:
                    if item.info.component == "VFREEBUSY":
                        out += [BusyEvent(fbtype, s, e)
                                for fbtype, s, e in published_periods(item.content, start, end)]
                    else:
                        out += event_instances(item.content, start, end)
                except InvalidData:
                    continue
        except NotFound:
            continue  # deleted meanwhile
    out.sort(key=lambda e: (e.start, e.end))
    return out


async def busy_time(store, account: str, start: datetime, end: datetime):
    """``account``'s merged busy periods ``(fbtype, start, end)`` in ``[start, end)``."""
    return merge([(e.fbtype, e.start, e.end) for e in await busy_events(store, account, start, end)])
