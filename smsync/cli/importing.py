"""``smsync import USER FILE [--folder NAME | --collection NAME] [--progress]``.

Mail: mbox files and Maildirs (flags kept from Status/X-Status headers and Maildir file
names). Calendars: .ics files, split into one item per UID. Contacts: .vcf files with any
number of cards. Re-importing the same calendar or contacts updates the items in place
(names come from UIDs); mail is appended again.
"""

from __future__ import annotations

import sys
from pathlib import Path

from twisted.internet.threads import deferToThread

from smsync.cli.common import CliError, existing_account, one_line, opened_store, say
from smsync.cli.maildir import is_maildir, list_maildir
from smsync.cli.mbox import count_mbox, iter_mbox, to_crlf
from smsync.cli.pipeline import store_all
from smsync.cli.progress import Progress
from smsync.cli.split import split_calendar, split_vcards
from smsync.errors import InvalidData, NotFound, SmsyncError
from smsync.model import CollectionKind

#: Where calendar objects and cards go when no --collection is given: the account's
#: default collections (smsync.model.DEFAULT_COLLECTIONS).
DEFAULT_COLLECTION = {"VEVENT": "calendar", "VTODO": "tasks", "VJOURNAL": "notes",
                      "VCARD": "contacts"}
_KIND = {"VEVENT": CollectionKind.CALENDAR, "VTODO": CollectionKind.TASKS,
         "VJOURNAL": CollectionKind.NOTES, "VCARD": CollectionKind.ADDRESSBOOK}


def add_parser(subparsers, parents) -> None:
    p = subparsers.add_parser(
        "import", parents=parents,
        help="import an mbox, a Maildir, an .ics or a .vcf file into an account")
    p.add_argument("user", metavar="USER@DOMAIN")
    p.add_argument("file", metavar="FILE", help="mbox file, Maildir directory, .ics or .vcf")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--folder", metavar="NAME", help="mail folder (default INBOX; created if missing)")
    where.add_argument("--collection", metavar="NAME",
                       help="collection (default: calendar, tasks, notes or contacts by "
                            "content; created if missing)")
    p.add_argument("--progress", action="store_true",
                   help="show progress on stderr even when it is not a terminal")
    p.set_defaults(func=cmd_import)


def detect_format(path: Path) -> str:
    """"mbox", "maildir", "ics" or "vcf", by what ``path`` is and holds."""
    if path.is_dir():
        if is_maildir(path):
            return "maildir"
        raise CliError(f"{path} is a directory but not a Maildir (no cur/, new/, tmp/)")
    if not path.exists():
        raise CliError(f"{path}: no such file")
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError as e:
        raise CliError(f"cannot read {path}: {one_line(e)}") from None
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").upper()
    suffix = path.suffix.lower()
    if start.startswith(b"BEGIN:VCALENDAR") or (suffix in (".ics", ".ical") and not start):
        return "ics"
    if start.startswith(b"BEGIN:VCARD") or (suffix in (".vcf", ".vcard") and not start):
        return "vcf"
    if start.startswith(b"FROM "):
        return "mbox"
    if suffix in (".ics", ".ical"):
        raise CliError(f"{path} is not an iCalendar file (no BEGIN:VCALENDAR)")
    if suffix in (".vcf", ".vcard"):
        raise CliError(f"{path} is not a vCard file (no BEGIN:VCARD)")
    if suffix in (".mbox", ".mbx", ""):
        raise CliError(f"{path} is not an mbox file (it does not start with a 'From ' line)")
    raise CliError(f"cannot tell what {path} is: expected an mbox, a Maildir, .ics or .vcf")


def _mbox_messages(path: Path):
    with open(path, "rb") as f:
        for message in iter_mbox(f):
            yield message.body, message.flags, message.internal_date


def _count_mbox(path: Path) -> int:
    with open(path, "rb") as f:
        return count_mbox(f)


def _maildir_messages(entries):
    for entry in entries:
        yield to_crlf(entry.path.read_bytes()), entry.flags, entry.internal_date


async def _mailbox(mail, name: str):
    try:
        return await mail.mailbox(name)
    except NotFound:
        pass
    try:
        await mail.create_mailbox(name)
    except InvalidData as e:
        raise CliError(one_line(e), status=2) from None
    say(f"created folder {name}")
    return await mail.mailbox(name)


async def _collection(collections, name: str, component: str):
    try:
        return await collections.collection(name)
    except NotFound:
        pass
    try:
        await collections.create_collection(name, _KIND.get(component, CollectionKind.CALENDAR))
    except InvalidData as e:
        raise CliError(one_line(e), status=2) from None
    say(f"created collection {name}")
    return await collections.collection(name)


def _report(outcome, total: int, noun: str, where: str, progress: Progress) -> None:
    progress.finish(outcome.prefix)
    if outcome.failed_at is not None:
        raise CliError(f"stopped at {noun} {outcome.failed_at} of {total}: "
                       f"{one_line(outcome.error)} ({outcome.stored} imported into {where})")
    say(f"imported {outcome.stored} {noun}{'' if outcome.stored == 1 else 's'} into {where}")


async def _import_mail(args, store, account: str, path: Path, fmt: str) -> None:
    if args.collection:
        raise CliError("mail goes into a folder: use --folder, not --collection", status=2)
    folder = args.folder or "INBOX"
    if fmt == "mbox":
        total = await deferToThread(_count_mbox, path)
        messages = _mbox_messages(path)
    else:
        entries = await deferToThread(list_maildir, path)
        total = len(entries)
        messages = _maildir_messages(entries)
    if fmt == "mbox":
        # A file that is not an mbox fails on its first line: say so, not "message 1".
        try:
            first = await deferToThread(next, messages, None)
        except (ValueError, OSError) as e:
            raise CliError(f"{path}: {one_line(e)}") from None
        messages = _chain(first, messages)
    mailbox = await _mailbox(await store.mail(account), folder)
    progress = Progress.for_import(sys.stderr, total, "messages", args.progress)

    def append(message):
        body, flags, internal_date = message
        return mailbox.append(body, flags=flags, internal_date=internal_date)

    outcome = await store_all(messages, append, progress.update)
    _report(outcome, total, "message", f"{account} {folder}", progress)


def _chain(first, rest):
    if first is not None:
        yield first
        yield from rest


def _target(args, component: str) -> str:
    return args.collection or DEFAULT_COLLECTION.get(component, "calendar")


async def _import_items(args, store, account: str, path: Path, fmt: str) -> None:
    if args.folder:
        raise CliError("calendars and contacts go into a collection: use --collection", status=2)
    splitter = split_calendar if fmt == "ics" else split_vcards
    try:
        items = await deferToThread(lambda: splitter(path.read_bytes()))
    except (InvalidData, OSError) as e:
        raise CliError(f"{path}: {one_line(e)}") from None
    if not items:
        raise CliError(f"{path} holds no calendar objects or contacts")
    collections = await store.collections(account)
    targets = {}
    for item in items:
        name = _target(args, item.component)
        if name not in targets:
            targets[name] = await _collection(collections, name, item.component)
    total = len(items)
    progress = Progress.for_import(sys.stderr, total, "items", args.progress)

    def put(item):
        return targets[_target(args, item.component)].put(item.name, item.content)

    outcome = await store_all(iter(items), put, progress.update, read_in_thread=False)
    where = f"{account} {', '.join(sorted(targets))}"
    _report(outcome, total, "item", where, progress)


async def cmd_import(args, reactor) -> None:
    path = Path(args.file)
    fmt = detect_format(path)
    async with opened_store(args) as store:
        account = await existing_account(store, args.user)
        try:
            if fmt in ("mbox", "maildir"):
                await _import_mail(args, store, account, path, fmt)
            else:
                await _import_items(args, store, account, path, fmt)
        except SmsyncError as e:
            raise CliError(one_line(e)) from None
