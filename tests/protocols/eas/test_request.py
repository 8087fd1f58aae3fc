"""The EAS request line (MS-ASHTTP): plain and base64-encoded queries, each encoder the
parser's inverse, and nothing but ``QueryError`` for bad input."""

from __future__ import annotations

import base64
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsync.protocols.eas.request import (
    COMMANDS,
    PARAMETERS,
    VERSIONS,
    EASRequest,
    QueryError,
    encode_query,
    parse_query,
    plain_query,
)

device_text = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
                      min_size=1, max_size=64)
param_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60)

requests = st.builds(
    EASRequest,
    command=st.sampled_from(sorted(COMMANDS)),
    device_id=device_text,
    device_type=device_text,
    user=st.none() | st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60),
    version=st.sampled_from(VERSIONS),
    policy_key=st.none() | st.integers(0, 2**32 - 1),
    params=st.dictionaries(st.sampled_from(sorted(PARAMETERS)), param_text, max_size=3),
    save_in_sent=st.booleans(),
    accept_multipart=st.booleans(),
)


@given(requests, st.integers(0, 0xFFFF))
def test_encoded_round_trip(request, locale):
    request = EASRequest(**{**_fields(request), "locale": locale, "encoded": True})
    assert parse_query(encode_query(request)) == request


@given(requests)
def test_plain_round_trip(request):
    query, headers = plain_query(request)
    assert parse_query(query, headers) == request


def _fields(request):
    import attrs

    return attrs.asdict(request, recurse=False)


def test_a_plain_request_as_phones_send_it():
    got = parse_query(b"Cmd=Sync&User=alice%40example.org&DeviceId=ApplF17XKWDB&DeviceType=iPhone",
                      {"MS-ASProtocolVersion": "14.1", "X-MS-PolicyKey": "3942919513",
                       "User-Agent": "Apple-iPhone/1"})
    assert got == EASRequest(command="Sync", device_id="ApplF17XKWDB", device_type="iPhone",
                             user="alice@example.org", version="14.1", policy_key=3942919513)


def test_unknown_parameters_are_left_out_and_a_query_policy_key_is_taken():
    got = parse_query("Cmd=Provision&DeviceId=a&DeviceType=b&PolicyKey=42&Extra=1",
                      {"MS-ASProtocolVersion": "16.1"})
    assert got.policy_key == 42 and got.params == {}
    header_wins = parse_query("Cmd=Provision&DeviceId=a&DeviceType=b&PolicyKey=42",
                              {"MS-ASProtocolVersion": "16.1", "X-MS-PolicyKey": "7"})
    assert header_wins.policy_key == 7


def test_an_encoded_request_built_by_hand():
    raw = (bytes([141, 9]) + struct.pack("<H", 0x0409) + bytes([10]) + b"v140Device"
           + b"\x04" + struct.pack("<I", 1234) + bytes([10]) + b"SmartPhone"
           + bytes([8, 5]) + b"alice" + bytes([7, 1, 0x01]))
    got = parse_query(base64.b64encode(raw))
    assert got == EASRequest(command="FolderSync", device_id="v140Device", device_type="SmartPhone",
                             user="alice", version="14.1", policy_key=1234, locale=0x0409,
                             save_in_sent=True, encoded=True)


@pytest.mark.parametrize("query, headers", [
    ("", {}),
    ("Cmd=Nope&DeviceId=a&DeviceType=b", {}),
    ("Cmd=Sync&DeviceType=b", {}),
    ("Cmd=Sync&DeviceId=a b&DeviceType=b", {}),
    ("Cmd=Sync&DeviceId=a&DeviceType=b&Cmd=Ping", {}),
    ("Cmd=Sync&DeviceId=a&DeviceType=b", {"MS-ASProtocolVersion": "99.9"}),
    ("Cmd=Sync&DeviceId=a&DeviceType=b", {"X-MS-PolicyKey": "-1"}),
    ("Cmd=Sync&DeviceId=a&DeviceType=b&SaveInSent=yes", {}),
    ("!!!notbase64", {}),
    (base64.b64encode(bytes([141, 99, 0, 0])).decode(), {}),
    (base64.b64encode(bytes([33, 0, 0, 0])).decode(), {}),
    (base64.b64encode(bytes([141, 0, 0, 0, 5]) + b"ab").decode(), {}),
    ("x" * 5000, {}),
])
def test_bad_requests_are_query_errors(query, headers):
    with pytest.raises(QueryError):
        parse_query(query, headers)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_garbage_base64_is_only_ever_a_query_error(raw):
    try:
        parse_query(base64.b64encode(raw))
    except QueryError:
        pass


@settings(max_examples=300)
@given(st.text(max_size=300))
def test_garbage_text_is_only_ever_a_query_error(text):
    try:
        parse_query(text, {"MS-ASProtocolVersion": "14.1"})
    except QueryError:
        pass


@given(requests, st.integers(0, 200), st.integers(0, 255))
def test_mutated_encoded_queries_are_parsed_or_refused(request, at, value):
    raw = bytearray(base64.b64decode(encode_query(request)))
    raw[at % len(raw)] = value
    try:
        parse_query(base64.b64encode(bytes(raw)))
    except QueryError:
        pass
