"""SyncML messages as XML or WBXML bytes <-> ``Element`` trees: pure functions.

The tree is the same whichever encoding a message came in: elements of the SyncML page
(namespace ``SYNCML:SYNCML1.1`` or ``SYNCML:SYNCML1.2``, which names the version), of
MetInf (``syncml:metinf``) and of DevInf (``syncml:devinf``). A DevInf carried in the
Data of a Put or Results item is that Data's one child: in XML it is written inline
(``<Data><DevInf xmlns="syncml:devinf">``), in WBXML as opaque bytes holding its own
WBXML document with the DevInf public id -- the codec nests and unnests it. Like
libwbxml, the Meta Type naming that DevInf follows the encoding
(``application/vnd.syncml-devinf+xml`` in XML, ``+wbxml`` in WBXML).

WBXML keeps opaque content as bytes (an item's Data sent as OPAQUE, a binary
NextNonce); XML has no opaque, so ``encode_xml`` writes opaque Data that is UTF-8 as
its text and anything else (a NextNonce always) in base64, as SyncML's XML does and
libwbxml's converter writes. Item Data goes into CDATA where it can.

Reading is lenient where clients are known to be sloppy: XML without namespaces (the
SyncML page by default, MetInf inside Meta, DevInf under a DevInf element), namespaces in
another case, attributes (SyncML defines none: ignored). Everything malformed raises
``SyncMLError``.
"""

from __future__ import annotations

import base64
import re

import attrs
from lxml import etree

from smsync.formats.wbxml import Element, WBXMLError, read_public_id
from smsync.protocols.syncml.codepages import (
    BY_NAMESPACE,
    DEVINF_NS,
    METINF_NS,
    SYNCML12,
    VERSIONS,
    Version,
)

#: Content types of a SyncML message and of a standalone DevInf, per encoding.
SYNCML_XML = "application/vnd.syncml+xml"
SYNCML_WBXML = "application/vnd.syncml+wbxml"
DEVINF_XML = "application/vnd.syncml-devinf+xml"
DEVINF_WBXML = "application/vnd.syncml-devinf+wbxml"

XML, WBXML = "xml", "wbxml"
_CONTENT_TYPES = {XML: SYNCML_XML, WBXML: SYNCML_WBXML}
_DEVINF_TYPES = {XML: DEVINF_XML, WBXML: DEVINF_WBXML}


class SyncMLError(WBXMLError):
    """A message that is not a well-formed SyncML document (or a tree that cannot be one)."""


@attrs.frozen
class Message:
    """A decoded message.

    Attributes:
        version: its SyncML version (by its namespace, public id or VerDTD).
        encoding: ``"xml"`` or ``"wbxml"``, the encoding it came in (and an answer goes in).
        root: the SyncML element.
    """

    version: Version
    encoding: str
    root: Element


def encoding_of(content_type: str | None) -> str | None:
    """``"xml"`` or ``"wbxml"`` for a SyncML Content-Type header (parameters and case
    aside), None for anything else."""
    if not content_type:
        return None
    base = content_type.split(";", 1)[0].strip().lower()
    for encoding, known in _CONTENT_TYPES.items():
        if base == known:
            return encoding
    return None


def content_type(encoding: str) -> str:
    """The Content-Type of a message in this encoding (``"xml"`` or ``"wbxml"``)."""
    return _CONTENT_TYPES[encoding]


def devinf_type(encoding: str) -> str:
    """The Meta Type naming a DevInf item in a message of this encoding."""
    return _DEVINF_TYPES[encoding]


def version_of(root: Element) -> Version:
    """The SyncML version of a message tree (by its root's namespace).

    Raises:
        SyncMLError: not a SyncML element of a known version.
    """
    version = BY_NAMESPACE.get(root.namespace)
    if version is None or root.tag != "SyncML":
        raise SyncMLError(f"not a SyncML message: {root.namespace}{root.tag}")
    return version


def decode(data: bytes, encoding: str) -> Message:
    """The message ``data`` holds in ``encoding`` (``"xml"`` or ``"wbxml"``).

    Raises:
        SyncMLError: malformed, not SyncML, or an unknown encoding.
    """
    if encoding == WBXML:
        return decode_wbxml(data)
    if encoding == XML:
        return decode_xml(data)
    raise SyncMLError(f"unknown encoding {encoding!r}")


def encode(root: Element, encoding: str) -> bytes:
    """The bytes of a message tree in ``encoding`` (``"xml"`` or ``"wbxml"``).

    Raises:
        SyncMLError: a tree that is not a SyncML message of a known version, or content
            the encoding cannot carry.
    """
    if encoding == WBXML:
        return encode_wbxml(root)
    if encoding == XML:
        return encode_xml(root)
    raise SyncMLError(f"unknown encoding {encoding!r}")


# -- WBXML ---------------------------------------------------------------------------


def _version_by_public_id(public_id) -> Version | None:
    for version in VERSIONS.values():
        if public_id in version.public_ids:
            return version
    return None


def _devinf_version(public_id) -> Version | None:
    for version in VERSIONS.values():
        if public_id in version.devinf_public_ids:
            return version
    return None


def decode_wbxml(data: bytes) -> Message:
    """The message a WBXML body holds; nested DevInf documents become Data's child.

    The version is the public id's; a public id SyncML does not register (1, unknown)
    is read as 1.2 and then as the version its VerDTD names.

    Raises:
        SyncMLError: malformed WBXML, not SyncML, or a nested DevInf that is malformed.
    """
    data = bytes(data)
    version = _version_by_public_id(read_public_id(data))
    try:
        root = (version or SYNCML12).syncml.decode(data)
        if version is None:
            version = VERSIONS.get(_verdtd(root) or "", SYNCML12)
            if version is not SYNCML12:
                root = version.syncml.decode(data)
        root = _unnest(root, version)
    except SyncMLError:
        raise
    except WBXMLError as e:
        raise SyncMLError(str(e)) from None
    if root.tag != "SyncML" or root.namespace != version.namespace:
        raise SyncMLError(f"not a SyncML message: {root.tag}")
    return Message(version, WBXML, root)


def _verdtd(root: Element) -> str | None:
    header = root.find(root.namespace, "SyncHdr")
    verdtd = header.find(root.namespace, "VerDTD") if header is not None else None
    return verdtd.text if verdtd is not None else None


def _unnest(node: Element, version: Version) -> Element:
    """The tree with every Data holding a DevInf WBXML document holding its tree."""
    if node.opaque is not None:
        if node.tag == "Data":
            devinf = _devinf_version(read_public_id(node.opaque))
            if devinf is not None:
                try:
                    inner = devinf.devinf.decode(node.opaque)
                except WBXMLError as e:
                    raise SyncMLError(f"the DevInf in a Data: {e}") from None
                return Element(node.namespace, "Data", (inner,))
        return node
    if not node.children:
        return node
    children = tuple(_unnest(c, version) for c in node.children)
    if all(a is b for a, b in zip(children, node.children)):
        return node
    return Element(node.namespace, node.tag, children)


def encode_wbxml(root: Element) -> bytes:
    """The WBXML bytes of a message tree: WBXML 1.2, the version's public id in the
    string table, UTF-8; a DevInf in a Data as its own document in opaque bytes.

    Raises:
        SyncMLError: not a SyncML message, a tag outside the version's pages, or a text
            WBXML cannot carry.
    """
    version = version_of(root)
    try:
        return version.syncml.encode(_for_wbxml(root, version))
    except SyncMLError:
        raise
    except WBXMLError as e:
        raise SyncMLError(str(e)) from None


def _for_wbxml(node: Element, version: Version) -> Element:
    if node.text is not None:
        if node.text == DEVINF_XML and node.tag == "Type" and node.namespace == METINF_NS:
            return Element(METINF_NS, "Type", (), DEVINF_WBXML)
        return node
    if not node.children:
        return node
    if node.tag == "Data" and node.children[0].namespace == DEVINF_NS:
        if len(node.children) != 1:
            raise SyncMLError("a Data holds one DevInf and nothing else")
        inner = node.children[0]
        verdtd = inner.find(DEVINF_NS, "VerDTD")
        devinf = VERSIONS.get(verdtd.text if verdtd is not None else "", version).devinf
        return Element(node.namespace, "Data", opaque=devinf.encode(inner))
    children = tuple(_for_wbxml(c, version) for c in node.children)
    if all(a is b for a, b in zip(children, node.children)):
        return node
    return Element(node.namespace, node.tag, children)


# -- XML -----------------------------------------------------------------------------

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True,
                          remove_pis=True, load_dtd=False, huge_tree=False)
_XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
# What XML 1.0 cannot carry in a text at all (CR is carried as &#13; outside CDATA).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_PAGE_OF = {METINF_NS: METINF_NS, DEVINF_NS: DEVINF_NS}


def decode_xml(data: bytes) -> Message:
    """The message an XML body holds.

    The version is the root's namespace's, else the VerDTD's (1.2 when neither says).
    Whitespace between elements is ignored; a leaf's text (CDATA included) is kept as is.

    Raises:
        SyncMLError: not XML, not SyncML, an element outside the pages, or mixed content.
    """
    try:
        root = etree.fromstring(bytes(data), _PARSER)
    except (etree.XMLSyntaxError, ValueError) as e:
        raise SyncMLError(f"not XML: {e}") from None
    qname = etree.QName(root)
    if qname.localname != "SyncML":
        raise SyncMLError(f"not a SyncML message: {qname.localname}")
    version = _xml_version(root, qname.namespace)
    # Post-order without recursion: a node is built once all its children are; the
    # namespace each element stands in is fixed on the way down.
    built: dict = {}
    namespaces = {root: version.namespace}
    todo = [(root, False)]
    while todo:
        xml, expanded = todo.pop()
        if not expanded:
            todo.append((xml, True))
            ns = namespaces[xml]
            for child in reversed(xml):
                if not isinstance(child.tag, str):
                    # An entity reference, left unresolved: SyncML declares none, and
                    # expanding them is how XML bombs work.
                    raise SyncMLError(f"entity reference {child.text} (SyncML has none)")
                namespaces[child] = _namespace(child, ns, xml, version)
                todo.append((child, False))
            continue
        children = [built.pop(child) for child in xml]
        built[xml] = _element(xml, namespaces.pop(xml), children, version)
    return Message(version, XML, built[root])


def _xml_version(root, namespace: str | None) -> Version:
    if namespace:
        for version in VERSIONS.values():
            if namespace.upper() == version.namespace.upper():
                return version
        raise SyncMLError(f"unknown SyncML namespace {namespace!r}")
    for header in root:
        if isinstance(header.tag, str) and etree.QName(header).localname == "SyncHdr":
            for child in header:
                if isinstance(child.tag, str) and etree.QName(child).localname == "VerDTD":
                    return VERSIONS.get((child.text or "").strip(), SYNCML12)
    return SYNCML12


def _namespace(xml, parent_ns: str, parent, version: Version) -> str:
    namespace = etree.QName(xml).namespace
    if namespace is not None:
        lower = namespace.lower()
        if lower in _PAGE_OF:
            return _PAGE_OF[lower]
        if namespace.upper() == version.namespace.upper():
            return version.namespace
        raise SyncMLError(f"unknown namespace {namespace!r}")
    # No namespace: by where it is, as the DTDs nest the pages.
    if parent_ns != version.namespace:
        return parent_ns
    if etree.QName(parent).localname == "Meta":
        return METINF_NS
    if etree.QName(xml).localname == "DevInf":
        return DEVINF_NS
    return version.namespace


def _element(xml, namespace: str, children: list[Element], version: Version) -> Element:
    tag = etree.QName(xml).localname
    language = version.devinf if namespace == DEVINF_NS else version.syncml
    if not language.knows(namespace, tag):
        raise SyncMLError(f"unknown element {tag} in {namespace}")
    text = xml.text or ""
    if children:
        if text.strip() or any((c.tail or "").strip() for c in xml):
            raise SyncMLError(f"{tag}: mixed content (SyncML has none)")
        return Element(namespace, tag, children)
    return Element(namespace, tag, (), text)


def encode_xml(root: Element) -> bytes:
    """The XML bytes (UTF-8, with a declaration) of a message tree: each page's
    namespace as the default namespace where it starts, as SyncML clients expect
    (``<Type xmlns="syncml:metinf">``); item Data in CDATA where it can be.

    Raises:
        SyncMLError: not a SyncML message, a tag outside the pages, or a text XML
            cannot carry (control characters).
    """
    version = version_of(root)
    xml_root = etree.Element(f"{{{root.namespace}}}SyncML", nsmap={None: root.namespace})
    todo = [(xml_root, root)]
    while todo:
        xml, node = todo.pop()
        _set_content(xml, node, version)
        for child in node.children:
            language = version.devinf if child.namespace == DEVINF_NS else version.syncml
            if not language.knows(child.namespace, child.tag):
                raise SyncMLError(f"no element {child.tag} in {child.namespace}")
            qname = f"{{{child.namespace}}}{child.tag}"
            if child.namespace == node.namespace:
                sub = etree.SubElement(xml, qname)
            else:
                sub = etree.SubElement(xml, qname, nsmap={None: child.namespace})
            todo.append((sub, child))
    return _XML_DECLARATION + etree.tostring(xml_root, encoding="utf-8")


def _set_content(xml, node: Element, version: Version) -> None:
    text = node.text
    if node.opaque is not None:
        text = None
        if node.tag != "NextNonce":
            try:
                text = node.opaque.decode("utf-8")
            except UnicodeDecodeError:
                pass
            if text is not None and _NOT_XML.search(text):
                text = None
        if text is None:
            text = base64.b64encode(node.opaque).decode("ascii")
    if text is None:
        return
    if _NOT_XML.search(text):
        raise SyncMLError(f"{node.tag}: a text XML cannot carry")
    if text == DEVINF_WBXML and node.tag == "Type" and node.namespace == METINF_NS:
        text = DEVINF_XML
    try:
        # CDATA keeps vCards readable; CR does not survive CDATA (XML folds it), so a
        # text with one is escaped instead (&#13;).
        if node.tag == "Data" and "]]>" not in text and "\r" not in text:
            xml.text = etree.CDATA(text)
        else:
            xml.text = text
    except ValueError as e:
        raise SyncMLError(f"{node.tag}: not representable as XML: {e}") from None
