"""Sending a user's mail: queue it for the smarthost, file a copy in Sent, bounce what
cannot be delivered. Submission (SMTP AUTH), EAS SendMail and EWS CreateItem all send
through one ``Submitter``.
"""

from __future__ import annotations

import io
import socket
from datetime import datetime, timezone
from email.utils import format_datetime, make_msgid
from pathlib import Path

from twisted.internet.threads import deferToThread
from twisted.logger import Logger

from smsync._async import deferred
from smsync.edge.outbound.queue import Relayer, RelayQueue
from smsync.errors import NotFound
from smsync.model import Role

log = Logger(namespace="smsync.submission")


class Submitter:
    """Queues a user's outgoing message for relay and files a copy in Sent."""

    def __init__(self, store, queue: RelayQueue, relayer: Relayer = None):
        self.store = store
        self.queue = queue
        self.relayer = relayer

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
