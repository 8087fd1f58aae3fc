"""``smsync export USER (--folder NAME | --collection NAME) OUT``: mbox, .ics or .vcf.

OUT ``-`` writes to stdout. A file is written next to OUT and renamed into place when
complete, so a failed export never leaves a truncated file under OUT's name.
"""

from __future__ import annotations

import os
import re
import sys
from email.utils import getaddresses
from pathlib import Path

from twisted.internet.defer import FirstError, gatherResults
from twisted.internet.threads import deferToThread

from smsync.cli.common import CliError, existing_account, one_line, opened_store, say
from smsync.cli.mbox import mbox_entry
from smsync.errors import NotFound, SmsyncError
from smsync.formats.bundle import join_vcards, merge_calendars
from smsync.model import CollectionKind

_BATCH = 64
_FROM_HEADER = re.compile(rb"^From:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.I | re.M)


def add_parser(subparsers, parents) -> None:
    p = subparsers.add_parser("export", parents=parents,
                              help="export a folder as mbox, a collection as .ics or .vcf")
    p.add_argument("user", metavar="USER@DOMAIN")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--folder", metavar="NAME")
    where.add_argument("--collection", metavar="NAME")
    p.add_argument("out", metavar="OUT", help="file to write ('-' for stdout)")
    p.set_defaults(func=cmd_export)


def envelope_sender(body: bytes) -> str:
    """The address for an mbox From_ line: the message's From address, if it has one."""
    header = body.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    match = _FROM_HEADER.search(header)
    if match:
        text = match.group(1).decode("utf-8", "replace")
        addresses = [a for _, a in getaddresses([text]) if "@" in a]
        if addresses:
            return addresses[0]
    return "MAILER-DAEMON"


class _Output:
    """Where the export goes: stdout, or a temp file renamed to OUT on success."""

    def __init__(self, out: str):
        self.out = out
        self.path = None if out == "-" else Path(out)
        self.file = None

    def open(self) -> None:
        if self.path is None:
            self.file = sys.stdout.buffer
            return
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.file = open(self.tmp, "wb")
        except OSError as e:
            raise CliError(f"cannot write {self.path}: {one_line(e)}") from None

    def write(self, data: bytes) -> None:
        self.file.write(data)

    def commit(self) -> None:
        self.file.flush()
        if self.path is not None:
            os.fsync(self.file.fileno())
            self.file.close()
            os.replace(self.tmp, self.path)

    def abandon(self) -> None:
        if self.path is not None and self.file is not None:
            self.file.close()
            try:
                os.unlink(self.tmp)
            except OSError:
                pass


async def _export_folder(store, account: str, name: str, output: _Output) -> int:
    mail = await store.mail(account)
    try:
        mailbox = await mail.mailbox(name)
    except NotFound:
        raise CliError(f"{account} has no folder {name!r}") from None
    infos = await mailbox.messages(None)
    for start in range(0, len(infos), _BATCH):
        batch = infos[start:start + _BATCH]
        bodies = await gatherResults([mailbox.read_body(i.uid) for i in batch], consumeErrors=True)
        chunk = b"".join(mbox_entry(body, envelope_sender(body), info.internal_date)
                         for info, body in zip(batch, bodies))
        await deferToThread(output.write, chunk)
    return len(infos)


async def _export_collection(store, account: str, name: str, output: _Output) -> int:
    collections = await store.collections(account)
    try:
        collection = await collections.collection(name)
    except NotFound:
        raise CliError(f"{account} has no collection {name!r}") from None
    info = await collection.info()
    names = [i.name for i in await collection.items()]
    contents = []
    for start in range(0, len(names), _BATCH):
        contents += [item.content for item in await collection.get(names[start:start + _BATCH])]
    if info.kind == CollectionKind.ADDRESSBOOK:
        data = join_vcards(contents)
    else:
        data = await deferToThread(merge_calendars, contents)
    await deferToThread(output.write, data)
    return len(contents)


async def cmd_export(args, reactor) -> None:
    output = _Output(args.out)
    async with opened_store(args) as store:
        account = await existing_account(store, args.user)
        output.open()
        try:
            if args.folder:
                count = await _export_folder(store, account, args.folder, output)
                what = f"{count} message{'' if count == 1 else 's'}"
            else:
                count = await _export_collection(store, account, args.collection, output)
                what = f"{count} item{'' if count == 1 else 's'}"
            await deferToThread(output.commit)
        except BaseException as e:
            output.abandon()
            if isinstance(e, FirstError):
                e = e.subFailure.value
            if isinstance(e, SmsyncError):
                raise CliError(one_line(e)) from None
            raise
    if output.path is not None:
        say(f"exported {what} to {output.path}")
    else:
        sys.stderr.write(f"exported {what}\n")
