"""The shared twisted.web site: bodies over the limit are refused before they are stored."""

from __future__ import annotations

import http.client
import socket

import pytest
import pytest_twisted
from twisted.internet import reactor, threads
from twisted.web.resource import Resource

from smsync.tap.http import HttpRoot, make_site


class Echo(Resource):
    isLeaf = True

    def render_PUT(self, request):
        return b"got %d" % len(request.content.read())


@pytest.fixture
def port():
    root = HttpRoot()
    root.mount("/echo", Echo())
    listening = reactor.listenTCP(0, make_site(root, max_body=1000), interface="127.0.0.1")
    yield listening.getHost().port
    listening.stopListening()


def put(port: int, body: bytes, chunked: bool = False):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        if chunked:
            c.putrequest("PUT", "/echo")
            c.putheader("Transfer-Encoding", "chunked")
            c.endheaders()
            try:
                for i in range(0, len(body), 300):
                    piece = body[i:i + 300]
                    c.send(b"%x\r\n%s\r\n" % (len(piece), piece))
                c.send(b"0\r\n\r\n")
            except OSError:
                pass  # refused mid-stream: the answer is already waiting
        else:
            c.request("PUT", "/echo", body=body)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


@pytest_twisted.ensureDeferred
async def test_body_within_the_limit_is_served(port):
    assert await threads.deferToThread(put, port, b"x" * 1000) == (200, b"got 1000")
    assert await threads.deferToThread(put, port, b"x" * 900, True) == (200, b"got 900")


@pytest_twisted.ensureDeferred
async def test_announced_oversized_body_is_refused_at_once(port, log_capture):
    # The client announces a huge body and sends none of it: the answer must not wait.
    def announce():
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999\r\n\r\n")
            return s.recv(1000)

    answer = await threads.deferToThread(announce)
    assert answer.startswith(b"HTTP/1.1 413 ")
    lines = log_capture.lines("smsync.http")
    assert lines == ["http: 127.0.0.1: PUT /echo: body of 99999999999999 bytes refused, "
                     "larger than 1000 bytes"], lines


@pytest_twisted.ensureDeferred
async def test_chunked_stream_over_the_limit_is_refused(port):
    status, _ = await threads.deferToThread(put, port, b"y" * 5000, True)
    assert status == 413


def request(port: int, method: str, path: str):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body=b"abc")
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


@pytest_twisted.ensureDeferred
async def test_mount_points_match_whatever_their_case(port):
    """Phones spell /Microsoft-Server-ActiveSync in their own case (issue 12)."""
    assert await threads.deferToThread(request, port, "PUT", "/ECHO") == (200, b"got 3")
    assert await threads.deferToThread(request, port, "PUT", "/eChO") == (200, b"got 3")
    assert (await threads.deferToThread(request, port, "PUT", "/echoes"))[0] == 404
