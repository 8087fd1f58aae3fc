"""The EAS request line (MS-ASHTTP 2.2.1.1): which command, for which device, in which
protocol version -- from a plain text query (``?Cmd=Sync&User=..&DeviceId=..&DeviceType=..``
with the ``MS-ASProtocolVersion`` and ``X-MS-PolicyKey`` headers) or from the
base64-encoded binary query some phones send instead, where all of it is packed in the
URI. Pure functions: ``parse_query`` and the two encoders, each the other's inverse.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from typing import Mapping, Optional
from urllib.parse import parse_qsl, quote

import attrs

#: MS-ASHTTP 2.2.1.1.1.1.2: the command codes of the base64-encoded query.
COMMAND_CODES = {
    0: "Sync", 1: "SendMail", 2: "SmartForward", 3: "SmartReply", 4: "GetAttachment",
    9: "FolderSync", 10: "FolderCreate", 11: "FolderDelete", 12: "FolderUpdate",
    13: "MoveItems", 14: "GetItemEstimate", 15: "MeetingResponse", 16: "Search",
    17: "Settings", 18: "Ping", 19: "ItemOperations", 20: "Provision",
    21: "ResolveRecipients", 22: "ValidateCert", 23: "Find",
}
COMMANDS = {name: code for code, name in COMMAND_CODES.items()}

#: MS-ASHTTP 2.2.1.1.1.1.3: the command parameters' tags. (Options and User are fields
#: of ``EASRequest`` of their own.)
PARAMETER_TAGS = {0: "AttachmentName", 1: "CollectionId", 3: "ItemId", 4: "LongId",
                  6: "Occurrence"}
PARAMETERS = {name: tag for tag, name in PARAMETER_TAGS.items()}
_OPTIONS_TAG, _USER_TAG = 7, 8
_SAVE_IN_SENT, _ACCEPT_MULTIPART = 0x01, 0x02

#: Versions a client may name (MS-ASHTTP 2.2.1.1.2.6), as the header spells them.
VERSIONS = ("2.5", "12.0", "12.1", "14.0", "14.1", "16.0", "16.1")

#: Longest query taken: the longest legal one is far below this.
MAX_QUERY = 4096

# Device ids and types are "alphanumeric" in the specification; phones also use '-',
# '_' and '.', and some send up to 64 characters.
_DEVICE_TEXT = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")


class QueryError(ValueError):
    """The request line is not a valid EAS request (HTTP 400 and a log line)."""


@attrs.frozen
class EASRequest:
    """What an EAS request line says.

    Attributes:
        command: the command name (``"Sync"``, ``"FolderSync"``, ...).
        device_id, device_type: as the phone names itself.
        user: the User parameter (may differ in case or form from the login).
        version: the protocol version (``"14.1"``), None if the client gave none.
        policy_key: the X-MS-PolicyKey (None when absent; 0 means "none yet").
        locale: the base64 form's locale (a Windows LCID), else None.
        params: the command parameters (CollectionId, ItemId, LongId, Occurrence,
            AttachmentName) the query carried.
        save_in_sent, accept_multipart: the Options flags (or, in plain form, the
            ``SaveInSent=T`` parameter and the ``MS-ASAcceptMultiPart: T`` header).
        encoded: whether the query came base64-encoded.
    """

    command: str
    device_id: str
    device_type: str
    user: Optional[str] = None
    version: Optional[str] = None
    policy_key: Optional[int] = None
    locale: Optional[int] = None
    params: Mapping[str, str] = attrs.field(factory=dict, converter=lambda d: dict(sorted(d.items())))
    save_in_sent: bool = False
    accept_multipart: bool = False
    encoded: bool = False


def _device_text(what: str, value: str) -> str:
    if not _DEVICE_TEXT.match(value):
        raise QueryError(f"bad {what} {value[:80]!r}")
    return value


def _header(headers: Mapping[str, str], name: str) -> Optional[str]:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value.strip()
    return None


def _policy_key(text: Optional[str]) -> Optional[int]:
    if text is None or text == "":
        return None
    if not text.isascii() or not text.isdigit() or int(text) > 0xFFFFFFFF:
        raise QueryError(f"bad policy key {text[:20]!r}")
    return int(text)


def _version(text: Optional[str]) -> Optional[str]:
    if text is None or text == "":
        return None
    if text not in VERSIONS:
        raise QueryError(f"unsupported protocol version {text[:20]!r}")
    return text


def parse_query(query, headers: Mapping[str, str] = {}) -> EASRequest:
    """The request a URI query (bytes or text, after the ``?``) and the request's
    headers describe. ``QueryError`` for anything that is not a valid EAS request."""
    if isinstance(query, bytes):
        try:
            query = query.decode("ascii")
        except UnicodeDecodeError:
            raise QueryError("the query is not ASCII") from None
    if len(query) > MAX_QUERY:
        raise QueryError("the query is too long")
    if "=" in query.rstrip("=") or "&" in query or not query:
        return _parse_plain(query, headers)
    return _parse_encoded(query)


def _parse_plain(query: str, headers: Mapping[str, str]) -> EASRequest:
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True,
                          max_num_fields=32)
    except ValueError as e:
        raise QueryError(f"malformed query: {e}") from None
    fields: dict[str, str] = {}
    for key, value in pairs:
        if key in fields:
            raise QueryError(f"{key} given twice")
        fields[key] = value
    command = fields.pop("Cmd", None)
    if command not in COMMANDS:
        raise QueryError(f"unknown command {str(command)[:40]!r}")
    device_id = _device_text("DeviceId", fields.pop("DeviceId", ""))
    device_type = _device_text("DeviceType", fields.pop("DeviceType", ""))
    user = fields.pop("User", None)
    save = fields.pop("SaveInSent", "F")
    if save not in ("T", "F"):
        raise QueryError("SaveInSent must be T or F")
    # Some clients put the policy key in the query instead of X-MS-PolicyKey.
    policy_text = _header(headers, "X-MS-PolicyKey")
    query_key = fields.pop("PolicyKey", None)
    if policy_text is None:
        policy_text = query_key
    # Parameters MS-ASHTTP does not name are left out, not refused: clients add their
    # own, and the command does not depend on them.
    params = {key: value for key, value in fields.items() if key in PARAMETERS}
    return EASRequest(
        command=command, device_id=device_id, device_type=device_type, user=user or None,
        version=_version(_header(headers, "MS-ASProtocolVersion")),
        policy_key=_policy_key(policy_text),
        params=params, save_in_sent=save == "T",
        accept_multipart=(_header(headers, "MS-ASAcceptMultiPart") or "").upper() == "T",
    )


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.at = 0

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise QueryError("the encoded query is truncated")
        out = self.data[self.at:self.at + n]
        self.at += n
        return out

    def byte(self) -> int:
        return self.take(1)[0]

    def text(self, n: int, what: str) -> str:
        try:
            return self.take(n).decode("utf-8")
        except UnicodeDecodeError:
            raise QueryError(f"{what} is not UTF-8") from None


def _parse_encoded(query: str) -> EASRequest:
    from urllib.parse import unquote

    try:
        raw = base64.b64decode(unquote(query), validate=True)
    except (binascii.Error, ValueError):
        raise QueryError("the query is neither plain nor valid base64") from None
    r = _Reader(raw)
    version_byte = r.byte()
    version = f"{version_byte // 10}.{version_byte % 10}"
    if version not in VERSIONS:
        raise QueryError(f"unsupported protocol version {version}")
    code = r.byte()
    if code not in COMMAND_CODES:
        raise QueryError(f"unknown command code {code}")
    (locale,) = struct.unpack("<H", r.take(2))
    device_id = _device_text("DeviceId", r.text(r.byte(), "DeviceId"))
    key_length = r.byte()
    if key_length not in (0, 4):
        raise QueryError("the policy key field must be 0 or 4 bytes")
    policy_key = struct.unpack("<I", r.take(4))[0] if key_length else None
    device_type = _device_text("DeviceType", r.text(r.byte(), "DeviceType"))
    params: dict[str, str] = {}
    user = None
    options = 0
    seen = set()
    while r.at < len(raw):
        tag, length = r.byte(), r.byte()
        value = r.take(length)
        if tag in seen:
            raise QueryError(f"parameter tag {tag} given twice")
        seen.add(tag)
        if tag == _OPTIONS_TAG:
            if length != 1:
                raise QueryError("the Options parameter is one byte")
            options = value[0]
        elif tag == _USER_TAG:
            user = _decoded(value, "User")
        elif tag in PARAMETER_TAGS:
            params[PARAMETER_TAGS[tag]] = _decoded(value, PARAMETER_TAGS[tag])
        else:
            raise QueryError(f"unknown parameter tag {tag}")
    return EASRequest(
        command=COMMAND_CODES[code], device_id=device_id, device_type=device_type,
        user=user or None, version=version, policy_key=policy_key, locale=locale,
        params=params, save_in_sent=bool(options & _SAVE_IN_SENT),
        accept_multipart=bool(options & _ACCEPT_MULTIPART), encoded=True,
    )


def _decoded(value: bytes, what: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise QueryError(f"{what} is not UTF-8") from None


def encode_query(request: EASRequest) -> str:
    """``request`` as a base64-encoded query (what ``parse_query`` reads back equal, with
    ``encoded`` set). ``QueryError`` for a request the binary form cannot carry."""
    if request.version is None:
        raise QueryError("the encoded form needs a protocol version")
    major, minor = request.version.split(".")
    out = bytearray([int(major) * 10 + int(minor), COMMANDS[request.command]])
    out += struct.pack("<H", request.locale or 0)
    device_id = request.device_id.encode()
    out += bytes([len(device_id)]) + device_id
    if request.policy_key is None:
        out.append(0)
    else:
        out += b"\x04" + struct.pack("<I", request.policy_key)
    device_type = request.device_type.encode()
    out += bytes([len(device_type)]) + device_type

    def param(tag: int, value: bytes) -> None:
        if len(value) > 255:
            raise QueryError("a parameter longer than 255 bytes")
        out.extend(bytes([tag, len(value)]) + value)

    for name, value in request.params.items():
        param(PARAMETERS[name], value.encode())
    if request.user is not None:
        param(_USER_TAG, request.user.encode())
    options = (_SAVE_IN_SENT if request.save_in_sent else 0) | (
        _ACCEPT_MULTIPART if request.accept_multipart else 0)
    if options:
        param(_OPTIONS_TAG, bytes([options]))
    return base64.b64encode(bytes(out)).decode("ascii")


def plain_query(request: EASRequest) -> tuple[str, dict]:
    """``request`` as a plain text query and the headers that go with it."""
    fields = [("Cmd", request.command), ("User", request.user or ""),
              ("DeviceId", request.device_id), ("DeviceType", request.device_type)]
    fields += sorted(request.params.items())
    if request.save_in_sent:
        fields.append(("SaveInSent", "T"))
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in fields)
    headers = {}
    if request.version is not None:
        headers["MS-ASProtocolVersion"] = request.version
    if request.policy_key is not None:
        headers["X-MS-PolicyKey"] = str(request.policy_key)
    if request.accept_multipart:
        headers["MS-ASAcceptMultiPart"] = "T"
    return query, headers
