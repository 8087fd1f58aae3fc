"""Racing writers on one database, each with its own connections and writer thread (as
two frontend processes have): conditional writes are serialised by row locks, so
exactly one of two racing If-Match / UNCHANGEDSINCE writes wins and the other is
refused; UID allocation stays atomic."""

from __future__ import annotations

import pytest_twisted
from pg_support import fresh_schema_uri, pg_database  # noqa: F401
from twisted.internet.defer import DeferredList

from smsync.errors import PreconditionFailed
from smsync.model import FlagMode, UIDSet
from smsync.store.registry import open_store
from smsync.testing import samples

ALICE = "alice@example.com"


def _card(uid: str, name: str) -> bytes:
    return f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nEND:VCARD\r\n".encode()


async def _stores(uri):
    a = await open_store(uri)
    b = await open_store(uri)
    await a.accounts.add(ALICE, "h")
    return a, b


@pytest_twisted.ensureDeferred
async def test_racing_if_match_puts_exactly_one_wins(pg_database):
    a, b = await _stores(fresh_schema_uri(pg_database))
    try:
        book_a = await (await a.collections(ALICE)).collection("contacts")
        book_b = await (await b.collections(ALICE)).collection("contacts")
        info = await book_a.put("c.vcf", _card("c", "start"))
        for n in range(15):
            contents = [_card("c", f"by a {n}"), _card("c", f"by b {n}")]
            results = await DeferredList(
                [
                    book.put("c.vcf", content, if_match=info.etag)
                    for book, content in zip((book_a, book_b), contents)
                ],
                consumeErrors=True,
            )
            won = [(ok, r) for ok, r in results if ok]
            lost = [r for ok, r in results if not ok]
            assert len(won) == 1 and len(lost) == 1, results
            assert lost[0].check(PreconditionFailed)
            winner = [c for (ok, _), c in zip(results, contents) if ok][0]
            (item,) = await book_b.get(["c.vcf"])
            assert item.content == winner
            info = won[0][1]
            assert item.info == info
    finally:
        await a.close()
        await b.close()


@pytest_twisted.ensureDeferred
async def test_racing_unchanged_since_stores_exactly_one_wins(pg_database):
    a, b = await _stores(fresh_schema_uri(pg_database))
    try:
        inbox_a = await (await a.mail(ALICE)).mailbox("INBOX")
        inbox_b = await (await b.mail(ALICE)).mailbox("INBOX")
        for n in range(15):
            r = await inbox_a.append(samples.message(f"m{n}"))
            uids = UIDSet.of([r.uid])
            results = await DeferredList(
                [
                    box.store_flags(uids, FlagMode.ADD, [flag], unchanged_since=r.modseq)
                    for box, flag in ((inbox_a, "$A"), (inbox_b, "$B"))
                ]
            )
            outcomes = [res for _, res in results]
            assert sorted(len(o.changed) for o in outcomes) == [0, 1]
            assert sorted(o.modified for o in outcomes) == [(), (r.uid,)]
            (msg,) = await inbox_b.messages(uids)
            assert len(msg.flags & {"$A", "$B"}) == 1
    finally:
        await a.close()
        await b.close()


@pytest_twisted.ensureDeferred
async def test_concurrent_appends_from_two_stores(pg_database):
    a, b = await _stores(fresh_schema_uri(pg_database))
    try:
        boxes = [await (await s.mail(ALICE)).mailbox("INBOX") for s in (a, b)]
        results = await DeferredList(
            [boxes[i % 2].append(samples.message(f"c{i}")) for i in range(200)],
            fireOnOneErrback=True,
        )
        appended = [r for _, r in results]
        uids = [r.uid for r in appended]
        modseqs = [r.modseq for r in appended]
        assert sorted(uids) == list(range(1, 201))
        assert len(set(modseqs)) == 200
        by_uid = sorted(appended, key=lambda r: r.uid)
        assert [r.modseq for r in by_uid] == sorted(modseqs)
        info = await boxes[1].info()
        assert (info.exists, info.uidnext, info.highestmodseq) == (200, 201, max(modseqs))
        assert a.db.commits + b.db.commits < 200, "appends were not group-committed"
    finally:
        await a.close()
        await b.close()
