"""Sync (MS-ASCMD 2.2.1.21) of mail folders, calendars, contacts, tasks and notes over
``ISyncAdapter``: the device's Add, Change, Delete and Fetch commands applied, then the
items it does not hold sent in windows, converted at the edge (``email`` for mail, the
collection kind's converter from ``kinds`` for the rest).

The EAS SyncKey is the adapter's sync key, so a lost answer (the previous key again)
applies nothing twice, and an unknown key is Status 3. A SyncKey of 0 answers only a
new key, as the protocol requires; the items come with the next request.

Bandwidth savers of MS-ASCMD 2.2.3.166 / 2.2.3.128: an empty Sync repeats the last
request, a ``Partial`` one names only some collections and the rest come from it, and a
collection without ``Options`` or ``WindowSize`` keeps the ones it last sent. That last
request is remembered in the device's state (``state.SYNC_KEY``). A Sync with ``Wait``
or ``HeartbeatInterval`` and nothing to send waits for a change, like Ping, and answers
an empty body when none comes.

``FilterType`` (a date window) is applied at the edge: an item outside the window is
recorded as sent but not shown to the device, so it does not come back every round.

Mail items are written by the device only as drafts, from EAS 16.0 on (``drafts``): an
Add is stored with ``\\Draft`` and held as the device's own; a Change of a draft's
fields replaces the message, which gets a new UID, so the device is sent the old one's
Delete and the new one's Add. Before 16.0 an Add of mail is Status 6 and a Change only
changes flags, as for any message that is not a draft. A draft that would take the
account past its storage quota (``smsync.edge.quota``: an Add, or a Change making it
bigger) is answered Status 113, MailboxQuotaExceeded (MS-ASCMD 2.2.2), and not stored.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta, timezone
from typing import Optional

import attrs

from smsync.edge.quota import OverQuota, exceeded
from smsync.errors import NotFound, SmsyncError, SyncTokenInvalid
from smsync.formats.icalendar import overlaps
from smsync.model import UIDSet
from smsync.protocols.eas import drafts, kinds, state
from smsync.protocols.eas.commands import CommandError, command
from smsync.protocols.eas.commands.ping import MAX_HEARTBEAT, MIN_HEARTBEAT, _pending, _wait
from smsync.protocols.eas.convert import BodyOptions, ConversionError, parse_options
from smsync.protocols.eas.email import application_data, application_data_many, at_least, flag_changes
from smsync.protocols.eas.wbxml import Element, WBXMLError, decode, encode
from smsync.sync import ADD, CHANGE, COLLECTION, DELETE, MAIL, ClientChange, SourceRef, SyncStatus

AS = "AirSync:"

#: Sync Status values (MS-ASCMD 2.2.3.177.17).
OK, INVALID_KEY, PROTOCOL_ERROR, SERVER_ERROR, CONVERSION, CONFLICT, NOT_FOUND = (
    "1", "3", "4", "5", "6", "7", "8")
HIERARCHY_CHANGED, INCOMPLETE, BAD_WAIT, TOO_MANY = "12", "13", "14", "15"
#: The common status (MS-ASCMD 2.2.2) of an item the account's quota leaves no room for.
MAILBOX_QUOTA_EXCEEDED = "113"

DEFAULT_WINDOW, MAX_WINDOW = 100, 512
#: Body bytes a Fetch sends when the device names no truncation.
MAX_FETCH = 16 * 1024 * 1024
MAX_COLLECTIONS = 100
#: Hanging Sync bounds: Wait in minutes, HeartbeatInterval in seconds.
MIN_WAIT, MAX_WAIT = 1, 59

#: FilterType -> days back (MS-ASCMD 2.2.3.70.2); 8 is "incomplete tasks".
FILTER_DAYS = {1: 1, 2: 3, 3: 7, 4: 14, 5: 31, 6: 92, 7: 183}
INCOMPLETE_TASKS = 8

_CHANGE_STATUS = {SyncStatus.OK: OK, SyncStatus.NOT_FOUND: NOT_FOUND,
                  SyncStatus.CONFLICT_SERVER_WON: CONFLICT, SyncStatus.CONFLICT_CLIENT_WON: OK,
                  SyncStatus.CONFLICT_BOTH_KEPT: OK, SyncStatus.INVALID: CONVERSION,
                  SyncStatus.ALREADY_EXISTS: CONVERSION}


def _a(tag: str, text=None, *children) -> Element:
    return Element(AS, tag, children, text)


def _int(element, default):
    if element is None or element.text is None or not element.text.isdigit():
        return default
    return int(element.text)


def _flag(element, default: bool) -> bool:
    return default if element is None else element.text in (None, "1")


@attrs.define
class CollectionRequest:
    """One ``Collection`` of a Sync request, completed from the remembered request."""

    key: str
    collection_id: str
    window: int = DEFAULT_WINDOW
    get_changes: bool = True
    deletes_as_moves: bool = True
    options: Optional[Element] = None
    commands: Optional[Element] = None
    #: The fields the device said it supports (``Supported`` with SyncKey 0), as
    #: ``"Namespace:Tag"``; None: it said nothing, every field is sent whole.
    supported: Optional[frozenset] = None

    @classmethod
    def parse(cls, element: Element, cached: dict) -> Optional["CollectionRequest"]:
        key, folder = element.find(AS, "SyncKey"), element.find(AS, "CollectionId")
        if key is None or folder is None or not key.text or not folder.text:
            return None
        before = cached.get(folder.text, {})
        options = element.find(AS, "Options")
        if options is None and before.get("options"):
            try:
                options = decode(base64.b64decode(before["options"]))
            except (ValueError, WBXMLError):
                options = None
        supported = element.find(AS, "Supported")
        if supported is not None and key.text == "0":
            fields = frozenset(f"{c.namespace}{c.tag}" for c in supported.children)
        elif key.text == "0":
            fields = None
        else:
            fields = frozenset(before["supported"]) if before.get("supported") is not None else None
        return cls(key.text, folder.text,
                   _int(element.find(AS, "WindowSize"), before.get("window", DEFAULT_WINDOW)),
                   _flag(element.find(AS, "GetChanges"), True),
                   _flag(element.find(AS, "DeletesAsMoves"), True),
                   options, element.find(AS, "Commands"), fields)

    @classmethod
    def from_cache(cls, collection_id: str, before: dict) -> "CollectionRequest":
        options = None
        if before.get("options"):
            try:
                options = decode(base64.b64decode(before["options"]))
            except (ValueError, WBXMLError):
                options = None
        supported = before.get("supported")
        return cls(before["key"], collection_id, before.get("window", DEFAULT_WINDOW),
                   True, before.get("deletes_as_moves", True), options,
                   supported=frozenset(supported) if supported is not None else None)

    def remembered(self, new_key: str) -> dict:
        options = self.options
        return {"key": new_key, "window": self.window, "deletes_as_moves": self.deletes_as_moves,
                "options": base64.b64encode(encode(options)).decode() if options is not None else None,
                "supported": sorted(self.supported) if self.supported is not None else None}


@attrs.define
class Target:
    """What a CollectionId names: a mail folder, or a collection with its converter."""

    source: SourceRef
    mailbox: object = None
    collection: object = None
    kind: object = None
    converter: object = None

    @property
    def is_mail(self) -> bool:
        return self.mailbox is not None


async def _target(ctx, collection_id: str) -> Optional[Target]:
    mail = await ctx.store.mail(ctx.account)
    try:
        box = await mail.mailbox_by_id(collection_id)
        return Target(SourceRef(MAIL, box.id), mailbox=box)
    except NotFound:
        pass
    collections = await ctx.store.collections(ctx.account)
    try:
        coll = await collections.collection_by_id(collection_id)
    except NotFound:
        return None
    info = await coll.info()
    return Target(SourceRef(COLLECTION, collection_id), collection=coll, kind=info.kind,
                  converter=kinds.converter(info.kind))


@attrs.define
class _Slot:
    """One device command and, once known, its answer in ``Responses``."""

    element: Element
    change: Optional[ClientChange] = None
    #: Answered at the edge (a conversion error, a Fetch) instead of by the adapter.
    answer: Optional[Element] = None


def _respond(tag: str, *children) -> Element:
    return _a(tag, None, *children)


def _with_ghosts(target: Target, version: str, data: Element, existing: bytes, supported) -> Element:
    """The device's item completed with the fields it said it does not support
    (MS-ASCMD "ghosted" properties: left out of a Change, they keep the stored value)."""
    sent = {(c.namespace, c.tag) for c in data.children}
    try:
        stored = target.converter.to_application_data(existing, version)
    except ConversionError:
        return data
    ghosts = [c for c in stored.children
              if (c.namespace, c.tag) not in sent and f"{c.namespace}{c.tag}" not in supported
              and c.namespace != "AirSyncBase:"]
    return Element(data.namespace, data.tag, data.children + tuple(ghosts)) if ghosts else data


async def _client_changes(ctx, target: Target, commands: Optional[Element], supported=None) -> list:
    slots = []
    for child in commands.children if commands is not None else ():
        sid = child.find(AS, "ServerId")
        sid_text = sid.text if sid is not None else None
        data = child.find(AS, "ApplicationData")
        if child.tag == "Add":
            cid = child.find(AS, "ClientId")
            cid_text = cid.text if cid is not None else None
            slot = _Slot(child)
            if not cid_text or data is None:
                slot.answer = _respond("Add", *((_a("ClientId", cid_text),) if cid_text else ()),
                                       _a("Status", PROTOCOL_ERROR))
            elif target.is_mail:
                slot.change = _draft_add(ctx, child, data, cid_text)
                if slot.change is None:
                    slot.answer = _respond("Add", _a("ClientId", cid_text), _a("Status", CONVERSION))
                elif await _over_quota(ctx, len(slot.change.content), "EAS Sync Add of a draft"):
                    slot.change = None
                    slot.answer = _respond("Add", _a("ClientId", cid_text),
                                           _a("Status", MAILBOX_QUOTA_EXCEEDED))
            else:
                try:
                    content = target.converter.from_application_data(data, ctx.version)
                    slot.change = ClientChange(ADD, client_id=cid_text, content=content,
                                               origin=_digest(data))
                except ConversionError as e:
                    ctx.log(f"Sync: add {cid_text[:40]}: {e}")
                    slot.answer = _respond("Add", _a("ClientId", cid_text), _a("Status", CONVERSION))
            slots.append(slot)
        elif child.tag in ("Change", "Delete", "Fetch"):
            slot = _Slot(child)
            if not sid_text:
                slot.answer = _respond(child.tag, _a("Status", PROTOCOL_ERROR))
            elif child.tag == "Delete":
                slot.change = ClientChange(DELETE, server_id=sid_text)
            elif child.tag == "Fetch":
                pass  # answered after the round, with the item as it then is
            elif target.is_mail:
                try:
                    slot.change = await _mail_change(ctx, target, child, data, sid_text)
                except OverQuota:
                    slot.answer = _respond("Change", _a("ServerId", sid_text),
                                           _a("Status", MAILBOX_QUOTA_EXCEEDED))
                except ConversionError as e:
                    ctx.log(f"Sync: change {sid_text[:40]}: {e}")
                    slot.answer = _respond("Change", _a("ServerId", sid_text), _a("Status", CONVERSION))
            elif data is None:
                slot.answer = _respond("Change", _a("ServerId", sid_text), _a("Status", PROTOCOL_ERROR))
            else:
                found = await target.collection.get([sid_text])
                existing = found[0].content if found else None
                try:
                    if supported is not None and existing is not None:
                        data = _with_ghosts(target, ctx.version, data, existing, supported)
                    content = target.converter.from_application_data(data, ctx.version, existing)
                    slot.change = ClientChange(CHANGE, server_id=sid_text, content=content,
                                               origin=_digest(data))
                except ConversionError as e:
                    ctx.log(f"Sync: change {sid_text[:40]}: {e}")
                    slot.answer = _respond("Change", _a("ServerId", sid_text), _a("Status", CONVERSION))
            slots.append(slot)
    return slots


async def _over_quota(ctx, size: int, what: str) -> bool:
    """True (logged) when ``size`` more octets would take the account past its quota."""
    refused = await exceeded(getattr(ctx.edge, "quotas", None), ctx.account, size, what)
    if refused is not None:
        ctx.log(f"Sync: {what}: Status {MAILBOX_QUOTA_EXCEEDED}: {refused}")
    return refused is not None


def _draft_add(ctx, command: Element, data: Element, client_id: str) -> Optional[ClientChange]:
    """The device's Add of an Email item: a draft saved (EAS 16.0 and later), stored
    with ``\\Draft``; None (answered Status 6, nothing stored) when it cannot be."""
    if not at_least(ctx.version, 16.0):
        # Before 16.0 a device may not write mail items (MS-ASCMD 3.1.5.4: it does
        # not even sync Drafts); its mail reaches the server through SendMail.
        ctx.log(f"Sync: adding mail is not served before EAS 16.0 (client id {client_id[:40]})")
        return None
    if drafts.sends(command):
        ctx.log(f"Sync: sending through Sync (Email2:Send) is not served (client id {client_id[:40]})")
        return None
    try:
        content = drafts.draft_message(data, ctx.account)
    except ConversionError as e:
        ctx.log(f"Sync: add {client_id[:40]}: {e}")
        return None
    return ClientChange(ADD, client_id=client_id, content=content, flags=drafts.add_flags(data),
                        origin=_digest(data))


async def _mail_change(ctx, target: Target, command: Element, data: Optional[Element],
                       server_id: str) -> ClientChange:
    """The device's Change of a message: its Read, Flag and Categories as flag deltas;
    for a draft (EAS 16.0 and later) a new Subject, recipients, importance or body too,
    the message then being replaced (``ClientChange.content``). ``ConversionError``
    when the new draft cannot be stored, ``OverQuota`` when it is bigger than the old
    one by more than the account's quota leaves room for."""
    if drafts.sends(command) and at_least(ctx.version, 16.0):
        raise ConversionError("sending through Sync (Email2:Send) is not served")
    if data is None:
        return ClientChange(CHANGE, server_id=server_id, flags=set(), flags_removed=set())
    edits = drafts.edits_content(data) and at_least(ctx.version, 16.0)
    info = None
    uid = int(server_id) if server_id.isascii() and server_id.isdigit() else 0
    if (edits or data.find("Email:", "Categories") is not None) and 0 < uid < 2**32:
        # The device sends its whole category list: the ones it dropped are removed,
        # which needs the message's flags now; a draft's edit needs the draft.
        found = await target.mailbox.messages(UIDSet.of([uid]))
        info = found[0] if found else None
    add, remove = flag_changes(data, info.flags if info is not None else None)
    content = None
    if edits and info is not None and drafts.DRAFT in info.flags:
        try:
            existing = await target.mailbox.read_body(info.uid)
        except NotFound:
            existing = None  # gone meanwhile: the adapter answers the change as such
        if existing is not None:
            content = drafts.draft_message(data, ctx.account, existing)
            refused = await exceeded(getattr(ctx.edge, "quotas", None), ctx.account,
                                     len(content) - len(existing), "EAS Sync Change of a draft")
            if refused is not None:
                ctx.log(f"Sync: change {server_id[:40]}: Status {MAILBOX_QUOTA_EXCEEDED}: {refused}")
                raise refused
    # The fields of a message that is not a draft are its sender's: only its flags change.
    return ClientChange(CHANGE, server_id=server_id, content=content, flags=add, flags_removed=remove,
                        origin=_digest(data) if content is not None else None)


def _digest(data: Element) -> str:
    """The device's own form of an item, to recognise the same batch sent again."""
    return hashlib.sha256(encode(data)).hexdigest()


def _cutoff(options: BodyOptions) -> Optional[datetime]:
    days = FILTER_DAYS.get(options.filter_type)
    return datetime.now(timezone.utc) - timedelta(days=days) if days else None


def _shown(target: Target, change, options: BodyOptions, cutoff: Optional[datetime]) -> bool:
    """Whether the device sees a server add or change (its class, its FilterType)."""
    if target.is_mail:
        if cutoff is None:
            return True
        when = change.message.internal_date
        when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
        return when >= cutoff
    content = change.item.content
    if not kinds.belongs(target.kind, content):
        return False
    if options.filter_type == INCOMPLETE_TASKS:
        return b"STATUS:COMPLETED" not in content.upper()
    if cutoff is not None and kinds.KINDS[target.kind].eas_class == "Calendar":
        try:
            return overlaps(content, cutoff, None)
        except ValueError:
            return True
    return True


async def _items_data(ctx, target: Target, changes: list, options: BodyOptions, structures) -> list:
    """The ApplicationData of each server add or change (None: it cannot be shown);
    a window of messages has its bytes read in one round trip."""
    if target.is_mail:
        # A message without a structure is gone meanwhile: its delete comes with a later round.
        present = [c for c in changes if int(c.server_id) in structures]
        shown = await application_data_many(
            target.mailbox, [(c.message, structures[int(c.server_id)]) for c in present],
            options, ctx.version)
        data = {id(c): d for c, d in zip(present, shown)}
        return [data.get(id(c)) for c in changes]
    return [_item_data(ctx, target, change, options) for change in changes]


def _item_data(ctx, target: Target, change, options: BodyOptions) -> Optional[Element]:
    """The ApplicationData of a server add or change of a PIM item (None: it cannot be
    shown)."""
    try:
        return target.converter.to_application_data(change.item.content, ctx.version, options.truncation)
    except (ConversionError, ValueError) as e:
        ctx.log(f"Sync: item {change.server_id} cannot be shown: {e}")
        return None


async def _fetch(ctx, target: Target, server_id: str, options: BodyOptions) -> Element:
    """The Responses/Fetch answer for one item."""
    data = None
    if target.is_mail:
        uid = int(server_id) if server_id.isdigit() else None
        infos = await target.mailbox.messages(UIDSet.of([uid])) if uid else []
        if infos:
            structures = await target.mailbox.structures([uid])
            if uid in structures:
                data = await application_data(target.mailbox, infos[0], structures[uid], options, ctx.version)
    else:
        items = await target.collection.get([server_id])
        if items:
            try:
                data = target.converter.to_application_data(items[0].content, ctx.version,
                                                            options.truncation)
            except (ConversionError, ValueError):
                data = None
    if data is None:
        return _respond("Fetch", _a("ServerId", server_id), _a("Status", NOT_FOUND))
    return _respond("Fetch", _a("ServerId", server_id), _a("Status", OK), data)


async def _collection(ctx, req: CollectionRequest, window_left: list) -> tuple[Element, Optional[str], int]:
    """Run one collection's round. Returns (its Collection answer, the new key or None,
    how many items were sent)."""
    head = (_a("SyncKey", req.key), _a("CollectionId", req.collection_id))
    target = await _target(ctx, req.collection_id)
    if target is None:
        ctx.log(f"Sync {req.collection_id[:40]}: no such folder")
        return _a("Collection", None, *head, _a("Status", HIERARCHY_CHANGED)), None, 0
    if not target.is_mail and target.converter is None:
        ctx.log(f"Sync {req.collection_id}: {target.kind} folders are not served yet")
        return _a("Collection", None, *head, _a("Status", PROTOCOL_ERROR)), None, 0
    options = parse_options(req.options)
    window = min(max(req.window, 1), MAX_WINDOW, max(window_left[0], 1))
    wants = req.key != "0" and req.get_changes
    slots = await _client_changes(ctx, target, req.commands, req.supported) if req.key != "0" else []
    changes = [s.change for s in slots if s.change is not None]
    try:
        result = await ctx.sync_adapter.sync(ctx.account, ctx.device_id, target.source, req.key,
                                             changes, window=window if wants else 0,
                                             deletes_as_moves=req.deletes_as_moves)
    except SyncTokenInvalid:
        ctx.log(f"Sync {req.collection_id}: unknown sync key {req.key[:40]!r}; the device must start over")
        return _a("Collection", None, *head, _a("Status", INVALID_KEY)), None, 0
    except NotFound:
        return _a("Collection", None, *head, _a("Status", HIERARCHY_CHANGED)), None, 0

    results = iter(result.results)
    responses = []
    for slot in slots:
        if slot.change is not None:
            r = next(results)
            status = _CHANGE_STATUS.get(r.status, SERVER_ERROR)
            if slot.change.op == ADD:
                ids = (_a("ServerId", r.server_id),) if status == OK and r.server_id else ()
                responses.append(_respond("Add", _a("ClientId", slot.change.client_id), *ids,
                                          _a("Status", status)))
            elif status != OK:
                responses.append(_respond("Change" if slot.change.op == CHANGE else "Delete",
                                          _a("ServerId", slot.change.server_id), _a("Status", status)))
        elif slot.answer is not None:
            responses.append(slot.answer)
        else:  # a Fetch
            sid = slot.element.find(AS, "ServerId").text
            responses.append(await _fetch(ctx, target, sid, _fetch_options(options)))

    cutoff = _cutoff(options)
    commands = []
    shown = [c for c in result.changes if c.op == DELETE or _shown(target, c, options, cutoff)]
    adds = [c for c in shown if c.op != DELETE]
    structures = {}
    if target.is_mail and adds:
        structures = await target.mailbox.structures([int(c.server_id) for c in adds])
    datas = iter(await _items_data(ctx, target, adds, options, structures))
    for change in shown:
        if change.op == DELETE:
            commands.append(_a("Delete", None, _a("ServerId", change.server_id)))
            continue
        data = next(datas)
        if data is not None:
            commands.append(_a("Add" if change.op == ADD else "Change", None,
                               _a("ServerId", change.server_id), data))
    window_left[0] -= len(commands)

    out = [_a("SyncKey", result.sync_key), _a("CollectionId", req.collection_id), _a("Status", OK)]
    if responses:
        out.append(_a("Responses", None, *responses))
    if wants and result.more_available:
        out.append(_a("MoreAvailable"))
    if commands:
        out.append(_a("Commands", None, *commands))
    ctx.log(f"Sync {req.collection_id}: {len(slots)} from the device, {len(commands)} sent, "
            f"key {result.sync_key}{', more' if result.more_available else ''}")
    return _a("Collection", None, *out), result.sync_key, len(commands) + len(responses)


def _fetch_options(options: BodyOptions) -> BodyOptions:
    # A Fetch is the device asking for the whole item: no truncation unless it said so.
    return options if options.truncation is not None else attrs.evolve(options, truncation=MAX_FETCH)


def _wait_seconds(body: Element):
    """The hanging-Sync interval in seconds; None: none asked; raise ValueError with the
    limit to tell the device when out of bounds."""
    wait, heartbeat = body.find(AS, "Wait"), body.find(AS, "HeartbeatInterval")
    if wait is not None:
        minutes = _int(wait, -1)
        if not MIN_WAIT <= minutes <= MAX_WAIT:
            raise ValueError(str(MIN_WAIT if minutes < MIN_WAIT else MAX_WAIT))
        return minutes * 60
    if heartbeat is not None:
        seconds = _int(heartbeat, -1)
        if not MIN_HEARTBEAT <= seconds <= MAX_HEARTBEAT:
            raise ValueError(str(MIN_HEARTBEAT if seconds < MIN_HEARTBEAT else MAX_HEARTBEAT))
        return seconds
    return None


@command("Sync", AS)
async def sync(ctx, body):
    saved = await state.load(ctx, state.SYNC_KEY) or {}
    cached: dict = saved.get("collections", {})
    if body is None:
        if not cached:
            return _a("Sync", None, _a("Status", INCOMPLETE))
        requests = [CollectionRequest.from_cache(cid, before) for cid, before in cached.items()]
        wait, global_window = saved.get("wait"), saved.get("window", MAX_WINDOW)
    else:
        if (body.namespace, body.tag) != (AS, "Sync"):
            raise CommandError(400, "Sync needs a Sync body")
        try:
            wait = _wait_seconds(body)
        except ValueError as e:
            return _a("Sync", None, _a("Status", BAD_WAIT), _a("Limit", str(e)))
        global_window = _int(body.find(AS, "WindowSize"), MAX_WINDOW)
        collections = body.find(AS, "Collections")
        partial = body.find(AS, "Partial") is not None
        if collections is None and not partial:
            return _a("Sync", None, _a("Status", PROTOCOL_ERROR))
        requests = []
        for element in collections.children if collections is not None else ():
            if element.tag != "Collection":
                continue
            req = CollectionRequest.parse(element, cached)
            if req is None:
                return _a("Sync", None, _a("Status", PROTOCOL_ERROR))
            requests.append(req)
        if partial:
            named = {r.collection_id for r in requests}
            requests += [CollectionRequest.from_cache(cid, before) for cid, before in cached.items()
                         if cid not in named]
            if not requests:
                return _a("Sync", None, _a("Status", INCOMPLETE))
    if len(requests) > MAX_COLLECTIONS:
        return _a("Sync", None, _a("Status", TOO_MANY), _a("Limit", str(MAX_COLLECTIONS)))

    quiet = all(r.key != "0" and r.commands is None for r in requests)
    if wait and quiet:
        ids = [r.collection_id for r in requests]
        if not await _pending(ctx, ids):
            changed = await _wait(ctx, set(ids), wait)
            if changed is not None and not changed:
                ctx.log("Sync: nothing changed while waiting")
                return None  # MS-ASCMD: an empty answer means "nothing new"

    window_left = [min(max(global_window, 1), MAX_WINDOW * MAX_COLLECTIONS)]
    answers = []
    for req in requests:
        try:
            element, new_key, _count = await _collection(ctx, req, window_left)
        except SmsyncError as e:
            ctx.log(f"Sync {req.collection_id}: server error: {e}")
            element, new_key = _a("Collection", None, _a("SyncKey", req.key),
                                  _a("CollectionId", req.collection_id), _a("Status", SERVER_ERROR)), None
        answers.append(element)
        if new_key is not None:
            cached[req.collection_id] = req.remembered(new_key)
        elif req.collection_id in cached:
            del cached[req.collection_id]
    if len(cached) > MAX_COLLECTIONS:
        cached = dict(list(cached.items())[-MAX_COLLECTIONS:])
    await state.save(ctx, state.SYNC_KEY, {"collections": cached, "wait": wait,
                                           "window": global_window})
    return _a("Sync", None, _a("Collections", None, *answers))
