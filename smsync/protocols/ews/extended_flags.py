"""Well-known MAPI properties of a message that are its IMAP flags, so a client asking
for them by PropertyTag sees what every protocol sees, and one setting them changes the
flags (nothing is kept beside the message for these):

- PidTagFlagStatus (0x1090, Integer): 2 while ``\\Flagged``; set to 2 flags the
  message, to anything else (or deleted) unflags it;
- PidTagMessageFlags (0x0E07, Integer): 0x1 read (``\\Seen``), 0x8 unsent
  (``\\Draft``), 0x10 has attachments; setting it changes only the read bit, as
  Exchange allows once a message is saved;
- PidTagLastVerbExecuted (0x1081, Integer): 104 (forwarded) while ``$Forwarded``,
  else 102 (replied) while ``\\Answered``; set to 104 it adds ``$Forwarded``, to another
  verb ``\\Answered``; deleted (or 0) it removes both.
"""

from __future__ import annotations

from smsync.protocols.ews.extended import decode

FLAG_STATUS, MESSAGE_FLAGS, LAST_VERB = "tag/0x1090", "tag/0x0e07", "tag/0x1081"
WELL_KNOWN = frozenset({FLAG_STATUS, MESSAGE_FLAGS, LAST_VERB})
SEEN, DRAFT, FLAGGED, ANSWERED, FORWARDED = "\\Seen", "\\Draft", "\\Flagged", "\\Answered", "$Forwarded"
_READ, _UNSENT, _HASATTACH = 0x1, 0x8, 0x10
_FORWARD, _REPLY = 104, 102


def props_of(flags, has_attachments: bool) -> dict:
    """``{key: stored text}`` of the well-known properties a message's flags make."""
    out = {}
    if FLAGGED in flags:
        out[FLAG_STATUS] = "Integer:2"
    bits = ((_READ if SEEN in flags else 0) | (_UNSENT if DRAFT in flags else 0)
            | (_HASATTACH if has_attachments else 0))
    out[MESSAGE_FLAGS] = f"Integer:{bits}"
    if FORWARDED in flags:
        out[LAST_VERB] = f"Integer:{_FORWARD}"
    elif ANSWERED in flags:
        out[LAST_VERB] = f"Integer:{_REPLY}"
    return out


def _number(stored) -> int:
    if stored is None:
        return 0
    try:
        kind, values = decode(stored)
        return int(values[0]) if not kind.endswith("Array") else 0
    except ValueError:
        return 0


def to_flags(changes: dict) -> tuple[set, set, dict]:
    """``(flags to add, flags to remove, the other changes)`` of a message's property
    changes (key -> stored text, None to delete)."""
    add, remove, rest = set(), set(), {}
    for key, stored in changes.items():
        if key not in WELL_KNOWN:
            rest[key] = stored
            continue
        value = _number(stored)
        if key == FLAG_STATUS:
            (add if value == 2 else remove).add(FLAGGED)
        elif key == MESSAGE_FLAGS:
            if stored is not None:
                (add if value & _READ else remove).add(SEEN)
        elif value == _FORWARD:
            add.add(FORWARDED)
        elif value:
            add.add(ANSWERED)
        else:
            remove |= {ANSWERED, FORWARDED}
    return add, remove - add, rest
