"""Exchange ActiveSync (MS-AS*): phones' mail, calendar, contacts, tasks and notes.

The codecs -- WBXML (``wbxml``) with the MS-ASWBXML code pages (``codepages``), the
MS-ASHTTP request line (``request``), mobile Autodiscover (``autodiscover``) -- are pure
functions over bytes. ``server`` is the endpoint: log in, check the device's policy key,
decode, run the command's handler from the registry (``commands``), encode. The data
converters (``email``, ``calendar``, ``contacts``, ``tasks``, ``notes``, sharing
``convert``) turn stored RFC 5322, iCalendar and vCard into EAS items and back.
``discovery`` answers Autodiscover on the same site. Outgoing mail (SendMail,
SmartReply, SmartForward) is prepared by ``outgoing`` and sent through the edge's
submitter.
"""

#: Where a phone's Autodiscover request goes (on the server's own host name or on
#: ``autodiscover.<domain>``).
AUTODISCOVER_PATH = "/autodiscover/autodiscover.xml"


def build_resources(edge):
    """``{path: resource}`` of the EAS endpoint and its Autodiscover over ``edge``
    (``smsync.tap``'s HTTP builder signature)."""
    from smsync.protocols.eas.autodiscover import RESPONSE_NS
    from smsync.protocols.eas.discovery import AutodiscoverEndpoint
    from smsync.protocols.eas.server import EASEndpoint, EndpointResource

    # The Autodiscover URL is EWS's too: the edge's router sends each request to the
    # protocol of the response schema it asks for.
    discovery = edge.autodiscover.register(RESPONSE_NS, AutodiscoverEndpoint(edge))
    return {"/Microsoft-Server-ActiveSync": EndpointResource(EASEndpoint(edge), "EAS"),
            AUTODISCOVER_PATH: discovery}
