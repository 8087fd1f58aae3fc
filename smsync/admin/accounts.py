"""Accounts as administrators manage them: the administrator flag, kept in the
account's settings (``IAccountSettings``, key ``admin``) so every process on the store
sees it and it goes with the account. A store without settings has no administrators
(the CLI still manages everything)."""

from __future__ import annotations

from smsync.errors import InvalidData, NotFound
from smsync.interfaces import IAccountSettings

ADMIN_KEY = "admin"


def settings_of(store):
    """``store``'s ``IAccountSettings``, or None when it has none."""
    settings = getattr(store, "settings", None)
    return settings if IAccountSettings.providedBy(settings) else None


async def is_admin(store, account: str) -> bool:
    """Whether ``account`` is an administrator (False for an unknown account)."""
    settings = settings_of(store)
    if settings is None:
        return False
    return await settings.get(account, ADMIN_KEY) == b"1"


async def set_admin(store, account: str, on: bool) -> None:
    """Make ``account`` an administrator or not. ``NotFound`` for no such account;
    ``InvalidData`` when the store cannot keep the flag."""
    settings = settings_of(store)
    if settings is None:
        raise InvalidData("this store keeps no account settings, so it has no administrators")
    if await store.accounts.password_hash(account) is None:
        raise NotFound(account)
    await settings.set(account, ADMIN_KEY, b"1" if on else None)
