"""``smsync policy list|show|set|clear``: which protocols accounts may use, per domain
and per account (default: all).

A rule for an account wins over its domain's; ``show USER@DOMAIN`` says which applies.
Running servers see a change within a few seconds (``smsync.edge.policy``).
"""

from __future__ import annotations

from smsync.cli.common import CliError, account_name, opened_store, say
from smsync.edge.policy import PROTOCOLS, describe, parse_protocols, store_policy, subject_of
from smsync.errors import InvalidData


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
    if "@" in text:
        return account_name(text)
    try:
        return subject_of(text)
    except InvalidData as e:
        raise CliError(str(e), status=2) from None


def _rules(store):
    rules = store_policy(store)
    if rules is None:
        raise CliError(f"the store {store.uri} cannot hold a protocol policy: every account "
                       "may use every protocol")
    return rules


async def cmd_list(args, reactor) -> None:
    async with opened_store(args) as store:
        rules = await _rules(store).list()
    if not rules:
        say("no rules: every account may use every protocol")
        return
    width = max(len(subject) for subject, _ in rules)
    for subject, protocols in rules:
        say(f"{subject.ljust(width)}  {describe(protocols)}")


async def cmd_show(args, reactor) -> None:
    subject = _subject(args.subject)
    async with opened_store(args) as store:
        rules = store_policy(store)
        if rules is None:
            say(f"{subject}: all (the store cannot hold a protocol policy)")
            return
        own = await rules.get(subject)
        domain = subject.rpartition("@")[2] if "@" in subject else None
        inherited = await rules.get(domain) if domain and own is None else None
    if own is not None:
        say(f"{subject}: {describe(own)}")
    elif inherited is not None:
        say(f"{subject}: {describe(inherited)} (from {domain})")
    else:
        say(f"{subject}: all (no rule)")


async def cmd_set(args, reactor) -> None:
    subject = _subject(args.subject)
    try:
        protocols = parse_protocols(args.protocols)
    except InvalidData as e:
        raise CliError(str(e), status=2) from None
    async with opened_store(args) as store:
        await _rules(store).set(subject, protocols)
    say(f"{subject}: {describe(protocols)}")


async def cmd_clear(args, reactor) -> None:
    subject = _subject(args.subject)
    async with opened_store(args) as store:
        rules = _rules(store)
        if await rules.get(subject) is None:
            raise CliError(f"{subject} has no rule")
        await rules.set(subject, None)
    say(f"{subject}: rule removed")
