"""FETCH responses nobody sent a FETCH for: what NOTIFY's ``MessageNew (fetch-att...)``
(RFC 5465 5.2) and RETURN (UPDATE (fetch-att...)) (RFC 5465 section 7) ask to be told of
new messages of the selected mailbox, answered as UID FETCH answers them."""

from __future__ import annotations

from smsync.protocols.imap.syntax import Command, Fetch, SeqSet


async def fetch_new(conn, uids, atts) -> None:
    """Send ``* n FETCH (UID ... )`` with ``atts`` for ``uids`` of the selected mailbox
    (those still in the client's view)."""
    if not uids or not atts or conn.session.selected is None:
        return
    # Imported here: the FETCH command's module imports the whole command registry.
    from smsync.protocols.imap.commands.fetch import fetch

    ranges = tuple((u, u) for u in sorted(set(uids)))
    await fetch(conn, Command("*", "FETCH", Fetch(SeqSet(ranges), tuple(atts)), uid=True))
