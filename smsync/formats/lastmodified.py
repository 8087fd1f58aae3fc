"""When an iCalendar object or vCard was last changed, read from its own content: the
``Last-Modified`` a server gives an item when it keeps no time of its own.

RFC 5545 3.8.7.2: in an object without METHOD (every CalDAV resource) ``DTSTAMP`` is
when the information was last revised in the calendar store; clients also write
``LAST-MODIFIED`` (3.8.7.3). vCard has ``REV`` (RFC 6350 6.7.4). The latest of them is
the answer; VTIMEZONE blocks are skipped (their LAST-MODIFIED is the zone data's).
"""

from __future__ import annotations

import calendar
import re
import time
from typing import Optional

_STAMP = re.compile(
    rb"^(?:[A-Za-z0-9-]+\.)?(?:LAST-MODIFIED|DTSTAMP|REV)(?:;[^:\r\n]*)?:[ \t]*"
    rb"(\d{4})-?(\d{2})-?(\d{2})(?:[Tt](\d{2}):?(\d{2}):?(\d{2})?)?",
    re.MULTILINE | re.IGNORECASE)
_TIMEZONE_BLOCK = re.compile(rb"^BEGIN:VTIMEZONE\b.*?^END:VTIMEZONE\b",
                             re.MULTILINE | re.IGNORECASE | re.DOTALL)


def last_modified(content: bytes, now: Optional[float] = None) -> Optional[int]:
    """The latest LAST-MODIFIED, DTSTAMP or REV of ``content`` as UTC epoch seconds
    (floating values taken as UTC), never later than ``now``; None when it has none."""
    if b"VTIMEZONE" in content or b"vtimezone" in content:
        content = _TIMEZONE_BLOCK.sub(b"", content)
    best = None
    for m in _STAMP.finditer(content):
        y, mo, d, hh, mi, ss = (int(g) if g else 0 for g in m.groups())
        try:
            epoch = calendar.timegm((y, mo, d, hh, mi, min(ss, 59), 0, 0, 0))
        except (ValueError, OverflowError):
            continue
        if not 1 <= mo <= 12 or not 1 <= d <= 31:
            continue
        if best is None or epoch > best:
            best = epoch
    if best is None:
        return None
    # HTTP: a Last-Modified is never later than the answer's Date (RFC 9110 8.8.2.1).
    return min(best, int(now if now is not None else time.time()))
