"""Which protocols exist, and the function that builds each one's service.

A protocol joins by adding ONE line to ``_STREAM`` or ``_HTTP`` below, naming its
builder as ``"module:function"``. The module is imported only when the protocol is
started, so ``twistd --help`` stays fast and a protocol with an import problem does not
break the others.

Every builder receives ONE object, the server's ``smsync.edge.Edge`` (made once per
server by ``smsync.tap.service``): ``edge.store``, ``edge.portal``, ``edge.config``, and
the front door's services -- ``edge.logins`` (SASL/Basic logins with the policy check
and the failed-login line), ``edge.tls`` (the TLS context, or None), ``edge.devices``
(naming and recording clients), ``edge.outbound`` (the submitter and relay queue, whose
relayer the server runs once) and ``edge.policy``.

Stream protocols (``_STREAM``: imap, pop3, lmtp, smtp, submission)::

    def build_service(edge, endpoints):
        # endpoints: list of Twisted endpoint strings
        return IService  # or an IProtocolFactory: smsync listens on the endpoints for you

HTTP protocols (``_HTTP``: caldav, carddav, eas, ews, syncml, lists) share one twisted.web
Site (the ``http`` endpoints)::

    def build_resources(edge):
        return {"/dav/": resource, "/.well-known/caldav": other}   # path -> IResource

A protocol named in ``PROTOCOLS`` but absent from both tables is "not available yet".
"""

from __future__ import annotations

import importlib
from typing import Callable, Optional, Union

#: Every protocol smsync knows, in start order.
PROTOCOLS = ("imap", "pop3", "lmtp", "smtp", "submission", "caldav", "carddav", "eas", "ews",
             "syncml", "lists", "web")

#: Protocols served over the shared HTTP site.
HTTP_PROTOCOLS = frozenset({"caldav", "carddav", "eas", "ews", "syncml", "lists", "web"})

#: Where each protocol is mounted on the shared site (documentation, and the paths the
#: root resource reserves for it).
HTTP_PATHS = {
    "caldav": ("/.well-known/caldav", "/dav/", "/", "/principals/"),
    "carddav": ("/.well-known/carddav", "/dav/", "/", "/principals/"),
    "eas": ("/Microsoft-Server-ActiveSync", "/autodiscover/autodiscover.xml"),
    "ews": ("/EWS/Exchange.asmx", "/autodiscover/autodiscover.xml", "/autodiscover/autodiscover.svc",
            "/EWS/Services.wsdl", "/EWS/messages.xsd", "/EWS/types.xsd"),
    "syncml": ("/syncml", "/sync"),
    "lists": ("/lists",),
    "web": ("/web", "/api/v1"),
}

Builder = Union[str, Callable]

# name -> "module:function" building an IService (or a protocol factory).
_STREAM: dict[str, Builder] = {
    "imap": "smsync.protocols.imap:build_service",
    "pop3": "smsync.protocols.pop3:build_service",
    "lmtp": "smsync.protocols.delivery:build_lmtp_service",
    "smtp": "smsync.protocols.delivery:build_smtp_service",
    "submission": "smsync.protocols.delivery:build_submission_service",
}

# name -> "module:function" building {path: IResource}.
_HTTP: dict[str, Builder] = {
    "caldav": "smsync.protocols.caldav:build_resources",
    "carddav": "smsync.protocols.carddav:build_resources",
    "eas": "smsync.protocols.eas:build_resources",
    "ews": "smsync.protocols.ews:build_resources",
    "syncml": "smsync.protocols.syncml:build_resources",
    "lists": "smsync.protocols.lists:build_resources",
    "web": "smsync.web:build_resources",
}


def service_of(protocol: str) -> str:
    """The config ``[services]`` key whose endpoints ``protocol`` listens on."""
    return "http" if protocol in HTTP_PROTOCOLS else protocol


def register(protocol: str, builder: Builder) -> None:
    """Register (or replace) ``protocol``'s builder at run time -- for embedding and
    tests; shipped protocols add their line to the tables above instead."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}")
    table = _HTTP if protocol in HTTP_PROTOCOLS else _STREAM
    table[protocol] = builder


def unregister(protocol: str) -> None:
    _STREAM.pop(protocol, None)
    _HTTP.pop(protocol, None)


def is_available(protocol: str) -> bool:
    return protocol in _STREAM or protocol in _HTTP


def available() -> list[str]:
    """The protocols that can run, in ``PROTOCOLS`` order."""
    return [p for p in PROTOCOLS if is_available(p)]


def _resolve(builder: Builder) -> Callable:
    if callable(builder):
        return builder
    module, _, name = builder.partition(":")
    return getattr(importlib.import_module(module), name)


def stream_builder(protocol: str) -> Optional[Callable]:
    """``build_service(edge, endpoints)`` of a stream protocol, or None
    if it is not available. Import errors of the protocol's module propagate."""
    builder = _STREAM.get(protocol)
    return None if builder is None else _resolve(builder)


def http_builder(protocol: str) -> Optional[Callable]:
    """``build_resources(edge)`` of an HTTP protocol, or None."""
    builder = _HTTP.get(protocol)
    return None if builder is None else _resolve(builder)
