"""vCalendar 1.0 recurrence rules (``W1 MO WE #10``, ``D1 20261231T000000Z``, ``MD1 15 #0``,
``MP1 2+ TU #6``, ``YM1 6 #0``, ``YM1 3 MP1 1- SU``, ``YD1 100``) to and from RFC 5545
RRULEs. A 1.0 rule without a duration repeats twice (the specification's ``#2``); the
weekday, day or month a 1.0 rule names that is DTSTART's own is left out of the 2.0
rule, as 2.0 writers do. 2.0 rules 1.0 cannot say give None.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Optional

from smsync.errors import InvalidData
from smsync.protocols.syncml.formats.vcaltimes import TIME, Moment, moment

_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # datetime.weekday() order
_RULE_HEAD = re.compile(r"^(D|W|MP|MD|YM|YD)(\d+)$")
_OCCURRENCE = re.compile(r"^([1-5])([+-])$")


def read_rule(text: str, start: datetime) -> tuple[str, Optional[Moment]]:
    """A 1.0 rule as 2.0 RRULE parts (without UNTIL) and its end time, if any;
    ``start`` is DTSTART's wall-clock time. ``InvalidData`` for what cannot be read."""
    tokens = [t.rstrip("$").upper() for t in text.split()]
    if not tokens:
        raise InvalidData("empty RRULE")
    m = _RULE_HEAD.match(tokens[0])
    if m is None:
        raise InvalidData(f"unreadable vCalendar RRULE {text[:60]!r}")
    kind, interval = m.group(1), int(m.group(2))
    if interval < 1:
        raise InvalidData(f"RRULE interval 0 in {text[:60]!r}")
    parts = {"FREQ": {"D": "DAILY", "W": "WEEKLY", "MP": "MONTHLY", "MD": "MONTHLY",
                      "YM": "YEARLY", "YD": "YEARLY"}[kind]}
    if interval != 1:
        parts["INTERVAL"] = str(interval)
    i = 1
    end: Optional[Moment] = None
    count: Optional[str] = "2"  # 1.0's default duration is #2

    def modifiers(kind: str, i: int) -> tuple[list[str], int]:
        found: list[str] = []
        occurrence = None
        while i < len(tokens):
            tok = tokens[i]
            if tok.startswith("#") or TIME.match(tok.replace("-", "").replace(":", "")) and len(tok) >= 8 or _RULE_HEAD.match(tok):
                break
            if kind == "W" and tok in _DAYS:
                found.append(tok)
            elif kind == "MP" and _OCCURRENCE.match(tok):
                n, sign = _OCCURRENCE.match(tok).groups()
                occurrence = ("-" if sign == "-" else "") + n
            elif kind == "MP" and tok in _DAYS:
                found.append((occurrence or "") + tok)
            elif kind == "MP" and tok == "LD":
                found.append("-1" + _DAYS[start.weekday()])
            elif kind == "MD" and (tok == "LD" or re.match(r"^\d{1,2}[+-]?$", tok)):
                number = -1 if tok == "LD" else int(tok.rstrip("+-"))
                if not 1 <= number <= 31:
                    raise InvalidData(f"bad day {tok!r} in RRULE")
                found.append(str(-number if tok.endswith("-") else number))
            elif kind == "YM" and re.match(r"^\d{1,2}$", tok) and 1 <= int(tok) <= 12:
                found.append(str(int(tok)))
            elif kind == "YD" and re.match(r"^\d{1,3}$", tok) and 1 <= int(tok) <= 366:
                found.append(str(int(tok)))
            else:
                raise InvalidData(f"unreadable vCalendar RRULE {text[:60]!r}")
            i += 1
        if kind == "MP" and occurrence is not None and not found:
            found.append(occurrence + _DAYS[start.weekday()])
        return found, i

    found, i = modifiers(kind, i)
    if kind == "W":
        if found and found != [_DAYS[start.weekday()]]:
            parts["BYDAY"] = ",".join(found)
    elif kind == "MP":
        occurrence = str((start.day - 1) // 7 + 1)
        parts["BYDAY"] = ",".join(found) or occurrence + _DAYS[start.weekday()]
    elif kind == "MD":
        if found and found != [str(start.day)]:
            parts["BYMONTHDAY"] = ",".join(found)
    elif kind == "YM":
        if found and found != [str(start.month)]:
            parts["BYMONTH"] = ",".join(found)
        if i < len(tokens) and _RULE_HEAD.match(tokens[i]):
            inner = _RULE_HEAD.match(tokens[i])
            if inner.group(1) not in ("MP", "MD") or inner.group(2) != "1":
                raise InvalidData(f"unsupported nested vCalendar RRULE {text[:60]!r}")
            nested, i = modifiers(inner.group(1), i + 1)
            if not nested:
                raise InvalidData(f"unreadable vCalendar RRULE {text[:60]!r}")
            if "BYMONTH" not in parts:
                parts["BYMONTH"] = str(start.month)
            parts["BYDAY" if inner.group(1) == "MP" else "BYMONTHDAY"] = ",".join(nested)
    elif kind == "YD":
        if found:
            parts["BYYEARDAY"] = ",".join(found)
    if i < len(tokens):
        tok = tokens[i]
        if tok.startswith("#"):
            if not tok[1:].isdigit():
                raise InvalidData(f"bad RRULE duration {tok!r}")
            count = None if int(tok[1:]) == 0 else str(int(tok[1:]))
        else:
            end, count = moment(tok), None
        i += 1
    if i < len(tokens):
        raise InvalidData(f"unsupported vCalendar RRULE {text[:60]!r}")
    if count is not None:
        parts["COUNT"] = count
    return ";".join(f"{k}={v}" for k, v in parts.items()), end


def _occurrence(n: int) -> str:
    return f"{n}+" if n > 0 else f"{-n}-"


def write_rule(value: str, start: datetime) -> Optional[tuple[str, Optional[str]]]:
    """A 2.0 RRULE as 1.0 (without its duration) and its UNTIL, or None when 1.0
    cannot say it."""
    parts = {}
    for part in value.upper().split(";"):
        key, _, val = part.partition("=")
        if key:
            parts[key.strip()] = val.strip()
    parts.pop("WKST", None)
    freq = parts.pop("FREQ", "")
    interval = parts.pop("INTERVAL", "1")
    if not interval.isdigit() or int(interval) < 1:
        return None
    until, count = parts.pop("UNTIL", None), parts.pop("COUNT", None)
    by = set(parts)
    days = [d for d in parts.get("BYDAY", "").split(",") if d]
    ordinal = [re.match(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$", d) for d in days]
    if any(m is None for m in ordinal):
        return None
    plain = all(m.group(1) is None for m in ordinal)
    setpos = parts.get("BYSETPOS")
    text = None
    if freq == "DAILY" and not by:
        text = f"D{interval}"
    elif freq == "DAILY" and by == {"BYDAY"} and plain and interval == "1":
        text = "W1 " + " ".join(days)
    elif freq == "WEEKLY" and by <= {"BYDAY"} and plain:
        text = f"W{interval} " + " ".join(days or [_DAYS[start.weekday()]])
    elif freq == "MONTHLY" and by == {"BYMONTHDAY"}:
        numbers = parts["BYMONTHDAY"].split(",")
        if not all(re.match(r"^-?\d{1,2}$", n) and 1 <= abs(int(n)) <= 31 for n in numbers):
            return None
        text = f"MD{interval} " + " ".join(str(n) if int(n) > 0 else f"{-int(n)}-" for n in numbers)
    elif freq == "MONTHLY" and not by:
        text = f"MD{interval} {start.day}"
    elif freq in ("MONTHLY", "YEARLY") and "BYDAY" in by:
        if setpos is not None:
            if not plain or len(days) != 1 or not re.match(r"^-?[1-5]$", setpos):
                return None
            items = [f"{_occurrence(int(setpos))} {days[0]}"]
            by.discard("BYSETPOS")
        elif plain or not all(m.group(1) and 1 <= abs(int(m.group(1))) <= 5 for m in ordinal):
            return None
        else:
            items = [f"{_occurrence(int(m.group(1)))} {m.group(2)}" for m in ordinal]
        if freq == "MONTHLY" and by == {"BYDAY"}:
            text = f"MP{interval} " + " ".join(items)
        elif freq == "YEARLY" and by == {"BYDAY", "BYMONTH"} and "," not in parts["BYMONTH"]:
            text = f"YM{interval} {int(parts['BYMONTH'])} MP1 " + " ".join(items)
    elif freq == "YEARLY" and by <= {"BYMONTH"}:
        months = parts.get("BYMONTH", str(start.month)).split(",")
        if not all(m.isdigit() and 1 <= int(m) <= 12 for m in months):
            return None
        text = f"YM{interval} " + " ".join(str(int(m)) for m in months)
    elif freq == "YEARLY" and by == {"BYYEARDAY"}:
        numbers = parts["BYYEARDAY"].split(",")
        if not all(n.isdigit() and 1 <= int(n) <= 366 for n in numbers):
            return None
        text = f"YD{interval} " + " ".join(numbers)
    if text is None:
        return None
    if count is not None:
        if not count.isdigit() or int(count) < 1:
            return None
        return f"{text} #{int(count)}", None
    if until is not None:
        return text, until
    return f"{text} #0", None

