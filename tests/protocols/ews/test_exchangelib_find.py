"""exchangelib searching address books, calendars (with and without a CalendarView) and
task lists: ``filter()`` sends FindItem a Restriction over the items' common fields,
``order_by()`` a SortOrder; a field the server cannot search by is
ErrorUnsupportedPathForQuery (or ErrorUnsupportedPathForSortGroup), never ignored.
(exchangelib will not filter tasks by status or percent complete: test_ews_raw_views
sends those.)"""

from __future__ import annotations

import pytest_twisted

from smsync.testing.servers import in_thread
from tests.protocols.ews.ews_support import account


def _card(uid: str, fn: str, n: str, *lines: str) -> bytes:
    body = "".join(f"{line}\r\n" for line in lines)
    return (f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{fn}\r\nN:{n}\r\n{body}END:VCARD\r\n").encode()


CARDS = {
    "carol.vcf": _card("carol", "Carol Jones", "Jones;Carol;;;", "ORG:Example Corp;Sales",
                       "EMAIL;TYPE=INTERNET,WORK:carol@example.com", "EMAIL;TYPE=INTERNET:cj@home.example",
                       "CATEGORIES:vip,press", "NOTE:Met at the fair"),
    "dave.vcf": _card("dave", "Dave Smith", "Smith;Dave;;;", "ORG:Smith & Sons",
                      "EMAIL;TYPE=INTERNET:dave@example.net", "TEL;TYPE=CELL:+1 555 0199"),
    "anna.vcf": _card("anna", "Anna Baker", "Baker;Anna;;;", "EMAIL;TYPE=INTERNET:anna@example.com"),
}


def _event(uid: str, *lines: str) -> bytes:
    body = "".join(f"{line}\r\n" for line in lines)
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
            f"DTSTAMP:20260101T000000Z\r\n{body}END:VEVENT\r\nEND:VCALENDAR\r\n").encode()


SERIES = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
          b"BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20260101T000000Z\r\n"
          b"DTSTART:20260105T090000Z\r\nDTEND:20260105T100000Z\r\n"
          b"RRULE:FREQ=WEEKLY;COUNT=4\r\nSUMMARY:Standup\r\nLOCATION:Room 1\r\nEND:VEVENT\r\n"
          b"BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20260101T000000Z\r\n"
          b"RECURRENCE-ID:20260112T090000Z\r\nDTSTART:20260112T140000Z\r\nDTEND:20260112T150000Z\r\n"
          b"SUMMARY:Standup (moved)\r\nLOCATION:Room 1\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
EVENTS = {
    "weekly-1.ics": SERIES,
    "holiday.ics": _event("holiday", "DTSTART;VALUE=DATE:20260110", "DTEND;VALUE=DATE:20260111",
                          "SUMMARY:Holiday", "TRANSP:TRANSPARENT"),
    "review.ics": _event("review", "DTSTART:20260120T130000Z", "DTEND:20260120T140000Z",
                         "SUMMARY:Quarterly review", "LOCATION:Room 2", "CATEGORIES:work",
                         "DESCRIPTION:the numbers\\, all regions"),
}


def _todo(uid: str, *lines: str) -> bytes:
    body = "".join(f"{line}\r\n" for line in lines)
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VTODO\r\nUID:{uid}\r\n"
            f"DTSTAMP:20260101T000000Z\r\n{body}END:VTODO\r\nEND:VCALENDAR\r\n").encode()


TODOS = {
    "report.ics": _todo("report", "SUMMARY:File the report", "DUE:20260310T170000Z", "STATUS:NEEDS-ACTION",
                        "CATEGORIES:work,finance"),
    "milk.ics": _todo("milk", "SUMMARY:Buy milk", "DUE:20260402T120000Z", "STATUS:COMPLETED",
                      "COMPLETED:20260401T080000Z"),
    "bank.ics": _todo("bank", "SUMMARY:Call the bank", "STATUS:IN-PROCESS", "PERCENT-COMPLETE:60",
                      "DESCRIPTION:about the loan"),
}


async def _fill(server, name: str, items: dict):
    collection = await (await server.collections()).collection(name)
    for item_name, content in items.items():
        await collection.put(item_name, content)


@pytest_twisted.ensureDeferred
async def test_contacts_filtered_and_sorted(server):
    await _fill(server, "contacts", CARDS)

    def client():
        from exchangelib import Q
        from exchangelib.errors import ErrorUnsupportedPathForQuery, ErrorUnsupportedPathForSortGroup

        acc = account(server)
        book = acc.contacts

        def names(qs):
            return sorted(qs.values_list("display_name", flat=True))

        found = {
            "given": names(book.filter(given_name="Carol")),
            "given-case": names(book.filter(given_name="dave")),
            "not": names(book.filter(surname__not="Smith")),
            "contains": names(book.filter(display_name__contains="Smith")),
            "exact-case": names(book.filter(surname__contains="JON")),
            "ignore-case": names(book.filter(surname__icontains="JON")),
            "prefix": names(book.filter(company_name__startswith="Example")),
            "email1": names(book.filter(email_addresses__EmailAddress1="anna@example.com")),
            "email2": names(book.filter(email_addresses__EmailAddress2="cj@home.example")),
            "phone": names(book.filter(phone_numbers__MobilePhone="+1 555 0199")),
            "no-company": names(book.filter(company_name__exists=False)),
            "or": names(book.filter(Q(given_name="Dave") | Q(surname="Baker"))),
            "and-not": names(book.filter(Q(email_addresses__EmailAddress1__contains="example.com")
                                         & ~Q(given_name="Carol"))),
            "category": names(book.filter(categories__contains=["vip"])),
            "body": names(book.filter(body__contains="fair")),
            "subject": names(book.filter(subject__iexact="anna baker")),
        }
        ordered = {
            "by-name": list(book.all().order_by("display_name").values_list("display_name", flat=True)),
            "by-surname-desc": list(book.all().order_by("-surname").values_list("surname", flat=True)),
            "by-subject": list(book.all().order_by("subject").values_list("display_name", flat=True)),
            "filtered": list(book.filter(email_addresses__EmailAddress1__contains="example.")
                             .order_by("-display_name").values_list("display_name", flat=True)),
        }
        refused = []
        for bad in (lambda: list(book.filter(manager="Zed")), lambda: list(book.all().order_by("manager"))):
            try:
                bad()
            except (ErrorUnsupportedPathForQuery, ErrorUnsupportedPathForSortGroup) as e:
                refused.append(type(e).__name__)
        return found, ordered, refused

    found, ordered, refused = await in_thread(client)
    assert found == {
        "given": ["Carol Jones"], "given-case": ["Dave Smith"], "not": ["Anna Baker", "Carol Jones"],
        "contains": ["Dave Smith"], "exact-case": [], "ignore-case": ["Carol Jones"],
        "prefix": ["Carol Jones"], "email1": ["Anna Baker"], "email2": ["Carol Jones"],
        "phone": ["Dave Smith"], "no-company": ["Anna Baker"], "or": ["Anna Baker", "Dave Smith"],
        "and-not": ["Anna Baker"], "category": ["Carol Jones"], "body": ["Carol Jones"],
        "subject": ["Anna Baker"],
    }
    assert ordered == {
        "by-name": ["Anna Baker", "Carol Jones", "Dave Smith"],
        "by-surname-desc": ["Smith", "Jones", "Baker"],
        "by-subject": ["Anna Baker", "Carol Jones", "Dave Smith"],
        "filtered": ["Dave Smith", "Carol Jones", "Anna Baker"],
    }
    assert refused == ["ErrorUnsupportedPathForQuery", "ErrorUnsupportedPathForSortGroup"]


@pytest_twisted.ensureDeferred
async def test_calendars_filtered_with_and_without_a_view(server):
    await _fill(server, "calendar", EVENTS)

    def client():
        from exchangelib import Q, EWSDateTime, EWSTimeZone
        from exchangelib.errors import ErrorUnsupportedPathForQuery

        acc = account(server)
        cal = acc.calendar
        utc = EWSTimeZone("UTC")

        def subjects(qs):
            return sorted(qs.values_list("subject", flat=True))

        def at(day, hour=0):
            return EWSDateTime(2026, 1, day, hour, tzinfo=utc)

        masters = {
            "contains": subjects(cal.filter(subject__contains="Stand")),
            "after": subjects(cal.filter(start__gt=at(9))),
            "range": subjects(cal.filter(start__range=(at(1), at(10)))),
            "before-end": subjects(cal.filter(end__lte=at(5, 10))),
            "location": subjects(cal.filter(location="Room 2")),
            "recurring": subjects(cal.filter(is_recurring=True)),
            "category": subjects(cal.filter(categories__contains=["work"])),
            "body": subjects(cal.filter(body__contains="numbers")),
            "not-room": subjects(cal.filter(~Q(location="Room 1"))),
        }
        ordered = {
            "start-desc": list(cal.all().order_by("-start").values_list("subject", flat=True)),
            "subject": list(cal.all().order_by("subject").values_list("subject", flat=True)),
        }
        view = cal.view(start=at(1), end=at(31))
        occurrences = {
            "standups": [(i.subject, i.start.astimezone(utc).day)
                         for i in view.filter(subject__contains="Standup")],
            "later": [(i.subject, i.start.astimezone(utc).day) for i in view.filter(start__gte=at(15))],
            "moved": [(i.subject, i.start.astimezone(utc).day) for i in view.filter(subject__icontains="MOVED")],
        }
        try:
            list(cal.filter(reminder_is_set=True))
            refused = None
        except ErrorUnsupportedPathForQuery as e:
            refused = type(e).__name__
        return masters, ordered, occurrences, refused

    masters, ordered, occurrences, refused = await in_thread(client)
    assert masters == {
        "contains": ["Standup"], "after": ["Holiday", "Quarterly review"], "range": ["Holiday", "Standup"],
        "before-end": ["Standup"], "location": ["Quarterly review"], "recurring": ["Standup"],
        "category": ["Quarterly review"], "body": ["Quarterly review"],
        # exchangelib sends ~Q(x=v) as IsNotEqualTo: an event without a location does
        # not match it (a comparison with a missing value is false, as in Exchange).
        "not-room": ["Quarterly review"],
    }
    assert ordered == {"start-desc": ["Quarterly review", "Holiday", "Standup"],
                       "subject": ["Holiday", "Quarterly review", "Standup"]}
    assert occurrences == {
        "standups": [("Standup", 5), ("Standup (moved)", 12), ("Standup", 19), ("Standup", 26)],
        "later": [("Standup", 19), ("Quarterly review", 20), ("Standup", 26)],
        "moved": [("Standup (moved)", 12)],
    }
    assert refused == "ErrorUnsupportedPathForQuery"


@pytest_twisted.ensureDeferred
async def test_tasks_filtered_and_sorted(server):
    await _fill(server, "tasks", TODOS)

    def client():
        import datetime

        from exchangelib.errors import ErrorUnsupportedPathForQuery

        acc = account(server)
        todo = acc.tasks

        def subjects(qs):
            return sorted(qs.values_list("subject", flat=True))

        found = {
            "open": subjects(todo.filter(is_complete=False)),
            "done": subjects(todo.filter(is_complete=True)),
            "due-before": subjects(todo.filter(due_date__lt=datetime.date(2026, 4, 1))),
            # (due_date__exists fails inside exchangelib: a date field's Exists has no value)
            "has-body": subjects(todo.filter(body__exists=True)),
            "prefix": subjects(todo.filter(subject__startswith="Call")),
            "category": subjects(todo.filter(categories__contains=["finance"])),
            "body": subjects(todo.filter(body__icontains="LOAN")),
        }
        ordered = {
            "subject": list(todo.all().order_by("subject").values_list("subject", flat=True)),
            "due-desc": list(todo.all().order_by("-due_date").values_list("subject", flat=True)),
        }
        try:
            list(todo.filter(mileage="12 km"))
            refused = None
        except ErrorUnsupportedPathForQuery as e:
            refused = type(e).__name__
        return found, ordered, refused

    found, ordered, refused = await in_thread(client)
    assert found == {
        "open": ["Call the bank", "File the report"], "due-before": ["File the report"],
        "has-body": ["Call the bank"], "prefix": ["Call the bank"],
        "category": ["File the report"], "body": ["Call the bank"],
        "done": ["Buy milk"],
    }
    # Without a due date first when ascending, so last when descending.
    assert ordered == {"subject": ["Buy milk", "Call the bank", "File the report"],
                       "due-desc": ["Buy milk", "File the report", "Call the bank"]}
    assert refused == "ErrorUnsupportedPathForQuery"
