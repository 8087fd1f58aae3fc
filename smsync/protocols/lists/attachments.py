"""List item attachments: what an item's files are as SharePoint shows them, kept in
the stored item (``smsync.formats.pim_attachments``: an event's or task's inline
``ATTACH`` with ``X-FILENAME``, a contact's ``PHOTO``).

An attachment is named by its URL, ``<site>/Lists/<list>/Attachments/<ID>/<file
name>`` as SharePoint names one (MS-LISTSWS 3.1.4.1): GetAttachmentCollection lists
them, AddAttachment answers with one, DeleteAttachment takes one, and a GET of one
(after Basic login) answers the file -- Outlook downloads attachments by URL. The
``ID`` is the item's row ID as the device that asked was given it (a GET from another
User-Agent is looked up in the account's other Outlooks' IDs too); an occurrence row's
files are its series'.
"""

from __future__ import annotations

import re
from typing import Optional
from urllib.parse import quote, unquote, urlsplit

import attrs

from smsync.formats import pim_attachments as files
from smsync.formats.contentlines import parse_components, serialize
from smsync.protocols.lists import state

#: Largest file AddAttachment takes (bytes): the request's base64 is one XML text
#: node, which the parser bounds at 10 MB.
MAX_ATTACHMENT = 7 * 1024 * 1024
#: errorcode: the item does not exist.
NO_ITEM = "0x81020016"
_TAIL = re.compile(r"/lists/([^/]+)/attachments/(\d{1,10})/([^/]+)$", re.IGNORECASE)
#: What a file name may not hold (SharePoint refuses these in a file name).
_BAD_NAME = re.compile(r'[\x00-\x1f"#%*:<>?\\/{|}~]')


@attrs.frozen
class AttachmentPath:
    """What an attachment URL names: the list's URL segment, the row ID, the file."""

    list_name: str
    item_id: int
    file_name: str


def url_of(site_url: str, list_url_name: str, item_id: int, file_name: str) -> str:
    """The URL of an attachment (``site_url``: the site's absolute URL)."""
    return (f"{site_url.rstrip('/')}/Lists/{quote(list_url_name, safe='')}/Attachments/{item_id}/"
            f"{quote(file_name, safe='')}")


def parse_path(url_or_path: str, site_path: str) -> Optional[AttachmentPath]:
    """What an attachment URL (absolute, or the path alone) names; None if it is not
    one below ``site_path``."""
    path = urlsplit(url_or_path.strip()).path if "://" in url_or_path else url_or_path.split("?", 1)[0]
    site = site_path.rstrip("/").lower()
    if not path.lower().startswith(site + "/"):
        return None
    match = _TAIL.match(path[len(site):])
    if not match:
        return None
    return AttachmentPath(unquote(match.group(1)), int(match.group(2)), unquote(match.group(3)))


def absolute_urls(data_rows: list, site_url: str) -> list:
    """The rows with the server-relative URLs of their ``Attachments`` field made
    absolute on ``site_url``'s origin, as SharePoint writes them with
    IncludeAttachmentUrls (Outlook downloads from them as they are)."""
    parts = urlsplit(site_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    for row in data_rows:
        value = row.get("ows_Attachments")
        if value and value.startswith(";#/"):
            row.set("ows_Attachments", ";#".join(origin + piece if piece.startswith("/") else piece
                                                 for piece in value.split(";#")))
    return data_rows


def good_name(name: str) -> bool:
    return bool(name) and len(name) <= 128 and not _BAD_NAME.search(name) and name.strip(". ") == name


def parse(content: bytes):
    """The item's root component (None when it does not read)."""
    try:
        found = parse_components(content)
    except Exception:
        return None
    return found[0] if found else None


def names(content: bytes) -> list[str]:
    """The file names of an item's attachments (none without parsing, for most items)."""
    if not files.has_files(content):
        return []
    root = parse(content)
    holder = files.holder_of(root) if root is not None else None
    return [files.name_of(p) for p in files.files(holder)] if holder is not None else []


def read(content: bytes, name: str):
    """``(bytes, content type)`` of file ``name`` of an item; None if it has none such."""
    root = parse(content) if files.has_files(content) else None
    holder = files.holder_of(root) if root is not None else None
    prop = files.find_named(holder, name) if holder is not None else None
    if prop is None:
        return None
    return files.content(prop), files.content_type(prop)


def series_name(key: str) -> str:
    """The stored item a row key is of (an occurrence's: its series)."""
    return state.split_key(key)[0]


def rewrite(root) -> bytes:
    return serialize(root)
