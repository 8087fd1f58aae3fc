"""Where a replaced message went: old ItemIds that keep working.

Adding or removing an attachment rewrites a message, and so does an UpdateItem of its
content (``drafts``); a rewritten message is a new one with a new UID
(``operations/attachments.replace_message``); Exchange keeps an item's id through
that, and clients hold on to it (exchangelib keeps ``item.id`` and only takes the new
ChangeKey). So every rewrite records its *successor*: in folder ``source``, message
``old`` is now ``new``, and its attachments' section paths moved so (``paths``: old
path -> new path, or None for one removed; a path not listed is unchanged). A lookup of
a UID that is gone asks here before answering ErrorItemNotFound.

Kept as one small account setting (``IAccountSettings``, key ``ews:replaced``): one
read on a miss and nothing on a hit, shared by every process on the store and kept
across restarts. A header in the new message naming the old UID would live and die with
the message, but finding it needs every later message's header read (the store indexes
no headers) on every miss, a deleted message's id included, and it would show in every
protocol. The cost of the setting: it keeps the successors of the account's last
``LIMIT`` rewrites (older ids are ErrorItemNotFound again, as before this existed), and
it is written after the new message is stored and before the old one goes, outside
their transaction, so a crash in between loses the link (never makes a wrong one; a
rewrite from another process at the same instant can lose one too). A chain -- the
message rewritten again -- is collapsed as it is recorded, so a lookup is one step.
UIDs are never reused in a folder, nor folder ids in a store, so a link never points an
old id at a stranger.
"""

from __future__ import annotations

import json
from typing import Optional

import attrs
from twisted.internet.defer import DeferredLock

from smsync.errors import SmsyncError

KEY = "ews:replaced"
#: Rewrites remembered per account (the setting stays well under ``MAX_SETTING``).
LIMIT = 256
_MAX_BYTES = 48 * 1024

# Rewrites of one account in this process record one after the other (the setting is
# read, changed and written).
_locks: dict = {}


@attrs.frozen
class Successor:
    """Message ``uid`` of the same folder holds what the old one did; ``paths`` maps the
    old message's attachment paths that changed (None: gone)."""

    uid: int
    paths: dict = attrs.field(factory=dict)


def compose(first: dict, second: dict) -> dict:
    """The path map of two rewrites one after the other."""
    out = {}
    for path in set(first) | set(second):
        mid = first[path] if path in first else path
        end = None if mid is None else (second[mid] if mid in second else mid)
        if end != path:
            out[path] = end
    return out


def follow(paths: dict, path: str) -> Optional[str]:
    """Where attachment ``path`` of the old message is in its successor (None: gone)."""
    return paths[path] if path in paths else path


def _settings(ctx):
    return getattr(ctx.store, "settings", None)


def _entries(raw: Optional[bytes]) -> list:
    if not raw:
        return []
    try:
        doc = json.loads(raw)
        return [[str(s), int(o), int(n), {str(k): (None if v is None else str(v)) for k, v in p.items()}]
                for s, o, n, p in doc["e"]]
    except (ValueError, KeyError, TypeError, AttributeError):
        return []  # unreadable: start again (old ids are then not found, as before)


async def find(ctx, source: str, uid: int) -> Optional[Successor]:
    """The successor of message ``uid`` of folder ``source``, if it was rewritten."""
    return (await find_all(ctx, source, [uid])).get(uid)


async def find_all(ctx, source: str, uids) -> dict:
    """``uid -> Successor`` for those of ``uids`` (of folder ``source``) rewritten: one
    read however many are asked for."""
    settings = _settings(ctx)
    wanted = set(uids)
    if settings is None or not wanted:
        return {}
    return {old: Successor(new, paths)
            for s, old, new, paths in _entries(await settings.get(ctx.account, KEY))
            if s == source and old in wanted}


async def record(ctx, source: str, old: int, new: int, paths: dict) -> None:
    """Record that message ``old`` of ``source`` was rewritten as ``new``."""
    settings = _settings(ctx)
    if settings is None:
        return
    lock = _locks.setdefault(ctx.account, DeferredLock())
    async with lock:
        try:
            entries = _entries(await settings.get(ctx.account, KEY))
            for entry in entries:
                if entry[0] == source and entry[2] == old:
                    entry[2], entry[3] = new, compose(entry[3], paths)
            entries = [e for e in entries if not (e[0] == source and e[1] == old)]
            entries.append([source, old, new, paths])
            entries = entries[-LIMIT:]
            while True:
                raw = json.dumps({"v": 1, "e": entries}, separators=(",", ":")).encode()
                if len(raw) <= _MAX_BYTES or len(entries) <= 1:
                    break
                entries = entries[len(entries) // 4 or 1:]
            try:
                await settings.set(ctx.account, KEY, raw)
            except SmsyncError as e:
                # The rewrite stands; only the old id stops working, as it did before.
                ctx.log(f"replaced messages: not recorded: {e}")
        finally:
            if not lock.waiting:
                _locks.pop(ctx.account, None)
