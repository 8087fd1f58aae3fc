"""Attachments kept in stored items (``smsync.formats.pim_attachments``): an event's or
task's inline ATTACH with X-FILENAME, a contact's PHOTO in its vCard version."""

from __future__ import annotations

from smsync.formats import pim_attachments as files
from smsync.formats.contentlines import parse_components, serialize

EVENT = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:e\r\nDTSTAMP:20261201T000000Z\r\n"
         b"DTSTART:20261201T100000Z\r\nRRULE:FREQ=DAILY;COUNT=2\r\nATTACH:https://example.org/link\r\nEND:VEVENT\r\n"
         b"BEGIN:VEVENT\r\nUID:e\r\nDTSTAMP:20261201T000000Z\r\nRECURRENCE-ID:20261202T100000Z\r\n"
         b"DTSTART:20261202T110000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def test_files_of_an_event_go_on_its_master():
    assert not files.has_files(EVENT)  # a link is not a file
    root = parse_components(EVENT)[0]
    prop = files.put_file(root, "a b.txt", "text/plain; charset=utf-8", b"\x00hi")
    out = serialize(root)
    assert files.has_files(out)
    again = parse_components(out)[0]
    holder = files.holder_of(again)
    assert holder.get("RECURRENCE-ID") is None
    [found] = files.files(holder)
    assert (files.name_of(found), files.content_type(found), files.content(found)) == ("a b.txt", "text/plain", b"\x00hi")
    assert found.param("VALUE") == "BINARY" and found.param("ENCODING") == "BASE64"
    assert files.find_named(holder, "A B.TXT") is not None
    assert files.remove(again, files.find_named(holder, "a b.txt")) and files.files(holder) == []
    assert not files.remove(again, prop)


def test_a_contacts_file_is_its_photo_in_its_version():
    for version, expect in (("3.0", b"PHOTO;ENCODING=b;TYPE=PNG;X-FILENAME=me.png:"),
                            ("4.0", b"PHOTO;X-FILENAME=me.png:data:image/png;base64,")):
        card = parse_components(f"BEGIN:VCARD\r\nVERSION:{version}\r\nFN:A\r\nPHOTO;ENCODING=b;TYPE=JPEG:AAAA\r\n"
                                "END:VCARD\r\n".encode())[0]
        files.put_file(card, "me.png", "image/png", b"png")
        out = serialize(card)
        assert out.count(b"PHOTO") == 1 and expect in out, out
        [photo] = files.files(parse_components(out)[0])
        assert (files.name_of(photo), files.content_type(photo), files.content(photo)) == ("me.png", "image/png", b"png")
    plain = parse_components(b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nphoto;encoding=b;type=JPEG:AAAA\r\nEND:VCARD\r\n")[0]
    assert files.name_of(files.files(plain)[0]) == files.PHOTO_NAME
    assert files.has_files(b"BEGIN:VCARD\r\nitem1.PHOTO;ENCODING=b:AAAA\r\nEND:VCARD\r\n")
