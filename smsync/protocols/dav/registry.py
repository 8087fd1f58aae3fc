"""What the WebDAV core is extended with, Xandikos-style: properties, reports and
methods are classes registered by name, and each "home" (the calendars or address
books of a user) is described by a ``HomeSpec``. CalDAV and CardDAV are nothing but an
``Extension`` filling these tables; the core never names them.

To find where ``{urn:ietf:params:xml:ns:caldav}calendar-query`` is answered, look for
the class whose ``name`` is that string.
"""

from __future__ import annotations

from typing import Callable, ClassVar, Optional

import attrs

from smsync.model import CollectionKind


@attrs.frozen
class HomeSpec:
    """One kind of home under every principal: ``/<base>/<segment>/<user>/``.

    Attributes:
        segment: URL segment of the homes (``"calendars"``).
        protocol: name recorded in the device registry for clients using these homes.
        kinds: collection kinds living in this home.
        resourcetype: Clark name added to ``DAV:collection`` in a collection's
            resourcetype (``{urn:ietf:params:xml:ns:caldav}calendar``).
        content_type: Content-Type of items.
        media_types: media types accepted in PUT (others: 403 ``supported_data``).
        choose_kind: picks the ``CollectionKind`` of a new collection from the
            components asked for (None: not said).
        conditions: precondition Clark names by role: ``valid_data``,
            ``supported_component``, ``uid_conflict``, ``max_size``,
            ``supported_data``.
        max_resource_size: largest item accepted, in bytes.
        negotiate: optional ``(content, accept_header) -> (content, content_type)``
            giving an item in the representation a GET's Accept header asks for
            (CardDAV serves vCard 3.0 or 4.0 so); None serves items as stored.
        repair: optional ``(content, fallback_uid) -> smsync.formats.repair.Repair``
            run on a PUT body the store refused (or that is not UTF-8): what it
            repairs is stored instead, and logged.
        export: optional ``(display_name) -> exporter`` (``smsync.formats.bundle``'s
            ``CalendarExport``, ``VCardExport``: ``head()``, ``part(contents)``,
            ``tail()``): the whole collection as one file, streamed, the answer to a
            GET of the collection (``.ics``, ``.vcf``).
        suffix: the file name extension of that export.
        kind_types: resourcetype Clark names of collection kinds that are not
            ``resourcetype`` (CalDAV's schedule inbox and outbox).
        hooks: an ``ItemHooks`` run around item writes and reads (CalDAV's implicit
            scheduling), or None.
    """

    segment: str
    protocol: str
    kinds: frozenset
    resourcetype: str
    content_type: str
    media_types: frozenset
    choose_kind: Callable[[Optional[frozenset]], CollectionKind]
    conditions: dict = attrs.field(factory=dict)
    max_resource_size: int = 10 * 1024 * 1024
    negotiate: Optional[Callable] = None
    repair: Optional[Callable] = None
    export: Optional[Callable] = None
    suffix: str = ""
    kind_types: dict = attrs.field(factory=dict)
    hooks: Optional["ItemHooks"] = None

    def resourcetype_of(self, kind) -> str:
        """The resourcetype a collection of ``kind`` (None: unknown) adds."""
        return self.kind_types.get(kind, self.resourcetype)

    def condition(self, role: str) -> Optional[str]:
        return self.conditions.get(role)


class ItemHooks:
    """What an extension does around the core's item methods; the defaults do nothing.

    ``before_put`` runs once PUT's size and type checks passed, before the store
    writes: it may load the item (``ctx.tree.load_item``), refuse (``DavError``), and
    fires with ``(body, after)``: the content to store instead of the client's and
    None or a coroutine function ``after(info, headers) -> headers`` run once stored
    (``info`` the new ``ItemInfo``; it gives the response headers).
    ``before_delete`` runs before an item is deleted and fires with None or a
    coroutine function ``after()`` run once it is. ``on_get`` gives the content a GET
    serves and extra response headers.
    """

    async def before_put(self, ctx, res, body: bytes):
        return body, None

    async def before_delete(self, ctx, res):
        return None

    def on_get(self, ctx, res, content: bytes):
        return content, {}


@attrs.define
class ChangeSet:
    """What PROPPATCH or (extended) MKCOL asks the store to do: collection property
    changes (model ``PROP_*`` or Clark names -> value or None), and, only when creating,
    the components and the resourcetypes asked for."""

    properties: dict = attrs.field(factory=dict)
    components: Optional[frozenset] = None
    resourcetypes: Optional[frozenset] = None


class Property:
    """A live property. Subclasses set ``name`` and implement ``value``.

    ``value(ctx, res, asked)`` is a coroutine firing with the filled property element,
    or None when the resource does not have the property (it is then reported 404);
    ``asked`` is the element of the request naming it (``calendar-data`` carries
    what to return in it), or None.
    ``change`` records a PROPPATCH/MKCOL set (``el``) or remove (``el`` None) into a
    ``ChangeSet``; the default refuses: the property is protected.
    """

    name: ClassVar[str] = ""
    #: Whether ``allprop`` includes it (RFC 4918 9.1: computed-expensive ones do not).
    in_allprop: ClassVar[bool] = True
    #: Whether rendering it reads item content (reports then read items in batches).
    needs_content: ClassVar[bool] = False
    #: Whether ``value_now`` gives the value without waiting on anything (and ignores
    #: what the request says beyond the name); ``value`` then just calls it.
    immediate: ClassVar[bool] = False

    def value_now(self, ctx, res):
        raise NotImplementedError

    def item_renderer(self, ctx, parent, asked) -> Optional[Callable]:
        """For rendering many items of collection ``parent`` at once: a function
        ``(ItemInfo, content or None) -> bytes or None`` giving this property's element
        for ``asked`` (None: the item lacks it), or None when the property must go
        through ``value`` for each item. Properties with ``needs_content`` get the
        content; the others get None. Default: None."""
        return None

    def applies(self, res) -> bool:
        return True

    async def value(self, ctx, res, asked=None):
        raise NotImplementedError

    def change(self, ctx, res, el, changes: ChangeSet, creating: bool) -> None:
        from smsync.protocols.dav.errors import DavError

        raise DavError(403, "{DAV:}cannot-modify-protected-property", f"{self.name} is protected")


class ImmediateProperty(Property):
    """A property computed from what the resource already holds (``value_now``)."""

    immediate: ClassVar[bool] = True

    async def value(self, ctx, res, asked=None):
        return self.value_now(ctx, res)

    def value_now(self, ctx, res):
        raise NotImplementedError


class Report:
    """A REPORT (RFC 3253 3.6), chosen by the Clark name of the body's root element."""

    name: ClassVar[str] = ""

    def applies(self, res) -> bool:
        return False

    async def run(self, ctx, res, body):
        """Fire with the ``Response`` answering the REPORT body ``body`` on ``res``."""
        raise NotImplementedError


class Method:
    """An HTTP method the core does not know (``MKCALENDAR``)."""

    name: ClassVar[str] = ""

    async def run(self, ctx, res):
        raise NotImplementedError


@attrs.define
class Extension:
    """A bundle to install: ``compliance`` classes for the DAV header (``calendar-access``),
    homes, live properties, reports and methods (instances)."""

    name: str
    compliance: tuple = ()
    homes: tuple = ()
    properties: tuple = ()
    reports: tuple = ()
    methods: tuple = ()


class Registry:
    """The tables the core dispatches on. Later installs override earlier ones of the
    same name, so an extension can replace a core property."""

    def __init__(self):
        self.extensions: dict[str, Extension] = {}
        self.properties: dict[str, Property] = {}
        self.reports: dict[str, Report] = {}
        self.methods: dict[str, Method] = {}
        self.homes: dict[str, HomeSpec] = {}
        self.compliance: list[str] = []

    def install(self, extension: Extension) -> bool:
        """Add ``extension`` once; returns False if one of that name is installed."""
        if extension.name in self.extensions:
            return False
        self.extensions[extension.name] = extension
        for prop in extension.properties:
            self.properties[prop.name] = prop
        for report in extension.reports:
            self.reports[report.name] = report
        for method in extension.methods:
            self.methods[method.name] = method
        for home in extension.homes:
            self.homes[home.segment] = home
        for item in extension.compliance:
            if item not in self.compliance:
                self.compliance.append(item)
        return True

    def home_for_kind(self, kind: CollectionKind) -> Optional[HomeSpec]:
        for home in self.homes.values():
            if kind in home.kinds:
                return home
        return None
