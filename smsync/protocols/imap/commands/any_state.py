"""Commands valid in any state: CAPABILITY, NOOP, LOGOUT, ID, ENABLE, COMPRESS, STARTTLS,
NAMESPACE, and CHECK."""

from __future__ import annotations

from smsync.protocols.imap import encode, shared
from smsync.protocols.imap.commands import ANY, AUTH, NOT_AUTH, SELECTED, Reply, capabilities, command

#: What ENABLE can turn on (RFC 5161), upper case.
ENABLEABLE = frozenset({"CONDSTORE", "QRESYNC", "UTF8=ACCEPT", "IMAP4REV2"})

_SERVER_ID = (("name", "smsync"), ("vendor", "smsync"), ("support-url", "https://example.invalid/smsync"))


@command("CAPABILITY", ANY, sync_after=False)
async def capability(conn, cmd):
    conn.untagged("CAPABILITY " + " ".join(capabilities(conn)))


@command("NOOP", ANY)
async def noop(conn, cmd):
    # The point of NOOP is to be told what changed: look even without a notice, unless
    # the store's notices cover every process (then no notice is no change, and a
    # client polling with NOOP costs no store round trip).
    store = conn.session.store
    complete = store is not None and getattr(store.notifier, "sees_every_process", False)
    await conn.session.report_changes(force=not complete)


@command("CHECK", SELECTED)
async def check(conn, cmd):
    await conn.session.report_changes(force=True)


@command("LOGOUT", ANY, sync_after=False)
async def logout(conn, cmd):
    conn.untagged("BYE logging out")
    await conn.session.logout()
    conn.after_reply = conn.transport.loseConnection


@command("ID", ANY)
async def id_(conn, cmd):
    params = cmd.args.params
    conn.session.client_identified(dict(params) if params else None)
    conn.untagged(
        b"ID ("
        + b" ".join(encode.string(k) + b" " + encode.string(v) for k, v in _SERVER_ID)
        + b")"
    )


@command("ENABLE", AUTH)
async def enable(conn, cmd):
    session = conn.session
    turned_on = []
    for cap in cmd.args.capabilities:
        if cap in ENABLEABLE and cap not in session.enabled:
            if cap in ("CONDSTORE", "QRESYNC"):
                # RFC 7162 3.2.3: QRESYNC implies CONDSTORE.
                session.enable_condstore()
            session.enabled.add(cap)
            turned_on.append(cap)
            if cap == "IMAP4REV2" and session.selected is not None:
                session.selected.drop_recent()
    names = {"IMAP4REV2": "IMAP4rev2"}
    conn.untagged("ENABLED" + "".join(" " + names.get(c, c) for c in turned_on))


@command("COMPRESS", AUTH, sync_after=False)
async def compress(conn, cmd):
    if cmd.args.mechanism != "DEFLATE":
        return Reply("NO", f"unknown compression mechanism {cmd.args.mechanism}")
    if conn.compressed:
        return Reply("NO", "compression already active", "COMPRESSIONACTIVE")
    conn.after_reply = conn.start_compression
    return Reply("OK", "DEFLATE active")


@command("STARTTLS", NOT_AUTH, sync_after=False)
async def starttls(conn, cmd):
    if conn.config.tls is None or conn.tls_active:
        return Reply("NO", "TLS not available" if conn.config.tls is None else "TLS already active")
    conn.after_reply = conn.start_tls
    return Reply("OK", "begin TLS negotiation now")


@command("NAMESPACE", AUTH)
async def namespace(conn, cmd):
    # One personal namespace with "/" as the separator, and the folders other accounts
    # share under "Shared/" (RFC 2342 "Other Users' Namespace") where the store can.
    conn.untagged(shared.namespace_response(conn.session.store))
