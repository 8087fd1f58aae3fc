"""Inbound delivery listeners: LMTP (behind Postfix or Exim) and SMTP (direct receipt).

Both take mail only for accounts of the store (550 at RCPT for anyone else) and store
each message in the recipient's Inbox through the shared ``DeliveryCore``. LMTP answers
once per recipient after DATA; SMTP once per message.
"""

from __future__ import annotations

from twisted.internet.defer import DeferredSemaphore, gatherResults

from smsync.protocols.delivery.core import DeliveryCore
from smsync.protocols.delivery.envelope import received_header
from smsync.protocols.delivery.server import MailFactory, ServerConfig, queue_id

#: Bytes of message text the appends of one multi-recipient transaction may hold at once.
APPEND_BYTES_IN_FLIGHT = 8 * 1024 * 1024


class DeliveryFactory(MailFactory):
    """The LMTP or SMTP listener (``config.mode`` "lmtp" or "smtp") over ``store``."""

    def __init__(self, store, portal, config: ServerConfig, core: DeliveryCore = None,
                 reactor=None, edge=None):
        super().__init__(store, portal, config, reactor, edge=edge)
        self.core = core or DeliveryCore(store, config.hostname, config.max_message_size)

    def check_recipient(self, session, address: str):
        return self.core.resolve(address)

    def finish(self, session, envelope, spool):
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
