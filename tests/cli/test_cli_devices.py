"""``smsync devices`` goes through ``smsync.admin.devices``, as the web pages do: the same
rules for names, for which entries can be renamed and which devices wiped."""

import pytest_twisted

from .helpers import ok, run
from .test_commands import with_store

USER = "alice@example.org"


@pytest_twisted.ensureDeferred
async def test_devices_follow_the_web_rules(site):
    async def add(store):
        await store.devices.seen(USER, "eas-PHONE9", "eas", user_agent="Android-Mail/1.0")
        await store.devices.seen(USER, "imap-192.0.2.7", "imap", name="IMAP client at 192.0.2.7")
        await store.devices.save_state(USER, "eas-PHONE9", "eas:sync", b"{}")

    await with_store(site, add)
    try:
        bad = run("devices", "rename", USER, "eas-PHONE9", "Work\x01phone", cwd=site)
        assert bad.status == 1 and "not renamed: the name holds control characters" in bad.err
        bad = run("devices", "rename", USER, "imap-192.0.2.7", "Laptop", cwd=site)
        assert bad.status == 1 and "cannot be renamed" in bad.err
        bad = run("devices", "wipe", USER, "imap-192.0.2.7", cwd=site)
        assert bad.status == 1 and "IMAP devices cannot be wiped remotely" in bad.err
        assert "renamed eas-PHONE9 to 'Work phone'" in ok("devices", "rename", USER, "eas-PHONE9",
                                                          " Work phone ", cwd=site).out
        listing = ok("devices", "list", USER, cwd=site).out
        assert "Work phone" in listing and "IMAP client at 192.0.2.7" in listing
        ok("devices", "delete", USER, "eas-PHONE9", cwd=site)

        async def gone(store):
            return await store.devices.load_state(USER, "eas-PHONE9", "eas:sync")

        assert await with_store(site, gone) is None
    finally:
        async def clean(store):
            for d in await store.devices.list(USER):
                await store.devices.remove(USER, d.device_id)

        await with_store(site, clean)
