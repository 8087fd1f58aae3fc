"""What the HTTP protocols (CalDAV/CardDAV, EAS, and those to come) share at their edge on
twisted.web: the answer value a handler returns, writing it (whole, or streamed as it is
produced), the client's address, and a resource that serves a coroutine handler without
letting an error escape into twisted.web."""

from __future__ import annotations

import re
from typing import AsyncIterator, Optional

import attrs
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET
from zope.interface import implementer

log = Logger(namespace="smsync.http")


@attrs.define
class Response:
    """An HTTP answer: ``status``, ``body``, its ``content_type`` and other headers.

    A large answer gives ``chunks`` instead of ``body``: an async iterator of its bytes,
    produced while they are sent (see ``write_response``), so that neither building nor
    holding the whole answer is needed. With ``immediate`` each chunk goes out as soon
    as it is produced (a long-lived answer of events, EWS GetStreamingEvents), not
    gathered into pieces first.
    """

    status: int
    body: bytes = b""
    content_type: Optional[str] = None
    headers: dict = attrs.field(factory=dict)
    chunks: Optional[AsyncIterator[bytes]] = None
    immediate: bool = False


_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(:\d{1,5})?$")


def site_url(request, path: str) -> str:
    """The URL of ``path`` on the host the client reached (its Host header), over HTTPS
    unless the request came over clear text (a test, or a proxy on loopback): what
    Autodiscover and service descriptions tell a client to use."""
    name = (request.getHeader(b"host") or b"").decode("latin-1").strip()
    # The Host header is the client's to write: only a host name (and port) goes into
    # a document.
    host = name if name and _HOST.match(name) else "localhost"
    scheme = "https" if request.isSecure() else "http"
    return f"{scheme}://{host}{path}"


def peer_host(request) -> str:
    """The client's address ("unknown" without a transport)."""
    peer = request.transport.getPeer() if request.transport is not None else None
    return str(getattr(peer, "host", "unknown"))


def _gone(request) -> bool:
    return request.finished or getattr(request, "_disconnected", False)


def _start(request, response: Response) -> None:
    request.setResponseCode(response.status)
    for name, value in response.headers.items():
        request.setHeader(name.encode("ascii"), str(value).encode("latin-1"))
    if response.content_type:
        request.setHeader(b"content-type", response.content_type.encode("ascii"))


def write_response(request, response: Response) -> Optional[Deferred]:
    """Write ``response`` and finish ``request`` (nothing if the client is gone). A
    streamed answer (``chunks``) is written by a Deferred returned here."""
    if response.chunks is not None:
        return Deferred.fromCoroutine(_write_stream(request, response))
    if _gone(request):
        return None
    _start(request, response)
    body = response.body if response.status not in (204, 304) else b""
    request.setHeader(b"content-length", str(len(body)).encode("ascii"))
    if body:
        request.write(body)
    request.finish()
    return None


#: A streamed answer that ends before this many bytes is sent whole, with a
#: Content-Length, like any other; a longer one goes out in chunks of about this size
#: (HTTP/1.1 chunked transfer coding), each once the client has taken the one before.
STREAM_PIECE = 256 * 1024


@implementer(IPushProducer)
class _Drain:
    """Tells a streamed answer when the connection can take more (TCP back-pressure),
    and when the client has gone."""

    def __init__(self, request):
        self.request = request
        self.stopped = False
        self._paused: Optional[Deferred] = None
        request.registerProducer(self, True)
        # The channel tells a producer to pause only when the transport fills up: if it
        # already had, nobody would tell this one.
        if getattr(request.channel, "_waitingForTransport", False):
            self.pauseProducing()

    async def wait(self) -> None:
        if self._paused is not None:
            await self._paused

    def pauseProducing(self):
        if self._paused is None and not self.stopped:
            self._paused = Deferred()

    def resumeProducing(self):
        d, self._paused = self._paused, None
        if d is not None:
            d.callback(None)

    def stopProducing(self):
        self.stopped = True
        self.resumeProducing()

    def close(self) -> None:
        self.resumeProducing()
        if not _gone(self.request):
            self.request.unregisterProducer()


async def _write_stream(request, response: Response) -> None:
    """Write a ``chunks`` answer: whole if it is short, else piece by piece, producing the
    next piece only once the connection took the last (memory stays one piece)."""
    held: list[bytes] = []
    size = 0
    drain: Optional[_Drain] = None
    chunks = response.chunks
    if response.immediate and not _gone(request):
        _start(request, response)
        drain = _Drain(request)
    try:
        async for data in chunks:
            if _gone(request) or (drain is not None and drain.stopped):
                return
            held.append(data)
            size += len(data)
            if size < STREAM_PIECE and not response.immediate:
                continue
            if drain is None:
                # No Content-Length: twisted.web sends HTTP/1.1 chunked (1.0: until close).
                _start(request, response)
                drain = _Drain(request)
            request.write(b"".join(held))
            held, size = [], 0
            await drain.wait()
    except Exception:
        log.failure("producing a streamed answer to {method} {path} failed", method=request.method,
                    path=request.path)
        if drain is None:
            if not _gone(request):
                write_response(request, Response(500, b"internal server error\n",
                                                 "text/plain; charset=utf-8"))
        elif not _gone(request):
            # Part of a 207 is out: only cutting the connection tells the client it is short.
            request.channel.transport.abortConnection()
        return
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
        if drain is not None:
            drain.close()
    if _gone(request):
        return
    if drain is None:
        write_response(request, attrs.evolve(response, body=b"".join(held), chunks=None))
        return
    if held:
        request.write(b"".join(held))
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
