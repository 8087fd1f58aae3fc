"""Web sign-in sessions: a random token in an HttpOnly cookie, and on the server a
digest of it per session in the account's settings (``IAccountSettings``, key
``web:sessions``), so every process on the store knows a session and signing out ends it
everywhere at once.

The cookie holds the account and the token (``<account, base64url>.<token>``); the
store keeps only SHA-256 digests, so a copy of the store signs nobody in. A session ends
after ``IDLE`` seconds without a request, ``LIFETIME`` seconds after sign-in, at sign-out,
when the password changes, or when the account has more than ``MAX_PER_ACCOUNT`` (the
oldest goes). The CSRF token of a session is derived from its token, so forms need no
state of their own and another site cannot know it.

A store without settings (a third-party backend without that part) keeps sessions in
this process only: signing in works with one process; with ``--workers`` a browser
signed in on one worker is not on another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from typing import Optional

import attrs

from smsync.admin.accounts import SESSIONS_KEY
from smsync.errors import NotFound
from smsync.interfaces import IAccountSettings

#: Where the sessions are kept: the key ``smsync.admin.accounts`` clears on a new password.
KEY = SESSIONS_KEY
COOKIE = "smsync_session"
#: Seconds without a request before a session ends, and at most after sign-in.
IDLE = 12 * 3600
LIFETIME = 7 * 24 * 3600
#: A session's last use is written at most this often (seconds).
TOUCH = 600
MAX_PER_ACCOUNT = 20


@attrs.frozen
class Session:
    """A signed-in browser: whose, its token (to derive the CSRF token) and when it
    began."""

    account: str
    token: str
    created: float

    @property
    def csrf(self) -> str:
        return csrf_token(self.token)


def csrf_token(token: str) -> str:
    """The CSRF token of the session with ``token``."""
    return hmac.new(token.encode("ascii"), b"smsync csrf", hashlib.sha256).hexdigest()[:40]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()[:40]


def cookie_value(account: str, token: str) -> str:
    name = base64.urlsafe_b64encode(account.encode("utf-8")).decode("ascii").rstrip("=")
    return f"{name}.{token}"


def parse_cookie(value: Optional[str]) -> Optional[tuple[str, str]]:
    """``(account, token)`` of a session cookie, or None for anything else."""
    if not value or len(value) > 600 or value.count(".") != 1:
        return None
    name, token = value.split(".")
    try:
        account = base64.urlsafe_b64decode(name + "=" * (-len(name) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if "@" not in account or not token or not all(c.isalnum() or c in "-_" for c in token):
        return None
    return account, token


class Sessions:
    """The sessions of one store."""

    def __init__(self, store, clock=time.time):
        settings = getattr(store, "settings", None)
        self.settings = settings if IAccountSettings.providedBy(settings) else None
        self._local: dict[str, bytes] = {}
        self._clock = clock

    async def _load(self, account: str) -> dict:
        if self.settings is None:
            raw = self._local.get(account)
        else:
            raw = await self.settings.get(account, KEY)
        if not raw:
            return {}
        try:
            held = json.loads(raw)
        except ValueError:
            return {}
        return held if isinstance(held, dict) else {}

    async def _save(self, account: str, held: dict) -> None:
        raw = json.dumps(held, separators=(",", ":")).encode("ascii") if held else None
        if self.settings is None:
            if raw is None:
                self._local.pop(account, None)
            else:
                self._local[account] = raw
            return
        await self.settings.set(account, KEY, raw)

    def _live(self, held: dict) -> dict:
        now = self._clock()
        return {k: v for k, v in held.items()
                if isinstance(v, list) and len(v) == 2 and now - v[0] < LIFETIME and now - v[1] < IDLE}

    async def begin(self, account: str) -> Session:
        """A new session of ``account`` (signed in with its password just now)."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        held = self._live(await self._load(account))
        held[_digest(token)] = [now, now]
        while len(held) > MAX_PER_ACCOUNT:
            del held[min(held, key=lambda k: held[k][1])]
        await self._save(account, held)
        return Session(account, token, now)

    async def find(self, cookie: Optional[str]) -> Optional[Session]:
        """The live session a cookie names, or None (a made-up, ended or foreign one)."""
        parsed = parse_cookie(cookie)
        if parsed is None:
            return None
        account, token = parsed
        try:
            held = await self._load(account)
        except NotFound:
            return None
        digest = _digest(token)
        entry = held.get(digest)
        if entry is None or digest not in self._live({digest: entry}):
            return None
        now = self._clock()
        if now - entry[1] > TOUCH:
            held = self._live(held)
            held[digest] = [entry[0], now]
            try:
                await self._save(account, held)
            except NotFound:
                return None
        return Session(account, token, entry[0])

    async def end(self, session: Session) -> None:
        """Sign ``session`` out (every process sees it at once)."""
        held = await self._load(session.account)
        if held.pop(_digest(session.token), None) is not None:
            await self._save(session.account, held)

    async def end_all(self, account: str, keep: Optional[Session] = None) -> None:
        """End every session of ``account`` but ``keep`` (a password change)."""
        held = await self._load(account)
        kept = {}
        if keep is not None and _digest(keep.token) in held:
            kept[_digest(keep.token)] = held[_digest(keep.token)]
        if kept != held:
            await self._save(account, kept)
