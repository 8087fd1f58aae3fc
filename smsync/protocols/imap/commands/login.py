"""LOGIN and AUTHENTICATE (PLAIN, LOGIN; SASL-IR) through the front door's logins.

Failed attempts are answered only after a delay that doubles with each failure from the
same address (``IMAPFactory.login_failed``), which makes password guessing slow without
locking the real user out. An account whose policy does not allow IMAP is refused with
``NO [CONTACTADMIN]`` after a right password.
"""

from __future__ import annotations

import base64

from twisted.internet.task import deferLater

from smsync.edge import sasl
from smsync.edge.logins import BadCredentials, LoginUnavailable, ProtocolNotAllowed
from smsync.protocols.imap.commands import (NOT_AUTH, ClientGone, Reply, capabilities, command,
                                            plaintext_refused)


async def _login(conn, user: bytes, password: bytes):
    if plaintext_refused(conn):
        if conn.config.tls is None:
            return Reply("NO", "passwords are not accepted over unencrypted connections "
                         "from other hosts, and this server offers no TLS here",
                         "PRIVACYREQUIRED")
        return Reply("NO", "use STARTTLS first", "PRIVACYREQUIRED")
    try:
        done = await conn.factory.edge.logins.login("imap", user, password, conn.peer_host)
    except BadCredentials:
        return await _failed(conn)
    except ProtocolNotAllowed:
        return Reply("NO", "IMAP is not enabled for this account", "CONTACTADMIN")
    except LoginUnavailable as e:
        return Reply("NO", str(e), "UNAVAILABLE")
    store = getattr(done.avatar, "store", None) or conn.factory.store
    mail = await store.mail(done.account)
    conn.session.logged_in(done.account, store, mail, done.logout)
    if conn.ticket is not None:
        conn.ticket.release()
    return Reply("OK", "logged in", "CAPABILITY " + " ".join(capabilities(conn)))


async def _failed(conn):
    delay = conn.config.failed_login_delay
    if delay > 0:
        await deferLater(conn.factory.clock, delay, lambda: None)
    return Reply("NO", "invalid credentials", "AUTHENTICATIONFAILED")


@command("LOGIN", NOT_AUTH, sync_after=False)
async def login(conn, cmd):
    return await _login(conn, cmd.args.user, cmd.args.password)


async def _response(conn, challenge: bytes, initial=None) -> bytes:
    """The client's decoded answer to a SASL challenge (``sasl`` errors propagate)."""
    if initial is not None:
        return sasl.decode_response(initial)
    conn.write_line(b"+ " + base64.b64encode(challenge))
    return sasl.decode_response(await conn.next_line())


@command("AUTHENTICATE", NOT_AUTH, sync_after=False)
async def authenticate(conn, cmd):
    mech = cmd.args.mechanism
    try:
        if mech == "PLAIN":
            plain = sasl.parse_plain(await _response(conn, b"", cmd.args.initial))
            if plain.acts_as_other:
                return Reply("NO", "cannot act as another user", "AUTHORIZATIONFAILED")
            return await _login(conn, plain.authcid, plain.password)
        if mech == "LOGIN":
            user = await _response(conn, sasl.LOGIN_USER_CHALLENGE, cmd.args.initial)
            password = await _response(conn, sasl.LOGIN_PASSWORD_CHALLENGE)
            return await _login(conn, user, password)
    except ClientGone:
        raise
    except (sasl.SaslCancelled, sasl.SaslMalformed) as e:
        what = "authentication cancelled" if isinstance(e, sasl.SaslCancelled) else str(e)
        return Reply("BAD", what)
    return Reply("NO", f"unsupported mechanism {mech}", "CANNOT")
