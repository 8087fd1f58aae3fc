"""``smsync policy list|show|set|clear``: which protocols accounts may use, per domain
and per account (default: all).

A rule for an account wins over its domain's; ``show USER@DOMAIN`` says which applies.
Running servers see a change within a few seconds (``smsync.edge.policy``). The logic is
``smsync.admin.policy``, which the web interface's policy page uses too.
"""

from __future__ import annotations

from smsync.admin import policy
from smsync.cli.common import CliError, one_line, opened_store, say
from smsync.edge.policy import PROTOCOLS
from smsync.errors import InvalidData, NotFound


def add_parser(subparsers, parents) -> None:
    policy = subparsers.add_parser(
        "policy", parents=parents,
        help="which protocols accounts may use, per domain and per account")
    actions = policy.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    listing = actions.add_parser("list", help="every rule", parents=parents)
    listing.set_defaults(func=cmd_list)
    show = actions.add_parser("show", help="the protocols an account or domain may use",
                              parents=parents)
    show.add_argument("subject", metavar="USER@DOMAIN|DOMAIN")
    show.set_defaults(func=cmd_show)
    setting = actions.add_parser(
        "set", parents=parents,
        help=f"allow exactly PROTOCOLS ({', '.join(PROTOCOLS)}; 'all' or 'none')")
    setting.add_argument("subject", metavar="USER@DOMAIN|DOMAIN")
    setting.add_argument("protocols", metavar="PROTOCOLS",
                         help="comma-separated protocol names, 'all' or 'none'")
    setting.set_defaults(func=cmd_set)
    clear = actions.add_parser("clear", help="remove a rule (the domain's, else all, applies)",
                               parents=parents)
    clear.add_argument("subject", metavar="USER@DOMAIN|DOMAIN")
    clear.set_defaults(func=cmd_clear)


def _subject(text: str) -> str:
    try:
        return policy.subject(text)
    except InvalidData as e:
        raise CliError(one_line(e), status=2) from None


async def cmd_list(args, reactor) -> None:
    async with opened_store(args) as store:
        try:
            rules = await policy.list_rules(store)
        except policy.NoPolicy as e:
            raise CliError(str(e)) from None
    if not rules:
        say("no rules: every account may use every protocol")
        return
    width = max(len(rule.subject) for rule in rules)
    for rule in rules:
        say(f"{rule.subject.ljust(width)}  {rule.text}")


async def cmd_show(args, reactor) -> None:
    subject = _subject(args.subject)
    async with opened_store(args) as store:
        if not policy.supported(store):
            say(f"{subject}: all (the store cannot hold a protocol policy)")
            return
        applies = await policy.effective(store, subject)
    if applies.source == subject:
        say(f"{subject}: {applies.text}")
    elif applies.source is not None:
        say(f"{subject}: {applies.text} (from {applies.source})")
    else:
        say(f"{subject}: all (no rule)")


async def cmd_set(args, reactor) -> None:
    subject = _subject(args.subject)
    try:
        protocols = policy.protocols_of(args.protocols)
    except InvalidData as e:
        raise CliError(str(e), status=2) from None
    async with opened_store(args) as store:
        try:
            rule = await policy.set_rule(store, subject, protocols)
        except policy.NoPolicy as e:
            raise CliError(str(e)) from None
    say(f"{rule.subject}: {rule.text}")


async def cmd_clear(args, reactor) -> None:
    subject = _subject(args.subject)
    async with opened_store(args) as store:
        try:
            await policy.clear_rule(store, subject)
        except policy.NoPolicy as e:
            raise CliError(str(e)) from None
        except NotFound:
            raise CliError(f"{subject} has no rule") from None
    say(f"{subject}: rule removed")
