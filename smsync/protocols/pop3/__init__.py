"""The POP3 protocol plugin: RFC 1939 (+ CAPA, UIDL, TOP, AUTH PLAIN, STLS, RESP-CODES,
AUTH-RESP-CODE, PIPELINING) over the Inbox of the core mail store.

Embed it in any Twisted application with ``POP3Factory(store, portal, POP3Config())`` on
an endpoint (pass ``edge=`` to share a server's ``smsync.edge.Edge``); ``build_service``
is what ``smsync.tap`` calls for ``twistd smsync-pop3``. Implicit TLS (pop3s) is an
``ssl:`` endpoint; STLS is offered when the config's ``[tls]`` names a certificate.
"""

from __future__ import annotations


def build_service(edge, endpoints):
    """The POP3 protocol factory for ``smsync.tap`` (which listens on ``endpoints``)."""
    from smsync.protocols.pop3.server import POP3Config, POP3Factory

    pop3_config = POP3Config(tls=edge.tls)
    delivery = getattr(edge.config, "delivery", None)
    if delivery is not None and delivery.hostname:
        pop3_config.hostname = delivery.hostname
    limits = getattr(edge.config, "limits", None)
    if limits is not None:
        pop3_config.login_timeout = float(limits.login_timeout)
    return POP3Factory(edge.store, edge.portal, pop3_config, edge=edge)


__all__ = ["build_service"]
