"""The URL tree and the resources in it.

Layout under the mount point (``/dav/``)::

    /dav/                                   ROOT
    /dav/principals/                        PRINCIPALS
    /dav/principals/<user>/                 PRINCIPAL
    /dav/<home-segment>/                    HOMES   (e.g. /dav/calendars/)
    /dav/<home-segment>/<user>/             HOME
    /dav/<home-segment>/<user>/<coll>/      COLLECTION (a store collection)
    /dav/<home-segment>/<user>/<coll>/<n>   ITEM
    /dav/<home-segment>/<user>/<a>/<b>...   PLAIN (a plain WebDAV resource or collection)

Plain resources and collections (RFC 4918) live in the store's ``IDavTree`` under the
path ``<home-segment>/<a>/<b>...``: a home holds calendars (or address books) and
plain collections side by side, and plain collections hold anything but calendars.
Without an ``IDavTree`` in the store there are none.

A user reaches only their own principal, homes, collections and items: anything of
another account is 403 (``PermissionDenied`` from ``Context.check_owner``).
"""

from __future__ import annotations

import enum
import re
from typing import Optional
from urllib.parse import quote, unquote

import attrs

from smsync import errors
from smsync.protocols.dav.errors import DavError
from smsync.protocols.dav.registry import HomeSpec


class Kind(str, enum.Enum):
    ROOT = "root"
    PRINCIPALS = "principals"
    PRINCIPAL = "principal"
    HOMES = "homes"
    HOME = "home"
    COLLECTION = "collection"
    ITEM = "item"
    PLAIN = "plain"


_SAFE = "@:+$!,;=~'()*&"
_PLAIN = re.compile(r"[A-Za-z0-9@:+$!,;=~'()*&._-]+")


def quote_segment(segment: str) -> str:
    """``segment`` percent-encoded for a path (most names need nothing: fast path)."""
    if _PLAIN.fullmatch(segment):
        return segment
    return quote(segment, safe=_SAFE)


@attrs.define(eq=False)
class Resource:
    """One resource of the tree, with what was loaded to find it.

    ``exists`` is False for an unmapped URL where a PUT, MKCOL or MKCALENDAR may create
    something (a missing item or collection in an existing parent). ``path`` is the
    ``IDavTree`` path of a PLAIN resource, and of a missing COLLECTION where a plain
    collection or resource may be made instead.
    """

    kind: Kind
    href: str
    owner: Optional[str] = None
    home: Optional[HomeSpec] = None
    #: Collection name (COLLECTION, ITEM) and item name (ITEM).
    collection_name: Optional[str] = None
    item_name: Optional[str] = None
    exists: bool = True
    info: object = None  # CollectionInfo of a COLLECTION (or of an ITEM's collection)
    handle: object = None  # ICollection of a COLLECTION or ITEM, once opened
    item: object = None  # ItemInfo of an ITEM
    content: Optional[bytes] = None  # an ITEM's content, once read
    loaded: bool = True  # False: an ITEM resolved without reading it (exists unknown)
    path: Optional[str] = None  # IDavTree path (PLAIN, or a missing COLLECTION)
    node: object = None  # DavNode of an existing PLAIN

    @property
    def is_collection(self) -> bool:
        if self.kind is Kind.PLAIN:
            return self.node is not None and self.node.collection
        return self.kind is not Kind.ITEM

    @property
    def is_plain_file(self) -> bool:
        """An existing plain (non-collection) WebDAV resource."""
        return self.kind is Kind.PLAIN and self.node is not None and not self.node.collection

    @property
    def is_item(self) -> bool:
        return self.kind is Kind.ITEM


def split_path(path: bytes, base: str) -> list[str]:
    """The decoded segments of ``path`` below ``base`` (``/dav/``). ``DavError(404)``
    outside it, ``DavError(400)`` for undecodable or dot segments."""
    try:
        text = path.decode("ascii")
    except UnicodeDecodeError:
        raise DavError(400, message="request paths are ASCII (percent-encoded)") from None
    text = text.split("?", 1)[0]
    if not (text + "/").startswith(base):
        raise DavError(404)
    rest = text[len(base):]
    try:
        segments = [unquote(s, errors="strict") for s in rest.split("/") if s]
    except UnicodeDecodeError:
        raise DavError(400, message="path segments are UTF-8") from None
    if any(s in (".", "..") or "\x00" in s for s in segments):
        raise DavError(400, message="dot segments are not allowed")
    return segments


def path_of_url(url: str) -> bytes:
    """The path of an absolute or absolute-path URL (Destination headers, hrefs)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    return (parts.path or "/").encode("ascii", "replace")


class Tree:
    """Builds hrefs and resolves paths to resources for one mount point."""

    def __init__(self, base: str, registry):
        self.base = base if base.endswith("/") else base + "/"
        self.registry = registry

    # --- hrefs

    def href(self, *segments: str, collection: bool = True) -> str:
        path = self.base + "/".join(quote_segment(s) for s in segments)
        if collection and segments:
            path += "/"
        return path

    def principal_href(self, account: str) -> str:
        return self.href("principals", account)

    def home_href(self, home: HomeSpec, account: str) -> str:
        return self.href(home.segment, account)

    def collection_href(self, home: HomeSpec, account: str, name: str) -> str:
        return self.href(home.segment, account, name)

    def item_href(self, home: HomeSpec, account: str, collection: str, name: str) -> str:
        return self.href(home.segment, account, collection, name, collection=False)

    def plain_resource(self, home: HomeSpec, account: str, node) -> Resource:
        """The PLAIN resource of ``node`` (a ``DavNode`` of ``home``'s part of the tree)."""
        rest = node.path.split("/")[1:]
        return Resource(Kind.PLAIN, self.href(home.segment, account, *rest, collection=node.collection),
                        owner=account, home=home, path=node.path, node=node)

    async def _resolve_plain(self, ctx, home: HomeSpec, account: str, rest: list) -> Optional[Resource]:
        """The PLAIN resource at ``rest`` (segments below the home), missing or not;
        None where there is none and none could be made (no ``IDavTree``), or for a
        missing name directly in the home (a COLLECTION may be made there too)."""
        tree = ctx.app.dav_tree
        if tree is None:
            return None
        if any("/" in segment for segment in rest):
            # An encoded slash (%2F) would name another place in the tree.
            raise DavError(400, message="names of plain resources cannot contain /")
        path = "/".join([home.segment, *rest])
        node = await tree.node(account, path)
        if node is not None:
            return self.plain_resource(home, account, node)
        if len(rest) == 1:
            return None
        return Resource(Kind.PLAIN, self.href(home.segment, account, *rest, collection=False),
                        owner=account, home=home, path=path, exists=False)

    # --- resolution

    def locate(self, path: bytes) -> tuple[list[str], Optional[str]]:
        """The segments below the mount of a request ``path``, and the href to answer
        with when the path is one of the site-root aliases (else None).

        Users type the bare host into a client, and clients guess principal URLs: ``/``
        is the ROOT, ``/principals/`` the PRINCIPALS and ``/principals/<user>/`` (or
        CalendarServer's ``/principals/users/<user>/``) the user's PRINCIPAL, each
        answering with the real hrefs below the mount (RFC 6764 6: the client then
        follows ``current-user-principal`` and the home sets). ``DavError(404)`` for
        anything else outside the mount."""
        try:
            return split_path(path, self.base), None
        except DavError as e:
            if e.status != 404:
                raise
        segments = split_path(path, "/")
        if segments[:1] == ["principals"]:
            rest = segments[1:]
            if len(rest) == 2 and rest[0] == "users":
                rest = rest[1:]
            if len(rest) <= 1:
                href = "/" + "".join(quote_segment(s) + "/" for s in segments)
                return ["principals", *rest], href
        elif not segments:
            return [], "/"
        raise DavError(404)

    async def resolve(self, ctx, segments: list[str], load_item: bool = True) -> Resource:
        """The resource at ``segments``; ``DavError`` 404 (no such thing, and no parent
        where one could be made) or 403 (someone else's). Without ``load_item`` an ITEM
        is not read (``loaded`` False, ``exists`` unknown): writes that let the store
        check existence atomically save a round trip."""
        n = len(segments)
        if n == 0:
            return Resource(Kind.ROOT, self.base)
        head = segments[0]
        if head == "principals":
            if n == 1:
                return Resource(Kind.PRINCIPALS, self.href("principals"))
            if n == 2:
                ctx.check_owner(segments[1])
                return Resource(Kind.PRINCIPAL, self.principal_href(ctx.account), owner=ctx.account)
            raise DavError(404)
        home = self.registry.homes.get(head)
        if home is None:
            raise DavError(404)
        if n == 1:
            return Resource(Kind.HOMES, self.href(head), home=home)
        ctx.check_owner(segments[1])
        account = ctx.account
        if n == 2:
            return Resource(Kind.HOME, self.home_href(home, account), owner=account, home=home)
        name = segments[2]
        try:
            handle, kind = await ctx.app.handles.collection(account, name)
        except errors.NotFound:
            plain = await self._resolve_plain(ctx, home, account, segments[2:])
            if plain is not None:
                return plain
            if n == 3:
                return Resource(Kind.COLLECTION, self.collection_href(home, account, name),
                                owner=account, home=home, collection_name=name, exists=False,
                                path=f"{home.segment}/{name}" if ctx.app.dav_tree is not None else None)
            raise DavError(404) from None
        if kind not in home.kinds:
            # Collections of another home are not reachable here (an address book under
            # /calendars/ would confuse every client).
            if n == 3:
                raise DavError(409, message=f"{name} is a collection of another kind")
            raise DavError(404)
        if n > 4:
            raise DavError(404)
        if n == 3:
            try:
                info = await handle.info()
            except errors.NotFound:
                ctx.app.handles.forget(account, name)
                raise DavError(404) from None
            return Resource(Kind.COLLECTION, self.collection_href(home, account, name),
                            owner=account, home=home, collection_name=name, info=info,
                            handle=handle)
        item_name = segments[3]
        res = Resource(Kind.ITEM, self.item_href(home, account, name, item_name), owner=account,
                       home=home, collection_name=name, item_name=item_name, handle=handle)
        if load_item:
            await self.load_item(ctx, res)
        else:
            res.loaded = False
        return res

    async def load_item(self, ctx, res: Resource) -> None:
        """Read an ITEM resource's info and content (``exists`` says if it is there)."""
        try:
            found = await res.handle.get([res.item_name])
        except errors.NotFound:
            ctx.app.handles.forget(res.owner, res.collection_name)
            raise DavError(404) from None
        res.loaded = True
        res.exists = bool(found)
        if found:
            res.item = found[0].info
            res.content = found[0].content

    async def children(self, ctx, res: Resource) -> list[Resource]:
        """The members of collection ``res`` (for Depth: 1), as the user may see them."""
        account = ctx.account
        if res.kind is Kind.ROOT:
            out = [Resource(Kind.PRINCIPALS, self.href("principals"))]
            out += [Resource(Kind.HOMES, self.href(h.segment), home=h)
                    for h in self.registry.homes.values()]
            return out
        if res.kind is Kind.PRINCIPALS:
            # Below the href asked: /principals/ (an alias, see ``locate``) lists its own.
            return [Resource(Kind.PRINCIPAL, res.href + quote_segment(account) + "/", owner=account)]
        if res.kind is Kind.HOMES:
            return [Resource(Kind.HOME, self.home_href(res.home, account), owner=account,
                             home=res.home)]
        if res.kind is Kind.HOME:
            cstore = await ctx.collections()
            infos = await cstore.list_collections()
            out = [
                Resource(Kind.COLLECTION, self.collection_href(res.home, account, i.name),
                         owner=account, home=res.home, collection_name=i.name, info=i)
                for i in infos if i.kind in res.home.kinds
            ]
            if ctx.app.dav_tree is not None:
                out += [self.plain_resource(res.home, account, node)
                        for node in await ctx.app.dav_tree.members(account, res.home.segment)]
            return out
        if res.kind is Kind.PLAIN and res.is_collection:
            return [self.plain_resource(res.home, account, node)
                    for node in await ctx.app.dav_tree.members(account, res.path)]
        if res.kind is Kind.COLLECTION and res.exists:
            handle = await ctx.handle(res)
            return [self.item_resource(res, info) for info in await handle.items()]
        return []

    def item_resource(self, parent: Resource, info, content: Optional[bytes] = None) -> Resource:
        """The ITEM resource of ``info`` (an ``ItemInfo``) in collection ``parent``."""
        prefix = parent.href if parent.kind is Kind.COLLECTION else parent.href.rsplit("/", 1)[0] + "/"
        return Resource(Kind.ITEM, prefix + quote_segment(info.name),
                        owner=parent.owner, home=parent.home,
                        collection_name=parent.collection_name, item_name=info.name,
                        info=parent.info, handle=parent.handle, item=info, content=content)
