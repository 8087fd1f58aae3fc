"""The sync-collection REPORT (RFC 6578, sync-level 1), answered from the store's change
log: changed members with the properties asked, deleted ones as 404, and -- when a
limit cuts the answer -- a 507 for the collection itself and a token to continue from."""

from __future__ import annotations

from smsync import errors
from smsync._async import Pacer
from smsync.protocols.dav.errors import DavError, from_store_error
from smsync.protocols.dav.propfind import BATCH_ITEMS, PropRequest, item_response_batches
from smsync.protocols.dav.registry import Report
from smsync.protocols.dav.resources import Kind
from smsync.protocols.dav.response import multistatus
from smsync.protocols.dav.synctoken import make_token, parse_token
from smsync.protocols.dav.xml import children, dav, element, response_element, text_of


def _limit(body) -> int | None:
    limit = next((c for c in children(body) if c.tag == dav("limit")), None)
    if limit is None:
        return None
    text = text_of(next((c for c in children(limit) if c.tag == dav("nresults")), None)).strip()
    if not text.isdigit() or int(text) < 1:
        raise DavError(400, message="DAV:nresults must be a positive integer")
    return int(text)


class SyncCollection(Report):
    name = dav("sync-collection")

    def applies(self, res):
        return res.kind is Kind.COLLECTION

    async def run(self, ctx, res, body):
        level = text_of(next((c for c in children(body) if c.tag == dav("sync-level")), None))
        # Collections hold only items, so "infinite" means the same as "1" here.
        if level.strip() not in ("", "1", "infinite", "infinity"):
            raise DavError(400, message="DAV:sync-level must be 1 or infinite")
        token = text_of(next((c for c in children(body) if c.tag == dav("sync-token")), None))
        revision = parse_token(token, res.info.id)
        if revision is None:
            raise DavError(403, dav("valid-sync-token"), "not a sync token of this collection")
        limit = _limit(body)
        page = ctx.app.sync_page_size
        if page is not None:
            limit = page if limit is None else min(limit, page)
        request = PropRequest.parse(body)
        handle = await ctx.handle(res)
        try:
            changes = await handle.changes_since(revision, limit=limit)
        except errors.SyncTokenInvalid:
            raise DavError(403, dav("valid-sync-token"), "sync token from the future") from None
        except errors.SmsyncError as e:
            raise from_store_error(e) from None
        return multistatus(_batches(ctx, res, changes, request),
                           sync_token=make_token(res.info.id, changes.revision))


async def _batches(ctx, res, changes, request):
    """The answer's responses, a batch at a time (an initial sync lists everything)."""
    pacer = Pacer()
    async for part in item_response_batches(ctx, res, changes.changed, request, pacer=pacer):
        yield part
    deleted = changes.deleted
    for i in range(0, len(deleted), BATCH_ITEMS):
        yield [response_element(ctx.tree.item_href(res.home, res.owner, res.collection_name, name),
                                status=404) for name in deleted[i:i + BATCH_ITEMS]]
        await pacer.breathe()
    if changes.truncated:
        error = element(dav("error"), children=[element(dav("number-of-matches-within-limits"))])
        yield [response_element(res.href, status=507, error=error)]


CORE_REPORTS = (SyncCollection(),)
