"""The IMAP protocol plugin: IMAP4rev1/IMAP4rev2 over the core mail store.

Embed it in any Twisted application with ``IMAPFactory(store, portal, IMAPConfig())`` on
an endpoint (pass ``edge=`` to share a server's ``smsync.edge.Edge``); ``build_service``
is what ``smsync.tap`` calls for ``twistd smsync-imap``.
"""

from __future__ import annotations


def build_service(edge, endpoints):
    """The IMAP protocol factory for ``smsync.tap`` (which listens on ``endpoints``).

    ``edge`` is the server's ``smsync.edge.Edge``; from its ``config``, ``[limits]
    max_message_size`` is the APPENDLIMIT, and its TLS context (``[tls]``), when there is
    one, is offered through STARTTLS. (Implicit TLS is an ``ssl:`` endpoint; connections
    arriving on one are recognised as secure.)
    """
    from smsync.protocols.imap.server import IMAPConfig, IMAPFactory

    imap_config = IMAPConfig(tls=edge.tls)
    limits = getattr(edge.config, "limits", None)
    if limits is not None and getattr(limits, "max_message_size", None):
        imap_config.append_limit = limits.max_message_size
    if limits is not None:
        imap_config.unauth_timeout = float(limits.login_timeout)
    return IMAPFactory(edge.store, edge.portal, imap_config, edge=edge)


__all__ = ["build_service"]
