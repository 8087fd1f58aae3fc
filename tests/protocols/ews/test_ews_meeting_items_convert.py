"""Meeting messages at the edge (``meeting_items``): which mail is a meeting request,
cancellation or response (from its structure, then its calendar part), and the item it
is served as -- tag, ItemClass and meeting fields after the message's, in the schema's
order. Anything unreadable leaves the mail a Message."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from smsync.formats.message import parse_message
from smsync.model import MessageInfo
from smsync.protocols.ews import ids, meeting_items, messages
from smsync.protocols.ews.shapes import ALL, DEFAULT, Shape
from smsync.protocols.ews.soap import t
from smsync.scheduling import imip

ACCOUNT = "alice@example.org"
ORGANIZER = "carol@remote.example"


def ics(method: str, partstat: str = "NEEDS-ACTION", sequence: int = 0, component: str = "VEVENT",
        extra: str = "") -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", f"METHOD:{method}",
             f"BEGIN:{component}", "UID:meet-1@remote.example", "DTSTAMP:20270101T090000Z",
             "DTSTART:20270301T100000Z", "DTEND:20270301T110000Z", "SUMMARY:Budget",
             "LOCATION:Room 4", f"SEQUENCE:{sequence}", f"ORGANIZER;CN=Carol:mailto:{ORGANIZER}",
             f"ATTENDEE;PARTSTAT={partstat};RSVP=TRUE:mailto:{ACCOUNT}"]
    lines += [x for x in extra.split("\n") if x]
    lines += [f"END:{component}", "END:VCALENDAR", ""]
    return "\r\n".join(lines).encode()


def mail(calendar: bytes, method: str) -> bytes:
    return imip.imip_message(calendar, method=method, sender=ORGANIZER, recipients=[ACCOUNT],
                             subject="Invitation: Budget", text="Budget\n")


def meeting(method: str, **kwargs) -> meeting_items.Meeting:
    found = meeting_items.detect(ics(method, **kwargs))
    assert found is not None
    return meeting_items.Meeting(found[0], ics(method, **kwargs), found[1], ACCOUNT)


INFO = MessageInfo(7, frozenset(), datetime(2027, 1, 1, tzinfo=timezone.utc),
                   datetime(2027, 1, 1, tzinfo=timezone.utc), 100, 3)


def element(raw: bytes, found, shape=Shape(ALL)):
    return messages.message_element(ACCOUNT, "inbox", INFO, parse_message(raw), shape, raw,
                                    get_item=True, meeting=found)


def names(node) -> list[str]:
    return [etree.QName(child).localname for child in node]


def test_the_structure_spots_the_calendar_part_without_reading():
    raw = mail(ics("REQUEST"), "REQUEST")
    part = meeting_items.calendar_part(parse_message(raw))
    assert part is not None and part.mime_type == "text/calendar"
    assert b"METHOD:REQUEST" in raw[part.header_end:part.body_end]
    plain = b"From: a@b.c\r\nTo: d@e.f\r\nSubject: hi\r\n\r\nhello\r\n"
    assert meeting_items.calendar_part(parse_message(plain)) is None


def test_a_forwarded_invitation_is_a_message():
    inner = mail(ics("REQUEST"), "REQUEST")
    outer = (b"From: d@e.f\r\nTo: a@b.c\r\nSubject: Fwd\r\nMIME-Version: 1.0\r\n"
             b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\n"
             b"see below\r\n--XX\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--XX--\r\n")
    assert meeting_items.calendar_part(parse_message(outer)) is None


def test_methods_and_classes():
    assert meeting("REQUEST").item_class == "IPM.Schedule.Meeting.Request"
    assert meeting("CANCEL").item_class == "IPM.Schedule.Meeting.Canceled"
    assert meeting("REPLY", partstat="ACCEPTED").item_class == "IPM.Schedule.Meeting.Resp.Pos"
    assert meeting("REPLY", partstat="DECLINED").item_class == "IPM.Schedule.Meeting.Resp.Neg"
    assert meeting("REPLY", partstat="TENTATIVE").item_class == "IPM.Schedule.Meeting.Resp.Tent"
    assert meeting("COUNTER").item_class == "IPM.Schedule.Meeting.Resp.Tent"
    assert [meeting(m).tag for m in ("REQUEST", "CANCEL", "REPLY")] == [
        "MeetingRequest", "MeetingCancellation", "MeetingResponse"]


def test_not_meetings_stay_messages():
    assert meeting_items.detect(ics("PUBLISH")) is None
    assert meeting_items.detect(ics("REQUEST", component="VTODO")) is None
    assert meeting_items.detect(b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n") is None
    assert meeting_items.detect(ics("REQUEST").replace(b"METHOD:REQUEST\r\n", b"")) is None
    assert meeting_items.detect(b"\xff\xfe garbage") is None


def test_a_request_is_served_in_the_schema_order():
    node = element(mail(ics("REQUEST", sequence=2), "REQUEST"), meeting("REQUEST", sequence=2))
    assert node.tag == t("MeetingRequest")
    assert node.findtext(t("ItemClass")) == "IPM.Schedule.Meeting.Request"
    order = names(node)
    # The message's fields first, then MeetingMessageType's, then the request's.
    expected = ["IsRead", "IsDelegated", "IsOutOfDate", "HasBeenProcessed", "ResponseType", "UID",
                "DateTimeStamp", "MeetingRequestType", "IntendedFreeBusyStatus", "Start", "End",
                "IsAllDayEvent", "LegacyFreeBusyStatus", "Location", "IsMeeting", "IsCancelled",
                "IsRecurring", "MeetingRequestWasSent", "CalendarItemType", "MyResponseType",
                "Organizer", "RequiredAttendees", "AppointmentSequenceNumber", "AppointmentState"]
    assert [n for n in order if n in expected] == expected
    assert order.index("Subject") < order.index("IsRead") < order.index("IsDelegated")
    assert node.findtext(t("Start")) == "2027-03-01T10:00:00Z"
    assert node.findtext(t("Location")) == "Room 4"
    assert node.findtext(t("MeetingRequestType")) == "FullUpdate"
    assert node.findtext(t("ResponseType")) == "NoResponseReceived"
    assert node.findtext(t("UID")) == "meet-1@remote.example"
    assert node.find(t("Organizer")).findtext(f"{t('Mailbox')}/{t('EmailAddress')}") == ORGANIZER
    assert node.find(t("AssociatedCalendarItemId")) is None  # none in the calendar


def test_associated_item_and_out_of_date():
    stored = ics("REQUEST", partstat="ACCEPTED", sequence=3).replace(b"METHOD:REQUEST\r\n", b"")
    ref = ids.ItemRef(ACCOUNT, ids.ITEM, "cal", "x.ics")
    found = meeting("REQUEST", sequence=1)
    found = meeting_items.Meeting(found.method, found.ics, found.info, ACCOUNT,
                                  meeting_items.Associated(ref, 9, "e", stored))
    node = element(mail(found.ics, "REQUEST"), found)
    assert node.find(t("AssociatedCalendarItemId")).get("Id") == ids.item_id(ref)
    assert names(node).index("AssociatedCalendarItemId") == names(node).index("IsRead") + 1
    assert node.findtext(t("IsOutOfDate")) == "true"
    assert node.findtext(t("HasBeenProcessed")) == "true"
    assert node.findtext(t("MeetingRequestType")) == "Outdated"
    assert node.findtext(t("ResponseType")) == "Accept"


def test_cancellation_and_response_fields():
    node = element(mail(ics("CANCEL"), "CANCEL"), meeting("CANCEL"))
    assert node.tag == t("MeetingCancellation")
    assert [n for n in names(node) if n in ("Start", "End", "Location", "CalendarItemType")] == [
        "Start", "End", "Location", "CalendarItemType"]
    assert node.find(t("Organizer")) is None  # not a cancellation's field
    node = element(mail(ics("REPLY", partstat="DECLINED"), "REPLY"), meeting("REPLY", partstat="DECLINED"))
    assert node.tag == t("MeetingResponse") and node.findtext(t("ResponseType")) == "Decline"
    counter = meeting("COUNTER", extra="COMMENT:later?")
    node = element(mail(counter.ics, "COUNTER"), counter)
    assert node.findtext(t("ProposedStart")) == "2027-03-01T10:00:00Z"


def test_a_series_and_one_occurrence():
    series = meeting("REQUEST", extra="RRULE:FREQ=WEEKLY;COUNT=4")
    node = element(mail(series.ics, "REQUEST"), series)
    assert node.findtext(t("CalendarItemType")) == "RecurringMaster"
    assert node.find(t("Recurrence")) is not None and names(node)[-1] == "Recurrence"
    one = meeting("CANCEL", extra="RECURRENCE-ID:20270301T100000Z")
    node = element(mail(one.ics, "CANCEL"), one)
    assert node.findtext(t("RecurrenceId")) == "2027-03-01T10:00:00Z"
    assert names(node).index("UID") < names(node).index("RecurrenceId") < names(node).index("Start")
    assert node.findtext(t("CalendarItemType")) == "Occurrence"


def test_default_shape_keeps_the_message_defaults_and_the_meeting_essentials():
    node = element(mail(ics("REQUEST"), "REQUEST"), meeting("REQUEST"), Shape(DEFAULT))
    got = names(node)
    for name in ("Subject", "From", "IsRead", "ResponseType", "MeetingRequestType", "Start", "End",
                 "Location", "Organizer", "CalendarItemType"):
        assert name in got, name
    # The calendar item's own Default fields come along (IsMeeting is one of them since
    # the meeting state fields are served); AllProperties-only ones do not.
    assert "AppointmentState" not in got and "Duration" not in got


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_break_detection(data):
    assert meeting_items.detect(data) is None or meeting_items.detect(data)[0] in (
        "REQUEST", "CANCEL", "REPLY", "COUNTER")


_LINES = st.sampled_from([
    "METHOD:REQUEST", "METHOD:CANCEL", "METHOD:REPLY", "METHOD:COUNTER", "METHOD:PUBLISH",
    "BEGIN:VEVENT", "END:VEVENT", "BEGIN:VTODO", "END:VTODO", "UID:u1", "UID:",
    "DTSTART:20270301T100000Z", "DTSTART:garbage", "DTSTART;VALUE=DATE:20270301",
    "DTEND:20270301T110000Z", "DURATION:PT1H", "DURATION:nonsense", "RRULE:FREQ=WEEKLY;COUNT=3",
    "RRULE:FREQ=NOPE", "RECURRENCE-ID:20270308T100000Z", "ORGANIZER:mailto:o@x", "ORGANIZER:",
    f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{ACCOUNT}", "ATTENDEE:", "SEQUENCE:x", "SEQUENCE:-4",
    "DTSTART;TZID=Nowhere/Zone:20270301T100000", "SUMMARY:\\n\\,", "EXDATE:bad",
])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["REQUEST", "CANCEL", "REPLY", "COUNTER"]), st.lists(_LINES, max_size=10),
       st.lists(_LINES, max_size=6), st.booleans())
def test_any_calendar_part_reads_as_a_meeting_or_a_message(method, inside, outside, skeleton):
    """Mostly well-formed meeting messages with odd properties in them (and sometimes
    not even that): each reads as a meeting item or stays a Message, never an error."""
    body = ["UID:u1", f"ORGANIZER:mailto:{ORGANIZER}", f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{ACCOUNT}"]
    lines = ([f"METHOD:{method}", "BEGIN:VEVENT", *body, *inside, "END:VEVENT", *outside] if skeleton
             else inside + outside)
    data = "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", *lines, "END:VCALENDAR", ""]).encode()
    found = meeting_items.detect(data)
    if found is None:
        return
    item = meeting_items.Meeting(found[0], data, found[1], ACCOUNT)
    raw = mail(data, found[0])
    node = element(raw, item)
    assert node.tag == t(item.tag)
    assert node.findtext(t("ItemClass")) == item.item_class
    element(raw, item, Shape(DEFAULT))
