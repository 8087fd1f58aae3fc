"""Plain WebDAV resources and collections (RFC 4918) beside calendars and address
books: what a WebDAV client (litmus, a file manager) makes in a home. They live in the
store's ``IDavTree`` (``DavApp.dav_tree``); the URL tree maps them (``Kind.PLAIN``,
see ``resources``). A calendar or address book still holds only its own data: these
methods never write into one.

The core methods hand a request over here when ``applies`` says its resource is, or
may become, a plain one.
"""

from __future__ import annotations

import re
from email.utils import format_datetime
import attrs

from smsync import errors
from smsync.protocols.dav.errors import DavError, from_store_error
from smsync.protocols.dav.propfind import collect_changes, failure_propstats, instructions_of
from smsync.protocols.dav.resources import Kind
from smsync.protocols.dav.response import Response, xml_response
from smsync.protocols.dav.xml import children, dav, root_element

#: Content types kept as the client said them (anything else is kept as none).
_CONTENT_TYPE = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,254}")


def applies(res) -> bool:
    """Whether ``res`` is a plain resource, or a missing name directly in a home where
    one may be made (``path`` set only when the store keeps plain resources)."""
    return res.kind is Kind.PLAIN or (res.kind is Kind.COLLECTION and not res.exists
                                      and res.path is not None)


def _failed(error: errors.SmsyncError) -> DavError:
    if isinstance(error, errors.Conflict):
        return DavError(409, message=f"the parent collection is missing: {error}")
    return from_store_error(error)


async def _ensure_top(ctx, path: str) -> None:
    """Make the home's own node (``calendars``) before the first node in it: the tree
    wants a parent collection for every path of two segments or more."""
    top, _, rest = path.partition("/")
    if rest and "/" not in rest:
        try:
            await ctx.app.dav_tree.mkcol(ctx.account, top)
        except errors.AlreadyExists:
            pass


async def get(ctx, res) -> Response:
    """GET/HEAD of a plain resource: its content as stored."""
    from smsync.protocols.dav.methods import check_preconditions

    node = res.node
    check_preconditions(ctx, node.etag)
    content = await ctx.app.dav_tree.read(ctx.account, res.path)
    if content is None:
        raise DavError(404)
    return Response(200, content, node.content_type or "application/octet-stream", {
        "ETag": node.etag, "Last-Modified": format_datetime(node.modified, usegmt=True)})


async def put(ctx, res) -> Response:
    """PUT of a plain resource: created (201) or replaced (204); 409 without a parent
    collection, 405 over a collection."""
    from smsync.protocols.dav.methods import check_preconditions

    if res.exists and res.is_collection:
        raise DavError(405, message="PUT cannot replace a collection",
                       headers={"Allow": ", ".join(ctx.app.allowed_methods())})
    ctx.app.locks.check_write(ctx, res.href)
    body = ctx.body()
    if len(body) > res.home.max_resource_size:
        raise DavError(413, message=f"larger than the {res.home.max_resource_size} bytes allowed")
    current = res.node.etag if res.exists else None
    check_preconditions(ctx, current)
    ctype = (ctx.header("Content-Type") or "").strip()
    try:
        await _ensure_top(ctx, res.path)
        node = await ctx.app.dav_tree.put(ctx.account, res.path, body,
                                          ctype if _CONTENT_TYPE.fullmatch(ctype) else None)
    except errors.SmsyncError as e:
        raise _failed(e) from None
    return Response(201 if current is None else 204, headers={"ETag": node.etag})


def wants_plain_collection(res, body) -> bool:
    """Whether a MKCOL at ``res`` with ``body`` (parsed, or None) makes a plain
    collection: anywhere below a plain collection, and in a home unless the body
    (RFC 5689) asks for a resourcetype beyond ``DAV:collection``."""
    if res.kind is Kind.PLAIN:
        return True
    if not applies(res):
        return False
    for _, el in instructions_of(body) if body is not None else ():
        if el.tag == dav("resourcetype"):
            return {c.tag for c in children(el)} <= {dav("collection")}
    return True


async def mkcol(ctx, res, body) -> Response:
    """MKCOL of a plain collection (RFC 4918 9.3), with the properties an extended
    MKCOL body sets (RFC 5689) kept as dead properties."""
    if res.exists:
        raise DavError(405, message="there is already something here",
                       headers={"Allow": ", ".join(ctx.app.allowed_methods())})
    instructions = instructions_of(body) if body is not None else []
    # A missing name in a home resolves as a COLLECTION; it is becoming a plain one.
    changes, failures = collect_changes(ctx, attrs.evolve(res, kind=Kind.PLAIN), instructions,
                                        creating=True)
    types = changes.resourcetypes
    if types is not None and not types <= {dav("collection")}:
        failures[dav("resourcetype")] = DavError(403, dav("valid-resourcetype"),
                                                 "only plain collections are made here")
    if failures:
        root = root_element(dav("mkcol-response"))
        for ps in failure_propstats(instructions, failures):
            root.append(ps)
        return xml_response(root, 403)
    tree = ctx.app.dav_tree
    try:
        await _ensure_top(ctx, res.path)
        await tree.mkcol(ctx.account, res.path)
        if changes.properties:
            await tree.set_properties(ctx.account, res.path, changes.properties)
    except errors.AlreadyExists:
        raise DavError(405, message="there is already something here") from None
    except errors.SmsyncError as e:
        raise _failed(e) from None
    return Response(201, headers={"Cache-Control": "no-cache"})


async def delete(ctx, res) -> Response:
    from smsync.protocols.dav.methods import check_preconditions

    if res.is_plain_file:
        check_preconditions(ctx, res.node.etag)
    try:
        await ctx.app.dav_tree.delete(ctx.account, res.path)
    except errors.SmsyncError as e:
        raise from_store_error(e) from None
    return Response(204)


async def transfer(ctx, res, dest, move: bool) -> Response:
    """COPY or MOVE of a plain resource or collection (RFC 4918 9.8, 9.9) to a plain
    destination, replacing what is there (the caller has checked Overwrite)."""
    if not applies(dest):
        raise DavError(409, message="plain resources go into plain collections or a home")
    if dest.path == res.path or dest.path.startswith(res.path + "/"):
        raise DavError(403, message="the destination is inside the source")
    depth = (ctx.header("Depth") or "infinity").strip().lower()
    if depth not in ("0", "infinity") or (move and depth != "infinity"):
        raise DavError(400, message=f"Depth {depth} is not allowed here")
    tree = ctx.app.dav_tree
    existed = dest.exists
    try:
        if existed:
            await tree.delete(ctx.account, dest.path)
        await _ensure_top(ctx, dest.path)
        if move:
            await tree.move(ctx.account, res.path, dest.path)
        else:
            await _copy(tree, ctx.account, res.node, dest.path, deep=depth == "infinity")
    except errors.SmsyncError as e:
        raise _failed(e) from None
    return Response(204 if existed else 201)


async def _copy(tree, account: str, node, path: str, deep: bool) -> None:
    """Copy ``node`` (and, ``deep``, everything below it) to ``path``, dead
    properties included."""
    if node.collection:
        await tree.mkcol(account, path)
    else:
        content = await tree.read(account, node.path)
        if content is None:
            raise errors.NotFound(f"{node.path} vanished")
        await tree.put(account, path, content, node.content_type)
    if node.properties:
        await tree.set_properties(account, path, dict(node.properties))
    if node.collection and deep:
        for member in await tree.members(account, node.path):
            await _copy(tree, account, member, f"{path}/{member.name}", deep)

