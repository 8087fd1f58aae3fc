"""The SyncML HTTP endpoint: POST of a message in XML or WBXML, the answer in the same.

Each POST: read the body (at most ``MAX_BODY``), decode it, find its session (the RespURI
token, else the device and SessionID; a token the server does not know is a 404), log the
device in from the SyncHdr Cred when the session is not yet (``auth``), run each command's
handler from the registry (``commands``), and pack the answer: a Status for the SyncHdr
and for every command, then what the server sends, within the client's MaxMsgSize
(``session.Session.pack``). Every client mistake gets a SyncML Status or an HTTP error and
one log line; nothing raises into twisted.web.
"""

from __future__ import annotations

import base64

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from smsync.edge.devices import Client
from smsync.edge.logins import BadCredentials, LoginUnavailable, ProtocolNotAllowed
from smsync.edge.web import HandlerResource, Response, peer_host
from smsync.formats.wbxml import Element
from smsync.errors import NotFound, SmsyncError, StorageUnavailable
from smsync.protocols.syncml import auth, codec, commands, engine
from smsync.protocols.syncml import message as m
from smsync.protocols.syncml.context import Context
from smsync.protocols.syncml.databases import DEVINF_KEY
from smsync.protocols.syncml.commands.devinfo import devinfo_of
from smsync.protocols.syncml.devinf import ClientInfo, parse_client_devinf
from smsync.protocols.syncml.session import MIN_MAX_MSG, SERVER_MAX_MSG, Sessions

log = Logger(namespace="smsync.syncml")
client_log = Logger(namespace="smsync.client")

#: Largest message read: beyond it the answer is HTTP 413 and nothing is done. SyncML
#: carries its credentials in the message, so the site reads this much of a body
#: without HTTP credentials (``SyncMLResource.anonymous_body_limit``).
MAX_BODY = SERVER_MAX_MSG + 64 * 1024


def refuse(status: int, message: str, host: str) -> Response:
    """An HTTP refusal, with the client-error log line."""
    client_log.info("syncml: {host}: {status} {message}", host=host, status=status, message=message)
    return Response(status, message.encode("utf-8"), "text/plain; charset=utf-8")


def _server_uri(request) -> str:
    host = request.getHeader(b"host")
    host = host.decode("latin-1") if host else "localhost"
    scheme = "https" if request.isSecure() else "http"
    path = request.path.decode("latin-1", "replace")
    return f"{scheme}://{host}{path}"


def _token(request) -> str | None:
    values = request.args.get(b"s") if request.args else None
    return values[0].decode("latin-1") if values else None


class SyncMLEndpoint:
    """The endpoint's logic over one ``Edge``."""

    def __init__(self, edge, sessions: Sessions | None = None):
        from smsync.sync import SyncAdapter

        self.edge = edge
        self.adapter = SyncAdapter(edge.store)
        self.sessions = sessions or Sessions()

    async def handle(self, request) -> Response:
        host = peer_host(request)
        method = request.method.decode("ascii", "replace").upper()
        if method != "POST":
            return refuse(405, f"{method} is not served here (SyncML is POST)", host)
        encoding = codec.encoding_of(request.getHeader(b"content-type").decode("latin-1")
                                     if request.getHeader(b"content-type") else None)
        if encoding is None:
            return refuse(415, "not a SyncML content type", host)
        raw = request.content.read(MAX_BODY + 1) if request.content is not None else b""
        if len(raw) > MAX_BODY:
            return refuse(413, "message too large", host)
        try:
            msg = codec.decode(raw, encoding)
        except codec.SyncMLError as e:
            return refuse(400, f"malformed message: {e}", host)
        del raw
        header = m.child(msg.root, "SyncHdr")
        body = m.child(msg.root, "SyncBody")
        device_uri = m.text(header, "Source", "LocURI")
        session_id = m.text(header, "SessionID")
        msg_id = m.text(header, "MsgID")
        if header is None or body is None or not device_uri or not session_id or not msg_id:
            return refuse(400, "a SyncML message needs SyncHdr (Source, SessionID, MsgID) and SyncBody", host)
        token = _token(request)
        if token is not None:
            session = self.sessions.by_token(token)
            if session is None or session.device_uri != device_uri:
                return refuse(404, "no such session (expired?)", host)
        else:
            session = self.sessions.by_device(device_uri, session_id)
            if session is not None and msg_id == "1" and session.client_msg_id not in (None, "1"):
                session = None  # a new session reusing the id: start over
            if session is None:
                session = self.sessions.open(device_uri=device_uri, session_id=session_id,
                                             version=msg.version, encoding=encoding,
                                             server_uri=_server_uri(request), host=host)
        async with session.lock:
            try:
                data = await self._message(session, msg, header, body, msg_id, request, host)
            except StorageUnavailable as e:
                return refuse(503, str(e), host)
            except SmsyncError as e:
                log.failure("syncml: {host}: the session failed", host=host)
                self.sessions.drop(session)
                return refuse(500, f"the session failed: {e}", host)
        return Response(200, data, codec.content_type(session.encoding), {"Cache-Control": "no-store"})

    async def _message(self, session, msg, header, body, msg_id: str, request, host: str) -> bytes:
        if session.last_answer is not None and session.last_answer[0] == msg_id:
            return session.last_answer[1]  # the client did not get our answer: again
        session.client_msg_id = msg_id
        session.encoding = msg.encoding
        max_msg = m.metinf_text(header, "MaxMsgSize")
        if max_msg and max_msg.isdigit():
            session.max_msg_size = max(MIN_MAX_MSG, min(int(max_msg), SERVER_MAX_MSG))
        ctx = Context(self.edge, self.adapter, session, msg_id)
        b = session.builder
        target_ref = m.text(header, "Target", "LocURI")
        header_status = m.OK
        chal = None
        if session.account is None:
            header_status, chal = await self._login(session, header, request, host)
            if header_status not in (m.OK, m.AUTH_ACCEPTED):
                # A client sends its DevInf once, in its first message, and does not
                # repeat it when that message is refused for credentials: keep it for
                # when the login succeeds.
                for cmd in body.children:
                    if cmd.tag == "Put":
                        found = devinfo_of(cmd)
                        if found is not None:
                            session.pending_info = parse_client_devinf(found)
                ctx.status(header, header_status, target=target_ref, source=session.device_uri,
                           chal=chal, cmd_ref="0")
                # Nothing else is done; the client sends the message again with Cred.
                return self._bare(session, ctx)
        ctx.status(header, header_status, target=target_ref, source=session.device_uri,
                   chal=chal, cmd_ref="0")
        final = m.child(body, "Final") is not None
        # The last answer did not end the server's package: a message of the client's
        # next package (its Map, say) may come before the server's is all sent; the
        # server's package is then finished first, and ends with Final.
        our_package_open = not session.package_done
        continuation = True
        for cmd in body.children:
            if cmd.tag == "Final":
                continue
            if cmd.tag not in ("Status",) and not (cmd.tag == "Alert" and m.text(cmd, "Data") == str(m.NEXT_MESSAGE)):
                continuation = False
            handler = commands.lookup(cmd.tag)
            if handler is None:
                client_log.info("syncml: {host}: {command} is not supported", host=host, command=cmd.tag)
                ctx.status(cmd, m.NOT_SUPPORTED)
                continue
            try:
                await handler(ctx, cmd)
            except NotFound as e:
                ctx.note(f"{cmd.tag}: {e}")
                ctx.status(cmd, m.NOT_FOUND)
        if final:
            session.client_final = True
            await self._client_package_done(ctx, session)
        elif continuation:
            if not session.outbox:
                session.client_final = True  # nothing more to send: the package ends
        elif not our_package_open:
            session.client_final = False
            if not session.outbox:
                # The client's package goes on: ask for its next message.
                session.queue(b.el("Alert", b.leaf("Data", m.NEXT_MESSAGE), b.el(
                    "Item", b.loc("Target", session.device_uri), b.loc("Source", session.server_uri))))
        data = session.pack(ctx.statuses, final_when_empty=session.client_final)
        session.last_answer = (msg_id, data)
        if ctx.lines:
            Deferred.fromCoroutine(self._write_log(ctx))
        return data

    def _bare(self, session, ctx) -> bytes:
        """An answer of statuses only (a refused login), with Final."""
        b = session.builder
        session.server_msg_id += 1
        root = b.el("SyncML", session.header(b, str(session.server_msg_id)),
                    b.el("SyncBody", *[_numbered(b, s, i + 1) for i, s in enumerate(ctx.statuses)],
                         b.empty("Final")))
        return codec.encode(root, session.encoding)

    async def _client_package_done(self, ctx, session) -> None:
        """The client's package is complete: log the databases whose sync ended, then
        queue the server's changes for those whose client part ended."""
        for db in session.dbs.values():
            if not db.alert_package_done:
                db.alert_package_done = True
                if not db.client_sync_seen:
                    continue
            if not db.server_done:
                db.client_done = True
                await engine.finish_client(ctx, db)
                await engine.server_changes(ctx, session, db)
                db.server_done = True
                db.state.anchor = db.client_next
                db.state.server_anchor = db.server_next
                await engine.save_state(ctx, db)
                c = db.counts
                ctx.note(f"{db.name}: {m.ALERT_NAMES.get(db.mode, db.mode)} sync: "
                         f"from device {c['added']} added, {c['replaced']} replaced, "
                         f"{c['deleted']} deleted; to device {c['sent']} changes; "
                         f"{c['conflicts']} conflicts, {c['errors']} errors; status {db.status}")
        if any(db.server_done for db in session.dbs.values()):
            await self.edge.devices.record(ctx.account, "syncml", self._client(session))

    def _client(self, session) -> Client:
        agent = session.client_info.agent() if session.client_info is not None else None
        return Client.syncml(session.device_uri, agent, session.host)

    async def _login(self, session, header, request, host: str):
        """(header status, Chal) for the message's credentials; sets the session's
        account and device on success."""
        b = session.builder
        cred = auth.read_cred(header)

        def challenge(kind: str, nonce: bytes | None = None):
            return b.el("Chal", b.meta(b.meta_value("Type", kind), b.meta_value("Format", "b64"),
                                       b.meta_value("NextNonce", _b64(nonce)) if nonce else None))

        if cred is None:
            client_log.info("syncml: {host}: no credentials from {device}", host=host,
                            device=session.device_uri)
            return m.MISSING_CREDENTIALS, challenge(auth.BASIC)
        if cred.kind not in (auth.BASIC, auth.MD5):
            return m.INVALID_CREDENTIALS, challenge(auth.BASIC)
        logins = self.edge.logins
        device = Client.syncml(session.device_uri, None, host)
        if cred.kind == auth.BASIC:
            if cred.user is None:
                logins.failed("syncml", "(unreadable Cred)", host)
                return m.INVALID_CREDENTIALS, challenge(auth.BASIC)
            if not request.isSecure() and not logins.cleartext_allowed(host):
                client_log.info("syncml: {host}: basic credentials over plain HTTP refused", host=host)
                return m.FORBIDDEN, None
            try:
                login = await logins.login("syncml", cred.user, (cred.secret or ""), host)
            except BadCredentials:
                return m.INVALID_CREDENTIALS, challenge(auth.BASIC)
            except ProtocolNotAllowed:
                return m.FORBIDDEN, None
            except LoginUnavailable:
                return m.UNAVAILABLE, None
            login.logout()
            account = login.account
        else:
            account = auth.account_of(cred.user)
            if account is None:
                logins.failed("syncml", cred.user or "", host)
                return m.INVALID_CREDENTIALS, challenge(auth.BASIC)
            try:
                await logins.limiter.before("syncml", cred.user, host)
            except LoginUnavailable:
                return m.UNAVAILABLE, None
            ok = await auth.check_md5(self.edge.store, account, device.device_id, cred)
            if ok is None:
                # No secret kept for this device: it must log in with basic once.
                client_log.info("syncml: {host}: md5 from {device} without a basic login first; "
                                "asking for basic", host=host, device=session.device_uri)
                return m.INVALID_CREDENTIALS, challenge(auth.BASIC)
            if not ok:
                logins.failed("syncml", cred.user, host)
                nonce = auth.new_nonce()
                await auth.set_nonce(self.edge.store, account, device.device_id, nonce)
                return m.INVALID_CREDENTIALS, challenge(auth.MD5, nonce)
            try:
                await logins.check_policy("syncml", account, host)
            except ProtocolNotAllowed:
                return m.FORBIDDEN, None
            logins.limiter.succeeded("syncml", account, host)
        session.account = account
        session.device_id = device.device_id
        self.sessions.authenticated(session)
        await self.edge.devices.record(account, "syncml", device)
        nonce = auth.new_nonce()
        if cred.kind == auth.BASIC:
            await auth.remember(self.edge.store, account, device.device_id, cred.user,
                                (cred.secret or ""), nonce)
        else:
            await auth.set_nonce(self.edge.store, account, device.device_id, nonce)
        if session.pending_info is not None:
            session.client_info = session.pending_info
            await self.edge.store.devices.save_state(account, device.device_id, DEVINF_KEY,
                                                     session.client_info.to_bytes())
            await self.edge.devices.record(account, "syncml", self._client(session))
        else:
            raw = await self.edge.store.devices.load_state(account, device.device_id, DEVINF_KEY)
            session.client_info = ClientInfo.from_bytes(raw)
        return m.AUTH_ACCEPTED, challenge(auth.MD5, nonce)

    async def _write_log(self, ctx) -> None:
        for line in ctx.lines:
            try:
                await self.edge.store.devices.log(ctx.account, ctx.device_id, line)
            except StorageUnavailable:
                return
            except Exception:
                log.failure("syncml: could not log for device {device}", device=ctx.device_id)
                return


def _b64(nonce: bytes) -> str:
    return base64.b64encode(nonce).decode("ascii")


def _numbered(b, status, cmd_id: int):
    return Element(status.namespace, status.tag, (b.leaf("CmdID", cmd_id),) + status.children)


class SyncMLResource(HandlerResource):
    """The endpoint on the shared site."""

    def __init__(self, endpoint: SyncMLEndpoint):
        super().__init__()
        self.endpoint = endpoint

    def handle(self, request):
        return self.endpoint.handle(request)

    def body_limit(self, method: bytes) -> int:
        return MAX_BODY

    def anonymous_body_limit(self, method: bytes) -> int:
        """Every SyncML message comes without HTTP credentials (they are in its
        SyncHdr): a POST is read up to ``MAX_BODY``, anything else barely."""
        return MAX_BODY if method.upper() == b"POST" else 1024

