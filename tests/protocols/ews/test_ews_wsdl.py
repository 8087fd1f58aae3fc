"""``/EWS/Services.wsdl`` and its schema files: served to a client that logs in, the
WSDL naming every operation the server answers at the URL the client reached, and the
schemas compiling and accepting the server's own requests and answers (and refusing
what is not one)."""

from __future__ import annotations

import pytest_twisted
from lxml import etree

from smsync.protocols.ews import operations, soap, wsdl
from smsync.testing.servers import in_thread
from tests.protocols.ews.ews_support import operation, post

GET_INBOX = ('<m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape>'
             '<m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds>')


class _Served(etree.Resolver):
    """Resolves the schema files an import names from what the server sent."""

    def __init__(self, files: dict):
        super().__init__()
        self.files = files

    def resolve(self, url, pubid, context):
        name = url.rsplit("/", 1)[-1].lower()
        if name in self.files:
            return self.resolve_string(self.files[name], context)
        raise AssertionError(f"the schema imports {url}, which is not served")


def _schema(files: dict) -> etree.XMLSchema:
    parser = etree.XMLParser()
    parser.resolvers.add(_Served(files))
    return etree.XMLSchema(etree.fromstring(files["messages.xsd"], parser, base_url="messages.xsd"))


@pytest_twisted.ensureDeferred
async def test_the_description_is_served_and_describes_what_is_answered(server):
    port = server.port("http")
    status, headers, _ = await in_thread(post, port, b"", user=None, path="/EWS/Services.wsdl", method="GET")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
    files = {}
    for path in ("/EWS/Services.wsdl", "/ews/messages.xsd", "/EWS/Types.xsd"):
        status, headers, payload = await in_thread(post, port, b"", path=path, method="GET")
        assert status == 200, path
        assert headers["Content-Type"].startswith("text/xml")
        files[path.rsplit("/", 1)[-1].lower()] = payload
    status, headers, _ = await in_thread(post, port, b"<x/>", path="/EWS/Services.wsdl")
    assert status == 405 and "GET" in headers["Allow"]

    document = etree.fromstring(files["services.wsdl"])
    ns = {"wsdl": wsdl.WSDL, "soap": wsdl.WSDL_SOAP}
    offered = document.xpath("wsdl:portType/wsdl:operation/@name", namespaces=ns)
    assert sorted(offered) == operations.implemented()
    assert "FindItem" in offered and "GetStreamingEvents" in offered
    bound = document.xpath("wsdl:binding/wsdl:operation/soap:operation/@soapAction", namespaces=ns)
    assert f"{soap.M}/GetFolder" in bound and len(bound) == len(offered)
    [address] = document.xpath("wsdl:service/wsdl:port/soap:address/@location", namespaces=ns)
    assert address == f"http://127.0.0.1:{port}/EWS/Exchange.asmx"
    [imported] = document.xpath("wsdl:types/*/*/@schemaLocation", namespaces=ns)
    assert imported == "messages.xsd"

    schema = _schema(files)
    request = operation("GetFolder", GET_INBOX)
    assert schema.validate(request), schema.error_log
    # The server's own answer to it validates too, element by element.
    status, _, payload = await in_thread(post, port, soap.request_envelope(request))
    assert status == 200
    envelope = etree.fromstring(payload)
    [answer] = envelope.find(f"{{{soap.SOAP}}}Body")
    assert answer.tag == soap.m("GetFolderResponse") and schema.validate(answer), schema.error_log
    [message] = answer.find(soap.m("ResponseMessages"))
    assert schema.validate(message), schema.error_log
    [info] = envelope.find(f"{{{soap.SOAP}}}Header")
    assert etree.XMLSchema(etree.fromstring(files["types.xsd"])).validate(info)
    # What is not an operation, or a response message without its class, is refused.
    assert not schema.validate(operation("NoSuchOperation"))
    del message.attrib["ResponseClass"]
    assert not schema.validate(message)
