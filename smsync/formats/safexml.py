"""Reading XML a stranger sent: no DTD, no entity expansion, nothing fetched, bounded
size and nesting. The SOAP protocols (EWS, the Lists service) read their requests
through ``parse``, each turning ``UnsafeXML`` into its own fault."""

from __future__ import annotations

from lxml import etree

#: Deepest element nesting accepted by default (real requests stay under 20).
MAX_DEPTH = 64


class UnsafeXML(ValueError):
    """The body is not plain, well-formed XML within the limits; the message says why."""


def new_parser(remove_blank_text: bool = False) -> etree.XMLParser:
    """A parser that reads no DTD, expands no entity and fetches nothing."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, remove_comments=True,
                           remove_pis=True, remove_blank_text=remove_blank_text)


_PARSERS = {False: new_parser(False), True: new_parser(True)}


def depth_ok(root, max_depth: int = MAX_DEPTH) -> bool:
    """Whether ``root`` nests no deeper than ``max_depth`` levels."""
    # Iterative, so a hostile nesting cannot exhaust Python's stack either.
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return False
        stack.extend((child, depth + 1) for child in node)
    return True


def parse(body: bytes, limit: int, max_depth: int = MAX_DEPTH, remove_blank_text: bool = False):
    """The root element of ``body``; ``UnsafeXML`` for anything that is not plain,
    well-formed XML of at most ``limit`` bytes and ``max_depth`` levels (a DTD anywhere
    included: its entities are never expanded, and nothing legitimate carries one)."""
    if not isinstance(body, (bytes, bytearray)):
        raise UnsafeXML("the request body is not bytes")
    if len(body) > limit:
        raise UnsafeXML("the request is too large")
    if b"<!DOCTYPE" in bytes(body[:4096]).upper():
        raise UnsafeXML("document type declarations are not accepted")
    try:
        root = etree.fromstring(bytes(body), _PARSERS[bool(remove_blank_text)])
    except (etree.XMLSyntaxError, ValueError) as e:
        raise UnsafeXML(f"not well-formed XML: {str(e)[:200]}") from None
    if root is None:
        raise UnsafeXML("empty request")
    # A DOCTYPE after a long prolog got past the look above: refused all the same.
    if root.getroottree().docinfo.doctype:
        raise UnsafeXML("document type declarations are not accepted")
    if not depth_ok(root, max_depth):
        raise UnsafeXML("the request is nested too deeply")
    return root
