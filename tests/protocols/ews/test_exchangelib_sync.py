"""exchangelib synchronising: SyncFolderItems from scratch in windows, then incrementally
seeing another session's changes (and IMAP-side ones, through the store); a lost answer
asked again; states of another folder or made up; SyncFolderHierarchy."""

from __future__ import annotations

import pytest_twisted

from smsync.model import FlagMode, UIDSet
from smsync.testing.servers import in_thread, numbered_message
from tests.protocols.ews.ews_support import account, call, codes


def drain(folder, state=None, window=5, **kwargs):
    """Every change of a sync to the end: ``(changes, new state)``."""
    changes = [(kind, getattr(item, "subject", None)) for kind, item in folder.sync_items(
        sync_state=state, max_changes_returned=window, **kwargs)]
    return changes, folder.item_sync_state


@pytest_twisted.ensureDeferred
async def test_initial_then_incremental_with_another_session(server):
    uids = await server.deliver(*(numbered_message(n) for n in range(1, 13)))

    def initial():
        acc = account(server)
        changes, state = drain(acc.inbox, only_fields=["subject", "is_read"])
        return changes, state

    changes, state = await in_thread(initial)
    assert sorted(s for _, s in changes) == sorted(f"message {n}" for n in range(1, 13))
    assert {kind for kind, _ in changes} == {"create"}

    def other_session():
        acc = account(server)
        items = {i.subject: i for i in acc.inbox.all()}
        items["message 1"].is_read = True
        items["message 1"].save(update_fields=["is_read"])
        items["message 2"].delete()

    await in_thread(other_session)
    box = await server.mailbox()
    await box.store_flags(UIDSet.of([uids[2]]), FlagMode.ADD, ["\\Flagged"])  # as IMAP would
    await server.deliver(numbered_message(13))

    def incremental():
        acc = account(server)
        changes, new_state = drain(acc.inbox, state, only_fields=["subject", "is_read"])
        again, _ = drain(acc.inbox, new_state)
        return changes, again

    changes, again = await in_thread(incremental)
    kinds = {}
    for kind, subject in changes:
        kinds.setdefault(kind, []).append(subject)
    assert sorted(kinds["update"]) == ["message 1", "message 3"]
    assert kinds["create"] == ["message 13"] and len(kinds["delete"]) == 1
    assert again == []
    # The client is one entry in the devices list, with what it synced in its log.
    [device] = [d for d in await server.store.devices.list("alice@example.org") if d.protocol == "ews"]
    assert device.user_agent and device.last_sync is not None
    lines = [e.message for e in await server.store.devices.get_log("alice@example.org", device.device_id)]
    assert "SyncFolderItems: 5 change(s) of Inbox, more to come" in lines, lines


@pytest_twisted.ensureDeferred
async def test_bad_states_are_invalid_sync_state_data(server):
    port = server.port("http")
    shape = "<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>"

    def sync(folder, state=""):
        answer = call(port, "SyncFolderItems", shape + f'<m:SyncFolderId><t:DistinguishedFolderId Id="{folder}"/>'
                      f"</m:SyncFolderId><m:SyncState>{state}</m:SyncState>"
                      "<m:MaxChangesReturned>10</m:MaxChangesReturned>")
        message = answer.payload.find(".//{*}SyncFolderItemsResponseMessage")
        return codes(answer)[0], message.findtext("{*}SyncState")

    code, inbox_state = await in_thread(sync, "inbox")
    assert code == "NoError" and inbox_state
    assert (await in_thread(sync, "inbox", inbox_state))[0] == "NoError"
    assert (await in_thread(sync, "sentitems", inbox_state))[0] == "ErrorInvalidSyncStateData"
    assert (await in_thread(sync, "inbox", "bm9uc2Vuc2U="))[0] == "ErrorInvalidSyncStateData"
    assert (await in_thread(sync, "inbox", "%%%"))[0] == "ErrorInvalidSyncStateData"


@pytest_twisted.ensureDeferred
async def test_folder_hierarchy_sync(server):
    mail = await server.store.mail("alice@example.org")
    await mail.create_mailbox("Plans")
    await mail.create_mailbox("Doomed")

    def initial():
        acc = account(server)
        created = [f.name for kind, f in acc.root.sync_hierarchy() if kind == "create"]
        return created, acc.root.folder_sync_state

    created, state = await in_thread(initial)
    assert {"Inbox", "Calendar", "Top of Information Store"} <= set(created)
    await mail.create_mailbox("Projects")
    await mail.rename_mailbox("Plans", "Old Plans")
    await mail.delete_mailbox("Doomed")

    def incremental():
        acc = account(server)
        return sorted((kind, getattr(f, "name", None)) for kind, f in acc.root.sync_hierarchy(sync_state=state))

    assert await in_thread(incremental) == [("create", "Projects"), ("delete", None), ("update", "Old Plans")]
