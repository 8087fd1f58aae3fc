"""The multiget REPORTs' shared core (CalDAV 7.9, CardDAV 8.7): the properties of the
items named by href, read from the store a batch at a time."""

from __future__ import annotations

from urllib.parse import unquote

from smsync._async import Pacer
from smsync.protocols.dav.errors import DavError
from smsync.protocols.dav.propfind import BATCH_BYTES, BATCH_ITEMS, PropRequest, item_response_batches
from smsync.protocols.dav.resources import Kind, path_of_url, split_path
from smsync.protocols.dav.response import Response, multistatus
from smsync.protocols.dav.xml import dav, response_element, text_of


async def multiget(ctx, res, body) -> Response:
    """Answer a multiget ``body`` on collection (or item) ``res``: a response per href,
    404 for hrefs that are not items of ``res``, 403 for another account's.

    The answer is streamed: items are read and rendered a batch at a time, and a
    multiget of 10,000 hrefs gives other requests their turns while it runs."""
    pacer = Pacer()
    request = PropRequest.parse(body)
    # A multiget names hundreds of hrefs: plain text elements, read without itertext.
    href_tag = dav("href")
    hrefs = []
    for k in body.iterchildren(href_tag):
        hrefs.append((k.text or "").strip() if not len(k) else text_of(k).strip())
        await pacer.breathe()
    if not hrefs:
        raise DavError(400, message="multiget needs at least one DAV:href")
    wanted: dict[str, str] = {}
    refused: list[tuple[str, int]] = []
    prefix = res.href if res.kind is Kind.COLLECTION else None
    for href in hrefs:
        await pacer.breathe()
        if prefix is not None and href.startswith(prefix):
            # The usual href, as the server wrote it: a member's path, no URL parsing.
            rest = href[len(prefix):]
            if rest and "/" not in rest and "?" not in rest and "#" not in rest:
                try:
                    name = unquote(rest, errors="strict")
                except UnicodeDecodeError:
                    name = None
                if name and name not in (".", "..") and "\x00" not in name:
                    wanted[name] = href
                    continue
        try:
            segments = split_path(path_of_url(href), ctx.tree.base)
        except DavError:
            refused.append((href, 404))
            continue
        if len(segments) >= 2 and segments[0] == getattr(res.home, "segment", None) \
                and segments[1].strip().lower() != ctx.account:
            refused.append((href, 403))
        elif res.kind is Kind.ITEM and href == res.href:
            wanted[res.item_name] = href
        elif (res.kind is Kind.COLLECTION and len(segments) == 4
              and segments[0] == res.home.segment and segments[2] == res.collection_name):
            wanted[segments[3]] = href
        else:
            refused.append((href, 404))
    handle = await ctx.handle(res)
    return multistatus(_batches(ctx, res, handle, wanted, refused, request, pacer))


async def _batches(ctx, res, handle, wanted: dict, refused: list, request, pacer):
    names = list(wanted)
    # Item sizes are known only once read: the first read is small, the next ones as
    # many as fit in BATCH_BYTES at the largest size seen so far.
    start, count, largest = 0, 16, 1
    while start < len(names):
        batch = names[start:start + count]
        start += len(batch)
        found = await handle.get(batch)
        contents = {i.info.name: i.content for i in found}
        async for part in item_response_batches(ctx, res, [i.info for i in found], request,
                                                contents=contents, hrefs=wanted, pacer=pacer):
            yield part
        yield [response_element(wanted[name], status=404) for name in batch if name not in contents]
        largest = max([largest] + [len(c) for c in contents.values()])
        count = max(1, min(BATCH_ITEMS, BATCH_BYTES // largest))
        del found, contents
    for i in range(0, len(refused), BATCH_ITEMS):
        yield [response_element(href, status=status) for href, status in refused[i:i + BATCH_ITEMS]]
        await pacer.breathe()
