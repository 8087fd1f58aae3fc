"""CalDAV over raw HTTP: MKCALENDAR and its properties, valid-data preconditions,
calendar-query filters (comp/prop/param-filter, text-match, time-range on recurring
events and to-dos), calendar-data with expand and limit-recurrence-set, multiget and
free-busy-query."""


import pytest_twisted

from dav_harness import USER

C_NS = "urn:ietf:params:xml:ns:caldav"
NS = {"D": "DAV:", "C": C_NS, "I": "http://apple.com/ns/ical/"}
HOME = f"/dav/calendars/{USER}/"
CAL = HOME + "calendar/"

WEEKLY = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//t//EN\r
BEGIN:VEVENT\r
UID:weekly\r
DTSTAMP:20260101T000000Z\r
DTSTART:20260105T090000Z\r
DTEND:20260105T093000Z\r
RRULE:FREQ=WEEKLY;COUNT=6\r
EXDATE:20260119T090000Z\r
SUMMARY:Standup\r
ATTENDEE;PARTSTAT=ACCEPTED:mailto:bob@example.org\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:weekly\r
DTSTAMP:20260101T000000Z\r
RECURRENCE-ID:20260112T090000Z\r
DTSTART:20260113T140000Z\r
DTEND:20260113T143000Z\r
SUMMARY:Standup (moved)\r
END:VEVENT\r
END:VCALENDAR\r
"""

LUNCH = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//t//EN\r
BEGIN:VEVENT\r
UID:lunch\r
DTSTAMP:20260101T000000Z\r
DTSTART:20260114T120000Z\r
DTEND:20260114T130000Z\r
SUMMARY:Lunch with Ada\r
TRANSP:OPAQUE\r
STATUS:TENTATIVE\r
ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:ada@example.org\r
END:VEVENT\r
END:VCALENDAR\r
"""

FREE = LUNCH.replace("UID:lunch", "UID:free").replace("TRANSP:OPAQUE", "TRANSP:TRANSPARENT").replace(
    "Lunch with Ada", "Gym")

TODO_DUE = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//t//EN\r
BEGIN:VTODO\r
UID:report\r
DTSTAMP:20260101T000000Z\r
DTSTART:20260110T090000Z\r
DUE:20260120T170000Z\r
SUMMARY:Write report\r
END:VTODO\r
END:VCALENDAR\r
"""

TODO_NODATE = TODO_DUE.replace("UID:report", "UID:someday").replace(
    "DTSTART:20260110T090000Z\r\nDUE:20260120T170000Z\r\n", "").replace("Write report", "Someday")


def query(filter_xml: str, data: str = "<C:calendar-data/>") -> str:
    return (f'<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="{C_NS}">'
            f"<D:prop><D:getetag/>{data}</D:prop><C:filter>{filter_xml}</C:filter></C:calendar-query>")


def events_in(start, end, comp="VEVENT"):
    tr = f'<C:time-range start="{start}" end="{end}"/>' if start or end else ""
    return f'<C:comp-filter name="VCALENDAR"><C:comp-filter name="{comp}">{tr}</C:comp-filter></C:comp-filter>'


def hrefs(reply) -> dict:
    out = {}
    for resp in reply.xml().findall("D:response", NS):
        out[resp.findtext("D:href", namespaces=NS).rsplit("/", 1)[-1]] = resp.findtext(
            ".//C:calendar-data", namespaces=NS)
    return out


async def put(server, name, body, path=CAL):
    return await server.call("PUT", path + name, body, headers={"Content-Type": "text/calendar"})


async def fill(server):
    for name, body in (("weekly.ics", WEEKLY), ("lunch.ics", LUNCH), ("free.ics", FREE),
                       ("report.ics", TODO_DUE), ("someday.ics", TODO_NODATE)):
        r = await put(server, name, body)
        assert r.status == 201, (name, r)


async def run(server, filter_xml, data="<C:calendar-data/>", path=CAL):
    r = await server.call("REPORT", path, query(filter_xml, data), headers={"Depth": "1"})
    assert r.status == 207, r
    return hrefs(r)


@pytest_twisted.ensureDeferred
async def test_time_range_on_recurring_events_and_todos(server):
    await fill(server)
    # Week of Jan 12: the moved instance (13th) and lunch (14th); the 12th is overridden.
    assert sorted(await run(server, events_in("20260112T000000Z", "20260113T000000Z"))) == []
    assert sorted(await run(server, events_in("20260113T000000Z", "20260115T000000Z"))) == [
        "free.ics", "lunch.ics", "weekly.ics"]
    # The EXDATE'd 19th matches nothing; the 26th does; the EXDATE still counts towards
    # COUNT=6, so Feb 9 is the last instance and Feb 16 has none.
    assert await run(server, events_in("20260119T000000Z", "20260120T000000Z")) == {}
    assert list(await run(server, events_in("20260126T000000Z", "20260127T000000Z"))) == ["weekly.ics"]
    assert list(await run(server, events_in("20260202T000000Z", "20260203T000000Z"))) == ["weekly.ics"]
    assert list(await run(server, events_in("20260209T000000Z", "20260210T000000Z"))) == ["weekly.ics"]
    assert await run(server, events_in("20260216T000000Z", "20260217T000000Z")) == {}
    # To-dos (RFC 4791 9.9): the one due on the 20th overlaps the 15th; the undated
    # one matches every range.
    assert sorted(await run(server, events_in("20260115T000000Z", "20260116T000000Z", "VTODO"))) == [
        "report.ics", "someday.ics"]
    assert sorted(await run(server, events_in("20260301T000000Z", "20260302T000000Z", "VTODO"))) == [
        "someday.ics"]
    assert sorted(await run(server, events_in(None, None, "VTODO"))) == ["report.ics", "someday.ics"]


@pytest_twisted.ensureDeferred
async def test_prop_param_and_text_filters(server):
    await fill(server)

    def prop(name, inner):
        return (f'<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
                f'<C:prop-filter name="{name}">{inner}</C:prop-filter></C:comp-filter></C:comp-filter>')

    assert sorted(await run(server, prop("SUMMARY", "<C:text-match>standup</C:text-match>"))) == ["weekly.ics"]
    assert sorted(await run(server, prop("SUMMARY", '<C:text-match collation="i;octet">standup'
                                                    "</C:text-match>"))) == []
    assert sorted(await run(server, prop("SUMMARY", '<C:text-match negate-condition="yes">Standup'
                                                    "</C:text-match>"))) == ["free.ics", "lunch.ics"]
    assert sorted(await run(server, prop("TRANSP", "<C:is-not-defined/>"))) == ["weekly.ics"]
    partstat = ('<C:param-filter name="PARTSTAT"><C:text-match>NEEDS-ACTION</C:text-match>'
                "</C:param-filter>")
    assert sorted(await run(server, prop("ATTENDEE", partstat))) == ["free.ics", "lunch.ics"]
    no_param = '<C:param-filter name="CN"><C:is-not-defined/></C:param-filter>'
    assert sorted(await run(server, prop("ATTENDEE", no_param))) == ["free.ics", "lunch.ics", "weekly.ics"]
    # Every VEVENT-less object, i.e. the to-dos, through is-not-defined on the component.
    none = '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:is-not-defined/></C:comp-filter></C:comp-filter>'
    assert sorted(await run(server, none)) == ["report.ics", "someday.ics"]
    bad = await server.call("REPORT", CAL, query(prop("SUMMARY", '<C:text-match collation="i;klingon">x'
                                                             "</C:text-match>")))
    assert bad.status == 403 and b"supported-collation" in bad.body
    bad = await server.call("REPORT", CAL, query(events_in("2026-01-01", "20260102T000000Z")))
    assert bad.status == 403 and b"valid-filter" in bad.body


@pytest_twisted.ensureDeferred
async def test_expand_and_limit_recurrence_set(server):
    await fill(server)
    expand = ('<C:calendar-data><C:expand start="20260101T000000Z" end="20260201T000000Z"/>'
              "</C:calendar-data>")
    got = await run(server, events_in("20260101T000000Z", "20260201T000000Z"), expand)
    weekly = got["weekly.ics"]
    assert "RRULE" not in weekly and "EXDATE" not in weekly
    starts = sorted(line for line in weekly.splitlines() if line.startswith("DTSTART"))
    assert starts == ["DTSTART:20260105T090000Z", "DTSTART:20260113T140000Z", "DTSTART:20260126T090000Z"]
    assert weekly.count("RECURRENCE-ID") == 3 and "DTEND:20260126T093000Z" in weekly

    limit = ('<C:calendar-data><C:limit-recurrence-set start="20260120T000000Z" end="20260201T000000Z"/>'
             "</C:calendar-data>")
    got = await run(server, events_in("20260120T000000Z", "20260201T000000Z"), limit)
    assert "RRULE" in got["weekly.ics"] and "moved" not in got["weekly.ics"]

    partial = ('<C:calendar-data><C:comp name="VCALENDAR"><C:prop name="VERSION"/>'
               '<C:comp name="VEVENT"><C:prop name="UID"/><C:prop name="SUMMARY"/></C:comp>'
               "</C:comp></C:calendar-data>")
    got = await run(server, events_in("20260114T000000Z", "20260115T000000Z"), partial)
    assert "SUMMARY:Lunch with Ada" in got["lunch.ics"] and "DTSTART" not in got["lunch.ics"]
    assert "PRODID" not in got["lunch.ics"]


@pytest_twisted.ensureDeferred
async def test_multiget_and_free_busy(server):
    await fill(server)
    body = (f'<C:calendar-multiget xmlns:D="DAV:" xmlns:C="{C_NS}"><D:prop><D:getetag/>'
            f"<C:calendar-data/></D:prop><D:href>{CAL}lunch.ics</D:href>"
            f"<D:href>{CAL}missing.ics</D:href></C:calendar-multiget>")
    r = await server.call("REPORT", CAL, body)
    got = hrefs(r)
    assert "Lunch with Ada" in got["lunch.ics"] and got["missing.ics"] is None
    assert b"404" in r.body

    fb = (f'<C:free-busy-query xmlns:C="{C_NS}"><C:time-range start="20260112T000000Z" '
          'end="20260116T000000Z"/></C:free-busy-query>')
    r = await server.call("REPORT", CAL, fb, headers={"Depth": "1"})
    assert r.status == 200 and r.header("content-type").startswith("text/calendar")
    lines = [line for line in r.body.decode().splitlines() if line.startswith("FREEBUSY")]
    # The moved standup is busy, lunch tentative, the transparent gym not at all.
    assert lines == ["FREEBUSY;FBTYPE=BUSY:20260113T140000Z/20260113T143000Z",
                     "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20260114T120000Z/20260114T130000Z"]


@pytest_twisted.ensureDeferred
async def test_valid_data_preconditions(server):
    coll = await (await server.collections()).collection("calendar")
    bad = await put(server, "bad.ics", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VCALENDAR\r\n")
    assert bad.status == 403 and b"valid-calendar-data" in bad.body
    no_uid = await put(server, "nouid.ics", LUNCH.replace("UID:lunch\r\n", ""))
    assert no_uid.status == 403 and b"valid-calendar-data" in no_uid.body
    assert (await put(server, "lunch.ics", LUNCH)).status == 201
    dup = await put(server, "lunch2.ics", LUNCH)
    assert dup.status == 403 and b"no-uid-conflict" in dup.body and f"{CAL}lunch.ics".encode() in dup.body
    journal = LUNCH.replace("VEVENT", "VJOURNAL").replace("UID:lunch", "UID:j")
    wrong = await put(server, "j.ics", journal, path=HOME + "tasks/")
    assert wrong.status == 403 and b"supported-calendar-component" in wrong.body
    assert (await put(server, "j.ics", journal, path=HOME + "notes/")).status == 201
    huge = LUNCH.replace("SUMMARY:Lunch with Ada", "SUMMARY:" + "x" * (11 * 1024 * 1024))
    big = await put(server, "big.ics", huge.replace("UID:lunch", "UID:big"))
    assert big.status == 403 and b"max-resource-size" in big.body
    wrong_type = await server.call("PUT", CAL + "x.ics", LUNCH, headers={"Content-Type": "image/png"})
    assert wrong_type.status == 403 and b"supported-calendar-data" in wrong_type.body
    # A bad body over an existing event is refused and loses nothing of it.
    before = (await coll.get(["lunch.ics"]))[0]
    over = await put(server, "lunch.ics", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VCALENDAR\r\n")
    assert over.status == 403 and b"valid-calendar-data" in over.body
    assert (await coll.get(["lunch.ics"]))[0] == before
    assert [i.name for i in await coll.items()] == ["lunch.ics"]


@pytest_twisted.ensureDeferred
async def test_mkcalendar_and_calendar_properties(server):
    tz = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\n"
          "BEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n"
          "END:STANDARD\r\nEND:VTIMEZONE\r\nEND:VCALENDAR\r\n")
    body = f"""<?xml version="1.0"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="{C_NS}" xmlns:I="http://apple.com/ns/ical/"><D:set><D:prop>
  <D:displayname>Holidays</D:displayname>
  <C:calendar-description>Days off</C:calendar-description>
  <C:supported-calendar-component-set><C:comp name="VEVENT"/></C:supported-calendar-component-set>
  <C:calendar-timezone><![CDATA[{tz}]]></C:calendar-timezone>
  <I:calendar-color>#00FF00</I:calendar-color><I:calendar-order>3</I:calendar-order>
</D:prop></D:set></C:mkcalendar>"""
    r = await server.call("MKCALENDAR", HOME + "holidays/", body)
    assert r.status == 201, r
    info = await (await (await server.collections()).collection("holidays")).info()
    assert info.components == frozenset({"VEVENT"}) and info.kind.value == "calendar"
    assert info.properties["color"] == "#00FF00" and info.properties["order"] == "3"
    assert info.properties["description"] == "Days off" and "Europe/Paris" in info.properties["timezone"]
    props = await server.call("PROPFIND", HOME + "holidays/", """<D:propfind xmlns:D="DAV:"
 xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:I="http://apple.com/ns/ical/"><D:prop>
<D:displayname/><I:calendar-color/><I:calendar-order/><C:supported-calendar-component-set/>
<C:min-date-time/><C:max-date-time/><C:max-resource-size/><C:supported-calendar-data/>
<C:calendar-timezone/></D:prop></D:propfind>""", headers={"Depth": "0"})
    doc = props.xml()
    assert doc.findtext(".//I:calendar-color", namespaces=NS) == "#00FF00"
    assert [c.get("name") for c in doc.iterfind(".//C:supported-calendar-component-set/C:comp", NS)] == ["VEVENT"]
    assert doc.findtext(".//C:min-date-time", namespaces=NS).endswith("Z")
    assert doc.findtext(".//C:max-resource-size", namespaces=NS) == str(10 * 1024 * 1024)
    assert "VTIMEZONE" in doc.findtext(".//C:calendar-timezone", namespaces=NS)
    assert b"404" not in props.body

    # The component set is fixed after creation; a to-do does not go in.
    todo = await put(server, "t.ics", TODO_DUE, path=HOME + "holidays/")
    assert todo.status == 403
    again = await server.call("MKCALENDAR", HOME + "holidays/", body)
    assert again.status == 405
    bad_tz = body.replace(tz, "not a timezone").replace("holidays", "x")
    r = await server.call("MKCALENDAR", HOME + "other/", bad_tz)
    assert r.status == 403 and b"valid-calendar-data" in r.body
    tasks = await server.call("MKCALENDAR", HOME + "todo/", body.replace('"VEVENT"', '"VTODO"'))
    assert tasks.status == 201
    assert (await (await (await server.collections()).collection("todo")).info()).kind.value == "tasks"
    nowhere = await server.call("MKCALENDAR", f"/dav/addressbooks/{USER}/cal/", body)
    assert nowhere.status == 403
