"""The sync-collection REPORT (RFC 6578, sync-level 1), answered from the store's change
log: changed members with the properties asked, deleted ones as 404, and -- when a
limit cuts the answer -- a 507 for the collection itself and a token to continue from."""

from __future__ import annotations

from smsync import errors
from smsync.protocols.dav.errors import DavError, from_store_error
from smsync.protocols.dav.propfind import PropRequest, item_responses
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
        responses = await item_responses(ctx, res, changes.changed, request)
        for name in changes.deleted:
            href = ctx.tree.item_href(res.home, res.owner, res.collection_name, name)
            responses.append(response_element(href, status=404))
        if changes.truncated:
            error = element(dav("error"), children=[element(dav("number-of-matches-within-limits"))])
            responses.append(response_element(res.href, status=507, error=error))
        return multistatus(responses, sync_token=make_token(res.info.id, changes.revision))


CORE_REPORTS = (SyncCollection(),)
