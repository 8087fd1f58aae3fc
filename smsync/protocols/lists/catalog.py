"""An account's lists: each calendar, address book and task list as the Lists service
serves it, found by the GUID or the title a request names, and its items in ID order
with what each is as a row."""

from __future__ import annotations

import uuid
from typing import Optional

import attrs

from smsync.model import PROP_DESCRIPTION, PROP_DISPLAYNAME, CollectionInfo
from smsync.formats import pim_attachments as files
from smsync.protocols.lists import attachments, ids, rows, schema, state
from smsync.protocols.lists.converters import Converter, RowInfo, converter
from smsync.protocols.lists.soap import LIST_NOT_FOUND, ListsFault


@attrs.frozen
class ListRef:
    """One list: the collection, what it is as a list, and where it lives."""

    account: str
    info: CollectionInfo
    guid: uuid.UUID
    type: ids.ListType
    site_path: str

    @property
    def braced(self) -> str:
        return ids.braced(self.guid)

    @property
    def title(self) -> str:
        return self.info.properties.get(PROP_DISPLAYNAME) or self.info.name

    @property
    def url_name(self) -> str:
        """The list's segment of its URL (``<site>/Lists/<url_name>``)."""
        return self.info.name

    @property
    def path(self) -> str:
        """Its server-relative folder, without the leading slash (FileRef's form)."""
        return f"{self.site_path.strip('/')}/Lists/{self.url_name}"

    @property
    def converter(self) -> Converter:
        return converter(self.type.key)

    def defs(self) -> tuple:
        return schema.field_defs(self.converter.fields)

    def list_info(self, item_count: int) -> schema.ListInfo:
        return schema.ListInfo(self.braced, self.title, self.info.properties.get(PROP_DESCRIPTION) or "",
                               self.type.template, self.url_name, self.site_path, item_count,
                               self.defs())


async def lists_of(store, account: str, site_path: str) -> list[ListRef]:
    """Every list of ``account``: its calendars, address books and task lists."""
    collections = await store.collections(account)
    found = []
    for info in await collections.list_collections():
        kind = ids.list_type(info.kind)
        if kind is not None:
            found.append(ListRef(account, info, ids.list_guid(account, info.id), kind, site_path))
    return found


async def find_list(store, account: str, site_path: str, name: Optional[str]) -> ListRef:
    """The list ``name`` names (its GUID, else its title or URL name, MS-LISTSWS
    3.1.4.15); the fault 0x82000006 when ``account`` has none such -- also for another
    account's GUID, which no list of this account has."""
    wanted = (name or "").strip()
    lists = await lists_of(store, account, site_path)
    guid = ids.parse_guid(wanted)
    if guid is not None:
        for ref in lists:
            if ref.guid == guid:
                return ref
    lowered = wanted.lower()
    if lowered:
        for ref in lists:
            if ref.title.lower() == lowered or ref.url_name.lower() == lowered:
                return ref
    raise ListsFault("List does not exist.\n\nThe page you selected contains a list that does not "
                     "exist.  It may have been deleted by another user.", LIST_NOT_FOUND)


#: Row fields the server alone writes: a converter's value for them is not taken.
_SERVERS = frozenset({"ID", "owshiddenversion", "UniqueId", "FileRef", "FileDirRef"})


def item_rows(ref: ListRef, item, idmap) -> list:
    """``(ID, key, fields)`` of each row ``item`` (an ``Item``) is in ``ref``: the common
    fields, then what the converter makes of it -- one row, or a recurring event's
    series and its changed and deleted occurrences. Rows get IDs from ``idmap`` (new
    ones as they are first seen); an item the converter cannot read keeps one row of
    its common fields with its name as Title, so the list stays whole."""
    master_id = idmap.id_of(item.info.name)
    return numbered_rows(ref, item.info, converted(ref, item, master_id), idmap, files_of(item))


def files_of(item) -> Optional[list]:
    """The names of the files ``item`` carries (its Attachments field), None for an
    item without any."""
    return attachments.names(item.content) if files.has_files(item.content) else None


def converted(ref: ListRef, item, master_id: int) -> list:
    """What the converter makes of ``item``: its rows' own fields (``[{"Title": name}]``
    for content it cannot read). Depends on the content and ``master_id`` alone (what
    ``rowcache`` keeps it by); the dicts are not to be changed."""
    name = item.info.name
    info = RowInfo(name, item.info.uid, item.info.revision, master_id)
    try:
        return ref.converter.to_rows(item.content, info) or [{}]
    except Exception:
        return [{"Title": name}]


#: The series' list item ID a conversion shared by every device is made with: its
#: text, where a row has it as a field's whole value, becomes each device's own ID.
_STAND_IN = 7_777_777_777_777
_STAND_IN_TEXT = str(_STAND_IN)


def shared_conversion(ref: ListRef, item) -> Optional[tuple]:
    """``(rows, spots, file names)``: ``converted`` made with a stand-in for the series'
    ID (a device's own IDs depend on the order it first saw items in), the ``(row
    index, field)`` pairs whose value is that ID, for ``with_master``, and
    ``files_of``. None when the rows use the ID some other way (then they are the
    device's own)."""
    made = converted(ref, item, _STAND_IN)
    spots = []
    for index, values in enumerate(made):
        # One search of the row's text first: the stand-in is in few rows.
        if _STAND_IN_TEXT not in "\0".join(values.values()):
            continue
        for name, value in values.items():
            if _STAND_IN_TEXT in value:
                if value != _STAND_IN_TEXT:
                    return None
                spots.append((index, name))
    return made, tuple(spots), files_of(item)


def with_master(made: list, spots: tuple, master_id: int) -> list:
    """The rows of a ``shared_conversion`` for a device whose ID of the series is
    ``master_id`` (``made`` is left as it is)."""
    if not spots:
        return made
    out = list(made)
    text = str(master_id)
    for index, name in spots:
        if out[index] is made[index]:
            out[index] = dict(made[index])
        out[index][name] = text
    return out


def numbered_rows(ref: ListRef, info, values_list: list, idmap, file_names=None) -> list:
    """``item_rows`` of the item ``info`` (an ``ItemInfo``) whose converted rows are
    ``values_list`` and whose files are ``file_names`` (``files_of``)."""
    name = info.name
    master_id = idmap.id_of(name)
    out = []
    seen = set()
    for index, values in enumerate(values_list):
        if index == 0:
            key = name
        else:
            key = state.sub_key(name, str(values.get("RecurrenceID", "")))
            if key in seen:
                key = f"{key}\n{index}"
        seen.add(key)
        item_id = master_id if index == 0 else idmap.id_of(key)
        fields = rows.common_fields(item_id, info.revision, ref.guid, key, ref.path,
                                    ref.type.content_type_id, ref.type.content_type, ref.account)
        if _SERVERS.isdisjoint(values):
            fields.update(values)
        else:
            fields.update((k, v) for k, v in values.items() if k not in _SERVERS)
        if index == 0 and file_names is not None:
            fields["Attachments"] = attachment_urls(ref, item_id, file_names)
        out.append((item_id, key, fields))
    return out


def attachment_urls(ref: ListRef, item_id: int, names: list) -> str:
    """The Attachments field of an item with files: ``;#url;#url;#`` (what SharePoint
    writes with IncludeAttachmentUrls, which Outlook always asks; server-relative here,
    made absolute on the request's site by ``attachments.absolute_urls``), ``0`` with
    none."""
    if not names:
        return "0"
    return ";#" + "".join(attachments.url_of("/" + ref.site_path.strip("/"), ref.url_name, item_id, n) + ";#"
                          for n in names)


def shows(ref: ListRef, info) -> bool:
    """Whether item ``info`` (an ``ItemInfo``) is one of ``ref``'s: a calendar's tasks
    are not events."""
    return info.component == ref.type.component
