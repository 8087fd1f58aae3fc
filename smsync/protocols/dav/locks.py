"""LOCK and UNLOCK (RFC 4918 9.10-9.11), as far as calendar and contact clients use them:
exclusive write locks on existing resources, kept in memory, honoured by the writes of
this process (PUT, DELETE, PROPPATCH, MOVE answer 423 without the lock token)."""

from __future__ import annotations

import time
import uuid
from typing import Optional

import attrs

from smsync.protocols.dav.errors import DavError
from smsync.protocols.dav.response import Response, xml_response
from smsync.protocols.dav.xml import children, dav, element, root_element, sub

DEFAULT_TIMEOUT = 600
MAX_TIMEOUT = 3600


@attrs.define
class Lock:
    href: str
    token: str
    account: str
    expires: float
    timeout: int
    depth: str = "0"
    owner: Optional[bytes] = None

    def active_element(self):
        from lxml import etree

        active = element(dav("activelock"))
        sub(sub(active, dav("locktype")), dav("write"))
        sub(sub(active, dav("lockscope")), dav("exclusive"))
        sub(active, dav("depth"), self.depth)
        if self.owner is not None:
            active.append(etree.fromstring(self.owner))
        sub(active, dav("timeout"), f"Second-{self.timeout}")
        token = sub(active, dav("locktoken"))
        sub(token, dav("href"), self.token)
        root = sub(active, dav("lockroot"))
        sub(root, dav("href"), self.href)
        return active


def _timeout(header: Optional[str]) -> int:
    for part in (header or "").split(","):
        part = part.strip()
        if part.lower().startswith("second-") and part[7:].isdigit():
            return max(1, min(int(part[7:]), MAX_TIMEOUT))
    return DEFAULT_TIMEOUT


class LockManager:
    """The locks of one server process, by href."""

    def __init__(self, clock=time.monotonic):
        self._locks: dict[str, Lock] = {}
        self._clock = clock

    def get(self, href: str) -> Optional[Lock]:
        lock = self._locks.get(href)
        if lock is not None and lock.expires <= self._clock():
            del self._locks[href]
            return None
        return lock

    def check_write(self, ctx, href: str) -> None:
        """423 if ``href`` is locked and the request does not carry the lock's token."""
        lock = self.get(href)
        if lock is None:
            return
        if lock.token in (ctx.header("If") or ""):
            return
        raise DavError(423, dav("lock-token-submitted"), "the resource is locked",
                       children=[element(dav("href"), href)])

    async def lock(self, ctx, res) -> Response:
        if not res.exists:
            # Lock-null resources are not supported: create the item first.
            raise DavError(409, message="only existing resources can be locked")
        timeout = _timeout(ctx.header("Timeout"))
        body = ctx.xml()
        existing = self.get(res.href)
        if body is None:
            # A refresh: the If header names the lock.
            if existing is None or existing.token not in (ctx.header("If") or ""):
                raise DavError(412, dav("lock-token-matches-request-uri"), "no lock to refresh")
            existing.timeout = timeout
            existing.expires = self._clock() + timeout
            return self._answer(existing, 200)
        if body.tag != dav("lockinfo"):
            raise DavError(400, message="LOCK body must be DAV:lockinfo")
        scope = next((c for c in children(body) if c.tag == dav("lockscope")), None)
        if scope is not None and any(c.tag == dav("shared") for c in children(scope)):
            raise DavError(422, message="only exclusive locks are supported")
        if existing is not None:
            raise DavError(423, dav("no-conflicting-lock"), "already locked",
                           children=[element(dav("href"), res.href)])
        owner = next((c for c in children(body) if c.tag == dav("owner")), None)
        from lxml import etree

        lock = Lock(
            href=res.href, token=f"urn:uuid:{uuid.uuid4()}", account=ctx.account,
            expires=self._clock() + timeout, timeout=timeout,
            owner=etree.tostring(owner) if owner is not None else None,
        )
        self._locks[res.href] = lock
        return self._answer(lock, 200, {"Lock-Token": f"<{lock.token}>"})

    def _answer(self, lock: Lock, status: int, headers=None) -> Response:
        root = root_element(dav("prop"))
        discovery = sub(root, dav("lockdiscovery"))
        discovery.append(lock.active_element())
        return xml_response(root, status, headers)

    async def unlock(self, ctx, res) -> Response:
        token = (ctx.header("Lock-Token") or "").strip().strip("<>")
        lock = self.get(res.href)
        if lock is None or lock.token != token:
            raise DavError(409, dav("lock-token-matches-request-uri"), "no such lock here")
        if lock.account != ctx.account:
            raise DavError(403, dav("need-privileges"), "someone else's lock")
        del self._locks[res.href]
        return Response(204)
