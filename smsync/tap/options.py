"""Command-line options of the twistd plugins, and ``makeService`` for each.

``twistd -n smsync-imap --store URI --listen ENDPOINT [--listen ...] [--config FILE]``
runs one protocol; ``twistd -n smsync [--data DIR | --config FILE] [--store URI]
[--imap EP ...] [--pop3 EP] [--lmtp EP] [--smtp EP] [--http EP] [--workers N]`` runs them
all, in N worker processes (``smsync.tap.workers``; default one per core).

Problems found here (no store given, unknown scheme, bad endpoint, protocol not built
yet) end the process with ONE line on stderr and status 1, before anything starts.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from twisted.logger import Logger
from twisted.python import usage

from smsync.config import CONFIG_NAME, SERVICE_NAMES, Config, ConfigError, load_config
from smsync.errors import BadStoreURI
from smsync.tap import registry
from smsync.tap.ports import taken

log = Logger(namespace="smsync")

#: The data directory used when neither --store, --config nor --data is given.
DEFAULT_DATA_DIR = "smsync-data"


class StartupError(Exception):
    """Raised while preparing a service; shown as one line, exit status 1."""


def fail(prog: str, message: str):
    """Print ``prog: message`` on stderr and exit with status 1 (no traceback)."""
    sys.stderr.write(f"{prog}: {message}\n")
    sys.stderr.flush()
    raise SystemExit(1)


def _check_store_uri(uri: str) -> None:
    from smsync.store.registry import backends, scheme_of

    scheme = scheme_of(uri)
    found = backends()
    if scheme not in found:
        known = ", ".join(sorted(found)) or "none"
        raise BadStoreURI(f"no store backend for scheme {scheme!r} (installed: {known})")


def _check_endpoints(label: str, endpoints) -> None:
    from twisted.internet.endpoints import serverFromString

    for description in endpoints:
        try:
            serverFromString(None, description)
        except Exception as e:
            raise StartupError(f"{label}: bad endpoint {description!r}: "
                               f"{' '.join(str(e).split()) or type(e).__name__}") from None


def _expanded(endpoints, config) -> list:
    """Command-line endpoints with ``tls:`` shorthands made ``ssl:`` ones."""
    from smsync.config import ConfigError, expand_endpoint

    try:
        return [expand_endpoint(e, config.tls) for e in endpoints]
    except ConfigError as e:
        raise StartupError(f"error: {e}") from None


def resolve_config(config_file, data_dir, store_uri) -> Config:
    """The config a plugin runs with: ``--config FILE``, else ``DATA/smsync.toml`` (the
    default data dir only if it has one), else built-in defaults. ``--store`` overrides
    the file's store. ``StartupError`` if no store URI results."""
    try:
        if config_file:
            config = load_config(config_file)
        elif data_dir:
            config = load_config(Path(data_dir) / CONFIG_NAME)
        elif (Path(DEFAULT_DATA_DIR) / CONFIG_NAME).exists():
            config = load_config(Path(DEFAULT_DATA_DIR) / CONFIG_NAME)
        else:
            config = Config()
    except ConfigError as e:
        raise StartupError(f"error: {e}") from None
    uri = store_uri or config.store.uri
    if not uri:
        raise StartupError("error: no store: give --store URI, --config FILE or --data DIR")
    try:
        _check_store_uri(uri)
    except BadStoreURI as e:
        raise StartupError(f"error: {e}") from None
    import attrs

    return attrs.evolve(config, store=attrs.evolve(config.store, uri=uri))


class ProtocolOptions(usage.Options):
    """Options of a one-protocol plugin (``smsync-imap`` and friends)."""

    protocol = ""

    optParameters = [
        ["store", None, None, "Store URI, e.g. sqlite:///srv/smsync/store or memory:"],
        ["config", None, None, "smsync.toml to read the store, endpoints and limits from."],
    ]

    def __init__(self):
        super().__init__()
        self["listen"] = []

    def opt_listen(self, endpoint):
        """Endpoint to listen on, e.g. tcp:1143:interface=127.0.0.1 (repeatable)."""
        self["listen"].append(endpoint)

    def getSynopsis(self):
        return f"Usage: twistd [options] smsync-{self.protocol} [--store URI] " \
               f"[--listen ENDPOINT ...] [--config FILE]"


def _endpoint_option(service: str):
    def opt(self, endpoint):
        self["endpoints"].setdefault(service, []).append(endpoint)

    opt.__doc__ = (f"Endpoint for {service.upper()} (repeatable; 'none' turns it off; "
                   f"default: from the config file).")
    return opt


def workers_count(text) -> int:
    """``--workers``: a whole number of at least 1."""
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise ValueError(f"not a number: {text!r}") from None
    if value < 1:
        raise ValueError("must be at least 1")
    return value


class AllInOneOptions(usage.Options):
    """Options of the all-in-one ``smsync`` plugin."""

    optParameters = [
        ["store", None, None, "Store URI (default: the one in the config file)."],
        ["config", None, None, "smsync.toml to read (default: DATA/smsync.toml)."],
        ["data", None, None, f"Data directory holding smsync.toml (default: ./{DEFAULT_DATA_DIR})."],
        ["workers", None, None, "Worker processes sharing the listening sockets (default: "
                                "one per core; 1 serves in this process).", workers_count],
    ]

    opt_imap = _endpoint_option("imap")
    opt_pop3 = _endpoint_option("pop3")
    opt_lmtp = _endpoint_option("lmtp")
    opt_smtp = _endpoint_option("smtp")
    opt_http = _endpoint_option("http")
    opt_submission = _endpoint_option("submission")

    def __init__(self):
        super().__init__()
        self["endpoints"] = {}

    def getSynopsis(self):
        return ("Usage: twistd [options] smsync [--data DIR | --config FILE] [--store URI] "
                "[--imap EP] [--pop3 EP] [--lmtp EP] [--smtp EP] [--http EP] [--submission EP] "
                "[--workers N]")


def options_for(protocol: str) -> type:
    """The Options class of ``protocol``'s plugin (``"smsync"``: the all-in-one)."""
    if protocol == "smsync":
        return AllInOneOptions
    return type(f"{protocol.capitalize()}Options", (ProtocolOptions,), {"protocol": protocol})


def _protocol_plan(protocol: str, options):
    from smsync.tap.service import Plan

    config = resolve_config(options["config"], None, options["store"])
    endpoints = _expanded(list(options["listen"]), config) or list(
        config.listen_on(registry.service_of(protocol)))
    if not endpoints:
        raise StartupError("error: nothing to listen on: give --listen ENDPOINT")
    _check_endpoints("error", endpoints)
    if protocol in registry.HTTP_PROTOCOLS:
        return Plan(store_uri=config.store.uri, config=config, http=(protocol,),
                    http_endpoints=tuple(endpoints), label=f"smsync-{protocol}")
    return Plan(store_uri=config.store.uri, config=config, streams={protocol: endpoints},
                label=f"smsync-{protocol}")


def _all_in_one_plan(options):
    from smsync.tap.service import Plan

    data = options["data"]
    if not options["config"] and not data and not options["store"]:
        data = DEFAULT_DATA_DIR
    config = resolve_config(options["config"], data, options["store"])
    chosen = {}
    for service in SERVICE_NAMES:
        given = options["endpoints"].get(service)
        endpoints = list(config.listen_on(service)) if given is None else given
        endpoints = _expanded([e for e in endpoints if e.lower() not in ("none", "off")], config)
        _check_endpoints(f"error: {service}", endpoints)
        chosen[service] = endpoints
    streams = {p: chosen[p] for p in ("imap", "pop3", "lmtp", "smtp", "submission") if chosen[p]}
    http = tuple(p for p in registry.PROTOCOLS if p in registry.HTTP_PROTOCOLS)
    return Plan(store_uri=config.store.uri, config=config, streams=streams, http=http,
                http_endpoints=tuple(chosen["http"]), label="smsync")


def unshared_reason(store_uri: str) -> Optional[str]:
    """Why several processes cannot serve the store at ``store_uri`` (None: they can).
    A backend says it can with a true ``multiprocess`` attribute (see
    ``IStoreBackend``): a process must see the changes the others commit."""
    from smsync.store.registry import backends, scheme_of

    scheme = scheme_of(store_uri)
    backend = backends().get(scheme)
    if backend is not None and getattr(backend, "multiprocess", False):
        return None
    if scheme == "memory":
        return "a memory: store lives in one process"
    return f"the {scheme}: store backend does not say several processes may share a store"


def _workers(options) -> int:
    from smsync.tap.workers import default_workers

    workers = options["workers"]
    return default_workers() if workers is None else workers


def make_service(protocol: str, options):
    """The service twistd runs for plugin ``smsync-<protocol>`` (``"smsync"``: all of
    them; in several worker processes unless one is asked for or the store cannot be
    shared). Exits with one line on stderr, status 1, for anything that would keep it
    from starting."""
    from smsync.tap.service import SmsyncService

    prog = "smsync" if protocol == "smsync" else f"smsync-{protocol}"
    if protocol != "smsync" and not registry.is_available(protocol):
        fail(prog, "not available yet")
    try:
        plan = _all_in_one_plan(options) if protocol == "smsync" else _protocol_plan(protocol, options)
    except StartupError as e:
        fail(prog, str(e))
    problem = taken([*plan.http_endpoints, *(e for es in plan.streams.values() for e in es)])
    if problem:
        fail(prog, f"error: {problem}")
    if protocol == "smsync":
        workers = _workers(options)
        if workers > 1:
            why = unshared_reason(plan.store_uri)
            if why is None:
                from smsync.tap.workers import Supervisor

                return Supervisor(plan, workers)
            # A warning if asked for by name; one per core is only the default.
            say = log.warn if options["workers"] is not None else log.info
            say("smsync: one worker, in this process, not {n}: {why}", n=workers, why=why)
    return SmsyncService(plan, freeze_gc=True)
