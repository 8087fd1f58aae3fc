"""In-process change notification: the IChangeNotifier stores use within one process.

Backends that can see other processes (PostgreSQL LISTEN/NOTIFY, SQLite polling) feed
what they observe into the same ``LocalNotifier`` so subscribers need not care where a
change came from.
"""

from __future__ import annotations

from collections import defaultdict

from twisted.logger import Logger
from zope.interface import implementer

from smsync.interfaces import IChangeNotifier, ISubscription
from smsync.model import ChangeEvent

log = Logger()


@implementer(ISubscription)
class _Subscription:
    def __init__(self, notifier: "LocalNotifier", account: str, callback):
        self._notifier = notifier
        self.account = account
        self.callback = callback

    def cancel(self) -> None:
        self._notifier._drop(self)


@implementer(IChangeNotifier)
class LocalNotifier:
    """Delivers events synchronously, on the calling (reactor) thread, to the account's
    subscribers. Stores that commit on a worker thread hand events back to the reactor
    (``reactor.callFromThread(notifier.notify, event)``) before calling ``notify``."""

    #: ``IChangeNotifier.sees_every_process``: this process's changes only, unless a
    #: subclass relays the others' (or the store cannot be shared, as ``memory:``).
    sees_every_process = False

    def __init__(self):
        self._subs: dict[str, list[_Subscription]] = defaultdict(list)

    def subscribe(self, account: str, callback) -> ISubscription:
        sub = _Subscription(self, account.lower(), callback)
        self._subs[sub.account].append(sub)
        return sub

    def _drop(self, sub: _Subscription) -> None:
        subs = self._subs.get(sub.account)
        if subs and sub in subs:
            subs.remove(sub)
            if not subs:
                del self._subs[sub.account]

    def notify(self, event: ChangeEvent) -> None:
        for sub in list(self._subs.get(event.account.lower(), ())):
            try:
                sub.callback(event)
            except Exception:
                log.failure("change subscriber raised on {event}", event=event)

    def notify_all(self, event_for_account) -> None:
        """Send ``event_for_account(account)`` to every subscribed account (e.g. RESYNC)."""
        for account in list(self._subs):
            self.notify(event_for_account(account))

    def subscriber_count(self, account: str | None = None) -> int:
        if account is None:
            return sum(len(s) for s in self._subs.values())
        return len(self._subs.get(account.lower(), ()))
