"""SyncML authentication (SyncHdr Cred): ``syncml:auth-basic`` and ``syncml:auth-md5``.

Basic carries ``b64(user:password)`` and logs in through the edge's ``Logins`` like every
other protocol (portal, protocol policy, limiter, the failed-login line).

MD5 (SyncML 1.1+) carries ``b64(md5(b64(md5(user:password)) ":" nonce))`` with the user
name in the SyncHdr Source LocName, and a server keeping only argon2 hashes cannot check
it from the password hash. So a device must log in with basic once: the server then keeps
``b64(md5(user:password))`` for that device (in the device registry, tied to the account's
current password hash, so a new password or deleting the device voids it) and sends it a
NextNonce; from then on the device may use md5 with the nonce it was last given (each
nonce serves one session). A device the server keeps no secret for is challenged for
basic. A wrong md5 digest is a failed login like a wrong password: Status 401, a new
nonce, and the failed-login line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from typing import Optional

import attrs

from smsync.errors import NotFound
from smsync.protocols.syncml.databases import AUTH_KEY
from smsync.protocols.syncml.message import metinf_text, text

BASIC = "syncml:auth-basic"
MD5 = "syncml:auth-md5"


@attrs.frozen
class Cred:
    """What a SyncHdr's Cred says: ``kind`` (BASIC, MD5 or another type), the user name
    and, for basic, the password; for md5 the digest (base64 text)."""

    kind: str
    user: Optional[str]
    secret: Optional[str]


def read_cred(header) -> Optional[Cred]:
    """The Cred of a SyncHdr (None: none). Unreadable basic credentials come back with a
    None user."""
    cred = None
    for c in header.children:
        if c.tag == "Cred":
            cred = c
    if cred is None:
        return None
    kind = (metinf_text(cred, "Type") or BASIC).strip()
    data = text(cred, "Data") or ""
    if kind == BASIC:
        try:
            decoded = base64.b64decode(data, validate=False).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return Cred(BASIC, None, None)
        user, sep, password = decoded.partition(":")
        return Cred(BASIC, user if sep else None, password if sep else None)
    if kind == MD5:
        user = text(header, "Source", "LocName")
        if not user:
            # SyncML 1.0 style b64(user:digest): the name in front.
            try:
                decoded = base64.b64decode(data).decode("latin-1")
                user, _, digest = decoded.partition(":")
                return Cred(MD5, user or None, base64.b64encode(digest.encode("latin-1")).decode())
            except (binascii.Error, ValueError):
                return Cred(MD5, None, data)
        return Cred(MD5, user, data)
    return Cred(kind, text(header, "Source", "LocName"), None)


def md5_secret(user: str, password: str) -> str:
    """``b64(md5(user:password))``, what an md5 digest is made from."""
    return base64.b64encode(hashlib.md5(f"{user}:{password}".encode("utf-8")).digest()).decode()


def md5_digest(secret: str, nonce: bytes) -> str:
    """The Cred Data a device sends for ``secret`` and ``nonce``."""
    return base64.b64encode(hashlib.md5(secret.encode("ascii") + b":" + nonce).digest()).decode()


def new_nonce() -> bytes:
    return secrets.token_urlsafe(12).encode("ascii")


def _fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()[:32]


async def remember(store, account: str, device_id: str, user: str, password: str,
                   nonce: bytes) -> None:
    """Keep the device's md5 secret (after a good basic login) and its next nonce."""
    stored = await store.accounts.password_hash(account)
    if stored is None:
        return
    doc = {"user": user, "secret": md5_secret(user, password), "hash": _fingerprint(stored),
           "nonce": nonce.decode("ascii")}
    await store.devices.save_state(account, device_id, AUTH_KEY, json.dumps(doc).encode())


async def set_nonce(store, account: str, device_id: str, nonce: bytes) -> None:
    """The nonce the device is to use next (its secret stays)."""
    doc = await _load(store, account, device_id)
    if doc is None:
        return
    doc["nonce"] = nonce.decode("ascii")
    await store.devices.save_state(account, device_id, AUTH_KEY, json.dumps(doc).encode())


async def _load(store, account: str, device_id: str) -> Optional[dict]:
    try:
        raw = await store.devices.load_state(account, device_id, AUTH_KEY)
        doc = json.loads(raw) if raw else None
    except (NotFound, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def account_of(user: Optional[str]) -> Optional[str]:
    """The account a Cred's user name names (lower case), or None for no name or one
    that cannot be an account (the store checks the rest)."""
    name = (user or "").strip().lower()
    if not name or len(name) > 254 or "@" not in name or any(c.isspace() for c in name):
        return None
    return name


async def check_md5(store, account: str, device_id: str, cred: Cred) -> Optional[bool]:
    """Whether an md5 Cred is right: True or False, or None when the server cannot tell
    (no secret kept for this device, or the password changed since): the device must
    then log in with basic."""
    doc = await _load(store, account, device_id)
    if doc is None or not doc.get("secret") or not doc.get("nonce"):
        return None
    stored = await store.accounts.password_hash(account)
    if stored is None or doc.get("hash") != _fingerprint(stored) or doc.get("user") != cred.user:
        return None
    expected = md5_digest(doc["secret"], doc["nonce"].encode("ascii"))
    return hmac.compare_digest(expected.encode(), (cred.secret or "").encode())
