"""Subscribe, GetEvents, GetStreamingEvents and Unsubscribe (MS-OXWSNTIF) over the
subscriptions of ``smsync.protocols.ews.subscriptions``: kept in the account's settings,
so whichever process a request reaches takes the subscription up from the watermark the
client presents (GetEvents) or the one last streamed (GetStreamingEvents)."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from lxml import etree

from smsync.errors import SmsyncError
from smsync.protocols.ews import subscriptions, tree
from smsync.protocols.ews.errors import EWSError
from smsync.protocols.ews.operations import operation
from smsync.protocols.ews.soap import m, response, response_message, t, xs_bool
from smsync.protocols.ews.subscriptions import (
    EVENT_BITS,
    MAX_CONNECTION_MINUTES,
    MAX_MINUTES,
    MAX_PER_GET,
    PULL,
    PUSH,
    STREAMING,
    NotifyError,
    hub_of,
)

INVALID_REQUEST = "ErrorInvalidSubscriptionRequest"
_KINDS = {"PullSubscriptionRequest": PULL, "PushSubscriptionRequest": PUSH,
          "StreamingSubscriptionRequest": STREAMING}


def _child(node, local: str):
    """``node``'s child ``local`` in the messages or the types namespace (clients put
    Watermark in either)."""
    found = node.find(m(local))
    return found if found is not None else node.find(t(local))


def _minutes(node, local: str, low: int, high: int, default=None) -> int:
    found = _child(node, local)
    if found is None:
        if default is None:
            raise NotifyError(INVALID_REQUEST, f"{local} is missing")
        return default
    text = (found.text or "").strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise NotifyError(INVALID_REQUEST, f"{local} must be {low} to {high} minutes")
    return int(text)


def _mask(node) -> int:
    holder = _child(node, "EventTypes")
    mask = 0
    for element in holder if holder is not None else ():
        if not isinstance(element.tag, str):
            continue
        name = (element.text or "").strip()
        if name not in EVENT_BITS:
            raise NotifyError(INVALID_REQUEST, f"no event type {name[:40]!r}")
        mask |= EVENT_BITS[name]
    if not mask:
        raise NotifyError(INVALID_REQUEST, "no EventTypes")
    return mask


async def _folders(ctx, node):
    """The folders the request names (None for SubscribeToAllFolders)."""
    holder = _child(node, "FolderIds")
    if xs_bool(node.get("SubscribeToAllFolders")):
        if holder is not None and len(holder):
            raise NotifyError(INVALID_REQUEST, "SubscribeToAllFolders with FolderIds")
        return None
    elements = [e for e in (holder if holder is not None else ()) if isinstance(e.tag, str)]
    if not elements:
        raise NotifyError(INVALID_REQUEST, "no FolderIds")
    every = await tree.all_folders(ctx)
    return [await tree.resolve(ctx, element, every) for element in elements]


def _url(node) -> str:
    url = (_child(node, "URL").text or "").strip() if _child(node, "URL") is not None else ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2048:
        raise NotifyError("ErrorInvalidPushSubscriptionUrl", "URL must be an http or https URL")
    return url


async def _subscribe(ctx, node):
    kind = _KINDS[etree.QName(node).localname]
    mask = _mask(node)
    minutes, url = 0, None
    if kind == PULL:
        minutes = _minutes(node, "Timeout", 1, MAX_MINUTES)
    elif kind == PUSH:
        minutes = _minutes(node, "StatusFrequency", 1, MAX_MINUTES)
        url = _url(node)
    mark = _child(node, "Watermark")
    since = None
    if kind != STREAMING and mark is not None and (mark.text or "").strip():
        # A client that lost its subscription resumes from the last watermark it saw
        # (of any subscription of the account): the events since come first.
        since = subscriptions.read_watermark(ctx.account, None, mark.text)
    folders = await _folders(ctx, node)
    hub = hub_of(ctx.store)
    sub = await hub.subscribe(ctx.account, kind, mask, folders, minutes, url, since=since)
    children = [_text(m("SubscriptionId"), sub.id)]
    if kind != STREAMING:
        children.append(_text(m("Watermark"), sub.mark(sub.acked)))
    where = "all folders" if folders is None else ", ".join(f.display_name for f in folders)
    await ctx.note(f"Subscribe: {kind} to {where}")
    return children


def _text(tag: str, value: str):
    node = etree.Element(tag)
    node.text = value
    return node


def _error(operation_name: str, error: Exception, ctx, extra=()):
    error = subscriptions.describe(error)
    ctx.log(f"{operation_name}: {error.code}: {error.message}")
    return response_message(operation_name, error.code, error.message, list(extra))


@operation("Subscribe")
async def subscribe(ctx, request):
    nodes = [n for n in request if isinstance(n.tag, str) and etree.QName(n).localname in _KINDS]
    if len(nodes) != 1:
        return response("Subscribe", [response_message(
            "Subscribe", INVALID_REQUEST, "one Pull, Push or Streaming subscription request")])
    try:
        children = await _subscribe(ctx, nodes[0])
    except (NotifyError, EWSError, SmsyncError) as e:
        return response("Subscribe", [_error("Subscribe", e, ctx)])
    return response("Subscribe", [response_message("Subscribe", children=children)])


@operation("Unsubscribe")
async def unsubscribe(ctx, request):
    hub = hub_of(ctx.store)
    try:
        sub_id = subscriptions.check_subscription_id(request.findtext(m("SubscriptionId")))
        local, record = await hub.find(ctx.account, sub_id)
    except (NotifyError, SmsyncError) as e:
        return response("Unsubscribe", [_error("Unsubscribe", e, ctx)])
    await hub.end(ctx.account, sub_id, local)
    ctx.log(f"Unsubscribe: {(record or local).kind}")
    return response("Unsubscribe", [response_message("Unsubscribe")])


@operation("GetEvents")
async def get_events(ctx, request):
    hub = hub_of(ctx.store)
    try:
        sub_id = subscriptions.check_subscription_id(request.findtext(m("SubscriptionId")))
        sub, record = await hub.find(ctx.account, sub_id, PULL)
        mark = subscriptions.read_watermark(ctx.account, sub_id, request.findtext(m("Watermark")))
        if sub is not None and mark.epoch == sub.epoch:
            # This process's copy gave it out: its queue answers.
            seq = mark.seq
            if seq > sub.seq:
                raise NotifyError("ErrorInvalidWatermark", "a watermark not yet given out")
            if seq < sub.acked:
                if sub.lost:
                    raise NotifyError("ErrorMissedNotificationEvents",
                                      "events were lost: too many were left unread")
                raise NotifyError("ErrorInvalidWatermark", "a watermark already acknowledged")
        elif record is None:
            raise NotifyError("ErrorInvalidWatermark", "not a watermark of this subscription")
        else:
            # Another process (or an older copy here) gave it out: read again from the
            # positions it holds.
            sub = await hub.adopt(ctx.account, sub_id, record, mark)
            seq = 0
    except (NotifyError, SmsyncError) as e:
        return response("GetEvents", [_error("GetEvents", e, ctx)])
    sub.touch()
    sub.ack(seq)
    sub.lost = False
    node, count = sub.notification(MAX_PER_GET)
    if count:
        ctx.log(f"GetEvents: {count} event(s)")
    if record is not None and (record.holder != hub.token or record.watermark != sub.mark(sub.acked)
                               or record.expires < sub.expires - 60):
        await hub.save(sub)
    return response("GetEvents", [response_message("GetEvents", children=[node])])


@operation("GetStreamingEvents")
async def get_streaming_events(ctx, request):
    hub = hub_of(ctx.store)
    holder = request.find(m("SubscriptionIds"))
    wanted = [e.text for e in (holder if holder is not None else ()) if isinstance(e.tag, str)]
    try:
        if not wanted:
            raise NotifyError(INVALID_REQUEST, "no SubscriptionIds")
        minutes = _minutes(request, "ConnectionTimeout", 1, MAX_CONNECTION_MINUTES)
    except NotifyError as e:
        return response("GetStreamingEvents", [_error("GetStreamingEvents", e, ctx)])
    subs, bad, failure = [], [], None
    for text in wanted:
        try:
            sub_id = subscriptions.check_subscription_id(text)
            sub, record = await hub.find(ctx.account, sub_id, STREAMING)
            if record is not None and (sub is None or record.holder != hub.token):
                # Used last by another process: go on from where it last streamed.
                try:
                    since = subscriptions.read_watermark(ctx.account, sub_id, record.watermark)
                except NotifyError:
                    since = None
                sub = await hub.adopt(ctx.account, sub_id, record, since)
            subs.append(sub)
        except (NotifyError, SmsyncError) as e:
            failure = failure or e
            bad.append(text)
    if failure is not None:
        ids = etree.Element(m("ErrorSubscriptionIds"))
        for text in bad:
            ids.append(_text(m("SubscriptionId"), (text or "")[:100]))
        return response("GetStreamingEvents", [_error("GetStreamingEvents", failure, ctx, [ids])])
    if getattr(ctx, "request", None) is None:
        raise EWSError("ErrorInvalidOperation", "streaming needs the HTTP connection")
    del request, holder, wanted
    # This process holds them now, until the connection's end and STREAM_IDLE after:
    # written before the answer starts, so no write is left behind it.
    lapse = time.time() + minutes * 60 + subscriptions.STREAM_IDLE
    for sub in subs:
        sub.expires = max(sub.expires, lapse)
        await hub.save(sub)
    stream = subscriptions.Stream(hub, ctx.request, subs, ctx.version, minutes)
    del subs
    await stream.done
    # The stream wrote and finished the answer; this is never sent.
    return etree.Element(m("GetStreamingEventsResponse"))
