"""The connection settings a user needs to set up a client -- host, port, TLS and URL of
each protocol this server actually runs -- from the running server's listeners
(``edge.listening``, with the real port numbers) and its configuration, for the Account
settings page, its API call and the Apple configuration profile (``profile``).

The host clients are told is ``[delivery] hostname`` when the configuration names one
(the name the server gives itself), else the host name the browser used to reach this
page (it reached the server by it, so a client on the same network can too).
"""

from __future__ import annotations

from typing import Optional
from urllib.parse import quote

import attrs

#: Security of a connection: implicit TLS (RFC 8314), STARTTLS/STLS on a plain port,
#: or none (only sensible on a trusted network or through a TLS proxy).
TLS, STARTTLS, NONE = "tls", "starttls", "none"

#: Mail services in the order shown: (protocol, name, the listener's ``[services]`` key).
MAIL = (("imap", "IMAP", "imap"), ("pop3", "POP3", "pop3"),
        ("submission", "SMTP submission", "submission"))

#: HTTP protocols in the order shown: (protocol, name, path of its URL; ``{account}``
#: is the quoted account).
HTTP = (("caldav", "CalDAV", "/dav/principals/{account}/"),
        ("carddav", "CardDAV", "/dav/principals/{account}/"),
        ("eas", "Exchange ActiveSync", "/Microsoft-Server-ActiveSync"),
        ("ews", "Exchange Web Services", "/EWS/Exchange.asmx"),
        ("syncml", "SyncML", "/syncml"))

AUTODISCOVER_PATH = "/autodiscover/autodiscover.xml"


@attrs.frozen
class Service:
    """How to reach one protocol."""

    protocol: str
    name: str
    host: str
    port: int
    security: str
    #: The URL a client is given (HTTP protocols), else None.
    url: Optional[str] = None

    @property
    def ssl(self) -> bool:
        """Whether the connection is encrypted (implicit TLS or STARTTLS)."""
        return self.security != NONE

    def as_json(self) -> dict:
        out = {"protocol": self.protocol, "name": self.name, "host": self.host,
               "port": self.port, "security": self.security}
        if self.url is not None:
            out["url"] = self.url
        return out


@attrs.frozen
class Autodiscover:
    """Where clients find the server by themselves."""

    #: ``/autodiscover/autodiscover.xml`` (EAS and EWS clients), or None when neither runs.
    autodiscover: Optional[str] = None
    #: RFC 6764 ``/.well-known/caldav`` and ``/.well-known/carddav``, or None.
    caldav: Optional[str] = None
    carddav: Optional[str] = None

    def as_json(self) -> dict:
        return {"autodiscover": self.autodiscover, "caldav": self.caldav, "carddav": self.carddav}


@attrs.frozen
class Connection:
    """The connection settings of one account on this server."""

    account: str
    host: str
    services: tuple[Service, ...]
    autodiscover: Autodiscover

    def get(self, protocol: str) -> Optional[Service]:
        for service in self.services:
            if service.protocol == protocol:
                return service
        return None

    def as_json(self) -> dict:
        return {"account": self.account, "host": self.host, "username": self.account,
                "services": [s.as_json() for s in self.services],
                "autodiscover": self.autodiscover.as_json()}


def browser_host(host_header: Optional[str]) -> Optional[str]:
    """The host name (no port) of a ``Host`` header, or None for none or nonsense."""
    value = (host_header or "").strip()
    if value.startswith("["):
        name = value[1:].partition("]")[0]
    else:
        name = value.rpartition(":")[0] if value.count(":") == 1 else value
    name = name.strip().lower()
    if not name or len(name) > 253 or not all(c.isalnum() or c in ".-:" for c in name):
        return None
    return name


def server_host(config, host_header: Optional[str]) -> str:
    """The host name clients are told: ``[delivery] hostname``, else the browser's."""
    delivery = getattr(config, "delivery", None)
    if delivery is not None and delivery.hostname:
        return delivery.hostname
    found = browser_host(host_header)
    if found is not None:
        return found
    from smsync.edge.outbound.submitter import hostname_of

    return hostname_of(config)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _preferred(listeners):
    """The listener to tell clients about: implicit TLS first (RFC 8314), then plain."""
    for listener in listeners:
        if listener.tls:
            return listener
    return listeners[0] if listeners else None


def connection_settings(edge, account: str, host_header: Optional[str]) -> Connection:
    """``account``'s connection settings on the server of ``edge``: only what runs."""
    host = server_host(edge.config, host_header)
    listening = edge.listening
    starttls = STARTTLS if edge.tls is not None else NONE
    services = []
    for protocol, name, key in MAIL:
        listener = _preferred(listening.of(key))
        if listener is not None:
            services.append(Service(protocol, name, host, listener.port,
                                    TLS if listener.tls else starttls))
    web = _preferred(listening.of("http"))
    autodiscover = Autodiscover()
    if web is not None:
        scheme = "https" if web.tls else "http"
        default = 443 if web.tls else 80
        base = f"{scheme}://{_url_host(host)}" + ("" if web.port == default else f":{web.port}")
        for protocol, name, path in HTTP:
            if protocol in listening.http_protocols:
                services.append(Service(protocol, name, host, web.port, TLS if web.tls else NONE,
                                        base + path.format(account=quote(account, safe="@"))))
        running = listening.http_protocols
        autodiscover = Autodiscover(
            autodiscover=base + AUTODISCOVER_PATH if running & {"eas", "ews"} else None,
            caldav=base + "/.well-known/caldav" if "caldav" in running else None,
            carddav=base + "/.well-known/carddav" if "carddav" in running else None)
    return Connection(account, host, tuple(services), autodiscover)


def web_base(edge, host_header: Optional[str]) -> str:
    """The server's HTTP site as clients reach it (``https://host[:port]``): the
    listener clients are told of, or ``https://host`` when none runs here (a proxy)."""
    host = server_host(edge.config, host_header)
    web = _preferred(edge.listening.of("http"))
    if web is None:
        return f"https://{_url_host(host)}"
    scheme = "https" if web.tls else "http"
    default = 443 if web.tls else 80
    return f"{scheme}://{_url_host(host)}" + ("" if web.port == default else f":{web.port}")
