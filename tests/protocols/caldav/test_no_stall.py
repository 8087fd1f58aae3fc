"""No request stalls the server (issue 14 item 5): an XML body over ``max_xml_body`` is
refused 413 before it is read, and while a 1 MiB PROPFIND and a calendar-multiget of
50,000 events run, an IMAP NOOP and a CalDAV GET on other connections of the same
all-in-one process are answered at once."""

from __future__ import annotations

import base64
import http.client
import json
import os
import subprocess
import sys

import pytest
import pytest_twisted

from dav_harness import PASSWORD, USER, Running, in_thread

from smsync.testing import stall_probe
from smsync.testing.servers import config_with, serving

CAL = f"/dav/calendars/{USER}/calendar/"
#: The issue's target; CI machines are shared and slow, so the test allows this many
#: times it (a stall is seconds) and prints the figure.
TARGET_MS = 50
MARGIN = 4


def event(i: int) -> bytes:
    day = 1 + i % 28
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:stall-{i}@example.org\r\nDTSTAMP:20260101T000000Z\r\n"
            f"DTSTART:202603{day:02d}T100000Z\r\nDTEND:202603{day:02d}T110000Z\r\n"
            f"SUMMARY:Event number {i}\r\nLOCATION:Room {i % 17}\r\n"
            f"END:VEVENT\r\nEND:VCALENDAR\r\n").encode()


async def fill(running, count: int) -> None:
    collections = await running.collections()
    calendar = await collections.collection("calendar")
    for i in range(count):
        await calendar.put(f"e{i}.ics", event(i))


def propfind(size: int) -> bytes:
    head = b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>'
    tail = b"</D:prop></D:propfind>"
    # Padding in a comment: well-formed, and nothing the server can skip unread.
    pad = size - len(head) - len(tail) - 7
    return head + b"<!--" + b"x" * pad + b"-->" + tail


@pytest_twisted.ensureDeferred
async def test_xml_body_over_the_limit_is_refused_unread(server, log_capture):
    limit = 1024 * 1024
    assert (await server.call("PROPFIND", CAL, propfind(limit), headers={"Depth": "0"})).status == 207

    def too_big():
        conn = http.client.HTTPConnection(server.host, server.portno, timeout=30)
        body = propfind(limit + 1)
        conn.putrequest("PROPFIND", CAL)
        conn.putheader("Authorization", server_auth())
        conn.putheader("Content-Type", "application/xml")
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        # Answered from the headers alone: the body is never sent.
        status = conn.getresponse().status
        conn.close()
        return status

    assert await in_thread(too_big) == 413
    assert any("larger than 1048576 bytes" in line for line in log_capture.lines("smsync.http"))
    # A PUT is an item, not XML: its own limit applies.
    big_event = event(1).replace(b"SUMMARY:", b"DESCRIPTION:" + b"y" * (limit + 10) + b"\r\nSUMMARY:")
    assert (await server.call("PUT", CAL + "big.ics", big_event,
                              headers={"Content-Type": "text/calendar"})).status == 201


@pytest_twisted.ensureDeferred
async def test_xml_body_streamed_past_the_limit_is_refused(server, log_capture):
    def chunked():
        conn = http.client.HTTPConnection(server.host, server.portno, timeout=30)
        pieces = [propfind(2 * 1024 * 1024)[i:i + 65536] for i in range(0, 2 * 1024 * 1024, 65536)]
        try:
            conn.request("PROPFIND", CAL, body=iter(pieces), encode_chunked=True,
                         headers={"Authorization": server_auth(), "Content-Type": "application/xml",
                                  "Transfer-Encoding": "chunked"})
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while the rest was on its way
        status = conn.getresponse().status
        conn.close()
        return status

    assert await in_thread(chunked) == 413


def server_auth() -> str:
    return "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


@pytest.fixture
def all_in_one():
    # A 50,000-href multiget is 3 MB of XML: this server takes XML bodies up to 8 MiB.
    config = config_with(limits={"max_xml_body": 8 * 1024 * 1024})
    yield from serving(Running.start(("caldav", "carddav", "imap"), config=config))


@pytest_twisted.ensureDeferred
async def test_other_requests_are_answered_during_large_ones(all_in_one):
    running = all_in_one
    count = 50_000
    await fill(running, count)
    result = await in_thread(subprocess.run, [
        sys.executable, stall_probe.__file__, "--http", str(running.port("http")), "--imap", str(running.port("imap")),
        "--user", USER, "--password", PASSWORD, "--calendar", CAL, "--count", str(count),
        "--propfind-bytes", str(1024 * 1024), "--rss-pid", str(os.getpid())],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    print(f"\nduring a 1 MiB PROPFIND and a {count}-item multiget: {json.dumps(figures)}")
    assert not figures["errors"]
    multiget, = figures["heavy"]["multiget"]
    assert multiget["status"] == 207 and multiget["responses"] == count
    assert multiget["chunked"]
    found, = figures["heavy"]["propfind"]
    assert found["status"] == 207 and found["responses"] == count + 1
    for probe in ("imap_noop", "caldav_get"):
        assert figures[probe]["n"] >= 10, figures
        assert figures[probe]["p99_ms"] < TARGET_MS * MARGIN, (probe, figures[probe])


PROPFIND_ETAG = b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>'
NS = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav", "CR": "urn:ietf:params:xml:ns:carddav"}


@pytest_twisted.ensureDeferred
async def test_too_many_properties_are_refused(server):
    props = "".join(f"<X:p{i}/>" for i in range(1001))
    body = (f'<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:X="http://example.org/x/">'
            f"<D:prop>{props}</D:prop></D:propfind>")
    assert (await server.call("PROPFIND", CAL, body, headers={"Depth": "0"})).status == 413
    # Named twice, a property is answered once.
    twice = PROPFIND_ETAG.replace(b"<D:getetag/>", b"<D:getetag/><D:getetag/>")
    reply = await server.call("PROPFIND", CAL, twice, headers={"Depth": "0"})
    assert reply.status == 207 and reply.body.count(b"getetag") == 1  # a collection: <D:getetag/> 404


def hrefs(reply) -> list:
    return [r.findtext("D:href", namespaces=NS) for r in reply.xml().findall("D:response", NS)]


@pytest_twisted.ensureDeferred
async def test_large_answers_are_whole_across_batches(server):
    """Answers over many batches (250 items) and pieces (256 KiB) lose and repeat nothing."""
    count = 1200
    await fill(server, count)
    names = {f"{CAL}e{i}.ics" for i in range(count)}
    small = await server.call("PROPFIND", CAL, PROPFIND_ETAG, headers={"Depth": "0"})
    assert small.header("content-length") == str(len(small.body))

    listing = await server.call("PROPFIND", CAL, PROPFIND_ETAG, headers={"Depth": "1"})
    assert listing.status == 207 and set(hrefs(listing)) == names | {CAL}

    sync = await server.call("REPORT", CAL, (
        '<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1'
        "</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"), headers={"Depth": "1"})
    assert sorted(hrefs(sync)) == sorted(names)

    # calendar-data makes the answers large enough to be streamed in pieces.
    wanted = [f"{CAL}e{i}.ics" for i in range(count)] + [f"{CAL}missing.ics", "/elsewhere/x.ics"]
    multiget = await server.call("REPORT", CAL, (
        '<?xml version="1.0"?><C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        "<D:prop><D:getetag/><C:calendar-data/></D:prop>"
        + "".join(f"<D:href>{h}</D:href>" for h in wanted) + "</C:calendar-multiget>"),
        headers={"Depth": "1"})
    assert multiget.status == 207 and multiget.header("transfer-encoding") == "chunked"
    assert sorted(hrefs(multiget)) == sorted(wanted)
    data = {r.findtext("D:href", namespaces=NS): r.findtext(".//C:calendar-data", namespaces=NS)
            for r in multiget.xml().findall("D:response", NS)}
    assert "UID:stall-600@example.org" in data[f"{CAL}e600.ics"]

    # A filter the index cannot answer: every item parsed, a batch at a time.
    query = await server.call("REPORT", CAL, (
        '<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        "<D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter><C:comp-filter name=\"VCALENDAR\">"
        '<C:comp-filter name="VEVENT"><C:prop-filter name="LOCATION"><C:text-match>Room 3'
        "</C:text-match></C:prop-filter></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"),
        headers={"Depth": "1"})
    # text-match is a substring match (RFC 4791 9.7.5): "Room 3" but not "Room 13".
    assert sorted(hrefs(query)) == sorted(f"{CAL}e{i}.ics" for i in range(count) if i % 17 == 3)


def card(i: int) -> bytes:
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:card-{i}\r\nFN:Person {i}\r\nN:{i};Person;;;\r\n"
            f"EMAIL:p{i}@example.org\r\nNOTE:{'even' if i % 2 == 0 else 'odd'}\r\nEND:VCARD\r\n").encode()


@pytest_twisted.ensureDeferred
async def test_addressbook_query_limit_across_batches(server):
    collections = await server.collections()
    book = await collections.collection("contacts")
    for i in range(700):
        await book.put(f"c{i}.vcf", card(i))
    book_path = f"/dav/addressbooks/{USER}/contacts/"

    def query(limit=None):
        lim = f"<CR:limit><CR:nresults>{limit}</CR:nresults></CR:limit>" if limit else ""
        return ('<?xml version="1.0"?><CR:addressbook-query xmlns:D="DAV:" '
                'xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/></D:prop>'
                '<CR:filter><CR:prop-filter name="NOTE"><CR:text-match match-type="equals">even'
                f"</CR:text-match></CR:prop-filter></CR:filter>{lim}</CR:addressbook-query>")

    every = await server.call("REPORT", book_path, query(), headers={"Depth": "1"})
    assert len(hrefs(every)) == 350 and all(int(h.rsplit("/", 1)[1][1:-4]) % 2 == 0 for h in hrefs(every))
    cut = await server.call("REPORT", book_path, query(300), headers={"Depth": "1"})
    statuses = [r.findtext("D:status", namespaces=NS) for r in cut.xml().findall("D:response", NS)]
    assert len(hrefs(cut)) == 301 and statuses.count("HTTP/1.1 507 Insufficient Storage") == 1
    exact = await server.call("REPORT", book_path, query(350), headers={"Depth": "1"})
    assert len(hrefs(exact)) == 350
