"""GetItem (MS-OXWSCORE 3.1.4.4): items by id in the shape asked for, with their
bodies (Text, HTML or Best) and MIME content read from the stored RFC 5322 bytes."""

from __future__ import annotations

import attrs
from lxml import etree

from smsync.errors import NotFound, SmsyncError
from smsync.model import UIDSet
from smsync.protocols.ews import calendar, contacts, extended_store, ids, items, meeting_items, messages, notes, shapes, tasks
from smsync.protocols.ews.errors import INVALID_OPERATION, SCHEMA_VALIDATION, EWSError, from_store
from smsync.protocols.ews.operations import operation
from smsync.protocols.ews.soap import m, response, response_message, t
from smsync.sync.reads import read_ranges


def item_ids(request, tag: str = "ItemIds") -> list:
    holder = request.find(m(tag))
    if holder is None:
        raise EWSError(SCHEMA_VALIDATION, f"no {tag}")
    return [child for child in holder if isinstance(child.tag, str)]


#: The elements naming an item: itself, one occurrence of a series by its index, or the
#: series of an occurrence (MS-OXWSCORE BaseItemIdType).
ID_TAGS = (t("ItemId"), t("OccurrenceItemId"), t("RecurringMasterItemId"))


async def resolve_item_ref(ctx, element) -> ids.ItemRef:
    """The item an ``<t:ItemId>``, ``<t:OccurrenceItemId RecurringMasterId=
    InstanceIndex=>`` (exchangelib's ``master.occurrence(n)``) or
    ``<t:RecurringMasterItemId OccurrenceId=>`` (``occurrence.recurring_master()``)
    names: an occurrence's key carries its RECURRENCE-ID, a master's does not.
    ``EWSError`` as ``items.parse_item_ref`` says, or for an index the series lacks."""
    if element.tag == t("OccurrenceItemId"):
        master = _master_ref(ctx, element.get("RecurringMasterId"))
        try:
            index = int(element.get("InstanceIndex", ""))
        except ValueError:
            raise EWSError(SCHEMA_VALIDATION, "an OccurrenceItemId has an InstanceIndex") from None
        found = await items.collection_item(ctx, master)
        if found.item.info.component != "VEVENT":
            raise EWSError("ErrorItemNotFound", "only events have occurrences")
        rid = calendar.occurrence_at(found.item.content, index)
        return attrs.evolve(master, key=calendar.occurrence_key(master.key, rid))
    if element.tag == t("RecurringMasterItemId"):
        return _master_ref(ctx, element.get("OccurrenceId"))
    return items.parse_item_ref(ctx, element)


def _master_ref(ctx, text) -> ids.ItemRef:
    """The series an item id names (an occurrence's id names its master's stored item)."""
    holder = etree.Element(t("ItemId"), Id=text or "")
    ref = items.parse_item_ref(ctx, holder)
    if ref.kind != ids.ITEM:
        raise EWSError("ErrorItemNotFound", "a message has no occurrences")
    return attrs.evolve(ref, key=calendar.split_key(ref.key)[0])


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
            instance = calendar.occurrence(found.item.content, rid)
            if instance is None:
                raise EWSError("ErrorItemNotFound", "no such occurrence")
        return calendar.calendar_item_element(ctx.account, ref.source, name, info.revision,
                                              found.item.content, shape, instance, ctx.version)
    if info.component == "VTODO":
        return tasks.task_element(ctx.account, ref.source, info.name, info.revision,
                                  found.item.content, shape)
    if info.component == "VJOURNAL":
        return notes.note_element(ctx.account, ref.source, info.name, info.revision,
                                  found.item.content, shape, get_item=True)
    raise EWSError(INVALID_OPERATION, f"{info.component[:20]} items are not served")


async def _read_messages(ctx, refs: list, needs_body: bool) -> dict:
    """``ref -> (info, structure, raw, meeting)`` for the messages among ``refs``, read a
    folder at a time: one metadata read, one structure read and one ranged body read per
    folder however many messages a request names (a client asks for a hundred at once);
    ``meeting`` says what meeting message it is (None: plain mail)."""
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
        meetings = await meeting_items.meetings_of(ctx, mailbox, structures, bodies)
        for ref in wanted:
            uid = now[ref.uid]
            info, structure = infos.get(uid), structures.get(uid)
            if info is not None and structure is not None and (not needs_body or bodies.get(uid) is not None):
                found[ref] = (info, structure, bodies.get(uid), meetings.get(uid))
    return found


@operation("GetItem")
async def get_item(ctx, request):
    shape = shapes.parse_shape(request, "ItemShape")
    needs_body = (shape.mime or shape.wants("item:Body", True) or shape.wants("item:TextBody")
                  or "item:MimeContent" in shape.fields)
    parsed = []
    for element in item_ids(request):
        try:
            parsed.append(await resolve_item_ref(ctx, element))
        except (EWSError, SmsyncError) as e:
            parsed.append(from_store(e))
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
                info, structure, raw, meeting = read[ref]
                node = messages.message_element(ctx.account, ref.source, info, structure,
                                                shape, raw, get_item=True, meeting=meeting)
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
    for answer in answers:
        await extended_store.fill_messages(ctx, shape, answer)
    return response("GetItem", answers)
