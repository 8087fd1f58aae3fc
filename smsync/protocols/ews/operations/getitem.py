"""GetItem (MS-OXWSCORE 3.1.4.4): items by id in the shape asked for, with their
bodies (Text, HTML or Best) and MIME content read from the stored RFC 5322 bytes."""

from __future__ import annotations

from lxml import etree

from smsync.errors import SmsyncError
from datetime import timedelta

from smsync.protocols.ews import calendar, contacts, ids, items, messages, shapes
from smsync.protocols.ews.errors import INVALID_OPERATION, SCHEMA_VALIDATION, EWSError, from_store
from smsync.protocols.ews.operations import operation
from smsync.protocols.ews.soap import m, response, response_message


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
    raise EWSError(INVALID_OPERATION, "task and note items are not served yet")


@operation("GetItem")
async def get_item(ctx, request):
    shape = shapes.parse_shape(request, "ItemShape")
    needs_body = (shape.mime or shape.wants("item:Body", True) or shape.wants("item:TextBody")
                  or "item:MimeContent" in shape.fields)
    answers = []
    for element in item_ids(request):
        try:
            ref = items.parse_item_ref(ctx, element)
            if ref.kind == ids.ITEM:
                node = await _collection_item(ctx, ref, shape)
            else:
                msg = await items.message(ctx, ref)
                raw = await items.body(msg) if needs_body else None
                node = messages.message_element(ctx.account, msg.ref.source, msg.info, msg.structure,
                                                shape, raw, get_item=True)
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
