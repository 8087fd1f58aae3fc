"""Notes: the VJOURNAL the store keeps (as EAS and CalDAV clients keep notes), and the
text a note shows as.

A note's text is its DESCRIPTION (several are joined by a blank line, as EAS shows
them); its title is its SUMMARY. Formats with only a text (``text/plain``) show the
title as the text's first line when the text does not already start with it, and read
the first line back as the title.
"""

from __future__ import annotations

from typing import Optional

import attrs

from smsync.formats.contentlines import Component, Property, escape_text, unescape_text
from smsync.protocols.syncml.formats.calendars import load_calendar, master_of

KIND = "VJOURNAL"


@attrs.frozen
class Note:
    """What a note shows: ``title`` (SUMMARY) and ``text`` (DESCRIPTION), either None."""

    title: Optional[str]
    text: Optional[str]

    @property
    def titled(self) -> bool:
        """Whether the title is not the text's first line (so a plain text shows both)."""
        return bool(self.title) and not (self.text or "").startswith(self.title)


def stored_note(data: bytes) -> tuple[Component, Component, Note]:
    """The VCALENDAR, its VJOURNAL and what it shows."""
    cal = load_calendar(data)
    journal = master_of(cal, KIND)
    summary = journal.value("SUMMARY")
    texts = [unescape_text(p.value) for p in journal.get_all("DESCRIPTION") if p.value]
    return cal, journal, Note(unescape_text(summary) if summary else None, "\n\n".join(texts) or None)


def plain_text(note: Note) -> str:
    """The note as one text: the title as first line unless the text starts with it."""
    if note.titled:
        return note.title + ("\n" + note.text if note.text else "")
    return note.text if note.text is not None else (note.title or "")


def from_plain_text(text: str, titled: bool = False) -> Note:
    """A plain text as a note: its first line is the title; the text is all of it, or
    (``titled``: the stored note's title was not part of its text) the lines after."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    first, _, rest = text.partition("\n")
    if titled:
        return Note(first.strip() or None, rest or None)
    title = next((line.strip() for line in text.split("\n") if line.strip()), None)
    return Note(title, text if text.strip() else None)


def journal_of(note: Note, extra: list[Property] = ()) -> Component:
    """A VJOURNAL showing ``note`` (and ``extra`` properties)."""
    props = []
    if note.title:
        props.append(Property("SUMMARY", escape_text(note.title)))
    if note.text:
        props.append(Property("DESCRIPTION", escape_text(note.text)))
    return Component(KIND, props + list(extra))
