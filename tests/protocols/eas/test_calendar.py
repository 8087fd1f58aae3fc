"""The EAS Calendar converter: iCalendar <-> ApplicationData round trips, what a device's
edit keeps of the stored event, WBXML, and the refusals."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsync.formats.contentlines import Component, format_line, parse_components, serialize, unescape_text
from smsync.formats.icalendar import expand_instances
from smsync.formats.icaltime import prop_time, zones_of
from smsync.protocols.eas import calendar as cal
from smsync.protocols.eas.calendar import CLASS, from_application_data, to_application_data
from smsync.protocols.eas.codepages import BY_NAMESPACE
from smsync.protocols.eas.convert import ConversionError, body_element
from smsync.protocols.eas.timezone import blob_from_zone, info_from_zone, parse_blob, vtimezone
from smsync.protocols.eas.wbxml import Element, decode, encode

C = "Calendar:"
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ZONES = [None, "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Sydney"]


def E(tag, text=None, *children, ns=C):
    return Element(ns, tag, children, text)


# -- generated iCalendar events ---------------------------------------------------------

_words = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x24F), min_size=1, max_size=20).map(str.strip).filter(bool)
_emails = st.sampled_from(["ann@example.com", "bob@example.org", "room1@example.com", "eve@example.net"])


def _esc(text):
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


@st.composite
def ical_events(draw):
    zone = draw(st.sampled_from(ZONES))
    all_day = draw(st.booleans())
    day = datetime(2020, 1, 1) + timedelta(days=draw(st.integers(0, 3650)))
    lines = []
    if all_day:
        start = day
        end = start + timedelta(days=draw(st.integers(1, 3)))
        fmt = lambda d: ";VALUE=DATE:" + d.strftime("%Y%m%d")  # noqa: E731
    else:
        start = day + timedelta(minutes=15 * draw(st.integers(0, 95)))
        end = start + timedelta(minutes=15 * draw(st.integers(0, 200)))
        if zone is None:
            fmt = lambda d: ":" + d.strftime("%Y%m%dT%H%M%SZ")  # noqa: E731
        else:
            fmt = lambda d: f";TZID={zone}:" + d.strftime("%Y%m%dT%H%M%S")  # noqa: E731
    lines += ["UID:" + draw(st.sampled_from(["a1", "uid-2@example.com", "x" * 40])),
              "DTSTAMP:20240101T000000Z", "DTSTART" + fmt(start), "DTEND" + fmt(end)]
    for name in ("SUMMARY", "LOCATION", "DESCRIPTION"):
        if draw(st.booleans()):
            lines.append(f"{name}:{_esc(draw(_words))}")
    if draw(st.booleans()):
        lines.append("CATEGORIES:" + ",".join(_esc(w) for w in draw(st.lists(_words, min_size=1, max_size=3, unique=True))))
    lines.append("CLASS:" + draw(st.sampled_from(["PUBLIC", "PRIVATE", "CONFIDENTIAL"])))
    lines.append("TRANSP:" + draw(st.sampled_from(["OPAQUE", "TRANSPARENT"])))
    attendees = draw(st.lists(_emails, max_size=3, unique=True))
    if attendees:
        lines.append("ORGANIZER;CN=Boss:mailto:boss@example.com")
    for email in attendees:
        params = ""
        if draw(st.booleans()):
            params += ";CN=" + draw(st.sampled_from(["Ann", "Bob Smith", "Room"]))
        if draw(st.booleans()):
            params += ";PARTSTAT=" + draw(st.sampled_from(["ACCEPTED", "DECLINED", "TENTATIVE", "NEEDS-ACTION"]))
        params += draw(st.sampled_from(["", ";ROLE=OPT-PARTICIPANT", ";CUTYPE=RESOURCE", ";ROLE=REQ-PARTICIPANT"]))
        lines.append(f"ATTENDEE{params}:mailto:{email}")
    rule = draw(st.sampled_from([None, "FREQ=DAILY", "FREQ=DAILY;INTERVAL=3", "FREQ=WEEKLY",
                                 "FREQ=WEEKLY;BYDAY=MO,WE,FR", "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,SU;WKST=MO",
                                 "FREQ=MONTHLY", "FREQ=MONTHLY;BYMONTHDAY=31", "FREQ=MONTHLY;BYDAY=-1FR",
                                 "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1", "FREQ=YEARLY",
                                 "FREQ=YEARLY;BYMONTH=2;BYDAY=2SU", "FREQ=DAILY;BYDAY=MO,TU"]))
    if rule:
        bound = draw(st.sampled_from(["", ";COUNT=5", ";UNTIL"]))
        if bound == ";UNTIL":
            until = start + timedelta(days=draw(st.integers(10, 400)))
            bound = ";UNTIL=" + (until.strftime("%Y%m%d") if all_day else (until - timedelta(hours=14)).strftime("%Y%m%dT%H%M%SZ"))
        lines.append("RRULE:" + rule + bound)
    if draw(st.booleans()):
        lines += ["BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:r",
                  f"TRIGGER:-PT{draw(st.integers(0, 2000))}M", "END:VALARM"]
    event = ["BEGIN:VEVENT", *lines, "END:VEVENT"]
    text = "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:test", *event, "END:VCALENDAR", ""]).encode()
    if zone is not None:
        tz = serialize(vtimezone(info_from_zone(zone, start.year), zone))
        text = text.replace(b"PRODID:test\r\n", b"PRODID:test\r\n" + tz)
    if rule:
        text = _with_exceptions(draw, text, all_day)
    return text


def _with_exceptions(draw, text, all_day):
    """Delete and move some of the first instances."""
    start = datetime(2000, 1, 1, tzinfo=timezone.utc)
    instances = [i for i in expand_instances(text, start, datetime(2035, 1, 1, tzinfo=timezone.utc)) if i[0] is not None][:8]
    chosen = draw(st.lists(st.sampled_from(instances), max_size=3, unique=True)) if len(instances) > 1 else []
    chosen = [c for c in chosen if c[0] != instances[0][0]]
    if not chosen:
        return text
    root = parse_components(text)[0]
    zones = zones_of(root)
    master = [c for c in root.components if c.name == "VEVENT"][0]
    dtstart = master.get("DTSTART")
    tzid = dtstart.param("TZID")
    for rid, s, e in chosen:
        value = cal._time_value(int(rid.timestamp()), tzid, zones, all_day)
        if draw(st.booleans()):
            value.name = "EXDATE"
            master.properties.append(value)
        else:
            value.name = "RECURRENCE-ID"
            shift = timedelta(days=1) if all_day else timedelta(minutes=15 * draw(st.integers(-8, 8)))
            new_s = cal._time_value(int((s + shift).timestamp()), tzid, zones, all_day)
            new_e = cal._time_value(int((e + shift).timestamp()), tzid, zones, all_day)
            new_s.name, new_e.name = "DTSTART", "DTEND"
            props = [p for p in master.properties if p.name in ("UID", "DTSTAMP")]
            props += [value, new_s, new_e, cal.Property("SUMMARY", _esc(draw(_words)) + " moved")]
            root.components.append(Component("VEVENT", props))
    return serialize(root)


def semantics(data: bytes) -> dict:
    """What an event means, as far as EAS carries it."""
    root = parse_components(data)[0]
    zones = zones_of(root)
    events = [c for c in root.components if c.name == "VEVENT"]
    master = cal._master(events)
    start, s, e = cal._times(master, zones)

    def fields(comp):
        st_, s_, e_ = cal._times(comp, zones)
        return {
            "summary": cal._text(comp, "SUMMARY"), "location": cal._text(comp, "LOCATION"),
            "description": cal._text(comp, "DESCRIPTION"), "busy": cal._busy(comp),
            "class": cal._sensitivity(comp), "reminder": cal._reminder(comp, st_, e_, zones),
            "categories": cal._categories(comp), "all_day": st_.is_date, "span": (s_, e_),
        }

    out = fields(master)
    out["uid"] = master.value("UID")
    out["attendees"] = sorted(cal._attendee(p) for p in master.get_all("ATTENDEE"))
    out["organizer"] = cal._email(master.value("ORGANIZER") or "")
    window = (datetime.fromtimestamp(s, timezone.utc) - timedelta(days=2),
              datetime.fromtimestamp(s, timezone.utc) + timedelta(days=800))
    out["instances"] = [(i[1], i[2]) for i in expand_instances(data, *window)]
    out["overrides"] = sorted(
        (prop_time(o.get("RECURRENCE-ID"), zones).epoch, fields(o)["summary"], fields(o)["span"])
        for o in events if o is not master)
    return out


@SETTINGS
@given(data=ical_events(), version=st.sampled_from(["14.1", "16.1"]))
def test_ical_eas_ical_keeps_the_event(version, data):
    app = to_application_data(data, version)
    assert semantics(from_application_data(app, version)) == semantics(data)
    # and through WBXML, as a device gets it and sends it back
    assert decode(encode(app)) == app
    again = from_application_data(decode(encode(app)), version, existing=data)
    assert semantics(again) == semantics(data)


@SETTINGS
@given(data=ical_events())
def test_eas_2_5_has_no_body_and_no_attendee_status(data):
    app = to_application_data(data, "2.5")
    assert app.find("AirSyncBase:", "Body") is None
    for attendees in [c for c in app.children if c.tag == "Attendees"]:
        for attendee in attendees.children:
            assert attendee.find(C, "AttendeeStatus") is None
    kept = semantics(from_application_data(app, "2.5", existing=data))
    assert kept == semantics(data)


def test_every_tag_is_in_the_code_pages():
    data = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\nBEGIN:VEVENT\r\nUID:u\r\nDTSTAMP:20240101T000000Z\r\n"
            b"DTSTART:20240102T100000Z\r\nDTEND:20240102T110000Z\r\nSUMMARY:s\r\nLOCATION:l\r\nDESCRIPTION:d\r\n"
            b"CATEGORIES:a,b\r\nORGANIZER;CN=O:mailto:o@x\r\nATTENDEE;RSVP=TRUE:mailto:a@x\r\n"
            b"RRULE:FREQ=WEEKLY;BYDAY=TU;WKST=SU\r\nEXDATE:20240109T100000Z\r\n"
            b"BEGIN:VALARM\r\nTRIGGER:-PT5M\r\nACTION:DISPLAY\r\nDESCRIPTION:r\r\nEND:VALARM\r\nEND:VEVENT\r\n"
            b"BEGIN:VEVENT\r\nUID:u\r\nDTSTAMP:20240101T000000Z\r\nRECURRENCE-ID:20240116T100000Z\r\n"
            b"DTSTART:20240116T120000Z\r\nDTEND:20240116T130000Z\r\nSUMMARY:o\r\nLOCATION:m\r\nEND:VEVENT\r\n"
            b"END:VCALENDAR\r\n")
    for version in ("2.5", "12.1", "14.0", "14.1", "16.0", "16.1"):
        app = to_application_data(data, version)
        seen = []

        def walk(el):
            seen.append((el.namespace, el.tag))
            for child in el.children:
                walk(child)

        walk(app)
        for namespace, tag in seen:
            assert tag in BY_NAMESPACE[namespace].tokens, (namespace, tag)
        assert decode(encode(app)) == app
        expected = semantics(data)
        if version == "2.5":
            expected["description"] = None  # 2.5 has no AirSyncBase Body
        assert semantics(from_application_data(decode(encode(app)), version)) == expected
    app16 = to_application_data(data, "16.1")
    assert app16.find("AirSyncBase:", "Location") is not None and app16.find(C, "Location") is None
    exc = app16.find(C, "Exceptions").children[0]
    assert exc.find("AirSyncBase:", "InstanceId") is not None and exc.find(C, "ExceptionStartTime") is None
    assert to_application_data(data, "14.1").find(C, "ResponseRequested").text == "1"


# -- generated ApplicationData ----------------------------------------------------------

_compact = lambda d: d.strftime("%Y%m%dT%H%M%SZ")  # noqa: E731


@st.composite
def recurrences(draw, start_local):
    kind = draw(st.sampled_from([0, 1, 2, 3, 5, 6]))
    fields = [E("Type", str(kind))]
    bound = draw(st.sampled_from(["", "count", "until"]))
    if bound == "count":
        fields.append(E("Occurrences", str(draw(st.integers(1, 30)))))
    fields.append(E("Interval", str(draw(st.integers(1, 5)))))
    dow = str(draw(st.integers(1, 126)))
    if kind in (3, 6):
        fields.append(E("WeekOfMonth", str(draw(st.integers(1, 5)))))
    if kind in (1, 3, 6) or (kind == 0 and draw(st.booleans())):
        fields.append(E("DayOfWeek", dow))
    if kind in (5, 6):
        fields.append(E("MonthOfYear", str(draw(st.integers(1, 12)))))
    return fields, kind, bound


@st.composite
def applications(draw, version="14.1"):
    zone = draw(st.sampled_from(ZONES))
    all_day = draw(st.booleans())
    day = datetime(2021, 1, 1, tzinfo=timezone.utc) + timedelta(days=draw(st.integers(0, 2000)))
    if all_day:
        zone = None
        start, end = day, day + timedelta(days=draw(st.integers(1, 3)))
    else:
        start = day + timedelta(minutes=15 * draw(st.integers(0, 95)))
        end = start + timedelta(minutes=15 * draw(st.integers(0, 40)))
    children = [E("Timezone", blob_from_zone(zone or "UTC", start.year)),
                E("AllDayEvent", "1" if all_day else "0")]
    if draw(st.booleans()):
        children.append(body_element(draw(_words)))
    children.append(E("BusyStatus", str(draw(st.integers(0, 4)))))
    attendees = draw(st.lists(_emails, max_size=3, unique=True))
    if attendees:
        children += [E("OrganizerName", "Boss"), E("OrganizerEmail", "boss@example.com")]
    children.append(E("DtStamp", "20240101T000000Z"))
    children.append(E("EndTime", _compact(end)))
    if draw(st.booleans()):
        children.append(E("Location", draw(_words)))
    if draw(st.booleans()):
        children.append(E("Reminder", str(draw(st.integers(0, 3000)))))
    children.append(E("Sensitivity", str(draw(st.integers(0, 3)))))
    subject = draw(_words)
    children += [E("Subject", subject), E("StartTime", _compact(start)), E("UID", "device-uid-1")]
    children.append(E("MeetingStatus", draw(st.sampled_from(["1", "5"])) if attendees else "0"))
    if attendees:
        children.append(E("Attendees", None, *[
            E("Attendee", None, E("Email", a), E("Name", draw(st.sampled_from([a, "Ann", "B. S."]))),
              E("AttendeeStatus", draw(st.sampled_from("02345"))), E("AttendeeType", draw(st.sampled_from("123"))))
            for a in attendees]))
    cats = draw(st.lists(_words, max_size=3, unique=True))
    if cats:
        children.append(E("Categories", None, *[E("Category", c) for c in cats]))
    if draw(st.booleans()):
        fields, kind, bound = draw(recurrences(start))
        if bound == "until":
            fields.insert(-(len(fields) - 3) if False else len(fields), E("Until", _compact(start + timedelta(days=draw(st.integers(30, 500))))))
        if kind in (2, 5):
            fields.append(E("DayOfMonth", str(draw(st.integers(1, 28)))))
        fields = sorted(fields, key=lambda f: cal._RECURRENCE_ORDER.index(f.tag))
        children.append(E("Recurrence", None, *fields))
        exceptions = []
        for n in sorted(set(draw(st.lists(st.integers(1, 40), max_size=3)))):
            when = start + timedelta(days=n)
            key = E("ExceptionStartTime", _compact(when))
            if all_day or draw(st.booleans()):
                exceptions.append(E("Exception", None, E("Deleted", "1"), key))
            else:
                exceptions.append(E("Exception", None, key, E("EndTime", _compact(when + timedelta(hours=2))),
                                    E("Subject", f"exception {n}"), E("StartTime", _compact(when + timedelta(hours=1)))))
        if exceptions:
            children.append(E("Exceptions", None, *exceptions))
    if attendees:
        children.append(E("ResponseRequested", draw(st.sampled_from("01"))))
    return Element("AirSync:", "ApplicationData", tuple(children))


def eas_fields(app: Element) -> dict:
    """The ApplicationData as a comparable dict (Timezone by its rule, Body by its text)."""
    out = {}
    for child in app.children:
        if child.tag == "Timezone":
            out["Timezone"] = parse_blob(child.text).rule_key()
        elif child.tag == "Body":
            out["Body"] = cal.body_text(app)
        elif child.tag == "Exceptions":
            out["Exceptions"] = sorted(tuple(sorted(eas_fields(e).items(), key=str)) for e in child.children)
        elif child.children:
            out[child.tag] = sorted(str(eas_fields(c)) if c.children else (c.tag, c.text) for c in child.children)
        else:
            out[child.tag] = child.text
    return out


@SETTINGS
@given(app=applications())
def test_eas_ical_eas_keeps_the_fields(app):
    data = from_application_data(app, "14.1")
    back = to_application_data(data, "14.1")
    assert eas_fields(back) == eas_fields(app)
    root = parse_components(data)[0]
    assert root.value("VERSION") == "2.0" and root.value("PRODID")
    assert [c.value("UID") for c in root.components if c.name == "VEVENT"][0] == "device-uid-1"


def test_new_item_without_uid_gets_one_and_a_vtimezone():
    app = Element("AirSync:", "ApplicationData", (
        E("Timezone", blob_from_zone("America/New_York", 2026)), E("StartTime", "20260710T140000Z"),
        E("EndTime", "20260710T150000Z"), E("Subject", "Lunch")))
    root = parse_components(from_application_data(app, "14.1"))[0]
    event = [c for c in root.components if c.name == "VEVENT"][0]
    assert len(event.value("UID")) == 36 and event.value("DTSTAMP")
    assert event.value("DTSTART") == "20260710T100000"
    assert event.get("DTSTART").param("TZID") == "America/New_York"
    assert [c.value("TZID") for c in root.components if c.name == "VTIMEZONE"] == ["America/New_York"]


# -- the promise: a device's edit keeps what EAS does not carry ---------------------------

_extras = st.lists(st.sampled_from([
    "URL:https://example.com/meeting", "GEO:37.386013;-122.082932", "COLOR:turquoise",
    "ATTACH:https://example.com/agenda.pdf", "X-ALT-DESC;FMTTYPE=text/html:<b>hi</b>",
    "X-CUSTOM-ONE:kept", "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC", "CONFERENCE;VALUE=URI:https://x/y",
    "SEQUENCE:4", "PRIORITY:1", "LAST-MODIFIED:20240101T000000Z", "X-MOZ-GENERATION:3",
]), min_size=1, max_size=6, unique=True)


@SETTINGS
@given(version=st.sampled_from(["12.1", "14.1", "16.1"]), data=ical_events(), extras=_extras, shift=st.integers(-3000, 3000), subject=_words,
       drop=st.sets(st.sampled_from(["Body", "Location", "Categories", "Attendees", "Reminder", "Recurrence"])))
def test_device_edit_keeps_what_eas_does_not_carry(version, data, extras, shift, subject, drop):
    extra_alarm = "BEGIN:VALARM\r\nACTION:AUDIO\r\nTRIGGER:-PT1H\r\nEND:VALARM\r\n"
    attendee_param = "X-NUM-GUESTS=2"
    text = data.decode().replace(";CUTYPE=", f";{attendee_param};CUTYPE=")
    first_end = text.index("END:VEVENT")
    text = text[:first_end] + "".join(e + "\r\n" for e in extras) + extra_alarm + text[first_end:]
    stored = text.encode()
    app = to_application_data(stored, version)
    children = []
    start = None
    for child in app.children:
        if child.tag in drop:
            continue  # left out: the stored value stays
        if child.tag == "Subject":
            continue
        if child.tag in ("StartTime", "EndTime"):
            when = cal.parse_eas_date(child.text) + timedelta(minutes=15 * shift)
            child = E(child.tag, _compact(when))
            start = when if child.tag == "StartTime" else start
        if child.tag in ("Exceptions",):
            continue  # moving a series: the device sends the exceptions anew (none here)
        children.append(child)
    children.append(E("Subject", subject))
    edited = from_application_data(Element("AirSync:", "ApplicationData", tuple(children)), version, stored)

    root = parse_components(edited)[0]
    master = cal._master([c for c in root.components if c.name == "VEVENT"])
    old = cal._master([c for c in parse_components(stored)[0].components if c.name == "VEVENT"])
    lines = {format_line(p) for p in master.properties}
    for extra in extras:
        assert format_line(parse_components(f"BEGIN:X\r\n{extra}\r\nEND:X\r\n".encode())[0].properties[0]) in lines
    assert master.value("UID") == old.value("UID")
    assert unescape_text(master.value("SUMMARY")) == subject
    assert sum(1 for c in master.components if c.name == "VALARM") == sum(1 for c in old.components if c.name == "VALARM")
    assert any(c.value("ACTION") == "AUDIO" for c in master.components if c.name == "VALARM")
    for tag, name in (("Body", "DESCRIPTION"), ("Location", "LOCATION"), ("Categories", "CATEGORIES")):
        if tag in drop:
            assert master.value(name) == old.value(name)
    if "Recurrence" in drop:
        assert master.value("RRULE") == old.value("RRULE")
    if "Attendees" in drop or version >= "14":
        for prop in old.get_all("ATTENDEE"):
            assert format_line(prop) in lines or attendee_param not in format_line(prop)
    for prop in old.get_all("ATTENDEE"):
        if attendee_param in format_line(prop):
            assert any(attendee_param in format_line(p) for p in master.get_all("ATTENDEE"))
    zones = zones_of(root)
    new_start = prop_time(master.get("DTSTART"), zones)
    if new_start.is_date:
        assert new_start.local.date() == start.date()
    else:
        assert new_start.epoch == int(start.timestamp())


def test_unchanged_echo_changes_nothing():
    stored = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\n"
              + serialize(vtimezone(info_from_zone("Europe/Paris", 2026), "Europe/Paris")) +
              b"BEGIN:VEVENT\r\nUID:u\r\nDTSTAMP:20240101T000000Z\r\n"
              b"DTSTART;TZID=Europe/Paris;X-P=1:20260102T100000\r\nDURATION:PT1H\r\nSUMMARY;LANGUAGE=fr:R\\u00e9union\r\n"
              b"ATTENDEE;CN=Ann;SCHEDULE-STATUS=2.0:mailto:ann@x\r\nCLASS:PRIVATE\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    app = to_application_data(stored, "14.1")
    assert from_application_data(app, "14.1", stored) == parse_and_serialize(stored)


def parse_and_serialize(data):
    return serialize(parse_components(data)[0])


# -- refusals ---------------------------------------------------------------------------


def _app(*children):
    return Element("AirSync:", "ApplicationData", children)


@pytest.mark.parametrize("app", [
    _app(E("Subject", "no start")),
    _app(E("StartTime", "yesterday"), E("EndTime", "20260101T000000Z")),
    _app(E("StartTime", "20261301T000000Z")),
    _app(E("StartTime", "20260102T000000Z"), E("EndTime", "20260101T000000Z")),
    _app(E("StartTime", "20260101T000000Z"), E("Timezone", "!!!")),
    _app(E("StartTime", "20260101T000000Z"), E("Recurrence", None, E("Type", "4"))),
    _app(E("StartTime", "20260101T000000Z"), E("Recurrence", None, E("Interval", "2"))),
    _app(E("StartTime", "20260101T000000Z"), E("Recurrence", None, E("Type", "1"), E("Interval", "0"))),
    _app(E("StartTime", "20260101T000000Z"), E("Recurrence", None, E("Type", "3"), E("DayOfWeek", "2"))),
    _app(E("StartTime", "20260101T000000Z"), E("Recurrence", None, E("Type", "2"), E("DayOfMonth", "32"))),
    _app(E("StartTime", "20260101T000000Z"), E("Recurrence", None, E("Type", "1"), E("Occurrences", "3"),
                                                E("Until", "20260301T000000Z"))),
    _app(E("StartTime", "20260101T000000Z"), E("Exceptions", None, E("Exception", None, E("Deleted", "1"),
                                                                         E("ExceptionStartTime", "20260108T000000Z")))),
    _app(E("StartTime", "20260101T000000Z"), E("Recurrence", None, E("Type", "0")),
         E("Exceptions", None, E("Exception", None, E("Deleted", "1")))),
])
def test_invalid_items_are_conversion_errors(app):
    with pytest.raises(ConversionError):
        from_application_data(app, "14.1")


@pytest.mark.parametrize("data", [b"garbage", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
                                  b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
                                  b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:2026\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"])
def test_unreadable_stored_data_is_a_conversion_error(data):
    with pytest.raises(ConversionError):
        to_application_data(data, "14.1")
    with pytest.raises(ConversionError):
        from_application_data(_app(E("Subject", "x")), "14.1", data)


def test_class_constant():
    assert CLASS == "Calendar"


_TAGS = ["Timezone", "AllDayEvent", "StartTime", "EndTime", "Subject", "Reminder", "BusyStatus", "Sensitivity",
         "MeetingStatus", "UID", "DtStamp", "OrganizerEmail", "ResponseRequested"]
_values = st.one_of(st.sampled_from(["", "0", "1", "5", "99999999999", "20260101T000000Z", "99991231T235959Z",
                                     "00010101T000000Z", blob_from_zone("Europe/Berlin", 2026), "AAAA"]), _words)


@st.composite
def hostile(draw):
    children = [E(tag, draw(_values)) for tag in draw(st.lists(st.sampled_from(_TAGS), max_size=8))]
    if draw(st.booleans()):
        children.append(E("Recurrence", None, *[E(t, draw(_values)) for t in draw(st.lists(st.sampled_from(
            ["Type", "Interval", "Occurrences", "Until", "DayOfWeek", "DayOfMonth", "WeekOfMonth", "MonthOfYear",
             "FirstDayOfWeek"]), max_size=6, unique=True))]))
    if draw(st.booleans()):
        children.append(E("Exceptions", None, *[E("Exception", None, *[E(t, draw(_values)) for t in draw(st.lists(
            st.sampled_from(["Deleted", "ExceptionStartTime", "StartTime", "EndTime", "Subject"]), unique=True))])
            for _ in range(draw(st.integers(0, 2)))]))
    return _app(*children)


@SETTINGS
@given(app=hostile(), existing=st.booleans())
def test_any_device_input_is_stored_or_refused_with_conversion_error(app, existing):
    stored = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\nBEGIN:VEVENT\r\nUID:u\r\nDTSTAMP:20240101T000000Z\r\n"
              b"DTSTART:20240102T100000Z\r\nDTEND:20240102T110000Z\r\nRRULE:FREQ=DAILY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    try:
        data = from_application_data(app, "14.1", stored if existing else None)
    except ConversionError:
        return
    to_application_data(data, "14.1")


# -- the shared VTIMEZONE reading of to_application_data ---------------------------------


def _shown_unshared(data, version, truncation):
    """to_application_data reading every VTIMEZONE afresh, as _load does (the reference
    for the shared path); errors as their messages."""
    def load_unshared(data):
        root, events = cal._load(data)
        return events, [cal._ShownZone(c) for c in root.components if c.name == "VTIMEZONE"]

    shared = cal._load_shown
    cal._load_shown = load_unshared
    try:
        return to_application_data(data, version, truncation)
    except ConversionError as e:
        return str(e)
    finally:
        cal._load_shown = shared


def _shown(data, version, truncation):
    try:
        return to_application_data(data, version, truncation)
    except ConversionError as e:
        return str(e)


_ODD_ZONES = [
    b"BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nEND:VTIMEZONE\r\n",
    b"BEGIN:VTIMEZONE\r\nTZID:My Zone\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nTZOFFSETFROM:+0300\r\n"
    b"TZOFFSETTO:+0300\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n",
    b"BEGIN:VTIMEZONE\r\nTZID:My Zone\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nTZOFFSETFROM:+0500\r\n"
    b"TZOFFSETTO:+0500\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n",
    b"BEGIN:VTIMEZONE\r\nTZID:Bad\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nTZOFFSETFROM:x\r\n"
    b"TZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n",
    b"BEGIN:VTIMEZONE\r\nX-NO-TZID:1\r\nEND:VTIMEZONE\r\n",
    b"BEGIN:VTIMEZONE\r\nTZID:Unended\r\nBEGIN:STANDARD\r\nEND:VTIMEZONE\r\n",
    b"BEGIN:VTIMEZONE\r\nBEGIN:VTIMEZONE\r\nTZID:Nested\r\nEND:VTIMEZONE\r\nEND:VTIMEZONE\r\n",
    b"BEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\nBAD LINE\r\nEND:VTIMEZONE\r\n",
]


@st.composite
def odd_zone_layouts(draw):
    """Events with extra VTIMEZONEs (odd, broken, duplicated) put anywhere: in the
    VCALENDAR, inside the VEVENT, outside the VCALENDAR."""
    data = draw(ical_events())
    lines = data.split(b"\r\n")
    for _ in range(draw(st.integers(1, 3))):
        zone = draw(st.sampled_from(_ODD_ZONES)).rstrip(b"\r\n").split(b"\r\n")
        if draw(st.booleans()):
            zone = [b"My Zone".join(line.split(b"Europe/Berlin")) for line in zone]
        at = draw(st.integers(0, len(lines) - 1))
        lines[at:at] = zone
    if draw(st.booleans()):  # DTSTART in the odd zone
        lines = [line.replace(b"TZID=Europe/Berlin", b"TZID=My Zone") for line in lines]
    return b"\r\n".join(lines)


def _spelled_apart(data: bytes) -> bytes:
    # "Begin:VTIMEZONE" is read as BEGIN:VTIMEZONE, but never shared.
    return data.replace(b"BEGIN:VTIMEZONE", b"Begin:VTIMEZONE")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(ical_events(), odd_zone_layouts()),
       version=st.sampled_from(["2.5", "12.1", "14.1", "16.1"]), truncation=st.sampled_from([None, 0, 10, 512]))
def test_shared_vtimezones_show_as_unshared_ones(data, version, truncation):
    expected = _shown_unshared(data, version, truncation)
    assert _shown(data, version, truncation) == expected  # reading the zones
    assert _shown(data, version, truncation) == expected  # their shared readings
    assert _shown(_spelled_apart(data), version, truncation) == expected


def test_vtimezone_is_read_once_and_not_changed_by_an_edit():
    data = _BERLIN_EVENT
    before = to_application_data(data, "14.1", 512)
    key = next(k for k in cal._SHOWN_ZONES if k.startswith("BEGIN:VTIMEZONE\nTZID:Europe/Berlin"))
    shown = cal._SHOWN_ZONES[key]
    # An edit reads (and rewrites) the stored object's VTIMEZONE: never the shared one.
    app = E("ApplicationData", None, E("Timezone", blob_from_zone("America/New_York", 2026)),
            E("Subject", "moved"), ns="AirSync:")
    edited = from_application_data(app, "14.1", data)
    assert b"America/New_York" in edited
    assert cal._SHOWN_ZONES[key] is shown and shown.tzid == "Europe/Berlin"
    assert to_application_data(data, "14.1", 512) == before
    assert not hasattr(shown, "__dict__")  # no attribute to hang state on
    with pytest.raises(AttributeError):
        shown.properties  # noqa: B018 - it is no Component


_BERLIN_EVENT = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\n"
                 + serialize(vtimezone(info_from_zone("Europe/Berlin", 2026), "Europe/Berlin"))
                 + b"BEGIN:VEVENT\r\nUID:u\r\nDTSTAMP:20240101T000000Z\r\n"
                 b"DTSTART;TZID=Europe/Berlin:20260702T100000\r\nDTEND;TZID=Europe/Berlin:20260702T110000\r\n"
                 b"SUMMARY:s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


@given(epoch=st.one_of(st.integers(-62135596800, 253402300799),
                       st.sampled_from([-30610224001, -30610224000, 0, 253402300799, 253402300800])))
def test_compact_dates_are_strftimes(epoch):
    try:
        expected = cal.eas_compact_date(cal._utc(epoch))
    except (OverflowError, ValueError) as e:
        expected = type(e)
    try:
        got = cal._compact(epoch)
    except (OverflowError, ValueError) as e:
        got = type(e)
    assert got == expected


def test_a_category_that_is_a_backslash_stays_apart_from_the_next():
    # Found by the round-trip property: "\\," is an escaped backslash and then a comma.
    app = Element("AirSync:", "ApplicationData", (
        E("StartTime", "20210101T000000Z"), E("EndTime", "20210101T010000Z"), E("Subject", "x"),
        E("Categories", None, E("Category", "\\"), E("Category", "0"))))
    data = from_application_data(app, "14.1")
    back = to_application_data(data, "14.1")
    cats = back.find(C, "Categories")
    assert [c.text for c in cats.children] == ["\\", "0"]
