"""Store transactions of the SQL stores beyond the conformance suite: a transaction its
caller forgets is rolled back after ``IDLE_LIMIT`` seconds and stops holding up the
store's other writers (SQLite serves it on its only write connection)."""

from __future__ import annotations

import pytest
import pytest_twisted

from smsync.store.registry import open_store
from smsync.store.sql import transaction
from smsync.testing import samples

ACCOUNT = "idle@example.org"


@pytest_twisted.ensureDeferred
async def test_an_idle_transaction_is_rolled_back_and_frees_the_writer(tmp_path, monkeypatch,
                                                                        log_capture):
    monkeypatch.setattr(transaction, "IDLE_LIMIT", 0.5)
    store = await open_store(f"sqlite://{tmp_path / 'store'}")
    try:
        await store.accounts.add(ACCOUNT, "!")
        box = await (await store.mail(ACCOUNT)).mailbox("INBOX")
        txn = await store.transaction()
        tbox = await (await txn.mail(ACCOUNT)).mailbox("INBOX")
        await tbox.append(samples.message("forgotten"))
        # Another writer waits behind the transaction, then gets through once it is
        # rolled back -- well before a test timeout.
        outside = await box.append(samples.message("outside"))
        assert [m.uid for m in await box.messages()] == [outside.uid]
        with pytest.raises(transaction.TransactionEnded):
            await tbox.append(samples.message("too late"))
        await txn.rollback()  # harmless now
        assert any("idle" in line for line in log_capture.lines("smsync.store.sql.transaction"))
    finally:
        await store.close()
