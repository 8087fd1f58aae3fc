"""What the EAS endpoint remembers per device, in the device registry's opaque state
(so deleting the device from the Synchronized Devices list resets all of it)."""

from __future__ import annotations

import json
import secrets
from typing import Optional

POLICY_KEY = "eas:policy"
HIERARCHY_KEY = "eas:hierarchy"
PING_KEY = "eas:ping"
#: The last Sync request (collections, keys, options), for the empty and partial forms.
SYNC_KEY = "eas:sync"
#: The ClientIds of the last messages the device sent (SendMail de-duplication).
COMPOSE_KEY = "eas:compose"


def new_policy_key() -> int:
    """A fresh policy key: a non-zero 32-bit number (0 means "none" to clients)."""
    return secrets.randbelow(0xFFFFFFFE) + 1


async def load(ctx, key: str) -> Optional[dict]:
    raw = await ctx.store.devices.load_state(ctx.account, ctx.device_id, key)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None  # unreadable state starts over, as a never-seen device does
    return value if isinstance(value, dict) else None


async def save(ctx, key: str, value: dict) -> None:
    await ctx.store.devices.save_state(ctx.account, ctx.device_id, key,
                                       json.dumps(value, sort_keys=True).encode())
