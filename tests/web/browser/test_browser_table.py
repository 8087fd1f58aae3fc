"""The devices table in a real Chromium: newest first, sorted by a click on a column's
heading (the page's own script, allowed by the Content-Security-Policy), and whatever a
device called itself shown as text -- a device named like a script runs nothing."""

from __future__ import annotations

import pytest_twisted

from smsync.testing.servers import USER
from tests.web.browser.browser_support import sign_in

PROTOCOLS = ("web",)
HOSTILE = '<script>alert("owned")</script><img src=x onerror=alert(1)>'


async def _seed(store):
    # Seen one after the other: the last one is the most recently synced.
    await store.devices.seen(USER, "eas-b", "eas", user_agent="Phone/1", name="Bravo phone")
    await store.devices.seen(USER, "eas-hostile", "eas", user_agent="Evil/1", name=HOSTILE)
    await store.devices.seen(USER, "eas-a", "eas", user_agent="Phone/2", name="Alpha phone")


def names(page) -> list[str]:
    return page.locator("#devices tbody tr td:nth-child(1)").all_inner_texts()


def _table(page):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, USER)
    assert names(page) == ["Alpha phone", HOSTILE, "Bravo phone"]
    # The hostile name is text: no element of it made it into the page, nothing ran.
    assert page.locator("#devices img").count() == 0
    assert page.locator("main script").count() == 0
    heading = page.get_by_role("columnheader", name="Name")
    heading.click()
    assert heading.get_attribute("aria-sort") == "ascending"
    assert names(page) == sorted(names(page), key=str.lower)
    heading.click()
    assert heading.get_attribute("aria-sort") == "descending"
    assert names(page) == sorted(names(page), key=str.lower, reverse=True)
    page.get_by_role("columnheader", name="Last Sync").click()
    assert names(page) == ["Bravo phone", HOSTILE, "Alpha phone"]
    assert dialogs == [] and errors == []


@pytest_twisted.ensureDeferred
async def test_sorting_and_escaping(server, browser):
    await _seed(server.store)
    await browser.run(_table, server.url)
