"""The contract between protocols and stores.

Protocols (``smsync.protocols.*``) talk to storage only through these interfaces; stores
(``smsync.store.*`` and third-party backends) implement them. Value types come from
``smsync.model``; errors from ``smsync.errors``.

Rules every implementation keeps:

* Every method that may touch storage returns a ``Deferred`` -- always, never "a value
  or a Deferred". (``smsync._async.deferred`` turns an ``async def`` into one.)
* Blocking work (SQLite, file I/O, password hashing) runs off the reactor thread.
* One change log: each folder and each collection has one monotonic revision counter.
  IMAP MODSEQ, CalDAV/CardDAV sync tokens, EAS SyncKeys, EWS SyncStates and SyncML
  anchors are all derived from it. Every committed change raises it (one transaction =
  one new revision shared by everything it touched) and is visible through every
  interface as soon as the Deferred that made it fires.
* Deletions leave tombstones so every protocol can report them.
* After every committed change the store calls ``IChangeNotifier.notify``.
* Errors a client can cause are raised as ``smsync.errors`` exceptions.
* Account names are ``user@domain``, compared case-insensitively and stored lower-cased.
"""

from zope.interface import Attribute, Interface


class IStoreBackend(Interface):
    """Makes stores from URIs of one scheme. Found through ``twisted.plugin.getPlugins``
    over ``smsync.plugins``: a third party adds a backend by dropping a module providing
    one into a ``smsync/plugins/`` directory on ``sys.path``.

    Optionally, ``multiprocess = True`` says several processes may open one store at once,
    each hearing promptly (on its notifier) of the changes the others commit: ``smsync
    serve --workers N`` then runs N processes over it. Without it, one process does."""

    scheme = Attribute("URI scheme this backend handles, e.g. 'sqlite' (no colon).")
    description = Attribute("One line saying what the backend is, for --help and docs.")

    def open(uri, create=True):
        """Open (and with ``create``, initialise or migrate) the store named by ``uri``.

        Returns a Deferred firing with an ``IStore``. A malformed URI or one the backend
        cannot reach fails with ``BadStoreURI`` (the message says why, in one line).
        """


class IStore(Interface):
    """One opened store: every account's mail, collections, devices and change feed."""

    accounts = Attribute("The IAccountStore of this store.")
    devices = Attribute("The IDeviceRegistry of this store.")
    notifier = Attribute("The IChangeNotifier every change in this store is announced on.")
    uri = Attribute("The URI the store was opened with.")

    def mail(account):
        """Return a Deferred firing with the account's ``IMailStore``; ``NotFound`` if no
        such account."""

    def collections(account):
        """Return a Deferred firing with the account's ``ICollectionStore``; ``NotFound``
        if no such account."""

    def close():
        """Finish pending writes and release every resource. Returns a Deferred. Nothing
        acknowledged before ``close`` is lost; the store is unusable after it."""


class IStoreTransactions(Interface):
    """An optional ability of an ``IStore``: write transactions spanning folders,
    collections and the device registry of one account, all or nothing across a crash.

    The sync engine runs each sync round in one (the device's batch, its id maps and its
    new sync state commit together), as Dovecot's storage transactions do. A store
    without this ability still works: the engine then applies a round's writes one by
    one, and a crash in the middle of a round can apply part of a device's batch again
    when the device retries. Declare it with ``@implementer(IStoreTransactions)`` beside
    ``IStore``.
    """

    def transaction():
        """Begin a write transaction. Fire with an ``IStoreTransaction``.

        While it is open, writes made outside it may wait for it (a store with one
        writer, such as SQLite, serialises them behind it), so hold it briefly and always
        end it with ``commit`` or ``rollback``. A transaction left idle for too long is
        rolled back by the store, and every later call on it fails.
        """


class IStoreTransaction(Interface):
    """One open write transaction (see ``IStoreTransactions``).

    ``mail``, ``collections`` and ``devices`` give handles of the same interfaces as the
    store's own (``IMailStore``, ``ICollectionStore``, ``IDeviceRegistry``): reads through
    them see the transaction's own writes; its writes are seen by nobody else, and
    announced to nobody (``IChangeNotifier``), until ``commit`` fires. A write through
    them that fails (``PreconditionFailed``, ``UidConflict``...) undoes only itself; the
    transaction stays usable.
    """

    devices = Attribute("The IDeviceRegistry seen through this transaction.")

    def mail(account):
        """Fire with the account's ``IMailStore`` seen through this transaction;
        ``NotFound`` if no such account."""

    def collections(account):
        """Fire with the account's ``ICollectionStore`` seen through this transaction;
        ``NotFound`` if no such account."""

    def commit():
        """Make every write of the transaction durable and visible at once, then announce
        its changes. Fire with None once durable; if it fails, nothing of the
        transaction is visible. The transaction and its handles are unusable after."""

    def rollback():
        """Undo every write of the transaction. Fire with None. Idempotent, and harmless
        after a failed ``commit``; the handles are unusable after."""


class IAccountStore(Interface):
    """Accounts and their password hashes. Hashing itself is ``smsync.auth``'s business:
    the store keeps opaque strings."""

    def add(account, password_hash):
        """Create ``account`` (``user@domain``) with the default folders
        (``smsync.model.DEFAULT_MAILBOXES``) and collections
        (``smsync.model.DEFAULT_COLLECTIONS``). Fires with None; ``AlreadyExists`` if
        taken, ``InvalidData`` if the name is not ``user@domain``."""

    def set_password_hash(account, password_hash):
        """Replace the account's password hash. ``NotFound`` if no such account."""

    def password_hash(account):
        """Fire with the account's password hash, or None if there is no such account."""

    def remove(account):
        """Delete the account and everything it owns: mail, collections, devices and
        their sync state. ``NotFound`` if no such account."""

    def list():
        """Fire with the sorted list of account names."""


class IAccountListing(Interface):
    """Optional ability of an ``IAccountStore``: a page of accounts, for administration
    of a store with very many of them (``IAccountStore.list`` reads every name).

    A store that provides it answers from an index, costing about ``limit`` rows read
    for a prefix search or none, whatever the number of accounts; one that does not is
    served by ``list()`` and filtered by the caller (``smsync.admin.accounts``), which is
    as correct and reads every name each time. Declare it with
    ``@implementer(IAccountStore, IAccountListing)``.
    """

    def page(search=None, after=None, limit=100, prefix=False):
        """Fire with at most ``limit`` (an int from 1 to 1000) account names, ascending
        by code point, each above ``after`` (a name, or None to start at the first) and
        containing ``search`` (matched lower-cased; None or "" for every account) -- or,
        with ``prefix``, starting with it, which an index answers without reading the
        other names: exactly the first ``limit`` names of ``sorted(list())`` under those
        conditions. ``InvalidData`` for a ``limit`` out of range or a ``search`` or
        ``after`` that is not text."""

    def count():
        """Fire with how many accounts the store holds (what ``len(list())`` is)."""


class IAccountUsage(Interface):
    """Optional ability of an ``IAccountStore``: how much storage an account's mail
    takes, for quotas (``smsync.edge.quota``). A store that provides it keeps a running
    total per folder, so the answer costs a read of the account's folders, not of its
    messages; without it, quotas are not enforced (the web pages say so)."""

    def usage(account):
        """Fire with the total size in octets of the messages in ``account``'s own
        folders (the sum of ``MailboxInfo.size``). ``NotFound`` if no such account."""


class IMailStore(Interface):
    """One account's mail folders. Folder names use ``/`` as the hierarchy separator;
    ``INBOX`` is case-insensitive and always exists; other names are case-sensitive."""

    account = Attribute("The account this mail store belongs to.")

    def list_mailboxes():
        """Fire with every folder as a list of ``MailboxEntry``, sorted by name."""

    def mailbox(name):
        """Fire with the ``IMailbox`` called ``name``; ``NotFound`` if none."""

    def mailbox_by_id(folder_id):
        """Fire with the ``IMailbox`` whose ``MailboxEntry.id`` is ``folder_id``;
        ``NotFound`` if none."""

    def mailbox_by_role(role):
        """Fire with the ``IMailbox`` holding special-use ``role`` (a ``Role``);
        ``NotFound`` if no folder has it."""

    def create_mailbox(name, role=None):
        """Create a folder (and any missing parents, as plain folders). Fire with its
        ``MailboxEntry``. ``AlreadyExists`` if the name is taken; ``Conflict`` if ``role``
        is already held by another folder; ``InvalidData`` for an empty name, empty
        hierarchy level or a name with control characters. A new folder gets a new
        UIDVALIDITY, never one used before in this account for that name."""

    def rename_mailbox(old, new):
        """Rename a folder and every folder below it, keeping ids, UIDVALIDITY, UIDs and
        roles. ``NotFound``/``AlreadyExists`` as expected; renaming INBOX is ``Conflict``
        (IMAP's move-INBOX-contents semantics belong to the protocol)."""

    def delete_mailbox(name):
        """Delete a folder and its messages (not its children, which stay). ``Conflict``
        for INBOX."""

    def subscribe(name, subscribed=True):
        """Set the folder's subscription flag. ``NotFound`` if no such folder."""

    def set_role(name, role):
        """Give the folder special-use ``role`` (or None to clear it). ``Conflict`` if
        another folder holds it."""


class IMailbox(Interface):
    """One folder's messages. The object is a handle: every method reads the current
    state from the store, so two handles on one folder (in one process or several) see
    each other's changes."""

    id = Attribute("The folder's stable id (MailboxEntry.id).")
    account = Attribute("The owning account.")

    def info():
        """Fire with the folder's current ``MailboxInfo`` (counts, UIDNEXT, HIGHESTMODSEQ).
        Answered from indexes: fast on a folder of 100,000 messages."""

    def uids():
        """Fire with every UID in the folder, ascending, as a list of ints."""

    def messages(uids=None):
        """Fire with ``MessageInfo`` of the messages whose UIDs are in ``uids`` (a
        ``UIDSet``; None means all), ascending by UID. UIDs that do not exist are skipped."""

    def structures(uids):
        """Fire with a dict UID -> ``smsync.formats.message.MessageStructure`` for the
        given UIDs (an iterable of ints), as computed once when each message was stored."""

    def read_body(uid, offset=0, length=None):
        """Fire with ``length`` bytes (None: to the end) of the message's RFC 5322 text,
        starting at ``offset``. Reading a large message in ranges never holds it whole in
        memory. ``NotFound`` if the UID is not in the folder."""

    def append(body, flags=(), internal_date=None):
        """Store a message. ``body`` is bytes or a binary file object positioned at the
        start (read to its end; a 50 MB message is not copied whole into memory more than
        once). ``flags``: an iterable of flag strings (system flags case-canonicalised);
        ``internal_date``: an aware datetime, default now. The body and its metadata are
        durable before the Deferred fires with an ``AppendResult``; if it fails, nothing of
        the message is visible. The parsed structure is computed here, once."""

    def copy(uids, dest):
        """Copy the messages in ``uids`` (a ``UIDSet``) to folder ``dest`` (a name) keeping
        flags and internal dates; the copies' ``saved_date`` is the time of the copy.
        Fire with a ``CopyResult`` (empty if none matched)."""

    def move(uids, dest):
        """Like ``copy`` then expunge the originals, atomically: a failure leaves both
        folders unchanged. Fire with a ``CopyResult``."""

    def store_flags(uids, mode, flags, unchanged_since=None):
        """Change the flags of the messages in ``uids`` (a ``UIDSet``): ``mode`` is a
        ``FlagMode``. With ``unchanged_since``, messages whose modseq is above it are left
        alone and reported in ``modified``. Every message whose flags change gets the new
        modseq. Fire with a ``StoreFlagsResult``."""

    def expunge(uids=None):
        """Remove the messages flagged ``\\Deleted`` (only those also in ``uids`` when it is
        given, a ``UIDSet``). Fire with the sorted list of removed UIDs. Removed UIDs are
        recorded with the new modseq for ``changes_since``; they are never reused."""

    def remove(uids):
        """Remove the messages in ``uids`` whatever their flags (POP3 DELE, EAS delete).
        Fire with the sorted list of removed UIDs."""

    def changes_since(modseq):
        """Fire with a ``MailboxChanges``: messages whose modseq is above ``modseq`` and
        UIDs expunged since. Answered from an index: fast whatever the folder's size."""


class IMailboxRangeReads(Interface):
    """Optional fast path of an ``IMailbox``: many byte ranges in one round trip.

    A mailbox that provides it is asked for the ranges of many messages at once (IMAP
    FETCH of many headers, SEARCH of text, POP3 prefetch); one that does not is asked
    with one ``read_body`` per range instead, which is as correct and, for a backend
    without round trips to storage, as fast.
    """

    def read_ranges(ranges):
        """Read byte ranges of several messages at once (IMAP FETCH of many headers).

        ``ranges``: a list of ``(uid, offset, length)`` tuples, ``length`` None meaning
        to the end of the message; a UID may appear several times. Fire with a list of
        the same length and order: for each range the bytes ``read_body(uid, offset,
        length)`` would give, or None where the UID is not in the folder. One call
        costs one round trip to storage in a backend that has round trips (one thread
        hop, one query), whatever the number of ranges; the caller bounds how many
        bytes it asks for at once. ``InvalidData`` for a negative offset or length."""


class IMailboxSelect(Interface):
    """Optional fast path of an ``IMailbox``: what IMAP SELECT needs in one round trip.

    Without it SELECT calls ``info()`` and then ``uids()``."""

    def info_and_uids():
        """Fire with ``(info(), uids())`` read from one snapshot: the UIDs agree with the
        counts of the ``MailboxInfo``, and a backend with round trips to storage makes
        one instead of two."""


class IMailboxRecent(Interface):
    """Optional part of an ``IMailbox``: where IMAP4rev1's ``\\Recent`` is decided.

    RFC 3501 2.3.2 gives each message as recent to one session only: the first to be
    told of it. The folder keeps one number for that, its *recent mark*: the highest
    UID that some session has already taken as recent. Messages above it are recent to
    the next session that claims them. Kept with the folder, the mark is shared by every
    process over the store; a mailbox that does not provide this interface leaves the
    IMAP server to keep marks in its own memory, which holds within one process only.
    """

    def recent_mark():
        """Fire with the folder's recent mark (0 until a session claims any).
        ``NotFound`` if the folder is gone."""

    def claim_recent(uid):
        """Raise the recent mark to ``uid`` (an int) if it is lower, atomically with
        every other claim on the folder in any process, and fire with the mark as it
        was before: the caller alone sees the messages above that, up to ``uid``, as
        recent. Not a change of the folder's content: no MODSEQ, no change notice; a
        claim lost in a crash only makes messages recent once more. ``NotFound`` if the
        folder is gone; ``InvalidData`` if ``uid`` is not an int."""


class IMailboxUIDWindow(Interface):
    """Optional fast path of an ``IMailbox``: a window of its UIDs.

    A mailbox that provides it is asked for the next few UIDs above a point (the sync
    engine's walk of a folder by UID, one window per round); one that does not is asked
    for ``uids()`` whole and the window is cut from that, which is as correct and costs
    a read of every UID each time.
    """

    def uids_after(after, limit):
        """Fire with at most ``limit`` (a positive int) of the folder's UIDs above
        ``after`` (an int; 0 for the lowest), ascending: the first ``limit`` of the UIDs
        ``uids()`` would give above it. Costs a read of those UIDs, not of the folder.
        ``NotFound`` if the folder is gone; ``InvalidData`` if ``after`` or ``limit`` is
        not an int or ``limit`` is below 1."""


class ICollectionStore(Interface):
    """One account's collections: calendars, address books, task and note lists."""

    account = Attribute("The account this collection store belongs to.")

    def list_collections(kind=None):
        """Fire with a list of ``CollectionInfo`` sorted by name, only of ``kind`` (a
        ``CollectionKind``) when given."""

    def collection(name):
        """Fire with the ``ICollection`` called ``name``; ``NotFound`` if none."""

    def collection_by_id(collection_id):
        """Fire with the ``ICollection`` whose ``CollectionInfo.id`` is ``collection_id``."""

    def create_collection(name, kind, components=None, properties=None):
        """Create a collection. ``name`` is a path segment (no ``/``); ``components`` the
        iCalendar component names it accepts (default ``DEFAULT_COMPONENTS[kind]``);
        ``properties`` a dict as for ``ICollection.set_properties``. Fire with its
        ``CollectionInfo``. ``AlreadyExists``/``InvalidData`` as expected."""

    def rename_collection(old, new):
        """Rename a collection, keeping its id, items, revision and tombstones."""

    def delete_collection(name):
        """Delete a collection and its items. ``NotFound`` if none."""


class ICollection(Interface):
    """One collection's items. Like ``IMailbox``, a handle reading current state."""

    id = Attribute("The collection's stable id.")
    account = Attribute("The owning account.")

    def info():
        """Fire with the collection's current ``CollectionInfo``."""

    def set_properties(changes):
        """Apply ``changes``, a dict property-name -> str value, or None to remove it.
        Names are the ``smsync.model.PROP_*`` names or Clark-notation dead properties
        (values kept verbatim). Fire with the new ``CollectionInfo``."""

    def items():
        """Fire with ``ItemInfo`` of every item, sorted by name."""

    def get(names):
        """Fire with the ``Item`` (info and content) of each of ``names`` that exists, in
        the order asked; missing names are skipped."""

    def get_by_uid(uid):
        """Fire with the ``Item`` whose iCalendar/vCard UID is ``uid``; ``NotFound`` if none."""

    def put(name, content, if_match=None, if_none_match=False):
        """Store ``content`` (iCalendar or vCard bytes) as item ``name``.

        The content is validated with ``smsync.formats``: ``InvalidData`` if it does not
        parse or has no UID (or several), ``UnsupportedComponent`` if the collection does
        not take its component. ``if_match``: the etag the item must have
        (``PreconditionFailed`` otherwise, also if it does not exist); ``if_none_match``:
        the item must not exist. ``UidConflict`` if another item of the collection has the
        same UID. Content is stored as given. Fire with the new ``ItemInfo``; its etag
        changes whenever the content does."""

    def delete(name, if_match=None):
        """Delete item ``name`` leaving a tombstone. ``NotFound`` if missing,
        ``PreconditionFailed`` if ``if_match`` is given and differs. Fire with the new
        revision."""

    def changes_since(revision, limit=None):
        """Fire with a ``CollectionChanges``: items changed and names deleted after
        ``revision`` (0: every current item, no deletions). With ``limit`` (a positive
        ``int``; anything else, a bool included, is ``InvalidData``), at most that many
        entries (changed + deleted) and ``truncated`` set when more remain.
        ``SyncTokenInvalid`` if ``revision`` is above the current one. Answered from an
        index: fast whatever the collection's size."""

    def time_range(start, end, components=None):
        """Fire with ``ItemInfo`` of the items that have an instance overlapping
        ``[start, end)`` (aware datetimes; either may be None for open-ended), recurrence
        expanded (RRULE, RDATE, EXDATE, RECURRENCE-ID overrides), floating times taken in
        UTC, VTODO per RFC 4791 section 9.9. ``components`` limits the component types.
        Answered from an index, not by parsing every item."""


class IDavTree(Interface):
    """Optional part of an ``IStore``, as its ``dav_tree`` attribute: the plain WebDAV
    collections and resources (RFC 4918) each account keeps beside its calendars and
    address books -- files of any type a WebDAV client puts, collections of them, and
    dead properties on both.

    Each account has one tree of nodes (``smsync.model.DavNode``) named by paths:
    non-empty segments joined by ``/``, without a leading or trailing ``/``, without
    NUL. A node of one segment is at the top; any other node's parent (its path less
    the last segment) must be a collection. Path segments are compared exactly (case
    matters). Nodes are outside the change log: no revision, no ``ChangeEvent``.
    Removing the account (``IAccountStore.remove``) removes its tree. A store without
    this part keeps no plain resources: the DAV server then refuses to make them.
    Every method fails with ``InvalidData`` for a malformed path and ``NotFound`` for an
    account that does not exist, unless it says otherwise.
    """

    def node(account, path):
        """Fire with the ``DavNode`` at ``path``, or None when there is none (also for
        an account that does not exist)."""

    def members(account, path):
        """Fire with the ``DavNode`` entries directly below the collection ``path``,
        sorted by path; an empty list when it has none or is not a collection (also
        for an account that does not exist)."""

    def read(account, path):
        """Fire with the content of the resource at ``path`` (bytes), or None when
        there is no resource there (nothing, or a collection)."""

    def put(account, path, content, content_type=None):
        """Store ``content`` (bytes) as the resource at ``path``, creating it or
        replacing its content and content type (a replaced resource keeps its
        properties). Fire with its ``DavNode``, whose etag differs from the previous
        one whenever the content does. ``Conflict`` if the parent is not a collection
        or ``path`` is a collection; ``InvalidData`` if ``content`` is not bytes."""

    def mkcol(account, path):
        """Create an empty collection at ``path``. Fire with its ``DavNode``.
        ``AlreadyExists`` if anything is at ``path``; ``Conflict`` if the parent is not
        a collection."""

    def set_properties(account, path, changes):
        """Apply ``changes`` (a dict Clark name -> text, or None to remove it) to the
        dead properties of the node at ``path``, all of them or none. Fire with the
        new ``DavNode``. ``NotFound`` if there is no node there; ``InvalidData`` for a
        name or value that is not text."""

    def delete(account, path):
        """Remove the node at ``path`` and everything below it. Fire with None.
        ``NotFound`` if there is no node there."""

    def move(account, old, new):
        """Move the node at ``old`` and everything below it to ``new``, keeping
        contents, etags and properties. Fire with the ``DavNode`` at ``new``.
        ``NotFound`` if there is no node at ``old``; ``AlreadyExists`` if something is
        at ``new``; ``Conflict`` if the parent of ``new`` is not a collection;
        ``InvalidData`` if ``new`` is ``old`` or below it."""


class IDeviceRegistry(Interface):
    """The Synchronized Devices list: every client that synced an account, plus the
    opaque per-device sync state protocols keep."""

    def seen(account, device_id, protocol, user_agent=None, name=None, success=True):
        """Record that a device synced now (creating its entry, named ``name`` or a name
        made from the user agent, on first sight). ``success`` updates ``last_sync``.
        Fire with the ``Device``."""

    def get(account, device_id):
        """Fire with the ``Device``; ``NotFound`` if unknown."""

    def list(account):
        """Fire with the account's ``Device`` entries, most recently synced first."""

    def rename(account, device_id, name):
        """Set the device's display name. ``NotFound`` if unknown."""

    def set_conflict_policy(account, device_id, policy):
        """Set the device's ``ConflictPolicy``. ``NotFound`` if unknown."""

    def remove(account, device_id):
        """Delete the device and all its sync state, so its next sync starts over."""

    def log(account, device_id, message):
        """Append a line to the device's log (the newest 200 are kept)."""

    def get_log(account, device_id, limit=200):
        """Fire with the newest ``limit`` ``DeviceLogEntry`` items, oldest first."""

    def load_state(account, device_id, key):
        """Fire with the bytes saved under ``key`` for this device, or None."""

    def save_state(account, device_id, key, value):
        """Save ``value`` (bytes, or None to delete) under ``key`` for this device. The
        device entry must exist (``NotFound`` otherwise)."""

    def save_states(account, device_id, values):
        """Save several keys at once, atomically: ``values`` is a dict key -> bytes|None."""


class IDeviceListing(Interface):
    """Optional ability of an ``IDeviceRegistry``: devices across every account, for
    administration (the devices that have not synced for months, everywhere).

    A store that provides it answers from an index on the last sync time, costing about
    ``limit`` rows read; one that does not is served account by account through
    ``IDeviceRegistry.list`` by the caller (``smsync.admin.devices_across``), which is
    as correct and reads every account. Declare it with
    ``@implementer(IDeviceRegistry, IDeviceListing)``.
    """

    def across(protocol=None, synced_before=None, after=None, limit=100):
        """Fire with ``(devices, next)``: at most ``limit`` (an int from 1 to 1000)
        ``Device`` entries of any account, the stalest first -- ordered by ``last_sync``
        ascending, never-synced devices (``last_sync`` None) first, ties in an order of
        the store's choosing that stays the same from call to call -- and ``next``, the
        text to pass as ``after`` for the following page, or None after the last one.

        ``protocol``: only devices of that protocol (None: every protocol).
        ``synced_before``: a timezone-aware ``datetime``: only devices whose last sync
        is before it, or that never synced (None: every device).
        ``after``: a ``next`` a previous call answered (opaque text; None for the first
        page): the page goes on strictly after that entry, so devices added or removed
        meanwhile neither repeat nor skip others. ``InvalidData`` for a ``limit`` out of
        range, a naive ``synced_before`` or an ``after`` this store did not make."""

    def count():
        """Fire with how many devices the store holds, across every account."""


class IProtocolPolicy(Interface):
    """Optional part of an ``IStore``, as its ``policy`` attribute: which protocols each
    account may use, shared by every process on the store.

    A rule's subject is a domain (``example.org``) or an account (``alice@example.org``),
    lower-case; its value is the set of protocol names allowed (the names of
    ``smsync.edge.policy.PROTOCOLS``). Callers combine them (the account's rule, else its
    domain's, else everything); a store only keeps them. A store without this part
    allows every protocol to every account.
    """

    def get(subject):
        """Fire with the ``frozenset`` of protocol names ``subject``'s rule allows, or
        None when ``subject`` has no rule of its own."""

    def set(subject, protocols):
        """Make ``subject``'s rule allow exactly ``protocols`` (an iterable of names; an
        empty one allows nothing). ``None`` removes the rule. Fires with None once the
        rule is stored (every process reads it from then on)."""

    def list():
        """Fire with every rule as ``(subject, frozenset)`` pairs, ordered by subject."""


class IAccountSettings(Interface):
    """Optional part of an ``IStore``, as its ``settings`` attribute: small values a
    protocol keeps per *account* (not per device), shared by every device and every
    process on the store and kept across restarts -- an EAS out-of-office reply, say.

    Keys are short text names a protocol chooses (by convention prefixed with the
    protocol, ``"eas:oof"``); values are opaque bytes the store never interprets. The
    settings belong to the account: ``IAccountStore.remove`` deletes them with it. A
    store without this part cannot keep such settings; protocols then answer as if
    nothing were set and refuse to set anything.
    """

    def get(account, key):
        """Fire with the bytes last set under ``key`` for ``account``, or None when
        nothing is set (also for an account that does not exist)."""

    def set(account, key, value):
        """Set ``key`` of ``account`` to ``value`` (bytes, at most ``MAX_SETTING``
        octets), or remove it with None. Fires with None once the value is durable: every
        process reads it from then on, also after a restart. ``NotFound`` if no such
        account; ``InvalidData`` for a key that is not non-empty text of at most 200
        characters, or a value that is not bytes or is too large."""


#: The largest value ``IAccountSettings.set`` takes, in octets.
MAX_SETTING = 64 * 1024


class IFolderSharing(Interface):
    """Optional part of an ``IStore``, as its ``sharing`` attribute: who besides its owner
    may use an account's mail folder, and how -- the access control lists of IMAP ACL
    (RFC 4314), shared by every process on the store and kept across restarts.

    An entry says that ``identifier`` has ``rights`` on the folder ``folder_id`` (a
    ``MailboxEntry.id``) of account ``owner``. An identifier is an account name
    (lower-case ``user@domain``), ``"anyone"``, or either of those after a ``-`` (a
    negative entry, whose rights are taken away); rights are a string of lower-case
    ASCII letters and digits, one a right. The store keeps both as given and never
    interprets them: which rights mean what, and how entries combine, is the protocol's
    business. The owner needs no entry: an owner may always do everything.

    Entries follow their folder: a rename keeps them (the id stays), a delete removes
    them, and a folder id is never reused, so a new folder of an old name starts with
    none. Removing an account (``IAccountStore.remove``) removes the entries on its
    folders and every entry naming it (``alice@example.org`` and ``-alice@example.org``),
    so a new account of that name inherits nothing. A store without this part shares no
    folders: IMAP then offers no ACL and no shared namespace.
    """

    def get(owner, folder_id):
        """Fire with the folder's entries as a dict identifier -> rights (empty when it
        has none, also when there is no such owner or folder)."""

    def set(owner, folder_id, identifier, rights):
        """Give ``identifier`` exactly ``rights`` on the folder, replacing its entry, or
        remove the entry with None or ``""``. Fires with None once durable: every process
        reads it from then on. ``NotFound`` if ``owner`` has no folder ``folder_id``;
        ``InvalidData`` for an identifier that is not non-empty text of at most 200
        characters, or rights that are not lower-case ASCII letters and digits (at most
        64)."""

    def granted(identifier):
        """Fire with a list of ``smsync.model.FolderGrant``, one for each entry naming
        exactly ``identifier`` (not ``-identifier``) on a folder that exists, of any
        owner, sorted by owner then folder id -- the folders shared with an account, or
        (``"anyone"``) with everybody."""


class IAnnotations(Interface):
    """Optional part of an ``IStore``, as its ``annotations`` attribute: named values
    attached to an account as a whole or to one of the folders it can see -- IMAP
    METADATA (RFC 5464) -- shared by every process on the store and kept across
    restarts.

    Entries are kept per *account* and *folder id*: ``folder_id`` ``""`` holds the
    account's server-wide entries, any other a ``MailboxEntry.id``, which may belong to
    another account (a user's private note on a folder shared with them is kept under
    that user). Entry names are short text the protocol chooses (IMAP's
    ``/private/comment``); values opaque bytes. The store keeps both as given.

    Entries go with their account (``IAccountStore.remove``) and with their folder: once
    a folder is deleted no account has entries on it any more (a folder id is never
    reused). A rename keeps them. A store without this part keeps no annotations: IMAP
    then offers no METADATA.
    """

    def get(account, folder_id):
        """Fire with ``account``'s entries on ``folder_id`` as a dict name -> bytes
        (empty when there are none, also for an account that does not exist)."""

    def set(account, folder_id, changes):
        """Apply ``changes`` (a dict name -> bytes, or None to remove the entry) to
        ``account``'s entries on ``folder_id``, all of them or none. Fires with None once
        durable. ``NotFound`` if there is no such account; ``InvalidData`` for a name
        that is not non-empty text of at most ``MAX_ANNOTATION_NAME`` characters, a
        value that is not bytes or is larger than ``MAX_ANNOTATION`` octets, or a
        folder id that is not text."""


#: The longest entry name ``IAnnotations.set`` takes, in characters.
MAX_ANNOTATION_NAME = 1024
#: The largest value ``IAnnotations.set`` takes, in octets.
MAX_ANNOTATION = 64 * 1024


class ISubscription(Interface):
    def cancel():
        """Stop delivering events to this subscription's callback. Idempotent."""


class IChangeNotifier(Interface):
    """Push: wakes IMAP IDLE, EAS Ping, EWS notifications when something changes."""

    def subscribe(account, callback):
        """Call ``callback(ChangeEvent)`` on the reactor thread for every change to
        ``account`` (whatever interface or process made it, where the backend can see
        other processes) until the returned ``ISubscription`` is cancelled. A callback that
        raises is logged and does not affect other subscribers."""

    def notify(event):
        """Announce a ``ChangeEvent``. Stores call this after each commit; it never blocks
        and never raises."""

    sees_every_process = Attribute(
        """Optional (False when absent): True when every change committed by any process
        over the store reaches the subscribers within milliseconds, and a lost feed is
        followed by a ``RESYNC`` event. A protocol may then take "no notice" for "no
        change" (IMAP NOOP then asks the store nothing); without it, it must look.""")


class ISyncAdapter(Interface):
    """The state-based sync engine EAS, EWS and SyncML share.

    A *source* is a mail folder or a collection of an account, named by a
    ``smsync.sync.SourceRef``. A *sync key* is an opaque string the adapter hands out;
    presenting it again gets the changes after it. The adapter keeps its state in the
    device registry, so removing a device resets it.

    A device has one state per source, unless the protocol names a *lane*: a lane is
    an independent state of the device on the source (its own keys, its own idea of
    what the device holds), for clients one device id stands for several of (EWS: two
    sessions of one program share a User-Agent). ``lane=None``, the default, is the
    device's one lane-less state, which lanes never touch. A lane is 1 to 64 letters,
    digits, ``_`` or ``-`` (``InvalidData`` otherwise), made by its first round (key
    ``"0"``); the protocol picks a new random one for each chain of keys. At most
    ``smsync.sync.lanes.MAX_LANES`` lanes are kept per device and source: a round of
    another one drops the least recently used (every round, replays included, makes
    its lane the most recently used), whose keys are then ``SyncTokenInvalid``. The
    order of the lanes is saved with the round's state in one ``save_states``.
    Removing the device drops every lane.
    """

    def sync(account, device_id, source, sync_key, client_changes=(), window=100, lane=None):
        """One sync round: apply the device's changes, then give it the server's.

        ``client_changes``: ``smsync.sync.ClientChange`` values (add with a client id,
        change or delete with a server id). Conflicts with server-side changes the device
        has not yet seen are resolved by the device's ``ConflictPolicy``.

        Fire with a ``smsync.sync.SyncResult``: per client change its status and server id
        (for adds the client id -> server id map), at most ``window`` server adds,
        changes and deletes the device has not seen since ``sync_key`` (``"0"``: every
        item, as adds), a ``more_available`` flag and the new sync key. Changes the device
        itself just made are not echoed back to it.

        Presenting the previous sync key again with the same batch (the answer was lost)
        applies nothing twice and fires with the same result again. ``SyncTokenInvalid``
        for a key never issued to this device for this source in ``lane`` (a key of
        another lane included, and any key of a lane dropped since), after which the
        device must start over with ``"0"``.

        ``lane``: which of the device's states on ``source`` the round is of (see the
        interface); None for its lane-less state."""

    def estimate(account, device_id, source, sync_key, lane=None):
        """Fire with how many changes the device holding ``sync_key`` (its current key
        for ``source`` in ``lane``) has not got yet -- what the next rounds would send --
        without changing its state or the order of its lanes. ``SyncTokenInvalid`` for
        any other key, ``"0"`` included."""


class IAccountAvatar(Interface):
    """What a successful login through ``smsync.auth``'s portal yields: an account of an
    open store. A protocol that wants an avatar of its own asks the portal for its own
    interface and makes it from this one, either by registering a factory with
    ``smsync.auth.register_avatar_factory(IMyAvatar, factory)`` or, without importing
    ``smsync.auth``, by registering a zope adapter from ``IAccountAvatar`` to it
    (``twisted.python.components.registerAdapter``)."""

    account = Attribute("The normalised account name (lower-case user@domain).")
    store = Attribute("The IStore the account lives in.")
