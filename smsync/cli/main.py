"""``smsync``: the admin command. Parses arguments, runs the command on the reactor, and
turns every problem the user can fix into ONE line ``smsync: error: ...`` on stderr with
a non-zero exit status (2 for bad usage, 1 for everything else) -- never a traceback.

Set ``SMSYNC_TRACEBACK=1`` to see the traceback of an unexpected error.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from smsync import __version__
from smsync.cli import collections, devices, exporting, importing, init, policy, serve, users
from smsync.cli.common import CliError, one_line
from smsync.errors import SmsyncError

PROG = "smsync"


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse would print the whole usage first: one line is the contract.
        raise CliError(f"{message} (see '{self.prog} --help')", status=2)


def _store_options(parser, default) -> None:
    parser.add_argument("--store", metavar="URI", default=default,
                        help="store URI (default: the one in DATA/smsync.toml)")
    parser.add_argument("--data", metavar="DIR", default=default,
                        help="data directory (default: ./smsync-data)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="smsync administration: accounts, "
                     "import/export, collections, devices, protocol policy, and running the server.")
    parser.add_argument("--version", action="version", version=f"smsync {__version__}")
    _store_options(parser, None)
    # Sub-commands take the same options after their name; SUPPRESS keeps a value given
    # before the sub-command from being reset by the sub-parser's default.
    common = _Parser(add_help=False)
    _store_options(common, argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    for module in (init, users, importing, exporting, collections, devices, policy, serve):
        module.add_parser(commands, [common])
    return parser


def _fail(message: str, status: int) -> int:
    sys.stderr.write(f"{PROG}: error: {message}\n")
    sys.stderr.flush()
    return status


async def _run(reactor, args) -> None:
    try:
        await args.func(args, reactor)
    except CliError as e:
        raise SystemExit(_fail(str(e), e.status)) from None
    except SmsyncError as e:
        raise SystemExit(_fail(one_line(e), 1)) from None
    except Exception as e:
        if os.environ.get("SMSYNC_TRACEBACK"):
            traceback.print_exc()
        raise SystemExit(_fail(f"internal error: {type(e).__name__}: {one_line(e)}", 1)) from None


def main(argv=None) -> int:
    """Entry point of the ``smsync`` console script."""
    try:
        args = build_parser().parse_args(argv)
    except CliError as e:
        return _exit(_fail(str(e), e.status))
    if getattr(args, "serve", False):
        try:
            return _exit(serve.serve(args))
        except CliError as e:
            return _exit(_fail(str(e), e.status))
    from twisted.internet.task import react

    react(_run, (args,))


def _exit(status: int):
    sys.exit(status)


if __name__ == "__main__":
    main()
