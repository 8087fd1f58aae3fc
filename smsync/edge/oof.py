"""The account's out-of-office ("Oof") settings, one state every protocol reads and
writes (EAS Settings Oof, EWS Get/SetUserOofSettings), kept per account in the store's
optional ``IAccountSettings`` (so every device of the account sees what one of them
set, across restarts). The key keeps its first user's name, ``eas:oof``.

Stored as JSON under ``KEY``; what cannot be read back counts as "off", so a damaged
value never makes the Settings command fail.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Optional

import attrs

from smsync.interfaces import IAccountSettings

KEY = "eas:oof"

#: OofState values (MS-ASCMD 2.2.3.117).
DISABLED, GLOBAL, TIME_BASED = 0, 1, 2

#: The three audiences a reply is set for, as Settings names them.
AUDIENCES = ("AppliesToInternal", "AppliesToExternalKnown", "AppliesToExternalUnknown")


@attrs.frozen
class OofMessage:
    """The reply for one audience: whether it is sent, its text and its body type
    (``"Text"`` or ``"HTML"``)."""

    enabled: bool = False
    reply: str = ""
    body_type: str = "Text"


@attrs.frozen
class Oof:
    """An account's out-of-office settings.

    Attributes:
        state: ``DISABLED``, ``GLOBAL`` or ``TIME_BASED``.
        start: with ``TIME_BASED``, when replies start (aware).
        end: with ``TIME_BASED``, when they stop.
        messages: audience (one of ``AUDIENCES``) -> its ``OofMessage``.
    """

    state: int = DISABLED
    start: Optional[datetime] = None
    end: Optional[datetime] = None
    messages: dict = attrs.field(factory=dict, hash=False)

    def to_bytes(self) -> bytes:
        return json.dumps({
            "state": self.state,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "messages": {k: attrs.asdict(v) for k, v in sorted(self.messages.items())},
        }, sort_keys=True, ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: Optional[bytes]) -> "Oof":
        """The settings in ``raw``; ``Oof()`` (off) for None or anything unreadable."""
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            state = int(data.get("state", DISABLED))
            start = datetime.fromisoformat(data["start"]) if data.get("start") else None
            end = datetime.fromisoformat(data["end"]) if data.get("end") else None
            messages = {
                k: OofMessage(bool(v.get("enabled")), str(v.get("reply", "")),
                              "HTML" if v.get("body_type") == "HTML" else "Text")
                for k, v in dict(data.get("messages") or {}).items() if k in AUDIENCES
            }
        except (ValueError, TypeError, AttributeError, KeyError):
            return cls()
        if state not in (DISABLED, GLOBAL, TIME_BASED):
            return cls()
        return cls(state, start, end, messages)


def store_settings(store):
    """``store``'s ``IAccountSettings``, or None when it cannot keep settings."""
    settings = getattr(store, "settings", None)
    return settings if IAccountSettings.providedBy(settings) else None


async def load(store, account: str) -> Oof:
    """The account's settings (off where the store cannot keep any)."""
    settings = store_settings(store)
    if settings is None:
        return Oof()
    return Oof.from_bytes(await settings.get(account, KEY))


async def save(store, account: str, oof: Oof) -> bool:
    """Keep ``oof`` for the account; False when the store cannot keep settings."""
    settings = store_settings(store)
    if settings is None:
        return False
    await settings.set(account, KEY, oof.to_bytes())
    return True
