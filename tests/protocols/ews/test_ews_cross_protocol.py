"""EWS beside IMAP, CalDAV, CardDAV and EAS over one store, SQLite and PostgreSQL: what
one client does, the others see at once."""

from __future__ import annotations

import imaplib

import pytest
import pytest_twisted
from twisted.internet.defer import ensureDeferred

from smsync.testing.servers import PASSWORD, USER, RunningServers, in_thread, numbered_message
from smsync.testing.servers import SQLITE
from tests.protocols.ews.ews_support import account, dav, stop
from tests.store.pg_support import fresh_schema_uri, pg_database

#: The PostgreSQL database fixture, imported to be found by pytest.
FIXTURES = (pg_database,)


def store_uri(request) -> str:
    if request.param == "sqlite":
        return SQLITE
    return fresh_schema_uri(request.getfixturevalue("pg_database"))


@pytest.fixture(params=["sqlite", "postgresql"])
def both(request):
    running = pytest_twisted.blockon(ensureDeferred(RunningServers.start(("imap", "ews"), store_uri(request))))
    yield running
    stop(running)


@pytest_twisted.ensureDeferred
async def test_read_and_categories_over_ews_are_flags_in_imap_and_back(both):
    await both.deliver(numbered_message(1), numbered_message(2))

    def ews_marks():
        from exchangelib import Message
        from exchangelib.extended_properties import Flag

        # exchangelib flags a message through PidTagFlagStatus (2: flagged for
        # follow-up), which is the message's \Flagged.
        Message.register("flag_status", Flag)
        try:
            acc = account(both)
            for item in acc.inbox.filter(subject="message 1"):
                item.is_read = True
                item.categories = ["Work"]
                item.flag_status = 2
                item.save(update_fields=["is_read", "categories", "flag_status"])
        finally:
            Message.deregister("flag_status")

    await in_thread(ews_marks)

    def imap_reads_and_deletes():
        c = imaplib.IMAP4(both.host, both.port("imap"))
        c.login(USER, PASSWORD)
        c.select("INBOX")
        typ, data = c.uid("FETCH", "1:*", "(FLAGS)")
        flags = {line.split()[2].decode(): line.decode() for line in data}
        c.uid("STORE", "2", "+FLAGS", "(\\Flagged \\Seen)")
        c.create("FromImap")
        c.logout()
        return flags

    flags = await in_thread(imap_reads_and_deletes)
    assert "\\Seen" in flags["1"] and "Work" in flags["1"] and "\\Seen" not in flags["2"]
    assert "\\Flagged" in flags["1"] and "\\Flagged" not in flags["2"]

    def ews_sees():
        acc = account(both)
        items = {i.subject: i for i in acc.inbox.all()}
        folders = [f.name for f in acc.msg_folder_root.children]
        return items["message 2"].is_read, "FromImap" in folders

    assert await in_thread(ews_sees) == (True, True)


@pytest.fixture(params=["sqlite", "postgresql"])
def pim(request):
    running = pytest_twisted.blockon(ensureDeferred(RunningServers.start(
        ("caldav", "carddav", "eas", "ews"), store_uri(request), tls=True)))
    yield running
    stop(running)


@pytest_twisted.ensureDeferred
async def test_an_event_made_over_ews_is_in_caldav_and_eas_and_a_caldav_edit_comes_back(pim):
    from tests.protocols.eas.eas_client import data_of, ready_device

    def ews_creates():
        from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone

        acc = account(pim)
        utc = EWSTimeZone("UTC")
        item = CalendarItem(account=acc, folder=acc.calendar, subject="Planning",
                            start=EWSDateTime(2026, 5, 4, 9, 0, tzinfo=utc),
                            end=EWSDateTime(2026, 5, 4, 10, 0, tzinfo=utc))
        item.save()
        [_ for _ in acc.calendar.sync_items()]
        return acc.calendar.item_sync_state

    state = await in_thread(ews_creates)
    cal = await (await pim.collections()).collection("calendar")
    [info] = await cal.items()
    status, body = await in_thread(dav, pim, "GET", f"/dav/calendars/{USER}/calendar/{info.name}")
    assert status == 200 and b"SUMMARY:Planning" in body

    def eas_sees():
        phone = ready_device(pim, "crossews1")
        folder = phone.folder_of_type(8)
        _key, commands = phone.sync_all(folder)
        return [data_of(c).find("Calendar:", "Subject").text for c in commands if c.tag == "Add"]

    assert await in_thread(eas_sees) == ["Planning"]
    edited = body.replace(b"SUMMARY:Planning", b"SUMMARY:Planning (moved room)")
    status, _ = await in_thread(dav, pim, "PUT", f"/dav/calendars/{USER}/calendar/{info.name}", edited,
                                {"Content-Type": "text/calendar"})
    assert status in (201, 204)

    def ews_sync():
        acc = account(pim)
        return [(kind, i.subject) for kind, i in acc.calendar.sync_items(sync_state=state)]

    assert await in_thread(ews_sync) == [("update", "Planning (moved room)")]


@pytest_twisted.ensureDeferred
async def test_a_carddav_contact_is_found_by_find_item_and_resolve_names(pim):
    card = (b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:erin-1\r\nFN:Erin Example\r\nN:Example;Erin;;;\r\n"
            b"EMAIL:erin@example.com\r\nEND:VCARD\r\n")
    status, _ = await in_thread(dav, pim, "PUT", f"/dav/addressbooks/{USER}/contacts/erin-1.vcf", card,
                                {"Content-Type": "text/vcard"})
    assert status == 201

    def ews_finds():
        acc = account(pim)
        found = [(c.display_name, [e.email for e in c.email_addresses or []]) for c in acc.contacts.all()]
        resolved = acc.protocol.resolve_names(["erin"], return_full_contact_data=True)
        by_mail = acc.protocol.resolve_names(["erin@example.com"])
        return found, resolved, by_mail

    found, resolved, by_mail = await in_thread(ews_finds)
    assert found == [("Erin Example", ["erin@example.com"])]
    [(mailbox, contact)] = resolved
    assert (mailbox.name, mailbox.email_address, mailbox.mailbox_type) == ("Erin Example", "erin@example.com", "Contact")
    assert contact.display_name == "Erin Example"
    assert [m.email_address for m in by_mail] == ["erin@example.com"]
