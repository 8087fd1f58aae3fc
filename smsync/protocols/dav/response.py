"""What a handler returns, and the bodies the core writes (multistatus, DAV:error)."""

from __future__ import annotations

from typing import Iterable, Optional

from lxml import etree

from smsync.edge.web import Response  # noqa: F401  (the answer type handlers return)
from smsync.protocols.dav.errors import DavError
from smsync.protocols.dav.xml import NAMESPACES, dav, element, escape_text, root_element, serialize

XML_TYPE = "application/xml; charset=utf-8"


def xml_response(root: etree._Element, status: int = 207, headers: Optional[dict] = None) -> Response:
    return Response(status, serialize(root), XML_TYPE, dict(headers or {}))


def _root_open() -> bytes:
    decls = "".join(f' xmlns:{p}="{escape_text(ns)}"' for p, ns in NAMESPACES.items())
    return f"<?xml version='1.0' encoding='utf-8'?>\n<D:multistatus{decls}>".encode()


def multistatus(responses: Iterable, sync_token: Optional[str] = None,
                status: int = 207) -> Response:
    """A ``DAV:multistatus`` of ``responses`` (``DAV:response`` elements or their bytes
    from ``response_bytes``), with a ``DAV:sync-token`` when given (RFC 6578)."""
    parts = [_root_open()]
    parts.extend(r if isinstance(r, bytes) else etree.tostring(r, encoding="utf-8")
                 for r in responses)
    if sync_token is not None:
        parts.append(f"<D:sync-token>{escape_text(sync_token)}</D:sync-token>".encode("utf-8"))
    parts.append(b"</D:multistatus>")
    return Response(status, b"".join(parts), XML_TYPE)


def error_body(error: DavError) -> Optional[bytes]:
    """The ``DAV:error`` document of ``error`` (None when it names no condition)."""
    if not error.condition:
        return None
    root = root_element(dav("error"))
    cond = element(error.condition)
    for child in error.children:
        cond.append(child)
    root.append(cond)
    if error.message:
        desc = etree.SubElement(root, "{http://smsync.org/ns/}description")
        desc.text = error.message
    return serialize(root)


def error_response(error: DavError) -> Response:
    body = error_body(error)
    if body is None:
        text = (error.message or "").encode("utf-8")
        return Response(error.status, text + (b"\n" if text else b""),
                        "text/plain; charset=utf-8" if text else None, dict(error.headers))
    return Response(error.status, body, XML_TYPE, dict(error.headers))
