"""Exchange Web Services (MS-OXWS*): Outlook for Mac, Apple Mail, Evolution, DavMail and
scripts (exchangelib) over the same store.

The codec -- SOAP 1.1 envelopes, faults and per-item ResponseMessages (``soap``) --
and the ids (``ids``) are pure functions over bytes. ``server`` is the endpoint: log
in, decode, run the operation's handler from the registry (``operations``), encode.
``tree`` is the folder tree EWS shows (with its distinguished folders) over the store's
mail folders and collections; ``messages`` turns stored RFC 5322 messages into EWS
items; ``shapes`` and ``restriction`` read what a request asks to see and to match.
``discovery`` answers Autodiscover, POX and SOAP, on the same site; ``wsdl`` writes
the service description (``/EWS/Services.wsdl`` and its schema files).
"""

#: Where EWS is served on the shared site (matched ignoring case).
EWS_PATH = "/EWS/Exchange.asmx"


def build_resources(edge):
    """``{path: resource}`` of the EWS endpoint and its Autodiscover over ``edge``
    (``smsync.tap``'s HTTP builder signature)."""
    from smsync.protocols.ews.autodiscover import RESPONSE_NS
    from smsync.protocols.ews.discovery import SVC_PATH, PoxEndpoint, SoapEndpoint
    from smsync.protocols.ews.server import DescriptionEndpoint, EndpointResource, EWSEndpoint
    from smsync.protocols.ews.wsdl import FILES

    # The POX URL is EAS's too: the edge's router sends each request to the protocol
    # of the response schema it asks for.
    pox = edge.autodiscover.register(RESPONSE_NS, PoxEndpoint(edge))
    return {EWS_PATH: EndpointResource(EWSEndpoint(edge), "EWS"),
            "/autodiscover/autodiscover.xml": pox,
            SVC_PATH: EndpointResource(SoapEndpoint(edge), "Autodiscover"),
            **{f"/EWS/{name}": EndpointResource(DescriptionEndpoint(edge, name), "EWS")
               for name in FILES}}
