"""exchangelib and attachments of calendar items, tasks and contacts: a file attached to
an event is an inline binary ATTACH of the stored iCalendar (what CalDAV serves), listed
by GetItem, read by GetAttachment and removed by DeleteAttachment, one an iCalendar
client stored is listed too; a contact's photo is its vCard PHOTO; ids name the item
and the attachment, so another account's is ErrorAccessDenied and a removed one
ErrorItemNotFound."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest_twisted

from smsync.protocols.ews import ids
from smsync.testing.servers import USER, in_thread
from tests.protocols.ews.ews_support import account, call, codes, stored_items

PDF = b"%PDF-1.4\n%\xc7\xec\x8f\xa2 agenda"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00 photo"


def _unfolded(content: bytes) -> bytes:
    return content.replace(b"\r\n ", b"")


@pytest_twisted.ensureDeferred
async def test_attach_read_and_remove_files_of_an_event(server):
    def client():
        from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone, FileAttachment

        acc = account(server)
        start = EWSDateTime(2026, 7, 1, 9, 0, tzinfo=EWSTimeZone("UTC"))
        event = CalendarItem(account=acc, folder=acc.calendar, subject="Review", start=start,
                             end=start + timedelta(hours=1))
        event.save()
        event.attach(FileAttachment(name="agenda.pdf", content=PDF, content_type="application/pdf"))
        event.attach(FileAttachment(name="notes.txt", content=b"n"))
        got = acc.calendar.get(id=event.id)
        listed = [(a.name, a.content_type, a.content, a.is_contact_photo) for a in got.attachments]
        return acc, event, got, listed, got.has_attachments

    acc, event, got, listed, has = await in_thread(client)
    assert listed == [("agenda.pdf", "application/pdf", PDF, False),
                      ("notes.txt", "text/plain", b"n", False)] and has
    [stored] = await stored_items(server, USER, "calendar")
    text = _unfolded(stored.content)
    assert (b"ATTACH;FMTTYPE=application/pdf;ENCODING=BASE64;VALUE=BINARY;X-FILENAME=agenda.pdf:"
            + base64.b64encode(PDF)) in text

    def remove():
        pdf, txt = got.attachments
        pdf_id, txt_id = pdf.attachment_id.id, txt.attachment_id.id
        got.detach(pdf)
        again = acc.calendar.get(id=event.id)
        gone = codes(call(server.portno, "GetAttachment",
                          f'<m:AttachmentIds><t:AttachmentId Id="{pdf_id}"/></m:AttachmentIds>'))
        # Another account's id of the same attachment.
        ref, path = ids.parse_attachment_id(txt_id)
        theirs = ids.attachment_id(ids.ItemRef("bob@example.org", ref.kind, ref.source, ref.key), path)
        denied = [codes(call(server.portno, operation,
                             f'<m:AttachmentIds><t:AttachmentId Id="{theirs}"/></m:AttachmentIds>'))
                  for operation in ("GetAttachment", "DeleteAttachment")]
        return [a.name for a in again.attachments], gone, denied

    names, gone, denied = await in_thread(remove)
    assert names == ["notes.txt"] and gone == ["ErrorItemNotFound"]
    assert denied == [["ErrorAccessDenied"], ["ErrorAccessDenied"]]
    [stored] = await stored_items(server, USER, "calendar")
    assert b"agenda.pdf" not in _unfolded(stored.content) and b"notes.txt" in _unfolded(stored.content)


EVENT = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:att-1\r\n"
         b"DTSTAMP:20260101T000000Z\r\nDTSTART:20260702T100000Z\r\nDTEND:20260702T110000Z\r\n"
         b"SUMMARY:From CalDAV\r\n"
         b"ATTACH;ENCODING=BASE64;VALUE=BINARY;FMTTYPE=text/plain;X-FILENAME=hello.txt:aGVsbG8=\r\n"
         b"ATTACH:https://example.org/linked.pdf\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


@pytest_twisted.ensureDeferred
async def test_an_attachment_stored_over_caldav_is_listed(server):
    cstore = await server.collections(USER)
    calendar = await cstore.collection("calendar")
    await calendar.put("att-1.ics", EVENT)

    def client():
        acc = account(server)
        [item] = list(acc.calendar.all())
        return [(a.name, a.content_type, a.content) for a in acc.calendar.get(id=item.id).attachments]

    # The linked one (a URI) is not a file: it stays, unlisted.
    assert await in_thread(client) == [("hello.txt", "text/plain", b"hello")]


@pytest_twisted.ensureDeferred
async def test_a_contact_photo(server):
    def client():
        from exchangelib import Contact, FileAttachment

        acc = account(server)
        contact = Contact(account=acc, folder=acc.contacts, display_name="Erin", given_name="Erin")
        contact.save()
        contact.attach(FileAttachment(name="ContactPicture.jpg", content=JPEG, is_contact_photo=True))
        refused = call(server.portno, "CreateAttachment",
                       f'<m:ParentItemId Id="{contact.id}"/><m:Attachments><t:FileAttachment>'
                       '<t:Name>cv.pdf</t:Name><t:Content>eA==</t:Content></t:FileAttachment></m:Attachments>')
        got = acc.contacts.get(id=contact.id)
        [photo] = got.attachments
        return codes(refused), (photo.name, photo.content, photo.is_contact_photo)

    refused, photo = await in_thread(client)
    assert refused == ["ErrorInvalidOperation"]
    assert photo == ("ContactPicture.jpg", JPEG, True)
    [card] = await stored_items(server, USER, "addressbook")
    assert b"PHOTO;ENCODING=b;TYPE=JPEG:" + base64.b64encode(JPEG) in _unfolded(card.content)


@pytest_twisted.ensureDeferred
async def test_a_task_and_an_occurrence_take_attachments(server):
    def client():
        from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone, FileAttachment, Task
        from exchangelib.recurrence import DailyPattern, Recurrence

        acc = account(server)
        task = Task(account=acc, folder=acc.tasks, subject="file it")
        task.save()
        task.attach(FileAttachment(name="form.txt", content=b"form"))
        start = EWSDateTime(2026, 7, 1, 9, 0, tzinfo=EWSTimeZone("UTC"))
        series = CalendarItem(account=acc, folder=acc.calendar, subject="Daily", start=start,
                              end=start + timedelta(hours=1),
                              recurrence=Recurrence(pattern=DailyPattern(interval=1), start=start.date(),
                                                    number=3))
        series.save()
        second = acc.calendar.get(id=series.id).occurrence(2)
        second.refresh()
        second.attach(FileAttachment(name="slides.txt", content=b"s"))
        return ([a.name for a in acc.tasks.get(id=task.id).attachments],
                [a.name for a in acc.calendar.get(id=series.id).attachments])

    on_task, on_series = await in_thread(client)
    assert on_task == ["form.txt"] and on_series == ["slides.txt"]
