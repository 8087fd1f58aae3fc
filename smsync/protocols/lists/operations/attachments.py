"""GetAttachmentCollection, AddAttachment and DeleteAttachment (MS-LISTSWS 3.1.4.1,
3.1.4.5, 3.1.4.11) on list items: an event's or task's files, a contact's photo (any
other file on a contact is refused: a vCard keeps none). Each change is one store
write of the item, made only if the item did not change meanwhile."""

from __future__ import annotations

import base64
import binascii
import mimetypes
from urllib.parse import urlsplit

from lxml import etree

from smsync.errors import InvalidData, PreconditionFailed
from smsync.formats import pim_attachments as files
from smsync.protocols.lists import attachments, catalog, soap
from smsync.protocols.lists.operations import operation


def _fault(text: str, code: str = soap.GENERIC) -> soap.ListsFault:
    return soap.ListsFault(text, code)


async def _item(ctx, ref, text):
    """``(ID, Item)`` of the row ``text`` names (an occurrence row: its series)."""
    text = (text or "").strip()
    if not (text.isdigit() and len(text) <= 10):
        raise _fault("Item does not exist. It may have been deleted by another user.", attachments.NO_ITEM)
    idmap = await ctx.state.ids(ref.info.id)
    key = idmap.name_of(int(text))
    if key is None:
        raise _fault("Item does not exist. It may have been deleted by another user.", attachments.NO_ITEM)
    collection = await ctx.collection(ref)
    found = await collection.get([attachments.series_name(key)])
    if not found or not catalog.shows(ref, found[0].info):
        raise _fault("Item does not exist. It may have been deleted by another user.", attachments.NO_ITEM)
    return int(text), found[0]


async def _store(ctx, ref, item, root) -> None:
    collection = await ctx.collection(ref)
    try:
        await collection.put(item.info.name, attachments.rewrite(root), if_match=item.info.etag)
    except PreconditionFailed:
        raise _fault("Save Conflict. The item was changed meanwhile; try again.", "0x81020015") from None
    except InvalidData as e:
        raise _fault(f"Invalid data: {e}") from None


@operation("GetAttachmentCollection")
async def get_attachment_collection(ctx, request):
    """The URLs of an item's attachments."""
    ref = await ctx.list(request.param("listName"))
    item_id, item = await _item(ctx, ref, request.param("listItemID"))
    root, result = soap.response("GetAttachmentCollection")
    holder = etree.SubElement(result, soap.sp("Attachments"))
    for name in attachments.names(item.content):
        etree.SubElement(holder, soap.sp("Attachment")).text = attachments.url_of(
            ctx.site_url, ref.url_name, item_id, name)
    return root


@operation("AddAttachment")
async def add_attachment(ctx, request):
    """Attach the base64 ``attachment`` as ``fileName``; the attachment's URL."""
    ref = await ctx.list(request.param("listName"))
    item_id, item = await _item(ctx, ref, request.param("listItemID"))
    name = (request.param("fileName") or "").strip()
    if not attachments.good_name(name):
        raise _fault(f"The file name {name[:60]!r} is not valid.")
    encoded = "".join((request.param("attachment") or "").split())
    if len(encoded) > attachments.MAX_ATTACHMENT * 4 // 3 + 4:
        raise _fault("The attachment is too large.")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _fault("The attachment is not base64.") from None
    root = attachments.parse(item.content)
    holder = files.holder_of(root) if root is not None else None
    if holder is None:
        raise _fault("The item holds nothing to attach to.")
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if holder.name == "VCARD":
        if not kind.startswith("image/"):
            raise _fault("A contact keeps only its photo: attach an image (.jpg, .png, .gif).")
    elif files.find_named(holder, name) is not None:
        raise _fault(f"A file with the name {name} already exists.", "0x81020067")
    files.put_file(root, name, kind, data)
    await _store(ctx, ref, item, root)
    await ctx.note(f"{ref.title}: attachment {name} ({len(data)} bytes) added to item {item_id}")
    root_el, result = soap.response("AddAttachment")
    result.text = attachments.url_of(ctx.site_url, ref.url_name, item_id, name)
    return root_el


@operation("DeleteAttachment")
async def delete_attachment(ctx, request):
    """Take the attachment ``url`` names off the item."""
    ref = await ctx.list(request.param("listName"))
    item_id, item = await _item(ctx, ref, request.param("listItemID"))
    url = (request.param("url") or "").strip()
    named = attachments.parse_path(url, ctx.site_path) or attachments.parse_path(url, urlsplit(ctx.site_url).path)
    root = attachments.parse(item.content)
    holder = files.holder_of(root) if root is not None else None
    prop = files.find_named(holder, named.file_name) if holder is not None and named else None
    if named is None or named.item_id != item_id or prop is None:
        raise _fault("The attachment does not exist.", attachments.NO_ITEM)
    files.remove(root, prop)
    await _store(ctx, ref, item, root)
    await ctx.note(f"{ref.title}: attachment {named.file_name} deleted from item {item_id}")
    root_el, result = soap.response("DeleteAttachment")
    result.getparent().remove(result)
    return root_el
