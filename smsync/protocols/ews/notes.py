"""EWS notes (Outlook's sticky notes: ``<t:Message>`` items of class IPM.StickyNote in
the Notes folder) <-> the iCalendar VJOURNAL CalDAV, SyncML and EAS keep for a note.

Subject is SUMMARY, Body DESCRIPTION (several DESCRIPTIONs, which RFC 5545 allows,
read as one text), Categories CATEGORIES, DateTimeCreated CREATED (else DTSTAMP),
LastModifiedTime LAST-MODIFIED (else DTSTAMP). An update rewrites only the properties
of the fields it sets or deletes, so what EWS has no field for -- DTSTART, ATTACH, X-
properties, an EAS message class -- survives an EWS edit. The operations' parts for
notes are here (``create_note``, ``update_note``) so the generic handlers only ask.
"""

from __future__ import annotations

import html
import re
import uuid
from datetime import datetime, timezone
from typing import Optional

from lxml import etree

from smsync.formats.contentlines import Component, Property, parse_components, serialize, text_list, unescape_text
from smsync.model import CollectionKind
from smsync.protocols.ews import ids, item_writes, items, tree
from smsync.protocols.ews.contacts import escape_text
from smsync.protocols.ews.errors import (
    INVALID_PROPERTY_SET,
    SCHEMA_VALIDATION,
    EWSError,
)
from smsync.protocols.ews.shapes import Shape
from smsync.protocols.ews.item_elements import item_element
from smsync.protocols.ews.soap import t, text
from smsync.protocols.ews.tasks import ews_time

STICKY_NOTE = "IPM.StickyNote"
#: FieldURIs in the Default shape of a note (FindItem and GetItem; GetItem adds Body).
DEFAULT_FIELDS = frozenset({"item:ParentFolderId", "item:ItemClass", "item:Subject",
                            "item:DateTimeCreated", "item:Size", "item:Categories",
                            "item:Importance", "item:Sensitivity"})
#: FieldURIs an update may set or delete, and the field each is.
_FIELDS = {"item:Subject": "Subject", "item:Body": "Body", "item:Categories": "Categories"}
#: Fields clients send with a note that have no place in a VJOURNAL: taken and dropped.
_IGNORED = {"item:ItemClass", "message:IsRead", "item:Importance", "item:Sensitivity"}


def load(content: bytes) -> Component:
    """The stored VCALENDAR holding a VJOURNAL (``ErrorItemCorrupt`` otherwise)."""
    calendars = [c for c in parse_components(content) if c.name == "VCALENDAR"]
    if not calendars or not any(c.name == "VJOURNAL" for c in calendars[0].components):
        raise EWSError("ErrorItemCorrupt", "the stored item is not a note")
    return calendars[0]


def journal_of(calendar: Component) -> Component:
    journals = [c for c in calendar.components if c.name == "VJOURNAL"]
    return next((c for c in journals if c.get("RECURRENCE-ID") is None), journals[0])


def _utc(prop: Optional[Property], calendar: Component) -> Optional[str]:
    return None if prop is None else ews_time(prop, calendar)


def fields_of(calendar: Component) -> dict:
    """The EWS fields a stored note holds: Subject, Body, Categories (a list), Created
    and Modified (EWS dateTime text)."""
    journal = journal_of(calendar)
    out: dict = {}
    summary = journal.value("SUMMARY")
    if summary:
        out["Subject"] = unescape_text(summary)
    bodies = [unescape_text(p.value) for p in journal.get_all("DESCRIPTION") if p.value]
    if bodies:
        out["Body"] = "\n\n".join(bodies)
    categories = text_list(journal.get_all("CATEGORIES"))
    if categories:
        out["Categories"] = categories
    stamp = journal.get("DTSTAMP")
    for field, name in (("Created", "CREATED"), ("Modified", "LAST-MODIFIED")):
        when = _utc(journal.get(name) or stamp, calendar)
        if when is not None:
            out[field] = when
    return out


def note_element(account: str, source: str, name: str, revision: int, content: bytes,
                 shape: Shape, get_item: bool = False):
    """The ``<t:Message>`` of a stored VJOURNAL in ``shape`` (elements in the schema's
    order); ``get_item``: GetItem's Default shape, which has the Body."""
    fields = fields_of(load(content))

    def wants(uri: str) -> bool:
        return shape.wants(uri, uri in DEFAULT_FIELDS or (get_item and uri == "item:Body"))

    ref = ids.ItemRef(account, ids.ITEM, source, name)
    node = item_element("Message", STICKY_NOTE, ref, revision, wants)
    if wants("item:Subject"):
        etree.SubElement(node, t("Subject")).text = text(fields.get("Subject", ""))
    if wants("item:Sensitivity"):
        etree.SubElement(node, t("Sensitivity")).text = "Normal"
    if wants("item:Body"):
        etree.SubElement(node, t("Body"), BodyType="Text").text = text(fields.get("Body", ""))
    if wants("item:Size"):
        etree.SubElement(node, t("Size")).text = str(len(content))
    if "Categories" in fields and wants("item:Categories"):
        holder = etree.SubElement(node, t("Categories"))
        for category in fields["Categories"]:
            etree.SubElement(holder, t("String")).text = text(category)
    if wants("item:Importance"):
        etree.SubElement(node, t("Importance")).text = "Normal"
    if "Created" in fields and wants("item:DateTimeCreated"):
        etree.SubElement(node, t("DateTimeCreated")).text = fields["Created"]
    if "Modified" in fields and wants("item:LastModifiedTime"):
        etree.SubElement(node, t("LastModifiedTime")).text = fields["Modified"]
    if wants("message:IsRead"):
        etree.SubElement(node, t("IsRead")).text = "true"
    return node


# -- EWS -> VJOURNAL -------------------------------------------------------------------


def _body_text(body) -> str:
    """A Body element's text (HTML turned into the plain text a note keeps)."""
    value = body.text or ""
    if (body.get("BodyType") or "Text") == "HTML":
        value = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", "", value)
        value = re.sub(r"(?i)<br\s*/?>|</p\s*>|</div\s*>", "\n", value)
        value = html.unescape(re.sub(r"<[^>]*>", "", value)).strip()
    return value


def read_fields(node) -> dict:
    """The note fields a ``<t:Message>`` (or an update's) carries."""
    out: dict = {}
    subject = node.find(t("Subject"))
    if subject is not None:
        out["Subject"] = subject.text or ""
    body = node.find(t("Body"))
    if body is not None:
        out["Body"] = _body_text(body)
    categories = node.find(t("Categories"))
    if categories is not None:
        out["Categories"] = [(s.text or "").strip() for s in categories
                             if isinstance(s.tag, str) and (s.text or "").strip()]
    return out


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _set(journal: Component, name: str, value: Optional[str]) -> None:
    """Replace every ``name`` of the VJOURNAL by one with ``value`` where the first was
    (None or empty: remove them all)."""
    at = next((i for i, p in enumerate(journal.properties) if p.name == name), len(journal.properties))
    kept = journal.properties[:at]
    rest = [p for p in journal.properties[at:] if p.name != name]
    journal.properties = kept + ([Property(name, value)] if value else []) + rest


def apply(calendar: Component, fields: dict, removed: frozenset = frozenset()) -> None:
    """Write ``fields`` into the stored note and remove the ``removed`` ones, keeping
    every other line; LAST-MODIFIED and DTSTAMP say when."""
    journal = journal_of(calendar)
    for field, name in (("Subject", "SUMMARY"), ("Body", "DESCRIPTION")):
        if field in removed:
            _set(journal, name, None)
        elif field in fields:
            _set(journal, name, escape_text(fields[field]))
    if "Categories" in removed:
        _set(journal, "CATEGORIES", None)
    elif "Categories" in fields:
        _set(journal, "CATEGORIES", ",".join(escape_text(c) for c in fields["Categories"]))
    now = _stamp()
    _set(journal, "LAST-MODIFIED", now)
    _set(journal, "DTSTAMP", now)


def new_note(fields: dict) -> tuple[str, bytes]:
    """``(uid, content)`` of a new VCALENDAR holding the note ``fields``."""
    uid = str(uuid.uuid4())
    now = _stamp()
    journal = Component("VJOURNAL", [Property("UID", uid), Property("DTSTAMP", now), Property("CREATED", now)])
    calendar = Component("VCALENDAR", [Property("VERSION", "2.0"), Property("PRODID", "-//smsync//EWS//EN")],
                         [journal])
    apply(calendar, fields)
    return uid, serialize(calendar)


# -- the operations' parts ---------------------------------------------------------------


async def is_note(ctx, node, saved) -> bool:
    """Whether CreateItem's ``<t:Message>`` is a note: of class IPM.StickyNote, or saved
    in a note list (a folder that cannot be resolved is for the message path to refuse)."""
    if (node.findtext(t("ItemClass")) or "").strip().startswith(STICKY_NOTE):
        return True
    target = item_writes.saved_folder(saved)
    if target is None:
        return False
    try:
        folder = await tree.resolve(ctx, target)
    except EWSError:
        return False
    return folder.kind == CollectionKind.NOTES


async def create_note(ctx, node, saved):
    """Store a new note in the folder SavedItemFolderId names (the Notes folder without
    one); the answer's ``<t:Message>`` with its ItemId."""
    folder, collection = await item_writes.target(ctx, saved, "notes", CollectionKind.NOTES,
                                                  "notes are saved only in note folders")
    uid, content = new_note(read_fields(node))
    info = await collection.put(f"{uid}.ics", content, if_none_match=True)
    return item_writes.created("Message", ctx, folder, info)


def note_changes(updates) -> tuple[dict, frozenset]:
    """``(fields, removed)`` of an UpdateItem's Updates on a note."""
    fields: dict = {}
    removed = set()
    for action, field, update, uri_el in item_writes.field_updates(updates, _FIELDS, _IGNORED, "a note"):
        if action == "DeleteItemField":
            removed.add(field)
            continue
        holder = next((c for c in update if isinstance(c.tag, str) and c is not uri_el), None)
        if holder is None:
            raise EWSError(SCHEMA_VALIDATION, f"{action} without an item")
        value = read_fields(holder).get(field)
        if value is None:
            raise EWSError(SCHEMA_VALIDATION, f"{action} of {field} without its value")
        if action == "AppendToItemField":
            if field != "Body":
                raise EWSError(INVALID_PROPERTY_SET, f"{field} cannot be appended to")
            fields["AppendBody"] = fields.get("AppendBody", "") + value
        else:
            fields[field] = value
    return fields, frozenset(removed)


async def update_note(ctx, ref, change, resolution: str, change_key) -> Optional[object]:
    """UpdateItem of a note: the answer's ``<t:Message>`` (ItemId, new ChangeKey); None
    when ``ref`` is not a note, for the caller's other kinds."""
    found = await items.collection_item(ctx, ref)
    info = found.item.info
    if info.component != "VJOURNAL":
        return None
    item_writes.check_change_key(info, resolution, change_key)
    updates = change.find(t("Updates"))
    fields, removed = note_changes(updates if updates is not None else ())
    calendar = load(found.item.content)
    if "AppendBody" in fields:
        fields["Body"] = fields_of(calendar).get("Body", "") + fields.pop("AppendBody")
    apply(calendar, fields, removed)
    new = await item_writes.replace(found, ref.key, serialize(calendar))
    return item_writes.answer("Message", ref, new)
