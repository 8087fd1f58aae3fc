"""The EWS HTTP endpoint (``/EWS/Exchange.asmx``): POST of a SOAP request.

Each POST is: log in through the edge (HTTP Basic, the protocol policy, the limiter,
the failed-login line), record the client in the devices list, read the envelope
(``soap.parse_request``), run the operation's handler from the registry
(``operations``), and answer the envelope with ``ServerVersionInfo``. A request that
is not one gets a SOAP fault (HTTP 500, as Exchange sends them) and one log line; an
error in a handler is logged with its traceback and answered
``ErrorInternalServerError``: nothing raises into twisted.web.
"""

from __future__ import annotations

from typing import Optional

import attrs
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from smsync.edge.devices import Client
from smsync.edge import httpauth
from smsync.edge.web import HandlerResource, Response, peer_host
from smsync.errors import StorageUnavailable
from smsync.protocols.ews import operations, soap
from smsync.protocols.ews.errors import EWSError

log = Logger(namespace="smsync.ews")

XML = "text/xml; charset=utf-8"
#: The devices list is written at most this often per client (seconds): a client
#: sends many requests a minute.
RECORD_INTERVAL = 60.0


@attrs.define
class Context:
    """One request as a handler sees it."""

    edge: object
    account: str
    version: str
    host: str
    user_agent: Optional[str]
    operation: str
    device_id: str
    #: The endpoint's one ``SyncAdapter``.
    sync_adapter: object = None
    #: The TimeZoneContext the client named (a Windows zone id), if any.
    timezone: Optional[str] = None
    #: The twisted.web request (GetStreamingEvents writes its answer on it as it goes).
    request: object = None

    @property
    def store(self):
        return self.edge.store

    def log(self, line: str) -> None:
        """A line in the server's log about this request."""
        log.info("ews: {account} {host}: {line}", account=self.account, host=self.host, line=line)

    async def note(self, line: str) -> None:
        """A line in the server's log and in the client's own log in the devices list
        (what it synced, what it sent). Bookkeeping: a failure is logged, not raised."""
        self.log(line)
        try:
            await self.store.devices.log(self.account, self.device_id, line)
        except StorageUnavailable:
            pass  # the store has said so in its own line
        except Exception:
            log.failure("ews: could not log for client {device}", device=self.device_id)

    def at_least(self, version: str) -> bool:
        """Whether the client asked for ``version`` or later."""
        order = list(soap.VERSIONS)
        return order.index(self.version) >= order.index(version)


def refuse(status: int, message: str, host: str, headers=None) -> Response:
    """A plain-text refusal of a request, and its log line."""
    log.info("ews: {host}: {status} {message}", host=host, status=status, message=message)
    return Response(status, message.encode("utf-8"), "text/plain; charset=utf-8", dict(headers or {}))


async def basic_login(edge, request, host: str, protocol: str = "ews"):
    """The account the request's HTTP Basic credentials log in to ``protocol``, or the
    ``Response`` refusing them (``smsync.edge.httpauth.basic_login``)."""
    return await httpauth.basic_login(edge, request, host, protocol, refuse, lambda: refuse(
        403, "Exchange Web Services is not enabled for this account", host))


def _gone(request) -> Deferred:
    """A Deferred firing (with None) when the request's connection ends, however."""
    d = request.notifyFinish()
    d.addErrback(lambda _failure: None)  # a client hanging up is not an error here
    return d


def _header(request, name: str) -> Optional[str]:
    value = request.getHeader(name.encode("ascii"))
    return value.decode("latin-1")[:300] if value is not None else None


def fault(error: soap.SoapFault, host: str, version: str = soap.LATEST) -> Response:
    log.info("ews: {host}: fault {code}: {message}", host=host, code=error.code,
             message=error.message[:200])
    return Response(500, soap.fault_envelope(error, version), XML)


class EWSEndpoint:
    """The endpoint's logic over one ``Edge``; ``EWSResource`` puts it on twisted.web."""

    def __init__(self, edge):
        from smsync.sync import SyncAdapter

        self.edge = edge
        self.sync_adapter = SyncAdapter(edge.store)

    async def handle(self, request) -> Response:
        host = peer_host(request)
        method = request.method.decode("ascii", "replace").upper()
        account = await basic_login(self.edge, request, host)
        if isinstance(account, Response):
            return account
        if method != "POST":
            return refuse(405, f"{method} is not served here", host, {"Allow": "POST"})
        raw = request.content.read(soap.MAX_REQUEST + 1) if request.content is not None else b""
        try:
            parsed = soap.parse_request(raw)
        except soap.SoapFault as e:
            return fault(e, host)
        del raw
        if parsed.impersonation and parsed.impersonation.lower() != account:
            return fault(soap.SoapFault("ErrorImpersonateUserDenied",
                                        f"{account} may not act as another account"),
                         host, parsed.version)
        spec = operations.lookup(parsed.operation)
        if spec is None:
            return fault(soap.SoapFault("ErrorInvalidRequest",
                                        f"{parsed.operation[:60]} is not implemented yet"),
                         host, parsed.version)
        agent = _header(request, "User-Agent")
        client = Client.http("ews", agent, host)
        await self.edge.devices.record(account, "ews", client, min_interval=RECORD_INTERVAL)
        ctx = Context(self.edge, account, parsed.version, host, agent, parsed.operation,
                      client.device_id, self.sync_adapter, parsed.timezone, request)
        try:
            payload = await spec.handler(ctx, parsed.body)
        except soap.SoapFault as e:
            return fault(e, host, parsed.version)
        except EWSError as e:
            return fault(soap.SoapFault(e.code, e.message), host, parsed.version)
        except StorageUnavailable as e:
            return fault(soap.SoapFault("ErrorServerBusy", str(e), client=False), host, parsed.version)
        if isinstance(payload, Response):
            return payload  # a streamed answer (GetStreamingEvents)
        return Response(200, soap.envelope(payload, parsed.version), XML)


class DescriptionEndpoint:
    """``/EWS/Services.wsdl`` and the schema files it imports (``wsdl``), to a client
    that logged in as it would to the endpoint (Exchange serves them under the same
    authentication)."""

    def __init__(self, edge, name: str):
        self.edge = edge
        self.name = name.lower()

    async def handle(self, request) -> Response:
        from smsync.protocols.ews import wsdl
        from smsync.protocols.ews.discovery import ews_url

        host = peer_host(request)
        account = await basic_login(self.edge, request, host)
        if isinstance(account, Response):
            return account
        method = request.method.decode("ascii", "replace").upper()
        if method not in ("GET", "HEAD"):
            return refuse(405, f"{method} is not served here", host, {"Allow": "GET, HEAD"})
        if self.name == "services.wsdl":
            body = wsdl.services_wsdl(operations.implemented(), ews_url(request))
        elif self.name == "messages.xsd":
            body = wsdl.messages_schema(operations.implemented())
        else:
            body = wsdl.types_schema()
        return Response(200, body, XML)


class EndpointResource(HandlerResource):
    """An endpoint (``EWSEndpoint``, the Autodiscover ones) on the shared site."""

    label = "EWS"

    def __init__(self, endpoint, label: str = "EWS"):
        super().__init__()
        self.endpoint = endpoint
        self.label = label

    def handle(self, request):
        return self.endpoint.handle(request)

    def crash_response(self) -> Response:
        return Response(500, soap.fault_envelope(soap.SoapFault(
            "ErrorInternalServerError", "internal server error", client=False)), XML)
