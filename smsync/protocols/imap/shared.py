"""Shared folders: the folders a session's commands see, its own and those other
accounts of its domain share with it (IMAP ACL, RFC 4314; NAMESPACE, RFC 2342).

With a store that keeps access control lists (``IFolderSharing``), a session's ``mail``
is a ``MailView`` over the account's own ``IMailStore``. Own folders keep their names;
a folder ``alice@example.org`` shares is ``Shared/alice@example.org/<its name>``, in
the "Other Users' Namespace" NAMESPACE announces as ``(("Shared/" "/"))`` -- the layout
Dovecot's ``shared/%u/`` namespace gives, with its prefix capitalised. No new personal
folder can be made under ``Shared`` then; one made before keeps its name and contents.

Everything done in a shared folder goes through the owner's ``IMailStore``
(``store.mail(owner)``), checked against the rights the folder's access control list
gives this account (``rights.effective``); the owner has every right on their own
folders. A missing right is ``PermissionDenied`` (``NO [NOPERM]``), or ``NotFound``
when the account may not even see the folder ("l" or "r"), so nothing reveals a folder
it may not list (RFC 4314 6). A session opening a shared folder also listens to the
owner's change notices (``watch``), so IDLE reports others' changes there too.
"""

from __future__ import annotations

from typing import Callable, Optional

import attrs
from zope.interface import implementer

from smsync._async import deferred
from smsync.errors import Conflict, NotFound, PermissionDenied
from smsync.interfaces import IAccountSettings, IAnnotations, IFolderSharing, IMailStore, MAX_SETTING
from smsync.model import MAILBOX_SEPARATOR, MailboxEntry, UIDSet
from smsync.protocols.imap import rights as acl
from smsync.protocols.imap.sharedbox import PersonalMailbox, SharedMailbox, copy_across, denied

__all__ = ["Access", "MailView", "PersonalMailbox", "SharedMailbox", "access", "annotations_of",
           "capabilities", "denied", "namespace_response", "personal", "rights_of", "sharing_of",
           "view_of"]

#: The shared namespace's first level; ``Shared/<owner>/<folder>``.
PREFIX = "Shared"
#: Where a session keeps which shared folders it subscribed to (``IAccountSettings``).
SUBSCRIPTIONS_KEY = "imap:shared-subscriptions"


def sharing_of(store) -> Optional[IFolderSharing]:
    sharing = getattr(store, "sharing", None)
    return sharing if IFolderSharing.providedBy(sharing) else None


def annotations_of(store) -> Optional[IAnnotations]:
    annotations = getattr(store, "annotations", None)
    return annotations if IAnnotations.providedBy(annotations) else None


def capabilities(store) -> list[str]:
    """What the store's abilities add to CAPABILITY once logged in."""
    caps = []
    if sharing_of(store) is not None:
        caps += ["ACL", "RIGHTS=" + acl.NEW_RIGHTS, "LIST-MYRIGHTS"]
    if annotations_of(store) is not None:
        caps += ["METADATA", "METADATA-SERVER"]
    return caps


def namespace_response(store) -> bytes:
    """The NAMESPACE answer (RFC 2342 5): one personal namespace, and the other users'
    one when folders can be shared."""
    others = b'(("%s/" "/"))' % PREFIX.encode() if sharing_of(store) is not None else b"NIL"
    return b'NAMESPACE (("" "/")) ' + others + b" NIL"


def view_of(store, account: str, mail, watch: Callable[[str], None]):
    """What a session of ``account`` uses as its ``mail``: a ``MailView`` when the store
    shares folders, else the account's own ``mail`` as it is. ``watch(owner)`` is called
    when a shared folder of ``owner`` is opened."""
    sharing = sharing_of(store)
    if sharing is None:
        return mail
    return MailView(store, account, mail, sharing, watch)


def personal(mail):
    """The account's own ``IMailStore`` behind a session's ``mail``."""
    return mail.personal if isinstance(mail, MailView) else mail


async def access(mail, name: str) -> "Access":
    """Whose folder ``name`` is and what the session whose ``mail`` this is may do
    there; ``NotFound`` when it may do nothing."""
    if isinstance(mail, MailView):
        return await mail.access(name)
    box = await mail.mailbox(name)
    return Access(name, mail.account, name, box.id, acl.ALL, False)


def rights_of(mailbox) -> str:
    """The rights the session has on a mailbox its ``mail`` gave (all on its own)."""
    return mailbox.rights if isinstance(mailbox, SharedMailbox) else acl.ALL


@attrs.frozen
class Access:
    """A folder as a command names it: ``name`` as the client spells it, its ``owner``
    and the ``owner_name`` and ``folder_id`` it has in the owner's store, and the
    ``rights`` this session has on it. ``shared``: it is someone else's folder."""

    name: str
    owner: str
    owner_name: str
    folder_id: str
    rights: str
    shared: bool


def _canonical_inbox(name: str) -> str:
    if name.upper() == "INBOX" or name.upper().startswith("INBOX/"):
        return "INBOX" + name[5:]
    return name


def _parents(name: str) -> list[str]:
    parts = name.split(MAILBOX_SEPARATOR)
    return [MAILBOX_SEPARATOR.join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]


@implementer(IMailStore)
class MailView:
    """An account's own folders and those shared with it, as one ``IMailStore``."""

    def __init__(self, store, account: str, mail, sharing: IFolderSharing, watch):
        self.account = account
        #: The account's own ``IMailStore``.
        self.personal = mail
        self.sharing = sharing
        self._store = store
        self._watch = watch
        self._domain = account.rpartition("@")[2]
        self._owners: dict[str, object] = {}

    # -- names -------------------------------------------------------------------------

    @staticmethod
    def split(name: str) -> Optional[tuple[str, str]]:
        """``(owner, folder name in the owner's store)`` of a name in the shared
        namespace (either may be empty), None for a name of one's own."""
        if name != PREFIX and not name.startswith(PREFIX + MAILBOX_SEPARATOR):
            return None
        owner, _, folder = name[len(PREFIX) + 1:].partition(MAILBOX_SEPARATOR)
        return owner.lower(), _canonical_inbox(folder)

    async def _split(self, name: str) -> Optional[tuple[str, str]]:
        """``split``, except that a folder of one's own made before folders were shared
        (a personal ``Shared``, say) keeps its name."""
        parts = self.split(name)
        if parts is not None:
            try:
                await self.personal.mailbox(name)
            except NotFound:
                return parts
        return None

    @staticmethod
    def shared_name(owner: str, folder: str) -> str:
        return MAILBOX_SEPARATOR.join((PREFIX, owner, folder))

    async def _owner_mail(self, owner: str):
        if "@" not in owner or owner == self.account or owner.rpartition("@")[2] != self._domain:
            raise NotFound(f"no shared folders of {owner!r}")
        mail = self._owners.get(owner)
        if mail is None:
            mail = await self._store.mail(owner)
            self._owners[owner] = mail
        return mail

    async def _rights(self, owner: str, folder_id: str) -> str:
        return acl.effective(await self.sharing.get(owner, folder_id), self.account)

    async def _shared(self, name: str):
        """The ``Access`` and the owner's ``IMailbox`` of shared folder ``name``."""
        owner, folder = self.split(name)
        if not folder:
            raise NotFound(f"no folder {name!r}")
        mail = await self._owner_mail(owner)
        box = await mail.mailbox(folder)
        rights = await self._rights(owner, box.id)
        if not rights:
            raise NotFound(f"no folder {name!r}")
        return Access(name, owner, folder, box.id, rights, True), box

    async def access(self, name: str) -> Access:
        """Whose folder ``name`` is and what this session may do there (``NotFound``
        when it may do nothing)."""
        if await self._split(name) is not None:
            return (await self._shared(name))[0]
        box = await self.personal.mailbox(name)
        return Access(name, self.account, name, box.id, acl.ALL, False)

    async def _resolve(self, name: str):
        """``(Access, the store's own IMailbox)`` of any folder name."""
        if await self._split(name) is not None:
            return await self._shared(name)
        box = await self.personal.mailbox(name)
        return Access(name, self.account, name, box.id, acl.ALL, False), box

    async def _nearest_parent(self, mail, folder: str):
        for parent in _parents(folder):
            try:
                return await mail.mailbox(parent)
            except NotFound:
                continue
        return None

    async def _inherit(self, owner: str, parent_id: str, folder_id: str) -> None:
        # RFC 4314 4: "When a new mailbox is created, it SHOULD inherit the ACL from the
        # parent mailbox (if one exists)".
        for identifier, rights in (await self.sharing.get(owner, parent_id)).items():
            await self.sharing.set(owner, folder_id, identifier, rights)

    # -- IMailStore ----------------------------------------------------------------------

    @deferred
    async def list_mailboxes(self):
        own = await self.personal.list_mailboxes()
        return sorted(own + await self._shared_entries(), key=lambda e: e.name)

    async def _shared_entries(self) -> list[MailboxEntry]:
        grants = await self.sharing.granted(self.account) + await self.sharing.granted(acl.ANYONE)
        by_owner: dict[str, set[str]] = {}
        for grant in grants:
            owner = grant.owner
            if owner != self.account and owner.rpartition("@")[2] == self._domain:
                by_owner.setdefault(owner, set()).add(grant.folder_id)
        if not by_owner:
            return []
        subscribed = set(await self._subscriptions())
        out = []
        for owner, ids in sorted(by_owner.items()):
            try:
                entries = await (await self._owner_mail(owner)).list_mailboxes()
            except NotFound:
                continue
            for entry in entries:
                if entry.id in ids and "l" in await self._rights(owner, entry.id):
                    name = self.shared_name(owner, entry.name)
                    out.append(MailboxEntry(entry.id, name, None, name in subscribed))
        return out

    @deferred
    async def mailbox(self, name):
        if await self._split(name) is None:
            return PersonalMailbox(await self.personal.mailbox(name), self)
        access, box = await self._shared(name)
        self._watch(access.owner)
        return SharedMailbox(box, access, self)

    @deferred
    async def mailbox_by_id(self, folder_id):
        return PersonalMailbox(await self.personal.mailbox_by_id(folder_id), self)

    @deferred
    async def mailbox_by_role(self, role):
        return PersonalMailbox(await self.personal.mailbox_by_role(role), self)

    @deferred
    async def create_mailbox(self, name, role=None):
        parts = self.split(name)
        if parts is None:
            parent = await self._nearest_parent(self.personal, name)
            entry = await self.personal.create_mailbox(name, role)
            if parent is not None:
                await self._inherit(self.account, parent.id, entry.id)
            return entry
        owner, folder = parts
        if not folder or not owner or role is not None:
            raise Conflict(f"{PREFIX} holds other users' folders; no folder of one's own goes there")
        mail = await self._owner_mail(owner)
        # RFC 4314 4: CREATE takes "k" on the nearest existing parent.
        parent = await self._nearest_parent(mail, folder)
        have = await self._rights(owner, parent.id) if parent is not None else ""
        if "k" not in have:
            raise denied(have, "k", name)
        entry = await mail.create_mailbox(folder)
        await self._inherit(owner, parent.id, entry.id)
        return MailboxEntry(entry.id, name, None, False)

    @deferred
    async def rename_mailbox(self, old, new):
        old_parts, new_parts = await self._split(old), self.split(new)
        if old_parts is None and new_parts is None:
            return await self.personal.rename_mailbox(old, new)
        if old_parts is None or new_parts is None or old_parts[0] != new_parts[0]:
            raise Conflict("a folder cannot move between accounts")
        access, _ = await self._shared(old)
        if "x" not in access.rights:
            raise denied(access.rights, "x", old)
        owner, folder = new_parts
        if not folder:
            raise Conflict(f"cannot rename to {new!r}")
        mail = await self._owner_mail(owner)
        # RFC 4314 4: RENAME takes "x" on the folder and "k" on the new parent.
        parent = await self._nearest_parent(mail, folder)
        have = await self._rights(owner, parent.id) if parent is not None else ""
        if "k" not in have:
            raise denied(have, "k", new)
        await mail.rename_mailbox(access.owner_name, folder)

    @deferred
    async def delete_mailbox(self, name):
        if await self._split(name) is None:
            return await self.personal.delete_mailbox(name)
        access, _ = await self._shared(name)
        if "x" not in access.rights:
            raise denied(access.rights, "x", name)
        await (await self._owner_mail(access.owner)).delete_mailbox(access.owner_name)

    @deferred
    async def subscribe(self, name, subscribed=True):
        if await self._split(name) is None:
            return await self.personal.subscribe(name, subscribed)
        names = await self._subscriptions()
        if subscribed:
            # RFC 4314 4: SUBSCRIBE takes "l" where the server checks the folder exists.
            access = await self.access(name)
            if "l" not in access.rights:
                raise NotFound(f"no folder {name!r}")
            if name not in names:
                await self._save_subscriptions(names + [name])
        elif name in names:
            await self._save_subscriptions([n for n in names if n != name])

    @deferred
    async def set_role(self, name, role):
        if await self._split(name) is not None:
            raise Conflict("special-use roles are for one's own folders")
        return await self.personal.set_role(name, role)

    # -- the session's subscriptions to shared folders ----------------------------------

    def _settings(self):
        settings = getattr(self._store, "settings", None)
        return settings if IAccountSettings.providedBy(settings) else None

    async def _subscriptions(self) -> list[str]:
        settings = self._settings()
        if settings is None:
            return []
        raw = await settings.get(self.account, SUBSCRIPTIONS_KEY)
        return [n for n in raw.decode("utf-8").split("\n") if n] if raw else []

    async def _save_subscriptions(self, names: list[str]) -> None:
        settings = self._settings()
        if settings is None:
            raise Conflict("this store cannot keep subscriptions to shared folders")
        data = "\n".join(names).encode("utf-8")
        if len(data) > MAX_SETTING:
            raise Conflict("too many subscriptions to shared folders")
        await settings.set(self.account, SUBSCRIPTIONS_KEY, data or None)

    # -- moving messages between folders, maybe of two accounts -------------------------

    async def transfer(self, source, source_rights: str, uids: UIDSet, dest: str, move: bool):
        """COPY or MOVE ``uids`` of ``source`` (a store's own ``IMailbox``, on which the
        session has ``source_rights``) to folder ``dest`` as the client names it."""
        target, box = await self._resolve(dest)
        # RFC 4314 4: COPY takes "i" on the target; RFC 6851 4.2: MOVE also what STORE
        # \Deleted ("t") and EXPUNGE ("e") take on the source.
        if "i" not in target.rights:
            raise denied(target.rights, "i", dest)
        if move and not ("t" in source_rights and "e" in source_rights):
            raise PermissionDenied("moving out of this folder takes the 't' and 'e' rights")
        if target.owner == source.account and all(ch in target.rights for ch in "stw"):
            # Within one account, with every flag kept: the store's own (atomic) COPY/MOVE.
            op = source.move if move else source.copy
            return await op(uids, target.owner_name)
        return await copy_across(source, box, target.rights, uids, move)
