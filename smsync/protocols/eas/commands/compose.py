"""SendMail, SmartReply and SmartForward (MS-ASCMD 2.2.1.16-18): the phone hands over
an RFC 5322 message and the server sends it -- through the edge's ``Submitter``, as
message submission does: this server's accounts get it in their Inbox, other
recipients through the relay queue -- and files the phone's copy in Sent when asked.

SmartReply and SmartForward name an original (Source: FolderId and ItemId) that the
server adds -- quoted under a reply, attached to a forward -- unless the phone sent it
whole itself (ReplaceMime); the original is then flagged ``\\Answered`` or
``$Forwarded``. A ClientId the device already sent a message under is answered Status
118 and not sent again: a phone retrying after a lost answer must not send twice.

A message whose copy in Sent would take the account past its storage quota
(``smsync.edge.quota``) is not sent: Status 115, SendQuotaExceeded (MS-ASCMD 2.2.2), as
Exchange answers a mailbox over its "prohibit send" quota. Sending it and dropping the
copy would leave the user no record of mail that went out, and nothing telling them
why; refused, the message stays in the phone's Outbox until they make room. A message
sent without a copy (no SaveInSentItems) stores nothing here and is not checked.

EAS 14.0 and later wrap the message in WBXML (``parse_compose``); 12.x posts the bare
MIME with ``SaveInSent``/``ItemId``/``CollectionId`` in the query (``from_query``, for
the endpoint to call with the request line's parameters).
"""

from __future__ import annotations

import email.errors
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Mapping, Optional

import attrs

from smsync.edge.outbound import SendFailed
from smsync.edge.quota import exceeded
from smsync.errors import NotFound
from smsync.model import FlagMode, UIDSet
from smsync.protocols.eas import outgoing, state
from smsync.protocols.eas.mailquery import parse_long_id
from smsync.protocols.eas.commands import command
from smsync.protocols.eas.wbxml import Element

CM = "ComposeMail:"

#: The MS-ASCMD 2.2.2 common Status values these commands answer.
INVALID_CONTENT, INVALID_WBXML, INVALID_XML, INVALID_MIME = "101", "102", "103", "107"
SERVER_ERROR, PREVIOUSLY_SENT, NO_RECIPIENT, SUBMISSION_FAILED = "110", "118", "119", "120"
SEND_QUOTA_EXCEEDED = "115"
ITEM_NOT_FOUND = "150"
#: Statuses that are the device's fault (a 12.x device gets HTTP 400 for them, else 500).
CLIENT_FAULTS = frozenset({INVALID_CONTENT, INVALID_WBXML, INVALID_XML, INVALID_MIME,
                           NO_RECIPIENT, ITEM_NOT_FOUND})
#: The commands that carry a message (in 12.x as the bare MIME body).
COMMANDS = ("SendMail", "SmartReply", "SmartForward")

#: How many ClientIds a device's state remembers (MS-ASCMD: "the last few").
REMEMBERED_CLIENT_IDS = 50

#: What makes a message unusable (Status 107).
InvalidMimeErrors = (outgoing.InvalidMime, UnicodeError, email.errors.MessageError)

_FLAG = {"SmartReply": "\\Answered", "SmartForward": "$Forwarded"}


@attrs.frozen
class Compose:
    """One compose request, whichever protocol version carried it.

    Attributes:
        command: ``SendMail``, ``SmartReply`` or ``SmartForward``.
        mime: the message as the phone wrote it.
        client_id: the phone's id of this message (None: not de-duplicated).
        save_in_sent: file a copy in the Sent folder.
        replace_mime: the phone's message already holds the original (smart commands).
        folder_id, item_id: the original's folder and server id (smart commands).
        long_id: the original as a Search result names it (not served: Status 150).
    """

    command: str
    mime: bytes
    client_id: Optional[str] = None
    save_in_sent: bool = False
    replace_mime: bool = False
    folder_id: Optional[str] = None
    item_id: Optional[str] = None
    long_id: Optional[str] = None


class ComposeError(Exception):
    """The request cannot be served: answered with ``status``."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status


def _text(element: Optional[Element]) -> Optional[str]:
    return element.text if element is not None and element.text else None


def parse_compose(name: str, body: Optional[Element]) -> Compose:
    """The ``Compose`` a 14.0+ WBXML request of command ``name`` carries.
    ``ComposeError`` (Status 103) when it is not one."""
    if body is None or (body.namespace, body.tag) != (CM, name):
        raise ComposeError(INVALID_XML, f"{name} needs a {name} body")
    mime = body.find(CM, "Mime")
    if mime is None or (mime.opaque is None and mime.text is None):
        raise ComposeError(INVALID_XML, "no Mime")
    data = mime.opaque if mime.opaque is not None else mime.text.encode("utf-8")
    source = body.find(CM, "Source")
    if name != "SendMail" and source is None:
        raise ComposeError(INVALID_XML, f"{name} without Source")
    find = source.find if source is not None else (lambda ns, tag: None)
    return Compose(command=name, mime=data, client_id=_text(body.find(CM, "ClientId")),
                   save_in_sent=body.find(CM, "SaveInSentItems") is not None,
                   replace_mime=body.find(CM, "ReplaceMime") is not None,
                   folder_id=_text(find(CM, "FolderId")), item_id=_text(find(CM, "ItemId")),
                   long_id=_text(find(CM, "LongId")))


def from_query(name: str, mime: bytes, params: Mapping[str, str], save_in_sent: bool) -> Compose:
    """The ``Compose`` of a 12.x request: the bare MIME body and the request line's
    parameters (``CollectionId``, ``ItemId``, ``LongId``) and ``SaveInSent`` flag.
    12.x has no ClientId and no ReplaceMime."""
    return Compose(command=name, mime=mime, save_in_sent=save_in_sent,
                   folder_id=params.get("CollectionId"), item_id=params.get("ItemId"),
                   long_id=params.get("LongId"))


def _status(name: str, status: str) -> Element:
    return Element(CM, name, (Element(CM, "Status", (), status),))


async def _original(ctx, compose: Compose):
    """The original's folder, UID and text; ``ComposeError`` 150 when it is gone."""
    if compose.long_id is not None and compose.item_id is None:
        # A message found by Search: its LongId names the folder and UID.
        found = parse_long_id(compose.long_id)
        if found is None:
            raise ComposeError(ITEM_NOT_FOUND, f"no original {compose.long_id[:60]}")
        compose = attrs.evolve(compose, folder_id=found[0], item_id=str(found[1]))
    if not compose.folder_id or not compose.item_id or not compose.item_id.isdigit():
        raise ComposeError(ITEM_NOT_FOUND, f"no original {compose.folder_id}/{compose.item_id}")
    mail = await ctx.store.mail(ctx.account)
    try:
        box = await mail.mailbox_by_id(compose.folder_id)
        uid = int(compose.item_id)
        return box, uid, await box.read_body(uid)
    except NotFound:
        raise ComposeError(ITEM_NOT_FOUND, f"no original {compose.folder_id}/{compose.item_id}") from None


def _trace(ctx) -> bytes:
    when = format_datetime(datetime.now(timezone.utc))
    return (f"Received: from [{ctx.host}] by smsync with HTTPS (Exchange ActiveSync "
            f"{ctx.version}); {when}\r\n").encode("ascii", "replace")


async def _remembered(ctx) -> list:
    saved = await state.load(ctx, state.COMPOSE_KEY) or {}
    ids = saved.get("client_ids")
    return ids if isinstance(ids, list) else []


async def send(ctx, compose: Compose) -> Optional[Element]:
    """Serve ``compose``: None (an empty 200) once the message is on its way, else the
    command's element with its Status."""
    name = compose.command
    try:
        return await _send(ctx, compose)
    except ComposeError as e:
        ctx.log(f"{name}: Status {e.status}: {e}")
        return _status(name, e.status)


async def _send(ctx, compose: Compose) -> Optional[Element]:
    name = compose.command
    remembered = await _remembered(ctx)
    if compose.client_id is not None and compose.client_id in remembered:
        raise ComposeError(PREVIOUSLY_SENT, f"ClientId {compose.client_id[:40]!r} was sent already")
    try:
        message = outgoing.completed(compose.mime, ctx.account)
    except InvalidMimeErrors as e:
        raise ComposeError(INVALID_MIME, str(e)) from None
    original = None
    if name != "SendMail":
        original = await _original(ctx, compose)
        if not compose.replace_mime:
            try:
                if name == "SmartReply":
                    message = outgoing.with_quote(message, original[2])
                else:
                    message = outgoing.with_attachment(message, original[2])
            except InvalidMimeErrors as e:
                raise ComposeError(INVALID_MIME, f"with the original: {e}") from None
    recipients = outgoing.recipients(message)
    if not recipients:
        raise ComposeError(NO_RECIPIENT, "the message has no recipient")
    if compose.save_in_sent:
        refused = await exceeded(getattr(ctx.edge, "quotas", None), ctx.account, len(message),
                                 f"EAS {name} (its copy in Sent)")
        if refused is not None:
            raise ComposeError(SEND_QUOTA_EXCEEDED, f"not sent: {refused}")
    try:
        submitter = ctx.edge.outbound.submitter
    except ValueError as e:
        raise ComposeError(SERVER_ERROR, f"cannot send: {e}") from None
    try:
        sent = await submitter.send(ctx.account, ctx.account, recipients,
                                    outgoing.without(message, "Bcc"), trace=_trace(ctx),
                                    save_in_sent=compose.save_in_sent, sent_copy=message)
    except SendFailed as e:
        raise ComposeError(SUBMISSION_FAILED, str(e)) from None
    except OSError as e:
        raise ComposeError(SERVER_ERROR, f"the relay queue: {e}") from None
    if compose.client_id is not None:
        remembered = (remembered + [compose.client_id])[-REMEMBERED_CLIENT_IDS:]
        await state.save(ctx, state.COMPOSE_KEY, {"client_ids": remembered})
    if original is not None:
        box, uid, _ = original
        try:
            await box.store_flags(UIDSet.of([uid]), FlagMode.ADD, [_FLAG[name]])
        except NotFound:
            pass  # deleted meanwhile: the reply went all the same
    ctx.log(f"{name}: {len(sent.delivered)} local, {len(sent.relayed)} relayed"
            f"{f', {len(sent.failed)} refused' if sent.failed else ''}"
            f"{', saved in Sent' if compose.save_in_sent else ''}")
    return None


def _handler(name: str):
    async def handler(ctx, body):
        try:
            compose = parse_compose(name, body)
        except ComposeError as e:
            ctx.log(f"{name}: Status {e.status}: {e}")
            return _status(name, e.status)
        return await send(ctx, compose)

    handler.__name__ = handler.__qualname__ = name.lower()
    return command(name, CM)(handler)


send_mail = _handler("SendMail")
smart_reply = _handler("SmartReply")
smart_forward = _handler("SmartForward")
