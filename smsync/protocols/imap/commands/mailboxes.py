"""Folder commands: CREATE (CREATE-SPECIAL-USE), DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE,
LIST (LIST-EXTENDED, LIST-STATUS, SPECIAL-USE, CHILDREN), LSUB, STATUS (STATUS=SIZE)
and the read-only QUOTA commands (RFC 9208)."""

from __future__ import annotations

import re

from smsync.errors import NotFound, PermissionDenied
from smsync.model import MAILBOX_SEPARATOR, UIDSet
from smsync.protocols.imap import encode, listing, objectid, recent, shared, subscriptions
from smsync.protocols.imap.commands import AUTH, CommandBad, Reply, acl, command
from smsync.protocols.imap.listing import ROLE_ATTRS

ATTR_ROLES = {v.lower(): k for k, v in ROLE_ATTRS.items()}
_STATUS_ITEMS = frozenset(
    {"MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "HIGHESTMODSEQ", "SIZE", "DELETED", "APPENDLIMIT",
     "MAILBOXID"}
)


def _clean_name(conn, raw: bytes) -> str:
    name = conn.session.decode_mailbox(raw)
    # RFC 3501 6.3.3: a trailing separator only says the client means to create children.
    return name.rstrip(MAILBOX_SEPARATOR) or name


@command("CREATE", AUTH)
async def create(conn, cmd):
    name = _clean_name(conn, cmd.args.mailbox)
    if name.upper() == "INBOX":
        return Reply("NO", "INBOX always exists", "ALREADYEXISTS")
    role = None
    for use in cmd.args.special_use:
        if use.lower() not in ATTR_ROLES or role is not None:
            return Reply("NO", f"cannot create a folder for {use}", "USEATTR")
        role = ATTR_ROLES[use.lower()]
    session = conn.session
    mail = session.mail
    session.own_change()
    before = {e.name for e in await mail.list_mailboxes()}
    entry = await mail.create_mailbox(name, role)
    # RFC 3501 6.3.9: LSUB answers the names the user subscribed. The store subscribes
    # a new folder (so one made on a phone or in Outlook shows in clients that list
    # subscribed folders only); one made by CREATE, and the parents it implied, are
    # the IMAP client's to subscribe, which clients do after creating.
    for e in await mail.list_mailboxes():
        if e.name not in before and (e.name == entry.name or entry.name.startswith(e.name + MAILBOX_SEPARATOR)):
            await mail.subscribe(e.name, False)
    # A name that stayed subscribed when its folder was deleted is subscribed again.
    if await subscriptions.forget(session.store, session.account, name):
        await mail.subscribe(name, True)
    # RFC 8474 4.1: "MUST include the MAILBOXID response code in the tagged OK response
    # to all successful CREATE commands".
    return Reply("OK", "CREATE completed", "MAILBOXID (%s)" % objectid.mailbox_id(entry.id))


@command("DELETE", AUTH)
async def delete(conn, cmd):
    name = _clean_name(conn, cmd.args.mailbox)
    if name == "INBOX":
        return Reply("NO", "INBOX cannot be deleted", "CANNOT")
    session = conn.session
    sel = session.selected
    session.own_change()
    subscribed = any(e.name == name and e.subscribed for e in await session.mail.list_mailboxes())
    await session.mail.delete_mailbox(name)
    if sel is not None and sel.name == name:
        session.selected = None
    if subscribed:
        # RFC 3501 6.3.6: the subscription outlives the folder.
        await subscriptions.keep(session.store, session.account, name)


@command("RENAME", AUTH)
async def rename(conn, cmd):
    mail = conn.session.mail
    conn.session.own_change()
    old = _clean_name(conn, cmd.args.old)
    new = _clean_name(conn, cmd.args.new)
    if old == "INBOX":
        # RFC 3501 6.3.5: renaming INBOX moves its messages to a new folder and leaves
        # INBOX empty.
        await mail.create_mailbox(new)
        inbox = await mail.mailbox("INBOX")
        await inbox.move(UIDSet.all(), new)
        return None
    await mail.rename_mailbox(old, new)
    sel = conn.session.selected
    if sel is not None and (sel.name == old or sel.name.startswith(old + MAILBOX_SEPARATOR)):
        sel.name = new + sel.name[len(old):]


@command("SUBSCRIBE", AUTH)
async def subscribe(conn, cmd):
    session = conn.session
    name = _clean_name(conn, cmd.args.mailbox)
    session.own_change()
    try:
        await session.mail.subscribe(name, True)
    except NotFound:
        # Still subscribed from before its folder was deleted: nothing to change.
        if name not in await subscriptions.lost(session.store, session.account):
            raise


@command("UNSUBSCRIBE", AUTH)
async def unsubscribe(conn, cmd):
    session = conn.session
    name = _clean_name(conn, cmd.args.mailbox)
    session.own_change()
    try:
        await session.mail.subscribe(name, False)
    except NotFound:
        # Unsubscribing a folder that no longer exists is what clients do to clean up.
        pass
    await subscriptions.forget(session.store, session.account, name)


def pattern_regex(pattern: str) -> re.Pattern:
    """A regex for a LIST pattern: ``*`` any characters, ``%`` any but the separator."""
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "%":
            out.append("[^/]*")
        else:
            out.append(re.escape(ch))
    text = "".join(out)
    # INBOX is case-insensitive wherever the pattern spells it.
    if pattern[:5].upper() == "INBOX":
        text = "(?i:INBOX)" + "".join(out[5:])
    return re.compile(text + r"\Z", re.DOTALL)


def _matches(regexes, name: str) -> bool:
    return any(r.match(name) for r in regexes)


def _matcher(session, args):
    """Whether a folder name is one a LIST or LSUB's reference and pattern(s) name; None
    for the hierarchy separator query (a lone empty pattern, not in extended syntax)."""
    reference = session.decode_mailbox(args.reference) if args.reference else ""
    patterns = [session.decode_mailbox(p) if p else "" for p in args.patterns]
    if len(patterns) == 1 and patterns[0] == "" and not args.extended:
        return None
    regexes = [pattern_regex(reference + p) for p in patterns if p or reference]
    return lambda name: _matches(regexes, name)


@command("LIST", AUTH)
async def list_(conn, cmd):
    session = conn.session
    args = cmd.args
    select_opts = frozenset(args.select_opts)
    return_opts = frozenset(args.return_opts)
    unknown = (select_opts - listing.SELECT_OPTIONS) | (return_opts - listing.RETURN_OPTIONS)
    if unknown:
        raise CommandBad(f"unknown LIST option {sorted(unknown)[0]}")
    if "RECURSIVEMATCH" in select_opts and not (select_opts - {"RECURSIVEMATCH", "REMOTE"}):
        raise CommandBad("RECURSIVEMATCH needs another selection option")
    matches = _matcher(session, args)
    if matches is None:
        # The hierarchy separator query (RFC 5258 3: never for an extended LIST).
        conn.untagged(b'LIST (\\Noselect) "/" ""')
        return None
    lost = await subscriptions.lost(session.store, session.account) if "SUBSCRIBED" in select_opts else ()
    found = listing.list_mailboxes(await session.mail.list_mailboxes(), lost, matches,
                                   select_opts, return_opts, args.extended)
    status_items = args.status_items if "STATUS" in return_opts else ()
    for item in found:
        line = encode.mailbox_list_line(b"LIST", item.attrs, session.encode_mailbox(item.name),
                                        listing.childinfo_item(item.childinfo))
        conn.untagged(line)
        if status_items and item.exists:
            try:
                mailbox = await session.mail.mailbox(item.name)
                await _status_response(conn, mailbox, item.name, status_items)
            except (NotFound, PermissionDenied):
                # RFC 5819 2: no STATUS for a folder whose status cannot be had.
                pass
        if "MYRIGHTS" in return_opts and _selected(item, select_opts):
            # RFC 8440 3: after its LIST line, for a listed folder the selection
            # options pick (not one listed only for its children).
            await acl.myrights_after_list(conn, item.name)
    return None


def _selected(item: listing.Listed, select_opts: frozenset) -> bool:
    """Whether LIST answers ``item`` because it meets the selection criteria."""
    if not item.exists:
        return False
    if "SUBSCRIBED" in select_opts and "\\Subscribed" not in item.attrs:
        return False
    if "SPECIAL-USE" in select_opts and not set(item.attrs) & set(ROLE_ATTRS.values()):
        return False
    return True


@command("LSUB", AUTH)
async def lsub(conn, cmd):
    session = conn.session
    matches = _matcher(session, cmd.args)
    if matches is None:
        # The hierarchy separator query.
        conn.untagged(b'LSUB (\\Noselect) "/" ""')
        return None
    lost = await subscriptions.lost(session.store, session.account)
    for item in listing.lsub(await session.mail.list_mailboxes(), lost, matches):
        conn.untagged(encode.mailbox_list_line(b"LSUB", item.attrs, session.encode_mailbox(item.name)))
    return None


@command("STATUS", AUTH)
async def status(conn, cmd):
    name = conn.session.decode_mailbox(cmd.args.mailbox)
    bad = [i for i in cmd.args.items if i not in _STATUS_ITEMS]
    if bad:
        raise CommandBad(f"unknown STATUS item {bad[0]}")
    mailbox = await conn.session.mail.mailbox(name)
    if "HIGHESTMODSEQ" in cmd.args.items:
        conn.session.enable_condstore()
    await _status_response(conn, mailbox, name, cmd.args.items)


async def _status_response(conn, mailbox, name: str, items) -> None:
    info = await mailbox.info()
    values = []
    for item in items:
        if item == "MESSAGES":
            v = info.exists
        elif item == "RECENT":
            v = await recent.count(conn.session.store, mailbox, info.uidnext)
        elif item == "UIDNEXT":
            v = info.uidnext
        elif item == "UIDVALIDITY":
            v = info.uidvalidity
        elif item == "UNSEEN":
            v = info.unseen
        elif item == "HIGHESTMODSEQ":
            v = info.highestmodseq
        elif item == "SIZE":
            v = info.size
        elif item == "APPENDLIMIT":
            v = conn.config.append_limit
        elif item == "MAILBOXID":
            v = "(%s)" % objectid.mailbox_id(info.id)
        else:  # DELETED
            v = sum(1 for m in await mailbox.messages() if "\\Deleted" in m.flags)
        values.append(f"{item} {v}".encode())
    conn.untagged(b"STATUS " + conn.session.encode_mailbox(name) + b" (" + b" ".join(values) + b")")


async def _limit_kb(conn):
    """The account's storage limit in KiB (its own quota, else the server's), or None."""
    quotas = getattr(conn.factory.edge, "quotas", None)
    limit = await quotas.limit(conn.session.account) if quotas is not None else None
    if limit is not None:
        return (limit + 1023) // 1024
    return conn.config.quota_storage_kb


async def _quota(conn, limit_kb: int) -> bytes:
    used = 0
    # The account's own folders: those others share with it count in their quota.
    mail = shared.personal(conn.session.mail)
    for e in await mail.list_mailboxes():
        try:
            used += (await (await mail.mailbox(e.name)).info()).size
        except NotFound:
            continue
    return b'QUOTA "" (STORAGE %d %d)' % ((used + 1023) // 1024, limit_kb)


@command("GETQUOTAROOT", AUTH)
async def getquotaroot(conn, cmd):
    name = conn.session.decode_mailbox(cmd.args.mailbox)
    await conn.session.mail.mailbox(name)
    encoded = conn.session.encode_mailbox(name)
    limit_kb = await _limit_kb(conn)
    if limit_kb is None:
        conn.untagged(b"QUOTAROOT " + encoded)
        return None
    conn.untagged(b'QUOTAROOT ' + encoded + b' ""')
    conn.untagged(await _quota(conn, limit_kb))


@command("GETQUOTA", AUTH)
async def getquota(conn, cmd):
    limit_kb = await _limit_kb(conn) if cmd.args.mailbox == b"" else None
    if limit_kb is None:
        return Reply("NO", "no such quota root", "NONEXISTENT")
    conn.untagged(await _quota(conn, limit_kb))
