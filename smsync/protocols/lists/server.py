"""The Lists web service endpoint: POST of a SOAP request to ``<site>/_vti_bin/Lists.asmx``;
and GET of the site's read-only paths (``downloads``: the owssvr.dll list export and
item attachments), after the same login.

The site is ``/lists`` on the shared HTTP site; Outlook also posts to the service below
a list's own URL (``<site>/Lists/<list>/_vti_bin/Lists.asmx``) and spells the path in
any case, so every path under the site ending ``/_vti_bin/lists.asmx`` is the service.

Each POST is: log in through the edge (HTTP Basic, the protocol policy as ``lists``,
the limiter, the failed-login line; an anonymous request gets a 401 with a Basic
challenge), record the client in the devices list (named from its User-Agent), read the
envelope (``soap.parse_request``, SOAP 1.1 or 1.2), run the operation's handler from the
registry (``operations``), and answer in the request's SOAP version. A request that is
not one, or that the service refuses, gets the service's SOAP fault (HTTP 500) and one
log line; an error in a handler is logged with its traceback and answered with a fault:
nothing raises into twisted.web. A device's requests run one at a time, so the item IDs
it is given never race.
"""

from __future__ import annotations

import contextlib
import time
from typing import Optional

import attrs
from twisted.internet.defer import DeferredLock
from twisted.logger import Logger

from smsync.edge import httpauth
from smsync.edge.devices import Client
from smsync.edge.web import HandlerResource, Response, peer_host, site_url
from smsync.errors import StorageUnavailable
from smsync.protocols.lists import attachments, catalog, downloads, operations, soap
from smsync.protocols.lists.rowcache import RowCache
from smsync.protocols.lists.state import DeviceState

log = Logger(namespace="smsync.lists")

PROTOCOL = "lists"
SERVICE_SUFFIX = b"/_vti_bin/lists.asmx"
#: The devices list is written at most this often per client (seconds).
RECORD_INTERVAL = 60.0


@attrs.define
class Context:
    """One request as a handler sees it."""

    edge: object
    account: str
    host: str
    user_agent: Optional[str]
    operation: str
    client: Client
    site_path: str
    site_url: str
    state: DeviceState
    version: str = soap.VERSION_11
    #: What the converters made of items, shared by every request (``rowcache``).
    row_cache: Optional[RowCache] = None

    @property
    def store(self):
        return self.edge.store

    @property
    def device_id(self) -> str:
        return self.client.device_id

    def log(self, line: str) -> None:
        """A line in the server's log about this request."""
        log.info("lists: {account} {host}: {line}", account=self.account, host=self.host, line=line)

    async def note(self, line: str) -> None:
        """A line in the server's log and in the device's own log in the devices list.
        Bookkeeping: a failure is logged, not raised."""
        self.log(line)
        try:
            await self.store.devices.log(self.account, self.device_id, line)
        except StorageUnavailable:
            pass
        except Exception:
            log.failure("lists: could not log for client {device}", device=self.device_id)

    async def lists(self):
        return await catalog.lists_of(self.store, self.account, self.site_path)

    async def list(self, name):
        return await catalog.find_list(self.store, self.account, self.site_path, name)

    async def collection(self, ref):
        collections = await self.store.collections(self.account)
        return await collections.collection_by_id(ref.info.id)

    async def item_count(self, ref) -> int:
        collection = await self.collection(ref)
        return sum(1 for info in await collection.items() if catalog.shows(ref, info))


def refuse(status: int, message: str, host: str, headers=None) -> Response:
    """A plain-text refusal of a request, and its log line."""
    log.info("lists: {host}: {status} {message}", host=host, status=status, message=message)
    return Response(status, message.encode("utf-8"), "text/plain; charset=utf-8", dict(headers or {}))


def fault(error: soap.ListsFault, host: str, version: str, account: str = "-") -> Response:
    log.info("lists: {account} {host}: fault {code}: {message}", account=account, host=host,
             code=error.code or ("client" if error.client else "server"),
             message=error.message.splitlines()[0][:200] if error.message else "")
    return Response(500, soap.fault_envelope(error, version), soap.CONTENT_TYPES[version])


def _header(request, name: str) -> Optional[str]:
    value = request.getHeader(name.encode("ascii"))
    return value.decode("latin-1")[:300] if value is not None else None


class ListsEndpoint:
    """The endpoint's logic over one ``Edge``; ``ListsResource`` puts it on twisted.web."""

    def __init__(self, edge, site_path: str):
        self.edge = edge
        self.site_path = site_path.rstrip("/")
        self._locks: dict[tuple, DeferredLock] = {}
        self.row_cache = RowCache()

    def _lock(self, key) -> DeferredLock:
        lock = self._locks.get(key)
        if lock is None:
            if len(self._locks) > 10000:
                self._locks = {k: v for k, v in self._locks.items() if v.locked}
            lock = self._locks[key] = DeferredLock()
        return lock

    def _route(self, path: bytes) -> Optional[str]:
        """What a request path is: the service, the owssvr.dll export, an attachment,
        or nothing (None)."""
        lowered = path.lower().rstrip(b"/")
        if lowered.endswith(SERVICE_SUFFIX):
            return "service"
        if downloads.is_owssvr(lowered):
            return "owssvr"
        if attachments.parse_path(path.decode("utf-8", "replace"), self.site_path) is not None:
            return "file"
        return None

    async def handle(self, request) -> Response:
        host = peer_host(request)
        path = (request.path or b"").split(b"?", 1)[0]
        query = (request.uri or b"").partition(b"?")[2]
        route = self._route(path)
        if route is None:
            return refuse(404, "no such resource", host)
        version = soap.version_of(_header(request, "Content-Type"))
        account = await httpauth.basic_login(self.edge, request, host, PROTOCOL, refuse, lambda: refuse(
            403, "Add to Outlook (the Lists service) is not enabled for this account", host))
        if isinstance(account, Response):
            return account
        method = request.method.decode("ascii", "replace").upper()
        if route != "service":
            # The export and attachments are read, never written, here.
            if method not in ("GET", "HEAD"):
                return refuse(405, f"{method} is not served here", host, {"Allow": "GET"})
            ctx = await self._context(request, account, host, route, soap.VERSION_11)
            try:
                async with self._locked(ctx):
                    if route == "owssvr":
                        return await downloads.owssvr(ctx, query)
                    return await downloads.attachment(ctx, path.decode("utf-8", "replace"))
            except StorageUnavailable as e:
                return refuse(503, f"the server is busy: {e}", host, {"Retry-After": "30"})
        if method != "POST":
            return refuse(405, f"{method} is not served here", host, {"Allow": "POST"})
        raw = request.content.read(soap.MAX_REQUEST + 1) if request.content is not None else b""
        try:
            parsed = soap.parse_request(raw)
        except soap.ListsFault as e:
            return fault(e, host, version, account)
        del raw
        spec = operations.lookup(parsed.operation)
        if spec is None:
            return fault(soap.ListsFault(f"{parsed.operation[:60]} is not served by this site.",
                                         client=True), host, parsed.version, account)
        ctx = await self._context(request, account, host, parsed.operation, parsed.version)
        try:
            async with self._locked(ctx):
                started, cpu = time.perf_counter(), time.process_time()
                payload = await spec.handler(ctx, parsed)
        except soap.ListsFault as e:
            return fault(e, host, parsed.version, account)
        except StorageUnavailable as e:
            return fault(soap.ListsFault(f"The server is busy: {e}"), host, parsed.version, account)
        body = soap.envelope(payload, parsed.version)
        # The server's own time for the operation (handler and envelope, the device's
        # lock wait excluded) and the CPU the process spent meanwhile (every thread, so
        # other requests' too when there are any), for benchmarks and an operator's tools.
        timing = (f"op;dur={(time.perf_counter() - started) * 1000:.1f}, "
                  f"cpu;dur={(time.process_time() - cpu) * 1000:.1f}")
        return Response(200, body, soap.CONTENT_TYPES[parsed.version], {"Server-Timing": timing})

    async def _context(self, request, account: str, host: str, operation: str, version: str) -> Context:
        """The request's ``Context``, its client recorded in the devices list."""
        agent = _header(request, "User-Agent")
        client = Client.http(PROTOCOL, agent, host)
        await self.edge.devices.record(account, PROTOCOL, client, min_interval=RECORD_INTERVAL)

        async def record():
            await self.edge.devices.record(account, PROTOCOL, client)

        state = DeviceState(self.edge.store.devices, account, client.device_id, record)
        return Context(self.edge, account, host, agent, operation, client, self.site_path,
                       site_url(request, self.site_path), state, version, self.row_cache)

    @contextlib.asynccontextmanager
    async def _locked(self, ctx):
        """A device's requests one at a time, so the item IDs it is given never race."""
        lock = self._lock((ctx.account, ctx.device_id))
        await lock.acquire()
        try:
            yield
        finally:
            lock.release()


class ListsResource(HandlerResource):
    """The Lists service on the shared site (every path below the site)."""

    label = "Lists"

    def __init__(self, endpoint: ListsEndpoint):
        super().__init__()
        self.endpoint = endpoint

    def handle(self, request):
        return self.endpoint.handle(request)

    def crash_response(self) -> Response:
        return Response(500, soap.fault_envelope(soap.ListsFault("internal server error")),
                        soap.CONTENT_TYPES[soap.VERSION_11])
