"""The pure parts of the Lists service: change tokens (a cut, edited or made-up token is
not ours), paging positions, list GUIDs, and the SOAP codec's faults."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from smsync.protocols.lists import ids, soap, tokens

LIST = uuid.UUID("6f9a2c1e-0b7d-4c55-9a31-2f4e8d7b6a10")


@given(st.integers(0, 10**15), st.text("0123456789abcdef", min_size=1, max_size=32))
def test_a_token_reads_back_and_any_edit_of_it_is_refused(revision, generation):
    token = tokens.make_token(LIST, revision, generation)
    assert tokens.read_token(token) == tokens.Token(LIST, revision, generation)
    for i in range(len(token)):
        for ch in "0a;":
            edited = token[:i] + ch + token[i + 1:]
            if edited != token:
                assert tokens.read_token(edited) is None, edited
    assert tokens.read_token(token[:-1]) is None and tokens.read_token(token + "0") is None


def test_what_is_not_a_token_is_none():
    for text in (None, "", "1;3;{guid};123", "garbage", "1;" + "0" * 32 + ";5;ab;" + "0" * 16):
        assert tokens.read_token(text) is None


def test_positions():
    assert tokens.read_position(tokens.make_position(40, 7)) == tokens.Position(40, 7)
    # SharePoint's own form (no revision) is read too; anything else is the first page.
    assert tokens.read_position("Paged=TRUE&p_ID=12") == tokens.Position(12, -1)
    for text in (None, "", "Paged=TRUE&p_ID=-1", "Paged=TRUE&p_ID=1&rev=x", "p_ID=3"):
        assert tokens.read_position(text) is None


def test_list_guids_are_stable_and_per_account():
    a = ids.list_guid("alice@example.org", "c1")
    assert a == ids.list_guid("Alice@Example.org", "c1")
    assert a != ids.list_guid("bob@example.org", "c1") and a != ids.list_guid("alice@example.org", "c2")
    braced = ids.braced(a)
    assert braced.startswith("{") and braced.endswith("}") and braced[1:-1] == str(a).upper()
    assert ids.parse_guid(braced) == ids.parse_guid(str(a)) == ids.parse_guid(braced.lower()) == a
    for text in (None, "", "{nope}", "Calendar", braced[:-2] + "}"):
        assert ids.parse_guid(text) is None


def test_faults_carry_the_services_error_code_in_both_soap_versions():
    fault = soap.ListsFault("List does not exist.", soap.LIST_NOT_FOUND)
    for version, code in ((soap.VERSION_11, "soap:Server"), (soap.VERSION_12, "soap:Receiver")):
        answer = soap.read_response(soap.fault_envelope(fault, version))
        assert (answer.fault_code, answer.error_code, answer.error_string) == (
            code, "0x82000006", "List does not exist.")
    answer = soap.read_response(soap.fault_envelope(soap.ListsFault("bad\x00 xml", client=True)))
    assert (answer.fault_code, answer.error_code, answer.error_string) == ("soap:Client", None, "bad xml")
