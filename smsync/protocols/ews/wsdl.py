"""The service description EWS serves beside its endpoint: ``/EWS/Services.wsdl`` and
the schema files it imports, ``/EWS/messages.xsd`` and ``/EWS/types.xsd``.

Tools that build a client from the WSDL (wsdl2java, .NET's svcutil, PHP and zeep-style
SOAP libraries) and clients that check the endpoint by fetching it read these. They are
written here from the operations registry, not copied from Exchange: the WSDL lists
exactly the operations this server answers (document/literal, SOAP 1.1, the SOAPAction
Exchange uses, the SOAP headers each takes), and the schemas declare every operation's
request and response element, the SOAP header elements and the per-item response
message. An item's or folder's contents are open (``xs:any``, lax): what each field
carries is what MS-OXWS* says, and a request is checked by its handler, which answers
each malformed field with its own ResponseCode rather than one schema fault.

Pure functions of the operation names and the endpoint URL: the same text for every
request to one host, so the endpoint keeps none of it.
"""

from __future__ import annotations

from typing import Iterable

from lxml import etree

from smsync.protocols.ews.soap import M, T, VERSIONS

WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
XS = "http://www.w3.org/2001/XMLSchema"

#: The files served, by their name under /EWS/ (lower-case: the site matches paths
#: ignoring case).
FILES = ("services.wsdl", "messages.xsd", "types.xsd")
#: The SOAP headers a request may carry, as declared in types.xsd.
REQUEST_HEADERS = ("RequestServerVersion", "ExchangeImpersonation", "MailboxCulture",
                   "TimeZoneContext", "DateTimePrecision")


def _el(parent, ns: str, local: str, **attributes) -> etree._Element:
    return etree.SubElement(parent, f"{{{ns}}}{local}", {k: v for k, v in attributes.items()})


def _xs(parent, local: str, **attributes) -> etree._Element:
    return _el(parent, XS, local, **attributes)


def _open_content(complex_type) -> None:
    """Any elements in any order, checked where a declaration exists (lax)."""
    sequence = _xs(complex_type, "sequence")
    _xs(sequence, "any", namespace="##any", processContents="lax", minOccurs="0", maxOccurs="unbounded")
    _xs(complex_type, "anyAttribute", namespace="##any", processContents="lax")


def _serialize(root) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


def types_schema() -> bytes:
    """types.xsd: the SOAP header elements, the version values and the per-item
    response message type every operation's answer uses."""
    schema = etree.Element(f"{{{XS}}}schema", nsmap={"xs": XS, "t": T},
                           targetNamespace=T, elementFormDefault="qualified", version="Exchange2016")
    versions = _xs(schema, "simpleType", name="ExchangeVersionType")
    restriction = _xs(versions, "restriction", base="xs:string")
    for version in VERSIONS:
        _xs(restriction, "enumeration", value=version)

    header = _xs(schema, "complexType", name="RequestServerVersionType")
    _xs(header, "attribute", name="Version", type="t:ExchangeVersionType", use="required")
    _xs(schema, "element", name="RequestServerVersion", type="t:RequestServerVersionType")

    info = _xs(schema, "complexType", name="ServerVersionInfoType")
    for name in ("MajorVersion", "MinorVersion", "MajorBuildNumber", "MinorBuildNumber"):
        _xs(info, "attribute", name=name, type="xs:int", use="optional")
    _xs(info, "attribute", name="Version", type="xs:string", use="optional")
    _xs(schema, "element", name="ServerVersionInfo", type="t:ServerVersionInfoType")

    for name in ("ExchangeImpersonation", "TimeZoneContext", "DateTimePrecision"):
        open_type = _xs(schema, "complexType", name=f"{name}Type", mixed="true")
        _open_content(open_type)
        _xs(schema, "element", name=name, type=f"t:{name}Type")
    _xs(schema, "element", name="MailboxCulture", type="xs:language")

    classes = _xs(schema, "simpleType", name="ResponseClassType")
    restriction = _xs(classes, "restriction", base="xs:string")
    for value in ("Success", "Warning", "Error"):
        _xs(restriction, "enumeration", value=value)
    return _serialize(schema)


def messages_schema(operations: Iterable[str]) -> bytes:
    """messages.xsd: each operation's request element and response element, and the
    per-item response message (ResponseClass, MessageText, ResponseCode...)."""
    schema = etree.Element(f"{{{XS}}}schema", nsmap={"xs": XS, "m": M, "t": T},
                           targetNamespace=M, elementFormDefault="qualified", version="Exchange2016")
    _xs(schema, "import", namespace=T, schemaLocation="types.xsd")

    # A response message's own children are declared globally, so the lax wildcard
    # checks them wherever they appear (a sequence of them followed by a wildcard of the
    # same namespace would not be deterministic).
    for name in ("MessageText", "ResponseCode"):
        _xs(schema, "element", name=name, type="xs:string")
    _xs(schema, "element", name="DescriptiveLinkKey", type="xs:int")
    message = _xs(schema, "complexType", name="ResponseMessageType")
    sequence = _xs(message, "sequence")
    _xs(sequence, "any", namespace="##any", processContents="lax", minOccurs="0", maxOccurs="unbounded")
    _xs(message, "attribute", name="ResponseClass", type="t:ResponseClassType", use="required")

    for operation in sorted(set(operations)):
        request = _xs(schema, "complexType", name=f"{operation}Type")
        _open_content(request)
        _xs(schema, "element", name=operation, type=f"m:{operation}Type")
        answer = _xs(schema, "complexType", name=f"{operation}ResponseType")
        _open_content(answer)
        _xs(schema, "element", name=f"{operation}Response", type=f"m:{operation}ResponseType")
        _xs(schema, "element", name=f"{operation}ResponseMessage", type="m:ResponseMessageType")
    return _serialize(schema)


def services_wsdl(operations: Iterable[str], url: str) -> bytes:
    """Services.wsdl: the port type, SOAP 1.1 document/literal binding and service of
    ``operations`` at ``url``, over messages.xsd."""
    names = sorted(set(operations))
    root = etree.Element(f"{{{WSDL}}}definitions",
                         nsmap={"wsdl": WSDL, "soap": WSDL_SOAP, "xs": XS, "tns": M, "t": T},
                         targetNamespace=M)
    types = _el(root, WSDL, "types")
    schema = _xs(types, "schema")
    _xs(schema, "import", namespace=M, schemaLocation="messages.xsd")

    for name in names:
        request = _el(root, WSDL, "message", name=f"{name}SoapIn")
        _el(request, WSDL, "part", name="request", element=f"tns:{name}")
        for header in REQUEST_HEADERS:
            _el(request, WSDL, "part", name=header, element=f"t:{header}")
        answer = _el(root, WSDL, "message", name=f"{name}SoapOut")
        _el(answer, WSDL, "part", name=f"{name}Result", element=f"tns:{name}Response")
        _el(answer, WSDL, "part", name="ServerVersion", element="t:ServerVersionInfo")

    port_type = _el(root, WSDL, "portType", name="ExchangeServicePortType")
    for name in names:
        operation = _el(port_type, WSDL, "operation", name=name)
        _el(operation, WSDL, "input", message=f"tns:{name}SoapIn")
        _el(operation, WSDL, "output", message=f"tns:{name}SoapOut")

    binding = _el(root, WSDL, "binding", name="ExchangeServiceBinding", type="tns:ExchangeServicePortType")
    _el(binding, WSDL_SOAP, "binding", style="document", transport="http://schemas.xmlsoap.org/soap/http")
    for name in names:
        operation = _el(binding, WSDL, "operation", name=name)
        _el(operation, WSDL_SOAP, "operation", soapAction=f"{M}/{name}")
        given = _el(operation, WSDL, "input")
        _el(given, WSDL_SOAP, "body", parts="request", use="literal")
        for header in REQUEST_HEADERS:
            _el(given, WSDL_SOAP, "header", message=f"tns:{name}SoapIn", part=header, use="literal")
        taken = _el(operation, WSDL, "output")
        _el(taken, WSDL_SOAP, "body", parts=f"{name}Result", use="literal")
        _el(taken, WSDL_SOAP, "header", message=f"tns:{name}SoapOut", part="ServerVersion", use="literal")

    service = _el(root, WSDL, "service", name="ExchangeServices")
    port = _el(service, WSDL, "port", name="ExchangeServicePort", binding="tns:ExchangeServiceBinding")
    _el(port, WSDL_SOAP, "address", location=url)
    return _serialize(root)
