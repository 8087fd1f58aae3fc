"""exchangelib and item attachments (an attached message, EWS's ItemAttachment): added
by CreateAttachment (by its fields or its MIME content) or with the item CreateItem
saves or sends, stored as a message/rfc822 part every protocol sees, listed by GetItem
as an ItemAttachment and read by GetAttachment with the inner message (and its MIME
content); a delivered message's forwarded message is one too; removed by
DeleteAttachment."""

from __future__ import annotations

import pytest_twisted

from smsync.formats.message import parse_message
from smsync.protocols.ews import attachments
from smsync.testing.servers import OTHER, USER, in_thread
from tests.protocols.ews.ews_support import account, call, codes


def _rfc822_parts(raw: bytes) -> list:
    """``(name, inner bytes)`` of the message/rfc822 attachments of stored bytes."""
    return [(attachments._name(part, path), raw[part.body_start:part.body_end])
            for path, part in attachments.parts(parse_message(raw).root) if part.mime_type == "message/rfc822"]


@pytest_twisted.ensureDeferred
async def test_attach_a_message_to_a_draft_and_read_it_back(server):
    def client():
        from exchangelib import FileAttachment, ItemAttachment, Message

        acc = account(server)
        draft = Message(account=acc, folder=acc.drafts, subject="outer", body="see the attached message")
        draft.save()
        draft.attach(ItemAttachment(name="fwd", item=Message(subject="inner subject", body="inner body")))
        draft.attach(FileAttachment(name="a.txt", content=b"file"))
        fetched = acc.drafts.get(id=draft.id)
        item, file = fetched.attachments
        kinds = (type(item).__name__, type(file).__name__)
        inner = item.item
        return kinds, item.name, inner.subject, inner.body, inner.mime_content, file.content

    kinds, name, subject, body, mime, content = await in_thread(client)
    assert kinds == ("ItemAttachment", "FileAttachment") and name == "fwd"
    assert (subject, body, content) == ("inner subject", "inner body", b"file")
    assert parse_message(mime).subject == "inner subject"
    # The stored message, as IMAP serves it: a message/rfc822 part.
    [stored] = await server.bodies(folder="Drafts")
    [(stored_name, inner)] = _rfc822_parts(stored)
    assert stored_name == "fwd" and inner == mime.rstrip(b"\r\n")


FORWARD = (b"From: Carol <carol@example.net>\r\nTo: " + USER.encode() + b"\r\n"
           b"Subject: fyi\r\nMessage-ID: <f1@example.net>\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
           b"--b1\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n"
           b"--b1\r\nContent-Type: message/rfc822\r\n\r\n"
           b"From: Dave <dave@example.net>\r\nSubject: the original\r\nDate: Mon, 1 Jun 2026 10:00:00 +0000\r\n"
           b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>original <b>text</b></p>\r\n"
           b"--b1--\r\n")


@pytest_twisted.ensureDeferred
async def test_a_forwarded_message_is_an_item_attachment_and_is_removed(server):
    await server.deliver(FORWARD)

    def client():
        from exchangelib import HTMLBody

        acc = account(server)
        item = acc.inbox.get(subject="fyi")
        [attached] = item.attachments
        inner = attached.item
        seen = (type(attached).__name__, attached.name, inner.subject, inner.body,
                [m.email_address for m in [inner.author] if m], inner.datetime_sent.isoformat())
        assert isinstance(inner.body, HTMLBody)
        item.detach(attached)
        return seen, acc.inbox.get(subject="fyi").has_attachments

    seen, still = await in_thread(client)
    assert seen == ("ItemAttachment", "the original", "the original", "<p>original <b>text</b></p>",
                    ["dave@example.net"], "2026-06-01T10:00:00+00:00")
    assert still is False
    [stored] = await server.bodies()
    assert b"the original" not in stored and b"See below." in stored


@pytest_twisted.ensureDeferred
async def test_send_a_message_with_an_attached_message(server):
    await server.deliver(FORWARD)

    def client():
        from exchangelib import ItemAttachment, Mailbox, Message

        acc = account(server)
        original = acc.inbox.get(subject="fyi")
        # An existing item attached: exchangelib sends its fields (and MIME content).
        message = Message(account=acc, folder=acc.sent, subject="forwarding", body="below",
                          to_recipients=[Mailbox(email_address=OTHER)],
                          attachments=[ItemAttachment(name="the fyi", item=original)])
        message.send_and_save()

    await in_thread(client)
    [received] = await server.bodies(user=OTHER)
    [(name, inner)] = _rfc822_parts(received)
    assert name == "the fyi" and parse_message(inner).subject == "fyi"


@pytest_twisted.ensureDeferred
async def test_item_attachment_errors(server):
    def client():
        from exchangelib import Message

        acc = account(server)
        draft = Message(account=acc, folder=acc.drafts, subject="x", body="y")
        draft.save()
        event = call(server.portno, "CreateAttachment", f"""
            <m:ParentItemId Id="{draft.id}"/><m:Attachments><t:ItemAttachment><t:Name>e</t:Name>
            <t:CalendarItem><t:Subject>meeting</t:Subject></t:CalendarItem></t:ItemAttachment></m:Attachments>""")
        empty = call(server.portno, "CreateAttachment", f"""
            <m:ParentItemId Id="{draft.id}"/><m:Attachments><t:ItemAttachment><t:Name>e</t:Name>
            </t:ItemAttachment></m:Attachments>""")
        return codes(event), codes(empty), acc.drafts.get(id=draft.id).has_attachments

    event, empty, has = await in_thread(client)
    assert event == ["ErrorInvalidOperation"] and empty == ["ErrorSchemaValidation"] and has is False


@pytest_twisted.ensureDeferred
async def test_a_message_attached_to_itself_keeps_its_structure(server):
    await server.deliver(FORWARD)

    def client():
        from exchangelib import ItemAttachment

        acc = account(server)
        item = acc.inbox.get(subject="fyi")
        # Its own copy attached: the copy holds the message's own boundary.
        item.attach(ItemAttachment(name="itself", item=acc.inbox.get(subject="fyi")))
        again = acc.inbox.get(subject="fyi")
        return [(type(a).__name__, a.name) for a in again.attachments], again.attachments[1].item.subject

    listed, inner = await in_thread(client)
    assert listed == [("ItemAttachment", "the original"), ("ItemAttachment", "itself")] and inner == "fyi"
    [stored] = await server.bodies()
    assert [name for name, _inner in _rfc822_parts(stored)] == ["the original", "itself"]
