"""GetServerTimeZones (MS-OXWSGTZ) and GetUserAvailability (MS-OXWSFB): the zones this
server knows, and free/busy time of the server's accounts from their calendars,
through the core's ``smsync.scheduling.freebusy`` that CalDAV's free-busy-query and
scheduling outbox answer from too.

Times are read and written in the SerializableTimeZone the request carries. A view is
FreeBusy (each busy instance's times and type), Detailed (with its subject, location
and kind -- for the account's own calendars; another account is shown FreeBusy, as
Exchange's default permission does, and private events never show their subject) and,
in the *Merged views and MergedOnly, the merged string of one digit per interval
(0 free, 1 tentative, 2 busy, 3 away). A mailbox that is no account of this server is
``ErrorMailRecipientNotFound``, the others answered all the same.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

from lxml import etree

from smsync.errors import NotFound
from smsync.formats.windowszones import WINDOWS_TO_IANA
from smsync.protocols.ews import timezones
from smsync.protocols.ews.errors import SCHEMA_VALIDATION, EWSError
from smsync.protocols.ews.operations import operation
from smsync.protocols.ews.soap import m, response, response_message, t, text, xs_bool
from smsync.scheduling import freebusy

NOT_FOUND = "ErrorMailRecipientNotFound"
INVALID_INTERVAL = "ErrorInvalidTimeInterval"
TOO_BIG = "ErrorTimeIntervalTooBig"

#: The longest window answered (Exchange's limit is 42 days by default; 62 here).
MAX_WINDOW = timedelta(days=62)
#: Mailboxes per request (MS-OXWSFB: 100).
MAX_MAILBOXES = 100
_VIEWS = ("MergedOnly", "FreeBusy", "FreeBusyMerged", "Detailed", "DetailedMerged")
_BUSY_TYPE = {freebusy.BUSY: "Busy", freebusy.TENTATIVE: "Tentative", freebusy.UNAVAILABLE: "OOF"}
_DIGIT = {"Free": "0", "Tentative": "1", "Busy": "2", "OOF": "3"}


# -- GetServerTimeZones ----------------------------------------------------------------


@operation("GetServerTimeZones")
async def get_server_time_zones(ctx, request):
    full = xs_bool(request.get("ReturnFullTimeZoneData", "true"))
    holder = request.find(m("Ids"))
    asked = ([(i.text or "").strip() for i in holder if isinstance(i.tag, str)]
             if holder is not None else sorted(WINDOWS_TO_IANA))
    year = datetime.now(timezone.utc).year
    definitions = etree.Element(m("TimeZoneDefinitions"))
    unknown = []
    for windows_id in asked:
        node = timezones.definition_element(windows_id, year, full)
        if node is None:
            unknown.append(windows_id)
        else:
            definitions.append(node)
    if unknown:
        ctx.log(f"GetServerTimeZones: ErrorTimeZone: {', '.join(u[:60] for u in unknown[:5])}")
        return response("GetServerTimeZones", [response_message(
            "GetServerTimeZones", "ErrorTimeZone", f"no time zone {unknown[0][:60]!r} here")])
    return response("GetServerTimeZones", [response_message("GetServerTimeZones",
                                                            children=[definitions])])


# -- GetUserAvailability ---------------------------------------------------------------


def _options(request, zone):
    options = request.find(t("FreeBusyViewOptions"))
    if options is None:
        if request.find(t("SuggestionsViewOptions")) is not None:
            raise EWSError("ErrorInvalidRequest", "meeting suggestions are not offered here")
        raise EWSError(SCHEMA_VALIDATION, "no FreeBusyViewOptions")
    window = options.find(t("TimeWindow"))
    if window is None:
        raise EWSError(SCHEMA_VALIDATION, "no TimeWindow")
    start = timezones.parse_datetime(window.findtext(t("StartTime")), zone)
    end = timezones.parse_datetime(window.findtext(t("EndTime")), zone)
    if end <= start:
        raise EWSError(INVALID_INTERVAL, "the TimeWindow ends before it starts")
    if end - start > MAX_WINDOW:
        raise EWSError(TOO_BIG, f"the TimeWindow is longer than {MAX_WINDOW.days} days")
    interval_text = (options.findtext(t("MergedFreeBusyIntervalInMinutes")) or "30").strip()
    if not interval_text.isdigit() or not 5 <= int(interval_text) <= 1440:
        raise EWSError(SCHEMA_VALIDATION, "MergedFreeBusyIntervalInMinutes is 5 to 1440")
    view = (options.findtext(t("RequestedView")) or "").strip()
    if view not in _VIEWS:
        raise EWSError(SCHEMA_VALIDATION, f"RequestedView {view[:30]!r}")
    return start, end, timedelta(minutes=int(interval_text)), view


def merged(events, start: datetime, end: datetime, interval: timedelta) -> str:
    """One digit per ``interval`` from ``start`` to ``end``: the busiest status of the
    events overlapping it."""
    slots = []
    at = start
    while at < end:
        stop = at + interval
        busiest = "0"
        for event in events:
            if event.start < stop and event.end > at:
                busiest = max(busiest, _DIGIT[_BUSY_TYPE.get(event.fbtype, "Busy")])
        slots.append(busiest)
        at = stop
    return "".join(slots)


def _event_element(event, zone, detailed: bool):
    node = etree.Element(t("CalendarEvent"))
    etree.SubElement(node, t("StartTime")).text = timezones.local_text(event.start, zone)
    etree.SubElement(node, t("EndTime")).text = timezones.local_text(event.end, zone)
    etree.SubElement(node, t("BusyType")).text = _BUSY_TYPE.get(event.fbtype, "Busy")
    if detailed:
        details = etree.SubElement(node, t("CalendarEventDetails"))
        if event.uid:
            etree.SubElement(details, t("ID")).text = text(event.uid)
        if not event.private:
            etree.SubElement(details, t("Subject")).text = text(event.subject)
            etree.SubElement(details, t("Location")).text = text(event.location)
        for tag, value in (("IsMeeting", event.meeting), ("IsRecurring", event.recurring),
                           ("IsException", event.exception), ("IsReminderSet", False),
                           ("IsPrivate", event.private)):
            etree.SubElement(details, t(tag)).text = "true" if value else "false"
    return node


def _working_hours(zone_node):
    hours = etree.Element(t("WorkingHours"))
    if zone_node is not None:
        hours.append(copy.deepcopy(zone_node))
    periods = etree.SubElement(hours, t("WorkingPeriodArray"))
    period = etree.SubElement(periods, t("WorkingPeriod"))
    etree.SubElement(period, t("DayOfWeek")).text = "Monday Tuesday Wednesday Thursday Friday"
    etree.SubElement(period, t("StartTimeInMinutes")).text = "480"
    etree.SubElement(period, t("EndTimeInMinutes")).text = "1020"
    return hours


def view_element(events, view: str, own: bool, start, end, interval, zone, zone_node):
    """The ``<m:FreeBusyView>`` of one mailbox's busy ``events`` in ``view``."""
    if not own:
        view = {"Detailed": "FreeBusy", "DetailedMerged": "FreeBusyMerged"}.get(view, view)
    node = etree.Element(m("FreeBusyView"))
    etree.SubElement(node, t("FreeBusyViewType")).text = view
    if view.endswith("Merged") or view == "MergedOnly":
        etree.SubElement(node, t("MergedFreeBusy")).text = merged(events, start, end, interval)
    if view != "MergedOnly":
        array = etree.SubElement(node, t("CalendarEventArray"))
        for event in events:
            array.append(_event_element(event, zone, view.startswith("Detailed")))
        node.append(_working_hours(zone_node))
    return node


def _free_busy_response(code: str = "NoError", message: str = "", view=None):
    node = etree.Element(m("FreeBusyResponse"))
    answer = response_message("", code, message or None)
    node.append(answer)
    if view is not None:
        node.append(view)
    return node


@operation("GetUserAvailabilityRequest")
async def get_user_availability(ctx, request):
    zone_node = request.find(t("TimeZone"))
    zone = timezones.serializable_zone(zone_node)
    start, end, interval, view = _options(request, zone)
    holder = request.find(m("MailboxDataArray"))
    mailboxes = [d for d in holder if isinstance(d.tag, str)] if holder is not None else []
    if not mailboxes:
        raise EWSError(SCHEMA_VALIDATION, "no MailboxData")
    if len(mailboxes) > MAX_MAILBOXES:
        raise EWSError("ErrorExceededMaxRecipientLimit", f"more than {MAX_MAILBOXES} mailboxes")
    accounts = {a.lower() for a in await ctx.store.accounts.list()}
    root = etree.Element(m("GetUserAvailabilityResponse"))
    array = etree.SubElement(root, m("FreeBusyResponseArray"))
    found = 0
    for data in mailboxes:
        address = (data.findtext(f"{t('Email')}/{t('Address')}") or "").strip().lower()
        if address.startswith("smtp:"):
            address = address[5:]
        if address not in accounts:
            ctx.log(f"GetUserAvailability: {NOT_FOUND}: {address[:100]!r}")
            array.append(_free_busy_response(NOT_FOUND, f"{address[:100]} is no mailbox of this server"))
            continue
        try:
            events = await freebusy.busy_events(ctx.store, address, start, end)
        except NotFound:
            array.append(_free_busy_response(NOT_FOUND, f"{address[:100]} is no mailbox of this server"))
            continue
        found += 1
        array.append(_free_busy_response(view=view_element(
            events, view, address == ctx.account, start, end, interval, zone, zone_node)))
    ctx.log(f"GetUserAvailability: {view} of {found} of {len(mailboxes)} mailbox(es)")
    return root
