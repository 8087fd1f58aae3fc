"""Naming a client and recording it in the Synchronized Devices list, one call.

Each protocol knows its client by something else -- an EAS DeviceId, a SyncML LocURI,
what an IMAP client says in ID, a DAV client's User-Agent, or only an address -- and
``Client`` turns each into the registry's (device id, user agent, name). ``Devices.record``
stores it (``IDeviceRegistry.seen``: first sight and last sync) and, the first time a
device is seen, writes a line to the device's log and the server's. Recording is
bookkeeping: a failure is logged, never the client's problem.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Optional

import attrs
from twisted.logger import Logger

from smsync._async import deferred
from smsync.errors import StorageUnavailable

log = Logger(namespace="smsync.devices")


def _digest(text: str, size: int = 8) -> str:
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=size).hexdigest()


@attrs.frozen
class Client:
    """A client as the devices list names it.

    Attributes:
        device_id: stable across the client's connections; unique within an account.
        user_agent: what the client calls itself (None: nothing).
        name: display name on first sight (None: the registry makes one from the agent).
        host: the address it came from, for the log line.
    """

    device_id: str
    user_agent: Optional[str] = None
    name: Optional[str] = None
    host: Optional[str] = None

    @classmethod
    def eas(cls, device_id: str, device_type: Optional[str] = None,
            user_agent: Optional[str] = None, host: Optional[str] = None) -> "Client":
        """An ActiveSync device: its DeviceId is its identity (MS-ASHTTP 2.2.1.1.1.2),
        its DeviceType ("iPhone", "SAMSUNGSMG991B") its first name -- a user agent is
        often only the HTTP library's (until DeviceInformation gives a model)."""
        return cls(f"eas-{device_id}", user_agent or device_type, device_type or None, host)

    @classmethod
    def syncml(cls, locuri: str, user_agent: Optional[str] = None,
               host: Optional[str] = None) -> "Client":
        """A SyncML client: its source LocURI (an IMEI, a URL) identifies it."""
        return cls("syncml-" + _digest(locuri), user_agent or locuri, None, host)

    @classmethod
    def imap(cls, client_id: Optional[dict], host: str, account: str) -> "Client":
        """An IMAP client: named by its ID (RFC 2971) name from its address when it sent
        one, else by its address alone."""
        name = (client_id or {}).get("name")
        if name:
            version = (client_id or {}).get("version") or ""
            agent = f"{name}/{version}" if version else name
            digest = hashlib.sha1(f"{name}\0{host}".encode("utf-8", "replace")).hexdigest()[:12]
            return cls(f"imap-{digest}", agent, None, host)
        # Nothing said about itself: no user agent to show, a name from its address
        # (as POP3's clients are named).
        return cls(f"imap-{host}", None, f"IMAP client at {host}", host)

    @classmethod
    def http(cls, prefix: str, user_agent: Optional[str], host: Optional[str] = None) -> "Client":
        """An HTTP client known by its User-Agent (DAV): one entry per distinct agent."""
        return cls(f"{prefix}-" + _digest(user_agent or "unknown"), user_agent, None, host)

    @classmethod
    def address(cls, protocol: str, host: str, label: Optional[str] = None) -> "Client":
        """A client that says nothing about itself (POP3): known by its address."""
        return cls(f"{protocol}-{host}", None, f"{label or protocol.upper()} client at {host}", host)


class Devices:
    """Records clients in ``store.devices``.

    ``min_interval`` (seconds) lets a protocol whose client sends many requests (DAV)
    record each device at most that often from this process.
    """

    def __init__(self, store, clock=time.monotonic, max_entries: int = 100_000):
        self.store = store
        self._clock = clock
        self._max = max_entries
        self._recorded: dict[tuple, float] = {}

    @deferred
    async def record(self, account: str, protocol: str, client: Client, success: bool = True,
                     min_interval: float = 0.0, note: Optional[str] = None):
        """Note that ``client`` synced ``account`` over ``protocol`` now (``success``
        updates its last sync), and ``note`` (say, what a sync round did) in the
        device's log. Fires with the ``Device``, or None when skipped (recorded less
        than ``min_interval`` ago) or when the registry failed (logged). Never fails."""
        if min_interval > 0:
            key = (account, client.device_id, protocol)
            now = self._clock()
            if self._recorded.get(key, -min_interval) + min_interval > now:
                return None
            if len(self._recorded) >= self._max:
                self._recorded.clear()
            self._recorded[key] = now
        registry = self.store.devices
        try:
            device = await registry.seen(account, client.device_id, protocol,
                                         user_agent=client.user_agent, name=client.name,
                                         success=success)
        except StorageUnavailable:
            return None  # the store has said so in its own line
        except Exception:
            log.failure("{protocol}: could not record device {device} of {account}",
                        protocol=protocol, device=client.device_id, account=account)
            return None
        if success and device.first_seen is not None and device.first_seen == device.last_sync:
            where = f" from {client.host}" if client.host else ""
            agent = f" ({client.user_agent})" if client.user_agent else ""
            log.info("{protocol}: new device {device} of {account}{agent}{where}",
                     protocol=protocol, device=client.device_id, account=account, agent=agent,
                     where=where)
            await self._log(account, protocol, client, f"first synced over {protocol}{where}{agent}")
        if note:
            await self._log(account, protocol, client, note)
        return device

    async def _log(self, account: str, protocol: str, client: Client, line: str) -> None:
        try:
            await self.store.devices.log(account, client.device_id, line)
        except StorageUnavailable:
            pass
        except Exception:
            log.failure("{protocol}: could not log device {device} of {account}",
                        protocol=protocol, device=client.device_id, account=account)


# -- remote wipe ------------------------------------------------------------------------

#: The device-state key of a wipe request (so deleting the device cancels it).
WIPE_KEY = "wipe"


@attrs.frozen
class WipeRequest:
    """A remote wipe asked of one device from the devices list.

    Attributes:
        account_only: wipe only this account's data (EAS 16.1 AccountOnlyRemoteWipe),
            not the whole device.
        requested: when it was asked (ISO 8601, UTC).
        acknowledged: when the device reported it done (None: not yet).
        status: what the device reported (``"1"`` wiped, ``"2"`` failed; None: nothing).
    """

    account_only: bool
    requested: str
    acknowledged: Optional[str] = None
    status: Optional[str] = None


def _now_iso() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


async def request_wipe(registry, account: str, device_id: str, account_only: bool = False) -> WipeRequest:
    """Ask ``device_id`` of ``account`` to wipe itself the next time it connects, and
    note it in its log. ``NotFound`` if there is no such device."""
    await registry.get(account, device_id)
    wipe = WipeRequest(account_only, _now_iso())
    await registry.save_state(account, device_id, WIPE_KEY, json.dumps(attrs.asdict(wipe)).encode())
    await registry.log(account, device_id,
                       "account-only remote wipe requested" if account_only else "remote wipe requested")
    return wipe


async def wipe_request(registry, account: str, device_id: str) -> Optional[WipeRequest]:
    """The wipe asked of the device, acknowledged or not (None: none)."""
    raw = await registry.load_state(account, device_id, WIPE_KEY)
    if not raw:
        return None
    try:
        return WipeRequest(**json.loads(raw))
    except (ValueError, TypeError):
        return None


async def acknowledge_wipe(registry, account: str, device_id: str, status: str) -> None:
    """Record the device's report of the wipe (``status`` ``"1"``: done)."""
    wipe = await wipe_request(registry, account, device_id)
    if wipe is None:
        return
    done = attrs.evolve(wipe, acknowledged=_now_iso(), status=status)
    await registry.save_state(account, device_id, WIPE_KEY, json.dumps(attrs.asdict(done)).encode())
    await registry.log(account, device_id, "remote wipe done" if status == "1"
                       else f"remote wipe failed on the device (status {status})")
