"""MKCALENDAR (RFC 4791 5.3.1): an extended MKCOL that always makes a calendar."""

from __future__ import annotations

from smsync.protocols.caldav.properties import c
from smsync.protocols.dav import Method
from smsync.protocols.dav.errors import DavError
from smsync.protocols.dav.methods import make_collection


class MkCalendar(Method):
    name = "MKCALENDAR"

    async def run(self, ctx, res):
        if res.home is None or res.home.protocol != "caldav":
            raise DavError(403, c("calendar-collection-location-ok"),
                           "calendars are made inside the calendar home")
        body = ctx.xml()
        if body is not None and body.tag != c("mkcalendar"):
            raise DavError(400, message="MKCALENDAR body must be C:mkcalendar")
        return await make_collection(ctx, res, body, c("mkcalendar-response"),
                                     required_type=c("calendar"))
