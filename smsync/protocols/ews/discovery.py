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

from twisted.logger import Logger

from smsync.edge.autodiscover import answer_pox
from smsync.edge.web import Response, peer_host, site_url
from smsync.protocols.ews import EWS_PATH, soap
from smsync.protocols.ews.autodiscover import (
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


def ews_url(request) -> str:
    """The EWS URL on the host the client reached."""
    return site_url(request, EWS_PATH)


def _display_name(account: str) -> str:
    return account.partition("@")[0]


class PoxEndpoint:
    """The "outlook" POX Autodiscover over one ``Edge``."""

    def __init__(self, edge):
        self.edge = edge

    def handle(self, request):
        return answer_pox(
            request, "ews", lambda request, host: basic_login(self.edge, request, host),
            parse_pox_request,
            lambda account: pox_settings(account, _display_name(account), ews_url(request)),
            pox_error, refuse)


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
