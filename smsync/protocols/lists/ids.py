"""The names Outlook knows a list by, as pure functions: each calendar, address book and
task list of an account is one list whose GUID is made from the account and the
collection's stable id (so it survives a rename, and no other account's list ever has
it), with the list type and template SharePoint gives such a list."""

from __future__ import annotations

import uuid
from typing import Optional

import attrs

from smsync.formats import stssync
from smsync.model import CollectionKind



@attrs.frozen
class ListType:
    """What a kind of collection is as a SharePoint list.

    Attributes:
        key: ``events``, ``contacts`` or ``tasks`` (the fields module it uses).
        component: the stored component its items are (VEVENT, VCARD, VTODO).
        template: the ServerTemplate (MS-WSSFO2: 106 Events, 105 Contacts, 107 Tasks).
        link_type: the stssync link's ``type`` (MS-STSSYN 2.1).
        content_type_id: the ContentTypeId of its items (MS-OUTSPS 3.2.4.2.1).
        suffix: the file name ending of an item Outlook creates.
    """

    key: str
    component: str
    template: int
    link_type: str
    content_type_id: str
    content_type: str
    suffix: str


EVENTS = ListType("events", "VEVENT", 106, "calendar", "0x0102", "Event", ".ics")
CONTACTS = ListType("contacts", "VCARD", 105, "contacts", "0x0106", "Contact", ".vcf")
TASKS = ListType("tasks", "VTODO", 107, "tasks", "0x0108", "Task", ".ics")

#: Which collections are lists, and as what. A calendar collection may also hold tasks
#: (CalDAV allows it): as an Events list it shows its events only.
BY_KIND = {CollectionKind.CALENDAR: EVENTS, CollectionKind.ADDRESSBOOK: CONTACTS,
           CollectionKind.TASKS: TASKS}


def list_type(kind) -> Optional[ListType]:
    """The list type of a collection of ``kind`` (None: not served as a list)."""
    return BY_KIND.get(kind)


def list_guid(account: str, collection_id: str) -> uuid.UUID:
    """The stable GUID of ``account``'s collection ``collection_id`` as a list (made
    in ``smsync.formats.stssync``, which the web interface uses too)."""
    return stssync.list_guid(account, collection_id)


def braced(guid: uuid.UUID) -> str:
    """``{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}`` (upper case), as SharePoint writes
    list ids and MS-STSSYN requires them."""
    return "{" + str(guid).upper() + "}"


def parse_guid(text: Optional[str]) -> Optional[uuid.UUID]:
    """The GUID ``text`` names, braced or not, any case; None if it is not one."""
    value = (text or "").strip()
    if value.startswith("{") and value.endswith("}"):
        value = value[1:-1]
    if len(value) != 36:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
