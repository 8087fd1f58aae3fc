"""exchangelib against a real server over a real SQLite store: the version it guesses,
the folder tree and the distinguished folders, FindItem paging and GetItem bodies."""

from __future__ import annotations

import pytest_twisted

from smsync.model import FlagMode, UIDSet
from smsync.testing.servers import USER, in_thread, numbered_message
from tests.protocols.ews.ews_support import account

HTML_MESSAGE = (b"From: Carol <carol@example.net>\r\nTo: alice@example.org\r\n"
                b"Cc: Dave <dave@example.net>\r\nSubject: =?utf-8?q?caf=C3=A9?= news\r\n"
                b"Message-ID: <html1@example.net>\r\nMIME-Version: 1.0\r\n"
                b"Content-Type: multipart/alternative; boundary=b\r\n\r\n"
                b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain caf\xc3\xa9\r\n"
                b"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>html caf\xc3\xa9</p>\r\n--b--\r\n")


@pytest_twisted.ensureDeferred
async def test_version_guess_and_the_folder_tree(server):
    def client():
        acc = account(server)
        assert acc.version.api_version == "Exchange2016"
        names = {f.name: f.__class__.__name__ for f in acc.root.walk()}
        assert names["Inbox"] == "Inbox" and names["Calendar"] == "Calendar"
        assert names["Contacts"] == "Contacts" and names["Tasks"] == "Tasks"
        assert names["Deleted Items"] == "DeletedItems" and names["Sent Items"] == "SentItems"
        for attribute in ("msg_folder_root", "inbox", "sent", "drafts", "trash", "junk", "outbox",
                          "calendar", "contacts", "tasks", "notes"):
            assert getattr(acc, attribute).id, attribute
        # Shallow: the children of the message folder root only.
        top = {f.name for f in acc.msg_folder_root.children}
        assert {"Inbox", "Outbox", "Calendar"} <= top
        return acc.inbox.id

    inbox_id = await in_thread(client)
    # Ids are stable: a second session (and a restart) names the Inbox the same way.
    assert await in_thread(lambda: account(server).inbox.id) == inbox_id


@pytest_twisted.ensureDeferred
async def test_the_version_asked_for_is_honoured(server):
    def client():
        acc = account(server, version=(8, 3))
        assert acc.version.api_version == "Exchange2007_SP1"
        return acc.inbox.total_count

    assert await in_thread(client) == 0


@pytest_twisted.ensureDeferred
async def test_find_item_pages_and_sorts(server):
    await server.deliver(*(numbered_message(n) for n in range(1, 26)))
    box = await server.mailbox()
    await box.store_flags(UIDSet.of([3, 4]), FlagMode.ADD, ["\\Seen"])

    def client():
        acc = account(server)
        inbox = acc.inbox
        assert inbox.total_count == 25 and inbox.unread_count == 23
        # Pages of 10 (IndexedPageItemView), newest first by default.
        qs = inbox.all().only("subject", "is_read", "datetime_received", "sender")
        qs.page_size = 10
        items = list(qs)
        assert [i.subject for i in items] == [f"message {n}" for n in range(25, 0, -1)]
        assert {i.subject for i in items if i.is_read} == {"message 3", "message 4"}
        assert all(i.sender.email_address == "sender@example.net" for i in items)
        assert items[0].datetime_received is not None
        by_subject = [i.subject for i in inbox.all().order_by("subject").only("subject")[:3]]
        assert by_subject == ["message 1", "message 10", "message 11"]
        assert inbox.filter(is_read=False).count() == 23
        assert [i.subject for i in inbox.filter(subject="message 7")] == ["message 7"]
        assert inbox.filter(subject__contains="message 1").count() == 11

    await in_thread(client)


@pytest_twisted.ensureDeferred
async def test_get_item_bodies_and_mime(server):
    await server.deliver(HTML_MESSAGE)

    def client():
        acc = account(server)
        item = acc.inbox.all()[0]
        assert item.subject == "café news"
        assert "html café" in item.body and item.body.__class__.__name__ == "HTMLBody"
        assert item.text_body.strip() == "plain café"
        assert item.mime_content == HTML_MESSAGE
        assert item.message_id == "<html1@example.net>"
        assert item.author.name == "Carol" and [r.email_address for r in item.cc_recipients] == ["dave@example.net"]
        assert [r.email_address for r in item.to_recipients] == [USER]
        assert item.is_read is False

    await in_thread(client)


WITH_FILE = (b"From: carol@example.net\r\nTo: alice@example.org\r\nSubject: the report\r\n"
             b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n"
             b"--z\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
             b"--z\r\nContent-Type: application/pdf; name=report.pdf\r\n"
             b"Content-Disposition: attachment; filename=report.pdf\r\n"
             b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfsj6IKdHJ1bmNhdGVk\r\n--z--\r\n")


@pytest_twisted.ensureDeferred
async def test_attachments_listed_and_read(server):
    await server.deliver(WITH_FILE)

    def client():
        acc = account(server)
        item = acc.inbox.all()[0]
        full = acc.inbox.get(id=item.id)
        [attachment] = full.attachments
        return full.has_attachments, attachment.name, attachment.content_type, attachment.content

    has, name, kind, content = await in_thread(client)
    assert has is True and name == "report.pdf" and kind == "application/pdf"
    assert content == b"%PDF-1.4\n%\xc7\xec\x8f\xa2\ntruncated"
