"""``/autodiscover/autodiscover.xml``, shared: phones (EAS, the "mobilesync" schemas)
and Outlook-style clients (EWS, the "outlook" schemas) POST to the same URL, and the
request's ``AcceptableResponseSchema`` says which answer it wants.

Each protocol registers the endpoint answering its schema with ``register``; every
one gets back the same resource, so each protocol mounts it at the shared path and the
site keeps one (mounting one resource twice is no change). A request is sent to the
endpoint of the schema it names, or, when it names none the router knows (or is no XML
at all), to the first endpoint registered, which answers it with its own error. The
body is read here, bounded, and handed on unread.
"""

from __future__ import annotations

import io
from typing import Optional

from lxml import etree

from smsync.edge.web import HandlerResource, Response

PATH = "/autodiscover/autodiscover.xml"

#: Largest request body read (a real one is a few hundred bytes).
MAX_REQUEST = 64 * 1024

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                          huge_tree=False, remove_comments=True)


def requested_schema(body: bytes) -> Optional[str]:
    """The ``AcceptableResponseSchema`` an Autodiscover request names (any namespace),
    or None for a body that is not such a request."""
    if not body or len(body) > MAX_REQUEST or b"<!DOCTYPE" in body.upper():
        return None
    try:
        root = etree.fromstring(body, _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None
    if root is None:
        return None
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.rpartition("}")[2] == "AcceptableResponseSchema":
            return (element.text or "").strip() or None
    return None


class AutodiscoverRouter:
    """The one Autodiscover resource of a server, dispatching by response schema."""

    def __init__(self):
        self._endpoints: dict[str, object] = {}
        self._first = None
        self.resource = _RouterResource(self)

    def register(self, schema: str, endpoint) -> HandlerResource:
        """Answer requests for ``schema`` with ``endpoint`` (an object with ``async
        handle(request) -> Response``); returns the shared resource to mount at
        ``PATH``."""
        self._endpoints[schema] = endpoint
        if self._first is None:
            self._first = endpoint
        return self.resource

    def schemas(self) -> list[str]:
        return sorted(self._endpoints)

    async def handle(self, request) -> Response:
        body = b""
        if request.content is not None:
            body = request.content.read(MAX_REQUEST + 1)
            request.content = io.BytesIO(body)
        endpoint = self._endpoints.get(requested_schema(body) or "", self._first)
        if endpoint is None:
            return Response(404, b"not found", "text/plain; charset=utf-8")
        return await endpoint.handle(request)


class _RouterResource(HandlerResource):
    label = "Autodiscover"

    def __init__(self, router: AutodiscoverRouter):
        super().__init__()
        self.router = router

    def handle(self, request):
        return self.router.handle(request)
