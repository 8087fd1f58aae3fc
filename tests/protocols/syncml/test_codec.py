"""The SyncML codec: code pages, XML and WBXML round trips, real-looking messages, libwbxml."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from smsync.formats.wbxml import Element, Vocabulary, read_public_id
from smsync.protocols.syncml import codec
from smsync.protocols.syncml.codec import (
    DEVINF_WBXML,
    DEVINF_XML,
    SyncMLError,
    decode_wbxml,
    decode_xml,
    encode_wbxml,
    encode_xml,
)
from smsync.protocols.syncml.codepages import (
    DEVINF_NS,
    METINF_NS,
    SYNCML11,
    SYNCML11_NS,
    SYNCML12,
    SYNCML12_NS,
)

E = Element
M = METINF_NS
D = DEVINF_NS

# -- generated trees -------------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), min_size=1)
# Text XML 1.0 carries (carriage returns included: escaped outside CDATA).
_xml_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff",
                  whitelist_characters="\r\n\t"),
    min_size=1,
)


def _tags(language: Vocabulary, namespace: str):
    page = language.by_namespace[namespace]
    return sorted(page.tags.values())


def _page_trees(ns: str, tags: list[str], text, opaque: bool, max_leaves=15):
    tag = st.sampled_from(tags)
    leaves = [tag.map(lambda t: E(ns, t)), st.builds(lambda t, s: E(ns, t, text=s), tag, text)]
    if opaque:
        leaves.append(st.builds(lambda t, b: E(ns, t, opaque=b), tag, st.binary()))
    return st.recursive(
        st.one_of(*leaves),
        lambda kids: st.builds(lambda t, c: E(ns, t, c), tag, st.lists(kids, min_size=1, max_size=4)),
        max_leaves=max_leaves,
    )


def _messages(version, text, opaque: bool):
    ns = version.namespace
    devinf = st.builds(lambda kids: E(D, "DevInf", kids),
                       st.lists(_page_trees(D, _tags(version.devinf, D), text, opaque, 8), max_size=4))
    data_with_devinf = devinf.map(lambda d: E(ns, "Data", [d]))
    meta = st.builds(lambda kids: E(ns, "Meta", kids),
                     st.lists(_page_trees(M, _tags(version.syncml, M), text, opaque, 6),
                              min_size=1, max_size=3))
    # Any SyncML-page tag but Data (whose children can only be a DevInf) holds these.
    tags = [t for t in _tags(version.syncml, ns) if t != "Data"]
    body = st.recursive(
        st.one_of(_page_trees(ns, tags, text, opaque, 4), meta, data_with_devinf,
                  st.builds(lambda s: E(ns, "Data", text=s), text)),
        lambda kids: st.builds(lambda t, c: E(ns, t, c), st.sampled_from(tags),
                               st.lists(kids, min_size=1, max_size=4)),
        max_leaves=20,
    )
    return st.builds(lambda kids: E(ns, "SyncML", kids), st.lists(body, max_size=4))


def _versioned(text, opaque: bool):
    return st.sampled_from([SYNCML11, SYNCML12]).flatmap(
        lambda v: st.tuples(st.just(v), _messages(v, text, opaque)))


@given(_versioned(_text, opaque=True))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
def test_wbxml_round_trip(drawn):
    version, tree = drawn
    wbxml = encode_wbxml(tree)
    assert read_public_id(wbxml) == f"-//SYNCML//DTD SyncML {version.verdtd}//EN"
    message = decode_wbxml(wbxml)
    assert message.version is version and message.encoding == "wbxml"
    assert message.root == tree


@given(_versioned(_xml_text, opaque=False))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
def test_xml_round_trip(drawn):
    version, tree = drawn
    xml = encode_xml(tree)
    assert xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    message = decode_xml(xml)
    assert message.version is version and message.encoding == "xml"
    assert message.root == tree


def test_code_pages_are_the_specifications():
    # SyncML page 0 of 1.2: 0x05 Add ... 0x3C Correlator, 0x30 reserved.
    page = SYNCML12.syncml.pages[0]
    assert page.tags[0x05] == "Add" and page.tags[0x2D] == "SyncML" and 0x30 not in page.tags
    assert page.tags[0x3C] == "Correlator" and page.tags[0x34] == "MoreData"
    assert "Move" not in SYNCML11.syncml.pages[0].tokens
    assert SYNCML12.syncml.pages[1].tags[0x16] == "FieldLevel"
    assert SYNCML11.syncml.pages[1].tags[0x15] == "MaxObjSize"
    assert SYNCML11.devinf.pages[0].tags[0x1C] == "Size"
    assert SYNCML12.devinf.pages[0].tags[0x1C] == "MaxSize"
    assert SYNCML12.devinf.pages[0].tags[0x34] == "SupportHierarchicalSync"
    assert SYNCML12.namespace == SYNCML12_NS and SYNCML11.namespace == SYNCML11_NS
    assert 0x1201 in SYNCML12.public_ids and 0x0FD3 in SYNCML11.public_ids
    assert 0x1203 in SYNCML12.devinf_public_ids and 0x0FD4 in SYNCML11.devinf_public_ids


def test_content_types():
    assert codec.encoding_of("application/vnd.syncml+xml; charset=UTF-8") == "xml"
    assert codec.encoding_of("Application/VND.SyncML+WBXML") == "wbxml"
    assert codec.encoding_of("text/xml") is None and codec.encoding_of(None) is None
    assert codec.content_type("wbxml") == "application/vnd.syncml+wbxml"
    assert codec.devinf_type("xml") == DEVINF_XML
    assert codec.devinf_type("wbxml") == DEVINF_WBXML


# -- real-looking messages -------------------------------------------------------------

# SyncEvolution's first message: basic auth, its DevInf, a two-way sync of contacts.
SYNCEVOLUTION_INIT = b"""<?xml version="1.0" encoding="UTF-8"?>
<SyncML xmlns='SYNCML:SYNCML1.2'>
  <SyncHdr>
    <VerDTD>1.2</VerDTD>
    <VerProto>SyncML/1.2</VerProto>
    <SessionID>1765022233</SessionID>
    <MsgID>1</MsgID>
    <Target><LocURI>http://127.0.0.1:8080/syncml</LocURI></Target>
    <Source><LocURI>syncevolution-7c1a0f1e-3b2d-4c5e-9d6f-2a4b6c8d0e1f</LocURI></Source>
    <Cred>
      <Meta><Format xmlns='syncml:metinf'>b64</Format><Type xmlns='syncml:metinf'>syncml:auth-basic</Type></Meta>
      <Data>YWxpY2U6c2VjcmV0</Data>
    </Cred>
    <Meta><MaxMsgSize xmlns='syncml:metinf'>150000</MaxMsgSize><MaxObjSize xmlns='syncml:metinf'>4000000</MaxObjSize></Meta>
  </SyncHdr>
  <SyncBody>
    <Put>
      <CmdID>1</CmdID>
      <Meta><Type xmlns='syncml:metinf'>application/vnd.syncml-devinf+xml</Type></Meta>
      <Item>
        <Source><LocURI>./devinf12</LocURI></Source>
        <Data>
          <DevInf xmlns='syncml:devinf'>
            <VerDTD>1.2</VerDTD>
            <Man>Patrick Ohly</Man>
            <Mod>SyncEvolution</Mod>
            <OEM>Synthesis AG</OEM>
            <FwV>unknown</FwV>
            <SwV>1.3.99.7</SwV>
            <HwV>unknown</HwV>
            <DevID>syncevolution-7c1a0f1e-3b2d-4c5e-9d6f-2a4b6c8d0e1f</DevID>
            <DevTyp>workstation</DevTyp>
            <UTC/>
            <SupportLargeObjs/>
            <SupportNumberOfChanges/>
            <DataStore>
              <SourceRef>addressbook</SourceRef>
              <MaxGUIDSize>64</MaxGUIDSize>
              <Rx-Pref><CTType>text/vcard</CTType><VerCT>3.0</VerCT></Rx-Pref>
              <Rx><CTType>text/x-vcard</CTType><VerCT>2.1</VerCT></Rx>
              <Tx-Pref><CTType>text/vcard</CTType><VerCT>3.0</VerCT></Tx-Pref>
              <Tx><CTType>text/x-vcard</CTType><VerCT>2.1</VerCT></Tx>
              <CTCap>
                <CTType>text/vcard</CTType>
                <VerCT>3.0</VerCT>
                <Property><PropName>BEGIN</PropName><ValEnum>VCARD</ValEnum><MaxOccur>1</MaxOccur></Property>
                <Property><PropName>N</PropName><MaxOccur>1</MaxOccur></Property>
                <Property><PropName>TEL</PropName>
                  <PropParam><ParamName>TYPE</ParamName><ValEnum>HOME</ValEnum><ValEnum>WORK</ValEnum></PropParam>
                </Property>
              </CTCap>
              <SyncCap><SyncType>1</SyncType><SyncType>2</SyncType><SyncType>7</SyncType></SyncCap>
            </DataStore>
          </DevInf>
        </Data>
      </Item>
    </Put>
    <Alert>
      <CmdID>2</CmdID>
      <Data>200</Data>
      <Item>
        <Target><LocURI>card</LocURI></Target>
        <Source><LocURI>addressbook</LocURI></Source>
        <Meta>
          <Anchor xmlns='syncml:metinf'><Last>20261205T101010Z</Last><Next>20261206T110000Z</Next></Anchor>
          <MaxObjSize xmlns='syncml:metinf'>4000000</MaxObjSize>
        </Meta>
      </Item>
    </Alert>
    <Final/>
  </SyncBody>
</SyncML>
"""

VCARD = "BEGIN:VCARD\nVERSION:2.1\nN:Mustermann;Erika\nTEL;CELL:+49 170 1234567\nEND:VCARD\n"

# A Funambol client's (SyncML 1.1) sync package: an Add of a vCard in CDATA, a Replace,
# a Delete, the Status of the server's Alert; MetInf without namespaces inside Meta, as
# some 1.1 clients write it.
FUNAMBOL_SYNC = f"""<?xml version="1.0" encoding="UTF-8"?>
<SyncML>
<SyncHdr><VerDTD>1.1</VerDTD><VerProto>SyncML/1.1</VerProto><SessionID>1102</SessionID>
<MsgID>2</MsgID><Target><LocURI>http://127.0.0.1:8080/sync</LocURI></Target>
<Source><LocURI>fol-c2FtcGxlLWRldmljZQ==</LocURI></Source></SyncHdr>
<SyncBody>
<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd>
<TargetRef>http://127.0.0.1:8080/sync</TargetRef><SourceRef>fol-c2FtcGxlLWRldmljZQ==</SourceRef>
<Data>200</Data></Status>
<Sync><CmdID>2</CmdID><Target><LocURI>card</LocURI></Target><Source><LocURI>contact</LocURI></Source>
<Meta><MaxObjSize>512000</MaxObjSize></Meta>
<NumberOfChanges>3</NumberOfChanges>
<Add><CmdID>3</CmdID><Meta><Type>text/x-vcard</Type></Meta>
<Item><Source><LocURI>101</LocURI></Source><Data><![CDATA[{VCARD}]]></Data></Item></Add>
<Replace><CmdID>4</CmdID><Meta><Type>text/x-vcard</Type></Meta>
<Item><Target><LocURI>17</LocURI></Target><Source><LocURI>102</LocURI></Source>
<Data>BEGIN:VCARD&#13;
VERSION:2.1&#13;
N:Gabler;Anna&#13;
END:VCARD&#13;
</Data></Item></Replace>
<Delete><CmdID>5</CmdID><SftDel/><Item><Source><LocURI>103</LocURI></Source></Item></Delete>
</Sync>
<Final/>
</SyncBody>
</SyncML>
""".encode()

# A server's answer with a challenge: md5 auth, its NextNonce in base64.
SERVER_CHALLENGE = b"""<?xml version="1.0" encoding="UTF-8"?>
<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>SyncML/1.2</VerProto>
<SessionID>1765022233</SessionID><MsgID>1</MsgID>
<Target><LocURI>syncevolution-7c1a0f1e</LocURI></Target><Source><LocURI>http://127.0.0.1:8080/syncml</LocURI></Source>
<RespURI>http://127.0.0.1:8080/syncml?s=3f2a</RespURI></SyncHdr>
<SyncBody><Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd>
<TargetRef>http://127.0.0.1:8080/syncml</TargetRef><SourceRef>syncevolution-7c1a0f1e</SourceRef>
<Chal><Meta><Format xmlns="syncml:metinf">b64</Format><Type xmlns="syncml:metinf">syncml:auth-md5</Type>
<NextNonce xmlns="syncml:metinf">Tm9uY2UtMTIz</NextNonce></Meta></Chal><Data>401</Data></Status>
<Final/></SyncBody></SyncML>"""

SAMPLES = {"syncevolution init": SYNCEVOLUTION_INIT, "funambol 1.1 sync": FUNAMBOL_SYNC,
           "server challenge": SERVER_CHALLENGE}


def _nodes(tree):
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        todo.extend(node.children)


def _devinf_type(tree: Element, new: str) -> Element:
    """The tree with the Meta Type naming a DevInf as ``new`` (what an encoding writes)."""
    if tree.tag == "Type" and tree.namespace == M and tree.text in (DEVINF_XML, DEVINF_WBXML):
        return E(M, "Type", text=new)
    if not tree.children:
        return tree
    return E(tree.namespace, tree.tag, [_devinf_type(c, new) for c in tree.children])


def test_syncevolution_init_decodes_to_the_tree_it_is():
    message = decode_xml(SYNCEVOLUTION_INIT)
    s = SYNCML12_NS
    root = message.root
    assert message.version is SYNCML12
    header, body = root.children
    cred = header.find(s, "Cred")
    assert cred.find(s, "Meta").children == (E(M, "Format", text="b64"),
                                             E(M, "Type", text="syncml:auth-basic"))
    assert base64.b64decode(cred.find(s, "Data").text) == b"alice:secret"
    put, alert, final = body.children
    assert final == E(s, "Final")
    data = put.find(s, "Item").find(s, "Data")
    (devinf,) = data.children
    assert devinf.namespace == D and devinf.find(D, "Man").text == "Patrick Ohly"
    assert devinf.find(D, "UTC") == E(D, "UTC")
    assert alert.find(s, "Data").text == "200"
    anchor = alert.find(s, "Item").find(s, "Meta").find(M, "Anchor")
    assert anchor == E(M, "Anchor", [E(M, "Last", text="20261205T101010Z"),
                                     E(M, "Next", text="20261206T110000Z")])


def test_funambol_message_without_namespaces():
    message = decode_xml(FUNAMBOL_SYNC)
    s = SYNCML11_NS
    assert message.version is SYNCML11
    sync = message.root.children[1].find(s, "Sync")
    assert sync.find(s, "Meta").children == (E(M, "MaxObjSize", text="512000"),)
    add = sync.find(s, "Add")
    assert add.find(s, "Meta").children == (E(M, "Type", text="text/x-vcard"),)
    assert add.find(s, "Item").find(s, "Data").text == VCARD
    replace = sync.find(s, "Replace").find(s, "Item").find(s, "Data").text
    assert replace == "BEGIN:VCARD\r\nVERSION:2.1\r\nN:Gabler;Anna\r\nEND:VCARD\r\n"
    assert sync.find(s, "Delete").find(s, "SftDel") == E(s, "SftDel")


@pytest.mark.parametrize("sample", SAMPLES.values(), ids=SAMPLES.keys())
def test_samples_reencode_in_both_encodings(sample):
    tree = decode_xml(sample).root
    xml = encode_xml(tree)
    assert decode_xml(xml).root == tree
    wbxml = encode_wbxml(tree)
    # In WBXML the DevInf is its own document and its Meta Type says so.
    assert decode_wbxml(wbxml).root == _devinf_type(tree, DEVINF_WBXML)
    assert decode_xml(encode_xml(decode_wbxml(wbxml).root)).root == tree
    assert codec.decode(codec.encode(tree, "xml"), "xml").root == tree


def test_put_devinf_is_a_nested_wbxml_document():
    tree = decode_xml(SYNCEVOLUTION_INIT).root
    wbxml = encode_wbxml(tree)
    flat = SYNCML12.syncml.decode(wbxml)  # without unnesting
    data = [n for n in _nodes(flat) if n.tag == "Data" and n.opaque is not None]
    assert len(data) == 1
    assert read_public_id(data[0].opaque) == "-//SYNCML//DTD DevInf 1.2//EN"
    assert SYNCML12.devinf.decode(data[0].opaque).find(D, "Mod").text == "SyncEvolution"
    assert b'<Data><DevInf xmlns="syncml:devinf">' in encode_xml(decode_wbxml(wbxml).root)
    # And the XML says +xml again.
    assert DEVINF_XML.encode() in encode_xml(decode_wbxml(wbxml).root)


def test_xml_is_what_clients_expect():
    xml = encode_xml(decode_xml(FUNAMBOL_SYNC).root)
    assert xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<SyncML xmlns="SYNCML:SYNCML1.1">')
    assert b'<Meta><Type xmlns="syncml:metinf">text/x-vcard</Type></Meta>' in xml
    assert f"<Data><![CDATA[{VCARD}]]></Data>".encode() in xml
    # CR survives only escaped.
    assert b"BEGIN:VCARD&#13;\nVERSION:2.1" in xml
    assert b"<SftDel/>" in xml


def _wbxml(header: bytes, table: bytes, body: bytes) -> bytes:
    return header + bytes((len(table),)) + table + body


def _str_i(text: str) -> bytes:
    return b"\x03" + text.encode() + b"\x00"


def _opaque(data: bytes) -> bytes:
    assert len(data) < 128
    return b"\xc3" + bytes((len(data),)) + data


def test_a_client_wbxml_with_string_table_opaque_data_and_nested_devinf():
    # As Nokia phones and Funambol's clients write SyncML 1.1: WBXML 1.2, public id in
    # the string table, Latin-1, repeated strings in the table, item data and the
    # DevInf as OPAQUE.
    devinf = _wbxml(b"\x02\x00\x00\x6a", b"-//SYNCML//DTD DevInf 1.1//EN\x00",
                    b"\x4a" + b"\x65" + _str_i("1.1") + b"\x01" + b"\x51" + _str_i("NOKIA")
                    + b"\x01" + b"\x28" + b"\x01")
    table = b"-//SYNCML//DTD SyncML 1.1//EN\x00./contacts\x00"
    t = len(b"-//SYNCML//DTD SyncML 1.1//EN\x00")
    body = (
        b"\x6d"  # SyncML
        b"\x6c" b"\x71" + _str_i("1.1") + b"\x01" + b"\x72" + _str_i("SyncML/1.1") + b"\x01"
        b"\x65" + _str_i("1") + b"\x01" + b"\x5b" + _str_i("1") + b"\x01"
        b"\x6e\x57" + _str_i("http://example.org/sync") + b"\x01\x01"
        b"\x67\x57" + _str_i("IMEI:3515460053") + b"\x01"
        b"\x56\x03" + "Müllers Handy".encode("latin-1") + b"\x00\x01\x01"  # LocName
        b"\x01"  # SyncHdr
        b"\x6b"  # SyncBody
        b"\x5f\x4b" + _str_i("1") + b"\x01"  # Put, CmdID
        b"\x5a\x00\x01\x53" + _str_i(DEVINF_WBXML) + b"\x01\x00\x00\x01"  # Meta Type
        b"\x54\x67\x57" + _str_i("./devinf11") + b"\x01\x01"
        b"\x4f" + b"\xc3" + bytes((len(devinf),)) + devinf + b"\x01\x01\x01"  # Data, Item, Put
        b"\x6a\x4b" + _str_i("2") + b"\x01"  # Sync, CmdID
        b"\x6e\x57\x83" + bytes((t,)) + b"\x01\x01"  # Target LocURI from the table
        b"\x45\x4b" + _str_i("3") + b"\x01"  # Add
        b"\x54\x67\x57" + _str_i("5") + b"\x01\x01"
        b"\x4f" + _opaque("BEGIN:VCARD\r\nN:M\xfcller\r\nEND:VCARD\r\n".encode("latin-1"))
        + b"\x01\x01\x01"  # Data, Item, Add
        b"\x01"  # Sync
        b"\x12\x01\x01"  # Final, SyncBody, SyncML
    )
    data = _wbxml(b"\x02\x00\x00\x04", table, body)
    message = decode_wbxml(data)
    s = SYNCML11_NS
    assert message.version is SYNCML11
    hdr, body_ = message.root.children
    assert hdr.find(s, "Source").find(s, "LocURI").text == "IMEI:3515460053"
    assert hdr.find(s, "Source").find(s, "LocName").text == "Müllers Handy"
    put, sync, final = body_.children
    assert put.find(s, "Meta").children == (E(M, "Type", text=DEVINF_WBXML),)
    assert put.find(s, "Item").find(s, "Data").children == (
        E(D, "DevInf", [E(D, "VerDTD", text="1.1"), E(D, "Man", text="NOKIA"), E(D, "UTC")]),)
    assert sync.find(s, "Target").find(s, "LocURI").text == "./contacts"
    item = sync.find(s, "Add").find(s, "Item")
    # Opaque stays bytes (the Latin-1 vCard is the item's business, not the codec's).
    assert item.find(s, "Data").opaque == "BEGIN:VCARD\r\nN:M\xfcller\r\nEND:VCARD\r\n".encode("latin-1")
    # Re-encoded (UTF-8, no table) it reads the same.
    assert decode_wbxml(encode_wbxml(message.root)).root == message.root


def test_unregistered_public_id_goes_by_verdtd():
    tree = decode_xml(FUNAMBOL_SYNC).root
    wbxml = encode_wbxml(tree)
    header_length = 4 + len(b"-//SYNCML//DTD SyncML 1.1//EN\x00") + 1
    anonymous = b"\x02\x01\x6a\x00" + wbxml[header_length:]
    assert decode_wbxml(anonymous).root == tree
    numeric = b"\x02\x9f\x53\x6a\x00" + wbxml[header_length:]  # 0x0FD3
    assert decode_wbxml(numeric).version is SYNCML11


BAD = {
    "not xml": (b"<SyncML", "xml"),
    "not syncml xml": (b'<Foo xmlns="SYNCML:SYNCML1.2"/>', "xml"),
    "unknown namespace": (b'<SyncML xmlns="SYNCML:SYNCML9.9"/>', "xml"),
    "unknown element": (b'<SyncML xmlns="SYNCML:SYNCML1.2"><Nope/></SyncML>', "xml"),
    "1.2 element in 1.1": (b'<SyncML xmlns="SYNCML:SYNCML1.1"><Move/></SyncML>', "xml"),
    "mixed": (b'<SyncML xmlns="SYNCML:SYNCML1.2">x<Final/></SyncML>', "xml"),
    "entity bomb": (b'<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
                    b'<SyncML xmlns="SYNCML:SYNCML1.2"><Data>&b;</Data></SyncML>', "xml"),
    "empty": (b"", "wbxml"),
    "truncated": (b"\x02\x00\x00\x6a\x00\x6d", "wbxml"),
    "not syncml wbxml": (b"\x03\x01\x6a\x00\x45\x01", "wbxml"),
    "bad nested devinf": (b"\x02\x00\x00\x6a\x1e-//SYNCML//DTD SyncML 1.2//EN\x00"
                          b"\x6d\x4f\xc3\x25\x02\x00\x00\x6a\x1e-//SYNCML//DTD DevInf 1.2//EN\x00"
                          b"\x7f\x01\x01", "wbxml"),
    "unknown encoding": (b"", "json"),
}


@pytest.mark.parametrize("data,encoding", BAD.values(), ids=BAD.keys())
def test_malformed_messages_raise_syncml_error(data, encoding):
    with pytest.raises(SyncMLError) as raised:
        codec.decode(data, encoding)
    assert str(raised.value)


def test_encode_refuses_what_is_not_syncml():
    with pytest.raises(SyncMLError):
        encode_wbxml(E("AirSync:", "Sync"))
    with pytest.raises(SyncMLError):
        encode_xml(E(SYNCML11_NS, "SyncML", [E(SYNCML11_NS, "Move")]))
    with pytest.raises(SyncMLError):
        encode_wbxml(E(SYNCML11_NS, "SyncML", [E(SYNCML11_NS, "Move")]))
    with pytest.raises(SyncMLError):
        encode_xml(E(SYNCML12_NS, "SyncML", [E(SYNCML12_NS, "Data", text="a\x01")]))


# -- cross-check with libwbxml (Debian's libwbxml2-utils) ------------------------------


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path:
        return path
    reason = f"{name} is not installed (apt-get install libwbxml2-utils)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def _run(tool: str, data: bytes, tmp_path, suffix_in: str, suffix_out: str, *options) -> bytes:
    src, out = tmp_path / f"in.{suffix_in}", tmp_path / f"out.{suffix_out}"
    src.write_bytes(data)
    subprocess.run([_tool(tool), *options, "-o", str(out), str(src)],
                   check=True, capture_output=True, timeout=60)
    return out.read_bytes()


def _theirs(xml) -> tuple:
    q = etree.QName(xml)
    return (q.namespace, q.localname, (xml.text or "") if len(xml) == 0 else "",
            [_theirs(c) for c in xml])


def _plain(node: Element, fold_cr: bool = False) -> tuple:
    """The tree as XML shows it: opaque content as its text, the DevInf type as +xml;
    with ``fold_cr`` line ends as LF: libwbxml writes vCards into CDATA (where XML folds
    CR LF) and, reading XML, makes every LF in item data CR LF."""
    text = node.text or ""
    if node.opaque is not None:
        text = node.opaque.decode("utf-8")
    if node.tag == "Type" and text == DEVINF_WBXML:
        text = DEVINF_XML
    if fold_cr:
        text = re.sub("\r*\n", "\n", text)
    return (node.namespace, node.tag, text, [_plain(c, fold_cr) for c in node.children])


_CROSS = {"syncevolution init": SYNCEVOLUTION_INIT, "funambol 1.1 sync": FUNAMBOL_SYNC}


@pytest.mark.parametrize("sample", _CROSS.values(), ids=_CROSS.keys())
def test_libwbxml_reads_what_we_write(sample, tmp_path):
    tree = decode_xml(sample).root
    theirs = etree.fromstring(_run("wbxml2xml", encode_wbxml(tree), tmp_path, "wbxml", "xml",
                                   "-m", "0"))
    # libwbxml unnests the DevInf and writes the type back as +xml, as we do.
    assert _theirs(theirs) == _plain(tree, fold_cr=True)


@pytest.mark.parametrize("sample", _CROSS.values(), ids=_CROSS.keys())
def test_we_read_what_libwbxml_writes(sample, tmp_path):
    tree = decode_xml(sample).root
    wbxml = _run("xml2wbxml", encode_xml(tree), tmp_path, "xml", "wbxml")
    # libwbxml writes the registered numeric public id, the vCards (CDATA) as OPAQUE,
    # and the DevInf as its own document.
    message = decode_wbxml(wbxml)
    assert message.version.verdtd == decode_xml(sample).version.verdtd
    assert _plain(message.root, fold_cr=True) == _plain(tree, fold_cr=True)
    assert any(n.opaque is not None for n in _nodes(message.root))


@given(st.binary(max_size=400))
@settings(max_examples=1000)
def test_fuzz_arbitrary_bytes(data):
    for encoding in ("wbxml", "xml"):
        try:
            message = codec.decode(data, encoding)
        except SyncMLError:
            continue
        assert codec.decode(codec.encode(message.root, "wbxml"), "wbxml").root is not None


@given(st.binary(max_size=300), st.sampled_from([SYNCML11, SYNCML12]))
@settings(max_examples=1000)
def test_fuzz_bodies_behind_a_syncml_header(body, version):
    data = version.syncml.encode(E(version.namespace, "Final"))[:-1] + body
    try:
        message = decode_wbxml(data)
    except SyncMLError:
        return
    wbxml = encode_wbxml(message.root)
    assert decode_wbxml(wbxml).root == message.root


@pytest.mark.parametrize("version", [SYNCML11, SYNCML12], ids=["1.1", "1.2"])
def test_libwbxml_knows_every_token_as_we_do(version, tmp_path):
    s = version.namespace
    syncml = [E(page.namespace, tag, text="x") for page in version.syncml.pages.values()
              for tag in page.tags.values() if tag != "SyncML"]
    devinf = [E(D, tag, text="x") for tag in version.devinf.pages[0].tags.values()
              if tag != "DevInf"]
    tree = E(s, "SyncML", [*syncml, E(s, "Put", [
        E(s, "Meta", [E(M, "Type", text=DEVINF_XML)]),
        E(s, "Item", [E(s, "Data", [E(D, "DevInf", devinf)])])])])
    theirs = etree.fromstring(_run("wbxml2xml", encode_wbxml(tree), tmp_path, "wbxml", "xml",
                                   "-m", "0"))
    # Names only: libwbxml writes a NextNonce in base64.
    names = [_theirs(c)[:2] for c in theirs]
    assert names[:-1] == [(c.namespace, c.tag) for c in syncml]
    put = theirs[-1]
    (devinf_xml,) = put.find(f"{{{s}}}Item").find(f"{{{s}}}Data")
    assert [_theirs(c)[:2] for c in devinf_xml] == [(D, c.tag) for c in devinf]
