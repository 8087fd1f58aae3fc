"""Signing in with the form in a real Chromium: a wrong password shows the error and
stays on the form; the right one lands on Synchronized Devices; signing out ends it."""

from __future__ import annotations

import pytest_twisted

from smsync.testing.servers import USER
from tests.web.browser.browser_support import shot, sign_in, sign_out


def _sign_in(page):
    page.goto("/web/devices")
    # Not signed in: the page sends to the form, which comes back here afterwards.
    assert "/web/signin" in page.url
    shot(page, "signin")
    sign_in(page, USER, "not the password", expect_error=True)
    assert page.get_by_role("alert").inner_text() == "Wrong address or password."
    assert page.get_by_role("heading", level=1).inner_text() == "Sign in"
    # The address stays filled in; the password does not.
    assert page.get_by_label("Address").input_value() == USER
    assert page.get_by_label("Password").input_value() == ""

    sign_in(page, USER)
    assert page.url.endswith("/web/devices")
    assert page.get_by_role("heading", level=1).inner_text() == "Synchronized Devices"
    assert page.locator("header .who").inner_text() == USER
    # A user who is no administrator is not offered the administration pages.
    assert page.get_by_role("link", name="Administration").count() == 0

    sign_out(page)
    page.goto("/web/devices")
    assert "/web/signin" in page.url


@pytest_twisted.ensureDeferred
async def test_sign_in_and_out(server, browser):
    await browser.run(_sign_in, server.url)
