"""The one twisted.web site every HTTP protocol (CalDAV, CardDAV, EAS, EWS, SyncML) shares.

Protocols mount their resources at fixed paths on an ``HttpRoot``; anything not mounted
answers 404, so the site can run before any HTTP protocol exists.
"""

from __future__ import annotations

from twisted.web.pages import notFound
from twisted.web.resource import IResource, Resource
from twisted.web.server import Site


class _Branch(Resource):
    """An intermediate path segment (e.g. ``/EWS`` of ``/EWS/Exchange.asmx``): it only
    leads to its children and is itself not found."""

    def getChild(self, path, request):
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
    ("/dav/" and "/dav" are the same mount point); everything else is 404."""

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


def make_site(root: HttpRoot) -> Site:
    """A Site serving ``root``; request logging goes to the Twisted log."""
    return Site(root)
