"""One worker of ``smsync serve --workers N``: ``python -m smsync.tap.worker INDEX``.

Started by the supervisor (``smsync.tap.workers``), never by hand: it reads its plan from
standard input, logs JSON events on standard output for the supervisor to publish, runs
the plan's ``SmsyncService`` on the listening sockets it inherited, and stops on SIGTERM
or when its standard input ends (the supervisor is gone); SIGINT is left to the
supervisor. Exit status 1 if the
service failed to start.
"""

from __future__ import annotations

import os
import signal
import sys

from twisted.internet.error import ReactorNotRunning
from twisted.internet.interfaces import IReadDescriptor
from twisted.logger import Logger, globalLogBeginner, jsonFileLogObserver
from zope.interface import implementer

log = Logger(namespace="smsync")


@implementer(IReadDescriptor)
class _Lifeline:
    """Standard input, held open by the supervisor: its end means the supervisor died."""

    def __init__(self, on_end):
        self.on_end = on_end

    def fileno(self) -> int:
        return 0

    def doRead(self):
        try:
            data = os.read(0, 4096)
        except BlockingIOError:
            return None
        except OSError:
            data = b""
        if not data:
            from twisted.internet.main import CONNECTION_DONE

            return CONNECTION_DONE  # connectionLost follows
        return None

    def connectionLost(self, reason) -> None:
        # The reactor may see the pipe's hang-up without a read.
        self.on_end()

    def logPrefix(self) -> str:
        return "supervisor"


def _portable(event: dict) -> dict:
    """``event`` as it can cross to the supervisor: JSON keeps a failure's traceback but
    not its exception object, so its message is sent as text."""
    failure = event.get("log_failure")
    if failure is None or isinstance(getattr(failure, "value", None), str):
        return event
    from twisted.python.failure import Failure

    text = Failure.__new__(Failure)
    text.__dict__.update(failure.__dict__)
    text.value = str(failure.value)
    return dict(event, log_failure=text)


def main() -> int:
    from smsync.tap.workers import MARKER, read_payload

    # Before anything else: SIGINT is the supervisor's (see run below).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    index = int(sys.argv[1])
    payload = read_payload(0)
    plan = payload["plan"]
    to_supervisor = jsonFileLogObserver(sys.stdout)
    globalLogBeginner.beginLoggingTo([lambda event: to_supervisor(_portable(event))],
                                     redirectStandardIO=True)

    from twisted.internet import reactor

    from smsync.tap.service import SmsyncService, startup_failures

    service = SmsyncService(plan, reactor, freeze_gc=True)
    stopping = []

    def stop(why: str) -> None:
        if stopping:
            return
        stopping.append(why)
        log.info("worker {index}: stopping ({why})", index=index, why=why)
        try:
            reactor.stop()
        except ReactorNotRunning:
            pass  # already stopping: it failed to start

    def on_signal(number, frame):
        reactor.callFromThread(stop, signal.Signals(number).name)

    def started(_):
        if service.failures:
            log.error("worker {index} failed to start", index=index, failures=service.failures,
                      **{MARKER: "failed"})
        else:
            log.info("worker {index} ready (pid {pid})", index=index, pid=os.getpid(),
                     **{MARKER: "ready"})

    def run():
        # The supervisor stops us with SIGTERM; our own handler, as a second stop must not
        # be an error. SIGINT (ignored from the start) is the supervisor's: a terminal's
        # Ctrl-C reaches the whole process group, and it stops us all (or, if it ignores
        # SIGINT, nobody).
        signal.signal(signal.SIGTERM, on_signal)
        os.set_blocking(0, False)
        reactor.addReader(_Lifeline(lambda: stop("the supervisor is gone")))
        service.startService()
        service.ready.addCallback(started)

    reactor.callWhenRunning(run)
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    reactor.run()
    return 1 if startup_failures else 0


if __name__ == "__main__":
    sys.exit(main())
