"""Account settings in a real Chromium: the connection settings name the ports that
really listen, a wrong current password is refused with the form's message and changes
nothing, and a password changed with the form is the one IMAP and the sign-in form take
from then on; the page's screenshot."""

from __future__ import annotations

import imaplib

import pytest_twisted

from smsync.testing.servers import PASSWORD, USER
from tests.web.browser.browser_support import shot, sign_in, sign_out

PROTOCOLS = ("web", "imap", "submission", "caldav", "carddav", "eas")
NEW = "a new and longer password"


def imap_takes(server, password: str) -> bool:
    client = imaplib.IMAP4(server.host, server.port("imap"))
    try:
        client.login(USER, password)
    except imaplib.IMAP4.error:
        return False
    client.logout()
    return True


def change(page, current: str, new: str, again: str) -> None:
    page.get_by_label("Current password").fill(current)
    page.get_by_label("New password", exact=True).fill(new)
    page.get_by_label("New password again").fill(again)
    page.get_by_role("button", name="Change password").click()
    page.wait_for_load_state()


def _settings(page, server):
    sign_in(page, USER)
    page.get_by_role("link", name="Account settings").click()
    page.wait_for_url("**/web/settings")
    assert page.get_by_role("heading", level=1).inner_text() == "Account settings"
    imap = page.locator('#services tr[data-protocol="imap"]')
    assert imap.locator("td").nth(2).locator("code").inner_text() == str(server.port("imap"))
    # The form's user name field is for password managers, not to be seen.
    assert not page.locator('#password input[name="user"]').is_visible()
    shot(page, "settings")

    change(page, "not the password", NEW, NEW)
    assert page.get_by_role("alert").is_visible()
    assert imap_takes(server, PASSWORD)
    change(page, PASSWORD, NEW, NEW + " typo")
    assert page.get_by_role("alert").is_visible()
    assert imap_takes(server, PASSWORD)

    change(page, PASSWORD, NEW, NEW)
    assert page.get_by_role("status").is_visible()
    assert not imap_takes(server, PASSWORD)
    assert imap_takes(server, NEW)
    sign_out(page)
    sign_in(page, USER, PASSWORD, expect_error=True)
    assert "/web/signin" in page.url
    sign_in(page, USER, NEW)


@pytest_twisted.ensureDeferred
async def test_settings_page_and_password_change(server, browser):
    await browser.run(_settings, server.url, server)
