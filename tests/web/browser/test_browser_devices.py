"""Synchronized Devices in a real Chromium, filled by real clients run in the test: a
device synced over each protocol -- imaplib (with IMAP ID), poplib, the caldav library,
pyactivesync (EAS), exchangelib (EWS), SyncEvolution (SyncML) -- appears in the table
with its Type and a Last Sync of just now; and one user cannot reach another's devices
by editing URLs."""

from __future__ import annotations

import imaplib
import poplib
import time
from urllib.parse import quote

import pytest_twisted

from smsync.testing.servers import OTHER, PASSWORD, USER
from tests.web.browser.browser_support import block, check_recent, device_row, shot, sign_in

PROTOCOLS = ("web", "imap", "pop3", "caldav", "eas", "ews", "syncml")
#: pyactivesync talks HTTPS only.
TLS = True

#: The columns of the devices table.
NAME, TYPE, LAST_SYNC, FIRST_SEEN, CLIENT = range(5)


def cells(row) -> list[str]:
    return [text.strip() for text in row.locator("td").all_inner_texts()]


def listed(page, device_type: str, user: str = USER) -> list[str]:
    """Sign in as ``user`` and read the devices table's row of ``device_type``, checking
    that its Last Sync is just now."""
    sign_in(page, user)
    assert page.get_by_role("heading", level=1).inner_text() == "Synchronized Devices"
    row = cells(device_row(page, device_type))
    assert row[TYPE] == device_type
    check_recent(row[LAST_SYNC])
    return row


def recorded(server, account: str):
    """The one device of ``account``, once the server has recorded it (an IMAP server
    records its client while the session goes on)."""
    deadline = time.monotonic() + 10
    while True:
        found = block(server.store.devices.list(account))
        if found or time.monotonic() > deadline:
            (device,) = found
            return device
        time.sleep(0.1)


def _imap(page, server):
    imaplib.Commands.setdefault("ID", ("NONAUTH", "AUTH", "SELECTED"))
    client = imaplib.IMAP4(server.host, server.port("imap"))
    client.login(USER, PASSWORD)
    client._simple_command("ID", '("name" "BrowserTestMail" "version" "2.5")')
    client.select("INBOX")
    client.logout()
    row = listed(page, "IMAP")
    assert row[CLIENT] == "BrowserTestMail/2.5"


@pytest_twisted.ensureDeferred
async def test_imap_client_is_listed(server, browser):
    await browser.run(_imap, server.url, server)


def _pop3(page, server):
    client = poplib.POP3(server.host, server.port("pop3"))
    client.user(USER)
    client.pass_(PASSWORD)
    client.stat()
    client.quit()
    listed(page, "POP3")


@pytest_twisted.ensureDeferred
async def test_pop3_client_is_listed(server, browser):
    await browser.run(_pop3, server.url, server)


def _caldav(page, server):
    import caldav

    client = caldav.DAVClient(url=server.url + "/dav/", username=USER, password=PASSWORD)
    assert client.principal().calendars()
    row = listed(page, "CalDAV")
    assert "caldav" in row[CLIENT].lower()


@pytest_twisted.ensureDeferred
async def test_caldav_client_is_listed(server, browser):
    await browser.run(_caldav, server.url, server)


def _eas(page, server):
    from pyactivesync import Client

    with Client(server=f"127.0.0.1:{server.port('eas', tls=True)}", username=USER, password=PASSWORD,
                device_id="BrowserTestPhone", device_type="SmartPhone") as phone:
        assert phone.list_folders()
    row = listed(page, "Exchange ActiveSync")
    assert row[NAME]


@pytest_twisted.ensureDeferred
async def test_eas_device_is_listed(server, browser, monkeypatch):
    # pyactivesync checks the server's certificate (made for the test) with requests.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.directory / "server.pem"))
    await browser.run(_eas, server.url, server)


def _ews(page, server):
    from tests.protocols.ews.ews_support import account

    mailbox = account(server)
    mailbox.inbox.refresh()
    assert mailbox.inbox.total_count == 0
    listed(page, "Exchange Web Services")


@pytest_twisted.ensureDeferred
async def test_ews_client_is_listed(server, browser):
    await browser.run(_ews, server.url, server)


def _syncml(page, server, root):
    from tests.protocols.syncml import syncevo

    phone = syncevo.Device(root, "browser-test-phone", server.url + "/syncml", USER, PASSWORD,
                           databases=("addressbook",))
    phone.write("addressbook", "ada", b"BEGIN:VCARD\r\nVERSION:3.0\r\nN:Lovelace;Ada;;;\r\n"
                                      b"FN:Ada Lovelace\r\nEND:VCARD\r\n")
    phone.sync()
    row = listed(page, "SyncML")
    assert row[NAME]


@pytest_twisted.ensureDeferred
async def test_syncml_device_is_listed(server, browser, tmp_path):
    from tests.protocols.syncml import syncevo

    syncevo.require()
    await browser.run(_syncml, server.url, server, tmp_path)


def _only_own_devices(page, server):
    # Bob syncs a client of his own; Alice signs in and edits URLs to reach it.
    client = imaplib.IMAP4(server.host, server.port("imap"))
    client.login(OTHER, PASSWORD)
    client.select("INBOX")
    client.logout()
    bobs = recorded(server, OTHER)
    sign_in(page, USER)
    assert bobs.device_id not in page.content()
    # Her own device's page and API call answer (so a 404 below means "not hers").
    own = page.locator("#devices tbody tr").first.get_attribute("data-device")
    for url in (f"/web/devices/{quote(own, safe='')}", f"/api/v1/devices/{quote(own, safe='')}"):
        assert page.goto(url).status == 200, url
    theirs = quote(bobs.device_id, safe="")
    for url in (f"/web/devices/{theirs}", f"/api/v1/devices/{theirs}", f"/web/devices/{theirs}/delete",
                f"/api/v1/devices/{theirs}/log"):
        answer = page.goto(url)
        assert answer.status == 404, (url, answer.status)
        text = page.locator("body").inner_text()
        assert "Not found" in text or '"status":404' in text.replace(" ", ""), (url, text)
        assert bobs.device_id not in text
    # Query parameters naming another account change nothing.
    for url in (f"/web/devices?account={OTHER}", f"/web/devices?user={OTHER}",
                f"/api/v1/devices?account={OTHER}"):
        page.goto(url)
        assert bobs.device_id not in page.content(), url
    # Bob sees his own.
    page.context.clear_cookies()
    sign_in(page, OTHER)
    assert cells(device_row(page, "IMAP"))[TYPE] == "IMAP"
    assert page.locator("#devices tbody tr").count() == 1


@pytest_twisted.ensureDeferred
async def test_a_user_cannot_reach_another_users_devices(server, browser):
    await browser.run(_only_own_devices, server.url, server)


def _screenshot(page):
    sign_in(page, USER)
    assert page.locator("#devices tbody tr").count() >= 5
    shot(page, "devices")


@pytest_twisted.ensureDeferred
async def test_devices_page_screenshot(server, browser):
    await browser.run(_screenshot, server.url)

