"""Transfer encodings: quoted-printable decoding round-trips what an encoder wrote (with
the padding transports add), and NUL-bearing parts come back whole from base64."""

import binascii

from hypothesis import given
from hypothesis import strategies as st

from smsync.formats.message import parse_message
from smsync.formats.transfer import decode_quoted_printable, encode_nul_parts


@given(st.lists(st.binary(max_size=120).filter(lambda b: b"\r" not in b and b"\n" not in b), max_size=8),
       st.sampled_from([b"", b" ", b"\t ", b"  \t"]))
def test_quoted_printable_round_trip_with_transport_padding(lines, padding):
    encoded = b"\r\n".join(binascii.b2a_qp(line) for line in lines)
    # A transport padding every encoded line (soft breaks included) changes nothing.
    padded = b"\r\n".join(line + padding for line in encoded.split(b"\r\n"))
    assert decode_quoted_printable(padded) == b"\r\n".join(lines)


@given(st.binary(min_size=1, max_size=3000).map(lambda b: b + b"\x00"))
def test_nul_parts_are_base64_and_decode_to_the_original(content):
    message = (b"From: a@x\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n"
               b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
               + content + b"\r\n--zz--\r\n")
    if b"\r\n--zz" in content:
        return
    stored = encode_nul_parts(message)
    assert b"\x00" not in stored
    part = parse_message(stored).part((1,))
    assert part.encoding.lower() == "base64"
    assert binascii.a2b_base64(stored[part.header_end : part.body_end]) == content
