"""FindItem (MS-OXWSSRCH): the items of folders, a page at a time, in the shape asked
for, restricted and sorted as asked. Mail folders, address books (ContactsView too),
calendars (CalendarView expanding recurrences), task and note lists are served."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

import attrs
from lxml import etree

from smsync.errors import SmsyncError

from smsync.model import CollectionKind
from smsync.protocols.ews import calendar, contacts, meeting_items, messages, notes, restriction, shapes, tasks, tree
from smsync.protocols.ews import extended_store  # ews-xprop
from smsync.protocols.ews.errors import INVALID_OPERATION, SCHEMA_VALIDATION, EWSError, from_store
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


def _sort_order(request) -> Optional[list[tuple[str, bool]]]:
    """``[(field key, descending)]`` of the SortOrder (None without one); a FieldURI or
    an IndexedFieldURI (``uri:index``), checked against the folder's fields later."""
    node = request.find(m("SortOrder"))
    if node is None:
        return None
    order = []
    for field in node.findall(t("FieldOrder")):
        order.append((restriction.field_key(field), field.get("Order", "Ascending") == "Descending"))
    return order or None


async def _find_in_mail(ctx, folder, query):
    where = restriction.parse(query.restriction, restriction.MAIL)
    order = query.order or [("item:DateTimeReceived", True)]
    for uri, _descending in order:
        if uri not in _SORT_KEYS:
            raise EWSError(restriction.UNSUPPORTED_SORT, f"cannot sort messages by {str(uri)[:60]}")
    mailbox = await tree.mailbox_of(ctx, folder)
    needs_structures = where is not None or any(
        uri in ("item:Subject", "message:From", "item:DateTimeSent") for uri, _ in order)
    infos = await mailbox.messages(None)
    structures = await mailbox.structures([i.uid for i in infos]) if needs_structures and infos else {}
    if where is not None:
        infos = [i for i in infos if i.uid in structures
                 and where(restriction.MailRecord(i, structures[i.uid]))]
    for uri, descending in reversed(order):
        key = _SORT_KEYS[uri]
        infos.sort(key=lambda i: key(i, structures.get(i.uid)), reverse=descending)
    chosen, next_offset, last = shapes.cut(infos, query.page)
    wanted = [i.uid for i in chosen if i.uid not in structures]
    if wanted:
        structures.update(await mailbox.structures(wanted))
    holder = etree.Element(m("RootFolder"), IndexedPagingOffset=str(next_offset),
                           TotalItemsInView=str(len(infos)),
                           IncludesLastItemInRange="true" if last else "false")
    items = etree.SubElement(holder, t("Items"))
    meetings = await meeting_items.meetings_of(ctx, mailbox, {i.uid: structures.get(i.uid) for i in chosen})
    for info in chosen:
        structure = structures.get(info.uid)
        if structure is None:
            continue  # expunged meanwhile
        items.append(messages.message_element(ctx.account, folder.ref.source, info, structure, query.shape,
                                              meeting=meetings.get(info.uid)))
    await extended_store.fill_messages(ctx, query.shape, items)  # ews-xprop
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


@attrs.frozen
class ContactsView:
    """A ContactsView: the display names from ``initial`` to ``final`` (either open),
    at most ``limit`` of them."""

    initial: Optional[str]
    final: Optional[str]
    limit: Optional[int]


def _contacts_view(node) -> Optional[ContactsView]:
    if node is None:
        return None
    try:
        limit = int(node.get("MaxEntriesReturned", "0")) or None
    except ValueError:
        raise EWSError(SCHEMA_VALIDATION, "MaxEntriesReturned is a number") from None
    if limit is not None and limit < 1:
        raise EWSError(SCHEMA_VALIDATION, "MaxEntriesReturned is at least 1")
    return ContactsView(node.get("InitialName"), node.get("FinalName"), limit)


def collation_key(name: str) -> tuple:
    """A display name's place in a contacts list: letters ignoring case first, then
    lower case before upper case (so ``Name`` < ``NAME``, as Exchange's culture sorts:
    a FinalName of ``Name`` leaves ``NAME`` and ``Name1`` out)."""
    return name.casefold(), tuple(c.isupper() for c in name)


@attrs.frozen
class Query:
    """What FindItem asks of every folder it names."""

    shape: shapes.Shape
    page: shapes.Page
    order: Optional[list]
    restriction: object  # the <m:Restriction> element, parsed per folder kind
    calendar_view: Optional[tuple] = None
    contacts_view: Optional[ContactsView] = None


def _render_event(account, source, item, instance, shape, version=None):
    return calendar.calendar_item_element(account, source, item.info.name, item.info.revision,
                                          item.content, shape, instance, version)


def _render_named(element):
    def render(account, source, item, _instance, shape):
        return element(account, source, item.info.name, item.info.revision, item.content, shape)

    return render


#: Collection kind -> (the component its items are, how one is rendered, the fields a
#: Restriction or SortOrder may name).
_KINDS = {
    CollectionKind.CALENDAR: ("VEVENT", _render_event, restriction.EVENT),
    CollectionKind.ADDRESSBOOK: ("VCARD", _render_named(contacts.contact_element), restriction.CONTACT),
    CollectionKind.TASKS: ("VTODO", _render_named(tasks.task_element), restriction.TASK),
    CollectionKind.NOTES: ("VJOURNAL", _render_named(notes.note_element), restriction.NOTE),
}
_ALL = shapes.Shape(shapes.ALL)


async def _occurrences(ctx, collection, view) -> list:
    """``[(item, instance)]`` of every occurrence in a CalendarView, by start."""
    start, end, _limit = view
    infos = await collection.time_range(start, end, components={"VEVENT"})
    found = []
    for item in await collection.get([i.name for i in infos]):
        try:
            found.extend((item, instance) for instance in calendar.instances(item.content, start, end))
        except SmsyncError as e:
            ctx.log(f"FindItem: {item.info.name}: {e}")
    found.sort(key=lambda pair: (pair[1].start or start, pair[0].info.name))
    return found


async def _find_in_collection(ctx, folder, query: Query):
    """A calendar, address book or task list: its items (a CalendarView's occurrences),
    restricted, sorted (by name without a SortOrder; a ContactsView by display name) and
    cut to the page or view asked for."""
    component, render, fields = _KINDS[folder.kind]
    if render is _render_event:
        # The zone fields an event is answered with depend on the client's version.
        def render(account, source, item, instance, shape):
            return _render_event(account, source, item, instance, shape, ctx.version)
    where = restriction.parse(query.restriction, fields)
    order = [(restriction.sort_key(fields, key), descending) for key, descending in query.order or ()]
    names_view = query.contacts_view
    if names_view is not None and folder.kind != CollectionKind.ADDRESSBOOK:
        raise EWSError(INVALID_OPERATION, "a ContactsView is for contacts folders")
    dates_view = query.calendar_view if folder.kind == CollectionKind.CALENDAR else None
    collection = await tree.collection_of(ctx, folder)
    account, source = ctx.account, folder.ref.source
    page = query.page
    if dates_view is not None:
        entries = await _occurrences(ctx, collection, dates_view)
    else:
        infos = [i for i in await collection.items() if i.component == component]
        if where is None and not order and names_view is None:
            # Nothing to read the items for: only the page's are fetched.
            chosen, _, _ = shapes.cut(infos, page)
            entries = [(item, None) for item in await collection.get([i.name for i in chosen])]
            return _holder(ctx, account, source, render, query, entries, len(infos), page, paged=True)
        entries = [(item, None) for item in await collection.get([i.name for i in infos])]
    if where is not None or order or names_view is not None:
        records = []
        for item, instance in entries:
            try:
                node = render(account, source, item, instance, _ALL)
            except (EWSError, SmsyncError) as e:
                ctx.log(f"FindItem: {item.info.name}: {e}")  # an item that does not parse
                continue
            records.append(((item, instance), restriction.ItemRecord(node, item.content)))
        if where is not None:
            records = [pair for pair in records if where(pair[1])]
        if names_view is not None:
            records = _in_names_view(records, names_view)
        for key, descending in reversed(order):
            records.sort(key=lambda pair: key(pair[1]), reverse=descending)
        entries = [entry for entry, _record in records]
    if dates_view is not None or names_view is not None:
        limit = dates_view[2] if dates_view is not None else names_view.limit
        page = shapes.Page(0, limit)
    return _holder(ctx, account, source, render, query, entries, len(entries), page,
                   indexed=dates_view is None and names_view is None)


def _in_names_view(records: list, view: ContactsView) -> list:
    """The records whose display name is within the view's bounds, in name order."""
    read = restriction.CONTACT["contacts:DisplayName"].read
    low = collation_key(view.initial) if view.initial else None
    high = collation_key(view.final) if view.final else None
    keyed = []
    for pair in records:
        key = collation_key(read(pair[1]) or "")
        if (low is None or key >= low) and (high is None or key <= high):
            keyed.append((key, pair))
    keyed.sort(key=lambda kp: kp[0])
    return [pair for _key, pair in keyed]


def _holder(ctx, account, source, render, query, entries, total, page, indexed=True, paged=False):
    """The RootFolder answering one folder: ``entries`` (``[(item, instance)]``) cut to
    ``page`` -- or, ``paged``, already the page's of ``total``."""
    if paged:
        chosen = entries
        _, next_offset, last = shapes.cut(range(total), page)
    else:
        chosen, next_offset, last = shapes.cut(entries, page)
    holder = etree.Element(m("RootFolder"), TotalItemsInView=str(total),
                           IncludesLastItemInRange="true" if last else "false")
    if indexed:
        holder.set("IndexedPagingOffset", str(next_offset))
    listed = etree.SubElement(holder, t("Items"))
    for item, instance in chosen:
        try:
            listed.append(render(account, source, item, instance, query.shape))
        except (EWSError, SmsyncError) as e:
            ctx.log(f"FindItem: {item.info.name}: {e}")  # an item that does not parse
    return holder


def _empty():
    holder = etree.Element(m("RootFolder"), IndexedPagingOffset="0",
                           TotalItemsInView="0", IncludesLastItemInRange="true")
    etree.SubElement(holder, t("Items"))
    return holder


@operation("FindItem")
async def find_item(ctx, request):
    shape = shapes.parse_shape(request, "ItemShape")
    traversal = request.get("Traversal", "Shallow")
    if traversal not in ("Shallow", "SoftDeleted", "Associated"):
        raise EWSError(SCHEMA_VALIDATION, f"Traversal {traversal[:20]!r}")
    query = Query(shape, shapes.parse_page(request, "IndexedPageItemView"), _sort_order(request),
                  request.find(m("Restriction")), _calendar_view(request.find(m("CalendarView"))),
                  _contacts_view(request.find(m("ContactsView"))))
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
            if traversal != "Shallow":
                holder = _empty()  # nothing is soft-deleted or associated here
            elif folder.is_mail:
                if query.contacts_view is not None:
                    raise EWSError(INVALID_OPERATION, "a ContactsView is for contacts folders")
                holder = await _find_in_mail(ctx, folder, query)
            elif folder.kind in _KINDS:
                holder = await _find_in_collection(ctx, folder, query)
            else:
                # Virtual folders (the Outbox...) hold nothing: a restriction is
                # still checked, as over messages.
                restriction.parse(query.restriction, restriction.MAIL)
                holder = _empty()
        except (EWSError, SmsyncError) as e:
            error = from_store(e, "ErrorFolderNotFound")
            ctx.log(f"FindItem: {error.code}: {error.message}")
            answers.append(response_message("FindItem", error.code, error.message))
            continue
        answers.append(response_message("FindItem", children=[holder]))
    return response("FindItem", answers)
