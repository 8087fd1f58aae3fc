"""Which names a LIST or LSUB answers, with which attributes (RFC 3501 6.3.8 and 6.3.9,
RFC 5258 LIST-EXTENDED section 3, RFC 6154 SPECIAL-USE): pure functions of the folder
list, the subscriptions and the command's options.

RFC 5258 3.3 decides what is listed: "There are only two reasons for including a
matching mailbox name in the responses to the LIST command": A. it "satisfies the
selection criteria", or B. it does not, "but it has at least one descendant mailbox name
that satisfies the selection criteria and that doesn't match the canonical LIST
pattern" -- which, with RECURSIVEMATCH, is said by CHILDINFO; without it, for a name that
does not exist, by "\\NonExistent \\HasChildren" (3.5).
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional

import attrs

from smsync.model import MAILBOX_SEPARATOR, Role

ROLE_ATTRS = {
    Role.SENT: "\\Sent",
    Role.DRAFTS: "\\Drafts",
    Role.TRASH: "\\Trash",
    Role.JUNK: "\\Junk",
    Role.ARCHIVE: "\\Archive",
}

#: LIST selection and return options we know; RFC 5258 3: "A server MUST respond to
#: options it does not recognize with a BAD response."
SELECT_OPTIONS = frozenset({"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"})
RETURN_OPTIONS = frozenset({"SUBSCRIBED", "CHILDREN", "STATUS", "SPECIAL-USE", "MYRIGHTS"})
#: Selection options that restrict what is listed (RFC 5258 list-select-base-opt), in
#: the order CHILDINFO names them.
_BASE_OPTIONS = ("SUBSCRIBED", "SPECIAL-USE")


@attrs.frozen
class Listed:
    """One LIST response: the folder ``name``, its ``attrs`` and the selection options
    CHILDINFO names (empty: no CHILDINFO). ``exists``: a folder of that name exists."""

    name: str
    attrs: tuple[str, ...]
    childinfo: tuple[str, ...] = ()
    exists: bool = True


def _ancestors(name: str) -> Iterable[str]:
    parts = name.split(MAILBOX_SEPARATOR)
    for i in range(1, len(parts)):
        yield MAILBOX_SEPARATOR.join(parts[:i])


def list_mailboxes(entries, lost_subscriptions: Iterable[str], matches: Callable[[str], bool],
                   select_opts: frozenset, return_opts: frozenset, extended: bool) -> list[Listed]:
    """The LIST responses, in name order, for folders ``entries`` (``MailboxEntry``) and
    the subscribed names no folder has (``lost_subscriptions``), whose names ``matches``
    says the canonical LIST pattern(s) match. ``extended``: the command used RFC 5258
    syntax (a name that does not exist is then ``\\NonExistent``, else ``\\Noselect``)."""
    folders = {e.name: e for e in entries}
    subscribed = {e.name for e in entries if e.subscribed} | set(lost_subscriptions)
    by_subscription = "SUBSCRIBED" in select_opts
    special_use = "SPECIAL-USE" in select_opts
    recursive = "RECURSIVEMATCH" in select_opts

    def meets(name: str) -> bool:
        folder = folders.get(name)
        if by_subscription:
            ok = name in subscribed
        else:
            ok = folder is not None
        if special_use:
            ok = ok and folder is not None and folder.role in ROLE_ATTRS
        return ok

    names = set(folders) | subscribed
    has_children: set[str] = set()  # an existing folder below them
    meeting_below: set[str] = set()  # a descendant meeting the selection criteria...
    unlisted_below: set[str] = set()  # ...that the patterns do not match
    for name in list(names):
        is_folder = name in folders
        meeting = meets(name)
        unlisted = meeting and not matches(name)
        for parent in _ancestors(name):
            names.add(parent)
            if is_folder:
                has_children.add(parent)
            if meeting:
                meeting_below.add(parent)
            if unlisted:
                unlisted_below.add(parent)
    criteria = tuple(o for o in _BASE_OPTIONS if o in select_opts)
    show_subscribed = by_subscription or "SUBSCRIBED" in return_opts
    out = []
    for name in sorted(names):
        if not matches(name):
            continue
        exists = name in folders
        childinfo: tuple[str, ...] = ()
        if meets(name):
            # RFC 5258 5, example 9: a listed name with subscribed children carries
            # CHILDINFO, whether or not they are listed too.
            if recursive and name in meeting_below:
                childinfo = criteria
        elif recursive and name in unlisted_below:
            childinfo = criteria
        elif not criteria and not exists and name in unlisted_below:
            pass  # 3.5: a missing parent of folders the pattern does not reach
        else:
            continue
        out.append(Listed(name, _attrs(name, folders.get(name), name in has_children, name in subscribed,
                                       show_subscribed, return_opts, extended), childinfo, exists))
    return out


def lsub(entries, lost_subscriptions: Iterable[str], matches: Callable[[str], bool]) -> list[Listed]:
    """The LSUB responses (RFC 3501 6.3.9), in name order, for folders ``entries`` and
    the subscribed names no folder has (``lost_subscriptions``): every subscribed name
    ``matches`` accepts -- one whose folder is gone ``\\Noselect``, as 6.3.6 keeps it
    subscribed -- and, of a subscribed name it does not accept, the unsubscribed
    ancestors it does, ``\\Noselect``: "if "foo/bar" is subscribed but "foo" is not, a
    "%" wildcard to LSUB must return foo, not foo/bar, in the LSUB response, and it MUST
    be flagged with the \\Noselect attribute"."""
    folders = {e.name for e in entries}
    subscribed = {e.name for e in entries if e.subscribed} | set(lost_subscriptions)
    found: dict[str, tuple[str, ...]] = {}
    for name in subscribed:
        if matches(name):
            found[name] = () if name in folders else ("\\Noselect",)
            continue
        for parent in _ancestors(name):
            if parent not in subscribed and matches(parent):
                found[parent] = ("\\Noselect",)
    return [Listed(name, found[name], (), name in folders) for name in sorted(found)]


def _attrs(name: str, folder, has_children: bool, subscribed: bool, show_subscribed: bool,
           return_opts: frozenset, extended: bool) -> tuple[str, ...]:
    out = []
    if has_children:
        out.append("\\HasChildren")
    elif folder is not None or "CHILDREN" in return_opts:
        out.append("\\HasNoChildren")
    if folder is not None and folder.role in ROLE_ATTRS:
        out.append(ROLE_ATTRS[folder.role])
    if show_subscribed and subscribed:
        out.append("\\Subscribed")
    if folder is None:
        # RFC 5258 3: "The "\NonExistent" attribute implies "\NoSelect"" -- for clients
        # of LIST-EXTENDED; a plain LIST says \Noselect as RFC 3501 6.3.8 does.
        out.append("\\NonExistent" if extended else "\\Noselect")
    return tuple(out)


def childinfo_item(criteria: tuple[str, ...]) -> Optional[bytes]:
    """The CHILDINFO extended data item naming ``criteria`` (RFC 5258 6: "The selection
    options are always returned quoted"), or None for none."""
    if not criteria:
        return None
    return b'("CHILDINFO" (' + b" ".join(b'"%s"' % c.encode() for c in criteria) + b"))"
