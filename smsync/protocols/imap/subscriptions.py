"""Subscribed names that no folder has any more.

RFC 3501 6.3.6 (and RFC 9051 6.3.7): a server "MUST NOT unilaterally remove an existing
mailbox name from the subscription list even if a mailbox by that name no longer
exists", and LIST (SUBSCRIBED) then lists it ``\\NonExistent`` (RFC 5258 3). The store
keeps a subscription flag on each folder; what a DELETE would take with the folder is
kept here instead, in the account's settings (``IAccountSettings``), until the name is
unsubscribed or a folder of that name is created again. A store without settings keeps
no such names.
"""

from __future__ import annotations

from smsync.interfaces import MAX_SETTING, IAccountSettings

KEY = "imap:lost-subscriptions"


def _settings(store):
    settings = getattr(store, "settings", None)
    return settings if IAccountSettings.providedBy(settings) else None


async def lost(store, account: str) -> list[str]:
    """The subscribed names of ``account`` that no folder had when they were kept."""
    settings = _settings(store)
    if settings is None:
        return []
    raw = await settings.get(account, KEY)
    return [n for n in raw.decode("utf-8").split("\n") if n] if raw else []


async def _save(settings, account: str, names: list[str]) -> None:
    data = "\n".join(names).encode("utf-8")
    # Past the setting's size the oldest names go first: a client deleting thousands of
    # subscribed folders loses the oldest ghosts, never the folders it still has.
    while len(data) > MAX_SETTING and names:
        names = names[1:]
        data = "\n".join(names).encode("utf-8")
    await settings.set(account, KEY, data or None)


async def keep(store, account: str, name: str) -> None:
    """Remember that ``name`` stays subscribed though its folder is gone."""
    settings = _settings(store)
    if settings is None:
        return
    names = await lost(store, account)
    if name not in names:
        await _save(settings, account, names + [name])


async def forget(store, account: str, name: str) -> bool:
    """Drop ``name`` from the kept subscriptions; whether it was one."""
    settings = _settings(store)
    if settings is None:
        return False
    names = await lost(store, account)
    if name not in names:
        return False
    await _save(settings, account, [n for n in names if n != name])
    return True
