"""``smsync init [--data DIR] [--demo] [--if-missing]``: a data directory ready to serve.

It holds ``smsync.toml`` and the sqlite store at ``DIR/store`` (unless ``--store`` names
another). ``--demo`` adds ``demo@example.test`` with a random password, printed, and
kept in ``DIR/demo-password`` (mode 0600) so ``make run`` can show it again.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs
from twisted.internet.threads import deferToThread

from smsync.admin import accounts
from smsync.auth import hash_password
from smsync.cli import demo
from smsync.cli.common import CliError, data_dir, one_line, say
from smsync.certificates import make_self_signed
from smsync.config import (CONFIG_NAME, SERVICE_NAMES, Config, ServicesConfig, StoreConfig,
                           TLSConfig, load_config, write_config)
from smsync.errors import AlreadyExists, SmsyncError
from smsync.plugincache import refresh as refresh_plugin_caches
from smsync.store.registry import open_store

DEMO_PASSWORD_FILE = "demo-password"


def add_parser(subparsers, parents) -> None:
    p = subparsers.add_parser("init", parents=parents,
                              help="create a data directory: config file and store")
    p.add_argument("--demo", action="store_true",
                   help=f"add the account {demo.DEMO_ACCOUNT} with demo mail and events")
    p.add_argument("--if-missing", action="store_true",
                   help="do nothing (successfully) if the data directory is already set up")
    p.add_argument("--tls-certificate", metavar="PEM",
                   help="certificate (chain) for TLS, e.g. certbot's fullchain.pem "
                        "(default: make a self-signed one in DIR/tls)")
    p.add_argument("--tls-key", metavar="PEM",
                   help="its private key, e.g. certbot's privkey.pem (default: in the "
                        "certificate file)")
    p.add_argument("--hostname", help="the name clients use for this server, for the "
                   "self-signed certificate (default: this machine's FQDN)")
    p.set_defaults(func=cmd_init)


def default_store_uri(directory: Path) -> str:
    return "sqlite://" + str((directory / "store").resolve())


#: The listeners ``smsync init`` writes: each mail service plain (with STARTTLS) and with
#: implicit TLS beside it (RFC 8314), on unprivileged ports so that a first start needs no
#: root; an administrator moves them to 993, 995, 443 and opens them to the network.
INIT_ENDPOINTS = {
    "imap": ("tcp:1143:interface=127.0.0.1", "tls:1993:interface=127.0.0.1"),
    "pop3": ("tcp:1110:interface=127.0.0.1", "tls:1995:interface=127.0.0.1"),
    "http": ("tcp:8080:interface=127.0.0.1", "tls:8443:interface=127.0.0.1"),
}


def _tls_config(args, directory: Path) -> TLSConfig:
    """The ``[tls]`` section: the given files, else a self-signed pair made now."""
    if args.tls_certificate:
        cert = Path(args.tls_certificate).resolve()
        key = Path(args.tls_key).resolve() if args.tls_key else cert
        for path in {cert, key}:
            if not path.is_file():
                raise CliError(f"no such file: {path}")
        return TLSConfig(certificate=str(cert), private_key=str(key))
    if args.tls_key:
        raise CliError("--tls-key needs --tls-certificate")
    cert, key = directory / "tls" / "certificate.pem", directory / "tls" / "private-key.pem"
    make_self_signed(cert, key, args.hostname)
    say(f"made a self-signed TLS certificate: {cert} (replace it with a real one: "
        "see docs/configuration.md, [tls])")
    return TLSConfig(certificate=str(cert.resolve()), private_key=str(key.resolve()))


def http_protocols() -> str:
    """The HTTP protocols this installation serves, as a user reads them."""
    from smsync.tap import registry

    names = {"caldav": "CalDAV", "carddav": "CardDAV", "eas": "Exchange ActiveSync",
             "ews": "EWS", "syncml": "SyncML"}
    served = [names.get(p, p) for p in registry.PROTOCOLS
              if p in registry.HTTP_PROTOCOLS and registry.is_available(p)]
    return ", ".join(served) or "nothing yet"


def describe_services(config: Config) -> list[str]:
    """One line per configured service: what listens where."""
    lines = []
    for service in SERVICE_NAMES:
        endpoints = config.services.endpoints(service)
        if endpoints:
            label = f"HTTP ({http_protocols()})" if service == "http" else service.upper()
            lines.append(f"  {label}: {', '.join(endpoints)}")
    return lines


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")


def _already_initialised(args, directory: Path, config_path: Path) -> None:
    if not args.if_missing:
        raise CliError(f"{directory} is already initialised ({config_path} exists)")
    say(f"{directory} is already initialised; leaving it as it is")
    secret = directory / DEMO_PASSWORD_FILE
    if args.demo and secret.exists():
        say(f"demo account: {demo.DEMO_ACCOUNT}  password: {secret.read_text().strip()}")


async def _add_demo(store, directory: Path) -> str:
    password = demo.demo_password()
    password_hash = await deferToThread(hash_password, password)
    try:
        await store.accounts.add(demo.DEMO_ACCOUNT, password_hash)
    except AlreadyExists:
        # A store kept from an earlier data dir: give the account the new password
        # but do not seed its mail twice.
        await store.accounts.set_password_hash(demo.DEMO_ACCOUNT, password_hash)
    else:
        await demo.seed(store)
    # The one account of a demo is its administrator, so the web interface shows every
    # page (where the store can keep the flag).
    if accounts.settings_of(store) is not None:
        await accounts.set_admin(store, demo.DEMO_ACCOUNT, True)
    await deferToThread(_write_secret, directory / DEMO_PASSWORD_FILE, password)
    return password


async def cmd_init(args, reactor) -> None:
    directory = data_dir(args)
    config_path = directory / CONFIG_NAME
    if config_path.exists():
        _already_initialised(args, directory, config_path)
        return
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CliError(f"cannot create {directory}: {one_line(e)}") from None
    tls = await deferToThread(_tls_config, args, directory)
    services = attrs.evolve(ServicesConfig(), **INIT_ENDPOINTS)
    config = Config(store=StoreConfig(uri=args.store or default_store_uri(directory)),
                    services=services, tls=tls)
    refresh_plugin_caches()
    try:
        store = await open_store(config.store.uri, create=True)
    except (SmsyncError, OSError) as e:
        raise CliError(f"cannot create store {config.store.uri}: {one_line(e)}") from None
    password = None
    try:
        if args.demo:
            password = await _add_demo(store, directory)
    finally:
        await store.close()
    # The config is written last: its presence means "initialised", so a failed init
    # can simply be run again.
    write_config(config_path, attrs.evolve(config, path=config_path))
    say(f"initialised {directory}: config {config_path}, store {config.store.uri}")
    if password:
        say(f"demo account: {demo.DEMO_ACCOUNT}  password: {password}")
    say("services (edit the config to change them):")
    for line in describe_services(load_config(config_path)):
        say(line)
    say(f"start the server with: smsync serve --data {directory}")
