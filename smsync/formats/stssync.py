"""``stssync://`` links (MS-STSSYN): what hands a list to Outlook ("Add to Outlook").

A link is ``stssync://sts/?ver=1.1&type=calendar&cmd=add-folder&base-url=...&list-url=
...&guid=...&site-name=...&list-name=...`` (``ver=1.0`` for Outlook 2003, which takes
calendars and contacts, read-only). Values are written as MS-STSSYN 2.2 says: in the
URL and name fields, ``& \\ [ ] |`` are first preceded by ``|``; every non-ASCII
character is written as its 4-digit UTF-16 hex code in brackets, a run of them in one
pair (``[00E900E8]``); then everything but letters, digits and ``( ) _ / [ ] | . -``
is percent-encoded. ``parse_link`` reads a link back (for tests and tools).

A list's GUID (``list_guid``) is made from the account and the collection's stable id,
so it survives a rename and no other account's list has it. Pure functions, shared by
the Lists service (``smsync.protocols.lists``), the CLI and the web interface.
"""

from __future__ import annotations

import uuid
from typing import Optional

SCHEME_PART = "stssync://sts/?"
#: Namespace of the list GUIDs (uuid5): fixed, so a list keeps its GUID forever.
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:smsync:lists")
#: Fields whose values take the special escaping (MS-STSSYN 2.2).
ESCAPED_FIELDS = ("base-url", "site-name", "list-name", "list-url", "folder-url")
#: The order fields are written in (any order is valid).
ORDER = ("ver", "type", "cmd", "base-url", "list-url", "guid", "site-name", "list-name")
_SPECIAL = "&\\[]|"
#: What stays as it is after the special escaping: the ABNF's ``unreserved``.
_SAFE = "()_/[]|.-"
#: The link ``type`` of each list type (MS-STSSYN 2.1).
TYPES = ("calendar", "contacts", "tasks")
VERSION = "1.1"
#: Outlook 2003's version of the structure.
VERSION_2003 = "1.0"


def list_guid(account: str, collection_id: str) -> uuid.UUID:
    """The stable GUID of ``account``'s collection ``collection_id`` as a list."""
    return uuid.uuid5(_NAMESPACE, f"{account.lower()}\0{collection_id}")


def _brackets(text: str) -> str:
    """Non-ASCII characters as ``[XXXX]`` groups (UTF-16 code units, so a character
    beyond the BMP is its surrogate pair)."""
    out, run = [], []
    for ch in text:
        if ord(ch) < 0x80:
            if run:
                out.append("[" + "".join(run) + "]")
                run = []
            out.append(ch)
        else:
            units = ch.encode("utf-16-be")
            run.extend(units[i:i + 2].hex().upper() for i in range(0, len(units), 2))
    if run:
        out.append("[" + "".join(run) + "]")
    return "".join(out)


def encode_value(value: str, special: bool) -> str:
    """One field's value as it is written in a link."""
    if special:
        value = "".join("|" + ch if ch in _SPECIAL else ch for ch in value)
        value = _brackets(value)
    else:
        value = _brackets(value)
    return _percent(value)


def _percent(text: str) -> str:
    """``text`` (ASCII by now) with everything but the ABNF's ``unreserved`` as ``%XX``
    (urllib's quote keeps ``~``, which the ABNF does not allow)."""
    return "".join(ch if (ch.isascii() and ch.isalnum()) or ch in _SAFE else f"%{ord(ch):02X}"
                   for ch in text)


def stssync_link(link_type: str, base_url: str, list_url: str, guid: uuid.UUID, site_name: str,
                 list_name: str, version: str = VERSION) -> str:
    """The link adding list ``guid`` (of type ``calendar``, ``contacts`` or ``tasks``)
    at ``base_url`` + ``list_url`` to Outlook, named ``site_name`` and ``list_name``.

    Raises:
        ValueError: an unknown type, or a base URL that is not http(s).
    """
    if link_type not in TYPES:
        raise ValueError(f"no stssync type {link_type!r}")
    if not base_url.lower().startswith(("http://", "https://")):
        raise ValueError(f"the site URL {base_url!r} is not an http(s) URL")
    values = {
        "ver": version,
        "type": link_type,
        "cmd": "add-folder",
        "base-url": base_url.rstrip("/"),
        "list-url": "/" + list_url.strip("/") + "/",
        "guid": "{" + str(guid).upper() + "}",
        "site-name": site_name,
        "list-name": list_name,
    }
    return SCHEME_PART + "&".join(
        f"{key}={encode_value(values[key], key in ESCAPED_FIELDS)}" for key in ORDER)


def base_url(site_url: str, hostname: str, path: str) -> str:
    """The site the links name: ``[lists] site_url`` when set, else
    ``https://<hostname><path>`` (the service's own path on the shared site)."""
    if site_url.strip():
        return site_url.strip().rstrip("/")
    return f"https://{hostname}{path}"


# -- reading a link back -------------------------------------------------------------------


def decode_value(raw: str) -> str:
    """A value as ``encode_value`` wrote it, read back (``ValueError`` if malformed)."""
    from urllib.parse import unquote

    text = unquote(raw, errors="strict")
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "|":
            if i + 1 >= len(text):
                raise ValueError("a '|' ends the value")
            out.append(text[i + 1])
            i += 2
        elif ch == "[":
            end = text.find("]", i)
            digits = text[i + 1:end] if end > 0 else ""
            if end < 0 or not digits or len(digits) % 4:
                raise ValueError("a '[' group is not whole 4-digit hex codes")
            out.append(bytes.fromhex(digits).decode("utf-16-be"))
            i = end + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def parse_link(link: str) -> dict:
    """``{field: value}`` of a stssync link (``ValueError`` if it is not one)."""
    if not link.startswith(SCHEME_PART):
        raise ValueError("not an stssync://sts/? link")
    fields: dict[str, str] = {}
    for pair in link[len(SCHEME_PART):].split("&"):
        key, sep, value = pair.partition("=")
        if not sep or not key or key in fields:
            raise ValueError(f"malformed field {pair[:40]!r}")
        fields[key] = decode_value(value)
    return fields


def guid_of(fields: dict) -> Optional[uuid.UUID]:
    text = fields.get("guid", "")
    if len(text) == 38 and text[0] == "{" and text[-1] == "}":
        try:
            return uuid.UUID(text[1:-1])
        except ValueError:
            return None
    return None
