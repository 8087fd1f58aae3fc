"""A plain-text progress bar on stderr for long imports.

On a terminal it redraws one line; otherwise (``--progress`` into a pipe or a log) it
prints a line now and then. The count shown is always a prefix that is fully stored:
"500/900" means items 1 to 500 are acknowledged by the store, so after a crash the user
knows exactly where to resume.
"""

from __future__ import annotations

import time

#: Imports with more items than this show a bar on a terminal without ``--progress``.
THRESHOLD = 200


class Progress:
    def __init__(self, stream, total: int, noun: str, enabled: bool, interval: float = 0.2,
                 clock=time.monotonic):
        self.stream = stream
        self.total = total
        self.noun = noun
        self.enabled = enabled
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.interval = interval if self.tty else max(interval, 0.25)
        self._clock = clock
        self._last = None
        self._shown = -1

    @classmethod
    def for_import(cls, stream, total: int, noun: str, forced: bool) -> "Progress":
        tty = bool(getattr(stream, "isatty", lambda: False)())
        return cls(stream, total, noun, enabled=forced or (tty and total > THRESHOLD))

    def text(self, done: int) -> str:
        width = 30
        filled = width * done // self.total if self.total else width
        percent = 100 * done // self.total if self.total else 100
        return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} {self.noun} ({percent}%)"

    def update(self, done: int, force: bool = False) -> None:
        """Show that items 1..``done`` are stored (at most every ``interval`` seconds)."""
        if not self.enabled or done == self._shown:
            return
        now = self._clock()
        if not force and self._last is not None and now - self._last < self.interval:
            return
        self._last = now
        self._shown = done
        if self.tty:
            self.stream.write("\r" + self.text(done))
        else:
            self.stream.write(f"imported {done}/{self.total} {self.noun}\n")
        self.stream.flush()

    def finish(self, done: int) -> None:
        """Show the final count and end the bar's line."""
        if not self.enabled:
            return
        self.update(done, force=True)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
