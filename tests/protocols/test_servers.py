"""The shared server harness (``smsync.testing.servers``) itself: every protocol starts
over ``memory:`` and ``sqlite:``, with and without TLS, a real client gets a session, and
after ``stop`` the ports refuse connections and the store is closed."""

from __future__ import annotations

import base64
import http.client
import imaplib
import poplib
import re
import smtplib
import socket
import sys
from pathlib import Path

import pytest
import pytest_twisted

from smsync.tap import registry
from smsync.testing.servers import (PASSWORD, SQLITE, USER, RunningServers, client_tls_context,
                                    config_with, in_thread)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "store"))

from pg_support import fresh_schema_uri, pg_database  # noqa: E402,F401

MESSAGE = (b"From: sender@example.net\r\nTo: " + USER.encode() + b"\r\nSubject: harness\r\n"
           b"Message-ID: <harness@example.net>\r\n\r\nhello\r\n")

STORES = ["memory:", SQLITE]


class _LMTPOverTLS(smtplib.LMTP):
    """smtplib has no implicit-TLS LMTP client; this is LMTP on a TLS-wrapped socket."""

    def _get_socket(self, host, port, timeout):
        sock = super()._get_socket(host, port, timeout)
        return client_tls_context().wrap_socket(sock, server_hostname=host)


def _imap(running, tls: bool) -> str:
    if tls:
        with imaplib.IMAP4_SSL(running.host, running.port("imap", tls=True), timeout=20,
                               ssl_context=client_tls_context()) as c:
            assert "STARTTLS" not in c.capabilities
            c.login(USER, PASSWORD)
        c = imaplib.IMAP4(running.host, running.port("imap"), timeout=20)
        assert "STARTTLS" in c.capabilities
        c.starttls(client_tls_context())
    else:
        c = imaplib.IMAP4(running.host, running.port("imap"), timeout=20)
        assert "STARTTLS" not in c.capabilities
    c.login(USER, PASSWORD)
    typ, data = c.select("INBOX")
    c.logout()
    return typ


def _pop3(running, tls: bool) -> int:
    if tls:
        c = poplib.POP3_SSL(running.host, running.port("pop3", tls=True), timeout=20,
                            context=client_tls_context())
        c.user(USER)
        c.pass_(PASSWORD)
        c.quit()
        c = poplib.POP3(running.host, running.port("pop3"), timeout=20)
        assert "STLS" in c.capa()
        c.stls(client_tls_context())
    else:
        c = poplib.POP3(running.host, running.port("pop3"), timeout=20)
        assert "STLS" not in c.capa()
    c.user(USER)
    c.pass_(PASSWORD)
    count, _ = c.stat()
    c.quit()
    return count


def _smtp_family(running, protocol: str, tls: bool) -> None:
    """Send MESSAGE over ``protocol`` (lmtp, smtp or submission) on every listener."""
    plain = smtplib.LMTP if protocol == "lmtp" else smtplib.SMTP
    implicit = _LMTPOverTLS if protocol == "lmtp" else smtplib.SMTP_SSL
    recipient = "friend@remote.example" if protocol == "submission" else USER
    clients = [plain(running.host, running.port(protocol), timeout=20)]
    if tls:
        kw = {} if protocol == "lmtp" else {"context": client_tls_context()}
        clients.append(implicit(running.host, running.port(protocol, tls=True), timeout=20, **kw))
    for i, c in enumerate(clients):
        c.ehlo("client.example")
        assert c.has_extn("starttls") == (tls and i == 0)
        if c.has_extn("starttls"):
            c.starttls(context=client_tls_context())
            c.ehlo("client.example")
        if protocol == "submission":
            c.login(USER, PASSWORD)
        assert c.sendmail(USER, [recipient], MESSAGE) == {}
        c.quit()


def _dav(running, tls: bool) -> list[int]:
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    conns = [http.client.HTTPConnection(running.host, running.port("caldav"), timeout=20)]
    if tls:
        conns.append(http.client.HTTPSConnection(running.host, running.port("carddav", tls=True),
                                                 timeout=20, context=client_tls_context()))
    statuses = []
    for conn in conns:
        conn.request("PROPFIND", "/dav/", headers={"Authorization": f"Basic {token}", "Depth": "0"})
        response = conn.getresponse()
        response.read()
        statuses.append(response.status)
        conn.close()
    return statuses


def _eas(running, tls: bool) -> list[str]:
    """FolderSync of a provisioned phone: its Status, over each port."""
    from tests.protocols.eas.eas_client import RawEAS

    phones = [RawEAS(running.port("eas"), USER, PASSWORD, "servers-plain")]
    if tls:
        phones.append(RawEAS(running.port("eas", tls=True), USER, PASSWORD, "servers-tls",
                             tls_context=client_tls_context()))
    statuses = []
    for phone in phones:
        phone.provision()
        statuses.append("ok" if phone.folder_sync() else "no folders")
    return statuses


def _syncml(running, tls: bool) -> list[str]:
    """A device's first message (basic credentials, a slow-sync Alert): the SyncHdr's
    Status code, over each port."""
    from tests.protocols.syncml.raw import RawSyncML, alert, basic_cred, status_of

    codes = []
    for secure in ([False, True] if tls else [False]):
        scheme = "https" if secure else "http"
        client = RawSyncML(f"{scheme}://{running.host}:{running.port('syncml', tls=secure)}/syncml",
                           USER, PASSWORD, f"servers-{scheme}", context=client_tls_context() if secure else None)
        status, root = client.send(alert(client, 201, "addressbook", None, "1"), cred=basic_cred(USER, PASSWORD))
        codes += status_of(root, "SyncHdr")
    return codes


def _ews(running, tls: bool) -> list[str]:
    """GetFolder of the Inbox over raw SOAP: its ResponseCode, over each port."""
    from smsync.protocols.ews import soap
    from tests.protocols.ews.ews_support import operation

    body = soap.request_envelope(operation(
        "GetFolder", '<m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape>'
                     '<m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds>'))
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    conns = [http.client.HTTPConnection(running.host, running.port("ews"), timeout=30)]
    if tls:
        conns.append(http.client.HTTPSConnection(running.host, running.port("ews", tls=True), timeout=30,
                                                 context=client_tls_context()))
    codes = []
    for conn in conns:
        conn.request("POST", "/EWS/Exchange.asmx", body=body,
                     headers={"Authorization": f"Basic {token}", "Content-Type": "text/xml"})
        answer = soap.read_response(conn.getresponse().read())
        conn.close()
        codes += [msg.findtext(soap.m("ResponseCode")) for msg in soap.messages_of(answer.payload)]
    return codes


def _lists(running, tls: bool) -> list[str]:
    """GetListCollection from the Lists service (Add to Outlook): the templates of the
    lists, over each port."""
    from smsync.protocols.lists import SERVICE_PATH, soap

    body = soap.request_envelope("GetListCollection", {})
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    conns = [http.client.HTTPConnection(running.host, running.port("lists"), timeout=30)]
    if tls:
        conns.append(http.client.HTTPSConnection(running.host, running.port("lists", tls=True), timeout=30,
                                                 context=client_tls_context()))
    found = []
    for conn in conns:
        conn.request("POST", SERVICE_PATH, body=body,
                     headers={"Authorization": f"Basic {token}", "Content-Type": "text/xml"})
        answer = soap.read_response(conn.getresponse().read())
        conn.close()
        found.append(",".join(sorted(n.get("ServerTemplate") for n in answer.result.iter(soap.sp("List")))))
    return found


def _web(running, tls: bool) -> list[int]:
    """The API's own description, then the signed-in user's devices over Basic: the two
    statuses, over each port."""
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    conns = [http.client.HTTPConnection(running.host, running.port("web"), timeout=30)]
    if tls:
        conns.append(http.client.HTTPSConnection(running.host, running.port("web", tls=True), timeout=30,
                                                 context=client_tls_context()))
    statuses = []
    for conn in conns:
        for path, headers in (("/api/v1/openapi.json", {}),
                              ("/api/v1/devices", {"Authorization": f"Basic {token}"})):
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
        conn.close()
    return statuses


async def _session(running, protocol: str, tls: bool) -> None:
    """A real client's session with ``protocol``, and what it left in the store."""
    if protocol == "imap":
        assert await in_thread(_imap, running, tls) == "OK"
    elif protocol == "pop3":
        before = len(await running.bodies())
        assert await in_thread(_pop3, running, tls) == before
    elif protocol in ("lmtp", "smtp", "submission"):
        folder = "Sent" if protocol == "submission" else "INBOX"
        before = len(await running.bodies(folder=folder))
        await in_thread(_smtp_family, running, protocol, tls)
        assert len(await running.bodies(folder=folder)) == before + (2 if tls else 1)
    elif protocol in ("caldav", "carddav"):
        assert await in_thread(_dav, running, tls) == [207] * (2 if tls else 1)
    elif protocol == "eas":
        assert await in_thread(_eas, running, tls) == ["ok"] * (2 if tls else 1)
    elif protocol == "syncml":
        assert await in_thread(_syncml, running, tls) == ["212"] * (2 if tls else 1)
    elif protocol == "ews":
        assert await in_thread(_ews, running, tls) == ["NoError"] * (2 if tls else 1)
    elif protocol == "web":
        assert await in_thread(_web, running, tls) == [200, 200] * (2 if tls else 1)
    elif protocol == "lists":
        assert await in_thread(_lists, running, tls) == ["105,106,107"] * (2 if tls else 1)
    else:
        raise AssertionError(f"no client for {protocol}")


def _ports(running) -> list[int]:
    ports = []
    for protocol in running.protocols:
        ports.append(running.port(protocol))
        if running.config.tls.certificate:
            ports.append(running.port(protocol, tls=True))
    return ports


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


async def _stopped(running, log_capture) -> None:
    ports = _ports(running)
    directory = running.directory
    await running.stop()
    assert all(_refused(port) for port in ports), ports
    # Logged once the store's close() has fired. (A call on a closed store is no test:
    # memory: refuses it, sqlite: never answers.)
    assert log_capture.lines("smsync")[-1] == "smsync-test: store closed"
    assert running.service.store is None
    assert not directory.exists()
    await running.stop()  # a second stop is harmless
    assert log_capture.lines("smsync").count("smsync-test: store closed") == 1


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
@pytest.mark.parametrize("uri", STORES, ids=["memory", "sqlite"])
@pytest.mark.parametrize("protocols", [("imap",), ("pop3",), ("lmtp",), ("smtp",), ("submission",),
                                       ("caldav", "carddav"), ("eas",)], ids=lambda p: "+".join(p))
@pytest_twisted.ensureDeferred
async def test_each_protocol_serves_a_real_client_and_stops(protocols, uri, tls, log_capture):
    running = await RunningServers.start(protocols, uri, tls=tls)
    try:
        assert running.protocols == protocols
        assert await running.store.accounts.list() == sorted([USER, "bob@example.org"])
        if uri == SQLITE:
            assert running.store_uri == f"sqlite:///{running.directory}/store"
        assert (running.directory / "server.pem").exists() == tls
        for protocol in protocols:
            await _session(running, protocol, tls)
    finally:
        await _stopped(running, log_capture)


@pytest_twisted.ensureDeferred
async def test_all_in_one_site_every_protocol_at_once(log_capture):
    everything = tuple(p for p in registry.available())
    running = await RunningServers.start(everything, SQLITE, tls=True)
    try:
        assert set(everything) >= {"imap", "pop3", "lmtp", "smtp", "submission", "caldav",
                                   "carddav"}
        # The HTTP protocols share one site; every stream protocol has ports of its own.
        assert running.port("caldav") == running.port("carddav") == running.port("http")
        on_site = [p for p in everything if p in registry.HTTP_PROTOCOLS]
        assert len(set(_ports(running))) == len(_ports(running)) - 2 * (len(on_site) - 1)
        assert running.http_root is not None
        for protocol in everything:
            await _session(running, protocol, tls=True)
        # What one protocol stored, another serves: LMTP and SMTP deliveries seen over POP3.
        assert await in_thread(_pop3, running, True) == len(await running.bodies()) == 4
    finally:
        await _stopped(running, log_capture)


@pytest_twisted.ensureDeferred
async def test_postgresql_store(pg_database, log_capture):
    running = await RunningServers.start(("imap", "lmtp", "caldav"), fresh_schema_uri(pg_database))
    try:
        for protocol in running.protocols:
            await _session(running, protocol, tls=False)
        assert len(await running.bodies()) == 1
    finally:
        await _stopped(running, log_capture)


@pytest_twisted.ensureDeferred
async def test_config_reaches_the_builders_and_knobs_the_factories(log_capture):
    config = config_with(limits={"max_message_size": 20000}, delivery={"hostname": "mx.test"})
    running = await RunningServers.start(("imap", "smtp", "pop3"), config=config,
                                         knobs={"pop3": {"failed_login_delay": 0.01}})
    try:
        assert running.factory.config.append_limit == 20000  # imap, the main protocol
        assert running.factory_of("pop3").config.failed_login_delay == 0.01

        def look():
            c = imaplib.IMAP4(running.host, running.portno, timeout=20)
            c.login(USER, PASSWORD)
            _, lines = c.capability()
            caps = b" ".join(lines).split()
            appendlimit = {cap for cap in caps if cap.startswith(b"APPENDLIMIT")}
            c.logout()
            s = smtplib.SMTP(running.host, running.port("smtp"), timeout=20)
            s.ehlo("client.example")
            size, banner = s.esmtp_features["size"], s.ehlo_resp
            s.quit()
            return appendlimit, size, banner

        appendlimit, size, banner = await in_thread(look)
        assert appendlimit == {b"APPENDLIMIT=20000"} and size == "20000"
        assert banner.startswith(b"mx.test")
    finally:
        await _stopped(running, log_capture)


@pytest_twisted.ensureDeferred
async def test_an_unknown_knob_stops_everything_it_started(tmp_path, log_capture):
    with pytest.raises(AttributeError, match="no 'no_such_setting'"):
        await RunningServers.start("pop3", SQLITE, directory=tmp_path,
                                   knobs={"pop3": {"no_such_setting": 1}})
    lines = "\n".join(log_capture.lines("smsync"))
    [port] = re.findall(r"pop3 listening on 127\.0\.0\.1:(\d+)", lines)
    assert _refused(int(port))
    assert "smsync-test: store closed" in lines
    assert tmp_path.exists()  # the caller's directory is the caller's


@pytest_twisted.ensureDeferred
async def test_failures_to_start_are_errors():
    missing = [p for p in registry.PROTOCOLS if not registry.is_available(p)]
    if missing:
        with pytest.raises(ValueError, match="not available"):
            await RunningServers.start(missing[0])
    with pytest.raises(RuntimeError, match="cannot open store"):
        await RunningServers.start("imap", "nosuchscheme://x")
