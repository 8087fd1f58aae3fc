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


def _bytes(response) -> bytes:
    return response if isinstance(response, bytes) else etree.tostring(response, encoding="utf-8")


def _sync_token(token: str) -> bytes:
    return f"<D:sync-token>{escape_text(token)}</D:sync-token>".encode("utf-8")


def multistatus(responses: Iterable, sync_token: Optional[str] = None,
                status: int = 207) -> Response:
    """A ``DAV:multistatus`` of ``responses`` (``DAV:response`` elements or their bytes
    from ``response_bytes``), with a ``DAV:sync-token`` when given (RFC 6578).

    ``responses`` may also be an async iterator of lists of them (a report over
    thousands of items renders them a batch at a time): the answer is then streamed,
    each batch produced once the client has taken the one before.
    """
    if hasattr(responses, "__aiter__"):
        return Response(status, content_type=XML_TYPE, chunks=_streamed(responses, sync_token))
    parts = [_root_open()]
    parts.extend(_bytes(r) for r in responses)
    if sync_token is not None:
        parts.append(_sync_token(sync_token))
    parts.append(b"</D:multistatus>")
    return Response(status, b"".join(parts), XML_TYPE)


async def _streamed(batches, sync_token: Optional[str]):
    yield _root_open()
    try:
        async for batch in batches:
            if batch:
                yield b"".join(_bytes(r) for r in batch)
    finally:
        aclose = getattr(batches, "aclose", None)
        if aclose is not None:
            await aclose()
    if sync_token is not None:
        yield _sync_token(sync_token)
    yield b"</D:multistatus>"


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
