"""Message submission (RFC 6409, port-587 style): authenticated users send mail out.

AUTH (PLAIN or LOGIN) is required before MAIL, and only after STARTTLS when a
certificate is configured. The envelope sender must be the user's own address (or a
plus-address of it). A received message is first queued for the smarthost on disk
(durably: that is what the 250 promises), then a copy is stored in the user's Sent
folder so every client sees it; EAS and EWS send through the same ``Submitter``.
"""

from __future__ import annotations

import io
from datetime import datetime, timezone
from email.utils import format_datetime, make_msgid
from pathlib import Path

from twisted.application.service import MultiService
from twisted.internet.threads import deferToThread
from twisted.logger import Logger

from smsync._async import deferred
from smsync.errors import NotFound
from smsync.model import Role
from smsync.protocols.delivery.core import Rejected, Reply
from smsync.protocols.delivery.envelope import account_of, received_header
from smsync.protocols.delivery.queue import Relayer, RelayQueue, Smarthost
from smsync.protocols.delivery.server import MailFactory, ServerConfig, queue_id

log = Logger(namespace="smsync.submission")


class Submitter:
    """Queues a user's outgoing message for relay and files a copy in Sent. Shared by
    the submission listener and (later) EAS SendMail / EWS CreateItem."""

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


class SubmissionFactory(MailFactory):
    """The submission listener."""

    def __init__(self, store, portal, config: ServerConfig, submitter: Submitter,
                 reactor=None):
        super().__init__(store, portal, config, reactor)
        self.submitter = submitter

    def auth_offered(self) -> bool:
        return True

    @deferred
    async def check_sender(self, session, path) -> None:
        if session.authenticated is None:
            raise Rejected(Reply(530, "5.7.0", "authentication required"))
        if not path.address or account_of(path.address) != session.authenticated:
            raise Rejected(Reply(553, "5.7.1", f"sender address not owned by "
                                               f"{session.authenticated}"))

    @deferred
    async def check_recipient(self, session, address: str) -> str:
        return address

    @deferred
    async def finish(self, session, envelope, spool) -> list[Reply]:
        trace = received_header(helo=session.helo, peer=session.peer,
                                by=self.config.hostname, protocol=session.with_protocol(),
                                queue_id=queue_id(), recipient=None,
                                authenticated=session.authenticated)
        recipients = [address for address, _ in envelope.recipients]
        qid = await self.submitter.submit(session.authenticated, envelope.sender.address,
                                          recipients, spool.body(), trace)
        return [Reply(250, "2.0.0", f"queued as {qid}")] * len(recipients)


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


def queue_dir_of(config) -> Path:
    """The relay queue directory: ``[delivery] queue_dir``, else ``queue/`` beside the
    config file. ``ValueError`` if neither is known."""
    delivery = getattr(config, "delivery", None)
    if delivery is not None and delivery.queue_dir:
        return Path(delivery.queue_dir)
    path = getattr(config, "path", None)
    if path is not None:
        return Path(path).parent / "queue"
    raise ValueError("submission needs a relay queue: set [delivery] queue_dir")


def build_service(store, portal, endpoints, config, server_config: ServerConfig):
    """A service running the relay queue and the submission listener on ``endpoints``."""
    from twisted.application import strports

    delivery = config.delivery
    smarthost = None
    if delivery.smarthost:
        smarthost = Smarthost.parse(delivery.smarthost, delivery.smarthost_user,
                                    delivery.smarthost_password)
    else:
        log.warn("submission: no [delivery] smarthost: submitted mail stays queued")
    queue = RelayQueue(queue_dir_of(config))
    relayer = Relayer(queue, smarthost, retry_initial=delivery.retry_initial,
                      retry_max=delivery.retry_max, max_age=delivery.max_queue_age,
                      bounce=bouncer(store, server_config.hostname))
    factory = SubmissionFactory(store, portal, server_config, Submitter(store, queue, relayer))
    service = MultiService()
    relayer.setServiceParent(service)
    for description in endpoints:
        strports.service(description, factory).setServiceParent(service)
    service.factory = factory
    service.relayer = relayer
    return service
