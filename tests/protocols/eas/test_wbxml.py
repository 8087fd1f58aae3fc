"""The EAS WBXML codec: round trips, hostile input, the specification's vectors, libwbxml."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from smsync.protocols.eas.codepages import BY_NAMESPACE, PAGES
from smsync.protocols.eas.wbxml import (
    MAX_DEPTH,
    Element,
    WBXMLError,
    decode,
    encode,
    from_xml,
    to_xml,
)

E = Element
HEADER = b"\x03\x01\x6a\x00"

# -- generated trees -------------------------------------------------------------------

_TAGS = [(p.namespace, tag) for p in PAGES.values() for tag in p.tags.values()]
_tag = st.sampled_from(_TAGS)
# Any text WBXML can carry: no NUL, no lone surrogate.
_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), min_size=1)
# Text XML 1.0 can carry as well (to_xml/from_xml), carriage returns aside (XML folds them).
_xml_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    min_size=1,
)


def _trees(text):
    leaf = st.one_of(
        _tag.map(lambda t: E(*t)),
        st.builds(lambda t, s: E(*t, text=s), _tag, text),
        st.builds(lambda t, b: E(*t, opaque=b), _tag, st.binary()),
    )
    return st.recursive(
        leaf,
        lambda kids: st.builds(lambda t, c: E(*t, c), _tag, st.lists(kids, min_size=1, max_size=5)),
        max_leaves=25,
    )


@given(_trees(_text))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip(tree):
    data = encode(tree)
    assert data.startswith(HEADER)
    assert decode(data) == tree


@given(_trees(_xml_text))
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_xml_round_trip(tree):
    assert from_xml(to_xml(tree)) == tree


def test_every_code_page_round_trips_every_tag():
    for page in PAGES.values():
        kids = [E(page.namespace, t, text=t) for t in page.tags.values()]
        tree = E(page.namespace, page.tags[min(page.tags)], kids)
        assert decode(encode(tree)) == tree, page.name


def test_code_pages_are_the_specifications():
    assert [PAGES[n].name for n in range(26)] == (
        "AirSync Contacts Email AirNotify Calendar Move GetItemEstimate FolderHierarchy "
        "MeetingResponse Tasks ResolveRecipients ValidateCert Contacts2 Ping Provision "
        "Search GAL AirSyncBase Settings DocumentLibrary ItemOperations ComposeMail Email2 "
        "Notes RightsManagement Find"
    ).split()
    assert BY_NAMESPACE["AirSyncBase:"].tokens["Body"] == 0x0A
    assert BY_NAMESPACE["Email2:"].tokens["ConversationId"] == 0x09
    assert BY_NAMESPACE["Find:"].tokens["Picture"] == 0x22
    assert BY_NAMESPACE["Gal:"].number == 16
    # An older name of a token encodes; decoding gives the current one.
    old = E("Provision:", "DeviceEncryptionEnabled", text="1")
    assert decode(encode(old)) == E("Provision:", "RequireStorageCardEncryption", text="1")


# -- the specification's vectors -------------------------------------------------------

# MS-ASCMD's FolderSync request example: the initial FolderSync with SyncKey 0.
FOLDERSYNC = E("FolderHierarchy:", "FolderSync", [E("FolderHierarchy:", "SyncKey", text="0")])
FOLDERSYNC_WBXML = bytes.fromhex("03016a00 0007 5652 033000 01 01")

# MS-ASWBXML section 3.1.5's server response carrying a new contact; the specification
# prints the XML and its encoding byte by byte.
CONTACT_RESPONSE_XML = """<?xml version="1.0" encoding="utf-8"?>
<Sync xmlns="AirSync" xmlns:airsyncbase="AirSyncBase" xmlns:contacts="Contacts">
 <Collections> <Collection> <Class>Contacts</Class> <SyncKey>2</SyncKey>
  <CollectionId>2</CollectionId> <Status>1</Status> <Commands> <Add>
  <ServerId>2:1</ServerId> <ApplicationData> <airsyncbase:Body>
  <airsyncbase:Type>1</airsyncbase:Type>
  <airsyncbase:EstimatedDataSize>0</airsyncbase:EstimatedDataSize>
  <airsyncbase:Truncated>1</airsyncbase:Truncated> </airsyncbase:Body>
  <contacts:FileAs>Funk, Don</contacts:FileAs> <contacts:FirstName>Don</contacts:FirstName>
  <contacts:LastName>Funk</contacts:LastName>
  <airsyncbase:NativeBodyType>1</airsyncbase:NativeBodyType> </ApplicationData> </Add>
  </Commands> </Collection> </Collections> </Sync>"""
CONTACT_RESPONSE_WBXML = bytes.fromhex(
    # As printed by the specification...
    "03 01 6A 00 45 5C 4F 50 03 43 6F 6E 74 61 63 74 73 00 01 4B 03 32 00 01 52 03 32 00 01"
    " 4E 03 31 00 01 56 47 4D 03 32 3A 31 00 01 5D 00 11 4A 46 03 31 00 01 4C 03 30 00 01"
    " 4D 03 31 00 01 01 00 01 5E 03 46 75 6E 6B"
    # ... and on: ", Don", FirstName, LastName, NativeBodyType, six ENDs.
    " 2C 20 44 6F 6E 00 01 5F 03 44 6F 6E 00 01 69 03 46 75 6E 6B 00 01"
    " 00 11 56 03 31 00 01 01 01 01 01 01 01"
)


def _eas_namespaces(xml: str) -> str:
    """MS-AS* examples write namespaces without the colon EAS puts on the wire."""
    for page in PAGES.values():
        ns = page.namespace[:-1]
        xml = xml.replace(f'="{ns}"', f'="{ns}:"')
    return xml


def test_foldersync_vector():
    assert encode(FOLDERSYNC) == FOLDERSYNC_WBXML
    assert decode(FOLDERSYNC_WBXML) == FOLDERSYNC


def test_contact_sync_response_vector():
    tree = from_xml(_eas_namespaces(CONTACT_RESPONSE_XML))
    assert encode(tree) == CONTACT_RESPONSE_WBXML
    assert decode(CONTACT_RESPONSE_WBXML) == tree
    add = tree.find("AirSync:", "Collections").find("AirSync:", "Collection")
    assert add.find("AirSync:", "Class").text == "Contacts"


def test_string_table_and_str_t():
    # Public id 0: the id is string table entry 0; Class and ServerId come from the table
    # too, one of them from the middle of an entry.
    table = b"-//MICROSOFT//DTD ActiveSync//EN\0Email\0"
    data = (
        b"\x03\x00\x00\x6a" + bytes([len(table)]) + table
        + b"\x45\x50\x83" + bytes([33]) + b"\x01\x4d\x83" + bytes([34]) + b"\x01\x01"
    )
    assert decode(data) == E("AirSync:", "Sync", [E("AirSync:", "Class", text="Email"),
                                                  E("AirSync:", "ServerId", text="mail")])


def test_inline_strings_entities_and_opaque_pieces_are_joined():
    data = HEADER + b"\x45\x50\x03ab\x00\x02\x63\x03\x00\x01\x56\xc3\x01x\xc3\x02yz\x01\x01"
    assert decode(data) == E("AirSync:", "Sync", [E("AirSync:", "Class", text="abc"),
                                                  E("AirSync:", "Commands", opaque=b"xyz")])


def test_page_switches_persist_across_end():
    # WBXML's page state is not scoped to elements: after </Body> we are still on page 17.
    tree = E("AirSync:", "ApplicationData", [
        E("AirSyncBase:", "Body", [E("AirSyncBase:", "Type", text="1")]),
        E("AirSyncBase:", "NativeBodyType", text="1"),
        E("AirSync:", "ServerId", text="1"),
    ])
    data = encode(tree)
    assert data.count(b"\x00\x11") == 1 and data.count(b"\x00\x00") == 1
    assert decode(data) == tree


# -- hostile input ---------------------------------------------------------------------

BAD = {
    "empty": b"",
    "truncated header": b"\x03\x01",
    "truncated body": HEADER + b"\x45\x50\x03ab",
    "no root": HEADER,
    "unclosed root": HEADER + b"\x45",
    "bad mb_u_int32": b"\x03\x81\x81\x81\x81\x81\x01\x6a\x00\x05",
    "mb_u_int32 over 32 bits": b"\x03\x01\x6a\x00\x45\xc3\x9f\xff\xff\xff\x7f",
    "unknown page": HEADER + b"\x00\x1a\x05",
    "unknown token": HEADER + b"\x3f",
    "unknown token in a page": HEADER + b"\x00\x19\x0f",
    "bad utf-8": HEADER + b"\x45\x50\x03\xff\xfe\x00\x01\x01",
    "surrogate in utf-8": HEADER + b"\x45\x50\x03\xed\xa0\x80\x00\x01\x01",
    "unterminated string": HEADER + b"\x45\x50\x03abc",
    "trailing bytes": HEADER + b"\x05\x05",
    "absurd opaque length": HEADER + b"\x45\xc3\x8f\xff\xff\xff\x7f",
    "absurd string table": b"\x03\x01\x6a\x8f\xff\xff\xff\x7f",
    "str_t outside the table": b"\x03\x01\x6a\x02a\x00\x45\x83\x05\x01",
    "str_t without terminator": b"\x03\x01\x6a\x01a\x45\x83\x00\x01",
    "attributes": HEADER + b"\x85\x01",
    "literal": HEADER + b"\x04\x00",
    "extension": HEADER + b"\x45\x40\x03ab\x00\x01",
    "processing instruction": HEADER + b"\x45\x43\x01\x01",
    "end outside": HEADER + b"\x01",
    "text outside": HEADER + b"\x03ab\x00",
    "mixed content": HEADER + b"\x45\x03ab\x00\x0f\x01",
    "bad entity": HEADER + b"\x45\x02\x00\x01",
    "surrogate entity": HEADER + b"\x45\x02\x83\xb0\x00\x01",
    "version 2.0": b"\x10\x01\x6a\x00\x05",
    "latin-1 charset": b"\x03\x01\x04\x00\x05",
    "too deep": HEADER + b"\x45" * (MAX_DEPTH + 1) + b"\x01" * (MAX_DEPTH + 1),
    "too deep, empty innermost": HEADER + b"\x45" * MAX_DEPTH + b"\x05" + b"\x01" * MAX_DEPTH,
    "far too deep": HEADER + b"\x45" * 200_000,
}


@pytest.mark.parametrize("data", BAD.values(), ids=BAD.keys())
def test_malformed_input_raises_wbxml_error(data):
    with pytest.raises(WBXMLError) as raised:
        decode(data)
    assert str(raised.value)


def test_nesting_up_to_the_limit_is_fine():
    opened = HEADER + b"\x45" * MAX_DEPTH + b"\x01" * MAX_DEPTH
    # The innermost element is empty: written back without the content flag.
    data = HEADER + b"\x45" * (MAX_DEPTH - 1) + b"\x05" + b"\x01" * (MAX_DEPTH - 1)
    assert decode(opened) == decode(data)
    assert encode(decode(data)) == data


def _only_wbxml_errors(data: bytes) -> None:
    try:
        tree = decode(data)
    except WBXMLError:
        return
    # What decodes is a document that encodes again.
    assert decode(encode(tree)) == tree


@given(st.binary(max_size=300))
@settings(max_examples=2000)
def test_fuzz_arbitrary_bytes(data):
    _only_wbxml_errors(data)


@given(st.binary(max_size=300))
@settings(max_examples=1000)
def test_fuzz_arbitrary_bodies(body):
    _only_wbxml_errors(HEADER + body)


@given(_trees(_text), st.data())
@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
def test_fuzz_mutated_documents(tree, data):
    doc = bytearray(encode(tree))
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        at = data.draw(st.integers(0, max(len(doc) - 1, 0)))
        if op == "flip" and doc:
            doc[at] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del doc[at:]
        elif op == "insert":
            doc[at:at] = data.draw(st.binary(min_size=1, max_size=6))
        elif doc:
            del doc[at]
    _only_wbxml_errors(bytes(doc))


def test_encode_refuses_what_wbxml_cannot_carry():
    with pytest.raises(WBXMLError, match="no token"):
        encode(E("AirSync:", "NoSuchTag"))
    with pytest.raises(WBXMLError, match="no token"):
        encode(E("Nowhere:", "Sync"))
    with pytest.raises(WBXMLError, match="NUL"):
        encode(E("AirSync:", "Class", text="a\0b"))
    with pytest.raises(WBXMLError, match="UTF-8"):
        encode(E("AirSync:", "Class", text="\ud800"))
    deep = E("AirSync:", "Sync")
    for _ in range(10_000):
        deep = E("AirSync:", "Sync", [deep])
    with pytest.raises(WBXMLError, match="nesting"):
        encode(deep)


def test_element_holds_one_kind_of_content():
    with pytest.raises(ValueError):
        E("AirSync:", "Sync", [E("AirSync:", "Class")], text="x")
    with pytest.raises(ValueError):
        E("AirSync:", "Sync", text="x", opaque=b"y")
    assert E("AirSync:", "Class", text="") == E("AirSync:", "Class")



def _reference_encode(node: Element, page: list) -> bytes:
    """The plainest encoder: each node on its own, for comparing the fast one with."""
    codepage = BY_NAMESPACE[node.namespace]
    token = codepage.tokens[node.tag]
    out = b""
    if codepage.number != page[0]:
        page[0] = codepage.number
        out += bytes((0x00, page[0]))
    if node.text is not None:
        return out + bytes((token | 0x40, 0x03)) + node.text.encode() + b"\x00\x01"
    if node.opaque is not None:
        assert len(node.opaque) < 128
        return out + bytes((token | 0x40, 0xC3, len(node.opaque))) + node.opaque + b"\x01"
    if not node.children:
        return out + bytes((token,))
    return (out + bytes((token | 0x40,)) + b"".join(_reference_encode(c, page) for c in node.children)
            + b"\x01")


@given(_trees(_text).filter(lambda t: all(len(n.opaque or b"") < 128 for n in _walk(t))))
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_encode_matches_the_plain_reference_encoder(tree):
    assert encode(tree) == HEADER + _reference_encode(tree, [0])


def _walk(tree):
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        todo.extend(node.children)


def test_element_is_an_immutable_value():
    import copy
    import pickle

    tree = E("AirSync:", "Sync", [E("AirSync:", "Class", text="Email"),
                                  E("Email2:", "ConversationId", opaque=b"\x00\x01")])
    same = E("AirSync:", "Sync", (E("AirSync:", "Class", (), "Email"),
                                  E("Email2:", "ConversationId", opaque=b"\x00\x01")))
    assert tree == same and hash(tree) == hash(same) and not tree != same
    assert isinstance(tree.children, tuple)
    assert tree != E("AirSync:", "Sync", [E("AirSync:", "Class", text="Emails")])
    assert E("AirSync:", "Class", text="x") != E("AirSync:", "Class", opaque=b"x")
    assert tree != ("AirSync:", "Sync", tree.children, None, None)
    assert len({tree, same, E("AirSync:", "Sync")}) == 2
    with pytest.raises(AttributeError):
        tree.text = "x"
    with pytest.raises(AttributeError):
        del tree.tag
    assert copy.deepcopy(tree) == tree and pickle.loads(pickle.dumps(tree)) == tree
    assert eval(repr(tree), {"Element": Element}) == tree
    assert tree.find("Email2:", "ConversationId").opaque == b"\x00\x01"
    assert tree.find("Email:", "ConversationId") is None
    with pytest.raises(ValueError):
        E("AirSync:", "Sync", [E("AirSync:", "Class")], opaque=b"")

BAD_XML = {
    "not xml": "<Sync",
    "unknown namespace": '<Sync xmlns="Nowhere:"/>',
    "unknown tag": '<Nope xmlns="AirSync:"/>',
    "attribute": '<Sync xmlns="AirSync:" a="1"/>',
    "mixed": '<Sync xmlns="AirSync:">x<Class/></Sync>',
    "bad base64": '<Sync xmlns="AirSync:" opaque="base64">!!</Sync>',
}


@pytest.mark.parametrize("xml", BAD_XML.values(), ids=BAD_XML.keys())
def test_from_xml_refuses(xml):
    with pytest.raises(WBXMLError):
        from_xml(xml)


def test_to_xml_refuses_control_characters():
    with pytest.raises(WBXMLError):
        to_xml(E("AirSync:", "Class", text="a\x01"))


# -- cross-check with libwbxml (Debian's libwbxml2-utils) ------------------------------


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path:
        return path
    reason = f"{name} is not installed (apt-get install libwbxml2-utils)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


_RECURRENCE = "Type Until Occurrences Interval DayOfWeek DayOfMonth WeekOfMonth MonthOfYear"
# Where libwbxml names a tag otherwise than the specification (its own disambiguations
# and spellings); the tokens are the same.
LIBWBXML_NAMES = {
    ("Contacts:", "AssistantPhoneNumber"): "AssistantTelephoneNumber",
    **{
        ("Contacts:", f"{where}Address{field}"): f"{where}{field}"
        for where in ("Business", "Home", "Other")
        for field in ("City", "Country", "PostalCode", "State", "Street")
    },
    ("Email:", "Att0Id"): "AttOId",
    ("Email:", "ReplyTo"): "Reply-To",
    ("Email:", "DtStamp"): "DTStamp",
    ("Email:", "Status"): "FlagStatus",
    **{("Email:", f): f"Recurrence_{f}" for f in _RECURRENCE.split()},
    **{("Calendar:", f): f"Recurrence_{f}" for f in _RECURRENCE.split()},
    ("Calendar:", "Timezone"): "TimeZone",
    ("Calendar:", "Email"): "Attendee_Email",
    ("Calendar:", "Name"): "Attendee_Name",
    ("Calendar:", "AttendeeStatus"): "Attendee_Status",
    ("Calendar:", "AttendeeType"): "Attendee_Type",
    ("Calendar:", "CompressedRTF"): "Compressed_RTF",
    ("Calendar:", "DtStamp"): "DTStamp",
    ("Calendar:", "Deleted"): "Exception_Deleted",
    ("Calendar:", "ExceptionStartTime"): "Exception_StartTime",
    ("Calendar:", "OrganizerEmail"): "Organizer_Email",
    ("Calendar:", "OrganizerName"): "Organizer_Name",
    **{
        ("Tasks:", f): f"Recurrence_{f}"
        for f in (_RECURRENCE + " Start Regenerate DeadOccur").split()
    },
    ("Tasks:", "UtcDueDate"): "UTCDueDate",
    ("Tasks:", "UtcStartDate"): "UTCStartDate",
    ("Provision:", "RequireStorageCardEncryption"): "DeviceEncryptionEnabled",
    ("Settings:", "RightsManagementInformation"): "ihsManagementInformation",
    ("ComposeMail:", "Mime"): "MIME",
    ("RightsManagement:", "Owner"): "RMOwner",
    ("RightsManagement:", "RemoveRightsManagementProtection"): "RemoveRightsManagementDistribution",
}
# Tokens libwbxml 0.11.8 does not know (it has no Find page at all).
LIBWBXML_LACKS = {
    ("MeetingResponse:", "ProposedStartTime"),
    ("MeetingResponse:", "ProposedEndTime"),
    ("Provision:", "AccountOnlyRemoteWipe"),
    *((p.namespace, t) for p in PAGES.values() if p.name == "Find" for t in p.tags.values()),
}


def _wbxml2xml(data: bytes, tmp_path) -> etree._Element:
    src, out = tmp_path / "in.wbxml", tmp_path / "out.xml"
    src.write_bytes(data)
    subprocess.run([_tool("wbxml2xml"), "-l", "ACTIVESYNC", "-m", "0", "-o", str(out), str(src)],
                   check=True, capture_output=True, timeout=60)
    return etree.fromstring(out.read_bytes())


def _xml2wbxml(xml: str, tmp_path, *options: str) -> bytes:
    src, out = tmp_path / "in.xml", tmp_path / "out.wbxml"
    src.write_text(xml)
    subprocess.run([_tool("xml2wbxml"), *options, "-o", str(out), str(src)],
                   check=True, capture_output=True, timeout=60)
    return out.read_bytes()


def _ours(node: Element):
    """The tree as libwbxml writes it in XML: its names, opaque data in base64."""
    name = LIBWBXML_NAMES.get((node.namespace, node.tag), node.tag)
    if node.opaque is not None:
        text = base64.b64encode(node.opaque).decode()
    else:
        text = node.text or ""
    return (node.namespace, name, text, [_ours(c) for c in node.children])


def _theirs(xml: etree._Element):
    q = etree.QName(xml)
    return (q.namespace, q.localname, (xml.text or "") if len(xml) == 0 else "",
            [_theirs(c) for c in xml])


def test_libwbxml_knows_every_token_as_we_do(tmp_path):
    kids = [E(ns, tag, text="x") for ns, tag in _TAGS if (ns, tag) not in LIBWBXML_LACKS]
    assert len(kids) > 550
    got = _wbxml2xml(encode(E("AirSync:", "Sync", kids)), tmp_path)
    # Names only: libwbxml writes some texts (ResolveRecipients:Data...) in base64.
    assert [_theirs(c)[:2] for c in got] == [_ours(k)[:2] for k in kids]


def _syncs():
    a = "AirSync:"
    b = "AirSyncBase:"
    return [
        FOLDERSYNC,
        from_xml(_eas_namespaces(CONTACT_RESPONSE_XML)),
        # A Sync request for an Inbox: options, body preference, a flag change.
        E(a, "Sync", [E(a, "Collections", [E(a, "Collection", [
            E(a, "SyncKey", text="{5a7f}1"), E(a, "CollectionId", text="5"),
            E(a, "DeletesAsMoves", text="1"), E(a, "GetChanges"),
            E(a, "WindowSize", text="100"),
            E(a, "Options", [E(a, "FilterType", text="3"), E(b, "BodyPreference", [
                E(b, "Type", text="2"), E(b, "TruncationSize", text="512")])]),
            E(a, "Commands", [E(a, "Change", [E(a, "ServerId", text="5:12"),
                E(a, "ApplicationData", [E("Email:", "Read", text="1"),
                    E("Email:", "Flag", [E("Email:", "Status", text="2"),
                                         E("Email:", "FlagType", text="Für später ✓")])])])]),
        ])])]),
        # A Sync response with an email carrying opaque ConversationId/Index.
        E(a, "Sync", [E(a, "Collections", [E(a, "Collection", [
            E(a, "SyncKey", text="2"), E(a, "CollectionId", text="5"), E(a, "Status", text="1"),
            E(a, "Commands", [E(a, "Add", [E(a, "ServerId", text="5:13"),
                E(a, "ApplicationData", [
                    E("Email:", "Subject", text="Grüße"), E("Email:", "Read", text="0"),
                    E(b, "Body", [E(b, "Type", text="1"), E(b, "Data", text="Hallo\nWelt")]),
                    E("Email2:", "ConversationId", opaque=bytes(range(16))),
                    E("Email2:", "ConversationIndex", opaque=b"\xd3\x01\x02\x03\x04"),
                    E("Calendar:", "Timezone", text="xP///w=="),
                ])])]),
            E(a, "MoreAvailable"),
        ])])]),
        E("ComposeMail:", "SendMail", [
            E("ComposeMail:", "ClientId", text="c1"), E("ComposeMail:", "SaveInSentItems"),
            E("ComposeMail:", "Mime", opaque=b"From: a@b\r\nTo: c@d\r\n\r\nhi\r\n")]),
        E("Ping:", "Ping", [
            E("Ping:", "HeartbeatInterval", text="480"),
            E("Ping:", "Folders", [E("Ping:", "Folder", [
                E("Ping:", "Id", text="5"), E("Ping:", "Class", text="Email")])]),
        ]),
        E("Provision:", "Provision", [
            E("Settings:", "DeviceInformation", [E("Settings:", "Set", [
                E("Settings:", "Model", text="Pixel")])]),
            E("Provision:", "Policies", [E("Provision:", "Policy", [
                E("Provision:", "PolicyType", text="MS-EAS-Provisioning-WBXML")])]),
        ]),
    ]


@pytest.mark.parametrize("tree", _syncs(), ids=lambda t: t.tag)
def test_libwbxml_reads_what_we_write(tree, tmp_path):
    assert _theirs(_wbxml2xml(encode(tree), tmp_path)) == _ours(tree)


@pytest.mark.parametrize("tree", _syncs(), ids=lambda t: t.tag)
@pytest.mark.parametrize("options", [(), ("-n",)], ids=["string table", "no string table"])
def test_we_read_what_libwbxml_writes(tree, options, tmp_path):
    # libwbxml's own XML of the document, encoded by libwbxml: public id 0 and a string
    # table (the DTD's public id, and repeated strings unless -n).
    xml = etree.tostring(_wbxml2xml(encode(tree), tmp_path), encoding="unicode")
    xml = ('<?xml version="1.0"?><!DOCTYPE ActiveSync PUBLIC "-//MICROSOFT//DTD ActiveSync//EN"'
           ' "http://www.microsoft.com/">' + xml)
    assert decode(_xml2wbxml(xml, tmp_path, *options)) == tree


def test_we_read_a_hand_written_libwbxml_document(tmp_path):
    xml = """<?xml version="1.0"?>
<!DOCTYPE ActiveSync PUBLIC "-//MICROSOFT//DTD ActiveSync//EN" "http://www.microsoft.com/">
<Sync xmlns="AirSync:"><Collections><Collection><SyncKey>0</SyncKey>
<CollectionId>calendar</CollectionId><Commands><Add><ClientId>1</ClientId><ApplicationData>
<Subject xmlns="Calendar:">Standup</Subject>
<Attendees xmlns="Calendar:"><Attendee><Attendee_Email>a@example.org</Attendee_Email>
<Attendee_Name>Ann</Attendee_Name></Attendee></Attendees>
</ApplicationData></Add></Commands></Collection></Collections></Sync>"""
    c = "Calendar:"
    expected = E("AirSync:", "Sync", [E("AirSync:", "Collections", [E("AirSync:", "Collection", [
        E("AirSync:", "SyncKey", text="0"), E("AirSync:", "CollectionId", text="calendar"),
        E("AirSync:", "Commands", [E("AirSync:", "Add", [E("AirSync:", "ClientId", text="1"),
            E("AirSync:", "ApplicationData", [E(c, "Subject", text="Standup"),
                E(c, "Attendees", [E(c, "Attendee", [E(c, "Email", text="a@example.org"),
                                                     E(c, "Name", text="Ann")])])])])])])])])
    assert decode(_xml2wbxml(xml, tmp_path)) == expected
