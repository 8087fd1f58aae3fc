"""The XML side of WebDAV: namespaces, safe parsing and the element builders every
answer uses. Pure functions over bytes and lxml elements."""

from __future__ import annotations

import functools
import re
from http import HTTPStatus
from xml.sax.saxutils import escape as _escape
from typing import Iterable, Optional

from lxml import etree

from smsync.protocols.dav.errors import DavError

DAV = "DAV:"
#: CalendarServer's namespace: getctag lives here and every client still reads it.
CS = "http://calendarserver.org/ns/"

#: Prefixes used when writing XML. Extensions add theirs with ``register_prefix`` so
#: that answers name every namespace once, at the root.
NAMESPACES: dict[str, str] = {"D": DAV, "CS": CS}


_PREFIX_OF: dict[str, str] = {ns: p for p, ns in NAMESPACES.items()}


def register_prefix(prefix: str, namespace: str) -> None:
    """Use ``prefix`` for ``namespace`` in every document written from now on."""
    NAMESPACES[prefix] = namespace
    _PREFIX_OF[namespace] = prefix


def clark(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


def dav(local: str) -> str:
    """The Clark name of ``local`` in the DAV: namespace."""
    return "{DAV:}" + local


# Entities and DTDs are refused outright: a request body never needs them and they are
# the road to billion-laughs and external-entity attacks.
def new_parser() -> etree.XMLParser:
    """A parser for request bodies (one per thread: lxml serialises users of one)."""
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=True,
        huge_tree=False,
    )


_PARSER = new_parser()


def parse_body(body: bytes, parser: Optional[etree.XMLParser] = None) -> Optional[etree._Element]:
    """The root element of a request body, or None when the body is empty.

    Raises ``DavError(400)`` for anything that is not well-formed XML without a DTD.
    """
    if not body or not body.strip():
        return None
    try:
        root = etree.fromstring(body, parser if parser is not None else _PARSER)
    except (etree.XMLSyntaxError, ValueError) as e:
        raise DavError(400, message=f"malformed XML body: {e}") from None
    if root.getroottree().docinfo.doctype:
        raise DavError(400, message="DTDs are not accepted in request bodies")
    return root


def element(name: str, text: Optional[str] = None, children: Iterable = (), **attrib) -> etree._Element:
    """A new element ``name`` (Clark notation) holding ``text`` and ``children``."""
    el = etree.Element(name, attrib) if attrib else etree.Element(name)
    if text is not None:
        el.text = text
    for child in children:
        el.append(child)
    return el


def sub(parent: etree._Element, name: str, text: Optional[str] = None) -> etree._Element:
    el = etree.SubElement(parent, name)
    if text is not None:
        el.text = text
    return el


def href_element(href: str) -> etree._Element:
    return element(dav("href"), href)


@functools.lru_cache(maxsize=None)
def status_line(code: int) -> str:
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = "Unknown"
    return f"HTTP/1.1 {code} {phrase}"


def root_element(name: str) -> etree._Element:
    """A document root declaring every registered prefix."""
    return etree.Element(name, nsmap=dict(NAMESPACES))


def propstat(status: int, props: Iterable[etree._Element], description: Optional[str] = None,
             condition: Optional[str] = None):
    """A ``DAV:propstat``; ``condition`` names the pre/postcondition that failed."""
    ps = element(dav("propstat"))
    prop = sub(ps, dav("prop"))
    for p in props:
        prop.append(p)
    sub(ps, dav("status"), status_line(status))
    if condition:
        sub(sub(ps, dav("error")), condition)
    if description:
        sub(ps, dav("responsedescription"), description)
    return ps


def response_element(href: str, status: Optional[int] = None, propstats: Iterable = (),
                     error: Optional[etree._Element] = None) -> etree._Element:
    """A ``DAV:response``: either one ``status`` for the href or its ``propstats``."""
    resp = element(dav("response"))
    resp.append(href_element(href))
    if status is not None:
        sub(resp, dav("status"), status_line(status))
    for ps in propstats:
        resp.append(ps)
    if error is not None:
        resp.append(error)
    return resp


def serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


# --- Fast path. A multistatus of 10,000 members built as lxml trees costs ~100 us a
# member; most members hold only short text properties, so those are written directly
# as bytes, using the prefixes every document declares at its root. Anything else
# (extension properties with structure) stays an lxml element and is serialised as is.

# Characters XML 1.0 cannot carry at all; CR must survive parsing, so it is a reference.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ENTITIES = {"\r": "&#13;"}


_SPECIAL = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def escape_text(text: str) -> str:
    """``text`` as XML character data (markup escaped, CR kept, invalid chars dropped)."""
    if not _SPECIAL.search(text):
        return text
    if _INVALID_XML.search(text):
        text = _INVALID_XML.sub("", text)
    return _escape(text, _ENTITIES)


# The control characters XML cannot carry, as bytes (U+FFFE/U+FFFF are EF BF BE/BF).
_CONTROL_BYTES = bytes(c for c in range(32) if c not in (9, 10, 13))


def escape_utf8(data: bytes) -> bytes:
    """UTF-8 ``data`` as XML character data, like ``escape_text`` but without a round
    trip through str (item bodies are rendered thousands at a time). Input that is not
    valid UTF-8 is decoded with replacement characters, as ``escape_text`` callers do."""
    # translate() and find() run in C: far quicker than a regex over a whole body.
    plain = len(data.translate(None, _CONTROL_BYTES)) == len(data)
    if plain and not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            plain = False
        else:
            plain = b"\xef\xbf" not in data
    if plain:
        return (data.replace(b"&", b"&amp;").replace(b"<", b"&lt;")
                .replace(b">", b"&gt;").replace(b"\r", b"&#13;"))
    return escape_text(data.decode("utf-8", "replace")).encode("utf-8")


@functools.lru_cache(maxsize=1024)
def qname(name: str) -> Optional[str]:
    """``prefix:local`` for a Clark name whose namespace has a registered prefix."""
    if not name.startswith("{"):
        return None
    ns, _, local = name[1:].partition("}")
    prefix = _PREFIX_OF.get(ns)
    return f"{prefix}:{local}" if prefix else None


def element_tags(name: str) -> tuple[bytes, bytes]:
    """The start and end tags of element ``name`` (Clark), for writing its content
    between them; ``name``'s namespace must have a registered prefix."""
    q = qname(name)
    if q is None:
        raise ValueError(f"{name} has no registered prefix")
    return f"<{q}>".encode(), f"</{q}>".encode()


def text_property(name: str, text: Optional[str] = None):
    """Property ``name`` holding ``text``: bytes when its namespace has a prefix,
    else an lxml element (both are accepted wherever property values go)."""
    q = qname(name)
    if q is None:
        return element(name, text)
    if not text:
        return f"<{q}/>".encode()
    return f"<{q}>{escape_text(text)}</{q}>".encode("utf-8")


def fragment(value) -> bytes:
    """A property value (bytes or element) as bytes."""
    if isinstance(value, bytes):
        return value
    return etree.tostring(value, encoding="utf-8")


@functools.lru_cache(maxsize=None)
def status_bytes(code: int) -> bytes:
    """``<D:status>`` of HTTP status ``code``, as bytes."""
    return f"<D:status>{status_line(code)}</D:status>".encode()


def response_bytes(href: str, propstats=(), status: Optional[int] = None) -> bytes:
    """A ``DAV:response`` as bytes: ``propstats`` are ``(status, [values])`` pairs."""
    if status is None and len(propstats) == 1:
        # The common case (every property found), in one go.
        code, values = propstats[0]
        return b"".join((b"<D:response><D:href>", escape_text(href).encode("utf-8"),
                         b"</D:href><D:propstat><D:prop>",
                         *[v if v.__class__ is bytes else fragment(v) for v in values],
                         b"</D:prop>", status_bytes(code), b"</D:propstat></D:response>"))
    parts = [b"<D:response><D:href>", escape_text(href).encode("utf-8"), b"</D:href>"]
    if status is not None:
        parts.append(status_bytes(status))
    for code, values in propstats:
        parts.append(b"<D:propstat><D:prop>")
        parts.extend(fragment(v) for v in values)
        parts.append(b"</D:prop>")
        parts.append(status_bytes(code))
        parts.append(b"</D:propstat>")
    parts.append(b"</D:response>")
    return b"".join(parts)


def text_of(el: Optional[etree._Element]) -> str:
    """All the text inside ``el`` (empty for None)."""
    if el is None:
        return ""
    return "".join(el.itertext())


def child_names(el: Optional[etree._Element]) -> list[str]:
    """Clark names of the element children of ``el`` (comments skipped)."""
    if el is None:
        return []
    return [c.tag for c in el if isinstance(c.tag, str)]


def children(el: Optional[etree._Element]) -> list[etree._Element]:
    if el is None:
        return []
    return [c for c in el if isinstance(c.tag, str)]


def dead_value(stored: str, name: str) -> etree._Element:
    """The element a stored dead property value stands for.

    Dead properties are stored as the serialised property element; a value stored by
    something else (plain text) is given back as the element's text.
    """
    if stored.lstrip().startswith("<"):
        try:
            el = etree.fromstring(stored.encode("utf-8"), _PARSER)
            if el.tag == name:
                return el
        except etree.XMLSyntaxError:
            pass
    return element(name, stored)


def dead_store(el: etree._Element) -> str:
    """How a dead property element is stored: the element itself, serialised."""
    copy = etree.fromstring(etree.tostring(el), _PARSER)
    etree.cleanup_namespaces(copy)
    return etree.tostring(copy, encoding="unicode")
