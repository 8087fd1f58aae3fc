"""GetListItemChangesSinceToken (MS-LISTSWS 3.1.4.22), the call Outlook syncs with.

Without a token: the list's schema and all its items (paged as GetListItems pages
them), with a change token for the collection's revision when the first page was read.
With a token: what changed since its revision, from the collection's one change log
(``ICollection.changes_since``): changed items as rows, deleted ones as
``<Id ChangeType="Delete">``, at most RowLimit (default 100) entries a call with
``MoreChanges="TRUE"`` while more remain. A token of ours that can no longer be
answered -- issued before the device was deleted from the devices list, or for a
revision the collection does not have -- is answered ``<Id ChangeType="InvalidToken"/>``,
which makes Outlook drop its copy and fetch the list again; a string that is not one
of our tokens (or another list's) is a fault.
"""

from __future__ import annotations

from lxml import etree

from smsync.errors import SyncTokenInvalid
from smsync.protocols.lists import catalog, rows, schema, soap, tokens
from smsync.protocols.lists.operations import operation
from smsync.protocols.lists import caml
from smsync.protocols.lists.operations.items import numbered, page, read_options, rendered_where

#: Entries (changed + deleted) one answer to a token holds when RowLimit says nothing.
DEFAULT_CHANGES = 100
MAX_CHANGES = 1000
#: What the answer tells Outlook of sync timing (minutes): it may sync as often as it
#: likes; the change log makes a sync with nothing new cheap.
MIN_TIME_BETWEEN_SYNCS = "0"
RECOMMENDED_TIME_BETWEEN_SYNCS = "5"


def _listitems(ctx, data_rows, changes, position=None):
    node = rows.listitems(data_rows, position, [changes])
    node.set("MinTimeBetweenSyncs", MIN_TIME_BETWEEN_SYNCS)
    node.set("RecommendedTimeBetweenSyncs", RECOMMENDED_TIME_BETWEEN_SYNCS)
    node.set("MaxBulkDocumentSyncSize", "500")
    node.set("MaxRecommendedEmbeddedFileSize", "500")
    node.set("AlternateUrls", ctx.site_url + "/")
    node.set("EffectivePermMask", "FullMask")
    return node


def _changes(token=None):
    node = etree.Element(soap.sp("Changes"))
    if token is not None:
        node.set("LastChangeToken", token)
    return node


@operation("GetListItemChangesSinceToken")
async def get_changes_since_token(ctx, request):
    ref = await ctx.list(request.param("listName"))
    text = (request.param("changeToken") or "").strip()
    root, result = soap.response("GetListItemChangesSinceToken")
    generation = await ctx.state.generation()
    if not text:
        result.append(await _everything(ctx, ref, request, generation))
        await ctx.state.save()
        return root
    token = tokens.read_token(text)
    if token is None or token.list_id != ref.guid:
        raise soap.ListsFault("The change token is not one of this list's.")
    if token.generation != generation:
        await ctx.note(f"{ref.title}: change token from before the device was reset, full sync asked")
        return _invalid(ctx, root, result)
    options = read_options(request, default_utc=True)
    limit = min(options.limit or DEFAULT_CHANGES, MAX_CHANGES)
    collection = await ctx.collection(ref)
    try:
        found = await collection.changes_since(token.revision, limit=limit)
    except SyncTokenInvalid:
        await ctx.note(f"{ref.title}: change token ahead of the list, full sync asked")
        return _invalid(ctx, root, result)
    idmap = await ctx.state.ids(ref.info.id)
    changes = _changes(tokens.make_token(ref.guid, found.revision, generation))
    if found.truncated:
        changes.set("MoreChanges", "TRUE")
    gone: list[int] = []

    def forget(keys) -> None:
        for key in keys:
            item_id = idmap.id_of(key, assign=False)
            if item_id is not None:
                gone.append(item_id)
            if "\n" in key:
                idmap.forget(key)  # an occurrence row: its key will not come back

    for name in found.deleted:
        forget([name] + idmap.sub_keys(name))

    def rows_now(name, keys) -> None:
        # Occurrence rows the item no longer has (an exception undone, a series cut).
        forget(sorted(set(idmap.sub_keys(name)) - set(keys)))

    shown = [info for info in found.changed if catalog.shows(ref, info)]
    for info in sorted(shown, key=lambda i: (i.revision, i.name)):
        idmap.id_of(info.name)
    pairs = [(idmap.id_of(info.name), info) for info in shown]
    data_rows = await rendered_where(ctx, ref, pairs, options, caml.of_request(request), rows_now)
    for item_id in gone:
        etree.SubElement(changes, soap.sp("Id"), ChangeType="Delete").text = str(item_id)
    deleted = len(gone)
    result.append(_listitems(ctx, data_rows, changes))
    await ctx.state.save()
    await ctx.note(f"{ref.title}: {len(data_rows)} changed, {deleted} deleted sent"
                   + (" (more to come)" if found.truncated else ""))
    return root


async def _everything(ctx, ref, request, generation: str):
    """The schema and a page of all items, with the token for the revision the first
    page was read at."""
    options = read_options(request, default_utc=True)
    revision = options.position.revision if options.position is not None and \
        options.position.revision >= 0 else ref.info.revision
    everything = await numbered(ctx, ref)
    chosen, position = page(everything, options, revision)
    changes = _changes(tokens.make_token(ref.guid, revision, generation))
    if options.position is None:
        changes.append(schema.list_element(ref.list_info(len(everything))))
    data_rows = await rendered_where(ctx, ref, chosen, options, caml.of_request(request))
    await ctx.note(f"{ref.title}: full sync, {len(data_rows)} of {len(everything)} items sent"
                   + (" (more to come)" if position else ""))
    return _listitems(ctx, data_rows, changes, position)


def _invalid(ctx, root, result):
    changes = _changes()
    etree.SubElement(changes, soap.sp("Id"), ChangeType="InvalidToken")
    result.append(_listitems(ctx, [], changes))
    return root
