"""The one twisted.web site every HTTP protocol (CalDAV, CardDAV, EAS, EWS, SyncML) shares.

Protocols mount their resources at fixed paths on an ``HttpRoot``; anything not mounted
answers 404, so the site can run before any HTTP protocol exists.
"""

from __future__ import annotations

from twisted.logger import Logger
from twisted.web.pages import notFound
from twisted.web.resource import IResource, Resource
from twisted.web.server import Request, Site

log = Logger(namespace="smsync.http")

#: The largest request body the site takes when no limit is given: the default message
#: size limit (EWS sends a message base64-encoded, a third larger) plus room for markup.
DEFAULT_MAX_BODY = 50 * 1024 * 1024 * 4 // 3 + 1024 * 1024


class _Branch(Resource):
    """An intermediate path segment (e.g. ``/EWS`` of ``/EWS/Exchange.asmx``): it only
    leads to its children and is itself not found."""

    def getChild(self, path, request):
        # Clients spell mount points in their own case (phones send
        # /microsoft-server-activesync): an exact match failed, so try one ignoring case.
        lowered = path.lower()
        for name, child in self.children.items():
            if name.lower() == lowered:
                return child
        return notFound()

    def render(self, request):
        return notFound().render(request)


def _segments(path: str) -> list[bytes]:
    parts = [p for p in path.strip("/").split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise ValueError(f"cannot mount at {path!r}")
    return [p.encode("utf-8") for p in parts]


class HttpRoot(_Branch):
    """The site root: ``mount(path, resource)`` hangs a protocol's resource at ``path``
    ("/dav/" and "/dav" are the same mount point; "/" is the root URL alone); everything
    else is 404."""

    def __init__(self):
        super().__init__()
        self.mounts: dict[str, object] = {}

    def mount(self, path: str, resource) -> None:
        """Serve ``resource`` (an ``IResource``) for ``path`` and everything below it.

        Mounting the same resource twice at one path is a no-op (CalDAV and CardDAV share
        ``/dav/``); mounting a different one where something is already mounted is a
        ``ValueError``.
        """
        if not IResource.providedBy(resource):
            raise TypeError(f"{resource!r} is not an IResource")
        if not path.strip("/"):
            # The site root itself: twisted.web looks "/" up as the empty child. Only that
            # one URL goes there; other paths are still 404 unless mounted.
            existing = self.mounts.get("/")
            if existing is not None and existing is not resource:
                raise ValueError(f"/ is already served by {existing!r}")
            self.putChild(b"", resource)
            self.mounts["/"] = resource
            return
        segments = _segments(path)
        key = "/" + b"/".join(segments).decode("utf-8")
        existing = self.mounts.get(key)
        if existing is resource:
            return
        if existing is not None:
            raise ValueError(f"{key} is already served by {existing!r}")
        node = self
        for segment in segments[:-1]:
            child = node.children.get(segment)
            if child is None:
                child = _Branch()
                node.putChild(segment, child)
            elif not isinstance(child, _Branch):
                raise ValueError(f"{key} is inside {child!r}, already mounted")
            node = child
        last = segments[-1]
        if isinstance(node.children.get(last), _Branch):
            raise ValueError(f"{key} already has resources mounted below it")
        node.putChild(last, resource)
        self.mounts[key] = resource

    def body_limit(self, method: bytes, path: bytes):
        """The body limit the resource mounted over ``path`` sets for ``method`` (through
        its ``body_limit(method)``, if it has one), or None."""
        path = path.split(b"?", 1)[0].lower()
        found, length = None, -1
        for key, resource in self.mounts.items():
            prefix = key.lower().encode("utf-8").rstrip(b"/")
            if (path == prefix or path.startswith(prefix + b"/")) and len(prefix) > length:
                found, length = resource, len(prefix)
        limit = getattr(found, "body_limit", None)
        return limit(method) if limit is not None else None

    def anonymous_body_limit(self, method: bytes, path: bytes):
        """The body limit for a request without HTTP credentials that the resource
        mounted over ``path`` sets (``anonymous_body_limit(method)``: SyncML carries its
        credentials inside the message), or None for the site's own."""
        path = path.split(b"?", 1)[0].lower()
        found, length = None, -1
        for key, resource in self.mounts.items():
            prefix = key.lower().encode("utf-8").rstrip(b"/")
            if (path == prefix or path.startswith(prefix + b"/")) and len(prefix) > length:
                found, length = resource, len(prefix)
        limit = getattr(found, "anonymous_body_limit", None)
        return limit(method) if limit is not None else None


class _BoundedRequest(Request):
    """A request whose body may not exceed the site's ``max_body``.

    twisted.web buffers a whole body (to a temporary file when large) before a resource
    sees it, so a client announcing or streaming 100 GB would fill the disk. The length
    is checked when the headers announce it and again as chunks arrive; an oversized
    request is answered 413 at once and the connection closed. A mounted resource may set
    a smaller limit of its own for some methods (``HttpRoot.body_limit``: DAV's XML
    bodies).
    """

    _refused = False
    _received = 0
    _limit = None

    def _body_limit(self) -> int:
        # A request without credentials can only be one of the few anonymous ones
        # (OPTIONS, a well-known redirect, a 401 challenge): a stranger's body is not
        # buffered beyond a small size before anyone knows who sends it.
        if self._limit is None:
            site = self.channel.site
            authorised = self.requestHeaders.hasHeader(b"authorization")
            self._limit = site.max_body if authorised else min(site.max_body, site.max_anonymous_body)
            mounted = getattr(site.resource, "body_limit", None)
            method = getattr(self.channel, "_command", None)
            path = getattr(self.channel, "_path", None)
            anonymous = getattr(site.resource, "anonymous_body_limit", None)
            if (not authorised and anonymous is not None and isinstance(method, bytes)
                    and isinstance(path, bytes)):
                # A protocol whose credentials travel in the body (SyncML) says how
                # much of a stranger's body it reads before it can tell who sent it.
                own = anonymous(method, path)
                if own is not None:
                    self._limit = min(site.max_body, own)
            if mounted is not None and isinstance(method, bytes) and isinstance(path, bytes):
                own = mounted(method, path)
                if own is not None:
                    self._limit = min(self._limit, own)
        return self._limit

    def gotLength(self, length):
        if length is not None and length > self._body_limit():
            self._refuse(length)
        super().gotLength(0 if self._refused else length)

    def handleContentChunk(self, data):
        if self._refused:
            return
        self._received += len(data)
        if self._received > self._body_limit():
            self._refuse(None)
            return
        super().handleContentChunk(data)

    def _refuse(self, length) -> None:
        self._refused = True
        peer = self.channel.transport.getPeer()
        # The request line is only copied onto the request once its body is in: the
        # channel still holds it.
        method = getattr(self.channel, "_command", self.method)
        uri = getattr(self.channel, "_path", self.uri)
        log.info("http: {peer}: {method} {uri}: body of {size} refused, larger than {limit} bytes",
                 peer=getattr(peer, "host", peer), method=method.decode("ascii", "replace"),
                 uri=uri[:200].decode("ascii", "replace"),
                 size=f"{length} bytes" if length is not None else "a chunked stream",
                 limit=self._body_limit())
        transport = self.channel.transport
        transport.write(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n"
                        b"Connection: close\r\n\r\n")
        transport.loseConnection()


#: The largest body of a request that carries no credentials.
MAX_ANONYMOUS_BODY = 64 * 1024


class SmsyncSite(Site):
    """The shared site: request logging goes to the Twisted log; bodies are bounded
    (``max_body``; ``max_anonymous_body`` for a request without credentials)."""

    requestFactory = _BoundedRequest

    def __init__(self, root, max_body: int = DEFAULT_MAX_BODY,
                 max_anonymous_body: int = MAX_ANONYMOUS_BODY):
        super().__init__(root)
        self.max_body = max_body
        self.max_anonymous_body = max_anonymous_body


def make_site(root: HttpRoot, max_body: int = DEFAULT_MAX_BODY) -> Site:
    """A site serving ``root`` that refuses request bodies over ``max_body`` bytes."""
    return SmsyncSite(root, max_body)


def max_body_for(config) -> int:
    """The body limit for ``config``: its message size limit, base64-inflated, or its
    item size limit if larger, plus room for the request's own markup."""
    limits = getattr(config, "limits", None)
    if limits is None:
        return DEFAULT_MAX_BODY
    largest = max(limits.max_message_size * 4 // 3, limits.max_item_size)
    return largest + 1024 * 1024
