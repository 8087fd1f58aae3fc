"""Mail delivery: LMTP and SMTP in (``inbound``), and submission with a relay queue
(``submission``, ``queue``), over one delivery core (``core``).

Embed a listener with ``DeliveryFactory(store, portal, ServerConfig(mode="lmtp"))`` on an
endpoint; the ``build_*`` functions are what ``smsync.tap`` calls for ``twistd
smsync-lmtp``/``smsync-smtp`` and the all-in-one's ``--submission``.
"""

from __future__ import annotations

import socket


def hostname_of(config) -> str:
    """The name the server gives itself: ``[delivery] hostname``, else the FQDN."""
    delivery = getattr(config, "delivery", None)
    if delivery is not None and delivery.hostname:
        return delivery.hostname
    return socket.getfqdn() or "localhost"


def tls_context(config):
    """A server TLS context factory from ``config.tls``, or None without a certificate."""
    tls = getattr(config, "tls", None)
    if tls is None or not tls.certificate:
        return None
    from pathlib import Path

    from twisted.internet.ssl import PrivateCertificate

    cert = Path(tls.certificate).read_bytes()
    key = Path(tls.private_key).read_bytes() if tls.private_key else cert
    return PrivateCertificate.loadPEM(key + b"\n" + cert).options()


def server_config(mode: str, config):
    from smsync.protocols.delivery.server import ServerConfig

    limits = getattr(config, "limits", None)
    out = ServerConfig(mode=mode, hostname=hostname_of(config), tls=tls_context(config))
    if limits is not None and limits.max_message_size:
        out.max_message_size = limits.max_message_size
    return out


def build_lmtp_service(store, portal, endpoints, config):
    """The LMTP listener's factory for ``smsync.tap``."""
    from smsync.protocols.delivery.inbound import DeliveryFactory

    return DeliveryFactory(store, portal, server_config("lmtp", config))


def build_smtp_service(store, portal, endpoints, config):
    """The inbound SMTP listener's factory for ``smsync.tap``."""
    from smsync.protocols.delivery.inbound import DeliveryFactory

    return DeliveryFactory(store, portal, server_config("smtp", config))


def build_submission_service(store, portal, endpoints, config):
    """The submission listener and its relay queue, as one service for ``smsync.tap``."""
    from smsync.protocols.delivery.submission import build_service

    return build_service(store, portal, endpoints, config, server_config("submission", config))


__all__ = ["build_lmtp_service", "build_smtp_service", "build_submission_service"]
