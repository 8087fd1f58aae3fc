"""Stored messages as EWS ``<t:Message>`` items, converted at the edge.

Everything comes from what the store keeps: the message's metadata (flags, dates,
size, MODSEQ), its parsed structure (envelope, subject, parts) and, only when a body or
the MIME content is asked for, its RFC 5322 bytes. Flags map to EWS properties:
``\\Seen`` is IsRead, ``\\Draft`` IsDraft, ``\\Flagged`` a Flag of status Flagged,
keywords are Categories; the extended properties that are flags too
(``extended_flags``).
"""

from __future__ import annotations

import base64
import html
from datetime import datetime, timezone
from typing import Optional

from lxml import etree

from smsync.formats.bodytext import decode_body, html_to_text, text_part
from smsync.formats.headers import decode_words
from smsync.model import SYSTEM_FLAGS, MessageInfo
from smsync.protocols.ews import attachments, extended_flags, ids, message_fields
from smsync.protocols.ews.extended import render
from smsync.protocols.ews.shapes import Shape
from smsync.protocols.ews.soap import t, text

SEEN, DRAFT, FLAGGED, ANSWERED = "\\Seen", "\\Draft", "\\Flagged", "\\Answered"

#: FieldURIs in the Default shape of a message (FindItem and GetItem alike), beside the
#: ItemId that is always there.
DEFAULT_FIELDS = frozenset({
    "item:ParentFolderId", "item:ItemClass", "item:Subject", "item:Sensitivity",
    "item:DateTimeReceived", "item:Size", "item:Importance", "item:IsDraft",
    "item:DateTimeSent", "item:DateTimeCreated", "item:HasAttachments", "message:From",
    "message:IsRead", "message:Sender", "message:ToRecipients", "message:CcRecipients",
})
#: Fields only GetItem gives in its Default shape.
GETITEM_DEFAULT = frozenset({"item:Body", "item:Attachments"})


def ews_date(value: Optional[datetime]) -> Optional[str]:
    """``value`` as EWS dateTime text (UTC, seconds, ``Z``)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _mailbox(parent, tag: str, address) -> None:
    email = address.email
    if email is None:
        return
    node = etree.SubElement(parent, t(tag))
    name = decode_words(address.name) if address.name else email
    etree.SubElement(node, t("Name")).text = text(name)
    etree.SubElement(node, t("EmailAddress")).text = text(email)
    etree.SubElement(node, t("RoutingType")).text = "SMTP"
    etree.SubElement(node, t("MailboxType")).text = "OneOff"


def _single(node, tag: str, addresses) -> None:
    real = [a for a in addresses if a.email is not None]
    if real:
        holder = etree.SubElement(node, t(tag))
        _mailbox(holder, "Mailbox", real[0])


def _list(node, tag: str, addresses) -> None:
    real = [a for a in addresses if a.email is not None]
    if real:
        holder = etree.SubElement(node, t(tag))
        for address in real:
            _mailbox(holder, "Mailbox", address)


def keywords(flags) -> list[str]:
    return sorted(f for f in flags if f not in SYSTEM_FLAGS and not f.startswith("\\"))


def body_of(structure, raw: bytes, body_type: str) -> tuple[str, str]:
    """``(BodyType, text)`` of a message for ``body_type`` (Best, HTML, Text)."""
    plain = text_part(structure.root)
    rich = text_part(structure.root, html=True)

    def part_text(part) -> str:
        return decode_body(raw[part.body_start:part.body_end], part)

    if body_type in ("HTML", "Best") and rich is not None:
        return "HTML", part_text(rich)
    if plain is not None:
        content = part_text(plain)
        if body_type == "HTML":
            return "HTML", "<html><body><pre>" + html.escape(content) + "</pre></body></html>"
        return "Text", content
    if rich is not None:
        return "Text", html_to_text(part_text(rich))
    return ("HTML" if body_type == "HTML" else "Text"), ""


def message_element(account: str, folder_source: str, info: MessageInfo, structure,
                    shape: Shape, raw: Optional[bytes] = None, get_item: bool = False, meeting=None):
    """The ``<t:Message>`` of one stored message in ``shape``. ``raw`` (the stored
    bytes) is needed for the body and the MIME content only. ``meeting`` (a
    ``meeting_items.Meeting``) makes it the meeting request, cancellation or response
    it is."""
    defaults = DEFAULT_FIELDS | (GETITEM_DEFAULT if get_item else frozenset())

    def wants(uri: str) -> bool:
        return shape.wants(uri, uri in defaults)

    ref = ids.ItemRef(account, ids.MESSAGE, folder_source, str(info.uid))
    node = etree.Element(t("Message"))
    if raw is not None and (shape.mime or "item:MimeContent" in shape.fields):
        mime = etree.SubElement(node, t("MimeContent"), CharacterSet="UTF-8")
        mime.text = base64.b64encode(raw).decode("ascii")
    etree.SubElement(node, t("ItemId"), Id=ids.item_id(ref), ChangeKey=ids.change_key(info.modseq))
    if wants("item:ParentFolderId"):
        etree.SubElement(node, t("ParentFolderId"),
                         Id=ids.folder_id(ids.FolderRef(account, ids.MAIL_FOLDER, folder_source)))
    if wants("item:ItemClass"):
        etree.SubElement(node, t("ItemClass")).text = "IPM.Note"
    if wants("item:Subject"):
        etree.SubElement(node, t("Subject")).text = text(structure.subject or "")
    if wants("item:Sensitivity"):
        etree.SubElement(node, t("Sensitivity")).text = "Normal"
    if raw is not None and wants("item:Body"):
        kind, content = body_of(structure, raw, shape.body_type)
        body = etree.SubElement(node, t("Body"), BodyType=kind)
        body.text = text(content)
    if raw is not None and wants("item:TextBody"):
        _kind, content = body_of(structure, raw, "Text")
        etree.SubElement(node, t("TextBody"), BodyType="Text").text = text(content)
    if structure.has_attachments and wants("item:Attachments"):
        listed = attachments.listing(ref, structure.root)
        if listed is not None:
            node.append(listed)
    if wants("item:DateTimeReceived"):
        etree.SubElement(node, t("DateTimeReceived")).text = ews_date(info.internal_date)
    if wants("item:Size"):
        etree.SubElement(node, t("Size")).text = str(info.size)
    categories = keywords(info.flags)
    if categories and wants("item:Categories"):
        holder = etree.SubElement(node, t("Categories"))
        for keyword in categories:
            etree.SubElement(holder, t("String")).text = text(keyword)
    if wants("item:Importance"):
        etree.SubElement(node, t("Importance")).text = "Normal"
    if structure.in_reply_to and wants("item:InReplyTo"):
        etree.SubElement(node, t("InReplyTo")).text = text(structure.in_reply_to)
    if wants("item:IsDraft"):
        etree.SubElement(node, t("IsDraft")).text = _bool(DRAFT in info.flags)
    if wants("item:DateTimeSent"):
        etree.SubElement(node, t("DateTimeSent")).text = ews_date(structure.date or info.internal_date)
    if wants("item:DateTimeCreated"):
        etree.SubElement(node, t("DateTimeCreated")).text = ews_date(info.saved_date)
    if wants("item:HasAttachments"):
        etree.SubElement(node, t("HasAttachments")).text = _bool(structure.has_attachments)
    if wants("item:LastModifiedTime"):
        etree.SubElement(node, t("LastModifiedTime")).text = ews_date(info.saved_date)
    if wants("item:Flag"):
        flag = etree.SubElement(node, t("Flag"))
        etree.SubElement(flag, t("FlagStatus")).text = "Flagged" if FLAGGED in info.flags else "NotFlagged"
    envelope = structure.envelope
    if wants("message:Sender"):
        _single(node, "Sender", envelope.sender)
    if wants("message:ToRecipients"):
        _list(node, "ToRecipients", envelope.to)
    if wants("message:CcRecipients"):
        _list(node, "CcRecipients", envelope.cc)
    if wants("message:BccRecipients"):
        _list(node, "BccRecipients", envelope.bcc)
    if wants("message:From"):
        _single(node, "From", envelope.from_)
    if structure.message_id and wants("message:InternetMessageId"):
        etree.SubElement(node, t("InternetMessageId")).text = text(structure.message_id)
    if wants("message:IsRead"):
        etree.SubElement(node, t("IsRead")).text = _bool(SEEN in info.flags)
    message_fields.render(node, raw, wants)  # ews-drafts: header-only fields
    if shape.extended:
        render(node, extended_flags.props_of(info.flags, structure.has_attachments), shape)
    if meeting is not None:
        meeting.dress(node, shape)  # its tag, ItemClass and meeting fields (meeting_items)
    return node


def _bool(value: bool) -> str:
    return "true" if value else "false"
