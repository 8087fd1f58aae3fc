"""Updating search contexts (RFC 5267 section 4.3, CONTEXT=SEARCH and CONTEXT=SORT): the
results of a SEARCH or SORT given RETURN (UPDATE), kept up to date as the selected
mailbox changes and told to the client in ESEARCH ADDTO and REMOVEFROM responses.

Contexts live on the ``SelectedMailbox`` they searched, so they end with the selection:
"Updates will cease when the mailbox is no longer selected, or when the CANCELUPDATE
command [...] is issued by the client, whichever is sooner." After a change the search
runs again and its results are compared with what the client was told; only clients
that ask for updates pay for that.
"""

from __future__ import annotations

from typing import Optional

import attrs

from smsync.protocols.imap import encode
from smsync.protocols.imap.fetchnew import fetch_new
from smsync.protocols.imap.search import search, sort
from smsync.protocols.imap.searchkeys import SearchKey

#: Updating contexts one selection keeps; past them a search is answered without
#: updates ("NO [NOUPDATE ...]"). RFC 5267 4.3.1: "Servers MUST provide at least one
#: updating context per client, and SHOULD provide more."
MAX_CONTEXTS = 16


@attrs.define
class Context:
    """One updating search: its command's ``tag``, whether it answered UIDs, what it
    searched for (``criteria`` for a SORT, None for a SEARCH), the SEARCHRES result it
    was given (``saved``), what to FETCH of messages it gains, and its ``results``:
    UIDs in result order (mailbox order for a SEARCH)."""

    tag: str
    uid: bool
    key: SearchKey
    charset: Optional[str]
    criteria: Optional[tuple]
    saved: list[int]
    fetch_atts: tuple
    results: list[int]


class Contexts:
    """The updating contexts of one selected mailbox, by tag."""

    def __init__(self):
        self.by_tag: dict[str, Context] = {}

    def __contains__(self, tag: str) -> bool:
        return tag in self.by_tag

    def __bool__(self) -> bool:
        return bool(self.by_tag)

    def add(self, ctx: Context) -> bool:
        """Keep ``ctx`` updated; False when this selection has no room for another."""
        if len(self.by_tag) >= MAX_CONTEXTS:
            return False
        self.by_tag[ctx.tag] = ctx
        return True

    def cancel(self, tag: str) -> bool:
        """CANCELUPDATE: stop updating ``tag``'s context; whether there was one."""
        return self.by_tag.pop(tag, None) is not None

    def removing(self, conn, sel, dead) -> None:
        """``dead`` (UIDs) are about to be announced expunged: say so of the contexts
        holding them while their numbers still stand -- RFC 5267 4.3.4: a REMOVEFROM
        for messages "being expunged MUST be sent prior to the expunge notification
        itself, in order that those sequence numbers remain valid"."""
        for ctx in self.by_tag.values():
            if any(u in dead for u in ctx.results):
                kept = [u for u in ctx.results if u not in dead]
                self._tell(conn, sel, ctx, kept, removed_only=True)

    async def refresh(self, conn, sel) -> None:
        """Search again for every context and tell the client what joined or left its
        results (after EXISTS, so new numbers are valid: RFC 5267 4.3.3)."""
        for ctx in list(self.by_tag.values()):
            found = await search(sel, ctx.key, ctx.charset, ctx.saved)
            if ctx.criteria is not None:
                found = await sort(sel, found, ctx.criteria)
            if self.by_tag.get(ctx.tag) is not ctx or conn.closed:
                continue
            new = [uid for _, uid in found]
            added = self._tell(conn, sel, ctx, new)
            if added and ctx.fetch_atts:
                # RFC 5465 7: the FETCH responses come before the ESEARCH that adds.
                await fetch_new(conn, added, ctx.fetch_atts)
            if added:
                conn.untagged(self._addto(sel, ctx, new, set(added)))

    def _tell(self, conn, sel, ctx: Context, new: list[int], removed_only: bool = False) -> list[int]:
        """Send the REMOVEFROM that takes ``ctx`` to ``new`` and return the UIDs that
        an ADDTO must still add (the caller sends it, once FETCHes are out)."""
        now = set(new)
        before = set(ctx.results)
        gone = [u for u in ctx.results if u not in now]
        added = [] if removed_only else [u for u in new if u not in before]
        if [u for u in ctx.results if u in now] != [u for u in new if u in before]:
            # Results that stay changed places: no SORT key changes as a message's
            # flags do, but should one, start the list again rather than misplace it.
            gone, added = list(ctx.results), list(new)
        if gone:
            conn.untagged(self._removefrom(sel, ctx, set(gone)))
        ctx.results = list(new)
        return added

    def _removefrom(self, sel, ctx: Context, gone: set) -> bytes:
        if ctx.criteria is None:
            # RFC 5267 4.3.4: for SEARCH, position 0 -- "the client removes the message
            # numbers or UIDs in the result list wherever they occur".
            pairs = [(0, [u for u in ctx.results if u in gone])]
        else:
            pairs = _runs(ctx.results, gone, removing=True)
        return self._line(sel, ctx, b"REMOVEFROM", pairs)

    def _addto(self, sel, ctx: Context, new: list[int], added: set) -> bytes:
        if ctx.criteria is None:
            pairs = [(0, [u for u in new if u in added])]
        else:
            pairs = _runs(new, added, removing=False)
        return self._line(sel, ctx, b"ADDTO", pairs)

    @staticmethod
    def _line(sel, ctx: Context, item: bytes, pairs) -> bytes:
        body = []
        for pos, uids in pairs:
            numbers = uids if ctx.uid else [sel.seq_of(u) for u in uids]
            body.append(b"%d " % pos + encode.seq_set_ordered(n for n in numbers if n is not None))
        head = b"ESEARCH (TAG " + encode.string(ctx.tag) + b")" + (b" UID" if ctx.uid else b"")
        return head + b" " + item + b" (" + b" ".join(body) + b")"


def _runs(uids: list[int], chosen: set, removing: bool) -> list[tuple[int, list[int]]]:
    """The runs of neighbours in ``uids`` that are ``chosen``, each with the context
    position that names it when the runs are applied in order: for a removal, its place
    once the runs before it are gone; for an addition (``uids`` the results after it),
    its final place, since what precedes it then is what precedes it at the end."""
    pairs: list[tuple[int, list[int]]] = []
    removed = 0
    last = None
    for i, uid in enumerate(uids):
        if uid not in chosen:
            continue
        if pairs and last == i - 1:
            pairs[-1][1].append(uid)
        else:
            pairs.append((i + 1 - removed, [uid]))
        last = i
        if removing:
            removed += 1
    return pairs
