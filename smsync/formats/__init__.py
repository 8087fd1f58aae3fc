"""Canonical formats: pure functions over bytes that stores and protocols share.

* ``message``: RFC 5322 / MIME structure (offsets, ENVELOPE, BODYSTRUCTURE material),
  computed once when a message is stored and kept as a compact blob.
* ``icalendar``: validation and time-range summaries of CalDAV calendar objects.
* ``vcard``: validation, summary and 3.0 <-> 4.0 conversion of vCards.

Nothing here touches storage or the network, and nothing raises on bad input except
the ``smsync.errors.InvalidData`` the validating functions document.
"""
