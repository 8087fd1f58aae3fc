"""The start every collection item's element (a note, a contact, a task) has when read:
its ItemId and ChangeKey, then ParentFolderId and ItemClass when the shape asks."""

from __future__ import annotations

from lxml import etree

from smsync.protocols.ews import ids
from smsync.protocols.ews.soap import t


def item_element(tag: str, item_class: str, ref: ids.ItemRef, revision, wants):
    """``<t:{tag}>`` of the stored item ``ref``; ``wants(uri)`` says which of the
    FieldURIs the shape asks for."""
    account, source = ref.account, ref.source
    node = etree.Element(t(tag))
    etree.SubElement(node, t("ItemId"), Id=ids.item_id(ref), ChangeKey=ids.change_key(revision))
    if wants("item:ParentFolderId"):
        etree.SubElement(node, t("ParentFolderId"),
                         Id=ids.folder_id(ids.FolderRef(account, ids.COLLECTION, source)))
    if wants("item:ItemClass"):
        etree.SubElement(node, t("ItemClass")).text = item_class
    return node
