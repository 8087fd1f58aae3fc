"""exchangelib and contacts: a card stored as a CardDAV client stores it is found and
read, created, updated (what EWS has no field for survives) and deleted, and synced."""

from __future__ import annotations

import pytest_twisted

from smsync.testing.servers import in_thread
from tests.protocols.ews.ews_support import account

CARD = (b"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:carol-1\r\nFN:Carol Jones\r\nN:Jones;Carol;;;\r\n"
        b"ORG:Example Corp;Sales\r\nTITLE:Buyer\r\nEMAIL;TYPE=INTERNET,WORK:carol@example.com\r\n"
        b"EMAIL;TYPE=INTERNET:cj@home.example\r\nTEL;TYPE=CELL:+1 555 0100\r\n"
        b"TEL;TYPE=WORK:+1 555 0101\r\nBDAY:1980-02-03\r\nX-ABLabel:keep me\r\n"
        b"GEO:37.386013;-122.082932\r\nNOTE:Met at the fair\\, 2019\r\nEND:VCARD\r\n")


async def address_book(server):
    collections = await server.collections()
    return await collections.collection("contacts")


@pytest_twisted.ensureDeferred
async def test_contacts_found_read_changed_and_deleted(server):
    book = await address_book(server)
    await book.put("carol-1.vcf", CARD)

    def read_and_update():
        acc = account(server)
        [carol] = list(acc.contacts.all())
        seen = (carol.display_name, carol.given_name, carol.surname, carol.company_name,
                carol.department, carol.job_title, sorted(e.email for e in carol.email_addresses),
                sorted((p.label, p.phone_number) for p in carol.phone_numbers), str(carol.birthday),
                carol.body)
        carol.job_title = "Head buyer"
        carol.save(update_fields=["job_title"])
        return seen

    seen = await in_thread(read_and_update)
    assert seen == ("Carol Jones", "Carol", "Jones", "Example Corp", "Sales", "Buyer",
                    ["carol@example.com", "cj@home.example"],
                    [("BusinessPhone", "+1 555 0101"), ("MobilePhone", "+1 555 0100")], "1980-02-03",
                    "Met at the fair, 2019")
    [item] = await book.get(["carol-1.vcf"])
    assert b"TITLE:Head buyer" in item.content
    # What EWS has no field for is still there.
    # (Property names are case-insensitive: the card is written in upper case.)
    for kept in (b"X-ABLABEL:keep me", b"GEO:37.386013;-122.082932", b"UID:carol-1"):
        assert kept in item.content

    def create_sync_delete():
        from exchangelib import Contact
        from exchangelib.indexed_properties import EmailAddress, PhoneNumber

        acc = account(server)
        _, state = [*acc.contacts.sync_items()], acc.contacts.item_sync_state
        dave = Contact(account=acc, folder=acc.contacts, display_name="Dave Smith", given_name="Dave",
                       surname="Smith",
                       email_addresses=[EmailAddress(email="dave@example.net")],
                       phone_numbers=[PhoneNumber(label="HomePhone", phone_number="555 0199")])
        dave.save()
        changes = [(kind, getattr(i, "display_name", None)) for kind, i in acc.contacts.sync_items(sync_state=state)]
        state = acc.contacts.item_sync_state
        [carol] = [c for c in acc.contacts.all() if c.surname == "Jones"]
        carol.delete()
        gone = [kind for kind, _ in acc.contacts.sync_items(sync_state=state)]
        return changes, gone

    changes, gone = await in_thread(create_sync_delete)
    assert changes == [("create", "Dave Smith")] and gone == ["delete"]
    items = await book.items()
    assert len(items) == 1
    [dave] = await book.get([items[0].name])
    assert b"FN:Dave Smith" in dave.content and b"dave@example.net" in dave.content
