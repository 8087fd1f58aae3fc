"""The calendar converter: an event written from EWS fields reads back as written, and an
edit keeps every line it has no field for (zones, overridden instances, alarms)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsync.formats.contentlines import serialize
from smsync.protocols.ews import calendar, calendar_edit, soap
from smsync.protocols.ews.errors import EWSError
from smsync.protocols.ews.shapes import ALL, Shape

words = st.text(st.characters(whitelist_categories=("L", "N"), whitelist_characters=" ,;\\-'."),
                min_size=1, max_size=30).map(str.strip).filter(bool)
starts = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)).map(
    lambda d: d.replace(second=0, microsecond=0, tzinfo=timezone.utc))
lengths = st.integers(min_value=0, max_value=3 * 24 * 60).map(lambda m: timedelta(minutes=m))


def read_back(content: bytes) -> dict:
    node = calendar.calendar_item_element("a@example.org", "c1", "e.ics", 1, content, Shape(ALL))
    return {child.tag.rpartition("}")[2]: child.text for child in node}


@given(words, st.one_of(st.none(), words), st.one_of(st.none(), words), starts, lengths)
def test_fields_read_back(subject, location, body, start, length):
    fields = {"Subject": subject, "Start": start, "End": start + length}
    if location:
        fields["Location"] = location
    if body:
        fields["Body"] = body
    _uid, content = calendar_edit.new_event(fields)
    got = read_back(content)
    assert got["Subject"] == subject
    assert got.get("Location") == location and got.get("Body") == body
    assert got["Start"] == start.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert got["End"] == (start + length).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert got["CalendarItemType"] == "Single"


SERIES = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n"
          b"END:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:s1\r\nDTSTAMP:20260101T000000Z\r\n"
          b"DTSTART;TZID=Europe/Berlin:20260105T100000\r\nDTEND;TZID=Europe/Berlin:20260105T110000\r\n"
          b"RRULE:FREQ=DAILY;COUNT=5\r\nSUMMARY:Old\r\nX-KEEP:me\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\n"
          b"TRIGGER:-PT5M\r\nEND:VALARM\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:s1\r\n"
          b"RECURRENCE-ID;TZID=Europe/Berlin:20260106T100000\r\nDTSTART;TZID=Europe/Berlin:20260106T120000\r\n"
          b"DTEND;TZID=Europe/Berlin:20260106T130000\r\nSUMMARY:Moved\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


@given(words)
def test_an_edit_keeps_what_it_does_not_name(subject):
    parsed = calendar.load(SERIES)
    calendar_edit.apply(parsed, {"Subject": subject})
    written = serialize(parsed)
    assert read_back(written)["Subject"] == subject
    for kept in (b"X-KEEP:me", b"TRIGGER:-PT5M", b"RECURRENCE-ID;TZID=Europe/Berlin:20260106T100000",
                 b"DTSTART;TZID=Europe/Berlin:20260105T100000", b"RRULE:FREQ=DAILY;COUNT=5",
                 b"BEGIN:VTIMEZONE"):
        assert kept in written


def test_excluding_an_occurrence():
    parsed = calendar.load(SERIES)
    calendar_edit.exclude(parsed, datetime(2026, 1, 6, 9, 0, tzinfo=timezone.utc))
    written = serialize(parsed)
    assert b"EXDATE;TZID=Europe/Berlin:20260106T100000" in written and b"Moved" not in written
    starts_left = [i.start for i in calendar.instances(written, datetime(2026, 1, 1, tzinfo=timezone.utc),
                                                       datetime(2026, 2, 1, tzinfo=timezone.utc))]
    assert [s.day for s in starts_left] == [5, 7, 8, 9]


def test_recurrence_patterns():
    def rule(xml: str) -> str:
        from lxml import etree

        node = etree.fromstring(f'<t:Recurrence xmlns:t="{soap.T}">{xml}</t:Recurrence>')
        return calendar_edit.rrule_of(node)

    assert rule("<t:DailyRecurrence><t:Interval>2</t:Interval></t:DailyRecurrence><t:NoEndRecurrence>"
                "<t:StartDate>2026-01-01</t:StartDate></t:NoEndRecurrence>") == "FREQ=DAILY;INTERVAL=2"
    assert rule("<t:RelativeMonthlyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Tuesday</t:DaysOfWeek>"
                "<t:DayOfWeekIndex>Last</t:DayOfWeekIndex></t:RelativeMonthlyRecurrence><t:EndDateRecurrence>"
                "<t:StartDate>2026-01-01</t:StartDate><t:EndDate>2026-12-31</t:EndDate></t:EndDateRecurrence>"
                ) == "FREQ=MONTHLY;INTERVAL=1;BYDAY=-1TU;UNTIL=20261231T235959Z"
    assert rule("<t:AbsoluteYearlyRecurrence><t:DayOfMonth>14</t:DayOfMonth><t:Month>February</t:Month>"
                "</t:AbsoluteYearlyRecurrence><t:NumberedRecurrence><t:StartDate>2026-02-14</t:StartDate>"
                "<t:NumberOfOccurrences>5</t:NumberOfOccurrences></t:NumberedRecurrence>"
                ) == "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=14;COUNT=5"


def _attendee_lists(content: bytes) -> dict:
    node = calendar.calendar_item_element("a@example.org", "c1", "e.ics", 1, content, Shape(ALL))
    return {child.tag.rpartition("}")[2]: [(box.findtext(soap.t("Mailbox") + "/" + soap.t("EmailAddress")),
                                            box.findtext(soap.t("ResponseType"))) for box in child]
            for child in node if child.tag.endswith("Attendees") or child.tag.endswith("Resources")}


def test_attendees_written_by_list_and_answers_kept():
    from lxml import etree

    t = soap.t
    item = etree.Element(t("CalendarItem"))
    for field, address in (("RequiredAttendees", "b@example.org"), ("OptionalAttendees", "c@example.org"),
                           ("Resources", "room@example.org")):
        box = etree.SubElement(etree.SubElement(etree.SubElement(item, t(field)), t("Attendee")), t("Mailbox"))
        etree.SubElement(box, t("Name")).text = "Bee" if field == "RequiredAttendees" else address
        etree.SubElement(box, t("EmailAddress")).text = address
    fields = calendar_edit.read_fields(item)
    start = datetime(2027, 1, 1, 10, tzinfo=timezone.utc)
    fields.update({"Start": start, "End": start + timedelta(hours=1)})
    _uid, content = calendar_edit.new_event(fields, "a@example.org")
    text = content.decode().replace("\r\n ", "")
    assert "ORGANIZER:mailto:a@example.org" in text
    assert "ATTENDEE;CN=Bee;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:b@example.org" in text
    assert "ATTENDEE;ROLE=OPT-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:c@example.org" in text
    assert "CUTYPE=RESOURCE;ROLE=NON-PARTICIPANT" in text
    assert _attendee_lists(content) == {
        "RequiredAttendees": [("b@example.org", "NoResponseReceived")],
        "OptionalAttendees": [("c@example.org", "NoResponseReceived")],
        "Resources": [("room@example.org", "NoResponseReceived")]}

    # b answered; an edit of the required list keeps b's answer, adds d, leaves c alone.
    answered = content.replace(b"\r\n ", b"").replace(b"PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:b@",
                                                       b"PARTSTAT=ACCEPTED:mailto:b@")
    assert b"PARTSTAT=ACCEPTED" in answered
    parsed = calendar.load(answered)
    calendar_edit.apply(parsed, {"RequiredAttendees": [("b@example.org", ""), ("d@example.org", "")]})
    assert _attendee_lists(serialize(parsed))["RequiredAttendees"] == [
        ("b@example.org", "Accept"), ("d@example.org", "NoResponseReceived")]
    assert _attendee_lists(serialize(parsed))["OptionalAttendees"] == [("c@example.org", "NoResponseReceived")]
    assert calendar_edit.set_organizer(parsed, "a@example.org")


# -- recurrence sent back: the stored RRULE as an EWS Recurrence, and the series' parts ---

_DAY_WORDS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTH_WORDS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
                "October", "November", "December")
_intervals = st.integers(min_value=1, max_value=99).map(str)
_relative_days = st.sampled_from(_DAY_WORDS + ("Day", "Weekday", "WeekendDay"))
_indexes = st.sampled_from(("First", "Second", "Third", "Fourth", "Last"))
_patterns = st.one_of(
    st.tuples(st.just("DailyRecurrence"), st.tuples(st.just("Interval"), st.integers(1, 999).map(str))),
    st.builds(lambda i, days, first: ("WeeklyRecurrence", ("Interval", i),
                                      ("DaysOfWeek", " ".join(d for d in _DAY_WORDS if d in days)),
                                      ("FirstDayOfWeek", first)),
              _intervals, st.sets(st.sampled_from(_DAY_WORDS), min_size=1), st.sampled_from(_DAY_WORDS)),
    st.builds(lambda i, d: ("AbsoluteMonthlyRecurrence", ("Interval", i), ("DayOfMonth", str(d))),
              _intervals, st.integers(1, 31)),
    st.builds(lambda i, d, n: ("RelativeMonthlyRecurrence", ("Interval", i), ("DaysOfWeek", d), ("DayOfWeekIndex", n)),
              _intervals, _relative_days, _indexes),
    st.builds(lambda d, m: ("AbsoluteYearlyRecurrence", ("DayOfMonth", str(d)), ("Month", m)),
              st.integers(1, 31), st.sampled_from(_MONTH_WORDS)),
    st.builds(lambda d, n, m: ("RelativeYearlyRecurrence", ("DaysOfWeek", d), ("DayOfWeekIndex", n), ("Month", m)),
              _relative_days, _indexes, st.sampled_from(_MONTH_WORDS)),
)
_first_days = st.dates(min_value=datetime(2000, 1, 1).date(), max_value=datetime(2040, 1, 1).date())
_ranges = st.one_of(
    st.just(("NoEndRecurrence",)),
    st.integers(0, 3000).map(lambda n: ("EndDateRecurrence", n)),
    st.integers(1, 999).map(lambda n: ("NumberedRecurrence", n)),
)


def _recurrence_xml(pattern, ending, first) -> str:
    kind, *children = pattern
    inner = "".join(f"<t:{tag}>{value}</t:{tag}>" for tag, value in children)
    tail = f"<t:StartDate>{first.isoformat()}Z</t:StartDate>"
    if ending[0] == "EndDateRecurrence":
        tail += f"<t:EndDate>{(first + timedelta(days=ending[1])).isoformat()}Z</t:EndDate>"
    elif ending[0] == "NumberedRecurrence":
        tail += f"<t:NumberOfOccurrences>{ending[1]}</t:NumberOfOccurrences>"
    return (f'<t:Recurrence xmlns:t="{soap.T}"><t:{kind}>{inner}</t:{kind}>'
            f"<t:{ending[0]}>{tail}</t:{ending[0]}></t:Recurrence>")


def _tree(node) -> tuple:
    return (node.tag, (node.text or "").strip(), tuple(_tree(c) for c in node))


@given(_patterns, _ranges, _first_days)
def test_recurrence_round_trip(pattern, ending, first):
    """EWS Recurrence -> RRULE (as stored) -> EWS Recurrence (as sent back): the same."""
    from lxml import etree

    from smsync.protocols.ews import recurrence

    sent = etree.fromstring(_recurrence_xml(pattern, ending, first))
    rrule = calendar_edit.rrule_of(sent)
    back = recurrence.recurrence_element(rrule, first)
    assert back is not None, rrule
    assert _tree(back) == _tree(sent), rrule


def test_rules_of_other_clients():
    """RRULEs CalDAV clients write: what EWS can say comes back with DTSTART filling in
    what the rule leaves to it; what it cannot gives no Recurrence."""
    from smsync.protocols.ews import recurrence

    def pattern(rule, first=datetime(2026, 1, 7).date()):  # a Wednesday
        node = recurrence.recurrence_element(rule, first)
        return None if node is None else [_tree(c)[0:2] + tuple(x[0:2] for x in _tree(c)[2]) for c in node]

    t = soap.t
    assert pattern("FREQ=WEEKLY;UNTIL=20260131T090000Z") == [
        (t("WeeklyRecurrence"), "", (t("Interval"), "1"), (t("DaysOfWeek"), "Wednesday"),
         (t("FirstDayOfWeek"), "Monday")),
        (t("EndDateRecurrence"), "", (t("StartDate"), "2026-01-07Z"), (t("EndDate"), "2026-01-31Z"))]
    assert pattern("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1")[0] == (
        t("RelativeMonthlyRecurrence"), "", (t("Interval"), "1"), (t("DaysOfWeek"), "Weekday"),
        (t("DayOfWeekIndex"), "Last"))
    assert pattern("FREQ=MONTHLY;BYMONTHDAY=-1")[0][4] == (t("DayOfWeekIndex"), "Last")
    assert pattern("FREQ=YEARLY")[0] == (t("AbsoluteYearlyRecurrence"), "", (t("DayOfMonth"), "7"),
                                         (t("Month"), "January"))
    assert pattern("FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR")[0][3] == (
        t("DaysOfWeek"), "Monday Tuesday Wednesday Thursday Friday")
    # A zone's dates carry its offset; an UNTIL is the day it falls on there.
    import zoneinfo

    berlin = recurrence.recurrence_element("FREQ=DAILY;UNTIL=20260130T230000Z", datetime(2026, 1, 7).date(),
                                           zoneinfo.ZoneInfo("Europe/Berlin"))
    assert [(c.tag, c.text) for c in berlin[1]] == [(t("StartDate"), "2026-01-07+01:00"),
                                                   (t("EndDate"), "2026-01-31+01:00")]
    for unsaid in ("FREQ=HOURLY", "FREQ=MONTHLY;BYMONTHDAY=1,15", "FREQ=YEARLY;INTERVAL=2",
                   "FREQ=MONTHLY;BYDAY=2MO,4MO", "FREQ=WEEKLY;BYHOUR=9,17", "RUBBISH"):
        assert pattern(unsaid) is None, unsaid


def test_a_master_lists_its_pattern_first_last_modified_and_deleted():
    series = SERIES.replace(b"RRULE:FREQ=DAILY;COUNT=5\r\n",
                            b"RRULE:FREQ=DAILY;COUNT=5\r\nEXDATE;TZID=Europe/Berlin:20260108T100000\r\n")
    node = calendar.calendar_item_element("a@example.org", "c1", "e.ics", 7, series, Shape(ALL))
    t = soap.t
    tags = [child.tag.rpartition("}")[2] for child in node]
    assert tags[-7:] == ["Recurrence", "FirstOccurrence", "LastOccurrence", "ModifiedOccurrences",
                         "DeletedOccurrences", "StartTimeZone", "EndTimeZone"]
    assert node.find(t("Recurrence") + "/" + t("DailyRecurrence")).findtext(t("Interval")) == "1"
    assert node.find(t("Recurrence") + "/" + t("NumberedRecurrence")).findtext(t("NumberOfOccurrences")) == "5"
    assert node.find(t("FirstOccurrence")).findtext(t("Start")) == "2026-01-05T09:00:00Z"
    assert node.find(t("LastOccurrence")).findtext(t("Start")) == "2026-01-09T09:00:00Z"
    [moved] = node.find(t("ModifiedOccurrences"))
    assert (moved.findtext(t("Start")), moved.findtext(t("End")), moved.findtext(t("OriginalStart"))) == (
        "2026-01-06T11:00:00Z", "2026-01-06T12:00:00Z", "2026-01-06T09:00:00Z")
    [gone] = node.find(t("DeletedOccurrences"))
    assert gone.findtext(t("Start")) == "2026-01-08T09:00:00Z"
    # The modified occurrence's id reads that occurrence back.
    from smsync.protocols.ews import ids

    key = ids.parse_item_id(moved.find(t("ItemId")).get("Id")).key
    assert calendar.split_key(key) == ("e.ics", datetime(2026, 1, 6, 9, tzinfo=timezone.utc))
    # A single event has none of these; nor does a series' master asked for by default.
    single = calendar.calendar_item_element("a@example.org", "c1", "e.ics", 7, series, Shape())
    assert single.find(t("Recurrence")) is None and single.find(t("ModifiedOccurrences")) is None


def test_an_occurrence_edit_is_an_override_in_the_masters_form():
    """A change of one occurrence makes its override from the master -- alarms and X-
    lines kept, the series' lines not -- with RECURRENCE-ID and times in the master's
    zone; a second change merges into it; a date series' override is dated."""
    parsed = calendar.load(SERIES)
    third = datetime(2026, 1, 7, 9, 0, tzinfo=timezone.utc)  # 10:00 in Berlin
    calendar_edit.apply(parsed, {"Subject": "Third"}, recurrence_id=third)
    calendar_edit.apply(parsed, {"Location": "Hall"}, recurrence_id=third)
    written = serialize(parsed)
    events = written.split(b"BEGIN:VEVENT")[1:]
    assert len(events) == 3 and b"RRULE" in events[0] and b"SUMMARY:Old" in events[0]
    made = events[2]
    for line in (b"RECURRENCE-ID;TZID=Europe/Berlin:20260107T100000", b"DTSTART;TZID=Europe/Berlin:20260107T100000",
                 b"DTEND;TZID=Europe/Berlin:20260107T110000", b"SUMMARY:Third", b"LOCATION:Hall",
                 b"X-KEEP:me", b"TRIGGER:-PT5M"):
        assert line in made, line
    assert b"RRULE" not in made and b"EXDATE" not in made
    got = {i.recurrence_id: i for i in calendar.overrides(written)}
    assert set(got) == {datetime(2026, 1, 6, 9, tzinfo=timezone.utc), third}
    # The series itself is unchanged, and the override is the occurrence EWS reads.
    assert read_back(written)["Subject"] == "Old"
    node = calendar.calendar_item_element("a@example.org", "c1", "e.ics", 1, written, Shape(ALL),
                                          calendar.occurrence(written, third))
    assert node.findtext(soap.t("Subject")) == "Third" and node.findtext(soap.t("CalendarItemType")) == "Exception"
    # An occurrence has no recurrence of its own.
    with pytest.raises(EWSError):
        calendar_edit.apply(parsed, {"Recurrence": "FREQ=DAILY"}, recurrence_id=third)
    dated = calendar.load(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:d\r\nDTSTAMP:20260101T000000Z\r\n"
                          b"DTSTART;VALUE=DATE:20260105\r\nDTEND;VALUE=DATE:20260106\r\nRRULE:FREQ=WEEKLY\r\n"
                          b"END:VEVENT\r\nEND:VCALENDAR\r\n")
    calendar_edit.apply(dated, {"Subject": "Holiday"}, recurrence_id=datetime(2026, 1, 12, tzinfo=timezone.utc))
    text = serialize(dated)
    assert b"RECURRENCE-ID;VALUE=DATE:20260112" in text and b"DTEND;VALUE=DATE:20260113" in text


def test_instance_index_counts_the_pattern():
    series = SERIES.replace(b"RRULE:FREQ=DAILY;COUNT=5\r\n",
                            b"RRULE:FREQ=DAILY;COUNT=5\r\nEXDATE;TZID=Europe/Berlin:20260108T100000\r\n")
    assert calendar.occurrence_at(series, 1) == datetime(2026, 1, 5, 9, tzinfo=timezone.utc)
    assert calendar.occurrence_at(series, 2) == datetime(2026, 1, 6, 9, tzinfo=timezone.utc)  # moved: its place
    assert calendar.occurrence_at(series, 5) == datetime(2026, 1, 9, 9, tzinfo=timezone.utc)  # the deleted counts
    for index, code in ((4, "ErrorCalendarOccurrenceIsDeletedFromRecurrence"),
                        (6, "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange")):
        with pytest.raises(EWSError) as raised:
            calendar.occurrence_at(series, index)
        assert raised.value.code == code


def test_a_series_starting_on_29_february_is_read():
    from smsync.protocols.ews.calendar import first_instance

    ics = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:leap\r\nDTSTAMP:20240101T000000Z\r\n"
           b"DTSTART:20240229T100000Z\r\nDTEND:20240229T110000Z\r\nRRULE:FREQ=YEARLY;COUNT=3\r\n"
           b"END:VEVENT\r\nEND:VCALENDAR\r\n")
    assert first_instance(ics).start.isoformat() == "2024-02-29T10:00:00+00:00"
