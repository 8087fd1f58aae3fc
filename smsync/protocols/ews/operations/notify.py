"""Subscribe (pull and streaming), GetEvents, GetStreamingEvents and Unsubscribe: see
``smsync.protocols.ews.notifications``. Push subscriptions (the server calling the client)
are not served (``ErrorInvalidOperation``)."""

from __future__ import annotations

import copy

from lxml import etree

from smsync.errors import NotFound, SmsyncError
from smsync.protocols.ews import ids, notifications, soap, tree
from smsync.protocols.ews.errors import INVALID_OPERATION, SCHEMA_VALIDATION, EWSError, from_store
from smsync.protocols.ews.operations import operation
from smsync.protocols.ews.soap import m, response, response_message, t, xs_bool

EVENT_TYPES = frozenset({"CopiedEvent", "CreatedEvent", "DeletedEvent", "ModifiedEvent", "MovedEvent",
                         "NewMailEvent", "FreeBusyChangedEvent"})
NOT_FOUND = "ErrorSubscriptionNotFound"


async def _baseline(ctx, folder: tree.Folder):
    """Where a folder's change log stands now (None for virtual folders)."""
    try:
        if folder.is_mail:
            info = await (await tree.mailbox_of(ctx, folder)).info()
            return (info.highestmodseq, info.uidnext)
        if folder.ref.kind == ids.COLLECTION:
            return (await (await tree.collection_of(ctx, folder)).info()).revision
    except EWSError:
        return None
    return None


@operation("Subscribe")
async def subscribe(ctx, request):
    pull = request.find(m("PullSubscriptionRequest"))
    streaming = pull is None and request.find(m("StreamingSubscriptionRequest")) is not None
    if streaming:
        pull = request.find(m("StreamingSubscriptionRequest"))
    if pull is None:
        name = next((c.tag.rpartition("}")[2] for c in request if isinstance(c.tag, str)), "nothing")
        ctx.log(f"Subscribe: {name[:40]} is not served")
        return response("Subscribe", [response_message(
            "Subscribe", INVALID_OPERATION, "only pull and streaming subscriptions are served")])
    try:
        wanted = {(e.text or "").strip() for e in pull.iter(t("EventType"))}
        if not wanted or not wanted <= EVENT_TYPES:
            raise EWSError(SCHEMA_VALIDATION, "EventTypes names events of EWS")
        try:
            # A streaming subscription ends 30 minutes after its last connection.
            timeout = 30 if streaming else int((pull.findtext(t("Timeout")) or "30").strip())
        except ValueError:
            raise EWSError("ErrorInvalidPullSubscriptionTimeout",
                           "Timeout is a number of minutes") from None
        if not 1 <= timeout <= 1440:
            raise EWSError("ErrorInvalidPullSubscriptionTimeout",
                           "Timeout is 1 to 1440 minutes")
        folders = await tree.all_folders(ctx)
        holder = pull.find(t("FolderIds"))
        if xs_bool(pull.get("SubscribeToAllFolders")) or holder is None:
            watched = [f for f in folders if f.is_mail or f.ref.kind == ids.COLLECTION]
            sources = None
        else:
            chosen = [await tree.resolve(ctx, e, folders) for e in holder if isinstance(e.tag, str)]
            watched = [f for f in chosen if f.is_mail or f.ref.kind == ids.COLLECTION]
            sources = frozenset(f.ref.source for f in watched)
        sub = ctx.subscriptions.add(ctx.account, sources, frozenset(wanted), timeout, streaming)
        for folder in watched:
            sub.seen[folder.ref.source] = await _baseline(ctx, folder)
    except (EWSError, SmsyncError) as e:
        error = from_store(e, "ErrorFolderNotFound")
        ctx.log(f"Subscribe: {error.code}: {error.message}")
        return response("Subscribe", [response_message("Subscribe", error.code, error.message)])
    sub_id = etree.Element(m("SubscriptionId"))
    sub_id.text = sub.id
    children = [sub_id]
    if not streaming:
        watermark = etree.Element(m("Watermark"))
        watermark.text = sub.watermark
        children.append(watermark)
    return response("Subscribe", [response_message("Subscribe", children=children)])


def _event(kind: str, watermark: str, id_tag: str, id_text: str, parent: str, change_key=None):
    node = etree.Element(t(kind))
    etree.SubElement(node, t("Watermark")).text = watermark
    etree.SubElement(node, t("TimeStamp")).text = notifications.timestamp()
    attributes = {"Id": id_text}
    if change_key is not None:
        attributes["ChangeKey"] = change_key
    etree.SubElement(node, t(id_tag), **attributes)
    etree.SubElement(node, t("ParentFolderId"), Id=parent)
    return node


async def _mail_events(ctx, sub, folder_id: str, watermark: str) -> list:
    mail = await ctx.store.mail(ctx.account)
    try:
        mailbox = await mail.mailbox_by_id(folder_id)
    except NotFound:
        sub.seen.pop(folder_id, None)
        return []
    base = sub.seen.get(folder_id)
    if base is None:
        info = await mailbox.info()
        sub.seen[folder_id] = (info.highestmodseq, info.uidnext)
        return []
    modseq, uidnext = base
    revision = sub.revisions.get(folder_id)
    if revision is not None and revision > modseq:
        # Every subscription told of this change reads the same log: one read for all.
        changes = await ctx.subscriptions.shared_read((ctx.account, folder_id, modseq, revision),
                                                      lambda: mailbox.changes_since(modseq))
    else:
        changes = await mailbox.changes_since(modseq)
    parent = ids.folder_id(ids.FolderRef(ctx.account, ids.MAIL_FOLDER, folder_id))
    out = []

    def item(uid):
        return ids.item_id(ids.ItemRef(ctx.account, ids.MESSAGE, folder_id, str(uid)))

    for message in changes.changed:
        key = ids.change_key(message.modseq)
        if message.uid >= uidnext:
            for kind in ("NewMailEvent", "CreatedEvent"):
                if kind in sub.event_types:
                    out.append(_event(kind, watermark, "ItemId", item(message.uid), parent, key))
        elif "ModifiedEvent" in sub.event_types:
            out.append(_event("ModifiedEvent", watermark, "ItemId", item(message.uid), parent, key))
    if "DeletedEvent" in sub.event_types:
        out += [_event("DeletedEvent", watermark, "ItemId", item(uid), parent)
                for uid in changes.expunged if uid < uidnext]
    # A message is new when above what the client was told of: UIDs only grow.
    sub.seen[folder_id] = (changes.highestmodseq,
                           max([uidnext] + [m.uid + 1 for m in changes.changed]))
    return out


async def _collection_events(ctx, sub, collection_id: str, watermark: str) -> list:
    collections = await ctx.store.collections(ctx.account)
    try:
        collection = await collections.collection_by_id(collection_id)
    except NotFound:
        sub.seen.pop(collection_id, None)
        return []
    base = sub.seen.get(collection_id)
    if base is None:
        sub.seen[collection_id] = (await collection.info()).revision
        return []
    changes = await collection.changes_since(base)
    parent = ids.folder_id(ids.FolderRef(ctx.account, ids.COLLECTION, collection_id))

    def item(name):
        return ids.item_id(ids.ItemRef(ctx.account, ids.ITEM, collection_id, name))

    out = []
    if "ModifiedEvent" in sub.event_types:
        out += [_event("ModifiedEvent", watermark, "ItemId", item(i.name), parent, ids.change_key(i.revision))
                for i in changes.changed]
    if "DeletedEvent" in sub.event_types:
        out += [_event("DeletedEvent", watermark, "ItemId", item(name), parent) for name in changes.deleted]
    sub.seen[collection_id] = changes.revision
    return out


async def _events(ctx, sub, watermark: str) -> list:
    pending, sub.pending = sub.pending, set()
    out = []
    if pending & {("hierarchy", ""), ("resync", "")} and "ModifiedEvent" in sub.event_types:
        root = ids.folder_id(ids.FolderRef(ctx.account, ids.VIRTUAL, ids.ROOT))
        top = ids.folder_id(ids.FolderRef(ctx.account, ids.VIRTUAL, ids.MSGFOLDERROOT))
        out.append(_event("ModifiedEvent", watermark, "FolderId", top, root))
    if ("resync", "") in pending:
        # The feed was lost: every watched folder may have changed.
        pending |= {("mail" if isinstance(v, tuple) else "collection", k) for k, v in sub.seen.items()}
    for kind, folder_id in sorted(pending):
        if kind == "mail":
            out += await _mail_events(ctx, sub, folder_id, watermark)
        elif kind == "collection":
            out += await _collection_events(ctx, sub, folder_id, watermark)
    return out


def _notification(sub_id: str, previous: str, events: list, watermark: str):
    node = etree.Element(m("Notification"))
    etree.SubElement(node, t("SubscriptionId")).text = sub_id
    etree.SubElement(node, t("PreviousWatermark")).text = previous
    etree.SubElement(node, t("MoreEvents")).text = "false"
    if not events:
        status = etree.SubElement(node, t("StatusEvent"))
        etree.SubElement(status, t("Watermark")).text = watermark
    for event in events:
        node.append(copy.deepcopy(event))
    return node


@operation("GetEvents")
async def get_events(ctx, request):
    sub_id = (request.findtext(m("SubscriptionId")) or "").strip()
    presented = (request.findtext(m("Watermark")) or "").strip()
    sub = ctx.subscriptions.get(sub_id, ctx.account)
    if sub is None:
        ctx.log("GetEvents: no such subscription")
        return response("GetEvents", [response_message("GetEvents", NOT_FOUND, "no such subscription")])
    if presented and presented == sub.previous and sub.last_answer is not None:
        # The last answer was lost: the same events again, under the same watermarks.
        node = _notification(sub.id, presented, sub.last_answer, sub.watermark)
        return response("GetEvents", [response_message("GetEvents", children=[node])])
    if presented != sub.watermark:
        ctx.log("GetEvents: a watermark this subscription did not give")
        return response("GetEvents", [response_message("GetEvents", "ErrorInvalidWatermark",
                                                       "the watermark is not this subscription's")])
    watermark = notifications.new_token()
    try:
        events = await _events(ctx, sub, watermark)
    except SmsyncError as e:
        error = from_store(e)
        return response("GetEvents", [response_message("GetEvents", error.code, error.message)])
    sub.previous, sub.watermark, sub.last_answer = presented, watermark, events
    node = _notification(sub.id, presented, events, watermark)
    return response("GetEvents", [response_message("GetEvents", children=[node])])


#: Seconds between keep-alive messages of a quiet GetStreamingEvents (clients and proxies
#: must see the connection alive).
HEARTBEAT = 30.0


def _streamed(ctx, subs: list, until: float):
    """The chunks of a GetStreamingEvents answer: a message whenever a subscription has
    events, a keep-alive every ``HEARTBEAT`` seconds, and a last one saying the
    connection is closed, at ``until`` or when the client hangs up."""
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred

    def message(notes: list, status: str) -> bytes:
        node = response_message("GetStreamingEvents")
        if notes:
            holder = etree.SubElement(node, m("Notifications"))
            holder.extend(notes)
        etree.SubElement(node, m("ConnectionStatus")).text = status
        return soap.envelope(response("GetStreamingEvents", [node]), ctx.version)

    async def chunks():
        gone = []
        ctx.gone.addCallback(lambda _: gone.append(True))
        waiting: list = []

        def wake():
            if waiting:
                d = waiting.pop()
                if not d.called:
                    d.callback(None)

        for sub in subs:
            sub.wake = wake
        try:
            yield message([], "OK")
            while not gone and reactor.seconds() < until:
                notes = []
                for sub in subs:
                    if sub.pending:
                        watermark = notifications.new_token()
                        try:
                            events = await _events(ctx, sub, watermark)
                        except SmsyncError as e:
                            ctx.log(f"GetStreamingEvents: {e}")  # told again with the next change
                            continue
                        sub.previous, sub.watermark = sub.watermark, watermark
                        if events:
                            notes.append(_notification(sub.id, sub.previous, events, watermark))
                if notes:
                    yield message(notes, "OK")
                    continue
                d = Deferred()
                waiting.append(d)
                timer = reactor.callLater(min(HEARTBEAT, max(0.0, until - reactor.seconds())), wake)
                ctx.gone.addCallback(lambda _: wake())
                await d
                if timer.active():
                    timer.cancel()
                if not any(sub.pending for sub in subs) and not gone and reactor.seconds() < until:
                    yield message([], "OK")
            yield message([], "Closed")
        finally:
            for sub in subs:
                sub.wake = None
                sub.last_used = ctx.subscriptions.clock()

    return chunks()


@operation("GetStreamingEvents")
async def get_streaming_events(ctx, request):
    from twisted.internet import reactor

    from smsync.edge.web import Response
    from smsync.protocols.ews.server import XML

    holder = request.find(m("SubscriptionIds"))
    wanted = [(e.text or "").strip() for e in holder if isinstance(e.tag, str)] if holder is not None else []
    try:
        minutes = int((request.findtext(m("ConnectionTimeout")) or "").strip())
    except ValueError:
        minutes = 0
    if not wanted or not 1 <= minutes <= 30:
        raise EWSError(SCHEMA_VALIDATION, "SubscriptionIds and a ConnectionTimeout of 1 to 30 minutes")
    subs = [ctx.subscriptions.get(sub_id, ctx.account) for sub_id in wanted]
    if any(sub is None or not sub.streaming for sub in subs):
        ctx.log("GetStreamingEvents: no such streaming subscription")
        node = response_message("GetStreamingEvents", NOT_FOUND, "no such streaming subscription")
        return response("GetStreamingEvents", [node])
    until = reactor.seconds() + minutes * 60
    return Response(200, content_type=XML, chunks=_streamed(ctx, subs, until), immediate=True)


@operation("Unsubscribe")
async def unsubscribe(ctx, request):
    sub_id = (request.findtext(m("SubscriptionId")) or "").strip()
    sub = ctx.subscriptions.get(sub_id, ctx.account)
    if sub is None:
        return response("Unsubscribe", [response_message("Unsubscribe", NOT_FOUND, "no such subscription")])
    ctx.subscriptions.remove(sub.id)
    return response("Unsubscribe", [response_message("Unsubscribe")])
