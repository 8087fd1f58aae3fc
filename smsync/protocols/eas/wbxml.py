"""WBXML 1.3 as Exchange ActiveSync speaks it (MS-ASWBXML): pure functions over bytes.

The machinery is the core's (``smsync.formats.wbxml``, shared with SyncML); this module
binds it to the EAS code pages: version 1.3, public id 1, UTF-8, no attributes, and
names the functions EAS code has always imported.
"""

from __future__ import annotations

from smsync.formats.wbxml import (
    END,
    ENTITY,
    MAX_DEPTH,
    OPAQUE,
    OPAQUE_ATTRIBUTE,
    STR_I,
    STR_T,
    SWITCH_PAGE,
    Element,
    Vocabulary,
    WBXMLError,
)
from smsync.protocols.eas.codepages import PAGES

__all__ = [
    "END", "ENTITY", "MAX_DEPTH", "OPAQUE", "OPAQUE_ATTRIBUTE", "STR_I", "STR_T",
    "SWITCH_PAGE", "EAS", "Element", "WBXMLError", "decode", "encode", "from_xml", "to_xml",
]

#: The EAS language: every MS-ASWBXML code page.
EAS = Vocabulary("EAS", PAGES.values(), version=0x03, public_id=1)

#: The WBXML bytes of a document: version 1.3, public id 1, UTF-8, no string table.
encode = EAS.encode
#: The document a WBXML body holds (UTF-8 or unknown charset; see Vocabulary.decode).
decode = EAS.decode
#: The document as XML text with EAS namespaces (opaque content in base64).
to_xml = EAS.to_xml
#: The document an XML text (as ``to_xml`` writes it) holds.
from_xml = EAS.from_xml
