"""``IAccountStore`` over SQLite: the shared SQL account store in SQLite's dialect."""

from __future__ import annotations

from smsync.model import DEFAULT_COLLECTIONS, DEFAULT_COMPONENTS, PROP_DISPLAYNAME
from smsync.store.sql.accounts import SQLAccountStore
from smsync.store.sql.dialect import SQLITE
from smsync.store.sqlite.collections import create_collection_row
from smsync.store.sqlite.mail import create_folder, delete_folder_rows


class SQLiteAccountStore(SQLAccountStore):
    dialect = SQLITE

    def _create_folder(self, conn, aid, name, role):
        create_folder(conn, aid, name, role)

    def _create_default_collections(self, conn, aid):
        for name, (kind, display) in DEFAULT_COLLECTIONS.items():
            create_collection_row(
                conn, aid, name, kind, DEFAULT_COMPONENTS[kind], {PROP_DISPLAYNAME: display}
            )

    def _delete_folder(self, conn, ctx, pk):
        delete_folder_rows(conn, ctx, self._store.bodies, pk)
