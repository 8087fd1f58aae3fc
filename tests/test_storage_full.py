"""When the disk under the store fills up (issue 11, item 6): every protocol answers with
its own "try again later", the log says so in one line, reads go on, and nothing stored
is lost; once there is room again, writes work.

A small tmpfs is mounted under the store (this needs root, as ``make test`` runs in CI)
and filled with a file until it is full.
"""

from __future__ import annotations

import base64
import http.client
import imaplib
import os
import poplib
import smtplib
import subprocess

import pytest
import pytest_twisted
from twisted.internet.threads import deferToThread

from smsync.testing.servers import PASSWORD, USER, RunningServers, numbered_message

EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
         "DTSTAMP:20240101T000000Z\r\nDTSTART:20240105T100000Z\r\nDTEND:20240105T110000Z\r\n"
         "SUMMARY:{uid}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        reason = f"cannot mount a small tmpfs (needs root): {done.stderr.strip()}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory) -> str:
    """Fill the filesystem of ``directory`` to the last byte; return the filler's path."""
    path = os.path.join(directory, "filler")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            block = b"\0" * size
            while True:
                try:
                    os.write(fd, block)
                except OSError:
                    break
    finally:
        os.close(fd)
    return path


def imap_session(port, append: bytes):
    client = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    try:
        client.login(USER, PASSWORD)
        count = int(client.select("INBOX")[1][0])
        fetched = client.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")[0]
        try:
            typ, data = client.append("INBOX", None, None, append)
            answer = f"{typ} {data[0].decode()}"
        except imaplib.IMAP4.error as e:
            answer = str(e)
        return count, fetched, answer
    finally:
        client.logout()


def lmtp_deliver(port, body: bytes):
    client = smtplib.LMTP("127.0.0.1", port, timeout=30)
    try:
        client.sendmail("sender@example.org", [USER], body)
        return "250"
    except smtplib.SMTPDataError as e:
        return f"{e.smtp_code} {e.smtp_error.decode()}"
    except smtplib.SMTPRecipientsRefused as e:
        code, text = e.recipients[USER]
        return f"{code} {text.decode()}"
    finally:
        client.close()


def dav(port, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    if body is not None:
        headers["Content-Type"] = "text/calendar"
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status


def pop3_delete_first(port):
    client = poplib.POP3("127.0.0.1", port, timeout=30)
    client.user(USER)
    client.pass_(PASSWORD)
    client.dele(1)
    try:
        return client.quit().decode()
    except poplib.error_proto as e:
        return e.args[0].decode()


@pytest_twisted.ensureDeferred
async def test_a_full_disk_gets_each_protocols_answer_and_loses_nothing(small_disk, log_capture):
    running = await RunningServers.start(("imap", "pop3", "lmtp", "caldav"),
                                         f"sqlite://{small_disk}/store")
    try:
        imap, lmtp, pop3, web = (running.port(p) for p in ("imap", "lmtp", "pop3", "caldav"))
        calendar = f"/dav/calendars/{USER}/calendar/"
        for i in range(5):
            assert await deferToThread(lmtp_deliver, lmtp, numbered_message(i)) == "250"
        assert await deferToThread(dav, web, "PUT", calendar + "a.ics", EVENT.format(uid="a")) == 201

        filler = fill(small_disk)

        count, fetched, answer = await deferToThread(imap_session, imap, numbered_message(90))
        assert count == 5 and fetched == "OK"
        assert answer.startswith("NO") and "[UNAVAILABLE]" in answer, answer
        lmtp_answer = await deferToThread(lmtp_deliver, lmtp, numbered_message(91))
        assert lmtp_answer.split()[0] in ("452", "451"), lmtp_answer
        assert await deferToThread(dav, web, "PUT", calendar + "b.ics", EVENT.format(uid="b")) in (507, 503)
        assert await deferToThread(dav, web, "GET", calendar + "a.ics") == 200
        quit_answer = await deferToThread(pop3_delete_first, pop3)
        assert quit_answer.startswith(("+OK", "-ERR [SYS/TEMP]")), quit_answer

        lines = [line for line in log_capture.lines("smsync.store") if "writes fail" in line]
        assert 1 <= len(lines) <= 2, lines  # one a minute per kind of failure
        assert not any(e.get("log_failure") for e in log_capture.events), "a traceback was logged"

        # Room again: writes work, and nothing stored before is gone.
        os.unlink(filler)
        count, _, answer = await deferToThread(imap_session, imap, numbered_message(92))
        assert answer.startswith("OK"), answer
        assert count in (4, 5)  # 4 if POP3's delete made it through before the disk filled
        assert await deferToThread(dav, web, "GET", calendar + "a.ics") == 200
    finally:
        await running.stop()
