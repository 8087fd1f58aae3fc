"""CardDAV REPORTs (RFC 6352 8.6-8.7): addressbook-query and addressbook-multiget."""

from __future__ import annotations

from smsync.errors import InvalidData
from smsync.formats.contentlines import parse_components
from smsync.protocols.carddav.filters import matches, parse_filter
from smsync.protocols.carddav.properties import card
from smsync.protocols.dav import Report
from smsync.protocols.dav.errors import DavError
from smsync.protocols.dav.multiget import multiget
from smsync.protocols.dav.propfind import PropRequest, item_responses, responses_for
from smsync.protocols.dav.resources import Kind
from smsync.protocols.dav.response import multistatus
from smsync.protocols.dav.xml import children, dav, element, response_element, text_of


def _is_addressbook(res) -> bool:
    return res.home is not None and res.home.protocol == "carddav" and res.kind in (
        Kind.COLLECTION, Kind.ITEM)


def _limit(body):
    limit = next((k for k in children(body) if k.tag == card("limit")), None)
    if limit is None:
        return None
    text = text_of(next((k for k in children(limit) if k.tag == card("nresults")), None)).strip()
    if not text.isdigit() or int(text) < 1:
        raise DavError(400, message="CR:nresults must be a positive integer")
    return int(text)


class AddressbookQuery(Report):
    name = card("addressbook-query")

    def applies(self, res):
        return _is_addressbook(res)

    async def run(self, ctx, res, body):
        flt = parse_filter(next((k for k in children(body) if k.tag == card("filter")), None))
        limit = _limit(body)
        request = PropRequest.parse(body)
        if res.is_item:
            members = [res] if res.exists else []
        else:
            handle = await ctx.handle(res)
            infos = await handle.items()
            items = await handle.get([i.name for i in infos]) if infos else []
            members = [ctx.tree.item_resource(res, i.info, i.content) for i in items]
        kept = []
        for member in members:
            try:
                roots = parse_components(await ctx.content(member))
            except InvalidData:
                continue
            if roots and matches(flt, roots[0]):
                kept.append(member)
        truncated = limit is not None and len(kept) > limit
        kept = kept[:limit]
        if res.is_item:
            responses = await responses_for(ctx, kept, request)
        else:
            responses = await item_responses(ctx, res, [m.item for m in kept], request,
                                             contents={m.item_name: m.content for m in kept})
        if truncated:
            # RFC 6352 8.6.1: a 507 for the collection says the answer was cut.
            error = element(dav("error"), children=[element(dav("number-of-matches-within-limits"))])
            responses.append(response_element(res.href, status=507, error=error))
        return multistatus(responses)


class AddressbookMultiget(Report):
    name = card("addressbook-multiget")

    def applies(self, res):
        return _is_addressbook(res)

    async def run(self, ctx, res, body):
        return await multiget(ctx, res, body)


CARDDAV_REPORTS = (AddressbookQuery(), AddressbookMultiget())
