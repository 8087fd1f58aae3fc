"""GetItem (MS-OXWSCORE 3.1.4.4): items by id in the shape asked for, with their
bodies (Text, HTML or Best) and MIME content read from the stored RFC 5322 bytes."""

from __future__ import annotations

from datetime import timedelta

from lxml import etree

from smsync.errors import NotFound, SmsyncError
from smsync.model import UIDSet
from smsync.protocols.ews import calendar, contacts, ids, items, messages, shapes, tasks
from smsync.protocols.ews.errors import INVALID_OPERATION, SCHEMA_VALIDATION, EWSError, from_store
from smsync.protocols.ews.operations import operation
from smsync.protocols.ews.soap import m, response, response_message
from smsync.sync.reads import read_ranges


def item_ids(request, tag: str = "ItemIds") -> list:
    holder = request.find(m(tag))
    if holder is None:
        raise EWSError(SCHEMA_VALIDATION, f"no {tag}")
    return [child for child in holder if isinstance(child.tag, str)]


async def _collection_item(ctx, ref, shape):
    found = await items.collection_item(ctx, ref)
    info = found.item.info
    if info.component == "VCARD":
        return contacts.contact_element(ctx.account, ref.source, info.name, info.revision,
                                        found.item.content, shape)
    if info.component == "VEVENT":
        instance = None
        name, rid = calendar.split_key(ref.key)
        if rid is not None:
            near = [i for i in calendar.instances(found.item.content, rid - timedelta(days=400),
                                                  rid + timedelta(days=400))
                    if i.recurrence_id == rid]
            if not near:
                raise EWSError("ErrorItemNotFound", "no such occurrence")
            instance = near[0]
        return calendar.calendar_item_element(ctx.account, ref.source, name, info.revision,
                                              found.item.content, shape, instance)
    if info.component == "VTODO":
        return tasks.task_element(ctx.account, ref.source, info.name, info.revision,
                                  found.item.content, shape)
    raise EWSError(INVALID_OPERATION, "note items are not served yet")


async def _read_messages(ctx, refs: list, needs_body: bool) -> dict:
    """``ref -> (info, structure, raw)`` for the messages among ``refs``, read a folder
    at a time: one metadata read, one structure read and one ranged body read per folder
    however many messages a request names (a client asks for a hundred at once)."""
    by_folder: dict = {}
    for ref in refs:
        if ref.kind == ids.MESSAGE:
            by_folder.setdefault(ref.source, []).append(ref)
    found: dict = {}
    for source, wanted in by_folder.items():
        try:
            mailbox = await items.open_mailbox(ctx, source)
        except EWSError:
            continue  # each of its items answers ErrorItemNotFound
        uids = sorted({r.uid for r in wanted})
        infos = {i.uid: i for i in await mailbox.messages(UIDSet.of(uids))}
        now = await items.stored_uids(ctx, mailbox, source, uids, infos)  # rewritten since
        present = sorted({now[u] for u in uids if now[u] in infos})
        structures = await mailbox.structures(present) if present else {}
        bodies: dict = {}
        if needs_body and present:
            raws = await read_ranges(mailbox, [(u, 0, None) for u in present])
            bodies = dict(zip(present, raws))
        for ref in wanted:
            uid = now[ref.uid]
            info, structure = infos.get(uid), structures.get(uid)
            if info is not None and structure is not None and (not needs_body or bodies.get(uid) is not None):
                found[ref] = (info, structure, bodies.get(uid))
    return found


@operation("GetItem")
async def get_item(ctx, request):
    shape = shapes.parse_shape(request, "ItemShape")
    needs_body = (shape.mime or shape.wants("item:Body", True) or shape.wants("item:TextBody")
                  or "item:MimeContent" in shape.fields)
    parsed = []
    for element in item_ids(request):
        try:
            parsed.append(items.parse_item_ref(ctx, element))
        except EWSError as e:
            parsed.append(e)
    read = await _read_messages(ctx, [r for r in parsed if not isinstance(r, EWSError)], needs_body)
    answers = []
    for ref in parsed:
        try:
            if isinstance(ref, EWSError):
                raise ref
            if ref.kind == ids.ITEM:
                node = await _collection_item(ctx, ref, shape)
            else:
                if ref not in read:
                    raise NotFound("the item is gone")
                info, structure, raw = read[ref]
                node = messages.message_element(ctx.account, ref.source, info, structure,
                                                shape, raw, get_item=True)
                items.echo_id(node, ref, info.uid)
        except (EWSError, SmsyncError) as e:
            error = from_store(e)
            ctx.log(f"GetItem: {error.code}: {error.message}")
            answers.append(response_message("GetItem", error.code, error.message,
                                            [etree.Element(m("Items"))]))
            continue
        holder = etree.Element(m("Items"))
        holder.append(node)
        answers.append(response_message("GetItem", children=[holder]))
    return response("GetItem", answers)
