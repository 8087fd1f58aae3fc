"""exchangelib and file attachments of messages: listed by GetItem, read by
GetAttachment (from a delivered message too), added by CreateAttachment and removed by
DeleteAttachment -- each a rewrite of the stored RFC 5322 message that IMAP then
serves; ids stable across reads; the errors a client gets."""

from __future__ import annotations

import pytest_twisted
from twisted.internet.defer import ensureDeferred

from smsync.formats.bodytext import decode_transfer
from smsync.formats.message import parse_message
from smsync.protocols.ews import attachments, ids
from smsync.testing.servers import USER, in_thread
from tests.protocols.ews.ews_support import account, call, codes

def stored_attachments(raw: bytes) -> list:
    """``(name, content)`` of the attachments of stored bytes, as EWS lists them."""
    out = []
    for path, part in attachments.parts(parse_message(raw).root):
        out.append((attachments._name(part, path),
                    decode_transfer(raw[part.body_start:part.body_end], part.encoding), part))
    return out


DELIVERED = (b"From: Carol <carol@example.net>\r\nTo: " + USER.encode() + b"\r\n"
             b"Subject: report attached\r\nMessage-ID: <r1@example.net>\r\nMIME-Version: 1.0\r\n"
             b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
             b"--b1\r\nContent-Type: text/plain\r\n\r\nHere it is.\r\n"
             b"--b1\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\n"
             b"Content-Disposition: attachment; filename=\"report.pdf\"\r\n"
             b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfs\r\n"
             b"--b1\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename=\"data.csv\"\r\n"
             b"\r\na,b\r\n1,2\r\n--b1--\r\n")


@pytest_twisted.ensureDeferred
async def test_read_the_attachments_of_a_delivered_message(server):
    await server.deliver(DELIVERED)

    def client():
        acc = account(server)
        item = acc.inbox.get(subject="report attached")
        again = acc.inbox.get(subject="report attached")
        assert item.has_attachments
        assert [(a.name, a.content_type) for a in item.attachments] == [
            ("report.pdf", "application/pdf"), ("data.csv", "text/csv")]
        # The same ids on every read.
        assert [a.attachment_id.id for a in item.attachments] == [a.attachment_id.id for a in again.attachments]
        pdf, csv = item.attachments
        assert pdf.content == b"%PDF-1.4\n%\xc7\xec" and csv.content == b"a,b\r\n1,2"
        bad = call(server.portno, "GetAttachment",
                   '<m:AttachmentIds><t:AttachmentId Id="Zm9v"/></m:AttachmentIds>')
        assert codes(bad) == ["ErrorInvalidIdMalformed"]

    await in_thread(client)


@pytest_twisted.ensureDeferred
async def test_add_and_remove_attachments_of_a_draft(server):
    def add():
        from exchangelib import FileAttachment, Message

        acc = account(server)
        draft = Message(account=acc, folder=acc.drafts, subject="with files", body="see attached")
        draft.save()
        draft.attach(FileAttachment(name="notes.txt", content=b"first file\n"))
        fetched = acc.drafts.get(subject="with files")
        [notes] = fetched.attachments
        assert notes.name == "notes.txt" and notes.content == b"first file\n"
        fetched.attach(FileAttachment(name="r\u00e9sum\u00e9.bin", content=bytes(range(256))))
        fetched = acc.drafts.get(subject="with files")
        assert [a.name for a in fetched.attachments] == ["notes.txt", "r\u00e9sum\u00e9.bin"]
        assert fetched.attachments[1].content == bytes(range(256))
        assert fetched.body == "see attached" and fetched.is_draft
        fetched.detach(fetched.attachments[0])
        return [a.name for a in acc.drafts.get(subject="with files").attachments]

    assert await in_thread(add) == ["r\u00e9sum\u00e9.bin"]
    # The stored message, as IMAP serves it.
    [stored] = await server.bodies(folder="Drafts")
    [(name, content, _part)] = stored_attachments(stored)
    assert name == "r\u00e9sum\u00e9.bin" and content == bytes(range(256))
    assert b"see attached" in stored or b"c2VlIGF0dGFjaGVk" in stored
    box = await server.mailbox("Drafts")
    assert all("\\Draft" in i.flags for i in await box.messages(None))


@pytest_twisted.ensureDeferred
async def test_attachment_errors(server):
    from twisted.internet import reactor
    from twisted.internet.threads import blockingCallFromThread

    await server.deliver(DELIVERED)

    def server_deliver_again():
        blockingCallFromThread(reactor, lambda: ensureDeferred(server.deliver(DELIVERED)))

    def client():
        acc = account(server)
        item = acc.inbox.get(subject="report attached")
        port = server.portno
        message, _path = ids.parse_attachment_id(item.attachments[0].attachment_id.id)
        beyond = ids.attachment_id(message, "9")
        assert codes(call(port, "GetAttachment", f'<m:AttachmentIds><t:AttachmentId Id="{beyond}"/>'
                          '</m:AttachmentIds>')) == ["ErrorItemNotFound"]
        theirs = ids.attachment_id(ids.ItemRef("bob@example.org", message.kind, message.source,
                                               message.key), "2")
        assert codes(call(port, "DeleteAttachment", f'<m:AttachmentIds><t:AttachmentId Id="{theirs}"/>'
                          '</m:AttachmentIds>')) == ["ErrorAccessDenied"]
        not_base64 = call(port, "CreateAttachment",
                          f'<m:ParentItemId Id="{item.id}"/><m:Attachments><t:FileAttachment>'
                          '<t:Name>x</t:Name><t:Content>!!!</t:Content></t:FileAttachment></m:Attachments>')
        assert codes(not_base64) == ["ErrorSchemaValidation"]
        stale = call(port, "CreateAttachment",
                     f'<m:ParentItemId Id="{item.id}" ChangeKey="Q0sx"/><m:Attachments><t:FileAttachment>'
                     '<t:Name>x</t:Name><t:Content>eA==</t:Content></t:FileAttachment></m:Attachments>')
        assert codes(stale) == ["ErrorIrresolvableConflict"]
        # Two ids of one message and a bad one in one request: one rewrite for both.
        pdf, csv = (a.attachment_id.id for a in item.attachments)
        both = call(port, "DeleteAttachment", f'<m:AttachmentIds><t:AttachmentId Id="{pdf}"/>'
                    f'<t:AttachmentId Id="{beyond}"/><t:AttachmentId Id="{csv}"/></m:AttachmentIds>')
        assert codes(both) == ["NoError", "ErrorItemNotFound", "NoError"]
        roots = {node.get("RootItemId") for node in both.payload.iter("{*}RootItemId")}
        assert len(roots) == 1
        assert not acc.inbox.get(subject="report attached").has_attachments
        server_deliver_again()
        [item] = [i for i in acc.inbox.filter(subject="report attached") if i.has_attachments]
        # Deleting one of a delivered message's attachments keeps the rest byte for byte.
        item.detach(item.attachments[0])
        [left] = [i for i in acc.inbox.filter(subject="report attached") if i.has_attachments]
        assert [a.name for a in left.attachments] == ["data.csv"]

    await in_thread(client)
    stored = await server.bodies()
    assert DELIVERED.replace(
        b"\r\n--b1\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\n"
        b"Content-Disposition: attachment; filename=\"report.pdf\"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfs", b"") in stored


@pytest_twisted.ensureDeferred
async def test_new_messages_carry_their_attachments(server):
    from smsync.testing.servers import OTHER

    def client():
        from exchangelib import FileAttachment, Mailbox, Message

        acc = account(server)
        draft = Message(account=acc, folder=acc.drafts, subject="draft with file", body="b",
                        attachments=[FileAttachment(name="plan.txt", content=b"the plan")])
        draft.save()
        [plan] = acc.drafts.get(subject="draft with file").attachments
        assert plan.name == "plan.txt" and plan.content == b"the plan"
        Message(account=acc, folder=acc.sent, subject="sent with file", body="for bob",
                to_recipients=[Mailbox(email_address=OTHER)],
                attachments=[FileAttachment(name="photo.jpg", content=b"\xff\xd8\xff\xe0jpeg")]).send_and_save()

    await in_thread(client)
    [received] = await server.bodies(user=OTHER)
    [(name, content, part)] = stored_attachments(received)
    assert (name, content, part.mime_type) == ("photo.jpg", b"\xff\xd8\xff\xe0jpeg", "image/jpeg")
