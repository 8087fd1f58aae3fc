"""GetInboxRules (MS-OXWSRULES): this server runs no server-side rules, so the list
is empty -- answered properly, so that clients that ask (Outlook, exchangelib) go on.
UpdateInboxRules is refused with the code Exchange gives for rules it cannot keep."""

from __future__ import annotations

from lxml import etree

from smsync.protocols.ews.errors import ACCESS_DENIED, EWSError
from smsync.protocols.ews.operations import operation
from smsync.protocols.ews.soap import m


def _answer(name: str, code: str = "NoError", message: str = ""):
    root = etree.Element(m(f"{name}Response"), ResponseClass="Success" if code == "NoError" else "Error")
    if code != "NoError":
        etree.SubElement(root, m("MessageText")).text = message
    etree.SubElement(root, m("ResponseCode")).text = code
    return root


@operation("GetInboxRules")
async def get_inbox_rules(ctx, request):
    address = (request.findtext(m("MailboxSmtpAddress")) or "").strip()
    if address and address.lower() != ctx.account:
        error = EWSError(ACCESS_DENIED, f"{ctx.account} may not read the rules of {address[:100]}")
        ctx.log(f"GetInboxRules: {error.code}: {error.message}")
        return _answer("GetInboxRules", error.code, error.message)
    root = _answer("GetInboxRules")
    etree.SubElement(root, m("OutlookRuleBlobExists")).text = "false"
    etree.SubElement(root, m("InboxRules"))
    return root


@operation("UpdateInboxRules")
async def update_inbox_rules(ctx, request):
    ctx.log("UpdateInboxRules: ErrorInboxRulesValidationError: server-side rules are not kept")
    return _answer("UpdateInboxRules", "ErrorInboxRulesValidationError",
                   "this server keeps no server-side rules")
