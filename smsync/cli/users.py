"""``smsync user add|passwd|del|list|admin|quota``: accounts, through
``smsync.admin.accounts`` (the web interface's administration pages use the same code).

``user list`` prints one account a line, followed by ``(admin)`` for an administrator.
"""

from __future__ import annotations

import getpass
import sys

from smsync.admin import accounts
from smsync.cli.common import CliError, account_name, existing_account, one_line, opened_store, say
from smsync.errors import AlreadyExists, InvalidData, NotFound


def add_parser(subparsers, parents) -> None:
    user = subparsers.add_parser("user", help="add, remove and list accounts", parents=parents)
    actions = user.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    add = actions.add_parser("add", help="create an account", parents=parents)
    add.add_argument("user", metavar="USER@DOMAIN")
    add.add_argument("--password", help="the password (default: read one line from stdin)")
    add.add_argument("--admin", action="store_true",
                     help="make the account an administrator (it sees the web administration pages)")
    add.set_defaults(func=cmd_add)
    passwd = actions.add_parser("passwd", help="set an account's password", parents=parents)
    passwd.add_argument("user", metavar="USER@DOMAIN")
    passwd.add_argument("--password", help="the new password (default: read from stdin)")
    passwd.set_defaults(func=cmd_passwd)
    delete = actions.add_parser("del", help="delete an account and all its data", parents=parents)
    delete.add_argument("user", metavar="USER@DOMAIN")
    delete.set_defaults(func=cmd_del)
    listing = actions.add_parser("list", help="list accounts (administrators marked (admin))",
                                 parents=parents)
    listing.set_defaults(func=cmd_list)
    admin = actions.add_parser("admin", help="make an account an administrator or not",
                               parents=parents)
    admin.add_argument("user", metavar="USER@DOMAIN")
    admin.add_argument("state", choices=("on", "off"))
    admin.set_defaults(func=cmd_admin)
    quota = actions.add_parser("quota", help="show or set an account's storage quota",
                               parents=parents)
    quota.add_argument("user", metavar="USER@DOMAIN")
    quota.add_argument("size", nargs="?", metavar="SIZE",
                       help="the limit: octets or a size such as 500M or 2G; 'none' removes it")
    quota.set_defaults(func=cmd_quota)


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
        try:
            await accounts.add(store, account, password, admin=args.admin)
        except AlreadyExists:
            raise CliError(f"account {account} already exists") from None
        except InvalidData as e:
            raise CliError(one_line(e)) from None
    say(f"added {account}" + (" (admin)" if args.admin else ""))


async def cmd_passwd(args, reactor) -> None:
    account = account_name(args.user)
    password = read_password(args.password)
    async with opened_store(args) as store:
        try:
            await accounts.set_password(store, account, password)
        except NotFound:
            raise CliError(f"no such account: {account}") from None
        except InvalidData as e:
            raise CliError(one_line(e), status=2) from None
    say(f"password of {account} changed")


async def cmd_del(args, reactor) -> None:
    async with opened_store(args) as store:
        account = await existing_account(store, args.user)
        try:
            await accounts.delete(store, account)
        except NotFound:
            raise CliError(f"no such account: {account}") from None
    say(f"deleted {account}")


async def cmd_list(args, reactor) -> None:
    async with opened_store(args) as store:
        names = await store.accounts.list()
        for account in names:
            say(account + (" (admin)" if await accounts.is_admin(store, account) else ""))


async def cmd_admin(args, reactor) -> None:
    on = args.state == "on"
    async with opened_store(args) as store:
        account = await existing_account(store, args.user)
        try:
            await accounts.set_admin(store, account, on)
        except InvalidData as e:
            raise CliError(one_line(e)) from None
    say(f"{account} is {'an administrator' if on else 'not an administrator'}")


async def cmd_quota(args, reactor) -> None:
    async with opened_store(args) as store:
        account = await existing_account(store, args.user)
        if args.size is not None:
            try:
                await accounts.set_quota(store, account, accounts.parse_size(args.size))
            except InvalidData as e:
                raise CliError(one_line(e), status=2) from None
        limit = await accounts.quota_of(store, account)
        used = await accounts.usage(store, account)
    shown = f"{account}: quota {accounts.format_size(limit)}"
    if used is not None:
        shown += f", {accounts.format_size(used) if used else '0 octets'} used"
    say(shown)
