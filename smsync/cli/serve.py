"""``smsync serve``: run every protocol from the data directory's config, in the
foreground -- exactly ``twistd -n smsync --data DIR [--workers N]`` (no pid file): N
worker processes sharing the listening sockets, one per core unless told
(``smsync.tap.workers``)."""

from __future__ import annotations

import sys

from smsync.cli.common import CliError, data_dir, say
from smsync.config import CONFIG_NAME, ConfigError, load_config


def add_parser(subparsers, parents) -> None:
    p = subparsers.add_parser("serve", parents=parents,
                              help="run the server in the foreground (twistd -n smsync)")
    p.add_argument("--workers", type=_workers, metavar="N",
                   help="worker processes sharing the listening sockets (default: one per "
                        "core; 1 serves in this process; a memory: store always has one)")
    p.set_defaults(func=None, serve=True)


def _workers(text: str) -> int:
    import argparse

    from smsync.tap.options import workers_count

    try:
        return workers_count(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def twistd_argv(args) -> list[str]:
    """The twistd command line ``serve`` runs."""
    argv = ["twistd", "--nodaemon", "--pidfile=", "smsync", "--data", str(data_dir(args))]
    if args.store:
        argv += ["--store", args.store]
    if getattr(args, "workers", None) is not None:
        argv += ["--workers", str(args.workers)]
    return argv


def serve(args) -> int:
    """Run twistd in this process until it is stopped; the exit status is 1 if a
    protocol or the store failed to start."""
    directory = data_dir(args)
    config_path = directory / CONFIG_NAME
    if not config_path.exists():
        raise CliError(f"no {config_path}: run 'smsync init --data {directory}' first")
    try:
        load_config(config_path)
    except ConfigError as e:
        raise CliError(str(e)) from None
    from twisted.scripts.twistd import run

    from smsync.tap import registry
    from smsync.tap.service import startup_failures

    missing = [p for p in registry.PROTOCOLS if not registry.is_available(p)]
    if missing:
        say(f"not available yet: {', '.join(missing)}")
    sys.argv = twistd_argv(args)
    sys.stdout.flush()
    run()
    return 1 if startup_failures else 0
