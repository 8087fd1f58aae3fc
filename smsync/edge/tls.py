"""The TLS context every listener offers (STARTTLS, STLS, and later implicit TLS).

One function reads the configured PEM files once, at startup, so every protocol answers
with the same certificate and a bad path fails the start, not the first client.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional


def context_from_files(certificate: str, private_key: Optional[str] = None):
    """A server TLS context factory from PEM files: ``private_key`` may be the same file
    as ``certificate`` (a combined PEM) or None for the same.

    Raises:
        OSError: a file cannot be read.
    """
    from twisted.internet.ssl import PrivateCertificate

    cert = Path(certificate).read_bytes()
    key = Path(private_key).read_bytes() if private_key else cert
    pem = key if key == cert else key + b"\n" + cert
    return PrivateCertificate.loadPEM(pem).options()


def server_context(config):
    """The context for ``config.tls`` (a ``smsync.config.Config``, or any object with a
    ``tls`` holding ``certificate`` and ``private_key``), or None when no certificate is
    configured (then no protocol offers TLS)."""
    tls = getattr(config, "tls", None)
    if tls is None or not getattr(tls, "certificate", None):
        return None
    return context_from_files(tls.certificate, tls.private_key or None)
