"""A compact, versioned byte form of ``MessageStructure`` that stores keep per message.

The form is JSON arrays (positional, no keys) so it is small, readable in a debugger,
stable across Python versions, and loads with the C JSON decoder in microseconds.
Field order is fixed by ``FORMAT_VERSION``; a blob of another version is refused with
``ValueError`` so a store can re-parse the message instead of misreading it. Fields
added later go at the end, read as absent from shorter blobs of the same version
(stores keep blobs for as long as they keep the message).
"""

from __future__ import annotations

import json
from datetime import datetime

from smsync.formats.addresses import Address
from smsync.formats.structure import BodyPart, Envelope, MessageStructure

FORMAT_VERSION = 1

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
_loads = json.loads


def _addrs(addresses) -> list:
    return [[a.name, a.adl, a.mailbox, a.host] for a in addresses]


def _envelope_out(e: Envelope) -> list:
    # sender/reply-to usually equal from: write 0 for "same as from" to keep blobs small
    return [
        e.date,
        e.subject,
        _addrs(e.from_),
        0 if e.sender == e.from_ else _addrs(e.sender),
        0 if e.reply_to == e.from_ else _addrs(e.reply_to),
        _addrs(e.to),
        _addrs(e.cc),
        _addrs(e.bcc),
        e.in_reply_to,
        e.message_id,
    ]


def _params_out(params, raw):
    # the raw form usually equals the decoded one: then store it as 0
    return [list(p) for p in params], (0 if params == raw else [list(p) for p in raw])


def _part_out(p: BodyPart) -> list:
    params, params_raw = _params_out(p.params, p.params_raw)
    dparams, dparams_raw = _params_out(p.disposition_params, p.disposition_params_raw)
    return [
        p.type,
        p.subtype,
        params,
        params_raw,
        p.id,
        p.description,
        p.encoding,
        p.size,
        p.lines,
        p.disposition,
        dparams,
        dparams_raw,
        list(p.language) if p.language is not None else None,
        p.location,
        p.header_start,
        p.header_end,
        p.body_end,
        [_part_out(c) for c in p.children],
        _envelope_out(p.envelope) if p.envelope is not None else None,
        _part_out(p.message) if p.message is not None else None,
    ]


def structure_to_bytes(s: MessageStructure) -> bytes:
    """Serialise a structure; ``structure_from_bytes`` gives back an equal one."""
    return _dumps(
        [
            FORMAT_VERSION,
            s.header_size,
            s.size,
            s.lines,
            s.subject,
            s.date.isoformat() if s.date is not None else None,
            s.from_,
            s.to,
            s.cc,
            s.bcc,
            s.message_id,
            s.in_reply_to,
            list(s.references),
            s.has_attachments,
            _envelope_out(s.envelope),
            _part_out(s.root),
            s.digest,
        ]
    ).encode("utf-8")


def _addrs_in(lst) -> tuple:
    return tuple([Address(*a) for a in lst])


def _envelope_in(e: list) -> Envelope:
    from_ = _addrs_in(e[2])
    return Envelope(
        e[0],
        e[1],
        from_,
        from_ if e[3] == 0 else _addrs_in(e[3]),
        from_ if e[4] == 0 else _addrs_in(e[4]),
        _addrs_in(e[5]),
        _addrs_in(e[6]),
        _addrs_in(e[7]),
        e[8],
        e[9],
    )


def _params_in(cooked, raw):
    params = tuple([(k, v) for k, v in cooked])
    return params, (params if raw == 0 else tuple([(k, v) for k, v in raw]))


def _part_in(p: list) -> BodyPart:
    params, params_raw = _params_in(p[2], p[3])
    dparams, dparams_raw = _params_in(p[10], p[11])
    return BodyPart(
        p[0],
        p[1],
        params,
        params_raw,
        p[4],
        p[5],
        p[6],
        p[7],
        p[8],
        None,
        p[9],
        dparams,
        dparams_raw,
        tuple(p[12]) if p[12] is not None else None,
        p[13],
        p[14],
        p[15],
        p[16],
        tuple([_part_in(c) for c in p[17]]) if p[17] else (),
        _envelope_in(p[18]) if p[18] is not None else None,
        _part_in(p[19]) if p[19] is not None else None,
    )


def structure_from_bytes(blob: bytes) -> MessageStructure:
    """Load a blob made by ``structure_to_bytes``. ``ValueError`` for anything else
    (including a blob of another format version)."""
    try:
        v = _loads(blob)
        if not isinstance(v, list) or not v or v[0] != FORMAT_VERSION:
            raise ValueError(f"not a version {FORMAT_VERSION} message structure")
        return MessageStructure(
            _envelope_in(v[14]),
            _part_in(v[15]),
            v[1],
            v[2],
            v[3],
            v[4],
            datetime.fromisoformat(v[5]) if v[5] is not None else None,
            v[6],
            v[7],
            v[8],
            v[9],
            v[10],
            v[11],
            tuple(v[12]),
            v[13],
            # Blobs written before the digest was kept end at the root part.
            v[16] if len(v) > 16 else None,
        )
    except ValueError:
        raise
    except (TypeError, IndexError, KeyError) as e:
        raise ValueError(f"corrupt message structure: {e}") from None
