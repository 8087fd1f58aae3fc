"""The core's live properties (RFC 4918, 3744 subset, 4331, 5397, 6578, CalendarServer's
getctag). Each is a registered ``Property`` class, found by its ``name``."""

from __future__ import annotations

from email.utils import formatdate

from smsync.formats.lastmodified import last_modified
from smsync.model import PROP_DISPLAYNAME
from smsync.protocols.dav.registry import ImmediateProperty, Property
from smsync.protocols.dav.resources import Kind
from smsync.protocols.dav.synctoken import make_token
from smsync.protocols.dav.xml import (
    CS, clark, dav, element, element_tags, escape_text, href_element, sub, text_of, text_property,
)


def _collection(res) -> bool:
    return res.kind is Kind.COLLECTION and res.exists and res.info is not None


class ResourceType(Property):
    name = dav("resourcetype")

    async def value(self, ctx, res, asked=None):
        el = element(self.name)
        if res.is_collection:
            sub(el, dav("collection"))
        if res.kind is Kind.PRINCIPAL:
            sub(el, dav("principal"))
        if res.kind is Kind.COLLECTION and res.home is not None:
            sub(el, res.home.resourcetype_of(res.info.kind if res.info is not None else None))
        return el

    def change(self, ctx, res, el, changes, creating):
        # Only an (extended) MKCOL says what a new collection is; afterwards it is fixed.
        if not creating or el is None:
            super().change(ctx, res, el, changes, creating)
        changes.resourcetypes = frozenset(c.tag for c in el if isinstance(c.tag, str))


class DisplayName(Property):
    name = dav("displayname")

    async def value(self, ctx, res, asked=None):
        if res.kind is Kind.PRINCIPAL:
            return text_property(self.name, res.owner)
        if _collection(res):
            shown = res.info.properties.get(PROP_DISPLAYNAME)
            return text_property(self.name, shown) if shown is not None else None
        return None

    def change(self, ctx, res, el, changes, creating):
        # (A plain resource keeps it as a dead property: see ``collect_changes``.)
        if res.kind not in (Kind.COLLECTION, Kind.PLAIN):
            super().change(ctx, res, el, changes, creating)
        changes.properties[PROP_DISPLAYNAME] = None if el is None else text_of(el)


class GetETag(ImmediateProperty):
    name = dav("getetag")

    def applies(self, res):
        return res.is_item or res.is_plain_file

    def value_now(self, ctx, res):
        if res.is_plain_file:
            return text_property(self.name, res.node.etag)
        return text_property(self.name, res.item.etag) if res.item is not None else None

    def item_renderer(self, ctx, parent, asked):
        head, tail = element_tags(self.name)
        return lambda info, content: b"".join((head, escape_text(info.etag).encode(), tail))


class GetContentType(ImmediateProperty):
    name = dav("getcontenttype")

    def applies(self, res):
        return res.is_item or res.is_plain_file

    def value_now(self, ctx, res):
        if res.is_plain_file:
            return text_property(self.name, res.node.content_type or "application/octet-stream")
        return text_property(self.name, res.home.content_type) if res.home is not None else None

    def item_renderer(self, ctx, parent, asked):
        if parent.home is None:
            return None
        value = text_property(self.name, parent.home.content_type)
        return lambda info, content: value


class GetContentLength(ImmediateProperty):
    name = dav("getcontentlength")

    def applies(self, res):
        return res.is_item or res.is_plain_file

    def value_now(self, ctx, res):
        if res.is_plain_file:
            return text_property(self.name, str(res.node.size))
        return text_property(self.name, str(res.item.size)) if res.item is not None else None

    def item_renderer(self, ctx, parent, asked):
        head, tail = element_tags(self.name)
        return lambda info, content: b"".join((head, str(info.size).encode(), tail))


def http_date(epoch: int) -> str:
    """``epoch`` as an HTTP-date (RFC 9110 5.6.7), the form getlastmodified takes too."""
    return formatdate(epoch, usegmt=True)


class GetLastModified(Property):
    """RFC 4918 15.7, from the item's own DTSTAMP/LAST-MODIFIED/REV (the store keeps no
    time of its own): absent on an item that has none of them."""

    name = dav("getlastmodified")
    needs_content = True

    def applies(self, res):
        return res.is_item

    async def value(self, ctx, res, asked=None):
        content = await ctx.content(res)
        epoch = last_modified(content) if content is not None else None
        return None if epoch is None else text_property(self.name, http_date(epoch))

    def item_renderer(self, ctx, parent, asked):
        head, tail = element_tags(self.name)

        def rendered(info, content):
            epoch = last_modified(content) if content is not None else None
            return None if epoch is None else b"".join((head, http_date(epoch).encode(), tail))

        return rendered


class SyncToken(ImmediateProperty):
    name = dav("sync-token")
    in_allprop = False

    def applies(self, res):
        return res.kind is Kind.COLLECTION

    def value_now(self, ctx, res):
        if not _collection(res):
            return None
        return text_property(self.name, make_token(res.info.id, res.info.revision))


class GetCTag(ImmediateProperty):
    """CalendarServer's collection tag: changes whenever anything in the collection does."""

    name = clark(CS, "getctag")

    def applies(self, res):
        return res.kind is Kind.COLLECTION

    def value_now(self, ctx, res):
        if not _collection(res):
            return None
        return text_property(self.name, make_token(res.info.id, res.info.revision))


class CurrentUserPrincipal(Property):
    name = dav("current-user-principal")

    async def value(self, ctx, res, asked=None):
        if ctx.account is None:
            return element(self.name, children=[element(dav("unauthenticated"))])
        return element(self.name, children=[href_element(ctx.tree.principal_href(ctx.account))])


class PrincipalURL(Property):
    name = dav("principal-URL")

    def applies(self, res):
        return res.kind is Kind.PRINCIPAL

    async def value(self, ctx, res, asked=None):
        return element(self.name, children=[href_element(ctx.tree.principal_href(res.owner))])


class PrincipalCollectionSet(Property):
    name = dav("principal-collection-set")
    in_allprop = False

    async def value(self, ctx, res, asked=None):
        return element(self.name, children=[href_element(ctx.tree.href("principals"))])


class Owner(Property):
    name = dav("owner")

    def applies(self, res):
        return res.owner is not None

    async def value(self, ctx, res, asked=None):
        return element(self.name, children=[href_element(ctx.tree.principal_href(res.owner))])


#: What the owner may do with their own resources (RFC 3744 3.1).
_OWNER_PRIVILEGES = ("read", "write", "write-properties", "write-content", "bind", "unbind",
                     "read-current-user-privilege-set")


class CurrentUserPrivilegeSet(Property):
    name = dav("current-user-privilege-set")
    in_allprop = False

    async def value(self, ctx, res, asked=None):
        el = element(self.name)
        owned = res.owner is not None and res.owner == ctx.account
        writable = owned and res.kind in (Kind.HOME, Kind.COLLECTION, Kind.ITEM, Kind.PLAIN)
        names = _OWNER_PRIVILEGES if writable else ("read", "read-current-user-privilege-set")
        for name in names:
            priv = sub(el, dav("privilege"))
            sub(priv, dav(name))
        return el


class SupportedReportSet(Property):
    name = dav("supported-report-set")
    in_allprop = False

    async def value(self, ctx, res, asked=None):
        el = element(self.name)
        for report in ctx.registry.reports.values():
            if report.applies(res):
                supported = sub(el, dav("supported-report"))
                sub(sub(supported, dav("report")), report.name)
        return el


class SupportedLock(Property):
    name = dav("supportedlock")

    async def value(self, ctx, res, asked=None):
        el = element(self.name)
        entry = sub(el, dav("lockentry"))
        sub(sub(entry, dav("lockscope")), dav("exclusive"))
        sub(sub(entry, dav("locktype")), dav("write"))
        return el


class LockDiscovery(Property):
    name = dav("lockdiscovery")

    async def value(self, ctx, res, asked=None):
        el = element(self.name)
        lock = ctx.app.locks.get(res.href)
        if lock is not None:
            el.append(lock.active_element())
        return el


class QuotaUsedBytes(Property):
    """RFC 4331: bytes used by a collection's items (computed: not in allprop)."""

    name = dav("quota-used-bytes")
    in_allprop = False

    def applies(self, res):
        return res.kind in (Kind.COLLECTION, Kind.HOME)

    async def value(self, ctx, res, asked=None):
        used = await _used_bytes(ctx, res)
        return None if used is None else text_property(self.name, str(used))


class QuotaAvailableBytes(Property):
    """RFC 4331: what is left of the configured quota. Without a quota (``quota_bytes``
    None) the property is absent, as the RFC asks of resources without one."""

    name = dav("quota-available-bytes")
    in_allprop = False

    def applies(self, res):
        return res.kind in (Kind.COLLECTION, Kind.HOME)

    async def value(self, ctx, res, asked=None):
        quota = ctx.app.quota_bytes
        if quota is None:
            return None
        used = await _used_bytes(ctx, res)
        return None if used is None else text_property(self.name, str(max(0, quota - used)))


async def _used_bytes(ctx, res):
    if res.kind is Kind.COLLECTION:
        if not _collection(res):
            return None
        return sum(i.size for i in await (await ctx.handle(res)).items())
    return await home_used_bytes(ctx, res.home)


async def home_used_bytes(ctx, home) -> int:
    """Bytes the items of the account's collections in ``home`` take (the quota of
    RFC 4331 is counted per home: calendars and address books each have it)."""
    cstore = await ctx.collections()
    total = 0
    for info in await cstore.list_collections():
        if info.kind in home.kinds:
            handle = await cstore.collection(info.name)
            total += sum(i.size for i in await handle.items())
    return total


CORE_PROPERTIES = (
    ResourceType(), DisplayName(), GetETag(), GetContentType(), GetContentLength(), GetLastModified(),
    SyncToken(), GetCTag(), CurrentUserPrincipal(), PrincipalURL(), PrincipalCollectionSet(),
    Owner(), CurrentUserPrivilegeSet(), SupportedReportSet(), SupportedLock(), LockDiscovery(),
    QuotaUsedBytes(), QuotaAvailableBytes(),
)
