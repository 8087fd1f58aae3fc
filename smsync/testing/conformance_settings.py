"""Conformance of ``IAccountSettings`` (the store's optional ``settings``): values kept
per account and key, replaced, removed, refused when malformed, gone with the account,
and -- for persistent backends -- there after a restart.

A backend without the ability skips these tests."""

from __future__ import annotations

import pytest
import pytest_twisted

from smsync.errors import InvalidData, NotFound
from smsync.interfaces import MAX_SETTING, IAccountSettings
from smsync.testing.base import HASH_1, StoreHarness, call


def _settings(store):
    settings = getattr(store, "settings", None)
    if not IAccountSettings.providedBy(settings):
        pytest.skip("the store has no IAccountSettings")
    return settings


class AccountSettingsConformance(StoreHarness):
    @pytest_twisted.ensureDeferred
    async def test_settings_are_kept_per_account_and_key(self, store):
        settings = _settings(store)
        assert await call(settings.get, self.ACCOUNT, "eas:oof") is None
        await call(settings.set, self.ACCOUNT, "eas:oof", b"\x00away\xff")
        await call(settings.set, self.ACCOUNT.upper(), "other", b"")
        assert await call(settings.get, self.ACCOUNT, "eas:oof") == b"\x00away\xff"
        assert await call(settings.get, self.ACCOUNT.upper(), "eas:oof") == b"\x00away\xff"
        assert await call(settings.get, self.ACCOUNT, "other") == b""
        assert await call(settings.get, self.ACCOUNT, "EAS:OOF") is None, "keys are case-sensitive"
        assert await call(settings.get, self.OTHER_ACCOUNT, "eas:oof") is None
        await call(settings.set, self.ACCOUNT, "eas:oof", b"back")
        assert await call(settings.get, self.ACCOUNT, "eas:oof") == b"back"
        await call(settings.set, self.ACCOUNT, "eas:oof", None)
        await call(settings.set, self.ACCOUNT, "never-set", None)
        assert await call(settings.get, self.ACCOUNT, "eas:oof") is None
        assert await call(settings.get, self.ACCOUNT, "other") == b""

    @pytest_twisted.ensureDeferred
    async def test_settings_refuse_bad_input(self, store):
        settings = _settings(store)
        for key, value in (("", b"x"), ("k" * 201, b"x"), (None, b"x"), ("k", "text"),
                           ("k", 5), ("k", b"x" * (MAX_SETTING + 1))):
            with pytest.raises(InvalidData):
                await call(settings.set, self.ACCOUNT, key, value)
        await call(settings.set, self.ACCOUNT, "k" * 200, b"x" * MAX_SETTING)
        assert await call(settings.get, self.ACCOUNT, "k" * 200) == b"x" * MAX_SETTING
        for account in ("nobody@example.com", "not an account"):
            with pytest.raises(NotFound):
                await call(settings.set, account, "k", b"x")
            assert await call(settings.get, account, "k") is None

    @pytest_twisted.ensureDeferred
    async def test_settings_go_with_the_account(self, store):
        settings = _settings(store)
        await call(settings.set, self.ACCOUNT, "eas:oof", b"on")
        await call(settings.set, self.OTHER_ACCOUNT, "eas:oof", b"kept")
        await call(store.accounts.remove, self.ACCOUNT)
        assert await call(settings.get, self.ACCOUNT, "eas:oof") is None
        await call(store.accounts.add, self.ACCOUNT, HASH_1)
        assert await call(settings.get, self.ACCOUNT, "eas:oof") is None, \
            "a new account of the same name starts without the old one's settings"
        assert await call(settings.get, self.OTHER_ACCOUNT, "eas:oof") == b"kept"

    @pytest_twisted.ensureDeferred
    async def test_settings_survive_reopen(self, store, reopen):
        settings = _settings(store)
        await call(settings.set, self.ACCOUNT, "eas:oof", b"persisted")
        await call(settings.set, self.ACCOUNT, "gone", b"x")
        await call(settings.set, self.ACCOUNT, "gone", None)
        store = await reopen()
        settings = _settings(store)
        assert await call(settings.get, self.ACCOUNT, "eas:oof") == b"persisted"
        assert await call(settings.get, self.ACCOUNT, "gone") is None
