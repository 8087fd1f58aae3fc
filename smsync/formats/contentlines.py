"""RFC 5545 / RFC 6350 content lines: the shared syntax of iCalendar and vCard.

``parse_components`` turns bytes into a tree of ``Component`` objects holding
``Property`` values exactly as written (values stay escaped, so serialising gives the
same text back); ``serialize`` writes CRLF lines folded at 75 octets. Both iCalendar and
vCard layers build on these.
"""

from __future__ import annotations

import re

import attrs

from smsync.errors import InvalidData


@attrs.define
class Property:
    """One content line: ``group.NAME;PARAM=a,b:value``. ``name`` is upper-case;
    ``params`` keeps order, names upper-case, values unquoted; ``value`` is raw (still
    escaped)."""

    name: str
    value: str
    params: list[tuple[str, list[str]]] = attrs.field(factory=list)
    group: str | None = None

    def param(self, name: str) -> str | None:
        """The first value of parameter ``name`` (case-insensitive), or None."""
        name = name.upper()
        for key, values in self.params:
            if key == name:
                return values[0] if values else ""
        return None

    def param_values(self, name: str) -> list[str]:
        """Every value of every occurrence of parameter ``name``."""
        name = name.upper()
        out: list[str] = []
        for key, values in self.params:
            if key == name:
                out.extend(values)
        return out

    def set_param(self, name: str, values: list[str] | None) -> None:
        """Replace parameter ``name`` (None removes it)."""
        name = name.upper()
        self.params = [(k, v) for k, v in self.params if k != name]
        if values is not None:
            self.params.append((name, list(values)))


@attrs.define
class Component:
    """``BEGIN:NAME`` ... ``END:NAME`` with its properties and sub-components in order."""

    name: str
    properties: list[Property] = attrs.field(factory=list)
    components: list["Component"] = attrs.field(factory=list)

    def get(self, name: str) -> Property | None:
        name = name.upper()
        for prop in self.properties:
            if prop.name == name:
                return prop
        return None

    def get_all(self, name: str) -> list[Property]:
        name = name.upper()
        return [p for p in self.properties if p.name == name]

    def value(self, name: str) -> str | None:
        prop = self.get(name)
        return None if prop is None else prop.value


def decode_text(data: bytes) -> str:
    """Content as str: UTF-8 as RFC 5545/6350 require, Latin-1 for legacy data."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def unfold(text: str) -> list[str]:
    """Logical lines of ``text``: folding (a line break then a space or tab) undone,
    empty lines dropped. Bare LF and CR line ends are accepted."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\n " not in text and "\n\t" not in text:
        # Nothing folded: only the blank lines to drop.
        return [line for line in text.split("\n") if line.strip()]
    lines: list[str] = []
    for line in text.split("\n"):
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += line[1:]
        elif line.strip():
            lines.append(line)
    return lines


#: A property name (after any group) as most lines write it; others are checked
#: character by character.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9-]+\Z")
#: The start of a line with neither group nor parameters, up to its first ':'.
_BARE_NAME = re.compile(r"([A-Za-z0-9-]+):")
#: Name-and-parameters parts (before the first ':', without quotes) already read, as
#: (name, params with tuples for lists, group): an object's DTSTART;TZID=... and
#: ATTENDEE;CN=...;PARTSTAT=... parts repeat across a collection.
_HEADS: dict[str, tuple] = {}
_HEADS_MAX = 1024
_HEAD_MAX_TEXT = 200


def parse_line(line: str) -> Property:
    """Parse one unfolded content line; ``InvalidData`` if it has no ``name:``."""
    colon = line.find(":")
    if colon > 0:
        known = _HEADS.get(line[:colon])
        if known is not None:
            name, params, group = known
            return Property(name, line[colon + 1 :], [(k, list(v)) for k, v in params] if params else [],
                            group)
    bare = _BARE_NAME.match(line)
    if bare is not None:
        # Its head is the name alone (no ':' in a name): kept like the others.
        head = bare.group(1)
        if len(head) <= _HEAD_MAX_TEXT:
            if len(_HEADS) >= _HEADS_MAX:
                _HEADS.clear()
            _HEADS[head] = (head.upper(), (), None)
        return Property(head.upper(), line[bare.end():], [], None)
    if colon < 0:
        return _parse_line_quoted(line)  # which words the error
    head = line[:colon]
    if '"' in head:
        # Quoted parameter values may hold ':' ';' ','.
        return _parse_line_quoted(line)
    # Without quotes the first ':' ends the name and parameters, ';' splits those and
    # ',' splits values: the same reading as the scanner below, with str methods.
    name, *pieces = head.split(";")
    name = name.strip()
    group = None
    if "." in name:
        group, name = name.rsplit(".", 1)
    if not name or (_PLAIN_NAME.match(name) is None
                    and any(not (c.isalnum() or c == "-") for c in name)):
        raise InvalidData(f"bad property name {name!r}")
    params: list[tuple[str, list[str]]] = []
    for piece in pieces:
        pname, equals, values = piece.partition("=")
        pname = pname.strip().upper()
        if not pname:
            continue
        if equals:
            params.append((pname, [_caret_decode(v) for v in values.split(",")] if "^" in values
                           else values.split(",")))
        else:
            # vCard 2.1 style bare parameter ("TEL;CELL:") means TYPE=CELL
            params.append(("TYPE", [pname]))
    name = name.upper()
    if len(head) <= _HEAD_MAX_TEXT:
        if len(_HEADS) >= _HEADS_MAX:
            _HEADS.clear()
        _HEADS[head] = (name, tuple((k, tuple(v)) for k, v in params), group)
    return Property(name, line[colon + 1 :], params, group)


def _parse_line_quoted(line: str) -> Property:
    """``parse_line`` character by character, for lines with quoted parameter values."""
    n = len(line)
    i = 0
    while i < n and line[i] not in ";:":
        i += 1
    if i >= n:
        raise InvalidData(f"content line without ':': {line[:60]!r}")
    name = line[:i].strip()
    group = None
    if "." in name:
        group, name = name.rsplit(".", 1)
    if not name or any(not (c.isalnum() or c == "-") for c in name):
        raise InvalidData(f"bad property name {name!r}")
    params: list[tuple[str, list[str]]] = []
    while i < n and line[i] == ";":
        i += 1
        start = i
        while i < n and line[i] not in "=;:":
            i += 1
        pname = line[start:i].strip().upper()
        values: list[str] = []
        if i < n and line[i] == "=":
            i += 1
            while True:
                if i < n and line[i] == '"':
                    end = line.find('"', i + 1)
                    if end < 0:
                        raise InvalidData(f"unterminated quoted parameter in {line[:60]!r}")
                    values.append(_caret_decode(line[i + 1 : end]))
                    i = end + 1
                else:
                    start = i
                    while i < n and line[i] not in ",;:":
                        i += 1
                    values.append(_caret_decode(line[start:i]))
                if i < n and line[i] == ",":
                    i += 1
                    continue
                break
        elif pname:
            # vCard 2.1 style bare parameter ("TEL;CELL:") means TYPE=CELL
            values, pname = [pname], "TYPE"
        if pname:
            params.append((pname, values))
    if i >= n or line[i] != ":":
        raise InvalidData(f"content line without ':': {line[:60]!r}")
    return Property(name.upper(), line[i + 1 :], params, group)


def content_lines(data: bytes) -> list[str]:
    """The unfolded logical lines of content-line bytes (see ``unfold``);
    ``InvalidData`` for anything but bytes."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidData("calendar and contact data must be bytes")
    return unfold(decode_text(bytes(data)))


def parse_components(data: bytes) -> list[Component]:
    """Parse content lines into top-level components. ``InvalidData`` for unbalanced
    BEGIN/END, property lines outside any component, or unreadable lines."""
    return parse_lines(content_lines(data))


def share_blocks(lines: list, name: str, shared_of) -> int:
    """Put, in ``lines`` (``content_lines``), for each block from ``BEGIN:name`` to the
    next ``END:name``, the reading ``shared_of(block lines)`` gives in its place (one
    item, which ``parse_lines`` takes as a component built beforehand); a block
    ``shared_of`` answers None for stays as lines. Fires with how many were put.

    Callers pass a ``shared_of`` remembering one reading per distinct block text (every
    item of a calendar repeats the same few VTIMEZONEs), so the block is parsed once."""
    begin, end = f"BEGIN:{name}", f"END:{name}"
    put = 0
    start = 0
    while True:
        try:
            i = lines.index(begin, start)
            j = lines.index(end, i + 1)
        except ValueError:
            return put
        shared = shared_of(lines[i:j + 1])
        if shared is not None:
            lines[i:j + 1] = [shared]
            put += 1
        start = i + 1


#: Most lines a ``parse_lines`` ``shared`` dict keeps, and the longest kept.
SHARED_LINES_MAX = 4096
SHARED_LINE_MAX_TEXT = 1000


def parse_lines(lines, shared: dict | None = None) -> list:
    """``parse_components`` over lines already unfolded (``content_lines``).

    An item that is not a str is taken as a component built beforehand (a caller's
    cached reading of a block of lines, say) and added, as it is, where it stands: to
    the components of the enclosing component, or to the roots. Such an item must have
    a ``name``; it is never looked into here.

    ``shared``, for readings that are never changed: a dict the caller keeps from one
    call to the next, of property lines to their Property. A line read before is not
    read again: its Property is put in the result as it is, one object in several
    results (attendees, alarms, a description repeat across a calendar's items).
    """
    roots: list = []
    stack: list[Component] = []
    heads = _HEADS
    for line in lines:
        if line.__class__ is not str:
            (stack[-1].components if stack else roots).append(line)
            continue
        # BEGIN and END, a third of a typical object's lines, mostly come in this form;
        # any other (lower case, parameters) is read as a Property like the rest.
        if line.startswith(("BEGIN:", "END:")):
            name, _, value = line.partition(":")
            prop = None
        elif shared is not None:
            prop = shared.get(line)
            if prop is None:
                prop = parse_line(line)
                if len(line) <= SHARED_LINE_MAX_TEXT:
                    if len(shared) >= SHARED_LINES_MAX:
                        shared.clear()
                    shared[line] = prop
            name, value = prop.name, prop.value
        else:
            # parse_line's first step, in line: a head (name and parameters) read before.
            colon = line.find(":")
            known = heads.get(line[:colon]) if colon > 0 else None
            if known is not None:
                name, params, group = known
                value = line[colon + 1:]
                prop = Property(name, value, [(k, list(v)) for k, v in params] if params else [], group)
            else:
                prop = parse_line(line)
                name, value = prop.name, prop.value
        if name == "BEGIN":
            comp = Component(value.strip().upper())
            if not comp.name:
                raise InvalidData("BEGIN without a component name")
            (stack[-1].components if stack else roots).append(comp)
            stack.append(comp)
        elif name == "END":
            if not stack or stack[-1].name != value.strip().upper():
                raise InvalidData(f"unexpected END:{value.strip()}")
            stack.pop()
        elif not stack:
            raise InvalidData(f"property {prop.name} outside any component")
        else:
            stack[-1].properties.append(prop)
    if stack:
        raise InvalidData(f"missing END:{stack[-1].name}")
    return roots


def _param_value(value: str) -> str:
    # RFC 6868 caret encoding keeps newlines and quotes inside parameter values
    if any(c in value for c in "^\n\r\""):
        value = value.replace("^", "^^").replace("\r\n", "^n").replace("\n", "^n").replace("\r", "^n").replace('"', "^'")
    if any(c in value for c in ",;:"):
        return f'"{value}"'
    return value


def _caret_decode(value: str) -> str:
    """Undo RFC 6868 parameter value encoding (``^n``, ``^^``, ``^'``)."""
    if "^" not in value:
        return value
    out = []
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if c == "^" and i + 1 < n and value[i + 1] in "n^'":
            out.append({"n": "\n", "^": "^", "'": '"'}[value[i + 1]])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def format_line(prop: Property) -> str:
    """One unfolded content line for ``prop``."""
    out = [prop.group + "." if prop.group else "", prop.name]
    for name, values in prop.params:
        out.append(";" + name)
        if values:
            out.append("=" + ",".join(_param_value(v) for v in values))
    out.append(":" + prop.value)
    return "".join(out)


def fold(line: str, limit: int = 75) -> str:
    """Fold a line into CRLF-terminated lines of at most ``limit`` octets, never
    splitting a UTF-8 sequence."""
    raw = line.encode("utf-8")
    if len(raw) <= limit:
        return line + "\r\n"
    chunks = []
    start = 0
    width = limit
    while start < len(raw):
        end = min(start + width, len(raw))
        while end < len(raw) and (raw[end] & 0xC0) == 0x80:
            end -= 1
        chunks.append(raw[start:end].decode("utf-8"))
        start = end
        width = limit - 1  # continuation lines start with a space
    return "\r\n ".join(chunks) + "\r\n"


def serialize(component: Component) -> bytes:
    """The component as UTF-8 content lines (CRLF, folded)."""
    out: list[str] = []

    def emit(comp: Component) -> None:
        out.append(fold("BEGIN:" + comp.name))
        for prop in comp.properties:
            out.append(fold(format_line(prop)))
        for sub in comp.components:
            emit(sub)
        out.append(fold("END:" + comp.name))

    emit(component)
    return "".join(out).encode("utf-8")


def unescape_text(value: str) -> str:
    """Undo TEXT escaping (``\\n``, ``\\,``, ``\\;``, ``\\\\``)."""
    if "\\" not in value:
        return value
    out = []
    i, n = 0, len(value)
    while i < n:
        c = value[i]
        if c == "\\" and i + 1 < n:
            nxt = value[i + 1]
            out.append("\n" if nxt in "nN" else nxt)
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def escape_text(text: str) -> str:
    """TEXT escaping of RFC 5545 3.3.11 / RFC 6350 3.4 (the inverse of
    ``unescape_text``); line ends of any kind become ``\\n``."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def split_raw(value: str, sep: str) -> list[str]:
    """``value`` cut at every ``sep`` not escaped with a backslash; pieces stay escaped."""
    out, start, i, n = [], 0, 0, len(value)
    while i < n:
        c = value[i]
        if c == "\\":
            i += 2
            continue
        if c == sep:
            out.append(value[start:i])
            start = i + 1
        i += 1
    out.append(value[start:])
    return out


def text_list(props: list[Property]) -> list[str]:
    """The unescaped, stripped, non-empty items of comma-separated TEXT list properties
    (CATEGORIES, NICKNAME)."""
    items = []
    for prop in props:
        items.extend(unescape_text(v).strip() for v in split_raw(prop.value, ","))
    return [v for v in items if v]
