"""Text matching under RFC 4790 collations, as CalDAV's and CardDAV's text-match use it.
Pure functions."""

from __future__ import annotations

import attrs

#: Collations implemented (RFC 4790 names); ``i;unicode-casemap`` is RFC 5051.
COLLATIONS = ("i;ascii-casemap", "i;octet", "i;unicode-casemap")
MATCH_TYPES = ("equals", "contains", "starts-with", "ends-with")

_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


@attrs.frozen
class TextMatch:
    """A text-match: ``text`` to find under ``collation``; ``match_type`` is CardDAV's
    (CalDAV always means ``contains``); ``negate`` inverts the outcome."""

    text: str
    collation: str = "i;ascii-casemap"
    negate: bool = False
    match_type: str = "contains"

    def matches(self, value: str) -> bool:
        return match_text(self, value)


def fold(text: str, collation: str) -> str:
    """``text`` as ``collation`` compares it."""
    if collation == "i;octet":
        return text
    if collation == "i;unicode-casemap":
        return text.casefold()
    # i;ascii-casemap folds ASCII letters only.
    return text.translate(_ASCII_LOWER)


def match_text(tm: TextMatch, value: str) -> bool:
    """Whether ``value`` matches ``tm`` (negation applied)."""
    needle, hay = fold(tm.text, tm.collation), fold(value, tm.collation)
    if tm.match_type == "equals":
        found = hay == needle
    elif tm.match_type == "starts-with":
        found = hay.startswith(needle)
    elif tm.match_type == "ends-with":
        found = hay.endswith(needle)
    else:
        found = needle in hay
    return found != tm.negate


def parse_text_match(el, default_collation: str, unsupported: str) -> TextMatch:
    """The CalDAV or CardDAV ``text-match`` element ``el``: a collation this server lacks
    is 403 with the protocol's ``unsupported`` precondition (its supported-collation),
    an unknown match-type 400."""
    from smsync.protocols.dav.errors import DavError
    from smsync.protocols.dav.xml import text_of

    collation = el.get("collation") or default_collation
    if collation not in COLLATIONS:
        raise DavError(403, unsupported, f"collation {collation} is not supported")
    negate = (el.get("negate-condition") or "no").strip().lower() == "yes"
    match_type = (el.get("match-type") or "contains").strip().lower()
    if match_type not in MATCH_TYPES:
        raise DavError(400, message=f"bad match-type {match_type!r}")
    return TextMatch(text_of(el), collation, negate, match_type)
