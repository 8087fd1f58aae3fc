"""FindItem (MS-OXWSSRCH): the items of folders, a page at a time, in the shape asked
for. Mail folders, address books, calendars (CalendarView expanding recurrences) and
task lists are served; note lists answer empty until their item type is converted."""

from __future__ import annotations

from datetime import datetime, timezone

from lxml import etree

from smsync.errors import SmsyncError

from smsync.model import CollectionKind
from smsync.protocols.ews import calendar, contacts, messages, restriction, shapes, tasks, tree
from smsync.protocols.ews import extended_store  # ews-xprop
from smsync.protocols.ews.errors import SCHEMA_VALIDATION, EWSError, from_store
from smsync.protocols.ews.operations import operation
from smsync.protocols.ews.soap import m, response, response_message, t

#: FieldURIs a SortOrder may name, and how a message is keyed by each.
_SORT_KEYS = {
    "item:DateTimeReceived": lambda info, s: (info.internal_date, info.uid),
    "item:DateTimeSent": lambda info, s: ((s.date or info.internal_date) if s else info.internal_date, info.uid),
    "item:DateTimeCreated": lambda info, s: (info.saved_date, info.uid),
    "item:Subject": lambda info, s: ((s.subject or "").lower() if s else "", info.uid),
    "item:Size": lambda info, s: (info.size, info.uid),
    "message:IsRead": lambda info, s: ("\\Seen" in info.flags, info.uid),
    "message:From": lambda info, s: ((s.from_ or "").lower() if s else "", info.uid),
}


def _sort_order(request) -> list[tuple[str, bool]]:
    """``[(field URI, descending)]`` of the SortOrder (newest received first without)."""
    node = request.find(m("SortOrder"))
    if node is None:
        return [("item:DateTimeReceived", True)]
    order = []
    for field in node.findall(t("FieldOrder")):
        uri_el = field.find(t("FieldURI"))
        uri = uri_el.get("FieldURI") if uri_el is not None else None
        if uri not in _SORT_KEYS:
            raise EWSError("ErrorInvalidPropertyRequest", f"cannot sort by {str(uri)[:60]}")
        order.append((uri, field.get("Order", "Ascending") == "Descending"))
    return order or [("item:DateTimeReceived", True)]


async def _find_in_mail(ctx, folder, request, shape, page, order, where):
    mailbox = await tree.mailbox_of(ctx, folder)
    needs_structures = where is not None or any(
        uri in ("item:Subject", "message:From", "item:DateTimeSent") for uri, _ in order)
    infos = await mailbox.messages(None)
    structures = await mailbox.structures([i.uid for i in infos]) if needs_structures and infos else {}
    if where is not None:
        infos = [i for i in infos if where(i, structures.get(i.uid))]
    for uri, descending in reversed(order):
        key = _SORT_KEYS[uri]
        infos.sort(key=lambda i: key(i, structures.get(i.uid)), reverse=descending)
    chosen, next_offset, last = shapes.cut(infos, page)
    wanted = [i.uid for i in chosen if i.uid not in structures]
    if wanted:
        structures.update(await mailbox.structures(wanted))
    holder = etree.Element(m("RootFolder"), IndexedPagingOffset=str(next_offset),
                           TotalItemsInView=str(len(infos)),
                           IncludesLastItemInRange="true" if last else "false")
    items = etree.SubElement(holder, t("Items"))
    for info in chosen:
        structure = structures.get(info.uid)
        if structure is None:
            continue  # expunged meanwhile
        items.append(messages.message_element(ctx.account, folder.ref.source, info, structure, shape))
    await extended_store.fill_messages(ctx, shape, items)  # ews-xprop
    return holder


def _calendar_view(node):
    """``(start, end, limit)`` of a CalendarView (None without one)."""
    if node is None:
        return None
    try:
        start = datetime.fromisoformat(node.get("StartDate", "").replace("Z", "+00:00"))
        end = datetime.fromisoformat(node.get("EndDate", "").replace("Z", "+00:00"))
        limit = int(node.get("MaxEntriesReturned", "0")) or None
    except ValueError:
        raise EWSError(SCHEMA_VALIDATION, "a CalendarView has StartDate and EndDate") from None
    start = start if start.tzinfo else start.replace(tzinfo=timezone.utc)
    end = end if end.tzinfo else end.replace(tzinfo=timezone.utc)
    if end <= start or (limit is not None and limit < 1):
        raise EWSError("ErrorCalendarEndDateIsEarlierThanStartDate" if end <= start else SCHEMA_VALIDATION,
                       "the view's end is not after its start")
    return start, end, limit


async def _find_events(ctx, folder, shape, page, view):
    """A calendar's events: with a CalendarView every occurrence in it, by start; without,
    the stored events (single ones and series masters), a page at a time."""
    collection = await tree.collection_of(ctx, folder)
    found = []
    if view is None:
        infos = [i for i in await collection.items() if i.component == "VEVENT"]
        chosen, next_offset, last = shapes.cut(infos, page)
        total = len(infos)
        for item in await collection.get([i.name for i in chosen]):
            found.append((item, None))
    else:
        start, end, limit = view
        infos = [i for i in await collection.time_range(start, end, components={"VEVENT"})]
        for item in await collection.get([i.name for i in infos]):
            try:
                found.extend((item, instance) for instance in calendar.instances(item.content, start, end))
            except SmsyncError as e:
                ctx.log(f"FindItem: {item.info.name}: {e}")
        found.sort(key=lambda pair: (pair[1].start or start, pair[0].info.name))
        total = len(found)
        last = limit is None or total <= limit
        found = found if limit is None else found[:limit]
        next_offset = len(found)
    holder = etree.Element(m("RootFolder"), TotalItemsInView=str(total),
                           IncludesLastItemInRange="true" if last else "false")
    if view is None:
        holder.set("IndexedPagingOffset", str(next_offset))
    listed = etree.SubElement(holder, t("Items"))
    for item, instance in found:
        try:
            listed.append(calendar.calendar_item_element(ctx.account, folder.ref.source, item.info.name,
                                                         item.info.revision, item.content, shape, instance))
        except (EWSError, SmsyncError) as e:
            ctx.log(f"FindItem: {item.info.name}: {e}")  # an event that does not parse
    return holder


async def _find_named(ctx, folder, shape, page, component: str, element):
    """A page of an address book or task list (the items of ``component``), in the order
    of the items' names; ``element`` renders one item (``contacts.contact_element``,
    ``tasks.task_element``)."""
    collection = await tree.collection_of(ctx, folder)
    infos = [i for i in await collection.items() if i.component == component]
    chosen, next_offset, last = shapes.cut(infos, page)
    holder = etree.Element(m("RootFolder"), IndexedPagingOffset=str(next_offset),
                           TotalItemsInView=str(len(infos)),
                           IncludesLastItemInRange="true" if last else "false")
    listed = etree.SubElement(holder, t("Items"))
    for item in await collection.get([i.name for i in chosen]):
        try:
            listed.append(element(ctx.account, folder.ref.source, item.info.name,
                                  item.info.revision, item.content, shape))
        except (EWSError, SmsyncError) as e:
            ctx.log(f"FindItem: {item.info.name}: {e}")  # an item that does not parse
    return holder


@operation("FindItem")
async def find_item(ctx, request):
    shape = shapes.parse_shape(request, "ItemShape")
    traversal = request.get("Traversal", "Shallow")
    if traversal not in ("Shallow", "SoftDeleted", "Associated"):
        raise EWSError(SCHEMA_VALIDATION, f"Traversal {traversal[:20]!r}")
    if request.find(m("ContactsView")) is not None:
        raise EWSError("ErrorInvalidOperation", "contacts views are not served yet")
    view = _calendar_view(request.find(m("CalendarView")))
    page = shapes.parse_page(request, "IndexedPageItemView")
    order = _sort_order(request)
    where = restriction.parse(request.find(m("Restriction")))
    parents = request.find(m("ParentFolderIds"))
    if parents is None:
        raise EWSError(SCHEMA_VALIDATION, "no ParentFolderIds")
    folders = await tree.all_folders(ctx)
    answers = []
    for element in parents:
        if not isinstance(element.tag, str):
            continue
        try:
            folder = await tree.resolve(ctx, element, folders)
            if folder.is_mail and traversal == "Shallow":
                holder = await _find_in_mail(ctx, folder, request, shape, page, order, where)
            elif folder.kind == CollectionKind.CALENDAR and traversal == "Shallow":
                if where is not None:
                    raise EWSError(restriction.UNSUPPORTED_FILTER, "calendars are not searched yet")
                holder = await _find_events(ctx, folder, shape, page, view)
            elif folder.kind == CollectionKind.ADDRESSBOOK and traversal == "Shallow":
                if where is not None:
                    raise EWSError(restriction.UNSUPPORTED_FILTER, "contacts are not searched yet")
                holder = await _find_named(ctx, folder, shape, page, "VCARD", contacts.contact_element)
            elif folder.kind == CollectionKind.TASKS and traversal == "Shallow":
                if where is not None:
                    raise EWSError(restriction.UNSUPPORTED_FILTER, "tasks are not searched yet")
                holder = await _find_named(ctx, folder, shape, page, "VTODO", tasks.task_element)
            else:
                holder = etree.Element(m("RootFolder"), IndexedPagingOffset="0",
                                       TotalItemsInView="0", IncludesLastItemInRange="true")
                etree.SubElement(holder, t("Items"))
        except (EWSError, SmsyncError) as e:
            error = from_store(e, "ErrorFolderNotFound")
            ctx.log(f"FindItem: {error.code}: {error.message}")
            answers.append(response_message("FindItem", error.code, error.message))
            continue
        answers.append(response_message("FindItem", children=[holder]))
    return response("FindItem", answers)



