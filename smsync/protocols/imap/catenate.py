"""RFC 4469 CATENATE: the message an APPEND (or REPLACE) builds from literal text and
from messages, or parts of them, already on the server, named by IMAP URLs (RFC 5092).

A URL part names a message by folder, UID (and optionally UIDVALIDITY), with an
optional ``;SECTION=`` (any ``BODY[...]`` section) and ``;PARTIAL=``. It may be

* absolute, ``imap://[user[;AUTH=...]@]host[:port]/Folder;UIDVALIDITY=n/;UID=n...``,
  for the logged-in user on this server (a URL naming another user, or a host this
  server does not answer for, is refused);
* relative to the server, ``/Folder;UIDVALIDITY=n/;UID=n/;SECTION=1.2`` (what RFC
  4469's examples and clients send), or ``Folder;...`` without the slash;
* relative to the selected folder, ``;UID=n/;SECTION=...``.

The folder is looked up as SELECT looks it up, so a URL reaches exactly the folders the
user can open. Reading a part sets no flag.
"""

from __future__ import annotations

import re
import socket
from typing import Optional
from urllib.parse import unquote_to_bytes

import attrs

from smsync.errors import NotFound
from smsync.model import UIDSet
from smsync.protocols.imap import mutf7, sections
from smsync.protocols.imap.parser import ParseError, parse_section
from smsync.protocols.imap.syntax import Section


class CatenateError(Exception):
    """The message cannot be built: ``code`` is the response code (``BADURL url`` or
    ``TOOBIG``) of the tagged NO."""

    def __init__(self, code: str, text: str):
        super().__init__(text)
        self.code = code


@attrs.frozen
class PartURL:
    """A message or message part an IMAP URL names. ``mailbox`` None: the selected one."""

    mailbox: Optional[str]
    uid: int
    uidvalidity: Optional[int] = None
    section: Optional[Section] = None
    #: (offset, length or None for "to the end")
    partial: Optional[tuple[int, Optional[int]]] = None


_NUMBER = re.compile(r"[1-9][0-9]{0,9}\Z")
_PARTIAL = re.compile(r"([0-9]{1,10})(?:\.([1-9][0-9]{0,9}))?\Z")
_URL_TEXT_BAD = re.compile(r"[\x00\r\n\]\x7f-\U0010ffff]")


def bad_url_code(url: bytes) -> str:
    """The BADURL response code naming ``url`` (RFC 4469 url-resp-text: any TEXT-CHAR but
    "]"; what cannot go there is left out)."""
    text = _URL_TEXT_BAD.sub("", url.decode("latin-1"))[:500]
    return "BADURL " + (text or "-")


def _nz(value: str) -> int:
    if not _NUMBER.match(value) or int(value) > 0xFFFFFFFF:
        raise ValueError(f"not a UID or UIDVALIDITY: {value!r}")
    return int(value)


def _decoded(value: str) -> str:
    return unquote_to_bytes(value).decode("utf-8")


def parse_url(url: str, account: str, host_ok) -> PartURL:
    """The ``PartURL`` of an IMAP URL written as a CATENATE part (see the module
    docstring). ``host_ok(host)`` says whether a URL's host names this server.

    Raises:
        ValueError: it is no URL of a message here.
    """
    if not url.isascii():
        raise ValueError("an IMAP URL is ASCII")
    if url[:7].lower() == "imap://":
        url = url[5:]
    if url.startswith("//"):
        authority, slash, path = url[2:].partition("/")
        if not slash:
            raise ValueError("no message in the URL")
        userinfo, at, hostport = authority.rpartition("@")
        host = hostport
        if hostport.startswith("["):
            host = hostport[1 : hostport.find("]")]
        elif ":" in hostport:
            host, _, port = hostport.partition(":")
            if port and not port.isdigit():
                raise ValueError("bad port")
        if not host_ok(host.lower()):
            raise ValueError(f"{host} is not this server")
        if at:
            user = _decoded(userinfo.split(";", 1)[0])
            if user and user.lower() != account.lower():
                raise ValueError("the URL is another user's")
        url = "/" + path
    if url.startswith("/"):
        url = url[1:]
        if url.startswith(";"):
            raise ValueError("no mailbox in the URL")
    if url.startswith(";"):
        mailbox_ref, params = None, url[1:].split("/;")
    else:
        mailbox_ref, sep, rest = url.partition("/;")
        if not sep:
            raise ValueError("no UID in the URL")
        params = rest.split("/;")
    mailbox = uidvalidity = None
    if mailbox_ref is not None:
        name, *extra = mailbox_ref.split(";")
        if not name or len(extra) > 1:
            raise ValueError("bad mailbox in the URL")
        mailbox = _decoded(name)
        if extra:
            key, _, value = extra[0].partition("=")
            if key.upper() != "UIDVALIDITY":
                raise ValueError(f"unknown mailbox parameter {key}")
            uidvalidity = _nz(value)
    fields = {}
    order = ("UID", "SECTION", "PARTIAL")
    last = -1
    for param in params:
        key, eq, value = param.partition("=")
        key = key.upper()
        if not eq or key not in order or order.index(key) <= last:
            # ;URLAUTH= among them: we do not offer URLAUTH (RFC 4467).
            raise ValueError(f"unexpected {key or param} in the URL")
        last = order.index(key)
        fields[key] = value
    if "UID" not in fields:
        raise ValueError("no UID in the URL")
    section = None
    if "SECTION" in fields:
        try:
            section = parse_section(unquote_to_bytes(fields["SECTION"]))
        except ParseError as e:
            raise ValueError(f"bad section: {e}") from None
    partial = None
    if "PARTIAL" in fields:
        m = _PARTIAL.match(fields["PARTIAL"])
        if not m:
            raise ValueError("bad partial")
        partial = (int(m.group(1)), int(m.group(2)) if m.group(2) else None)
    return PartURL(mailbox, _nz(fields["UID"]), uidvalidity, section, partial)


def host_checker(conn):
    """``host_ok(host)`` for the URLs of ``conn``'s client: the names and address it
    reached this server by as far as the server can know them -- the address it
    connected to, ``localhost``, this machine's name, ``[delivery] hostname``, and the
    user's mail domain or a name below it (``imap.example.org`` for
    ``alice@example.org``)."""
    names = {"localhost", socket.gethostname().lower()}
    local = getattr(getattr(conn.transport, "getHost", lambda: None)(), "host", None)
    if local:
        names.add(local.lower())
    config = getattr(conn.factory.edge, "config", None)
    configured = getattr(getattr(config, "delivery", None), "hostname", "")
    if configured:
        names.add(configured.lower())
    domain = (conn.session.account or "").rpartition("@")[2].lower()

    def host_ok(host: str) -> bool:
        return host in names or (bool(domain) and (host == domain or host.endswith("." + domain)))

    return host_ok


async def assemble(conn, parts, limit: int) -> bytes:
    """The message CATENATE ``parts`` (``CatPart``s) make, at most ``limit`` bytes.

    Raises:
        CatenateError: a URL names no message the user can read (``BADURL``), or the
            message would be larger than ``limit`` (``TOOBIG``).
    """
    session = conn.session
    host_ok = None
    out: list[bytes] = []
    size = 0
    for part in parts:
        if part.kind == "TEXT":
            data = part.value
        else:
            if host_ok is None:
                host_ok = host_checker(conn)
            data = await _read_url(session, part.value, host_ok, limit - size)
        size += len(data)
        if size > limit:
            raise CatenateError("TOOBIG", "the message would be larger than APPENDLIMIT")
        out.append(data)
    return b"".join(out)


async def _read_url(session, url: bytes, host_ok, room: int) -> bytes:
    """The bytes ``url`` names (at most ``room`` + 1 of them, enough to tell it does
    not fit)."""
    try:
        named = parse_url(url.decode("ascii"), session.account, host_ok)
    except (ValueError, UnicodeDecodeError) as e:
        raise CatenateError(bad_url_code(url), f"bad URL: {e}") from None
    try:
        data = await _read_part(session, named, room)
    except NotFound:
        data = None
    if data is None:
        raise CatenateError(bad_url_code(url), "the URL names no message you can read")
    return data


async def _read_part(session, named: PartURL, room: int) -> Optional[bytes]:
    if named.mailbox is None:
        if session.selected is None:
            return None
        mailbox = session.selected.mailbox
    else:
        from smsync.protocols.imap.commands import CommandBad

        # RFC 5092 spells the name in UTF-8: put it as this client would write it and
        # look it up as SELECT does.
        raw = named.mailbox.encode("utf-8") if session.utf8 else mutf7.encode(named.mailbox)
        try:
            name = session.decode_mailbox(raw)
        except CommandBad:
            return None
        mailbox = await session.mail.mailbox(name)
    if named.uidvalidity is not None and (await mailbox.info()).uidvalidity != named.uidvalidity:
        return None
    infos = await mailbox.messages(UIDSet.of([named.uid]))
    if not infos:
        return None
    section = named.section
    if section is None or section == Section():
        start, end, fields = 0, infos[0].size, None
    else:
        structure = (await mailbox.structures([named.uid])).get(named.uid)
        if structure is None:
            return None
        loc = sections.locate(structure, section)
        if loc.missing:
            return None
        start, end = loc.start, loc.end
        fields = (loc.fields, loc.exclude) if loc.fields else None
    if fields is not None:
        data = sections.filter_header(await mailbox.read_body(named.uid, start, end - start), *fields)
        if named.partial is not None:
            offset, length = named.partial
            data = data[offset:] if length is None else data[offset : offset + length]
        return data
    if named.partial is not None:
        offset, length = named.partial
        start = min(start + offset, end)
        if length is not None:
            end = min(start + length, end)
    # No more than what can still fit (and a byte more, to say it does not).
    return await mailbox.read_body(named.uid, start, min(end - start, room + 1))
