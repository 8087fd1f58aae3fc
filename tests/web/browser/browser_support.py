"""Driving Debian's Chromium headless through Playwright against a real server (a test
aid for ``tests/web/browser``).

Playwright's sync API keeps to the thread that started it, and the Twisted reactor runs
on pytest's main thread, where it must keep serving while the browser waits for a page:
so ``Browser`` runs Chromium on one thread of its own and ``Browser.run`` hands it a
scenario -- a blocking function of a fresh page -- and fires when it is done. A scenario
runs on that thread, not the reactor's: it can run blocking clients (imaplib, caldav,
exchangelib, SyncEvolution) itself and reach the store with ``block``.

Playwright cannot download its own browsers here: it launches ``/usr/bin/chromium``
(``make test-deps`` installs it). Without it the tests skip, with the reason, outside
CI and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import pytest
from twisted.internet import reactor
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.threads import blockingCallFromThread
from twisted.python.failure import Failure

from smsync.testing.servers import PASSWORD

CHROMIUM = "/usr/bin/chromium"
#: An administrator's account, besides the harness's two (the ``server`` fixture makes it).
ADMIN = "root@example.org"
#: Where ``shot`` keeps its screenshots when ``SMSYNC_SCREENSHOTS=docs`` is set (docs/web.md
#: shows them); otherwise in a temporary directory, so a test run leaves the checkout
#: as it was (times, ports and uptime differ in every run).
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
SCREENSHOTS = (DOCS_SCREENSHOTS if os.environ.get("SMSYNC_SCREENSHOTS") == "docs"
               else Path(tempfile.gettempdir()) / "smsync-screenshots")
VIEWPORT = {"width": 1100, "height": 650}
#: How long a page or an element may take (ms): the machine is small and shared.
TIMEOUT = 20_000


def missing() -> Optional[str]:
    """Why the browser tests cannot run here (None: they can)."""
    if not os.access(CHROMIUM, os.X_OK) and shutil.which("chromium") is None:
        return "chromium not installed (apt-get install chromium, or `make test-deps`)"
    import importlib.util

    if importlib.util.find_spec("playwright") is None:
        return "playwright not installed (pip install -e '.[test]')"
    return None


def require() -> None:
    """Skip (or, under CI=true, fail) when the browser tests cannot run."""
    why = missing()
    if why is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{why}; required under CI=true", pytrace=False)
    pytest.skip(why)


def block(d):
    """From a scenario's thread: wait for a Deferred or coroutine run on the reactor."""
    return blockingCallFromThread(reactor, lambda: ensureDeferred(d))


class Browser:
    """One headless Chromium on a thread of its own."""

    def __init__(self):
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="chromium")
        self._thread.submit(self._launch).result()

    def _launch(self) -> None:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        executable = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
        # Chromium's sandbox needs user namespaces, which a root or container run lacks.
        self._chromium = self._playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox", "--disable-gpu"])

    def run(self, scenario, base_url: str, *args) -> Deferred:
        """Run ``scenario(page, *args)`` on the browser's thread with a fresh page (a
        context of its own: no cookie of another scenario) whose relative URLs are on
        ``base_url``; fires with its result."""
        fired = Deferred()

        def done(future):
            error = future.exception()
            if error is not None:
                reactor.callFromThread(fired.errback, Failure(error, type(error), error.__traceback__))
            else:
                reactor.callFromThread(fired.callback, future.result())

        self._thread.submit(self._scenario, scenario, base_url, args).add_done_callback(done)
        return fired

    def _scenario(self, scenario, base_url: str, args):
        context = self._chromium.new_context(base_url=base_url, viewport=VIEWPORT, locale="en-GB",
                                             timezone_id="UTC")
        context.set_default_timeout(TIMEOUT)
        try:
            return scenario(context.new_page(), *args)
        finally:
            context.close()

    def close(self) -> None:
        def close():
            self._chromium.close()
            self._playwright.stop()

        self._thread.submit(close).result()
        self._thread.shutdown()


def sign_in(page, user: str, password: str = PASSWORD, expect_error: bool = False) -> None:
    """Sign in with the form, as a person would; unless ``expect_error``, check that it
    worked (the Synchronized Devices page, or the page asked for, is shown)."""
    page.goto("/web/signin")
    page.get_by_label("Address").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    if not expect_error:
        assert "/web/signin" not in page.url, page.locator("main").inner_text()


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r".*/web/signin"))


def shot(page, name: str) -> Path:
    """Save the whole page as docs/screenshots/NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def device_row(page, device_type: str):
    """The Synchronized Devices table's row of the one device of ``device_type`` (its
    Type column, exactly)."""
    rows = page.locator("#devices tbody tr").filter(
        has=page.locator("td:nth-child(2)", has_text=re.compile(f"^{re.escape(device_type)}$")))
    assert rows.count() == 1, (device_type, page.locator("main").inner_text())
    return rows


def check_recent(text: str, slack: float = 600) -> datetime:
    """``text`` is a Last Sync cell of the devices table ("2026-12-06 15:40 UTC"), at most
    ``slack`` seconds ago; the time it says."""
    found = re.fullmatch(r"(\d{4}-\d\d-\d\d \d\d:\d\d) UTC", text.strip())
    assert found, f"not a Last Sync time: {text!r}"
    when = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=timezone.utc)
    age = (datetime.now(timezone.utc) - when).total_seconds()
    assert -120 < age < slack, f"Last Sync {text!r} is not recent"
    return when
