"""Conversions between database rows and smsync's value types.

Times are integer microseconds since the epoch (exact: a datetime read back equals the
one stored), an internal date keeping its UTC offset in seconds beside it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Optional

from smsync.errors import InvalidData
from smsync.model import MessageInfo, UIDSet
from smsync.store.sql.rows import (  # noqa: F401 (flags_text re-exported)
    MESSAGE_INFO_SLOTS,
    flags_of,
    flags_text,
    new_message_info,
    zone,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MAX_UID = (1 << 32) - 1

#: Columns of ``messages`` that ``message_info`` takes, in its order.
MSG_COLS = "uid, flags, internal_us, internal_tz, saved_us, size, modseq"

def to_us(value: datetime) -> int:
    """Microseconds since the epoch of an aware datetime, exactly."""
    delta = value - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: Optional[int], tz: timezone = timezone.utc) -> Optional[datetime]:
    if us is None:
        return None
    value = _EPOCH + timedelta(microseconds=us)
    return value if tz is timezone.utc else value.astimezone(tz)


def message_info(row) -> MessageInfo:
    """The MessageInfo of a row in ``MSG_COLS`` order."""
    uid, flags, idate, itz, sdate, size, modseq = row
    set_uid, set_flags, set_idate, set_sdate, set_size, set_modseq = MESSAGE_INFO_SLOTS
    info = new_message_info(MessageInfo)
    set_uid(info, uid)
    set_flags(info, flags_of(flags))
    set_idate(info, from_us(idate, zone(itz)))
    set_sdate(info, from_us(sdate))
    set_size(info, size)
    set_modseq(info, modseq)
    return info


def uid_ranges(uids: Optional[UIDSet], highest: Optional[int]) -> Optional[list[tuple[int, int]]]:
    """The UIDSet as sorted inclusive ranges within ``[1, 2**32-1]`` (``*`` = ``highest``);
    None for "all". ``InvalidData`` if ``uids`` is not a UIDSet."""
    if uids is None:
        return None
    if not isinstance(uids, UIDSet):
        raise InvalidData("UID sets must be smsync.model.UIDSet values")
    if highest is None:
        return []
    return sorted(
        (max(1, lo), min(hi, _MAX_UID)) for lo, hi in uids.bounded(highest) if hi >= 1 and lo <= _MAX_UID
    )


def select_uids(conn, pk: int, uids: Optional[UIDSet], cols: str, lock: bool = False) -> list:
    """Rows (``cols``, first column must be uid) of folder ``pk`` whose UID is in ``uids``
    (None: all), ascending by UID, each once. ``lock`` takes the rows' locks too."""
    suffix = " FOR UPDATE" if lock else ""
    if uids is None:
        return conn.execute(
            f"SELECT {cols} FROM messages WHERE folder_id = %s ORDER BY uid{suffix}", (pk,)
        ).fetchall()
    highest = None
    if isinstance(uids, UIDSet) and any(hi is None for _, hi in uids.ranges):
        highest = conn.execute(
            "SELECT MAX(uid) FROM messages WHERE folder_id = %s", (pk,)
        ).fetchone()[0]
        if highest is None:
            return []
    ranges = uid_ranges(uids, highest if highest is not None else 0)
    if not ranges:
        return []
    los = [lo for lo, _ in ranges]
    his = [hi for _, hi in ranges]
    # One statement for any number of ranges: each range is an index range scan.
    return conn.execute(
        f"SELECT {cols} FROM messages WHERE folder_id = %s AND uid IN ("
        " SELECT m.uid FROM unnest(%s::bigint[], %s::bigint[]) AS r(lo, hi)"
        " JOIN messages m ON m.folder_id = %s AND m.uid BETWEEN r.lo AND r.hi)"
        f" ORDER BY uid{suffix}",
        (pk, los, his, pk),
    ).fetchall()
