"""ItemOperations (MS-ASCMD 2.2.1.10) and GetAttachment (2.2.1.8): a whole message or
one attachment fetched on demand, and EmptyFolderContents.

A Fetch names a message (CollectionId + ServerId, answered with its Email fields and
the body its Options ask for, whole unless they name a TruncationSize) or an attachment
(the FileReference ``email.file_reference`` made, answered with its decoded bytes).
Either may ask for a byte Range of the data. A device that sends
``MS-ASAcceptMultiPart: T`` gets the data as binary parts of a multipart answer
(2.2.1.10.1.1) instead of base64 inside the WBXML. GetAttachment, the 12.x way, answers
the attachment's bytes as the HTTP body.
"""

from __future__ import annotations

import base64
import re
import struct
from typing import Optional

import attrs

from smsync.edge.web import Response
from smsync.errors import NotFound
from smsync.model import UIDSet
from smsync.protocols.eas import kinds
from smsync.protocols.eas.commands import CommandError, command
from smsync.protocols.eas.convert import ConversionError, parse_options
from smsync.protocols.eas.email import (
    BASE, at_least, attachment_bytes, body_element, email_fields, message_body,
    parse_file_reference)
from smsync.protocols.eas.mailquery import parse_long_id
from smsync.protocols.eas.wbxml import Element, encode

IO = "ItemOperations:"
AS = "AirSync:"

#: ItemOperations Status values (MS-ASCMD 2.2.3.177.7).
OK = "1"
PROTOCOL_ERROR = "2"
SERVER_ERROR = "3"
NOT_FOUND = "6"
BAD_RANGE = "8"
UNKNOWN_STORE = "9"
CONVERSION_FAILED = "14"
BAD_ATTACHMENT = "15"
NOT_SUPPORTED = "156"

WBXML = "application/vnd.ms-sync.wbxml"
MULTIPART = "application/vnd.ms-sync.multipart"
_HEADERS = {"MS-Server-ActiveSync": "16.1", "Cache-Control": "private"}

_RANGE = re.compile(r"^\s*(\d{1,12})\s*-\s*(\d{1,12})\s*$")


def _io(tag: str, text: Optional[str] = None, *children) -> Element:
    return Element(IO, tag, children, text)


class FetchFailed(Exception):
    """A Fetch answered with ``status`` instead of its item."""

    def __init__(self, status: str, why: str):
        super().__init__(why)
        self.status = status


def parse_range(text: Optional[str]) -> Optional[tuple[int, int]]:
    """``(first, last)`` byte of an ItemOperations Range ``"m-n"`` (None: no Range).
    ``FetchFailed`` (Status 8) for anything else."""
    if text is None:
        return None
    match = _RANGE.match(text)
    if match is None or int(match.group(1)) > int(match.group(2)):
        raise FetchFailed(BAD_RANGE, f"bad byte range {text[:40]!r}")
    return int(match.group(1)), int(match.group(2))


def cut_range(data: bytes, wanted: Optional[tuple[int, int]]) -> tuple[bytes, Optional[str]]:
    """The bytes of ``data`` in ``wanted`` and the Range answered (``"m-n"``); the
    last byte is capped at the end of the data, a first byte beyond it is Status 8."""
    if wanted is None:
        return data, None
    first, last = wanted
    if first >= len(data) and not (first == 0 and not data):
        raise FetchFailed(BAD_RANGE, f"range starts at {first}, the data has {len(data)} bytes")
    piece = data[first:last + 1]
    return piece, f"{first}-{first + max(len(piece) - 1, 0)}"


@attrs.define
class Answer:
    """The parts of a multipart answer gathered while building its WBXML (None: the
    device takes data inline, base64 in ``Data``)."""

    parts: Optional[list] = None

    def place(self, data: bytes) -> Optional[int]:
        """The part number ``data`` travels as, or None to send it inline."""
        if self.parts is None:
            return None
        self.parts.append(data)
        return len(self.parts)


def multipart(wbxml: bytes, parts: list) -> bytes:
    """MS-ASCMD 2.2.1.10.1.1 MultiPartResponse: the part count, each part's offset and
    length (from the start of the answer), then the parts -- the WBXML first."""
    everything = [wbxml, *parts]
    offset = 4 + 8 * len(everything)
    table = [struct.pack("<i", len(everything))]
    for data in everything:
        table.append(struct.pack("<ii", offset, len(data)))
        offset += len(data)
    return b"".join(table + everything)


async def _attachment(ctx, reference: Optional[str]):
    """``(part, decoded bytes)`` of the attachment a FileReference names.
    ``FetchFailed`` (Status 15) for a reference to nothing."""
    try:
        folder, uid, path = parse_file_reference(reference)
    except ValueError as e:
        raise FetchFailed(BAD_ATTACHMENT, str(e)) from None
    mail = await ctx.store.mail(ctx.account)
    try:
        box = await mail.mailbox_by_id(folder)
    except NotFound:
        raise FetchFailed(BAD_ATTACHMENT, f"no folder {folder[:40]!r}") from None
    structure = (await box.structures([uid])).get(uid)
    if structure is None:
        raise FetchFailed(BAD_ATTACHMENT, f"no message {uid} in {folder[:40]!r}")
    try:
        part = structure.part(path)
    except KeyError:
        raise FetchFailed(BAD_ATTACHMENT, f"message {uid} has no part {path}") from None
    if part.is_multipart:
        raise FetchFailed(BAD_ATTACHMENT, f"part {path} of message {uid} is a multipart")
    data = await attachment_bytes(box, uid, part)
    if data is None:
        raise FetchFailed(BAD_ATTACHMENT, f"message {uid} is gone")
    return part, data


async def _fetch_attachment(ctx, reference: Element, wanted, answer: Answer) -> list:
    part, data = await _attachment(ctx, reference.text)
    piece, answered = cut_range(data, wanted)
    properties = [Element(BASE, "ContentType", (), part.mime_type)]
    if answered is not None:
        properties += [_io("Range", answered), _io("Total", str(len(data)))]
    number = answer.place(piece)
    if number is not None:
        properties.append(_io("Part", str(number)))
    else:
        properties.append(_io("Data", base64.b64encode(piece).decode("ascii")))
    ctx.log(f"ItemOperations: attachment {reference.text[:80]} ({len(piece)} of {len(data)} bytes)")
    return [_io("Status", OK), Element(BASE, "FileReference", (), reference.text),
            _io("Properties", None, *properties)]


async def _fetch_message(ctx, collection: str, server_id: str, options, wanted,
                         answer: Answer) -> list:
    mail = await ctx.store.mail(ctx.account)
    try:
        box = await mail.mailbox_by_id(collection)
    except NotFound:
        try:
            coll = await (await ctx.store.collections(ctx.account)).collection_by_id(collection)
        except NotFound:
            raise FetchFailed(NOT_FOUND, f"no folder {collection[:40]!r}") from None
        return await _fetch_item(ctx, coll, collection, server_id, options)
    if not server_id.isascii() or not server_id.isdigit() or int(server_id) < 1:
        raise FetchFailed(NOT_FOUND, f"no message {server_id[:40]!r}")
    uid = int(server_id)
    found = await box.messages(UIDSet.of([uid]))
    structure = (await box.structures([uid])).get(uid)
    if not found or structure is None:
        raise FetchFailed(NOT_FOUND, f"no message {uid} in {collection[:40]!r}")
    info = found[0]
    body_options = parse_options(options)
    if not at_least(ctx.version, 14.0):
        body_options = attrs.evolve(body_options, preview=0)
    before, after, native_at = await email_fields(box, info, structure, ctx.version)
    # ItemOperations is how a device gets a whole message: no truncation unless asked;
    # with a Range, the range is cut from the whole body.
    limit = None if wanted is not None else body_options.truncation
    body = await message_body(box, info, structure, body_options, limit)
    range_elements = []
    if wanted is not None:
        whole = len(body.data)
        piece, answered = cut_range(body.data, wanted)
        body = attrs.evolve(body, data=piece, truncated=len(piece) < whole)
        range_elements = [_io("Range", answered), _io("Total", str(whole))]
    number = answer.place(body.data) if body.data else None
    after.insert(native_at, Element(BASE, "NativeBodyType", (), str(body.native)))
    properties = [c for c in before if c.text or c.children]
    properties.append(body_element(body, number))
    properties += [c for c in after if c.text or c.children or c.opaque is not None or c.tag == "Flag"]
    ctx.log(f"ItemOperations: message {uid} of {collection} (body type {body.type}, "
            f"{len(body.data)} bytes{', truncated' if body.truncated else ''})")
    return [_io("Status", OK), Element(AS, "CollectionId", (), collection),
            Element(AS, "ServerId", (), server_id), Element(AS, "Class", (), "Email"),
            _io("Properties", None, *range_elements, *properties)]


async def _fetch_item(ctx, coll, collection: str, server_id: str, options) -> list:
    """A calendar, contact, task or note, through its kind's converter."""
    info = await coll.info()
    converter = kinds.converter(info.kind)
    found = await coll.get([server_id]) if converter is not None else []
    if not found or not kinds.belongs(info.kind, found[0].content):
        raise FetchFailed(NOT_FOUND, f"no item {server_id[:40]!r} in {collection[:40]!r}")
    body_options = parse_options(options)
    try:
        data = converter.to_application_data(found[0].content, ctx.version, body_options.truncation)
    except ConversionError as e:
        raise FetchFailed(NOT_FOUND, f"item {server_id[:40]!r} cannot be shown: {e}") from None
    ctx.log(f"ItemOperations: item {server_id} of {collection}")
    return [_io("Status", OK), Element(AS, "CollectionId", (), collection),
            Element(AS, "ServerId", (), server_id),
            Element(AS, "Class", (), kinds.KINDS[info.kind].eas_class),
            _io("Properties", None, *data.children)]


async def _fetch(ctx, request: Element, answer: Answer) -> Element:
    store = request.find(IO, "Store")
    options = request.find(IO, "Options")
    reference = request.find(BASE, "FileReference")
    collection = request.find(AS, "CollectionId")
    server_id = request.find(AS, "ServerId")
    echo = [e for e in (reference, collection, server_id) if e is not None]
    try:
        if store is None or (store.text or "").lower() != "mailbox":
            # Document libraries (UNC and SharePoint) are not served.
            raise FetchFailed(UNKNOWN_STORE, f"store {(store.text if store is not None else None)!r}")
        range_element = options.find(IO, "Range") if options is not None else None
        wanted = parse_range(range_element.text if range_element is not None else None)
        if reference is not None:
            return _io("Fetch", None, *await _fetch_attachment(ctx, reference, wanted, answer))
        if collection is not None and server_id is not None and collection.text and server_id.text:
            return _io("Fetch", None, *await _fetch_message(
                ctx, collection.text, server_id.text, options, wanted, answer))
        long_id = request.find("Search:", "LongId")
        if long_id is not None:
            # A Search result: its LongId names the folder and the message.
            found = parse_long_id(long_id.text)
            if found is None:
                raise FetchFailed(NOT_FOUND, f"no message {(long_id.text or '')[:40]!r}")
            return _io("Fetch", None, *await _fetch_message(
                ctx, found[0], str(found[1]), options, wanted, answer))
        raise FetchFailed(PROTOCOL_ERROR, "a Fetch names no item")
    except FetchFailed as e:
        ctx.log(f"ItemOperations: Fetch status {e.status}: {e}")
        return _io("Fetch", None, _io("Status", e.status), *echo)


async def _empty_folder(ctx, request: Element) -> Element:
    collection = request.find(AS, "CollectionId")
    if collection is None or not collection.text:
        return _io("EmptyFolderContents", None, _io("Status", PROTOCOL_ERROR))
    options = request.find(IO, "Options")
    subfolders = options is not None and options.find(IO, "DeleteSubFolders") is not None
    mail = await ctx.store.mail(ctx.account)
    echo = Element(AS, "CollectionId", (), collection.text)
    try:
        box = await mail.mailbox_by_id(collection.text)
    except NotFound:
        ctx.log(f"ItemOperations: EmptyFolderContents of unknown folder {collection.text[:40]!r}")
        return _io("EmptyFolderContents", None, _io("Status", NOT_FOUND), echo)
    removed = await box.remove(UIDSet.all())
    deleted = 0
    if subfolders:
        entries = await mail.list_mailboxes()
        name = next((e.name for e in entries if e.id == box.id), None)
        below = sorted((e.name for e in entries if name and e.name.startswith(name + "/")),
                       key=len, reverse=True)  # children before their parents
        for child in below:
            try:
                await mail.delete_mailbox(child)
                deleted += 1
            except NotFound:
                pass  # deleted meanwhile
    ctx.log(f"ItemOperations: emptied {collection.text}: {len(removed)} messages"
            + (f", {deleted} folders" if subfolders else ""))
    return _io("EmptyFolderContents", None, _io("Status", OK), echo)


@command("ItemOperations", IO)
async def item_operations(ctx, body):
    if body is None or (body.namespace, body.tag) != (IO, "ItemOperations"):
        return _io("ItemOperations", None, _io("Status", PROTOCOL_ERROR))
    accept = getattr(ctx.query, "accept_multipart", False)
    answer = Answer([] if accept else None)
    responses = []
    for operation in body.children:
        if (operation.namespace, operation.tag) == (IO, "Fetch"):
            responses.append(await _fetch(ctx, operation, answer))
        elif (operation.namespace, operation.tag) == (IO, "EmptyFolderContents"):
            responses.append(await _empty_folder(ctx, operation))
        elif (operation.namespace, operation.tag) == (IO, "Move"):
            # Moving a conversation needs conversations the store does not keep.
            responses.append(_io("Move", None, _io("Status", NOT_SUPPORTED),
                                 *(c for c in operation.children if c.tag == "ConversationId")))
        else:
            ctx.log(f"ItemOperations: unknown operation {operation.tag}")
            return _io("ItemOperations", None, _io("Status", PROTOCOL_ERROR))
    tree = _io("ItemOperations", None, _io("Status", OK), _io("Response", None, *responses))
    if answer.parts is None:
        return tree
    return Response(200, multipart(encode(tree), answer.parts), MULTIPART, dict(_HEADERS))


@command("GetAttachment", AS)
async def get_attachment(ctx, body):
    name = (getattr(ctx.query, "params", None) or {}).get("AttachmentName")
    if not name:
        raise CommandError(400, "GetAttachment needs an AttachmentName")
    try:
        part, data = await _attachment(ctx, name)
    except FetchFailed as e:
        # MS-ASCMD 2.2.1.8 has no status element: an attachment that is not there is
        # an HTTP error.
        raise CommandError(500, f"no attachment {name[:80]!r}: {e}") from None
    ctx.log(f"GetAttachment {name[:80]}: {len(data)} bytes")
    return Response(200, data, part.mime_type, dict(_HEADERS))
