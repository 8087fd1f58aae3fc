"""vCards for CardDAV (RFC 6352): validation, summary and 3.0 <-> 4.0 conversion.

Stores keep a vCard exactly as the client sent it; the CardDAV server converts with
``to_version`` when a client asks for the other version (``address-data`` with a
``version`` attribute, RFC 6352 10.4). Conversion is best effort but round-trips the
properties clients use: 3.0 -> 4.0 -> 3.0 gives back the same contact.
"""

from __future__ import annotations

import quopri

import attrs

from smsync.errors import InvalidData
from smsync.formats.contentlines import Component, Property, parse_components, serialize, unescape_text

VERSIONS = ("3.0", "4.0")

#: Binary-valued properties whose encoding differs between the versions.
_BINARY = ("PHOTO", "LOGO", "SOUND", "KEY")
_MEDIA = {
    "JPEG": "image/jpeg", "JPG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif",
    "BMP": "image/bmp", "TIFF": "image/tiff", "WEBP": "image/webp", "HEIC": "image/heic",
    "PGP": "application/pgp-keys", "X509": "application/pkix-cert",
    "WAVE": "audio/wav", "MP3": "audio/mpeg", "OGG": "audio/ogg",
}
_MEDIA_BACK = {v: k for k, v in reversed(list(_MEDIA.items()))}


@attrs.frozen
class VCardSummary:
    """What a store indexes about a vCard: its ``uid``, ``version`` (``"2.1"``,
    ``"3.0"`` or ``"4.0"``) and formatted name ``fn`` (unescaped, or None)."""

    uid: str
    version: str
    fn: str | None = None


def _load(data: bytes) -> Component:
    roots = parse_components(data)
    if not roots or any(r.name != "VCARD" for r in roots):
        raise InvalidData("an address object is one BEGIN:VCARD ... END:VCARD")
    if len(roots) != 1:
        raise InvalidData("an address object holds exactly one vCard (RFC 6352 5.1)")
    return roots[0]


def _version(card: Component) -> str:
    version = (card.value("VERSION") or "3.0").strip()
    if version not in ("2.1", "3.0", "4.0"):
        raise InvalidData(f"unsupported vCard version {version!r}")
    return version


def summarize_vcard(data: bytes) -> VCardSummary:
    """Validate one CardDAV address object and summarise it.

    Raises ``InvalidData`` if ``data`` is not exactly one vCard, does not parse, has
    an unsupported VERSION (2.1, 3.0 and 4.0 are read; a missing VERSION is taken as
    3.0, as lenient servers do), or has no UID: RFC 6352 5.1 requires every address
    object to carry one, and CardDAV sync relies on it, so a missing UID is invalid.
    """
    card = _load(data)
    version = _version(card)
    uid = unescape_text((card.value("UID") or "").strip())
    if not uid:
        raise InvalidData("vCard without UID (RFC 6352 5.1 requires one)")
    fn = card.value("FN")
    return VCardSummary(uid=uid, version=version, fn=unescape_text(fn) if fn is not None else None)


# ---------------------------------------------------------------------------------------
# Conversion


def _split_types(prop: Property) -> list[str]:
    return [t.strip() for v in prop.param_values("TYPE") for t in v.split(",") if t.strip()]


def _decode_21(prop: Property) -> None:
    """vCard 2.1 quoted-printable values and CHARSET parameters become plain UTF-8."""
    encoding = (prop.param("ENCODING") or "").upper()
    charset = prop.param("CHARSET")
    if encoding == "QUOTED-PRINTABLE":
        raw = quopri.decodestring(prop.value.encode("latin-1", "replace"))
        try:
            prop.value = raw.decode(charset or "utf-8")
        except (LookupError, UnicodeDecodeError):
            prop.value = raw.decode("latin-1")
        prop.set_param("ENCODING", None)
    if charset is not None:
        prop.set_param("CHARSET", None)


def _to_v4(card: Component) -> None:
    out: list[Property] = []
    labels: list[Property] = []
    for prop in card.properties:
        _decode_21(prop)
        name = prop.name
        if name == "VERSION":
            prop.value = "4.0"
        elif name == "X-ADDRESSBOOKSERVER-KIND":
            prop.name = "KIND"
            prop.value = prop.value.lower()
        elif name == "X-ADDRESSBOOKSERVER-MEMBER":
            prop.name = "MEMBER"
        elif name == "LABEL":
            labels.append(prop)
            continue
        types = _split_types(prop)
        if name in _BINARY and (prop.param("ENCODING") or "").upper() in ("B", "BASE64"):
            media = _MEDIA.get(types[0].upper(), "application/octet-stream") if types else "application/octet-stream"
            prop.value = f"data:{media};base64,{prop.value.strip()}"
            prop.set_param("ENCODING", None)
            prop.set_param("TYPE", None)
        elif name in _BINARY and (prop.param("VALUE") or "").lower() in ("uri", "url"):
            prop.set_param("VALUE", None)
        elif types:
            lowered = [t.lower() for t in types]
            keep = [t for t in lowered if t != "pref" and not (name == "EMAIL" and t == "internet")]
            prop.set_param("TYPE", keep or None)
            if "pref" in lowered:
                prop.set_param("PREF", ["1"])
        out.append(prop)
    # vCard 4.0 has no LABEL property: it is the LABEL parameter of the ADR it labels.
    adrs = [p for p in out if p.name == "ADR"]
    for label in labels:
        want = {t.lower() for t in _split_types(label)} - {"pref"}
        target = next((a for a in adrs if {t.lower() for t in _split_types(a)} == want and a.param("LABEL") is None), None)
        if target is None:
            target = next((a for a in adrs if a.param("LABEL") is None), None)
        if target is None:
            out.append(label)
        else:
            target.set_param("LABEL", [unescape_text(label.value)])
    card.properties = out


def _to_v3(card: Component) -> None:
    out: list[Property] = []
    for prop in card.properties:
        _decode_21(prop)
        name = prop.name
        if name == "VERSION":
            prop.value = "3.0"
        elif name == "KIND":
            if prop.value.strip().lower() == "individual":
                continue
            prop.name = "X-ADDRESSBOOKSERVER-KIND"
        elif name == "MEMBER":
            prop.name = "X-ADDRESSBOOKSERVER-MEMBER"
        if name in _BINARY and prop.value.startswith("data:") and ";base64," in prop.value[:100]:
            head, _, payload = prop.value.partition(",")
            media = head[5:].split(";")[0].lower()
            prop.value = payload
            prop.set_param("VALUE", None)
            prop.set_param("ENCODING", ["b"])
            prop.set_param("TYPE", [_MEDIA_BACK.get(media, media.split("/")[-1].upper())])
        elif (prop.param("VALUE") or "").lower() == "uri" and name == "TEL" and prop.value.lower().startswith("tel:"):
            prop.value = prop.value[4:]
            prop.set_param("VALUE", None)
        if prop.param("PREF") is not None:
            prop.set_param("PREF", None)
            prop.set_param("TYPE", _split_types(prop) + ["pref"])
        label = prop.param("LABEL") if name == "ADR" else None
        out.append(prop)
        if label is not None:
            prop.set_param("LABEL", None)
            types = [t for t in _split_types(prop) if t.lower() != "pref"]
            escaped = label.replace("\\", "\\\\").replace("\n", "\\n").replace(",", "\\,").replace(";", "\\;")
            out.append(Property("LABEL", escaped, [("TYPE", types)] if types else [], prop.group))
    if not any(p.name == "N" for p in out):
        # N is required in 3.0; an empty one is what 4.0 clients' contacts convert to.
        at = next((i + 1 for i, p in enumerate(out) if p.name == "FN"), len(out))
        out.insert(at, Property("N", ";;;;"))
    card.properties = out


def to_version(data: bytes, version: str) -> bytes:
    """The vCard in ``data`` as vCard ``version`` (``"3.0"`` or ``"4.0"``).

    Data already in that version is returned unchanged. Converted cards are written as
    UTF-8 with CRLF line ends, folded at 75 octets. Raises ``InvalidData`` for data
    ``summarize_vcard`` would refuse (except a missing UID, which conversion keeps
    missing) and ``ValueError`` for an unsupported target version.
    """
    if version not in VERSIONS:
        raise ValueError(f"vCard version must be one of {VERSIONS}, not {version!r}")
    card = _load(data)
    current = _version(card)
    if current == version:
        return bytes(data)
    if card.get("VERSION") is None:
        card.properties.insert(0, Property("VERSION", version))
    if version == "4.0":
        _to_v4(card)
    else:
        _to_v3(card)
    # VERSION must come right after BEGIN in 4.0 and is conventionally first in 3.0.
    card.properties.sort(key=lambda p: p.name != "VERSION")
    return serialize(card)

