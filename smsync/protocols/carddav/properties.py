"""CardDAV's live properties (RFC 6352 6.2, 7.1, 10.4). Registered by ``name``."""

from __future__ import annotations

from smsync.errors import InvalidData
from smsync.formats.vcard import to_version
from smsync.model import PROP_DESCRIPTION
from smsync.protocols.carddav.filters import CARD
from smsync.protocols.dav import Property
from smsync.protocols.dav.collation import COLLATIONS
from smsync.protocols.dav.errors import DavError
from smsync.protocols.dav.resources import Kind
from smsync.protocols.dav.xml import (
    children, clark, element, element_tags, escape_utf8, href_element, sub, text_of, text_property,
)

#: vCard versions served, the default first.
VERSIONS = ("3.0", "4.0")


def card(local: str) -> str:
    return clark(CARD, local)


def _addressbook(res) -> bool:
    return res.kind is Kind.COLLECTION and res.home is not None and res.home.protocol == "carddav"


class AddressbookHomeSet(Property):
    """On the principal, and on the root and principals collection for the user asking
    (clients given only the server's root URL)."""

    name = card("addressbook-home-set")

    def applies(self, res):
        return res.kind in (Kind.PRINCIPAL, Kind.ROOT, Kind.PRINCIPALS)

    async def value(self, ctx, res, asked=None):
        owner = res.owner or ctx.account
        if owner is None:
            return None
        home = ctx.registry.homes["addressbooks"]
        return element(self.name, children=[href_element(ctx.tree.home_href(home, owner))])


class PrincipalAddress(Property):
    """RFC 6352 7.1.2: no principal has a vCard of its own here."""

    name = card("principal-address")
    in_allprop = False

    def applies(self, res):
        return res.kind is Kind.PRINCIPAL

    async def value(self, ctx, res, asked=None):
        return None


class AddressbookDescription(Property):
    name = card("addressbook-description")

    def applies(self, res):
        return _addressbook(res)

    async def value(self, ctx, res, asked=None):
        if not res.exists or res.info is None:
            return None
        text = res.info.properties.get(PROP_DESCRIPTION)
        return text_property(self.name, text) if text is not None else None

    def change(self, ctx, res, el, changes, creating):
        if not _addressbook(res):
            super().change(ctx, res, el, changes, creating)
        changes.properties[PROP_DESCRIPTION] = None if el is None else text_of(el)


class SupportedAddressData(Property):
    name = card("supported-address-data")

    def applies(self, res):
        return _addressbook(res)

    async def value(self, ctx, res, asked=None):
        el = element(self.name)
        for version in VERSIONS:
            data = sub(el, card("address-data-type"))
            data.set("content-type", "text/vcard")
            data.set("version", version)
        return el


class SupportedCollationSet(Property):
    name = card("supported-collation-set")
    in_allprop = False

    def applies(self, res):
        return _addressbook(res)

    async def value(self, ctx, res, asked=None):
        el = element(self.name)
        for name in COLLATIONS:
            sub(el, card("supported-collation"), name)
        return el


class MaxResourceSize(Property):
    name = card("max-resource-size")

    def applies(self, res):
        return _addressbook(res)

    async def value(self, ctx, res, asked=None):
        return text_property(self.name, str(res.home.max_resource_size))


def _select(data: bytes, names) -> bytes:
    """Only the properties named (BEGIN/END/VERSION/UID always kept)."""
    from smsync.formats.contentlines import parse_components, serialize

    cardc = parse_components(data)[0]
    keep = {n.upper() for n in names} | {"VERSION", "UID"}
    cardc.properties = [p for p in cardc.properties if p.name in keep]
    return serialize(cardc)


def requested_version(asked) -> str | None:
    """The vCard version an ``address-data`` element (or None) asks for."""
    if asked is None:
        return None
    ctype = asked.get("content-type")
    if ctype is not None and ctype.split(";")[0].strip().lower() not in ("text/vcard", "text/x-vcard"):
        raise DavError(403, card("supported-address-data"), f"{ctype} is not offered")
    version = asked.get("version")
    if version is not None and version not in VERSIONS:
        raise DavError(403, card("supported-address-data-conversion"),
                       f"vCard {version} is not offered")
    return version


class AddressData(Property):
    """A contact's vCard, in the version asked for (RFC 6352 10.4)."""

    name = card("address-data")
    in_allprop = False
    needs_content = True

    def applies(self, res):
        return res.is_item and res.home is not None and res.home.protocol == "carddav"

    async def value(self, ctx, res, asked=None):
        content = await ctx.content(res)
        if content is None:
            return None
        version = requested_version(asked)
        try:
            if version is not None:
                content = to_version(content, version)
            props = [k.get("name") for k in children(asked) if k.tag == card("prop")] if asked is not None else []
            if props and not any(k.tag == card("allprop") for k in children(asked)):
                content = _select(content, props)
        except (InvalidData, ValueError) as e:
            raise DavError(403, card("supported-address-data-conversion"), str(e)) from None
        return text_property(self.name, content.decode("utf-8", "replace"))

    def item_renderer(self, ctx, parent, asked):
        # Whole cards, as stored or converted to the version asked; a selection of
        # properties goes through ``value``.
        if asked is not None and any(k.tag == card("prop") for k in children(asked)):
            return None
        version = requested_version(asked)
        head, tail = element_tags(self.name)

        def rendered(info, content):
            if content is None:
                return None
            if version is not None:
                try:
                    content = to_version(content, version)
                except (InvalidData, ValueError) as e:
                    raise DavError(403, card("supported-address-data-conversion"), str(e)) from None
            return b"".join((head, escape_utf8(content), tail))

        return rendered


CARDDAV_PROPERTIES = (
    AddressbookHomeSet(), PrincipalAddress(), AddressbookDescription(), SupportedAddressData(),
    SupportedCollationSet(), MaxResourceSize(), AddressData(),
)
