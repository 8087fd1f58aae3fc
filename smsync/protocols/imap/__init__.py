"""The IMAP protocol plugin: IMAP4rev1/IMAP4rev2 over the core mail store.

Embed it in any Twisted application with ``IMAPFactory(store, portal, IMAPConfig())`` on
an endpoint; ``build_service`` is what ``smsync.tap`` calls for ``twistd smsync-imap``.
"""

from __future__ import annotations


def build_service(store, portal, endpoints, config):
    """The IMAP protocol factory for ``smsync.tap`` (which listens on ``endpoints``).

    ``config`` is a ``smsync.config.Config``: ``[limits] max_message_size`` is the
    APPENDLIMIT; ``[tls] certificate``/``private_key`` (PEM files), when set, are offered
    through STARTTLS. (Implicit TLS is an ``ssl:`` endpoint; connections arriving on one
    are recognised as secure.)
    """
    from smsync.protocols.imap.server import IMAPConfig, IMAPFactory

    imap_config = IMAPConfig()
    limits = getattr(config, "limits", None)
    if limits is not None and getattr(limits, "max_message_size", None):
        imap_config.append_limit = limits.max_message_size
    tls = getattr(config, "tls", None)
    if tls is not None and tls.certificate:
        imap_config.tls = tls_context(tls.certificate, tls.private_key or tls.certificate)
    return IMAPFactory(store, portal, imap_config)


def tls_context(certificate: str, private_key: str):
    """A server TLS context factory from PEM files (read once, at startup)."""
    from twisted.internet import ssl

    with open(private_key, "rb") as f:
        key = f.read()
    with open(certificate, "rb") as f:
        cert = f.read()
    pem = key if key == cert else key + b"\n" + cert
    return ssl.PrivateCertificate.loadPEM(pem).options()


__all__ = ["build_service"]
