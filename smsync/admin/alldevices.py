"""Devices across every account, as administrators manage them (the web interface's
administration page; ``smsync.admin.devices`` is one account's list): filtered by
protocol and by how long ago they last synced, a page at a time, the stalest first, and
deleted in bulk.

From the store's index when it has one (``IDeviceListing``); otherwise every account's
list is read, which is as correct and costs a read per account.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Iterable, Optional

from smsync.admin import devices as one_account
from smsync.admin.devices import DeviceView
from smsync.errors import InvalidData, NotFound
from smsync.interfaces import IDeviceListing
from smsync.store.common import decode_cursor, device_sort_time, encode_cursor

MAX_PAGE = 200
#: The most devices one bulk delete takes.
MAX_BULK = 500
#: The longest "not synced for N days" asked (about 27 years).
MAX_DAYS = 10000


def check_days(value) -> Optional[int]:
    """"Last sync older than N days" as given (text or int; empty: no filter);
    ``InvalidData`` with a message saying what is wrong."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidData("days is a whole number")
    if isinstance(value, str):
        if not value.strip().isdigit():
            raise InvalidData(f"{value.strip()[:20]!r} is not a whole number of days")
        value = int(value.strip())
    if not isinstance(value, int) or not 0 <= value <= MAX_DAYS:
        raise InvalidData(f"days is a whole number from 0 to {MAX_DAYS}")
    return value


def check_protocol(value) -> Optional[str]:
    """A protocol filter as given (empty: every protocol)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or value not in one_account.TYPES:
        raise InvalidData(f"unknown protocol {str(value)[:20]!r} (known: {', '.join(one_account.TYPES)})")
    return value


async def page(store, protocol: Optional[str] = None, older_than_days: Optional[int] = None,
               after: Optional[str] = None, limit: int = 50,
               now: Optional[datetime] = None) -> tuple[list[DeviceView], Optional[str]]:
    """A page of devices of every account: ``(views, next)``, ``next`` the ``after`` of
    the following page (None after the last)."""
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
        raise InvalidData(f"a page holds 1 to {MAX_PAGE} devices")
    protocol = check_protocol(protocol)
    days = check_days(older_than_days)
    before = None if days is None else (now or datetime.now(timezone.utc)) - timedelta(days=days)
    registry = store.devices
    if IDeviceListing.providedBy(registry):
        found, more = await registry.across(protocol, before, after, limit)
        return [DeviceView(d) for d in found], more
    return await _page_by_account(store, protocol, before, after, limit)


async def _page_by_account(store, protocol, before, after, limit):
    start = decode_cursor(after, int, str, str) if after is not None else None
    below = device_sort_time(before) if before is not None else 2 ** 62
    keyed = []
    for account in await store.accounts.list():
        for d in await store.devices.list(account):
            key = (device_sort_time(d.last_sync), d.account, d.device_id)
            if key[0] < below and (protocol is None or d.protocol == protocol) \
                    and (start is None or key > start):
                keyed.append((key, d))
    keyed.sort(key=lambda pair: pair[0])
    shown = keyed[:limit]
    more = encode_cursor(*shown[-1][0]) if len(keyed) > limit else None
    return [DeviceView(d) for _, d in shown], more


async def count(store) -> int:
    """How many devices the store holds, across accounts."""
    registry = store.devices
    if IDeviceListing.providedBy(registry):
        return await registry.count()
    return sum([len(await registry.list(a)) for a in await store.accounts.list()])


def parse_keys(values: Iterable[str]) -> list[tuple[str, str]]:
    """Devices named as ``account/device_id`` (what the page's checkboxes send);
    ``InvalidData`` for a malformed one, none or too many."""
    keys = []
    for value in values:
        if not isinstance(value, str) or "/" not in value:
            raise InvalidData(f"{str(value)[:60]!r} does not name a device (account/device)")
        account, _, device_id = value.partition("/")
        if "@" not in account or not device_id:
            raise InvalidData(f"{value[:60]!r} does not name a device (account/device)")
        keys.append((account, device_id))
    if not keys:
        raise InvalidData("choose at least one device")
    if len(keys) > MAX_BULK:
        raise InvalidData(f"delete at most {MAX_BULK} devices at once")
    return keys


async def delete_many(store, keys: Iterable[tuple[str, str]]) -> tuple[int, list[str]]:
    """Delete each device (its sync state goes: its next sync starts over); fire with
    ``(how many were deleted, those already gone)``."""
    deleted, missing = 0, []
    for account, device_id in keys:
        try:
            await one_account.delete(store, account, device_id)
            deleted += 1
        except NotFound:
            missing.append(f"{account}/{device_id}")
    return deleted, missing
