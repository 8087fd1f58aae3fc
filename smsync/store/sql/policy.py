"""``IProtocolPolicy`` over SQL: per-domain and per-account protocol rules, one row each.

The allowed protocols are kept as one comma-separated text (empty: none allowed); the
table is small and read by subject only.
"""

from __future__ import annotations

from zope.interface import implementer

from smsync._async import deferred
from smsync.errors import InvalidData
from smsync.interfaces import IProtocolPolicy
from smsync.store.common import policy_subject
from smsync.store.sql.dialect import Dialect


def _names(text: str) -> frozenset:
    return frozenset(n for n in text.split(",") if n)


@implementer(IProtocolPolicy)
class SQLProtocolPolicy:
    """The policy rules of a SQL store, in ``dialect``."""

    def __init__(self, store, dialect: Dialect):
        self._db = store.db
        q = dialect.q
        self._sql_get = q("SELECT protocols FROM protocol_policy WHERE subject = ?")
        self._sql_set = q(
            "INSERT INTO protocol_policy (subject, protocols) VALUES (?, ?)"
            " ON CONFLICT (subject) DO UPDATE SET protocols = EXCLUDED.protocols"
        )
        self._sql_delete = q("DELETE FROM protocol_policy WHERE subject = ?")
        self._sql_list = q("SELECT subject, protocols FROM protocol_policy ORDER BY subject")

    @deferred
    async def get(self, subject):
        row = await self._db.read(
            lambda conn: conn.execute(self._sql_get, (policy_subject(subject),)).fetchone())
        return None if row is None else _names(row[0])

    @deferred
    async def set(self, subject, protocols):
        subject = policy_subject(subject)
        if protocols is None:
            await self._db.write(lambda conn, ctx: conn.execute(self._sql_delete, (subject,)))
            return None
        names = sorted({str(p) for p in protocols})
        if any("," in n or not n for n in names):
            raise InvalidData("a protocol name is a non-empty word")
        text = ",".join(names)
        await self._db.write(lambda conn, ctx: conn.execute(self._sql_set, (subject, text)))
        return None

    @deferred
    async def list(self):
        rows = await self._db.read(lambda conn: conn.execute(self._sql_list).fetchall())
        return [(subject, _names(text)) for subject, text in rows]
