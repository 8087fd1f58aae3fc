"""IDLE (RFC 2177): push the selected folder's changes as they happen.

The session's change subscription calls ``session.wake`` while a client idles; each
wake-up reports what changed (EXISTS, EXPUNGE/VANISHED, FETCH FLAGS) right away. A session
with NOTIFY on is told what NOTIFY asked, during IDLE as at any other time.
"""

from __future__ import annotations

from twisted.internet import defer
from twisted.logger import Logger

from smsync.protocols.imap.commands import AUTH, Reply, command

log = Logger()


@command("IDLE", AUTH)
async def idle(conn, cmd):
    session = conn.session
    conn.write_line(b"+ idling")
    conn.flush()
    scheduled = []

    def push():
        scheduled.clear()
        d = defer.Deferred.fromCoroutine(session.report_changes())
        d.addErrback(lambda f: log.failure("IDLE push failed", failure=f))

    def wake():
        # Called from inside the store's notify: report on the next turn, not re-entrantly,
        # and once for a burst of changes.
        if not scheduled:
            scheduled.append(conn.factory.clock.callLater(0, push))

    # Listen before looking, so a change made while we look is not missed. With NOTIFY
    # on, what it asked for is pushed instead (RFC 5465 4: "the server MUST send exactly
    # the same events as instructed by the client using the NOTIFY command").
    notifications = session.notifications
    if notifications is None:
        session.wake = wake
    try:
        await session.report_changes(force=True)
        line = await conn.next_line()
    finally:
        session.wake = None
        for call in scheduled:
            if call.active():
                call.cancel()
        if notifications is not None:
            await notifications.settled()
    if line.strip().upper() != b"DONE":
        return Reply("BAD", "expected DONE")
    return None
