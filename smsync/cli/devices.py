"""``smsync devices list|log|rename|delete|wipe USER [DEVICE] [NAME]``: the Synchronized
Devices list, through ``smsync.admin.devices`` as the web interface goes (the same rules:
a name's length and characters, which entries can be renamed or wiped)."""

from __future__ import annotations

from smsync.admin import devices as admin
from smsync.cli.common import CliError, existing_account, opened_store, say
from smsync.errors import InvalidData, NotFound


def add_parser(subparsers, parents) -> None:
    devices = subparsers.add_parser("devices", help="list, rename and delete synced devices",
                                    parents=parents)
    actions = devices.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    listing = actions.add_parser("list", help="the devices that synced an account", parents=parents)
    listing.add_argument("user", metavar="USER@DOMAIN")
    listing.set_defaults(func=cmd_list)
    show_log = actions.add_parser("log", help="a device's recent sync log, oldest first",
                                  parents=parents)
    show_log.add_argument("user", metavar="USER@DOMAIN")
    show_log.add_argument("device", metavar="DEVICE")
    show_log.add_argument("--limit", type=int, default=50, metavar="N",
                          help="show the newest N lines (default 50, at most 200 are kept)")
    show_log.set_defaults(func=cmd_log)
    rename = actions.add_parser("rename", help="give a device a display name", parents=parents)
    rename.add_argument("user", metavar="USER@DOMAIN")
    rename.add_argument("device", metavar="DEVICE")
    rename.add_argument("name", metavar="NAME")
    rename.set_defaults(func=cmd_rename)
    delete = actions.add_parser("delete", help="forget a device and its sync state "
                                "(its next sync starts over)", parents=parents)
    delete.add_argument("user", metavar="USER@DOMAIN")
    delete.add_argument("device", metavar="DEVICE")
    delete.set_defaults(func=cmd_delete)
    wipe = actions.add_parser("wipe", help="tell a phone (EAS) to erase itself, or with "
                              "--account-only only this account, when it next connects",
                              parents=parents)
    wipe.add_argument("user", metavar="USER@DOMAIN")
    wipe.add_argument("device", metavar="DEVICE")
    wipe.add_argument("--account-only", action="store_true",
                      help="remove only this account's data (EAS 16.1 devices; older ones are "
                      "refused instead)")
    wipe.set_defaults(func=cmd_wipe)


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "never"


def format_devices(devices) -> list[str]:
    """The table ``devices list`` prints: a header line, then one line per device."""
    rows = [("DEVICE", "NAME", "PROTOCOL", "LAST SYNC", "FIRST SEEN", "CLIENT")]
    for d in devices:
        rows.append((d.device_id, d.name, d.protocol, _when(d.last_sync), _when(d.first_seen),
                     d.user_agent or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows]


def _missing(account: str, device: str) -> CliError:
    return CliError(admin.not_found_message(account, device))


async def cmd_list(args, reactor) -> None:
    async with opened_store(args) as store:
        account = await existing_account(store, args.user)
        views = await admin.devices_of(store, account)
    if not views:
        say(f"no devices have synced {account} yet")
        return
    for line in format_devices([v.device for v in views]):
        say(line.rstrip())


async def cmd_log(args, reactor) -> None:
    if args.limit < 1:
        raise CliError("--limit must be at least 1", status=2)
    async with opened_store(args) as store:
        account = await existing_account(store, args.user)
        try:
            entries = await admin.log_of(store, account, args.device, args.limit)
        except NotFound:
            raise _missing(account, args.device) from None
    if not entries:
        say(f"device {args.device} of {account} has nothing in its log")
        return
    for entry in entries:
        say(f"{entry.time:%Y-%m-%d %H:%M:%S}  {entry.message}")


async def cmd_rename(args, reactor) -> None:
    if not args.name.strip():
        raise CliError("the new name is empty", status=2)
    async with opened_store(args) as store:
        account = await existing_account(store, args.user)
        try:
            view = await admin.rename(store, account, args.device, args.name)
        except NotFound:
            raise _missing(account, args.device) from None
        except InvalidData as e:
            raise CliError(f"not renamed: {e}") from None
    say(f"renamed {args.device} to {view.device.name!r}")


async def cmd_delete(args, reactor) -> None:
    async with opened_store(args) as store:
        account = await existing_account(store, args.user)
        try:
            await admin.delete(store, account, args.device)
        except NotFound:
            raise _missing(account, args.device) from None
    say(f"deleted device {args.device} of {account}")


async def cmd_wipe(args, reactor) -> None:
    async with opened_store(args) as store:
        account = await existing_account(store, args.user)
        try:
            await admin.wipe(store, account, args.device, args.account_only)
        except NotFound:
            raise _missing(account, args.device) from None
        except InvalidData as e:
            raise CliError(f"not wiped: {e}") from None
    what = "remove the account" if args.account_only else "wipe itself"
    say(f"device {args.device} of {account} will be told to {what} when it next connects; "
        "delete it from the list once it has")
