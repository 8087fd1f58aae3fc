"""SASL PLAIN and LOGIN decoding: round trips over any bytes, and every malformed
response refused with a reason."""

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsync.edge import sasl

no_nul = st.binary(max_size=40).filter(lambda b: b"\0" not in b)


@given(no_nul, no_nul.filter(bool), no_nul)
def test_plain_round_trip(authzid, authcid, password):
    decoded = sasl.decode_plain(sasl.encode_plain(authcid, password, authzid))
    assert decoded == sasl.PlainResponse(authzid, authcid, password)


@given(st.binary(max_size=100))
def test_login_step_round_trip(data):
    assert sasl.decode_response(sasl.encode_response(data)) == data


@given(st.binary(max_size=60))
def test_decoding_never_raises_anything_else(line):
    try:
        sasl.decode_plain(line)
    except (sasl.SaslCancelled, sasl.SaslMalformed):
        pass


@pytest.mark.parametrize("line, why", [
    (b"!!!", "not base64"),
    (base64.b64encode(b"a\0b"), "malformed PLAIN response"),
    (base64.b64encode(b"a\0b\0c\0d"), "malformed PLAIN response"),
    (base64.b64encode(b"\0\0pw"), "empty user name"),
])
def test_plain_rejects(line, why):
    with pytest.raises(sasl.SaslMalformed, match=why):
        sasl.decode_plain(line)


def test_star_cancels_and_equals_is_empty():
    with pytest.raises(sasl.SaslCancelled):
        sasl.decode_response(b"*\r\n")
    assert sasl.decode_response(b"=") == b""


@pytest.mark.parametrize("authzid, authcid, other", [
    (b"", b"alice", False), (b"ALICE", b"alice", False), (b"bob", b"alice", True)])
def test_acting_as_another_user(authzid, authcid, other):
    assert sasl.PlainResponse(authzid, authcid, b"pw").acts_as_other is other
