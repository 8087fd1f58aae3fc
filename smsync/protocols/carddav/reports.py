"""CardDAV REPORTs (RFC 6352 8.6-8.7): addressbook-query and addressbook-multiget."""

from __future__ import annotations

from smsync._async import Pacer
from smsync.errors import InvalidData
from smsync.formats.contentlines import parse_components
from smsync.protocols.carddav.filters import matches, parse_filter
from smsync.protocols.carddav.properties import card
from smsync.protocols.dav import Report
from smsync.protocols.dav.errors import DavError
from smsync.protocols.dav.multiget import multiget
from smsync.protocols.dav.propfind import PropRequest, batches, item_response_batches, responses_for
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
        if not res.is_item:
            handle = await ctx.handle(res)
            infos = await handle.items()
            return multistatus(_matching(ctx, res, handle, infos, flt, limit, request))
        members = [res] if res.exists else []
        kept = []
        for member in members:
            if _matches(flt, await ctx.content(member)):
                kept.append(member)
        truncated = limit is not None and len(kept) > limit
        responses = await responses_for(ctx, kept[:limit], request)
        if truncated:
            responses.append(_cut(res))
        return multistatus(responses)


def _matches(flt, content) -> bool:
    if content is None:
        return False
    try:
        roots = parse_components(content)
    except InvalidData:
        return False
    return bool(roots) and matches(flt, roots[0])


def _cut(res):
    """RFC 6352 8.6.1: a 507 for the collection says the answer was cut."""
    error = element(dav("error"), children=[element(dav("number-of-matches-within-limits"))])
    return response_element(res.href, status=507, error=error)


async def _matching(ctx, res, handle, infos, flt, limit, request):
    """The responses of the first ``limit`` cards matching ``flt``, read, tested and
    rendered a batch at a time; a 507 after them when more matched."""
    pacer = Pacer()
    count = 0
    for batch in batches(infos):
        kept, contents, cut = [], {}, False
        for item in await handle.get([i.name for i in batch]):
            await pacer.breathe()
            if not _matches(flt, item.content):
                continue
            if limit is not None and count >= limit:
                cut = True
                break
            count += 1
            kept.append(item.info)
            contents[item.info.name] = item.content
        async for part in item_response_batches(ctx, res, kept, request, contents=contents, pacer=pacer):
            yield part
        if cut:
            yield [_cut(res)]
            return


class AddressbookMultiget(Report):
    name = card("addressbook-multiget")

    def applies(self, res):
        return _is_addressbook(res)

    async def run(self, ctx, res, body):
        return await multiget(ctx, res, body)


CARDDAV_REPORTS = (AddressbookQuery(), AddressbookMultiget())
