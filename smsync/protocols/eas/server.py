"""The EAS HTTP endpoint (MS-ASHTTP): OPTIONS, and POST of a command in WBXML.

Each POST is: log in through the edge (HTTP Basic, the protocol policy, the limiter),
read the request line (``request.parse_query``), record the device, check its policy
key, decode the body, run the command's handler from the registry, encode the answer.
Every client mistake gets its HTTP status or the command's Status and one log line;
nothing raises into twisted.web.
"""

from __future__ import annotations

import io
from typing import Optional

import attrs
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from smsync.edge.devices import Client, wipe_request
from smsync.edge import httpauth
from smsync.edge.web import HandlerResource, Response, peer_host
from smsync.errors import SmsyncError, StorageUnavailable
from smsync.protocols.eas import commands, state
from smsync.protocols.eas.commands import compose
from smsync.protocols.eas.request import VERSIONS, QueryError, parse_query
from smsync.protocols.eas.wbxml import Element, WBXMLError, decode, encode

log = Logger(namespace="smsync.eas")

#: What OPTIONS announces; 2.5 is not served.
SERVED_VERSIONS = tuple(v for v in VERSIONS if v != "2.5")
WBXML = "application/vnd.ms-sync.wbxml"
#: MS-ASCMD common status: the user is not enabled for ActiveSync.
USER_DISABLED = "126"

#: Largest command body read (SendMail carries a message: the site's own limit bounds
#: the rest).
MAX_BODY = 64 * 1024 * 1024


@attrs.define
class Context:
    """One request as a handler sees it."""

    edge: object
    account: str
    device_id: str
    device_type: str
    version: str
    host: str
    user_agent: Optional[str]
    command: str
    #: Lines for the device's log, written once the command is answered.
    lines: list = attrs.field(factory=list)

    #: The endpoint's one ``SyncAdapter`` (it serialises each device's rounds).
    sync_adapter: object = None
    #: Fires when the client's connection ends (a waiting Ping gives up then).
    gone: object = None
    #: The request line as parsed (``request.EASRequest``): command parameters such as
    #: AttachmentName, and whether the device takes a multipart answer.
    query: object = None

    @property
    def store(self):
        return self.edge.store

    def log(self, line: str) -> None:
        """A line in the device's log (and the server's)."""
        log.info("eas: {account} {device}: {line}", account=self.account, device=self.device_id,
                 line=line)
        self.lines.append(line)

    async def write_log(self) -> None:
        for line in self.lines:
            try:
                await self.store.devices.log(self.account, self.device_id, line)
            except StorageUnavailable:
                return  # the store has said so in its own line
            except Exception:
                log.failure("eas: could not log for device {device}", device=self.device_id)
                return

    async def note_device_information(self, info: Element) -> None:
        fields = {}
        settings = info.find("Settings:", "Set")
        for child in (settings.children if settings is not None else ()):
            if child.text:
                fields[child.tag] = child.text[:200]
        if fields:
            self.log("device information: " + ", ".join(f"{k}={v}" for k, v in sorted(fields.items())))


def _gone(request) -> Deferred:
    """A Deferred firing (with None) when the request's connection ends, however."""
    d = request.notifyFinish()
    d.addErrback(lambda _failure: None)  # a client hanging up is not an error here
    return d


def refuse(status: int, message: str, host: str, headers=None) -> Response:
    """A plain-text refusal of a request, and its log line."""
    log.info("eas: {host}: {status} {message}", host=host, status=status, message=message)
    return Response(status, message.encode("utf-8"), "text/plain; charset=utf-8", dict(headers or {}))


async def basic_login(edge, request, host: str, not_allowed):
    """The account the request's HTTP Basic credentials log in to EAS, or the
    ``Response`` refusing them (``smsync.edge.httpauth.basic_login``)."""
    return await httpauth.basic_login(edge, request, host, "eas", refuse, not_allowed)


def _headers(request) -> dict:
    """The request's headers, the last value of each, as text (for ``parse_query``)."""
    return {k.decode("latin-1"): v[-1].decode("latin-1")
            for k, v in request.requestHeaders.getAllRawHeaders()}


def _release_body(request) -> None:
    """Let go of the request body's buffer once it is read: a waiting Ping would keep
    it (twisted.web's BytesIO) for the whole heartbeat."""
    content = request.content
    if content is not None:
        content.close()
        request.content = io.BytesIO()


def _header(request, name: str) -> Optional[str]:
    value = request.getHeader(name.encode("ascii"))
    return value.decode("latin-1") if value is not None else None


class EASEndpoint:
    """The endpoint's logic over one ``Edge``; ``EASResource`` puts it on twisted.web."""

    def __init__(self, edge):
        from smsync.sync import SyncAdapter

        self.edge = edge
        self.sync_adapter = SyncAdapter(edge.store)

    def options(self) -> Response:
        return Response(200, headers={
            "MS-Server-ActiveSync": "16.1",
            "MS-ASProtocolVersions": ",".join(SERVED_VERSIONS),
            "MS-ASProtocolCommands": ",".join(commands.implemented()),
            "Allow": "OPTIONS,POST", "Public": "OPTIONS,POST",
        })

    async def handle(self, request) -> Response:
        host = peer_host(request)
        method = request.method.decode("ascii", "replace").upper()
        account = await basic_login(self.edge, request, host,
                                    lambda: self._not_allowed(request, host))
        if isinstance(account, Response):
            return account
        if method == "OPTIONS":
            return self.options()
        if method != "POST":
            return refuse(405, f"{method} is not served here", host, {"Allow": "OPTIONS,POST"})
        headers = _headers(request)
        query = request.uri.partition(b"?")[2]
        try:
            eas = parse_query(query, headers)
        except QueryError as e:
            return refuse(400, str(e), host)
        # A Ping holds this frame for up to an hour, ten thousand of them at once: what
        # is no longer needed is let go (see _run too).
        del headers, query
        if eas.version is None:
            return refuse(400, "no MS-ASProtocolVersion", host)
        if eas.version not in SERVED_VERSIONS:
            return refuse(400, f"protocol version {eas.version} is not served", host)
        spec = commands.lookup(eas.command)
        if spec is None:
            return refuse(501, f"{eas.command} is not implemented yet", host)
        client = Client.eas(eas.device_id, eas.device_type, _header(request, "User-Agent"), host)
        await self.edge.devices.record(account, "eas", client)
        ctx = Context(self.edge, account, client.device_id, eas.device_type, eas.version, host,
                      _header(request, "User-Agent"), eas.command,
                      sync_adapter=self.sync_adapter, gone=_gone(request), query=eas)
        try:
            return await self._run(ctx, spec, eas, request, host)
        finally:
            if ctx.lines:
                # The device's log is written after the answer goes out: a woken Ping
                # must not wait for the store's writer (ten devices of one account
                # would queue behind each other's log lines). write_log logs its own
                # failures.
                Deferred.fromCoroutine(ctx.write_log())

    async def _run(self, ctx: Context, spec, eas, request, host: str) -> Response:
        try:
            if spec.needs_policy and not await self._provisioned(ctx, eas.policy_key):
                ctx.log(f"{eas.command}: refused, the device is not provisioned")
                if eas.version.startswith("12."):
                    return Response(449)
                return self._wbxml(Element(spec.namespace, eas.command,
                                           (Element(spec.namespace, "Status", (), "142"),)))
            raw = request.content.read(MAX_BODY + 1) if request.content is not None else b""
            if len(raw) > MAX_BODY:
                return refuse(413, "request body too large", host)
            if eas.command in compose.COMMANDS and eas.version.startswith("12."):
                return await self._send_mime(ctx, eas, raw, host)
            try:
                body = decode(raw) if raw else None
            except WBXMLError as e:
                return refuse(400, f"{eas.command}: {e}", host)
            _release_body(request)
            del raw
            call = spec.handler(ctx, body)
            del body
            answer = await call
        except commands.CommandError as e:
            return refuse(e.status, f"{eas.command}: {e}", host)
        except StorageUnavailable as e:
            return refuse(507 if e.full else 503, f"{eas.command}: {e}", host)
        except SmsyncError as e:
            return refuse(500, f"{eas.command}: {e}", host)
        if isinstance(answer, Response):
            return answer  # an answer that is not WBXML (GetAttachment, multipart)
        return self._wbxml(answer) if answer is not None else Response(200)

    def _not_allowed(self, request, host: str) -> Response:
        """An account the policy keeps off EAS: a 14.0+ device is told so in its
        command's own Status (126, UserDisabledForSync: it stops retrying and shows
        the user why); older devices, and requests not even a command, get 403."""
        message = "Exchange ActiveSync is not enabled for this account"
        if request.method != b"POST":
            return refuse(403, message, host)
        headers = _headers(request)
        try:
            eas = parse_query(request.uri.partition(b"?")[2], headers)
        except QueryError:
            return refuse(403, message, host)
        spec = commands.lookup(eas.command)
        if spec is None or eas.version not in SERVED_VERSIONS or eas.version.startswith("12."):
            return refuse(403, message, host)
        log.info("eas: {host}: {message} (Status 126)", host=host, message=message)
        return self._wbxml(Element(spec.namespace, eas.command,
                                   (Element(spec.namespace, "Status", (), USER_DISABLED),)))

    async def _send_mime(self, ctx: Context, eas, raw: bytes, host: str) -> Response:
        """12.x SendMail/SmartReply/SmartForward: the body is the message itself and the
        answer an HTTP status (MS-ASCMD 2.2.1.16: empty on success)."""
        answer = await compose.send(ctx, compose.from_query(eas.command, raw, eas.params, eas.save_in_sent))
        if answer is None:
            return Response(200)
        status = answer.find(compose.CM, "Status")
        code = status.text if status is not None else compose.SERVER_ERROR
        if code == compose.PREVIOUSLY_SENT:
            return Response(200)
        if code == compose.SEND_QUOTA_EXCEEDED:
            # MS-ASHTTP 3.2.5.2: 507, the server is out of space for this mailbox.
            return refuse(507, f"{eas.command}: status {code}", host)
        client_fault = code in compose.CLIENT_FAULTS
        return refuse(400 if client_fault else 500, f"{eas.command}: status {code}", host)

    async def _provisioned(self, ctx: Context, presented: Optional[int]) -> bool:
        if await wipe_request(ctx.store.devices, ctx.account, ctx.device_id) is not None:
            # A device asked to wipe itself is sent to Provision, where it is told so.
            return False
        saved = await state.load(ctx, state.POLICY_KEY)
        return saved is not None and saved.get("key") is not None and presented == saved["key"]

    @staticmethod
    def _wbxml(element: Element) -> Response:
        return Response(200, encode(element), WBXML,
                        {"MS-Server-ActiveSync": "16.1", "Cache-Control": "private"})


class EndpointResource(HandlerResource):
    """An endpoint (``EASEndpoint``, ``AutodiscoverEndpoint``) on the shared site."""

    def __init__(self, endpoint, label: str):
        super().__init__()
        self.endpoint = endpoint
        self.label = label

    def handle(self, request):
        return self.endpoint.handle(request)
