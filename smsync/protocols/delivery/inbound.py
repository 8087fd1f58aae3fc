"""Inbound delivery listeners: LMTP (behind Postfix or Exim) and SMTP (direct receipt).

Both take mail only for accounts of the store (550 at RCPT for anyone else) and store
each message in the recipient's Inbox through the shared ``DeliveryCore``. LMTP answers
once per recipient after DATA; SMTP once per message.

A message carrying an invitation or an answer to one (iMIP, RFC 6047: a
``text/calendar`` part) is also applied to each recipient's calendar by the scheduling
core before the answer goes back, so a client sees the calendar changed once the mail
is there. That never fails the delivery: the mail is stored either way.
"""

from __future__ import annotations

from twisted.internet.defer import DeferredSemaphore, gatherResults
from twisted.logger import Logger

from smsync._async import deferred
from smsync.protocols.delivery.core import DeliveryCore
from smsync.protocols.delivery.envelope import received_header
from smsync.protocols.delivery.server import MailFactory, ServerConfig, queue_id
from smsync.scheduling.imip import calendar_of_message, may_carry_calendar
from smsync.scheduling.scheduler import Scheduler

log = Logger(namespace="smsync.delivery")

#: Bytes of message text the appends of one multi-recipient transaction may hold at once.
APPEND_BYTES_IN_FLIGHT = 8 * 1024 * 1024


class DeliveryFactory(MailFactory):
    """The LMTP or SMTP listener (``config.mode`` "lmtp" or "smtp") over ``store``."""

    def __init__(self, store, portal, config: ServerConfig, core: DeliveryCore = None,
                 reactor=None, edge=None):
        super().__init__(store, portal, config, reactor, edge=edge)
        self.core = core or DeliveryCore(store, config.hostname, config.max_message_size,
                                         quotas=self.edge.quotas)
        # Applying iMIP mail sends nothing: no mail service needed.
        self.scheduler = Scheduler(store)

    def check_recipient(self, session, address: str):
        return self.core.resolve(address)

    def finish(self, session, envelope, spool):
        # Only messages small enough to be in memory can be invitations (MAX_CALENDAR).
        text = spool.body() if spool.in_memory else None
        if text is not None and may_carry_calendar(text):
            return self._finish(session, envelope, spool).addCallback(
                self._apply_calendar, envelope, text)
        return self._finish(session, envelope, spool)

    def _finish(self, session, envelope, spool):
        qid = queue_id()
        if len(envelope.recipients) == 1:
            # The usual LMTP transaction: no coroutine around the one delivery.
            address, account = envelope.recipients[0]
            return self.core.deliver(account, spool, envelope.sender.address,
                                     self._received(session, qid, address)).addCallback(
                                         lambda reply: [reply])
        # Several recipients' appends in flight at once: the store makes them durable
        # in shared rounds, so N recipients cost about one round, not N in a row. Each
        # append may hold its own copy of the text, so only as many run at once as fit
        # in APPEND_BYTES_IN_FLIGHT (a large message goes to one recipient after the
        # other). Two addresses of one account may get their copies' UIDs in either
        # order. ``deliver`` never fails, and the replies come back in RCPT order.
        sender = envelope.sender.address
        limit = DeferredSemaphore(max(1, APPEND_BYTES_IN_FLIGHT // max(spool.size, 1)))
        return gatherResults([
            limit.run(self.core.deliver, account, spool, sender,
                      self._received(session, qid, address))
            for address, account in envelope.recipients])

    def _received(self, session, qid: str, address: str) -> bytes:
        return received_header(
            helo=session.helo, peer=session.peer, by=self.config.hostname,
            protocol=session.with_protocol(), queue_id=qid, recipient=address)

    @deferred
    async def _apply_calendar(self, replies, envelope, text: bytes):
        try:
            found = calendar_of_message(text)
            if found is not None:
                ics, senders = found
                senders = (envelope.sender.address,) + tuple(senders)
                for (_, account), reply in zip(envelope.recipients, replies):
                    if reply.ok:
                        await self.scheduler.incoming_mail(account, ics, senders)
        except Exception:
            log.failure("iMIP: applying a calendar mail failed (the mail was delivered)")
        return replies
