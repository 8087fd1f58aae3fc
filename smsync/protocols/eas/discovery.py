"""``/autodiscover/autodiscover.xml`` on the shared site: a phone given an address and a
password asks where its EAS server is (MS-ASCMD 2.2.1.1) and is told this server's
``/Microsoft-Server-ActiveSync`` URL.

The phone logs in with HTTP Basic as it will for EAS (so a wrong password is caught
while the user is still in the set-up screen), and may ask only for its own address.
The URL names the host the phone reached, over HTTPS unless the request came in clear
text to a server that allows it (a test or a proxy on loopback).
"""

from __future__ import annotations

import re

from twisted.logger import Logger

from smsync.edge.web import Response, peer_host
from smsync.protocols.eas.autodiscover import (
    INVALID_REQUEST,
    AutodiscoverError,
    error_response,
    parse_request,
    settings_response,
)
from smsync.protocols.eas.server import basic_login, refuse

log = Logger(namespace="smsync.eas")

XML = "text/xml; charset=utf-8"
PATH = "/Microsoft-Server-ActiveSync"
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(:\d{1,5})?$")


class AutodiscoverEndpoint:
    """The Autodiscover logic over one ``Edge``."""

    def __init__(self, edge):
        self.edge = edge

    async def handle(self, request) -> Response:
        host = peer_host(request)
        method = request.method.decode("ascii", "replace").upper()
        if method == "GET":
            # Some phones probe with GET first; Exchange answers an error document.
            return Response(200, error_response(INVALID_REQUEST, "POST an Autodiscover request"), XML)
        if method != "POST":
            return refuse(405, f"autodiscover: {method} is not served here", host, {"Allow": "GET,POST"})
        account = await basic_login(self.edge, request, host, lambda: refuse(
            403, "autodiscover: Exchange ActiveSync is not enabled for this account", host))
        if isinstance(account, Response):
            return account
        body = request.content.read(64 * 1024 + 1) if request.content is not None else b""
        try:
            asked = parse_request(body)
        except AutodiscoverError as e:
            log.info("eas: {host}: autodiscover: {error}", host=host, error=str(e))
            return Response(200, error_response(e.code, str(e)), XML)
        if asked.email.lower() != account.lower():
            log.info("eas: {host}: autodiscover: {account} asked for {other}", host=host,
                     account=account, other=asked.email[:100])
            return Response(200, error_response(INVALID_REQUEST, "you may ask only for your own address"), XML)
        return Response(200, settings_response(account, _url(request)), XML)


def _url(request) -> str:
    name = (request.getHeader(b"host") or b"").decode("latin-1").strip()
    # The Host header is the client's to write: only a host name (and port) goes
    # into the document.
    host = name if name and _HOST.match(name) else "localhost"
    scheme = "https" if request.isSecure() else "http"
    return f"{scheme}://{host}{PATH}"
