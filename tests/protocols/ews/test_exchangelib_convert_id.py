"""exchangelib's ConvertId (``Protocol.convert_ids``): this server's ids go between
EwsId and EwsLegacyId unchanged, each bad one fails alone."""

from __future__ import annotations

import pytest_twisted

from smsync.testing.servers import USER, in_thread, numbered_message
from tests.protocols.ews.ews_support import account


@pytest_twisted.ensureDeferred
async def test_ids_are_converted_one_by_one(server):
    await server.deliver(numbered_message(1))

    def client():
        from exchangelib.properties import AlternateId

        acc = account(server)
        [message] = list(acc.inbox.all())
        given = [AlternateId(id=message.id, format="EwsId", mailbox=USER),
                 AlternateId(id=acc.inbox.id, format="EwsId", mailbox=USER),
                 AlternateId(id="not-an-id", format="EwsId", mailbox=USER),
                 AlternateId(id=message.id, format="EntryId", mailbox=USER)]
        answers = list(acc.protocol.convert_ids(given, destination_format="EwsLegacyId"))
        back = list(acc.protocol.convert_ids([AlternateId(id=answers[0].id, format="EwsLegacyId",
                                                          mailbox=USER)], destination_format="EwsId"))
        return message.id, acc.inbox.id, answers, back

    message_id, inbox_id, answers, back = await in_thread(client)
    assert [a.id for a in answers[:2]] == [message_id, inbox_id]
    assert all(a.format == "EwsLegacyId" for a in answers[:2])
    assert [type(a).__name__ for a in answers[2:]] == ["ErrorInvalidIdMalformed"] * 2
    assert back[0].id == message_id and back[0].format == "EwsId"
