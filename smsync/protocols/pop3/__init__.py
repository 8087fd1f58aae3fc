"""The POP3 protocol plugin: RFC 1939 (+ CAPA, UIDL, TOP, AUTH PLAIN, STLS, RESP-CODES,
AUTH-RESP-CODE, PIPELINING) over the Inbox of the core mail store.

Embed it in any Twisted application with ``POP3Factory(store, portal, POP3Config())`` on
an endpoint; ``build_service`` is what ``smsync.tap`` calls for ``twistd smsync-pop3``.
Implicit TLS (pop3s) is an ``ssl:`` endpoint; STLS is offered when the config's
``[tls]`` names a certificate.
"""

from __future__ import annotations


def tls_context(config):
    """A server TLS context factory from ``config.tls`` (a ``smsync.config.Config``), or
    None when no certificate is configured."""
    tls = getattr(config, "tls", None)
    if tls is None or not tls.certificate:
        return None
    from pathlib import Path

    from twisted.internet.ssl import PrivateCertificate

    cert = Path(tls.certificate).read_bytes()
    key = Path(tls.private_key).read_bytes() if tls.private_key else cert
    return PrivateCertificate.loadPEM(key + b"\n" + cert).options()


def build_service(store, portal, endpoints, config):
    """The POP3 protocol factory for ``smsync.tap`` (which listens on ``endpoints``)."""
    from smsync.protocols.pop3.server import POP3Config, POP3Factory

    pop3_config = POP3Config(tls=tls_context(config))
    delivery = getattr(config, "delivery", None)
    if delivery is not None and delivery.hostname:
        pop3_config.hostname = delivery.hostname
    return POP3Factory(store, portal, pop3_config)


__all__ = ["build_service", "tls_context"]
