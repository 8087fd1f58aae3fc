"""ResolveRecipients (MS-ASCMD 2.2.1.15): each ``To`` the device sends resolved against
the server's accounts (Type 1, GAL) and the contacts of the account's address books
(Type 2).

An address matching exactly resolves to that entry; otherwise the ``To`` is a prefix of
addresses and names, and several matches are answered as ambiguous suggestions.
Availability of an account of this server is its calendars' merged free/busy (the
core's ``smsync.scheduling.freebusy``, as CalDAV and EWS answer it), one digit per 30
minutes; a contact's is not known here ("could not be retrieved"). S/MIME certificates
are not kept: "no valid certificate".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional

from smsync.edge import directory
from smsync.errors import NotFound
from smsync.protocols.eas.commands import CommandError, command
from smsync.protocols.eas.convert import ConversionError, parse_eas_date
from smsync.protocols.eas.wbxml import Element
from smsync.scheduling import freebusy

RR = "ResolveRecipients:"

#: ResolveRecipients Status of the command (MS-ASCMD 2.2.3.177.12).
OK, PROTOCOL_ERROR = "1", "5"
#: ... of a Response.
RESOLVED, AMBIGUOUS, AMBIGUOUS_PARTIAL, NOT_RESOLVED = "1", "2", "3", "4"
#: ... of Availability: the free/busy data could not be retrieved.
FREEBUSY_UNAVAILABLE = "162"
#: ... of Certificates: the recipient has no valid certificate.
NO_CERTIFICATE = "7"

#: At most this many To elements in one request (MS-ASCMD 2.2.3.183).
MAX_TO = 100
#: Suggestions per ambiguous To when the device names no MaxAmbiguousRecipients.
DEFAULT_AMBIGUOUS = 19
#: Availability's intervals, and the longest range answered (MS-ASCMD 2.2.3.105).
INTERVAL = timedelta(minutes=30)
MAX_AVAILABILITY = timedelta(days=42)
_DIGITS = {freebusy.TENTATIVE: "1", freebusy.BUSY: "2", freebusy.UNAVAILABLE: "3"}


def _r(tag: str, text=None, *children) -> Element:
    return Element(RR, tag, children, text)


def _number(element, default: int) -> int:
    if element is None:
        return default
    if element.text is None or not element.text.isdigit():
        raise ValueError(f"{element.tag} is not a number")
    return int(element.text)


class _Options:
    def __init__(self, options):
        find = (lambda tag: options.find(RR, tag)) if options is not None else (lambda tag: None)
        self.certificates = _number(find("CertificateRetrieval"), 1)
        if self.certificates not in (1, 2, 3):
            raise ValueError("CertificateRetrieval is 1, 2 or 3")
        self.max_ambiguous = min(_number(find("MaxAmbiguousRecipients"), DEFAULT_AMBIGUOUS),
                                 DEFAULT_AMBIGUOUS)
        availability = find("Availability")
        self.availability = availability is not None
        self.start = self.end = None
        if availability is not None:
            start, end = availability.find(RR, "StartTime"), availability.find(RR, "EndTime")
            if start is None or end is None:
                raise ValueError("Availability needs a StartTime and an EndTime")
            try:
                self.start, self.end = parse_eas_date(start.text), parse_eas_date(end.text)
            except ConversionError as e:
                raise ValueError(str(e)) from None
            if self.start >= self.end:
                raise ValueError("Availability ends before it starts")
            self.end = min(self.end, self.start + MAX_AVAILABILITY)


def merged_free_busy(periods, start: datetime, end: datetime) -> str:
    """One digit per 30 minutes from ``start`` to ``end``: the busiest of the busy
    ``periods`` (``(fbtype, start, end)``) overlapping it, 0 for free."""
    out = []
    at = start
    while at < end:
        stop = at + INTERVAL
        out.append(max((_DIGITS.get(kind, "2") for kind, s, e in periods if s < stop and e > at),
                       default="0"))
        at = stop
    return "".join(out)


async def availability(store, person: directory.Person, options: _Options) -> Element:
    """The Availability of a resolved recipient: an account's merged free/busy."""
    if person.kind == directory.GAL:
        try:
            periods = await freebusy.busy_time(store, person.email, options.start, options.end)
        except NotFound:
            periods = None
        if periods is not None:
            return _r("Availability", None, _r("Status", OK),
                      _r("MergedFreeBusy", merged_free_busy(periods, options.start, options.end)))
    return _r("Availability", None, _r("Status", FREEBUSY_UNAVAILABLE))


def _recipient(person: directory.Person, options: _Options, details: bool,
               free_busy: Optional[Element] = None) -> Element:
    """One Recipient; with ``details``, the Availability and Certificates asked for."""
    children = [_r("Type", str(person.kind)), _r("DisplayName", person.display_name),
                _r("EmailAddress", person.email)]
    if details and options.availability:
        children.append(free_busy if free_busy is not None
                        else _r("Availability", None, _r("Status", FREEBUSY_UNAVAILABLE)))
    if details and options.certificates != 1:
        children.append(_r("Certificates", None, _r("Status", NO_CERTIFICATE),
                           _r("CertificateCount", "0"), _r("RecipientCount", "0")))
    return _r("Recipient", None, *children)


def _response(to: str, found: list, options: _Options, free_busy: Optional[Element] = None) -> Element:
    if not found:
        return _r("Response", None, _r("To", to), _r("Status", NOT_RESOLVED),
                  _r("RecipientCount", "0"))
    if len(found) == 1:
        return _r("Response", None, _r("To", to), _r("Status", RESOLVED),
                  _r("RecipientCount", "1"), _recipient(found[0], options, True, free_busy))
    status = AMBIGUOUS if len(found) <= options.max_ambiguous else AMBIGUOUS_PARTIAL
    shown = found[:options.max_ambiguous]
    # Suggestions carry no certificates nor free/busy (MS-ASCMD 2.2.3.177.12).
    return _r("Response", None, _r("To", to), _r("Status", status),
              _r("RecipientCount", str(len(found))),
              *(_recipient(p, options, False) for p in shown))


@command("ResolveRecipients", RR)
async def resolve_recipients(ctx, body):
    if body is None or (body.namespace, body.tag) != (RR, "ResolveRecipients"):
        raise CommandError(400, "ResolveRecipients needs a ResolveRecipients body")
    tos = [c.text or "" for c in body.children if (c.namespace, c.tag) == (RR, "To")]
    try:
        if not tos or len(tos) > MAX_TO:
            raise ValueError(f"{len(tos)} To elements (1 to {MAX_TO} are taken)")
        if any(len(t) > 256 for t in tos):
            raise ValueError("a To longer than 256 characters")
        options = _Options(body.find(RR, "Options"))
    except ValueError as e:
        ctx.log(f"ResolveRecipients: protocol error: {e}")
        return _r("ResolveRecipients", None, _r("Status", PROTOCOL_ERROR))
    people = await directory.gal(ctx.store) + await directory.contacts(ctx.store, ctx.account)
    responses = []
    resolved = 0
    for to in tos:
        found = directory.resolve(people, to)
        resolved += len(found) == 1
        free_busy = (await availability(ctx.store, found[0], options)
                     if len(found) == 1 and options.availability else None)
        responses.append(_response(to, found, options, free_busy))
    ctx.log(f"ResolveRecipients: {resolved} of {len(tos)} resolved")
    return _r("ResolveRecipients", None, _r("Status", OK), *responses)
