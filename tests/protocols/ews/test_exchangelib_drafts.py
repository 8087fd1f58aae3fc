"""exchangelib editing a message's content with UpdateItem: a draft saved, then its
subject, body (text and HTML), recipients and importance changed with
``save(update_fields=...)`` on the same object, then sent -- each change a new stored
message in place of the old (IMAP sees one draft, the latest), the id exchangelib holds
working throughout; append and delete of fields; a received message's subject changed
(its attachment kept byte for byte) but not its recipients; a full save of an unchanged
message rewriting nothing; ChangeKey conflicts."""

from __future__ import annotations

import imaplib

import pytest
import pytest_twisted

from smsync.formats.message import parse_message
from smsync.protocols.ews.messages import body_of
from smsync.testing.servers import OTHER, PASSWORD, USER, in_thread
from smsync.protocols.ews import soap
from tests.protocols.ews.ews_support import account, call, codes, operation, post, start, stop


def update(port: int, xml: str, **attributes):
    """An UpdateItem with ``attributes`` (``call`` sets none)."""
    request = operation("UpdateItem", xml)
    for name, value in attributes.items():
        request.set(name, value)
    _status, _headers, payload = post(port, soap.request_envelope(request, soap.LATEST))
    return soap.read_response(payload)


def never_overwrite(port: int, xml: str):
    return update(port, xml, ConflictResolution="NeverOverwrite")


async def _uids_and_flags(server, folder="Drafts", user=USER):
    box = await server.mailbox(folder, user)
    return {info.uid: set(info.flags) for info in await box.messages(None)}


def _text(raw: bytes, kind: str = "Best"):
    return body_of(parse_message(raw), raw, kind)


@pytest_twisted.ensureDeferred
async def test_edit_a_draft_several_times_then_send_it(server):
    def edit():
        from exchangelib import HTMLBody, Mailbox, Message

        acc = account(server)
        draft = Message(account=acc, folder=acc.drafts, subject="first", body="first body",
                        to_recipients=[Mailbox(email_address="nobody@example.org")])
        draft.save()
        first_id = draft.id
        draft.subject = "second \u00fcmlaut"
        draft.save(update_fields=["subject"])
        draft.body = "plain second"
        draft.save(update_fields=["body"])
        draft.body = HTMLBody("<html><body><p>final <b>HTML</b> body</p></body></html>")
        draft.to_recipients = [Mailbox(email_address=OTHER, name="Other One")]
        draft.cc_recipients = [Mailbox(email_address="cc@example.org")]
        draft.importance = "High"
        draft.save(update_fields=["body", "to_recipients", "cc_recipients", "importance"])
        draft.subject = "final subject"
        draft.save(update_fields=["subject"])
        assert draft.id == first_id  # exchangelib itself checks every answer's id
        got = acc.drafts.get(id=first_id)
        seen = (got.subject, str(got.body), [m.email_address for m in got.to_recipients],
                [m.email_address for m in got.cc_recipients], got.importance, got.is_draft)
        return draft, seen

    draft, seen = await in_thread(edit)
    assert seen == ("final subject", "<html><body><p>final <b>HTML</b> body</p></body></html>",
                    [OTHER], ["cc@example.org"], "High", True)
    # IMAP: one draft, the latest, still a draft.
    [stored] = await server.bodies(folder="Drafts")
    assert list((await _uids_and_flags(server)).values()) == [{"\\Draft"}]
    structure = parse_message(stored)
    assert structure.subject == "final subject"
    assert [a.email for a in structure.envelope.to] == [OTHER]
    assert b"Importance: high" in stored
    assert _text(stored) == ("HTML", "<html><body><p>final <b>HTML</b> body</p></body></html>")

    def full_save_then_send():
        # A save of every field, none changed, stores nothing anew.
        draft.save()
        draft.send()

    await in_thread(full_save_then_send)
    assert await server.bodies(folder="Drafts") == []
    [received] = await server.bodies(user=OTHER)
    got = parse_message(received)
    assert got.subject == "final subject" and b"cc@example.org" in received
    assert "final <b>HTML</b> body" in _text(received)[1]
    [sent] = await server.bodies(folder="Sent")
    assert parse_message(sent).subject == "final subject"


@pytest_twisted.ensureDeferred
async def test_a_full_save_of_an_unchanged_message_rewrites_nothing(server):
    def make():
        from exchangelib import HTMLBody, Mailbox, Message

        acc = account(server)
        draft = Message(account=acc, folder=acc.drafts, subject="kept", body=HTMLBody("<p>kept</p>"),
                        to_recipients=[Mailbox(email_address="a@example.org", name="A")],
                        is_read_receipt_requested=True)
        draft.save()
        return acc, draft.id

    acc, item_id = await in_thread(make)
    [uid] = await _uids_and_flags(server)

    def save():
        got = acc.drafts.get(id=item_id)
        got.save()  # every field exchangelib holds, as it got them
        got.is_read = True
        got.save()  # a flag change only
        return got.is_read_receipt_requested

    assert await in_thread(save) is True  # CreateItem wrote it (Disposition-Notification-To)
    assert await _uids_and_flags(server) == {uid: {"\\Draft", "\\Seen"}}


@pytest_twisted.ensureDeferred
async def test_append_and_delete_fields(server):
    def edit():
        from exchangelib import Mailbox, Message

        acc = account(server)
        draft = Message(account=acc, folder=acc.drafts, subject="to delete", body="start.",
                        to_recipients=[Mailbox(email_address="a@example.org")],
                        cc_recipients=[Mailbox(email_address="c@example.org")])
        draft.save()
        answer = call(server.portno, "UpdateItem", f"""
            <m:ItemChanges><t:ItemChange><t:ItemId Id="{draft.id}" ChangeKey="{draft.changekey}"/><t:Updates>
              <t:AppendToItemField><t:FieldURI FieldURI="item:Body"/>
                <t:Message><t:Body BodyType="Text"> and more.</t:Body></t:Message></t:AppendToItemField>
              <t:AppendToItemField><t:FieldURI FieldURI="message:ToRecipients"/>
                <t:Message><t:ToRecipients><t:Mailbox><t:EmailAddress>b@example.org</t:EmailAddress></t:Mailbox>
                </t:ToRecipients></t:Message></t:AppendToItemField>
              <t:DeleteItemField><t:FieldURI FieldURI="item:Subject"/></t:DeleteItemField>
              <t:DeleteItemField><t:FieldURI FieldURI="message:CcRecipients"/></t:DeleteItemField>
              <t:SetItemField><t:FieldURI FieldURI="message:IsReadReceiptRequested"/>
                <t:Message><t:IsReadReceiptRequested>true</t:IsReadReceiptRequested></t:Message></t:SetItemField>
              <t:SetItemField><t:FieldURI FieldURI="item:Sensitivity"/>
                <t:Message><t:Sensitivity>Private</t:Sensitivity></t:Message></t:SetItemField>
            </t:Updates></t:ItemChange></m:ItemChanges>""", version="Exchange2013")
        assert codes(answer) == ["NoError"]
        [item_id] = [n.get("Id") for n in answer.payload.iter("{*}ItemId")]
        assert item_id == draft.id  # the id the client sent
        got = acc.drafts.get(id=draft.id)
        return (got.subject, got.body, [m.email_address for m in got.to_recipients], got.cc_recipients,
                got.is_read_receipt_requested, got.sensitivity)

    subject, body, to, cc, receipt, sensitivity = await in_thread(edit)
    assert (subject, body, to, cc, receipt, sensitivity) == (
        None, "start. and more.", ["a@example.org", "b@example.org"], None, True, "Private")
    [stored] = await server.bodies(folder="Drafts")
    assert b"Disposition-Notification-To: " + USER.encode() in stored
    assert b"Sensitivity: Private" in stored and b"\r\nSubject:" not in stored


RECEIVED = (b"From: Carol <carol@example.net>\r\nTo: " + USER.encode() + b"\r\n"
            b"Subject: report\r\nMessage-ID: <r1@example.net>\r\nReferences: <r0@example.net>\r\n"
            b"X-Custom: kept\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
            b"--b1\r\nContent-Type: text/plain\r\n\r\nHere it is.\r\n"
            b"--b1\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\n"
            b"Content-Disposition: attachment; filename=\"report.pdf\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfs\r\n--b1--\r\n")


@pytest_twisted.ensureDeferred
async def test_a_received_message(server):
    [uid] = await server.deliver(RECEIVED)

    def edit():
        from exchangelib import Mailbox
        from exchangelib.errors import ErrorInvalidPropertyUpdateSentMessage

        acc = account(server)
        item = acc.inbox.get(subject="report")
        item.is_read = True
        item.save()  # every field, only IsRead changed: no rewrite
        item.subject = "[filed] report"
        item.save(update_fields=["subject"])
        # Recipients are fixed once a message is not a draft (exchangelib would not
        # even send them; a raw request is refused).
        refused = call(server.portno, "UpdateItem", f"""
            <m:ItemChanges><t:ItemChange><t:ItemId Id="{item.id}"/><t:Updates>
              <t:SetItemField><t:FieldURI FieldURI="message:ToRecipients"/>
                <t:Message><t:ToRecipients><t:Mailbox><t:EmailAddress>x@example.org</t:EmailAddress></t:Mailbox>
                </t:ToRecipients></t:Message></t:SetItemField>
            </t:Updates></t:ItemChange></m:ItemChanges>""")
        item.to_recipients = [Mailbox(email_address="x@example.org")]
        try:
            item.save(update_fields=["to_recipients"])
            raised = None
        except ErrorInvalidPropertyUpdateSentMessage as e:
            raised = type(e).__name__
        return codes(refused), raised, acc.inbox.get(id=item.id).subject

    refused, raised, subject = await in_thread(edit)
    assert refused == ["ErrorInvalidPropertyUpdateSentMessage"] and raised
    assert subject == "[filed] report"
    flags = await _uids_and_flags(server, "INBOX")
    assert list(flags.values()) == [{"\\Seen"}] and uid not in flags
    [stored] = await server.bodies()
    assert stored == RECEIVED.replace(b"Subject: report", b"Subject: [filed] report")


@pytest_twisted.ensureDeferred
async def test_conflicts_and_bad_values(server):
    def edit():
        from exchangelib import Message

        acc = account(server)
        draft = Message(account=acc, folder=acc.drafts, subject="v1", body="b")
        draft.save()
        old_key = draft.changekey
        draft.subject = "v2"
        draft.save(update_fields=["subject"])

        def change(key, field, value):
            return codes(never_overwrite(
                server.portno,
                f'<m:ItemChanges><t:ItemChange><t:ItemId Id="{draft.id}" ChangeKey="{key}"/><t:Updates>'
                f'<t:SetItemField><t:FieldURI FieldURI="{field}"/><t:Message>{value}</t:Message>'
                '</t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges>'))

        stale = change(old_key, "item:Subject", "<t:Subject>v3</t:Subject>")
        importance = change(draft.changekey, "item:Importance", "<t:Importance>Huge</t:Importance>")
        mime = change(draft.changekey, "item:MimeContent", "<t:MimeContent>!!</t:MimeContent>")
        address = change(draft.changekey, "message:ToRecipients",
                         "<t:ToRecipients><t:Mailbox><t:EmailAddress>nope</t:EmailAddress></t:Mailbox></t:ToRecipients>")
        return stale, importance, mime, address, acc.drafts.get(id=draft.id).subject

    stale, importance, mime, address, subject = await in_thread(edit)
    assert stale == ["ErrorIrresolvableConflict"]
    assert importance == ["ErrorSchemaValidation"] and mime == ["ErrorMimeContentInvalid"]
    assert address == ["ErrorInvalidRecipients"]
    assert subject == "v2"


@pytest_twisted.ensureDeferred
async def test_mime_content_of_a_draft_is_replaced(server):
    new = (b"From: " + USER.encode() + b"\r\nTo: z@example.org\r\nSubject: from MIME\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nwhole new\r\n")

    def edit():
        from exchangelib import Message

        acc = account(server)
        draft = Message(account=acc, folder=acc.drafts, subject="old", body="b")
        draft.save()
        draft.mime_content = new
        draft.save(update_fields=["mime_content"])
        got = acc.drafts.get(id=draft.id)
        return got.subject, got.mime_content

    subject, mime = await in_thread(edit)
    assert subject == "from MIME" and mime == new
    assert await server.bodies(folder="Drafts") == [new]


@pytest_twisted.ensureDeferred
async def test_send_and_save_of_a_saved_draft_updates_then_sends(server):
    def edit_and_send():
        from exchangelib import Mailbox, Message

        acc = account(server)
        draft = Message(account=acc, folder=acc.drafts, subject="before", body="text",
                        to_recipients=[Mailbox(email_address=OTHER)])
        draft.save()
        draft.subject = "after"
        # UpdateItem with MessageDisposition SendAndSaveCopy.
        draft.send_and_save(update_fields=["subject"])
        return acc.drafts.total_count, [i.subject for i in acc.sent.all()]

    assert await in_thread(edit_and_send) == (0, ["after"])
    [received] = await server.bodies(user=OTHER)
    assert parse_message(received).subject == "after"


@pytest.fixture
def project_code():
    from exchangelib import Message
    from exchangelib.extended_properties import ExtendedProperty

    class ProjectCode(ExtendedProperty):
        property_set_id = "c11ff724-aa03-4555-9952-8fa248a11c3e"
        property_name = "Project Code"
        property_type = "String"

    Message.register("project_code", ProjectCode)
    yield
    Message.deregister("project_code")


@pytest_twisted.ensureDeferred
async def test_extended_properties_survive_content_changes(server, project_code):
    def client():
        from exchangelib import Message

        acc = account(server)
        draft = Message(account=acc, folder=acc.drafts, subject="one", body="b", project_code="P-1")
        draft.save()
        draft.subject = "two"
        draft.save(update_fields=["subject"])
        first = acc.drafts.get(id=draft.id).project_code
        draft.subject = "three"
        draft.project_code = "P-2"
        draft.save(update_fields=["subject", "project_code"])
        got = acc.drafts.get(id=draft.id)
        listed = [m.project_code for m in acc.drafts.all().only("subject", "project_code")]
        return first, (got.subject, got.project_code), listed

    assert await in_thread(client) == ("P-1", ("three", "P-2"), ["P-2"])


@pytest.fixture
def with_imap():
    running = start(("imap", "ews"))
    yield running
    stop(running)


@pytest_twisted.ensureDeferred
async def test_imap_sees_one_draft_with_the_latest_content(with_imap):
    server = with_imap

    def edit():
        from exchangelib import HTMLBody, Mailbox, Message

        acc = account(server)
        draft = Message(account=acc, folder=acc.drafts, subject="v1", body="one",
                        to_recipients=[Mailbox(email_address=OTHER)])
        draft.save()
        for n in (2, 3):
            draft.subject = f"v{n}"
            draft.body = HTMLBody(f"<p>body {n}</p>")
            draft.save(update_fields=["subject", "body"])

    def imap_reads():
        c = imaplib.IMAP4(server.host, server.port("imap"))
        c.login(USER, PASSWORD)
        c.select("Drafts", readonly=True)
        _typ, data = c.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
        c.logout()
        return [part for part in data if isinstance(part, tuple)]

    await in_thread(edit)
    [(meta, raw)] = await in_thread(imap_reads)
    assert b"\\Draft" in meta
    assert parse_message(raw).subject == "v3" and _text(raw) == ("HTML", "<p>body 3</p>")


@pytest_twisted.ensureDeferred
async def test_concurrent_saves_of_one_draft_leave_one_draft(server):
    from concurrent.futures import ThreadPoolExecutor

    def make():
        from exchangelib import Message

        acc = account(server)
        draft = Message(account=acc, folder=acc.drafts, subject="s0", body="b")
        draft.save()
        return draft.id

    item_id = await in_thread(make)

    def save(n):
        return codes(call(server.portno, "UpdateItem",
                          f'<m:ItemChanges><t:ItemChange><t:ItemId Id="{item_id}"/><t:Updates>'
                          f'<t:SetItemField><t:FieldURI FieldURI="item:Subject"/><t:Message>'
                          f'<t:Subject>s{n}</t:Subject></t:Message></t:SetItemField></t:Updates>'
                          '</t:ItemChange></m:ItemChanges>'))

    def race():
        with ThreadPoolExecutor(4) as pool:
            return list(pool.map(save, range(1, 13)))

    results = await in_thread(race)
    # Each save is made to the draft as it is when it is stored: never a second copy.
    assert results == [["NoError"]] * 12
    assert len(await server.bodies(folder="Drafts")) == 1


@pytest_twisted.ensureDeferred
async def test_update_then_send_with_a_saved_item_folder(server):
    def client():
        from exchangelib import Mailbox, Message

        acc = account(server)
        draft = Message(account=acc, folder=acc.drafts, subject="draft", body="b",
                        to_recipients=[Mailbox(email_address=OTHER)])
        draft.save()
        answer = update(server.portno, f"""
            <m:SavedItemFolderId><t:DistinguishedFolderId Id="inbox"/></m:SavedItemFolderId>
            <m:ItemChanges><t:ItemChange><t:ItemId Id="{draft.id}"/><t:Updates>
              <t:SetItemField><t:FieldURI FieldURI="item:Subject"/>
                <t:Message><t:Subject>sent from an update</t:Subject></t:Message></t:SetItemField>
            </t:Updates></t:ItemChange></m:ItemChanges>""", MessageDisposition="SendAndSaveCopy")
        return codes(answer), acc.drafts.total_count, [i.subject for i in acc.inbox.all()], acc.sent.total_count

    assert await in_thread(client) == (["NoError"], 0, ["sent from an update"], 0)
    [received] = await server.bodies(user=OTHER)
    assert parse_message(received).subject == "sent from an update"
