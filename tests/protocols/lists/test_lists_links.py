"""The stssync:// links (MS-STSSYN): every field of each kind's link as the structure
requires it, the special escaping of names and URLs, and a link read back."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsync.model import CollectionKind
from smsync.protocols.lists import ids, links

GUID = uuid.UUID("6f9a2c1e-0b7d-4c55-9a31-2f4e8d7b6a10")
#: MS-STSSYN 2.2's ABNF: value = *uchar; uchar = escape / unreserved.
VALUE = re.compile(r"^(?:%[0-9A-F]{2}|[A-Za-z0-9()_/\[\]|.-])*$")
KEY = re.compile(r"^[A-Za-z-]+$")


def fields_of(link: str) -> list:
    assert link.startswith("stssync://sts/?")
    pairs = [p.split("=", 1) for p in link[len("stssync://sts/?"):].split("&")]
    for key, value in pairs:
        assert KEY.match(key) and VALUE.match(value), (key, value)
    return pairs


@pytest.mark.parametrize("kind", [CollectionKind.CALENDAR, CollectionKind.ADDRESSBOOK,
                                  CollectionKind.TASKS])
def test_each_kinds_link_has_every_field_as_ms_stssyn_requires(kind):
    list_type = ids.list_type(kind)
    link = links.stssync_link(list_type.link_type, "https://mail.example.org/lists/",
                              "Lists/work", GUID, "alice@example.org", "Work")
    pairs = fields_of(link)
    fields = dict(pairs)
    assert len(fields) == len(pairs)  # each field once
    assert set(fields) == {"ver", "type", "cmd", "base-url", "list-url", "guid", "site-name",
                           "list-name"}
    # ver: x.y, digits, x not starting with 0, y 0 or not starting with 0, two digits at most.
    assert re.fullmatch(r"[1-9][0-9]?\.(0|[1-9][0-9]?)", fields["ver"]) and fields["ver"] == "1.1"
    assert fields["type"] == {"calendar": "calendar", "addressbook": "contacts",
                              "tasks": "tasks"}[kind.value]
    assert fields["cmd"] == "add-folder"
    # base-url: the site, not ending in "/"; ':' percent-encoded, '/' and '.' as they are.
    assert fields["base-url"] == "https%3A//mail.example.org/lists"
    # list-url: begins with "/"; base-url + list-url is the list's URL.
    assert fields["list-url"] == "/Lists/work/"
    read = links.parse_link(link)
    assert read["base-url"] + read["list-url"] == "https://mail.example.org/lists/Lists/work/"
    # guid: {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}, braces percent-encoded in the URI.
    assert fields["guid"] == "%7B6F9A2C1E-0B7D-4C55-9A31-2F4E8D7B6A10%7D"
    assert re.fullmatch(r"\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}", read["guid"])
    assert links.guid_of(read) == GUID
    assert fields["site-name"] == "alice%40example.org" and read["site-name"] == "alice@example.org"
    assert fields["list-name"] == "Work"
    # The link is ASCII (MS-STSSYN 2.1).
    link.encode("ascii")


def test_outlook_2003_links_are_version_1_0():
    link = links.stssync_link("calendar", "http://h/lists", "Lists/c", GUID, "s", "c",
                              links.VERSION_2003)
    assert dict(fields_of(link))["ver"] == "1.0"


def test_names_and_urls_take_the_special_escaping():
    link = links.stssync_link("contacts", "https://h.example/li[s]ts", "Lists/a|b",
                              GUID, "Bob & Co\\", "Café Noël ☕ 𝄞")
    fields = dict(fields_of(link))
    # & \ [ ] | are preceded by "|", then percent-encoded where not unreserved.
    assert fields["site-name"] == "Bob%20|%26%20Co|%5C"
    assert fields["base-url"] == "https%3A//h.example/li|[s|]ts"
    assert fields["list-url"] == "/Lists/a||b/"
    # Non-ASCII characters: 4-digit hex in brackets, a run of them in one pair.
    assert fields["list-name"] == "Caf[00E9]%20No[00EB]l%20[2615]%20[D834DD1E]"
    read = links.parse_link(link)
    assert (read["site-name"], read["list-name"], read["base-url"], read["list-url"]) == (
        "Bob & Co\\", "Café Noël ☕ 𝄞", "https://h.example/li[s]ts", "/Lists/a|b/")


@given(st.text(min_size=1, max_size=40))
def test_any_name_reads_back(name):
    link = links.stssync_link("tasks", "https://h/lists", "Lists/t", GUID, name, name)
    fields_of(link)
    read = links.parse_link(link)
    assert read["site-name"] == name and read["list-name"] == name


def test_the_site_is_the_configured_url_else_the_host_name():
    assert links.base_url("", "mail.example.org", "/lists") == "https://mail.example.org/lists"
    assert links.base_url(" https://proxy.example/x/lists/ ", "ignored", "/lists") \
        == "https://proxy.example/x/lists"
    with pytest.raises(ValueError):
        links.stssync_link("calendar", "ftp://h/lists", "Lists/c", GUID, "s", "c")
    with pytest.raises(ValueError):
        links.stssync_link("notes", "https://h/lists", "Lists/c", GUID, "s", "c")
