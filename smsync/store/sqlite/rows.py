"""Conversions between a ``sqlite:`` store's rows and smsync's value types, and the
selection of a folder's rows by UID set.

Times are float seconds since the epoch, an internal date keeping its UTC offset in
seconds beside it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

from smsync.errors import InvalidData
from smsync.model import MessageInfo, UIDSet
from smsync.store.sql.rows import (  # noqa: F401 (flags_of, zone re-exported for listing.py)
    MESSAGE_INFO_SLOTS,
    _flag_sets as flag_sets,
    flags_of,
    new_message_info,
    zone,
)

#: Columns of ``messages`` that ``message_info`` takes, in its order.
MSG_COLS = "uid, flags, internal_date, internal_tz, saved_date, size, modseq"
_MAX_UID = (1 << 32) - 1
#: Above this many ranges a UIDSet is answered by one range scan filtered in Python.
_MAX_RANGE_QUERIES = 16


def message_info(
    row, _utc=timezone.utc, _ts=datetime.fromtimestamp, _new=new_message_info,
    _slots=MESSAGE_INFO_SLOTS,
) -> MessageInfo:
    """The MessageInfo of a row in ``MSG_COLS`` order."""
    uid, flags, idate, itz, sdate, size, modseq = row
    set_uid, set_flags, set_idate, set_sdate, set_size, set_modseq = _slots
    info = _new(MessageInfo)
    set_uid(info, uid)
    set_flags(info, flags_of(flags))
    set_idate(info, _ts(idate, zone(itz)))
    set_sdate(info, _ts(sdate, _utc))
    set_size(info, size)
    set_modseq(info, modseq)
    return info


def select_uids(conn, pk: int, uids: Optional[UIDSet], cols: str) -> list:
    """Rows (``cols``, first column must be uid) of folder ``pk`` whose UID is in ``uids``
    (None: all), ascending by UID, each once."""
    if uids is None:
        return conn.execute(
            f"SELECT {cols} FROM messages WHERE folder_id = ? ORDER BY uid", (pk,)
        ).fetchall()
    if not isinstance(uids, UIDSet):
        raise InvalidData("UID sets must be smsync.model.UIDSet values")
    highest = conn.execute("SELECT MAX(uid) FROM messages WHERE folder_id = ?", (pk,)).fetchone()[0]
    if highest is None:
        return []
    ranges = sorted(
        (max(1, lo), min(hi, _MAX_UID)) for lo, hi in uids.bounded(highest) if hi >= 1
    )
    if not ranges:
        return []
    if len(ranges) > _MAX_RANGE_QUERIES:
        rows = conn.execute(
            f"SELECT {cols} FROM messages WHERE folder_id = ? AND uid BETWEEN ? AND ?"
            " ORDER BY uid",
            (pk, ranges[0][0], max(hi for _, hi in ranges)),
        ).fetchall()
        return [r for r in rows if any(lo <= r[0] <= hi for lo, hi in ranges)]
    out, seen = [], set()
    for lo, hi in ranges:
        for r in conn.execute(
            f"SELECT {cols} FROM messages WHERE folder_id = ? AND uid BETWEEN ? AND ?"
            " ORDER BY uid",
            (pk, lo, hi),
        ):
            if r[0] not in seen:
                seen.add(r[0])
                out.append(r)
    if len(ranges) > 1:
        out.sort(key=lambda r: r[0])
    return out
