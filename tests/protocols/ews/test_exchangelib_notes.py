"""exchangelib and notes (``account.notes``): a VJOURNAL stored as CalDAV stores it is
found, searched and read as an IPM.StickyNote message; notes are created (the VJOURNAL
CalDAV serves), updated (what EWS has no field for survives) and deleted."""

from __future__ import annotations

import pytest
import pytest_twisted

from smsync.testing.servers import USER, in_thread
from tests.protocols.ews.ews_support import account, dav, serving

JOURNAL = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VJOURNAL\r\nUID:note-1\r\n"
           b"DTSTAMP:20260102T030405Z\r\nCREATED:20260101T120000Z\r\nDTSTART;VALUE=DATE:20260101\r\n"
           b"SUMMARY:Door code\r\nDESCRIPTION:4711\\, then press #\r\nCATEGORIES:home,codes\r\n"
           b"X-EAS-MESSAGECLASS:IPM.StickyNote.Yellow\r\nEND:VJOURNAL\r\nEND:VCALENDAR\r\n")
OTHER_NOTE = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VJOURNAL\r\nUID:note-2\r\n"
              b"DTSTAMP:20260103T000000Z\r\nSUMMARY:Book titles\r\nDESCRIPTION:Dune\r\nEND:VJOURNAL\r\n"
              b"END:VCALENDAR\r\n")


@pytest.fixture
def with_caldav():
    yield from serving(("caldav", "ews"))


@pytest_twisted.ensureDeferred
async def test_notes_found_read_created_updated_and_deleted(with_caldav):
    server = with_caldav
    notes = await (await server.collections()).collection("notes")
    await notes.put("note-1.ics", JOURNAL)
    await notes.put("note-2.ics", OTHER_NOTE)

    def read():
        acc = account(server)
        listed = sorted((n.subject, n.item_class) for n in acc.notes.all())
        found = list(acc.notes.filter(body__contains="4711").values_list("subject", flat=True))
        ordered = list(acc.notes.all().order_by("-subject").values_list("subject", flat=True))
        [door] = [n for n in acc.notes.all() if n.subject == "Door code"]
        got = acc.notes.get(id=door.id)
        return listed, found, ordered, (got.subject, str(got.body), sorted(got.categories),
                                        got.datetime_created.isoformat())

    listed, found, ordered, door = await in_thread(read)
    assert listed == [("Book titles", "IPM.StickyNote"), ("Door code", "IPM.StickyNote")]
    assert found == ["Door code"] and ordered == ["Door code", "Book titles"]
    assert door == ("Door code", "4711, then press #", ["codes", "home"], "2026-01-01T12:00:00+00:00")

    def write():
        from exchangelib import Message

        acc = account(server)
        new = Message(account=acc, folder=acc.notes, subject="Groceries", body="eggs\nmilk",
                      categories=["home"])
        new.save()
        [door] = [n for n in acc.notes.all() if n.subject == "Door code"]
        door.subject = "Front door code"
        door.body = "0815"
        door.save(update_fields=["subject", "body"])
        [books] = [n for n in acc.notes.all() if n.subject == "Book titles"]
        books.delete()
        return sorted((n.subject, str(acc.notes.get(id=n.id).body)) for n in acc.notes.all())

    left = await in_thread(write)
    assert left == [("Front door code", "0815"), ("Groceries", "eggs\nmilk")]
    infos = {i.uid: i for i in await notes.items()}
    assert sorted(infos) != ["note-1", "note-2"] and "note-2" not in infos
    [door] = await notes.get([infos["note-1"].name])
    for line in (b"SUMMARY:Front door code", b"DESCRIPTION:0815", b"CATEGORIES:home,codes",
                 b"X-EAS-MESSAGECLASS:IPM.StickyNote.Yellow", b"DTSTART;VALUE=DATE:20260101",
                 b"CREATED:20260101T120000Z"):
        assert line in door.content, line
    # The note made over EWS is the VJOURNAL CalDAV serves.
    [made] = [i for uid, i in infos.items() if uid != "note-1"]
    assert made.component == "VJOURNAL"
    status, body = await in_thread(dav, server, "GET", f"/dav/calendars/{USER}/notes/{made.name}")
    assert status == 200
    for line in (b"BEGIN:VJOURNAL", b"SUMMARY:Groceries", b"DESCRIPTION:eggs\\nmilk", b"CATEGORIES:home"):
        assert line in body, line


@pytest_twisted.ensureDeferred
async def test_notes_over_raw_soap(server):
    from smsync.protocols.ews import soap
    from tests.protocols.ews.ews_support import call, codes, operation, post

    port = server.port("http")
    notes = await (await server.collections()).collection("notes")

    def create(body: str, saved: str = ""):
        answer = call(port, "CreateItem", saved + f"<m:Items>{body}</m:Items>")
        ids_ = [m.find(f"{soap.m('Items')}/{soap.t('Message')}/{soap.t('ItemId')}")
                for m in soap.messages_of(answer.payload)]
        return codes(answer), [(i.get("Id"), i.get("ChangeKey")) if i is not None else None for i in ids_]

    # A Message of class IPM.StickyNote is a note in the Notes folder; in a mail folder
    # it is refused; a plain message saved in the Notes folder is a note too.
    sticky = ('<t:Message><t:ItemClass>IPM.StickyNote</t:ItemClass><t:Subject>Call Ann</t:Subject>'
              '<t:Body BodyType="HTML">&lt;p&gt;at &lt;b&gt;5&lt;/b&gt;&lt;/p&gt;</t:Body></t:Message>')
    got, [(note_id, change_key)] = await in_thread(create, sticky)
    assert got == ["NoError"]
    got, _ = await in_thread(create, sticky, '<m:SavedItemFolderId><t:DistinguishedFolderId Id="inbox"/>'
                                             '</m:SavedItemFolderId>')
    assert got == ["ErrorInvalidOperation"]
    got, _ = await in_thread(create, '<t:Message><t:Subject>Plain</t:Subject></t:Message>',
                             '<m:SavedItemFolderId><t:DistinguishedFolderId Id="notes"/></m:SavedItemFolderId>')
    assert got == ["NoError"]
    contents = [item.content for item in await notes.get([i.name for i in await notes.items()])]
    stored = sorted(c.split(b"SUMMARY:")[1].split(b"\r\n")[0] for c in contents)
    assert stored == [b"Call Ann", b"Plain"]

    def update(updates: str, key: str, resolution: str = "AutoResolve"):
        op = operation("UpdateItem", f'<m:ItemChanges><t:ItemChange><t:ItemId Id="{note_id}" ChangeKey="{key}"/>'
                       f'<t:Updates>{updates}</t:Updates></t:ItemChange></m:ItemChanges>')
        op.set("ConflictResolution", resolution)
        _status, _headers, payload = post(port, soap.request_envelope(op))
        return codes(soap.read_response(payload))

    append = ('<t:AppendToItemField><t:FieldURI FieldURI="item:Body"/><t:Message>'
              '<t:Body BodyType="Text"> sharp</t:Body></t:Message></t:AppendToItemField>')
    assert await in_thread(update, append, change_key) == ["NoError"]
    bad = ('<t:SetItemField><t:FieldURI FieldURI="message:ToRecipients"/><t:Message><t:ToRecipients>'
           '<t:Mailbox><t:EmailAddress>x@example.org</t:EmailAddress></t:Mailbox></t:ToRecipients>'
           '</t:Message></t:SetItemField>')
    assert await in_thread(update, bad, change_key) == ["ErrorInvalidPropertySet"]
    # The append changed the note: its old ChangeKey is stale.
    subject = ('<t:SetItemField><t:FieldURI FieldURI="item:Subject"/><t:Message><t:Subject>Call Bob</t:Subject>'
               '</t:Message></t:SetItemField>')
    assert await in_thread(update, subject, change_key, "NeverOverwrite") == ["ErrorIrresolvableConflict"]

    def read():
        answer = call(port, "GetItem", '<m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape>'
                      f'<m:ItemIds><t:ItemId Id="{note_id}"/></m:ItemIds>')
        node = soap.messages_of(answer.payload)[0].find(f"{soap.m('Items')}/{soap.t('Message')}")
        return node.findtext(soap.t("ItemClass")), node.findtext(soap.t("Subject")), node.findtext(soap.t("Body"))

    assert await in_thread(read) == ("IPM.StickyNote", "Call Ann", "at 5 sharp")


@pytest_twisted.ensureDeferred
async def test_note_lists_are_synchronised(server):
    notes = await (await server.collections()).collection("notes")
    await notes.put("note-1.ics", JOURNAL)

    def initial():
        acc = account(server)
        changes = list(acc.notes.sync_items())
        return acc.notes.item_sync_state, [(kind, getattr(item, "subject", None)) for kind, item in changes]

    state, seen = await in_thread(initial)
    assert seen == [("create", "Door code")]
    await notes.put("note-2.ics", OTHER_NOTE)
    await notes.delete("note-1.ics")

    def incremental():
        acc = account(server)
        acc.notes.item_sync_state = state
        return sorted(kind for kind, _item in acc.notes.sync_items())

    assert await in_thread(incremental) == ["create", "delete"]
