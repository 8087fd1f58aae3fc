"""The folder tree as EWS shows it, over the store's mail folders and collections.

EWS has a root holding the message folder root ("Top of Information Store"), which
holds every folder a user sees: the mail folders (by their hierarchy, INBOX's children
under the Inbox) and the calendars, address books, task and note lists. The root, the
message folder root and the Outbox (mail is sent at once here, so it stays empty) are
not in the store: they are virtual, as are the Recoverable Items folders (a soft
delete removes here: they stay empty). Distinguished folder ids name folders by role.
"""

from __future__ import annotations

from typing import Optional

import attrs

from smsync.errors import NotFound
from smsync.model import PROP_DISPLAYNAME, CollectionKind, Role
from smsync.protocols.ews import ids
from smsync.protocols.ews.errors import (
    ACCESS_DENIED,
    FOLDER_NOT_FOUND,
    INVALID_ID_MALFORMED,
    EWSError,
)
from smsync.protocols.ews.soap import t

#: Distinguished mail folder ids -> the role of the store's folder.
MAIL_ROLES = {"inbox": Role.INBOX, "sentitems": Role.SENT, "drafts": Role.DRAFTS,
              "deleteditems": Role.TRASH, "junkemail": Role.JUNK, "archive": Role.ARCHIVE}
ROLE_NAMES = {role: name for name, role in MAIL_ROLES.items()}
#: Distinguished collection ids -> the collection kind (its default, first, collection).
COLLECTION_KINDS = {"calendar": CollectionKind.CALENDAR, "contacts": CollectionKind.ADDRESSBOOK,
                    "tasks": CollectionKind.TASKS, "notes": CollectionKind.NOTES}
KIND_NAMES = {kind: name for name, kind in COLLECTION_KINDS.items()}
#: kind -> (FolderClass, response element)
KIND_CLASSES = {CollectionKind.CALENDAR: ("IPF.Appointment", "CalendarFolder"),
                CollectionKind.ADDRESSBOOK: ("IPF.Contact", "ContactsFolder"),
                CollectionKind.TASKS: ("IPF.Task", "TasksFolder"),
                CollectionKind.NOTES: ("IPF.StickyNote", "Folder")}
_ROLE_DISPLAY = {Role.INBOX: "Inbox", Role.SENT: "Sent Items", Role.DRAFTS: "Drafts",
                 Role.TRASH: "Deleted Items", Role.JUNK: "Junk Email", Role.ARCHIVE: "Archive"}
_VIRTUAL_DISPLAY = {ids.ROOT: "root", ids.MSGFOLDERROOT: "Top of Information Store",
                    ids.OUTBOX: "Outbox", ids.RECOVERABLE_ROOT: "Recoverable Items",
                    ids.RECOVERABLE_DELETIONS: "Deletions"}


@attrs.frozen
class Folder:
    """One folder as EWS shows it."""

    ref: ids.FolderRef
    parent: Optional[ids.FolderRef]
    display_name: str
    folder_class: str
    element: str
    distinguished: Optional[str] = None
    #: The store's name of a mail folder or collection (None for virtual ones).
    name: Optional[str] = None
    kind: Optional[CollectionKind] = None

    @property
    def is_mail(self) -> bool:
        return self.ref.kind == ids.MAIL_FOLDER

    @property
    def id(self) -> str:
        return ids.folder_id(self.ref)


async def all_folders(ctx) -> list[Folder]:
    """Every folder of the account, parents before children."""
    account = ctx.account
    root = ids.FolderRef(account, ids.VIRTUAL, ids.ROOT)
    top = ids.FolderRef(account, ids.VIRTUAL, ids.MSGFOLDERROOT)
    recoverable = ids.FolderRef(account, ids.VIRTUAL, ids.RECOVERABLE_ROOT)
    out = [Folder(root, None, _VIRTUAL_DISPLAY[ids.ROOT], "IPF.Note", "Folder", ids.ROOT),
           Folder(top, root, _VIRTUAL_DISPLAY[ids.MSGFOLDERROOT], "IPF.Note", "Folder",
                  ids.MSGFOLDERROOT),
           Folder(recoverable, root, _VIRTUAL_DISPLAY[ids.RECOVERABLE_ROOT], "IPF.Note", "Folder",
                  ids.RECOVERABLE_ROOT),
           Folder(ids.FolderRef(account, ids.VIRTUAL, ids.RECOVERABLE_DELETIONS), recoverable,
                  _VIRTUAL_DISPLAY[ids.RECOVERABLE_DELETIONS], "IPF.Note", "Folder",
                  ids.RECOVERABLE_DELETIONS)]
    mail = await ctx.store.mail(account)
    entries = await mail.list_mailboxes()
    by_name = {e.name.upper() if e.name.upper() == "INBOX" else e.name: e for e in entries}
    for entry in sorted(entries, key=lambda e: e.name.count("/")):
        parent_name, _, leaf = entry.name.rpartition("/")
        parent = top
        if parent_name:
            key = "INBOX" if parent_name.upper() == "INBOX" else parent_name
            above = by_name.get(key)
            if above is not None:
                parent = ids.FolderRef(account, ids.MAIL_FOLDER, above.id)
        display = _ROLE_DISPLAY.get(entry.role) or leaf
        out.append(Folder(ids.FolderRef(account, ids.MAIL_FOLDER, entry.id), parent, display,
                          "IPF.Note", "Folder", ROLE_NAMES.get(entry.role), entry.name))
    out.append(Folder(ids.FolderRef(account, ids.VIRTUAL, ids.OUTBOX), top,
                      _VIRTUAL_DISPLAY[ids.OUTBOX], "IPF.Note", "Folder", ids.OUTBOX))
    collections = await ctx.store.collections(account)
    seen = set()
    for info in await collections.list_collections():
        if info.kind not in KIND_CLASSES:
            continue  # scheduling mailboxes are CalDAV's own
        distinguished = None
        if info.kind not in seen:
            seen.add(info.kind)
            distinguished = KIND_NAMES[info.kind]
        folder_class, element = KIND_CLASSES[info.kind]
        display = info.properties.get(PROP_DISPLAYNAME) or info.name
        out.append(Folder(ids.FolderRef(account, ids.COLLECTION, info.id), top, display,
                          folder_class, element, distinguished, info.name, info.kind))
    return out


def _check_mailbox(ctx, element) -> None:
    """A DistinguishedFolderId naming another mailbox is refused."""
    address = element.findtext(f"{t('Mailbox')}/{t('EmailAddress')}")
    if address and address.strip().lower() != ctx.account:
        raise EWSError(ACCESS_DENIED, f"{ctx.account} may not open the mailbox of {address.strip()[:100]}")


def parse_folder_ref(ctx, element) -> ids.FolderRef:
    """The folder a ``<t:FolderId>`` or ``<t:DistinguishedFolderId>`` names, checked to
    be the account's own (``EWSError`` otherwise); distinguished ids are kept as
    virtual references by name until ``find`` resolves them."""
    local = element.tag.rpartition("}")[2]
    if local == "DistinguishedFolderId":
        _check_mailbox(ctx, element)
        name = (element.get("Id") or "").lower()
        if name in ids.VIRTUAL_FOLDERS:
            return ids.FolderRef(ctx.account, ids.VIRTUAL, name)
        if name in MAIL_ROLES or name in COLLECTION_KINDS:
            return ids.FolderRef(ctx.account, "D", name)
        raise EWSError(FOLDER_NOT_FOUND, f"no distinguished folder {name[:40]!r} here")
    if local != "FolderId":
        raise EWSError(INVALID_ID_MALFORMED, f"{local[:40]} is not a folder id")
    try:
        ref = ids.parse_folder_id(element.get("Id") or "")
    except ids.MalformedId as e:
        raise EWSError(INVALID_ID_MALFORMED, f"folder id: {e}") from None
    if ref.account != ctx.account:
        raise EWSError(ACCESS_DENIED, "the folder belongs to another account")
    return ref


def find(folders: list[Folder], ref: ids.FolderRef) -> Folder:
    """The folder ``ref`` names among ``folders``; ``EWSError(ErrorFolderNotFound)``."""
    for folder in folders:
        if ref.kind == "D" and folder.distinguished == ref.source:
            return folder
        if folder.ref == ref:
            return folder
    raise EWSError(FOLDER_NOT_FOUND, "no such folder")


async def resolve(ctx, element, folders: Optional[list] = None) -> Folder:
    """The ``Folder`` a FolderId/DistinguishedFolderId element names."""
    ref = parse_folder_ref(ctx, element)
    return find(folders if folders is not None else await all_folders(ctx), ref)


async def mailbox_of(ctx, folder: Folder):
    """The store's ``IMailbox`` of a mail folder (``EWSError`` when it is gone)."""
    mail = await ctx.store.mail(ctx.account)
    try:
        return await mail.mailbox_by_id(folder.ref.source)
    except NotFound:
        raise EWSError(FOLDER_NOT_FOUND, "the folder is gone") from None


async def collection_of(ctx, folder: Folder):
    collections = await ctx.store.collections(ctx.account)
    try:
        return await collections.collection_by_id(folder.ref.source)
    except NotFound:
        raise EWSError(FOLDER_NOT_FOUND, "the folder is gone") from None


def children(folders: list[Folder], parent: Folder, deep: bool) -> list[Folder]:
    """The folders below ``parent``: its children, or with ``deep`` every descendant
    (parents before children)."""
    out, frontier = [], [parent.ref]
    while frontier:
        ref = frontier.pop(0)
        found = [f for f in folders if f.parent == ref]
        out.extend(found)
        if deep:
            frontier.extend(f.ref for f in found)
    return out
