"""Serve MAILCOUNT on 127.0.0.1:2525 over a memory store with one account
(alice@example.com, password "secret"), the way any Twisted program embeds a protocol.
Run: python run_mailcount.py (Ctrl-C stops it)."""

import sys

from mailcount import MailCountFactory
from twisted.internet import defer, endpoints, task, threads

from smsync.auth import hash_password, make_portal
from smsync.store.registry import open_store


async def main(reactor):
    store = await open_store("memory:")
    await store.accounts.add("alice@example.com",
                             await threads.deferToThread(hash_password, "secret"))
    factory = MailCountFactory(store, make_portal(store))
    await endpoints.serverFromString(reactor, "tcp:2525:interface=127.0.0.1").listen(factory)
    print("MAILCOUNT on 127.0.0.1:2525 (alice@example.com / secret)", file=sys.stderr)
    await defer.Deferred()  # until interrupted


if __name__ == "__main__":
    task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
