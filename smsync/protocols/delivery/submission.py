"""Message submission (RFC 6409, port-587 style): authenticated users send mail out.

AUTH (PLAIN or LOGIN) is required before MAIL, and only after STARTTLS when a
certificate is configured. The envelope sender must be the user's own address (or a
plus-address of it). A received message is first queued for the smarthost on disk
(durably: that is what the 250 promises), then a copy is stored in the user's Sent
folder so every client sees it. The queue, relayer and ``Submitter`` are the front
door's (``smsync.edge.outbound``): EAS and EWS send through the same ones.
"""

from __future__ import annotations

from typing import Optional

from smsync._async import deferred
from smsync.edge import Edge
from smsync.edge.outbound import Submitter
from smsync.protocols.delivery.core import Rejected, Reply
from smsync.protocols.delivery.envelope import account_of, received_header
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


def build_service(edge: Edge, endpoints, server_config: ServerConfig) -> SubmissionFactory:
    """The submission listener's factory (``smsync.tap`` listens with it on
    ``endpoints``), sending through ``edge.outbound``, whose relayer the server runs
    once beside every protocol."""
    return SubmissionFactory(edge.store, edge.portal, server_config, edge.outbound.submitter,
                             edge=edge)
