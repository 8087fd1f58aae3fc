"""The ACL commands (RFC 4314 3): SETACL, DELETEACL, GETACL, LISTRIGHTS, MYRIGHTS, and
the MYRIGHTS answers of ``LIST ... RETURN (MYRIGHTS)`` (RFC 8440).

An access control list is kept by the store (``IFolderSharing``) for a folder of its
owner. Identifiers are ``anyone`` and the accounts of the owner's domain, either with
a leading ``-`` for negative rights; the owner has every right and no entry. How the
rights combine is in ``smsync.protocols.imap.rights``, what each command takes in
``smsync.protocols.imap.shared``.
"""

from __future__ import annotations

from smsync.errors import NotFound, PermissionDenied
from smsync.protocols.imap import encode, rights, shared
from smsync.protocols.imap.commands import AUTH, CommandBad, Reply, command


def _account(text: str) -> str:
    """An account name as the store spells it (lower case); the store says whether
    there is such an account."""
    return text.strip().lower()


def _identifier(raw: bytes) -> str:
    """The identifier as the client sent it, as text (RFC 4314 3: one that cannot be
    prepared, or is empty, is a BAD)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandBad("identifiers are UTF-8") from None
    if not text.strip() or any(ord(ch) < 0x20 for ch in text):
        raise CommandBad("bad identifier")
    return text


async def _admin_access(conn, cmd):
    """The folder a SETACL, DELETEACL, GETACL or LISTRIGHTS names, whose "a" right
    they all take (RFC 4314 4)."""
    session = conn.session
    access = await shared.access(session.mail, session.decode_mailbox(cmd.args.mailbox))
    if "a" not in access.rights:
        raise shared.denied(access.rights, "a", access.name)
    return access


async def _entry_identifier(conn, access, text: str):
    """The identifier of an entry of ``access``'s list, as the store keeps it
    (lower-case account or ``anyone``, ``-`` kept), or a NO ``Reply`` saying why not."""
    negative = text.startswith("-")
    base = text[1:] if negative else text
    if base.lower() == rights.ANYONE:
        return ("-" if negative else "") + rights.ANYONE
    account = _account(base)
    if "@" not in account:
        return Reply("NO", f"{base!r} is not an account name", "CANNOT")
    if account == access.owner:
        return Reply("NO", "the owner always has every right", "CANNOT")
    if account.rpartition("@")[2] != access.owner.rpartition("@")[2]:
        return Reply("NO", "folders are shared within their owner's domain only", "CANNOT")
    if await conn.session.store.accounts.password_hash(account) is None:
        return Reply("NO", f"no account {account} in this domain", "CANNOT")
    return ("-" if negative else "") + account


_NO_LISTS = Reply("NO", "this server keeps no access control lists", "CANNOT")


@command("SETACL", AUTH)
async def setacl(conn, cmd):
    mod = cmd.args.rights.decode("ascii", "replace")
    op = mod[:1] if mod[:1] in ("+", "-") else ""
    try:
        asked = rights.expand(mod[len(op):])
    except rights.BadRights as e:
        raise CommandBad(str(e)) from None
    text = _identifier(cmd.args.identifier)
    access = await _admin_access(conn, cmd)
    sharing = shared.sharing_of(conn.session.store)
    if sharing is None:
        return _NO_LISTS
    identifier = await _entry_identifier(conn, access, text)
    if isinstance(identifier, Reply):
        return identifier
    current = set((await sharing.get(access.owner, access.folder_id)).get(identifier, ""))
    new = current | asked if op == "+" else current - asked if op == "-" else asked
    await sharing.set(access.owner, access.folder_id, identifier, rights.canonical(new) or None)
    return None


@command("DELETEACL", AUTH)
async def deleteacl(conn, cmd):
    text = _identifier(cmd.args.identifier)
    access = await _admin_access(conn, cmd)
    sharing = shared.sharing_of(conn.session.store)
    if sharing is None:
        return _NO_LISTS
    negative = text.startswith("-")
    base = _account(text[1:] if negative else text)
    if base == access.owner:
        return Reply("NO", "the owner always has every right", "CANNOT")
    await sharing.set(access.owner, access.folder_id, ("-" if negative else "") + base, None)
    return None


@command("GETACL", AUTH)
async def getacl(conn, cmd):
    access = await _admin_access(conn, cmd)
    sharing = shared.sharing_of(conn.session.store)
    entries = await sharing.get(access.owner, access.folder_id) if sharing is not None else {}
    parts = [encode.astring(access.owner), rights.shown(rights.ALL).encode()]
    for identifier in sorted(entries):
        parts += [encode.astring(identifier), encode.astring(rights.shown(entries[identifier]))]
    conn.untagged(b"ACL " + conn.session.encode_mailbox(access.name) + b" " + b" ".join(parts))


@command("LISTRIGHTS", AUTH)
async def listrights(conn, cmd):
    text = _identifier(cmd.args.identifier)
    access = await _admin_access(conn, cmd)
    if _account(text) == access.owner:
        # The owner is always granted everything, and nothing more can be.
        answer = [rights.shown(rights.ALL).encode()]
    else:
        # Nothing is granted always and no rights are tied: each may be given alone
        # (with the virtual "c" and "d", RFC 4314 2.1.1).
        answer = [b'""'] + [ch.encode() for ch in rights.ALL + "".join(rights.VIRTUAL)]
    # RFC 4314 3.4: "MUST always return the same form of an identifier as specified
    # by the client".
    conn.untagged(b"LISTRIGHTS " + conn.session.encode_mailbox(access.name) + b" "
                  + encode.astring(cmd.args.identifier) + b" " + b" ".join(answer))


async def _myrights(conn, name: str) -> bytes:
    access = await shared.access(conn.session.mail, name)
    # RFC 4314 4: MYRIGHTS takes any of "l", "r", "i", "k", "x", "a"; without one it
    # answers as for a folder that does not exist (6).
    if not any(ch in access.rights for ch in "lrikxa"):
        raise NotFound(f"no folder {name!r}")
    return (b"MYRIGHTS " + conn.session.encode_mailbox(name) + b" "
            + rights.shown(access.rights).encode())


@command("MYRIGHTS", AUTH)
async def myrights(conn, cmd):
    conn.untagged(await _myrights(conn, conn.session.decode_mailbox(cmd.args.mailbox)))


async def myrights_after_list(conn, name: str) -> None:
    """The MYRIGHTS answer LIST sends after folder ``name``'s LIST line (RFC 8440 3);
    none when the rights cannot be had ("it does not send the MYRIGHTS reply")."""
    try:
        conn.untagged(await _myrights(conn, name))
    except (NotFound, PermissionDenied):
        pass
