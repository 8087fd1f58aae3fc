"""Message submission (RFC 6409, port-587 style): authenticated users send mail out.

AUTH (PLAIN or LOGIN) is required before MAIL, and only after STARTTLS when a
certificate is configured. The envelope sender must be the user's own address (or a
plus-address of it). A received message is first queued for the smarthost on disk
(durably: that is what the 250 promises), then a copy is stored in the user's Sent
folder so every client sees it. The queue, relayer and ``Submitter`` are the front
door's (``smsync.edge.outbound``): EAS and EWS send through the same ones.

The Sent copy counts against the user's storage quota (``smsync.edge.quota``), and a
message is refused rather than sent without it -- once queued it cannot be taken back,
and a copy silently skipped would leave the user no record of mail that went out: an
account with no room is answered 552 5.2.2 at MAIL FROM (by its SIZE, else already
full) and at the end of DATA (by the message's size), before anything is queued, as
Exchange refuses a mailbox over its "prohibit send" quota. The client keeps the
message and says why; the user makes room and sends again.
"""

from __future__ import annotations

from typing import Optional

from smsync._async import deferred
from smsync.edge import Edge
from smsync.edge.outbound import Submitter
from smsync.edge.quota import exceeded
from smsync.protocols.delivery.core import Rejected, Reply
from smsync.protocols.delivery.envelope import account_of, received_header, size_param
from smsync.protocols.delivery.server import MailFactory, ServerConfig, queue_id


class SubmissionFactory(MailFactory):
    """The submission listener."""

    def __init__(self, store, portal, config: ServerConfig, submitter: Submitter,
                 reactor=None, edge: Optional[Edge] = None):
        super().__init__(store, portal, config, reactor, edge=edge)
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
        # Told early when it cannot fit (RFC 5321 552 at MAIL): nothing sent in vain.
        await self._room_for_copy(session, size_param(path) or 1, "MAIL FROM")

    async def _room_for_copy(self, session, size: int, where: str) -> None:
        refused = await exceeded(getattr(self.edge, "quotas", None), session.authenticated, size,
                                 f"submission {where} (the Sent copy; not sent)")
        if refused is not None:
            raise Rejected(Reply(552, "5.2.2", "mailbox full: no room for the copy in Sent, "
                                               "message not sent"))

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
        try:
            await self._room_for_copy(session, spool.size, "DATA")
        except Rejected as e:
            return [e.reply] * len(recipients)
        qid = await self.submitter.submit(session.authenticated, envelope.sender.address,
                                          recipients, spool.body(), trace)
        return [Reply(250, "2.0.0", f"queued as {qid}")] * len(recipients)


def build_service(edge: Edge, endpoints, server_config: ServerConfig) -> SubmissionFactory:
    """The submission listener's factory (``smsync.tap`` listens with it on
    ``endpoints``), sending through ``edge.outbound``, whose relayer the server runs
    once beside every protocol."""
    return SubmissionFactory(edge.store, edge.portal, server_config, edge.outbound.submitter,
                             edge=edge)
