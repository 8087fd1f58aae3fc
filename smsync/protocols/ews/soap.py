"""The SOAP 1.1 side of EWS: reading a request envelope and writing answers, as pure
functions over bytes and lxml elements.

A request is ``parse_request(body)``: its operation (the Body's one child, in the
messages namespace), the ``RequestServerVersion`` it asked for and the operation's
element. Anything that is not such a request -- not XML, a DTD or entity (the road to
billion-laughs and external-entity attacks), too large, too deep, not SOAP, an unknown
version -- is a ``SoapFault`` carrying the EWS ResponseCode to answer with.

An answer is ``envelope(payload, version)``: the payload (an operation's
``<m:XxxResponse>``) under a Header with ``ServerVersionInfo``; a fault is
``fault_envelope(fault)``. ``response_message`` builds one per-item
``<m:XxxResponseMessage ResponseClass=.. >`` with its ``ResponseCode``.
``request_envelope`` and ``read_response`` are the client side, for tests and tools.
"""

from __future__ import annotations

from typing import Iterable, Optional

import attrs
from lxml import etree

from smsync.formats import safexml

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
E = "http://schemas.microsoft.com/exchange/services/2006/errors"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {"s": SOAP, "m": M, "t": T}

#: RequestServerVersion values served, oldest first (MS-OXWSCDATA 2.2.5.23), with the
#: build each is answered with in ServerVersionInfo.
VERSIONS = {
    "Exchange2007_SP1": (8, 3, 83, 6),
    "Exchange2010": (14, 0, 639, 21),
    "Exchange2010_SP1": (14, 1, 438, 0),
    "Exchange2010_SP2": (14, 2, 247, 5),
    "Exchange2013": (15, 0, 516, 32),
    "Exchange2013_SP1": (15, 0, 847, 32),
    "Exchange2016": (15, 1, 2507, 6),
}
#: What a request without RequestServerVersion gets (the schema's default).
DEFAULT_VERSION = "Exchange2007_SP1"
LATEST = "Exchange2016"

#: Largest request body parsed (a message sent base64-encoded is the largest thing a
#: client sends; the site's own limit bounds it before this).
MAX_REQUEST = 80 * 1024 * 1024
#: Deepest element nesting accepted (real requests stay under 20; a restriction tree
#: of nested And/Or/Not a little more).
MAX_DEPTH = 64

#: ResponseCodes of faults (MS-OXWSCDATA 2.2.5.24).
SCHEMA_VALIDATION = "ErrorSchemaValidation"
INVALID_REQUEST = "ErrorInvalidRequest"
INVALID_VERSION = "ErrorInvalidServerVersion"


def m(local: str) -> str:
    return f"{{{M}}}{local}"


def t(local: str) -> str:
    return f"{{{T}}}{local}"


class SoapFault(Exception):
    """A request answered as a whole with a SOAP fault (HTTP 500): ``code`` is the EWS
    ResponseCode, ``client`` whether the client is at fault (faultcode Client/Server)."""

    def __init__(self, code: str, message: str, client: bool = True):
        super().__init__(message)
        self.code = code
        self.message = message
        self.client = client


@attrs.frozen
class SoapRequest:
    """One request: ``operation`` (``"GetFolder"``), the ``version`` asked for, the
    operation's element ``body`` and, when given, the ``ExchangeImpersonation``
    address and the ``TimeZoneContext`` id."""

    operation: str
    version: str
    body: object = attrs.field(eq=False, repr=False)
    impersonation: Optional[str] = None
    timezone: Optional[str] = None


def new_parser() -> etree.XMLParser:
    """A parser that reads no DTD, expands no entity and fetches nothing."""
    return safexml.new_parser(remove_blank_text=True)


def parse_xml(body: bytes, limit: int = MAX_REQUEST):
    """The root element of ``body``; ``SoapFault`` for anything that is not plain,
    well-formed XML of at most ``limit`` bytes and ``MAX_DEPTH`` levels."""
    try:
        return safexml.parse(body, limit, MAX_DEPTH, remove_blank_text=True)
    except safexml.UnsafeXML as e:
        raise SoapFault(SCHEMA_VALIDATION, str(e)) from None


def _elements(parent) -> list:
    return [child for child in parent if isinstance(child.tag, str)]


def parse_request(body: bytes) -> SoapRequest:
    """The EWS request in ``body`` (a SOAP 1.1 envelope); ``SoapFault`` otherwise."""
    root = parse_xml(body)
    if root.tag != f"{{{SOAP}}}Envelope":
        raise SoapFault(SCHEMA_VALIDATION, f"not a SOAP 1.1 envelope: {str(root.tag)[:100]}")
    version = DEFAULT_VERSION
    impersonation = timezone = None
    header = root.find(f"{{{SOAP}}}Header")
    if header is not None:
        asked = header.find(t("RequestServerVersion"))
        if asked is not None:
            version = asked.get("Version", "")
            if version not in VERSIONS:
                raise SoapFault(INVALID_VERSION, f"the server version {version[:40]!r} is not served")
        who = header.find(t("ExchangeImpersonation"))
        if who is not None:
            impersonation = (who.findtext(f".//{t('PrimarySmtpAddress')}")
                             or who.findtext(f".//{t('SmtpAddress')}") or "").strip() or None
        zone = header.find(t("TimeZoneContext"))
        if zone is not None:
            definition = zone.find(t("TimeZoneDefinition"))
            timezone = definition.get("Id") if definition is not None else None
    body_el = root.find(f"{{{SOAP}}}Body")
    if body_el is None:
        raise SoapFault(SCHEMA_VALIDATION, "the envelope has no Body")
    children = _elements(body_el)
    if len(children) != 1:
        raise SoapFault(SCHEMA_VALIDATION, "the Body must hold exactly one operation")
    operation = children[0]
    qname = etree.QName(operation)
    if qname.namespace != M:
        raise SoapFault(SCHEMA_VALIDATION, f"{str(operation.tag)[:100]} is not an EWS operation")
    return SoapRequest(qname.localname, version, operation, impersonation, timezone)


def build_version(version: str) -> tuple:
    return VERSIONS.get(version, VERSIONS[LATEST])


def envelope(payload, version: str = LATEST) -> bytes:
    """``payload`` (an operation's response element) in a SOAP envelope whose Header
    says which server answered (``ServerVersionInfo``, for ``version``)."""
    root = etree.Element(f"{{{SOAP}}}Envelope", nsmap=NSMAP)
    header = etree.SubElement(root, f"{{{SOAP}}}Header")
    major, minor, build, revision = build_version(version)
    etree.SubElement(header, t("ServerVersionInfo"), MajorVersion=str(major),
                     MinorVersion=str(minor), MajorBuildNumber=str(build),
                     MinorBuildNumber=str(revision), Version=version if version in VERSIONS else LATEST)
    body = etree.SubElement(root, f"{{{SOAP}}}Body")
    body.append(payload)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def fault_envelope(fault: SoapFault, version: str = LATEST) -> bytes:
    """The SOAP fault answering a whole request (sent with HTTP 500), its detail
    carrying the EWS ResponseCode as Exchange writes it."""
    root = etree.Element(f"{{{SOAP}}}Envelope", nsmap=NSMAP)
    body = etree.SubElement(root, f"{{{SOAP}}}Body")
    node = etree.SubElement(body, f"{{{SOAP}}}Fault")
    code = etree.SubElement(node, "faultcode")
    code.text = "s:Client" if fault.client else "s:Server"
    etree.SubElement(node, "faultstring").text = _clean(fault.message)
    detail = etree.SubElement(node, "detail")
    etree.SubElement(detail, f"{{{E}}}ResponseCode", nsmap={"e": E}).text = fault.code
    etree.SubElement(detail, f"{{{E}}}Message", nsmap={"e": E}).text = _clean(fault.message)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def _clean(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot carry."""
    return "".join(c for c in str(text) if c in "\t\n\r" or (" " <= c <= "\ud7ff")
                   or ("\ue000" <= c <= "\ufffd") or c > "\uffff")


def text(value) -> str:
    """``value`` as text an element may hold."""
    return _clean(value if isinstance(value, str) else str(value))


def xs_bool(value) -> bool:
    """An xs:boolean's value: ``true`` or ``1`` (``false``, ``0``, nothing: False)."""
    return (value or "").strip().lower() in ("true", "1")


def response(operation: str, messages: Iterable) -> object:
    """``<m:{operation}Response><m:ResponseMessages>..`` around per-item messages."""
    root = etree.Element(m(f"{operation}Response"), nsmap={"m": M, "t": T})
    holder = etree.SubElement(root, m("ResponseMessages"))
    for message in messages:
        holder.append(message)
    return root


def response_message(operation: str, code: str = "NoError", message_text: Optional[str] = None,
                     children: Iterable = (), response_class: Optional[str] = None):
    """One ``<m:{operation}ResponseMessage>``: ``code`` ``NoError`` is Success, any
    other code an Error (unless ``response_class`` says Warning), with its text."""
    if response_class is None:
        response_class = "Success" if code == "NoError" else "Error"
    node = etree.Element(m(f"{operation}ResponseMessage"), ResponseClass=response_class)
    if message_text is not None and code != "NoError":
        etree.SubElement(node, m("MessageText")).text = text(message_text)
    etree.SubElement(node, m("ResponseCode")).text = code
    if code != "NoError":
        etree.SubElement(node, m("DescriptiveLinkKey")).text = "0"
    for child in children:
        node.append(child)
    return node


# -- the client side (tests, tools) ----------------------------------------------------


def request_envelope(operation, version: Optional[str] = LATEST) -> bytes:
    """A request envelope for ``operation`` (an element in the messages namespace),
    asking for ``version`` (None: no RequestServerVersion)."""
    root = etree.Element(f"{{{SOAP}}}Envelope", nsmap=NSMAP)
    header = etree.SubElement(root, f"{{{SOAP}}}Header")
    if version is not None:
        etree.SubElement(header, t("RequestServerVersion"), Version=version)
    body = etree.SubElement(root, f"{{{SOAP}}}Body")
    body.append(operation)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


@attrs.frozen
class Answer:
    """An answer as read back: the ServerVersionInfo attributes, the payload element
    (None for a fault) and the fault's faultcode and ResponseCode (None otherwise)."""

    server_version: dict
    payload: object = attrs.field(eq=False, repr=False)
    fault_code: Optional[str] = None
    response_code: Optional[str] = None
    fault_string: Optional[str] = None


def read_response(body: bytes) -> Answer:
    """An answer ``envelope`` or ``fault_envelope`` wrote (``SoapFault`` for one that
    is not an envelope)."""
    root = parse_xml(body)
    if root.tag != f"{{{SOAP}}}Envelope":
        raise SoapFault(SCHEMA_VALIDATION, "not a SOAP envelope")
    info = root.find(f"{{{SOAP}}}Header/{t('ServerVersionInfo')}")
    version = dict(info.attrib) if info is not None else {}
    body_el = root.find(f"{{{SOAP}}}Body")
    children = _elements(body_el) if body_el is not None else []
    if not children:
        raise SoapFault(SCHEMA_VALIDATION, "an empty Body")
    first = children[0]
    if first.tag == f"{{{SOAP}}}Fault":
        return Answer(version, None, first.findtext("faultcode"),
                      first.findtext(f"detail/{{{E}}}ResponseCode"), first.findtext("faultstring"))
    return Answer(version, first)


def messages_of(payload) -> list:
    """The per-item ResponseMessage elements of a response payload."""
    holder = payload.find(m("ResponseMessages"))
    return _elements(holder) if holder is not None else []
