"""exchangelib changing folders: create (mail folders under the Inbox and at the top, a
calendar), rename, move, empty and delete -- each seen at once in the store's mail
folders and collections -- and the distinguished folders refusing."""

from __future__ import annotations

import pytest_twisted

from smsync.testing.servers import USER, in_thread, numbered_message
from tests.protocols.ews.ews_support import account


async def mail_names(server):
    mail = await server.store.mail(USER)
    return sorted(e.name for e in await mail.list_mailboxes())


@pytest_twisted.ensureDeferred
async def test_create_rename_move_empty_delete(server):
    def create():
        from exchangelib import Folder
        from exchangelib.folders import Calendar

        acc = account(server)
        sub = Folder(parent=acc.inbox, name="Receipts")
        sub.save()
        top = Folder(parent=acc.msg_folder_root, name="Projects")
        top.save()
        cal = Calendar(parent=acc.msg_folder_root, name="Team")
        cal.save()
        return sub.id, top.id

    sub_id, top_id = await in_thread(create)
    assert {"INBOX/Receipts", "Projects"} <= set(await mail_names(server))
    collections = await server.collections()
    assert "Team" in [i.properties.get("displayname") for i in await collections.list_collections()]
    await server.deliver(numbered_message(1), numbered_message(2), folder="INBOX/Receipts")

    def change():
        acc = account(server)
        acc.root.refresh()
        receipts = acc.inbox / "Receipts"
        assert receipts.total_count == 2
        receipts.name = "Bills"
        receipts.save(update_fields=["name"])
        projects = acc.msg_folder_root / "Projects"
        receipts = acc.inbox / "Bills"
        receipts.move(projects)
        return receipts.id

    moved_id = await in_thread(change)
    assert moved_id == sub_id  # a rename and a move keep the id
    assert "Projects/Bills" in await mail_names(server)
    assert len(await server.bodies(folder="Projects/Bills")) == 2

    def finish():
        acc = account(server)
        acc.root.refresh()
        bills = acc.msg_folder_root / "Projects" / "Bills"
        bills.empty()
        bills.refresh()
        assert bills.total_count == 0
        (acc.msg_folder_root / "Projects").delete()
        try:
            acc.inbox.delete()
        except Exception as e:  # noqa: BLE001
            return type(e).__name__
        return "deleted"

    assert await in_thread(finish) == "ErrorDeleteDistinguishedFolder"
    names = await mail_names(server)
    assert "Projects" not in names and "Projects/Bills" not in names and "INBOX" in names
