"""Filing an attendee's answer in their calendar (over the memory store): a new event,
an update under the same item name, a newer stored version kept, a decline removing
the event or, asked, keeping it; and the iTIP part of a stored message read back."""

from __future__ import annotations

import pytest
import pytest_twisted

from smsync.errors import InvalidData, NotFound
from smsync.formats.message import parse_message
from smsync.model import CollectionKind
from smsync.scheduling import imip, itip
from smsync.scheduling.calendar import default_calendar, file_answer
from smsync.store.registry import open_store

from .test_itip import REQUEST

ME = "alice@example.org"


async def _store():
    store = await open_store("memory:")
    await store.accounts.add(ME, "!")
    return store


async def _contents(collections):
    calendar = await default_calendar(collections)
    items = await calendar.items()
    return [i.content for i in await calendar.get([i.name for i in items])]


@pytest_twisted.ensureDeferred
async def test_answers_are_filed_under_one_item():
    store = await _store()
    try:
        collections = await store.collections(ME)
        first = await file_answer(collections, REQUEST, ME, "TENTATIVE")
        [stored] = await _contents(collections)
        assert itip.parse_itip(stored, method_required=False).attendee(ME).partstat == "TENTATIVE"
        assert b"METHOD" not in stored
        second = await file_answer(collections, REQUEST, ME, "ACCEPTED")
        assert second.item.name == first.item.name and second.item.etag != first.item.etag
        # An older request (lower SEQUENCE) does not undo the newer stored version.
        newer = itip.calendar_object(REQUEST.replace(b"SEQUENCE:2", b"SEQUENCE:5")
                                     .replace(b"LOCATION:Room 1", b"LOCATION:Room 9"))
        calendar = await default_calendar(collections)
        await calendar.put(first.item.name, newer)
        await file_answer(collections, REQUEST, ME, "DECLINED", keep_declined=True)
        [stored] = await _contents(collections)
        assert b"Room 9" in stored
        assert itip.parse_itip(stored, method_required=False).attendee(ME).partstat == "DECLINED"
        declined = await file_answer(collections, REQUEST, ME, "DECLINED")
        assert declined.item is None and await _contents(collections) == []
        # Declining what was never filed stores nothing.
        assert (await file_answer(collections, REQUEST, ME, "DECLINED")).item is None
        with pytest.raises(InvalidData):
            await file_answer(collections, b"nonsense", ME, "ACCEPTED")
        [info] = await collections.list_collections(CollectionKind.CALENDAR)
        await collections.delete_collection(info.name)
        with pytest.raises(NotFound):
            await file_answer(collections, REQUEST, ME, "ACCEPTED")
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_read_calendar_reads_only_the_itip_part():
    store = await _store()
    try:
        box = await (await store.mail(ME)).mailbox("INBOX")
        mail = imip.imip_message(REQUEST, method="REQUEST", sender="bob@example.org",
                                 recipients=[ME], subject="Plans", text="Come.")
        uid = (await box.append(mail)).uid
        structure = (await box.structures([uid]))[uid]
        got = await imip.read_calendar(box, uid, structure)
        assert itip.parse_itip(got).uid == "meet-1@example.org"
        assert await imip.read_calendar(box, uid, structure, limit=10) is None
        assert await imip.read_calendar(box, uid + 1, structure) is None
        plain = parse_message(b"Subject: x\r\n\r\nnothing\r\n")
        assert await imip.read_calendar(box, uid, plain) is None
    finally:
        await store.close()
