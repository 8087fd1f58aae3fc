"""Sending a user's mail: queue it for the smarthost, file a copy in Sent, bounce what
cannot be delivered. Submission (SMTP AUTH), EAS SendMail and EWS CreateItem all send
through one ``Submitter``.
"""

from __future__ import annotations

import io
import re
import socket
from datetime import datetime, timezone
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Optional

import attrs
from twisted.internet.threads import deferToThread
from twisted.logger import Logger

from smsync._async import deferred
from smsync.edge.outbound.queue import Relayer, RelayQueue
from smsync.edge.quota import exceeded
from smsync.errors import NotFound
from smsync.model import Role

log = Logger(namespace="smsync.submission")


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def local_account(address: str) -> str:
    """The account ``address`` would deliver to here: ``user+tag@Domain`` ->
    ``user@domain`` (the delivery listeners' plus-addressing), lower-cased."""
    local, _, domain = address.rpartition("@")
    if local.startswith('"') and local.endswith('"') and len(local) >= 2:
        local = re.sub(r"\\(.)", r"\1", local[1:-1])
    if "+" in local and local.split("+", 1)[0]:
        local = local.split("+", 1)[0]
    return f"{local}@{domain}".lower()


@attrs.frozen
class Sent:
    """What ``Submitter.send`` did with a message.

    Attributes:
        queue_id: the relay queue entry of the recipients that are not ours (None when
            every recipient was a local account).
        delivered: the local accounts whose Inbox got the message.
        relayed: the recipients queued for the smarthost.
        failed: local recipients whose Inbox refused it, with why.
    """

    queue_id: Optional[str]
    delivered: tuple = ()
    relayed: tuple = ()
    failed: tuple = ()


class SendFailed(Exception):
    """No recipient got the message (every local delivery failed, nothing queued)."""


class Submitter:
    """Queues a user's outgoing message for relay and files a copy in Sent."""

    def __init__(self, store, queue: RelayQueue, relayer: Relayer = None, quotas=None):
        """``relayer`` None: another process relays what this one queues (a worker of
        ``smsync serve`` other than the first). ``quotas``: the edge's ``Quotas``, which
        a local recipient's Inbox must have room in (None: no quotas)."""
        self.store = store
        self.queue = queue
        self.relayer = relayer
        self.quotas = quotas
        self._prepared = False

    async def _queue_ready(self) -> None:
        # A submitter made on first use (EAS SendMail) starts its relayer then, which
        # creates the queue directories and clears tmp/ in a thread: a message written
        # before that would find no directory, or lose its half-written text.
        if self.relayer is not None:
            await self.relayer.ready
        elif not self._prepared:
            await deferToThread(self.queue.prepare)
            self._prepared = True

    @deferred
    async def submit(self, account: str, sender: str, recipients: list[str], body,
                     trace: bytes = b"") -> str:
        """Queue ``body`` (bytes or a readable binary file) from ``account`` to
        ``recipients`` with ``trace`` prepended to the relayed copy, then store the
        message (without ``trace``) in the account's Sent folder. Fires with the queue
        id once the queued copy is durable; a failure to file the Sent copy is logged,
        not raised (the mail is on its way: failing would make the client send it
        twice)."""
        reader = io.BytesIO(body) if isinstance(body, (bytes, bytearray)) else body
        state = {"trace": trace}

        def read(size: int) -> bytes:
            if state["trace"]:
                out, state["trace"] = state["trace"], b""
                return out
            return reader.read(size)

        await self._queue_ready()
        entry = await deferToThread(self.queue.enqueue, sender, recipients, read, account)
        if self.relayer is not None:
            self.relayer.schedule(entry)
        try:
            mail = await self.store.mail(account)
            try:
                sent = await mail.mailbox_by_role(Role.SENT)
            except NotFound:
                sent = await mail.mailbox("Sent")
            copy = await deferToThread(self.queue.body, entry)
            await sent.append(copy[len(trace):], flags=["\\Seen"])
        except Exception:
            log.failure("could not file {id} in the Sent folder of {account}",
                        id=entry.id, account=account)
        return entry.id

    @deferred
    async def send(self, account: str, sender: str, recipients: list[str], body: bytes, *,
                   trace: bytes = b"", save_in_sent: bool = True,
                   sent_copy: Optional[bytes] = None) -> Sent:
        """Send ``body`` from ``account``: recipients that are accounts of this server
        get it in their Inbox at once (with ``Return-Path`` and ``trace`` prepended),
        the others are queued for the smarthost as ``submit`` does. With
        ``save_in_sent``, ``sent_copy`` (default ``body``; the sender's own copy keeps
        the Bcc field the sent copies lose) is filed in the account's Sent folder,
        seen. Fires with a ``Sent`` once every local copy is stored and the queued copy
        is durable; ``SendFailed`` if no recipient got it. Filing the Sent copy and a
        local delivery failing among others are logged, not raised (the mail went out:
        failing would make the client send it twice); a local recipient whose Inbox is
        at its quota is one that fails ("mailbox full")."""
        local: dict[str, str] = {}
        remote: list[str] = []
        for recipient in recipients:
            target = local_account(recipient)
            if target in local.values():
                continue
            if await self.store.accounts.password_hash(target) is not None:
                local[recipient] = target
            elif recipient not in remote:
                remote.append(recipient)
        delivered, failed = [], []
        head = f"Return-Path: <{_CONTROL.sub('?', sender)}>\r\n".encode("utf-8") + trace
        for recipient, target in local.items():
            try:
                # A local recipient's Inbox has a quota as delivery's has (the sender's
                # own quota is the sending protocol's to check, for the Sent copy).
                full = await exceeded(self.quotas, target, len(head) + len(body),
                                      f"local delivery from {account}")
                if full is not None:
                    failed.append((recipient, "mailbox full"))
                    continue
                inbox = await (await self.store.mail(target)).mailbox("INBOX")
                await inbox.append(head + body)
                delivered.append(target)
            except Exception as e:
                log.failure("could not deliver to {target}", target=target)
                failed.append((recipient, str(e) or type(e).__name__))
        queue_id = None
        if remote:
            await self._queue_ready()
            reader = io.BytesIO(trace + body)
            entry = await deferToThread(self.queue.enqueue, sender, remote, reader.read, account)
            if self.relayer is not None:
                self.relayer.schedule(entry)
            queue_id = entry.id
        if not delivered and queue_id is None:
            raise SendFailed("; ".join(f"{r}: {why}" for r, why in failed) or "no recipients")
        if save_in_sent:
            try:
                mail = await self.store.mail(account)
                try:
                    box = await mail.mailbox_by_role(Role.SENT)
                except NotFound:
                    box = await mail.mailbox("Sent")
                await box.append(sent_copy if sent_copy is not None else body, flags=["\\Seen"])
            except Exception:
                log.failure("could not file a sent message in the Sent folder of {account}",
                            account=account)
        return Sent(queue_id, tuple(delivered), tuple(remote), tuple(failed))


def bouncer(store, hostname: str):
    """A ``Relayer`` bounce callback: tells the local sender, in its Inbox, which
    recipients could not be reached and why."""

    @deferred
    async def bounce(entry, recipients, error) -> None:
        mail = await store.mail(entry.account)
        inbox = await mail.mailbox("INBOX")
        lines = [
            f"From: Mail Delivery System <MAILER-DAEMON@{hostname}>",
            f"To: <{entry.sender}>",
            "Subject: Undelivered Mail Returned to Sender",
            f"Date: {format_datetime(datetime.now(timezone.utc))}",
            f"Message-ID: {make_msgid(domain=hostname)}",
            "Auto-Submitted: auto-replied",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "",
            "Your message could not be delivered to:",
            "",
            *[f"  <{r}>" for r in recipients],
            "",
            f"Reason: {error}",
            f"Queue id: {entry.id}",
            "",
        ]
        await inbox.append("\r\n".join(lines).encode("utf-8"))

    return bounce


def hostname_of(config) -> str:
    """The name the server gives itself: ``[delivery] hostname``, else the FQDN."""
    delivery = getattr(config, "delivery", None)
    if delivery is not None and delivery.hostname:
        return delivery.hostname
    return socket.getfqdn() or "localhost"


def queue_dir_of(config) -> Path:
    """The relay queue directory: ``[delivery] queue_dir``, else ``queue/`` beside the
    config file. ``ValueError`` if neither is known."""
    delivery = getattr(config, "delivery", None)
    if delivery is not None and delivery.queue_dir:
        return Path(delivery.queue_dir)
    path = getattr(config, "path", None)
    if path is not None:
        return Path(path).parent / "queue"
    raise ValueError("sending mail needs a relay queue: set [delivery] queue_dir")
