"""CalDAV (RFC 4791) on the WebDAV core: the calendar home, calendar properties,
MKCALENDAR, calendar-query / calendar-multiget / free-busy-query, and scheduling
(RFC 6638, ``scheduling``). Calendars, task lists
and note lists (VEVENT, VTODO, VJOURNAL collections) all live in the calendar home.

``build_resources`` is the twistd builder (``smsync.tap.registry``); ``extension``
gives the ``Extension`` to install into any ``DavApp``.
"""

from __future__ import annotations

from typing import Optional

from smsync.formats.bundle import CalendarExport
from smsync.formats.repair import repair_calendar
from smsync.model import CollectionKind
from smsync.protocols.caldav.mkcalendar import MkCalendar
from smsync.protocols.caldav.properties import CALDAV_PROPERTIES, C, c
from smsync.protocols.caldav.reports import CALDAV_REPORTS
from smsync.protocols.caldav.scheduling import SCHEDULING_PROPERTIES, SchedulePost, SchedulingHooks
from smsync.protocols.dav import MAX_XML_BODY, Extension, HomeSpec, app_for, site_resources
from smsync.protocols.dav.xml import register_prefix

register_prefix("C", C)
register_prefix("ICAL", "http://apple.com/ns/ical/")

DEFAULT_MAX_RESOURCE_SIZE = 10 * 1024 * 1024


def choose_kind(components: Optional[frozenset]) -> CollectionKind:
    """Tasks-only and notes-only calendars are task and note lists in the store, so that
    EAS and the other protocols see them as such."""
    if components == frozenset({"VTODO"}):
        return CollectionKind.TASKS
    if components == frozenset({"VJOURNAL"}):
        return CollectionKind.NOTES
    return CollectionKind.CALENDAR


def home_spec(max_resource_size: int = DEFAULT_MAX_RESOURCE_SIZE) -> HomeSpec:
    return HomeSpec(
        segment="calendars",
        protocol="caldav",
        kinds=frozenset({CollectionKind.CALENDAR, CollectionKind.TASKS, CollectionKind.NOTES,
                         CollectionKind.SCHEDULE_INBOX, CollectionKind.SCHEDULE_OUTBOX}),
        resourcetype=c("calendar"),
        content_type="text/calendar; charset=utf-8",
        media_types=frozenset({"text/calendar"}),
        choose_kind=choose_kind,
        conditions={
            "valid_data": c("valid-calendar-data"),
            "supported_component": c("supported-calendar-component"),
            "uid_conflict": c("no-uid-conflict"),
            "max_size": c("max-resource-size"),
            "supported_data": c("supported-calendar-data"),
        },
        max_resource_size=max_resource_size,
        repair=repair_calendar,
        export=CalendarExport,
        suffix=".ics",
        kind_types={CollectionKind.SCHEDULE_INBOX: c("schedule-inbox"),
                    CollectionKind.SCHEDULE_OUTBOX: c("schedule-outbox")},
        hooks=SchedulingHooks(),
    )


def extension(max_resource_size: int = DEFAULT_MAX_RESOURCE_SIZE) -> Extension:
    """The CalDAV extension of the WebDAV core."""
    return Extension(
        name="caldav",
        compliance=("calendar-access", "calendar-auto-schedule"),
        homes=(home_spec(max_resource_size),),
        properties=CALDAV_PROPERTIES + SCHEDULING_PROPERTIES,
        reports=CALDAV_REPORTS,
        methods=(MkCalendar(), SchedulePost()),
    )


def build_resources(edge) -> dict:
    """twistd builder: ``/dav/`` (shared with CardDAV, also answering at ``/`` and
    ``/principals/``) and ``/.well-known/caldav``, over the server's ``smsync.edge.Edge``."""
    size = getattr(getattr(edge.config, "limits", None), "max_item_size", DEFAULT_MAX_RESOURCE_SIZE)
    xml = getattr(getattr(edge.config, "limits", None), "max_xml_body", MAX_XML_BODY)
    app = app_for(edge.store, edge.portal, max_resource_size=size, edge=edge, max_xml_body=xml)
    app.install(extension(size))
    return site_resources(app, "caldav")
