"""An attendee's calendar: where the answer to an invitation is filed.

Async helpers over ``ICollectionStore``/``ICollection`` only, so any backend serves them.
"""

from __future__ import annotations

import uuid
from typing import Optional

import attrs

from smsync.errors import InvalidData, NotFound
from smsync.model import CollectionKind, ItemInfo
from smsync.scheduling.itip import apply_partstat, calendar_object, parse_itip


async def default_calendar(collections):
    """The account's default calendar (an ``ICollection``): the first calendar
    collection by name. ``NotFound`` when the account has none."""
    calendars = await collections.list_collections(CollectionKind.CALENDAR)
    if not calendars:
        raise NotFound("the account has no calendar")
    return await collections.collection_by_id(calendars[0].id)


async def find_event(collection, uid: str):
    """The ``Item`` of ``collection`` whose UID is ``uid``, or None."""
    try:
        return await collection.get_by_uid(uid)
    except NotFound:
        return None


@attrs.frozen
class Answered:
    """Where an answer was filed: ``collection_id`` of the calendar and ``item`` (the
    stored ``ItemInfo``; None when the event was removed or never stored)."""

    collection_id: str
    item: Optional[ItemInfo]


async def file_answer(collections, request: bytes, attendee: str, partstat: str, *,
                      keep_declined: bool = False) -> Answered:
    """Record ``attendee``'s answer to the iTIP ``request`` in their default calendar.

    The event is stored (under its existing item name when the calendar has its UID)
    as the request says with the attendee's PARTSTAT set -- unless the calendar holds a
    newer version (a higher SEQUENCE), which then gets the PARTSTAT instead. A DECLINED
    answer removes the event unless ``keep_declined`` (Exchange removes declined
    meetings; a CalDAV client may want them kept, marked declined).

    Raises:
        InvalidData: the request is unreadable.
        NotFound: the account has no calendar.
    """
    info = parse_itip(request, method_required=False)
    calendar = await default_calendar(collections)
    existing = await find_event(calendar, info.uid)
    if partstat.upper() == "DECLINED" and not keep_declined:
        if existing is not None:
            try:
                await calendar.delete(existing.info.name, if_match=existing.info.etag)
            except NotFound:
                pass
        return Answered(calendar.id, None)
    base = calendar_object(request)
    if existing is not None:
        try:
            stored = parse_itip(existing.content, method_required=False)
            if stored.sequence > info.sequence:
                base = existing.content
        except InvalidData:
            pass  # an unreadable stored copy is replaced by the request's
    content = apply_partstat(base, attendee, partstat)
    if existing is not None:
        item = await calendar.put(existing.info.name, content, if_match=existing.info.etag)
    else:
        item = await calendar.put(f"{uuid.uuid4().hex}.ics", content, if_none_match=True)
    return Answered(calendar.id, item)
