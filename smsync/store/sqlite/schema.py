"""The SQLite schema and its migrations.

The schema version lives in ``PRAGMA user_version`` (what the code checks) and in the
``schema_version`` table (a human-readable history). Every migration step is written
with ``IF NOT EXISTS`` (or checks first, where SQLite has no such clause) so that
re-running it after a crash half-way is harmless, and the whole upgrade runs in one
write transaction.
"""

from __future__ import annotations

import sqlite3
import time

from smsync.errors import BadStoreURI
from smsync.store.sql.timerange import SHORT_SPAN  # noqa: F401 (re-exported)

#: Version this code writes. Bump it and append a step to ``MIGRATIONS`` to change the schema.
SCHEMA_VERSION = 7

_V1 = [
    """CREATE TABLE IF NOT EXISTS schema_version (
        version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS accounts (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        password_hash TEXT)""",
    # Folders keep their own counters (maintained by the triggers below) so that SELECT
    # on a 100,000-message folder reads one row instead of counting.
    """CREATE TABLE IF NOT EXISTS folders (
        id INTEGER PRIMARY KEY,
        fid TEXT NOT NULL UNIQUE,
        account_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        role TEXT,
        subscribed INTEGER NOT NULL DEFAULT 1,
        uidvalidity INTEGER NOT NULL,
        uidnext INTEGER NOT NULL DEFAULT 1,
        modseq INTEGER NOT NULL DEFAULT 1,
        n_exists INTEGER NOT NULL DEFAULT 0,
        n_unseen INTEGER NOT NULL DEFAULT 0,
        n_size INTEGER NOT NULL DEFAULT 0,
        UNIQUE (account_id, name))""",
    """CREATE UNIQUE INDEX IF NOT EXISTS folders_role ON folders(account_id, role)
        WHERE role IS NOT NULL""",
    """CREATE TABLE IF NOT EXISTS bodies (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL,
        size INTEGER NOT NULL,
        structure BLOB NOT NULL,
        refs INTEGER NOT NULL DEFAULT 0)""",
    """CREATE INDEX IF NOT EXISTS bodies_path ON bodies(path)""",
    """CREATE INDEX IF NOT EXISTS bodies_unref ON bodies(id) WHERE refs <= 0""",
    """CREATE TABLE IF NOT EXISTS messages (
        folder_id INTEGER NOT NULL,
        uid INTEGER NOT NULL,
        body_id INTEGER NOT NULL,
        flags TEXT NOT NULL DEFAULT '',
        seen INTEGER NOT NULL DEFAULT 0,
        deleted INTEGER NOT NULL DEFAULT 0,
        internal_date REAL NOT NULL,
        internal_tz INTEGER NOT NULL DEFAULT 0,
        saved_date REAL NOT NULL,
        size INTEGER NOT NULL,
        modseq INTEGER NOT NULL,
        hdr_date REAL,
        subject TEXT,
        from_addr TEXT,
        PRIMARY KEY (folder_id, uid)) WITHOUT ROWID""",
    """CREATE INDEX IF NOT EXISTS messages_modseq ON messages(folder_id, modseq)""",
    """CREATE INDEX IF NOT EXISTS messages_unseen ON messages(folder_id, uid) WHERE seen = 0""",
    """CREATE TABLE IF NOT EXISTS expunged (
        folder_id INTEGER NOT NULL,
        uid INTEGER NOT NULL,
        modseq INTEGER NOT NULL,
        PRIMARY KEY (folder_id, uid)) WITHOUT ROWID""",
    """CREATE INDEX IF NOT EXISTS expunged_modseq ON expunged(folder_id, modseq)""",
    """CREATE TRIGGER IF NOT EXISTS messages_ins AFTER INSERT ON messages BEGIN
        UPDATE folders SET n_exists = n_exists + 1, n_size = n_size + NEW.size,
            n_unseen = n_unseen + (NEW.seen = 0) WHERE id = NEW.folder_id;
        UPDATE bodies SET refs = refs + 1 WHERE id = NEW.body_id;
    END""",
    """CREATE TRIGGER IF NOT EXISTS messages_del AFTER DELETE ON messages BEGIN
        UPDATE folders SET n_exists = n_exists - 1, n_size = n_size - OLD.size,
            n_unseen = n_unseen - (OLD.seen = 0) WHERE id = OLD.folder_id;
        UPDATE bodies SET refs = refs - 1 WHERE id = OLD.body_id;
    END""",
    """CREATE TRIGGER IF NOT EXISTS messages_seen AFTER UPDATE OF seen ON messages
        WHEN OLD.seen != NEW.seen BEGIN
        UPDATE folders SET n_unseen = n_unseen + (NEW.seen = 0) - (OLD.seen = 0)
            WHERE id = NEW.folder_id;
    END""",
    """CREATE TABLE IF NOT EXISTS collections (
        id INTEGER PRIMARY KEY,
        cid TEXT NOT NULL UNIQUE,
        account_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        components TEXT NOT NULL,
        properties TEXT NOT NULL DEFAULT '{}',
        revision INTEGER NOT NULL DEFAULT 0,
        n_items INTEGER NOT NULL DEFAULT 0,
        UNIQUE (account_id, name))""",
    """CREATE TABLE IF NOT EXISTS items (
        id INTEGER PRIMARY KEY,
        collection_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        uid TEXT NOT NULL,
        etag TEXT NOT NULL,
        revision INTEGER NOT NULL,
        size INTEGER NOT NULL,
        component TEXT NOT NULL,
        content BLOB NOT NULL,
        expanded_until INTEGER,
        UNIQUE (collection_id, name))""",
    """CREATE INDEX IF NOT EXISTS items_uid ON items(collection_id, uid)""",
    """CREATE INDEX IF NOT EXISTS items_revision ON items(collection_id, revision)""",
    """CREATE INDEX IF NOT EXISTS items_open ON items(collection_id, expanded_until)
        WHERE expanded_until IS NOT NULL""",
    """CREATE TRIGGER IF NOT EXISTS items_ins AFTER INSERT ON items BEGIN
        UPDATE collections SET n_items = n_items + 1 WHERE id = NEW.collection_id;
    END""",
    """CREATE TRIGGER IF NOT EXISTS items_del AFTER DELETE ON items BEGIN
        UPDATE collections SET n_items = n_items - 1 WHERE id = OLD.collection_id;
        DELETE FROM spans WHERE item_id = OLD.id;
    END""",
    """CREATE TABLE IF NOT EXISTS tombstones (
        collection_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        revision INTEGER NOT NULL,
        PRIMARY KEY (collection_id, name)) WITHOUT ROWID""",
    """CREATE INDEX IF NOT EXISTS tombstones_revision ON tombstones(collection_id, revision)""",
    # Instances of calendar items as [start, end) epoch seconds. Short spans (the vast
    # majority) are found through (collection, start) with a bounded look-back; long
    # ones (multi-week events, undated tasks) are few and are scanned per collection.
    """CREATE TABLE IF NOT EXISTS spans (
        collection_id INTEGER NOT NULL,
        long INTEGER NOT NULL,
        start INTEGER NOT NULL,
        end INTEGER NOT NULL,
        item_id INTEGER NOT NULL)""",
    """CREATE INDEX IF NOT EXISTS spans_start ON spans(collection_id, long, start, end, item_id)""",
    """CREATE INDEX IF NOT EXISTS spans_item ON spans(item_id)""",
    """CREATE TABLE IF NOT EXISTS devices (
        account_id INTEGER NOT NULL,
        device_id TEXT NOT NULL,
        name TEXT NOT NULL,
        protocol TEXT NOT NULL,
        user_agent TEXT,
        first_seen INTEGER NOT NULL,
        last_sync INTEGER,
        sync_order INTEGER NOT NULL DEFAULT 0,
        conflict_policy TEXT NOT NULL,
        PRIMARY KEY (account_id, device_id)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS device_log (
        id INTEGER PRIMARY KEY,
        account_id INTEGER NOT NULL,
        device_id TEXT NOT NULL,
        time INTEGER NOT NULL,
        message TEXT NOT NULL)""",
    """CREATE INDEX IF NOT EXISTS device_log_dev ON device_log(account_id, device_id, id)""",
    """CREATE TABLE IF NOT EXISTS device_state (
        account_id INTEGER NOT NULL,
        device_id TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (account_id, device_id, key)) WITHOUT ROWID""",
    # The change feed other processes poll: one row per ChangeEvent, pruned after a while.
    """CREATE TABLE IF NOT EXISTS events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        origin TEXT NOT NULL,
        time REAL NOT NULL,
        account TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT,
        revision INTEGER,
        folder_id TEXT)""",
    """CREATE INDEX IF NOT EXISTS events_time ON events(time)""",
]

#: Version 2: the protocol policy (``IProtocolPolicy``), one rule per domain or account.
_V2 = [
    """CREATE TABLE IF NOT EXISTS protocol_policy (
        subject TEXT PRIMARY KEY,
        protocols TEXT NOT NULL)""",
]

#: Version 3: per-account settings (``IAccountSettings``), one row per account and key.
_V3 = [
    """CREATE TABLE IF NOT EXISTS account_settings (
        account_id INTEGER NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (account_id, key)) WITHOUT ROWID""",
]


def _add_column(table: str, column: str, declaration: str):
    """A migration step adding a column unless it is there (SQLite has no ``ADD COLUMN
    IF NOT EXISTS``), so the step too is harmless to run again."""

    def step(conn: sqlite3.Connection) -> None:
        if column not in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")

    return step


#: Version 4: each folder's IMAP \Recent mark (``IMailboxRecent``).
_V4 = [
    _add_column("folders", "recent_uid", "INTEGER NOT NULL DEFAULT 0"),
]

#: Version 5: who may use whose folders (``IFolderSharing``, IMAP ACL) and annotations
#: (``IAnnotations``, IMAP METADATA). Both name folders by ``folders.fid``.
_V5 = [
    """CREATE TABLE IF NOT EXISTS folder_acl (
        account_id INTEGER NOT NULL,
        folder_id TEXT NOT NULL,
        identifier TEXT NOT NULL,
        rights TEXT NOT NULL,
        PRIMARY KEY (folder_id, identifier)) WITHOUT ROWID""",
    """CREATE INDEX IF NOT EXISTS folder_acl_identifier ON folder_acl(identifier)""",
    """CREATE INDEX IF NOT EXISTS folder_acl_account ON folder_acl(account_id)""",
    """CREATE TABLE IF NOT EXISTS annotations (
        account_id INTEGER NOT NULL,
        folder_id TEXT NOT NULL,
        name TEXT NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (account_id, folder_id, name)) WITHOUT ROWID""",
    """CREATE INDEX IF NOT EXISTS annotations_folder ON annotations(folder_id)""",
]

#: Version 6: plain WebDAV resources and collections (``IDavTree``), one row a node.
_V6 = [
    """CREATE TABLE IF NOT EXISTS dav_nodes (
        account_id INTEGER NOT NULL,
        path TEXT NOT NULL,
        parent TEXT NOT NULL,
        collection INTEGER NOT NULL,
        content BLOB,
        content_type TEXT,
        etag TEXT NOT NULL,
        size INTEGER NOT NULL,
        modified REAL NOT NULL,
        properties TEXT NOT NULL,
        PRIMARY KEY (account_id, path))""",
    """CREATE INDEX IF NOT EXISTS dav_nodes_parent ON dav_nodes(account_id, parent)""",
]

#: Version 7: devices the stalest first across accounts (``IDeviceListing``). Accounts
#: need nothing: the UNIQUE index on the name is already in code point order.
_V7 = [
    """CREATE INDEX IF NOT EXISTS devices_stale ON devices
        (COALESCE(last_sync, -1), account_id, device_id)""",
]

#: version -> statements (SQL, or a function of the connection) that bring a store from
#: version-1 to version.
MIGRATIONS: dict[int, list] = {1: _V1, 2: _V2, 3: _V3, 4: _V4, 5: _V5, 6: _V6, 7: _V7}



def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database at ``conn`` to ``SCHEMA_VERSION``; return the version found.

    Raises:
        BadStoreURI: the store was written by a newer smsync (its schema is unknown here).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = schema_version(conn)
        if found > SCHEMA_VERSION:
            raise BadStoreURI(
                f"store schema version {found} is newer than this smsync ({SCHEMA_VERSION})"
            )
        for version in range(found + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version]:
                if callable(statement):
                    statement(conn)
                else:
                    conn.execute(statement)
            conn.execute(
                "INSERT OR REPLACE INTO schema_version VALUES (?, ?)", (version, time.time())
            )
            conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found
