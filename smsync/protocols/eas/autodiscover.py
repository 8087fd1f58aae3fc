"""Autodiscover for mobile clients (MS-ASCMD 2.2.1.1; the "mobilesync" schemas): a phone
given only an email address and a password POSTs its address to
``/autodiscover/autodiscover.xml`` and is told the EAS URL to use. Pure functions over
bytes: ``parse_request`` and ``settings_response``/``error_response``.
"""

from __future__ import annotations

from typing import Optional

import attrs
from lxml import etree

from smsync.edge.autodiscover import SCHEMA_NOT_SUPPORTED, AutodiscoverError

REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"
RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
ENVELOPE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"

#: Largest request body taken (a real one is a few hundred bytes).
MAX_REQUEST = 16 * 1024


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                          huge_tree=False, remove_comments=True)


@attrs.frozen
class AutodiscoverRequest:
    """What the phone asked: its user's address, and the schema it accepts."""

    email: str
    schema: str


def parse_request(body: bytes) -> AutodiscoverRequest:
    """The request in ``body``; ``AutodiscoverError`` when it is not one we answer."""
    if len(body) > MAX_REQUEST:
        raise AutodiscoverError("request too large")
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise AutodiscoverError("document type declarations are not accepted")
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as e:
        raise AutodiscoverError(f"not XML: {e}") from None
    if root.tag != f"{{{REQUEST_NS}}}Autodiscover":
        raise AutodiscoverError(f"not a mobilesync Autodiscover request: {root.tag[:100]}")
    request = root.find(f"{{{REQUEST_NS}}}Request")
    if request is None:
        raise AutodiscoverError("no Request element")
    email = (request.findtext(f"{{{REQUEST_NS}}}EMailAddress") or "").strip()
    schema = (request.findtext(f"{{{REQUEST_NS}}}AcceptableResponseSchema") or "").strip()
    if "@" not in email or len(email) > 320 or any(c.isspace() for c in email):
        raise AutodiscoverError("no valid EMailAddress")
    if schema != RESPONSE_NS:
        raise AutodiscoverError(f"response schema {schema[:100]!r} is not supported",
                                SCHEMA_NOT_SUPPORTED)
    return AutodiscoverRequest(email=email, schema=schema)


def _document(user_email: Optional[str], build) -> bytes:
    root = etree.Element(f"{{{ENVELOPE_NS}}}Autodiscover", nsmap={None: ENVELOPE_NS})
    response = etree.SubElement(root, f"{{{RESPONSE_NS}}}Response", nsmap={None: RESPONSE_NS})
    etree.SubElement(response, f"{{{RESPONSE_NS}}}Culture").text = "en:us"
    if user_email is not None:
        user = etree.SubElement(response, f"{{{RESPONSE_NS}}}User")
        build_user(user, user_email)
    build(response)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def build_user(user, email: str, display_name: Optional[str] = None) -> None:
    etree.SubElement(user, f"{{{RESPONSE_NS}}}DisplayName").text = display_name or email
    etree.SubElement(user, f"{{{RESPONSE_NS}}}EMailAddress").text = email


def settings_response(email: str, url: str) -> bytes:
    """The answer telling the phone of ``email`` to use the EAS endpoint at ``url``
    (``https://mail.example.org/Microsoft-Server-ActiveSync``)."""

    def build(response):
        action = etree.SubElement(response, f"{{{RESPONSE_NS}}}Action")
        settings = etree.SubElement(action, f"{{{RESPONSE_NS}}}Settings")
        for kind in ("MobileSync",):
            server = etree.SubElement(settings, f"{{{RESPONSE_NS}}}Server")
            etree.SubElement(server, f"{{{RESPONSE_NS}}}Type").text = kind
            etree.SubElement(server, f"{{{RESPONSE_NS}}}Url").text = url
            etree.SubElement(server, f"{{{RESPONSE_NS}}}Name").text = url

    return _document(email, build)


def error_response(code: int, message: str) -> bytes:
    """An Autodiscover error (ErrorCode 600 invalid request, 601 schema not supported)."""

    def build(response):
        action = etree.SubElement(response, f"{{{RESPONSE_NS}}}Action")
        error = etree.SubElement(action, f"{{{RESPONSE_NS}}}Error")
        etree.SubElement(error, f"{{{RESPONSE_NS}}}ErrorCode").text = str(code)
        etree.SubElement(error, f"{{{RESPONSE_NS}}}Message").text = message[:200]
        etree.SubElement(error, f"{{{RESPONSE_NS}}}DebugData").text = ""

    return _document(None, build)


def request_body(email: str) -> bytes:
    """The request a phone sends for ``email`` (for tests and clients)."""
    root = etree.Element(f"{{{REQUEST_NS}}}Autodiscover", nsmap={None: REQUEST_NS})
    request = etree.SubElement(root, f"{{{REQUEST_NS}}}Request")
    etree.SubElement(request, f"{{{REQUEST_NS}}}EMailAddress").text = email
    etree.SubElement(request, f"{{{REQUEST_NS}}}AcceptableResponseSchema").text = RESPONSE_NS
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")
