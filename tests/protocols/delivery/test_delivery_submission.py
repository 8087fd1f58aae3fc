"""Submission and relay: smtplib submits with AUTH (and STARTTLS), a copy lands in Sent,
and the on-disk queue relays to a local SMTP sink (twisted.mail.smtp) standing in for
the smarthost -- including a retry after the sink was down, and a restart."""

from __future__ import annotations

import smtplib

import pytest
import pytest_twisted
from delivery_harness import HOSTNAME, OTHER, PASSWORD, USER, Sink, in_thread, message
from twisted.internet import reactor
from twisted.internet.task import deferLater

from smsync.testing.servers import SQLITE, RunningServers, client_tls_context, config_with


async def start_submission(tmp_path, smarthost_port: int, tls: bool = False,
                           accounts=(USER, OTHER)) -> RunningServers:
    """Submission over a SQLite store in ``tmp_path``, its relay queue in
    ``tmp_path/queue`` relaying to ``127.0.0.1:smarthost_port`` with short retries."""
    config = config_with(delivery={
        "hostname": HOSTNAME, "smarthost": f"127.0.0.1:{smarthost_port}",
        "queue_dir": str(tmp_path / "queue"), "retry_initial": 0.2, "retry_max": 0.4})
    running = await RunningServers.start(
        "submission", SQLITE, tls=tls, config=config, directory=tmp_path, accounts=accounts,
        knobs={"submission": {"failed_login_delay": 0.05}})
    # A smarthost that hangs should fail a test in seconds, not minutes.
    running.service.edge.outbound.relayer.timeout = 10
    return running


def queued(tmp_path) -> list:
    return sorted(p.name for p in (tmp_path / "queue" / "msg").iterdir())


async def wait_for(predicate, timeout: float = 10.0):
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await deferLater(reactor, 0.05, lambda: None)
    raise AssertionError("condition not met in time")


def submit(port: int, body: bytes, rcpts, user=USER, password=PASSWORD, sender=USER,
           starttls=False):
    c = smtplib.SMTP("127.0.0.1", port, timeout=15)
    c.ehlo("laptop.example")
    if starttls:
        ctx = client_tls_context()
        c.starttls(context=ctx)
        c.ehlo("laptop.example")
    c.login(user, password)
    refused = c.sendmail(sender, rcpts, body)
    c.quit()
    return refused


@pytest_twisted.ensureDeferred
async def test_submit_relay_with_retry_after_sink_was_down(tmp_path):
    sink = Sink()
    sink.listen()
    portno = sink.portno
    await sink.stop()  # the smarthost is down
    setup = await start_submission(tmp_path, portno)
    try:
        body = message(1, 2000, to="friend@remote.example")
        refused = await in_thread(submit, setup.portno, body, ["friend@remote.example",
                                                               "other@remote.example"])
        assert refused == {}
        # Filed in Sent, seen, without the relay's trace field.
        mail = await setup.store.mail(USER)
        sent = await mail.mailbox("Sent")
        [info] = await sent.messages()
        assert "\\Seen" in info.flags and await sent.read_body(info.uid) == body
        # The sink is down: the message waits in the queue, attempts failing.
        await wait_for(lambda: any(e.attempts >= 2 for e in setup.service.edge.outbound.relayer.queue.entries()))
        assert len(queued(tmp_path)) == 2
        sink.listen(portno)  # back up: the next retry delivers
        await wait_for(lambda: len(sink.received) == 2)
        await wait_for(lambda: queued(tmp_path) == [])
        assert sorted(r for _, r, _ in sink.received) == ["friend@remote.example",
                                                          "other@remote.example"]
        for sender, _, text in sink.received:
            assert sender == USER
            assert text.startswith(b"Received: from laptop.example")
            assert b"with ESMTPA" in text and text.endswith(body)
    finally:
        await setup.stop()
        await sink.stop()


@pytest_twisted.ensureDeferred
async def test_queue_survives_restart(tmp_path):
    sink = Sink()
    sink.listen()
    portno = sink.portno
    await sink.stop()
    setup = await start_submission(tmp_path, portno)
    await in_thread(submit, setup.portno, message(2), ["far@remote.example"])
    await setup.stop()  # "crash": the relayer goes away with mail queued
    assert len(queued(tmp_path)) == 2
    # Debris an interrupted enqueue would leave: text without metadata, a temp file.
    (tmp_path / "queue" / "msg" / "orphan.eml").write_bytes(b"half")
    (tmp_path / "queue" / "tmp" / "x.json.tmp").write_bytes(b"{")
    sink.listen(portno)
    again = await start_submission(tmp_path, portno, accounts=())
    try:
        await wait_for(lambda: len(sink.received) >= 1)
        await wait_for(lambda: queued(tmp_path) == [])
        assert [r for _, r, _ in sink.received] == ["far@remote.example"]  # once
        assert not list((tmp_path / "queue" / "tmp").iterdir())
    finally:
        await again.stop()
        await sink.stop()


@pytest_twisted.ensureDeferred
async def test_permanent_refusal_bounces_to_sender(tmp_path):
    sink = Sink()
    sink.listen()
    sink.refuse.add("nobody@remote.example")
    setup = await start_submission(tmp_path, sink.portno)
    try:
        await in_thread(submit, setup.portno, message(3), ["nobody@remote.example",
                                                           "friend@remote.example"])
        await wait_for(lambda: queued(tmp_path) == [])
        assert [r for _, r, _ in sink.received] == ["friend@remote.example"]
        inbox = await (await setup.store.mail(USER)).mailbox("INBOX")
        [uid] = await inbox.uids()
        bounce = await inbox.read_body(uid)
        assert b"Undelivered Mail" in bounce and b"<nobody@remote.example>" in bounce
    finally:
        await setup.stop()
        await sink.stop()


@pytest_twisted.ensureDeferred
async def test_auth_required_and_sender_checked(tmp_path, log_capture):
    setup = await start_submission(tmp_path, 9)
    try:
        def session():
            c = smtplib.SMTP("127.0.0.1", setup.portno, timeout=15)
            c.ehlo("laptop.example")
            auth = c.esmtp_features.get("auth", "")
            no_auth = c.mail(USER)
            c.rset()
            with pytest.raises(smtplib.SMTPAuthenticationError):
                c.login(USER, "wrong")
            c.login(USER, PASSWORD)
            spoofed = c.mail(OTHER)
            c.rset()
            plus = c.mail("alice+news@example.org")
            c.quit()
            return auth, no_auth, spoofed, plus

        auth, no_auth, spoofed, plus = await in_thread(session)
        assert "PLAIN" in auth and "LOGIN" in auth
        assert no_auth[0] == 530 and spoofed[0] == 553 and plus[0] == 250
        assert queued(tmp_path) == []
        logged = "\n".join(log_capture.lines("smsync.client"))
        assert f"smsync: submission: authentication failed for {USER} from 127.0.0.1" in logged
        assert ": MAIL -> 530 " in logged and f"({USER}): MAIL -> 553 " in logged
        assert "wrong" not in logged and PASSWORD not in logged
    finally:
        await setup.stop()


@pytest_twisted.ensureDeferred
async def test_starttls_required_before_auth(tmp_path):
    sink = Sink()
    sink.listen()
    setup = await start_submission(tmp_path, sink.portno, tls=True)
    try:
        def before_tls():
            c = smtplib.SMTP("127.0.0.1", setup.portno, timeout=15)
            c.ehlo("laptop.example")
            features = dict(c.esmtp_features)
            answer = c.docmd("AUTH", "PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHg=")
            c.quit()
            return features, answer

        features, answer = await in_thread(before_tls)
        assert "starttls" in features and "auth" not in features
        assert answer[0] == 538
        await in_thread(submit, setup.portno, message(4), ["far@remote.example"], starttls=True)
        await wait_for(lambda: len(sink.received) == 1)
        assert b"with ESMTPSA" in sink.received[0][2]
    finally:
        await setup.stop()
        await sink.stop()
