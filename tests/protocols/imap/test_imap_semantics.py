"""Finer points of RFC 3501/9051 behaviour: when changes are reported, read-only
mailboxes, INBOX renames, UTF-8 names, implicit TLS and the service builder."""

from __future__ import annotations


import pytest_twisted
from imap_harness import PASSWORD, USER, in_thread, self_signed_pem, start_server

from smsync.config import Config, TLSConfig
from smsync.edge import make_edge
from smsync.model import FlagMode, UIDSet
from smsync.protocols.imap import build_service
from smsync.protocols.imap.server import IMAPFactory
from smsync.testing.servers import client_tls_context

MSG = b"Subject: s%d\r\nMessage-ID: <s%d@x>\r\n\r\nbody\r\n"


def _login(raw):
    assert raw.command(b"L", b"LOGIN " + USER.encode() + b' "' + PASSWORD.encode() + b'"')[-1].startswith(b"L OK")


@pytest_twisted.ensureDeferred
async def test_expunge_withheld_during_fetch_then_reported(server):
    box = await server.mailbox()
    for i in range(3):
        await box.append(MSG % (i, i))

    def select():
        raw = server.raw()
        _login(raw)
        raw.command(b"s", b"SELECT INBOX")
        return raw

    raw = await in_thread(select)
    await box.store_flags(UIDSet.of([1]), FlagMode.ADD, ("\\Deleted",))
    await box.expunge()

    def check():
        lines = raw.command(b"f", b"FETCH 1:3 (UID)")
        # No EXPUNGE during a sequence-number FETCH: numbers must stay valid.
        assert not any(b"EXPUNGE" in l for l in lines)
        assert [l for l in lines if b"FETCH (UID" in l] == [b"* 2 FETCH (UID 2)", b"* 3 FETCH (UID 3)"]
        lines = raw.command(b"n", b"NOOP")
        assert b"* 1 EXPUNGE" in lines
        assert raw.command(b"g", b"FETCH 1 (UID)")[0] == b"* 1 FETCH (UID 2)"
        raw.close()

    await in_thread(check)


@pytest_twisted.ensureDeferred
async def test_flag_changes_from_another_connection_reach_idle(server):
    box = await server.mailbox()
    await box.append(MSG % (1, 1))

    def start():
        raw = server.raw()
        _login(raw)
        raw.command(b"s", b"SELECT INBOX")
        raw.send(b"i IDLE\r\n")
        assert raw.line() == b"+ idling"
        other = server.imapclient()
        other.select_folder("INBOX")
        other.add_flags([1], [b"$Important"])
        other.logout()
        # The new keyword is announced (FLAGS, PERMANENTFLAGS) before the FETCH.
        assert b"$Important" in raw.line() and b"PERMANENTFLAGS" in raw.line()
        line = raw.line()
        assert line.startswith(b"* 1 FETCH (UID 1 FLAGS (") and b"$Important" in line
        raw.send(b"DONE\r\n")
        assert raw.until(b"i")[-1] == b"i OK IDLE completed"
        raw.close()

    await in_thread(start)


@pytest_twisted.ensureDeferred
async def test_examine_is_read_only(server):
    box = await server.mailbox()
    await box.append(MSG % (1, 1))

    def client():
        raw = server.raw()
        _login(raw)
        assert raw.command(b"e", b"EXAMINE INBOX")[-1].startswith(b"e OK [READ-ONLY]")
        raw.command(b"f", b"FETCH 1 (BODY[])")
        assert raw.command(b"s", b"STORE 1 +FLAGS (\\Deleted)")[-1].startswith(b"s NO [READ-ONLY]")
        assert raw.command(b"x", b"EXPUNGE")[-1].startswith(b"x NO")
        raw.close()

    await in_thread(client)
    (info,) = await box.messages()
    assert info.flags == frozenset()


@pytest_twisted.ensureDeferred
async def test_rename_inbox_moves_its_messages(server):
    box = await server.mailbox()
    await box.append(MSG % (1, 1))

    def client():
        c = server.imapclient()
        c.rename_folder("INBOX", "Old Inbox")
        assert c.select_folder("INBOX")[b"EXISTS"] == 0
        assert c.select_folder("Old Inbox")[b"EXISTS"] == 1
        c.logout()

    await in_thread(client)


@pytest_twisted.ensureDeferred
async def test_utf8_names_after_enable_and_recursivematch(server):
    def client():
        raw = server.raw()
        _login(raw)
        # Raw 8-bit names are taken as UTF-8 even before ENABLE, but answers use
        # modified UTF-7 until the client enables UTF-8.
        assert raw.command(b"c", "CREATE Entwürfe/Alt".encode())[-1].startswith(b"c OK")
        assert raw.command(b"k", b'LIST "" Entw*')[0].endswith(b'"/" Entw&APw-rfe')
        assert raw.command(b"d", b"CREATE &Zm")[-1].startswith(b"d BAD")
        assert raw.command(b"e", b"ENABLE UTF8=ACCEPT")[0] == b"* ENABLED UTF8=ACCEPT"
        lines = raw.command(b"l", b'LIST "" Entw*')
        assert lines[0] == '* LIST (\\HasChildren) "/" "Entwürfe"'.encode()
        # CREATE subscribes nothing (RFC 3501 6.3.9): the client does.
        raw.command(b"t", "SUBSCRIBE Entwürfe/Alt".encode())
        raw.command(b"u", "UNSUBSCRIBE Entwürfe".encode())
        lines = raw.command(b"r", b'LIST (SUBSCRIBED RECURSIVEMATCH) "" %')
        assert '* LIST (\\HasChildren) "/" "Entwürfe" ("CHILDINFO" ("SUBSCRIBED"))'.encode() in lines
        raw.close()
        c = server.imapclient()
        assert "Entwürfe/Alt" in [f[2] for f in c.list_folders()]
        c.logout()

    await in_thread(client)


@pytest_twisted.ensureDeferred
async def test_device_without_id_named_by_address(server):
    def client():
        c = server.imapclient()
        c.select_folder("INBOX")
        c.logout()

    await in_thread(client)
    (device,) = await server.store.devices.list(USER)
    assert device.device_id == "imap-127.0.0.1" and device.user_agent is None
    assert device.name == "IMAP client at 127.0.0.1"


@pytest_twisted.ensureDeferred
async def test_implicit_tls_endpoint_and_service_builder(tmp_path):
    running = await start_server(tls=True, require_tls_for_auth=True)
    try:

        def client():
            from imapclient import IMAPClient

            c = IMAPClient("127.0.0.1", running.port("imap", tls=True), ssl=True,
                           ssl_context=client_tls_context(), timeout=10)
            caps = c.capabilities()
            assert b"STARTTLS" not in caps and b"LOGINDISABLED" not in caps
            c.login(USER, PASSWORD)
            c.logout()

        await in_thread(client)
    finally:
        await running.stop()
    pem = tmp_path / "server.pem"
    pem.write_bytes(self_signed_pem())
    config = Config(tls=TLSConfig(certificate=str(pem)))
    edge = make_edge(running.store, running.portal, config)
    factory = build_service(edge, ["tcp:0"])
    assert isinstance(factory, IMAPFactory)
    assert factory.config.tls is not None
    assert factory.config.append_limit == config.limits.max_message_size


@pytest_twisted.ensureDeferred
async def test_search_header_matches_rfc2047_encoded_values(server):
    box = await server.mailbox()
    await box.append(
        b"From: dan@example.org\r\nSubject: =?utf-8?q?Caf=C3=A9_menu?=\r\n"
        b"X-Note: =?iso-8859-1?b?cOJ0ZQ==?= and more\r\n\r\nplain body\r\n"
    )
    await box.append(b"From: dan@example.org\r\nSubject: plain menu\r\nX-Note: none\r\n\r\nbody\r\n")

    def client():
        c = server.imapclient()
        c.select_folder("INBOX")
        found = {
            "decoded": c.search(["HEADER", "Subject", "café"], charset="UTF-8"),
            "latin1": c.search(["HEADER", "X-Note", "PÂTE AND"], charset="UTF-8"),
            "raw": c.search(["HEADER", "Subject", "=?utf-8?q?Caf"]),
            "both": c.search(["HEADER", "Subject", "menu"]),
        }
        c.logout()
        return found

    found = await in_thread(client)
    assert found == {"decoded": [1], "latin1": [1], "raw": [1], "both": [1, 2]}
