"""The core HTTP methods: OPTIONS, GET/HEAD, PUT, DELETE, MKCOL (RFC 5689 extended),
COPY, MOVE and REPORT dispatch. PROPFIND/PROPPATCH live in ``propfind``, LOCK/UNLOCK in
``locks``; extension methods (MKCALENDAR) are ``registry.Method`` classes."""

from __future__ import annotations

import hashlib
from typing import Optional

from twisted.internet.threads import deferToThread
from twisted.logger import Logger

from smsync import errors
from smsync.formats.lastmodified import last_modified
from smsync.model import PROP_DISPLAYNAME
from smsync.protocols.dav import plain
from smsync.protocols.dav.errors import DavError, from_store_error
from smsync.protocols.dav.properties import home_used_bytes, http_date
from smsync.protocols.dav.propfind import (
    BATCH_BYTES,
    BATCH_ITEMS,
    collect_changes,
    failure_propstats,
    instructions_of,
)
from smsync.protocols.dav.resources import Kind, path_of_url, split_path
from smsync.protocols.dav.response import Response, xml_response
from smsync.protocols.dav.xml import dav, href_element, root_element
from smsync.sync.uids import uid_of

log = Logger(namespace="smsync.dav")

CORE_COMPLIANCE = ("1", "2", "3", "access-control", "extended-mkcol")


# --- conditional headers


def etag_list(header: Optional[str]) -> Optional[list[str]]:
    """The entity tags of an If-Match / If-None-Match header (``["*"]`` for ``*``),
    weak prefixes dropped; None when the header is absent."""
    if header is None:
        return None
    header = header.strip()
    if header == "*":
        return ["*"]
    tags, i, n = [], 0, len(header)
    while i < n:
        if header.startswith("W/", i):
            i += 2
        if i < n and header[i] == '"':
            end = header.find('"', i + 1)
            if end < 0:
                break
            tags.append(header[i:end + 1])
            i = end + 1
        else:
            end = header.find(",", i)
            token = header[i:end if end >= 0 else n].strip()
            if token:
                tags.append(f'"{token.strip(chr(34))}"')
            i = end if end >= 0 else n
        while i < n and header[i] in ", \t":
            i += 1
    return tags


def _same(a: str, b: str) -> bool:
    return a.strip('"') == b.strip('"')


def check_preconditions(ctx, current_etag: Optional[str]) -> None:
    """412 when If-Match / If-None-Match (RFC 7232) fail against ``current_etag``
    (None: the resource does not exist). GET/HEAD get 304 for If-None-Match."""
    match = etag_list(ctx.header("If-Match"))
    if match is not None:
        if current_etag is None or not (match == ["*"] or any(_same(t, current_etag) for t in match)):
            raise DavError(412, message="If-Match failed")
    none_match = etag_list(ctx.header("If-None-Match"))
    if none_match is not None and current_etag is not None:
        if none_match == ["*"] or any(_same(t, current_etag) for t in none_match):
            if ctx.method in ("GET", "HEAD"):
                raise DavError(304, headers={"ETag": current_etag})
            raise DavError(412, message="If-None-Match failed")


# --- methods


async def options(ctx, res) -> Response:
    return Response(200, headers={
        "DAV": ", ".join(list(CORE_COMPLIANCE) + ctx.registry.compliance),
        "Allow": ", ".join(ctx.app.allowed_methods()),
    })


async def get(ctx, res) -> Response:
    if not res.exists:
        raise DavError(404)
    if res.is_plain_file:
        return await plain.get(ctx, res)
    if res.is_item:
        check_preconditions(ctx, res.item.etag)
        content = await ctx.content(res)
        if content is None:
            raise DavError(404)
        headers = {"ETag": res.item.etag, "Vary": "Accept"}
        modified = last_modified(content)
        if modified is not None:
            headers["Last-Modified"] = http_date(modified)
        ctype = res.home.content_type
        if res.home.hooks is not None:
            content, extra = res.home.hooks.on_get(ctx, res, content)
            headers.update(extra)
        accept = ctx.header("Accept")
        if accept and res.home.negotiate is not None:
            content, ctype = res.home.negotiate(content, accept)
        return Response(200, content, ctype, headers)
    if res.kind is Kind.COLLECTION and res.home is not None and res.home.export is not None:
        return await export(ctx, res)
    # Other collections have no body of their own; a short listing helps people with browsers.
    lines = [res.href]
    for child in await ctx.tree.children(ctx, res):
        lines.append(child.href)
    return Response(200, ("\n".join(lines) + "\n").encode("utf-8"), "text/plain; charset=utf-8")


async def export(ctx, res) -> Response:
    """The whole calendar or address book as one ``.ics``/``.vcf`` (what calendar apps
    subscribe to). Its ETag is the collection's revision (which any item change moves)
    and a hash of the display name the file carries.

    Streamed: items are read and merged a batch at a time (``BATCH_ITEMS``, at most
    ``BATCH_BYTES`` of content), merging off the reactor thread, each batch once the
    client has taken the one before; a 50,000-event calendar costs the server one batch
    of memory. A collection that fits in one batch is read first and its export carries
    the Last-Modified of its latest item; a streamed one carries none (that would need
    every item before the first byte)."""
    info = res.info
    name = info.properties.get(PROP_DISPLAYNAME)
    shown = hashlib.sha1((name or "").encode("utf-8")).hexdigest()[:8]
    etag = f'"export-{info.id}-{info.revision}-{shown}"'
    check_preconditions(ctx, etag)
    home = res.home
    headers = {"ETag": etag, "Content-Disposition":
               f'inline; filename="{_file_name(res.collection_name)}{home.suffix}"'}
    if ctx.method == "HEAD":
        return Response(200, b"", home.content_type, headers)
    handle = await ctx.handle(res)
    listing = await handle.items()
    exporter = home.export(name)
    if len(listing) <= BATCH_ITEMS and sum(i.size for i in listing) <= BATCH_BYTES:
        contents = [item.content for item in await handle.get([i.name for i in listing])]
        body, modified = await deferToThread(_export_whole, exporter, contents)
        if modified is not None:
            headers["Last-Modified"] = http_date(modified)
        return Response(200, body, home.content_type, headers)
    return Response(200, content_type=home.content_type, headers=headers,
                    chunks=_export_parts(handle, listing, exporter))


def _export_whole(exporter, contents: list):
    """(the export of ``contents``, the latest Last-Modified among them or None)."""
    stamps = [t for t in map(last_modified, contents) if t is not None]
    body = exporter.head() + exporter.part(contents) + exporter.tail()
    return body, max(stamps) if stamps else None


async def _export_parts(handle, listing, exporter):
    yield exporter.head()
    batch: list = []
    size = 0
    for info in listing:
        if batch and (len(batch) >= BATCH_ITEMS or size + info.size > BATCH_BYTES):
            yield await _export_batch(handle, batch, exporter)
            batch, size = [], 0
        batch.append(info.name)
        size += info.size
    if batch:
        yield await _export_batch(handle, batch, exporter)
    yield exporter.tail()


async def _export_batch(handle, names, exporter) -> bytes:
    contents = [item.content for item in await handle.get(names)]
    # Merging parses every item: off the reactor thread.
    return await deferToThread(exporter.part, contents)


def _file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_. " else "_" for c in name) or "export"


def _media_type(value: Optional[str]) -> Optional[str]:
    if not value:
        return None
    return value.split(";", 1)[0].strip().lower()


def store_error(exc: errors.SmsyncError, ctx, res) -> DavError:
    """The answer to a store error while writing an item of ``res.home``."""
    home = res.home
    if isinstance(exc, errors.UidConflict):
        href = ctx.tree.item_href(home, res.owner, res.collection_name, exc.existing_name)
        return DavError(403, home.condition("uid_conflict"), str(exc), children=[href_element(href)])
    if isinstance(exc, errors.UnsupportedComponent):
        return DavError(403, home.condition("supported_component"), str(exc))
    return from_store_error(exc, invalid_condition=home.condition("valid_data"))


async def put(ctx, res) -> Response:
    if plain.applies(res):
        return await plain.put(ctx, res)
    if res.kind is not Kind.ITEM:
        raise DavError(405, message="PUT goes to an item inside a collection")
    home = res.home
    ctx.app.locks.check_write(ctx, res.href)
    body = ctx.body()
    if len(body) > home.max_resource_size:
        raise DavError(403, home.condition("max_size"),
                       f"larger than the {home.max_resource_size} bytes allowed")
    media = _media_type(ctx.header("Content-Type"))
    if media is not None and media not in home.media_types and media not in (
            "application/octet-stream", "text/plain"):
        raise DavError(403, home.condition("supported_data"), f"{media} is not accepted here")
    after = None
    if home.hooks is not None:
        body, after = await home.hooks.before_put(ctx, res, body)
    match = etag_list(ctx.header("If-Match"))
    none_match = etag_list(ctx.header("If-None-Match"))
    if not res.loaded and (match or (none_match and none_match != ["*"])
                           or ctx.app.quota_bytes is not None):
        # Etags are compared against what the item has now, and an update must keep
        # the item's UID: both need the item as it is.
        await ctx.tree.load_item(ctx, res)
    if ctx.app.quota_bytes is not None:
        await check_quota(ctx, res, len(body))
    handle = await ctx.handle(res)
    repaired = None
    if home.repair is not None and not _is_utf8(body):
        repaired = home.repair(body, _fallback_uid(res))
    try:
        try:
            info, created = await _store(ctx, res, handle, repaired.content if repaired else body)
        except errors.InvalidData as e:
            if (home.repair is None or repaired is not None
                    or isinstance(e, errors.UnsupportedComponent)):
                raise
            # Liberal in what is accepted: exports carry malformed-but-common forms that
            # have one obvious meaning; those are stored repaired, the rest refused.
            repaired = home.repair(body, _fallback_uid(res))
            if not repaired.changed:
                raise
            info, created = await _store(ctx, res, handle, repaired.content)
    except errors.SmsyncError as e:
        raise store_error(e, ctx, res) from None
    headers = {"ETag": info.etag}
    if repaired is not None and repaired.changed:
        log.info("DAV PUT {href} by {account}: stored repaired: {notes}", href=res.href,
                 account=ctx.account, notes="; ".join(repaired.notes))
        # RFC 4791 5.3.4: no ETag when what is stored differs from what was sent; the
        # client reads the item back.
        headers = {}
    if after is not None:
        headers = await after(info, headers)
    return Response(201 if created else 204, headers=headers)


async def _store(ctx, res, handle, body: bytes):
    """Store ``body`` as item ``res`` under the request's conditions: ``(ItemInfo,
    created)``. Store errors propagate."""
    if res.loaded:
        current = res.item.etag if res.exists and res.item is not None else None
        check_preconditions(ctx, current)
        if current is not None:
            check_same_uid(ctx, res, body)
        # The store re-checks atomically: what was read above may be stale by now.
        info = await handle.put(res.item_name, body, if_match=current,
                                if_none_match=current is None)
        return info, current is None
    if etag_list(ctx.header("If-None-Match")) == ["*"]:
        return await handle.put(res.item_name, body, if_none_match=True), True
    # Unconditional: try creating; if the item exists, replace it as it is now.
    try:
        return await handle.put(res.item_name, body, if_none_match=True), True
    except errors.PreconditionFailed:
        await ctx.tree.load_item(ctx, res)
    return await _store(ctx, res, handle, body)


def check_same_uid(ctx, res, body: bytes) -> None:
    """403 ``no-uid-conflict`` (RFC 4791 5.3.2.1, RFC 6352 6.3.2.1) when ``body`` would
    give the existing item ``res`` another UID: a client that does that means a new
    item, and replacing the old one would lose it from every other device's view."""
    new_uid = uid_of(body)
    if new_uid is None or res.item is None or new_uid == res.item.uid:
        return
    raise DavError(403, res.home.condition("uid_conflict"),
                   f"this item's UID is {res.item.uid!r}; an item with UID {new_uid!r} "
                   f"goes under another name", children=[href_element(res.href)])


def _is_utf8(body: bytes) -> bool:
    if body.isascii():
        return True
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _fallback_uid(res) -> str:
    """The UID a repaired item without one gets: the one it has, when it exists, else
    its resource name without extension."""
    if res.loaded and res.exists and res.item is not None:
        return res.item.uid
    name = res.item_name
    return (name.rsplit(".", 1)[0] if "." in name[1:] else name) or name


async def check_quota(ctx, res, size: int) -> None:
    """507 ``quota-not-exceeded`` (RFC 4331 6) when storing ``size`` bytes as item
    ``res`` (loaded) would take the home past the quota. A soft limit: two writes at
    the same moment may both pass."""
    replaced = res.item.size if res.exists and res.item is not None else 0
    used = await home_used_bytes(ctx, res.home)
    if used - replaced + size > ctx.app.quota_bytes:
        raise DavError(507, dav("quota-not-exceeded"),
                       f"{used} of {ctx.app.quota_bytes} bytes are used; this needs {size}")


async def delete(ctx, res) -> Response:
    if not res.exists:
        raise DavError(404)
    ctx.app.locks.check_write(ctx, res.href)
    if res.kind is Kind.PLAIN:
        return await plain.delete(ctx, res)
    if res.is_item:
        check_preconditions(ctx, res.item.etag)
        after = await res.home.hooks.before_delete(ctx, res) if res.home.hooks is not None else None
        handle = await ctx.handle(res)
        match = etag_list(ctx.header("If-Match"))
        try:
            await handle.delete(res.item_name, if_match=res.item.etag if match else None)
        except errors.SmsyncError as e:
            raise from_store_error(e) from None
        if after is not None:
            await after()
        return Response(204)
    if res.kind is Kind.COLLECTION:
        cstore = await ctx.collections()
        try:
            await cstore.delete_collection(res.collection_name)
        except errors.SmsyncError as e:
            raise from_store_error(e) from None
        return Response(204)
    raise DavError(403, dav("need-privileges"), "principals and homes cannot be deleted")


async def make_collection(ctx, res, body, response_tag: str,
                          required_type: Optional[str] = None) -> Response:
    """Create collection ``res`` from an (extended) MKCOL or MKCALENDAR ``body`` (None
    for none). ``required_type``: the resourcetype the method implies (MKCALENDAR's
    ``calendar``); a ``response_tag`` document reports refused properties."""
    if res.kind is not Kind.COLLECTION:
        if res.exists or res.kind is not Kind.ITEM:
            raise DavError(405, message="there is already something here",
                           headers={"Allow": ", ".join(ctx.app.allowed_methods())})
        raise DavError(409 if res.kind is Kind.ITEM else 403,
                       message="collections are made directly inside a home")
    if res.exists:
        raise DavError(405, message="collection exists",
                       headers={"Allow": ", ".join(ctx.app.allowed_methods())})
    home = res.home
    instructions = instructions_of(body) if body is not None else []
    changes, failures = collect_changes(ctx, res, instructions, creating=True)
    types = changes.resourcetypes
    if types is not None:
        extra = set(types) - {dav("collection"), home.resourcetype}
        if dav("collection") not in types or extra:
            failures[dav("resourcetype")] = DavError(403, dav("valid-resourcetype"))
    if required_type is not None and types is not None and required_type not in types:
        failures[dav("resourcetype")] = DavError(403, dav("valid-resourcetype"))
    if failures:
        root = root_element(response_tag)
        for ps in failure_propstats(instructions, failures):
            root.append(ps)
        return xml_response(root, 403)
    cstore = await ctx.collections()
    try:
        kind = home.choose_kind(changes.components)
        await cstore.create_collection(res.collection_name, kind, components=changes.components,
                                       properties=changes.properties or None)
    except errors.AlreadyExists:
        raise DavError(405, message="collection exists") from None
    except errors.SmsyncError as e:
        raise from_store_error(e, invalid_status=403) from None
    return Response(201, headers={"Cache-Control": "no-cache"})


_XML_TYPES = frozenset({"application/xml", "text/xml"})


async def mkcol(ctx, res) -> Response:
    # RFC 4918 9.3: a body the server does not understand is 415, not 400.
    media = _media_type(ctx.header("Content-Type"))
    if (ctx.body().strip() and media is not None and media not in _XML_TYPES
            and not media.endswith("+xml")):
        raise DavError(415, message=f"MKCOL takes no {media} body")
    try:
        body = ctx.xml()
    except DavError as e:
        if e.status != 400:
            raise
        raise DavError(415, message=e.message) from None
    if body is not None and body.tag != dav("mkcol"):
        raise DavError(415, message="MKCOL body must be DAV:mkcol (RFC 5689)")
    if plain.wants_plain_collection(res, body):
        return await plain.mkcol(ctx, res, body)
    return await make_collection(ctx, res, body, dav("mkcol-response"))


async def report(ctx, res) -> Response:
    if not res.exists:
        raise DavError(404)
    body = ctx.xml()
    if body is None:
        raise DavError(400, message="REPORT needs a body")
    handler = ctx.registry.reports.get(body.tag)
    if handler is None or not handler.applies(res):
        raise DavError(403, dav("supported-report"), f"{body.tag} is not supported here")
    return await handler.run(ctx, res, body)


# --- COPY and MOVE


async def _destination(ctx, res):
    header = ctx.header("Destination")
    if not header:
        raise DavError(400, message="Destination header missing")
    try:
        segments = split_path(path_of_url(header), ctx.tree.base)
    except DavError:
        raise DavError(502, message="the destination is not on this server") from None
    dest = await ctx.tree.resolve(ctx, segments)
    if dest.href == res.href:
        raise DavError(403, message="source and destination are the same")
    return dest


def _overwrite(ctx) -> bool:
    return (ctx.header("Overwrite") or "T").strip().upper() != "F"


async def copy(ctx, res) -> Response:
    return await _transfer(ctx, res, move=False)


async def move(ctx, res) -> Response:
    return await _transfer(ctx, res, move=True)


async def _transfer(ctx, res, move: bool) -> Response:
    if not res.exists:
        raise DavError(404)
    if move:
        ctx.app.locks.check_write(ctx, res.href)
    dest = await _destination(ctx, res)
    ctx.app.locks.check_write(ctx, dest.href)
    overwrite = _overwrite(ctx)
    if dest.exists and not overwrite:
        raise DavError(412, message="destination exists and Overwrite is F")
    if res.kind is Kind.PLAIN:
        return await plain.transfer(ctx, res, dest, move)
    if res.is_item:
        if dest.kind is not Kind.ITEM or dest.home is not res.home:
            raise DavError(409, message="items go into a collection of the same kind")
        return await _transfer_item(ctx, res, dest, move)
    if res.kind is Kind.COLLECTION:
        if dest.kind is not Kind.COLLECTION or dest.home is not res.home:
            raise DavError(409, message="collections go directly into a home of the same kind")
        return await _transfer_collection(ctx, res, dest, move)
    raise DavError(403, message="principals and homes cannot be copied or moved")


async def _transfer_item(ctx, res, dest, move: bool) -> Response:
    content = await ctx.content(res)
    if ctx.app.quota_bytes is not None and not move:
        await check_quota(ctx, dest, len(content or b""))
    source = await ctx.handle(res)
    target = await ctx.handle(dest)
    same = source.id == target.id
    existed = dest.exists
    try:
        if move and same:
            # A UID may be in a collection only once: free it before storing the copy.
            await source.delete(res.item_name, if_match=res.item.etag)
            try:
                await target.put(dest.item_name, content)
            except errors.SmsyncError:
                await source.put(res.item_name, content)
                raise
        else:
            await target.put(dest.item_name, content)
            if move:
                await source.delete(res.item_name)
    except errors.SmsyncError as e:
        raise store_error(e, ctx, dest) from None
    return Response(204 if existed else 201)


async def _transfer_collection(ctx, res, dest, move: bool) -> Response:
    cstore = await ctx.collections()
    existed = dest.exists
    try:
        if existed:
            await cstore.delete_collection(dest.collection_name)
        if move:
            await cstore.rename_collection(res.collection_name, dest.collection_name)
        else:
            info = res.info
            await cstore.create_collection(dest.collection_name, info.kind, info.components,
                                           dict(info.properties))
            source = await ctx.handle(res)
            target = await cstore.collection(dest.collection_name)
            names = [i.name for i in await source.items()]
            for item in await source.get(names):
                await target.put(item.info.name, item.content)
    except errors.SmsyncError as e:
        raise from_store_error(e) from None
    return Response(204 if existed else 201)


CORE_METHODS = {
    "OPTIONS": options,
    "GET": get,
    "HEAD": get,
    "PUT": put,
    "DELETE": delete,
    "MKCOL": mkcol,
    "REPORT": report,
    "COPY": copy,
    "MOVE": move,
}
