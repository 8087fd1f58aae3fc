"""UpdateItem of a message's content (Subject, Body, recipients, From, ReplyTo,
InReplyTo, References, Importance, Sensitivity, the receipt requests, MimeContent):
the stored RFC 5322 bytes with those fields changed. Pure functions over the bytes and
their structure; ``operations/changes.py`` stores the result in place of the message.

A stored message's bytes never change (an IMAP UID names one content), so a content
update is a new message; it is made from the old one by editing it, not by composing
anew, so every header field and part EWS did not touch -- attachments, inline images,
Message-ID, Date, X- fields -- is kept byte for byte. A field is a header field
rewritten in place (where it was, else before the MIME fields); a Body replaces the
text of the message's text parts (both of a multipart/alternative: the other kind is
made from it) and nothing else.

Clients send every field they hold (exchangelib's ``save()`` without update_fields,
Outlook's full saves), so an edit setting a field to what the message already shows is
dropped before anything is written: saving an unchanged message rewrites nothing.

Which fields a received (not draft) message refuses is Exchange's rule, as exchangelib
models it (``is_read_only_after_send``) and MS-OXWSCDATA documents for
ErrorInvalidPropertyUpdateSentMessage: recipients, From, ReplyTo, the receipt requests
and the MIME content are fixed once a message is not a draft; its Subject, Body,
Importance, Sensitivity, InReplyTo and References can be changed (Outlook's "Edit
Message").
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from typing import Optional

import attrs

from smsync.formats.bodytext import html_to_text, text_part
from smsync.formats.headers import address_field, unstructured_field
from smsync.formats.message import parse_message
from smsync.protocols.ews import attachments, message_fields
from smsync.protocols.ews.errors import INVALID_PROPERTY_SET, MIME_CONTENT_INVALID, SCHEMA_VALIDATION, EWSError
from smsync.protocols.ews.messages import body_of
from smsync.protocols.ews.soap import t, xs_bool

SENT_MESSAGE = "ErrorInvalidPropertyUpdateSentMessage"

_ADDRESS_FIELDS = {"message:ToRecipients": ("ToRecipients", "To"),
                   "message:CcRecipients": ("CcRecipients", "Cc"),
                   "message:BccRecipients": ("BccRecipients", "Bcc"),
                   "message:ReplyTo": ("ReplyTo", "Reply-To"),
                   "message:From": ("From", "From")}
_RECEIPTS = {"message:IsReadReceiptRequested": ("IsReadReceiptRequested", "Disposition-Notification-To"),
             "message:IsDeliveryReceiptRequested": ("IsDeliveryReceiptRequested", "Return-Receipt-To")}
_TEXT_FIELDS = {"item:Subject": "Subject", "item:InReplyTo": "InReplyTo", "message:References": "References",
                "item:Importance": "Importance", "item:Sensitivity": "Sensitivity"}
#: The fields of a message's content this module changes.
CONTENT_URIS = frozenset({*_ADDRESS_FIELDS, *_RECEIPTS, *_TEXT_FIELDS, "item:Body", "item:MimeContent"})
#: Fixed once a message is not a draft.
DRAFT_ONLY = frozenset({*_ADDRESS_FIELDS, *_RECEIPTS, "item:MimeContent"})
_APPENDABLE = frozenset({"item:Body", "message:ToRecipients", "message:CcRecipients",
                         "message:BccRecipients", "message:ReplyTo"})
_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"\\]+@[A-Za-z0-9.-]+")


@attrs.frozen
class Edit:
    """One change of a message's content: ``action`` set, append or delete of ``uri``
    with ``value`` (parsed: text, ``(BodyType, text)``, ``[(name, address)]``, a bool
    or MIME bytes; None for a delete)."""

    uri: str
    action: str
    value: object = None


def mailboxes(node, tag: str) -> list[tuple[str, str]]:
    """``(display name or "", address)`` of the ``<t:Mailbox>``es under ``<t:{tag}>``
    (``ErrorInvalidRecipients`` for an address that is not one)."""
    holder = node.find(t(tag))
    out = []
    if holder is None:
        return out
    for box in holder.iter(t("Mailbox")):
        address = (box.findtext(t("EmailAddress")) or "").strip()
        if not _ADDRESS.fullmatch(address):
            raise EWSError("ErrorInvalidRecipients", f"{address[:80]!r} is not an address")
        name = (box.findtext(t("Name")) or "").replace("\r", " ").replace("\n", " ").strip()
        out.append((name if name != address else "", address))
    return out


def _holder(update):
    for kind in ("Message", "Item"):
        found = update.find(t(kind))
        if found is not None:
            return found
    raise EWSError(SCHEMA_VALIDATION, "a set or append without the message holding the value")


def _parse_value(uri: str, node):
    if uri == "item:Body":
        body = node.find(t("Body"))
        if body is None:
            raise EWSError(SCHEMA_VALIDATION, "no Body")
        kind = body.get("BodyType", "Text")
        if kind not in ("HTML", "Text"):
            raise EWSError(SCHEMA_VALIDATION, f"BodyType {kind[:20]!r}")
        return kind, body.text or ""
    if uri in _ADDRESS_FIELDS:
        tag = _ADDRESS_FIELDS[uri][0]
        found = mailboxes(node, tag)
        if uri == "message:From" and len(found) != 1:
            raise EWSError("ErrorInvalidRecipients", "From names one mailbox")
        return found
    if uri in _RECEIPTS:
        return xs_bool(node.findtext(t(_RECEIPTS[uri][0])))
    if uri == "item:MimeContent":
        try:
            raw = base64.b64decode("".join((node.findtext(t("MimeContent")) or "").split()), validate=True)
        except (binascii.Error, ValueError):
            raise EWSError(MIME_CONTENT_INVALID, "MimeContent is not base64") from None
        if not raw.strip():
            raise EWSError(MIME_CONTENT_INVALID, "empty MimeContent")
        return raw
    value = (node.findtext(t(_TEXT_FIELDS[uri])) or "").replace("\r", " ").replace("\n", " ").strip()
    if uri == "item:Importance" and value not in message_fields.IMPORTANCES:
        raise EWSError(SCHEMA_VALIDATION, f"Importance {value[:20]!r}")
    if uri == "item:Sensitivity" and value not in message_fields.SENSITIVITIES:
        raise EWSError(SCHEMA_VALIDATION, f"Sensitivity {value[:20]!r}")
    if uri in ("item:InReplyTo", "message:References") and not re.fullmatch(r"[ -~]*", value):
        raise EWSError(INVALID_PROPERTY_SET, f"{uri} holds message ids, in ASCII")
    return value


def split(updates) -> tuple[list, list]:
    """``(the other updates, [Edit])`` of a message's ``<t:Updates>``: the content
    changes parsed (``EWSError`` for a malformed value), the rest (flags) left."""
    rest, edits = [], []
    for update in updates:
        if not isinstance(update.tag, str):
            continue
        uri_node = update.find(t("FieldURI"))
        uri = uri_node.get("FieldURI", "") if uri_node is not None else ""
        if uri not in CONTENT_URIS:
            rest.append(update)
            continue
        action = {"SetItemField": "set", "AppendToItemField": "append",
                  "DeleteItemField": "delete"}.get(update.tag.rpartition("}")[2])
        if action is None:
            raise EWSError(SCHEMA_VALIDATION, "not an update")
        if action == "append" and uri not in _APPENDABLE:
            raise EWSError("ErrorInvalidPropertyAppend", f"{uri} cannot be appended to")
        edits.append(Edit(uri, action, None if action == "delete" else _parse_value(uri, _holder(update))))
    return rest, edits


# -- what the message shows now, and what an edit makes of it --------------------------


def _normal_text(value: str) -> str:
    return "\n".join(line.rstrip() for line in value.replace("\r\n", "\n").replace("\r", "\n").split("\n")).strip()


def _address_key(found) -> tuple:
    return tuple((name, address.lower()) for name, address in found)


def _append_html(current: str, more: str) -> str:
    at = current.lower().rfind("</body>")
    return current[:at] + more + current[at:] if at >= 0 else current + more


class _Message:
    """The message being edited: its bytes, structure and header fields, re-read after
    each rewrite."""

    def __init__(self, raw: bytes):
        self.set(raw)

    def set(self, raw: bytes) -> None:
        self.raw = raw
        self.structure = parse_message(raw)
        self.found = message_fields.fields(raw)

    def current(self, uri: str):
        if uri == "item:Subject":
            return self.structure.subject.strip()
        if uri in _ADDRESS_FIELDS:
            return message_fields.addresses(self.found, _ADDRESS_FIELDS[uri][1].lower())
        if uri in _RECEIPTS:
            return _RECEIPTS[uri][1].lower() in self.found
        if uri == "item:Importance":
            return message_fields.importance(self.found)
        if uri == "item:Sensitivity":
            return message_fields.sensitivity(self.found)
        if uri == "item:InReplyTo":
            return (self.found.get("in-reply-to") or "").strip()
        if uri == "message:References":
            return message_fields.references(self.found)
        raise AssertionError(uri)

    def body(self, kind: str) -> str:
        return body_of(self.structure, self.raw, kind)[1]


def _target(msg: _Message, edit: Edit, account: str):
    """The value ``edit`` gives its field (for a body, ``(kind, text)``)."""
    if edit.uri == "item:Body":
        if edit.action == "delete":
            return body_of(msg.structure, msg.raw, "Best")[0], ""
        kind, more = edit.value
        if edit.action == "append":
            current = msg.body(kind)
            return kind, (_append_html(current, more) if kind == "HTML" else current + more)
        return kind, more
    if edit.action == "delete":
        if edit.uri == "message:From":
            return [("", account)]  # a message is from someone: the account, as composed
        return {"item:Importance": "Normal", "item:Sensitivity": "Normal"}.get(
            edit.uri, False if edit.uri in _RECEIPTS else [] if edit.uri in _ADDRESS_FIELDS else "")
    if edit.action == "append":
        return msg.current(edit.uri) + list(edit.value)
    return edit.value


def _unchanged(msg: _Message, edit: Edit, value) -> bool:
    if edit.uri == "item:Body":
        kind, wanted = value
        wanted = _normal_text(wanted)
        # A client sends back the body it was given (Best: the HTML when there is one).
        return wanted == _normal_text(msg.body(kind)) or (
            (kind, wanted) == (lambda b: (b[0], _normal_text(b[1])))(body_of(msg.structure, msg.raw, "Best")))
    current = msg.current(edit.uri)
    if edit.uri in _ADDRESS_FIELDS:
        return _address_key(current) == _address_key(value)
    if edit.uri == "message:References":
        return current == " ".join(value.split())
    return current == value


# -- rewriting -------------------------------------------------------------------------


def _field_name(field: bytes) -> bytes:
    return field.split(b":", 1)[0].strip().lower()


def _fix_eol(field: bytes, eol: bytes) -> bytes:
    return field if eol == b"\r\n" else field.replace(b"\r\n", eol)


def _set_fields(raw: bytes, changes: list) -> bytes:
    """``raw`` with, for each ``(field name, [new field lines])``, every field of that
    name replaced by the new ones (where the first was, else before the MIME fields)."""
    eol = attachments._eol(raw)
    end = parse_message(raw).root.header_end
    head, body = raw[:end], raw[end:]
    fields = attachments._header_fields(head.rstrip(b"\r\n"), eol)
    for name, lines in changes:
        key = name.lower().encode("ascii")
        at = next((n for n, f in enumerate(fields) if _field_name(f) == key), None)
        fields = [f for f in fields if _field_name(f) != key]
        if at is None:
            at = next((n for n, f in enumerate(fields)
                       if _field_name(f) == b"mime-version" or _field_name(f).startswith(b"content-")),
                      len(fields))
        fields[at:at] = [_fix_eol(line, eol) for line in lines]
    return eol.join(fields) + eol + eol + body


def _header_changes(edit: Edit, value, sender: list) -> list:
    """``[(field name, [field lines])]`` writing ``value`` of a header-only field."""
    if edit.uri == "item:Subject":
        return [("Subject", [unstructured_field("Subject", value)] if value else [])]
    if edit.uri in _ADDRESS_FIELDS:
        name = _ADDRESS_FIELDS[edit.uri][1]
        return [(name, [address_field(name, value)] if value else [])]
    if edit.uri in _RECEIPTS:
        name = _RECEIPTS[edit.uri][1]
        return [(name, [address_field(name, sender)] if value and sender else [])]
    if edit.uri == "item:Importance":
        lines = {"High": (b"Importance: high", b"X-Priority: 1 (Highest)"),
                 "Low": (b"Importance: low", b"X-Priority: 5 (Lowest)")}.get(value)
        return [("Importance", [lines[0]] if lines else []), ("X-Priority", [lines[1]] if lines else []),
                ("Priority", [])]
    if edit.uri == "item:Sensitivity":
        header = message_fields.SENSITIVITIES[value]
        return [("Sensitivity", [f"Sensitivity: {header}".encode("ascii")] if header else [])]
    name = "In-Reply-To" if edit.uri == "item:InReplyTo" else "References"
    return [(name, [unstructured_field(name, value)] if value else [])]


def _text_body(subtype: str, text: str, eol: bytes) -> tuple[list, bytes]:
    fields = [f"Content-Type: text/{subtype}; charset=utf-8".encode("ascii"), b"Content-Transfer-Encoding: base64"]
    encoded = base64.encodebytes(text.encode("utf-8")).replace(b"\n", eol).rstrip(b"\r\n")
    return fields, encoded


def _replace_leaf(raw: bytes, part, is_root: bool, subtype: str, text: str) -> bytes:
    """``raw`` with text ``part``'s content made ``text`` of ``text/{subtype}``; the
    part's other header fields (Content-ID, a disposition) are kept."""
    eol = attachments._eol(raw)
    head = raw[part.header_start:part.header_end].rstrip(b"\r\n")
    fields = attachments._header_fields(head, eol) if head.strip() else []
    new, body = _text_body(subtype, text, eol)
    kept = [f for f in fields if _field_name(f) not in (b"content-type", b"content-transfer-encoding")]
    at = next((n for n, f in enumerate(fields) if _field_name(f) == b"content-type"), None)
    if at is None:
        at = len(kept)
    else:
        at = len([f for f in fields[:at] if f in kept])
    if is_root and not any(_field_name(f) == b"mime-version" for f in kept):
        new = [b"MIME-Version: 1.0"] + new
    kept[at:at] = new
    tail = raw[part.body_end:]
    if is_root and not tail:
        tail = eol
    return raw[:part.header_start] + eol.join(kept) + eol + eol + body + tail


def _insert_body(raw: bytes, subtype: str, text: str) -> bytes:
    """``raw``, which has no text body, with one as its first part (a message that is
    not multipart is made multipart/mixed first, its content the second part)."""
    structure = parse_message(raw)
    if not structure.root.children:
        raw = attachments.add_parts(raw, structure, [])
        structure = parse_message(raw)
    root = structure.root
    eol = attachments._eol(raw)
    fields, body = _text_body(subtype, text, eol)
    first = root.children[0]
    delimiter = b"--" + (root.param("boundary") or "").encode("latin-1")
    return raw[:first.header_start] + eol.join(fields) + eol + eol + body + eol + delimiter + eol + raw[first.header_start:]


def _html_of_text(text: str) -> str:
    return "<html><body><pre>" + html.escape(text) + "</pre></body></html>"


def set_body(raw: bytes, kind: str, text: str) -> bytes:
    """``raw`` with its body ``text`` of ``kind`` (HTML or Text): the text parts EWS
    shows as the body get it (a multipart/alternative's other kind made from it); a
    message without one gets a first part."""
    structure = parse_message(raw)
    root = structure.root
    plain, rich = text_part(root), text_part(root, html=True)
    edits = []
    if kind == "HTML":
        if rich is not None:
            edits.append((rich, "html", text))
        if plain is not None:
            edits.append((plain, "plain", html_to_text(text)) if rich is not None else (plain, "html", text))
    else:
        if plain is not None:
            edits.append((plain, "plain", text))
        if rich is not None:
            edits.append((rich, "html", _html_of_text(text)) if plain is not None else (rich, "plain", text))
    if not edits:
        return _insert_body(raw, "html" if kind == "HTML" else "plain", text)
    # Last first: a rewrite never moves the parts before it.
    for part, subtype, content in sorted(edits, key=lambda e: -e[0].header_start):
        raw = _replace_leaf(raw, part, part is root, subtype, content)
    return raw


def rewrite(raw: bytes, edits: list, account: str, is_draft: bool) -> Optional[bytes]:
    """The bytes of message ``raw`` with ``edits`` made; None when they change nothing
    it shows. ``ErrorInvalidPropertyUpdateSentMessage`` for a change of a field fixed
    once a message is not a draft (``is_draft`` False)."""
    msg = _Message(raw)
    changed = False
    for edit in edits:
        if edit.uri == "item:MimeContent":
            if edit.action == "delete" or edit.value == msg.raw:
                continue  # a client saving every field deletes the MIME content it lacks
            if not is_draft:
                raise EWSError(SENT_MESSAGE, "the MIME content of a message that is not a draft is fixed")
            msg.set(edit.value)
            changed = True
            continue
        value = _target(msg, edit, account)
        if _unchanged(msg, edit, value):
            continue
        if not is_draft and edit.uri in DRAFT_ONLY:
            raise EWSError(SENT_MESSAGE, f"{edit.uri} of a message that is not a draft cannot be changed")
        if edit.uri == "item:Body":
            msg.set(set_body(msg.raw, *value))
        else:
            sender = message_fields.addresses(msg.found, "from")[:1] or [("", account)]
            msg.set(_set_fields(msg.raw, _header_changes(edit, value, sender)))
        changed = True
    return msg.raw if changed and msg.raw != raw else None


#: The fields of a ``<t:Message>`` CreateItem composes (``changes.compose``) from its
#: header and body, which are written by the same edits as UpdateItem's.
_CREATE_FIELDS = {"Importance": "item:Importance", "Sensitivity": "item:Sensitivity",
                  "InReplyTo": "item:InReplyTo", "References": "message:References",
                  "ReplyTo": "message:ReplyTo", "IsReadReceiptRequested": "message:IsReadReceiptRequested",
                  "IsDeliveryReceiptRequested": "message:IsDeliveryReceiptRequested"}


def with_item_fields(raw: bytes, node, account: str) -> bytes:
    """``raw`` (composed from a CreateItem's ``<t:Message>``) with the header-only
    fields that message gives (Importance, Sensitivity, ReplyTo, InReplyTo, References,
    the receipt requests)."""
    edits = [Edit(uri, "set", _parse_value(uri, node))
             for tag, uri in _CREATE_FIELDS.items() if node.find(t(tag)) is not None]
    return (rewrite(raw, edits, account, True) if edits else None) or raw
