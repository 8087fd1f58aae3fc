"""Autodiscover endpoints for EWS clients on the shared site.

* ``PoxEndpoint`` answers the "outlook" schema at ``/autodiscover/autodiscover.xml``,
  which EAS's mobile Autodiscover shares: the edge's router hands it the requests that
  ask for that schema.
* ``SoapEndpoint`` answers GetUserSettings at ``/autodiscover/autodiscover.svc``.

Both log in with HTTP Basic as EWS will (a wrong password is caught while the user is
still setting up; an anonymous probe learns the scheme from the 401), and answer only
for the account that logged in. The URL given names the host the client reached, over
HTTPS unless the request came over clear text to a server that allows it.
"""

from __future__ import annotations

import re

from twisted.logger import Logger

from smsync.edge.web import Response, peer_host
from smsync.protocols.ews import EWS_PATH, soap
from smsync.protocols.ews.autodiscover import (
    INVALID_REQUEST,
    AutodiscoverError,
    parse_pox_request,
    parse_user_settings,
    pox_error,
    pox_settings,
    settings_for,
    user_settings_response,
)
from smsync.protocols.ews.server import XML, basic_login, fault, refuse

log = Logger(namespace="smsync.ews")

SVC_PATH = "/autodiscover/autodiscover.svc"
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(:\d{1,5})?$")


def ews_url(request) -> str:
    """The EWS URL on the host the client reached."""
    name = (request.getHeader(b"host") or b"").decode("latin-1").strip()
    # The Host header is the client's to write: only a host name (and port) goes in.
    host = name if name and _HOST.match(name) else "localhost"
    scheme = "https" if request.isSecure() else "http"
    return f"{scheme}://{host}{EWS_PATH}"


def _display_name(account: str) -> str:
    return account.partition("@")[0]


class PoxEndpoint:
    """The "outlook" POX Autodiscover over one ``Edge``."""

    def __init__(self, edge):
        self.edge = edge

    async def handle(self, request) -> Response:
        host = peer_host(request)
        method = request.method.decode("ascii", "replace").upper()
        if method == "GET":
            return Response(200, pox_error(INVALID_REQUEST, "POST an Autodiscover request"), XML)
        if method != "POST":
            return refuse(405, f"autodiscover: {method} is not served here", host, {"Allow": "GET,POST"})
        account = await basic_login(self.edge, request, host)
        if isinstance(account, Response):
            return account
        body = request.content.read(64 * 1024 + 1) if request.content is not None else b""
        try:
            email = parse_pox_request(body)
        except AutodiscoverError as e:
            log.info("ews: {host}: autodiscover: {error}", host=host, error=str(e))
            return Response(200, pox_error(e.code, str(e)), XML)
        if email.lower() != account:
            log.info("ews: {host}: autodiscover: {account} asked for {other}", host=host,
                     account=account, other=email[:100])
            return Response(200, pox_error(INVALID_REQUEST, "you may ask only for your own address"), XML)
        return Response(200, pox_settings(account, _display_name(account), ews_url(request)), XML)


class SoapEndpoint:
    """GetUserSettings (SOAP Autodiscover) over one ``Edge``."""

    def __init__(self, edge):
        self.edge = edge

    async def handle(self, request) -> Response:
        host = peer_host(request)
        method = request.method.decode("ascii", "replace").upper()
        account = await basic_login(self.edge, request, host)
        if isinstance(account, Response):
            return account
        if method != "POST":
            return refuse(405, f"autodiscover: {method} is not served here", host, {"Allow": "POST"})
        body = request.content.read(64 * 1024 + 1) if request.content is not None else b""
        try:
            asked = parse_user_settings(body)
        except soap.SoapFault as e:
            return fault(e, host)
        url = ews_url(request)
        answers = []
        for user in asked.users:
            if user.lower() == account:
                answers.append((user, settings_for(account, _display_name(account), url)))
            else:
                log.info("ews: {host}: autodiscover: {account} asked for {other}", host=host,
                         account=account, other=user[:100])
                answers.append((user, None))
        return Response(200, user_settings_response(answers, asked.settings), XML)
