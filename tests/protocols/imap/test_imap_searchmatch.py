"""Compiled SEARCH predicates (``searchmatch``) and read grouping (``bodyreads``):
property tests against plain reference definitions."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import attrs
import pytest_twisted
from hypothesis import given, settings
from hypothesis import strategies as st

from smsync.formats.addresses import Address
from smsync.model import MessageInfo
from smsync.protocols.imap import bodyreads
from smsync.sync.reads import read_ranges
from smsync.protocols.imap.search import _filter, _relax
from smsync.protocols.imap.searchkeys import SearchKey
from smsync.protocols.imap.searchmatch import compile_key, uses_seq
from smsync.protocols.imap.syntax import SeqSet
from smsync.store.registry import open_store

NOW = datetime(2024, 3, 10, 12, 0, tzinfo=timezone.utc)
FLAGS = ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft", "$Work", "$work", "Later"]
WORDS = ["lunch", "report", "ünïcode", "x", "sender3"]


def reference(key, seq, m, s, doc, exists, top, saved) -> bool:
    """What a key means, spelled out the obvious way (RFC 3501 6.4.4 semantics)."""
    op, a = key.op, key.args
    sub = lambda k: reference(k, seq, m, s, doc, exists, top, saved)  # noqa: E731
    if op == "ALL":
        return True
    if op == "NONE":
        return False
    if op == "AND":
        return all(sub(k) for k in a)
    if op == "OR":
        return sub(a[0]) or sub(a[1])
    if op == "NOT":
        return not sub(a[0])
    if op == "FLAG":
        return a[0] in {f.lower() for f in m.flags}
    if op == "SEQ":
        return m.uid in saved if a[0].saved else a[0].contains(seq, exists)
    if op == "UID":
        return m.uid in saved if a[0].saved else a[0].contains(m.uid, top)
    if op == "LARGER":
        return m.size > a[0]
    if op == "SMALLER":
        return m.size < a[0]
    if op == "MODSEQ":
        return m.modseq >= a[0]
    if op in ("BEFORE", "ON", "SINCE"):
        day, ref = m.internal_date.date(), a[0].date()
        return {"BEFORE": day < ref, "ON": day == ref, "SINCE": day >= ref}[op]
    if op == "OLDER":
        return (NOW - m.internal_date).total_seconds() >= a[0]
    if op == "YOUNGER":
        return (NOW - m.internal_date).total_seconds() <= a[0]
    if s is None:
        return False
    if op in ("SENTBEFORE", "SENTON", "SENTSINCE"):
        if s.date is None:
            return False  # no Date: header, no sent date
        day, ref = s.date.date(), a[0].date()
        return {"SENTBEFORE": day < ref, "SENTON": day == ref, "SENTSINCE": day >= ref}[op]
    if op == "SUBJECT":
        return a[0] in (s.subject or "").casefold()
    if op in ("FROM", "TO", "CC", "BCC"):
        # The envelope's addresses, "name <mailbox@host>" each.
        field = getattr(s.envelope, {"FROM": "from_"}.get(op, op.lower()))
        written = ", ".join(f"{x.name} <{x.mailbox}@{x.host}>" if x.name else f"{x.mailbox}@{x.host}" for x in field)
        return a[0] in written.casefold()
    if doc is None:
        return False
    if op == "HEADER":
        return any(n == a[0] and a[1] in v.casefold() for n, v in doc.fields)
    if op == "BODY":
        return a[0] in doc.body
    if op == "TEXT":
        return a[0] in doc.body or a[0] in doc.header_text
    raise AssertionError(op)


days = st.dates(date(2024, 3, 1), date(2024, 3, 4))
seqsets = st.lists(st.tuples(st.integers(1, 12), st.one_of(st.none(), st.integers(1, 12))), min_size=1, max_size=3)
leaf_keys = st.one_of(
    st.sampled_from([SearchKey("ALL"), SearchKey("NONE")]),
    st.builds(lambda f: SearchKey("FLAG", (f.lower(),)), st.sampled_from(FLAGS)),
    st.builds(lambda r: SearchKey("SEQ", (SeqSet(tuple(r)),)), seqsets),
    st.builds(lambda r: SearchKey("UID", (SeqSet(tuple(r)),)), seqsets),
    st.just(SearchKey("UID", (SeqSet((), saved=True),))),
    st.builds(lambda op, n: SearchKey(op, (n,)), st.sampled_from(["LARGER", "SMALLER", "MODSEQ"]), st.integers(0, 4)),
    st.builds(lambda op, d: SearchKey(op, (datetime(d.year, d.month, d.day),)),
              st.sampled_from(["BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"]), days),
    st.builds(lambda op, n: SearchKey(op, (n,)), st.sampled_from(["OLDER", "YOUNGER"]),
              st.integers(6 * 86400, 10 * 86400).map(lambda n: n - n % 3600)),
    st.builds(lambda op, w: SearchKey(op, (w,)),
              st.sampled_from(["FROM", "TO", "CC", "BCC", "SUBJECT", "BODY", "TEXT"]), st.sampled_from(WORDS)),
    st.builds(lambda n, w: SearchKey("HEADER", (n, w)), st.sampled_from(["x-tag", "subject"]), st.sampled_from(WORDS)),
)
keys = st.recursive(
    leaf_keys,
    lambda inner: st.one_of(
        st.builds(lambda ks: SearchKey("AND", tuple(ks)), st.lists(inner, min_size=2, max_size=3)),
        st.builds(lambda a, b: SearchKey("OR", (a, b)), inner, inner),
        st.builds(lambda k: SearchKey("NOT", (k,)), inner),
    ),
    max_leaves=6,
)
text = st.one_of(st.none(), st.builds(" ".join, st.lists(st.sampled_from(WORDS + ["Other"]), max_size=3)))
addresses = st.lists(st.builds(
    lambda name, mailbox: Address(name, None, mailbox, "example.org"),
    st.one_of(st.none(), st.sampled_from(WORDS + ["Other Name"])), st.sampled_from(["x", "report", "sender3", "bob"]),
), max_size=2).map(tuple)
messages = st.builds(
    lambda uid, flags, size, modseq, d, hour: MessageInfo(
        uid, frozenset(flags), datetime(d.year, d.month, d.day, hour, tzinfo=timezone(timedelta(hours=-5))),
        NOW, size, modseq),
    st.integers(1, 12), st.sets(st.sampled_from(FLAGS)), st.integers(0, 4), st.integers(1, 4), days,
    st.integers(0, 23),
)
structures = st.one_of(st.none(), st.builds(
    lambda f, t, c, b, s, d: SimpleNamespace(
        envelope=SimpleNamespace(from_=f, to=t, cc=c, bcc=b), subject=s, date=d),
    addresses, addresses, addresses, addresses, text,
    st.one_of(st.none(), st.builds(lambda d: datetime(d.year, d.month, d.day, tzinfo=timezone.utc), days)),
))
docs = st.one_of(st.none(), st.builds(
    lambda fields, body: SimpleNamespace(fields=fields, header_text=" ".join(f"{n}: {v}" for n, v in fields).casefold(),
                                         body=body.casefold()),
    st.lists(st.tuples(st.sampled_from(["x-tag", "subject"]), st.sampled_from(WORDS + ["Other"])), max_size=3),
    st.sampled_from(WORDS + ["", "nothing here"]),
))


@settings(max_examples=400, deadline=None)
@given(keys, messages, st.integers(1, 12), structures, docs, st.sets(st.integers(1, 12)))
def test_compiled_predicate_agrees_with_reference(key, m, seq, s, doc, saved):
    exists, top = 10, 12
    doc = doc if s is not None else None  # a message's text is only read with its structure
    match = compile_key(key, exists, top, saved, NOW)
    expected = reference(key, seq, m, s, doc, exists, top, saved)
    assert match(seq, m, s, doc) == expected
    if not uses_seq(key):
        assert match(0, m, s, doc) == expected


@settings(max_examples=300, deadline=None)
@given(keys, messages, st.integers(1, 12), structures, docs, st.sets(st.integers(1, 12)))
def test_relaxed_keys_are_safe_prefilters(key, m, seq, s, doc, saved):
    """A relaxed key matches whenever the full key does, with less loaded."""
    doc = doc if s is not None else None
    full = compile_key(key, 10, 12, saved, NOW)(seq, m, s, doc)
    without_text = compile_key(_relax(key, True, frozenset({"HEADER", "BODY", "TEXT"})), 10, 12, saved, NOW)
    without_structure = compile_key(
        _relax(key, True, frozenset({"HEADER", "BODY", "TEXT", "FROM", "TO", "CC", "BCC", "SUBJECT",
                                     "SENTBEFORE", "SENTON", "SENTSINCE"})), 10, 12, saved, NOW)
    if full:
        assert without_text(seq, m, s, None)
        assert without_structure(seq, m, None, None)


@settings(max_examples=300, deadline=None)
@given(keys, st.lists(messages, max_size=12), st.sets(st.integers(1, 12)))
def test_metadata_filter_agrees_with_reference(key, ms, saved):
    """``_filter`` (which decides flag-only keys once per flag set) keeps exactly the
    messages the key matches, in order, with nothing but metadata loaded."""
    # Message n has UID n and sequence number n. Equal flag sets are one shared object
    # for some messages (as stores hand them out) and copies for others.
    shared: dict = {}
    ms = [
        attrs.evolve(m, uid=n, flags=shared.setdefault(m.flags, m.flags) if n % 2 else frozenset(m.flags))
        for n, m in enumerate(ms, 1)
    ]
    match = compile_key(key, 10, 12, saved, NOW)
    kept = _filter(ms, match, key, lambda uid: uid)
    assert kept == [m for m in ms if reference(key, m.uid, m, None, None, 10, 12, saved)]


@given(st.lists(st.integers(0, 50)), st.integers(1, 60))
def test_plan_groups_keeps_order_and_budget(costs, budget):
    items = list(enumerate(costs))
    groups = list(bodyreads.plan_groups(items, lambda item: item[1], budget))
    assert [item for g in groups for item in g] == items
    for g in groups:
        assert g
        assert len(g) == 1 or sum(c for _, c in g) <= budget
    # Greedy: a group ends only because the next item would not fit.
    for g, nxt in zip(groups, groups[1:]):
        assert sum(c for _, c in g) + nxt[0][1] > budget


class _OldBackendMailbox:
    """A third-party mailbox written before ``read_ranges``: it only has ``read_body``
    (delegating to a real memory-store mailbox)."""

    def __init__(self, real):
        self.read_body = real.read_body


@pytest_twisted.ensureDeferred
async def test_read_ranges_falls_back_to_read_body():
    store = await open_store("memory:")
    await store.accounts.add("fallback@example.org", "!")
    inbox = await (await store.mail("fallback@example.org")).mailbox("INBOX")
    body = b"Subject: old backend\r\n\r\n" + b"0123456789" * 50
    uid = (await inbox.append(body)).uid
    ranges = [(uid, 0, 10), (uid + 5, 0, 10), (uid, 490, None), (uid, 9999, 5)]
    old = await read_ranges(_OldBackendMailbox(inbox), ranges)
    assert old == await inbox.read_ranges(ranges) == [body[:10], None, body[490:], b""]
    await store.close()
