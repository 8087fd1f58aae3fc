"""addressbook-query filters (RFC 6352 10.5): parsed from XML into values, evaluated
against a parsed vCard. Pure: no store, no I/O."""

from __future__ import annotations

from typing import Optional

import attrs

from smsync.formats.contentlines import Component, unescape_text
from smsync.protocols.dav.collation import TextMatch
from smsync.protocols.dav.collation import parse_text_match as text_match_of
from smsync.protocols.dav.errors import DavError
from smsync.protocols.dav.xml import children

CARD = "urn:ietf:params:xml:ns:carddav"
SUPPORTED_COLLATION = f"{{{CARD}}}supported-collation"
SUPPORTED_FILTER = f"{{{CARD}}}supported-filter"


def _card(local: str) -> str:
    return f"{{{CARD}}}{local}"


@attrs.frozen
class ParamFilter:
    name: str
    is_not_defined: bool = False
    text_match: Optional[TextMatch] = None


@attrs.frozen
class PropFilter:
    name: str
    all_of: bool = False
    is_not_defined: bool = False
    text_matches: tuple = ()
    params: tuple = ()


@attrs.frozen
class Filter:
    all_of: bool = False
    props: tuple = ()


def parse_text_match(el) -> TextMatch:
    # RFC 6352 10.5.4: i;unicode-casemap is CardDAV's default collation.
    return text_match_of(el, "i;unicode-casemap", SUPPORTED_COLLATION)


def _test(el) -> bool:
    return (el.get("test") or "anyof").strip().lower() == "allof"


def _param_filter(el) -> ParamFilter:
    name = (el.get("name") or "").upper()
    if not name:
        raise DavError(403, SUPPORTED_FILTER, "param-filter without name")
    kids = children(el)
    if any(k.tag == _card("is-not-defined") for k in kids):
        return ParamFilter(name, is_not_defined=True)
    tm = next((k for k in kids if k.tag == _card("text-match")), None)
    return ParamFilter(name, text_match=parse_text_match(tm) if tm is not None else None)


def _prop_filter(el) -> PropFilter:
    name = (el.get("name") or "").upper()
    if not name:
        raise DavError(403, SUPPORTED_FILTER, "prop-filter without name")
    kids = children(el)
    if any(k.tag == _card("is-not-defined") for k in kids):
        return PropFilter(name, is_not_defined=True)
    return PropFilter(
        name,
        all_of=_test(el),
        text_matches=tuple(parse_text_match(k) for k in kids if k.tag == _card("text-match")),
        params=tuple(_param_filter(k) for k in kids if k.tag == _card("param-filter")),
    )


def parse_filter(el) -> Filter:
    """A ``CR:filter`` element (None: match everything)."""
    if el is None:
        return Filter()
    return Filter(_test(el), tuple(_prop_filter(k) for k in children(el)
                                   if k.tag == _card("prop-filter")))


def _param_matches(pf: ParamFilter, prop) -> bool:
    defined = any(k == pf.name for k, _ in prop.params)
    if pf.is_not_defined:
        return not defined
    if not defined:
        return False
    if pf.text_match is None:
        return True
    values = [t for v in prop.param_values(pf.name) for t in v.split(",")]
    return any(pf.text_match.matches(v.strip()) for v in values)


def _value_texts(prop) -> list[str]:
    """The value of a property as matched: whole, and each structured component
    (N, ADR) on its own, so ``contains Smith`` finds ``Smith;John;;;``."""
    text = unescape_text(prop.value)
    parts = [unescape_text(p) for p in prop.value.split(";")] if ";" in prop.value else []
    return [text] + parts


def _prop_matches(pf: PropFilter, card: Component) -> bool:
    props = card.get_all(pf.name)
    if pf.is_not_defined:
        return not props
    if not props:
        return False
    for prop in props:
        tests = [any(tm.matches(t) for t in _value_texts(prop)) if not tm.negate
                 else all(tm.matches(t) for t in _value_texts(prop)) for tm in pf.text_matches]
        tests += [_param_matches(p, prop) for p in pf.params]
        if not tests:
            return True
        if (all(tests) if pf.all_of else any(tests)):
            return True
    return False


def matches(flt: Filter, card: Component) -> bool:
    """Whether the vCard passes the filter (an empty filter passes everything)."""
    if not flt.props:
        return True
    results = (_prop_matches(pf, card) for pf in flt.props)
    return all(results) if flt.all_of else any(results)
