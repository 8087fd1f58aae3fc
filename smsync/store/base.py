"""Base classes for store backends: the methods of ``smsync.interfaces`` that can be
built on the others, written once.

A backend subclasses these and implements the rest; what each class supplies is listed
in its docstring, and a backend overrides any of it where it has a faster way. The
defaults keep every promise of the interface (they only read, through the backend's
own methods), but they are not fast paths: each costs one call of the method it is
built on per item it looks at.

Optional fast paths are not here: they are interfaces of their own in
``smsync.interfaces`` (``IMailboxRangeReads``, ``IMailboxSelect``, ``IMailboxUIDWindow``)
that a backend declares with ``zope.interface.implementer`` when it has them; protocols
ask ``providedBy`` and do without otherwise.

Example (blocking code run off the reactor by ``smsync._async.deferred`` or a thread
pool is the backend's business; the defaults only await the Deferreds)::

    @implementer(IMailbox)
    class Mailbox(MailboxBase):
        def read_body(self, uid, offset=0, length=None): ...
        # no structures(): MailboxBase parses the bodies
"""

from __future__ import annotations

from smsync._async import deferred
from smsync.errors import NotFound
from smsync.store.common import as_role


class MailStoreBase:
    """Defaults for ``IMailStore``: ``mailbox_by_id`` and ``mailbox_by_role``, found in
    ``list_mailboxes()`` and opened with ``mailbox(name)``.

    The subclass implements ``list_mailboxes``, ``mailbox``, ``create_mailbox``,
    ``rename_mailbox``, ``delete_mailbox``, ``subscribe`` and ``set_role``.
    """

    async def _mailbox_where(self, matches, missing: str):
        for entry in await self.list_mailboxes():
            if matches(entry):
                try:
                    return await self.mailbox(entry.name)
                except NotFound:
                    break  # renamed or deleted since the listing: as good as not there
        raise NotFound(missing)

    @deferred
    async def mailbox_by_id(self, folder_id):
        return await self._mailbox_where(lambda e: e.id == folder_id, f"no folder with id {folder_id!r}")

    @deferred
    async def mailbox_by_role(self, role):
        role = as_role(role)
        return await self._mailbox_where(lambda e: e.role == role, f"no folder has role {role.value}")


class MailboxBase:
    """Defaults for ``IMailbox``: ``structures``, parsed from ``read_body``.

    The subclass implements ``info``, ``uids``, ``messages``, ``read_body``, ``append``,
    ``copy``, ``move``, ``store_flags``, ``expunge``, ``remove`` and ``changes_since``
    (those whose promises -- atomicity, one new MODSEQ per operation -- only the storage
    can keep), and may declare ``IMailboxRangeReads``, ``IMailboxSelect`` or
    ``IMailboxUIDWindow``.
    """

    @deferred
    async def structures(self, uids):
        # Parsed on demand: the same structure parse_message gave at append time, since a
        # stored message never changes. A faster backend keeps the blob that
        # smsync.formats.message.structure_to_bytes makes at append time.
        from smsync.formats.message import parse_message

        out = {}
        for uid in uids:
            try:
                out[uid] = parse_message(await self.read_body(uid))
            except NotFound:
                continue
        return out


class CollectionStoreBase:
    """Defaults for ``ICollectionStore``: ``collection_by_id``, found in
    ``list_collections()`` and opened with ``collection(name)``.

    The subclass implements ``list_collections``, ``collection``, ``create_collection``,
    ``rename_collection`` and ``delete_collection``.
    """

    @deferred
    async def collection_by_id(self, collection_id):
        for info in await self.list_collections():
            if info.id == collection_id:
                try:
                    return await self.collection(info.name)
                except NotFound:
                    break
        raise NotFound(f"no collection with id {collection_id!r}")


class CollectionBase:
    """Defaults for ``ICollection``: ``get_by_uid``, found in ``items()`` and read with
    ``get``.

    The subclass implements ``info``, ``set_properties``, ``items``, ``get``, ``put``,
    ``delete``, ``changes_since`` and ``time_range``.
    """

    @deferred
    async def get_by_uid(self, uid):
        for info in await self.items():
            if info.uid == uid:
                found = await self.get([info.name])
                if found and found[0].info.uid == uid:
                    return found[0]
        raise NotFound(f"no item with UID {uid!r}")


class DeviceRegistryBase:
    """Defaults for ``IDeviceRegistry``: ``save_state``, as a ``save_states`` of one key.

    The subclass implements ``save_states`` (which must be atomic: the sync engine
    relies on a round's keys being saved together or not at all) and the other methods.
    """

    def save_state(self, account, device_id, key, value):
        return self.save_states(account, device_id, {key: value})
