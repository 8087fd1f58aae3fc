"""An account's collections as the web interface and ``smsync collections`` show them:
each calendar, address book and task list with its "Add to Outlook" links (``stssync://``,
MS-STSSYN, made by ``smsync.formats.stssync``): version 1.1 for Outlook 2007 and later
(two-way) and 1.0 for Outlook 2003 (read-only; calendars and contacts only, Outlook
2003 takes no task lists). Note lists and other collections have none.
"""

from __future__ import annotations

from typing import Optional

import attrs

from smsync.formats import stssync
from smsync.model import PROP_DISPLAYNAME, CollectionKind

#: Where the Lists site is on the shared HTTP site (``smsync.protocols.lists.LISTS_PATH``:
#: a test holds the two equal).
LISTS_PATH = "/lists"
#: The link type of each collection kind served as a list (MS-STSSYN 2.1).
LINK_TYPES = {CollectionKind.CALENDAR: "calendar", CollectionKind.ADDRESSBOOK: "contacts",
              CollectionKind.TASKS: "tasks"}
#: The link types Outlook 2003 takes.
OUTLOOK_2003_TYPES = ("calendar", "contacts")


@attrs.frozen
class CollectionLinks:
    """One collection and its links (None where Outlook cannot take it)."""

    name: str
    kind: str
    display_name: str
    link: Optional[str]
    link_2003: Optional[str]

    def as_json(self) -> dict:
        return {"name": self.name, "kind": self.kind, "display_name": self.display_name,
                "add_to_outlook": self.link, "add_to_outlook_2003": self.link_2003}


def site_of(site_url: str, base: str) -> str:
    """The site the links name: ``[lists] site_url`` when set, else ``base`` (the
    server's URL as clients reach it) + the Lists site's path."""
    return stssync.base_url(site_url, "", "") if site_url.strip() else base.rstrip("/") + LISTS_PATH


def collection_links(account: str, infos, site: Optional[str]) -> list[CollectionLinks]:
    """Each of ``infos`` (``CollectionInfo``, in the order given) with its links on
    ``site`` (None: without links). ``ValueError`` for a site that is not an http(s)
    URL."""
    out = []
    for info in infos:
        title = info.properties.get(PROP_DISPLAYNAME) or info.name
        link_type = LINK_TYPES.get(info.kind)
        link = link_2003 = None
        if link_type is not None and site is not None:
            guid = stssync.list_guid(account, info.id)
            list_url = f"Lists/{info.name}"
            link = stssync.stssync_link(link_type, site, list_url, guid, account, title)
            if link_type in OUTLOOK_2003_TYPES:
                link_2003 = stssync.stssync_link(link_type, site, list_url, guid, account, title,
                                                 stssync.VERSION_2003)
        out.append(CollectionLinks(info.name, info.kind.value, title, link, link_2003))
    return out
