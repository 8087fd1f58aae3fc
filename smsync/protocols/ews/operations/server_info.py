"""Operations about the server and ids rather than the mailbox: ConvertId (clients also
probe the server's version with it)."""

from __future__ import annotations

from lxml import etree

from smsync.protocols.ews import ids
from smsync.protocols.ews.errors import INVALID_ID_MALFORMED, SCHEMA_VALIDATION, EWSError
from smsync.protocols.ews.operations import operation
from smsync.protocols.ews.soap import T, XSI, m, response, response_message

#: The one id format this server's ids are in; EwsLegacyId is the same text.
_SAME = ("EwsId", "EwsLegacyId")


def _convertible(text: str) -> bool:
    for parse in (ids.parse_item_id, ids.parse_folder_id):
        try:
            parse(text)
            return True
        except ids.MalformedId:
            pass
    return False


@operation("ConvertId")
async def convert_id(ctx, request):
    destination = request.get("DestinationFormat", "")
    holder = request.find(m("SourceIds"))
    if holder is None:
        raise EWSError(SCHEMA_VALIDATION, "no SourceIds")
    answers = []
    for source in holder:
        if not isinstance(source.tag, str):
            continue
        given = source.get("Id", "")
        if source.get("Format") not in _SAME or destination not in _SAME or not _convertible(given):
            answers.append(response_message("ConvertId", INVALID_ID_MALFORMED,
                                            "only ids of this server, as EwsId, are converted"))
            continue
        mailbox = source.get("Mailbox", ctx.account)
        # The converted id is the message's own AlternateId element, typed by xsi:type
        # (MS-OXWSCVTID ConvertIdResponseMessageType), as clients read it.
        node = etree.Element(m("AlternateId"), {f"{{{XSI}}}type": "t:AlternateIdType"},
                             nsmap={"xsi": XSI, "t": T})
        node.set("Format", destination)
        node.set("Id", given)
        node.set("Mailbox", mailbox)
        answers.append(response_message("ConvertId", children=[node]))
    return response("ConvertId", answers)
