"""``smsync collections list USER``: an account's calendars, address books, task and
note lists, each with its "Add to Outlook" link (``stssync://``, MS-STSSYN) where
Outlook can take it as a SharePoint list."""

from __future__ import annotations

import socket

from smsync.cli.common import CliError, data_dir, existing_account, opened_store, say
from smsync.config import CONFIG_NAME, Config, ConfigError, load_config
from smsync.admin.collections import LISTS_PATH, collection_links
from smsync.formats import stssync


def add_parser(subparsers, parents) -> None:
    collections = subparsers.add_parser(
        "collections", parents=parents,
        help="an account's calendars, address books and task lists, with their Add to Outlook links")
    actions = collections.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    listing = actions.add_parser("list", parents=parents,
                                 help="every collection of an account, with its Add to Outlook link")
    listing.add_argument("user", metavar="USER@DOMAIN")
    listing.add_argument("--outlook-2003", action="store_true",
                         help="links for Outlook 2003 (stssync version 1.0: read-only calendars "
                         "and contacts)")
    listing.set_defaults(func=cmd_list)


def _config(args) -> Config:
    """The data directory's configuration when there is one (``--store`` alone: the
    defaults)."""
    path = data_dir(args) / CONFIG_NAME
    if not path.exists():
        return Config()
    try:
        return load_config(path)
    except ConfigError as e:
        raise CliError(str(e)) from None


def site_of(config: Config) -> str:
    """The site the links name (``[lists] site_url``, else from the host name)."""
    hostname = config.delivery.hostname.strip() or socket.getfqdn()
    return stssync.base_url(config.lists.site_url, hostname, LISTS_PATH)


def format_collections(account: str, infos, site: str, version: str = stssync.VERSION) -> list[str]:
    """The table ``collections list`` prints: a header, then one line per collection,
    its link last (``-`` where Outlook cannot take it as a list)."""
    rows = [("NAME", "KIND", "DISPLAY NAME", "ADD TO OUTLOOK")]
    for view in collection_links(account, infos, site):
        link = view.link_2003 if version == stssync.VERSION_2003 else view.link
        rows.append((view.name, view.kind, view.display_name, link or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows]


async def cmd_list(args, reactor) -> None:
    config = _config(args)
    try:
        site = site_of(config)
        async with opened_store(args) as store:
            account = await existing_account(store, args.user)
            infos = await (await store.collections(account)).list_collections()
        version = stssync.VERSION_2003 if args.outlook_2003 else stssync.VERSION
        lines = format_collections(account, infos, site, version)
    except ValueError as e:
        raise CliError(f"[lists] site_url: {e}") from None
    if len(lines) == 1:
        say(f"{account} has no collections")
        return
    for line in lines:
        say(line.rstrip())
