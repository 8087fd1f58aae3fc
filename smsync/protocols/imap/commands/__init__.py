"""Registry of IMAP command handlers, the states they run in, and CAPABILITY.

A handler is ``async def handler(conn, cmd) -> Reply | None`` registered with
``@command(NAME, states)``; it writes its untagged responses through ``conn`` and returns
the tagged completion (None: OK). Each module of this package registers the commands of
one area; importing the package imports them all.
"""

from __future__ import annotations

from typing import Callable, Optional

import attrs

from smsync import errors
from smsync.protocols.imap import shared

NOT_AUTH = frozenset({"notauth"})
AUTH = frozenset({"auth", "selected"})
SELECTED = frozenset({"selected"})
ANY = frozenset({"notauth", "auth", "selected"})


@attrs.define
class Reply:
    """A tagged completion: ``status`` OK/NO/BAD, optional response ``code`` and text."""

    status: str = "OK"
    text: str = "completed"
    code: Optional[str] = None


class ClientGone(Exception):
    """The client disconnected while a command was waiting on it."""


class CommandBad(Exception):
    """A command that parsed but makes no sense now: answered with a tagged BAD."""


@attrs.frozen
class CommandSpec:
    name: str
    handler: Callable
    states: frozenset
    #: Report other sessions' changes before the tagged completion.
    sync_after: bool = True


_REGISTRY: dict[str, CommandSpec] = {}


def command(name: str, states: frozenset, sync_after: bool = True):
    """Register the decorated coroutine as the handler of ``name``."""

    def register(fn):
        _REGISTRY[name] = CommandSpec(name, fn, states, sync_after)
        return fn

    return register


def lookup(name: str) -> Optional[CommandSpec]:
    return _REGISTRY.get(name)


def refusal(conn, spec: Optional[CommandSpec], cmd) -> Optional[str]:
    """Why ``cmd`` may not run in the connection's current state (None: it may)."""
    if spec is None:
        return f"{cmd.name} not supported"
    state = conn.session.state
    if state in spec.states:
        return None
    if state == "notauth":
        return f"{cmd.name} needs authentication first"
    if "selected" in spec.states:
        return f"{cmd.name} needs a selected mailbox"
    return f"{cmd.name} is not allowed once authenticated"


def may_expunge(cmd) -> bool:
    """RFC 3501 7.4.1: no EXPUNGE responses while a FETCH, STORE or SEARCH (not the UID
    forms) is in progress, since they would renumber the messages it talks about."""
    return cmd.uid or cmd.name not in ("FETCH", "STORE", "SEARCH", "SORT", "THREAD")


def error_reply(e: errors.SmsyncError) -> Reply:
    """The tagged NO for a store error a client caused."""
    text = str(e) or e.__class__.__name__
    text = text.replace("\r", " ").replace("\n", " ")[:300]
    if isinstance(e, errors.NotFound):
        return Reply("NO", text, "NONEXISTENT")
    if isinstance(e, errors.AlreadyExists):
        return Reply("NO", text, "ALREADYEXISTS")
    if isinstance(e, errors.PermissionDenied):
        return Reply("NO", text, "NOPERM")
    if isinstance(e, errors.QuotaExceeded):
        return Reply("NO", text, "OVERQUOTA")
    if isinstance(e, errors.StorageUnavailable):
        # RFC 5530: a subsystem is down; the client keeps its data and retries later.
        return Reply("NO", "cannot store now, try again later", "UNAVAILABLE")
    if isinstance(e, errors.PreconditionFailed):
        return Reply("NO", text, "MODIFIED")
    if isinstance(e, errors.InvalidData):
        return Reply("NO", text, "CANNOT")
    if isinstance(e, errors.Conflict):
        return Reply("NO", text, "CANNOT")
    return Reply("NO", text)


def plaintext_refused(conn) -> bool:
    """Whether LOGIN and AUTHENTICATE are refused on this connection until STARTTLS: no
    TLS yet, and either the config asks for it or the client is not on the loopback
    interface and ``[tls] allow_cleartext_passwords`` is off (RFC 8314)."""
    if conn.tls_active:
        return False
    cfg = conn.config
    if cfg.require_tls_for_auth and cfg.tls is not None:
        return True
    return not conn.factory.edge.logins.cleartext_allowed(conn.peer_host)


def capabilities(conn) -> list[str]:
    """What CAPABILITY (and the greeting and LOGIN's OK) announce right now."""
    cfg = conn.config
    caps = ["IMAP4rev1", "IMAP4rev2", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE"]
    if cfg.tls is not None and not conn.tls_active:
        caps.append("STARTTLS")
    if not conn.session.authenticated:
        if plaintext_refused(conn):
            caps.append("LOGINDISABLED")
        else:
            caps += ["AUTH=PLAIN", "AUTH=LOGIN"]
        return caps
    caps += [
        "NAMESPACE", "UIDPLUS", "UNSELECT", "CHILDREN", "CONDSTORE", "QRESYNC", "MOVE",
        "SPECIAL-USE", "CREATE-SPECIAL-USE", "LIST-EXTENDED", "LIST-STATUS", "ESEARCH",
        "SEARCHRES", "SORT", "SORT=DISPLAY", "THREAD=REFERENCES", "THREAD=ORDEREDSUBJECT",
        "MULTIAPPEND", "APPENDLIMIT=%d" % cfg.append_limit, "STATUS=SIZE", "QUOTA",
        "QUOTA=RES-STORAGE", "BINARY", "UTF8=ACCEPT", "WITHIN", "I18NLEVEL=1",
        "ESORT", "CONTEXT=SEARCH", "CONTEXT=SORT", "NOTIFY",
    ]
    caps += ["OBJECTID", "SAVEDATE", "PREVIEW", "REPLACE", "CATENATE"]
    # ACL, LIST-MYRIGHTS and METADATA, where the store keeps what they need.
    caps += shared.capabilities(conn.session.store)
    if not conn.compressed:
        caps.append("COMPRESS=DEFLATE")
    return caps


# Importing the handler modules registers their commands.
from smsync.protocols.imap.commands import (  # noqa: E402,F401
    acl,
    any_state,
    fetch,
    login,
    mailboxes,
    messages,
    metadata,
    notify,
    replace,
    searching,
    select,
)
from smsync.protocols.imap import idle  # noqa: E402,F401
