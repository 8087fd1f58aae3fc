"""The task converter: a ``<t:Task>`` stored as a VTODO reads back as it was sent, and an
edit through EWS keeps every line of the VTODO it has no field for (X- properties, RRULE,
VALARM)."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from smsync.formats.contentlines import serialize
from smsync.protocols.ews import tasks
from smsync.protocols.ews.shapes import ALL, Shape
from smsync.protocols.ews.soap import t

words = st.text(st.characters(whitelist_categories=("L", "N"), whitelist_characters=" ,;\\-'."),
                min_size=1, max_size=20).map(str.strip).filter(bool)
times = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)).map(
    lambda d: d.replace(microsecond=0, tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
categories = st.lists(st.text("abcdefghij", min_size=1, max_size=8), min_size=1, max_size=3)

fields = st.fixed_dictionaries({
    "Subject": words,
    "Status": st.sampled_from(sorted(tasks.STATUSES)),
    "PercentComplete": st.integers(0, 100),
    "Importance": st.sampled_from(sorted(tasks.IMPORTANCES)),
    "Sensitivity": st.sampled_from(sorted(tasks.SENSITIVITIES)),
}, optional={"Body": words, "StartDate": times, "DueDate": times, "CompleteDate": times,
             "Categories": categories})

SHAPE = Shape(ALL)


def task_xml(values: dict):
    """The ``<t:Task>`` a client sends for ``values``."""
    node = etree.Element(t("Task"))
    for key, value in values.items():
        if key == "Categories":
            holder = etree.SubElement(node, t("Categories"))
            for category in value:
                etree.SubElement(holder, t("String")).text = category
        elif key == "Body":
            etree.SubElement(node, t("Body"), BodyType="Text").text = value
        else:
            etree.SubElement(node, t(key)).text = str(value)
    return node


@given(fields)
def test_task_vtodo_task_round_trip(values):
    _uid, content = tasks.new_task(tasks.read_fields(task_xml(values)))
    assert b"BEGIN:VTODO" in content
    node = tasks.task_element("a@example.org", "c1", "x.ics", 1, content, SHAPE)
    got = tasks.read_fields(node)
    for key, value in values.items():
        assert got[key] == value, key
    assert got["IsComplete"] == (values["Status"] == "Completed")


def test_statuses_are_icalendar_statuses():
    for status, ical in (("NotStarted", b"STATUS:NEEDS-ACTION"), ("InProgress", b"STATUS:IN-PROCESS"),
                         ("Completed", b"STATUS:COMPLETED"), ("WaitingOnOthers", b"STATUS:IN-PROCESS"),
                         ("Deferred", b"STATUS:NEEDS-ACTION")):
        _uid, content = tasks.new_task({"Subject": "s", "Status": status})
        assert ical in content, status
        assert (b"X-SMSYNC-EWS-STATUS:" + status.encode() in content) == (
            status in ("WaitingOnOthers", "Deferred"))
    _uid, content = tasks.new_task({"Subject": "s", "Status": "Completed"})
    assert b"PERCENT-COMPLETE:100" in content and b"COMPLETED:" in content


EXTRA = (b"RRULE:FREQ=WEEKLY;BYDAY=MO\r\nX-APPLE-SORT-ORDER:42\r\nGEO:1.5;2.5\r\n"
         b"BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:due\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\n"
         b"END:VTODO\r\n")


@given(fields, fields)
def test_an_ews_edit_keeps_what_ews_cannot_carry(first, second):
    _uid, content = tasks.new_task(tasks.read_fields(task_xml(first)))
    content = content.replace(b"END:VTODO\r\n", EXTRA)
    parsed = tasks.load(content)
    tasks.apply(parsed, {"Subject": second["Subject"], "Status": second["Status"],
                         "PercentComplete": second["PercentComplete"]})
    written = serialize(parsed)
    got = tasks.fields_of(tasks.load(written))
    assert got["Subject"] == second["Subject"] and got["Status"] == second["Status"]
    assert got["PercentComplete"] == second["PercentComplete"]
    assert got["Importance"] == first["Importance"] and got["Sensitivity"] == first["Sensitivity"]
    assert got.get("Body") == first.get("Body") and got.get("DueDate") == first.get("DueDate")
    for kept in (b"RRULE:FREQ=WEEKLY;BYDAY=MO", b"X-APPLE-SORT-ORDER:42", b"GEO:1.5;2.5",
                 b"BEGIN:VALARM", b"TRIGGER:-PT15M", b"END:VALARM"):
        assert kept in written


def test_a_caldav_status_change_wins_over_the_kept_ews_status():
    _uid, content = tasks.new_task({"Subject": "s", "Status": "WaitingOnOthers"})
    # A CalDAV client completes it, knowing nothing of the X- property.
    content = content.replace(b"STATUS:IN-PROCESS", b"STATUS:COMPLETED")
    assert tasks.fields_of(tasks.load(content))["Status"] == "Completed"
