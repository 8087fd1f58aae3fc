"""EAS and the other protocols over one store: what one client does, the others see.

Over ``sqlite:`` one all-in-one server process serves every protocol; over
``postgresql:`` the EAS frontend and the IMAP/LMTP/CalDAV/CardDAV frontend are two
separate ``twistd`` processes sharing the database, as a site with several frontends
runs them. Clients: our raw EAS client, imaplib, smtplib's LMTP, and plain HTTP for
CalDAV/CardDAV.
"""

from __future__ import annotations

import base64
import http.client
import imaplib
import re
import signal
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet.defer import ensureDeferred
from twisted.internet.threads import deferToThread

from smsync.auth import hash_password
from smsync.protocols.eas.wbxml import Element
from smsync.store.registry import open_store
from smsync.testing.servers import OTHER, PASSWORD, USER
from tests.protocols.eas.eas_client import AS, PING, RawEAS, data_of, el, server_ids
from tests.store.pg_support import fresh_schema_uri, pg_database  # noqa: F401

TWISTD = str(Path(sys.executable).with_name("twistd"))
LOCAL = "tcp:0:interface=127.0.0.1"
CAL, CONTACTS = "Calendar:", "Contacts:"


class Process:
    """One ``twistd`` server process; its listening ports read from its log."""

    def __init__(self, args, cwd: Path, expect: tuple):
        self.proc = subprocess.Popen([TWISTD, "-n", "--pidfile=", *args], cwd=cwd, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.ports: dict = {}
        self.lines: list = []
        # Its log is read all along, so the server never blocks on a full pipe and a
        # silent one cannot stall the wait below.
        threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True).start()
        deadline = time.monotonic() + 60
        while set(expect) - set(self.ports) and time.monotonic() < deadline:
            for line in list(self.lines):
                m = re.search(r"\] (\w+) listening on 127\.0\.0\.1:(\d+)", line)
                if m:
                    self.ports[m.group(1)] = int(m.group(2))
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if set(expect) - set(self.ports):
            self.stop()
            raise AssertionError("server did not start:\n" + "".join(self.lines))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        return "".join(self.lines)


class Frontends:
    def __init__(self, eas_port, imap_port, lmtp_port, http_port, processes):
        self.eas, self.imap, self.lmtp, self.http = eas_port, imap_port, lmtp_port, http_port
        self.processes = processes

    def device(self, name: str) -> RawEAS:
        client = RawEAS(self.eas, USER, PASSWORD, name)
        client.provision()
        client.folder_sync()
        return client

    def dav(self, method: str, path: str, body: bytes = b"", headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.http, timeout=30)
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        conn.request(method, path, body=body, headers={"Authorization": f"Basic {token}", **(headers or {})})
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, data

    def deliver(self, subject: str) -> None:
        with smtplib.LMTP("127.0.0.1", self.lmtp) as lmtp:
            lmtp.sendmail("sender@example.net", [USER], (
                f"From: Sender <sender@example.net>\r\nTo: {USER}\r\nSubject: {subject}\r\n"
                "Date: Sun, 06 Dec 2026 10:00:00 +0000\r\n\r\nHello.\r\n").encode())


async def _accounts(uri: str) -> None:
    store = await open_store(uri)
    try:
        secret = hash_password(PASSWORD)
        for account in (USER, OTHER):
            await store.accounts.add(account, secret)
    finally:
        await store.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def frontends(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"xp-{request.param}")
    (root / "smsync.toml").write_text("")
    if request.param == "sqlite":
        uri = f"sqlite:///{root}/store"
    else:
        uri = fresh_schema_uri(request.getfixturevalue("pg_database"))
    pytest_twisted.blockon(ensureDeferred(_accounts(uri)))
    common = ["smsync", "--config", str(root / "smsync.toml"), "--store", uri,
              "--pop3", "none", "--smtp", "none", "--submission", "none"]
    processes = []
    try:
        if request.param == "sqlite":
            everything = Process(common + ["--imap", LOCAL, "--lmtp", LOCAL, "--http", LOCAL],
                                 root, ("imap", "lmtp", "http"))
            processes.append(everything)
            eas_port = everything.ports["http"]
        else:
            others = Process(common + ["--imap", LOCAL, "--lmtp", LOCAL, "--http", LOCAL],
                             root, ("imap", "lmtp", "http"))
            processes.append(others)
            eas = Process(["smsync-eas", "--store", uri, "--listen", LOCAL], root, ("http",))
            processes.append(eas)
            eas_port = eas.ports["http"]
        yield Frontends(eas_port, processes[0].ports["imap"], processes[0].ports["lmtp"],
                        processes[0].ports["http"], processes)
    finally:
        for process in processes:
            process.stop()
        for process in processes:
            text = process.log()
            assert "Traceback" not in text and "Unhandled" not in text, text[-5000:]


def _find(commands, namespace: str, tag: str, value: str):
    for command in commands:
        data = data_of(command)
        found = data.find(namespace, tag) if data is not None else None
        if found is not None and found.text == value:
            return command
    raise AssertionError(f"no item with {tag} {value!r}")


# -- mail -----------------------------------------------------------------------------


def test_flags_and_expunges_cross_between_eas_and_imap(frontends):
    frontends.deliver("cross one")
    frontends.deliver("cross two")
    phone = frontends.device("xp-mail")
    inbox = phone.folder_of_type(2)
    key, commands = phone.sync_all(inbox)
    one = _find(commands, "Email:", "Subject", "cross one").find(AS, "ServerId").text
    two = _find(commands, "Email:", "Subject", "cross two").find(AS, "ServerId").text
    flag = el(AS, "Change", el(AS, "ServerId", text=one), el(AS, "ApplicationData", el(
        "Email:", "Flag", el("Email:", "Status", text="2"), el("Email:", "FlagType", text="Flag for follow up"))))
    answer = phone.sync(inbox, key, commands=[flag])
    assert answer.find(AS, "Status").text == "1"
    key = answer.find(AS, "SyncKey").text

    imap = imaplib.IMAP4("127.0.0.1", frontends.imap)
    imap.login(USER, PASSWORD)
    imap.select("INBOX")
    _, data = imap.uid("FETCH", one, "(FLAGS)")
    assert b"\\Flagged" in data[0]
    imap.uid("STORE", two, "+FLAGS.SILENT", "(\\Deleted)")
    imap.expunge()
    imap.logout()

    answer = phone.sync(inbox, key)
    deletes = server_ids(list(answer.find(AS, "Commands").children), "Delete")
    assert deletes == [two]


def test_a_delivery_over_lmtp_wakes_ping(frontends):
    phone = frontends.device("xp-ping")
    inbox = phone.folder_of_type(2)
    phone.sync_all(inbox)
    timer = threading.Timer(0.5, frontends.deliver, ("wake up",))
    timer.start()
    started = time.monotonic()
    status, tree = phone.post("Ping", el(PING, "Ping", el(PING, "HeartbeatInterval", text="120"), el(
        PING, "Folders", el(PING, "Folder", el(PING, "Id", text=inbox), el(PING, "Class", text="Email")))))
    woke = time.monotonic() - started
    timer.join()
    assert status == 200 and tree.find(PING, "Status").text == "2"
    assert [f.text for f in tree.find(PING, "Folders").children] == [inbox]
    assert woke < 0.5 + 1.0, woke


# -- calendars and contacts -----------------------------------------------------------

EVENT = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//caldav client//EN\r
BEGIN:VTIMEZONE\r
TZID:Europe/Berlin\r
BEGIN:STANDARD\r
DTSTART:19701025T030000\r
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
TZNAME:CET\r
END:STANDARD\r
BEGIN:DAYLIGHT\r
DTSTART:19700329T020000\r
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
TZNAME:CEST\r
END:DAYLIGHT\r
END:VTIMEZONE\r
BEGIN:VEVENT\r
UID:cross-{kind}@example.org\r
DTSTAMP:20261201T090000Z\r
DTSTART;TZID=Europe/Berlin:20261210T100000\r
DTEND;TZID=Europe/Berlin:20261210T113000\r
SUMMARY:Planning {kind}\r
LOCATION:Room 4\r
URL:https://example.org/planning\r
GEO:52.52;13.40\r
COLOR:teal\r
X-CLIENT-PRIVATE:keep me\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_a_caldav_event_edited_over_eas_keeps_what_eas_cannot_carry(frontends):
    kind = str(frontends.eas)
    path = f"/dav/calendars/{USER}/calendar/cross-{kind}.ics"
    status, _ = frontends.dav("PUT", path, EVENT.format(kind=kind).encode(),
                              {"Content-Type": "text/calendar; charset=utf-8"})
    assert status in (201, 204), status
    phone = frontends.device(f"xp-cal-{kind}")
    calendar = phone.folder_of_type(8)
    key, commands = phone.sync_all(calendar)
    event = _find(commands, CAL, "Subject", f"Planning {kind}")
    data = data_of(event)
    # The phone edits the subject and sends the item back, as phones do: whole.
    edited = Element(AS, "ApplicationData", tuple(
        Element(CAL, "Subject", (), f"Planning moved {kind}") if (c.namespace, c.tag) == (CAL, "Subject") else c
        for c in data.children if c.tag not in ("UID",) or c.namespace != CAL))
    answer = phone.sync(calendar, key, commands=[el(AS, "Change", el(
        AS, "ServerId", text=event.find(AS, "ServerId").text), edited)])
    assert answer.find(AS, "Status").text == "1"
    responses = answer.find(AS, "Responses")
    assert responses is None, responses
    status, body = frontends.dav("GET", path)
    assert status == 200
    text = body.decode().replace("\r\n ", "")
    assert f"SUMMARY:Planning moved {kind}" in text
    for kept in ("URL:https://example.org/planning", "GEO:52.52;13.40", "COLOR:teal",
                 "X-CLIENT-PRIVATE:keep me", f"UID:cross-{kind}@example.org", "LOCATION:Room 4"):
        assert kept in text, (kept, text)
    assert "T100000" in text  # the time is unchanged


def test_a_contact_made_over_eas_appears_in_carddav(frontends):
    kind = str(frontends.eas)
    phone = frontends.device(f"xp-card-{kind}")
    contacts = phone.folder_of_type(9)
    key = phone.sync(contacts, "0").find(AS, "SyncKey").text
    add = el(AS, "Add", el(AS, "ClientId", text="new-1"), el(AS, "ApplicationData",
             el(CONTACTS, "FirstName", text="Ada"), el(CONTACTS, "LastName", text=f"Lovelace{kind}"),
             el(CONTACTS, "Email1Address", text="ada@example.org"),
             el(CONTACTS, "MobilePhoneNumber", text="+44 20 7946 0000")))
    answer = phone.sync(contacts, key, commands=[add])
    added = answer.find(AS, "Responses").find(AS, "Add")
    assert added.find(AS, "Status").text == "1"
    server_id = added.find(AS, "ServerId").text
    status, body = frontends.dav("GET", f"/dav/addressbooks/{USER}/contacts/{server_id}")
    assert status == 200, (status, server_id)
    text = body.decode()
    assert f"Lovelace{kind}" in text and "ada@example.org" in text and "+44 20 7946 0000" in text
