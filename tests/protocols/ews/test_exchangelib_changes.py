"""exchangelib changing messages: read and flag state (seen at once in the store, which
IMAP serves), ChangeKey conflicts, delete in its three kinds, move and copy, drafts and
imports saved with CreateItem, and mail sent to another account of the server."""

from __future__ import annotations

import pytest_twisted

from smsync.testing.servers import OTHER, USER, in_thread, numbered_message
from tests.protocols.ews.ews_support import account


async def flags_of(server, folder="INBOX", user=USER):
    box = await server.mailbox(folder, user)
    return {info.uid: set(info.flags) for info in await box.messages(None)}


@pytest_twisted.ensureDeferred
async def test_read_flag_and_categories_reach_the_store(server):
    [uid] = await server.deliver(numbered_message(1))

    def client():
        acc = account(server)
        item = acc.inbox.all()[0]
        first_key = item.changekey
        item.is_read = True
        item.save(update_fields=["is_read"])
        assert item.changekey != first_key
        item.categories = ["work", "later"]
        item.save(update_fields=["categories"])
        again = acc.inbox.get(id=item.id)
        assert again.is_read is True and sorted(again.categories) == ["later", "work"]
        return first_key

    await in_thread(client)
    assert (await flags_of(server))[uid] == {"\\Seen", "work", "later"}

    def unread():
        acc = account(server)
        item = acc.inbox.all()[0]
        item.is_read = False
        item.categories = []
        item.save(update_fields=["is_read", "categories"])

    await in_thread(unread)
    assert (await flags_of(server))[uid] == set()


@pytest_twisted.ensureDeferred
async def test_a_stale_change_key_is_a_conflict(server):
    await server.deliver(numbered_message(1))

    def client():
        from exchangelib.errors import ErrorIrresolvableConflict
        from exchangelib.items import NEVER_OVERWRITE

        one, two = account(server), account(server)
        first = one.inbox.all()[0]
        second = two.inbox.all()[0]
        first.is_read = True
        first.save(update_fields=["is_read"])
        second.is_read = False
        try:
            second.save(update_fields=["is_read"], conflict_resolution=NEVER_OVERWRITE)
        except ErrorIrresolvableConflict:
            return "conflict"
        return "saved"

    assert await in_thread(client) == "conflict"
    assert list((await flags_of(server)).values()) == [{"\\Seen"}]


@pytest_twisted.ensureDeferred
async def test_delete_move_and_copy(server):
    await server.deliver(*(numbered_message(n) for n in range(1, 5)))

    def client():
        acc = account(server)
        by_subject = {i.subject: i for i in acc.inbox.all()}
        by_subject["message 1"].move_to_trash()
        by_subject["message 2"].soft_delete()
        by_subject["message 3"].delete()
        moved = by_subject["message 4"].copy(acc.junk)
        assert moved is not None
        acc.junk.all()[0].move(acc.sent)
        return ([i.subject for i in acc.inbox.all()], [i.subject for i in acc.trash.all()],
                [i.subject for i in acc.sent.all()], acc.junk.total_count)

    assert await in_thread(client) == (["message 4"], ["message 1"], ["message 4"], 0)
    assert len(await server.bodies(folder="Trash")) == 1


@pytest_twisted.ensureDeferred
async def test_create_item_saves_drafts_and_imports(server):
    raw = numbered_message(42)

    def client():
        from exchangelib import HTMLBody, Mailbox, Message

        acc = account(server)
        draft = Message(account=acc, folder=acc.drafts, subject="Ünïcode plans",
                        body=HTMLBody("<p>see you</p>"),
                        to_recipients=[Mailbox(email_address="bob@example.org", name="Bob")])
        draft.save()
        assert draft.id and draft.changekey
        imported = Message(account=acc, folder=acc.inbox, mime_content=raw, is_read=False)
        imported.save()
        got = acc.drafts.get(id=draft.id)
        return (got.subject, got.is_draft, got.body, [r.email_address for r in got.to_recipients],
                acc.inbox.get(id=imported.id).mime_content)

    subject, is_draft, body, to, mime = await in_thread(client)
    assert subject == "Ünïcode plans" and is_draft is True and "see you" in body
    assert to == ["bob@example.org"] and mime == raw
    # exchangelib sends IsRead false for a new message: it is honoured.
    assert [set(f) for f in (await flags_of(server, "Drafts")).values()] == [{"\\Draft"}]
    assert [set(f) for f in (await flags_of(server)).values()] == [set()]


@pytest_twisted.ensureDeferred
async def test_send_to_another_account(server):
    def client():
        from exchangelib import Mailbox, Message

        acc = account(server)
        Message(account=acc, folder=acc.sent, subject="hello bob", body="hi",
                to_recipients=[Mailbox(email_address=OTHER)]).send_and_save()
        return [i.subject for i in acc.sent.all()]

    assert await in_thread(client) == ["hello bob"]
    [received] = await server.bodies(user=OTHER)
    assert b"Subject: hello bob" in received and b"hi" not in received.split(b"\r\n\r\n")[0]


@pytest_twisted.ensureDeferred
async def test_a_saved_draft_is_sent_and_junk_is_marked(server):
    await server.deliver(numbered_message(5))

    def client():
        from exchangelib import Mailbox, Message

        acc = account(server)
        draft = Message(account=acc, folder=acc.drafts, subject="draft to bob", body="later",
                        to_recipients=[Mailbox(email_address=OTHER)],
                        bcc_recipients=[Mailbox(email_address="hidden@example.org")])
        draft.save()
        draft.send()  # an item with an id: SendItem
        item = acc.inbox.all()[0]
        item.mark_as_junk(is_junk=True, move_item=True)
        return acc.drafts.total_count, [i.subject for i in acc.sent.all()], acc.junk.total_count

    drafts, sent, junk = await in_thread(client)
    assert (drafts, sent, junk) == (0, ["draft to bob"], 1)
    [received] = await server.bodies(user=OTHER)
    assert b"Subject: draft to bob" in received and b"hidden@example.org" not in received
    [copy] = await server.bodies(folder="Sent")
    assert b"hidden@example.org" in copy  # the sender's own copy keeps Bcc
    assert [set(f) for f in (await flags_of(server, "Junk")).values()] == [{"$Junk"}]
