"""Setting an account's password, as users (the web interface's Account settings) and
administrators do it: what a new password must be, and setting it (hashed off the
reactor, as ``smsync user passwd`` does)."""

from __future__ import annotations

from typing import Optional

from twisted.internet.threads import deferToThread

from smsync.auth import hash_password
from smsync.errors import InvalidData

#: Shortest new password, in characters.
MIN_LENGTH = 8
#: Longest: hashing costs grow with it, and nobody types more.
MAX_LENGTH = 1024


def password_problem(account: str, password: str, current: Optional[str] = None) -> Optional[str]:
    """Why ``password`` cannot be ``account``'s new password (one sentence for the
    user), or None when it can. ``current``: the password it replaces, if known."""
    if len(password) < MIN_LENGTH:
        return f"The new password must be at least {MIN_LENGTH} characters long."
    if len(password) > MAX_LENGTH:
        return f"The new password must be at most {MAX_LENGTH} characters long."
    if password.strip().lower() in (account.lower(), account.split("@")[0].lower()):
        return "The new password must not be your address or user name."
    if current is not None and password == current:
        return "The new password must differ from the current one."
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in password):
        return "The new password must not contain control characters."
    return None


async def set_password(store, account: str, password: str) -> None:
    """Give ``account`` the password ``password`` (``InvalidData`` if it is not one an
    account may have; ``NotFound`` for no such account). Hashing takes ~0.1 s of CPU,
    so it runs on a thread. Ending the account's sessions and forgetting cached
    credentials are the caller's part (see ``smsync.web.handlers.settings``)."""
    problem = password_problem(account, password)
    if problem is not None:
        raise InvalidData(problem)
    password_hash = await deferToThread(hash_password, password)
    await store.accounts.set_password_hash(account, password_hash)
