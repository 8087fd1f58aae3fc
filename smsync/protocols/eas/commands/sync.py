"""Sync (MS-ASCMD 2.2.1.21) of mail folders over ``ISyncAdapter``: the device's Read,
Flag and Delete changes applied, then the messages it does not hold sent in windows.

The EAS SyncKey is the adapter's sync key. A SyncKey of 0 answers only a new key, as
the protocol requires; the items come with the next request. Calendars, contacts, tasks
and notes are answered Status 4 until their converters exist.
"""

from __future__ import annotations

from smsync.errors import NotFound, SyncTokenInvalid
from smsync.protocols.eas.commands import CommandError, command
from smsync.protocols.eas.convert import parse_options
from smsync.protocols.eas.email import application_data, flag_changes
from smsync.protocols.eas.wbxml import Element
from smsync.sync import CHANGE, DELETE, MAIL, ClientChange, SourceRef, SyncStatus

AS = "AirSync:"
BASE = "AirSyncBase:"

#: Sync Status values (MS-ASCMD 2.2.3.177.17).
OK, INVALID_KEY, PROTOCOL_ERROR, SERVER_ERROR, NOT_FOUND = "1", "3", "4", "5", "8"

DEFAULT_WINDOW, MAX_WINDOW = 100, 512

_CHANGE_STATUS = {SyncStatus.OK: OK, SyncStatus.NOT_FOUND: NOT_FOUND,
                  SyncStatus.CONFLICT_SERVER_WON: "7", SyncStatus.CONFLICT_CLIENT_WON: OK,
                  SyncStatus.CONFLICT_BOTH_KEPT: OK}


def _a(tag: str, text=None, *children) -> Element:
    return Element(AS, tag, children, text)


def _int(element, default: int) -> int:
    if element is None or element.text is None or not element.text.isdigit():
        return default
    return int(element.text)


async def _mail_folder(ctx, folder_id: str):
    mail = await ctx.store.mail(ctx.account)
    return await mail.mailbox_by_id(folder_id)


def _client_changes(commands: Element) -> list:
    out = []
    for child in commands.children if commands is not None else ():
        sid = child.find(AS, "ServerId")
        if sid is None or not sid.text:
            continue
        if child.tag == "Delete":
            out.append(ClientChange(DELETE, server_id=sid.text))
        elif child.tag == "Change":
            data = child.find(AS, "ApplicationData")
            add, remove = flag_changes(data) if data is not None else (set(), set())
            out.append(ClientChange(CHANGE, server_id=sid.text, flags=add, flags_removed=remove))
    return out


async def _collection(ctx, adapter, request: Element) -> Element:
    key = request.find(AS, "SyncKey")
    folder = request.find(AS, "CollectionId")
    if key is None or folder is None or not key.text or not folder.text:
        return _a("Collection", None, _a("Status", PROTOCOL_ERROR))
    head = (_a("SyncKey", key.text), _a("CollectionId", folder.text))
    try:
        box = await _mail_folder(ctx, folder.text)
    except NotFound:
        return _a("Collection", None, *head, _a("Status", NOT_FOUND))
    window = min(max(_int(request.find(AS, "WindowSize"), DEFAULT_WINDOW), 1), MAX_WINDOW)
    get_changes = request.find(AS, "GetChanges")
    wants = key.text != "0" and (get_changes is None or get_changes.text in (None, "1"))
    moves = request.find(AS, "DeletesAsMoves")
    deletes_as_moves = moves is None or moves.text in (None, "1")
    options = parse_options(request.find(AS, "Options"))
    changes = _client_changes(request.find(AS, "Commands")) if key.text != "0" else []
    try:
        result = await adapter.sync(ctx.account, ctx.device_id, SourceRef(MAIL, box.id), key.text,
                                    changes, window=window if wants else 0,
                                    deletes_as_moves=deletes_as_moves)
    except SyncTokenInvalid:
        ctx.log(f"Sync {folder.text}: unknown sync key {key.text[:40]!r}; the device must start over")
        return _a("Collection", None, *head, _a("Status", INVALID_KEY))
    out = [_a("SyncKey", result.sync_key), _a("CollectionId", folder.text), _a("Status", OK)]
    if wants and result.more_available:
        out.append(_a("MoreAvailable"))
    commands = []
    adds = [c for c in result.changes if c.op != DELETE]
    structures = await box.structures([int(c.server_id) for c in adds]) if adds else {}
    for change in result.changes:
        if change.op == DELETE:
            commands.append(_a("Delete", None, _a("ServerId", change.server_id)))
            continue
        structure = structures.get(int(change.server_id))
        if structure is None:
            continue  # gone meanwhile: its delete comes with a later round
        data = await application_data(box, change.message, structure, options)
        commands.append(_a("Add" if change.op == "add" else "Change", None,
                           _a("ServerId", change.server_id), data))
    if commands:
        out.append(_a("Commands", None, *commands))
    responses = [
        _a("Change" if c.op == CHANGE else "Delete", None, _a("ServerId", c.server_id),
           _a("Status", _CHANGE_STATUS.get(r.status, SERVER_ERROR)))
        for c, r in zip(changes, result.results) if r.status != SyncStatus.OK
    ]
    if responses:
        out.append(_a("Responses", None, *responses))
    ctx.log(f"Sync {folder.text}: {len(changes)} from the device, {len(commands)} sent, "
            f"key {result.sync_key}{', more' if result.more_available else ''}")
    return _a("Collection", None, *out)


@command("Sync", AS)
async def sync(ctx, body):
    if body is None:
        # The empty Sync of MS-ASCMD 2.2.1.21 (repeat the last request) needs the last
        # request remembered; until then the device is told to send it whole.
        return _a("Sync", None, _a("Status", "13"))
    if (body.namespace, body.tag) != (AS, "Sync"):
        raise CommandError(400, "Sync needs a Sync body")
    collections = body.find(AS, "Collections")
    if collections is None:
        return _a("Sync", None, _a("Status", PROTOCOL_ERROR))
    adapter = ctx.sync_adapter
    out = [await _collection(ctx, adapter, c) for c in collections.children if c.tag == "Collection"]
    return _a("Sync", None, _a("Collections", None, *out))
