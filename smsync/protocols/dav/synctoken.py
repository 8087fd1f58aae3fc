"""Sync tokens (RFC 6578): a view of a collection's revision in the store's change log.

A token is ``http://smsync.org/ns/sync/<collection-id>/<revision>``; the collection id
keeps a token from one collection (or from a collection deleted and re-created under the
same name) from being taken for another's.
"""

from __future__ import annotations

from typing import Optional

PREFIX = "http://smsync.org/ns/sync/"


def make_token(collection_id: str, revision: int) -> str:
    return f"{PREFIX}{collection_id}/{revision}"


def parse_token(token: str, collection_id: str) -> Optional[int]:
    """The revision ``token`` names for collection ``collection_id``; 0 for an empty
    token (initial sync); None when it is not a token of that collection."""
    token = (token or "").strip()
    if not token:
        return 0
    if not token.startswith(PREFIX):
        return None
    coll, sep, rev = token[len(PREFIX):].rpartition("/")
    if not sep or coll != collection_id or not rev.isdigit() or len(rev) > 18:
        return None
    return int(rev)
