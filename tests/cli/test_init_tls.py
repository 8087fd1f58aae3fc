"""TLS on by default (issue 11, item 5): ``smsync init`` makes a certificate (or takes
given files), writes ``[tls]`` and implicit-TLS listeners beside the plain ones, and a
server started from that config answers TLS with a certificate a client can verify."""

from __future__ import annotations

import imaplib
import socket
import ssl
import stat

import pytest
import pytest_twisted
from twisted.internet.threads import deferToThread

from smsync.auth import hash_password
from smsync.certificates import make_self_signed
from smsync.config import ConfigError, expand_endpoint, load_config, parse_config
from smsync.tap.service import Plan, SmsyncService

from .helpers import ok, run


def test_init_makes_a_certificate_and_tls_listeners(tmp_path):
    result = ok("init", "--data", "d", "--hostname", "mail.example.test", cwd=tmp_path)
    config = load_config(tmp_path / "d" / "smsync.toml")
    cert, key = config.tls.certificate, config.tls.private_key
    assert cert.endswith("certificate.pem") and key.endswith("private-key.pem")
    assert stat.S_IMODE((tmp_path / "d" / "tls" / "private-key.pem").stat().st_mode) == 0o600
    assert "self-signed TLS certificate" in result.out
    assert config.tls.allow_cleartext_passwords is False
    for service, port in (("imap", 1993), ("pop3", 1995), ("http", 8443)):
        assert f"tls:{port}:interface=127.0.0.1" in config.services.endpoints(service)
        expanded = [e for e in config.listen_on(service) if e.startswith("ssl:")]
        assert expanded == [f"ssl:{port}:interface=127.0.0.1:privateKey={key}:certKey={cert}"]
    from cryptography import x509

    loaded = x509.load_pem_x509_certificate((tmp_path / "d" / "tls" / "certificate.pem").read_bytes())
    names = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"mail.example.test", "localhost"} <= set(names.get_values_for_type(x509.DNSName))


def test_init_takes_given_certificate_files(tmp_path):
    make_self_signed(tmp_path / "fullchain.pem", tmp_path / "privkey.pem", "given.example")
    ok("init", "--data", "d", "--tls-certificate", "fullchain.pem", "--tls-key", "privkey.pem",
       cwd=tmp_path)
    config = load_config(tmp_path / "d" / "smsync.toml")
    assert config.tls.certificate == str(tmp_path / "fullchain.pem")
    assert config.tls.private_key == str(tmp_path / "privkey.pem")
    assert not (tmp_path / "d" / "tls").exists()
    missing = run("init", "--data", "e", "--tls-certificate", "nope.pem", cwd=tmp_path)
    assert missing.status == 1 and "no such file" in missing.err


def test_tls_endpoints_need_a_certificate():
    with pytest.raises(ConfigError, match=r"\[services\]: imap: .*set \[tls\] certificate"):
        parse_config('[services]\nimap = ["tls:1993"]\n')
    with pytest.raises(ConfigError, match="must be true or false"):
        parse_config('[tls]\nallow_cleartext_passwords = "yes"\n')
    from smsync.config import TLSConfig

    tls = TLSConfig(certificate="/a:b/c.pem")
    assert expand_endpoint("tls:993", tls) == r"ssl:993:privateKey=/a\:b/c.pem:certKey=/a\:b/c.pem"
    assert expand_endpoint("tcp:143", tls) == "tcp:143"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest_twisted.ensureDeferred
async def test_a_server_from_the_init_config_speaks_verifiable_tls(tmp_path):
    ok("init", "--data", "d", cwd=tmp_path)
    config = load_config(tmp_path / "d" / "smsync.toml")
    port = _free_port()
    endpoint = expand_endpoint(f"tls:{port}:interface=127.0.0.1", config.tls)
    service = SmsyncService(Plan(store_uri=config.store.uri, config=config,
                                 streams={"imap": [endpoint]}), stop_reactor_on_failure=False)
    service.startService()
    await service.ready
    assert service.failures == []
    try:
        await service.store.accounts.add("tls@example.org", hash_password("pw"))
        context = ssl.create_default_context(cafile=config.tls.certificate)

        def login():
            with imaplib.IMAP4_SSL("localhost", port, ssl_context=context) as client:
                client.login("tls@example.org", "pw")
                return client.sock.version(), client.select("INBOX")[0]

        version, status = await deferToThread(login)
        assert version.startswith("TLSv1.") and status == "OK"
    finally:
        await service.stopService()
