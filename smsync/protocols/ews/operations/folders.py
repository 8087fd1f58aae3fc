"""GetFolder and FindFolder (MS-OXWSFOLD): folders by id or distinguished id, and the
folders below one (Shallow or Deep), in the shape asked for; and CopyFolder.

CopyFolder copies a mail folder with its messages (flags and dates kept) and every folder
below it, under a mail folder or the message folder root; a calendar, address book, task
or note list becomes a new collection of its kind holding copies of its items (the
store's collections are flat, so the copy sits at the top like every collection). A
copy whose name is taken where it lands is named ``Name (2)``, ``Name (3)``...; a copy
that fails half-way is removed, so a failure leaves nothing behind.
"""

from __future__ import annotations

from lxml import etree

from smsync.errors import SmsyncError
from smsync.model import MAILBOX_SEPARATOR, PROP_DISPLAYNAME, UIDSet
from smsync.protocols.ews import ids, shapes, tree
from smsync.protocols.ews import extended_store  # ews-xprop
from smsync.protocols.ews.errors import (
    FOLDER_NOT_FOUND,
    INVALID_OPERATION,
    MOVE_COPY_FAILED,
    SCHEMA_VALIDATION,
    EWSError,
    from_store,
)
from smsync.protocols.ews.operations import operation
from smsync.protocols.ews.operations.changes import room_for
from smsync.protocols.ews.soap import m, response, response_message, t


async def counts(ctx, folder: tree.Folder) -> tuple[int, int, int]:
    """``(total, unread, revision)`` of a folder (zeros for the virtual ones)."""
    if folder.is_mail:
        info = await (await tree.mailbox_of(ctx, folder)).info()
        return info.exists, info.unseen, info.highestmodseq
    if folder.ref.kind == ids.COLLECTION:
        info = await (await tree.collection_of(ctx, folder)).info()
        return info.count, 0, info.revision
    return 0, 0, 0


async def folder_element(ctx, folder: tree.Folder, shape: shapes.Shape, folders: list):
    """The ``<t:Folder>`` (or CalendarFolder, ...) of ``folder`` in ``shape``."""
    total, unread, revision = await counts(ctx, folder)
    node = etree.Element(t(folder.element))
    etree.SubElement(node, t("FolderId"), Id=folder.id, ChangeKey=ids.change_key(revision))
    if folder.parent is not None and shape.wants("folder:ParentFolderId", False):
        etree.SubElement(node, t("ParentFolderId"), Id=ids.folder_id(folder.parent),
                         ChangeKey=ids.change_key(0))
    if shape.wants("folder:FolderClass", False):
        etree.SubElement(node, t("FolderClass")).text = folder.folder_class
    if shape.wants("folder:DisplayName", True):
        etree.SubElement(node, t("DisplayName")).text = folder.display_name
    if shape.wants("folder:TotalCount", True):
        etree.SubElement(node, t("TotalCount")).text = str(total)
    if shape.wants("folder:ChildFolderCount", True):
        below = sum(1 for f in folders if f.parent == folder.ref)
        etree.SubElement(node, t("ChildFolderCount")).text = str(below)
    if shape.wants("folder:EffectiveRights", False):
        rights = etree.SubElement(node, t("EffectiveRights"))
        for name, value in (("CreateAssociated", "true"), ("CreateContents", "true"),
                            ("CreateHierarchy", "true"), ("Delete", "true"),
                            ("Modify", "true"), ("Read", "true")):
            etree.SubElement(rights, t(name)).text = value
    if folder.distinguished and ctx.at_least("Exchange2013") and shape.wants(
            "folder:DistinguishedFolderId", False):
        etree.SubElement(node, t("DistinguishedFolderId")).text = folder.distinguished
    if folder.element == "Folder" and shape.wants("folder:UnreadCount", True):
        etree.SubElement(node, t("UnreadCount")).text = str(unread)
    await extended_store.render_folder(ctx, node, folder.ref, shape)  # ews-xprop
    return node


def _ids_of(request, tag: str) -> list:
    holder = request.find(m(tag))
    if holder is None:
        raise EWSError(SCHEMA_VALIDATION, f"no {tag}")
    return [child for child in holder if isinstance(child.tag, str)]


@operation("GetFolder")
async def get_folder(ctx, request):
    shape = shapes.parse_shape(request, "FolderShape")
    folders = await tree.all_folders(ctx)
    messages = []
    for element in _ids_of(request, "FolderIds"):
        try:
            folder = await tree.resolve(ctx, element, folders)
            node = await folder_element(ctx, folder, shape, folders)
        except (EWSError, SmsyncError) as e:
            error = from_store(e, "ErrorFolderNotFound")
            ctx.log(f"GetFolder: {error.code}: {error.message}")
            messages.append(response_message("GetFolder", error.code, error.message,
                                             [etree.Element(m("Folders"))]))
            continue
        holder = etree.Element(m("Folders"))
        holder.append(node)
        messages.append(response_message("GetFolder", children=[holder]))
    return response("GetFolder", messages)


@operation("FindFolder")
async def find_folder(ctx, request):
    shape = shapes.parse_shape(request, "FolderShape")
    traversal = request.get("Traversal", "Shallow")
    if traversal not in ("Shallow", "Deep", "SoftDeleted"):
        raise EWSError(SCHEMA_VALIDATION, f"Traversal {traversal[:20]!r}")
    page = shapes.parse_page(request, "IndexedPageFolderView")
    folders = await tree.all_folders(ctx)
    messages = []
    for element in _ids_of(request, "ParentFolderIds"):
        try:
            parent = await tree.resolve(ctx, element, folders)
            found = [] if traversal == "SoftDeleted" else tree.children(folders, parent, traversal == "Deep")
            chosen, next_offset, last = shapes.cut(found, page)
            holder = etree.Element(m("RootFolder"), IndexedPagingOffset=str(next_offset),
                                   TotalItemsInView=str(len(found)),
                                   IncludesLastItemInRange="true" if last else "false")
            listed = etree.SubElement(holder, t("Folders"))
            for folder in chosen:
                listed.append(await folder_element(ctx, folder, shape, folders))
        except (EWSError, SmsyncError) as e:
            error = from_store(e, "ErrorFolderNotFound")
            ctx.log(f"FindFolder: {error.code}: {error.message}")
            messages.append(response_message("FindFolder", error.code, error.message))
            continue
        messages.append(response_message("FindFolder", children=[holder]))
    return response("FindFolder", messages)


# -- CopyFolder ------------------------------------------------------------------------


def _free_name(wanted: str, taken) -> str:
    """``wanted``, or the first of ``wanted (2)``, ``wanted (3)``... not in ``taken``."""
    if wanted not in taken:
        return wanted
    n = 2
    while f"{wanted} ({n})" in taken:
        n += 1
    return f"{wanted} ({n})"


async def _copy_mail_folder(ctx, folder: tree.Folder, dest: tree.Folder, folders: list) -> ids.FolderRef:
    """Copy a mail folder and the folders below it, with their messages, under ``dest``."""
    if dest.is_mail:
        if dest.name == folder.name or dest.name.startswith(folder.name + MAILBOX_SEPARATOR):
            raise EWSError(MOVE_COPY_FAILED, "a folder cannot be copied into itself")
        prefix = dest.name + MAILBOX_SEPARATOR
    elif dest.ref.kind == ids.VIRTUAL and dest.ref.source == ids.MSGFOLDERROOT:
        prefix = ""
    else:
        raise EWSError(INVALID_OPERATION, "mail folders go under the message folder root or a mail folder")
    mail = await ctx.store.mail(ctx.account)
    taken = {e.name for e in await mail.list_mailboxes()}
    leaf = folder.name.rpartition(MAILBOX_SEPARATOR)[2]
    top = prefix + _free_name(leaf, {name[len(prefix):] for name in taken if name.startswith(prefix)})
    below = tree.children(folders, folder, deep=True)  # parents before children

    async def size():
        total = 0
        for source in [folder, *below]:
            total += sum(i.size for i in await (await tree.mailbox_of(ctx, source)).messages())
        return total

    await room_for(ctx, size, "CopyFolder")
    made = []
    try:
        for source in [folder, *below]:
            name = top + source.name[len(folder.name):]
            entry = await mail.create_mailbox(name)
            made.append(name)
            await (await tree.mailbox_of(ctx, source)).copy(UIDSet.all(), name)
            if source is folder:
                copied = ids.FolderRef(ctx.account, ids.MAIL_FOLDER, entry.id)
    except BaseException:
        for name in reversed(made):  # deepest first: leave nothing half-copied
            try:
                await mail.delete_mailbox(name)
            except SmsyncError as e:
                ctx.log(f"CopyFolder: cleaning up {name}: {e}")
        raise
    return copied


async def _copy_collection(ctx, folder: tree.Folder, dest: tree.Folder) -> ids.FolderRef:
    """A new collection of ``folder``'s kind holding copies of its items."""
    if dest.ref.kind not in (ids.VIRTUAL, ids.COLLECTION):
        raise EWSError(INVALID_OPERATION, "calendars, contacts, task and note lists go at the top")
    collections = await ctx.store.collections(ctx.account)
    source = await tree.collection_of(ctx, folder)
    info = await source.info()
    existing = await collections.list_collections()
    display = _free_name(folder.display_name, {c.properties.get(PROP_DISPLAYNAME) or c.name
                                               for c in existing if c.kind == info.kind})
    name = _free_name(f"{info.name}-copy", {c.name for c in existing})
    properties = {**info.properties, PROP_DISPLAYNAME: display}
    made = await collections.create_collection(name, info.kind, components=info.components,
                                               properties=properties)
    try:
        copy = await collections.collection_by_id(made.id)
        names = [i.name for i in await source.items()]
        for start in range(0, len(names), 100):  # a large address book a slice at a time
            for item in await source.get(names[start:start + 100]):
                await copy.put(item.info.name, item.content)
    except BaseException:
        try:
            await collections.delete_collection(name)
        except SmsyncError as e:
            ctx.log(f"CopyFolder: cleaning up {name}: {e}")
        raise
    return ids.FolderRef(ctx.account, ids.COLLECTION, made.id)


def _copied(ref: ids.FolderRef, element: str):
    holder = etree.Element(m("Folders"))
    node = etree.SubElement(holder, t(element))
    etree.SubElement(node, t("FolderId"), Id=ids.folder_id(ref), ChangeKey=ids.change_key(0))
    return holder


@operation("CopyFolder")
async def copy_folder(ctx, request):
    sources = _ids_of(request, "FolderIds")
    targets = _ids_of(request, "ToFolderId")
    if len(targets) != 1:
        raise EWSError(SCHEMA_VALIDATION, "ToFolderId names one folder")
    folders = await tree.all_folders(ctx)
    try:
        dest = await tree.resolve(ctx, targets[0], folders)
    except (EWSError, SmsyncError) as e:
        error = from_store(e, FOLDER_NOT_FOUND)
        if error.code == FOLDER_NOT_FOUND:
            error = EWSError("ErrorToFolderNotFound", error.message)
        ctx.log(f"CopyFolder: {error.code}: {error.message}")
        return response("CopyFolder", [response_message("CopyFolder", error.code, error.message,
                                                        [etree.Element(m("Folders"))]) for _ in sources])
    answers = []
    for element in sources:
        try:
            folder = await tree.resolve(ctx, element, folders)
            if folder.is_mail:
                ref = await _copy_mail_folder(ctx, folder, dest, folders)
            elif folder.ref.kind == ids.COLLECTION:
                ref = await _copy_collection(ctx, folder, dest)
            else:
                raise EWSError(MOVE_COPY_FAILED, f"{folder.display_name} cannot be copied")
            folders = await tree.all_folders(ctx)  # the next copy sees this one
        except (EWSError, SmsyncError) as e:
            error = from_store(e, FOLDER_NOT_FOUND)
            ctx.log(f"CopyFolder: {error.code}: {error.message}")
            answers.append(response_message("CopyFolder", error.code, error.message,
                                            [etree.Element(m("Folders"))]))
            continue
        answers.append(response_message("CopyFolder", children=[_copied(ref, folder.element)]))
    return response("CopyFolder", answers)
