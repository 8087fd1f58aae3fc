"""SORT (RFC 5256, RFC 5957 DISPLAY) and THREAD (ORDEREDSUBJECT, REFERENCES).

Pure functions over ``(number, MessageInfo, MessageStructure)`` triples; ``number`` is
what the answer lists (sequence number or UID).
"""

from __future__ import annotations

import re
from datetime import timezone
from typing import Optional

from smsync.formats.collation import unicode_casemap
from smsync.formats.headers import decode_words

_SUBJ_BLOB = r"\[[^\[\]]*\]"
_LEADER = re.compile(r"^\s*(?:" + _SUBJ_BLOB + r"\s*)*(?:re|fwd?)\s*(?:" + _SUBJ_BLOB + r")?\s*:", re.I)
_BLOB_PREFIX = re.compile(r"^\s*" + _SUBJ_BLOB + r"\s*")
_TRAILER = re.compile(r"\s*\(fwd\)\s*$", re.I)
_FWD_WRAP = re.compile(r"^\[fwd:\s*(.*)\]$", re.I | re.S)


def base_subject(subject: Optional[str]) -> str:
    """The RFC 5256 section 2.1 base subject: no Re:/Fwd: leaders, [blob]s or (fwd)
    trailers, whitespace collapsed, in the form two subjects compare equal by under
    i;unicode-casemap (section 7: "the SORT and THREAD extensions MUST collate strings
    according to the i;unicode-casemap collation", I18NLEVEL=1)."""
    return _extract_subject(subject)[0]


def is_reply_or_forward(subject: Optional[str]) -> bool:
    """Whether extracting the base subject removed a Re:/Fwd: leader, a (fwd) trailer or
    a [fwd: ...] wrapper (RFC 5256 section 2.1, used by REFERENCES step 5)."""
    return _extract_subject(subject)[1]


def _extract_subject(subject: Optional[str]) -> tuple[str, bool]:
    s = " ".join((subject or "").split())
    reply = False
    while True:
        while True:
            t = _TRAILER.sub("", s)
            if t == s:
                break
            s, reply = t, True
        while True:
            t = _LEADER.sub("", s, count=1)
            if t != s:
                reply = True
            else:
                m = _BLOB_PREFIX.match(s)
                if m and s[m.end():].strip():
                    t = s[m.end():]
            if t == s:
                break
            s = t.strip()
        m = _FWD_WRAP.match(s)
        if m:
            s, reply = m.group(1).strip(), True
            continue
        break
    return unicode_casemap(s), reply


def _first_mailbox(addresses) -> str:
    """RFC 5256 FROM/TO/CC: the addr-mailbox of the first address."""
    for a in addresses or ():
        if a.mailbox is not None:
            return unicode_casemap(a.mailbox)
    return ""


def _display(addresses) -> str:
    """RFC 5957 section 3, the DISPLAY sort value of the first address: its addr-name
    with RFC 2047 encoded-words decoded, unless that is empty; else addr-mailbox@addr-host;
    else addr-mailbox; else the empty string (also for no address at all)."""
    if not addresses:
        return ""
    a = addresses[0]
    name = decode_words(a.name) if a.name is not None else ""
    if name:
        value = name
    elif a.mailbox is not None and a.host is not None:
        value = f"{a.mailbox}@{a.host}"
    else:
        value = a.mailbox or ""
    return unicode_casemap(value)


def _sent(info, st):
    date = st.date if st is not None and st.date is not None else info.internal_date
    if date.tzinfo is None:
        date = date.replace(tzinfo=timezone.utc)
    return date


def _sort_value(crit: str, number: int, info, st):
    env = st.envelope if st is not None else None
    if crit == "ARRIVAL":
        return info.internal_date
    if crit == "DATE":
        return _sent(info, st)
    if crit == "SIZE":
        return info.size
    if crit == "SUBJECT":
        # RFC 5256 7: strings collate by i;unicode-casemap.
        return base_subject(st.subject if st is not None else "")
    if env is None:
        return ""
    if crit == "FROM":
        return _first_mailbox(env.from_)
    if crit == "TO":
        return _first_mailbox(env.to)
    if crit == "CC":
        return _first_mailbox(env.cc)
    if crit == "DISPLAYFROM":
        return _display(env.from_)
    if crit == "DISPLAYTO":
        return _display(env.to)
    return ""


def sort_messages(items, criteria) -> list[int]:
    """Numbers of ``items`` ordered by ``criteria`` ((reverse, key) pairs), ties broken by
    number as RFC 5256 requires."""
    ordered = sorted(items, key=lambda it: it[0])
    for reverse, crit in reversed(criteria):
        ordered.sort(key=lambda it: _sort_value(crit, *it), reverse=reverse)
    return [it[0] for it in ordered]


# ---------------------------------------------------------------------------------------
# THREAD


class _Node:
    __slots__ = ("item", "parent", "children", "msgid")

    def __init__(self, msgid: str):
        self.msgid = msgid
        self.item = None
        self.parent: Optional[_Node] = None
        self.children: list[_Node] = []

    def ancestors_include(self, other: "_Node") -> bool:
        node = self
        while node is not None:
            if node is other:
                return True
            node = node.parent
        return False

    def first_date(self):
        if self.item is not None:
            return _sent(self.item[1], self.item[2]), self.item[0]
        dates = [c.first_date() for c in self.children]
        return min(dates) if dates else (None, 0)


def _link(parent: _Node, child: _Node) -> None:
    if child.parent is not None or parent.ancestors_include(child) or parent is child:
        return
    child.parent = parent
    parent.children.append(child)


def thread_references(items) -> list:
    """RFC 5256 REFERENCES threading of ``items``; returns a nested structure for
    ``format_threads``: each thread is (number or None, [child threads])."""
    nodes: dict[str, _Node] = {}
    for n, (number, info, st) in enumerate(items):
        msgid = (st.message_id if st is not None else None) or f"<smsync-nomsgid-{number}>"
        node = nodes.get(msgid)
        if node is None or node.item is not None:
            if node is not None:
                msgid = f"{msgid}-dup-{number}"
            node = nodes.setdefault(msgid, _Node(msgid))
        node.item = (number, info, st)
        refs = list(st.references) if st is not None and st.references else []
        if not refs and st is not None and st.in_reply_to:
            refs = [st.in_reply_to.split()[0]]
        prev = None
        for ref in refs:
            ref_node = nodes.setdefault(ref, _Node(ref))
            if prev is not None and ref_node.parent is None:
                _link(prev, ref_node)
            prev = ref_node
        if prev is not None:
            if node.parent is not None and node.parent is not prev:
                node.parent.children.remove(node)
                node.parent = None
            if node.parent is None:
                _link(prev, node)
    roots = [n for n in nodes.values() if n.parent is None]
    roots = [r for r in (_prune(r) for r in roots) for r in r]
    roots.sort(key=lambda r: r.first_date())
    return [_tree(r) for r in sorted(_gather_by_subject(roots), key=lambda r: r.first_date())]


def _item_subject(node: _Node) -> str:
    st = node.item[2]
    return (st.subject if st is not None else "") or ""


def _thread_subject(node: _Node) -> str:
    """The subject a thread is gathered by: its top message's, else its first child's."""
    if node.item is not None:
        return base_subject(_item_subject(node))
    kids = sorted(node.children, key=lambda c: c.first_date())
    return _thread_subject(kids[0]) if kids else ""


def _gather_by_subject(roots: list) -> list:
    """RFC 5256 REFERENCES step 5: threads of the same base subject whose references do
    not link them (a reply whose parent never arrived, several messages with one
    subject) are merged; returns the new root set."""
    subjects = {id(r): _thread_subject(r) for r in roots}

    def reply(node: _Node) -> bool:
        return node.item is not None and is_reply_or_forward(_item_subject(node))

    # (C) Which thread of each subject the others gather under: a dummy over a message,
    # a message that is not a reply over one that is.
    table: dict = {}
    for root in roots:
        subject = subjects[id(root)]
        if not subject:
            continue
        held = table.get(subject)
        if held is None or (held.item is not None and (root.item is None or (reply(held) and not reply(root)))):
            table[subject] = root
    # (D) Merge.
    out = list(roots)
    gone: set = set()
    for root in roots:
        subject = subjects[id(root)]
        held = table.get(subject) if subject else None
        if held is None or held is root:
            continue
        if held.item is None and root.item is None:
            # Two dummies: their children become siblings.
            for child in root.children:
                child.parent = held
                held.children.append(child)
            root.children = []
            gone.add(id(root))
        elif held.item is None or (reply(root) and not reply(held)):
            root.parent = held
            held.children.append(root)
        else:
            dummy = _Node("")
            for node in (held, root):
                node.parent = dummy
                dummy.children.append(node)
            table[subject] = dummy
            out.append(dummy)
    return [r for r in out if r.parent is None and id(r) not in gone]


def _prune(node: _Node) -> list[_Node]:
    """Remove empty containers (RFC 5256 REFERENCES step 4)."""
    kids = []
    for c in node.children:
        kids.extend(_prune(c))
    node.children = kids
    for c in kids:
        c.parent = node
    if node.item is None:
        if not kids:
            return []
        if len(kids) == 1 or node.parent is not None:
            for c in kids:
                c.parent = None
            return kids
    return [node]


def _tree(node: _Node):
    kids = sorted(node.children, key=lambda c: c.first_date())
    return (node.item[0] if node.item is not None else None, [_tree(c) for c in kids])


def thread_ordered_subject(items) -> list:
    """ORDEREDSUBJECT threading: same base subject, by sent date; the first message is
    the parent of all the others."""
    groups: dict[str, list] = {}
    for it in sorted(items, key=lambda it: (_sent(it[1], it[2]), it[0])):
        subj = base_subject(it[2].subject if it[2] is not None else "")
        groups.setdefault(subj, []).append(it)
    threads = sorted(groups.values(), key=lambda g: (_sent(g[0][1], g[0][2]), g[0][0]))
    return [(g[0][0], [(it[0], []) for it in g[1:]]) for g in threads]


def format_threads(threads) -> bytes:
    """The THREAD response body: ``(1 2)(3 (4)(5))``."""
    return b"".join(b"(" + _fmt(t) + b")" for t in threads)


def _fmt(thread) -> bytes:
    number, kids = thread
    if number is None:
        return b"".join(b"(" + _fmt(k) + b")" for k in kids)
    out = b"%d" % number
    if len(kids) == 1:
        out += b" " + _fmt(kids[0])
    elif kids:
        out += b" " + b"".join(b"(" + _fmt(k) + b")" for k in kids)
    return out
