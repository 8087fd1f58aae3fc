"""``/autodiscover/autodiscover.xml`` on the shared site: a phone given an address and a
password asks where its EAS server is (MS-ASCMD 2.2.1.1) and is told this server's
``/Microsoft-Server-ActiveSync`` URL.

The phone logs in with HTTP Basic as it will for EAS (so a wrong password is caught
while the user is still in the set-up screen), and may ask only for its own address.
The URL names the host the phone reached, over HTTPS unless the request came in clear
text to a server that allows it (a test or a proxy on loopback).
"""

from __future__ import annotations

from smsync.edge.autodiscover import answer_pox
from smsync.edge.web import site_url
from smsync.protocols.eas.autodiscover import error_response, parse_request, settings_response
from smsync.protocols.eas.server import basic_login, refuse

PATH = "/Microsoft-Server-ActiveSync"


class AutodiscoverEndpoint:
    """The Autodiscover logic over one ``Edge``."""

    def __init__(self, edge):
        self.edge = edge

    def handle(self, request):
        return answer_pox(
            request, "eas", self._login, lambda body: parse_request(body).email,
            lambda account: settings_response(account, site_url(request, PATH)),
            error_response, refuse)

    def _login(self, request, host):
        return basic_login(self.edge, request, host, lambda: refuse(
            403, "autodiscover: Exchange ActiveSync is not enabled for this account", host))
