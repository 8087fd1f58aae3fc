"""exchangelib and extended properties (MS-OXWSXPROP), over SQLite (and PostgreSQL for
the messages' and folders', which live in the store's settings): set on CreateItem and
CreateFolder, read back by GetItem, FindItem, SyncFolderItems and GetFolder (only when
asked for), changed and deleted by UpdateItem and UpdateFolder, single and multi-valued,
named by PropertyTag, PropertyName and PropertyId -- on calendar items, contacts, tasks,
messages and folders; a property of an event or contact survives an edit over CalDAV or
CardDAV of the same item."""

from __future__ import annotations


import pytest
import pytest_twisted
from twisted.internet.defer import ensureDeferred

from smsync.testing.servers import OTHER, SQLITE, USER, RunningServers, in_thread
from tests.protocols.ews.ews_support import account, call, codes, dav, stop
from tests.store.pg_support import fresh_schema_uri, pg_database

#: The PostgreSQL database fixture, imported to be found by pytest.
FIXTURES = (pg_database,)


def _classes():
    from exchangelib.extended_properties import ExtendedProperty

    class ProjectCode(ExtendedProperty):
        property_set_id = "c11ff724-aa03-4555-9952-8fa248a11c3e"
        property_name = "Project Code"
        property_type = "String"

    class Labels(ExtendedProperty):
        distinguished_property_set_id = "PublicStrings"
        property_id = 0x8123
        property_type = "StringArray"

    class Score(ExtendedProperty):
        property_tag = 0x3A4F
        property_type = "Integer"

    class Reviewed(ExtendedProperty):
        distinguished_property_set_id = "Task"
        property_name = "Reviewed"
        property_type = "Boolean"

    class Blob(ExtendedProperty):
        property_set_id = "c11ff724-aa03-4555-9952-8fa248a11c3e"
        property_id = 7
        property_type = "Binary"

    return {"project_code": ProjectCode, "labels": Labels, "score": Score, "reviewed": Reviewed,
            "blob": Blob}


@pytest.fixture
def registered():
    from exchangelib import CalendarItem, Contact, Folder, Message, Task

    classes = _classes()
    kinds = (CalendarItem, Contact, Task, Message)
    for kind in kinds:
        for name, cls in classes.items():
            kind.register(name, cls)
    Folder.register("project_code", classes["project_code"])
    yield classes
    for kind in kinds:
        for name in classes:
            kind.deregister(name)
    Folder.deregister("project_code")


@pytest.fixture(params=["sqlite", "postgresql"])
def either(request):
    """EWS over either store: messages' and folders' properties live in its settings."""
    uri = SQLITE if request.param == "sqlite" else fresh_schema_uri(request.getfixturevalue("pg_database"))
    running = pytest_twisted.blockon(ensureDeferred(RunningServers.start(("ews",), uri)))
    yield running
    stop(running)


@pytest.fixture
def pim():
    running = pytest_twisted.blockon(ensureDeferred(RunningServers.start(
        ("caldav", "carddav", "ews"), SQLITE, tls=True)))
    yield running
    stop(running)


@pytest_twisted.ensureDeferred
async def test_calendar_item_properties_set_read_changed_deleted_and_kept_by_caldav(pim, registered):
    def create():
        from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone

        acc = account(pim)
        utc = EWSTimeZone("UTC")
        item = CalendarItem(account=acc, folder=acc.calendar, subject="Planning",
                            start=EWSDateTime(2026, 5, 4, 9, 0, tzinfo=utc),
                            end=EWSDateTime(2026, 5, 4, 10, 0, tzinfo=utc),
                            project_code="P-7, north; \\ east\nline two", labels=["a,b", "c;d \\ e"])
        item.save()
        plain = CalendarItem(account=acc, folder=acc.calendar, subject="Plain",
                             start=EWSDateTime(2026, 5, 5, 9, 0, tzinfo=utc),
                             end=EWSDateTime(2026, 5, 5, 10, 0, tzinfo=utc))
        plain.save()
        got = acc.calendar.get(id=item.id)
        found = {i.subject: (i.project_code, i.labels)
                 for i in acc.calendar.all().only("subject", "project_code", "labels")}
        return item.id, (got.project_code, got.labels, got.score), found

    item_id, got, found = await in_thread(create)
    assert got == ("P-7, north; \\ east\nline two", ["a,b", "c;d \\ e"], None)
    assert found == {"Planning": ("P-7, north; \\ east\nline two", ["a,b", "c;d \\ e"]),
                     "Plain": (None, None)}

    cal = await (await pim.collections()).collection("calendar")
    infos = {i.name: i for i in await cal.items()}
    [name] = [n for n in infos if b"Planning" in (await cal.get([n]))[0].content]
    status, body = await in_thread(dav, pim, "GET", f"/dav/calendars/{USER}/calendar/{name}")
    assert status == 200 and b"X-SMSYNC-EWS-XPROP" in body
    edited = body.replace(b"SUMMARY:Planning", b"SUMMARY:Planning (moved)")
    status, _ = await in_thread(dav, pim, "PUT", f"/dav/calendars/{USER}/calendar/{name}", edited,
                                {"Content-Type": "text/calendar"})
    assert status in (201, 204)

    def change_and_delete():
        acc = account(pim)
        item = acc.calendar.get(id=item_id)
        after_caldav = (item.subject, item.project_code, item.labels)
        item.project_code = "P-8"
        item.labels = ["x"]
        item.subject = "Planning (final)"
        item.save(update_fields=["project_code", "labels", "subject"])
        changed = acc.calendar.get(id=item_id)
        seen = (changed.subject, changed.project_code, changed.labels)
        changed.labels = None
        changed.save(update_fields=["labels"])
        gone = acc.calendar.get(id=item_id)
        return after_caldav, seen, (gone.project_code, gone.labels)

    after_caldav, seen, gone = await in_thread(change_and_delete)
    assert after_caldav == ("Planning (moved)", "P-7, north; \\ east\nline two", ["a,b", "c;d \\ e"])
    assert seen == ("Planning (final)", "P-8", ["x"])
    assert gone == ("P-8", None)


@pytest_twisted.ensureDeferred
async def test_contact_and_task_properties_and_a_carddav_edit(pim, registered):
    def create():
        from exchangelib import Contact, EWSDateTime, EWSTimeZone, Task

        acc = account(pim)
        contact = Contact(account=acc, folder=acc.contacts, display_name="Erin Example", given_name="Erin", surname="Example",
                          score=42, blob=b"\x00\x01binary\xff")
        contact.save()
        task = Task(account=acc, folder=acc.tasks, subject="Review", reviewed=True,
                    labels=["one", "two"])
        task.save()
        del EWSDateTime, EWSTimeZone
        got_contact = acc.contacts.get(id=contact.id)
        got_task = acc.tasks.get(id=task.id)
        synced = {i.subject: i.reviewed for kind, i in acc.tasks.sync_items(only_fields=["subject", "reviewed"])}
        return contact.id, (got_contact.score, got_contact.blob, got_contact.project_code), \
            (got_task.reviewed, got_task.labels, got_task.score), synced

    contact_id, contact, task, synced = await in_thread(create)
    assert contact == (42, b"\x00\x01binary\xff", None)
    assert task == (True, ["one", "two"], None)
    assert synced == {"Review": True}

    book = await (await pim.collections()).collection("contacts")
    [info] = await book.items()
    status, card = await in_thread(dav, pim, "GET", f"/dav/addressbooks/{USER}/contacts/{info.name}")
    assert status == 200 and b"X-SMSYNC-EWS-XPROP" in card
    edited = card.replace(b"FN:Erin Example", b"FN:Erin Q. Example")
    assert edited != card
    status, _ = await in_thread(dav, pim, "PUT", f"/dav/addressbooks/{USER}/contacts/{info.name}", edited,
                                {"Content-Type": "text/vcard"})
    assert status in (201, 204)

    def read_again():
        acc = account(pim)
        got = acc.contacts.get(id=contact_id)
        before = (got.display_name, got.score)
        got.score = -7
        got.save(update_fields=["score"])
        again = acc.contacts.get(id=contact_id)
        again.blob = None
        again.save(update_fields=["blob"])
        last = acc.contacts.get(id=contact_id)
        return before, (again.score, last.score, last.blob, last.display_name)

    before, after = await in_thread(read_again)
    assert before == ("Erin Q. Example", 42)
    assert after == (-7, -7, None, "Erin Q. Example")


@pytest_twisted.ensureDeferred
async def test_message_properties_kept_beside_the_message(either, registered):
    server = either

    def run():
        from exchangelib import Message
        from exchangelib.folders import Folder

        acc = account(server)
        draft = Message(account=acc, folder=acc.drafts, subject="With properties",
                        body="hello", project_code="M-1", labels=["l1", "l2"], score=5)
        draft.save()
        plain = Message(account=acc, folder=acc.drafts, subject="Without", body="hello")
        plain.save()
        got = acc.drafts.get(id=draft.id)
        read = (got.project_code, got.labels, got.score, got.reviewed)
        listed = {m.subject: (m.project_code, m.score)
                  for m in acc.drafts.all().only("subject", "project_code", "score")}
        synced = {m.subject: m.labels for _kind, m in acc.drafts.sync_items(only_fields=["subject", "labels"])}
        got.project_code = "M-2"
        got.score = None
        got.is_read = False
        got.save(update_fields=["project_code", "score", "is_read"])
        changed = acc.drafts.get(id=draft.id)
        updated = (changed.project_code, changed.labels, changed.score, changed.is_read)
        target = Folder(parent=acc.inbox, name="Kept")
        target.save()
        changed.move(target)
        moved = target.get(subject="With properties")
        from exchangelib import Mailbox

        Message(account=acc, folder=acc.sent, subject="Sent one", body="hi", project_code="S-1",
                to_recipients=[Mailbox(email_address=OTHER)]).send_and_save()
        sent = acc.sent.get(subject="Sent one")
        return read, listed, synced, updated, (moved.project_code, moved.labels), sent.project_code

    read, listed, synced, updated, moved, sent = await in_thread(run)
    assert sent == "S-1"
    assert read == ("M-1", ["l1", "l2"], 5, None)
    assert listed == {"With properties": ("M-1", 5), "Without": (None, None)}
    assert synced == {"With properties": ["l1", "l2"], "Without": None}
    assert updated == ("M-2", ["l1", "l2"], None, False)
    assert moved == ("M-2", ["l1", "l2"])


@pytest_twisted.ensureDeferred
async def test_folder_properties(either, registered):
    server = either

    def run():
        from exchangelib.folders import Folder

        acc = account(server)
        folder = Folder(parent=acc.inbox, name="Projects", project_code="F-1")
        folder.save()
        other = Folder(parent=acc.inbox, name="Other")
        other.save()
        read = acc.root.get_folder(folder).project_code
        listed = {f.name: f.project_code for f in acc.inbox.children}
        folder.project_code = "F-2"
        folder.save(update_fields=["project_code"])
        changed = acc.root.get_folder(folder).project_code
        folder.project_code = None
        folder.save(update_fields=["project_code"])
        gone = acc.root.get_folder(folder).project_code
        return read, listed, changed, gone

    read, listed, changed, gone = await in_thread(run)
    assert read == "F-1"
    assert listed["Projects"] == "F-1" and listed["Other"] is None
    assert (changed, gone) == ("F-2", None)


@pytest_twisted.ensureDeferred
async def test_bad_properties_are_answered_with_their_codes(server):
    port = server.port("http")
    uri = '<t:ExtendedFieldURI PropertyTag="0x3A4F" PropertyType="Integer"/>'
    answer = await in_thread(call, port, "CreateItem", f"""<m:SavedItemFolderId><t:DistinguishedFolderId Id="tasks"/>
        </m:SavedItemFolderId><m:Items>
        <t:Task><t:Subject>a</t:Subject><t:ExtendedProperty>{uri}<t:Value>twelve</t:Value></t:ExtendedProperty></t:Task>
        <t:Task><t:Subject>b</t:Subject><t:ExtendedProperty><t:ExtendedFieldURI PropertyTag="0x8001"
          PropertyType="String"/><t:Value>x</t:Value></t:ExtendedProperty></t:Task>
        <t:Task><t:Subject>c</t:Subject><t:ExtendedProperty><t:ExtendedFieldURI PropertyName="n"
          PropertyType="String"/><t:Value>x</t:Value></t:ExtendedProperty></t:Task>
        <t:Task><t:Subject>d</t:Subject><t:ExtendedProperty>{uri}<t:Values><t:Value>1</t:Value></t:Values>
          </t:ExtendedProperty></t:Task>
        <t:Task><t:Subject>e</t:Subject><t:ExtendedProperty>{uri}<t:Value>12</t:Value></t:ExtendedProperty></t:Task>
        </m:Items>""")
    assert codes(answer) == ["ErrorInvalidExtendedPropertyValue", "ErrorInvalidExtendedProperty",
                             "ErrorInvalidExtendedProperty", "ErrorInvalidExtendedPropertyValue", "NoError"]


@pytest_twisted.ensureDeferred
async def test_well_known_message_tags_are_its_flags(server):
    from exchangelib import Message
    from exchangelib.extended_properties import ExtendedProperty, Flag

    class MessageFlags(ExtendedProperty):
        property_tag = 0x0E07
        property_type = "Integer"

    class LastVerb(ExtendedProperty):
        property_tag = 0x1081
        property_type = "Integer"

    wanted = {"flag_status": Flag, "message_flags": MessageFlags, "last_verb": LastVerb}
    for name, cls in wanted.items():
        Message.register(name, cls)
    try:
        def run():
            acc = account(server)
            draft = Message(account=acc, folder=acc.drafts, subject="Tagged", body="x")
            draft.save()
            got = acc.drafts.get(id=draft.id)
            before = (got.flag_status, got.message_flags, got.last_verb)
            got.flag_status = 2
            got.last_verb = 104
            got.message_flags = 0x1
            got.save(update_fields=["flag_status", "last_verb", "message_flags"])
            after = acc.drafts.get(id=draft.id)
            return before, (after.flag_status, after.message_flags, after.last_verb, after.is_read)

        before, after = await in_thread(run)
    finally:
        for name in wanted:
            Message.deregister(name)
    assert before == (None, 0x8, None)  # unsent, not read (exchangelib says IsRead false)
    assert after == (2, 0x1 | 0x8, 104, True)
    box = await server.mailbox("Drafts")
    [info] = await box.messages(None)
    assert {"\\Flagged", "$Forwarded", "\\Draft", "\\Seen"} <= set(info.flags)
    # Nothing was kept beside the message for these.
    settings = getattr(server.store, "settings", None)
    assert settings is None or await settings.get(USER, f"ews:xprop:m:{box.id}") is None


SCRAMBLED_URIS = [
    '<t:ExtendedFieldURI/>',
    '<t:ExtendedFieldURI PropertyType="Nope" PropertyTag="0x1"/>',
    '<t:ExtendedFieldURI PropertyType="String" PropertyTag="zz"/>',
    '<t:ExtendedFieldURI PropertyType="String" PropertyTag="0x1ffff"/>',
    '<t:ExtendedFieldURI PropertyType="String" PropertySetId="not-a-guid" PropertyName="a"/>',
    '<t:ExtendedFieldURI PropertyType="String" DistinguishedPropertySetId="Nope" PropertyId="1"/>',
    '<t:ExtendedFieldURI PropertyType="String" DistinguishedPropertySetId="Common" PropertyId="1" PropertyName="a"/>',
    '<t:ExtendedFieldURI PropertyType="String" DistinguishedPropertySetId="Common" PropertyId="-5"/>',
    '<t:ExtendedFieldURI PropertyType="String" DistinguishedPropertySetId="Common" PropertyName=""/>',
]


@pytest_twisted.ensureDeferred
async def test_scrambled_extended_properties_are_client_errors(server):
    port = server.port("http")

    def run():
        out = []

        def codes_of(answer):
            return codes(answer) if answer.payload is not None else []

        for uri in SCRAMBLED_URIS:
            shape = (f"<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>{uri}"
                     "</t:AdditionalProperties></m:ItemShape>")
            answer = call(port, "FindItem", shape + '<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/>'
                          "</m:ParentFolderIds>")
            out.append(("FindItem", answer.fault_code, codes_of(answer)))
            folder_shape = shape.replace("ItemShape", "FolderShape")
            answer = call(port, "GetFolder", folder_shape + '<m:FolderIds><t:DistinguishedFolderId Id="inbox"/>'
                          "</m:FolderIds>")
            out.append(("GetFolder", answer.fault_code, codes_of(answer)))
            for body in ("", "<t:Value>1</t:Value>", "<t:Values><t:Value>1</t:Value></t:Values>"):
                answer = call(port, "CreateItem", '<m:Items><t:Contact><t:DisplayName>x</t:DisplayName>'
                              f"<t:ExtendedProperty>{uri}{body}</t:ExtendedProperty></t:Contact></m:Items>")
                out.append(("CreateItem", answer.fault_code, codes_of(answer)))
                answer = call(port, "CreateFolder", '<m:ParentFolderId><t:DistinguishedFolderId Id="inbox"/>'
                              '</m:ParentFolderId><m:Folders><t:Folder><t:DisplayName>s</t:DisplayName>'
                              f"<t:ExtendedProperty>{uri}{body}</t:ExtendedProperty></t:Folder></m:Folders>")
                out.append(("CreateFolder", answer.fault_code, codes_of(answer)))
                answer = call(port, "UpdateFolder", '<m:FolderChanges><t:FolderChange>'
                              '<t:DistinguishedFolderId Id="inbox"/><t:Updates><t:SetFolderField>'
                              f"{uri}<t:Folder><t:ExtendedProperty>{uri}{body}</t:ExtendedProperty></t:Folder>"
                              "</t:SetFolderField></t:Updates></t:FolderChange></m:FolderChanges>")
                out.append(("UpdateFolder", answer.fault_code, codes_of(answer)))
        return out

    for name, fault, answered in await in_thread(run):
        assert "ErrorInternalServerError" not in (fault, *answered), name
        assert fault is not None or (answered and "NoError" not in answered), (name, answered)
