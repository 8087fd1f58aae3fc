"""Property tests of CardDAV's filters against a reference evaluation."""

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from smsync.formats.contentlines import parse_components
from smsync.protocols.carddav.filters import matches, parse_filter

CR = "urn:ietf:params:xml:ns:carddav"
names = st.text("abcdeABCDE ", min_size=1, max_size=12).map(str.strip).filter(bool)


def card(fn: str, email: str | None) -> bytes:
    mail = f"EMAIL:{email}\r\n" if email else ""
    return f"BEGIN:VCARD\r\nVERSION:4.0\r\nUID:u\r\nFN:{fn}\r\n{mail}END:VCARD\r\n".encode()


@settings(max_examples=80)
@given(names, st.one_of(st.none(), names), st.text("abcAB", min_size=1, max_size=3),
       st.sampled_from(["equals", "contains", "starts-with", "ends-with"]), st.booleans())
def test_anyof_allof_against_reference(fn, email, needle, match_type, allof):
    body = (f'<CR:filter xmlns:CR="{CR}" test="{"allof" if allof else "anyof"}">'
            f'<CR:prop-filter name="FN"><CR:text-match match-type="{match_type}">{needle}'
            f'</CR:text-match></CR:prop-filter><CR:prop-filter name="EMAIL"><CR:text-match '
            f'match-type="{match_type}">{needle}</CR:text-match></CR:prop-filter></CR:filter>')
    f = parse_filter(etree.fromstring(body))

    def ref(value):
        if value is None:
            return False
        v, n = value.casefold(), needle.casefold()
        return {"equals": v == n, "contains": n in v, "starts-with": v.startswith(n),
                "ends-with": v.endswith(n)}[match_type]

    results = [ref(fn), ref(email)]
    expected = all(results) if allof else any(results)
    assert matches(f, parse_components(card(fn, email))[0]) == expected


def test_empty_filter_matches_everything():
    assert matches(parse_filter(None), parse_components(card("x", None))[0])
