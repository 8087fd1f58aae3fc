"""LOGIN and AUTHENTICATE (PLAIN, LOGIN; SASL-IR) through the ``twisted.cred`` portal.

Failed attempts are answered only after a delay that doubles with each failure from the
same address (``IMAPFactory.login_failed``), which makes password guessing slow without
locking the real user out.
"""

from __future__ import annotations

import base64
import binascii

from twisted.cred.credentials import UsernamePassword
from twisted.cred.error import LoginFailed, UnauthorizedLogin
from twisted.internet.task import deferLater

from smsync.interfaces import IAccountAvatar
from smsync.protocols.imap.commands import NOT_AUTH, ClientGone, Reply, capabilities, command


async def _login(conn, user: bytes, password: bytes):
    cfg = conn.config
    if cfg.require_tls_for_auth and cfg.tls is not None and not conn.tls_active:
        return Reply("NO", "use STARTTLS first", "PRIVACYREQUIRED")
    portal = conn.factory.portal
    try:
        _iface, avatar, logout = await portal.login(UsernamePassword(user, password), None, IAccountAvatar)
    except (UnauthorizedLogin, LoginFailed):
        conn.client_errors().auth_failed(user.decode("utf-8", "replace"))
        delay = conn.factory.login_failed(conn.peer_host)
        if delay > 0:
            await deferLater(conn.factory.clock, delay, lambda: None)
        return Reply("NO", "invalid credentials", "AUTHENTICATIONFAILED")
    conn.factory.login_succeeded(conn.peer_host)
    store = getattr(avatar, "store", None) or conn.factory.store
    mail = await store.mail(avatar.account)
    conn.session.logged_in(avatar.account, store, mail, logout)
    return Reply("OK", "logged in", "CAPABILITY " + " ".join(capabilities(conn)))


@command("LOGIN", NOT_AUTH, sync_after=False)
async def login(conn, cmd):
    return await _login(conn, cmd.args.user, cmd.args.password)


def _b64(data: bytes) -> bytes:
    if data == b"=":
        return b""
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None


async def _response(conn, challenge: bytes, initial=None):
    """The client's (base64-decoded) answer to a SASL challenge; None: malformed or
    cancelled."""
    if initial is not None:
        return _b64(initial)
    conn.write_line(b"+ " + base64.b64encode(challenge))
    line = (await conn.next_line()).strip()
    if line == b"*":
        return None
    return _b64(line)


@command("AUTHENTICATE", NOT_AUTH, sync_after=False)
async def authenticate(conn, cmd):
    mech = cmd.args.mechanism
    try:
        if mech == "PLAIN":
            data = await _response(conn, b"", cmd.args.initial)
            if data is None:
                return Reply("BAD", "authentication cancelled or not base64")
            fields = data.split(b"\0")
            if len(fields) != 3:
                return Reply("BAD", "malformed PLAIN response")
            authzid, user, password = fields
            if authzid and authzid.lower() != user.lower():
                return Reply("NO", "cannot act as another user", "AUTHORIZATIONFAILED")
            return await _login(conn, user, password)
        if mech == "LOGIN":
            user = await _response(conn, b"Username:", cmd.args.initial)
            if user is None:
                return Reply("BAD", "authentication cancelled or not base64")
            password = await _response(conn, b"Password:")
            if password is None:
                return Reply("BAD", "authentication cancelled or not base64")
            return await _login(conn, user, password)
    except ClientGone:
        raise
    return Reply("NO", f"unsupported mechanism {mech}", "CANNOT")
