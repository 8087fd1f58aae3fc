"""CalDAV's live properties (RFC 4791 5.2, 6.2, 9.6; Apple's colour and order; those of
RFC 6638 are in ``scheduling``). Registered by ``name``."""

from __future__ import annotations

from smsync.errors import InvalidData
from smsync.formats.contentlines import parse_components
from smsync.model import CollectionKind, PROP_COLOR, PROP_DESCRIPTION, PROP_ORDER, PROP_TIMEZONE
from smsync.protocols.caldav.caldata import CompSpec, DataRequest, render
from smsync.protocols.caldav.filters import parse_utc
from smsync.protocols.dav import Property
from smsync.protocols.dav.collation import COLLATIONS
from smsync.protocols.dav.errors import DavError
from smsync.protocols.dav.resources import Kind
from smsync.protocols.dav.xml import (
    children, clark, element, element_tags, escape_utf8, href_element, sub, text_of, text_property,
)
from smsync.scheduling.messages import from_inbox

C = "urn:ietf:params:xml:ns:caldav"
APPLE = "http://apple.com/ns/ical/"

#: The dates outside of which this server refuses to reason (RFC 4791 5.2.6-5.2.7).
MIN_DATE_TIME = "19000101T000000Z"
MAX_DATE_TIME = "21001231T235959Z"


def c(local: str) -> str:
    return clark(C, local)


def _calendar(res) -> bool:
    return res.kind is Kind.COLLECTION and res.home is not None and res.home.segment == "calendars"


def _calendar_info(res) -> bool:
    return _calendar(res) and res.exists and res.info is not None


class CalendarHomeSet(Property):
    """On the principal, and on the root and principals collection for the user asking:
    clients given only the server's root URL look for it there first."""

    name = c("calendar-home-set")

    def applies(self, res):
        return res.kind in (Kind.PRINCIPAL, Kind.ROOT, Kind.PRINCIPALS)

    async def value(self, ctx, res, asked=None):
        owner = res.owner or ctx.account
        if owner is None:
            return None
        home = ctx.registry.homes["calendars"]
        return element(self.name, children=[href_element(ctx.tree.home_href(home, owner))])


class CalendarUserAddressSet(Property):
    name = c("calendar-user-address-set")

    def applies(self, res):
        return res.kind is Kind.PRINCIPAL

    async def value(self, ctx, res, asked=None):
        return element(self.name, children=[
            href_element(f"mailto:{res.owner}"), href_element(ctx.tree.principal_href(res.owner))])


class _TextProperty(Property):
    """A calendar property kept as a store property (``key``), writable."""

    key = ""

    def applies(self, res):
        return _calendar(res)

    async def value(self, ctx, res, asked=None):
        if not _calendar_info(res):
            return None
        text = res.info.properties.get(self.key)
        return text_property(self.name, text) if text is not None else None

    def check(self, text: str) -> None:
        """Refuse a value (``DavError``); any text is fine by default."""

    def change(self, ctx, res, el, changes, creating):
        if not _calendar(res):
            super().change(ctx, res, el, changes, creating)
        if el is None:
            changes.properties[self.key] = None
            return
        text = text_of(el)
        self.check(text)
        changes.properties[self.key] = text


class CalendarDescription(_TextProperty):
    name = c("calendar-description")
    key = PROP_DESCRIPTION


class CalendarTimezone(_TextProperty):
    name = c("calendar-timezone")
    key = PROP_TIMEZONE
    in_allprop = False

    def check(self, text):
        try:
            roots = parse_components(text.encode("utf-8"))
        except InvalidData as e:
            raise DavError(403, c("valid-calendar-data"), str(e)) from None
        ok = (len(roots) == 1 and roots[0].name == "VCALENDAR"
              and [x.name for x in roots[0].components] == ["VTIMEZONE"])
        if not ok:
            raise DavError(403, c("valid-calendar-data"), "exactly one VTIMEZONE in a VCALENDAR")


class CalendarColor(_TextProperty):
    """Apple's calendar colour (``#RRGGBB`` or ``#RRGGBBAA``), Thunderbird uses it too."""

    name = clark(APPLE, "calendar-color")
    key = PROP_COLOR


class CalendarOrder(_TextProperty):
    name = clark(APPLE, "calendar-order")
    key = PROP_ORDER

    def check(self, text):
        if not text.strip().lstrip("-").isdigit():
            raise DavError(409, message="calendar-order is an integer")


class SupportedCalendarComponentSet(Property):
    name = c("supported-calendar-component-set")

    def applies(self, res):
        return _calendar(res)

    async def value(self, ctx, res, asked=None):
        if not _calendar_info(res):
            return None
        el = element(self.name)
        for comp in sorted(res.info.components):
            sub(el, c("comp")).set("name", comp)
        return el

    def change(self, ctx, res, el, changes, creating):
        # Fixed at creation (RFC 4791 5.2.3): protected afterwards.
        if not creating or el is None:
            super().change(ctx, res, el, changes, creating)
        names = frozenset((k.get("name") or "").upper() for k in children(el) if k.tag == c("comp"))
        if not names or not names <= {"VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY"}:
            raise DavError(403, c("supported-calendar-component"),
                           "components are among VEVENT, VTODO, VJOURNAL, VFREEBUSY")
        changes.components = names


class SupportedCalendarData(Property):
    name = c("supported-calendar-data")

    def applies(self, res):
        return _calendar(res)

    async def value(self, ctx, res, asked=None):
        el = element(self.name)
        data = sub(el, c("calendar-data"))
        data.set("content-type", "text/calendar")
        data.set("version", "2.0")
        return el


class SupportedCollationSet(Property):
    name = c("supported-collation-set")
    in_allprop = False

    def applies(self, res):
        return _calendar(res)

    async def value(self, ctx, res, asked=None):
        el = element(self.name)
        for name in COLLATIONS:
            sub(el, c("supported-collation"), name)
        return el


class MaxResourceSize(Property):
    name = c("max-resource-size")

    def applies(self, res):
        return _calendar(res)

    async def value(self, ctx, res, asked=None):
        return text_property(self.name, str(res.home.max_resource_size))


class MinDateTime(Property):
    name = c("min-date-time")

    def applies(self, res):
        return _calendar(res)

    async def value(self, ctx, res, asked=None):
        return text_property(self.name, MIN_DATE_TIME)


class MaxDateTime(Property):
    name = c("max-date-time")

    def applies(self, res):
        return _calendar(res)

    async def value(self, ctx, res, asked=None):
        return text_property(self.name, MAX_DATE_TIME)


def _range_of(el):
    start, end = el.get("start"), el.get("end")
    if start is None and end is None:
        raise DavError(400, message=f"{el.tag} needs start or end")
    return (parse_utc(start) if start else None, parse_utc(end) if end else None)


def _comp_spec(el) -> CompSpec:
    kids = children(el)
    props = None
    if not any(k.tag == c("allprop") for k in kids):
        props = frozenset((k.get("name") or "").upper() for k in kids if k.tag == c("prop"))
    comps = None
    if not any(k.tag == c("allcomp") for k in kids):
        comps = {(k.get("name") or "").upper(): _comp_spec(k) for k in kids if k.tag == c("comp")}
    return CompSpec((el.get("name") or "").upper(), props, comps)


def parse_data_request(el) -> DataRequest:
    """A ``C:calendar-data`` request element as a ``DataRequest``."""
    if el is None:
        return DataRequest()
    ctype = el.get("content-type")
    if ctype is not None and ctype.split(";")[0].strip().lower() != "text/calendar":
        raise DavError(403, c("supported-calendar-data"), f"{ctype} is not offered")
    comp = expand = limit = None
    for kid in children(el):
        if kid.tag == c("comp"):
            comp = _comp_spec(kid)
        elif kid.tag == c("expand"):
            expand = _range_of(kid)
        elif kid.tag == c("limit-recurrence-set"):
            limit = _range_of(kid)
    return DataRequest(comp, expand, limit)


class CalendarData(Property):
    """The content of a calendar object, as asked (RFC 4791 9.6)."""

    name = c("calendar-data")
    in_allprop = False
    needs_content = True

    def applies(self, res):
        return res.is_item and res.home is not None and res.home.segment == "calendars"

    async def value(self, ctx, res, asked=None):
        content = await ctx.content(res)
        if content is None:
            return None
        content = from_inbox(content)
        data = render(content, parse_data_request(asked)) if asked is not None and (
            len(asked) or asked.get("content-type")) else content
        return text_property(self.name, data.decode("utf-8", "replace"))

    def item_renderer(self, ctx, parent, asked):
        # Whole items, as stored, are the common case (multiget, sync): no parsing.
        if asked is not None and (len(asked) or asked.get("content-type")):
            return None
        head, tail = element_tags(self.name)
        inbox = parent.info is not None and parent.info.kind is CollectionKind.SCHEDULE_INBOX

        def rendered(info, content):
            if content is None:
                return None
            if inbox:
                content = from_inbox(content)
            return b"".join((head, escape_utf8(content), tail))

        return rendered


CALDAV_PROPERTIES = (
    CalendarHomeSet(), CalendarUserAddressSet(), CalendarDescription(), CalendarTimezone(),
    CalendarColor(), CalendarOrder(), SupportedCalendarComponentSet(), SupportedCalendarData(),
    SupportedCollationSet(), MaxResourceSize(), MinDateTime(), MaxDateTime(), CalendarData(),
)
