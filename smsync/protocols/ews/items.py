"""Reading the items an ItemId names, for every item operation: parsing and checking
the id (``ErrorInvalidIdMalformed`` for garbage, ``ErrorAccessDenied`` for another
account's), opening its folder and reading the message's metadata and structure."""

from __future__ import annotations

from typing import Optional

import attrs

from smsync.errors import NotFound
from smsync.model import MessageInfo, UIDSet
from smsync.protocols.ews import ids
from smsync.protocols.ews.errors import (
    ACCESS_DENIED,
    INVALID_ID_EMPTY,
    INVALID_ID_MALFORMED,
    INVALID_OPERATION,
    ITEM_NOT_FOUND,
    EWSError,
)


def parse_item_ref(ctx, element) -> ids.ItemRef:
    """The item an ``<t:ItemId>`` names, the account's own (``EWSError`` otherwise)."""
    text = element.get("Id")
    if not text:
        raise EWSError(INVALID_ID_EMPTY, "an ItemId without Id")
    try:
        ref = ids.parse_item_id(text)
    except ids.MalformedId as e:
        raise EWSError(INVALID_ID_MALFORMED, f"item id: {e}") from None
    if ref.account != ctx.account:
        raise EWSError(ACCESS_DENIED, "the item belongs to another account")
    return ref


@attrs.frozen
class Message:
    """One stored message: its id, folder handle, metadata and structure."""

    ref: ids.ItemRef
    mailbox: object
    info: MessageInfo
    structure: object


async def open_mailbox(ctx, source: str):
    mail = await ctx.store.mail(ctx.account)
    try:
        return await mail.mailbox_by_id(source)
    except NotFound:
        raise EWSError(ITEM_NOT_FOUND, "the item's folder is gone") from None


async def message(ctx, ref: ids.ItemRef, mailbox=None) -> Message:
    """The message ``ref`` names (``ErrorItemNotFound`` when it is gone)."""
    if ref.kind != ids.MESSAGE:
        raise EWSError(INVALID_OPERATION, "only mail items are served yet")
    if mailbox is None:
        mailbox = await open_mailbox(ctx, ref.source)
    infos = await mailbox.messages(UIDSet.of([ref.uid]))
    if not infos:
        raise EWSError(ITEM_NOT_FOUND, "the item is gone")
    structures = await mailbox.structures([ref.uid])
    structure = structures.get(ref.uid)
    if structure is None:
        raise EWSError(ITEM_NOT_FOUND, "the item is gone")
    return Message(ref, mailbox, infos[0], structure)


@attrs.frozen
class CollectionItem:
    """One collection item: its id, collection handle and stored item."""

    ref: ids.ItemRef
    collection: object
    item: object


async def collection_item(ctx, ref: ids.ItemRef) -> CollectionItem:
    """The collection item ``ref`` names (``ErrorItemNotFound`` when it is gone)."""
    collections = await ctx.store.collections(ctx.account)
    try:
        collection = await collections.collection_by_id(ref.source)
    except NotFound:
        raise EWSError(ITEM_NOT_FOUND, "the item's folder is gone") from None
    # An occurrence's key names its event's stored item, then its RECURRENCE-ID.
    found = await collection.get([ref.key.partition("\x00")[0]])
    if not found:
        raise EWSError(ITEM_NOT_FOUND, "the item is gone")
    return CollectionItem(ref, collection, found[0])


async def body(msg: Message) -> Optional[bytes]:
    try:
        return await msg.mailbox.read_body(msg.ref.uid)
    except NotFound:
        raise EWSError(ITEM_NOT_FOUND, "the item is gone") from None
