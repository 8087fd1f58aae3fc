"""UpdateListItems (MS-LISTSWS 3.1.4.31): a Batch of Methods, each New, Update or
Delete of one item, each answered by its own ``<Result ID="n,Cmd">`` with an ErrorCode
(``0x00000000``) and the item's row as it now is.

Each method is one store write, all or nothing: a method that fails changes nothing
and the others go on (``OnError="Return"`` fails the rest with ``0x800704c7`` instead).
An Update or Delete carrying ``owshiddenversion`` (the item's revision when Outlook last
saw it) that no longer matches is a conflict, ``0x81020015``, answered with the item as
the server has it, so Outlook can merge or overwrite (MS-OUTSPS 3.1.4.10)."""

from __future__ import annotations

import uuid

from lxml import etree
from twisted.logger import Logger

from smsync.errors import InvalidData, NotFound, PreconditionFailed, StorageUnavailable, UidConflict
from smsync.model import Item
from smsync.protocols.lists import catalog, rows, schema, soap, state
from smsync.protocols.lists.converters import RowInfo
from smsync.protocols.lists.operations import operation

log = Logger(namespace="smsync.lists")

OK = "0x00000000"
#: The changes conflict with those made by another client (the item's version moved).
CONFLICT = "0x81020015"
#: The item does not exist (deleted meanwhile, or an ID never given).
NO_ITEM = "0x81020016"
#: A Method after a failed one in a Batch with OnError="Return".
CANCELLED = "0x800704c7"
#: Methods one Batch may hold.
MAX_METHODS = 1000
#: Fields no Method sets: the server's own (MS-LISTSWS 3.1.4.31.2.1).
SPECIAL = frozenset({"ID", "owshiddenversion"})


class MethodError(Exception):
    """A Method refused: its ErrorCode and ErrorText, and the item (row ``key``) as the
    server has it, where there is one to show."""

    def __init__(self, code: str, text: str, item=None, item_id=None, key=None):
        super().__init__(text)
        self.code = code
        self.text = text
        self.item = item
        self.item_id = item_id
        self.key = key


def _fields(method) -> dict:
    """``Name -> text`` of a Method's Fields (property-bag ones, ``Property=``, are
    not kept: there is nowhere to keep them yet)."""
    out = {}
    for node in method:
        if not isinstance(node.tag, str) or etree.QName(node).localname != "Field":
            continue
        name = node.get("Name")
        if not name or node.get("Property"):
            continue
        out[name] = "".join(node.itertext())
    return out


def _item_id(fields: dict) -> int:
    text = (fields.get("ID") or "").strip()
    if not (text.isdigit() and len(text) <= 10 and int(text) > 0):
        raise MethodError(NO_ITEM, "Item does not exist. It may have been deleted by another user.")
    return int(text)


#: EventType of a deleted occurrence (MS-OUTSPS 2.2.5.5).
DELETED_OCCURRENCE = "3"
OCCURRENCES = ("3", "4")


class _Batch:
    def __init__(self, ctx, ref, collection, idmap, date_in_utc: bool):
        self.ctx = ctx
        self.ref = ref
        self.collection = collection
        self.idmap = idmap
        self.date_in_utc = date_in_utc
        self.dates = schema.date_fields(ref.defs())
        self.writable = frozenset(f.name for f in ref.defs() if not f.read_only)

    def values(self, fields: dict) -> dict:
        # Read-only and unknown fields are not the converter's to write (Outlook sends
        # some back as it got them).
        return {k: v for k, v in fields.items() if k not in SPECIAL and k in self.writable}

    def rows(self, item) -> list:
        return catalog.item_rows(self.ref, item, self.idmap)

    def row_of(self, item, key: str):
        """The ``<z:row>`` of ``item``'s row ``key`` (its first row if it has none such)."""
        found = self.rows(item)
        chosen = next((fields for _, k, fields in found if k == key), found[0][2])
        return rows.row(chosen, None, self.dates, self.date_in_utc)

    def info(self, item) -> RowInfo:
        return RowInfo(item.info.name, item.info.uid, item.info.revision,
                       self.idmap.id_of(item.info.name))

    async def load(self, key: str):
        name, _ = state.split_key(key)
        found = await self.collection.get([name])
        if not found or not catalog.shows(self.ref, found[0].info):
            raise MethodError(NO_ITEM, "Item does not exist. It may have been deleted by another user.")
        return found[0]

    async def current(self, fields: dict):
        """``(ID, row key, Item)`` of the row a Method names, its version checked."""
        item_id = _item_id(fields)
        key = self.idmap.name_of(item_id)
        if key is None:
            raise MethodError(NO_ITEM, "Item does not exist. It may have been deleted by another user.")
        item = await self.load(key)
        version = (fields.get("owshiddenversion") or "").strip()
        if version and version != str(item.info.revision):
            raise MethodError(CONFLICT, "Save Conflict. Your changes conflict with those made "
                              "concurrently by another user.", item, item_id, key)
        return item_id, key, item

    async def store(self, item, content: bytes, item_id: int, key: str):
        """``item`` rewritten as ``content``, unless it changed meanwhile (a conflict)."""
        if content == item.content:
            return item
        try:
            info = await self.collection.put(item.info.name, content, if_match=item.info.etag)
        except PreconditionFailed:
            raise await self.conflict(key, item_id) from None
        return Item(info, content)

    async def new(self, fields: dict):
        values = self.values(fields)
        if (fields.get("EventType") or "").strip() in OCCURRENCES:
            return await self.new_occurrence(fields, values)
        content = self.ref.converter.from_row(values, None, None)
        name = f"{uuid.uuid4()}{self.ref.type.suffix}"
        info = await self.collection.put(name, content, if_none_match=True)
        return self.row_of(Item(info, content), name)

    async def new_occurrence(self, fields: dict, values: dict):
        """A changed or deleted occurrence of a series: written into the series' item
        (MasterSeriesItemID), answered with the occurrence's new row."""
        text = (fields.get("MasterSeriesItemID") or "").strip()
        key = self.idmap.name_of(int(text)) if text.isdigit() and len(text) <= 10 else None
        if key is None or "\n" in key:
            raise MethodError(NO_ITEM, "The series of this occurrence does not exist.")
        item = await self.load(key)
        before = set(self.idmap.sub_keys(key))
        content = self.ref.converter.from_row(values, item.content, self.info(item))
        item = await self.store(item, content, self.idmap.id_of(key), key)
        found = self.rows(item)
        fresh = [k for _, k, _ in found if k != key and k not in before]
        wanted = state.sub_key(key, (fields.get("RecurrenceID") or "").strip())
        chosen = fresh[0] if fresh else wanted
        return self.row_of(item, chosen)

    async def update(self, fields: dict):
        item_id, key, item = await self.current(fields)
        values = self.values(fields)
        _, occurrence = state.split_key(key)
        if occurrence is not None:
            # The occurrence's own row: the converter is told which one it is.
            shown = next((f for _, k, f in self.rows(item) if k == key), {})
            for name in ("EventType", "RecurrenceID"):
                if name in shown and not values.get(name):
                    values[name] = shown[name]
        content = self.ref.converter.from_row(values, item.content, self.info(item))
        item = await self.store(item, content, item_id, key)
        return self.row_of(item, key)

    async def delete(self, fields: dict):
        item_id, key, item = await self.current(fields)
        _, occurrence = state.split_key(key)
        if occurrence is not None:
            # One occurrence's row: that occurrence goes (MS-OUTSPS 3.2.1.1.4), the
            # series stays.
            shown = next((f for _, k, f in self.rows(item) if k == key), {})
            values = {"EventType": DELETED_OCCURRENCE,
                      "RecurrenceID": shown.get("RecurrenceID", occurrence)}
            content = self.ref.converter.from_row(values, item.content, self.info(item))
            await self.store(item, content, item_id, key)
            return None
        try:
            await self.collection.delete(item.info.name, if_match=item.info.etag)
        except PreconditionFailed:
            raise await self.conflict(key, item_id) from None
        except NotFound:
            raise MethodError(NO_ITEM, "Item does not exist.") from None
        return None

    async def conflict(self, key: str, item_id: int) -> MethodError:
        name, _ = state.split_key(key)
        found = await self.collection.get([name])
        if not found:
            return MethodError(NO_ITEM, "Item does not exist. It may have been deleted by another user.")
        return MethodError(CONFLICT, "Save Conflict. Your changes conflict with those made "
                           "concurrently by another user.", found[0], item_id, key)


def _result(method_id: str, cmd: str, code: str, row=None, text=None, attrs_=None):
    node = etree.Element(soap.sp("Result"), ID=f"{method_id},{cmd}")
    for key, value in (attrs_ or {}).items():
        node.set(key, value)
    etree.SubElement(node, soap.sp("ErrorCode")).text = code
    if text is not None:
        etree.SubElement(node, soap.sp("ErrorText")).text = soap.clean(text)
    else:
        etree.SubElement(node, soap.sp("ID"))
    if row is not None:
        node.append(row)
    return node


@operation("UpdateListItems")
async def update_list_items(ctx, request):
    ref = await ctx.list(request.param("listName"))
    updates = request.child("updates")
    batch = None
    if updates is not None:
        batch = next((n for n in updates if isinstance(n.tag, str)
                      and etree.QName(n).localname == "Batch"), None)
    if batch is None:
        raise soap.ListsFault("The updates hold no Batch.", soap.GENERIC, client=True)
    methods = [n for n in batch if isinstance(n.tag, str) and etree.QName(n).localname == "Method"]
    if len(methods) > MAX_METHODS:
        raise soap.ListsFault(f"A Batch holds at most {MAX_METHODS} methods.", soap.GENERIC, client=True)
    stop_on_error = (batch.get("OnError") or "").strip().lower() == "return"
    work = _Batch(ctx, ref, await ctx.collection(ref), await ctx.state.ids(ref.info.id),
                  batch.get("DateInUtc") == "TRUE")
    root, result = soap.response("UpdateListItems")
    results = etree.SubElement(result, soap.sp("Results"))
    counts = {"New": 0, "Update": 0, "Delete": 0, "failed": 0}
    failed = False
    for method in methods:
        method_id = (method.get("ID") or "")[:20]
        cmd = (method.get("Cmd") or "")[:20]
        if failed and stop_on_error:
            results.append(_result(method_id, cmd, CANCELLED, text="Operation aborted."))
            continue
        try:
            fields = _fields(method)
            if cmd == "New":
                row = await work.new(fields)
            elif cmd == "Update":
                row = await work.update(fields)
            elif cmd == "Delete":
                row = await work.delete(fields)
            else:
                raise MethodError(soap.GENERIC, f"{cmd or 'A missing Cmd'} is not done on these lists.")
            results.append(_result(method_id, cmd, OK, row))
            counts[cmd] += 1
            continue
        except MethodError as e:
            error = e
        except (InvalidData, UidConflict) as e:
            error = MethodError(soap.GENERIC, f"Invalid data: {e}")
        except StorageUnavailable:
            raise
        except Exception as e:
            log.failure("lists: {account}: {cmd} in {title} failed", account=ctx.account, cmd=cmd,
                        title=ref.title)
            error = MethodError(soap.GENERIC, f"The item could not be saved ({type(e).__name__}).")
        failed = True
        counts["failed"] += 1
        extra = {}
        row = None
        if error.item is not None:
            row = work.row_of(error.item, error.key or error.item.info.name)
            if error.code == CONFLICT:
                # Our versions grow by more than one per change: the current one is what
                # an overwrite must send (MS-LISTSWS has "the one sent plus 1").
                extra = {"List": ref.braced, "Version": str(error.item.info.revision)}
        ctx.log(f"{ref.title}: {cmd} (method {method_id}) refused: {error.code} {error.text[:120]}")
        results.append(_result(method_id, cmd, error.code, row, error.text, extra))
    await ctx.state.save()
    await ctx.note(f"{ref.title}: {counts['New']} new, {counts['Update']} changed, "
                   f"{counts['Delete']} deleted" + (f", {counts['failed']} refused" if counts["failed"] else ""))
    return root
