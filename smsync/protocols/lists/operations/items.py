"""GetListItems: a list's items in ID order, a page at a time (RowLimit and
``ListItemCollectionPositionNext``), the fields its ViewFields ask for. Also the helpers
GetListItemChangesSinceToken shares: reading the request's options and numbering and
paging the items.

``UserInfo`` is the site's user list: the account alone, as user 1 (what
``Author``/``Editor`` and a task's ``AssignedTo`` point at)."""

from __future__ import annotations

import time
from operator import itemgetter
from typing import Optional

import attrs
from twisted.internet.defer import ensureDeferred
from twisted.internet.task import deferLater

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
    first time get IDs in the order they were stored (oldest first). The list may be
    one kept for the next page: not to be changed."""
    idmap = await ctx.state.ids(ref.info.id)
    ids = idmap.ids
    cache = getattr(ctx, "row_cache", None)
    # The listing is the same while the collection's revision is (every write bumps
    # it); the IDs are checked against the device's map as it is now.
    key = (ref.account, ctx.device_id, ref.info.id, ref.info.revision)
    kept = cache.order(key) if cache is not None else None
    if kept is not None and all(ids.get(info.name) == item_id for item_id, info in kept):
        return kept
    collection = await ctx.collection(ref)
    infos = [info for info in await collection.items() if catalog.shows(ref, info)]
    new = [info for info in infos if info.name not in ids]
    for info in sorted(new, key=lambda i: (i.revision, i.name)):
        idmap.id_of(info.name)
    pairs = [(ids[info.name], info) for info in infos]
    # IDs are unique: the sort never compares two infos.
    pairs.sort(key=itemgetter(0))
    if cache is not None:
        cache.keep_order(key, pairs)
    return pairs


#: Seconds of converting and row making between two turns of the reactor: a full sync
#: of a large list must not hold up every other request of the server meanwhile.
SLICE = 0.005
#: Items read from the store at a time when converting.
READ_CHUNK = 500


async def _turn() -> None:
    """Let the reactor serve what waits (other requests) before going on."""
    from twisted.internet import reactor

    await deferLater(reactor, 0, lambda: None)


async def rendered(ctx, ref, numbered_infos, options: Options, rows_of=None) -> list:
    """The ``<z:row>`` elements of each ``(ID, ItemInfo)`` -- one, or a recurring
    event's several -- read from the store in one go (an item deleted meanwhile is left
    out). ``rows_of(name, keys)`` hears the row keys each item has now.

    What the converter makes of an item comes from the endpoint's ``rowcache`` when it
    has the item at this revision; the rest is read and converted a chunk at a time,
    the reactor served every ``SLICE`` seconds."""
    if not numbered_infos:
        return []
    cache = getattr(ctx, "row_cache", None)
    idmap = await ctx.state.ids(ref.info.id)
    prefix = (ref.account, ref.info.id, ref.type.key)
    values: dict[str, tuple] = {}
    missing = []
    clock = time.monotonic
    started = clock()
    for _item_id, info in numbered_infos:
        found = cache.get(prefix + (info.name, info.revision)) if cache is not None else None
        if found is None:
            missing.append(info.name)
        else:
            made, spots, names = found
            values[info.name] = (info, catalog.with_master(made, spots, idmap.id_of(info.name)), names)
        if clock() - started > SLICE:
            await _turn()
            started = clock()
    if missing:
        collection = await ctx.collection(ref)
        chunks = [missing[first:first + READ_CHUNK] for first in range(0, len(missing), READ_CHUNK)]
        pending = ensureDeferred(collection.get(chunks[0]))
        for index in range(len(chunks)):
            items = await pending
            if index + 1 < len(chunks):
                # The store reads the next chunk (its own thread) while this one is
                # converted.
                pending = ensureDeferred(collection.get(chunks[index + 1]))
            for item in items:
                master_id = idmap.id_of(item.info.name)
                shared = catalog.shared_conversion(ref, item) if cache is not None else None
                if shared is None:
                    made, names = catalog.converted(ref, item, master_id), catalog.files_of(item)
                else:
                    cache.put(prefix + (item.info.name, item.info.revision), shared)
                    made, spots, names = shared
                    made = catalog.with_master(made, spots, master_id)
                values[item.info.name] = (item.info, made, names)
                if clock() - started > SLICE:
                    await _turn()
                    started = clock()
    dates = schema.date_fields(ref.defs())
    out = []
    for _item_id, listed in numbered_infos:
        found = values.get(listed.name)
        if found is None:
            continue
        info, made, names = found
        numbered_rows = catalog.numbered_rows(ref, info, made, idmap, names)
        if rows_of is not None:
            rows_of(info.name, [key for _, key, _ in numbered_rows])
        out.extend(rows.row(fields, options.fields, dates, options.date_in_utc)
                   for _, _, fields in numbered_rows)
        if clock() - started > SLICE:
            await _turn()
            started = clock()
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
