"""What the HTTP protocols (CalDAV/CardDAV, EAS, and those to come) share at their edge on
twisted.web: the answer value a handler returns, writing it, the client's address, and
a resource that serves a coroutine handler without letting an error escape into
twisted.web."""

from __future__ import annotations

from typing import Optional

import attrs
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

log = Logger(namespace="smsync.http")


@attrs.define
class Response:
    """An HTTP answer: ``status``, ``body``, its ``content_type`` and other headers."""

    status: int
    body: bytes = b""
    content_type: Optional[str] = None
    headers: dict = attrs.field(factory=dict)


def peer_host(request) -> str:
    """The client's address ("unknown" without a transport)."""
    peer = request.transport.getPeer() if request.transport is not None else None
    return str(getattr(peer, "host", "unknown"))


def write_response(request, response: Response) -> None:
    """Write ``response`` and finish ``request`` (nothing if the client is gone)."""
    if request.finished or getattr(request, "_disconnected", False):
        return
    request.setResponseCode(response.status)
    for name, value in response.headers.items():
        request.setHeader(name.encode("ascii"), str(value).encode("latin-1"))
    if response.content_type:
        request.setHeader(b"content-type", response.content_type.encode("ascii"))
    body = response.body if response.status not in (204, 304) else b""
    request.setHeader(b"content-length", str(len(body)).encode("ascii"))
    if body:
        request.write(body)
    request.finish()


class HandlerResource(Resource):
    """A leaf resource answering every request with ``await handle(request)``; a handler
    that raises is logged and answered ``crash_response()``."""

    isLeaf = True
    #: Names the protocol in log lines.
    label = "HTTP"

    async def handle(self, request) -> Response:
        raise NotImplementedError

    def crash_response(self) -> Response:
        return Response(500, b"internal server error", "text/plain; charset=utf-8")

    def render(self, request):
        d = Deferred.fromCoroutine(self.handle(request))

        def crashed(failure):
            log.failure("{label} request {method} {path} failed", failure, label=self.label,
                        method=request.method, path=request.path)
            return self.crash_response()

        d.addErrback(crashed)
        d.addCallback(lambda response: write_response(request, response))
        d.addErrback(lambda f: log.failure("writing an {label} answer failed", f, label=self.label))
        return NOT_DONE_YET
