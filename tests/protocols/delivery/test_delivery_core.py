"""The delivery core's fast paths: a cached recipient that has since been removed, the
cached Received date, and the control-character scrubbing of trace fields."""

from __future__ import annotations

import smtplib
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime

import pytest_twisted
from delivery_harness import OTHER, USER, Raw, in_thread, message, stored_part
from hypothesis import given
from hypothesis import strategies as st

from smsync.protocols.delivery.envelope import _clean, received_header


def _lmtp(port: int, rcpts: list[str], body: bytes) -> dict:
    with smtplib.LMTP("127.0.0.1", port, timeout=20) as client:
        client.ehlo_or_helo_if_needed()
        return client.sendmail("s@example.net", rcpts, body)


@pytest_twisted.ensureDeferred
async def test_cached_account_removed_before_delivery_gets_550(mx):
    # The first delivery makes the core remember the account and its Inbox handle.
    await in_thread(_lmtp, mx.port("lmtp"), [USER], message(1))
    assert len(await mx.bodies(USER)) == 1
    await mx.store.accounts.remove(USER)

    def session():
        raw = Raw(mx.port("lmtp"))
        raw.send(b"LHLO relay.example.net\r\n")
        raw.reply()
        raw.send(f"MAIL FROM:<s@example.net>\r\nRCPT TO:<{USER}>\r\n"
                 f"RCPT TO:<{OTHER}>\r\nDATA\r\n".encode())
        envelope = [raw.reply() for _ in range(4)]
        raw.send(b"Subject: x\r\n\r\nhello\r\n.\r\n")
        return envelope, [raw.reply(), raw.reply()]

    envelope, after = await in_thread(session)
    # Accepted at RCPT from the cache, refused for that recipient once the store says
    # the account is gone; the other recipient still gets the message.
    assert [r[:3] for r in envelope] == [b"250", b"250", b"250", b"354"]
    assert after[0].startswith(b"550 5.1.1") and after[1].startswith(b"250 2.0.0 <bob@")
    [stored] = await mx.bodies(OTHER)
    assert stored_part(stored) == b"Subject: x\r\n\r\nhello\r\n"


@pytest_twisted.ensureDeferred
async def test_account_removed_and_created_again_gets_its_mail(sqlite_mx):
    # The core keeps Inbox handles; one naming the Inbox of a removed account must not
    # turn the first message for the account created again into a 550 (a bounce).
    port = sqlite_mx.port("lmtp")
    await in_thread(_lmtp, port, [USER], message(1))
    await sqlite_mx.store.accounts.remove(USER)
    await sqlite_mx.store.accounts.add(USER, "x")
    refused = await in_thread(_lmtp, port, [USER], message(2))
    assert refused == {}
    [stored] = await sqlite_mx.bodies(USER)
    assert stored_part(stored) == message(2)
    await in_thread(_lmtp, port, [USER], message(3))
    assert [stored_part(b) for b in await sqlite_mx.bodies(USER)] == [message(2), message(3)]


def test_received_date_is_now_and_explicit_dates_are_kept():
    before = datetime.now(timezone.utc).replace(microsecond=0)
    header = received_header(helo="h", peer="1.2.3.4", by="mx", protocol="LMTP",
                             queue_id="Q", recipient="a@b.c")
    after = datetime.now(timezone.utc)
    stamped = parsedate_to_datetime(header.decode().rsplit("; ", 1)[1].strip())
    assert before <= stamped <= after
    when = datetime(2001, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
    header = received_header(helo="h", peer="1.2.3.4", by="mx", protocol="LMTP",
                             queue_id="Q", recipient=None, when=when)
    assert header.endswith(f"; {format_datetime(when)}\r\n".encode())


@given(st.text(max_size=40))
def test_clean_replaces_exactly_the_control_characters(text):
    assert _clean(text) == "".join(c if c >= " " and c != "\x7f" else "?" for c in text)
