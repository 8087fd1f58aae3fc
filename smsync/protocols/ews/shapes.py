"""What a request asks to see of each folder or item: ``FolderShape``/``ItemShape``
(MS-OXWSCDATA 2.2.4.30/.38) -- a base shape (IdOnly, Default, AllProperties) plus
additional properties by FieldURI or ExtendedFieldURI -- and the paging views of
FindFolder/FindItem."""

from __future__ import annotations

from typing import Optional

import attrs

from smsync.protocols.ews.errors import INVALID_PAGING, SCHEMA_VALIDATION, EWSError
from smsync.protocols.ews.extended import parse_uri
from smsync.protocols.ews.soap import m, t, xs_bool

ID_ONLY, DEFAULT, ALL = "IdOnly", "Default", "AllProperties"


@attrs.frozen
class Shape:
    """``base`` (ID_ONLY, DEFAULT, ALL), the FieldURIs asked for beyond it
    (``"item:Subject"``), the body type (Best, HTML, Text), whether MIME content was
    asked for (IncludeMimeContent) and the extended properties asked for
    (``extended.Uri``s; no base shape includes them)."""

    base: str = DEFAULT
    fields: frozenset = frozenset()
    body_type: str = "Best"
    mime: bool = False
    extended: tuple = ()

    def wants(self, field_uri: str, default: bool = False, in_all: bool = True) -> bool:
        """Whether the property ``field_uri`` is asked for: by name, or by the base
        shape (``default``: it is in the Default shape; ``in_all``: in AllProperties)."""
        if field_uri in self.fields:
            return True
        if self.base == ALL:
            return in_all
        return self.base == DEFAULT and default


def parse_shape(element, tag: str) -> Shape:
    """The shape in ``<m:{tag}>`` under ``element`` (a missing one is a schema error)."""
    node = element.find(m(tag))
    if node is None:
        raise EWSError(SCHEMA_VALIDATION, f"no {tag}")
    base = (node.findtext(t("BaseShape")) or "").strip()
    if base not in (ID_ONLY, DEFAULT, ALL):
        raise EWSError(SCHEMA_VALIDATION, f"BaseShape {base[:40]!r} is not one of IdOnly, Default, AllProperties")
    fields = set()
    extended: dict = {}
    extra = node.find(t("AdditionalProperties"))
    if extra is not None:
        for prop in extra:
            uri = prop.get("FieldURI")
            if uri:
                fields.add(uri)
            elif prop.tag == t("ExtendedFieldURI"):
                parsed = parse_uri(prop)
                extended.setdefault((parsed.key, parsed.type), parsed)
    body_type = (node.findtext(t("BodyType")) or "Best").strip()
    mime = xs_bool(node.findtext(t("IncludeMimeContent")))
    return Shape(base, frozenset(fields), body_type, mime, tuple(extended.values()))


@attrs.frozen
class Page:
    """IndexedPageItemView/IndexedPageFolderView: ``offset`` (from the start) and
    ``limit`` (None: everything)."""

    offset: int = 0
    limit: Optional[int] = None


def parse_page(element, tag: str) -> Page:
    """The indexed view under ``element`` (``Page()`` without one)."""
    node = element.find(m(tag))
    if node is None:
        return Page()
    try:
        offset = int(node.get("Offset", "0"))
        limit_text = node.get("MaxEntriesReturned")
        limit = int(limit_text) if limit_text is not None else None
    except ValueError:
        raise EWSError(INVALID_PAGING, "Offset and MaxEntriesReturned are numbers") from None
    if offset < 0 or (limit is not None and limit < 1):
        raise EWSError(INVALID_PAGING, "a negative offset or a limit below 1")
    if node.get("BasePoint", "Beginning") == "End":
        # Counting from the end is turned into an offset from the start by the caller.
        offset = -offset - 1
    return Page(offset, limit)


def cut(items: list, page: Page) -> tuple[list, int, bool]:
    """``(the page's items, next offset, includes the last item)`` of ``items``."""
    total = len(items)
    offset = page.offset if page.offset >= 0 else max(0, total + page.offset + 1 - (page.limit or total))
    end = total if page.limit is None else min(total, offset + page.limit)
    chosen = items[offset:end]
    return chosen, end, end >= total
