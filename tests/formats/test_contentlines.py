"""Content-line parsing: the str-method fast path reads every line as the scanner does."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsync.errors import InvalidData
from smsync.formats.contentlines import Property, _parse_line_quoted, parse_line

# Lines made mostly of the characters that steer the parser, so that odd shapes (empty
# parameters, bare parameters, groups, carets, stray quotes) come up often.
_lines = st.lists(st.sampled_from(list('ABcd-.;:=,"^n\' \tÉ1') + ["TZID", "X-A", "VALUE", "x"]),
                  max_size=25).map("".join)


def _reading(parse, line):
    try:
        prop = parse(line)
    except InvalidData as e:
        return ("error", str(e))
    return (prop.name, prop.value, prop.params, prop.group)


@given(_lines)
@settings(max_examples=3000)
def test_fast_path_reads_every_line_as_the_scanner(line):
    assert _reading(parse_line, line) == _reading(_parse_line_quoted, line)


@pytest.mark.parametrize("line, expected", [
    ("DTSTART;TZID=Europe/Berlin:20240101T090000",
     ("DTSTART", "20240101T090000", [("TZID", ["Europe/Berlin"])], None)),
    ("item1.TEL;CELL;type=HOME,WORK:+1 555",
     ("TEL", "+1 555", [("TYPE", ["CELL"]), ("TYPE", ["HOME", "WORK"])], "item1")),
    ("ATTENDEE;CN=A^'B^' ^nC:mailto:a@example.com",
     ("ATTENDEE", "mailto:a@example.com", [("CN", ['A"B" \nC'])], None)),
    ('ATTENDEE;CN="Doe, J: x";ROLE=CHAIR:mailto:j@example.com',
     ("ATTENDEE", "mailto:j@example.com", [("CN", ["Doe, J: x"]), ("ROLE", ["CHAIR"])], None)),
    ("X-EMPTY;;P=:v:w", ("X-EMPTY", "v:w", [("P", [""])], None)),
    ("ÜBER:x", ("ÜBER", "x", [], None)),
])
def test_parse_line_examples(line, expected):
    assert _reading(parse_line, line) == expected


@pytest.mark.parametrize("line", ["NOCOLON", "BAD NAME:x", ":x", "A.:x", 'X;P="open:x', "X_Y:z"])
def test_parse_line_refuses(line):
    with pytest.raises(InvalidData):
        parse_line(line)


@given(head=st.text(st.sampled_from('ABNTZID-;=,:^n"x. '), max_size=30), value=st.text(max_size=5))
def test_a_known_name_and_parameters_part_reads_as_before(head, value):
    """parse_line's cache of name-and-parameters parts gives what parsing them does,
    and Properties that do not share their parameter lists."""
    from smsync.formats import contentlines

    line = head + ":" + value

    def read():
        try:
            return contentlines.parse_line(line)
        except InvalidData as e:
            return str(e)

    contentlines._HEADS.clear()
    first = read()
    again = read()
    assert again == first
    if isinstance(again, Property):
        assert all(a[1] is not b[1] for a, b in zip(first.params, again.params))
        again.set_param("X", ["1"])
        if again.params[:-1]:
            again.params[0][1].append("changed")
        assert read() == first


def test_share_blocks_puts_one_reading_per_block():
    from smsync.formats.contentlines import Component, content_lines, parse_lines, share_blocks

    zone = b"BEGIN:VTIMEZONE\r\nTZID:X\r\nEND:VTIMEZONE\r\n"
    data = (b"BEGIN:VCALENDAR\r\n" + zone + zone.replace(b"TZID:X", b"TZID:Y")
            + b"BEGIN:VEVENT\r\nUID:1\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    lines = content_lines(data)
    seen = []

    def shared_of(block):
        seen.append(block[1])
        return Component("VTIMEZONE", []) if block[1] == "TZID:X" else None

    assert share_blocks(lines, "VTIMEZONE", shared_of) == 1
    assert seen == ["TZID:X", "TZID:Y"]
    [cal] = parse_lines(lines)
    assert [c.name for c in cal.components] == ["VTIMEZONE", "VTIMEZONE", "VEVENT"]
    assert cal.components[0].get("TZID") is None and cal.components[1].value("TZID") == "Y"
