"""FolderSync (MS-ASCMD 2.2.1.5): the folder hierarchy -- mail folders and the
account's calendars, address books, task and note lists -- and its changes since the
device's last hierarchy sync key; and the device's own changes to it, FolderCreate,
FolderUpdate and FolderDelete (MS-ASCMD 2.2.1.3, 2.2.1.7, 2.2.1.4)."""

from __future__ import annotations

import uuid

from smsync.errors import AlreadyExists, Conflict, InvalidData, NotFound
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
        if info.kind not in _KIND_TYPES:
            continue  # scheduling mailboxes: CalDAV's own
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


# -- FolderCreate, FolderUpdate, FolderDelete (MS-ASCMD 2.2.1.3, 2.2.1.7, 2.2.1.4) ---------
#
# Each takes the device's current hierarchy sync key and answers the next one. The saved
# hierarchy then holds the change the device itself made (and only that: changes made
# elsewhere meanwhile still come with its next FolderSync), so the device is never sent
# its own new folder again as an Add.

#: FolderCreate/FolderUpdate/FolderDelete Status values (MS-ASCMD 2.2.3.177.2-4).
EXISTS, SPECIAL, MISSING, NO_PARENT, SERVER_ERROR = "2", "3", "4", "5", "6"
#: Folder types a device may create: mail, and the collections of each kind.
MAIL_TYPES = {1, USER_MAIL}
_CREATE_KINDS = {13: CollectionKind.CALENDAR, 14: CollectionKind.ADDRESSBOOK,
                 15: CollectionKind.TASKS, 17: CollectionKind.NOTES}
#: Types of the folders a device may not rename or delete: the role folders and each
#: kind's default collection.
_SPECIAL_TYPES = set(_ROLE_TYPES.values()) | {d for d, _ in _KIND_TYPES.values()}
#: Longest folder name taken from a device.
MAX_NAME = 255


class FolderError(Exception):
    """The folder command is answered with ``status``."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status


def _field(body, tag: str, required: bool = True):
    element = body.find(FH, tag)
    text = element.text if element is not None else None
    if required and not text:
        raise FolderError(BAD_REQUEST, f"no {tag}")
    return text


async def _saved_hierarchy(ctx, body) -> dict:
    key = _field(body, "SyncKey")
    saved = await state.load(ctx, state.HIERARCHY_KEY)
    if saved is None or key != str(saved.get("key")) or key == "0":
        raise FolderError(INVALID_KEY, f"unknown sync key {key[:40]!r}")
    return saved


async def _commit(ctx, saved: dict, touched) -> str:
    """Record the device's own change to the folders ``touched`` (server ids) in the
    saved hierarchy under a new key; the key."""
    current = await hierarchy(ctx)
    folders = dict(saved.get("folders", {}))
    for sid in touched:
        if sid in current:
            folders[sid] = current[sid]
        else:
            folders.pop(sid, None)
    counter = int(saved["key"]) + 1
    await state.save(ctx, state.HIERARCHY_KEY, {
        "key": counter, "folders": folders, "previous_key": int(saved["key"]),
        "previous_folders": saved.get("folders", {})})
    return str(counter)


def _display_name(body) -> str:
    name = _field(body, "DisplayName").strip()
    if not name or len(name) > MAX_NAME or "/" in name or any(ord(c) < 32 for c in name):
        raise FolderError(BAD_REQUEST, f"unusable folder name {name[:40]!r}")
    return name


async def _mail_names(ctx) -> dict:
    """Mail folder id -> its ``MailboxEntry``."""
    mail = await ctx.store.mail(ctx.account)
    return {entry.id: entry for entry in await mail.list_mailboxes()}


async def _collection_infos(ctx) -> dict:
    collections = await ctx.store.collections(ctx.account)
    return {info.id: info for info in await collections.list_collections()}


def _mail_path(mailboxes: dict, parent: str, name: str) -> str:
    if parent == "0":
        return name
    if parent not in mailboxes:
        raise FolderError(NO_PARENT, f"no mail folder {parent[:40]!r}")
    return f"{mailboxes[parent].name}/{name}"


def _shown_name(info) -> str:
    return info.properties.get(PROP_DISPLAYNAME) or info.name


async def _create(ctx, body) -> tuple[str, str]:
    parent = _field(body, "ParentId")
    name = _display_name(body)
    kind_text = _field(body, "Type")
    if not kind_text.isdigit():
        raise FolderError(BAD_REQUEST, f"bad Type {kind_text[:10]!r}")
    kind = int(kind_text)
    if kind in MAIL_TYPES:
        mailboxes = await _mail_names(ctx)
        mail = await ctx.store.mail(ctx.account)
        try:
            entry = await mail.create_mailbox(_mail_path(mailboxes, parent, name))
        except AlreadyExists:
            raise FolderError(EXISTS, f"a folder {name!r} exists") from None
        except InvalidData as e:
            raise FolderError(BAD_REQUEST, str(e)) from None
        return entry.id, f"mail folder {entry.name!r}"
    if kind in _CREATE_KINDS:
        collection_kind = _CREATE_KINDS[kind]
        infos = await _collection_infos(ctx)
        # Collections are flat: created under a folder of their kind, they go beside it.
        if parent != "0" and (parent not in infos or infos[parent].kind != collection_kind):
            raise FolderError(NO_PARENT, f"no {collection_kind.value} folder {parent[:40]!r}")
        if any(i.kind == collection_kind and _shown_name(i) == name for i in infos.values()):
            raise FolderError(EXISTS, f"a {collection_kind.value} {name!r} exists")
        collections = await ctx.store.collections(ctx.account)
        # Named after the kind's default ("calendar-..." sorts after "calendar"), so the
        # default stays the first of its kind, the one FolderSync types as the default.
        stored = f"{collection_kind.value}-{uuid.uuid4().hex[:12]}"
        info = await collections.create_collection(stored, collection_kind,
                                                   properties={PROP_DISPLAYNAME: name})
        return info.id, f"{collection_kind.value} {name!r}"
    raise FolderError(BAD_REQUEST, f"folders of type {kind} are not created here")


async def _special(ctx, server_id: str, mailboxes: dict) -> bool:
    entry = mailboxes.get(server_id)
    if entry is not None and entry.role is not None:
        return True
    current = await hierarchy(ctx)
    return server_id in current and current[server_id][2] in _SPECIAL_TYPES


async def _update(ctx, body) -> str:
    server_id = _field(body, "ServerId")
    parent = _field(body, "ParentId")
    name = _display_name(body)
    mailboxes = await _mail_names(ctx)
    infos = await _collection_infos(ctx) if server_id not in mailboxes else {}
    if server_id not in mailboxes and server_id not in infos:
        raise FolderError(MISSING, f"no folder {server_id[:40]!r}")
    if await _special(ctx, server_id, mailboxes):
        raise FolderError(SPECIAL, f"{server_id} is a special folder")
    if server_id in infos:
        collections = await ctx.store.collections(ctx.account)
        collection = await collections.collection_by_id(server_id)
        await collection.set_properties({PROP_DISPLAYNAME: name})
        return f"renamed to {name!r}"
    old = mailboxes[server_id].name
    new = _mail_path(mailboxes, parent, name)
    if new == old:
        return "unchanged"
    if new.startswith(old + "/"):
        raise FolderError(BAD_REQUEST, f"{old!r} cannot go below itself")
    mail = await ctx.store.mail(ctx.account)
    try:
        await mail.rename_mailbox(old, new)
    except AlreadyExists:
        raise FolderError(EXISTS, f"a folder {new!r} exists") from None
    except NotFound:
        raise FolderError(MISSING, f"no folder {old!r}") from None
    except Conflict:
        raise FolderError(SPECIAL, f"{old!r} cannot be renamed") from None
    except InvalidData as e:
        raise FolderError(BAD_REQUEST, str(e)) from None
    return f"{old!r} renamed to {new!r}"


async def _delete(ctx, body) -> tuple[list, str]:
    server_id = _field(body, "ServerId")
    mailboxes = await _mail_names(ctx)
    infos = await _collection_infos(ctx) if server_id not in mailboxes else {}
    if server_id not in mailboxes and server_id not in infos:
        raise FolderError(MISSING, f"no folder {server_id[:40]!r}")
    if await _special(ctx, server_id, mailboxes):
        raise FolderError(SPECIAL, f"{server_id} is a special folder")
    if server_id in infos:
        collections = await ctx.store.collections(ctx.account)
        try:
            await collections.delete_collection(infos[server_id].name)
        except NotFound:
            raise FolderError(MISSING, f"no folder {server_id[:40]!r}") from None
        return [server_id], f"{_shown_name(infos[server_id])!r} deleted"
    # EAS deletes a folder with its subfolders; the store leaves children in place.
    name = mailboxes[server_id].name
    below = sorted((e for e in mailboxes.values() if e.name.startswith(name + "/")),
                   key=lambda e: e.name.count("/"), reverse=True)
    if any(e.role is not None for e in below):
        raise FolderError(SPECIAL, f"{name!r} holds a special folder")
    mail = await ctx.store.mail(ctx.account)
    try:
        for entry in below + [mailboxes[server_id]]:
            await mail.delete_mailbox(entry.name)
    except NotFound:
        raise FolderError(MISSING, f"no folder {name!r}") from None
    except Conflict:
        raise FolderError(SPECIAL, f"{name!r} cannot be deleted") from None
    return [e.id for e in below] + [server_id], f"{name!r} deleted"


def _check_body(body, name: str) -> None:
    if body is None or (body.namespace, body.tag) != (FH, name):
        raise CommandError(400, f"{name} needs a {name} body")


@command("FolderCreate", FH)
async def folder_create(ctx, body):
    _check_body(body, "FolderCreate")
    try:
        saved = await _saved_hierarchy(ctx, body)
        server_id, what = await _create(ctx, body)
    except FolderError as e:
        ctx.log(f"FolderCreate: Status {e.status}: {e}")
        return _el("FolderCreate", _el("Status", text=e.status))
    key = await _commit(ctx, saved, [server_id])
    ctx.log(f"FolderCreate: {what}, sync key {key}")
    return _el("FolderCreate", _el("Status", text=OK), _el("SyncKey", text=key),
               _el("ServerId", text=server_id))


@command("FolderUpdate", FH)
async def folder_update(ctx, body):
    _check_body(body, "FolderUpdate")
    try:
        saved = await _saved_hierarchy(ctx, body)
        what = await _update(ctx, body)
    except FolderError as e:
        ctx.log(f"FolderUpdate: Status {e.status}: {e}")
        return _el("FolderUpdate", _el("Status", text=e.status))
    key = await _commit(ctx, saved, [body.find(FH, "ServerId").text])
    ctx.log(f"FolderUpdate: {what}, sync key {key}")
    return _el("FolderUpdate", _el("Status", text=OK), _el("SyncKey", text=key))


@command("FolderDelete", FH)
async def folder_delete(ctx, body):
    _check_body(body, "FolderDelete")
    try:
        saved = await _saved_hierarchy(ctx, body)
        gone, what = await _delete(ctx, body)
    except FolderError as e:
        ctx.log(f"FolderDelete: Status {e.status}: {e}")
        return _el("FolderDelete", _el("Status", text=e.status))
    key = await _commit(ctx, saved, gone)
    ctx.log(f"FolderDelete: {what}, sync key {key}")
    return _el("FolderDelete", _el("Status", text=OK), _el("SyncKey", text=key))
