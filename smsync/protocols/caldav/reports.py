"""CalDAV REPORTs (RFC 4791 7.8-7.10): calendar-query, calendar-multiget and
free-busy-query. Candidates come from the store's indexes (``time_range``); contents
are read in one batch and only when the filter or the properties asked need them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from smsync._async import Pacer
from smsync.errors import InvalidData
from smsync.formats.contentlines import Component, Property, parse_components, serialize
from smsync.protocols.caldav.filters import index_hint, matches, parse_filter, parse_time_range
from smsync.protocols.caldav.properties import c
from smsync.protocols.dav import Report
from smsync.protocols.dav.errors import DavError
from smsync.protocols.dav.multiget import multiget
from smsync.protocols.dav.propfind import (PropRequest, batches, item_response_batches, preload,
                                           responses_for)
from smsync.protocols.dav.resources import Kind
from smsync.protocols.dav.response import Response, multistatus
from smsync.protocols.dav.xml import children
from smsync.scheduling.freebusy import busy_periods, published_periods
from smsync.scheduling.freebusy import merge as _merge


def _is_calendar(res) -> bool:
    return res.home is not None and res.home.protocol == "caldav" and res.kind in (
        Kind.COLLECTION, Kind.ITEM)


async def _read_all(ctx, members) -> None:
    pending = [m for m in members if m.content is None]
    if not pending:
        return
    handle = await ctx.handle(pending[0])
    by_name = {m.item_name: m for m in pending}
    for item in await handle.get(list(by_name)):
        by_name[item.info.name].content = item.content
        by_name[item.info.name].item = item.info


def _matches(top, content: bytes) -> bool:
    try:
        root = parse_components(content)[0]
    except (InvalidData, IndexError):
        return False
    return matches(top, content, root)


class CalendarQuery(Report):
    name = c("calendar-query")

    def applies(self, res):
        return _is_calendar(res)

    async def run(self, ctx, res, body):
        top = parse_filter(next((k for k in children(body) if k.tag == c("filter")), None))
        request = PropRequest.parse(body)
        if res.is_item:
            members = [res] if res.exists else []
            await _read_all(ctx, members)
            kept = [m for m in members if m.content is not None and _matches(top, m.content)]
            await preload(ctx, kept, request)
            return multistatus(await responses_for(ctx, kept, request))
        component, tr, simple = index_hint(top)
        handle = await ctx.handle(res)
        if tr is not None:
            infos = await handle.time_range(tr.start, tr.end, [component])
        else:
            infos = [i for i in await handle.items() if component is None or i.component == component]
        if simple:
            # The index answered the whole filter: render straight from the infos.
            return multistatus(item_response_batches(ctx, res, infos, request))
        return multistatus(_filtered(ctx, res, handle, infos, top, request))


async def _filtered(ctx, res, handle, infos, top, request):
    """The responses of the items of ``infos`` matching ``top``, read, tested and
    rendered a batch at a time (parsing is what a calendar-query costs most)."""
    pacer = Pacer()
    for batch in batches(infos):
        kept, contents = [], {}
        for item in await handle.get([i.name for i in batch]):
            await pacer.breathe()
            if _matches(top, item.content):
                kept.append(item.info)
                contents[item.info.name] = item.content
        async for part in item_response_batches(ctx, res, kept, request, contents=contents, pacer=pacer):
            yield part


class CalendarMultiget(Report):
    name = c("calendar-multiget")

    def applies(self, res):
        return _is_calendar(res)

    async def run(self, ctx, res, body):
        return await multiget(ctx, res, body)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _fb_text(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


class FreeBusyQuery(Report):
    name = c("free-busy-query")

    def applies(self, res):
        return _is_calendar(res) and res.kind is Kind.COLLECTION

    async def run(self, ctx, res, body):
        el = next((k for k in children(body) if k.tag == c("time-range")), None)
        if el is None:
            raise DavError(400, message="free-busy-query needs a time-range")
        tr = parse_time_range(el)
        start = tr.start or _EPOCH
        end = tr.end or (start + timedelta(days=366))
        handle = await ctx.handle(res)
        infos = await handle.time_range(start, end, ["VEVENT", "VFREEBUSY"])
        periods = []
        pacer = Pacer()
        for batch in batches(infos):
            for item in await handle.get([i.name for i in batch]):
                await pacer.breathe()
                read = published_periods if item.info.component == "VFREEBUSY" else busy_periods
                try:
                    periods += read(item.content, start, end)
                except InvalidData:
                    continue
        fb = Component("VFREEBUSY", [
            Property("DTSTAMP", _fb_text(datetime.now(timezone.utc))),
            Property("DTSTART", _fb_text(start)),
            Property("DTEND", _fb_text(end)),
        ])
        for fbtype, s, e in _merge(periods):
            fb.properties.append(Property("FREEBUSY", f"{_fb_text(s)}/{_fb_text(e)}",
                                          [("FBTYPE", [fbtype])]))
        cal = Component("VCALENDAR", [Property("VERSION", "2.0"),
                                      Property("PRODID", "-//smsync//CalDAV//EN")], [fb])
        return Response(200, serialize(cal), "text/calendar; charset=utf-8")


CALDAV_REPORTS = (CalendarQuery(), CalendarMultiget(), FreeBusyQuery())
