"""exchangelib looking people up (beside test_exchangelib_directory): ResolveNames over the server's accounts and the
account's address book (a contact PUT over CardDAV found at once, full contact data,
ambiguous and unknown names), and ExpandDL of a contact group; raw SOAP for the
search scopes and the errors a client gets."""

from __future__ import annotations

import pytest
import pytest_twisted

from smsync.protocols.ews import soap
from smsync.testing.servers import USER, in_thread, password_hash
from tests.protocols.ews.ews_support import account, call, codes, post, start, stop

BOOK = f"/dav/addressbooks/{USER}/contacts/"

DORA = """BEGIN:VCARD\r
VERSION:3.0\r
UID:dora-1\r
FN:Dora Explorer\r
N:Explorer;Dora;;;\r
ORG:Maps Inc.\r
TITLE:Explorer\r
TEL;TYPE=work:+1 555 0100\r
EMAIL;TYPE=work:dora@maps.example\r
END:VCARD\r
"""

DIEGO = """BEGIN:VCARD\r
VERSION:3.0\r
UID:diego-2\r
FN:Diego Marquez\r
N:Marquez;Diego;;;\r
EMAIL:diego@maps.example\r
END:VCARD\r
"""

TEAM = """BEGIN:VCARD\r
VERSION:4.0\r
UID:team-3\r
KIND:group\r
FN:Expedition Team\r
MEMBER:urn:uuid:dora-1\r
MEMBER:urn:uuid:diego-2\r
MEMBER:mailto:boots@monkey.example\r
END:VCARD\r
"""


@pytest.fixture
def dav_server():
    running = start(("ews", "carddav"))
    yield running
    stop(running)


def put_card(server, name: str, card: str) -> None:
    status, _headers, body = post(server.portno, card.encode(), path=BOOK + name, method="PUT",
                                  headers={"Content-Type": "text/vcard; charset=utf-8"})
    assert status in (201, 204), (status, body[:300])


@pytest_twisted.ensureDeferred
async def test_resolve_names_finds_accounts_and_a_carddav_contact(dav_server):
    await dav_server.store.accounts.add("dorothy@example.org", password_hash())

    def client():
        from exchangelib.errors import ErrorNameResolutionNoResults

        put_card(dav_server, "dora.vcf", DORA)
        acc = account(dav_server)
        assert acc.version.build  # exchangelib settles the version before protocol calls
        # An exact address resolves to that one entry, with the contact's data.
        [(mailbox, contact)] = acc.protocol.resolve_names(["dora@maps.example"],
                                                          return_full_contact_data=True)
        assert mailbox.email_address == "dora@maps.example" and mailbox.mailbox_type == "Contact"
        assert mailbox.item_id is not None
        assert contact.display_name == "Dora Explorer" and contact.given_name == "Dora"
        assert contact.surname == "Explorer" and contact.company_name == "Maps Inc."
        assert contact.job_title == "Explorer"
        # An account of the server.
        [bob] = acc.protocol.resolve_names(["bob@example.org"])
        assert bob.email_address == "bob@example.org" and bob.mailbox_type == "Mailbox"
        # A prefix matching an account and a contact: every candidate comes back.
        found = acc.protocol.resolve_names(["dor"])
        assert sorted(m.email_address for m in found) == ["dora@maps.example", "dorothy@example.org"]
        # Nothing matches.
        [missing] = acc.protocol.resolve_names(["zebediah"])
        assert isinstance(missing, ErrorNameResolutionNoResults)

    await in_thread(client)


def scoped(port: int, scope: str, entry: str) -> soap.Answer:
    from lxml import etree

    body = (f'<m:ResolveNames xmlns:m="{soap.M}" xmlns:t="{soap.T}" SearchScope="{scope}">'
            f'<m:UnresolvedEntry>{entry}</m:UnresolvedEntry></m:ResolveNames>')
    _status, _h, payload = post(port, soap.request_envelope(etree.fromstring(body)))
    return soap.read_response(payload)


@pytest_twisted.ensureDeferred
async def test_resolve_names_codes_and_scopes(dav_server):
    await dav_server.store.accounts.add("dorothy@example.org", password_hash())

    def client():
        put_card(dav_server, "dora.vcf", DORA)
        port = dav_server.portno
        answer = call(port, "ResolveNames", "<m:UnresolvedEntry>dor</m:UnresolvedEntry>"
                      "<m:UnresolvedEntry>SMTP:bob@example.org</m:UnresolvedEntry>"
                      "<m:UnresolvedEntry>nobody-here</m:UnresolvedEntry>")
        assert codes(answer) == ["ErrorNameResolutionMultipleResults", "NoError",
                                 "ErrorNameResolutionNoResults"]
        first = soap.messages_of(answer.payload)[0]
        assert first.get("ResponseClass") == "Warning"
        assert len(first.findall(f"{soap.m('ResolutionSet')}/{soap.t('Resolution')}")) == 2
        # The directory alone, the contacts alone.
        for scope, expected in (("ActiveDirectory", "dorothy@example.org"),
                                ("Contacts", "dora@maps.example")):
            answer = scoped(port, scope, "dor")
            assert answer.payload is not None and codes(answer) == ["NoError"]
            assert answer.payload.findtext(f".//{soap.t('EmailAddress')}") == expected
        # No entry at all is a schema error; a scope that is none too.
        assert call(port, "ResolveNames", "").response_code == "ErrorSchemaValidation"
        assert scoped(port, "Everywhere", "dor").response_code == "ErrorSchemaValidation"

    await in_thread(client)


@pytest_twisted.ensureDeferred
async def test_expand_dl_of_a_contact_group(dav_server):
    def client():
        from exchangelib.errors import ErrorNameResolutionNoResults
        from exchangelib.properties import DLMailbox, ItemId

        for name, card in (("dora.vcf", DORA), ("diego.vcf", DIEGO), ("team.vcf", TEAM)):
            put_card(dav_server, name, card)
        acc = account(dav_server)
        assert acc.version.build  # exchangelib settles the version before protocol calls
        members = acc.protocol.expand_dl("Expedition Team")
        assert sorted(m.email_address for m in members) == [
            "boots@monkey.example", "diego@maps.example", "dora@maps.example"]
        # ResolveNames finds the group as a private list, whose ItemId expands it too.
        found = acc.protocol.resolve_names(["Expedition"])
        [group] = [m for m in found if m.mailbox_type == "PrivateDL"]
        again = acc.protocol.expand_dl(DLMailbox(name=group.name, mailbox_type="PrivateDL",
                                                 item_id=ItemId(id=group.item_id.id)))
        assert len(again) == 3
        try:
            acc.protocol.expand_dl("no such list")
        except ErrorNameResolutionNoResults:
            pass
        else:
            raise AssertionError("an unknown list expanded")
        # Garbage and another account's ids.
        answer = call(dav_server.portno, "ExpandDL",
                      '<m:Mailbox><t:ItemId Id="bm90IGFuIGlk"/></m:Mailbox>')
        assert codes(answer) == ["ErrorInvalidIdMalformed"]

    await in_thread(client)
