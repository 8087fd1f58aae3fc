"""Extended properties of messages and folders, kept in the account's settings
(``IAccountSettings``, the store's ``settings``).

Why there: a stored message is immutable RFC 5322 bytes that IMAP, POP3 and EAS serve
as they are -- a header added for a property would change the message every client
sees and could not be changed by UpdateItem anyway -- and a folder has no place of its
own for them. The settings are the account's, shared by every process and kept across
restarts, and a value there costs the message nothing.

- Messages: one setting a mail folder, ``ews:xprop:m:<folder id>``, JSON
  ``{uid: {key: stored text}}`` (``extended.encode``). A folder's id is never reused
  and neither is a UID within it, so an entry can never name another message. Entries
  of messages expunged since are dropped lazily, whenever the folder's setting is
  written; MoveItem and CopyItem carry them to the new message (a move over IMAP does
  not: the moved message is a new one there), and SendAndSaveCopy gives them to the
  copy filed in Sent Items. A change of only these leaves the message's ChangeKey (its
  MODSEQ) as it was: nothing IMAP sees changed. A folder's properties of all its
  messages share ``MAX_SETTING`` (64 KiB): beyond that a set is refused with
  ``ErrorDataSizeLimitExceeded`` rather than dropped.
- Folders: ``ews:xprop:f:<kind>:<folder id>``, JSON ``{key: stored text}``, removed
  with the folder by DeleteFolder.

A store without settings keeps none of these: reads answer nothing, and a set is
refused (``ErrorItemSavePropertyError``) instead of pretending. Two writers of one
folder's setting at the same instant may lose one's change (the settings have no
compare-and-set); clients set properties one item at a time, so this is accepted.
"""

from __future__ import annotations

import hashlib
import json

from smsync.interfaces import MAX_SETTING
from smsync.model import UIDSet
from smsync.protocols.ews import ids, successors
from smsync.protocols.ews.errors import EWSError
from smsync.protocols.ews.extended import CANNOT_SAVE, TOO_LARGE, render
from smsync.protocols.ews.soap import t


def _settings(ctx):
    return getattr(ctx.store, "settings", None)


def _key(prefix: str, name: str) -> str:
    key = f"ews:xprop:{prefix}:{name}"
    if len(key) > 200:  # the settings' longest key
        key = f"ews:xprop:{prefix}:#" + hashlib.sha256(name.encode("utf-8")).hexdigest()
    return key


async def _load(ctx, key: str) -> dict:
    settings = _settings(ctx)
    if settings is None:
        return {}
    raw = await settings.get(ctx.account, key)
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}  # damaged: as if nothing were kept
    return value if isinstance(value, dict) else {}


async def _save(ctx, key: str, value: dict) -> None:
    settings = _settings(ctx)
    if settings is None:
        raise EWSError(CANNOT_SAVE, "this server's store keeps no extended properties of messages or folders")
    raw = json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8") if value else None
    if raw is not None and len(raw) > MAX_SETTING:
        raise EWSError(TOO_LARGE, "the folder's extended properties would exceed 64 KiB")
    await settings.set(ctx.account, key, raw)


def require(ctx, changes) -> None:
    """Refuse (before anything is made) ``changes`` a store without settings cannot keep."""
    if changes and _settings(ctx) is None:
        raise EWSError(CANNOT_SAVE, "this server's store keeps no extended properties of messages or folders")


def _merge(current: dict, changes: dict) -> dict:
    merged = dict(current)
    for key, stored in changes.items():
        if stored is None:
            merged.pop(key, None)
        else:
            merged[key] = stored
    return merged


# -- folders ---------------------------------------------------------------------------


def _folder_key(ref: ids.FolderRef) -> str:
    return _key("f", f"{ref.kind}:{ref.source}")


async def folder_props(ctx, ref: ids.FolderRef) -> dict:
    return {k: v for k, v in (await _load(ctx, _folder_key(ref))).items() if isinstance(v, str)}


async def change_folder(ctx, ref: ids.FolderRef, changes: dict) -> None:
    """Apply ``changes`` (key -> stored text, None to delete) to a folder's properties."""
    if not changes:
        return
    require(ctx, changes)
    await _save(ctx, _folder_key(ref), _merge(await folder_props(ctx, ref), changes))


async def forget_folder(ctx, ref: ids.FolderRef) -> None:
    if _settings(ctx) is not None:
        await _settings(ctx).set(ctx.account, _folder_key(ref), None)
        if ref.kind == ids.MAIL_FOLDER:
            await _settings(ctx).set(ctx.account, _key("m", ref.source), None)


async def render_folder(ctx, node, ref: ids.FolderRef, shape) -> None:
    """Add the properties ``shape`` asks for to a folder's element."""
    if getattr(shape, "extended", ()):
        render(node, await folder_props(ctx, ref), shape)


# -- messages --------------------------------------------------------------------------


async def message_table(ctx, source: str) -> dict:
    """``{uid as text: {key: stored text}}`` of a mail folder."""
    return await _load(ctx, _key("m", source))


async def change_message(ctx, mailbox, uid: int, changes: dict) -> None:
    """Apply ``changes`` to the properties of message ``uid`` of ``mailbox``, dropping
    the entries of messages no longer there."""
    if not changes:
        return
    require(ctx, changes)
    key = _key("m", mailbox.id)
    table = await _load(ctx, key)
    entry = _merge(table.get(str(uid), {}) if isinstance(table.get(str(uid)), dict) else {}, changes)
    others = [int(u) for u in table if u.isdigit() and int(u) != uid]
    present = {i.uid for i in await mailbox.messages(UIDSet.of(others))} if others else set()
    table = {u: v for u, v in table.items() if u.isdigit() and int(u) in present}
    if entry:
        table[str(uid)] = entry
    await _save(ctx, key, table)


async def carry(ctx, source: str, uid: int, dest_box, new_uid: int) -> None:
    """Give a message copied or moved by EWS (to ``new_uid`` of ``dest_box``) the
    properties of the original."""
    if _settings(ctx) is None:
        return
    entry = (await message_table(ctx, source)).get(str(uid))
    if isinstance(entry, dict) and entry:
        await change_message(ctx, dest_box, new_uid, entry)


async def fill_messages(ctx, shape, root) -> None:
    """Add the properties ``shape`` asks for to every message element below ``root``
    (an answer's ``<t:Items>`` or ``<m:Changes>``): one settings read a folder."""
    if not getattr(shape, "extended", ()) or _settings(ctx) is None:
        return
    tables: dict = {}
    found = []
    for id_node in list(root.iter(t("ItemId"))):
        item = id_node.getparent()
        if item is None or item.tag in (t("Delete"), t("ReadFlagChange")):
            continue
        try:
            ref = ids.parse_item_id(id_node.get("Id") or "")
        except ids.MalformedId:
            continue
        if ref.kind == ids.MESSAGE:
            found.append((item, ref))
    # An id of a message rewritten since (``successors``; answers echo the id asked by)
    # reads the properties of the message it is now.
    now: dict = {}
    for source in {ref.source for _item, ref in found}:
        moved = await successors.find_all(ctx, source, {ref.uid for _item, ref in found if ref.source == source})
        now.update({(source, str(old)): str(successor.uid) for old, successor in moved.items()})
    for item, ref in found:
        if ref.source not in tables:
            tables[ref.source] = await message_table(ctx, ref.source)
        entry = tables[ref.source].get(now.get((ref.source, ref.key), ref.key))
        if isinstance(entry, dict) and entry:
            render(item, entry, shape)
