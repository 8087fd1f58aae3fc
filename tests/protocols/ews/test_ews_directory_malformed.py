"""Malformed requests of the directory, availability, settings and attachment
operations: valid requests cut and scrambled are each answered -- a fault or per-item
errors with the ResponseCode a client expects -- never an internal error or a
traceback in the log (the spine's test_ews_malformed does the same for its own)."""

from __future__ import annotations

import random

import pytest_twisted
from lxml import etree

from smsync.protocols.ews import ids, soap
from smsync.testing.servers import OTHER, USER, in_thread
from tests.protocols.ews.ews_support import operation, post
from tests.protocols.ews.test_ews_malformed import mutate
from tests.protocols.ews.test_exchangelib_attachments import DELIVERED

ZONE = ("<t:TimeZone><t:Bias>-60</t:Bias><t:StandardTime><t:Bias>0</t:Bias><t:Time>03:00:00</t:Time>"
        "<t:DayOrder>5</t:DayOrder><t:Month>10</t:Month><t:DayOfWeek>Sunday</t:DayOfWeek></t:StandardTime>"
        "<t:DaylightTime><t:Bias>-60</t:Bias><t:Time>02:00:00</t:Time><t:DayOrder>5</t:DayOrder>"
        "<t:Month>3</t:Month><t:DayOfWeek>Sunday</t:DayOfWeek></t:DaylightTime></t:TimeZone>")


def requests(item: str, attachment: str) -> list:
    mailbox = f"<t:Mailbox><t:Address>{USER}</t:Address></t:Mailbox>"
    return [
        ("ResolveNames", "<m:UnresolvedEntry>bo</m:UnresolvedEntry><m:UnresolvedEntry>SMTP:bob@example.org</m:UnresolvedEntry>"),
        ("ExpandDL", f'<m:Mailbox><t:EmailAddress>team</t:EmailAddress><t:ItemId Id="{item}"/></m:Mailbox>'),
        ("GetUserOofSettingsRequest", mailbox),
        ("SetUserOofSettingsRequest", f"{mailbox}<t:UserOofSettings><t:OofState>Scheduled</t:OofState>"
                                      "<t:ExternalAudience>Known</t:ExternalAudience><t:Duration>"
                                      "<t:StartTime>2030-01-01T00:00:00Z</t:StartTime><t:EndTime>2030-01-02T00:00:00Z</t:EndTime>"
                                      "</t:Duration><t:InternalReply><t:Message>in</t:Message></t:InternalReply>"
                                      "<t:ExternalReply><t:Message>out</t:Message></t:ExternalReply></t:UserOofSettings>"),
        ("GetInboxRules", f"<m:MailboxSmtpAddress>{USER}</m:MailboxSmtpAddress>"),
        ("GetServerTimeZones", "<m:Ids><t:Id>W. Europe Standard Time</t:Id><t:Id>UTC</t:Id></m:Ids>"),
        ("GetUserAvailabilityRequest", f"{ZONE}<m:MailboxDataArray><t:MailboxData><t:Email><t:Address>{USER}</t:Address>"
                                       f"</t:Email><t:AttendeeType>Required</t:AttendeeType></t:MailboxData><t:MailboxData><t:Email><t:Address>{OTHER}</t:Address>"
                                       "</t:Email><t:AttendeeType>Required</t:AttendeeType></t:MailboxData></m:MailboxDataArray>"
                                       "<t:FreeBusyViewOptions><t:TimeWindow><t:StartTime>2026-12-07T00:00:00</t:StartTime>"
                                       "<t:EndTime>2026-12-08T00:00:00</t:EndTime></t:TimeWindow><t:MergedFreeBusyIntervalInMinutes>30"
                                       "</t:MergedFreeBusyIntervalInMinutes><t:RequestedView>DetailedMerged</t:RequestedView></t:FreeBusyViewOptions>"),
        ("MarkAsJunk", f'<m:ItemIds><t:ItemId Id="{item}"/></m:ItemIds>'),
        ("GetAttachment", f'<m:AttachmentIds><t:AttachmentId Id="{attachment}"/></m:AttachmentIds>'),
        ("CreateAttachment", f'<m:ParentItemId Id="{item}"/><m:Attachments><t:FileAttachment><t:Name>a.txt</t:Name>'
                             "<t:ContentType>text/plain</t:ContentType><t:Content>aGk=</t:Content></t:FileAttachment></m:Attachments>"),
        ("DeleteAttachment", f'<m:AttachmentIds><t:AttachmentId Id="{attachment}"/></m:AttachmentIds>'),
        ("SendItem", f'<m:ItemIds><t:ItemId Id="{item}"/></m:ItemIds>'),
    ]


@pytest_twisted.ensureDeferred
async def test_scrambled_operations_are_answered_not_crashed(server, log_capture):
    port = server.port("http")
    rnd = random.Random(16)

    async def fresh():
        # Each round works on a message of its own: the good requests change it.
        [uid] = await server.deliver(DELIVERED)
        box = await server.mailbox()
        ref = ids.ItemRef(USER, ids.MESSAGE, box.id, str(uid))
        return ids.item_id(ref), ids.attachment_id(ref, "2")

    def run(round_, item, attachment):
        seen = []
        for name, xml in requests(item, attachment):
            op = operation(name, xml)
            if round_:
                mutate(op, rnd)
            status, _headers, payload = post(port, soap.request_envelope(op))
            answer = soap.read_response(payload)
            assert status in (200, 500), (name, status)
            text = etree.tostring(answer.payload) if answer.payload is not None else b""
            assert answer.response_code != "ErrorInternalServerError", (name, answer.fault_string)
            assert b"ErrorInternalServerError" not in text, (name, text[:500])
            seen.append((name, status))
        return seen

    seen = []
    for round_ in range(12):
        item, attachment = await fresh()
        seen += await in_thread(run, round_, item, attachment)
    assert len(seen) == 12 * 12
    failures = [e for e in log_capture.events if e.get("log_failure") is not None]
    assert not failures, [str(e["log_failure"].value) for e in failures][:5]
