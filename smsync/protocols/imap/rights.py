"""IMAP ACL rights (RFC 4314 section 2): what the letters mean, how a folder's access
control list gives one user theirs, and which flags and answers they allow.

Pure functions over strings. The store keeps each entry's rights as given
(``IFolderSharing``); they are always the standard letters in ``ALL``, since SETACL
expands the virtual ``c`` and ``d`` before storing.

How entries combine is implementation-defined (2): here a user gets the union of the
rights of the entries naming them and ``anyone``, less the union of those of
``-user`` and ``-anyone`` (negative rights). No rights are tied together. A folder's
owner always has every right, whatever its list says.
"""

from __future__ import annotations

from typing import Iterable

#: Every standard right, in the order answers list them (2.1).
ALL = "lrswipkxtea"
#: The virtual rights of RFC 2086 (2.1.1), as this server expands them: "create" is
#: "k" and "delete" is "x", "t" and "e" (the second group of 2.1.1).
VIRTUAL = {"c": "k", "d": "xte"}
#: The rights RFC 4314 added to RFC 2086's, for the RIGHTS= capability (5.1.1).
NEW_RIGHTS = "texk"
#: The identifier every user matches.
ANYONE = "anyone"


class BadRights(ValueError):
    """Rights a client sent that are not ours to grant: answered with BAD (3.1)."""


def expand(text: str) -> set[str]:
    """The standard rights ``text`` (a SETACL rights string, without its +/- prefix)
    names, virtual rights expanded.

    Raises:
        BadRights: an upper-case letter or a right this server does not know; RFC 4314
            3.1: "an unrecognized right MUST cause the command to return the BAD
            response".
    """
    out: set[str] = set()
    for ch in text:
        if ch in ALL:
            out.add(ch)
        elif ch in VIRTUAL:
            out.update(VIRTUAL[ch])
        elif "A" <= ch <= "Z":
            raise BadRights("upper-case rights are not allowed")
        else:
            raise BadRights(f"the {ch!r} right is not supported")
    return out


def canonical(rights: Iterable[str]) -> str:
    """The standard rights in ``rights``, in ``ALL``'s order."""
    have = set(rights)
    return "".join(ch for ch in ALL if ch in have)


def shown(rights: str) -> str:
    """``rights`` as ACL and MYRIGHTS answers show them: with "c" when any member of
    "create" is there and "d" when any member of "delete" is (2.1.1)."""
    out = canonical(rights)
    for virtual, members in VIRTUAL.items():
        if any(ch in rights for ch in members):
            out += virtual
    return out


def effective(acl: dict[str, str], user: str) -> str:
    """The rights ``user`` has from ``acl`` (identifier -> rights), as the module
    docstring says they combine."""
    granted = set(acl.get(user, "")) | set(acl.get(ANYONE, ""))
    denied = set(acl.get("-" + user, "")) | set(acl.get("-" + ANYONE, ""))
    return canonical(granted - denied)


def flag_right(flag: str) -> str:
    """The right that setting or clearing ``flag`` takes (section 4): "s" for \\Seen,
    "t" for \\Deleted, "w" for every other flag."""
    lowered = flag.lower()
    if lowered == "\\seen":
        return "s"
    if lowered == "\\deleted":
        return "t"
    return "w"


def may_set(flag: str, rights: str) -> bool:
    return flag_right(flag) in rights


def read_write(rights: str) -> bool:
    """SELECT answers READ-WRITE with one of "i", "e" or a flag right ("s", "w",
    "t"), READ-ONLY with none (5.2)."""
    return any(ch in rights for ch in "iestw")


def permanent_flags(system_flags: Iterable[str], rights: str) -> tuple[str, ...]:
    """The PERMANENTFLAGS of a folder selected with ``rights``: "Any server
    implementing an ACL extension MUST accurately reflect the current user's rights in
    FLAGS and PERMANENTFLAGS responses" (5.1.1). Keywords (``\\*``) take "w"."""
    out = tuple(f for f in system_flags if may_set(f, rights))
    return out + ("\\*",) if "w" in rights else out
