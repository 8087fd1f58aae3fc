"""Editing a stored item with what a device sent through a poorer format.

A device's Replace carries the whole item as its format can show it. Three versions of
one component are compared: ``stored`` (what the store has), ``view`` (the stored item
taken to the device's format and read back: what the device was shown) and ``sent``
(the device's item read). Property by property name:

* what the device sent as it was shown is left as stored, byte for byte;
* a property the device changed replaces the stored one it was shown as -- keeping the
  stored parameters when the device did not change those, and the components of a
  structured value (N, ADR, ORG) the device did not change;
* a property shown and not sent back is removed, when its name is one the format is
  ``authoritative`` for (a device that leaves out a property it does not know proves
  nothing: the others are kept);
* what the device was not shown (a property the format cannot carry, one past the
  number of slots it has, parameters it has no place for) stays as stored.

Sub-components (VALARM) are matched the same way, as units. Which stored property a
shown one came from is found by comparing normalised values (``value_key``): formats
rewrite parameters and escaping, but the value a user sees survives them.
"""

from __future__ import annotations

import copy
from typing import Callable, Collection, Optional

from smsync.formats.contentlines import Component, Property, split_raw, unescape_text

#: Properties whose values are ``;``-separated components, merged component-wise.
STRUCTURED = frozenset({"N", "ADR", "ORG"})
#: ``authoritative`` value meaning every name.
EVERY_NAME = None

Key = Callable[[Property], object]


def _text_key(value: str) -> str:
    # Exact but for line ends and surrounding space: a change of case or of a line break
    # is a user's edit.
    return unescape_text(value).replace("\r\n", "\n").replace("\r", "\n").strip()


def value_key(prop: Property) -> object:
    """A property's value normalised for telling whether two versions show the same
    thing: escaping, line ends, surrounding space, ``tel:``/``mailto:`` prefixes, a phone
    number's punctuation, an address's case and base64 line breaks do not count;
    structured values compare component by component; list values as sets."""
    name, value = prop.name, prop.value
    if name in STRUCTURED:
        parts = [_text_key(p) for p in split_raw(value, ";")]
        while parts and not parts[-1]:
            parts.pop()
        return tuple(parts)
    if name == "TEL":
        text = value.strip()
        if text.lower().startswith("tel:"):
            text = text[4:]
        return "".join(c for c in text if c.isalnum() or c in "+*#")
    if name in ("EMAIL", "ATTENDEE", "ORGANIZER"):
        text = unescape_text(value).strip().casefold()
        return text[7:] if text.startswith("mailto:") else text
    if name in ("PHOTO", "LOGO", "SOUND", "KEY"):
        text = value.strip()
        if text.startswith("data:") and ";base64," in text[:100]:
            text = text.partition(",")[2]
        return "".join(text.split())
    if name in ("CATEGORIES", "NICKNAME", "RESOURCES"):
        return frozenset(_text_key(v) for v in split_raw(value, ",") if v.strip())
    if name in ("RRULE", "EXRULE"):
        parts = {}
        for part in value.upper().split(";"):
            key, _, val = part.partition("=")
            if key and not (key == "INTERVAL" and val == "1") and key != "WKST":
                parts[key.strip()] = ",".join(sorted(val.strip().split(",")))
        return frozenset(parts.items())
    return _text_key(value)


def params_key(prop: Property) -> object:
    """A property's parameters, normalised (names, lower-case values as sets)."""
    return frozenset((k, frozenset(v.lower() for v in vs)) for k, vs in prop.params)


def _full_key(prop: Property, key: Key) -> object:
    return (key(prop), params_key(prop))


def _merge_value(name: str, stored: Property, shown: Property, sent: Property) -> str:
    if name not in STRUCTURED:
        return sent.value
    s, v, w = (split_raw(p.value, ";") for p in (stored, shown, sent))
    width = max(len(s), len(v), len(w))
    s, v, w = (x + [""] * (width - len(x)) for x in (s, v, w))
    out = [si if _text_key(vi) == _text_key(wi) else wi for si, vi, wi in zip(s, v, w)]
    while len(out) > len(split_raw(stored.value, ";")) and out and not out[-1]:
        out.pop()
    return ";".join(out)


def _replacement(stored: Property, shown: Property, sent: Property) -> Property:
    prop = copy.deepcopy(stored)
    prop.value = _merge_value(stored.name, stored, shown, sent)
    if prop.name == "ADR" and prop.value != stored.value:
        prop.set_param("LABEL", None)  # vCard 4.0's label of the old address
    if params_key(shown) != params_key(sent):
        prop.params = [(k, list(v)) for k, v in sent.params]
    return prop


def _merge_units(stored: list, shown: list, sent: list, key, full_key, replace, affinity):
    """The merged list of one name's units (properties or components), and the units
    to append. See the module docstring."""
    # Which stored unit each shown one was: same value first, then in order.
    origin: dict[int, int] = {}
    taken: set[int] = set()
    for j, v in enumerate(shown):
        kv = key(v)
        for i, p in enumerate(stored):
            if i not in taken and key(p) == kv:
                origin[j] = i
                taken.add(i)
                break
    free = [i for i in range(len(stored)) if i not in taken]
    for j in [j for j in range(len(shown)) if j not in origin]:
        if free:
            origin[j] = free.pop(0)
    result: dict[int, object] = {}  # stored index -> unit (None: removed)
    added = []
    unseen = set(range(len(shown)))
    left = []
    for w in sent:  # sent exactly as shown
        fw = full_key(w)
        j = next((j for j in sorted(unseen) if full_key(shown[j]) == fw), None)
        if j is None:
            left.append(w)
            continue
        unseen.discard(j)
        # (A shown unit with no stored origin is one the format made up -- a default
        # such as an event's busy status -- and sent back as made up, it says nothing.)
    rest = []
    for w in left:  # same value, other parameters
        kw = key(w)
        j = next((j for j in sorted(unseen) if key(shown[j]) == kw), None)
        if j is None:
            rest.append(w)
            continue
        unseen.discard(j)
        if j in origin:
            result[origin[j]] = replace(stored[origin[j]], shown[j], w)
        else:
            added.append(w)
    for w in rest:  # changed values: the first shown one of the same kind, else in order
        aw = affinity(w)
        j = next((j for j in sorted(unseen) if affinity(shown[j]) == aw), min(unseen) if unseen else None)
        if j is None:
            added.append(w)
            continue
        unseen.discard(j)
        if j in origin:
            result[origin[j]] = replace(stored[origin[j]], shown[j], w)
        else:
            added.append(w)
    for j in unseen:
        if j in origin:
            result[origin[j]] = None
    merged = [result.get(i, p) for i, p in enumerate(stored)]
    return [u for u in merged if u is not None], added


def merge_component(stored: Component, shown: Component, sent: Component,
                    authoritative: Optional[Collection[str]] = EVERY_NAME,
                    key: Key = value_key,
                    sub_key: Optional[Callable[[Component], object]] = None,
                    sub_authoritative: Optional[Collection[str]] = EVERY_NAME) -> Component:
    """``stored`` edited by what ``sent`` changed from ``shown`` (see the module).

    ``authoritative``: names whose absence from ``sent`` removes them (None: every
    name). ``key`` normalises a property's value (it may tell by ``prop.name`` which
    side it is from if it needs to, e.g. for times in different zones: see
    ``value_key``). Sub-components are merged when ``sub_key`` is given (their value
    key), else kept as stored. A new component is returned; the inputs are not changed.
    """
    out = copy.deepcopy(stored)
    names: list[str] = []
    for comp in (stored, shown, sent):
        for prop in comp.properties:
            if prop.name not in names:
                names.append(prop.name)
    by_name: dict[str, list] = {}
    appended: list[Property] = []
    for name in names:
        p, v, w = out.get_all(name), shown.get_all(name), sent.get_all(name)
        if not w and authoritative is not EVERY_NAME and name not in authoritative:
            continue
        kept, added = _merge_units(p, v, w, key, lambda x: _full_key(x, key), _replacement, params_key)
        by_name[name] = kept
        appended.extend(added)
    props: list[Property] = []
    placed: set[str] = set()
    for prop in out.properties:
        if prop.name in by_name:
            if prop.name not in placed:
                placed.add(prop.name)
                props.extend(by_name[prop.name])
        else:
            props.append(prop)
    props.extend(appended)
    out.properties = props
    if sub_key is not None:
        def replace_sub(s, v, w):
            return merge_component(s, v, w, sub_authoritative, key)

        def full_sub(c):
            return (sub_key(c), frozenset((p.name, _full_key(p, key)) for p in c.properties))

        kinds = []
        for comp in (stored, shown, sent):
            for sub in comp.components:
                if sub.name not in kinds:
                    kinds.append(sub.name)
        subs = []
        for kind in kinds:
            p = [c for c in out.components if c.name == kind]
            v = [c for c in shown.components if c.name == kind]
            w = [c for c in sent.components if c.name == kind]
            kept, added = _merge_units(p, v, w, sub_key, full_sub, replace_sub,
                                       lambda c: (c.value("ACTION") or "").upper())
            subs.extend(kept + added)
        out.components = subs
    return out
