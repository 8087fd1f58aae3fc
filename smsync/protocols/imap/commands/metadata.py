"""GETMETADATA and SETMETADATA (RFC 5464): annotations on the server (mailbox ``""``)
and on folders, kept by the store's ``IAnnotations``; which entries live where is in
``smsync.protocols.imap.metadata``.

Access (RFC 5464 3.3, with ACL): a folder's entries may be read and set by an account
with "l" and one of "r", "s", "w", "i", "p" on it -- every account on its own folders.
Setting a ``/shared`` entry of a folder someone else owns also takes "w", since every
user of the folder sees it. Unsolicited METADATA responses are not sent (4.1 makes them
optional), so ENABLE METADATA turns nothing on.
"""

from __future__ import annotations

from smsync.protocols.imap import encode, metadata, shared
from smsync.protocols.imap.commands import AUTH, CommandBad, Reply, command

_NO_STORE = Reply("NO", "this server keeps no annotations", "CANNOT")


def _entries(raw_names, to_set: bool = False) -> list[str]:
    try:
        return [metadata.entry_name(raw, to_set) for raw in raw_names]
    except metadata.BadEntry as e:
        raise CommandBad(str(e)) from None


async def _folder(conn, name: str):
    """The ``Access`` of folder ``name`` if the session may use its annotations."""
    access = await shared.access(conn.session.mail, name)
    have = access.rights
    if "l" not in have or not any(ch in have for ch in "rswip"):
        raise shared.denied(have, "r", name)
    return access


def _value(value: bytes, utf8: bool) -> bytes:
    if b"\x00" in value:
        return encode.literal(value, binary=True)  # RFC 5464 5: value = nstring / literal8
    return encode.string(value, utf8)


@command("GETMETADATA", AUTH)
async def getmetadata(conn, cmd):
    session = conn.session
    args = cmd.args
    asked = _entries(args.entries)
    store = shared.annotations_of(session.store)
    if store is None:
        return _NO_STORE
    if args.mailbox == b"":
        label = b'""'
        stored = await store.get(session.account, "")
    else:
        name = session.decode_mailbox(args.mailbox)
        access = await _folder(conn, name)
        label = session.encode_mailbox(name)
        stored = {}
        if any(metadata.is_private(e) for e in asked):
            mine = await store.get(session.account, access.folder_id)
            stored.update({k: v for k, v in mine.items() if metadata.is_private(k)})
        if not all(metadata.is_private(e) for e in asked):
            owners = await store.get(access.owner, access.folder_id)
            stored.update({k: v for k, v in owners.items() if not metadata.is_private(k)})
    found, longest = metadata.within(metadata.wanted(stored, asked, args.depth), args.maxsize)
    if found:
        items = [encode.astring(entry) + b" " + (b"NIL" if value is None else _value(value, session.utf8))
                 for entry, value in found]
        conn.untagged(b"METADATA " + label + b" (" + b" ".join(items) + b")")
    if longest is not None:
        # RFC 5464 4.2.1: "the size of the biggest entry value requested by the client
        # that exceeded the MAXSIZE limit".
        return Reply("OK", "GETMETADATA completed", "METADATA LONGENTRIES %d" % longest)
    return None


@command("SETMETADATA", AUTH)
async def setmetadata(conn, cmd):
    session = conn.session
    entries = _entries([entry for entry, _ in cmd.args.values], to_set=True)
    changes = dict(zip(entries, (value for _, value in cmd.args.values)))
    store = shared.annotations_of(session.store)
    if store is None:
        return _NO_STORE
    for entry, value in changes.items():
        if value is not None and len(value) > metadata.MAX_VALUE:
            return Reply("NO", "value too large", "METADATA MAXSIZE %d" % metadata.MAX_VALUE)
    # Where each change goes: (account, folder id) -> changes.
    targets: dict[tuple[str, str], dict] = {}
    if cmd.args.mailbox == b"":
        if any(entry in metadata.READ_ONLY for entry in changes):
            return Reply("NO", "/shared/admin is read-only", "CANNOT")
        targets[(session.account, "")] = changes
    else:
        access = await _folder(conn, session.decode_mailbox(cmd.args.mailbox))
        for entry, value in changes.items():
            if metadata.is_private(entry):
                key = (session.account, access.folder_id)
            else:
                if access.shared and "w" not in access.rights:
                    raise shared.denied(access.rights, "w", access.name)
                key = (access.owner, access.folder_id)
            targets.setdefault(key, {})[entry] = value
    # RFC 5464 4.3: when one fails, none changes -- so every limit is checked first.
    for (account, folder_id), wanted in targets.items():
        if metadata.too_many(await store.get(account, folder_id), wanted):
            return Reply("NO", "too many annotations", "METADATA TOOMANY")
    for (account, folder_id), wanted in targets.items():
        await store.set(account, folder_id, wanted)
    return None
