"""``smsync user add|passwd|del|list``."""

from __future__ import annotations

import getpass
import sys

from twisted.internet.threads import deferToThread

from smsync.auth import hash_password
from smsync.cli.common import CliError, account_name, existing_account, opened_store, say
from smsync.errors import AlreadyExists, NotFound


def add_parser(subparsers, parents) -> None:
    user = subparsers.add_parser("user", help="add, remove and list accounts", parents=parents)
    actions = user.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    add = actions.add_parser("add", help="create an account", parents=parents)
    add.add_argument("user", metavar="USER@DOMAIN")
    add.add_argument("--password", help="the password (default: read one line from stdin)")
    add.set_defaults(func=cmd_add)
    passwd = actions.add_parser("passwd", help="set an account's password", parents=parents)
    passwd.add_argument("user", metavar="USER@DOMAIN")
    passwd.add_argument("--password", help="the new password (default: read from stdin)")
    passwd.set_defaults(func=cmd_passwd)
    delete = actions.add_parser("del", help="delete an account and all its data", parents=parents)
    delete.add_argument("user", metavar="USER@DOMAIN")
    delete.set_defaults(func=cmd_del)
    listing = actions.add_parser("list", help="list accounts", parents=parents)
    listing.set_defaults(func=cmd_list)


def read_password(given) -> str:
    """``--password`` if given; else one line of stdin, asked for without echo on a tty."""
    if given is not None:
        password = given
    elif sys.stdin is not None and sys.stdin.isatty():
        try:
            password = getpass.getpass("Password: ")
        except (EOFError, KeyboardInterrupt):
            raise CliError("no password given") from None
    else:
        line = sys.stdin.readline() if sys.stdin is not None else ""
        password = line[:-1] if line.endswith("\n") else line
        password = password[:-1] if password.endswith("\r") else password
    if not password:
        raise CliError("empty password", status=2)
    return password


async def cmd_add(args, reactor) -> None:
    account = account_name(args.user)
    password = read_password(args.password)
    async with opened_store(args) as store:
        password_hash = await deferToThread(hash_password, password)
        try:
            await store.accounts.add(account, password_hash)
        except AlreadyExists:
            raise CliError(f"account {account} already exists") from None
    say(f"added {account}")


async def cmd_passwd(args, reactor) -> None:
    account = account_name(args.user)
    password = read_password(args.password)
    async with opened_store(args) as store:
        password_hash = await deferToThread(hash_password, password)
        try:
            await store.accounts.set_password_hash(account, password_hash)
        except NotFound:
            raise CliError(f"no such account: {account}") from None
    say(f"password of {account} changed")


async def cmd_del(args, reactor) -> None:
    async with opened_store(args) as store:
        account = await existing_account(store, args.user)
        try:
            await store.accounts.remove(account)
        except NotFound:
            raise CliError(f"no such account: {account}") from None
    say(f"deleted {account}")


async def cmd_list(args, reactor) -> None:
    async with opened_store(args) as store:
        accounts = await store.accounts.list()
    for account in accounts:
        say(account)
