"""The readable text of a message: its first text part found, decoded and stripped of
HTML, and a short preview of it (IMAP PREVIEW, EAS Preview).

Pure functions over a ``MessageStructure`` and the bytes a caller read for it.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from html.parser import HTMLParser
from typing import Optional

from smsync.formats.headers import decode_charset
from smsync.formats.structure import BodyPart, MessageStructure

#: RFC 8970 5: "The server SHOULD limit the length of the preview text to 200 preview
#: characters" (and MUST NOT send more than 256).
PREVIEW_CHARS = 200


_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")


def decode_transfer(raw: bytes, encoding: Optional[str]) -> bytes:
    """``raw`` with its Content-Transfer-Encoding undone (base64 or quoted-printable;
    anything else is returned as it is). A base64 body cut short, as a truncated read
    leaves it, decodes up to its last whole quartet; undecodable input comes back as
    stored rather than refused, so the reader still gets something."""
    encoding = (encoding or "7bit").lower()
    try:
        if encoding == "base64":
            data = _NOT_BASE64.sub(b"", raw)
            extra = len(data) % 4
            if extra == 1:
                data = data[:-1]  # a lone character holds no whole byte
            elif extra:
                data += b"=" * (4 - extra)
            return base64.b64decode(data, validate=True)
        if encoding == "quoted-printable":
            return quopri.decodestring(raw)
    except (binascii.Error, ValueError):
        pass
    return raw


def decode_body(raw: bytes, part: BodyPart) -> str:
    """A part's body bytes as text: transfer encoding undone, charset applied."""
    return decode_charset(decode_transfer(raw, part.encoding), part.param("charset"))


def text_part(part: BodyPart, html: bool = False) -> Optional[BodyPart]:
    """The first inline text/plain (or, with ``html``, text/html) part, depth first
    (not inside attached messages)."""
    if part.children:
        for child in part.children:
            found = text_part(child, html)
            if found is not None:
                return found
        return None
    wanted = "html" if html else "plain"
    if (part.type == "text" and part.subtype == wanted and part.disposition != "attachment"
            and not (part.disposition == "inline" and part.filename)):
        return part
    return None


class _TextOfHTML(HTMLParser):
    _BLOCK = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table",
              "blockquote", "pre", "hr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head", "title"):
            self.skip += 1
        elif tag in self._BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head", "title"):
            self.skip = max(self.skip - 1, 0)
        elif tag in self._BLOCK:
            self.out.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.out.append(data)


def html_to_text(markup: str) -> str:
    """The readable text of an HTML body: tags, scripts and styles dropped, entities
    decoded, block elements as line breaks, runs of blank lines collapsed."""
    parser = _TextOfHTML()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # html.parser is lenient; this only guards the odd assertion
        return re.sub(r"<[^>]*>", "", markup)
    text = "".join(parser.out)
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r" ?\n ?", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def preview_part(structure: MessageStructure) -> Optional[BodyPart]:
    """The part a preview is made from: the first inline text/plain part, else the first
    text/html one (None when there is neither: an encrypted or attachments-only message)."""
    return text_part(structure.root) or text_part(structure.root, html=True)


def preview_length(part: BodyPart, chars: int = PREVIEW_CHARS) -> int:
    """How many stored bytes of ``part``'s body a preview of ``chars`` characters reads:
    enough for them base64-encoded in a four-byte charset; of HTML, enough to get past
    the style sheets a newsletter's head carries."""
    wanted = 64 * 1024 if part.subtype == "html" else chars * 16 + 1024
    return min(part.body_end - part.header_end, wanted)


def preview(part: BodyPart, raw: bytes, chars: int = PREVIEW_CHARS) -> str:
    """The preview of a message whose ``preview_part`` is ``part``, from the first
    ``preview_length`` bytes of its body (``raw``): its text, HTML dropped, white space
    runs as one space, at most ``chars`` characters."""
    text = decode_body(raw, part)
    if len(raw) < part.body_end - part.header_end:
        # The read may have cut a character in two.
        text = text.rstrip("\ufffd")
    if part.subtype == "html":
        text = html_to_text(text)
    return cut_preview(text, chars)


def cut_preview(text: str, chars: int = PREVIEW_CHARS) -> str:
    """``text`` with white space runs as one space, trimmed, cut to ``chars`` characters."""
    return re.sub(r"\s+", " ", text).strip()[:chars].rstrip()
