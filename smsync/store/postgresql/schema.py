"""The PostgreSQL schema and its versioned migrations.

``schema_version`` holds one row per applied version. ``migrate`` runs every missing
step in ONE transaction (PostgreSQL DDL is transactional: a failed upgrade leaves the
old schema intact) under an advisory lock, so several frontends starting at once, or
``smsync init`` run twice, apply each step exactly once; every statement is also written
``IF NOT EXISTS`` so a step is harmless to repeat.

Design notes:

* Folders and collections keep their own counters (messages, unseen, size, items) and
  their change counter (``modseq``/``revision``); every write first locks the row it
  changes (``UPDATE ... RETURNING`` or ``SELECT ... FOR UPDATE``), which serialises
  writers of one folder across processes and makes UID/MODSEQ allocation atomic.
* Message bodies live in ``bodies`` (shared by copies, reference counted explicitly)
  with ``STORAGE EXTERNAL``: stored out of line and uncompressed, so reading a range of
  a large body fetches only the TOAST chunks it covers.
* No foreign keys: they take hidden row locks (a source of cross-process deadlocks); the
  code deletes dependants explicitly, in the same transaction.
"""

from __future__ import annotations

from smsync.errors import BadStoreURI
from smsync.store.sql.timerange import SHORT_SPAN  # noqa: F401 (re-exported)

#: Version this code writes. Bump it and add a step to ``MIGRATIONS`` to change the schema.
SCHEMA_VERSION = 7

_V1 = [
    """CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value bigint NOT NULL)""",
    """INSERT INTO meta (key, value) VALUES ('uidvalidity', 0) ON CONFLICT DO NOTHING""",
    """CREATE TABLE IF NOT EXISTS accounts (
        id bigserial PRIMARY KEY,
        name text NOT NULL UNIQUE,
        password_hash text)""",
    """CREATE TABLE IF NOT EXISTS folders (
        id bigserial PRIMARY KEY,
        fid text NOT NULL UNIQUE,
        account_id bigint NOT NULL,
        name text NOT NULL,
        role text,
        subscribed boolean NOT NULL DEFAULT true,
        uidvalidity bigint NOT NULL,
        uidnext bigint NOT NULL DEFAULT 1,
        modseq bigint NOT NULL DEFAULT 1,
        n_exists bigint NOT NULL DEFAULT 0,
        n_unseen bigint NOT NULL DEFAULT 0,
        n_size bigint NOT NULL DEFAULT 0,
        UNIQUE (account_id, name))""",
    """CREATE UNIQUE INDEX IF NOT EXISTS folders_role ON folders (account_id, role)
        WHERE role IS NOT NULL""",
    """CREATE TABLE IF NOT EXISTS bodies (
        id bigserial PRIMARY KEY,
        refs integer NOT NULL,
        size bigint NOT NULL,
        structure bytea NOT NULL,
        body bytea NOT NULL)""",
    """ALTER TABLE bodies ALTER COLUMN body SET STORAGE EXTERNAL""",
    """CREATE TABLE IF NOT EXISTS messages (
        folder_id bigint NOT NULL,
        uid bigint NOT NULL,
        body_id bigint NOT NULL,
        flags text NOT NULL DEFAULT '',
        seen boolean NOT NULL,
        deleted boolean NOT NULL,
        internal_us bigint NOT NULL,
        internal_tz integer NOT NULL,
        saved_us bigint NOT NULL,
        size bigint NOT NULL,
        modseq bigint NOT NULL,
        PRIMARY KEY (folder_id, uid))""",
    """CREATE INDEX IF NOT EXISTS messages_modseq ON messages (folder_id, modseq)""",
    """CREATE INDEX IF NOT EXISTS messages_unseen ON messages (folder_id, uid) WHERE NOT seen""",
    """CREATE INDEX IF NOT EXISTS messages_deleted ON messages (folder_id, uid) WHERE deleted""",
    """CREATE TABLE IF NOT EXISTS expunged (
        folder_id bigint NOT NULL,
        uid bigint NOT NULL,
        modseq bigint NOT NULL,
        PRIMARY KEY (folder_id, uid))""",
    """CREATE INDEX IF NOT EXISTS expunged_modseq ON expunged (folder_id, modseq)""",
    """CREATE TABLE IF NOT EXISTS collections (
        id bigserial PRIMARY KEY,
        cid text NOT NULL UNIQUE,
        account_id bigint NOT NULL,
        name text NOT NULL,
        kind text NOT NULL,
        components text NOT NULL,
        properties text NOT NULL DEFAULT '{}',
        revision bigint NOT NULL DEFAULT 0,
        n_items bigint NOT NULL DEFAULT 0,
        UNIQUE (account_id, name))""",
    """CREATE TABLE IF NOT EXISTS items (
        id bigserial PRIMARY KEY,
        collection_id bigint NOT NULL,
        name text NOT NULL,
        uid text NOT NULL,
        etag text NOT NULL,
        revision bigint NOT NULL,
        size bigint NOT NULL,
        component text NOT NULL,
        content bytea NOT NULL,
        expanded_until bigint,
        UNIQUE (collection_id, name))""",
    """CREATE INDEX IF NOT EXISTS items_uid ON items (collection_id, uid)""",
    """CREATE INDEX IF NOT EXISTS items_revision ON items (collection_id, revision)""",
    """CREATE INDEX IF NOT EXISTS items_open ON items (collection_id, expanded_until)
        WHERE expanded_until IS NOT NULL""",
    """CREATE TABLE IF NOT EXISTS tombstones (
        collection_id bigint NOT NULL,
        name text NOT NULL,
        revision bigint NOT NULL,
        PRIMARY KEY (collection_id, name))""",
    """CREATE INDEX IF NOT EXISTS tombstones_revision ON tombstones (collection_id, revision)""",
    # Calendar instances as [s_start, s_end) epoch seconds; see timerange.py.
    """CREATE TABLE IF NOT EXISTS spans (
        collection_id bigint NOT NULL,
        is_long boolean NOT NULL,
        s_start bigint NOT NULL,
        s_end bigint NOT NULL,
        item_id bigint NOT NULL)""",
    """CREATE INDEX IF NOT EXISTS spans_start ON spans (collection_id, is_long, s_start, s_end, item_id)""",
    """CREATE INDEX IF NOT EXISTS spans_item ON spans (item_id)""",
    """CREATE TABLE IF NOT EXISTS devices (
        account_id bigint NOT NULL,
        device_id text NOT NULL,
        name text NOT NULL,
        protocol text NOT NULL,
        user_agent text,
        first_seen bigint NOT NULL,
        last_sync bigint,
        sync_order bigint NOT NULL DEFAULT 0,
        conflict_policy text NOT NULL,
        PRIMARY KEY (account_id, device_id))""",
    """CREATE SEQUENCE IF NOT EXISTS device_sync_order""",
    """CREATE TABLE IF NOT EXISTS device_log (
        id bigserial PRIMARY KEY,
        account_id bigint NOT NULL,
        device_id text NOT NULL,
        time bigint NOT NULL,
        message text NOT NULL)""",
    """CREATE INDEX IF NOT EXISTS device_log_dev ON device_log (account_id, device_id, id)""",
    """CREATE TABLE IF NOT EXISTS device_state (
        account_id bigint NOT NULL,
        device_id text NOT NULL,
        key text NOT NULL,
        value bytea NOT NULL,
        PRIMARY KEY (account_id, device_id, key))""",
]

#: Version 2: the protocol policy (``IProtocolPolicy``), one rule per domain or account.
_V2 = [
    """CREATE TABLE IF NOT EXISTS protocol_policy (
        subject text PRIMARY KEY,
        protocols text NOT NULL)""",
]

#: Version 3: per-account settings (``IAccountSettings``), one row per account and key.
_V3 = [
    """CREATE TABLE IF NOT EXISTS account_settings (
        account_id bigint NOT NULL,
        key text NOT NULL,
        value bytea NOT NULL,
        PRIMARY KEY (account_id, key))""",
]

#: Version 4: each folder's IMAP \Recent mark (``IMailboxRecent``).
_V4 = [
    """ALTER TABLE folders ADD COLUMN IF NOT EXISTS recent_uid bigint NOT NULL DEFAULT 0""",
]

#: Version 5: who may use whose folders (``IFolderSharing``, IMAP ACL) and annotations
#: (``IAnnotations``, IMAP METADATA). Both name folders by ``folders.fid``.
_V5 = [
    """CREATE TABLE IF NOT EXISTS folder_acl (
        account_id bigint NOT NULL,
        folder_id text NOT NULL,
        identifier text NOT NULL,
        rights text NOT NULL,
        PRIMARY KEY (folder_id, identifier))""",
    """CREATE INDEX IF NOT EXISTS folder_acl_identifier ON folder_acl (identifier)""",
    """CREATE INDEX IF NOT EXISTS folder_acl_account ON folder_acl (account_id)""",
    """CREATE TABLE IF NOT EXISTS annotations (
        account_id bigint NOT NULL,
        folder_id text NOT NULL,
        name text NOT NULL,
        value bytea NOT NULL,
        PRIMARY KEY (account_id, folder_id, name))""",
    """CREATE INDEX IF NOT EXISTS annotations_folder ON annotations (folder_id)""",
]

#: Version 6: plain WebDAV resources and collections (``IDavTree``), one row a node.
_V6 = [
    """CREATE TABLE IF NOT EXISTS dav_nodes (
        account_id bigint NOT NULL,
        path text NOT NULL,
        parent text NOT NULL,
        collection integer NOT NULL,
        content bytea,
        content_type text,
        etag text NOT NULL,
        size bigint NOT NULL,
        modified double precision NOT NULL,
        properties text NOT NULL,
        PRIMARY KEY (account_id, path))""",
    """CREATE INDEX IF NOT EXISTS dav_nodes_parent ON dav_nodes (account_id, parent)""",
]

#: Version 7: administration over many accounts -- accounts in code point order
#: (``IAccountListing`` pages; the UNIQUE index follows the database's collation) and
#: devices the stalest first across accounts (``IDeviceListing``).
_V7 = [
    """CREATE INDEX IF NOT EXISTS accounts_name_c ON accounts (name COLLATE "C")""",
    """CREATE INDEX IF NOT EXISTS devices_stale ON devices
        (COALESCE(last_sync, -1), account_id, device_id)""",
]

#: version -> statements that bring a store from version-1 to version.
MIGRATIONS: dict[int, list[str]] = {1: _V1, 2: _V2, 3: _V3, 4: _V4, 5: _V5, 6: _V6, 7: _V7}


#: Advisory lock namespace for migrations (any constant; with the schema name hashed in).
_LOCK_CLASS = 0x736D73  # "sms"


def _quote(name: str) -> str:
    # Schema names are checked against [a-z_][a-z0-9_]* by the URI parser; quoting keeps
    # a keyword-like name (e.g. "user") valid.
    return '"' + name + '"'


def found_version(conn, schema: str) -> int:
    """The schema version stored in ``schema`` (0: no smsync schema there)."""
    row = conn.execute(
        "SELECT to_regclass(%s)", (f"{_quote(schema)}.schema_version",)
    ).fetchone()
    if row[0] is None:
        return 0
    return conn.execute(f"SELECT COALESCE(MAX(version), 0) FROM {_quote(schema)}.schema_version").fetchone()[0]


def migrate(conn, schema: str, create: bool) -> int:
    """Bring ``schema`` to ``SCHEMA_VERSION`` (``create``) or check it is there. Blocking;
    ``conn`` is an autocommit connection whose search_path is ``schema``. Returns the
    version found before.

    Raises:
        BadStoreURI: the schema is newer than this code, or missing/older and not ``create``.
    """
    conn.execute("BEGIN")
    try:
        if create:
            conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_CLASS, schema))
        found = found_version(conn, schema)
        if found > SCHEMA_VERSION:
            raise BadStoreURI(
                f"store schema version {found} is newer than this smsync ({SCHEMA_VERSION})"
            )
        if found < SCHEMA_VERSION and not create:
            what = "no smsync store" if found == 0 else f"an older store schema (version {found})"
            raise BadStoreURI(f"{what} in schema {schema!r}: run smsync init --store URI first")
        if found < SCHEMA_VERSION:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}")
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {_quote(schema)}.schema_version ("
                " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            for version in range(found + 1, SCHEMA_VERSION + 1):
                # One round trip per step: the statements take no parameters.
                conn.execute(";\n".join(MIGRATIONS[version]).encode())
                conn.execute(
                    "INSERT INTO schema_version (version) VALUES (%s) ON CONFLICT DO NOTHING",
                    (version,),
                )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found
