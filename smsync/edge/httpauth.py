"""HTTP Basic logins of the SOAP and WBXML protocols (EAS, EWS and their Autodiscover),
answered the same way by each: the account, or the HTTP answer refusing the request.

The DAV protocols log in through their own resource tree; these protocols answer one
endpoint each, and their clients probe anonymously first to learn the scheme.
"""

from __future__ import annotations

from typing import Callable, Union

from smsync.edge.logins import BadCredentials, LoginUnavailable, ProtocolNotAllowed
from smsync.edge.web import Response

#: The challenge every 401 carries.
CHALLENGE = {"WWW-Authenticate": 'Basic realm="smsync"'}


async def basic_login(edge, request, host: str, protocol: str,
                      refuse: Callable[..., Response],
                      not_allowed: Callable[[], Response]) -> Union[str, Response]:
    """The account ``request``'s Basic credentials log in to ``protocol``, or the
    ``Response`` refusing them, made by the protocol's ``refuse(status, message, host,
    headers)`` (so the log line is the protocol's): 403 for a password sent over clear
    text from elsewhere than loopback (unless the configuration allows it),
    ``not_allowed()`` where the account's policy keeps it off ``protocol`` (EAS tells a
    device in its command's own status), 503 while logins
    are unavailable, and 401 with a Basic challenge for no credentials or wrong ones."""
    authorization = request.getHeader(b"authorization")
    if authorization and not request.isSecure() and not edge.logins.cleartext_allowed(host):
        return refuse(403, "passwords are accepted over HTTPS only", host)
    try:
        account = await edge.logins.basic(protocol, authorization, host)
    except BadCredentials:
        account = None
    except ProtocolNotAllowed:
        return not_allowed()
    except LoginUnavailable as e:
        return refuse(503, str(e), host, {"Retry-After": "30"})
    if account is None:
        # No log line of our own: a wrong password has the failed-login line already,
        # and an anonymous probe is how clients start.
        return Response(401, b"", "text/plain; charset=utf-8", dict(CHALLENGE))
    return account
