"""Settings (MS-ASCMD 2.2.1.18): the account's out-of-office replies (Oof Get/Set, kept
per account by ``oof``), the device's own description (DeviceInformation Set, kept in
its state), the account's addresses (UserInformation Get), and the two parts this
server has nothing for (DevicePassword Set, acknowledged and not kept;
RightsManagementInformation Get, no templates).

Each part of the request gets its own Status; a part the server does not know is
answered with the protocol-error status and the rest still served.
"""

from __future__ import annotations

import html
import re

from smsync.edge import oof
from smsync.interfaces import MAX_SETTING
from smsync.protocols.eas import state
from smsync.protocols.eas.commands import CommandError, command
from smsync.protocols.eas.convert import ConversionError, eas_date, parse_eas_date
from smsync.protocols.eas.wbxml import Element

SET = "Settings:"
RM = "RightsManagement:"

#: Settings Status values (MS-ASCMD 2.2.3.177.15).
OK, PROTOCOL_ERROR, INVALID_ARGUMENTS, CONFLICTING_ARGUMENTS = "1", "2", "5", "6"

#: Where a device's DeviceInformation is kept, in its state.
DEVICE_INFO_KEY = "eas:device-info"
#: The DeviceInformation fields kept (each cut to 200 characters).
DEVICE_FIELDS = ("Model", "IMEI", "FriendlyName", "OS", "OSLanguage", "PhoneNumber",
                 "UserAgent", "EnableOutboundSMS", "MobileOperator")


def _e(tag: str, text=None, *children) -> Element:
    return Element(SET, tag, children, text)


def _status(tag: str, status: str, *rest) -> Element:
    return _e(tag, None, _e("Status", status), *rest)


# -- Oof --------------------------------------------------------------------------------


def _as_type(text: str, stored: str, wanted: str) -> str:
    """``text`` kept as ``stored`` ("Text"/"HTML") given as ``wanted``."""
    if stored == wanted:
        return text
    if wanted == "HTML":
        return "<html><body>" + html.escape(text).replace("\n", "<br>") + "</body></html>"
    text = re.sub(r"(?i)<br\s*/?>|</p>", "\n", text)
    return html.unescape(re.sub(r"<[^>]*>", "", text)).strip()


async def _oof_get(ctx, get: Element) -> Element:
    wanted_el = get.find(SET, "BodyType")
    wanted = "HTML" if wanted_el is not None and (wanted_el.text or "").upper() == "HTML" else "Text"
    current = await oof.load(ctx.store, ctx.account)
    out = [_e("OofState", str(current.state))]
    if current.state == oof.TIME_BASED and current.start and current.end:
        out += [_e("StartTime", eas_date(current.start)), _e("EndTime", eas_date(current.end))]
    for audience in oof.AUDIENCES:
        message = current.messages.get(audience, oof.OofMessage())
        parts = [_e(audience), _e("Enabled", "1" if message.enabled else "0")]
        if message.reply:
            parts.append(_e("ReplyMessage", _as_type(message.reply, message.body_type, wanted)))
        parts.append(_e("BodyType", wanted))
        out.append(_e("OofMessage", None, *parts))
    ctx.log(f"Settings: Oof read (state {current.state})")
    return _status("Oof", OK, _e("Get", None, *out))


def _oof_set_value(current: oof.Oof, set_: Element) -> oof.Oof:
    """``current`` changed as a Set asks. Raises ``ValueError`` with the Status to answer
    as its second argument."""
    state_el = set_.find(SET, "OofState")
    new_state = current.state
    if state_el is not None:
        if state_el.text not in ("0", "1", "2"):
            raise ValueError("OofState is 0, 1 or 2", INVALID_ARGUMENTS)
        new_state = int(state_el.text)
    start, end = current.start, current.end
    start_el, end_el = set_.find(SET, "StartTime"), set_.find(SET, "EndTime")
    try:
        if start_el is not None:
            start = parse_eas_date(start_el.text)
        if end_el is not None:
            end = parse_eas_date(end_el.text)
    except ConversionError as e:
        raise ValueError(str(e), INVALID_ARGUMENTS) from None
    if new_state == oof.TIME_BASED:
        if start is None or end is None:
            raise ValueError("a time-based reply needs StartTime and EndTime", INVALID_ARGUMENTS)
        if end <= start:
            raise ValueError("EndTime is not after StartTime", CONFLICTING_ARGUMENTS)
    messages = dict(current.messages)
    for message in (c for c in set_.children if c.tag == "OofMessage"):
        audiences = [a for a in oof.AUDIENCES if message.find(SET, a) is not None]
        if len(audiences) != 1:
            raise ValueError("an OofMessage names one audience", INVALID_ARGUMENTS)
        old = messages.get(audiences[0], oof.OofMessage())
        enabled_el = message.find(SET, "Enabled")
        reply_el = message.find(SET, "ReplyMessage")
        type_el = message.find(SET, "BodyType")
        body_type = old.body_type
        if type_el is not None:
            if (type_el.text or "").upper() not in ("TEXT", "HTML"):
                raise ValueError("BodyType is Text or HTML", INVALID_ARGUMENTS)
            body_type = "HTML" if type_el.text.upper() == "HTML" else "Text"
        messages[audiences[0]] = oof.OofMessage(
            enabled=(enabled_el.text == "1") if enabled_el is not None else old.enabled,
            reply=(reply_el.text or "")[:16000] if reply_el is not None else old.reply,
            body_type=body_type)
    return oof.Oof(new_state, start, end, messages)


async def _oof_set(ctx, set_: Element) -> Element:
    current = await oof.load(ctx.store, ctx.account)
    try:
        changed = _oof_set_value(current, set_)
    except ValueError as e:
        ctx.log(f"Settings: Oof not set: {e.args[0]}")
        return _status("Oof", e.args[1])
    if len(changed.to_bytes()) > MAX_SETTING:
        ctx.log("Settings: Oof not set: the replies are too long")
        return _status("Oof", INVALID_ARGUMENTS)
    if not await oof.save(ctx.store, ctx.account, changed):
        ctx.log("Settings: Oof not set: this store keeps no account settings")
        return _status("Oof", PROTOCOL_ERROR)
    ctx.log(f"Settings: Oof set (state {changed.state})")
    return _status("Oof", OK)


async def _oof(ctx, element: Element) -> Element:
    get, set_ = element.find(SET, "Get"), element.find(SET, "Set")
    if get is not None:
        return await _oof_get(ctx, get)
    if set_ is not None:
        return await _oof_set(ctx, set_)
    return _status("Oof", PROTOCOL_ERROR)


# -- the others -----------------------------------------------------------------------------


async def _device_information(ctx, element: Element) -> Element:
    set_ = element.find(SET, "Set")
    if set_ is None:
        return _status("DeviceInformation", PROTOCOL_ERROR)
    await save_device_information(ctx, element)
    return _status("DeviceInformation", OK)


async def save_device_information(ctx, info: Element) -> dict:
    """Keep what a ``Settings:DeviceInformation`` says in the device's state (under
    ``DEVICE_INFO_KEY``, the fields of ``DEVICE_FIELDS``) and log it in one line.
    Fires with the fields kept."""
    set_ = info.find(SET, "Set")
    fields = {c.tag: c.text[:200] for c in (set_.children if set_ is not None else ())
              if c.namespace == SET and c.tag in DEVICE_FIELDS and c.text}
    await ctx.note_device_information(info)
    if fields:
        await state.save(ctx, DEVICE_INFO_KEY, fields)
    return fields


def _user_information(ctx, element: Element) -> Element:
    if element.find(SET, "Get") is None:
        return _status("UserInformation", PROTOCOL_ERROR)
    if ctx.version in ("14.1", "16.0", "16.1"):
        addresses = _e("EmailAddresses", None, _e("SmtpAddress", ctx.account),
                       _e("PrimarySmtpAddress", ctx.account))
        get = _e("Get", None, _e("Accounts", None, _e("Account", None,
                 _e("UserDisplayName", ctx.account.partition("@")[0]), addresses)))
    else:
        get = _e("Get", None, _e("EmailAddresses", None, _e("SmtpAddress", ctx.account)))
    return _status("UserInformation", OK, get)


def _rights_management(element: Element) -> Element:
    if element.find(SET, "Get") is None:
        return _status("RightsManagementInformation", PROTOCOL_ERROR)
    return _status("RightsManagementInformation", OK,
                   _e("Get", None, Element(RM, "RightsManagementTemplates")))


def _device_password(element: Element) -> Element:
    # Recovery passwords are not kept: the request is acknowledged so the device goes on.
    if element.find(SET, "Set") is None:
        return _status("DevicePassword", PROTOCOL_ERROR)
    return _status("DevicePassword", OK)


@command("Settings", SET)
async def settings(ctx, body):
    if body is None or (body.namespace, body.tag) != (SET, "Settings"):
        raise CommandError(400, "Settings needs a Settings body")
    out = []
    for part in body.children:
        if part.namespace != SET:
            continue
        if part.tag == "Oof":
            out.append(await _oof(ctx, part))
        elif part.tag == "DeviceInformation":
            out.append(await _device_information(ctx, part))
        elif part.tag == "UserInformation":
            out.append(_user_information(ctx, part))
        elif part.tag == "RightsManagementInformation":
            out.append(_rights_management(part))
        elif part.tag == "DevicePassword":
            out.append(_device_password(part))
        else:
            ctx.log(f"Settings: {part.tag} is not a setting")
            return _e("Settings", None, _e("Status", PROTOCOL_ERROR))
    return _e("Settings", None, _e("Status", OK), *out)
