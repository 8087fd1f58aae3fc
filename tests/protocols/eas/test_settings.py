"""EAS Settings against a real server: out-of-office replies set from one device and read
from another, kept across a restart on SQLite and PostgreSQL; DeviceInformation kept in
the device's state; UserInformation by protocol version; the parts this server keeps
nothing for; bad arguments answered with their Status."""

from __future__ import annotations

import json
from datetime import timezone

import pytest
import pytest_twisted
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.threads import deferToThread

from smsync.edge import oof
from smsync.protocols.eas.wbxml import Element
from smsync.testing.servers import SQLITE, USER, RunningServers
from tests.protocols.eas import test_eas_endpoint as endpoint
from tests.protocols.eas.test_eas_endpoint import block, post, provision
from tests.store import pg_support
from tests.store.pg_support import fresh_schema_uri, require_postgresql

# The endpoint tests' fixture: a TLS server serving EAS.
server = endpoint.server
pg_database = pg_support.pg_database

SET = "Settings:"
PROV = "Provision:"


def e(tag, *children, text=None, ns=SET):
    return Element(ns, tag, children, text)


def settings(*parts):
    return e("Settings", *parts)


def oof_set(state, *rest):
    return e("Oof", e("Set", e("OofState", text=str(state)), *rest))


def message(audience, text, enabled="1", body_type="Text"):
    return e("OofMessage", e(audience), e("Enabled", text=enabled), e("ReplyMessage", text=text),
             e("BodyType", text=body_type))


def oof_get(body_type="Text"):
    return settings(e("Oof", e("Get", e("BodyType", text=body_type))))


def answer(port, key, body, device="raw01", version="16.1"):
    status, _, tree = post(port, "Settings", body, policy_key=key, device=device, version=version)
    assert status == 200
    assert tree.find(SET, "Status").text == "1"
    return tree


def read_oof(port, key, device, body_type="Text"):
    oof = answer(port, key, oof_get(body_type), device).find(SET, "Oof")
    assert oof.find(SET, "Status").text == "1"
    got = oof.find(SET, "Get")
    messages = {}
    for m in (c for c in got.children if c.tag == "OofMessage"):
        audience = m.children[0].tag
        reply = m.find(SET, "ReplyMessage")
        messages[audience] = (m.find(SET, "Enabled").text, reply.text if reply is not None else None,
                              m.find(SET, "BodyType").text)
    times = tuple(got.find(SET, t).text if got.find(SET, t) is not None else None
                  for t in ("StartTime", "EndTime"))
    return got.find(SET, "OofState").text, times, messages


_times = st.none() | st.datetimes(timezones=st.just(timezone.utc))
_messages = st.dictionaries(st.sampled_from(oof.AUDIENCES), st.builds(
    oof.OofMessage, st.booleans(), st.text(), st.sampled_from(["Text", "HTML"])))


@given(st.builds(oof.Oof, st.sampled_from([0, 1, 2]), _times, _times, _messages))
def test_oof_settings_round_trip(value):
    assert oof.Oof.from_bytes(value.to_bytes()) == value


@pytest.mark.parametrize("raw", [None, b"", b"{", b"[]", b'{"state": 9}', b'{"state": "x"}',
                                 b'{"start": "noon", "state": 2}', b'{"messages": 5}'])
def test_unreadable_oof_settings_are_off(raw):
    assert oof.Oof.from_bytes(raw) == oof.Oof()


@pytest_twisted.ensureDeferred
async def test_oof_set_on_one_device_is_read_on_another(server):
    await deferToThread(_oof_two_devices, server)


def _oof_two_devices(server):
    port = server.port("eas", tls=True)
    phone, tablet = provision(port, "phone"), provision(port, "tablet")
    assert read_oof(port, tablet, "tablet")[0] == "0"

    tree = answer(port, phone, settings(oof_set(
        2, e("StartTime", text="2030-07-01T08:00:00.000Z"), e("EndTime", text="2030-07-15T18:00:00.000Z"),
        message("AppliesToInternal", "Back on the 15th.\nAsk Bob."),
        message("AppliesToExternalKnown", "<p>Away</p>", body_type="HTML"),
        message("AppliesToExternalUnknown", "", enabled="0"))), "phone")
    assert tree.find(SET, "Oof").find(SET, "Status").text == "1"

    state, times, messages = read_oof(port, tablet, "tablet")
    assert state == "2"
    assert times == ("2030-07-01T08:00:00.000Z", "2030-07-15T18:00:00.000Z")
    assert messages["AppliesToInternal"] == ("1", "Back on the 15th.\nAsk Bob.", "Text")
    assert messages["AppliesToExternalKnown"] == ("1", "Away", "Text")
    assert messages["AppliesToExternalUnknown"] == ("0", None, "Text")
    html = read_oof(port, tablet, "tablet", "HTML")[2]
    assert html["AppliesToExternalKnown"] == ("1", "<p>Away</p>", "HTML")
    assert "Ask Bob." in html["AppliesToInternal"][1] and "<br>" in html["AppliesToInternal"][1]

    # Turning it off keeps the messages for next time; the other account sees nothing.
    answer(port, tablet, settings(oof_set(0)), "tablet")
    state, _, messages = read_oof(port, phone, "phone")
    assert state == "0" and messages["AppliesToInternal"][1] == "Back on the 15th.\nAsk Bob."
    assert block(server.store.settings.get("bob@example.org", "eas:oof")) is None


@pytest_twisted.ensureDeferred
async def test_bad_oof_and_unknown_parts(server):
    await deferToThread(_bad_oof, server)


def _bad_oof(server):
    port = server.port("eas", tls=True)
    key = provision(port)

    def oof_status(*rest, state=2):
        return answer(port, key, settings(oof_set(state, *rest))).find(SET, "Oof").find(SET, "Status").text

    assert oof_status() == "5", "a time-based reply needs its times"
    assert oof_status(e("StartTime", text="2030-07-02T00:00:00.000Z"),
                      e("EndTime", text="2030-07-01T00:00:00.000Z")) == "6"
    assert oof_status(e("StartTime", text="tomorrow"), e("EndTime", text="2030-07-01T00:00:00.000Z")) == "5"
    assert oof_status(state=7) == "5"
    assert oof_status(e("OofMessage", e("Enabled", text="1")), state=1) == "5"
    assert oof_status(message("AppliesToInternal", "x", body_type="RTF"), state=1) == "5"
    assert oof_status(*(message(a, "\U0001F600" * 16000) for a in
                        ("AppliesToInternal", "AppliesToExternalKnown")), state=1) == "5"
    assert read_oof(port, key, "raw01")[0] == "0", "nothing refused was kept"
    tree = answer(port, key, settings(e("Oof")))
    assert tree.find(SET, "Oof").find(SET, "Status").text == "2"
    status, _, tree = post(port, "Settings", settings(e("Model", text="x")), policy_key=key)
    assert status == 200 and tree.find(SET, "Status").text == "2"
    assert post(port, "Settings", e("Oof"), policy_key=key)[0] == 400


@pytest_twisted.ensureDeferred
async def test_a_store_without_account_settings(server, monkeypatch):
    # A third-party store need not offer IAccountSettings: Oof is then off and unsettable.
    monkeypatch.setattr(server.store, "settings", None)
    await deferToThread(_without_settings, server)


def _without_settings(server):
    port = server.port("eas", tls=True)
    key = provision(port)
    assert read_oof(port, key, "raw01")[0] == "0"
    tree = answer(port, key, settings(oof_set(1, message("AppliesToInternal", "away"))))
    assert tree.find(SET, "Oof").find(SET, "Status").text == "2"


@pytest_twisted.ensureDeferred
async def test_device_and_user_information(server):
    await deferToThread(_device_and_user, server)


def _device_and_user(server):
    port = server.port("eas", tls=True)
    key = provision(port)
    info = e("DeviceInformation", e("Set", e("Model", text="iPhone15,2"), e("IMEI", text="3569"),
                                    e("FriendlyName", text="Alice's phone"), e("OS", text="iOS 17.4"),
                                    e("OSLanguage", text="en"), e("PhoneNumber", text="+15550100"),
                                    e("UserAgent", text="Apple-iPhone15C2/2104"),
                                    e("MobileOperator", text="Op")))
    tree = answer(port, key, settings(
        info, e("UserInformation", e("Get")), e("DevicePassword", e("Set", e("Password", text="secret"))),
        e("RightsManagementInformation", e("Get"))))
    parts = {c.tag: c for c in tree.children if c.tag != "Status"}
    assert all(p.find(SET, "Status").text == "1" for p in parts.values())
    account = parts["UserInformation"].find(SET, "Get").find(SET, "Accounts").find(SET, "Account")
    addresses = account.find(SET, "EmailAddresses")
    assert addresses.find(SET, "PrimarySmtpAddress").text == USER
    assert addresses.find(SET, "SmtpAddress").text == USER
    assert parts["RightsManagementInformation"].find(SET, "Get") is not None

    saved = json.loads(block(server.store.devices.load_state(USER, "eas-raw01", "eas:device-info")))
    assert saved["Model"] == "iPhone15,2" and saved["FriendlyName"] == "Alice's phone"
    assert saved["MobileOperator"] == "Op" and len(saved) == 8
    log = block(server.store.devices.get_log(USER, "eas-raw01"))
    assert sum("device information" in entry.message for entry in log) == 1
    states = [block(server.store.devices.load_state(USER, "eas-raw01", k))
              for k in ("eas:device-info", "eas:policy")]
    assert all(b"secret" not in s for s in states), "the device password is not kept"

    # Protocol 14.0 gets the addresses without Accounts.
    tree = answer(port, key, settings(e("UserInformation", e("Get"))), version="14.0")
    get = tree.find(SET, "UserInformation").find(SET, "Get")
    assert get.find(SET, "Accounts") is None
    assert get.find(SET, "EmailAddresses").find(SET, "SmtpAddress").text == USER


@pytest_twisted.ensureDeferred
async def test_provision_keeps_device_information(server):
    await deferToThread(_provision_info, server)


def _provision_info(server):
    port = server.port("eas", tls=True)
    body = Element(PROV, "Provision", (
        e("DeviceInformation", e("Set", e("Model", text="Pixel 8"), e("OS", text="Android 14"))),
        Element(PROV, "Policies", (Element(PROV, "Policy", (
            Element(PROV, "PolicyType", (), "MS-EAS-Provisioning-WBXML"),)),)),))
    status, _, tree = post(port, "Provision", body, device="pixel")
    assert status == 200
    saved = json.loads(block(server.store.devices.load_state(USER, "eas-pixel", "eas:device-info")))
    assert saved == {"Model": "Pixel 8", "OS": "Android 14"}


@pytest.fixture(params=["sqlite", "postgresql"])
def persistent_uri(request):
    if request.param == "sqlite":
        return SQLITE
    require_postgresql()
    return fresh_schema_uri(request.getfixturevalue("pg_database"))


@pytest_twisted.ensureDeferred
async def test_oof_survives_a_restart(persistent_uri, tmp_path):
    first = await RunningServers.start(("eas",), persistent_uri, tls=True, directory=tmp_path)
    try:
        await deferToThread(_set_before_restart, first)
    finally:
        await first.stop()
    uri = first.store_uri
    second = await RunningServers.start(("eas",), uri, tls=True, directory=tmp_path, accounts=())
    try:
        await deferToThread(_read_after_restart, second)
    finally:
        await second.stop()


def _set_before_restart(running):
    port = running.port("eas", tls=True)
    key = provision(port, "phone")
    answer(port, key, settings(oof_set(1, message("AppliesToInternal", "Gone fishing"))), "phone")


def _read_after_restart(running):
    port = running.port("eas", tls=True)
    key = provision(port, "laptop")
    state, _, messages = read_oof(port, key, "laptop")
    assert state == "1" and messages["AppliesToInternal"] == ("1", "Gone fishing", "Text")

