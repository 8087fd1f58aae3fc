"""What every command shares: finding and opening the store, naming accounts, errors."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from smsync.config import CONFIG_NAME, ConfigError, load_config
from smsync.errors import InvalidData, SmsyncError
from smsync.store.common import normalize_account
from smsync.store.registry import open_store

DEFAULT_DATA_DIR = "smsync-data"


class CliError(Exception):
    """A problem the user can fix; printed as ``smsync: error: <message>``."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status


def one_line(e: BaseException) -> str:
    """``e``'s message squeezed to one line."""
    return " ".join(str(e).split()) or type(e).__name__


def data_dir(args) -> Path:
    return Path(args.data or DEFAULT_DATA_DIR)


def store_uri(args) -> str:
    """The store the command works on: ``--store``, else the one in the data dir's
    smsync.toml."""
    if args.store:
        return args.store
    directory = data_dir(args)
    config_path = directory / CONFIG_NAME
    if not config_path.exists():
        raise CliError(f"no {config_path}: run 'smsync init --data {directory}' or give --store URI")
    try:
        config = load_config(config_path)
    except ConfigError as e:
        raise CliError(str(e)) from None
    if not config.store.uri:
        raise CliError(f"{config_path} names no store ([store] uri)")
    return config.store.uri


@contextlib.asynccontextmanager
async def opened_store(args, create: bool = False):
    """The command's store, closed (pending writes finished) however the command ends."""
    uri = store_uri(args)
    try:
        store = await open_store(uri, create=create)
    except SmsyncError as e:
        raise CliError(f"cannot open store {uri}: {one_line(e)}") from None
    except OSError as e:
        raise CliError(f"cannot open store {uri}: {one_line(e)}") from None
    try:
        yield store
    finally:
        await store.close()


def account_name(user: str) -> str:
    try:
        return normalize_account(user)
    except InvalidData as e:
        raise CliError(one_line(e), status=2) from None


async def existing_account(store, user: str) -> str:
    """The normalised name of ``user``; ``CliError`` if the store has no such account."""
    account = account_name(user)
    if await store.accounts.password_hash(account) is None:
        raise CliError(f"no such account: {account}")
    return account


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
