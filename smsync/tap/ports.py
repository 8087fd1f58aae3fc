"""Listening addresses before the server starts: taken ports found early, and a backlog
fit for a busy server.

A port another program holds used to show up after half the server had started, as one
error line lost in a screen of "starting"/"stopping" lines. ``taken`` tries every TCP
address first, so the plugins can refuse to start with one line naming the address.
"""

from __future__ import annotations

import errno
import socket
from typing import Optional

#: The listen backlog every TCP/TLS/UNIX endpoint gets unless it names one: Twisted's
#: default of 50 drops connections when a few hundred clients reconnect at once (after a
#: restart, or a network blip on a phone carrier). The kernel caps it at somaxconn.
BACKLOG = 1024

_STREAM_KINDS = ("tcp", "ssl", "tls", "unix", "tcp6")


def _split(description: str) -> list[str]:
    # Endpoint strings escape ':' with a backslash; keep escapes inside their part.
    parts, current, escaped = [], [], False
    for ch in description:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == ":":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def with_backlog(description: str) -> str:
    """``description`` with ``backlog=BACKLOG`` added where it names none."""
    parts = _split(description)
    if parts[0].lower() not in _STREAM_KINDS or any(p.startswith("backlog=") for p in parts[1:]):
        return description
    return f"{description}:backlog={BACKLOG}"


def tcp_address(description: str) -> Optional[tuple[str, int]]:
    """``(interface, port)`` a ``tcp:``/``ssl:`` endpoint listens on (None for others and
    for port 0)."""
    parts = _split(description)
    kind = parts[0].lower()
    if kind not in ("tcp", "ssl", "tcp6"):
        return None
    port, interface = None, "::" if kind == "tcp6" else ""
    for part in parts[1:]:
        key, sep, value = part.partition("=")
        if not sep and port is None:
            port = key
        elif key == "port":
            port = value
        elif key == "interface":
            interface = value.replace("\\", "")
    try:
        number = int(port)
    except (TypeError, ValueError):
        return None
    return (interface, number) if number else None


def taken(descriptions) -> Optional[str]:
    """The first of ``descriptions`` whose TCP address cannot be bound now, as one line
    saying why, or None. (The port is let go again at once: this is a check, not a
    reservation.)"""
    for description in descriptions:
        address = tcp_address(description)
        if address is None:
            continue
        host, port = address
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError as e:
                where = f"{host or '*'}:{port}"
                if e.errno == errno.EADDRINUSE:
                    why = "address already in use (another server, or smsync already running?)"
                elif e.errno == errno.EACCES:
                    why = "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
                elif e.errno == errno.EADDRNOTAVAIL:
                    why = "no such address on this machine"
                else:
                    why = e.strerror or str(e)
                return f"cannot listen on {where} ({description}): {why}"
    return None
