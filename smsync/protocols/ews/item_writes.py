"""What every EWS kind's CreateItem and UpdateItem share: the folder a new item goes
to, the ChangeKey check, the guarded write and the answer's ``<t:ItemId>``; so notes,
tasks, contacts and events differ only in how their fields are read and applied."""

from __future__ import annotations

from lxml import etree

from smsync.errors import PreconditionFailed
from smsync.model import CollectionKind
from smsync.protocols.ews import ids, tree
from smsync.protocols.ews.errors import (
    INVALID_OPERATION,
    INVALID_PROPERTY_SET,
    IRRESOLVABLE_CONFLICT,
    SCHEMA_VALIDATION,
    EWSError,
)
from smsync.protocols.ews.soap import t


def saved_folder(saved):
    """The one folder element of a SavedItemFolderId (None without one)."""
    if saved is None:
        return None
    targets = [c for c in saved if isinstance(c.tag, str)]
    if len(targets) != 1:
        raise EWSError(SCHEMA_VALIDATION, "SavedItemFolderId names one folder")
    return targets[0]


async def target(ctx, saved, distinguished: str, kind: CollectionKind, refusal: str):
    """``(folder, collection)`` a new item goes to: the one SavedItemFolderId names, else
    the account's distinguished folder; ``refusal`` if that folder holds other items."""
    element = saved_folder(saved)
    if element is not None:
        folder = await tree.resolve(ctx, element)
    else:
        folder = tree.find(await tree.all_folders(ctx), ids.FolderRef(ctx.account, "D", distinguished))
    if folder.kind != kind:
        raise EWSError(INVALID_OPERATION, refusal)
    return folder, await tree.collection_of(ctx, folder)


def created(tag: str, ctx, folder, info):
    """The answer's element for an item just stored: its ItemId and ChangeKey."""
    return answer(tag, ids.ItemRef(ctx.account, ids.ITEM, folder.ref.source, info.name), info)


def answer(tag: str, ref, info):
    """``<t:{tag}>`` with the ItemId of ``ref`` and the ChangeKey of revision ``info``."""
    node = etree.Element(t(tag))
    etree.SubElement(node, t("ItemId"), Id=ids.item_id(ref), ChangeKey=ids.change_key(info.revision))
    return node


def check_change_key(info, resolution: str, change_key) -> None:
    """Refuse a NeverOverwrite update whose ChangeKey is not the stored revision."""
    presented = ids.parse_change_key(change_key)
    if resolution == "NeverOverwrite" and presented is not None and presented != info.revision:
        raise EWSError(IRRESOLVABLE_CONFLICT, "the item changed since its ChangeKey")


async def replace(found, name: str, content: bytes):
    """Store ``content`` over the item ``found`` read, if no one wrote it since; its new info."""
    try:
        return await found.collection.put(name, content, if_match=found.item.info.etag)
    except PreconditionFailed:
        raise EWSError(IRRESOLVABLE_CONFLICT, "the item changed meanwhile") from None


def field_updates(updates, known: dict, ignored, what: str):
    """``(action, field, update, uri element)`` for each change in ``<t:Updates>``:
    FieldURIs in ``ignored`` are taken and dropped (clients saving every field send
    them), others not in ``known`` refused as not changeable on ``what``."""
    for update in updates:
        if not isinstance(update.tag, str):
            continue
        action = update.tag.rpartition("}")[2]
        uri_el = update.find(t("FieldURI"))
        uri = uri_el.get("FieldURI") if uri_el is not None else None
        if uri in ignored:
            continue
        if uri not in known:
            raise EWSError(INVALID_PROPERTY_SET, f"{str(uri or '?')[:60]} cannot be changed on {what}")
        yield action, known[uri], update, uri_el
