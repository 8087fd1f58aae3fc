"""WBXML 1.0-1.3 (the WAP Forum's binary XML): pure functions over bytes, for any language.

A language is a ``Vocabulary``: its code pages (token <-> tag, each page one XML
namespace), the public id and version it writes and the charsets it reads. EAS
(MS-ASWBXML) and SyncML (OMA DS, with MetInf and DevInf) are two; their code pages live
with their protocols, the machinery here.

A document is a tree of ``Element`` values, each a tag of one code page holding child
elements, a text or opaque bytes -- never a mix: neither EAS nor SyncML has mixed content
or attributes. The tree is an immutable value type rather than lxml elements so that
opaque data (MIME, nonces, nested documents) stays bytes and trees compare with ``==``.

``decode`` is built for hostile input: every malformed document raises ``WBXMLError``
(a ``ValueError``), lengths are checked against the bytes actually there before anything
is allocated, and the tree is walked with an explicit stack, so neither a huge length
nor a deep nesting can exhaust memory or the Python stack.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

import attrs
from lxml import etree

#: The deepest nesting accepted (EAS documents stay under 15 levels, SyncML under 20).
MAX_DEPTH = 64

# Global tokens (WBXML 1.3 section 7.1).
SWITCH_PAGE, END, ENTITY, STR_I = 0x00, 0x01, 0x02, 0x03
STR_T, OPAQUE = 0x83, 0xC3
_CONTENT, _ATTRIBUTES = 0x40, 0x80
_GLOBAL_NAMES = {
    0x04: "LITERAL", 0x40: "EXT_I_0", 0x41: "EXT_I_1", 0x42: "EXT_I_2", 0x43: "PI",
    0x44: "LITERAL_C", 0x80: "EXT_T_0", 0x81: "EXT_T_1", 0x82: "EXT_T_2",
    0x84: "LITERAL_A", 0xC0: "EXT_0", 0xC1: "EXT_1", 0xC2: "EXT_2", 0xC4: "LITERAL_AC",
}

#: IANA MIBenum -> Python codec of the charsets a document may declare (0: unknown,
#: taken as UTF-8). All are ASCII-compatible, so a NUL still ends an inline string.
UTF8 = 106
CHARSETS = {0: "utf-8", UTF8: "utf-8", 3: "ascii", 4: "latin-1"}

class WBXMLError(ValueError):
    """A document that is not well-formed WBXML of its language (or a tree that cannot be one)."""


class _Fields:
    __slots__ = ("namespace", "tag", "children", "text", "opaque")


class _Building(_Fields):
    # An Element under construction: plain slot assignment, which Element's own
    # __setattr__ (it is immutable) would refuse. See Element.__new__.
    __slots__ = ()


_new_object = object.__new__


class Element(_Fields):
    """One element: an immutable value (compares with ``==``, hashable).

    Attributes:
        namespace: the code page's XML namespace, e.g. ``"AirSync:"``, ``"syncml:metinf"``.
        tag: the tag name within that page, e.g. ``"SyncKey"``.
        children: the child elements, in order (any iterable given becomes a tuple).
        text: the text content (None when there is none; ``""`` becomes None).
        opaque: the content as opaque bytes (WBXML OPAQUE), or None.

    Raises:
        ValueError: more than one of children, text and opaque given.
    """

    __slots__ = ()
    __match_args__ = ("namespace", "tag", "children", "text", "opaque")

    # A hand-written class rather than attrs: a Sync answer builds thousands of these
    # per window, and attrs' frozen __init__ (object.__setattr__ per field, converters,
    # a post-init check) cost several times this. The instance is built as a
    # _Building, whose slots are assigned directly, and then becomes an Element.
    def __new__(cls, namespace: str, tag: str, children=(), text: str | None = None,
                opaque: bytes | None = None):
        if children.__class__ is not tuple:
            children = tuple(children)
        if not text:
            text = None
            if children and opaque is not None:
                raise ValueError(f"{tag}: children, text and opaque exclude each other")
        elif children or opaque is not None:
            raise ValueError(f"{tag}: children, text and opaque exclude each other")
        self = _new_object(_Building)
        self.namespace = namespace
        self.tag = tag
        self.children = children
        self.text = text
        self.opaque = opaque
        self.__class__ = cls
        return self

    def __setattr__(self, name, value):
        raise AttributeError(f"Element is immutable: cannot set {name!r}")

    def __delattr__(self, name):
        raise AttributeError(f"Element is immutable: cannot delete {name!r}")

    def __reduce__(self):
        return Element, (self.namespace, self.tag, self.children, self.text, self.opaque)

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (self.tag == other.tag and self.namespace == other.namespace
                and self.text == other.text and self.opaque == other.opaque
                and self.children == other.children)

    def __hash__(self):
        return hash((self.namespace, self.tag, self.children, self.text, self.opaque))

    def __repr__(self):
        return (f"Element(namespace={self.namespace!r}, tag={self.tag!r}, "
                f"children={self.children!r}, text={self.text!r}, opaque={self.opaque!r})")

    def find(self, namespace: str, tag: str) -> Element | None:
        """The first child with this namespace and tag, or None."""
        for child in self.children:
            if child.tag == tag and child.namespace == namespace:
                return child
        return None


# -- code pages and languages --------------------------------------------------------


@attrs.frozen
class CodePage:
    """One code page: its number, name, XML namespace and tags.

    Attributes:
        number: the page number SWITCH_PAGE selects (0-255).
        name: the page's name in its specification (``AirSync``, ``MetInf``...).
        namespace: the XML namespace the language writes for it (``AirSync:``).
        tags: token -> tag name.
        tokens: tag name -> token (aliases of a token included).
    """

    number: int
    name: str
    namespace: str
    tags: dict[int, str]
    tokens: dict[str, int]


def code_page(number: int, name: str, namespace: str, table: str) -> CodePage:
    """A code page from its table as "token name token name ..." (tokens in hex).

    Where a token has had two names the current one comes first and the older one
    follows after a "/": it is accepted when encoding and never produced when decoding.
    A tag token is 0x05-0x3F: 0x00-0x04 are global tokens and the two high bits of a tag
    byte are its content and attribute flags.

    Raises:
        ValueError: a token out of range or twice, a name twice.
    """
    words = table.split()
    tags: dict[int, str] = {}
    tokens: dict[str, int] = {}
    for token_hex, names in zip(words[::2], words[1::2], strict=True):
        token = int(token_hex, 16)
        if not 0x05 <= token <= 0x3F or token in tags:
            raise ValueError(f"{name}: bad or repeated token {token_hex}")
        current, *older = names.split("/")
        tags[token] = current
        for tag in (current, *older):
            if tag in tokens:
                raise ValueError(f"{name}: tag {tag} twice")
            tokens[tag] = token
    return CodePage(number, name, namespace, tags, tokens)


@attrs.frozen
class Document:
    """A decoded document with its header.

    Attributes:
        version: the WBXML version byte (0x03 for 1.3).
        public_id: the registered numeric public id, or the public id string (when the
            header refers to the string table).
        charset: the IANA MIBenum of the charset (0: unknown).
        root: the document element.
    """

    version: int
    public_id: int | str
    charset: int
    root: Element


def read_public_id(data: bytes) -> int | str | None:
    """The public id in a WBXML document's header, without decoding the body; None when
    the bytes do not start like a WBXML document (so a caller can tell which language
    a document is in before choosing the vocabulary)."""
    try:
        r = _Reader(bytes(data[:1024]))
        if r.byte() > 0x03:
            return None
        public_id = r.mb_u_int32()
        index = r.mb_u_int32() if public_id == 0 else None
        r.mb_u_int32()  # charset
        if index is None:
            return public_id
        r.data = bytes(data)
        table = r.take(r.mb_u_int32())
        return _table_string(table, index)
    except WBXMLError:
        return None


class Vocabulary:
    """A WBXML language: its code pages, and the header it writes and accepts.

    Args:
        name: the language's name, for error messages (``"EAS"``).
        pages: its code pages (one per number, distinct namespaces).
        version: the WBXML version byte it writes (0x03: 1.3; SyncML writes 0x02).
        public_id: what it writes as public id: a registered number, or a string that
            goes into the string table.
        charsets: the charsets (MIBenum) it reads; it always writes UTF-8.
    """

    def __init__(self, name: str, pages: Iterable[CodePage], *, version: int = 0x03,
                 public_id: int | str = 1, charsets: Iterable[int] = (0, UTF8)):
        self.name = name
        self.pages: dict[int, CodePage] = {p.number: p for p in pages}
        self.by_namespace: dict[str, CodePage] = {p.namespace: p for p in self.pages.values()}
        self.version = version
        self.public_id = public_id
        self.charsets = frozenset(charsets)
        unknown = self.charsets - CHARSETS.keys()
        if unknown:
            raise ValueError(f"unsupported charsets {sorted(unknown)}")
        # (namespace, tag) -> (page number, the tag byte alone, with content, and the
        # bytes opening an inline string, an opaque, in it): one lookup per node.
        self._encoding: dict[tuple[str, str], tuple[int, int, int, bytes, bytes]] = {
            (page.namespace, tag): (page.number, token, token | _CONTENT,
                                    bytes((token | _CONTENT, STR_I)),
                                    bytes((token | _CONTENT, OPAQUE)))
            for page in self.pages.values() for tag, token in page.tokens.items()
        }
        self._switch = {number: bytes((SWITCH_PAGE, number)) for number in self.pages}
        self._header = _header(version, public_id)

    def __repr__(self):
        return f"Vocabulary({self.name!r}, public_id={self.public_id!r})"

    def knows(self, namespace: str, tag: str) -> bool:
        """Whether the tag is in one of the language's code pages."""
        return (namespace, tag) in self._encoding

    def encode(self, element: Element) -> bytes:
        """The WBXML bytes of a document: this language's version and public id, UTF-8,
        no string table beyond the public id.

        Raises:
            WBXMLError: a tag not in its code page, a text that cannot be carried (NUL,
                lone surrogates), or nesting deeper than MAX_DEPTH.
        """
        out = bytearray(self._header)
        _encode_siblings((element,), out, 0, 1, self._encoding, self._switch)
        return bytes(out)

    def decode(self, data: bytes) -> Element:
        """The document a WBXML body holds (see ``decode_document``)."""
        return _decode(self, data)[3]

    def decode_document(self, data: bytes) -> Document:
        """The document a WBXML body holds, with its header.

        Accepts WBXML 1.0-1.3 with any public id, one of the language's charsets, a
        string table and STR_T references, SWITCH_PAGE, STR_I, ENTITY and OPAQUE.

        Raises:
            WBXMLError: for anything else -- truncation, a bad mb_u_int32, an unknown
                code page or token, attributes, literals, extensions, bad text, a length
                beyond the input, nesting deeper than MAX_DEPTH, mixed content or
                trailing bytes.
        """
        return Document(*_decode(self, data))

    def to_xml(self, element: Element) -> str:
        """The document as XML text, each page's namespace prefixed by its name but the
        root's (opaque content in base64, marked by the ``opaque`` attribute).

        Raises:
            WBXMLError: a text XML cannot carry (control characters) or an unknown page.
        """
        return _to_xml(self, element)

    def from_xml(self, text: str) -> Element:
        """The document an XML text (as ``to_xml`` writes it) holds.

        Whitespace between child elements is ignored; a leaf's text is kept as is.

        Raises:
            WBXMLError: not XML, an element outside the code pages, attributes (other
                than the opaque marker), mixed content, or bad base64.
        """
        return _from_xml(self, text)


def _header(version: int, public_id: int | str) -> bytes:
    if isinstance(public_id, str):
        # Public id 0 refers to the string table, which holds only the id, at 0.
        table = public_id.encode("utf-8") + b"\0"
        return (bytes((version, 0, 0)) + _mb_u_int32(UTF8)
                + _mb_u_int32(len(table)) + table)
    return bytes((version,)) + _mb_u_int32(public_id) + _mb_u_int32(UTF8) + b"\0"


# -- encoding ------------------------------------------------------------------------


def _mb_u_int32(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


_STRING_END = bytes((0, END))


def _encode_siblings(nodes: tuple, out: bytearray, page: int, depth: int,
                     encoding: dict, switch: dict) -> int:
    """Append ``nodes``, siblings at ``depth`` (the root is 1), to ``out`` with code page
    ``page`` current; return the page current after them. One call per element with
    children rather than per element (most are leaves); recursion is bounded by
    MAX_DEPTH."""
    for node in nodes:
        try:
            number, token, with_content, open_string, open_opaque = encoding[node.namespace, node.tag]
        except KeyError:
            raise WBXMLError(f"no token for {node.namespace}{node.tag}") from None
        if number != page:
            page = number
            out += switch[number]
        text = node.text
        if text is not None:
            if "\0" in text:
                raise WBXMLError(f"{node.tag}: a text cannot hold NUL")
            try:
                raw = text.encode("utf-8")
            except UnicodeEncodeError as e:
                raise WBXMLError(f"{node.tag}: text is not encodable as UTF-8: {e}") from None
            out += open_string
            out += raw
            out += _STRING_END
        elif node.children:
            if depth >= MAX_DEPTH:
                raise WBXMLError(f"nesting deeper than {MAX_DEPTH} elements")
            out.append(with_content)
            page = _encode_siblings(node.children, out, page, depth + 1, encoding, switch)
            out.append(END)
        elif node.opaque is not None:
            out += open_opaque
            out += _mb_u_int32(len(node.opaque))
            out += node.opaque
            out.append(END)
        else:
            out.append(token)
    return page


# -- decoding ------------------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise WBXMLError(f"truncated at byte {self.pos}")
        self.pos += 1
        return self.data[self.pos - 1]

    def mb_u_int32(self) -> int:
        value = 0
        for _ in range(5):
            b = self.byte()
            value = (value << 7) | (b & 0x7F)
            if not b & 0x80:
                if value >= 1 << 32:
                    break
                return value
        raise WBXMLError(f"bad mb_u_int32 ending at byte {self.pos}")

    def take(self, length: int) -> bytes:
        if length > len(self.data) - self.pos:
            raise WBXMLError(
                f"length {length} at byte {self.pos} exceeds the "
                f"{len(self.data) - self.pos} bytes left"
            )
        self.pos += length
        return self.data[self.pos - length : self.pos]

    def cstring(self) -> str:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise WBXMLError(f"unterminated inline string at byte {self.pos}")
        raw, self.pos = self.data[self.pos : end], end + 1
        return _utf8(raw, self.pos)


def _utf8(raw: bytes, where: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise WBXMLError(f"bad UTF-8 in the string before byte {where}: {e.reason}") from None


def _text_decoder(codec: str):
    def text_of(raw: bytes, where: int) -> str:
        try:
            return raw.decode(codec)
        except UnicodeDecodeError as e:
            raise WBXMLError(f"bad {codec} in the string before byte {where}: {e.reason}") from None
    return text_of


def _table_string(table: bytes, offset: int, text_of=_utf8) -> str:
    end = table.find(b"\0", offset) if offset < len(table) else -1
    if end < 0:
        raise WBXMLError(f"string table reference {offset} is outside the table")
    return text_of(table[offset:end], offset)


def _decode(language: Vocabulary, data: bytes) -> tuple[int, int | str, int, Element]:
    """(version, public id, charset, root) of a document; see Vocabulary.decode_document."""
    data = bytes(data)
    r = _Reader(data)
    version = r.byte()
    if version > 0x03:
        raise WBXMLError(f"unsupported WBXML version 0x{version:02x}")
    public_id = r.mb_u_int32()
    index = r.mb_u_int32() if public_id == 0 else None
    charset = r.mb_u_int32()
    if charset not in language.charsets:
        raise WBXMLError(f"unsupported charset {charset} (only "
                         f"{', '.join(map(str, sorted(language.charsets - {0})))})")
    text_of = _utf8 if CHARSETS[charset] == "utf-8" else _text_decoder(CHARSETS[charset])
    table = r.take(r.mb_u_int32())
    if index is not None:
        public_id = _table_string(table, index, text_of)
    name = language.name
    # The loop below is the hot path of every request and of test clients: it works on
    # locals, and an open element is a plain list [namespace, tag, children, texts,
    # opaques]. IndexError from reading past the end is the truncation error.
    pos = r.pos
    find = data.find
    pages = language.pages
    namespace, tags = pages[0].namespace, pages[0].tags
    page_name = pages[0].name
    root: Element | None = None
    stack: list = []
    try:
        while root is None:
            at = pos
            b = data[pos]
            pos += 1
            low = b & 0x3F
            if low >= 5:
                if b & _ATTRIBUTES:
                    raise WBXMLError(f"byte {at}: attributes are not used by {name}")
                tag = tags.get(low)
                if tag is None:
                    raise WBXMLError(f"byte {at}: unknown token 0x{low:02x} in {page_name}")
                if len(stack) >= MAX_DEPTH:
                    raise WBXMLError(f"nesting deeper than {MAX_DEPTH} elements")
                if b & _CONTENT:
                    if data[pos] == STR_I:
                        # Most elements are one inline string and END: made at once.
                        end = find(b"\0", pos + 1)
                        if end > 0 and data[end + 1] == END:
                            leaf = Element(namespace, tag, (), text_of(data[pos + 1:end], end + 1))
                            pos = end + 2
                            if stack:
                                stack[-1][2].append(leaf)
                            else:
                                root = leaf
                            continue
                    stack.append([namespace, tag, [], [], []])
                elif stack:
                    stack[-1][2].append(Element(namespace, tag))
                else:
                    root = Element(namespace, tag)
                continue
            if b == SWITCH_PAGE:
                page = data[pos]
                pos += 1
                if page not in pages:
                    raise WBXMLError(f"unknown code page {page} at byte {at}")
                namespace, tags, page_name = pages[page].namespace, pages[page].tags, pages[page].name
                continue
            if b in (END, STR_I, STR_T, ENTITY, OPAQUE) and not stack:
                raise WBXMLError(f"byte {at}: 0x{b:02x} outside any element")
            if b == END:
                done = _close(stack.pop(), name)
                if stack:
                    stack[-1][2].append(done)
                else:
                    root = done
            elif b == STR_I:
                end = find(b"\0", pos)
                if end < 0:
                    raise WBXMLError(f"unterminated inline string at byte {pos}")
                stack[-1][3].append(text_of(data[pos:end], end + 1))
                pos = end + 1
            else:
                r.pos = pos
                if b == STR_T:
                    stack[-1][3].append(_table_string(table, r.mb_u_int32(), text_of))
                elif b == ENTITY:
                    code = r.mb_u_int32()
                    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                        raise WBXMLError(f"byte {at}: bad character entity {code}")
                    stack[-1][3].append(chr(code))
                elif b == OPAQUE:
                    stack[-1][4].append(r.take(r.mb_u_int32()))
                else:
                    raise WBXMLError(f"byte {at}: {_GLOBAL_NAMES[b]} is not used by {name}")
                pos = r.pos
    except IndexError:
        raise WBXMLError(f"truncated at byte {len(data)}") from None
    if pos != len(data):
        raise WBXMLError(f"{len(data) - pos} bytes after the document")
    return version, public_id, charset, root


def _close(open_: list, name: str) -> Element:
    namespace, tag, children, texts, opaques = open_
    text = "".join(texts) if texts else None
    if opaques:
        if children or text:
            raise WBXMLError(f"{tag}: mixed content ({name} has none)")
        return Element(namespace, tag, (), None, b"".join(opaques))
    if children and text:
        raise WBXMLError(f"{tag}: mixed content ({name} has none)")
    return Element(namespace, tag, children, text)


# -- XML, for logs and tests ---------------------------------------------------------

#: Marks an element whose content is opaque bytes (base64 in the XML); the languages use
#: no attributes, so the marker cannot clash with one.
OPAQUE_ATTRIBUTE = "opaque"


def _to_xml(language: Vocabulary, element: Element) -> str:
    by_namespace = language.by_namespace
    namespaces: dict[str, None] = {}
    todo = [element]
    while todo:
        node = todo.pop()
        if node.namespace not in by_namespace:
            raise WBXMLError(f"unknown namespace {node.namespace!r}")
        namespaces[node.namespace] = None
        todo.extend(node.children)
    nsmap = {
        (None if ns == element.namespace else by_namespace[ns].name.lower()): ns
        for ns in namespaces
    }
    try:
        root = etree.Element(_qname(element), nsmap=nsmap)
        todo = [(root, element)]
        while todo:
            xml, node = todo.pop()
            if node.opaque is not None:
                xml.set(OPAQUE_ATTRIBUTE, "base64")
                xml.text = base64.b64encode(node.opaque).decode("ascii")
            else:
                xml.text = node.text
            for child in node.children:
                todo.append((etree.SubElement(xml, _qname(child)), child))
    except ValueError as e:
        raise WBXMLError(f"not representable as XML: {e}") from None
    return etree.tostring(root, encoding="unicode")


def _qname(node: Element) -> str:
    return f"{{{node.namespace}}}{node.tag}"


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True,
                          remove_pis=True)


def _from_xml(language: Vocabulary, text: str) -> Element:
    try:
        root = etree.fromstring(text.encode("utf-8"), _PARSER)
    except (etree.XMLSyntaxError, ValueError) as e:
        raise WBXMLError(f"not XML: {e}") from None
    # Post-order without recursion: a node is built once all its children are.
    built: dict = {}
    todo = [(root, False)]
    while todo:
        xml, expanded = todo.pop()
        if not expanded:
            todo.append((xml, True))
            todo.extend((child, False) for child in reversed(xml))
            continue
        built[xml] = _from_xml_node(language, xml, [built.pop(child) for child in xml])
    return built[root]


def _from_xml_node(language: Vocabulary, xml, children: list[Element]) -> Element:
    qname = etree.QName(xml)
    codepage = language.by_namespace.get(qname.namespace)
    if codepage is None or qname.localname not in codepage.tokens:
        raise WBXMLError(f"unknown element {xml.tag}")
    attributes = dict(xml.attrib)
    opaque = attributes.pop(OPAQUE_ATTRIBUTE, None)
    if attributes or opaque not in (None, "base64"):
        raise WBXMLError(f"{qname.localname}: {language.name} elements have no attributes")
    text = xml.text or ""
    if children:
        if text.strip() or any((c.tail or "").strip() for c in xml):
            raise WBXMLError(f"{qname.localname}: mixed content ({language.name} has none)")
        text = ""
    if opaque is not None:
        if children:
            raise WBXMLError(f"{qname.localname}: opaque content with children")
        try:
            data = base64.b64decode(text, validate=True)
        except ValueError as e:
            raise WBXMLError(f"{qname.localname}: bad base64: {e}") from None
        return Element(codepage.namespace, qname.localname, opaque=data)
    return Element(codepage.namespace, qname.localname, children, text)
