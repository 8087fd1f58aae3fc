"""The people an EAS device can look up: the server's accounts (its Global Address
List, for Search Store GAL, Find and ResolveRecipients) and the contacts of the
account's own CardDAV address books (ResolveRecipients)."""

from __future__ import annotations

from typing import Optional

import attrs

from smsync.errors import InvalidData, NotFound
from smsync.formats.addresses import parse_addresses
from smsync.formats.contentlines import parse_components, unescape_text
from smsync.model import CollectionKind

#: ResolveRecipients Type values (MS-ASCMD 2.2.3.186.5).
GAL, CONTACT = 1, 2


@attrs.frozen
class Person:
    """One entry: where it comes from (``GAL`` or ``CONTACT``), its name and address.

    Attributes:
        kind: ``GAL`` for an account of this server, ``CONTACT`` for an address-book card.
        display_name: the name to show (an account's is its local part: the store keeps
            no names for accounts).
        email: the SMTP address, lower-cased for accounts, as written for contacts.
        alias: an account's local part ("" for contacts).
    """

    kind: int
    display_name: str
    email: str
    alias: str = ""
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    company: str = ""
    title: str = ""

    def matches(self, text: str) -> bool:
        """Whether ``text`` (case-folded, non-empty) starts the address, the alias or a
        word of the name -- how a GAL is searched by a prefix typed on a phone."""
        words = [self.email, self.alias, self.display_name, self.first_name, self.last_name,
                 *self.display_name.split()]
        return any(w.casefold().startswith(text) for w in words if w)


async def gal(store) -> list[Person]:
    """Every account of ``store``, as GAL entries sorted by address."""
    out = []
    for account in await store.accounts.list():
        local = account.partition("@")[0]
        out.append(Person(GAL, local, account, alias=local))
    return out


def _text(card, name: str) -> str:
    value = card.value(name)
    return unescape_text(value).strip() if value else ""


def contacts_of_card(data: bytes) -> list[Person]:
    """One ``Person`` per EMAIL of a vCard (none for a card without one, or one that
    does not parse)."""
    try:
        cards = [c for c in parse_components(data) if c.name == "VCARD"]
    except InvalidData:
        return []
    out = []
    for card in cards:
        last, first = "", ""
        n = card.value("N")
        if n:
            parts = [unescape_text(p).strip() for p in n.split(";")]
            last, first = (parts + ["", ""])[:2]
        name = _text(card, "FN") or " ".join(p for p in (first, last) if p)
        org = card.value("ORG")
        company = unescape_text(org.split(";")[0]).strip() if org else ""
        for prop in card.get_all("EMAIL"):
            email = unescape_text(prop.value).strip()
            if email.lower().startswith("mailto:"):
                email = email[7:]
            if "@" not in email:
                continue
            out.append(Person(CONTACT, name or email, email, first_name=first, last_name=last,
                              phone=_text(card, "TEL"), company=company,
                              title=_text(card, "TITLE")))
    return out


async def contacts(store, account: str) -> list[Person]:
    """Every contact with an address in ``account``'s address books."""
    try:
        collections = await store.collections(account)
    except NotFound:
        return []
    out = []
    for info in await collections.list_collections(CollectionKind.ADDRESSBOOK):
        try:
            book = await collections.collection_by_id(info.id)
            items = await book.items()
            for item in await book.get([i.name for i in items]):
                out.extend(contacts_of_card(item.content))
        except NotFound:
            continue  # deleted meanwhile
    return out


def wanted(text: str) -> tuple[str, Optional[str]]:
    """A ResolveRecipients ``To``: ``(what to match, case-folded; the address it names
    if it is one)``. ``Ann <ann@x.org>`` and ``ann@x.org`` name an address."""
    text = (text or "").strip()
    if "@" in text:
        found = [a.email for a in parse_addresses(text) if a.email]
        if found:
            return found[0].casefold(), found[0].casefold()
    return text.casefold(), None


def resolve(people: list[Person], text: str) -> list[Person]:
    """The entries a ResolveRecipients ``To`` resolves to: those whose address it names
    exactly if any, else those it is a prefix of (``Person.matches``); one entry per
    address, GAL entries before contacts."""
    needle, address = wanted(text)
    if not needle:
        return []
    if address is not None:
        found = [p for p in people if p.email.casefold() == address]
        if found:
            return _unique(found)
    return _unique([p for p in people if p.matches(needle)])


def _unique(people: list[Person]) -> list[Person]:
    seen, out = set(), []
    for person in sorted(people, key=lambda p: (p.kind, p.email.casefold(), p.display_name)):
        key = person.email.casefold()
        if key not in seen:
            seen.add(key)
            out.append(person)
    return out
