"""``/autodiscover/autodiscover.xml``, shared: phones (EAS, the "mobilesync" schemas)
and Outlook-style clients (EWS, the "outlook" schemas) POST to the same URL, and the
request's ``AcceptableResponseSchema`` says which answer it wants.

Each protocol registers the endpoint answering its schema with ``register``; every
one gets back the same resource, so each protocol mounts it at the shared path and the
site keeps one (mounting one resource twice is no change). A request is sent to the
endpoint of the schema it names, or, when it names none the router knows (or is no XML
at all), to the first endpoint registered, which answers it with its own error. The
body is read here, bounded, and handed on unread.

``answer_pox`` is what both endpoints do with a request once it reaches them: log in as
the protocol will, read the address asked for, and answer only for the account that
logged in.
"""

from __future__ import annotations

import io
from typing import Callable, Optional

from lxml import etree
from twisted.logger import Logger

from smsync.edge.web import HandlerResource, Response, peer_host

log = Logger(namespace="smsync.http")

PATH = "/autodiscover/autodiscover.xml"

#: Largest request body read (a real one is a few hundred bytes).
MAX_REQUEST = 64 * 1024

#: POX ErrorCode values (both schemas use them).
INVALID_REQUEST = 600
SCHEMA_NOT_SUPPORTED = 601
XML = "text/xml; charset=utf-8"

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                          huge_tree=False, remove_comments=True)


class AutodiscoverError(ValueError):
    """A request that is not one answered here; ``code`` is the POX ErrorCode."""

    def __init__(self, message: str, code: int = INVALID_REQUEST):
        super().__init__(message)
        self.code = code


async def answer_pox(request, label: str, login, parse: Callable[[bytes], str],
                     answer: Callable[[str], bytes], error: Callable[[int, str], bytes],
                     refuse: Callable[..., Response]) -> Response:
    """One POX Autodiscover request, answered by a protocol's parts: ``await
    login(request, host)`` (the account, or a ``Response`` refusing it), ``parse(body)``
    (the address asked for, or ``AutodiscoverError``), ``answer(account)`` and
    ``error(code, message)`` (the documents), ``refuse(status, message, host,
    headers)`` (a plain refusal with the protocol's log line). ``label`` starts the log
    lines. A GET is answered with an error document, as Exchange does for the phones
    that probe with one; an address other than the account's own is refused."""
    host = peer_host(request)
    method = request.method.decode("ascii", "replace").upper()
    if method == "GET":
        return Response(200, error(INVALID_REQUEST, "POST an Autodiscover request"), XML)
    if method != "POST":
        return refuse(405, f"autodiscover: {method} is not served here", host, {"Allow": "GET,POST"})
    account = await login(request, host)
    if isinstance(account, Response):
        return account
    body = request.content.read(MAX_REQUEST + 1) if request.content is not None else b""
    try:
        email = parse(body)
    except AutodiscoverError as e:
        log.info("{label}: {host}: autodiscover: {error}", label=label, host=host, error=str(e))
        return Response(200, error(e.code, str(e)), XML)
    if email.lower() != account.lower():
        log.info("{label}: {host}: autodiscover: {account} asked for {other}", label=label, host=host,
                 account=account, other=email[:100])
        return Response(200, error(INVALID_REQUEST, "you may ask only for your own address"), XML)
    return Response(200, answer(account), XML)


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
