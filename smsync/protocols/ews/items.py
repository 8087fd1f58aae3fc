"""Reading the items an ItemId names, for every item operation: parsing and checking
the id (``ErrorInvalidIdMalformed`` for garbage, ``ErrorAccessDenied`` for another
account's), opening its folder and reading the message's metadata and structure.

A message rewritten since the client got its id (an attachment added or removed: a new
UID) is found through its successor (``successors``): ``Message.ref`` stays the id the
client presented, which answers echo as Exchange's stable ids would (exchangelib checks
that UpdateItem and GetItem answer the id it sent), and ``Message.uid`` is the UID the
message has now, for everything done to it."""

from __future__ import annotations

from typing import Optional

import attrs

from smsync.errors import NotFound
from smsync.model import MessageInfo, UIDSet
from smsync.protocols.ews import ids, successors
from smsync.protocols.ews.errors import (
    ACCESS_DENIED,
    INVALID_ID_EMPTY,
    INVALID_ID_MALFORMED,
    INVALID_OPERATION,
    ITEM_NOT_FOUND,
    EWSError,
)
from smsync.protocols.ews.soap import t

_ITEM_ID = t("ItemId")


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
    """One stored message: the id it was asked by, folder handle, metadata and
    structure; ``paths``, when the message was found through its successor, maps the
    attachment paths of the id's message that moved (``successors.follow``)."""

    ref: ids.ItemRef
    mailbox: object
    info: MessageInfo
    structure: object
    paths: dict = attrs.field(factory=dict)

    @property
    def uid(self) -> int:
        """The UID the message has now (``ref.uid`` unless it was rewritten since)."""
        return self.info.uid

    def attachment_path(self, path: str) -> Optional[str]:
        """Where attachment ``path`` of ``ref``'s message is now (None: removed since)."""
        return successors.follow(self.paths, path)


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
    uid, paths = ref.uid, {}
    infos = await mailbox.messages(UIDSet.of([uid]))
    # Chains are collapsed as they are recorded; a few steps more cover a link two
    # processes recorded at once.
    for _step in range(4):
        if infos:
            break
        successor = await successors.find(ctx, ref.source, uid)
        if successor is None:
            break
        uid, paths = successor.uid, successors.compose(paths, successor.paths)
        infos = await mailbox.messages(UIDSet.of([uid]))
    if not infos:
        raise EWSError(ITEM_NOT_FOUND, "the item is gone")
    structures = await mailbox.structures([uid])
    structure = structures.get(uid)
    if structure is None:
        raise EWSError(ITEM_NOT_FOUND, "the item is gone")
    return Message(ref, mailbox, infos[0], structure, paths)


async def stored_uids(ctx, mailbox, source: str, uids, infos: dict) -> dict:
    """For a bulk read (GetItem): ``presented UID -> UID now`` for ``uids`` of folder
    ``source``, given ``infos`` (UID -> ``MessageInfo``) read for them; the infos of
    successors found for the missing ones are added to ``infos``."""
    now = {uid: uid for uid in uids}
    found = await successors.find_all(ctx, source, [uid for uid in uids if uid not in infos])
    for uid, successor in found.items():
        now[uid] = successor.uid
    wanted = sorted({u for u in now.values() if u not in infos})
    if wanted:
        infos.update({i.uid: i for i in await mailbox.messages(UIDSet.of(wanted))})
    return now


def echo_id(node, ref: ids.ItemRef, uid: int) -> None:
    """Make the ItemId of an item element ``node``, built from message ``uid`` as it is
    stored now, the id the client asked by, ``ref`` (when they differ: rewritten)."""
    if uid == ref.uid:
        return
    item_id = node.find(_ITEM_ID)
    if item_id is not None:
        item_id.set("Id", ids.item_id(ref))


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
        return await msg.mailbox.read_body(msg.uid)
    except NotFound:
        raise EWSError(ITEM_NOT_FOUND, "the item is gone") from None
