"""GetListItems: a list's items in ID order, a page at a time (RowLimit and
``ListItemCollectionPositionNext``), the fields its ViewFields ask for. Also the helpers
GetListItemChangesSinceToken shares: reading the request's options and numbering and
paging the items.

``UserInfo`` is the site's user list: the account alone, as user 1 (what
``Author``/``Editor`` and a task's ``AssignedTo`` point at)."""

from __future__ import annotations

from typing import Optional

import attrs

from smsync.protocols.lists import attachments, caml, catalog, rows, schema, soap, tokens
from smsync.protocols.lists.operations import operation

#: Most rows one page holds, whatever RowLimit asks (a bound on one answer's size).
MAX_PAGE = 5000
USER_LISTS = ("userinfo", "user information list")


@attrs.frozen
class Options:
    """What a GetListItems-like request asks: at most ``limit`` rows (None: all), from
    ``position`` on, these ``fields`` (None: all), dates in UTC or not."""

    limit: Optional[int]
    position: Optional[tokens.Position]
    fields: Optional[frozenset]
    date_in_utc: bool


def _find(element, local: str):
    if element is None:
        return None
    for node in element.iter(f"{{*}}{local}", local):
        return node
    return None


def read_options(request, default_utc: bool = False) -> Options:
    """The paging, fields and date options of ``request``."""
    text = (request.param("rowLimit") or "").strip()
    if text and not (text.isdigit() and len(text) <= 10):
        raise soap.ListsFault(f"rowLimit {text[:20]!r} is not a number", soap.GENERIC)
    limit = int(text) if text else 0
    limit = min(limit, MAX_PAGE) if limit > 0 else None
    options = request.child("queryOptions")
    paging = _find(options, "Paging")
    position = tokens.read_position(paging.get("ListItemCollectionPositionNext")) if paging is not None else None
    utc_node = _find(options, "DateInUtc")
    utc = default_utc if utc_node is None else (utc_node.text or "").strip().upper() == "TRUE"
    return Options(limit, position, rows.view_fields(request.child("viewFields")), utc)


async def numbered(ctx, ref) -> list:
    """``(ID, ItemInfo)`` of every item of ``ref``, in ID order; items seen for the
    first time get IDs in the order they were stored (oldest first)."""
    collection = await ctx.collection(ref)
    infos = [info for info in await collection.items() if catalog.shows(ref, info)]
    idmap = await ctx.state.ids(ref.info.id)
    for info in sorted(infos, key=lambda i: (i.revision, i.name)):
        idmap.id_of(info.name)
    return sorted(((idmap.id_of(info.name), info) for info in infos), key=lambda pair: pair[0])


async def rendered(ctx, ref, numbered_infos, options: Options, rows_of=None) -> list:
    """The ``<z:row>`` elements of each ``(ID, ItemInfo)`` -- one, or a recurring
    event's several -- read from the store in one go (an item deleted meanwhile is left
    out). ``rows_of(name, keys)`` hears the row keys each item has now."""
    if not numbered_infos:
        return []
    collection = await ctx.collection(ref)
    by_name = {item.info.name: item for item in await collection.get([i.name for _, i in numbered_infos])}
    dates = schema.date_fields(ref.defs())
    idmap = await ctx.state.ids(ref.info.id)
    out = []
    for _item_id, info in numbered_infos:
        item = by_name.get(info.name)
        if item is None:
            continue
        found = catalog.item_rows(ref, item, idmap)
        if rows_of is not None:
            rows_of(info.name, [key for _, key, _ in found])
        out.extend(rows.row(fields, options.fields, dates, options.date_in_utc) for _, _, fields in found)
    return out


async def rendered_where(ctx, ref, numbered_infos, options: Options, keep, rows_of=None) -> list:
    """``rendered``, then only the rows ``keep`` (a ``caml`` predicate, None: all)
    accepts: rendered with every field, so the query may test a field the ViewFields
    leave out, then cut to those; attachment URLs made absolute."""
    if keep is None:
        found = await rendered(ctx, ref, numbered_infos, options, rows_of)
    else:
        every = await rendered(ctx, ref, numbered_infos, attrs.evolve(options, fields=None), rows_of)
        found = caml.filter_rows(every, keep, options.fields, rows.ALWAYS)
    return attachments.absolute_urls(found, ctx.site_url)


def page(numbered_infos: list, options: Options, revision: int):
    """``(this page, next position or None)`` of the numbered items. A page is counted
    in items: a recurring event's occurrence rows come with their series."""
    after = options.position.after if options.position is not None else 0
    remaining = [pair for pair in numbered_infos if pair[0] > after]
    if options.limit is None or len(remaining) <= options.limit:
        return remaining, None
    chosen = remaining[:options.limit]
    return chosen, tokens.make_position(chosen[-1][0], revision)


def _user_rows(ctx) -> list:
    fields = {"ID": "1", "Title": ctx.account, "Name": ctx.account, "ImnName": ctx.account,
              "EMail": ctx.account, "ContentType": "Person", "owshiddenversion": "1"}
    return [rows.row(fields, None, frozenset(), True)]


@operation("GetListItems")
async def get_list_items(ctx, request):
    """A page of the list's items (MS-LISTSWS 3.1.4.24)."""
    root, result = soap.response("GetListItems")
    name = (request.param("listName") or "").strip()
    if name.lower() in USER_LISTS:
        result.append(rows.listitems(_user_rows(ctx)))
        return root
    ref = await ctx.list(name)
    options = read_options(request)
    keep = caml.of_request(request)
    revision = options.position.revision if options.position is not None else ref.info.revision
    everything = await numbered(ctx, ref)
    chosen, position = page(everything, options, revision)
    result.append(rows.listitems(await rendered_where(ctx, ref, chosen, options, keep), position))
    await ctx.state.save()
    return root
