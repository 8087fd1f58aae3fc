"""The i;unicode-casemap collation (RFC 5051), which IMAP SORT compares strings with
(RFC 5256 section 7, RFC 5957 section 7). A pure function."""

from __future__ import annotations

import unicodedata


def unicode_casemap(text: str) -> str:
    """The "titlecased canonicalized" form RFC 5051 section 2 compares: every code point
    replaced by its simple titlecase mapping, then fully decomposed (compatibility
    decompositions too, "effectively Normalization Form KD"). Two strings collate as
    these forms compare code point by code point -- the order of their UTF-8 octets,
    which is what RFC 5051 compares."""
    mapped = []
    for ch in text:
        title = ch.title()
        # str.title() gives the full mapping; where that is several code points (ß ->
        # "Ss") UnicodeData.txt has no simple mapping and the code point stays.
        mapped.append(title if len(title) == 1 else ch)
    return unicodedata.normalize("NFKD", "".join(mapped))
