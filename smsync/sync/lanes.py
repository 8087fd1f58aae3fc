"""Sync lanes: several independent sync states of one device on one source.

A device keeps one state per source (``sync:<kind>:<id>``), which suits a phone: one
client, one state. EWS clients are told apart only by their User-Agent, and two sessions
of one program (two exchangelib ``Account`` objects on one mailbox) share it; each needs
its own chain of states, as Exchange's SyncStates are independent. A *lane* names one
such chain: its state is kept under ``sync:<kind>:<id>#<lane>``, beside the device's
lane-less state, and is dropped with the device (``IDeviceRegistry.remove``) like every
other state of it.

Lanes are made by the protocol (EWS starts one at every SyncFolderItems without a
SyncState), so nothing bounds how many a client starts: a script that restarts its sync
every run would leave a state behind each time. The engine keeps at most ``MAX_LANES``
per device and source, and drops the least recently used when a round of another one
would go over. Which lanes exist, most recently used first, is itself a small state
(``sync-lanes:<kind>:<id>``), saved in the same ``save_states`` as the round's state, so
the list and the states never disagree after a crash. A round of the lane already first
in the list (the usual case: one client syncing on) does not rewrite it.
"""

from __future__ import annotations

import json
import re
from typing import Optional

from smsync.errors import InvalidData
from smsync.sync.state import state_key

#: Lanes kept per device and source; a round of a new one drops the least recently used.
MAX_LANES = 16

_LANE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def check(lane) -> Optional[str]:
    """``lane`` if it is None or a valid lane name (1 to 64 of ``A-Z a-z 0-9 _ -``);
    ``InvalidData`` otherwise."""
    if lane is None:
        return None
    if not isinstance(lane, str) or not _LANE.fullmatch(lane):
        raise InvalidData("a sync lane is 1 to 64 letters, digits, '_' or '-'")
    return lane


def lane_key(kind: str, source_id: str, lane: Optional[str]) -> str:
    """The device-registry key of ``lane``'s state (the lane-less key for None)."""
    base = state_key(kind, source_id)
    return base if lane is None else f"{base}#{lane}"


def index_key(kind: str, source_id: str) -> str:
    """The key of the list of a device's lanes on a source, most recently used first."""
    return f"sync-lanes:{kind}:{source_id}"


def _decode(raw: Optional[bytes]) -> list:
    if not raw:
        return []
    try:
        doc = json.loads(raw)
    except ValueError:
        return []
    if not isinstance(doc, list):
        return []
    return [lane for lane in doc if isinstance(lane, str) and _LANE.fullmatch(lane)]


async def touch(devices, account: str, device_id: str, kind: str, source_id: str,
                lane: Optional[str], limit: int = MAX_LANES) -> dict:
    """What to save, with a round of ``lane``, to make it the most recently used: a dict
    for ``save_states`` holding the new list (when it changes) and ``None`` for the state
    of every lane it pushes out. Empty for the lane-less state."""
    if lane is None:
        return {}
    key = index_key(kind, source_id)
    listed = _decode(await devices.load_state(account, device_id, key))
    if listed[:1] == [lane] and len(listed) <= limit:
        return {}
    order = [lane] + [other for other in listed if other != lane]
    kept, dropped = order[:limit], order[limit:]
    values: dict = {key: json.dumps(kept, separators=(",", ":")).encode()}
    for other in dropped:
        values[lane_key(kind, source_id, other)] = None
    return values
