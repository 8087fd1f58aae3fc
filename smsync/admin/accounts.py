"""Accounts as administrators manage them, for the CLI and the web interface alike:
adding, deleting, a new password, pages of accounts with a search, the administrator
flag and the storage quota.

The administrator flag and the quota are kept in the account's settings
(``IAccountSettings``, keys ``admin`` and ``quota``) so every process on the store sees
them and they go with the account. A store without settings has no administrators and
no quotas (the CLI still manages everything).
"""

from __future__ import annotations

from typing import Optional

import attrs
from twisted.internet.threads import deferToThread

from smsync.auth import hash_password
from smsync.edge.quota import QUOTA_KEY, parse_quota, usage_of
from smsync.errors import InvalidData, NotFound
from smsync.interfaces import IAccountListing, IAccountSettings
from smsync.store.common import normalize_account

ADMIN_KEY = "admin"
#: The settings key web sessions are kept under (``smsync.web.sessions`` reads it): a
#: new password ends them all.
SESSIONS_KEY = "web:sessions"
MAX_PASSWORD = 1024
#: The largest quota taken (1 PiB): anything above is a typing mistake.
MAX_QUOTA = 2 ** 50
_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024 ** 2, "mb": 1024 ** 2,
          "mib": 1024 ** 2, "g": 1024 ** 3, "gb": 1024 ** 3, "gib": 1024 ** 3, "t": 1024 ** 4,
          "tb": 1024 ** 4, "tib": 1024 ** 4}


def settings_of(store):
    """``store``'s ``IAccountSettings``, or None when it has none."""
    settings = getattr(store, "settings", None)
    return settings if IAccountSettings.providedBy(settings) else None


def check_account(name) -> str:
    """An account name as given, normalised (``user@domain``, lower-case);
    ``InvalidData`` with a message saying what is wrong."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidData("enter an address (user@domain)")
    return normalize_account(name.strip())


def check_password(password) -> str:
    """A new password; ``InvalidData`` for an empty, too long or control-character one."""
    if not isinstance(password, str) or not password:
        raise InvalidData("enter a password")
    if len(password) > MAX_PASSWORD:
        raise InvalidData(f"the password is longer than {MAX_PASSWORD} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        raise InvalidData("the password holds control characters")
    return password


async def exists(store, account: str) -> bool:
    return await store.accounts.password_hash(account) is not None


async def _existing(store, account: str) -> str:
    try:
        account = normalize_account(account)
    except InvalidData:
        raise NotFound(account) from None
    if not await exists(store, account):
        raise NotFound(account)
    return account


async def add(store, account: str, password: str, admin: bool = False) -> str:
    """Create ``account`` with ``password`` (an administrator with ``admin``); fire with
    its normalised name. ``AlreadyExists``; ``InvalidData`` for a bad name or password,
    or ``admin`` on a store that cannot keep the flag (then nothing is created)."""
    account = check_account(account)
    check_password(password)
    if admin and settings_of(store) is None:
        raise InvalidData("this store keeps no account settings, so it has no administrators")
    password_hash = await deferToThread(hash_password, password)
    await store.accounts.add(account, password_hash)
    if admin:
        await set_admin(store, account, True)
    return account


async def delete(store, account: str) -> str:
    """Delete ``account`` and everything it owns (mail, calendars, contacts, devices,
    settings). ``NotFound``."""
    account = await _existing(store, account)
    await store.accounts.remove(account)
    return account


async def set_password(store, account: str, password: str) -> str:
    """Give ``account`` a new password and end its web sessions (signed-in browsers sign
    in again). ``NotFound``; ``InvalidData`` for a bad password."""
    check_password(password)
    account = await _existing(store, account)
    password_hash = await deferToThread(hash_password, password)
    await store.accounts.set_password_hash(account, password_hash)
    settings = settings_of(store)
    if settings is not None:
        await settings.set(account, SESSIONS_KEY, None)
    return account


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
    account = await _existing(store, account)
    await settings.set(account, ADMIN_KEY, b"1" if on else None)


def parse_size(text) -> Optional[int]:
    """A quota as typed: octets, or a number with a unit (``500M``, ``2 GB``, ``1.5G``;
    units are powers of 1024); ``""``, ``none`` or ``unlimited`` for no quota (None).
    ``InvalidData`` with a message saying what is wrong."""
    if text is None:
        return None
    if isinstance(text, bool):
        raise InvalidData("a quota is a size such as 500M or 2G")
    if isinstance(text, int):
        value = text
    else:
        if not isinstance(text, str):
            raise InvalidData("a quota is a size such as 500M or 2G")
        spoken = text.strip().lower().replace(" ", "")
        if spoken in ("", "none", "unlimited"):
            return None
        number = spoken.rstrip("abcdefghijklmnopqrstuvwxyz")
        unit = spoken[len(number):]
        if unit not in _UNITS or not number or len(number) > 20:
            raise InvalidData(f"{text.strip()[:40]!r} is not a size such as 500M or 2G")
        try:
            amount = float(number) if "." in number else int(number)
        except ValueError:
            raise InvalidData(f"{text.strip()[:40]!r} is not a size such as 500M or 2G") from None
        if amount != amount:  # NaN
            raise InvalidData("a quota is a number")
        value = int(amount * _UNITS[unit])
    if value < 1:
        raise InvalidData("a quota is at least one octet (leave it empty for none)")
    if value > MAX_QUOTA:
        raise InvalidData("a quota is at most 1 PiB")
    return value


def format_size(octets: Optional[int]) -> str:
    """A size as people read it (``1.5 GiB``); ``unlimited`` for None."""
    if octets is None:
        return "unlimited"
    for unit, size in (("TiB", 1024 ** 4), ("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", 1024)):
        if octets >= size:
            value = octets / size
            return f"{value:.1f} {unit}".replace(".0 ", " ")
    return f"{octets} octets"


async def quota_of(store, account: str) -> Optional[int]:
    """``account``'s storage limit in octets, or None for none."""
    settings = settings_of(store)
    if settings is None:
        return None
    return parse_quota(await settings.get(account, QUOTA_KEY))


async def set_quota(store, account: str, octets: Optional[int]) -> None:
    """Set ``account``'s storage limit (None: none). ``NotFound``; ``InvalidData`` when
    the store cannot keep it or the value is out of range. Running servers see it within
    a few seconds (``smsync.edge.quota``)."""
    settings = settings_of(store)
    if settings is None:
        raise InvalidData("this store keeps no account settings, so it has no quotas")
    if octets is not None and (isinstance(octets, bool) or not isinstance(octets, int)
                               or not 1 <= octets <= MAX_QUOTA):
        raise InvalidData("a quota is from one octet to 1 PiB")
    account = await _existing(store, account)
    await settings.set(account, QUOTA_KEY, None if octets is None else str(octets).encode("ascii"))


async def usage(store, account: str) -> Optional[int]:
    """Octets ``account``'s mail takes, or None when the store does not count it."""
    counter = usage_of(store)
    if counter is None:
        return None
    return await counter.usage(account)


@attrs.frozen
class AccountView:
    """An account as the administration pages show it."""

    name: str
    admin: bool
    quota: Optional[int]
    used: Optional[int]

    def as_json(self) -> dict:
        return {"name": self.name, "admin": self.admin, "quota": self.quota, "used": self.used}


async def view(store, account: str) -> AccountView:
    """One account with its flag, quota and usage. ``NotFound``."""
    account = await _existing(store, account)
    return AccountView(account, await is_admin(store, account), await quota_of(store, account),
                       await usage(store, account))


#: The largest page of accounts shown.
MAX_PAGE = 200


async def page(store, search: str = "", after: Optional[str] = None, limit: int = 50,
               prefix: bool = False) -> tuple[list[str], Optional[str]]:
    """A page of account names matching ``search`` (a substring, or with ``prefix`` the
    start), after ``after``: ``(names, next)`` where ``next`` is the ``after`` of the
    following page, None after the last. From the store's index when it has one
    (``IAccountListing``), else filtered from the whole list."""
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
        raise InvalidData(f"a page holds 1 to {MAX_PAGE} accounts")
    search = (search or "").strip().lower()
    if len(search) > 320:
        raise InvalidData("the search is too long")
    listing = store.accounts
    if IAccountListing.providedBy(listing):
        names = await listing.page(search, after, limit + 1, prefix)
    else:
        names = [n for n in await listing.list()
                 if (after is None or n > after) and (n.startswith(search) if prefix else search in n)]
        names = names[:limit + 1]
    more = len(names) > limit
    names = names[:limit]
    return names, (names[-1] if more else None)


async def count(store) -> int:
    """How many accounts the store holds."""
    listing = store.accounts
    if IAccountListing.providedBy(listing):
        return await listing.count()
    return len(await listing.list())


async def views(store, names) -> list[AccountView]:
    """``AccountView`` of each name (a page's: a few reads each)."""
    out = []
    for name in names:
        try:
            used = await usage(store, name)
        except NotFound:
            continue  # deleted since the page was read
        out.append(AccountView(name, await is_admin(store, name), await quota_of(store, name), used))
    return out
