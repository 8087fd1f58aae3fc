"""Reading message bytes by range, for every protocol: through the store's
``IMailboxRangeReads`` fast path where the mailbox has it, else one ``read_body`` per
range."""

from __future__ import annotations

from typing import Optional

from smsync.errors import NotFound
from smsync.interfaces import IMailboxRangeReads


async def read_ranges(mailbox, ranges: list[tuple[int, int, Optional[int]]]) -> list[Optional[bytes]]:
    """For each ``(uid, offset, length)`` of ``ranges`` the bytes, or None where the
    message is gone; in one store round trip where the mailbox can."""
    if not ranges:
        return []
    if IMailboxRangeReads.providedBy(mailbox):
        return list(await mailbox.read_ranges(ranges))
    out: list[Optional[bytes]] = []
    for uid, offset, length in ranges:
        try:
            out.append(await mailbox.read_body(uid, offset, length))
        except NotFound:
            out.append(None)
    return out
