"""A Maildir++ tree and the state file kept in each of its folders.

Layout of one account's mail (``ACCOUNT/Maildir``)::

    Maildir/                     INBOX itself (cur/ new/ tmp/)
    Maildir/smsync-state.json    INBOX's FolderState
    Maildir/smsync-account.json  the last UIDVALIDITY handed out in this account
    Maildir/.Sent/               folder "Sent"
    Maildir/.Lists.twisted/      folder "Lists/twisted" (Maildir++ uses "." between levels)

Messages are files in ``cur/`` named ``UNIQUE:2,FLAGS`` with the system flags as
Maildir letters (``FRS``), so any Maildir reader (mutt, notmuch, dovecot) sees them with
their flags. What Maildir cannot hold -- UIDs, UIDVALIDITY, MODSEQs, keywords, the
internal date and the tombstones of expunged UIDs -- lives in the folder's state file.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from typing import Iterator, Optional

import attrs

from smsync.errors import NotFound
from smsync.model import MAILBOX_SEPARATOR, MailboxEntry, Role

from .files import path_segment, read_json, write_json

STATE_FILE = "smsync-state.json"
ACCOUNT_FILE = "smsync-account.json"


@attrs.define
class MessageRecord:
    """What the state file knows of one message besides its file's flags."""

    file: str  # name under cur/, ending in the ":2," info
    keywords: list
    internal_date: str  # ISO 8601, aware
    saved_date: str
    size: int
    modseq: int


@attrs.define
class FolderState:
    """One folder's state file: identity, counters, messages by UID, tombstones."""

    id: str
    name: str
    role: Optional[str]
    subscribed: bool
    uidvalidity: int
    uidnext: int = 1
    highestmodseq: int = 1
    messages: dict = attrs.field(factory=dict)  # uid -> MessageRecord
    expunged: list = attrs.field(factory=list)  # [uid, modseq] of every removed message

    @classmethod
    def load(cls, maildir: str) -> Optional["FolderState"]:
        doc = read_json(os.path.join(maildir, STATE_FILE))
        if doc is None:
            return None
        doc["messages"] = {int(uid): MessageRecord(**rec) for uid, rec in doc["messages"].items()}
        return cls(**doc)

    def save(self, maildir: str) -> None:
        doc = attrs.asdict(self)
        doc["messages"] = {str(uid): attrs.asdict(rec) for uid, rec in self.messages.items()}
        write_json(os.path.join(maildir, STATE_FILE), doc)

    def entry(self) -> MailboxEntry:
        return MailboxEntry(
            id=self.id,
            name=self.name,
            role=Role(self.role) if self.role else None,
            subscribed=self.subscribed,
        )


class MaildirTree:
    """The folders of one account's Maildir++ tree. Blocking; worker threads only."""

    def __init__(self, root: str):
        self.root = root

    def folder_dir(self, name: str) -> str:
        if name == "INBOX":
            return self.root
        levels = name.split(MAILBOX_SEPARATOR)
        return os.path.join(self.root, "." + ".".join(path_segment(lv) for lv in levels))

    def folders(self) -> Iterator[tuple[str, FolderState]]:
        """Every folder as (its directory, its state), INBOX first."""
        candidates = [self.root]
        try:
            names = sorted(os.listdir(self.root))
        except FileNotFoundError:
            return
        candidates += [os.path.join(self.root, n) for n in names if n.startswith(".") and n != "."]
        for path in candidates:
            state = FolderState.load(path) if os.path.isdir(path) else None
            if state is not None:
                yield path, state

    def find(self, name: str) -> Optional[tuple[str, FolderState]]:
        path = self.folder_dir(name)
        state = FolderState.load(path)
        return (path, state) if state is not None and state.name == name else None

    def get(self, name: str) -> tuple[str, FolderState]:
        found = self.find(name)
        if found is None:
            raise NotFound(f"no folder {name!r}")
        return found

    def get_by_id(self, folder_id: str, hint: Optional[str] = None) -> tuple[str, FolderState]:
        """The folder with this id. ``hint`` is where it was last seen: a rename moves it,
        so when the hint is stale the whole tree is searched."""
        if hint is not None:
            state = FolderState.load(hint)
            if state is not None and state.id == folder_id:
                return hint, state
        for path, state in self.folders():
            if state.id == folder_id:
                return path, state
        raise NotFound(f"no folder with id {folder_id!r}")

    def make(self, name: str, role: Optional[Role], uidvalidity: Optional[int] = None):
        """Create an empty folder with a fresh id and UIDVALIDITY (``uidvalidity``, if
        given, must come from ``reserve_uidvalidity``)."""
        path = self.folder_dir(name)
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(path, sub), exist_ok=True)
        # Maildir++ marks every folder but INBOX with an empty "maildirfolder" file.
        if path != self.root:
            open(os.path.join(path, "maildirfolder"), "ab").close()
        state = FolderState(
            id=uuid.uuid4().hex,
            name=name,
            role=role.value if role else None,
            subscribed=True,
            uidvalidity=uidvalidity or self.reserve_uidvalidity(),
        )
        state.save(path)
        return state

    def reserve_uidvalidity(self, count: int = 1) -> int:
        """The first of ``count`` consecutive UIDVALIDITY values no folder of this
        account has had."""
        # Time-based like most servers, and above the last one handed out, so a folder
        # deleted and re-created under the same name never gets its old UIDVALIDITY back.
        os.makedirs(self.root, exist_ok=True)
        path = os.path.join(self.root, ACCOUNT_FILE)
        last = (read_json(path) or {}).get("last_uidvalidity", 0)
        first = max(int(time.time()), last + 1)
        write_json(path, {"last_uidvalidity": first + count - 1})
        return first

    def remove(self, path: str) -> None:
        """Delete one folder's directory (children are sibling directories in Maildir++,
        so they stay)."""
        # Rename first so a crash halfway leaves a dot-directory without a state file,
        # which ``folders`` ignores, rather than half a folder.
        doomed = os.path.join(self.root, f".deleted-{uuid.uuid4().hex}")
        os.rename(path, doomed)
        shutil.rmtree(doomed)
