"""Sending mail out, for every protocol that sends: the ``Submitter`` and the relay
queue with its ``Relayer``.

``Outbound`` is the one service a server runs for it: the queue and relayer are made
the first time a protocol asks for the submitter (a server with no sending protocol
opens no queue), and the relayer then runs once, however many protocols send. Of the
workers of ``smsync serve --workers N`` only the first relays (``relay``): the others
queue, and its relayer finds their entries (``shared``).
"""

from __future__ import annotations

from typing import Optional

from twisted.application.service import MultiService
from twisted.logger import Logger

from smsync.edge.outbound.queue import QueueEntry, Relayer, RelayQueue, Smarthost
from smsync.edge.outbound.submitter import (SendFailed, Sent, Submitter, bouncer, hostname_of,
                                             local_account, queue_dir_of)

log = Logger(namespace="smsync.submission")

__all__ = ["Outbound", "QueueEntry", "Relayer", "RelayQueue", "SendFailed", "Sent", "Smarthost",
           "Submitter", "local_account",
           "bouncer", "hostname_of", "queue_dir_of"]


class Outbound(MultiService):
    """The server's way out: ``submitter`` (made on first use from ``config``'s
    ``[delivery]``) and, as this service's child, the relayer that empties the queue."""

    def __init__(self, store, config, hostname: Optional[str] = None, relay: bool = True,
                 shared: bool = False, quotas=None):
        """``relay``: this process runs the relayer (False: another one does);
        ``shared``: other processes queue into the same queue; ``quotas``: the edge's
        ``Quotas``, for local recipients (``Submitter``)."""
        super().__init__()
        self.store = store
        self.quotas = quotas
        self.config = config
        self.relay = relay
        self.shared = shared
        # Bounces name the server; looked up only once something sends (getfqdn may
        # ask the DNS, and most edges never send).
        self.hostname = hostname
        self._submitter: Optional[Submitter] = None
        self.relayer: Optional[Relayer] = None

    @property
    def submitter(self) -> Submitter:
        """The shared ``Submitter``. ``ValueError`` when the config names no queue."""
        if self._submitter is None:
            queue = RelayQueue(queue_dir_of(self.config))
            relayer = self._relayer(queue) if self.relay else None
            self._submitter = Submitter(self.store, queue, relayer, quotas=self.quotas)
        return self._submitter

    def _relayer(self, queue: RelayQueue) -> Relayer:
        delivery = self.config.delivery
        smarthost = None
        if delivery.smarthost:
            smarthost = Smarthost.parse(delivery.smarthost, delivery.smarthost_user,
                                        delivery.smarthost_password)
        else:
            log.warn("outbound: no [delivery] smarthost: submitted mail stays queued")
        relayer = Relayer(queue, smarthost, retry_initial=delivery.retry_initial,
                          retry_max=delivery.retry_max, max_age=delivery.max_queue_age,
                          bounce=bouncer(self.store, self.hostname or hostname_of(self.config)),
                          shared=self.shared)
        # A child added to a running service starts at once; otherwise with us.
        relayer.setServiceParent(self)
        self.relayer = relayer
        return relayer

    def startService(self):
        super().startService()
        # With several processes, mail another one queued must go out even if nothing
        # here ever sends: the relaying process starts its relayer at once.
        if self.relay and self.shared and self.config.delivery.smarthost:
            try:
                self.submitter
            except ValueError as e:
                log.warn("outbound: {why}", why=e)

    @property
    def in_use(self) -> bool:
        """True once a protocol asked for the submitter (the relayer must then run)."""
        return self._submitter is not None
