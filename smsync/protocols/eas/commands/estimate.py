"""GetItemEstimate (MS-ASCMD 2.2.1.9): how many items the device's next Syncs of each
named folder would bring, from ``ISyncAdapter.estimate`` (so nothing is read twice and
the device's sync state is left as it was). The estimate counts every pending change;
a FilterType window can make the Syncs bring fewer."""

from __future__ import annotations

from smsync.errors import NotFound, SyncTokenInvalid
from smsync.protocols.eas.commands import CommandError, command
from smsync.protocols.eas.commands.sync import _target
from smsync.protocols.eas.wbxml import Element

GIE = "GetItemEstimate:"
AS = "AirSync:"

#: GetItemEstimate Status values (MS-ASCMD 2.2.3.177.6).
OK, BAD_COLLECTION, NOT_PRIMED, BAD_KEY = "1", "2", "3", "4"


def _g(tag: str, text=None, *children) -> Element:
    return Element(GIE, tag, children, text)


def _field(collection: Element, tag: str):
    # 14.0+ puts SyncKey in AirSync and CollectionId in GetItemEstimate; 12.x both in
    # GetItemEstimate.
    for namespace in (GIE, AS):
        found = collection.find(namespace, tag)
        if found is not None and found.text:
            return found.text
    return None


@command("GetItemEstimate", GIE)
async def get_item_estimate(ctx, body):
    if body is None or (body.namespace, body.tag) != (GIE, "GetItemEstimate"):
        raise CommandError(400, "GetItemEstimate needs a GetItemEstimate body")
    collections = body.find(GIE, "Collections")
    if collections is None:
        return _g("GetItemEstimate", None, _g("Response", None, _g("Status", BAD_COLLECTION)))
    responses = []
    for collection in collections.children:
        if collection.tag != "Collection":
            continue
        folder_id, key = _field(collection, "CollectionId"), _field(collection, "SyncKey")
        head = (_g("CollectionId", folder_id),) if folder_id else ()
        target = await _target(ctx, folder_id) if folder_id else None
        if target is None:
            status, estimate = BAD_COLLECTION, None
        elif not key or key == "0":
            status, estimate = NOT_PRIMED, None
        else:
            try:
                estimate = await ctx.sync_adapter.estimate(ctx.account, ctx.device_id, target.source, key)
                status = OK
            except SyncTokenInvalid:
                status, estimate = BAD_KEY, None
            except NotFound:
                status, estimate = BAD_COLLECTION, None
        inner = head + ((_g("Estimate", str(estimate)),) if estimate is not None else ())
        responses.append(_g("Response", None, _g("Status", status), _g("Collection", None, *inner)))
        ctx.log(f"GetItemEstimate {folder_id}: status {status}"
                + (f", {estimate} items" if estimate is not None else ""))
    return _g("GetItemEstimate", None, *responses)
