"""Ids that outlive an attachment change: CreateAttachment and DeleteAttachment store
the message anew (a new UID), and the id a client already holds -- exchangelib keeps
``item.id`` and takes only the new ChangeKey -- still names the message, its answers
echo it, and the old message's attachment ids follow their attachments."""

from __future__ import annotations

import pytest_twisted

from smsync.protocols.ews import attachments, ids, successors
from smsync.testing.servers import USER, in_thread
from tests.protocols.ews.ews_support import account, call, codes

DELIVERED = (b"From: Carol <carol@example.net>\r\nTo: " + USER.encode() + b"\r\n"
             b"Subject: three files\r\nMessage-ID: <t1@example.net>\r\nMIME-Version: 1.0\r\n"
             b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
             b"--b1\r\nContent-Type: text/plain\r\n\r\nAll three.\r\n"
             b"--b1\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"a.txt\"\r\n"
             b"\r\nfile a\r\n"
             b"--b1\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"b.txt\"\r\n"
             b"\r\nfile b\r\n"
             b"--b1\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"c.txt\"\r\n"
             b"\r\nfile c\r\n--b1--\r\n")


@pytest_twisted.ensureDeferred
async def test_the_same_python_object_goes_on_after_attach_and_detach(server):
    def client():
        from exchangelib import FileAttachment, Message

        acc = account(server)
        msg = Message(account=acc, folder=acc.inbox, subject="kept id", body="hello")
        msg.save()
        first_id = msg.id
        notes = FileAttachment(name="notes.txt", content=b"some notes\n")
        msg.attach(notes)
        assert msg.id == first_id  # exchangelib keeps it; the ChangeKey is new
        # UpdateItem by the old id (and the new ChangeKey): answered with that id.
        msg.is_read = True
        msg.save(update_fields=["is_read"])
        # Two more files in one attach(): two CreateAttachments, two rewrites.
        more = [FileAttachment(name="one.bin", content=b"\x01"), FileAttachment(name="two.bin", content=b"\x02")]
        msg.attach(more)
        msg.refresh()  # GetItem by the old id: the id it answers is the one asked by
        assert msg.id == first_id and msg.is_read
        assert [a.name for a in msg.attachments] == ["notes.txt", "one.bin", "two.bin"]
        # Detach by ids issued before later rewrites.
        msg.detach(notes)
        fetched = acc.inbox.get(subject="kept id")
        assert [a.name for a in fetched.attachments] == ["one.bin", "two.bin"]
        again = list(acc.fetch(ids=[(first_id, None)]))[0]
        assert again.subject == "kept id" and again.is_read
        assert [a.content for a in again.attachments] == [b"\x01", b"\x02"]
        msg.refresh()
        msg.detach(msg.attachments[1])
        msg.refresh()
        assert [a.name for a in msg.attachments] == ["one.bin"] and msg.id == first_id
        msg.is_read = False
        msg.save(update_fields=["is_read"])
        msg.delete()
        return first_id

    first_id = await in_thread(client)
    assert await server.bodies() == []
    # Gone for good now: the old id is not found, as any deleted item's.
    answer = await in_thread(_get, server.portno, first_id)
    assert codes(answer) == ["ErrorItemNotFound"]


def _get(port, item_id, shape="IdOnly"):
    answer = call(port, "GetItem", f"<m:ItemShape><t:BaseShape>{shape}</t:BaseShape>"
                  "<t:AdditionalProperties><t:FieldURI FieldURI=\"item:Subject\"/>"
                  "<t:FieldURI FieldURI=\"item:Attachments\"/></t:AdditionalProperties></m:ItemShape>"
                  f'<m:ItemIds><t:ItemId Id="{item_id}"/></m:ItemIds>')
    return answer


def _names(answer):
    return [a.findtext("{*}Name") for a in answer.payload.iter("{*}FileAttachment")]


@pytest_twisted.ensureDeferred
async def test_raw_old_ids_after_replacements(server):
    await server.deliver(DELIVERED)
    port = server.portno

    def client():
        acc = account(server)
        item = acc.inbox.get(subject="three files")
        old_id = item.id
        a, b, c = (x.attachment_id.id for x in item.attachments)
        # Remove b: c moves up a place in the new message.
        removed = call(port, "DeleteAttachment", f'<m:AttachmentIds><t:AttachmentId Id="{b}"/></m:AttachmentIds>')
        assert codes(removed) == ["NoError"]
        new_id = next(removed.payload.iter("{*}RootItemId")).get("RootItemId")
        assert new_id != old_id
        # The old id still reads the message, and the answer names it by that id.
        answer = _get(port, old_id)
        assert codes(answer) == ["NoError"]
        assert next(answer.payload.iter("{*}ItemId")).get("Id") == old_id
        assert _names(answer) == ["a.txt", "c.txt"]
        assert codes(_get(port, new_id)) == ["NoError"]
        # The old attachment ids: c's is c, wherever it went; b's is gone.
        got = call(port, "GetAttachment", f'<m:AttachmentIds><t:AttachmentId Id="{c}"/>'
                   f'<t:AttachmentId Id="{b}"/></m:AttachmentIds>')
        assert codes(got) == ["NoError", "ErrorItemNotFound"]
        assert [x.findtext("{*}Name") for x in got.payload.iter("{*}FileAttachment")] == ["c.txt"]
        # Add one by the old id, then remove a by its first id: all one message.
        added = call(port, "CreateAttachment", f'<m:ParentItemId Id="{old_id}"/><m:Attachments>'
                     "<t:FileAttachment><t:Name>d.txt</t:Name><t:Content>ZmlsZSBk</t:Content>"
                     "</t:FileAttachment></m:Attachments>")
        assert codes(added) == ["NoError"]
        gone = call(port, "DeleteAttachment", f'<m:AttachmentIds><t:AttachmentId Id="{a}"/>'
                    f'<t:AttachmentId Id="{b}"/></m:AttachmentIds>')
        assert codes(gone) == ["NoError", "ErrorItemNotFound"]
        assert _names(_get(port, old_id)) == ["c.txt", "d.txt"]
        # Every other operation takes it too: a flag by the old id, then a move.
        flagged = call(port, "UpdateItem", '<m:ItemChanges><t:ItemChange>'
                       f'<t:ItemId Id="{old_id}"/><t:Updates><t:SetItemField>'
                       '<t:FieldURI FieldURI="message:IsRead"/><t:Message><t:IsRead>true</t:IsRead>'
                       "</t:Message></t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges>",
                       )
        assert codes(flagged) == ["NoError"]
        assert next(flagged.payload.iter("{*}ItemId")).get("Id") == old_id
        return old_id

    old_id = await in_thread(client)
    box = await server.mailbox()
    [info] = await box.messages(None)
    assert "\\Seen" in info.flags and str(info.uid) != ids.parse_item_id(old_id).key
    # One link per rewrite, each pointing at the message as it is now.
    store = server.store
    raw = await store.settings.get(USER, successors.KEY)
    assert raw is not None and str(info.uid).encode() in raw
    moved = await in_thread(call, server.portno, "MoveItem",
                            '<m:ToFolderId><t:DistinguishedFolderId Id="deleteditems"/>'
                            f'</m:ToFolderId><m:ItemIds><t:ItemId Id="{old_id}"/></m:ItemIds>')
    assert codes(moved) == ["NoError"]


def test_renumbered_paths():
    from smsync.formats.message import parse_message

    root = parse_message(DELIVERED)
    cut = attachments.remove_part(DELIVERED, root, "3")
    assert attachments.renumbered(DELIVERED, root.root, cut, ["3"]) == {"3": None, "4": "3"}
    grown = attachments.add_parts(DELIVERED, root, [attachments.part_bytes("x", "text/plain", b"x", False, b"\r\n")])
    assert attachments.renumbered(DELIVERED, root.root, grown) == {}
    plain = b"Subject: one\r\nContent-Type: application/pdf\r\n\r\nJVBERg==\r\n"
    wrapped = attachments.add_parts(plain, parse_message(plain),
                                    [attachments.part_bytes("y", "text/plain", b"y", False, b"\r\n")])
    assert attachments.renumbered(plain, parse_message(plain).root, wrapped) == {}
    assert successors.compose({"3": None, "4": "3"}, {"3": "2", "2": None}) == {"2": None, "3": None, "4": "2"}
    assert successors.follow({"4": "2"}, "4") == "2" and successors.follow({"4": "2"}, "5") == "5"
