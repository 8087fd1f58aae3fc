"""The backend object (``IStoreBackend``), the opened store (``IStore``) and its
accounts (``IAccountStore``).

Layout of a store's root directory::

    ROOT/smsync-maildir-vdir.json        {"layout": 1}: marks the directory as ours
    ROOT/alice@example.com/account.json  the account's name and password hash
    ROOT/alice@example.com/Maildir/      its mail (see ``folders``)
    ROOT/alice@example.com/vdir/         its collections (see ``vdir``)
    ROOT/alice@example.com/devices.json  its devices (see ``devices``)
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from urllib.parse import unquote

from twisted.internet.defer import fail
from zope.interface import implementer

from smsync.errors import AlreadyExists, BadStoreURI, InvalidData, NotFound
from smsync.interfaces import IAccountStore, IStore, IStoreBackend
from smsync.model import DEFAULT_COLLECTIONS, DEFAULT_MAILBOXES, PROP_DISPLAYNAME
from smsync.notify import LocalNotifier
from smsync.store.common import normalize_account

from .devices import DeviceRegistry
from .files import fsync_dir, one_flush_at_the_end, path_segment, read_json, write_json
from .folders import MaildirTree
from .mail import MailStore
from .vdir import CollectionStore
from .worker import Disk, on_disk

SCHEME = "maildirvdir"
MARKER = "smsync-maildir-vdir.json"
LAYOUT = 1


def root_of(uri: str) -> str:
    """The directory named by ``maildirvdir:///absolute/path`` or
    ``maildirvdir:relative/path``; ``BadStoreURI`` for anything else."""
    scheme, _, rest = uri.partition(":")
    if scheme.lower() != SCHEME:
        raise BadStoreURI(f"not a {SCHEME}: URI: {uri!r}")
    if "?" in rest or "#" in rest:
        raise BadStoreURI(f"{SCHEME}: URIs take no query or fragment: {uri!r}")
    if rest.startswith("//"):
        host, _, path = rest[2:].partition("/")
        if host:
            raise BadStoreURI(f"{SCHEME}: URIs name a local directory, no host: {uri!r}")
        rest = "/" + path
    path = unquote(rest)
    if not path or "\0" in path:
        raise BadStoreURI(f"{SCHEME}: URI names no directory: {uri!r}")
    return os.path.abspath(path)


def prepare_root(root: str, create: bool) -> None:
    """Check (and with ``create``, make) the store directory. Blocking."""
    marker = os.path.join(root, MARKER)
    try:
        if create:
            os.makedirs(root, exist_ok=True)
            if not os.path.exists(marker) and not os.listdir(root):
                write_json(marker, {"layout": LAYOUT})
        doc = read_json(marker)
    except (OSError, ValueError) as e:
        raise BadStoreURI(f"cannot use {root}: {e}") from e
    if doc is None:
        raise BadStoreURI(f"{root} is not a {SCHEME} store (no {MARKER}; is it empty?)")
    if doc.get("layout") != LAYOUT:
        raise BadStoreURI(f"{root} has layout {doc.get('layout')!r}; this backend reads {LAYOUT}")
    # Accounts half built or half deleted when a previous process died.
    for entry in os.listdir(root):
        if entry.startswith((".new-", ".deleted-")):
            shutil.rmtree(os.path.join(root, entry), ignore_errors=True)


@implementer(IStoreBackend)
class MaildirVdirBackend:
    scheme = SCHEME
    description = "Maildir++ folders and vdir collections in a directory (example backend)"

    def open(self, uri, create=True):
        """Open (with ``create``, make) the store in the directory ``uri`` names. Fires
        with a ``Store``; ``BadStoreURI`` if the URI is malformed or the directory is
        missing (without ``create``) or holds something else."""
        try:
            root = root_of(uri)
        except BadStoreURI as e:
            return fail(e)
        store = Store(uri, root)
        d = store._disk.run(prepare_root, root, create)
        d.addCallback(lambda _: store)
        return d


@implementer(IStore)
class Store:
    """An opened ``maildirvdir:`` store. Everything it hands out shares its ``Disk``
    (one lock, one thread hop per operation) and its ``LocalNotifier``."""

    def __init__(self, uri: str, root: str):
        self.uri = uri
        self.notifier = LocalNotifier()
        self._disk = Disk(root, self.notifier)
        self.accounts = AccountStore(self._disk)
        self.devices = DeviceRegistry(self._disk, self.accounts.directory)

    def _account_dir(self, account: str) -> tuple[str, str]:
        try:
            account = normalize_account(account)
        except InvalidData:
            raise NotFound(f"no account {account!r}") from None
        directory = self.accounts.directory(account)
        if directory is None:
            raise NotFound(f"no account {account!r}")
        return account, directory

    @on_disk
    def mail(self, account):
        account, directory = self._account_dir(account)
        return MailStore(self._disk, account, os.path.join(directory, "Maildir"))

    @on_disk
    def collections(self, account):
        account, directory = self._account_dir(account)
        return CollectionStore(self._disk, account, os.path.join(directory, "vdir"))

    def close(self):
        return self._disk.close()


@implementer(IAccountStore)
class AccountStore:
    """Accounts are the directories under the root holding an ``account.json``."""

    def __init__(self, disk: Disk):
        self._disk = disk

    def directory(self, account: str):
        """The directory of an (already normalised) account, or None if there is none."""
        path = os.path.join(self._disk.root, path_segment(account, keep_dots=True))
        return path if os.path.exists(os.path.join(path, "account.json")) else None

    def _existing(self, account: str) -> tuple[str, str]:
        try:
            account = normalize_account(account)
        except InvalidData:
            raise NotFound(f"no account {account!r}") from None
        path = self.directory(account)
        if path is None:
            raise NotFound(f"no account {account!r}")
        return account, path

    @on_disk
    def add(self, account, password_hash):
        account = normalize_account(account)
        final = os.path.join(self._disk.root, path_segment(account, keep_dots=True))
        if os.path.exists(final):
            raise AlreadyExists(f"account {account!r} exists")
        # Build the account aside and rename it into place: it appears whole or not at
        # all, and the rename fails if a concurrent add won.
        staging = os.path.join(self._disk.root, f".new-{uuid.uuid4().hex}")
        try:
            with one_flush_at_the_end():
                tree = MaildirTree(os.path.join(staging, "Maildir"))
                first = tree.reserve_uidvalidity(len(DEFAULT_MAILBOXES))
                for n, (name, role) in enumerate(DEFAULT_MAILBOXES.items()):
                    tree.make(name, role, uidvalidity=first + n)
                vdir = CollectionStore(self._disk, account, os.path.join(staging, "vdir"))
                for name, (kind, display) in DEFAULT_COLLECTIONS.items():
                    vdir.make(name, kind, properties={PROP_DISPLAYNAME: display})
                write_json(
                    os.path.join(staging, "account.json"),
                    {"account": account, "password_hash": password_hash},
                )
            os.rename(staging, final)
            fsync_dir(self._disk.root)
        except BaseException as e:
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(e, OSError) and e.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise AlreadyExists(f"account {account!r} exists") from e
            raise

    @on_disk
    def set_password_hash(self, account, password_hash):
        account, path = self._existing(account)
        write_json(
            os.path.join(path, "account.json"),
            {"account": account, "password_hash": password_hash},
        )

    @on_disk
    def password_hash(self, account):
        try:
            _, path = self._existing(account)
        except NotFound:
            return None
        return read_json(os.path.join(path, "account.json"))["password_hash"]

    @on_disk
    def remove(self, account):
        _, path = self._existing(account)
        doomed = os.path.join(self._disk.root, f".deleted-{uuid.uuid4().hex}")
        os.rename(path, doomed)
        shutil.rmtree(doomed)

    @on_disk
    def list(self):
        names = []
        for entry in os.listdir(self._disk.root):
            doc = None if entry.startswith(".") else read_json(
                os.path.join(self._disk.root, entry, "account.json")
            )
            if doc is not None:
                names.append(doc["account"])
        return sorted(names)
