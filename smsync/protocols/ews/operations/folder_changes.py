"""Changes to folders: CreateFolder, UpdateFolder (DisplayName), DeleteFolder, MoveFolder
and EmptyFolder, over the store's mail folders and collections.

A mail folder's place in the tree is its name (``INBOX/Projects``): creating, renaming
and moving are ``IMailStore`` calls on names, and IMAP sees each at once. Calendars,
address books and task lists are created at the top (as collections are) and renamed
through their display name. The distinguished folders cannot be deleted, moved or
renamed (``ErrorDeleteDistinguishedFolder``, ``ErrorInvalidOperation``). A folder's
extended properties (CreateFolder's ExtendedProperty, UpdateFolder's SetFolderField and
DeleteFolderField of an ExtendedFieldURI) are kept in the account's settings
(``extended_store``) and go with the folder.
"""

from __future__ import annotations

import re
import uuid

from lxml import etree

from smsync.errors import SmsyncError
from smsync.model import MAILBOX_SEPARATOR, PROP_DISPLAYNAME, CollectionKind, UIDSet
from smsync.protocols.ews import extended, extended_store, ids, tree
from smsync.protocols.ews.errors import (
    DELETE_DISTINGUISHED,
    FOLDER_EXISTS,
    INVALID_OPERATION,
    INVALID_PROPERTY_SET,
    SCHEMA_VALIDATION,
    EWSError,
    from_store,
)
from smsync.protocols.ews.operations import operation
from smsync.protocols.ews.operations.folders import counts
from smsync.protocols.ews.soap import m, response, response_message, t, xs_bool

#: FolderClass (or element) -> the collection kind a new folder of it is.
_KINDS = {"IPF.Appointment": CollectionKind.CALENDAR, "IPF.Contact": CollectionKind.ADDRESSBOOK,
          "IPF.Task": CollectionKind.TASKS, "IPF.StickyNote": CollectionKind.NOTES,
          "CalendarFolder": CollectionKind.CALENDAR, "ContactsFolder": CollectionKind.ADDRESSBOOK,
          "TasksFolder": CollectionKind.TASKS}


def _folder_ids(request, tag: str = "FolderIds") -> list:
    holder = request.find(m(tag))
    if holder is None:
        raise EWSError(SCHEMA_VALIDATION, f"no {tag}")
    return [c for c in holder if isinstance(c.tag, str)]


def _one_folder(request, tag: str):
    targets = _folder_ids(request, tag)
    if len(targets) != 1:
        raise EWSError(SCHEMA_VALIDATION, f"{tag} names one folder")
    return targets[0]


def _display_name(text) -> str:
    name = (text or "").strip()
    if not name or len(name) > 255 or MAILBOX_SEPARATOR in name or any(ord(c) < 32 for c in name):
        raise EWSError("ErrorInvalidFolderName" if name else SCHEMA_VALIDATION,
                       "a folder name is 1 to 255 characters, without '/' or control characters")
    return name


def _id_element(ref: ids.FolderRef, revision: int = 0, tag: str = "Folder"):
    node = etree.Element(t(tag))
    etree.SubElement(node, t("FolderId"), Id=ids.folder_id(ref), ChangeKey=ids.change_key(revision))
    return node


def _holder(node=None):
    holder = etree.Element(m("Folders"))
    if node is not None:
        holder.append(node)
    return holder


def _failed(ctx, name: str, error, extra=()):
    error = from_store(error, "ErrorFolderNotFound")
    ctx.log(f"{name}: {error.code}: {error.message}")
    return response_message(name, error.code, error.message, list(extra))


def _mail_path(parent: tree.Folder, leaf: str) -> str:
    """The store name of a mail folder ``leaf`` made under ``parent``."""
    if parent.is_mail:
        return f"{parent.name}{MAILBOX_SEPARATOR}{leaf}"
    if parent.ref.kind == ids.VIRTUAL and parent.ref.source == ids.MSGFOLDERROOT:
        return leaf
    raise EWSError(INVALID_OPERATION, "mail folders go under the message folder root or a mail folder")


# -- CreateFolder ----------------------------------------------------------------------


@operation("CreateFolder")
async def create_folder(ctx, request):
    folders = await tree.all_folders(ctx)
    try:
        parent = await tree.resolve(ctx, _one_folder(request, "ParentFolderId"), folders)
    except (EWSError, SmsyncError) as e:
        return response("CreateFolder", [_failed(ctx, "CreateFolder", e, [_holder()])])
    answers = []
    for node in _folder_ids(request, "Folders"):
        try:
            answers.append(response_message("CreateFolder", children=[_holder(
                await _create_one(ctx, parent, node))]))
        except (EWSError, SmsyncError) as e:
            answers.append(_failed(ctx, "CreateFolder", e, [_holder()]))
    return response("CreateFolder", answers)


async def _create_one(ctx, parent: tree.Folder, node):
    props = {key: stored for key, (_uri, stored) in extended.read_props(node).items()}
    extended_store.require(ctx, props)  # refused before the folder is made
    made = await _make_folder(ctx, parent, node)
    if props:
        ref = ids.parse_folder_id(made.find(t("FolderId")).get("Id"))
        await extended_store.change_folder(ctx, ref, props)
    return made


async def _make_folder(ctx, parent: tree.Folder, node):
    name = _display_name(node.findtext(t("DisplayName")))
    element = node.tag.rpartition("}")[2]
    folder_class = (node.findtext(t("FolderClass")) or "").strip()
    kind = _KINDS.get(folder_class) or _KINDS.get(element)
    if kind is None and folder_class and not folder_class.startswith("IPF.Note"):
        raise EWSError(INVALID_OPERATION, f"folders of class {folder_class[:40]} are not served")
    if kind is not None:
        if parent.ref.kind not in (ids.VIRTUAL, ids.COLLECTION):
            raise EWSError(INVALID_OPERATION, "calendars, contacts and task lists go at the top")
        collections = await ctx.store.collections(ctx.account)
        for info in await collections.list_collections(kind):
            if (info.properties.get(PROP_DISPLAYNAME) or info.name) == name:
                raise EWSError(FOLDER_EXISTS, f"there is a folder {name!r} already")
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "folder"
        info = await collections.create_collection(f"{slug}-{uuid.uuid4().hex[:8]}", kind,
                                                   properties={PROP_DISPLAYNAME: name})
        return _id_element(ids.FolderRef(ctx.account, ids.COLLECTION, info.id), info.revision,
                           tree.KIND_CLASSES[kind][1])
    mail = await ctx.store.mail(ctx.account)
    entry = await mail.create_mailbox(_mail_path(parent, name))
    return _id_element(ids.FolderRef(ctx.account, ids.MAIL_FOLDER, entry.id))


# -- UpdateFolder ----------------------------------------------------------------------


async def _rename(ctx, folder: tree.Folder, folders: list, name: str) -> None:
    if folder.ref.kind == ids.COLLECTION:
        collection = await tree.collection_of(ctx, folder)
        await collection.set_properties({PROP_DISPLAYNAME: name})
        return
    if not folder.is_mail:
        raise EWSError(INVALID_OPERATION, "this folder cannot be renamed")
    if folder.distinguished:
        if name == folder.display_name:
            return
        raise EWSError(INVALID_OPERATION, "a distinguished folder keeps its name")
    head, _, _leaf = folder.name.rpartition(MAILBOX_SEPARATOR)
    new = f"{head}{MAILBOX_SEPARATOR}{name}" if head else name
    if new != folder.name:
        mail = await ctx.store.mail(ctx.account)
        await mail.rename_mailbox(folder.name, new)


@operation("UpdateFolder")
async def update_folder(ctx, request):
    holder = request.find(m("FolderChanges"))
    if holder is None:
        raise EWSError(SCHEMA_VALIDATION, "no FolderChanges")
    answers = []
    for change in holder:
        if not isinstance(change.tag, str):
            continue
        try:
            folders = await tree.all_folders(ctx)
            targets = [c for c in change if isinstance(c.tag, str) and c.tag != t("Updates")]
            if len(targets) != 1:
                raise EWSError(SCHEMA_VALIDATION, "a FolderChange names one folder")
            folder = await tree.resolve(ctx, targets[0], folders)
            props, updates = extended.split_updates(change.find(t("Updates")))
            extended_store.require(ctx, props)
            for update in updates:
                if not isinstance(update.tag, str):
                    continue
                uri_el = update.find(t("FieldURI"))
                uri = uri_el.get("FieldURI") if uri_el is not None else None
                action = update.tag.rpartition("}")[2]
                if uri == "folder:DisplayName" and action == "SetFolderField":
                    value = update.find(f"*/{t('DisplayName')}")
                    await _rename(ctx, folder, folders, _display_name(value.text if value is not None else ""))
                elif uri == "folder:FolderClass" and action == "SetFolderField":
                    value = update.find(f"*/{t('FolderClass')}")
                    if value is None or (value.text or "").strip() != folder.folder_class:
                        raise EWSError(INVALID_PROPERTY_SET, "a folder keeps its class")
                else:
                    raise EWSError(INVALID_PROPERTY_SET, f"{str(uri)[:60]} cannot be changed here")
            await extended_store.change_folder(ctx, folder.ref, props)
            _, _, revision = await counts(ctx, folder)
            node = _id_element(folder.ref, revision, folder.element)
        except (EWSError, SmsyncError) as e:
            answers.append(_failed(ctx, "UpdateFolder", e, [_holder()]))
            continue
        answers.append(response_message("UpdateFolder", children=[_holder(node)]))
    return response("UpdateFolder", answers)


# -- DeleteFolder, EmptyFolder, MoveFolder ---------------------------------------------


def _removable(folder: tree.Folder) -> None:
    if folder.distinguished or folder.ref.kind == ids.VIRTUAL:
        raise EWSError(DELETE_DISTINGUISHED, "a distinguished folder cannot be deleted or moved")


async def _delete_tree(ctx, folder: tree.Folder, folders: list) -> None:
    """Delete ``folder`` and every folder below it, deepest first."""
    below = tree.children(folders, folder, deep=True)
    for sub in below:
        _removable(sub)
    mail = await ctx.store.mail(ctx.account)
    for doomed in sorted([folder, *below], key=lambda f: -(f.name or "").count(MAILBOX_SEPARATOR)):
        if doomed.is_mail:
            await mail.delete_mailbox(doomed.name)
        elif doomed.ref.kind == ids.COLLECTION:
            collections = await ctx.store.collections(ctx.account)
            await collections.delete_collection(doomed.name)
        await extended_store.forget_folder(ctx, doomed.ref)


async def _move_under(ctx, folder: tree.Folder, dest: tree.Folder) -> str:
    if not folder.is_mail:
        raise EWSError(INVALID_OPERATION, "only mail folders move")
    leaf = folder.name.rpartition(MAILBOX_SEPARATOR)[2]
    new = _mail_path(dest, leaf)
    if new == folder.name:
        return new
    if dest.is_mail and (dest.name == folder.name or dest.name.startswith(folder.name + MAILBOX_SEPARATOR)):
        raise EWSError("ErrorMoveCopyFailed", "a folder cannot move into itself")
    mail = await ctx.store.mail(ctx.account)
    await mail.rename_mailbox(folder.name, new)
    return new


@operation("DeleteFolder")
async def delete_folder(ctx, request):
    kind = request.get("DeleteType", "")
    if kind not in ("HardDelete", "SoftDelete", "MoveToDeletedItems"):
        raise EWSError(SCHEMA_VALIDATION, f"DeleteType {kind[:30]!r}")
    answers = []
    for element in _folder_ids(request):
        try:
            folders = await tree.all_folders(ctx)
            folder = await tree.resolve(ctx, element, folders)
            _removable(folder)
            trash = next((f for f in folders if f.distinguished == "deleteditems"), None)
            inside_trash = trash is not None and folder.is_mail and folder.name.startswith(trash.name + MAILBOX_SEPARATOR)
            if kind == "MoveToDeletedItems" and folder.is_mail and trash is not None and not inside_trash:
                await _move_under(ctx, folder, trash)
            else:
                await _delete_tree(ctx, folder, folders)
        except (EWSError, SmsyncError) as e:
            answers.append(_failed(ctx, "DeleteFolder", e))
            continue
        answers.append(response_message("DeleteFolder"))
    return response("DeleteFolder", answers)


@operation("MoveFolder")
async def move_folder(ctx, request):
    folders = await tree.all_folders(ctx)
    try:
        dest = await tree.resolve(ctx, _one_folder(request, "ToFolderId"), folders)
    except (EWSError, SmsyncError) as e:
        return response("MoveFolder", [_failed(ctx, "MoveFolder", e, [_holder()])
                                       for _ in _folder_ids(request)])
    answers = []
    for element in _folder_ids(request):
        try:
            folder = await tree.resolve(ctx, element, await tree.all_folders(ctx))
            _removable(folder)
            await _move_under(ctx, folder, dest)
            node = _id_element(folder.ref)  # a rename keeps the folder's id
        except (EWSError, SmsyncError) as e:
            answers.append(_failed(ctx, "MoveFolder", e, [_holder()]))
            continue
        answers.append(response_message("MoveFolder", children=[_holder(node)]))
    return response("MoveFolder", answers)


@operation("EmptyFolder")
async def empty_folder(ctx, request):
    if request.get("DeleteType", "") not in ("HardDelete", "SoftDelete", "MoveToDeletedItems"):
        raise EWSError(SCHEMA_VALIDATION, "DeleteType")
    subfolders = xs_bool(request.get("DeleteSubFolders"))
    answers = []
    for element in _folder_ids(request):
        try:
            folders = await tree.all_folders(ctx)
            folder = await tree.resolve(ctx, element, folders)
            if not folder.is_mail:
                raise EWSError(INVALID_OPERATION, "only mail folders are emptied here")
            mailbox = await tree.mailbox_of(ctx, folder)
            await mailbox.remove(UIDSet.all())
            if subfolders:
                for sub in tree.children(folders, folder, deep=False):
                    _removable(sub)
                    await _delete_tree(ctx, sub, folders)
        except (EWSError, SmsyncError) as e:
            answers.append(_failed(ctx, "EmptyFolder", e))
            continue
        answers.append(response_message("EmptyFolder"))
    return response("EmptyFolder", answers)

