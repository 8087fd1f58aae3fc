"""GetUserOofSettings and SetUserOofSettings (MS-OXWSOOF): the account's automatic
replies, the one out-of-office state of the core (``smsync.edge.oof``) that EAS
Settings reads and writes too, so a reply set on a phone shows in Outlook and back.

EWS has an internal reply and one external reply with its audience (None, Known,
All); the core keeps a reply per audience (internal, external known, external
unknown), so the external reply goes to the one or two external audiences the
ExternalAudience names. A state EWS cannot express (different replies for the two
external audiences) is read as the unknown audience's.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from lxml import etree

from smsync.edge import oof
from smsync.protocols.ews.errors import ACCESS_DENIED, SCHEMA_VALIDATION, EWSError
from smsync.protocols.ews.messages import ews_date
from smsync.protocols.ews.operations import operation
from smsync.protocols.ews.soap import m, response_message, t, text

INTERNAL, KNOWN, UNKNOWN = oof.AUDIENCES
_STATES = {"Disabled": oof.DISABLED, "Enabled": oof.GLOBAL, "Scheduled": oof.TIME_BASED}
_STATE_NAMES = {v: k for k, v in _STATES.items()}
_AUDIENCES = ("None", "Known", "All")
#: The longest reply kept (the store's setting holds all three in 64 KiB).
MAX_REPLY = 16 * 1024


def _check_mailbox(ctx, request) -> None:
    """The Mailbox asked for must be the account's own (no delegation here)."""
    address = (request.findtext(f"{t('Mailbox')}/{t('Address')}") or "").strip()
    if not address:
        raise EWSError(SCHEMA_VALIDATION, "no Mailbox Address")
    if address.lower() != ctx.account:
        raise EWSError(ACCESS_DENIED, f"{ctx.account} may not see the automatic replies of "
                                      f"{address[:100]}")


def _single(ctx, name: str, code: str, message: str = "", children=()):
    """A response of these operations: one ResponseMessage (not in ResponseMessages)."""
    root = etree.Element(m(f"{name}Response"))
    node = response_message("", code, message or None, ())
    node.tag = m("ResponseMessage")
    root.append(node)
    for child in children:
        root.append(child)
    if code != "NoError":
        ctx.log(f"{name}: {code}: {message}")
    return root


def _reply(tag: str, message: oof.OofMessage):
    node = etree.Element(t(tag))
    etree.SubElement(node, t("Message")).text = text(message.reply)
    return node


def settings_element(settings: oof.Oof, now: datetime):
    """The ``<t:OofSettings>`` of the core's ``settings``."""
    node = etree.Element(t("OofSettings"))
    etree.SubElement(node, t("OofState")).text = _STATE_NAMES.get(settings.state, "Disabled")
    messages = settings.messages
    unknown, known = messages.get(UNKNOWN), messages.get(KNOWN)
    if unknown is not None and unknown.enabled:
        audience, external = "All", unknown
    elif known is not None and known.enabled:
        audience, external = "Known", known
    else:
        audience, external = "None", unknown or known or oof.OofMessage()
    etree.SubElement(node, t("ExternalAudience")).text = audience
    # Exchange always answers a Duration; an unscheduled one is today's.
    start = settings.start or now.replace(minute=0, second=0, microsecond=0)
    end = settings.end or start + timedelta(days=1)
    duration = etree.SubElement(node, t("Duration"))
    etree.SubElement(duration, t("StartTime")).text = ews_date(start)
    etree.SubElement(duration, t("EndTime")).text = ews_date(end)
    node.append(_reply("InternalReply", messages.get(INTERNAL) or oof.OofMessage()))
    node.append(_reply("ExternalReply", external))
    return node


@operation("GetUserOofSettingsRequest")
async def get_user_oof_settings(ctx, request):
    try:
        _check_mailbox(ctx, request)
    except EWSError as e:
        return _single(ctx, "GetUserOofSettings", e.code, e.message)
    settings = await oof.load(ctx.store, ctx.account)
    allow = etree.Element(m("AllowExternalOof"))
    allow.text = "All"
    return _single(ctx, "GetUserOofSettings", "NoError",
                   children=[settings_element(settings, datetime.now(timezone.utc)), allow])


def _date(text_value: str) -> datetime:
    value = (text_value or "").strip()
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise EWSError(SCHEMA_VALIDATION, f"{value[:40]!r} is not a dateTime") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _reply_text(node, tag: str):
    holder = node.find(t(tag))
    if holder is None:
        return None
    value = holder.findtext(t("Message")) or ""
    if len(value) > MAX_REPLY:
        raise EWSError("ErrorInvalidParameter", f"the {tag} is longer than {MAX_REPLY} characters")
    return value


def _body_type(reply: str) -> str:
    return "HTML" if re.search(r"<(html|body|p|div|br)\b", reply, re.IGNORECASE) else "Text"


def parse_settings(node, current: oof.Oof) -> oof.Oof:
    """The core's settings for a ``<t:UserOofSettings>`` (``current`` fills in the
    replies it leaves out)."""
    state_text = (node.findtext(t("OofState")) or "").strip()
    if state_text not in _STATES:
        raise EWSError(SCHEMA_VALIDATION, f"OofState {state_text[:30]!r}")
    audience = (node.findtext(t("ExternalAudience")) or "All").strip()
    if audience not in _AUDIENCES:
        raise EWSError(SCHEMA_VALIDATION, f"ExternalAudience {audience[:30]!r}")
    state = _STATES[state_text]
    start = end = None
    duration = node.find(t("Duration"))
    if duration is not None:
        start, end = _date(duration.findtext(t("StartTime"))), _date(duration.findtext(t("EndTime")))
    if state == oof.TIME_BASED:
        if start is None or end is None or end <= start:
            raise EWSError("ErrorInvalidParameter", "a scheduled reply needs a StartTime before its EndTime")
    else:
        start = end = None
    internal = _reply_text(node, "InternalReply")
    external = _reply_text(node, "ExternalReply")
    old = current.messages
    if internal is None:
        internal = (old.get(INTERNAL) or oof.OofMessage()).reply
    if external is None:
        external = (old.get(UNKNOWN) or old.get(KNOWN) or oof.OofMessage()).reply
    on = state != oof.DISABLED
    messages = {
        INTERNAL: oof.OofMessage(on, internal, _body_type(internal)),
        KNOWN: oof.OofMessage(on and audience in ("Known", "All"), external, _body_type(external)),
        UNKNOWN: oof.OofMessage(on and audience == "All", external, _body_type(external)),
    }
    return oof.Oof(state, start, end, messages)


@operation("SetUserOofSettingsRequest")
async def set_user_oof_settings(ctx, request):
    try:
        _check_mailbox(ctx, request)
        node = request.find(t("UserOofSettings"))
        if node is None:
            raise EWSError(SCHEMA_VALIDATION, "no UserOofSettings")
        settings = parse_settings(node, await oof.load(ctx.store, ctx.account))
        if not await oof.save(ctx.store, ctx.account, settings):
            raise EWSError("ErrorInvalidOperation", "this server's store keeps no automatic replies")
    except EWSError as e:
        return _single(ctx, "SetUserOofSettings", e.code, e.message)
    await ctx.note(f"SetUserOofSettings: automatic replies {_STATE_NAMES[settings.state].lower()}")
    return _single(ctx, "SetUserOofSettings", "NoError")
