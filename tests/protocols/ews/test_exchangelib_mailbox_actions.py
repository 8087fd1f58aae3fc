"""exchangelib on the mailbox's own settings and actions: automatic replies (the state
EAS Settings Oof shares), inbox rules (none), and -- over the spine's operations --
MarkAsJunk there and back and SendItem of a saved draft with a Bcc to another account;
raw SOAP for the errors a client gets."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest_twisted

from smsync.edge import oof
from smsync.testing.servers import OTHER, USER, in_thread, numbered_message
from tests.protocols.ews.ews_support import account, call, codes


@pytest_twisted.ensureDeferred
async def test_oof_settings_round_trip_and_are_the_core_state(server):
    def set_and_read():
        from exchangelib.settings import OofSettings

        acc = account(server)
        assert acc.oof_settings.state == OofSettings.DISABLED
        start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=1)
        acc.oof_settings = OofSettings(state=OofSettings.SCHEDULED, external_audience="Known",
                                       internal_reply="Back Monday", external_reply="Away",
                                       start=start, end=start + timedelta(days=3))
        again = account(server).oof_settings
        assert again.state == OofSettings.SCHEDULED and again.external_audience == "Known"
        assert again.internal_reply == "Back Monday" and again.external_reply == "Away"
        assert again.start == start and again.end == start + timedelta(days=3)
        return start

    start = await in_thread(set_and_read)
    # What EAS Settings reads: the core's one out-of-office state.
    stored = await oof.load(server.store, USER)
    assert stored.state == oof.TIME_BASED and stored.start == start
    assert stored.messages["AppliesToInternal"] == oof.OofMessage(True, "Back Monday", "Text")
    assert stored.messages["AppliesToExternalKnown"].enabled
    assert not stored.messages["AppliesToExternalUnknown"].enabled
    # Set by a phone, read by EWS.
    await oof.save(server.store, USER, oof.Oof(oof.GLOBAL, messages={
        "AppliesToInternal": oof.OofMessage(True, "<p>Out</p>", "HTML"),
        "AppliesToExternalUnknown": oof.OofMessage(True, "Gone", "Text")}))

    def read_back():
        from exchangelib.settings import OofSettings

        got = account(server).oof_settings
        assert got.state == OofSettings.ENABLED and got.external_audience == "All"
        assert got.internal_reply == "<p>Out</p>" and got.external_reply == "Gone"
        acc = account(server)
        acc.oof_settings = OofSettings(state=OofSettings.DISABLED)
        assert account(server).oof_settings.state == OofSettings.DISABLED

    await in_thread(read_back)
    assert (await oof.load(server.store, USER)).state == oof.DISABLED


@pytest_twisted.ensureDeferred
async def test_oof_and_rules_errors(server):
    def client():
        port = server.portno
        other = call(port, "GetUserOofSettingsRequest",
                     f"<t:Mailbox><t:Address>{OTHER}</t:Address></t:Mailbox>")
        assert other.payload.findtext(".//{*}ResponseCode") == "ErrorAccessDenied"
        bad_state = call(port, "SetUserOofSettingsRequest",
                         f"<t:Mailbox><t:Address>{USER}</t:Address></t:Mailbox>"
                         "<t:UserOofSettings><t:OofState>Sometimes</t:OofState></t:UserOofSettings>")
        assert bad_state.payload.findtext(".//{*}ResponseCode") == "ErrorSchemaValidation"
        backwards = call(port, "SetUserOofSettingsRequest",
                         f"<t:Mailbox><t:Address>{USER}</t:Address></t:Mailbox>"
                         "<t:UserOofSettings><t:OofState>Scheduled</t:OofState>"
                         "<t:Duration><t:StartTime>2030-01-02T00:00:00Z</t:StartTime>"
                         "<t:EndTime>2030-01-01T00:00:00Z</t:EndTime></t:Duration>"
                         "</t:UserOofSettings>")
        assert backwards.payload.findtext(".//{*}ResponseCode") == "ErrorInvalidParameter"
        # Rules: none, and none for another mailbox either.
        acc = account(server)
        assert list(acc.rules) == []
        theirs = call(port, "GetInboxRules", f"<m:MailboxSmtpAddress>{OTHER}</m:MailboxSmtpAddress>")
        assert theirs.payload.findtext("{*}ResponseCode") == "ErrorAccessDenied"

    await in_thread(client)


async def flags_by_folder(server, user=USER):
    out = {}
    for folder in ("INBOX", "Junk"):
        box = await server.mailbox(folder, user)
        out[folder] = [set(i.flags) for i in await box.messages(None)]
    return out


@pytest_twisted.ensureDeferred
async def test_mark_as_junk_and_back(server):
    await server.deliver(numbered_message(1))

    def to_junk():
        acc = account(server)
        item = acc.inbox.all()[0]
        item.mark_as_junk(is_junk=True, move_item=True)
        assert acc.junk.all().count() == 1 and acc.inbox.all().count() == 0
        # The id it answered is the message in Junk.
        assert acc.junk.get(id=item.id).subject == "message 1"

    await in_thread(to_junk)
    assert (await flags_by_folder(server)) == {"INBOX": [], "Junk": [{"$Junk"}]}

    def back():
        acc = account(server)
        item = acc.junk.all()[0]
        item.mark_as_junk(is_junk=False, move_item=True)
        assert acc.inbox.all().count() == 1
        # Without MoveItem only the verdict changes.
        acc.inbox.all()[0].mark_as_junk(is_junk=True, move_item=False)

    await in_thread(back)
    assert (await flags_by_folder(server)) == {"INBOX": [{"$Junk"}], "Junk": []}
    answer = await in_thread(call, server.portno, "MarkAsJunk",
                             '<m:ItemIds><t:ItemId Id="garbage"/></m:ItemIds>')
    assert codes(answer) == ["ErrorInvalidIdMalformed"]


@pytest_twisted.ensureDeferred
async def test_send_item_sends_a_saved_draft(server):
    def client():
        from exchangelib import Mailbox, Message

        acc = account(server)
        draft = Message(account=acc, folder=acc.drafts, subject="drafted first", body="see you",
                        to_recipients=[Mailbox(email_address=OTHER)],
                        bcc_recipients=[Mailbox(email_address=USER)])
        draft.save()
        assert acc.drafts.all().count() == 1
        draft.send()
        assert acc.drafts.all().count() == 0
        [copy] = acc.sent.all()
        assert copy.subject == "drafted first"

    await in_thread(client)
    [received] = await server.bodies(user=OTHER)
    assert b"drafted first" in received and b"\nBcc:" not in received.replace(b"\r\n", b"\n")
    [own] = await server.bodies(user=USER, folder="Sent")
    assert b"Bcc:" in own
    # The Bcc'd sender got it too.
    [bcc_copy] = await server.bodies(user=USER)
    assert b"drafted first" in bcc_copy
