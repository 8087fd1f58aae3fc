"""``IAccountStore`` over PostgreSQL: the shared SQL account store in PostgreSQL's dialect."""

from __future__ import annotations

import json

from smsync.model import DEFAULT_COLLECTIONS, DEFAULT_COMPONENTS, PROP_DISPLAYNAME
from smsync.store.common import new_id
from smsync.store.postgresql.mail import create_folder, delete_folder_rows
from smsync.store.sql.accounts import SQLAccountStore
from smsync.store.sql.dialect import POSTGRESQL


class PGAccountStore(SQLAccountStore):
    dialect = POSTGRESQL

    def _create_folder(self, conn, aid, name, role):
        create_folder(conn, aid, name, role)

    def _create_default_collections(self, conn, aid):
        # One statement for all of them: a round trip saved per collection.
        conn.execute(
            "INSERT INTO collections (cid, account_id, name, kind, components, properties)"
            " SELECT * FROM unnest(%s::text[], %s::bigint[], %s::text[], %s::text[], %s::text[],"
            " %s::text[])",
            (
                [new_id() for _ in DEFAULT_COLLECTIONS],
                [aid] * len(DEFAULT_COLLECTIONS),
                list(DEFAULT_COLLECTIONS),
                [kind.value for kind, _ in DEFAULT_COLLECTIONS.values()],
                [" ".join(sorted(DEFAULT_COMPONENTS[kind])) for kind, _ in DEFAULT_COLLECTIONS.values()],
                [json.dumps({PROP_DISPLAYNAME: display}) for _, display in DEFAULT_COLLECTIONS.values()],
            ),
        )

    def _delete_folder(self, conn, ctx, pk):
        delete_folder_rows(conn, pk)
