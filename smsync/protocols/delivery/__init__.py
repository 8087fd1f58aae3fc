"""Mail delivery: LMTP and SMTP in (``inbound``), and submission (``submission``) over
one delivery core (``core``); mail out goes through the front door's relay queue
(``smsync.edge.outbound``).

Embed a listener with ``DeliveryFactory(store, portal, ServerConfig(mode="lmtp"))`` on an
endpoint (pass ``edge=`` to share a server's ``smsync.edge.Edge``); the ``build_*``
functions are what ``smsync.tap`` calls for ``twistd smsync-lmtp``/``smsync-smtp`` and
the all-in-one's ``--submission``.
"""

from __future__ import annotations

from smsync.edge.outbound import hostname_of


def server_config(mode: str, edge):
    """The ``ServerConfig`` of a ``mode`` listener from ``edge``'s config and TLS."""
    from smsync.protocols.delivery.server import ServerConfig

    limits = getattr(edge.config, "limits", None)
    out = ServerConfig(mode=mode, hostname=hostname_of(edge.config), tls=edge.tls)
    if limits is not None and limits.max_message_size:
        out.max_message_size = limits.max_message_size
    return out


def build_lmtp_service(edge, endpoints):
    """The LMTP listener's factory for ``smsync.tap``."""
    from smsync.protocols.delivery.inbound import DeliveryFactory

    return DeliveryFactory(edge.store, edge.portal, server_config("lmtp", edge), edge=edge)


def build_smtp_service(edge, endpoints):
    """The inbound SMTP listener's factory for ``smsync.tap``."""
    from smsync.protocols.delivery.inbound import DeliveryFactory

    return DeliveryFactory(edge.store, edge.portal, server_config("smtp", edge), edge=edge)


def build_submission_service(edge, endpoints):
    """The submission listener's factory for ``smsync.tap``; its relayer runs in
    ``edge.service``."""
    from smsync.protocols.delivery.submission import build_service

    return build_service(edge, endpoints, server_config("submission", edge))


__all__ = ["build_lmtp_service", "build_smtp_service", "build_submission_service"]
