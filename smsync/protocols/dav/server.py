"""The glue between twisted.web and the WebDAV core: one ``DavApp`` per store serves
``/dav/`` for every installed extension (and the site root, see ``site_resources``);
``DavResource`` is its twisted.web face and ``WellKnown`` the RFC 6764 redirect.

A request goes: authenticate (Basic, through the portal) -> record the client in the
device registry -> resolve the path -> run the method -> write the ``Response``. Errors
clients cause become their HTTP answers; anything else is logged and answered 500.
"""

from __future__ import annotations

import weakref
from typing import Optional

from twisted.logger import Logger
from twisted.web.resource import Resource

from smsync import errors
from smsync.edge import Edge, edge_for
from smsync.edge.devices import Client
from smsync.edge.logins import BadCredentials, LoginUnavailable, ProtocolNotAllowed
from smsync.edge.web import HandlerResource, peer_host
from smsync.interfaces import IDavTree
from smsync.protocols.dav import locks as locks_module
from smsync.protocols.dav.context import Context
from smsync.protocols.dav.errors import DavError, from_store_error
from smsync.protocols.dav.handles import HandleCache
from smsync.protocols.dav.methods import CORE_METHODS
from smsync.protocols.dav.properties import CORE_PROPERTIES
from smsync.protocols.dav.propfind import propfind, proppatch
from smsync.protocols.dav.registry import Extension, Registry
from smsync.protocols.dav.resources import Tree
from smsync.protocols.dav.response import Response, error_response
from smsync.protocols.dav.sync import CORE_REPORTS

log = Logger(namespace="smsync.dav")

#: Largest request body read at all (items have their own, smaller, limit).
MAX_BODY = 64 * 1024 * 1024
#: Largest XML request body (PROPFIND, REPORT...) by default: the config's
#: ``[limits] max_xml_body``. A multiget of some 10,000 hrefs fits.
MAX_XML_BODY = 1024 * 1024
#: Methods whose body is not XML (an item, a scheduling message): the site's and the
#: item size limits apply to them, not ``max_xml_body``.
_OPAQUE_BODY = frozenset({"PUT", "POST"})
#: A client is recorded in the device registry at most this often (seconds).
SEEN_INTERVAL = 60.0

CORE = Extension(name="webdav", properties=CORE_PROPERTIES, reports=CORE_REPORTS)

#: Methods answered without credentials (clients probe capabilities first).
_ANONYMOUS = frozenset({"OPTIONS"})


class DavApp:
    """The WebDAV server for one store: registry, URL tree, locks and authentication.

    Args:
        store: the ``IStore``.
        portal: a portal answering ``IAccountAvatar`` logins.
        base: the mount path (``/dav/``).
        max_resource_size: item size limit, bytes (the config's ``max_item_size``).
        sync_page_size: most members one sync-collection answer holds (None: no limit
            beyond the client's).
        quota_bytes: quota reported by RFC 4331 properties (None: none).
        max_xml_body: largest XML request body, bytes (the config's ``max_xml_body``);
            a larger one is answered 413.
        edge: the server's ``smsync.edge.Edge`` (logins, policy, devices); None: one of
            our own over ``store`` and ``portal``.
    """

    def __init__(self, store, portal, base: str = "/dav/", max_resource_size: int = 10 * 1024 * 1024,
                 sync_page_size: Optional[int] = None, quota_bytes: Optional[int] = None,
                 edge: Optional[Edge] = None, max_xml_body: int = MAX_XML_BODY):
        self.store = store
        self.portal = portal
        self.edge = edge_for(store, portal, edge)
        self.registry = Registry()
        self.registry.install(CORE)
        self.tree = Tree(base, self.registry)
        self.locks = locks_module.LockManager()
        self.handles = HandleCache(store)
        tree = getattr(store, "dav_tree", None)
        #: The store's ``IDavTree`` (plain WebDAV resources), or None: none are kept.
        self.dav_tree = tree if IDavTree.providedBy(tree) else None
        self.max_resource_size = max_resource_size
        self.sync_page_size = sync_page_size
        self.quota_bytes = quota_bytes
        self.max_xml_body = max_xml_body
        self.resource = DavResource(self)

    @property
    def base(self) -> str:
        return self.tree.base

    def install(self, extension: Extension) -> None:
        """Add an extension (CalDAV, CardDAV); installing one twice is a no-op."""
        self.registry.install(extension)

    def allowed_methods(self) -> list[str]:
        core = ["OPTIONS", "GET", "HEAD", "PUT", "DELETE", "PROPFIND", "PROPPATCH", "MKCOL",
                "COPY", "MOVE", "REPORT", "LOCK", "UNLOCK"]
        return core + [m for m in self.registry.methods if m not in core]

    def _method(self, name: str):
        if name == "PROPFIND":
            return propfind
        if name == "PROPPATCH":
            return proppatch
        if name == "LOCK":
            return self.locks.lock
        if name == "UNLOCK":
            return self.locks.unlock
        handler = CORE_METHODS.get(name)
        if handler is not None:
            return handler
        method = self.registry.methods.get(name)
        return method.run if method is not None else None

    # --- serving

    def body_limit(self, method: str) -> int:
        """The largest body of a ``method`` request."""
        return MAX_BODY if method in _OPAQUE_BODY else min(MAX_BODY, self.max_xml_body)

    async def handle(self, request) -> Response:
        """Serve one request; always fires with a ``Response``."""
        method = request.method.decode("ascii", "replace").upper()
        try:
            length = int(request.getHeader(b"content-length") or 0)
        except ValueError:
            length = 0
        if length > self.body_limit(method):
            return self._refuse(request, method, DavError(
                413, message=f"body of {length} bytes; at most {self.body_limit(method)} are taken"))
        authorization = request.getHeader(b"authorization")
        if (authorization and not request.isSecure()
                and not self.edge.logins.cleartext_allowed(peer_host(request))):
            # RFC 8314: the password already crossed the network in clear; say so rather
            # than use it, so the client is set up with HTTPS.
            return self._refuse(request, method, DavError(
                403, message="passwords are accepted over HTTPS only; use https://"))
        try:
            account = await self.edge.logins.basic("dav", authorization, peer_host(request))
        except BadCredentials:
            account = None
        except ProtocolNotAllowed:
            return self._refuse(request, method, DavError(
                403, message="CalDAV and CardDAV are not enabled for this account"))
        except LoginUnavailable as e:
            return self._refuse(request, method, DavError(
                503, message=str(e), headers={"Retry-After": "30"}))
        if account is None and method not in _ANONYMOUS:
            return self._refuse(request, method, DavError(401, message="authentication required", headers={
                "WWW-Authenticate": 'Basic realm="smsync", charset="UTF-8"'}))
        ctx = Context(self, request, account)
        try:
            segments, alias = self.tree.locate(request.path)
            if method == "OPTIONS" and account is None:
                return await CORE_METHODS["OPTIONS"](ctx, None)
            self._record(ctx, segments)
            handler = self._method(method)
            if handler is None:
                raise DavError(405, message=f"{method} is not supported",
                               headers={"Allow": ", ".join(self.allowed_methods())})
            if method not in _OPAQUE_BODY:
                # Size checked, and a large body parsed off the reactor thread, up front.
                await ctx.load_xml()
            # PUT lets the store check existence in its own transaction (one round trip).
            res = await self.tree.resolve(ctx, segments, load_item=method != "PUT")
            if alias is not None:
                res.href = alias
            if method in ("PROPPATCH",) and res.exists:
                self.locks.check_write(ctx, res.href)
            return await handler(ctx, res)
        except DavError as e:
            return self._refuse(request, method, e, account)
        except errors.SmsyncError as e:
            return self._refuse(request, method, from_store_error(e), account)

    def _refuse(self, request, method: str, error: DavError, account: Optional[str] = None) -> Response:
        """The error answer to a request, with the log line saying why (304 is no error)."""
        if error.status >= 400:
            log.info("DAV {method} {path} by {account}: {status} {condition} {message}", method=method,
                     path=request.path.decode("ascii", "replace"), account=account or "-",
                     status=error.status, condition=error.condition or "", message=error.message or "")
        return error_response(error)

    def _record(self, ctx, segments) -> None:
        """Note the client in the device registry (at most every ``SEEN_INTERVAL``)."""
        home = self.registry.homes.get(segments[0]) if segments else None
        if home is None:
            return
        # Keyed by the home's protocol too: one program (one User-Agent) syncing both
        # calendars and contacts is two entries, CalDAV and CardDAV, not one entry
        # whose type flips with each request.
        client = Client.http(home.protocol, ctx.header("User-Agent"), peer_host(ctx.request))
        self.edge.devices.record(ctx.account, home.protocol, client, min_interval=SEEN_INTERVAL)


class DavResource(HandlerResource):
    """The twisted.web resource serving a ``DavApp`` (everything below its mount)."""

    label = "DAV"

    def __init__(self, app: DavApp):
        super().__init__()
        self.app = app

    def handle(self, request):
        return self.app.handle(request)

    def body_limit(self, method: bytes) -> int:
        """The largest body of a ``method`` request (the site refuses a larger one before
        reading it: see ``smsync.tap.http``)."""
        return self.app.body_limit(method.decode("ascii", "replace").upper())

    def crash_response(self):
        return error_response(DavError(500, message="internal server error"))


class WellKnown(Resource):
    """``/.well-known/caldav`` and ``/.well-known/carddav`` (RFC 6764 5): a redirect to
    the DAV root, whose PROPFIND names the user's principal."""

    isLeaf = True

    def __init__(self, target: str):
        super().__init__()
        self.target = target.encode("ascii")

    def render(self, request):
        request.setResponseCode(301)
        request.setHeader(b"location", self.target)
        request.setHeader(b"content-length", b"0")
        return b""


def site_resources(app: DavApp, service: str) -> dict:
    """``{path: resource}`` an extension's builder mounts on the site: the app at its
    base, and also at the site root and at ``/principals/`` (the URLs users type and
    clients guess, see ``Tree.locate``), and ``/.well-known/<service>`` (RFC 6764)."""
    return {app.base: app.resource, "/": app.resource, "/principals/": app.resource,
            f"/.well-known/{service}": WellKnown(app.base)}


_APPS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_APPS_BY_ID: dict[int, tuple] = {}


def app_for(store, portal, **options) -> DavApp:
    """The one ``DavApp`` of ``store`` (made on first use with ``options``), so that
    CalDAV and CardDAV mounted on one site share ``/dav/``."""
    try:
        app = _APPS.get(store)
    except TypeError:
        entry = _APPS_BY_ID.get(id(store))
        app = entry[1] if entry is not None and entry[0] is store else None
    if app is None:
        app = DavApp(store, portal, **options)
        try:
            _APPS[store] = app
        except TypeError:
            _APPS_BY_ID[id(store)] = (store, app)
    return app
