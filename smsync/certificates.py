"""Self-signed certificates: ``smsync init``'s, so TLS is on from the first start, and the
test harness's (``smsync.testing.servers``).

Clients warn about a self-signed certificate (or must be told to trust it); replace it
with a real one (certbot's ``fullchain.pem``/``privkey.pem``) by pointing ``[tls]`` at
those files, or give them to ``smsync init --tls-certificate/--tls-key`` directly.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from pathlib import Path

#: How long the generated certificate is valid (the most clients accept for one).
VALID_DAYS = 825


def self_signed(hostname: str | None = None, days: int = VALID_DAYS) -> tuple[bytes, bytes]:
    """A new EC P-256 key and a self-signed server certificate for ``hostname`` (default:
    this machine's FQDN), ``localhost``, 127.0.0.1 and ::1, valid ``days`` from now (and
    five minutes before, for clocks a little behind). Returns ``(key_pem, cert_pem)``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    hostname = hostname or socket.getfqdn() or "localhost"
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname[:64])])
    now = datetime.datetime.now(datetime.timezone.utc)
    names = [x509.DNSName(n) for n in dict.fromkeys((hostname, "localhost"))]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "::1")]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def make_self_signed(cert_path: Path, key_path: Path, hostname: str | None = None) -> None:
    """Write a new key (mode 0600) to ``key_path`` and its self-signed certificate (see
    ``self_signed``) to ``cert_path``."""
    key_pem, cert_pem = self_signed(hostname)
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem)
    cert_path.write_bytes(cert_pem)
