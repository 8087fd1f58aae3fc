"""GetListItemChanges (MS-LISTSWS 3.1.4.21): the older change call, by date.

``since`` is a date-time; the answer is ``<listitems TimeStamp=...>`` with the rows of
the items changed after it and, in a ``<Changes>`` before the data, each item deleted
since as ``<Id ChangeType="Delete">ID</Id>`` (the form GetListItemChangesSinceToken
answers with). Without ``since``: every item. The store keeps no time per change, only
the collection's revisions, so each TimeStamp given is remembered, per device and
list, with the revision it was read at (the last ``KEPT``): a ``since`` at or after one
of them is answered exactly from the change log, deletions included. A ``since`` the
server never gave (a client's own clock) is answered from the items' own times
(LAST-MODIFIED, DTSTAMP, REV), without deletions -- what can be known.
``viewFields``, ``query`` and ``contains`` apply as in GetListItems.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from lxml import etree

from smsync.errors import NotFound, StorageUnavailable
from smsync.formats.lastmodified import last_modified
from smsync.protocols.lists import caml, catalog, rows, soap
from smsync.protocols.lists.operations import operation
from smsync.protocols.lists.operations.items import Options, numbered, rendered_where

#: TimeStamps remembered per device and list.
KEPT = 32
_STAMPS = "lists:stamps:"


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


async def _stamps(ctx, collection_id: str) -> list:
    """``[[epoch, revision], ...]`` given to this device for the list, oldest first."""
    raw = await ctx.state.registry.load_state(ctx.account, ctx.device_id, _STAMPS + collection_id)
    try:
        found = json.loads(raw) if raw else []
        return [[int(a), int(b)] for a, b in found][-KEPT:]
    except (ValueError, TypeError):
        return []


async def _remember(ctx, collection_id: str, stamps: list, epoch: int, revision: int) -> None:
    stamps = [s for s in stamps if s[0] != epoch] + [[epoch, revision]]
    # Bookkeeping: a failure costs a later call exactness, not this answer.
    try:
        await ctx.state.registry.save_states(ctx.account, ctx.device_id, {
            _STAMPS + collection_id: json.dumps(stamps[-KEPT:]).encode()})
    except (NotFound, StorageUnavailable):
        pass


def revision_since(stamps: list, epoch: int):
    """The revision of the latest TimeStamp given at or before ``epoch`` (None: none)."""
    earlier = [(when, revision) for when, revision in stamps if when <= epoch]
    return max(earlier)[1] if earlier else None


@operation("GetListItemChanges")
async def get_list_item_changes(ctx, request):
    ref = await ctx.list(request.param("listName"))
    text = (request.param("since") or "").strip()
    since = caml.parse_date(text) if text else None
    if text and since is None:
        raise soap.ListsFault(f"since {text[:40]!r} is not a date and time.", soap.GENERIC)
    options = Options(None, None, rows.view_fields(request.child("viewFields")), False)
    keep = caml.of_request(request)
    collection = await ctx.collection(ref)
    now = _now()
    revision_now = (await collection.info()).revision
    stamps = await _stamps(ctx, ref.info.id)
    idmap = await ctx.state.ids(ref.info.id)
    changes = etree.Element(soap.sp("Changes"))
    if since is None:
        chosen = await numbered(ctx, ref)
        how = "all"
    else:
        epoch = int(since.timestamp())
        base = revision_since(stamps, epoch)
        if base is not None and base <= revision_now:
            found = await collection.changes_since(base)
            shown = [i for i in found.changed if catalog.shows(ref, i)]
            for info in sorted(shown, key=lambda i: (i.revision, i.name)):
                idmap.id_of(info.name)
            chosen = sorted(((idmap.id_of(i.name), i) for i in shown), key=lambda p: p[0])
            for name in found.deleted:
                for key in [name] + idmap.sub_keys(name):
                    item_id = idmap.id_of(key, assign=False)
                    if item_id is not None:
                        etree.SubElement(changes, soap.sp("Id"), ChangeType="Delete").text = str(item_id)
            how = "from the change log"
        else:
            everything = await numbered(ctx, ref)
            items = {i.info.name: i for i in await collection.get([info.name for _, info in everything])}
            chosen = [(item_id, info) for item_id, info in everything
                      if info.name in items and (last_modified(items[info.name].content) or 0) >= epoch]
            how = "by the items' own times"
    data_rows = await rendered_where(ctx, ref, chosen, options, keep)
    root, result = soap.response("GetListItemChanges")
    node = rows.listitems(data_rows, None, [changes] if len(changes) else [])
    node.set("TimeStamp", _iso(now))
    result.append(node)
    await ctx.state.save()
    await _remember(ctx, ref.info.id, stamps, int(now.timestamp()), revision_now)
    await ctx.note(f"{ref.title}: changes since {text or 'the start'} ({how}): {len(data_rows)} rows, "
                   f"{len(changes)} deleted sent")
    return root
