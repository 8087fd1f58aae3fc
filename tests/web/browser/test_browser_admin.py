"""Administration in a real Chromium: only an administrator reaches it; an
administrator turns EAS off for one account with the policy page and that account's
phone is refused at its next EAS request (Status 126) while its IMAP still works and
another account's phone is not touched, and removing the rule lets the phone back;
screenshots of the accounts, policy, all-devices and status pages."""

from __future__ import annotations

import imaplib
import time

import pytest_twisted

from smsync.testing.servers import OTHER, PASSWORD, USER
from tests.protocols.eas.eas_client import FH, RawEAS, el
from tests.web.browser.browser_support import ADMIN, shot, sign_in

PROTOCOLS = ("web", "imap", "eas")
#: How long a running server may take to see a policy change (its cache lasts 5 s).
POLICY_DELAY = 20


def phone(server, user: str, name: str) -> RawEAS:
    device = RawEAS(server.port("eas"), user, PASSWORD, name)
    device.provision()
    device.folder_sync()
    return device


def eas_status(device: RawEAS) -> str:
    """The FolderSync Status the phone gets now ("1": served; "126": EAS is not enabled
    for the account)."""
    status, tree = device.post("FolderSync", el(FH, "FolderSync", el(FH, "SyncKey", text="0")))
    assert status == 200 and tree is not None, status
    return tree.find(FH, "Status").text


def eventually(device: RawEAS, wanted: str) -> None:
    deadline = time.monotonic() + POLICY_DELAY
    while (got := eas_status(device)) != wanted:
        assert time.monotonic() < deadline, f"EAS still answers Status {got}, not {wanted}"
        time.sleep(0.5)


def imap_works(server, user: str = USER) -> bool:
    client = imaplib.IMAP4(server.host, server.port("imap"))
    try:
        client.login(user, PASSWORD)
        client.select("INBOX")
    except imaplib.IMAP4.error:
        return False
    client.logout()
    return True


def _users_are_kept_out(page, server):
    sign_in(page, USER)
    assert page.get_by_role("link", name="Administration").count() == 0
    for url in ("/web/admin/accounts", "/web/admin/policy", "/web/admin/devices", "/web/admin/status"):
        answer = page.goto(url)
        assert answer.status == 403, (url, answer.status)
        assert page.get_by_role("heading", level=1).inner_text() == "Forbidden"
    answer = page.goto("/api/v1/admin/accounts")
    assert answer.status == 403


@pytest_twisted.ensureDeferred
async def test_a_user_cannot_reach_administration(server, browser):
    await browser.run(_users_are_kept_out, server.url, server)


def _eas_off(page, server):
    alices = phone(server, USER, "AlicesPhone")
    bobs = phone(server, OTHER, "BobsPhone")
    assert eas_status(alices) == "1" and imap_works(server)
    sign_in(page, ADMIN)
    page.get_by_role("link", name="Administration").click()
    page.wait_for_load_state()
    page.goto("/web/admin/policy")
    page.get_by_label("Account (user@domain) or domain").fill(USER)
    page.get_by_label("Exchange ActiveSync").uncheck()
    page.get_by_role("button", name="Save rule").click()
    page.wait_for_load_state()
    assert page.get_by_role("status").is_visible(), page.locator("main").inner_text()
    rule = page.locator(f'#rules tr[data-subject="{USER}"]')
    assert rule.count() == 1
    shot(page, "admin-policy")

    # Alice's phone is refused at its next request; her IMAP works; Bob's phone too.
    eventually(alices, "126")
    assert imap_works(server)
    assert eas_status(bobs) == "1"

    # Removing the rule lets her phone back.
    rule.get_by_role("button", name="Remove rule").click()
    page.wait_for_load_state()
    assert page.locator(f'#rules tr[data-subject="{USER}"]').count() == 0
    eventually(alices, "1")


@pytest_twisted.ensureDeferred
async def test_an_administrator_turns_eas_off_for_an_account(server, browser):
    await browser.run(_eas_off, server.url, server)


def _pages(page, server):
    imap_works(server, OTHER)
    sign_in(page, ADMIN)
    page.goto("/web/admin/accounts")
    text = page.locator("main").inner_text()
    assert USER in text and OTHER in text and ADMIN in text
    shot(page, "admin-accounts")
    page.goto("/web/admin/devices")
    text = page.locator("main").inner_text()
    assert "AlicesPhone" in text or "pytest" in text
    shot(page, "admin-devices")
    page.goto("/web/admin/status")
    text = page.locator("main").inner_text().lower()
    assert "imap" in text and "sqlite" in text
    shot(page, "admin-status")


@pytest_twisted.ensureDeferred
async def test_administration_pages(server, browser):
    await browser.run(_pages, server.url, server)
