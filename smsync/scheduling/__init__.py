"""Scheduling: iTIP (RFC 5546) over the store's collections, and iMIP (RFC 6047) mail.

The one place meeting invitations are understood, so that every protocol answers them
alike: EAS MeetingResponse, and later CalDAV scheduling (RFC 6638) and EWS meeting
items, call it.

* ``itip`` -- pure functions over iCalendar bytes: read a scheduling message
  (``parse_itip``), build an attendee's ``reply``, set an attendee's answer on an event
  (``apply_partstat``), turn a scheduling message into a storable calendar object
  (``calendar_object``).
* ``imip`` -- the mail side: build the RFC 6047 message carrying an iTIP message (the
  scheduler's mail to remote recipients, and to a local one's INBOX), find and read the
  ``text/calendar`` part of a stored message.
* ``instances`` -- single occurrences of a series: the override of one instance (found,
  or made from the master), excluding an instance, and what an answer, a cancel or a
  request naming instances (RECURRENCE-ID) does to a stored copy -- that instance alone.
* ``calendar`` -- small async helpers over ``ICollectionStore``/``ICollection``: the
  account's default calendar, filing an attendee's answer there.

Layering: this package imports only the core (interfaces, model, errors, formats);
protocols may import it (``tests/test_layering.py``).
"""
