"""Inbound delivery listeners: LMTP (behind Postfix or Exim) and SMTP (direct receipt).

Both take mail only for accounts of the store (550 at RCPT for anyone else) and store
each message in the recipient's Inbox through the shared ``DeliveryCore``. LMTP answers
once per recipient after DATA; SMTP once per message.
"""

from __future__ import annotations

from smsync._async import deferred
from smsync.protocols.delivery.core import DeliveryCore, Reply
from smsync.protocols.delivery.envelope import received_header
from smsync.protocols.delivery.server import MailFactory, ServerConfig, queue_id


class DeliveryFactory(MailFactory):
    """The LMTP or SMTP listener (``config.mode`` "lmtp" or "smtp") over ``store``."""

    def __init__(self, store, portal, config: ServerConfig, core: DeliveryCore = None,
                 reactor=None):
        super().__init__(store, portal, config, reactor)
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
        return self._finish_each(session, envelope, spool, qid)

    @deferred
    async def _finish_each(self, session, envelope, spool, qid) -> list[Reply]:
        sender = envelope.sender.address
        replies = []
        # One after the other: a spool on disk is one file read by each append.
        for address, account in envelope.recipients:
            replies.append(await self.core.deliver(
                account, spool, sender, self._received(session, qid, address)))
        return replies

    def _received(self, session, qid: str, address: str) -> bytes:
        return received_header(
            helo=session.helo, peer=session.peer, by=self.config.hostname,
            protocol=session.with_protocol(), queue_id=qid, recipient=address)
