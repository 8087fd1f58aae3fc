"""The twistd plugins (as subprocesses of .venv/bin/twistd) and the service they run
(in process, over the real memory: store)."""

import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import pytest_twisted
import treq
from twisted.cred.portal import Portal
from twisted.internet import error, protocol, reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.web.static import Data

from smsync.interfaces import IStore
from smsync.tap import registry
from smsync.tap.http import HttpRoot
from smsync.tap.service import Plan, SmsyncService
from smsync.config import Config

TWISTD = str(Path(sys.executable).with_name("twistd"))
PLUGINS = ["smsync", "smsync-imap", "smsync-pop3", "smsync-lmtp", "smsync-smtp", "smsync-submission", "smsync-caldav",
           "smsync-carddav", "smsync-eas", "smsync-ews", "smsync-syncml", "smsync-lists",
           "smsync-web"]


def twistd(*args, cwd, timeout=60):
    return subprocess.run([TWISTD, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def test_twistd_help_lists_every_plugin(tmp_path):
    result = twistd("--help", cwd=tmp_path)
    assert result.returncode == 0
    listed = set(re.findall(r"^\s+(smsync\S*)\s", result.stdout, re.M))
    assert listed == set(PLUGINS)


@pytest.mark.parametrize("plugin", ["smsync-imap", "smsync-caldav"])
def test_protocol_plugin_help_shows_options(tmp_path, plugin):
    result = twistd("-n", plugin, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for option in ("--store=", "--listen=", "--config="):
        assert option in result.stdout


def test_all_in_one_help_shows_options(tmp_path):
    result = twistd("-n", "smsync", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for option in ("--store=", "--config=", "--data=", "--imap=", "--pop3=", "--lmtp=",
                   "--smtp=", "--http=", "--workers="):
        assert option in result.stdout


def test_unbuilt_protocol_says_so_in_one_line(tmp_path):
    missing = [p for p in registry.PROTOCOLS if not registry.is_available(p)]
    if not missing:
        pytest.skip("every protocol is built")
    result = twistd("-n", f"smsync-{missing[-1]}", "--store", "memory:", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == f"smsync-{missing[-1]}: not available yet\n"
    assert not (tmp_path / "twistd.pid").exists()


@pytest.mark.parametrize("args, fragment", [
    (["--store", "bogus:x"], "smsync: error: no store backend for scheme 'bogus'"),
    (["--store", "memory:", "--http", "tcp:nonsense"], "smsync: error: http: bad endpoint"),
    (["--config", "missing.toml"], "smsync: error: missing.toml: no such config file"),
    ([], "smsync: error: smsync-data/smsync.toml: no such config file"),
])
def test_all_in_one_bad_input_is_one_line(tmp_path, args, fragment):
    result = twistd("-n", "smsync", *args, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(fragment), result.stderr
    assert result.stderr.count("\n") == 1


def test_all_in_one_serves_http_404_and_closes_store(tmp_path):
    off = ["--imap", "none", "--pop3", "none", "--lmtp", "none", "--smtp", "none"]
    proc = subprocess.Popen(
        [TWISTD, "-n", "--pidfile=", "smsync", "--store", "memory:", *off,
         "--http", "tcp:0:interface=127.0.0.1"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 30
        port = None
        while port is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            match = re.search(r"http listening on 127\.0\.0\.1:(\d+)", line)
            if match:
                port = int(match.group(1))
        assert port, "".join(lines)
        unbuilt = [p for p in registry.HTTP_PROTOCOLS if not registry.is_available(p)]
        taken = {path for p in registry.available() for path in registry.HTTP_PATHS.get(p, ())}
        paths = {"/", "/nothing"} | {path for p in unbuilt for path in registry.HTTP_PATHS[p]}
        for path in sorted(paths - taken):
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10)
            assert info.value.code == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    output = "".join(lines) + out
    # twistd re-raises the SIGTERM it handled once it has shut down cleanly.
    assert proc.returncode in (0, -signal.SIGTERM)
    assert "store memory: open" in output and "store closed" in output
    assert "Traceback" not in output


# ---------------------------------------------------------------------------------------
# In process: the service opens the store, builds protocols, closes the store.


class Leaf(Data):
    """A resource answering for its whole subtree, as protocol resources do."""

    isLeaf = True


class Greeter(protocol.Protocol):
    def connectionMade(self):
        self.transport.write(self.factory.greeting)
        self.transport.loseConnection()


class Collect(protocol.Protocol):
    def __init__(self):
        self.data = b""
        self.done = Deferred()

    def dataReceived(self, data):
        self.data += data

    def connectionLost(self, reason):
        self.done.callback(self.data)


@pytest.fixture
def fake_protocols(monkeypatch):
    """A stream protocol and an HTTP protocol registered for one test (the real ones,
    when built, are put back afterwards)."""
    calls = []

    def build_stream(edge, endpoints):
        calls.append((edge.store, edge.portal, endpoints, edge.config))
        factory = protocol.Factory.forProtocol(Greeter)
        factory.greeting = b"hello from " + edge.store.uri.encode()
        return factory

    def build_http(edge):
        return {"/dav/": Leaf(b"dav here", "text/plain"),
                "/EWS/Exchange.asmx": Leaf(b"ews here", "text/plain")}

    monkeypatch.setitem(registry._STREAM, "pop3", build_stream)
    monkeypatch.setitem(registry._HTTP, "ews", build_http)
    monkeypatch.delitem(registry._HTTP, "eas", raising=False)
    return calls


def _port(service, label):
    for child in service:
        if getattr(child, "label", None) == label:
            return child.ports[0].getHost().port
    raise AssertionError(f"no {label} service")


@pytest_twisted.ensureDeferred
async def test_service_runs_protocols_over_the_opened_store(fake_protocols):
    plan = Plan(store_uri="memory:", config=Config(),
                streams={"pop3": ["tcp:0:interface=127.0.0.1"]},
                http=("eas", "ews"), http_endpoints=("tcp:0:interface=127.0.0.1",))
    service = SmsyncService(plan, stop_reactor_on_failure=False)
    assert service.store is None  # nothing is opened before startService
    service.startService()
    try:
        await service.ready
        assert IStore.providedBy(service.store)
        (store, portal, endpoints, config), = fake_protocols
        assert store is service.store and isinstance(portal, Portal)
        assert endpoints == ["tcp:0:interface=127.0.0.1"] and config is plan.config

        pop3_port = _port(service, "pop3")
        client = Collect()
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", pop3_port), client)
        assert await client.done == b"hello from memory:"

        base = f"http://127.0.0.1:{_port(service, 'http')}"
        response = await treq.get(base + "/EWS/Exchange.asmx")
        assert response.code == 200 and await response.content() == b"ews here"
        response = await treq.get(base + "/dav/calendars/alice/")
        assert response.code == 200 and await response.content() == b"dav here"
        for path in ("/", "/EWS", "/Microsoft-Server-ActiveSync", "/sync"):
            response = await treq.get(base + path)
            assert response.code == 404, path
            await response.content()
    finally:
        await service.stopService()
    assert service.store is None
    with pytest.raises(error.ConnectionRefusedError):
        await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", pop3_port), Collect())


@pytest_twisted.ensureDeferred
async def test_service_with_a_bad_store_records_the_failure():
    service = SmsyncService(Plan(store_uri="sqlite:", config=Config()),
                            stop_reactor_on_failure=False)
    service.startService()
    await service.ready
    await service.stopService()
    assert len(service.failures) == 1
    assert service.failures[0].startswith("cannot open store sqlite:")


@pytest_twisted.ensureDeferred
async def test_service_with_a_taken_port_records_the_failure(fake_protocols):
    first = SmsyncService(Plan(store_uri="memory:", config=Config(),
                               streams={"pop3": ["tcp:0:interface=127.0.0.1"]}),
                          stop_reactor_on_failure=False)
    first.startService()
    await first.ready
    taken = f"tcp:{_port(first, 'pop3')}:interface=127.0.0.1"
    second = SmsyncService(Plan(store_uri="memory:", config=Config(), streams={"pop3": [taken]}),
                           stop_reactor_on_failure=False)
    second.startService()
    await second.ready
    await second.stopService()
    await first.stopService()
    assert first.failures == []
    assert len(second.failures) == 1 and second.failures[0].startswith(f"pop3: cannot listen on {taken}")


def test_http_root_mounting_rules():
    root = HttpRoot()
    dav = Data(b"", "text/plain")
    root.mount("/dav/", dav)
    root.mount("/dav", dav)  # CalDAV and CardDAV share it: the same resource is fine
    with pytest.raises(ValueError):
        root.mount("/dav/", Data(b"", "text/plain"))
    with pytest.raises(ValueError):
        root.mount("/dav/inner", Data(b"", "text/plain"))
    # "/" is the root URL alone (DAV discovery from the bare host), not everything.
    root.mount("/", dav)
    root.mount("/", dav)
    with pytest.raises(ValueError):
        root.mount("/", Data(b"", "text/plain"))
    assert root.getChildWithDefault(b"", None) is dav
    assert root.getChildWithDefault(b"nothing", None) is not dav
    root.mount("/EWS/Exchange.asmx", Data(b"", "text/plain"))
    with pytest.raises(ValueError):
        root.mount("/EWS", Data(b"", "text/plain"))
    assert sorted(root.mounts) == ["/", "/EWS/Exchange.asmx", "/dav"]


def test_every_protocol_has_paths_or_endpoints():
    for protocol_name in registry.PROTOCOLS:
        if protocol_name in registry.HTTP_PROTOCOLS:
            assert registry.HTTP_PATHS[protocol_name]
            assert registry.service_of(protocol_name) == "http"
        else:
            assert registry.service_of(protocol_name) == protocol_name
