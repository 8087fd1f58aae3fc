"""The multiget REPORTs' shared core (CalDAV 7.9, CardDAV 8.7): the properties of the
items named by href, read from the store in one call."""

from __future__ import annotations

from urllib.parse import unquote

from smsync.protocols.dav.errors import DavError
from smsync.protocols.dav.propfind import PropRequest, item_responses
from smsync.protocols.dav.resources import Kind, path_of_url, split_path
from smsync.protocols.dav.response import Response, multistatus
from smsync.protocols.dav.xml import dav, response_element, text_of


async def multiget(ctx, res, body) -> Response:
    """Answer a multiget ``body`` on collection (or item) ``res``: a response per href,
    404 for hrefs that are not items of ``res``, 403 for another account's."""
    request = PropRequest.parse(body)
    # A multiget names hundreds of hrefs: plain text elements, read without itertext.
    href_tag = dav("href")
    hrefs = [(k.text or "").strip() if not len(k) else text_of(k).strip()
             for k in body.iterchildren(href_tag)]
    if not hrefs:
        raise DavError(400, message="multiget needs at least one DAV:href")
    wanted: dict[str, str] = {}
    refused: list[tuple[str, int]] = []
    prefix = res.href if res.kind is Kind.COLLECTION else None
    for href in hrefs:
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
    found = {i.info.name: i for i in await handle.get(list(wanted))} if wanted else {}
    infos = [found[name].info for name in wanted if name in found]
    responses = await item_responses(ctx, res, infos, request,
                                     contents={n: i.content for n, i in found.items()},
                                     hrefs=wanted)
    responses += [response_element(href, status=404) for name, href in wanted.items()
                  if name not in found]
    responses += [response_element(href, status=status) for href, status in refused]
    return multistatus(responses)
