"""The smsync configuration file: TOML, read with ``tomllib``, held in attrs types.

::

    [store]
    uri = "sqlite:///srv/smsync/store"

    [services]              # lists of Twisted server endpoint strings; [] turns one off
    imap = ["tcp:1143:interface=127.0.0.1"]
    pop3 = ["tcp:1110:interface=127.0.0.1"]
    lmtp = ["tcp:2424:interface=127.0.0.1"]
    smtp = ["tcp:2525:interface=127.0.0.1"]
    http = ["tcp:8080:interface=127.0.0.1"]   # CalDAV, CardDAV, EAS, EWS, SyncML
    submission = []         # port-587 style: AUTH required, relays through [delivery]

    [limits]
    max_message_size = 52428800   # bytes
    max_item_size = 10485760       # bytes, one calendar object or vCard
    max_xml_body = 1048576         # bytes, one CalDAV/CardDAV request's XML (PROPFIND, REPORT)
    max_unauthenticated_per_address = 50   # connections not logged in, per address
    max_unauthenticated = 1000             # ... and in all
    login_timeout = 60             # seconds a connection may take to log in

    [tls]                   # offered as STARTTLS/STLS by the mail protocols when set
    certificate = ""        # PEM file: the certificate (chain)
    private_key = ""        # PEM file: its key (default: the certificate file)
    allow_cleartext_passwords = false   # passwords over unencrypted non-loopback links

An endpoint ``tls:PORT[:options]`` in ``[services]`` is implicit TLS (RFC 8314) with the
``[tls]`` certificate: it stands for ``ssl:PORT[:options]:privateKey=...:certKey=...``.

    [logins]                # the login limiter, per client address and per account
    initial_delay_ms = 500  # wait after the first failure; doubles with each one
    max_delay_ms = 15000
    max_failures = 10       # then refused unchecked for lockout_seconds
    lockout_seconds = 900
    forget_after_seconds = 900
    exempt = []             # addresses never limited (a webmail proxy)

    [delivery]
    hostname = ""           # name in greetings and Received headers (default: FQDN)
    smarthost = ""          # host:port submitted mail is relayed to
    smarthost_user = ""     # AUTH at the smarthost (empty: none)
    smarthost_password = ""
    queue_dir = ""          # relay queue (default: queue/ beside the config file)
    retry_initial = 60      # seconds before the first retry; doubles each time
    retry_max = 3600        # longest wait between two attempts
    max_queue_age = 432000  # seconds after which undeliverable mail is given up

    [scheduling]
    inbox_messages = true   # a local attendee/organizer also gets each invitation,
                            # update, cancellation and answer as iMIP mail in its INBOX

    [lists]                 # Add to Outlook (the SharePoint Lists web service)
    site_url = ""           # the site its links name, as clients reach it
                            # (default: https://<[delivery] hostname>/lists)

Every key is optional; a missing one takes the default above. Unknown sections or keys
are errors (a typo must not silently do nothing).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import attrs

from smsync.errors import SmsyncError

#: Name of the config file inside a data directory.
CONFIG_NAME = "smsync.toml"

#: Services a config lists endpoints for, in the order they are started.
SERVICE_NAMES = ("imap", "pop3", "lmtp", "smtp", "http", "submission")

DEFAULT_ENDPOINTS = {
    "imap": ("tcp:1143:interface=127.0.0.1",),
    "pop3": ("tcp:1110:interface=127.0.0.1",),
    "lmtp": ("tcp:2424:interface=127.0.0.1",),
    "smtp": ("tcp:2525:interface=127.0.0.1",),
    "http": ("tcp:8080:interface=127.0.0.1",),
    # Off unless configured: it relays mail out, which needs a smarthost.
    "submission": (),
}


class ConfigError(SmsyncError):
    """The configuration file is missing, unreadable or wrong; the message is one line
    naming the file and what is wrong."""


def _endpoints(value) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class StoreConfig:
    uri: str = ""


@attrs.frozen
class ServicesConfig:
    imap: tuple[str, ...] = attrs.field(default=DEFAULT_ENDPOINTS["imap"], converter=_endpoints)
    pop3: tuple[str, ...] = attrs.field(default=DEFAULT_ENDPOINTS["pop3"], converter=_endpoints)
    lmtp: tuple[str, ...] = attrs.field(default=DEFAULT_ENDPOINTS["lmtp"], converter=_endpoints)
    smtp: tuple[str, ...] = attrs.field(default=DEFAULT_ENDPOINTS["smtp"], converter=_endpoints)
    http: tuple[str, ...] = attrs.field(default=DEFAULT_ENDPOINTS["http"], converter=_endpoints)
    submission: tuple[str, ...] = attrs.field(default=DEFAULT_ENDPOINTS["submission"],
                                              converter=_endpoints)

    def endpoints(self, service: str) -> tuple[str, ...]:
        """The endpoint strings of ``service`` (one of ``SERVICE_NAMES``)."""
        return getattr(self, service)


@attrs.frozen
class LimitsConfig:
    max_message_size: int = 50 * 1024 * 1024
    max_item_size: int = 10 * 1024 * 1024
    #: The XML body of a WebDAV request (PROPFIND, REPORT, PROPPATCH...): far smaller
    #: than an item, as parsing and answering one costs far more per byte.
    max_xml_body: int = 1024 * 1024
    #: Connections that have not logged in yet, from one address and in all.
    max_unauthenticated_per_address: int = 50
    max_unauthenticated: int = 1000
    #: Seconds a connection may take to log in.
    login_timeout: int = 60


@attrs.frozen
class TLSConfig:
    """Certificate and key of the implicit-TLS listeners (``tls:`` endpoints) and of
    STARTTLS/STLS (none: not offered), and whether passwords may cross an unencrypted
    connection from another host."""

    certificate: str = ""
    private_key: str = ""
    allow_cleartext_passwords: bool = False


def expand_endpoint(value: str, tls: TLSConfig) -> str:
    """``value`` with the ``tls:PORT[:options]`` shorthand made a Twisted ``ssl:`` endpoint
    with ``tls``'s certificate and key; any other endpoint as it is. ``ConfigError`` for a
    ``tls:`` endpoint without a ``[tls] certificate``."""
    if not value.lower().startswith("tls:"):
        return value
    if not tls.certificate:
        raise ConfigError(f"endpoint {value!r} needs a certificate: set [tls] certificate")
    from twisted.internet.endpoints import quoteStringArgument

    key = tls.private_key or tls.certificate
    return (f"ssl:{value[4:]}:privateKey={quoteStringArgument(key)}"
            f":certKey={quoteStringArgument(tls.certificate)}")


@attrs.frozen
class LoginsConfig:
    """The login limiter (``smsync.edge.limiter``): failed logins per address and per
    account, across connections and protocols."""

    initial_delay_ms: int = 500
    max_delay_ms: int = 15000
    max_failures: int = 10
    lockout_seconds: int = 900
    forget_after_seconds: int = 900
    exempt: tuple[str, ...] = attrs.field(default=(), converter=tuple,
                                          metadata={"kind": "addresses"})


@attrs.frozen
class DeliveryConfig:
    """Mail delivery and submission: the name the server gives itself, and where and how
    submitted mail is relayed (``smsync.protocols.delivery``)."""

    hostname: str = ""
    smarthost: str = ""
    smarthost_user: str = ""
    smarthost_password: str = ""
    queue_dir: str = ""
    retry_initial: int = 60
    retry_max: int = 3600
    max_queue_age: int = 5 * 24 * 3600


@attrs.frozen
class SchedulingConfig:
    """Meetings between accounts of this server (``smsync.scheduling``):
    ``inbox_messages`` -- besides its calendar and schedule inbox, the recipient's INBOX
    gets each iTIP message as iMIP mail (RFC 6047), as Exchange's Inbox does."""

    inbox_messages: bool = True


@attrs.frozen
class ListsConfig:
    """Add to Outlook (``smsync.protocols.lists``): ``site_url`` is the site its
    ``stssync://`` links name -- the URL clients reach the server's ``/lists`` at
    (empty: ``https://`` + ``[delivery] hostname`` + ``/lists``)."""

    site_url: str = ""


@attrs.frozen
class Config:
    """A whole configuration. ``path`` is the file it was read from, if any."""

    store: StoreConfig = StoreConfig()
    services: ServicesConfig = ServicesConfig()
    limits: LimitsConfig = LimitsConfig()
    path: Path | None = None
    tls: TLSConfig = TLSConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    logins: LoginsConfig = LoginsConfig()
    scheduling: SchedulingConfig = SchedulingConfig()
    lists: ListsConfig = ListsConfig()

    def listen_on(self, service: str) -> tuple[str, ...]:
        """The Twisted endpoint strings ``service`` listens on, ``tls:`` shorthands made
        ``ssl:`` endpoints with the ``[tls]`` certificate."""
        return tuple(expand_endpoint(e, self.tls) for e in self.services.endpoints(service))


_TYPE_NAMES = {int: "an integer", str: "a string", bool: "true or false"}

_SECTIONS = {"store": StoreConfig, "services": ServicesConfig, "limits": LimitsConfig,
             "tls": TLSConfig, "delivery": DeliveryConfig, "logins": LoginsConfig,
             "scheduling": SchedulingConfig, "lists": ListsConfig}


def _check_endpoint(where: str, value: str) -> None:
    # Parsing (not listening) catches typos like "tcp:port=x" when the file is read,
    # not when the server has half started. No reactor is needed just to parse.
    from twisted.internet.endpoints import serverFromString

    try:
        serverFromString(None, value)
    except Exception as e:
        raise ConfigError(f"{where}: bad endpoint {value!r}: {_one_line(e)}") from None


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text


def _section(where: str, cls, table) -> object:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [{cls.__name__}] must be a table")
    fields = {f.name: f for f in attrs.fields(cls)}
    kwargs = {}
    for key, value in table.items():
        if key not in fields:
            known = ", ".join(fields)
            raise ConfigError(f"{where}: unknown key {key!r} (known: {known})")
        default = fields[key].default
        if fields[key].metadata.get("kind") == "addresses":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where}: {key} must be a list of addresses")
        elif isinstance(default, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where}: {key} must be a list of endpoint strings")
            for v in value:
                if not v.lower().startswith("tls:"):  # checked once [tls] is read
                    _check_endpoint(f"{where}: {key}", v)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: {key} must be true or false")
        elif isinstance(value, bool) or not isinstance(value, type(default)):
            raise ConfigError(f"{where}: {key} must be {_TYPE_NAMES[type(default)]}")
        elif isinstance(value, int) and value <= 0:
            raise ConfigError(f"{where}: {key} must be positive")
        kwargs[key] = value
    return cls(**kwargs)


def parse_config(text: str, path: Path | None = None) -> Config:
    """Parse config ``text``; ``ConfigError`` (one line) if it is not valid TOML or has
    unknown sections/keys or values of the wrong type."""
    where = str(path) if path else "config"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{where}: not valid TOML: {_one_line(e)}") from None
    parts = {}
    for name, table in data.items():
        if name not in _SECTIONS:
            raise ConfigError(f"{where}: unknown section [{name}] (known: {', '.join(_SECTIONS)})")
        parts[name] = _section(f"{where} [{name}]", _SECTIONS[name], table)
    config = Config(path=path, **parts)
    for service in SERVICE_NAMES:
        for value in config.services.endpoints(service):
            if value.lower().startswith("tls:"):
                label = f"{where} [services]: {service}"
                try:
                    expanded = expand_endpoint(value, config.tls)
                except ConfigError as e:
                    raise ConfigError(f"{label}: {e}") from None
                _check_endpoint(label, expanded)
    return config


def load_config(path) -> Config:
    """Read and parse the config file at ``path``; ``ConfigError`` (one line) on any
    problem, including a missing or unreadable file."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {_one_line(e)}") from None
    return parse_config(text, path)


def _toml_string(value: str) -> str:
    out = ['"']
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def render_config(config: Config) -> str:
    """The TOML text of ``config``, with comments; ``parse_config`` reads it back equal."""
    lines = [
        "# smsync configuration. Reference: docs/configuration.md",
        "",
        "[store]",
        "# sqlite:///DIR (embedded, the default), postgresql://..., memory: (tests only)",
        f"uri = {_toml_string(config.store.uri)}",
        "",
        "[services]",
        "# Twisted server endpoint strings; several per service are fine, [] turns one off.",
        '# "tls:1993:interface=..." is implicit TLS with the [tls] certificate (or spell it',
        '# out: "ssl:1993:privateKey=key.pem:certKey=cert.pem").',
    ]
    for name in SERVICE_NAMES:
        items = ", ".join(_toml_string(e) for e in config.services.endpoints(name))
        note = "  # the one site of the HTTP protocols (CalDAV, CardDAV, ...)" if name == "http" else ""
        lines.append(f"{name} = [{items}]{note}")
    lines += [
        "",
        "[limits]",
        f"max_message_size = {config.limits.max_message_size}  # bytes",
        f"max_item_size = {config.limits.max_item_size}  # bytes, one event or contact",
        f"max_xml_body = {config.limits.max_xml_body}  # bytes, one CalDAV/CardDAV PROPFIND or REPORT",
        "# Connections not logged in yet, per client address and in all; and how long",
        "# one may take to log in (seconds).",
        f"max_unauthenticated_per_address = {config.limits.max_unauthenticated_per_address}",
        f"max_unauthenticated = {config.limits.max_unauthenticated}",
        f"login_timeout = {config.limits.login_timeout}",
        "",
    ]
    if config.tls != TLSConfig():
        lines += [
            "[tls]",
            "# PEM files: the certificate (chain) and its key, for tls: endpoints and STARTTLS.",
            f"certificate = {_toml_string(config.tls.certificate)}",
            f"private_key = {_toml_string(config.tls.private_key)}",
            "# Accept passwords over unencrypted connections from other hosts (RFC 8314 says no).",
            f"allow_cleartext_passwords = {'true' if config.tls.allow_cleartext_passwords else 'false'}",
            "",
        ]
    if config.logins != LoginsConfig():
        lines.append("[logins]")
        for field in attrs.fields(LoginsConfig):
            value = getattr(config.logins, field.name)
            if isinstance(value, tuple):
                text = "[" + ", ".join(_toml_string(v) for v in value) + "]"
            else:
                text = str(value)
            lines.append(f"{field.name} = {text}")
        lines.append("")
    if config.delivery != DeliveryConfig():
        lines.append("[delivery]")
        for field in attrs.fields(DeliveryConfig):
            value = getattr(config.delivery, field.name)
            text = _toml_string(value) if isinstance(value, str) else str(value)
            lines.append(f"{field.name} = {text}")
        lines.append("")
    if config.scheduling != SchedulingConfig():
        lines += [
            "[scheduling]",
            "# A local account also gets each invitation, update, cancellation and answer",
            "# as iMIP mail in its INBOX (besides its calendar).",
            f"inbox_messages = {'true' if config.scheduling.inbox_messages else 'false'}",
            "",
        ]
    if config.lists != ListsConfig():
        lines += [
            "[lists]",
            "# The site Add to Outlook links name, as clients reach the server's /lists.",
            f"site_url = {_toml_string(config.lists.site_url)}",
            "",
        ]
    return "\n".join(lines)


def write_config(path, config: Config) -> None:
    """Write ``config`` to ``path`` atomically (a crash leaves the old file or the new)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(render_config(config))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
