"""FolderSync (MS-ASCMD 2.2.1.5): the folder hierarchy -- mail folders and the
account's calendars, address books, task and note lists -- and its changes since the
device's last hierarchy sync key."""

from __future__ import annotations

from smsync.model import PROP_DISPLAYNAME, CollectionKind, Role
from smsync.protocols.eas import state
from smsync.protocols.eas.commands import CommandError, command
from smsync.protocols.eas.wbxml import Element

FH = "FolderHierarchy:"

# MS-ASCMD 2.2.3.186.3 folder types.
USER_MAIL = 12
_ROLE_TYPES = {Role.INBOX: 2, Role.DRAFTS: 3, Role.TRASH: 4, Role.SENT: 5}
# (the default folder's type, a user-created one's type)
_KIND_TYPES = {CollectionKind.CALENDAR: (8, 13), CollectionKind.ADDRESSBOOK: (9, 14),
               CollectionKind.TASKS: (7, 15), CollectionKind.NOTES: (10, 17)}

#: FolderSync Status values (MS-ASCMD 2.2.3.177.5).
OK, INVALID_KEY, BAD_REQUEST = "1", "9", "10"


def _el(tag: str, *children, text=None) -> Element:
    return Element(FH, tag, children, text)


async def hierarchy(ctx) -> dict:
    """Every folder the device may sync: server id -> [parent id, name, type]."""
    folders: dict = {}
    mail = await ctx.store.mail(ctx.account)
    entries = await mail.list_mailboxes()
    by_name = {e.name: e.id for e in entries}
    for entry in entries:
        parent_name, _, leaf = entry.name.rpartition("/")
        parent = by_name.get(parent_name, "0") if parent_name else "0"
        kind = _ROLE_TYPES.get(entry.role, USER_MAIL)
        folders[entry.id] = [parent, "Inbox" if entry.role == Role.INBOX else leaf, kind]
    collections = await ctx.store.collections(ctx.account)
    seen_default = set()
    for info in await collections.list_collections():
        default, user = _KIND_TYPES[info.kind]
        kind = user if info.kind in seen_default else default
        seen_default.add(info.kind)
        name = info.properties.get(PROP_DISPLAYNAME) or info.name
        folders[info.id] = ["0", name, kind]
    return folders


def _folder(tag: str, server_id: str, entry) -> Element:
    parent, name, kind = entry
    return _el(tag, _el("ServerId", text=server_id), _el("ParentId", text=parent),
               _el("DisplayName", text=name), _el("Type", text=str(kind)))


@command("FolderSync", FH)
async def folder_sync(ctx, body):
    if body is None or (body.namespace, body.tag) != (FH, "FolderSync"):
        raise CommandError(400, "FolderSync needs a FolderSync body")
    key_el = body.find(FH, "SyncKey")
    key = key_el.text if key_el is not None else None
    if key is None:
        return _el("FolderSync", _el("Status", text=BAD_REQUEST))
    saved = await state.load(ctx, state.HIERARCHY_KEY)
    current = await hierarchy(ctx)
    retry = False
    if key == "0":
        before, counter = {}, 0
    elif saved is not None and key == str(saved.get("key")):
        before, counter = saved.get("folders", {}), saved["key"]
    elif saved is not None and key == str(saved.get("previous_key")):
        # The answer to that key was lost: answer it again, from the state it started
        # from, under the key already handed out.
        before, counter, retry = saved.get("previous_folders", {}), saved["previous_key"], True
    else:
        ctx.log(f"FolderSync: unknown sync key {key[:40]!r}; the device must start over")
        return _el("FolderSync", _el("Status", text=INVALID_KEY))
    changes = []
    for sid, entry in current.items():
        if sid not in before:
            changes.append(_folder("Add", sid, entry))
        elif list(before[sid]) != list(entry):
            changes.append(_folder("Update", sid, entry))
    changes += [_el("Delete", _el("ServerId", text=sid)) for sid in before if sid not in current]
    if changes or key == "0" or retry:
        counter += 1
        await state.save(ctx, state.HIERARCHY_KEY, {
            "key": counter, "folders": current,
            "previous_key": int(key) if key.isdigit() else 0, "previous_folders": before})
    ctx.log(f"FolderSync: {len(changes)} changes, sync key {counter}")
    return _el("FolderSync", _el("Status", text=OK), _el("SyncKey", text=str(counter)),
               _el("Changes", _el("Count", text=str(len(changes))), *changes))
