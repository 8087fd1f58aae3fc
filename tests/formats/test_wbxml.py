"""The core WBXML machinery as any language sees it: headers, public ids, charsets, pages.

(EAS's own tests, tests/protocols/eas/test_wbxml.py, exercise the decoder and encoder at
length through the EAS vocabulary; SyncML's through tests/protocols/syncml.)
"""

from __future__ import annotations

import pytest

from smsync.formats.wbxml import (
    Document,
    Element,
    Vocabulary,
    WBXMLError,
    code_page,
    read_public_id,
)

PAGES = (code_page(0, "Toy", "toy:", "05 Root 06 Leaf/OldLeaf 3F Last"),
         code_page(1, "Other", "other:", "05 Thing"))
TREE = Element("toy:", "Root", [Element("toy:", "Leaf", text="é"), Element("other:", "Thing"),
                                Element("toy:", "Last", opaque=b"\x00\x01")])


def test_numeric_public_id_header():
    toy = Vocabulary("Toy", PAGES, version=0x02, public_id=0x1201)
    data = toy.encode(TREE)
    assert data.startswith(b"\x02\xa4\x01\x6a\x00")
    assert read_public_id(data) == 0x1201
    assert toy.decode_document(data) == Document(0x02, 0x1201, 106, TREE)


def test_string_public_id_goes_into_the_string_table():
    toy = Vocabulary("Toy", PAGES, public_id="-//TOY//DTD Toy 1.0//EN")
    data = toy.encode(TREE)
    assert data.startswith(b"\x03\x00\x00\x6a\x18-//TOY//DTD Toy 1.0//EN\x00")
    assert read_public_id(data) == "-//TOY//DTD Toy 1.0//EN"
    assert toy.decode_document(data).public_id == "-//TOY//DTD Toy 1.0//EN"
    assert toy.decode(data) == TREE


def test_charsets_are_the_languages():
    latin1 = b"\x03\x01\x04\x00\x45\x46\x03\xe9\x00\x01\x01"
    strict = Vocabulary("Toy", PAGES)
    with pytest.raises(WBXMLError, match="charset 4"):
        strict.decode(latin1)
    lenient = Vocabulary("Toy", PAGES, charsets=(0, 4, 106))
    assert lenient.decode_document(latin1) == Document(
        3, 1, 4, Element("toy:", "Root", [Element("toy:", "Leaf", text="é")]))
    with pytest.raises(ValueError):
        Vocabulary("Toy", PAGES, charsets=(1000,))


def test_errors_name_the_language():
    toy = Vocabulary("Toy", PAGES)
    with pytest.raises(WBXMLError, match="not used by Toy"):
        toy.decode(b"\x03\x01\x6a\x00\x85\x01")
    assert toy.knows("toy:", "OldLeaf") and not toy.knows("toy:", "Thing")
    assert toy.encode(Element("toy:", "OldLeaf")) == toy.encode(Element("toy:", "Leaf"))


def test_read_public_id_of_what_is_not_wbxml():
    assert read_public_id(b"<?xml") is None
    assert read_public_id(b"") is None
    assert read_public_id(b"\x03\x00\x05\x6a\x01a") is None  # reference beyond the table


def test_code_page_tables_are_checked():
    with pytest.raises(ValueError):
        code_page(0, "Bad", "bad:", "04 Global")
    with pytest.raises(ValueError):
        code_page(0, "Bad", "bad:", "05 A 05 B")
    with pytest.raises(ValueError):
        code_page(0, "Bad", "bad:", "05 A 06 A")


def test_xml_of_any_language():
    toy = Vocabulary("Toy", PAGES)
    xml = toy.to_xml(TREE)
    assert xml.startswith('<Root xmlns="toy:" xmlns:other="other:">')
    assert toy.from_xml(xml) == TREE
