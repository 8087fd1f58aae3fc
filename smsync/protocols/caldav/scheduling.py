"""CalDAV scheduling (RFC 6638) over the shared scheduling core (``smsync.scheduling``).

* implicit scheduling: ``SchedulingHooks`` runs around the core's PUT, DELETE and GET
  of calendar items -- ``If-Schedule-Tag-Match``, the ``Schedule-Tag`` header, the
  core ``Scheduler``'s plan stored and carried out, ``Schedule-Reply: F``;
* the principal's schedule inbox and outbox (``schedule-inbox-URL``,
  ``schedule-outbox-URL``: store collections of their own kinds, made when first
  asked for), ``schedule-tag`` and ``schedule-default-calendar-URL``;
* POST to the outbox: a VFREEBUSY request answered with each local attendee's busy
  time, or an iTIP message (COUNTER, DECLINECOUNTER, REFRESH ...) delivered as is.
"""

from __future__ import annotations

import weakref
from datetime import datetime, timedelta, timezone
from typing import Optional

from smsync import errors
from smsync.errors import InvalidData
from smsync.formats.contentlines import Component, Property, parse_components, serialize
from smsync.model import CollectionKind
from smsync.protocols.caldav.properties import c
from smsync.protocols.dav import ItemHooks, Method
from smsync.protocols.dav import Property as DavProperty
from smsync.protocols.dav.errors import DavError
from smsync.protocols.dav.resources import Kind
from smsync.protocols.dav.response import Response, xml_response
from smsync.protocols.dav.xml import (dav, element, element_tags, escape_text, href_element, root_element,
                                     sub, text_property)
from smsync.scheduling import itip
from smsync.scheduling.freebusy import busy_time
from smsync.scheduling.messages import (DELIVERED, INBOX_METHOD, NO_ROUTE, SENT, SUCCESS, from_inbox,
                                        is_scheduling_object, schedule_tag)
from smsync.scheduling.scheduler import Outgoing, Scheduler, inbox_messages_of, mailbox

INBOX, OUTBOX = CollectionKind.SCHEDULE_INBOX, CollectionKind.SCHEDULE_OUTBOX
MAILBOXES = (INBOX, OUTBOX)
#: Free-busy requests reach at most this far (a year, as Exchange's availability does).
MAX_FREEBUSY = timedelta(days=366)

_SCHEDULERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _sender(edge):
    """The ``send`` of a ``Scheduler``: iMIP mail through the edge's submission service,
    or None when the server has no relay queue to send with."""
    if edge is None:
        return None
    try:
        submitter = edge.outbound.submitter
    except (ValueError, AttributeError):
        return None

    async def send(account, recipients, body):
        await submitter.send(account, account, list(recipients), body, save_in_sent=False)

    return send


def scheduler_of(ctx) -> Scheduler:
    """The ``Scheduler`` of the request's server (one per ``DavApp``)."""
    app = ctx.app
    scheduler = _SCHEDULERS.get(app)
    if scheduler is None:
        edge = getattr(app, "edge", None)
        scheduler = Scheduler(ctx.store, _sender(edge),
                              inbox_messages=inbox_messages_of(getattr(edge, "config", None)))
        _SCHEDULERS[app] = scheduler
    return scheduler


async def _kind_of(ctx, res) -> Optional[CollectionKind]:
    if res.info is not None and res.kind is Kind.COLLECTION:
        return res.info.kind
    try:
        _, kind = await ctx.app.handles.collection(res.owner, res.collection_name)
    except errors.NotFound:
        return None
    return kind


def _tag_matches(header: str, current: Optional[str]) -> bool:
    return current is not None and header.strip().strip('"') == current.strip('"')


def _scheduling(content: Optional[bytes]) -> bool:
    if content is None:
        return False
    try:
        return is_scheduling_object(content)
    except InvalidData:
        return False


async def _check_unique(ctx, res, body: bytes) -> None:
    """RFC 6638 3.2.4.1: one scheduling object per UID among the account's calendars
    (its collection's own check is the store's ``no-uid-conflict``)."""
    try:
        uid = itip.parse_itip(body, method_required=False).uid
    except InvalidData:
        return  # the store refuses it with its own reason
    cstore = await ctx.collections()
    for kind in (CollectionKind.CALENDAR, CollectionKind.TASKS):
        for entry in await cstore.list_collections(kind):
            if entry.name == res.collection_name:
                continue
            handle = await cstore.collection_by_id(entry.id)
            try:
                item = await handle.get_by_uid(uid)
            except errors.NotFound:
                continue
            href = ctx.tree.item_href(res.home, res.owner, entry.name, item.info.name)
            raise DavError(403, c("unique-scheduling-object-resource"),
                           "another calendar has a scheduling object with this UID",
                           children=[href_element(href)])


class SchedulingHooks(ItemHooks):
    """Implicit scheduling around the core's item methods in the calendar home."""

    async def before_put(self, ctx, res, body):
        kind = await _kind_of(ctx, res)
        if kind in MAILBOXES:
            raise DavError(403, dav("need-privileges"),
                           "the scheduling inbox and outbox take no PUT (RFC 6638 2.1-2.2)")
        tag_header = ctx.header("If-Schedule-Tag-Match")
        if tag_header is None and b"ORGANIZER" not in body.upper():
            return body, None  # the usual event: nothing to schedule, nothing read
        if not res.loaded:
            await ctx.tree.load_item(ctx, res)
        old = res.content if res.exists else None
        if tag_header is not None:
            current = schedule_tag(old) if _scheduling(old) else None
            if not _tag_matches(tag_header, current):
                raise DavError(412, message="If-Schedule-Tag-Match failed")
        if old is None:
            await _check_unique(ctx, res, body)
        scheduler = scheduler_of(ctx)
        plan = await scheduler.plan_put(ctx.account, old, body)
        content = plan.content if plan.content is not None else body
        scheduled = _scheduling(content)

        async def after(info, headers):
            if plan.outgoing:
                await scheduler.carry_out(ctx.account, plan)
            if content is not body:
                # RFC 4791 5.3.4: what is stored is not what was sent; the client reads
                # it back (the SCHEDULE-STATUS the server added).
                headers.pop("ETag", None)
            if scheduled:
                headers["Schedule-Tag"] = schedule_tag(content)
            return headers

        return content, after

    async def before_delete(self, ctx, res):
        content = res.content
        if not _scheduling(content) or await _kind_of(ctx, res) in MAILBOXES:
            return None
        tag_header = ctx.header("If-Schedule-Tag-Match")
        if tag_header is not None and not _tag_matches(tag_header, schedule_tag(content)):
            raise DavError(412, message="If-Schedule-Tag-Match failed")
        if (ctx.header("Schedule-Reply") or "T").strip().upper() == "F":
            return None  # RFC 6638 8.1: the client tells the organizer itself
        scheduler = scheduler_of(ctx)
        plan = await scheduler.plan_delete(ctx.account, content)
        if not plan.outgoing:
            return None

        async def after():
            await scheduler.carry_out(ctx.account, plan)

        return after

    def on_get(self, ctx, res, content):
        if INBOX_METHOD.encode() in content:
            return from_inbox(content), {}
        if _scheduling(content):
            return content, {"Schedule-Tag": schedule_tag(content)}
        return content, {}


# --- properties


async def mailbox_href(ctx, owner: str, kind: CollectionKind) -> str:
    cstore = await ctx.app.handles.collections(owner)
    box = await mailbox(cstore, kind)
    info = await box.info()
    return ctx.tree.collection_href(ctx.registry.homes["calendars"], owner, info.name)


class ScheduleInboxURL(DavProperty):
    in_allprop = False  # made when first asked for
    name = c("schedule-inbox-URL")

    def applies(self, res):
        return res.kind is Kind.PRINCIPAL

    async def value(self, ctx, res, asked=None):
        return element(self.name, children=[href_element(await mailbox_href(ctx, res.owner, INBOX))])


class ScheduleOutboxURL(DavProperty):
    in_allprop = False  # made when first asked for
    name = c("schedule-outbox-URL")

    def applies(self, res):
        return res.kind is Kind.PRINCIPAL

    async def value(self, ctx, res, asked=None):
        return element(self.name, children=[href_element(await mailbox_href(ctx, res.owner, OUTBOX))])


class CalendarUserType(DavProperty):
    name = c("calendar-user-type")

    def applies(self, res):
        return res.kind is Kind.PRINCIPAL

    async def value(self, ctx, res, asked=None):
        return text_property(self.name, "INDIVIDUAL")


class ScheduleDefaultCalendarURL(DavProperty):
    """RFC 6638 9.2: where the server files invitations (the default calendar)."""

    name = c("schedule-default-calendar-URL")

    def applies(self, res):
        return res.kind is Kind.COLLECTION and res.info is not None and res.info.kind is INBOX

    async def value(self, ctx, res, asked=None):
        cstore = await ctx.collections()
        calendars = await cstore.list_collections(CollectionKind.CALENDAR)
        if not calendars:
            return None
        return element(self.name, children=[href_element(
            ctx.tree.collection_href(res.home, res.owner, calendars[0].name))])


class ScheduleTag(DavProperty):
    name = c("schedule-tag")
    in_allprop = False
    needs_content = True

    def applies(self, res):
        return res.is_item and res.home is not None and res.home.segment == "calendars"

    async def value(self, ctx, res, asked=None):
        content = await ctx.content(res)
        if not _scheduling(content):
            return None
        return text_property(self.name, schedule_tag(content))

    def item_renderer(self, ctx, parent, asked):
        # Clients ask for it in every search (the caldav library does): keep the batch path.
        head, tail = element_tags(self.name)

        def rendered(info, content):
            if not _scheduling(content):
                return None
            return b"".join((head, escape_text(schedule_tag(content)).encode(), tail))

        return rendered


# --- POST to the outbox


def _utc(prop: Optional[Property]) -> Optional[datetime]:
    """A DTSTART/DTEND of a free-busy request as UTC (floating and TZID times taken
    as UTC: clients send UTC here)."""
    if prop is None:
        return None
    text = prop.value.strip().rstrip("Z")
    for pattern in ("%Y%m%dT%H%M%S", "%Y%m%d"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    raise DavError(400, message=f"bad date-time {prop.value[:40]!r}")


def _stamp(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _schedule_response(results) -> Response:
    root = root_element(c("schedule-response"))
    for recipient, status, data in results:
        response = sub(root, c("response"))
        recipient_el = sub(response, c("recipient"))
        recipient_el.append(href_element(recipient))
        sub(response, c("request-status"), status)
        if data is not None:
            sub(response, c("calendar-data"), data.decode("utf-8", "replace"))
    return xml_response(root, 200)


async def free_busy(ctx, request: Component, fb: Component) -> Response:
    """Answer a VFREEBUSY REQUEST (RFC 6638 5): each attendee of this server's busy
    time in the range asked; others are unknown calendar users here."""
    organizer = fb.get("ORGANIZER")
    if organizer is None or not itip.same_address(organizer.value, ctx.account):
        raise DavError(403, c("organizer-allowed"), "the ORGANIZER is the account posting")
    start, end = _utc(fb.get("DTSTART")), _utc(fb.get("DTEND"))
    if start is None or end is None or end <= start:
        raise DavError(400, message="a free-busy request needs DTSTART before DTEND")
    end = min(end, start + MAX_FREEBUSY)
    scheduler = scheduler_of(ctx)
    results = []
    for attendee in fb.get_all("ATTENDEE"):
        address = attendee.value.strip()
        account = await scheduler.local_account(address)
        if account is None:
            results.append((address, "3.7;Invalid calendar user", None))
            continue
        answer = Component("VFREEBUSY", [
            Property("UID", (fb.value("UID") or "").strip() or "freebusy"),
            Property("DTSTAMP", _stamp(datetime.now(timezone.utc))),
            Property("DTSTART", _stamp(start)), Property("DTEND", _stamp(end)),
            Property("ORGANIZER", organizer.value, organizer.params),
            Property("ATTENDEE", attendee.value, attendee.params),
        ])
        for fbtype, s, e in await busy_time(ctx.store, account, start, end):
            answer.properties.append(Property("FREEBUSY", f"{_stamp(s)}/{_stamp(e)}",
                                              [("FBTYPE", [fbtype])]))
        cal = Component("VCALENDAR", [Property("VERSION", "2.0"),
                                      Property("PRODID", "-//smsync//CalDAV//EN"),
                                      Property("METHOD", "REPLY")], [answer])
        results.append((address, f"{SUCCESS};Success", serialize(cal)))
    return _schedule_response(results)


#: Who may send which iTIP method, and to whom it goes.
_FROM_ORGANIZER = frozenset({itip.REQUEST, itip.CANCEL, "DECLINECOUNTER", "ADD"})
_FROM_ATTENDEE = frozenset({itip.REPLY, itip.COUNTER, "REFRESH"})
_STATUS_TEXT = {DELIVERED: "Delivered", SENT: "Sent"}


async def explicit(ctx, body: bytes, method: str) -> Response:
    """Deliver an iTIP message the client composed (COUNTER, DECLINECOUNTER, REFRESH,
    or a REQUEST/CANCEL/REPLY of its own) to the recipients it names."""
    try:
        info = itip.parse_itip(body)
    except InvalidData as e:
        raise DavError(400, c("valid-calendar-data"), str(e)) from None
    if method in _FROM_ORGANIZER:
        if not itip.same_address(info.organizer, ctx.account):
            raise DavError(403, c("organizer-allowed"), "only the organizer sends this")
        to = [a.address for a in info.attendees if not itip.same_address(a.address, ctx.account)]
    elif method in _FROM_ATTENDEE:
        if info.attendee(ctx.account) is None or not info.organizer:
            raise DavError(403, c("attendee-allowed"), "only an attendee sends this")
        to = [info.organizer]
    else:
        raise DavError(403, c("valid-scheduling-message"), f"{method} is not sent through the outbox")
    scheduler = scheduler_of(ctx)
    statuses = await scheduler.deliver(ctx.account, Outgoing(method, body, tuple(to), info.summary))
    results = []
    for address in to:
        code = statuses.get(address.lower(), NO_ROUTE)
        results.append((f"mailto:{address}", f"{code};{_STATUS_TEXT.get(code, 'Not delivered')}", None))
    return _schedule_response(results)


class SchedulePost(Method):
    """POST to the account's schedule outbox (RFC 6638 5)."""

    name = "POST"

    async def run(self, ctx, res):
        if (res.kind is not Kind.COLLECTION or not res.exists or res.info is None
                or res.info.kind is not OUTBOX):
            raise DavError(405, message="POST goes to the schedule outbox")
        body = ctx.body()
        try:
            roots = parse_components(body)
        except InvalidData as e:
            raise DavError(400, c("valid-calendar-data"), str(e)) from None
        if len(roots) != 1 or roots[0].name != "VCALENDAR":
            raise DavError(400, c("valid-calendar-data"), "one VCALENDAR is posted")
        request = roots[0]
        method = (request.value("METHOD") or "").strip().upper()
        fb = next((k for k in request.components if k.name == "VFREEBUSY"), None)
        if fb is not None:
            if method != itip.REQUEST:
                raise DavError(400, c("valid-scheduling-message"), "a free-busy query is a REQUEST")
            return await free_busy(ctx, request, fb)
        if not method:
            raise DavError(400, c("valid-scheduling-message"), "an iTIP message needs a METHOD")
        return await explicit(ctx, body, method)


SCHEDULING_PROPERTIES = (ScheduleInboxURL(), ScheduleOutboxURL(), CalendarUserType(),
                         ScheduleDefaultCalendarURL(), ScheduleTag())
