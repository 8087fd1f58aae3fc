"""The EWS message fields that live only in a message's header -- Importance,
Sensitivity, the receipt requests, ReplyTo and References -- read from the stored bytes.

Importance is the ``Importance`` field (RFC 2156; what Exchange writes), else
``X-Priority`` (1-2 High, 4-5 Low), else ``Priority`` (urgent, non-urgent);
Sensitivity the ``Sensitivity`` field (RFC 2156: Personal, Private,
Company-Confidential); IsReadReceiptRequested a ``Disposition-Notification-To``
(RFC 8098), IsDeliveryReceiptRequested a ``Return-Receipt-To``. Without the bytes (a
FindItem that asked for no body) a message shows Normal and no receipts, as before.
``drafts`` writes the same fields when UpdateItem changes them.
"""

from __future__ import annotations

from typing import Optional

from lxml import etree

from smsync.formats.addresses import parse_addresses
from smsync.formats.headers import decode_words
from smsync.formats.message import header_fields
from smsync.protocols.ews.soap import t, text

IMPORTANCES = ("Low", "Normal", "High")
SENSITIVITIES = {"Normal": None, "Personal": "Personal", "Private": "Private",
                 "Confidential": "Company-Confidential"}


def fields(raw: Optional[bytes]) -> dict:
    """``lower-case name -> unfolded value`` of the first of each top header field."""
    found: dict = {}
    if raw:
        for name, value in header_fields(raw):
            found.setdefault(name, value)
    return found


def importance(found: dict) -> str:
    value = (found.get("importance") or "").strip().lower()
    if value in ("high", "low", "normal"):
        return value.capitalize()
    priority = (found.get("x-priority") or "").strip()[:1]
    if priority in ("1", "2"):
        return "High"
    if priority in ("4", "5"):
        return "Low"
    value = (found.get("priority") or "").strip().lower()
    return {"urgent": "High", "non-urgent": "Low"}.get(value, "Normal")


def sensitivity(found: dict) -> str:
    value = (found.get("sensitivity") or "").strip().lower()
    for ews, header in SENSITIVITIES.items():
        if header is not None and header.lower() == value:
            return ews
    return "Normal"


def addresses(found: dict, name: str) -> list[tuple[str, str]]:
    """``(display name or "", address)`` of an address field (groups flattened)."""
    out = []
    for address in parse_addresses(found.get(name)):
        if address.mailbox is None or address.host is None:
            continue
        email = f"{address.mailbox}@{address.host}"
        display = decode_words(address.name) if address.name else ""
        out.append((display if display != email else "", email))
    return out


def references(found: dict) -> str:
    return " ".join((found.get("references") or "").split())


def _mailbox(parent, name: str, address: str) -> None:
    node = etree.SubElement(parent, t("Mailbox"))
    etree.SubElement(node, t("Name")).text = text(name or address)
    etree.SubElement(node, t("EmailAddress")).text = text(address)
    etree.SubElement(node, t("RoutingType")).text = "SMTP"
    etree.SubElement(node, t("MailboxType")).text = "OneOff"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def render(node, raw: Optional[bytes], wants) -> None:
    """Fill a rendered ``<t:Message>`` with the header-only fields ``wants(uri)`` asks
    for, in schema order: Importance and Sensitivity replace the Normal written without
    the bytes; the receipt requests go before From, References and ReplyTo after
    IsRead."""
    if raw is None:
        return
    found = fields(raw)
    for tag, value in (("Importance", importance(found)), ("Sensitivity", sensitivity(found))):
        element = node.find(t(tag))
        if element is not None:
            element.text = value
    # Schema order (MS-OXWSCORE MessageType): ... IsReadReceiptRequested,
    # IsDeliveryReceiptRequested, ConversationIndex, ConversationTopic, From,
    # InternetMessageId, IsRead, IsResponseRequested, References, ReplyTo.
    before = next((node.find(t(tag)) for tag in ("ConversationIndex", "ConversationTopic", "From",
                                                   "InternetMessageId", "IsRead")
                   if node.find(t(tag)) is not None), None)
    for uri, tag, header in (("message:IsReadReceiptRequested", "IsReadReceiptRequested",
                              "disposition-notification-to"),
                             ("message:IsDeliveryReceiptRequested", "IsDeliveryReceiptRequested",
                              "return-receipt-to")):
        if wants(uri):
            element = etree.Element(t(tag))
            element.text = _bool(header in found)
            if before is not None:
                before.addprevious(element)
            else:
                node.append(element)
    if found.get("references") and wants("message:References"):
        etree.SubElement(node, t("References")).text = text(references(found))
    reply_to = addresses(found, "reply-to")
    if reply_to and wants("message:ReplyTo"):
        holder = etree.SubElement(node, t("ReplyTo"))
        for name, address in reply_to:
            _mailbox(holder, name, address)
