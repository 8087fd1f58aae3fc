"""The one TLS context: from the config's PEM files (combined or separate), or none."""

import pytest
from OpenSSL import SSL

from smsync.config import Config, TLSConfig
from smsync.edge.tls import context_from_files, server_context


def _pem():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    from datetime import datetime, timedelta, timezone

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return (key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()),
            cert.public_bytes(serialization.Encoding.PEM))


def test_no_certificate_no_context():
    assert server_context(Config()) is None
    assert server_context(object()) is None


def test_combined_and_separate_files_give_a_context(tmp_path):
    key, cert = _pem()
    (tmp_path / "both.pem").write_bytes(key + cert)
    (tmp_path / "key.pem").write_bytes(key)
    (tmp_path / "cert.pem").write_bytes(cert)
    combined = server_context(Config(tls=TLSConfig(certificate=str(tmp_path / "both.pem"))))
    separate = server_context(Config(tls=TLSConfig(certificate=str(tmp_path / "cert.pem"),
                                                   private_key=str(tmp_path / "key.pem"))))
    for options in (combined, separate):
        assert isinstance(options.getContext(), SSL.Context)


def test_a_missing_file_fails_at_once(tmp_path):
    with pytest.raises(OSError):
        context_from_files(str(tmp_path / "nope.pem"))
