"""The SOAP side of the Lists web service (MS-LISTSWS): reading a request envelope and
writing answers and faults, as pure functions over bytes and lxml elements.

Both SOAP 1.1 (``text/xml`` with a ``SOAPAction`` header) and SOAP 1.2
(``application/soap+xml``) are read and answered in the version asked. A request is
``parse_request(body)``: the operation (the Body's one child, in the SharePoint SOAP
namespace) and its element. Anything that is not such a request -- not XML, a DTD or
entity (billion laughs, external entities), too large, too deep, not SOAP -- is a
``ListsFault`` answered as a client fault.

An answer is ``envelope(payload, version)``; a fault is ``fault_envelope(fault,
version)``, written as SharePoint writes its ``SoapServerException``: the detail holds
``errorstring`` and, where MS-LISTSWS names one, ``errorcode`` (``0x82000006``...).
Answers carry no SOAP Header: clients (shareplum) index the Body as the envelope's
first child.
"""

from __future__ import annotations

import re
from typing import Optional

import attrs
from lxml import etree

from smsync.formats import safexml

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
#: The Lists web service's own namespace (requests and responses).
SP = "http://schemas.microsoft.com/sharepoint/soap/"
#: The ADO 2.6 persistence namespaces of ``<listitems>`` (MS-PRSTFR).
RS = "urn:schemas-microsoft-com:rowset"
Z = "#RowsetSchema"
DT = "uuid:C2F41010-65B3-11d1-A29F-00AA00C14882"
S = "uuid:BDC6E3F0-6DA3-11d1-A2A3-00AA00C14882"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"

VERSION_11 = "1.1"
VERSION_12 = "1.2"
CONTENT_TYPES = {VERSION_11: "text/xml; charset=utf-8",
                 VERSION_12: "application/soap+xml; charset=utf-8"}
_ENVELOPES = {SOAP11: VERSION_11, SOAP12: VERSION_12}
_NS = {VERSION_11: SOAP11, VERSION_12: SOAP12}

#: Largest request body parsed: a batch of list items (an attachment, base64, is the
#: largest thing a client sends; the site's own limit bounds it before this).
MAX_REQUEST = 16 * 1024 * 1024
#: Deepest element nesting accepted (a CAML query of nested And/Or stays far below).
MAX_DEPTH = 64

#: What SharePoint's faults say in faultstring; the detail says what went wrong.
SERVER_EXCEPTION = "Exception of type 'Microsoft.SharePoint.SoapServer.SoapServerException' was thrown."


def sp(local: str) -> str:
    return f"{{{SP}}}{local}"


class ListsFault(Exception):
    """A request answered as a whole with a SOAP fault (HTTP 500).

    Attributes:
        message: the ``errorstring`` (what went wrong, for a person).
        code: the ``errorcode`` MS-LISTSWS names for it (``0x82000006``...), or None
            where it names none (an unknown change token).
        client: the request itself was not one (faultcode Client/Sender); otherwise
            the service refused it (Server/Receiver), as SharePoint's own faults are.
    """

    def __init__(self, message: str, code: Optional[str] = None, client: bool = False):
        super().__init__(message)
        self.message = message
        self.code = code
        self.client = client


#: errorcodes (MS-LISTSWS 3.1.4): the list does not exist (or is not the caller's).
LIST_NOT_FOUND = "0x82000006"
#: A generic error, such as an invalid value for a field.
GENERIC = "0x81020014"


@attrs.frozen
class Request:
    """One request: its ``operation`` (``"GetList"``), the operation's element
    ``body`` and the SOAP ``version`` it came in (answers go out in the same)."""

    operation: str
    body: object = attrs.field(eq=False, repr=False)
    version: str = VERSION_11

    def param(self, name: str) -> Optional[str]:
        """The text of parameter ``name`` (``listName``), None when absent."""
        node = self.body.find(sp(name))
        if node is None:
            return None
        return "".join(node.itertext())

    def child(self, name: str):
        """The element of parameter ``name`` (``viewFields``), or None."""
        return self.body.find(sp(name))


def parse_xml(body: bytes, limit: int = MAX_REQUEST):
    """The root element of ``body``; ``ListsFault`` for anything that is not plain,
    well-formed XML of at most ``limit`` bytes and ``MAX_DEPTH`` levels."""
    try:
        return safexml.parse(body, limit, MAX_DEPTH)
    except safexml.UnsafeXML as e:
        raise ListsFault(str(e), client=True) from None


def elements(parent) -> list:
    """The element children of ``parent`` (no comments, no processing instructions)."""
    return [child for child in parent if isinstance(child.tag, str)]


def parse_request(body: bytes) -> Request:
    """The Lists request in ``body`` (a SOAP 1.1 or 1.2 envelope); ``ListsFault``
    otherwise."""
    root = parse_xml(body)
    qname = etree.QName(root)
    version = _ENVELOPES.get(qname.namespace)
    if qname.localname != "Envelope" or version is None:
        raise ListsFault(f"not a SOAP envelope: {str(root.tag)[:100]}", client=True)
    body_el = root.find(f"{{{_NS[version]}}}Body")
    if body_el is None:
        raise ListsFault("the envelope has no Body", client=True, )
    children = elements(body_el)
    if len(children) != 1:
        raise ListsFault("the Body must hold exactly one operation", client=True)
    operation = children[0]
    name = etree.QName(operation)
    if name.namespace != SP:
        raise ListsFault(f"{str(operation.tag)[:100]} is not a Lists web service operation",
                         client=True)
    return Request(name.localname, operation, version)


def version_of(content_type: Optional[str]) -> str:
    """The SOAP version a request's Content-Type names (what a fault for a body that
    cannot be read is written in)."""
    return VERSION_12 if "soap+xml" in (content_type or "").lower() else VERSION_11


def response(operation: str):
    """``<{operation}Response xmlns=SP><{operation}Result>``: the answer element and
    the result element to fill."""
    root = etree.Element(sp(f"{operation}Response"), nsmap={None: SP})
    result = etree.SubElement(root, sp(f"{operation}Result"))
    return root, result


def envelope(payload, version: str = VERSION_11) -> bytes:
    """``payload`` (an operation's response element) in a SOAP envelope of ``version``."""
    ns = _NS.get(version, SOAP11)
    root = etree.Element(f"{{{ns}}}Envelope", nsmap={"soap": ns, "xsi": XSI, "xsd": XSD})
    body = etree.SubElement(root, f"{{{ns}}}Body")
    body.append(payload)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def fault_envelope(fault: ListsFault, version: str = VERSION_11) -> bytes:
    """The SOAP fault answering a whole request (sent with HTTP 500)."""
    ns = _NS.get(version, SOAP11)
    root = etree.Element(f"{{{ns}}}Envelope", nsmap={"soap": ns, "xsi": XSI, "xsd": XSD})
    body = etree.SubElement(root, f"{{{ns}}}Body")
    node = etree.SubElement(body, f"{{{ns}}}Fault")
    reason = fault.message if fault.client else SERVER_EXCEPTION
    if version == VERSION_12:
        code = etree.SubElement(node, f"{{{ns}}}Code")
        etree.SubElement(code, f"{{{ns}}}Value").text = "soap:Sender" if fault.client else "soap:Receiver"
        text = etree.SubElement(etree.SubElement(node, f"{{{ns}}}Reason"), f"{{{ns}}}Text")
        text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        text.text = clean(reason)
        detail = etree.SubElement(node, f"{{{ns}}}Detail")
    else:
        etree.SubElement(node, "faultcode").text = "soap:Client" if fault.client else "soap:Server"
        etree.SubElement(node, "faultstring").text = clean(reason)
        detail = etree.SubElement(node, "detail")
    etree.SubElement(detail, sp("errorstring"), nsmap={None: SP}).text = clean(fault.message)
    if fault.code:
        etree.SubElement(detail, sp("errorcode"), nsmap={None: SP}).text = fault.code
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


#: What XML 1.0 cannot carry.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(value) -> str:
    """``value`` as text an XML 1.0 element or attribute may hold."""
    text = value if isinstance(value, str) else str(value)
    # Every value of every row passes here: the common case, nothing to drop, is one scan
    # (printable ASCII, all of it XML, in two quicker ones).
    if text.isascii() and text.isprintable():
        return text
    return _NOT_XML.sub("", text) if _NOT_XML.search(text) else text


# -- the client side (tests, tools) ----------------------------------------------------


def request_envelope(operation: str, params: dict, version: str = VERSION_11) -> bytes:
    """A request for ``operation`` with ``params``: name -> text, or an element (or
    an XML string) to put inside the parameter's element."""
    ns = _NS[version]
    root = etree.Element(f"{{{ns}}}Envelope", nsmap={"soap": ns})
    body = etree.SubElement(root, f"{{{ns}}}Body")
    op = etree.SubElement(body, sp(operation), nsmap={None: SP})
    for name, value in params.items():
        node = etree.SubElement(op, sp(name))
        if isinstance(value, str) and value.lstrip().startswith("<"):
            node.append(etree.fromstring(value))
        elif isinstance(value, str):
            node.text = value
        elif value is not None:
            node.append(value)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


@attrs.frozen
class Answer:
    """An answer as read back: what the ``<XxxResult>`` holds (``<List>``,
    ``<listitems>``, ``<Results>``; the Result element itself when it holds no element;
    None for a fault), or the fault's code (``soap:Server``...), errorcode and
    errorstring."""

    result: object = attrs.field(eq=False, repr=False)
    fault_code: Optional[str] = None
    error_code: Optional[str] = None
    error_string: Optional[str] = None


def read_response(body: bytes) -> Answer:
    """An answer ``envelope`` or ``fault_envelope`` wrote."""
    root = parse_xml(body)
    version = _ENVELOPES.get(etree.QName(root).namespace)
    if version is None:
        raise ListsFault("not a SOAP envelope", client=True)
    ns = _NS[version]
    body_el = root.find(f"{{{ns}}}Body")
    children = elements(body_el) if body_el is not None else []
    if not children:
        raise ListsFault("an empty Body", client=True)
    first = children[0]
    if first.tag == f"{{{ns}}}Fault":
        if version == VERSION_12:
            code = first.findtext(f"{{{ns}}}Code/{{{ns}}}Value")
            detail = first.find(f"{{{ns}}}Detail")
        else:
            code = first.findtext("faultcode")
            detail = first.find("detail")
        return Answer(None, code, detail.findtext(sp("errorcode")) if detail is not None else None,
                      detail.findtext(sp("errorstring")) if detail is not None else None)
    result = elements(first)
    inner = elements(result[0]) if result else []
    return Answer(inner[0] if inner else (result[0] if result else first))
