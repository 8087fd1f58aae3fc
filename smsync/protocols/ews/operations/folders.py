"""GetFolder and FindFolder (MS-OXWSFOLD): folders by id or distinguished id, and the
folders below one (Shallow or Deep), in the shape asked for."""

from __future__ import annotations

from lxml import etree

from smsync.errors import SmsyncError
from smsync.protocols.ews import ids, shapes, tree
from smsync.protocols.ews import extended_store  # ews-xprop
from smsync.protocols.ews.errors import SCHEMA_VALIDATION, EWSError, from_store
from smsync.protocols.ews.operations import operation
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
