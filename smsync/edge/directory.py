"""The people a client can look up, for every protocol (EAS Search GAL and
ResolveRecipients, EWS ResolveNames and ExpandDL): the server's accounts (its Global
Address List) and the contacts of the account's own address books, with their contact
groups (vCard ``KIND:group`` cards listing ``MEMBER``s) as its distribution lists."""

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
    #: For a contact: its card's UID, the address book's collection id and the card's
    #: item name there (how a client names the contact item).
    uid: str = ""
    source: str = ""
    name: str = ""

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


def _cards(data: bytes) -> list:
    try:
        return [c for c in parse_components(data) if c.name == "VCARD"]
    except InvalidData:
        return []


def _kind(card) -> str:
    kind = card.value("KIND") or card.value("X-ADDRESSBOOKSERVER-KIND") or ""
    return kind.strip().lower()


def contacts_of_card(data: bytes, source: str = "", name: str = "") -> list[Person]:
    """One ``Person`` per EMAIL of a vCard (none for a card without one, or one that
    does not parse), naming the card as item ``name`` of address book ``source``."""
    out = []
    for card in _cards(data):
        last, first = "", ""
        n = card.value("N")
        if n:
            parts = [unescape_text(p).strip() for p in n.split(";")]
            last, first = (parts + ["", ""])[:2]
        shown = _text(card, "FN") or " ".join(p for p in (first, last) if p)
        org = card.value("ORG")
        company = unescape_text(org.split(";")[0]).strip() if org else ""
        for prop in card.get_all("EMAIL"):
            email = unescape_text(prop.value).strip()
            if email.lower().startswith("mailto:"):
                email = email[7:]
            if "@" not in email:
                continue
            out.append(Person(CONTACT, shown or email, email, first_name=first, last_name=last,
                              phone=_text(card, "TEL"), company=company,
                              title=_text(card, "TITLE"), uid=_text(card, "UID"),
                              source=source, name=name))
    return out


@attrs.frozen
class Group:
    """A contact group of an address book (a vCard 4 ``KIND:group``, or Apple's
    ``X-ADDRESSBOOKSERVER-KIND:group``): its name, where it is, and its ``MEMBER``
    values as written (``urn:uuid:...`` naming a card's UID, or ``mailto:``)."""

    display_name: str
    uid: str
    source: str
    name: str
    members: tuple = ()

    def matches(self, text: str) -> bool:
        return bool(text) and any(w.casefold().startswith(text)
                                  for w in (self.display_name, *self.display_name.split()) if w)


def groups_of_card(data: bytes, source: str = "", name: str = "") -> list[Group]:
    """The contact groups a vCard holds."""
    out = []
    for card in _cards(data):
        if _kind(card) != "group":
            continue
        members = [unescape_text(p.value).strip()
                   for p in (*card.get_all("MEMBER"), *card.get_all("X-ADDRESSBOOKSERVER-MEMBER"))]
        out.append(Group(_text(card, "FN") or _text(card, "N").replace(";", " ").strip(),
                         _text(card, "UID"), source, name, tuple(m for m in members if m)))
    return out


@attrs.frozen
class AddressBook:
    """What an account's address books hold for look-ups: its contacts with an
    address and its contact groups."""

    people: list = attrs.field(factory=list)
    groups: list = attrs.field(factory=list)

    def members(self, group: Group) -> list[Person]:
        """The people of ``group``: cards named by UID (each address of theirs) and
        plain ``mailto:`` members; members that name nothing known are left out."""
        by_uid: dict[str, list[Person]] = {}
        for person in self.people:
            if person.uid:
                by_uid.setdefault(person.uid.casefold(), []).append(person)
        out = []
        for member in group.members:
            lowered = member.casefold()
            if lowered.startswith("mailto:"):
                address = member[7:].strip()
                if "@" in address:
                    out.append(Person(CONTACT, address, address))
                continue
            uid = member[9:] if lowered.startswith("urn:uuid:") else member
            out.extend(by_uid.get(uid.casefold(), []))
        return out


async def address_book(store, account: str) -> AddressBook:
    """Every contact with an address and every contact group in ``account``'s
    address books (read in one pass)."""
    book = AddressBook()
    try:
        collections = await store.collections(account)
    except NotFound:
        return book
    for info in await collections.list_collections(CollectionKind.ADDRESSBOOK):
        try:
            handle = await collections.collection_by_id(info.id)
            items = await handle.items()
            for item in await handle.get([i.name for i in items]):
                book.people.extend(contacts_of_card(item.content, info.id, item.info.name))
                book.groups.extend(groups_of_card(item.content, info.id, item.info.name))
        except NotFound:
            continue  # deleted meanwhile
    return book


async def contacts(store, account: str) -> list[Person]:
    """Every contact with an address in ``account``'s address books."""
    return (await address_book(store, account)).people


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
