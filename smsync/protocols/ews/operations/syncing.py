"""SyncFolderItems and SyncFolderHierarchy (MS-OXWSSYNC).

SyncFolderItems runs the sync engine (``ISyncAdapter``) every state-based protocol
shares: the client is its device (named by its User-Agent), the folder its source, and
the SyncState carries the folder, the engine's sync key and a *lane*
(``smsync.sync.lanes``), so a state shown for another folder, or one never issued, is
``ErrorInvalidSyncStateData`` and the client starts over. Exchange's SyncStates are
independent of each other, and two sessions of one program share a User-Agent, so
every SyncFolderItems without a SyncState starts a new random lane: each chain of
states is its own, and two sessions syncing one folder never reset each other. The
engine keeps the 16 lanes of a client and folder used last (a script that starts over
every run does not grow its state for ever); a state of a lane dropped since is
``ErrorInvalidSyncStateData``. Presenting the previous state of a lane again (the
answer was lost) gets the same answer again and applies nothing twice. A state issued
before lanes (no lane in it) goes on in the client's lane-less state.

SyncFolderHierarchy needs no server state: its SyncState lists the folders the client
was last told of, with a digest of what it saw of each, so the next call reports the
folders made, changed and gone since.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import zlib

from lxml import etree

from smsync.errors import InvalidData, NotFound, SmsyncError, SyncTokenInvalid
from smsync.model import CollectionKind
from smsync.protocols.ews import calendar, contacts, extended_store, ids, meeting_items, messages, notes, shapes, tasks, tree
from smsync.protocols.ews.errors import (
    INVALID_OPERATION,
    INVALID_SYNC_STATE,
    SCHEMA_VALIDATION,
    EWSError,
    from_store,
)
from smsync.protocols.ews.operations import operation
from smsync.protocols.ews.operations.folders import folder_element
from smsync.protocols.ews.soap import m, response, response_message, t
from smsync.sync import ADD, COLLECTION, DELETE, MAIL, SourceRef

#: MaxChangesReturned bounds (MS-OXWSSYNC 2.2.4.3: 1 to 512).
MAX_CHANGES = 512
_ITEMS_PREFIX = b"EWSI1"
_FOLDERS_PREFIX = b"EWSH1"


def _pack(prefix: bytes, document) -> str:
    raw = zlib.compress(json.dumps(document, separators=(",", ":")).encode("utf-8"))
    return base64.b64encode(prefix + raw).decode("ascii")


def _unpack(prefix: bytes, text: str):
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        if not raw.startswith(prefix):
            raise ValueError("not ours")
        return json.loads(zlib.decompressobj().decompress(raw[len(prefix):], 1 << 20))
    except (binascii.Error, ValueError, zlib.error, UnicodeDecodeError):
        raise EWSError(INVALID_SYNC_STATE, "the SyncState is not one this server gave") from None


def _sync_folder(request, ctx, folders):
    holder = request.find(m("SyncFolderId"))
    targets = [c for c in holder if isinstance(c.tag, str)] if holder is not None else []
    if len(targets) != 1:
        return None
    return tree.find(folders, tree.parse_folder_ref(ctx, targets[0]))


# -- SyncFolderItems -------------------------------------------------------------------


@operation("SyncFolderItems")
async def sync_folder_items(ctx, request):
    try:
        answer = await _sync_items(ctx, request)
    except (EWSError, SmsyncError) as e:
        error = from_store(e, "ErrorFolderNotFound")
        ctx.log(f"SyncFolderItems: {error.code}: {error.message}")
        return response("SyncFolderItems", [response_message("SyncFolderItems", error.code, error.message)])
    return response("SyncFolderItems", [answer])


async def _sync_items(ctx, request):
    shape = shapes.parse_shape(request, "ItemShape")
    try:
        window = int(request.findtext(m("MaxChangesReturned")) or "")
    except ValueError:
        raise EWSError(SCHEMA_VALIDATION, "MaxChangesReturned is a number from 1 to 512") from None
    if not 1 <= window <= MAX_CHANGES:
        raise EWSError(SCHEMA_VALIDATION, "MaxChangesReturned is a number from 1 to 512")
    folders = await tree.all_folders(ctx)
    folder = _sync_folder(request, ctx, folders)
    if folder is None:
        raise EWSError(SCHEMA_VALIDATION, "SyncFolderId names one folder")
    if not folder.is_mail and folder.kind not in (CollectionKind.ADDRESSBOOK, CollectionKind.CALENDAR,
                                                  CollectionKind.TASKS, CollectionKind.NOTES):
        raise EWSError(INVALID_OPERATION, "this folder is not synchronised")
    state_text = (request.findtext(m("SyncState")) or "").strip()
    key = "0"
    # A new chain of states: a lane of its own (12 characters of ``lanes.check``'s set).
    lane = secrets.token_urlsafe(9)
    if state_text:
        state = _unpack(_ITEMS_PREFIX, state_text)
        if not isinstance(state, dict) or state.get("f") != folder.ref.source or not isinstance(state.get("k"), str):
            raise EWSError(INVALID_SYNC_STATE, "the SyncState is of another folder")
        key = state["k"]
        lane = state.get("l")
        if lane is not None and not isinstance(lane, str):
            raise EWSError(INVALID_SYNC_STATE, "the SyncState is not one this server gave")
    ignore = set()
    ignored = request.find(m("Ignore"))
    if ignored is not None:
        from smsync.protocols.ews.items import parse_item_ref

        for element in ignored:
            if isinstance(element.tag, str):
                ref = parse_item_ref(ctx, element)
                if ref.source == folder.ref.source:
                    ignore.add(ref.key)
    source = SourceRef(MAIL if folder.is_mail else COLLECTION, folder.ref.source)
    try:
        try:
            result = await ctx.sync_adapter.sync(ctx.account, ctx.device_id, source, key, (), window,
                                                 lane=lane)
        except NotFound:
            # The folder is gone, or the client's entry in the devices list was removed
            # (by its user, lately): make the entry again and let the folder decide.
            await ctx.store.devices.seen(ctx.account, ctx.device_id, "ews", user_agent=ctx.user_agent)
            result = await ctx.sync_adapter.sync(ctx.account, ctx.device_id, source, key, (), window,
                                                 lane=lane)
    except SyncTokenInvalid as e:
        raise EWSError(INVALID_SYNC_STATE, str(e)) from None
    except InvalidData:
        # A lane this server never makes: a state that was tampered with.
        raise EWSError(INVALID_SYNC_STATE, "the SyncState is not one this server gave") from None
    except NotFound:
        raise EWSError("ErrorFolderNotFound", "the folder is gone") from None
    if not folder.is_mail:
        changes = _contact_changes(ctx, folder, result, shape, ignore)
        return await _sync_answer(ctx, folder, result, changes, key, lane)
    mailbox = await tree.mailbox_of(ctx, folder)
    shown = [c for c in result.changes if c.op != DELETE and c.message is not None and c.server_id not in ignore]
    structures = await mailbox.structures([int(c.server_id) for c in shown]) if shown else {}
    raws = {}
    if shape.mime or shape.wants("item:Body") or shape.wants("item:TextBody"):
        for change in shown:
            try:
                raws[change.server_id] = await mailbox.read_body(int(change.server_id))
            except NotFound:
                pass
    meetings = await meeting_items.meetings_of(ctx, mailbox, structures,
                                               {int(k): v for k, v in raws.items()})
    changes = etree.Element(m("Changes"))
    for change in result.changes:
        if change.server_id in ignore:
            continue
        if change.op == DELETE:
            node = etree.SubElement(changes, t("Delete"))
            ref = ids.ItemRef(ctx.account, ids.MESSAGE, folder.ref.source, change.server_id)
            etree.SubElement(node, t("ItemId"), Id=ids.item_id(ref))
            continue
        structure = structures.get(int(change.server_id))
        if structure is None or change.message is None:
            continue  # gone between the engine's read and this one: its delete follows
        node = etree.SubElement(changes, t("Create" if change.op == ADD else "Update"))
        node.append(messages.message_element(ctx.account, folder.ref.source, change.message,
                                             structure, shape, raws.get(change.server_id),
                                             meeting=meetings.get(int(change.server_id))))
    await extended_store.fill_messages(ctx, shape, changes)
    return await _sync_answer(ctx, folder, result, changes, key, lane)


def _contact_changes(ctx, folder, result, shape, ignore):
    changes = etree.Element(m("Changes"))
    for change in result.changes:
        if change.server_id in ignore:
            continue
        if change.op == DELETE:
            node = etree.SubElement(changes, t("Delete"))
            ref = ids.ItemRef(ctx.account, ids.ITEM, folder.ref.source, change.server_id)
            etree.SubElement(node, t("ItemId"), Id=ids.item_id(ref))
            continue
        item = change.item
        converters = {"VCARD": contacts.contact_element, "VEVENT": calendar.calendar_item_element,
                      "VTODO": tasks.task_element, "VJOURNAL": notes.note_element}
        if item is None or item.info.component not in converters:
            continue
        convert = converters[item.info.component]
        try:
            if convert is calendar.calendar_item_element:
                element = convert(ctx.account, folder.ref.source, item.info.name, item.info.revision,
                                  item.content, shape, version=ctx.version)
            else:
                element = convert(ctx.account, folder.ref.source, item.info.name, item.info.revision,
                                  item.content, shape)
        except (EWSError, SmsyncError) as e:
            ctx.log(f"SyncFolderItems: {item.info.name}: {e.message}")
            continue
        node = etree.SubElement(changes, t("Create" if change.op == ADD else "Update"))
        node.append(element)
    return changes


async def _sync_answer(ctx, folder, result, changes, key: str, lane):
    document = {"f": folder.ref.source, "k": result.sync_key}
    if lane is not None:
        document["l"] = lane
    new_state = _pack(_ITEMS_PREFIX, document)
    sync_state = etree.Element(m("SyncState"))
    sync_state.text = new_state
    last = etree.Element(m("IncludesLastItemInRange"))
    last.text = "false" if result.more_available else "true"
    if result.changes or key == "0":
        await ctx.note(f"SyncFolderItems: {len(result.changes)} change(s) of {folder.display_name}"
                       + (", more to come" if result.more_available else ""))
    return response_message("SyncFolderItems", children=[sync_state, last, changes])


# -- SyncFolderHierarchy ---------------------------------------------------------------


def _digest(folder: tree.Folder) -> str:
    parent = ids.folder_id(folder.parent) if folder.parent is not None else ""
    text = "\0".join((folder.display_name, parent, folder.folder_class))
    return hashlib.blake2b(text.encode("utf-8"), digest_size=6).hexdigest()


@operation("SyncFolderHierarchy")
async def sync_folder_hierarchy(ctx, request):
    try:
        answer = await _sync_hierarchy(ctx, request)
    except (EWSError, SmsyncError) as e:
        error = from_store(e, "ErrorFolderNotFound")
        ctx.log(f"SyncFolderHierarchy: {error.code}: {error.message}")
        return response("SyncFolderHierarchy",
                        [response_message("SyncFolderHierarchy", error.code, error.message)])
    return response("SyncFolderHierarchy", [answer])


async def _sync_hierarchy(ctx, request):
    shape = shapes.parse_shape(request, "FolderShape")
    folders = await tree.all_folders(ctx)
    top = _sync_folder(request, ctx, folders) if request.find(m("SyncFolderId")) is not None \
        else tree.find(folders, ids.FolderRef(ctx.account, ids.VIRTUAL, ids.ROOT))
    if top is None:
        raise EWSError(SCHEMA_VALIDATION, "SyncFolderId names one folder")
    below = tree.children(folders, top, deep=True)
    state_text = (request.findtext(m("SyncState")) or "").strip()
    known: dict = {}
    if state_text:
        state = _unpack(_FOLDERS_PREFIX, state_text)
        if not isinstance(state, dict) or state.get("top") != top.id or not isinstance(state.get("known"), list):
            raise EWSError(INVALID_SYNC_STATE, "the SyncState is of another folder")
        known = {kind + "\0" + source: digest for kind, source, digest in state["known"]}
    changes = etree.Element(m("Changes"))
    now = {}
    for folder in below:
        key = folder.ref.kind + "\0" + folder.ref.source
        digest = now[key] = _digest(folder)
        if known.get(key) == digest:
            continue
        node = etree.SubElement(changes, t("Create" if key not in known else "Update"))
        node.append(await folder_element(ctx, folder, shape, folders))
    for key in known:
        if key not in now:
            kind, _, source = key.partition("\0")
            node = etree.SubElement(changes, t("Delete"))
            etree.SubElement(node, t("FolderId"), Id=ids.folder_id(ids.FolderRef(ctx.account, kind, source)))
    new_state = _pack(_FOLDERS_PREFIX, {"top": top.id, "known": [
        [*key.split("\0", 1), digest] for key, digest in now.items()]})
    sync_state = etree.Element(m("SyncState"))
    sync_state.text = new_state
    last = etree.Element(m("IncludesLastFolderInRange"))
    last.text = "true"
    return response_message("SyncFolderHierarchy", children=[sync_state, last, changes])

