"""Submission and the sender's storage quota: the copy filed in Sent must fit, and a
message is refused before it is queued rather than sent without it -- 552 5.2.2 at
MAIL FROM for an account already full (or whose SIZE= cannot fit), and at the end of
DATA for a message larger than the room left; nothing queued, nothing in Sent. One
that fits is queued and filed as always. Quotas set through ``smsync.admin.accounts``."""

from __future__ import annotations

import smtplib

import pytest_twisted
from delivery_harness import PASSWORD, USER, Sink, in_thread, message
from test_delivery_submission import start_submission

from smsync.admin import accounts

REMOTE = "friend@remote.example"


def session(port: int, body: bytes, size=None):
    """(MAIL reply, DATA reply or None) of one transaction."""
    c = smtplib.SMTP("127.0.0.1", port, timeout=15)
    try:
        c.ehlo("laptop.example")
        c.login(USER, PASSWORD)
        mail = c.mail(USER, [f"SIZE={size}"] if size is not None else [])
        if mail[0] != 250:
            return mail, None
        assert c.rcpt(REMOTE)[0] == 250
        return mail, c.data(body)
    finally:
        c.close()


async def set_quota(setup, octets) -> None:
    await accounts.set_quota(setup.store, USER, octets)
    setup.service.edge.quotas.forget()


def queued_entries(setup) -> list:
    return list(setup.service.edge.outbound.relayer.queue.entries())


@pytest_twisted.ensureDeferred
async def test_the_sent_copy_must_fit_or_nothing_is_sent(tmp_path):
    sink = Sink()
    sink.listen()
    portno = sink.portno
    await sink.stop()  # the smarthost is down: what is sent stays in the queue
    setup = await start_submission(tmp_path, portno)
    try:
        port = setup.portno
        await setup.deliver(message(1, 1000))
        used = await accounts.usage(setup.store, USER)
        small, big = message(2, 100, to=REMOTE), message(3, 3000, to=REMOTE)

        # Already full: refused at MAIL FROM, before the message is sent.
        await set_quota(setup, used)
        mail, data = await in_thread(session, port, small)
        assert mail[0] == 552 and mail[1].startswith(b"5.2.2") and data is None

        # Room for the small one only: a SIZE= too big is refused at MAIL FROM, the big
        # message without SIZE at the end of DATA.
        await set_quota(setup, used + len(small) + 50)
        mail, data = await in_thread(session, port, big, size=len(big))
        assert mail[0] == 552 and mail[1].startswith(b"5.2.2")
        mail, data = await in_thread(session, port, big)
        assert mail[0] == 250 and data[0] == 552 and data[1].startswith(b"5.2.2")
        assert queued_entries(setup) == []
        assert await setup.bodies(folder="Sent") == []

        # The small one fits: queued, and its copy filed in Sent.
        mail, data = await in_thread(session, port, small)
        assert data[0] == 250
        assert len(queued_entries(setup)) == 1
        assert await setup.bodies(folder="Sent") == [small]
    finally:
        await setup.stop()
